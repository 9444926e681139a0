#!/bin/bash
# The same run (seed 1, the two-head feed-forward NTM of section 14, 300 steps, one thread) with
# torch's CPU kernels dispatched for two vector units (ATEN_CPU_CAPABILITY=avx2, twice, and
# =default, on one machine): prints each run's training loss at step 300 and the largest
# difference between the weights of the two avx2 runs and of avx2 against default. Batches are a
# pure function of (seed, step), so any difference is rounding: a run is bit-identical only on the
# same vector unit.
#
#     bash docs/results/rc-ff-reads2-average/capability.sh [OUT_DIR]
set -e
cd "$(dirname "$0")/../../.."
OUT=${1:-/tmp/capability}
rm -rf "$OUT"; mkdir -p "$OUT"
for run in avx2 avx2-again default; do
  cap=${run%-again}
  ATEN_CPU_CAPABILITY=$cap python scripts/train.py --preset ntm-repeat-copy \
    --circuit-kwarg head_start=first --circuit-kwarg controller=feedforward \
    --circuit-kwarg num_reads=2 --seed 1 --max-steps 300 --max-seconds 0 --num-threads 1 \
    --no-visdom --no-progress --runs-dir "$OUT" --run-name $run > "$OUT/$run.log" 2>&1
done
python - "$OUT" <<'PY'
import json, sys
from memagents.checkpoint import load_checkpoint
out = sys.argv[1]
models = {}
for run in ("avx2", "avx2-again", "default"):
    models[run] = load_checkpoint(f"{out}/{run}/checkpoints/last.pt")["model"]
    rows = [json.loads(line) for line in open(f"{out}/{run}/metrics.jsonl")]
    train = [row for row in rows if row["kind"] == "train"][-1]
    print(f"{run}: training loss at step {train['step']}: {train['loss_bits']:.4f} bits")
for other in ("avx2-again", "default"):
    a, b = models["avx2"], models[other]
    gap = max((a[k].double() - b[k].double()).abs().max().item() for k in a)
    print(f"largest weight difference, avx2 against {other}: {gap:.3g}")
PY
