"""Fault injection (slow): a run stopped by many SIGINT/SIGTERM at random moments and resumed each
time ends exactly as a straight run; SIGKILL during checkpoint writes always leaves a loadable
checkpoint, and the next start removes the killed writes' temporary files."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from memagents.checkpoint import load_checkpoint

ROOT = Path(__file__).resolve().parents[1]
TINY = [
    "--preset", "dnc-repeat-copy",
    "--circuit-kwarg", "memory_size=8", "--circuit-kwarg", "word_size=4",
    "--circuit-kwarg", "controller_size=16", "--circuit-kwarg", "num_reads=2",
    "--batch-size", "4", "--eval-sequences", "8", "--solved-sequences", "8",
    "--no-visdom", "--num-threads", "1", "--no-stop-when-solved", "--log-every", "5",
    "--eval-every", "100000", "--device", "cpu",
]  # fmt: skip
STEPS = 100


def train(*args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(ROOT / "scripts" / "train.py"), *args],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def last_logged_step(run_dir: Path) -> int:
    path = run_dir / "metrics.jsonl"
    if not path.is_file():
        return -1
    lines = path.read_text().splitlines()
    return json.loads(lines[-1])["step"] if lines else -1


def stop_at_a_random_moment(process: subprocess.Popen, run_dir: Path, signum: int, rng) -> None:
    """Wait until the run trains past its last logged step, then signal it after a random delay
    (landing anywhere in a step: data, forward, backward, optimizer, logging, checkpointing)."""
    start = last_logged_step(run_dir)
    deadline = time.time() + 120
    while process.poll() is None and last_logged_step(run_dir) <= start and time.time() < deadline:
        time.sleep(0.005)
    time.sleep(rng.uniform(0.0, 0.01))  # a tiny step takes about a millisecond
    if process.poll() is None:
        process.send_signal(signum)


def final_state(run_dir: Path) -> dict:
    return load_checkpoint(run_dir / "checkpoints" / "last.pt")


def assert_same_training_state(a: dict, b: dict) -> None:
    assert a["step"] == b["step"] and a["sequences"] == b["sequences"]
    for name, tensor in a["model"].items():
        torch.testing.assert_close(b["model"][name], tensor, rtol=0, atol=0, msg=name)
    for index, state in a["optimizer"]["state"].items():
        for key, value in state.items():
            torch.testing.assert_close(b["optimizer"]["state"][index][key], value, rtol=0, atol=0)


@pytest.mark.slow
def test_many_interrupts_at_random_moments_resume_to_a_straight_run(tmp_path):
    runs = ["--runs-dir", str(tmp_path)]
    straight = train(*TINY, "--max-steps", str(STEPS), "--run-name", "straight", *runs)
    assert straight.wait(timeout=300) == 0, straight.stderr.read()

    rng = random.Random(7)
    run_dir = tmp_path / "stopped"
    process = train(*TINY, "--max-steps", str(STEPS), "--run-name", "stopped",
                    "--checkpoint-every", "1000", *runs)  # fmt: skip
    interrupts = 0
    while True:
        signum = rng.choice([signal.SIGINT, signal.SIGTERM])
        stop_at_a_random_moment(process, run_dir, signum, rng)
        code = process.wait(timeout=300)
        err = process.stderr.read()
        if code == 0:
            break
        if code != 130 and final_state(run_dir)["step"] == STEPS:
            break  # the signal came after the last step was trained and saved (then compared)
        assert code == 130, (
            f"exit {code}: {err}"
        )  # interrupted, with a checkpoint at a step boundary
        interrupts += 1
        assert interrupts < 60, "the run never finished"
        process = train("--resume", "stopped", "--no-visdom", *runs)
    assert interrupts >= 8, f"only {interrupts} interrupts landed"
    assert_same_training_state(final_state(tmp_path / "straight"), final_state(run_dir))
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").open()]
    steps = [row["step"] for row in rows if row["kind"] == "train"]
    assert steps == list(range(5, STEPS + 1, 5))  # every logged step once, in order


@pytest.mark.slow
def test_sigkill_during_checkpoint_writes_leaves_a_loadable_checkpoint(tmp_path):
    runs = ["--runs-dir", str(tmp_path)]
    run_dir = tmp_path / "killed"
    rng = random.Random(11)
    process = train(*TINY, "--max-steps", "100000", "--run-name", "killed",
                    "--checkpoint-every", "1", *runs)  # fmt: skip
    for _ in range(6):
        stop_at_a_random_moment(process, run_dir, signal.SIGKILL, rng)
        process.wait(timeout=60)
        checkpoint = final_state(run_dir)  # loadable after every kill
        assert checkpoint["step"] > 0
        assert all(torch.isfinite(t).all() for t in checkpoint["model"].values())
        process = train("--resume", "killed", "--no-visdom", *runs)
        time.sleep(0.5)
    stop_at_a_random_moment(process, run_dir, signal.SIGTERM, rng)
    assert process.wait(timeout=60) == 130
    # Each start removed what killed writers left; a clean stop leaves none of its own.
    assert not list((run_dir / "checkpoints").glob(".last.pt.*.tmp"))
