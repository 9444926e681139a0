#!/usr/bin/env bash
# Section 20's pilot: the preset ntm-repeat-copy-long from scratch with zero_items=0.1 in the
# training batches only, seeds 4 and 5 (section 19 ran the same seeds without it). Two runs at a
# time, one thread each, about 33-34 minutes a run on the AMD EPYC. Run from the repository root.
set -euo pipefail
runs=${RUNS:-/work/zs}
out=docs/results/rc-zero-items/scratch
for s in 4 5; do
    python scripts/train.py --preset ntm-repeat-copy-long --train-env-kwarg zero_items=0.1 \
        --seed "$s" --runs-dir "$runs" --run-name "seed$s" --no-visdom --no-progress &
done
wait
python scripts/evaluate.py --model "scratch=$runs/seed[45]/checkpoints/last.pt" \
    --conditions length=10,repeats=10 length=20,repeats=5 length=20,repeats=10 \
    length=10,repeats=15 length=10,repeats=20 --out "$out" \
    | grep '^scratch ' | sed "s#$runs/##" > "$out/per-seed.txt"
python scripts/head_traces.py --checkpoint "$runs/seed[45]/checkpoints/last.pt" \
    --conditions length=10,repeats=10 length=20,repeats=5 length=20,repeats=10 \
    length=10,repeats=15 length=10,repeats=20 --episodes 20 --out "$out/head-traces.md"
python docs/results/rc-repeated-items/zero_items.py "$runs"/seed{4,5}/checkpoints/last.pt \
    > "$out/zero-items.md"
