#!/usr/bin/env bash
# The three repeat-copy NTMs of section 17 that fit the training range (seeds 2-4, trained on 128
# slots), traced with 128, 144, 160, 192 and 256 slots on conditions inside the training range:
# where each raises the end marker as the slot count grows. Run from the repository root; the
# checkpoints are the sweep's (docs/results/rc-ff-reads2-cut2/summary.md has its command).
set -euo pipefail
sweep=${1:-/work/sweeps/ntm-repeat-copy-ff-reads2-cut2}
out=docs/results/rc-ff-reads2-cut2-at-256
for slots in 128 144 160 192 256; do
    python scripts/head_traces.py --checkpoint "$sweep/*seed=[234]*/run/checkpoints/last.pt" \
        --conditions length=10,repeats=5 length=5,repeats=10 length=10,repeats=10 \
        --episodes 20 --memory-size "$slots" --out "$out/slots-$slots.md" > /dev/null
done
