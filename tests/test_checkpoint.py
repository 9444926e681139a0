"""Checkpoints: atomic writes, weights-only loads, clear errors for bad files."""

from __future__ import annotations

import os
import pickle
import random

import numpy as np
import pytest
import torch

from memagents import checkpoint as ckpt
from memagents.checkpoint import (
    CheckpointError,
    capture_rng_state,
    load_checkpoint,
    load_model_state,
    restore_rng_state,
    save_checkpoint,
)


def payload(step: int = 3) -> dict:
    model = torch.nn.Linear(3, 2)
    return {
        "circuit": {"name": "lstm", "input_size": 3, "output_size": 2, "config": {}},
        "model": model.state_dict(),
        "optimizer": None,
        "step": step,
        "sequences": 16 * step,
        "train_config": {"agent": "lstm"},
        "rng": capture_rng_state(),
    }


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
    torch.save({"format": ckpt.FORMAT, "version": 1, "model": {}}, path)
    with pytest.raises(CheckpointError, match=r"missing entries"):
        load_checkpoint(path)


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
