#!/usr/bin/env bash
# Section 18's pilot: the rate-cut setting of section 17 on a 256-slot NTM whose every training
# batch runs on the first N slots, N drawn per batch from 128..256 (--min-train-memory-size 128);
# seeds 1-3, 12,000 steps, then evaluated and traced. Run from the repository root.
set -euo pipefail
runs=${RUNS:-/work/pilot}
out=docs/results/rc-ff-reads2-cut2-n128-256
for seed in 1 2 3; do
    python scripts/train.py --preset ntm-repeat-copy --circuit-kwarg head_start=first \
        --circuit-kwarg controller=feedforward --circuit-kwarg num_reads=2 \
        --circuit-kwarg memory_size=256 --min-train-memory-size 128 --skip-nonfinite-steps 20 \
        --no-stop-when-solved --solved-lr-scale 0.1 --lr-cut-bit-errors 2 --max-steps 12000 \
        --seed "$seed" --runs-dir "$runs" --run-name "seed$seed" --no-visdom --no-progress
done
python scripts/evaluate.py --model "NTM=$runs/seed*/checkpoints/last.pt" \
    --conditions length=10,repeats=10 length=20,repeats=5 length=20,repeats=10 \
    length=10,repeats=15 length=10,repeats=20 --out "$out"
for slots in 128 192 256; do
    python scripts/head_traces.py --checkpoint "$runs/seed*/checkpoints/last.pt" \
        --conditions length=10,repeats=5 length=5,repeats=10 length=10,repeats=10 \
        length=20,repeats=5 length=20,repeats=10 length=10,repeats=15 length=10,repeats=20 \
        --episodes 20 --memory-size "$slots" --out "$out/head-traces-$slots.md"
done
