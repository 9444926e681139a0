"""memagents.runs.Run: names, the lock, what killed writers leave, metrics on resume, plots."""

from __future__ import annotations

import json
import os

import pytest

from memagents.checkpoint import CheckpointError
from memagents.runs import (
    Run,
    RunInUseError,
    check_run_name,
    default_run_name,
    read_metrics,
)


@pytest.mark.parametrize("name", ["../../x", "a/b", ".hidden", "", "a b", "x" * 129, "..", "/abs"])
def test_run_names_that_would_leave_the_runs_folder_are_refused(tmp_path, name):
    with pytest.raises(ValueError, match="use letters, digits"):
        check_run_name(name)
    with pytest.raises(ValueError, match="use letters, digits"):
        Run.create(tmp_path, name)
    assert list(tmp_path.iterdir()) == []


def test_the_default_name_makes_no_visdom_group():
    name = default_run_name()
    assert "_" not in name and check_run_name(name) == name


def test_a_second_process_on_the_same_run_is_refused_with_the_holder_named(tmp_path):
    # flock conflicts between open file descriptions, so a second open in this process is a
    # second holder as far as the lock is concerned.
    first = Run.create(tmp_path, "shared")
    with pytest.raises(RunInUseError, match=rf"in use by process {os.getpid()}"):
        Run.create(tmp_path, "shared")
    with pytest.raises(RunInUseError, match="in use by process"):
        Run.open("shared", tmp_path)
    first.close()
    with Run.open("shared", tmp_path) as again:  # released on close
        assert again.path == tmp_path / "shared"


def test_orphan_temporary_checkpoints_are_removed_when_the_run_is_opened(tmp_path):
    folder = tmp_path / "run" / "checkpoints"
    folder.mkdir(parents=True)
    orphan = folder / ".last.pt.abc123.tmp"
    orphan.write_bytes(b"half a checkpoint from a killed writer")
    other = folder / "keep.txt"
    other.write_text("not ours")
    with Run.open("run", tmp_path):
        assert not orphan.exists() and other.exists()


def test_a_new_run_refuses_a_folder_with_a_checkpoint(tmp_path):
    (tmp_path / "taken" / "checkpoints").mkdir(parents=True)
    (tmp_path / "taken" / "checkpoints" / "last.pt").write_bytes(b"")
    with pytest.raises(ValueError, match="already has a checkpoint; resume it with --resume taken"):
        Run.create(tmp_path, "taken")


def test_metrics_start_fresh_for_a_new_run_and_drop_replayed_steps_on_resume(tmp_path):
    with Run.create(tmp_path, "m") as run:
        run.open_outputs(resumed_at=None, visdom=False)
        for step in (10, 20, 30):
            run.record("train", step=step, sequences=step * 4, loss_bits=1.0, bit_errors=0.5)
    with Run.open("m", tmp_path) as run:
        run.open_outputs(resumed_at=20, visdom=False)  # the checkpoint was at step 20
        run.record("train", step=30, sequences=120, loss_bits=0.5, bit_errors=0.25)
    rows = read_metrics(tmp_path / "m")
    assert [(row["step"], row["loss_bits"]) for row in rows] == [(10, 1.0), (20, 1.0), (30, 0.5)]
    with Run.open("m", tmp_path) as run:
        run.open_outputs(resumed_at=None, visdom=False)  # a fresh start of the same folder
    assert read_metrics(tmp_path / "m") == []


def test_curves_after_a_resume_cover_every_recorded_step(tmp_path):
    with Run.create(tmp_path, "c") as run:
        run.open_outputs(resumed_at=None, visdom=False)
        for step in (5, 10):
            run.record("train", step=step, sequences=step, loss_bits=2.0, bit_errors=1.0)
    with Run.open("c", tmp_path) as run:
        run.open_outputs(resumed_at=10, visdom=False)
        run.record("train", step=15, sequences=15, loss_bits=1.0, bit_errors=0.5)
        xs, ys = run.plotter._curves["loss"].series["train"]
    assert (list(xs), list(ys)) == ([5, 10, 15], [2.0, 2.0, 1.0])
    assert (tmp_path / "c" / "plots" / "loss.png").is_file()


def test_config_is_written_atomically_and_read_back(tmp_path):
    class Config:
        def to_dict(self):
            return {"agent": "dnc", "lr": 0.001}

    with Run.create(tmp_path, "cfg") as run:
        run.write_config(Config())
        assert run.read_config() == {"agent": "dnc", "lr": 0.001}
    assert json.loads((tmp_path / "cfg" / "config.json").read_text())["agent"] == "dnc"
    assert not list((tmp_path / "cfg").glob(".config*"))


def test_a_run_with_a_scratch_folder_never_shows_a_temporary_file_in_its_folder(
    tmp_path, monkeypatch
):
    # A sweep trial's run folder is copied by Ray Tune while it trains: a temporary file that
    # the copy lists and the rename then removes fails the copy (FileNotFoundError).
    import torch

    from memagents import checkpoint as ckpt
    from memagents import runs

    scratch = tmp_path / "scratch"
    scratch.mkdir()
    (scratch / ".last.pt.killed.tmp").write_bytes(b"left by a killed trial")
    seen = []
    replace = os.replace

    def spy(src, dst):
        seen.append(sorted(str(p.relative_to(tmp_path)) for p in (tmp_path / "r").rglob("*")))
        replace(src, dst)

    monkeypatch.setattr(ckpt.os, "replace", spy)
    monkeypatch.setattr(runs.os, "replace", spy)

    class Config:
        def to_dict(self):
            return {"agent": "ntm"}

    with Run.create(tmp_path, "r", scratch=scratch) as run:
        assert not list(scratch.iterdir())  # the orphan of a killed trial is removed
        run.write_config(Config())
        state = {"kind": "supervised", "config": {}, "step": 1, "optimizer": None,
                 "circuit": {"name": "lstm", "input_size": 1, "output_size": 1, "config": {}},
                 "model": {"w": torch.ones(2)}}  # fmt: skip
        run.save_checkpoint(state)
        run.save_checkpoint(dict(state, step=2))
        assert run.load_checkpoint()["step"] == 2
    assert len(seen) == 3
    assert not any(name.endswith(".tmp") for listing in seen for name in listing)
    assert not list(scratch.iterdir())


def test_a_non_finite_state_is_not_written_over_the_last_checkpoint(tmp_path):
    import torch

    with Run.create(tmp_path, "nan") as run:
        good = {"kind": "supervised", "config": {}, "step": 1, "optimizer": None,
                "circuit": {"name": "lstm", "input_size": 1, "output_size": 1, "config": {}},
                "model": {"w": torch.ones(2)}}  # fmt: skip
        run.save_checkpoint(good)
        before = run.checkpoint_path.read_bytes()
        bad = dict(good, step=2, model={"w": torch.tensor([1.0, float("inf")])})
        with pytest.raises(CheckpointError, match="holds NaN or infinite"):
            run.save_checkpoint(bad)
        assert run.checkpoint_path.read_bytes() == before
