#!/usr/bin/env bash
# Section 19: section 18's 128-256 slot pilot over five seeds and 20,000 steps. Seeds 1-3 continue
# the pilot's 12,000-step runs (a copy of them in $RUNS): max_steps only ends the loop and a resume
# is exact, so this is the 20,000-step run of each seed. Seeds 4 and 5 started fresh; with an
# empty $RUNS every seed does (the same flags as --preset ntm-repeat-copy-long). Two runs at a
# time, one thread each, about 30-37 minutes a run on the AMD EPYC. Run from the repository root.
set -euo pipefail
runs=${RUNS:-/work/pilot20}
out=docs/results/rc-ff-reads2-cut2-n128-256-20k
train() {
    if [ -d "$runs/seed$1" ]; then
        python scripts/train.py --resume "$runs/seed$1" --max-steps 20000 --no-visdom --no-progress
    else
        python scripts/train.py --preset ntm-repeat-copy --circuit-kwarg head_start=first \
            --circuit-kwarg controller=feedforward --circuit-kwarg num_reads=2 \
            --circuit-kwarg memory_size=256 --min-train-memory-size 128 --skip-nonfinite-steps 20 \
            --no-stop-when-solved --solved-lr-scale 0.1 --lr-cut-bit-errors 2 --max-steps 20000 \
            --seed "$1" --runs-dir "$runs" --run-name "seed$1" --no-visdom --no-progress
    fi
}
export -f train
export runs
printf '%s\n' 4 5 1 3 2 | xargs -P 2 -I{} bash -c 'train {}'
python scripts/evaluate.py --model "NTM=$runs/seed[1-5]/checkpoints/last.pt" \
    --conditions length=10,repeats=10 length=20,repeats=5 length=20,repeats=10 \
    length=10,repeats=15 length=10,repeats=20 --out "$out" \
    | grep '^NTM ' | sed "s#$runs/##" > "$out/per-seed.txt"
for slots in 128 256; do
    python scripts/head_traces.py --checkpoint "$runs/seed[1-5]/checkpoints/last.pt" \
        --conditions length=10,repeats=5 length=5,repeats=10 length=10,repeats=10 \
        length=20,repeats=5 length=20,repeats=10 length=10,repeats=15 length=10,repeats=20 \
        --episodes 20 --memory-size "$slots" --out "$out/head-traces-$slots.md"
done
python "$out/failures.py" "$runs" 200 > "$out/failures.md"
python "$out/write_probe.py" "$runs/seed[1-5]/checkpoints/last.pt" > "$out/write-probe.md"
python "$out/slip.py" "$runs/seed4/checkpoints/last.pt" 38 67 94 140 194 199 > "$out/slip.md"
