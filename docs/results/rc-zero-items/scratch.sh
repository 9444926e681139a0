#!/usr/bin/env bash
# The preset ntm-repeat-copy-long from scratch with zero_items=0.1 in the training batches only,
# seeds 1-5 (section 20's pilot ran seeds 4 and 5; section 21 added seeds 1-3; section 19 ran the
# same seeds without the zeros). Runs are step-bounded and one thread each, so they give the same
# weights however many run at once: about 33-34 minutes a run two at a time on the AMD EPYC, 55
# three at a time. Then the evaluation, head traces, and the zero-item and count-value probes.
# Run from the repository root.
set -euo pipefail
runs=${RUNS:-/work/zs}
out=docs/results/rc-zero-items/scratch
job() {
    python scripts/train.py --preset ntm-repeat-copy-long --train-env-kwarg zero_items=0.1 \
        --seed "$1" --runs-dir "$runs" --run-name "seed$1" --no-visdom --no-progress \
        > "$runs/seed$1.out" 2>&1
}
export -f job
export runs
mkdir -p "$runs"
printf '%s\n' 1 2 3 4 5 | xargs -P 2 -I{} bash -c 'job {}'
checkpoints="$runs/seed[1-5]/checkpoints/last.pt"
python scripts/evaluate.py --model "scratch=$checkpoints" \
    --conditions length=10,repeats=10 length=20,repeats=5 length=20,repeats=10 \
    length=10,repeats=15 length=10,repeats=20 --out "$out" \
    | grep '^scratch ' | sed "s#$runs/##" > "$out/per-seed.txt"
python scripts/head_traces.py --checkpoint "$checkpoints" \
    --conditions length=10,repeats=10 length=20,repeats=5 length=20,repeats=10 \
    length=10,repeats=15 length=10,repeats=20 --episodes 20 --out "$out/head-traces.md"
python docs/results/rc-repeated-items/zero_items.py $checkpoints > "$out/zero-items.md"
python docs/results/rc-zero-items/count_value.py $checkpoints > "$out/count-value.md"
# The copy at length 20 for repeats 3-7 (the count step near zero at 5 and 6), against section
# 19's fitted seeds without the zeros ($SECTION19_RUNS: rc-ff-reads2-cut2-n128-256-20k/train.sh
# and rc-long-6-7/train.sh make them).
section19=${SECTION19_RUNS:-/work/pilot20}
python scripts/evaluate.py --model "section-19=$section19/seed[13457]/checkpoints/last.pt" \
    --model "scratch-zeros=$checkpoints" --conditions length=20,repeats=3 length=20,repeats=4 \
    length=20,repeats=5 length=20,repeats=6 length=20,repeats=7 --sequences 500 \
    --out docs/results/rc-zero-items/count-grid \
    | grep '^s' | sed "s#$section19/#section19/#; s#$runs/#runs/#" \
    > docs/results/rc-zero-items/count-grid/per-seed.txt
