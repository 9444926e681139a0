"""The presets train to solved: the README's time-to-solved rows, end to end (slow)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from memagents.runs import read_metrics

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("args", "most_steps"),
    [
        # Seed 1 of docs/results/time-to-solved (the README's table): solved at step 2,000 (DNC)
        # and 2,500 (NTM); batches are a function of (seed, step), so the same run here.
        (["--agent", "dnc"], 3000),  # the quickstart's main job
        (["--agent", "ntm"], 3000),  # the NTM paper's copy task
    ],
)
def test_preset_trains_to_solved(tmp_path, args, most_steps):
    command = [
        sys.executable, str(ROOT / "scripts" / "train.py"), *args, "--max-steps", str(most_steps),
        "--run-name", "run", "--runs-dir", str(tmp_path), "--no-visdom", "--no-progress",
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=900, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    solved = [row for row in read_metrics(tmp_path / "run") if row["kind"] == "solved"]
    assert solved, f"not solved within {most_steps} steps:\n{result.stderr[-2000:]}"
    assert solved[0]["bit_errors"] < 0.1 and solved[0]["num_sequences"] >= 1000
