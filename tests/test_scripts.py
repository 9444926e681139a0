"""The scripts end to end on tiny budgets: train, stop, resume, test, and their errors."""

from __future__ import annotations

import importlib.util
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch

from memagents.checkpoint import load_checkpoint, save_checkpoint

ROOT = Path(__file__).resolve().parents[1]
# A tiny DNC on a tiny repeat-copy: a few ms per step.
TINY = [
    "--preset", "dnc-repeat-copy",
    "--circuit-kwarg", "memory_size=8", "--circuit-kwarg", "word_size=4",
    "--circuit-kwarg", "controller_size=16", "--circuit-kwarg", "num_reads=2",
    "--batch-size", "4", "--eval-sequences", "8", "--solved-sequences", "8",
    "--no-visdom", "--no-progress", "--num-threads", "1",
]  # fmt: skip


def run_script(name: str, *args: str, check: bool = True, **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / name), *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=kwargs.pop("cwd", ROOT),
        **kwargs,
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"{name} exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
        )
    return result


def load_script(name: str):
    spec = importlib.util.spec_from_file_location(f"script_{name}", ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def params(run_dir: Path) -> dict[str, torch.Tensor]:
    return load_checkpoint(run_dir / "checkpoints" / "last.pt")["model"]


def test_train_writes_a_complete_run_folder_and_test_reads_it(tmp_path):
    result = run_script(
        "train.py", *TINY, "--max-steps", "20", "--eval-every", "10", "--log-every", "5",
        "--checkpoint-every", "10", "--run-name", "tiny", "--runs-dir", str(tmp_path),
        "--no-stop-when-solved",
    )  # fmt: skip
    run_dir = tmp_path / "tiny"
    log = (run_dir / "train.log").read_text()
    assert "circuit:" in log and "DNC" in log  # the circuit's structure is logged at start
    assert "summary: finished after 20 steps, 80 sequences" in log
    config = json.loads((run_dir / "config.json").read_text())
    assert config["agent"] == "dnc" and config["circuit_kwargs"]["memory_size"] == 8
    lines = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    train_lines = [line for line in lines if line["kind"] == "train"]
    assert [line["step"] for line in train_lines] == [5, 10, 15, 20]
    assert [line["step"] for line in lines if line["kind"] == "eval"] == [10, 20]
    for line in train_lines:
        assert line["loss_bits"] > 0 and line["ms_per_sequence"] > 0 and line["sequences"] > 0
    checkpoint = load_checkpoint(run_dir / "checkpoints" / "last.pt")
    assert checkpoint["step"] == 20 and checkpoint["sequences"] == 80
    pngs = sorted(p.name for p in (run_dir / "plots").glob("*.png"))
    assert "loss.png" in pngs and "bit_errors.png" in pngs
    assert "visdom" not in result.stderr  # --no-visdom: no server is asked, nothing to warn

    tested = run_script(
        "test.py", "--run", "tiny", "--runs-dir", str(tmp_path), "--lengths", "1", "3",
        "--sequences", "10", "--no-visdom",
    )  # fmt: skip
    out = tested.stdout
    assert "| L=1 | L=3 |" in out
    assert "step by step" in out and "write focus" in out
    heatmaps = {p.name for p in (run_dir / "test").glob("*.png")}
    assert {
        "input.png",
        "target.png",
        "output.png",
        "memory.png",
        "write_weights_0.png",
    } <= heatmaps
    assert {"read_weights_0.png", "read_weights_1.png"} <= heatmaps

    checkpoint_file = str(run_dir / "checkpoints" / "last.pt")
    out = tmp_path / "results"
    evaluated = run_script(
        "evaluate.py", "--model", f"A={checkpoint_file}", "--model", f"B={checkpoint_file}",
        "--lengths", "1", "2", "--sequences", "8", "--out", str(out), "--weights-length", "2",
        "--curve", f"tiny={run_dir}",
    )  # fmt: skip
    table = (out / "generalisation.md").read_text()
    assert "| A |" in table and "| B |" in table and "| L=1 | L=2 |" in table
    assert table.split("\n\n", 1)[1].count("%") == 4  # every cell has its % perfect
    assert (out / "generalisation.png").stat().st_size > 1000
    assert (out / "weights_a.png").stat().st_size > 1000
    assert (out / "training_curves.png").stat().st_size > 1000

    exported = tmp_path / "small.pt"
    run_script("export_checkpoint.py", str(run_dir), str(exported))
    small = load_checkpoint(exported)
    assert small["optimizer"] is None and small["step"] == 20
    assert exported.stat().st_size < (run_dir / "checkpoints" / "last.pt").stat().st_size
    run_script("test.py", "--checkpoint", str(exported), "--lengths", "2", "--sequences", "4",
               "--no-visdom", "--out", str(tmp_path / "small_test"))  # fmt: skip
    (run_dir / "checkpoints" / "last.pt").write_bytes(exported.read_bytes())
    refused = run_script("train.py", "--resume", str(run_dir), "--no-visdom", check=False)
    assert refused.returncode == 2 and "model-only (exported)" in refused.stderr
    assert "generalisation.md" in evaluated.stdout


def test_sigkill_then_resume_equals_a_straight_run(tmp_path):
    steps = "600"  # long enough that the poll below catches it halfway on a fast machine
    common = [*TINY, "--max-steps", steps, "--eval-every", "1000", "--runs-dir", str(tmp_path)]
    run_script("train.py", *common, "--run-name", "straight", "--checkpoint-every", "1000")

    env = dict(os.environ)
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "scripts" / "train.py"), *common, "--run-name", "killed",
         "--checkpoint-every", "25"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
    )  # fmt: skip
    metrics = tmp_path / "killed" / "metrics.jsonl"
    deadline = time.time() + 120
    killed_at = None
    while time.time() < deadline and process.poll() is None:
        if metrics.is_file():
            steps_done = [json.loads(line)["step"] for line in metrics.read_text().splitlines()]
            if steps_done and steps_done[-1] >= 100:
                process.send_signal(signal.SIGKILL)
                killed_at = steps_done[-1]
                break
        time.sleep(0.01)
    process.wait(timeout=30)
    assert killed_at is not None, "the run ended before it could be killed halfway"
    checkpoint_step = load_checkpoint(tmp_path / "killed" / "checkpoints" / "last.pt")["step"]
    assert 0 < checkpoint_step < int(steps)

    resumed = run_script("train.py", "--resume", "killed", "--runs-dir", str(tmp_path),
                         "--no-visdom", "--no-progress")  # fmt: skip
    assert f"resumed run killed at step {checkpoint_step}" in resumed.stderr
    straight, after = params(tmp_path / "straight"), params(tmp_path / "killed")
    assert straight.keys() == after.keys()
    for name in straight:
        torch.testing.assert_close(after[name], straight[name], rtol=0, atol=0, msg=name)
    # metrics.jsonl holds each step once: the replayed steps' old lines were dropped.
    steps_logged = [
        json.loads(line)["step"]
        for line in metrics.read_text().splitlines()
        if json.loads(line)["kind"] == "train"
    ]
    assert steps_logged == sorted(set(steps_logged))


def test_sigterm_checkpoints_and_says_how_to_resume(tmp_path):
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "scripts" / "train.py"), *TINY, "--max-steps", "100000",
         "--eval-every", "100000", "--checkpoint-every", "100000", "--run-name", "term",
         "--runs-dir", str(tmp_path)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    metrics = tmp_path / "term" / "metrics.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline and not (metrics.is_file() and metrics.read_text().strip()):
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert "interrupted" in stderr and f"--resume {tmp_path / 'term'}" in stderr
    assert load_checkpoint(tmp_path / "term" / "checkpoints" / "last.pt")["step"] >= 50


def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch, caplog):
    from memagents import agent as agent_module

    train = load_script("train")
    real_loss = agent_module.sequence_loss_bits
    calls = {"n": 0}

    def loss_that_explodes(logits, targets, mask):
        calls["n"] += torch.is_grad_enabled()  # training losses, not the metrics (no_grad)
        loss = real_loss(logits, targets, mask)
        return loss * math.inf if calls["n"] > 12 else loss

    monkeypatch.setattr(agent_module, "sequence_loss_bits", loss_that_explodes)
    code = train.main([*TINY, "--max-steps", "50", "--eval-every", "1000", "--checkpoint-every",
                       "5", "--run-name", "nan", "--runs-dir", str(tmp_path)])  # fmt: skip
    assert code == 3
    assert load_checkpoint(tmp_path / "nan" / "checkpoints" / "last.pt")["step"] == 10
    text = (tmp_path / "nan" / "train.log").read_text()
    assert "loss is inf at step 12" in text
    assert f"--resume {tmp_path / 'nan'} --lr 0.0001" in text  # a tenth of the preset's lr


def test_bad_input_gives_a_clear_error(tmp_path):
    result = run_script("train.py", "--preset", "nope", check=False)
    assert result.returncode == 2 and "unknown preset 'nope'" in result.stderr
    result = run_script("train.py", "--agent", "ntm", "--preset", "dnc-repeat-copy", check=False)
    assert result.returncode == 2 and "trains agent 'dnc', not 'ntm'" in result.stderr
    result = run_script("train.py", "--agent", "dnc", "--batch-size", "0", check=False)
    assert result.returncode == 2 and "batch_size must be >= 1" in result.stderr
    result = run_script(
        "train.py", *TINY, "--env-kwarg", "bits=0", "--runs-dir", str(tmp_path), check=False
    )
    assert result.returncode == 2 and "bits" in result.stderr

    corrupt = tmp_path / "corrupt" / "checkpoints" / "last.pt"
    corrupt.parent.mkdir(parents=True)
    (tmp_path / "corrupt" / "config.json").write_text("{}")
    corrupt.write_bytes(b"not a checkpoint at all")
    result = run_script("train.py", "--resume", "corrupt", "--runs-dir", str(tmp_path), check=False)
    assert result.returncode == 2 and f"checkpoint {corrupt}" in result.stderr
    result = run_script("test.py", "--checkpoint", str(corrupt), check=False)
    assert result.returncode == 2 and f"checkpoint {corrupt}" in result.stderr

    # A well-formed checkpoint whose weights do not fit the circuit it names.
    mismatched = tmp_path / "mismatched.pt"
    save_checkpoint(
        mismatched,
        {
            "circuit": {"name": "lstm", "input_size": 3, "output_size": 2, "config": {}},
            "model": {"output.weight": torch.zeros(1, 1)},
            "step": 1,
            "train_config": {"agent": "lstm", "env_id": "memtasks/Copy-v0"},
        },
    )
    result = run_script("test.py", "--checkpoint", str(mismatched), check=False)
    assert result.returncode == 2
    assert f"checkpoint {mismatched}: its weights do not match" in result.stderr


def test_sweep_tabulates_each_run(tmp_path):
    tiny = " ".join(
        ["--circuit-kwarg memory_size=8 --circuit-kwarg word_size=4",
         "--circuit-kwarg controller_size=16 --batch-size 4 --eval-sequences 8",
         "--solved-sequences 8 --max-steps 6"]
    )  # fmt: skip
    result = run_script(
        "sweep.py", "--preset", "dnc-repeat-copy", "--config", f"{tiny} --lr 1e-3",
        "--config", f"{tiny} --optimizer rmsprop --lr 1e-4", "--seeds", "1", "2",
        "--eval-every", "3", "--jobs", "2", "--seconds", "120", "--runs-dir", str(tmp_path),
    )  # fmt: skip
    rows = [line for line in result.stdout.splitlines() if line.startswith("| `")]
    assert len(rows) == 4  # two configurations x two seeds
    for row in rows:
        assert "at step 6" in row  # every run evaluated at its last step
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "dnc-repeat-copy-c0-s1", "dnc-repeat-copy-c0-s2",
        "dnc-repeat-copy-c1-s1", "dnc-repeat-copy-c1-s2",
    ]  # fmt: skip


def test_bench_tasks_prints_each_data_path():
    output = run_script("bench_tasks.py", "--quick").stdout
    for env_id in ("memtasks/Copy-v0", "memtasks/RepeatCopy-v0"):
        section = output.split(env_id)[1].split("\n\n")[0]
        rows = [line.strip().rsplit(maxsplit=2) for line in section.splitlines()]
        rates = {row[0]: float(row[1].replace(",", "")) for row in rows if row[-1] == "episodes/s"}
        assert set(rates) == {
            "single env", "SyncVectorEnv (64)", "native vector env (64)", "batch sampler (64)"
        }  # fmt: skip
        assert all(rate > 0 for rate in rates.values())
        assert "native / sync:" in section
    assert "sampler, one DNC batch" in output
