#!/usr/bin/env bash
# Section 17's later cut: the tuned repeat-copy setting with the rate cut at the first evaluation
# under 0.5 bit errors per sequence, seeds 2 and 4, 20,000 steps, two runs at a time (one thread
# each). Then the evaluations, the five conditions on 1,000 sequences, and the head traces.
set -euo pipefail
out=${1:-/work/probe05}
for seed in 2 4; do
    python scripts/train.py --preset ntm-repeat-copy --circuit-kwarg head_start=first \
        --circuit-kwarg controller=feedforward --circuit-kwarg num_reads=2 \
        --skip-nonfinite-steps 20 --no-stop-when-solved --solved-lr-scale 0.1 \
        --lr-cut-bit-errors 0.5 --max-steps 20000 --seed "$seed" \
        --runs-dir "$out/seed=$seed" --run-name run --no-visdom --no-progress &
done
wait
conditions="length=10,repeats=10 length=20,repeats=5 length=20,repeats=10 length=10,repeats=15 length=10,repeats=20"
# shellcheck disable=SC2086
python scripts/evaluate.py --model "seed2=$out/seed=2/run" --model "seed4=$out/seed=4/run" \
    --conditions $conditions --sequences 1000 --out docs/results/rc-ff-reads2-cut05
# shellcheck disable=SC2086
python scripts/head_traces.py --checkpoint "$out/*/run/checkpoints/last.pt" --conditions $conditions \
    --episodes 20 --out docs/results/rc-ff-reads2-cut05/head-traces.md
