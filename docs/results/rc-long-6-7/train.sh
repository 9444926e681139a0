#!/usr/bin/env bash
# Section 19: seeds 6 and 7 of the preset ntm-repeat-copy-long, as a user runs it (the two at
# once, one thread each, about 36 minutes on the AMD EPYC), then evaluated and traced.
# Run from the repository root.
set -euo pipefail
runs=${RUNS:-/work/pilot20}
out=docs/results/rc-long-6-7
for seed in 6 7; do
    python scripts/train.py --preset ntm-repeat-copy-long --seed "$seed" --runs-dir "$runs" \
        --run-name "seed$seed" --no-visdom --no-progress &
done
wait
python scripts/evaluate.py --model "NTM=$runs/seed[67]/checkpoints/last.pt" \
    --conditions length=10,repeats=10 length=20,repeats=5 length=20,repeats=10 \
    length=10,repeats=15 length=10,repeats=20 --out "$out" \
    | grep '^NTM ' | sed "s#$runs/##" > "$out/per-seed.txt"
python scripts/head_traces.py --checkpoint "$runs/seed[67]/checkpoints/last.pt" \
    --conditions length=10,repeats=5 length=5,repeats=10 length=10,repeats=10 \
    length=20,repeats=5 length=20,repeats=10 length=10,repeats=15 length=10,repeats=20 \
    --episodes 20 --out "$out/head-traces.md"
