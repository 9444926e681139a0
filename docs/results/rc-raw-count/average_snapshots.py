"""The mean of a run's snapshots' weights (snapshots.py's step-NNNNN.pt), as one model-only
checkpoint: does the middle of the late training trajectory copy better than its points?

    python docs/results/rc-raw-count/average_snapshots.py OUT.pt SNAPSHOT.pt [SNAPSHOT.pt ...]

The snapshots must be of one run (the same circuit); OUT keeps the last one's config and step.
"""

from __future__ import annotations

import sys

import torch

from memagents.checkpoint import exported_checkpoint, load_checkpoint, save_checkpoint


def main() -> int:
    out, paths = sys.argv[1], sys.argv[2:]
    payloads = [load_checkpoint(path) for path in paths]
    names = payloads[-1]["model"].keys()
    mean = {name: torch.stack([p["model"][name] for p in payloads]).mean(0) for name in names}
    payload = exported_checkpoint({**payloads[-1], "model": mean})
    print(f"wrote {save_checkpoint(out, payload)} (mean of {len(paths)} snapshots)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
