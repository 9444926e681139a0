#!/usr/bin/env bash
# Section 20: the preset's 20,000-step runs (section 19's seeds 1, 3, 4, 5 and 7, the five that fit
# the training range), each trained on 3,000 steps more at the rate they were cut to (1e-4), two
# ways: with RepeatCopy's zero_items=0.1 in the training batches only (every word set to all zeros
# with probability 0.1; evaluations use the task itself), and plain, the same 3,000 steps on the
# task as it is. A resume is exact and batches are a pure function of (seed, step), so the two
# differ only in the training data. $RUNS holds section 19's runs (train.sh of
# rc-ff-reads2-cut2-n128-256-20k and rc-long-6-7 make them); the copies go to $OUT_RUNS. Two runs
# at a time, one thread each, 4-6 minutes a run on the AMD EPYC. Run from the repository root.
set -euo pipefail
runs=${RUNS:-/work/pilot20}
copies=${OUT_RUNS:-/work/zf}
out=docs/results/rc-zero-items
mkdir -p "$copies"
for s in 1 3 4 5 7; do
    for kind in zeros plain; do
        rm -rf "$copies/$kind-seed$s"
        cp -r "$runs/seed$s" "$copies/$kind-seed$s"
    done
done
job() {
    kind=$1 s=$2
    extra=()
    [ "$kind" = zeros ] && extra=(--train-env-kwarg zero_items=0.1)
    python scripts/train.py --resume "$copies/$kind-seed$s" "${extra[@]}" --max-steps 23000 \
        --no-visdom --no-progress > "$copies/$kind-seed$s.out" 2>&1
}
export -f job
export copies
printf '%s\n' "zeros 4" "zeros 7" "plain 4" "plain 7" "zeros 1" "zeros 5" "zeros 3" "plain 1" \
    "plain 5" "plain 3" | xargs -P 2 -I{} bash -c 'job {}'
for kind in zeros plain; do
    python scripts/evaluate.py --model "$kind=$copies/$kind-seed[13457]/checkpoints/last.pt" \
        --conditions length=10,repeats=10 length=20,repeats=5 length=20,repeats=10 \
        length=10,repeats=15 length=10,repeats=20 --out "$out/$kind" \
        | grep "^$kind " | sed "s#$copies/##" > "$out/$kind/per-seed.txt"
done
python docs/results/rc-repeated-items/zero_items.py "$copies"/zeros-seed{1,3,4,5,7}/checkpoints/last.pt \
    > "$out/zero-items-zeros.md"
python docs/results/rc-repeated-items/zero_items.py "$copies"/plain-seed{1,3,4,5,7}/checkpoints/last.pt \
    > "$out/zero-items-plain.md"
