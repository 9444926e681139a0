"""Export a small, model-only checkpoint (no optimizer or RNG state) to ship or share.

    python scripts/export_checkpoint.py runs/<run> checkpoints/ntm-copy.pt

The result loads with `scripts/test.py --checkpoint` and `scripts/evaluate.py`; it cannot be
resumed (there is no optimizer state in it).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from memagents.checkpoint import (
    CheckpointError,
    exported_checkpoint,
    load_checkpoint,
    save_checkpoint,
)
from memagents.evaluation import find_checkpoint


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("source", help="a run folder or a checkpoint file")
    parser.add_argument("destination", help="the exported checkpoint file")
    args = parser.parse_args(argv)
    destination = Path(args.destination)
    if destination.is_dir():
        print(
            f"error: {destination} is a folder; give the exported file's path "
            f"(for example {destination / 'model.pt'})",
            file=sys.stderr,
        )
        return 2
    try:
        payload = load_checkpoint(find_checkpoint(None, args.source))
        path = save_checkpoint(destination, exported_checkpoint(payload))
    except (CheckpointError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"wrote {path} ({path.stat().st_size / 1024:.0f} KiB, step {payload['step']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
