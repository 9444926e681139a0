#!/usr/bin/env bash
# Section 22's pilot: the preset ntm-repeat-copy-raw with 512 memory slots (each training batch on
# 128-512 of them) instead of 256, seeds 6 and 10 (the two whose stop fails at (20, 10)), 10,000
# steps, two at a time. Evaluated with 512 slots (as trained) and 256, 300 sequences, and traced.
# Run from the repository root.
set -euo pipefail
runs=${RUNS:-/work/zm}
out=docs/results/rc-raw-count/pilot-512
conditions="length=10,repeats=10 length=20,repeats=5 length=20,repeats=10 length=10,repeats=15 length=10,repeats=20 length=20,repeats=8"
for seed in 6 10; do
    python scripts/train.py --preset ntm-repeat-copy-raw --circuit-kwarg memory_size=512 \
        --max-steps 10000 --seed "$seed" --runs-dir "$runs" --run-name "seed$seed" \
        --no-visdom --no-progress > "$runs/seed$seed.out" 2>&1 &
done
wait
mkdir -p "$out"
for slots in 512 256; do
    python scripts/evaluate.py --model "m$slots=$runs/seed10/checkpoints/last.pt" --memory-size "$slots" \
        --conditions $conditions --sequences 300 --out "$runs/e$slots" | grep '^m[0-9]' | sed "s#$runs/##"
done > "$out/seed10.txt"
python scripts/head_traces.py --checkpoint "$runs/seed10/checkpoints/last.pt" \
    --conditions length=20,repeats=10 length=10,repeats=15 length=10,repeats=20 --episodes 20 \
    --out "$out/head-traces-seed10.md"
