"""The scripts end to end on tiny budgets: train, stop, resume, test, and their errors."""

from __future__ import annotations

import importlib.util
import json
import math
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
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
    assert "interrupted (SIGTERM)" in stderr and f"--resume {tmp_path / 'term'}" in stderr
    assert load_checkpoint(tmp_path / "term" / "checkpoints" / "last.pt")["step"] >= 50


def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
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


def tiny_run(tmp_path, name: str, *extra: str) -> Path:
    """A finished tiny run (20 steps) in-process; returns its folder."""
    train = load_script("train")
    code = train.main([*TINY, "--max-steps", "20", "--eval-every", "1000", "--checkpoint-every",
                       "1000", "--run-name", name, "--runs-dir", str(tmp_path), "--env-kwarg",
                       "max_repeats=3", *extra])  # fmt: skip
    assert code == 0
    return tmp_path / name


def test_evaluate_over_several_checkpoints_gives_median_range_and_a_band(tmp_path, capsys):
    """Two tiny runs (seeds 1, 2) as one model (a glob), and one of them as another (a run
    folder), under a length and a length+repeats condition."""
    for seed in (1, 2):
        tiny_run(tmp_path / "runs", f"seed{seed}", "--seed", str(seed))
    capsys.readouterr()
    out = tmp_path / "out"
    argv = [
        "--model", f"DNC={tmp_path}/runs/seed*/checkpoints/last.pt",
        "--model", f"one={tmp_path / 'runs' / 'seed1'}", "--conditions", "2",
        "length=2,repeats=3", "--sequences", "8", "--weights-length", "2", "--out", str(out),
    ]  # fmt: skip
    assert load_script("evaluate").main(argv) == 0
    text = (out / "generalisation.md").read_text()
    assert text.startswith("Bit errors per sequence, median (min-max) over each model's checkp")
    lines = text.splitlines()
    assert "| model | checkpoints | L=2 | L=2 R=3 |" in lines
    (dnc,) = [line for line in lines if line.startswith("| DNC |")]
    cells = [cell.strip() for cell in dnc.split("|")[2:-1]]
    assert cells[0] == "2" and all(" (" in cell and "-" in cell for cell in cells[1:])
    (one,) = [line for line in lines if line.startswith("| one |")]
    assert one.split("|")[2].strip() == "1" and "(" not in one
    assert lines[-1] == "Made by `python scripts/evaluate.py " + shlex.join(argv) + "`."
    assert (out / "generalisation.png").stat().st_size > 1000
    assert (out / "weights_dnc.png").stat().st_size > 1000
    assert "DNC " + str(tmp_path / "runs" / "seed2" / "checkpoints" / "last.pt") in (
        capsys.readouterr().out
    )


def priority_trace(write_slot_of_rank, heads=2, slots=12):
    """A PrioritySort-shaped trace (bits 2, 5 inputs, 3 outputs): input i has priority
    PRIORITIES[i]; one write head (of `heads`) puts it in `write_slot_of_rank(rank)` (rank 0: the
    lowest priority), the other heads spread thin; reads visit slots 9, 8, 7."""
    from memagents.evaluation import EpisodeTrace

    priorities = np.array([0.3, -0.8, 0.9, 0.1, -0.2], dtype=np.float32)
    steps, num_inputs = 9, 5
    inputs = np.zeros((steps, 4), dtype=np.float32)
    inputs[:num_inputs, 2], inputs[num_inputs, 3] = priorities, 1.0
    mask = np.zeros(steps, dtype=np.float32)
    mask[num_inputs + 1 :] = 1.0
    writes = np.full((steps, heads, slots), 1.0 / slots, dtype=np.float32)
    for i, rank in enumerate(np.argsort(np.argsort(priorities))):
        writes[i, heads - 1] = 0.0
        writes[i, heads - 1, write_slot_of_rank(rank)] = 1.0
    reads = np.full((steps, 1, slots), 1.0 / slots, dtype=np.float32)
    for k, t in enumerate(range(num_inputs + 1, steps)):
        reads[t, 0] = 0.0
        reads[t, 0, 9 - k] = 1.0
    zeros = np.zeros((steps, 2), dtype=np.float32)
    return EpisodeTrace(inputs, zeros, mask, zeros, writes, reads, None), priorities


def test_priority_placement_finds_writes_placed_by_priority():
    evaluate = load_script("evaluate")
    trace, priorities = priority_trace(lambda rank: 2 + 2 * rank)
    found, write_slots, read_slots, rho, in_order = evaluate.priority_placement(trace)
    np.testing.assert_array_equal(found, priorities)
    assert write_slots.tolist() == [8, 2, 10, 6, 4] and read_slots.tolist() == [9, 8, 7]
    assert rho == pytest.approx(1.0)
    assert in_order == pytest.approx(1 / 3)  # reads 9, 8, 7; the three highest went to 10, 8, 6
    due_read = trace.read_weights.copy()
    for t, slot in zip(range(6, 9), (10, 8, 6), strict=True):
        due_read[t, 0] = 0.0
        due_read[t, 0, slot] = 1.0
    assert evaluate.priority_placement(trace._replace(read_weights=due_read))[4] == 1.0
    reversed_trace, _ = priority_trace(lambda rank: 10 - 2 * rank)
    assert evaluate.priority_placement(reversed_trace)[3] == pytest.approx(-1.0)
    scrambled, _ = priority_trace(lambda rank: [4, 0, 8, 2, 6][rank])  # no order
    assert abs(evaluate.priority_placement(scrambled)[3]) < 0.5
    with pytest.raises(ValueError, match="no delimiter"):
        evaluate.priority_placement(trace._replace(inputs=trace.inputs * 0))


def test_evaluate_draws_the_placement_figure_on_priority_sort(tmp_path, capsys):
    run = tmp_path / "runs" / "ps"
    code = load_script("train").main([
        "--preset", "ntm-priority-sort", "--max-steps", "2", "--runs-dir", str(run.parent),
        "--run-name", "ps", "--no-visdom", "--no-progress", "--env-kwarg", "num_inputs=5",
        "--env-kwarg", "num_outputs=3", "--circuit-kwarg", "controller_size=8",
        "--circuit-kwarg", "memory_size=12",
    ])  # fmt: skip
    assert code == 0
    out = tmp_path / "out"
    argv = ["--model", f"NTM={run}", "--conditions", "num_inputs=5,num_outputs=3",
            "--sequences", "4", "--out", str(out)]  # fmt: skip
    assert load_script("evaluate").main(argv) == 0
    assert (out / "placement_ntm.png").stat().st_size > 1000
    assert "of output steps read the slot of the input due" in capsys.readouterr().out


def test_evaluate_reports_the_ngrams_cost_against_the_optimum(tmp_path):
    from memagents.evaluation import load_circuit, ngrams_cost

    runs = tmp_path / "runs"
    for seed in (1, 2):
        code = load_script("train").main([
            "--preset", "ntm-ngrams", "--max-steps", "2", "--runs-dir", str(runs),
            "--run-name", f"s{seed}", "--seed", str(seed), "--no-visdom", "--no-progress",
            "--env-kwarg", "length=12", "--circuit-kwarg", "controller_size=8",
        ])  # fmt: skip
        assert code == 0
    out = tmp_path / "out"
    argv = ["--model", f"NTM={runs}/s*/checkpoints/last.pt", "--conditions", "length=12",
            "--sequences", "6", "--out", str(out)]  # fmt: skip
    assert load_script("evaluate").main(argv) == 0
    lines = (out / "generalisation.md").read_text().splitlines()
    assert (
        "| model | checkpoints | cost (bits per sequence) | optimal estimator | gap (%) |" in lines
    )
    header = lines.index(
        "| model | checkpoints | cost (bits per sequence) | optimal estimator | gap (%) |"
    )
    (row,) = [line for line in lines[header:] if line.startswith("| NTM | 2 | ")]
    gaps = []
    for seed in (1, 2):
        loaded = load_circuit(runs / f"s{seed}" / "checkpoints" / "last.pt")
        gaps.append(ngrams_cost(loaded.circuit, loaded.config, 6, seed=0).gap_percent)
    assert row.split("|")[5].strip() == (f"{sum(gaps) / 2:.2f} ({min(gaps):.2f}-{max(gaps):.2f})")


BAD_TRAIN_INPUT = [
    (["--preset", "nope"], "unknown preset 'nope'"),
    (["--agent", "ntm", "--preset", "dnc-repeat-copy"], "trains agent 'dnc', not 'ntm'"),
    (["--agent", "dnc", "--batch-size", "0"], "batch_size must be an integer in 1..65536"),
    (["--agent", "dnc", "--lr", "inf"], "lr must be a finite number > 0"),
    (["--agent", "dnc", "--lr", "nan"], "lr must be a finite number > 0"),
    (["--agent", "dnc", "--clip-grad", "inf"], "clip_grad must be a finite number >= 0"),
    (["--agent", "dnc", "--env-kwarg", "max_length5"], "expected KEY=VALUE, got 'max_length5'"),
    (["--agent", "dnc", "--circuit-kwarg", "bogus=1"], "unknown dnc setting(s) ['bogus']"),
    (["--agent", "dnc", "--circuit-kwarg", "memory_size=0"], "memory_size must be an integer"),
    (["--agent", "ntm", "--circuit-kwarg", "memory_size=10**9"], "memory_size must be"),
    (["--agent", "ntm", "--circuit-kwarg", "memory_size=1000000000"], "memory_size must be"),
    (["--agent", "dnc", "--device", "tpu"], "device must be one of"),
    (["--agent", "dnc", "--run-name", "../../x"], "use letters, digits"),
    (["--agent", "dnc", "--env-kwarg", "bits=0"], "cannot make env 'memtasks/RepeatCopy-v0'"),
    (["--agent", "dnc", "--env", "memtasks/Nope-v0"], "cannot make env 'memtasks/Nope-v0'"),
    (["--resume", "nothing"], "cannot resume: no run 'nothing'"),
]
if not torch.cuda.is_available():
    BAD_TRAIN_INPUT.append((["--agent", "dnc", "--device", "cuda"], "torch sees no CUDA device"))


@pytest.mark.parametrize(("argv", "message"), BAD_TRAIN_INPUT, ids=lambda x: str(x)[:40])
def test_bad_training_input_is_one_line_and_exit_2(tmp_path, capsys, argv, message):
    code = load_script("train").main([*argv, "--runs-dir", str(tmp_path), "--no-visdom"])
    err = capsys.readouterr().err
    assert code == 2 and message in err, err
    assert "Traceback" not in err
    assert not list(tmp_path.glob("*/config.json"))  # nothing written for a refused start


def test_bad_resumes_are_refused_before_anything_is_written(tmp_path, capsys):
    train = load_script("train")
    run_dir = tiny_run(tmp_path, "r")
    config_before = (run_dir / "config.json").read_text()
    runs = ["--runs-dir", str(tmp_path)]
    for argv, message in [
        (["--resume", "r", "--lr", "-1"], "lr must be a finite number > 0"),
        (["--resume", "r", "--agent", "ntm"], "--agent and --preset cannot be given with --resume"),
        (["--resume", "r", "--preset", "dnc-copy"], "cannot be given with --resume"),
        (["--resume", "r", "--circuit-kwarg", "memory_size=16"], "circuit of a run cannot change"),
        (["--resume", "r", "--env", "memtasks/Copy-v0"], "env_id cannot change on resume"),
    ]:
        assert train.main([*argv, *runs]) == 2, argv
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err, err
        assert (run_dir / "config.json").read_text() == config_before

    # An NTM checkpoint dropped into the DNC run's folder: the files disagree, refused.
    ntm_dir = tiny_run(tmp_path, "ntm", "--circuit-kwarg", "num_reads=1")
    (ntm_dir / "config.json").write_text(config_before)
    assert train.main(["--resume", "ntm", *runs]) == 2
    assert "refusing to resume a run whose files disagree" in capsys.readouterr().err
    assert (ntm_dir / "config.json").read_text() == config_before


def test_resume_merges_task_kwargs_and_keeps_the_rest(tmp_path):
    run_dir = tiny_run(tmp_path, "merge")
    train = load_script("train")
    code = train.main(["--resume", "merge", "--runs-dir", str(tmp_path), "--env-kwarg",
                       "max_length=3", "--train-env-kwarg", "zero_items=0.5", "--max-steps", "25",
                       "--no-visdom"])  # fmt: skip
    assert code == 0
    config = json.loads((run_dir / "config.json").read_text())
    assert config["env_kwargs"]["max_length"] == 3
    assert config["train_env_kwargs"] == {"zero_items": 0.5}  # training batches only
    assert "'zero_items': 0.5" in (run_dir / "train.log").read_text()  # the start line says so
    assert config["env_kwargs"]["max_repeats"] == 3  # kept, not reset to the preset's 2
    assert config["circuit_kwargs"]["memory_size"] == 8
    assert load_checkpoint(run_dir / "checkpoints" / "last.pt")["step"] == 25


def test_unusable_checkpoints_are_one_line_errors(tmp_path, capsys):
    corrupt = tmp_path / "corrupt" / "checkpoints" / "last.pt"
    corrupt.parent.mkdir(parents=True)
    (tmp_path / "corrupt" / "config.json").write_text("{}")
    corrupt.write_bytes(b"not a checkpoint at all")
    assert load_script("train").main(["--resume", "corrupt", "--runs-dir", str(tmp_path)]) == 2
    assert f"checkpoint {corrupt}" in capsys.readouterr().err
    assert load_script("test").main(["--checkpoint", str(corrupt), "--no-visdom"]) == 2
    assert f"checkpoint {corrupt}" in capsys.readouterr().err

    # A well-formed checkpoint whose weights do not fit the circuit it names.
    mismatched = tmp_path / "mismatched.pt"
    save_checkpoint(
        mismatched,
        {
            "kind": "supervised",
            "config": {"agent": "lstm", "env_id": "memtasks/Copy-v0"},
            "circuit": {"name": "lstm", "input_size": 3, "output_size": 2, "config": {}},
            "model": {"output.weight": torch.zeros(1, 1)},
            "step": 1,
        },
    )
    assert load_script("test").main(["--checkpoint", str(mismatched), "--no-visdom"]) == 2
    assert f"checkpoint {mismatched}: its weights do not match" in capsys.readouterr().err


def test_export_to_a_folder_is_a_clear_error(tmp_path, capsys):
    run_dir = tiny_run(tmp_path, "e")
    export = load_script("export_checkpoint")
    assert export.main([str(run_dir), str(tmp_path)]) == 2
    assert "is a folder; give the exported file's path" in capsys.readouterr().err


def test_a_redirected_run_writes_a_few_lines_not_a_progress_bar(tmp_path, capsys):
    """2,500 steps with stderr not a terminal: periodic log lines, no tqdm redraws."""
    code = load_script("train").main([
        "--preset", "lstm-copy", "--circuit-kwarg", "hidden_size=4", "--circuit-kwarg",
        "num_layers=1", "--env-kwarg", "max_length=1", "--env-kwarg", "bits=1",
        "--batch-size", "1", "--max-steps", "2500", "--eval-every", "500", "--eval-sequences",
        "16", "--no-stop-when-solved", "--run-name", "quiet", "--runs-dir", str(tmp_path),
        "--no-visdom",
    ])  # fmt: skip
    assert code == 0
    err = capsys.readouterr().err
    assert len(err.encode()) < 20_000, len(err.encode())
    assert "\r" not in err and "it/s" not in err
    assert "step 2500 (2500 sequences" in err
    assert "test it: python scripts/test.py --run" in err


def test_the_summary_gives_the_dashboard_url_and_the_test_command(tmp_path, capsys, visdom_server):
    code = load_script("train").main([
        *[arg for arg in TINY if arg != "--no-visdom"], "--max-steps", "5", "--eval-every", "5",
        "--run-name", "url", "--runs-dir", str(tmp_path), "--visdom-server",
        visdom_server.server, "--visdom-port", str(visdom_server.port),
    ])  # fmt: skip
    assert code == 0
    err = capsys.readouterr().err
    url = f"{visdom_server.server}:{visdom_server.port}/env/url"
    assert f"live plots: {url}" in err and f"summary: dashboard {url}" in err
    assert f"summary: test it: python scripts/test.py --run {tmp_path / 'url'}" in err


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


@pytest.mark.parametrize(
    ("script", "argv", "message"),
    [
        ("evaluate", ["--model", "A=checkpoints/ntm-copy.pt", "--lengths", "0"], "--lengths must"),
        ("evaluate", ["--model", "A=checkpoints/ntm-copy.pt", "--conditions", "items=20"],
         "condition items=20: unknown reset option 'items'"),
        ("evaluate", ["--model", "A=checkpoints/nope*.pt"], "nope*.pt' matches no file"),
        ("evaluate", ["--model", "A=checkpoints/ntm-copy.pt", "--lengths", "2", "--conditions",
                      "3"], "give --lengths or --conditions, not both"),
        ("evaluate", ["--model", "A=checkpoints/ntm-copy.pt", "--conditions", "items=x"],
         "condition 'items=x': items must be an integer"),
        ("test", ["--checkpoint", "checkpoints/ntm-copy.pt", "--repeats", "2", "--lengths", "2"],
         "unknown reset option 'repeats'"),
        ("test", ["--checkpoint", "checkpoints/dnc-repeat-copy.pt", "--repeats", "0",
                  "--lengths", "2"], "options['repeats'] must be an integer"),
        ("test", ["--checkpoint", "checkpoints/ntm-copy.pt", "--lengths", "0"], "--lengths must"),
        ("evaluate", ["--model", "A=checkpoints/ntm-copy.pt", "--num-threads", "-1"],
         "--num-threads must be >= 0"),
        ("test", ["--checkpoint", "checkpoints/ntm-copy.pt", "--num-threads", "-1"],
         "--num-threads must be >= 0"),
    ],
)  # fmt: skip
def test_bad_evaluation_input_is_one_line_and_exit_2(tmp_path, capsys, script, argv, message):
    argv = [*argv, "--no-visdom"] if script == "test" else [*argv, "--out", str(tmp_path)]
    assert load_script(script).main([a.replace("checkpoints/", f"{ROOT}/checkpoints/")
                                      for a in argv]) == 2  # fmt: skip
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err, err
