#!/usr/bin/env bash
# Section 21: the preset ntm-repeat-copy-long with zero_items=0.1 in the training batches (the preset
# ntm-repeat-copy-zeros) and the count given raw (--env-kwarg normalisation=none: 1..10 in training,
# 20 at (10, 20)) instead of standardised, so that no count step is near the all-zero input (with
# the paper's standardised count, 5 and 6 repetitions are -0.17 and +0.17). Seeds 1-5, paired with
# rc-zero-items/scratch.sh, which differs only in the count (seeds 4 and 5 ran first, as a pilot,
# two at a time; seeds 1-3 three at a time). Runs are step-bounded and one thread each, so they
# give the same weights however many run at once. Run from the repository root.
set -euo pipefail
runs=${RUNS:-/work/zn}
out=docs/results/rc-raw-count
job() {
    python scripts/train.py --preset ntm-repeat-copy-long --env-kwarg normalisation=none \
        --train-env-kwarg zero_items=0.1 --seed "$1" --runs-dir "$runs" --run-name "seed$1" \
        --no-visdom --no-progress > "$runs/seed$1.out" 2>&1
}
export -f job
export runs
mkdir -p "$runs"
printf '%s\n' 1 2 3 4 5 | xargs -P 2 -I{} bash -c 'job {}'
checkpoints="$runs/seed[1-5]/checkpoints/last.pt"
python scripts/evaluate.py --model "raw-count=$checkpoints" \
    --conditions length=10,repeats=10 length=20,repeats=5 length=20,repeats=10 \
    length=10,repeats=15 length=10,repeats=20 --out "$out" \
    | grep '^raw-count ' | sed "s#$runs/##" > "$out/per-seed.txt"
python scripts/head_traces.py --checkpoint "$checkpoints" \
    --conditions length=10,repeats=10 length=20,repeats=5 length=20,repeats=10 \
    length=10,repeats=15 length=10,repeats=20 --episodes 20 --out "$out/head-traces.md"
python docs/results/rc-repeated-items/zero_items.py $checkpoints > "$out/zero-items.md"
python docs/results/rc-zero-items/count_value.py $checkpoints > "$out/count-value.md"
