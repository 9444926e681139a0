"""The trained models in checkpoints/ load safely and still do what the README says."""

from __future__ import annotations

from pathlib import Path

import pytest

from memagents.evaluation import generalisation, load_circuit

CHECKPOINTS = Path(__file__).resolve().parents[1] / "checkpoints"

# (file, length, most bit errors per sequence over 100 sequences). Each copy model is the typical
# seed of five (README, "Length generalisation on Copy"); at 1,000 sequences its seed's sweep
# measured: ntm-copy 0.000 at 50 and 2.4 at 80, ntm-copy-long 0.30 at 80 and 0.45 at 120,
# dnc-copy 0.004 at 80, the LSTM (3,000 steps, not solved) 34 at 20; here (100 sequences, seed
# 123): 0.0 / 2.43, 0.01 / 0.0, 0.0, and 1.77 at length 10.
CASES = [
    ("ntm-copy.pt", 20, 0.1),
    ("ntm-copy.pt", 50, 0.1),
    ("ntm-copy.pt", 80, 5.0),  # four times the longest training sequence: a few bits wrong
    ("ntm-copy-long.pt", 120, 1.0),  # six times, with 256 memory slots
    ("dnc-copy.pt", 80, 0.1),
    ("lstm-copy.pt", 10, 3.0),
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
