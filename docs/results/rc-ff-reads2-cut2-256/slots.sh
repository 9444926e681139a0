#!/usr/bin/env bash
# The five seeds of section 18's sweep (trained on 256 slots) traced with 192, 256 and 320 slots:
# whether each one's stop moves with the slot count. Run from the repository root; the sweep's
# command is in summary.md.
set -euo pipefail
sweep=${1:-/work/sweeps/ntm-repeat-copy-ff-reads2-cut2-256}
out=docs/results/rc-ff-reads2-cut2-256
for slots in 192 256 320; do
    python scripts/head_traces.py --checkpoint "$sweep/*/run/checkpoints/last.pt" \
        --conditions length=10,repeats=5 length=5,repeats=10 length=10,repeats=10 \
        length=20,repeats=5 length=20,repeats=10 length=10,repeats=15 length=10,repeats=20 \
        --episodes 20 --memory-size "$slots" --out "$out/head-traces-$slots.md" > /dev/null
done
