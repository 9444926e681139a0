"""Write the trained weights of a run that kept an average of its weights as a checkpoint.

With ``average_decay`` a run's checkpoint holds the average as its ``model`` (what evaluation
reads) and the trained weights in ``extra["trained_model"]`` (what a resume goes on from). This
writes a copy of the checkpoint whose ``model`` is the trained weights, so that
``scripts/evaluate.py`` scores the average and the weights it averaged on the same sequences.

    python docs/results/rc-ff-reads2-average/trained.py CHECKPOINT OUT.pt
"""

from __future__ import annotations

import sys

from memagents.checkpoint import load_checkpoint, save_checkpoint


def main(path: str, out: str) -> None:
    payload = load_checkpoint(path)
    trained = payload.get("extra", {}).pop("trained_model", None)
    if trained is None:
        raise SystemExit(f"trained.py: {path} keeps no average (its model is the trained weights)")
    payload["model"] = trained
    save_checkpoint(out, payload)
    print(f"wrote {out}: the trained weights of {path}")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit("usage: trained.py CHECKPOINT OUT.pt")
    main(sys.argv[1], sys.argv[2])
