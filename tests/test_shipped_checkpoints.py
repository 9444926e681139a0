"""The trained models in checkpoints/ load safely and still do what the README says."""

from __future__ import annotations

from pathlib import Path

import pytest

from memagents.evaluation import generalisation, load_circuit

CHECKPOINTS = Path(__file__).resolve().parents[1] / "checkpoints"

# (file, length, most bit errors per sequence over 100 sequences); the README's table has them
# at 1000 sequences: the NTM below 0.03 up to length 80, the DNC 0.000 at 20 and 50, the LSTM
# 0.027 at 10, the repeat-copy DNC solved on its training range.
CASES = [
    ("ntm-copy.pt", 20, 0.1),
    ("ntm-copy.pt", 50, 0.1),
    ("ntm-copy.pt", 80, 0.5),  # four times the longest training sequence
    ("dnc-copy.pt", 50, 0.1),
    ("lstm-copy.pt", 10, 0.5),
    ("dnc-repeat-copy.pt", 2, 0.1),
]


@pytest.mark.parametrize(("name", "length", "most"), CASES)
def test_shipped_checkpoint_copies(name, length, most):
    loaded = load_circuit(CHECKPOINTS / name)
    assert loaded.checkpoint["optimizer"] is None  # model-only: small, not resumable
    result = generalisation(loaded.circuit, loaded.config, [length], 100, seed=123)[length]
    assert result.num_sequences == 100
    assert result.bit_errors <= most, f"{name} at length {length}: {result.bit_errors}"


def test_the_lstm_fails_where_the_ntm_generalises():
    ntm, lstm = (
        load_circuit(CHECKPOINTS / "ntm-copy.pt"),
        load_circuit(CHECKPOINTS / "lstm-copy.pt"),
    )
    ntm_result = generalisation(ntm.circuit, ntm.config, [30], 50, seed=7)[30]
    lstm_result = generalisation(lstm.circuit, lstm.config, [30], 50, seed=7)[30]
    assert ntm_result.bit_errors < 0.5 < 10 < lstm_result.bit_errors
