"""Train one seed of section 21's raw-count model (the preset ntm-repeat-copy-zeros with the count
given raw) and keep a copy of its checkpoint every KEEP steps, so that generalisation can be read
along the run, not only at its end.

    python docs/results/rc-raw-count/snapshots.py SEED RUNS_DIR [KEEP [MAX_STEPS]]

The run is the preset ntm-repeat-copy-raw, the same config as train.sh's (`scripts/train.py
--preset ntm-repeat-copy-long --env-kwarg normalisation=none --train-env-kwarg zero_items=0.1
--seed SEED`), and the same loop (`memagents.training.fit`); only its "checkpoint" callback adds
the copies, as
RUNS_DIR/seedSEED/checkpoints/step-NNNNN.pt.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from memagents.config import resolve_config
from memagents.runs import Run, setup_logging
from memagents.training import EXIT_CODES, SupervisedTrainer, fit


def main() -> int:
    seed, runs_dir = int(sys.argv[1]), Path(sys.argv[2])
    keep = int(sys.argv[3]) if len(sys.argv) > 3 else 2000
    overrides = {"seed": seed}
    if len(sys.argv) > 4:  # a shorter run, to check it against train.py's
        overrides["max_steps"] = int(sys.argv[4])
    config = resolve_config(None, "ntm-repeat-copy-raw", overrides)
    trainer = SupervisedTrainer(config)
    run = Run.create(runs_dir, f"seed{seed}")

    def copy_snapshot(kind: str, record: dict) -> None:
        if kind == "checkpoint" and record["step"] % keep == 0:
            path = Path(record["path"])
            shutil.copyfile(path, path.with_name(f"step-{record['step']:05d}.pt"))

    with run:
        setup_logging(run.path / "train.log")
        run.write_config(config)
        run.open_outputs(resumed_at=None, visdom=False)
        result = fit(trainer, run, callback=copy_snapshot, progress=False)
    return EXIT_CODES[result.status]


if __name__ == "__main__":
    sys.exit(main())
