#!/usr/bin/env bash
# Section 22: section 21's raw-count model, seeds 6-10, read along the run. snapshots.py trains each
# seed exactly as train.sh does (the same config and loop; checked bit for bit at 300 steps) and
# keeps a copy of the checkpoint every 2,000 steps; a snapshot at step N is the model a run with
# --max-steps N would have ended with (nothing in the loop depends on max_steps but the stop).
# Every snapshot is evaluated on 300 sequences per condition (the along-run reading; evaluate.py's
# figures for a checkpoint do not depend on the others it is given with), the step-20,000 ones on
# 1,000 with seeds 1-5 of train.sh (the ten-seed reading). The runs are the preset
# ntm-repeat-copy-raw (a snapshot at step 500 was checked equal to `scripts/train.py --preset
# ntm-repeat-copy-raw --seed 6 --max-steps 500`). Run from the repository root.
set -euo pipefail
runs=${RUNS:-/work/zr}
first=${FIRST_RUNS:-/work/zn}
out=docs/results/rc-raw-count
sequences=300
conditions="length=10,repeats=10 length=20,repeats=5 length=20,repeats=10 length=10,repeats=15 length=10,repeats=20"
printf '%s\n' 6 7 8 9 10 | xargs -P 3 -I{} \
    python docs/results/rc-raw-count/snapshots.py {} "$runs" 2000 > /dev/null 2>&1
# The along-run reading, in two halves (one per core).
mkdir -p "$out/along"
half() {
    local models=()
    for step in "$@"; do
        models+=(--model "$(printf 'step-%05d=%s/seed*/checkpoints/step-%05d.pt' "$step" "$runs" "$step")")
    done
    python scripts/evaluate.py "${models[@]}" --conditions $conditions --sequences "$sequences" \
        --out "$runs/along-$1" | grep '^step-' | sed "s#$runs/##"
}
half 2000 6000 10000 14000 18000 > "$out/along/per-seed-a.txt" &
half 4000 8000 12000 16000 20000 > "$out/along/per-seed-b.txt"
wait
RUNS=$runs SEQUENCES=$sequences python docs/results/rc-raw-count/along_table.py "$out/along/per-seed-a.txt" \
    "$out/along/per-seed-b.txt" > "$out/along/along.md"
# The mean of each seed's snapshots' weights over steps 12,000-20,000 and 8,000-20,000.
mkdir -p "$runs/avg"
for seed in 6 7 8 9 10; do
    snaps="$runs/seed$seed/checkpoints"
    python docs/results/rc-raw-count/average_snapshots.py "$runs/avg/seed$seed-12-20k.pt" \
        "$snaps"/step-{12000,14000,16000,18000,20000}.pt > /dev/null
    python docs/results/rc-raw-count/average_snapshots.py "$runs/avg/seed$seed-8-20k.pt" \
        "$snaps"/step-{08000,10000,12000,14000,16000,18000,20000}.pt > /dev/null
done
for span in 12-20k 8-20k; do
    python scripts/evaluate.py --model "mean-$span=$runs/avg/seed*-$span.pt" --conditions $conditions \
        --sequences "$sequences" --out "$runs/avg/$span" | grep '^mean-' | sed "s#$runs/avg/##"
done > "$out/along/averages.txt"
# The ten-seed reading at the end of the runs, and head traces of seeds 6-10 (train.sh traced 1-5).
mkdir -p "$out/ten-seeds"
python scripts/evaluate.py --model "raw-count=$first/seed[1-5]/checkpoints/last.pt,$runs/seed*/checkpoints/last.pt" \
    --conditions $conditions --out "$out/ten-seeds" | grep '^raw-count ' \
    | sed -e "s#$runs/##" -e "s#$first/#first-#" > "$out/ten-seeds/per-seed.txt"
python scripts/head_traces.py --checkpoint "$runs/seed*/checkpoints/last.pt" --conditions $conditions \
    --episodes 20 --out "$out/ten-seeds/head-traces-6-10.md"
# Where the stop goes: length 20 with 6-9 repetitions and 12-18 items with 10, then the same
# weights with 192 and 512 memory slots instead of 256.
python scripts/head_traces.py --checkpoint "$runs/seed*/checkpoints/last.pt" --conditions \
    length=20,repeats=6 length=20,repeats=7 length=20,repeats=8 length=20,repeats=9 \
    length=12,repeats=10 length=14,repeats=10 length=16,repeats=10 length=18,repeats=10 \
    --episodes 20 --out "$out/ten-seeds/stop-grid.md"
for slots in 192 512; do
    python scripts/evaluate.py --model "m$slots=$runs/seed*/checkpoints/last.pt" --memory-size "$slots" \
        --conditions length=20,repeats=10 length=10,repeats=20 length=20,repeats=8 \
        --sequences "$sequences" --out "$runs/memory-$slots" | grep '^m[0-9]' | sed "s#$runs/##"
done > "$out/ten-seeds/memory-size.txt"
# Seeds 1-5 (train.sh) with 256 (as trained) and 512 slots, on the same 300 sequences.
for slots in 256 512; do
    python scripts/evaluate.py --model "m$slots=$first/seed[1-5]/checkpoints/last.pt" --memory-size "$slots" \
        --conditions length=20,repeats=10 length=10,repeats=20 length=20,repeats=8 \
        --sequences "$sequences" --out "$first/memory-$slots" | grep '^m[0-9]' | sed "s#$first/#first-#"
done > "$out/ten-seeds/memory-size-1-5.txt"
python scripts/head_traces.py --checkpoint "$first/seed[23]/checkpoints/last.pt" --memory-size 512 \
    --conditions length=20,repeats=10 length=10,repeats=20 --episodes 20 \
    --out "$out/ten-seeds/head-traces-2-3-512.md"
sed -i "s#$first/#first-#g" "$out/ten-seeds/head-traces-2-3-512.md"
