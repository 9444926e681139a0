#!/bin/bash
# One 2,500-step window of the low-rate training (section 15's curve.sh): from curve snapshot K of
# seed S, trained on at lr 1e-4 in 25 chunks of 100 steps, each chunk's checkpoint kept; then the
# window's end (the same weights as curve snapshot K + 1: the runs are deterministic) and the mean
# of the 25 checkpoints' weights (average.py) on 1,000 sequences at (10, 10) and (20, 10).
# Prints two table rows (window.md collects them).
#
#     bash docs/results/rc-ff-reads2-on/window.sh SEED SOLVED_STEP K     # e.g. 9 5000 3
set -e
S=$1; SOLVED=$2; K=$3
cd "$(dirname "$0")/../../.."
D=/work/swa/seed$S-$K
rm -rf $D; cp -r /work/curve/seed$S $D
cp /work/curve/snapshots/seed$S-$K.pt $D/checkpoints/last.pt
mkdir -p $D/window
start=$((SOLVED + 2500 * K))
for j in $(seq 1 25); do
  python scripts/train.py --resume $D --lr 1e-4 --max-steps $((start + 100 * j)) --max-seconds 0 \
    --no-stop-when-solved --num-threads 1 --no-visdom --no-progress > $D/train.log 2>&1
  cp $D/checkpoints/last.pt $D/window/$j.pt
done
python docs/results/rc-ff-reads2-on/average.py $D/avg.pt $(for j in $(seq 1 25); do echo $D/window/$j.pt; done)
python scripts/evaluate.py --model "seed $S +$((2500*K+2500)) end=$D/window/25.pt" \
  --model "seed $S window $K avg=$D/avg.pt" \
  --conditions length=10,repeats=10 length=20,repeats=10 --sequences 1000 --num-threads 1 \
  --out $D/eval 2>&1 | grep "^| seed"
