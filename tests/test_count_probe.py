"""scripts/count_probe.py: where a repeat-copy circuit keeps its count, and when it stops."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from memagents.checkpoint import save_checkpoint
from memagents.config import resolve_config
from memagents.training import SupervisedTrainer

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "count_probe.py"


def load_script():
    spec = importlib.util.spec_from_file_location("count_probe", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_count_units_finds_the_units_that_follow_the_count_and_how_far_they_keep_to_it():
    script = load_script()
    counts = np.arange(1, 31, dtype=float)
    linear = 0.05 * counts - 0.2  # holds the count to 30
    saturating = 0.05 * np.minimum(counts, 10.0)  # stops rising where training did
    noise = np.random.default_rng(0).normal(size=30) * 0.01  # follows nothing
    cells = np.stack([noise, saturating, linear, np.zeros(30)], axis=1)
    units, reads = script.count_units(cells, trained=10, units=2)
    assert sorted(units) == [1, 2]  # both follow the count exactly over 1..10
    by_unit = dict(zip(units, reads, strict=True))
    assert by_unit[2] == pytest.approx(30.0)  # holds 30 as 30
    assert by_unit[1] == pytest.approx(10.0)  # stopped rising at the largest trained count


def checkpoint(tmp_path, preset, task=None):
    sizes = {"circuit_kwargs": dict(memory_size=16, controller_size=8)}
    config = resolve_config("ntm", preset, {**sizes, **(task or {})})
    path = tmp_path / f"{preset}.pt"
    save_checkpoint(path, SupervisedTrainer(config).checkpoint(0.0))
    return str(path)


def test_the_cli_tables_the_stop_and_the_count_units(tmp_path, capsys):
    script = load_script()
    path = checkpoint(tmp_path, "ntm-repeat-copy")
    argv = ["--checkpoint", path, "--length", "2", "--max-repeats", "12", "--report", "10", "12"]
    assert script.main([*argv, "--out", str(tmp_path / "probe.md")]) == 0
    out = capsys.readouterr().out
    assert "| checkpoint | stop at 10 | stop at 12 | count units | 12 reads as |" in out
    row = next(line for line in out.splitlines() if line.startswith(f"| {path} |"))
    assert len(row.split("|")) == 7  # the checkpoint, 2 stops, the units, the count read
    assert (tmp_path / "probe.md").read_text().startswith("| checkpoint |")
    assert script.main([*argv, "--trace-units", "0", "3"]) == 0
    out = capsys.readouterr().out
    traced = [line for line in out.splitlines() if line.startswith(f"- {path}, count 12, unit 3:")]
    assert len(traced) == 1
    assert len(traced[0].split(":")[-1].split()) == 13  # the count step and 12 repetitions


def test_the_cli_refuses_a_copy_checkpoint_and_a_count_inside_training(tmp_path, capsys):
    script = load_script()
    copy = checkpoint(tmp_path, "ntm-copy")
    assert script.main(["--checkpoint", copy]) == 2
    assert "trained on memtasks/RepeatCopy-v0" in capsys.readouterr().err
    repeat = checkpoint(tmp_path, "ntm-repeat-copy")
    assert script.main(["--checkpoint", repeat, "--max-repeats", "10", "--report", "10"]) == 2
    assert "past the training range (1..10)" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        script.main(["--checkpoint", repeat, "--report", "40"])
    assert exit_.value.code == 2
