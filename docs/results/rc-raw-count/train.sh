#!/usr/bin/env bash
# Section 21's pilot: the preset ntm-repeat-copy-long with zero_items=0.1 in the training batches,
# and the count given raw (--env-kwarg normalisation=none: 1..10 in training, 20 at (10, 20)) instead
# of standardised, so that no count step is near the all-zero input (with the paper's standardised
# count, 5 and 6 repetitions are -0.17 and +0.17). Seeds 4 and 5, paired with the pilot of
# rc-zero-items/scratch.sh, which differs only in the count. Two runs at a time, one thread each.
# Run from the repository root.
set -euo pipefail
runs=${RUNS:-/work/zn}
out=docs/results/rc-raw-count
mkdir -p "$runs"
for s in 4 5; do
    python scripts/train.py --preset ntm-repeat-copy-long --env-kwarg normalisation=none \
        --train-env-kwarg zero_items=0.1 --seed "$s" --runs-dir "$runs" --run-name "seed$s" \
        --no-visdom --no-progress > "$runs/seed$s.out" 2>&1 &
done
wait
checkpoints="$runs/seed[45]/checkpoints/last.pt"
python scripts/evaluate.py --model "raw-count=$checkpoints" \
    --conditions length=10,repeats=10 length=20,repeats=5 length=20,repeats=10 \
    length=10,repeats=15 length=10,repeats=20 --out "$out" \
    | grep '^raw-count ' | sed "s#$runs/##" > "$out/per-seed.txt"
python scripts/head_traces.py --checkpoint "$checkpoints" \
    --conditions length=10,repeats=10 length=20,repeats=5 length=20,repeats=10 \
    length=10,repeats=15 length=10,repeats=20 --episodes 20 --out "$out/head-traces.md"
python docs/results/rc-repeated-items/zero_items.py $checkpoints > "$out/zero-items.md"
python docs/results/rc-zero-items/count_value.py $checkpoints > "$out/count-value.md"
