#!/bin/bash
# One solved two-head feed-forward seed, from the step it was declared solved, trained on at
# lr 1e-4 in chunks of 2,500 steps; after each chunk the generalisation conditions on 1,000
# sequences each. Appends one table row per chunk to /work/curve/seedS.md (curve.md collects them)
# and keeps each chunk's checkpoint as /work/curve/snapshots/seedS-K.pt (average.py averages them).
#
#     bash docs/results/rc-ff-reads2-on/curve.sh SEED SOLVED_STEP     # e.g. 2 10200
set -e
S=$1; SOLVED=$2
cd "$(dirname "$0")/../../.."
mkdir -p /work/curve/snapshots; rm -rf /work/curve/seed$S
cp -r $(ls -d /work/sweeps/ntm-repeat-copy-ff-reads2-first*/*seed=${S}_*/run | head -1) /work/curve/seed$S
for k in 0 1 2 3 4 5 6 7 8; do
  step=$((SOLVED + 2500 * k))
  if [ $k -gt 0 ]; then
    python scripts/train.py --resume /work/curve/seed$S --lr 1e-4 --max-steps $step \
      --max-seconds 0 --no-stop-when-solved --num-threads 1 --no-visdom --no-progress \
      > /work/curve/seed$S.train.log 2>&1
  fi
  cp /work/curve/seed$S/checkpoints/last.pt /work/curve/snapshots/seed$S-$k.pt  # for average.py
  python scripts/evaluate.py --model "seed $S +$((2500 * k))=/work/curve/seed$S" \
    --conditions length=10,repeats=10 length=20,repeats=5 length=20,repeats=10 length=10,repeats=15 \
    --sequences 1000 --num-threads 1 --out /work/curve/eval-$S-$k 2>&1 | grep "^| seed" >> /work/curve/seed$S.md
done
