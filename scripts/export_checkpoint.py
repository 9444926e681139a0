"""Export a small, model-only checkpoint (no optimizer or RNG state) to ship or share.

    python scripts/export_checkpoint.py runs/<run> checkpoints/ntm-copy.pt

The result loads with `scripts/test.py --checkpoint` and `scripts/evaluate.py`; it cannot be
resumed (there is no optimizer state in it).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from memagents.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from memagents.evaluation import find_checkpoint

KEPT = ("circuit", "model", "step", "sequences", "train_config", "metrics", "solved_at")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("source", help="a run folder or a checkpoint file")
    parser.add_argument("destination", help="the exported checkpoint file")
    args = parser.parse_args(argv)
    try:
        payload = load_checkpoint(find_checkpoint(None, args.source))
    except CheckpointError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    exported = {key: payload[key] for key in KEPT if key in payload}
    exported["optimizer"] = None
    path = save_checkpoint(Path(args.destination), exported)
    print(f"wrote {path} ({path.stat().st_size / 1024:.0f} KiB, step {payload['step']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
