"""Average the weights of several checkpoints of one run into a new checkpoint.

Section 15 found that a two-head feed-forward NTM trained on at lr 1e-4 wanders at (20, 10) from
one snapshot to the next while the training range stays solved. An average of the weights over
the low-rate phase (stochastic weight averaging, Izmailov et al. 2018, on snapshots every 2,500
steps) is one way to make the good snapshots the usual ones; this writes that average as a
checkpoint that `scripts/evaluate.py` and `scripts/head_traces.py` read like any other (the
optimizer and counters are the last snapshot's).

    python docs/results/rc-ff-reads2-on/average.py OUT.pt /work/curve/snapshots/seed2-[1-8].pt
"""

from __future__ import annotations

import sys

import torch

from memagents.checkpoint import load_checkpoint, save_checkpoint


def main(out: str, paths: list[str]) -> None:
    payloads = [load_checkpoint(path) for path in paths]
    # The same run: the circuit, the task and the seed agree (max_steps and lr move on resumes).
    keys = ("agent", "circuit_kwargs", "env_id", "env_kwargs", "seed")
    runs = {repr([payload["config"].get(key) for key in keys]) for payload in payloads}
    if len(runs) != 1:
        raise SystemExit("average.py: the checkpoints are not of one run")
    average = payloads[-1]
    average["model"] = {
        name: torch.stack([payload["model"][name].double() for payload in payloads])
        .mean(0)
        .to(tensor.dtype)
        for name, tensor in average["model"].items()
    }
    save_checkpoint(out, average)
    print(f"wrote {out}: the mean of {len(paths)} checkpoints' weights")


if __name__ == "__main__":
    if len(sys.argv) < 3:
        raise SystemExit("usage: average.py OUT.pt CHECKPOINT [CHECKPOINT ...]")
    main(sys.argv[1], sys.argv[2:])
