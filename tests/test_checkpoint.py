"""Checkpoints: atomic writes, weights-only loads, clear errors for bad files."""

from __future__ import annotations

import os
import pickle
import random
from pathlib import Path

import numpy as np
import pytest
import torch

from memagents import checkpoint as ckpt
from memagents.checkpoint import (
    CheckpointError,
    assert_finite_state,
    capture_rng_state,
    exported_checkpoint,
    load_checkpoint,
    load_model_state,
    restore_rng_state,
    save_checkpoint,
    training_checkpoint,
)
from memagents.circuits import build_circuit
from memagents.config import TrainConfig
from memagents.evaluation import load_circuit


def payload(step: int = 3) -> dict:
    model = torch.nn.Linear(3, 2)
    return {
        "kind": "supervised",
        "config": {"agent": "lstm"},
        "circuit": {"name": "lstm", "input_size": 3, "output_size": 2, "config": {}},
        "model": model.state_dict(),
        "optimizer": None,
        "step": step,
        "sequences": 16 * step,
        "rng": capture_rng_state(),
    }


def tiny_training_checkpoint() -> dict:
    circuit = build_circuit("lstm", 3, 2, hidden_size=4, num_layers=1)
    optimizer = torch.optim.Adam(circuit.parameters())
    config = TrainConfig(agent="lstm", circuit_kwargs=dict(hidden_size=4, num_layers=1))
    return training_checkpoint(
        kind="supervised", config=config.to_dict(), circuit=circuit, optimizer=optimizer,
        step=7, sequences=112,
    )  # fmt: skip


def test_round_trip(tmp_path):
    saved = payload()
    path = save_checkpoint(tmp_path / "c" / "last.pt", saved)
    loaded = load_checkpoint(path)
    assert loaded["step"] == 3 and loaded["format"] == ckpt.FORMAT
    torch.testing.assert_close(loaded["model"]["weight"], saved["model"]["weight"])
    assert [p.name for p in path.parent.iterdir()] == ["last.pt"]  # no temporary left


def test_failed_write_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    path = save_checkpoint(tmp_path / "last.pt", payload(step=1))
    before = path.read_bytes()

    def torn_save(obj, handle):  # a crash halfway through writing the new file
        handle.write(b"PK\x03\x04 half a zip")
        raise KeyboardInterrupt

    monkeypatch.setattr(ckpt.torch, "save", torn_save)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, payload(step=2))
    assert path.read_bytes() == before
    assert load_checkpoint(path)["step"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]


def test_the_temporary_file_is_made_in_tmp_dir_and_renamed_into_place(tmp_path, monkeypatch):
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    renamed = []
    replace = os.replace

    def spy(src, dst):
        in_scratch = sorted(p.name for p in scratch.iterdir())
        renamed.append((Path(src).parent, Path(src).name, in_scratch))
        replace(src, dst)

    monkeypatch.setattr(ckpt.os, "replace", spy)
    path = save_checkpoint(tmp_path / "run" / "last.pt", payload(step=4), tmp_dir=scratch)
    [(folder, name, in_scratch)] = renamed
    assert folder == scratch and name.endswith(".tmp") and in_scratch == [name]
    assert load_checkpoint(path)["step"] == 4
    assert [p.name for p in path.parent.iterdir()] == ["last.pt"] and not list(scratch.iterdir())


def test_a_tmp_dir_that_cannot_take_the_rename_falls_back_to_the_folder(tmp_path, monkeypatch):
    folder = tmp_path / "run"
    folder.mkdir()
    assert ckpt.temporary_folder(folder, None) == folder
    assert ckpt.temporary_folder(folder, tmp_path / "missing") == folder
    assert ckpt.temporary_folder(folder, tmp_path) == tmp_path
    real_stat = os.stat

    def other_device(path, *args, **kwargs):  # tmp_dir on another file system
        result = real_stat(path, *args, **kwargs)
        if Path(path) == tmp_path:
            fields = list(result)
            fields[2] = result.st_dev + 1  # st_dev
            return os.stat_result(fields)
        return result

    monkeypatch.setattr(ckpt.os, "stat", other_device)
    assert ckpt.temporary_folder(folder, tmp_path) == folder
    monkeypatch.undo()
    path = save_checkpoint(folder / "last.pt", payload(step=5), tmp_dir=tmp_path / "missing")
    assert load_checkpoint(path)["step"] == 5


def test_missing_file_is_named(tmp_path):
    with pytest.raises(CheckpointError, match=r"nope\.pt: no such file"):
        load_checkpoint(tmp_path / "nope.pt")


def test_truncated_file_is_a_clear_error(tmp_path):
    path = save_checkpoint(tmp_path / "last.pt", payload())
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match=r"last\.pt: unreadable, the file is truncated"):
        load_checkpoint(path)


@pytest.mark.parametrize("seed", range(40))
def test_garbage_file_is_a_clear_error(tmp_path, seed):
    # Random bytes break torch.load in many ways (a bad pickle, an IndexError in the safe
    # unpickler, ...): every one must come out as a CheckpointError naming the file.
    path = tmp_path / "garbage.pt"
    path.write_bytes(np.random.default_rng(seed).bytes(300))
    with pytest.raises(CheckpointError, match=r"garbage\.pt"):
        load_checkpoint(path)
    # The same bytes behind a pickle protocol header reach the unpickler itself.
    path.write_bytes(b"\x80\x02" + np.random.default_rng(seed).bytes(300))
    with pytest.raises(CheckpointError, match=r"garbage\.pt"):
        load_checkpoint(path)


class Exploit:
    def __reduce__(self):
        return (os.system, ("touch pwned",))


def test_crafted_checkpoint_cannot_run_code(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "evil.pt"
    torch.save({"format": ckpt.FORMAT, "version": 1, "model": Exploit()}, path)
    with pytest.raises(CheckpointError, match=r"evil\.pt: refused by the safe"):
        load_checkpoint(path)
    assert not (tmp_path / "pwned").exists()
    # And a plain pickle (not a torch zip) is refused too, without running.
    raw = tmp_path / "raw.pt"
    raw.write_bytes(pickle.dumps(Exploit()))
    with pytest.raises(CheckpointError, match=r"raw\.pt"):
        load_checkpoint(raw)
    assert not (tmp_path / "pwned").exists()


def test_not_a_memagents_checkpoint(tmp_path):
    path = tmp_path / "other.pt"
    torch.save({"state_dict": {}}, path)
    with pytest.raises(CheckpointError, match=r"other\.pt: not a memagents checkpoint"):
        load_checkpoint(path)
    torch.save({"format": ckpt.FORMAT, "version": 99}, path)
    with pytest.raises(CheckpointError, match=r"format version 99"):
        load_checkpoint(path)
    torch.save({"format": ckpt.FORMAT, "version": 2, "model": {}}, path)
    with pytest.raises(CheckpointError, match=r"missing entries"):
        load_checkpoint(path)


def test_the_training_layout_round_trips_and_exports_model_only(tmp_path):
    path = save_checkpoint(tmp_path / "last.pt", tiny_training_checkpoint())
    loaded = load_checkpoint(path)
    assert (loaded["kind"], loaded["step"], loaded["sequences"]) == ("supervised", 7, 112)
    assert loaded["circuit"]["config"] == {"hidden_size": 4, "num_layers": 1, "clip_value": 20.0}
    assert loaded["optimizer"] is not None and loaded["extra"] == {}
    exported = exported_checkpoint(loaded)
    assert exported["optimizer"] is None and "rng" not in exported
    small = save_checkpoint(tmp_path / "small.pt", exported)
    assert load_circuit(small).circuit.settings.hidden_size == 4


def test_a_version_1_checkpoint_loads_in_the_version_2_layout(tmp_path):
    old = tiny_training_checkpoint()
    old["train_config"] = old.pop("config")
    del old["kind"], old["extra"]
    old["version"] = 1
    path = tmp_path / "v1.pt"
    torch.save(old, path)
    loaded = load_checkpoint(path)
    assert loaded["version"] == 2 and loaded["kind"] == "supervised"
    assert loaded["config"]["agent"] == "lstm" and "train_config" not in loaded


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda p: p.pop("rng"), "no complete RNG state"),
        (lambda p: p.update(step="3"), "step and sequences must be integers"),
        (lambda p: p.update(step=-1), "step and sequences must be integers"),
        (lambda p: p.update(kind="other"), "kind must be one of"),
        (lambda p: p.update(circuit={"name": "lstm"}), "circuit record"),
        (lambda p: p.update(elapsed_s=float("nan")), "elapsed_s must be a finite number"),
    ],
)
def test_crafted_but_safe_checkpoints_give_a_clear_error(tmp_path, change, message):
    crafted = tiny_training_checkpoint()
    change(crafted)
    path = tmp_path / "crafted.pt"
    torch.save(crafted, path)
    with pytest.raises(CheckpointError, match=rf"crafted\.pt: .*{message}"):
        load_checkpoint(path)


def test_a_circuit_too_big_to_build_is_refused_before_allocating(tmp_path):
    crafted = tiny_training_checkpoint()
    crafted["circuit"] = {
        "name": "ntm", "input_size": 3, "output_size": 2, "config": {"memory_size": 10**9}
    }  # fmt: skip
    path = tmp_path / "huge.pt"
    torch.save(crafted, path)
    with pytest.raises(CheckpointError, match=r"huge\.pt: cannot rebuild .*memory_size must be"):
        load_circuit(path)


def test_non_finite_state_is_never_written(tmp_path):
    state = tiny_training_checkpoint()
    path = save_checkpoint(tmp_path / "last.pt", state)
    before = path.read_bytes()
    state["model"]["output.weight"][0, 0] = float("nan")
    with pytest.raises(CheckpointError, match="the model state holds NaN"):
        assert_finite_state(state, path)
    assert path.read_bytes() == before


def test_checkpoints_honour_the_umask(tmp_path):
    previous = os.umask(0o022)
    try:
        path = save_checkpoint(tmp_path / "last.pt", payload())
    finally:
        os.umask(previous)
    assert path.stat().st_mode & 0o777 == 0o644


def test_mismatched_weights_name_the_file(tmp_path):
    path = save_checkpoint(tmp_path / "last.pt", payload())
    state = load_checkpoint(path)["model"]
    with pytest.raises(CheckpointError, match=r"last\.pt: its weights do not match"):
        load_model_state(torch.nn.Linear(4, 2), state, path)


def test_rng_state_round_trip_through_a_file(tmp_path):
    random.seed(5)
    np.random.seed(5)
    torch.manual_seed(5)
    path = save_checkpoint(tmp_path / "rng.pt", payload())
    expected = (random.random(), np.random.rand(), torch.rand(1).item())
    random.random(), np.random.rand(), torch.rand(1)  # move every stream on
    restore_rng_state(load_checkpoint(path)["rng"])
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == expected
