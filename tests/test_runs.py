"""memagents.runs.TrainingLoop, the loop both training scripts share: its cadences, its stop when
solved, and what Ctrl-C and a failure do. (The scripts' own tests run it end to end, SIGTERM and
SIGKILL included.)"""

from __future__ import annotations

import logging

import pytest

from memagents.runs import EXIT_CODES, TrainingLoop


class Boom(Exception):
    pass


def make_loop(tmp_path, **kwargs) -> TrainingLoop:
    options = dict(
        log=logging.getLogger("test"),
        run_dir=tmp_path / "run",
        script="train.py",
        max_steps=7,
        log_every=3,
        eval_every=5,
        checkpoint_every=4,
        stop_when_solved=True,
        show_progress=False,
    )
    return TrainingLoop(**(options | kwargs))


def run(loop: TrainingLoop, *, solve_at=None, raise_at=None, error=KeyboardInterrupt):
    done, events = [0], []

    def train_step():
        if done[0] + 1 == raise_at:
            raise error("stop here")
        done[0] += 1
        return {"loss": float(done[0])}, {}

    status = loop.run(
        step=lambda: done[0],
        train_step=train_step,
        on_log=lambda step, means: events.append(("log", step, means["loss"])),
        on_eval=lambda step: events.append(("eval", step)),
        write_checkpoint=lambda: events.append(("checkpoint", done[0])),
        solved=lambda: solve_at is not None and done[0] >= solve_at,
        failure=Boom,
        on_failure=lambda e: events.append(("failure", str(e))),
    )
    return status, events


def test_cadences_and_the_window_means(tmp_path):
    status, events = run(make_loop(tmp_path))
    assert status == "finished"
    assert events == [
        ("log", 3, 2.0),  # the mean of steps 1..3
        ("checkpoint", 4),
        ("eval", 5),
        ("log", 6, 5.0),
        ("log", 7, 7.0),  # the last step logs and evaluates whatever the cadence
        ("eval", 7),
        ("checkpoint", 7),  # and the end writes a checkpoint
    ]


def test_stops_when_solved_unless_told_not_to(tmp_path):
    assert run(make_loop(tmp_path), solve_at=5)[1][-1] == ("checkpoint", 5)
    status, events = run(make_loop(tmp_path, stop_when_solved=False), solve_at=5)
    assert status == "finished" and events[-1] == ("checkpoint", 7)


def test_ctrl_c_checkpoints_and_says_how_to_resume(tmp_path, caplog):
    with caplog.at_level(logging.WARNING):
        status, events = run(make_loop(tmp_path), raise_at=6)
    assert status == "interrupted" and EXIT_CODES[status] == 130
    assert events[-1] == ("checkpoint", 5)
    assert "python scripts/train.py --resume" in caplog.text


def test_a_failure_keeps_the_last_checkpoint_as_it_is(tmp_path):
    status, events = run(make_loop(tmp_path), raise_at=6, error=Boom)
    assert status == "failed" and EXIT_CODES[status] == 3
    # no checkpoint after the failure: the one of step 4 stays the last
    assert events == [("log", 3, 2.0), ("checkpoint", 4), ("eval", 5), ("failure", "stop here")]


def test_other_errors_propagate(tmp_path):
    with pytest.raises(ValueError):
        run(make_loop(tmp_path), raise_at=2, error=ValueError)
