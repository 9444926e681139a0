"""Sweeps: the spec and the results table (no Ray), a small sweep on an embedded Ray, and (slow)
a two-node cluster where a trial is killed mid-run and restored from its Tune checkpoint."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from memagents.evaluation import (
    EVALUATION_SEED,
    condition_label,
    condition_name,
    parse_condition,
)
from memagents.sweeps import (
    SweepSpec,
    TrialResult,
    markdown_table,
    spec_from_arguments,
    summarize,
    trial_config,
    write_results,
)

ROOT = Path(__file__).resolve().parents[1]
TINY = [
    "--set", "circuit_kwargs.memory_size=8", "--set", "circuit_kwargs.word_size=4",
    "--set", "circuit_kwargs.controller_size=16", "--set", "circuit_kwargs.num_reads=2",
    "--set", "batch_size=4", "--set", "eval_sequences=8", "--set", "solved_sequences=8",
    "--set", "device=cpu",
]  # fmt: skip


# -- the spec (no Ray) ---------------------------------------------------------------------------


def test_a_spec_from_the_command_line_and_the_configs_of_its_trials():
    spec = spec_from_arguments(
        preset="dnc-repeat-copy", seeds=[1, 2], set_=["max_steps=30", "env_kwargs.max_length=3"],
        grid=["optimizer=adam,rmsprop"], loguniform=["lr=1e-4:1e-2"],
        choice=["circuit_kwargs.num_reads=1,2"],
    )  # fmt: skip
    assert spec.grid == {"optimizer": ["adam", "rmsprop"]}
    assert spec.loguniform == {"lr": (1e-4, 1e-2)}
    assert spec.varying == ["optimizer", "circuit_kwargs.num_reads", "lr"]
    config = trial_config(spec, {**spec.set, "optimizer": "rmsprop", "lr": 3e-3, "seed": 2,
                                 "circuit_kwargs.num_reads": 1})  # fmt: skip
    assert (config.optimizer, config.lr, config.seed, config.max_steps) == ("rmsprop", 3e-3, 2, 30)
    assert config.env_kwargs["max_length"] == 3 and config.env_kwargs["max_repeats"] == 2
    assert config.circuit_kwargs["num_reads"] == 1 and config.circuit_kwargs["memory_size"] == 16


def test_a_spec_file_in_yaml_or_json(tmp_path):
    yaml_file = tmp_path / "sweep.yaml"
    yaml_file.write_text("preset: ntm-copy\nseeds: [1, 2, 3]\nset: {max_steps: 100}\n"
                         "grid: {lr: [0.001, 0.0003]}\n")  # fmt: skip
    spec = spec_from_arguments(preset=None, spec_file=str(yaml_file), grid=["batch_size=8,16"])
    assert spec.preset == "ntm-copy" and spec.seeds == [1, 2, 3]
    assert spec.grid == {"lr": [0.001, 0.0003], "batch_size": [8, 16]}
    json_file = tmp_path / "sweep.json"
    json_file.write_text(json.dumps({"preset": "lstm-copy", "uniform": {"lr": [1e-4, 1e-3]}}))
    assert spec_from_arguments(preset=None, spec_file=str(json_file)).uniform == {
        "lr": (1e-4, 1e-3)
    }


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (dict(preset="nope"), "unknown preset 'nope'"),
        (dict(preset=None), "give --preset NAME"),
        (dict(preset="ntm-copy", set_=["bogus=1"]), "unknown setting 'bogus'"),
        (dict(preset="ntm-copy", grid=["seed=1,2"]), "give seeds with --seeds"),
        (dict(preset="ntm-copy", set_=["lr=1"], grid=["lr=1,2"]), "given more than one way"),
        (dict(preset="ntm-copy", loguniform=["lr=0:1"]), "need low > 0"),
        (dict(preset="ntm-copy", uniform=["lr=2:1"]), "need finite low < high"),
        (dict(preset="ntm-copy", uniform=["lr=a:b"]), "expected LOW:HIGH"),
        (dict(preset="ntm-copy", set_=["lr"]), "expected NAME=VALUE"),
        (dict(preset="ntm-copy", set_=["lr=-1"]), "lr must be a finite number > 0"),
        (dict(preset="ntm-copy", set_=["circuit_kwargs.bogus=1"]), "unknown ntm setting"),
        (dict(preset="ntm-copy", spec_file="/nonexistent.yaml"), "spec file /nonexistent.yaml"),
    ],
)
def test_bad_specs_are_one_line_errors(arguments, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        spec_from_arguments(**arguments)


def test_the_table_gives_median_and_range_over_seeds(tmp_path):
    def trial(lr, seed, solved, bits):
        seconds = None if solved is None else solved / 10
        return TrialResult(params={"lr": lr}, seed=seed, steps=100, bit_errors=bits,
                           solved_step=solved, solved_seconds=seconds,
                           status="solved" if solved else "not solved")  # fmt: skip

    trials = [trial(1e-3, 1, 40, 0.0), trial(1e-3, 2, 60, 0.05), trial(1e-3, 3, 80, 0.02),
              trial(1e-4, 1, None, 3.0), trial(1e-4, 2, 100, 0.01)]  # fmt: skip
    rows = summarize(trials)
    assert rows[0]["solved"] == "3/3" and rows[0]["steps_to_solved"] == "60 (40-80)"
    assert rows[0]["seconds_to_solved"] == "6 (4-8)"
    assert rows[0]["final_bit_errors"] == "0.020 (0.000-0.050)"
    assert rows[1]["solved"] == "1/2" and rows[1]["steps_to_solved"] == "100"
    assert rows[1]["final_bit_errors"] == "1.505 (0.010-3.000)"  # the median of two: the mean
    table = markdown_table(rows)
    assert "| lr=0.001 | 1, 2, 3 | 3/3 | 6 (4-8) | 60 (40-80) |" in table
    spec = SweepSpec(preset="lstm-copy", seeds=[1, 2, 3], grid={"lr": [1e-3, 1e-4]})
    paths = write_results(tmp_path, spec, trials, rows)
    assert [p.name for p in paths] == ["results.json", "trials.csv", "summary.md"]
    assert len((tmp_path / "trials.csv").read_text().splitlines()) == 6
    assert json.loads((tmp_path / "results.json").read_text())["spec"]["preset"] == "lstm-copy"


def test_old_sweep_flags_name_their_replacement():
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "sweep.py"), "--preset", "ntm-copy", "--config",
         "--lr 1e-3"], capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode != 0
    assert "--config was replaced by --set NAME=VALUE / --grid NAME=V1,V2" in result.stderr


# -- figures after training: conditions (no Ray) ------------------------------------------------


def load_sweep_script():
    spec = importlib.util.spec_from_file_location("script_sweep", ROOT / "scripts" / "sweep.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    ("text", "condition", "name", "label"),
    [
        ("80", {"length": 80}, "L80", "L=80"),
        ("length=20,repeats=10", {"length": 20, "repeats": 10}, "L20_R10", "L=20 R=10"),
        ("repeats=10, length=20", {"length": 20, "repeats": 10}, "L20_R10", "L=20 R=10"),
        ("items=20", {"items": 20}, "items20", "items=20"),
        ("num_outputs=32,num_inputs=40", {"num_inputs": 40, "num_outputs": 32},
         "num_inputs40_num_outputs32", "num_inputs=40 num_outputs=32"),
    ],
)  # fmt: skip
def test_a_condition_from_the_command_line_and_its_names(text, condition, name, label):
    parsed = parse_condition(text)
    assert parsed == condition and list(parsed) == list(condition)  # length, repeats, the rest
    assert condition_name(parsed) == name and condition_label(parsed) == label


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("eighty", "condition 'eighty': expected LENGTH or KEY=VALUE"),
        ("items=a", "condition 'items=a': items must be an integer, got 'a'"),
        ("length=2,length=3", "length given twice"),
        ("=3", "expected LENGTH or KEY=VALUE"),
    ],
)
def test_bad_conditions_are_one_line_errors(text, message):
    with pytest.raises(ValueError, match=message):
        parse_condition(text)


def test_condition_columns_are_ordered_by_their_numbers():
    names = ["L120", "L20_R10", "items20", "L20", "L20_R5", "items2", "L80"]
    trials = [
        TrialResult(params={}, seed=1, steps=1, bit_errors=0.0, solved_step=None,
                    solved_seconds=None, extra={f"bit_errors_{n}": 1.0 for n in names}
                    | {"gap_percent": 12.345, "loss_bits": 2.0, "optimal_loss_bits": 1.0})
    ]  # fmt: skip
    (row,) = summarize(trials)
    extra = [column for column in row if column not in ("settings", "seeds", "solved",
             "seconds_to_solved", "steps_to_solved", "final_bit_errors")]  # fmt: skip
    assert extra == [
        "loss_bits", "optimal_loss_bits", "gap_percent", "bit_errors_L20", "bit_errors_L20_R5",
        "bit_errors_L20_R10", "bit_errors_L80", "bit_errors_L120", "bit_errors_items2",
        "bit_errors_items20",
    ]  # fmt: skip
    assert row["gap_percent"] == "12.3" and row["loss_bits"] == "2.000"


@pytest.mark.parametrize(
    ("preset", "tokens", "columns"),
    [
        ("dnc-repeat-copy", ["2", "length=2,repeats=3"], ["bit_errors_L2", "bit_errors_L2_R3"]),
        ("dnc-associative-recall", ["items=3"], ["bit_errors_items3"]),
    ],
)
def test_a_trial_scores_its_circuit_under_each_condition(preset, tokens, columns):
    """What ``train_trial`` runs after training, on a tiny untrained DNC and a few sequences:
    one column per condition, figures equal to ``evaluate`` with the condition as options."""
    import torch

    from memagents.agent import evaluate, make_envs
    from memagents.training import SupervisedTrainer

    sweep = load_sweep_script()
    spec = spec_from_arguments(preset=preset, set_=[item for item in TINY if item != "--set"])
    config = trial_config(spec, spec.example_params())
    conditions = [parse_condition(token) for token in tokens]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        circuit = SupervisedTrainer(config).circuit
        extra = sweep.after_training(circuit, config, conditions, sequences=8)
        assert list(extra) == columns
        envs = make_envs(config.env_id, 8, config.env_kwargs)
        for column, condition in zip(columns, conditions, strict=True):
            expected = evaluate(circuit, envs, 8, seed=EVALUATION_SEED, options=condition)
            assert extra[column] == expected.bit_errors
            assert 0 < extra[column] <= 8 * 1000  # untrained: some bits wrong
        envs.close()
    finally:
        torch.set_num_threads(threads)


def test_a_dynamic_ngrams_trial_records_its_cost_against_the_optimum():
    """What ``train_trial`` runs after training on DynamicNGrams: the cost, the optimal
    estimator's on the same sequences and the gap; ``ngrams_cost`` gives the same figures."""
    import torch

    from memagents.evaluation import ngrams_cost
    from memagents.training import SupervisedTrainer

    sweep = load_sweep_script()
    spec = spec_from_arguments(
        preset="lstm-ngrams", set_=["circuit_kwargs.hidden_size=4", "circuit_kwargs.num_layers=1",
        "env_kwargs.length=10", "env_kwargs.order=3", "batch_size=4", "eval_sequences=8",
        "solved_sequences=8", "device=cpu"],
    )  # fmt: skip
    config = trial_config(spec, spec.example_params())
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        circuit = SupervisedTrainer(config).circuit
        extra = sweep.after_training(circuit, config, [parse_condition("20")], sequences=8)
        cost = ngrams_cost(circuit, config, 8, seed=EVALUATION_SEED)
    finally:
        torch.set_num_threads(threads)
    assert list(extra) == ["loss_bits", "optimal_loss_bits", "gap_percent", "bit_errors_L20"]
    assert (extra["loss_bits"], extra["optimal_loss_bits"], extra["gap_percent"]) == cost[:3]
    assert extra["gap_percent"] == pytest.approx(
        100 * (extra["loss_bits"] - extra["optimal_loss_bits"]) / extra["optimal_loss_bits"]
    )
    assert 0 < extra["optimal_loss_bits"] < extra["loss_bits"]  # untrained: above the optimum


def test_a_condition_the_task_refuses_stops_the_sweep_before_training(capsys):
    sweep = load_sweep_script()
    argv = ["--preset", "ntm-copy", "--grid", "preset=ntm-copy,dnc-repeat-copy"]
    assert sweep.main([*argv, "--generalise", "20", "length=20,repeats=3"]) == 2
    err = capsys.readouterr().err
    assert err == (
        "error: --generalise on memtasks/Copy-v0: condition L=20 R=3: unknown reset option "
        "'repeats'; allowed options: ('length',)\n"
    )
    assert sweep.main(["--preset", "ntm-associative-recall", "--generalise", "items=1"]) == 2
    assert "options['items'] must be an integer in [2, " in capsys.readouterr().err
    assert sweep.main(["--preset", "ntm-copy", "--generalise", "80", "80"]) == 2
    assert "condition L=80 given twice" in capsys.readouterr().err


# -- on Ray --------------------------------------------------------------------------------------


def ray_processes(marker: str) -> list[int]:
    """Processes whose command line or environment mentions ``marker`` (ours, and only ours)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            text = (entry / "cmdline").read_bytes() + (entry / "environ").read_bytes()
        except OSError:
            continue
        if marker.encode() in text:
            found.append(int(entry.name))
    return found


@pytest.fixture
def ray_marker(tmp_path):
    """A marker in the environment of every Ray process a test starts; whatever is left with it
    after the test is killed, and the test fails if anything was left."""
    marker = f"MEMAGENTS_RAY_TEST={os.getpid()}-{time.monotonic_ns()}"
    yield marker
    time.sleep(1.0)  # the last workers exit a moment after the driver
    left = ray_processes(marker)
    for pid in left:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    assert not left, f"Ray processes outlived the test: {left}"


def run_sweep(args: list[str], marker: str, **env) -> subprocess.CompletedProcess:
    key, value = marker.split("=", 1)
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "sweep.py"), *args],
        capture_output=True, text=True, timeout=600, cwd=ROOT,
        env={**os.environ, key: value, "RAY_AUTH_MODE": "disabled", **env},
    )  # fmt: skip
    assert result.returncode == 0, f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


def test_a_small_sweep_on_an_embedded_ray(tmp_path, ray_marker):
    """2 settings x 2 seeds, each trial through the in-process training API, scored after
    training under two conditions (--generalise)."""
    ray_dir = tempfile.mkdtemp(prefix="mr", dir="/tmp")  # Ray's socket paths must be short
    result = run_sweep(
        ["--preset", "dnc-repeat-copy", *TINY, "--set", "max_steps=12", "--eval-every", "6",
         "--grid", "lr=1e-3,3e-3", "--seeds", "1", "2", "--cpus", "2", "--name", "small",
         "--storage", str(tmp_path), "--ray-temp-dir", ray_dir,
         "--generalise", "2", "length=2,repeats=3"],
        ray_marker,
    )  # fmt: skip
    shutil.rmtree(ray_dir, ignore_errors=True)
    assert "| lr=0.001 | 1, 2 | 0/2 |" in result.stdout or "| lr=0.001 | 1, 2 |" in result.stdout
    assert "| lr=0.003 | 1, 2 |" in result.stdout
    payload = json.loads((tmp_path / "small" / "results.json").read_text())
    trials = payload["trials"]
    assert sorted((t["params"]["lr"], t["seed"]) for t in trials) == [
        (1e-3, 1), (1e-3, 2), (3e-3, 1), (3e-3, 2)
    ]  # fmt: skip
    assert all(t["steps"] == 12 and t["status"] in ("solved", "not solved") for t in trials)
    for trial in trials:  # the figures after training, through Tune
        assert set(trial["extra"]) == {"bit_errors_L2", "bit_errors_L2_R3"}
        assert all(0 <= value < 100 for value in trial["extra"].values())
    assert "| bit_errors_L2 | bit_errors_L2_R3 |" in result.stdout
    # Each trial is a run folder like scripts/train.py's, with its evaluations in metrics.jsonl.
    runs = sorted((tmp_path / "small").glob("*/run/metrics.jsonl"))
    assert len(runs) == 4
    for metrics in runs:
        evals = [json.loads(line) for line in metrics.read_text().splitlines()]
        assert [row["step"] for row in evals if row["kind"] == "eval"] == [6, 12]


@pytest.mark.slow
def test_a_two_node_cluster_restores_a_killed_trial_exactly(tmp_path, ray_marker):
    """Two raylets (one CPU each) on this machine; two identical trials, one on each node; the
    first is SIGKILLed after its step-20 checkpoint and restarted by Tune from it: both end with
    the same parameters, bit for bit."""
    import torch

    from memagents.checkpoint import load_checkpoint

    key, value = ray_marker.split("=", 1)
    cluster = subprocess.Popen(
        [sys.executable, str(ROOT / "tests" / "ray_cluster.py")], stdin=subprocess.PIPE,
        stdout=subprocess.PIPE, text=True, env={**os.environ, key: value},
    )  # fmt: skip
    try:
        address = cluster.stdout.readline().strip()
        assert address.startswith("127.0.0.1:"), address
        run_sweep(
            ["--preset", "dnc-repeat-copy", *TINY, "--set", "max_steps=60", "--eval-every", "10",
             "--set", "stop_when_solved=False", "--samples", "2", "--seeds", "3",
             "--address", address, "--name", "cluster", "--storage", str(tmp_path),
             "--fault-kill-at-step", "20"],
            ray_marker, RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0",
        )  # fmt: skip
    finally:
        cluster.stdin.close()
        cluster.wait(timeout=120)
    trials = sorted((tmp_path / "cluster").glob("train_trial_*"))
    assert len(trials) == 2
    reports = [
        [json.loads(line) for line in (trial / "result.json").read_text().splitlines()]
        for trial in trials
    ]
    assert len({rows[0]["node"] for rows in reports}) == 2  # the trials ran on both nodes
    killed = [t for t in trials if (t / "fault-injected").exists()]
    assert len(killed) == 1
    pids = {row["pid"] for row in reports[trials.index(killed[0])]}
    assert len(pids) == 2  # a second process took over from the checkpoint
    states = [load_checkpoint(t / "run" / "checkpoints" / "last.pt") for t in trials]
    assert states[0]["step"] == states[1]["step"] == 60
    for name, tensor in states[0]["model"].items():
        torch.testing.assert_close(states[1]["model"][name], tensor, rtol=0, atol=0, msg=name)


def test_a_grid_over_presets_starts_each_trial_from_its_own():
    spec = spec_from_arguments(preset="ntm-copy", grid=["preset=ntm-copy,dnc-repeat-copy"])
    assert trial_config(spec, {"preset": "dnc-repeat-copy", "seed": 2}).agent == "dnc"
    assert trial_config(spec, {"preset": "ntm-copy", "seed": 2}).agent == "ntm"
    with pytest.raises(ValueError, match="unknown preset"):
        spec_from_arguments(preset="ntm-copy", grid=["preset=ntm-copy,nope"])


def test_a_recorded_sweep_renders_again_with_lengths_in_order(tmp_path):
    from memagents.sweeps import render

    trials = [
        TrialResult(params={}, seed=seed, steps=10, bit_errors=0.0, solved_step=10,
                    solved_seconds=1.0, extra={"bit_errors_L120": 9.0, "bit_errors_L20": 0.5})
        for seed in (1, 2)
    ]  # fmt: skip
    spec = SweepSpec(preset="ntm-copy", seeds=[1, 2])
    write_results(tmp_path, spec, trials, summarize(trials), command="python scripts/sweep.py x")
    before = (tmp_path / "summary.md").read_text()
    assert before.index("bit_errors_L20") < before.index("bit_errors_L120")
    (tmp_path / "summary.md").unlink()
    render(tmp_path / "results.json")
    assert (tmp_path / "summary.md").read_text() == before
    assert "Made by `python scripts/sweep.py x`" in before


def test_rerendering_bad_input_is_one_line_and_exit_2(tmp_path):
    for args in ([], ["--help"], [str(tmp_path / "missing.json")]):
        result = subprocess.run([sys.executable, "-m", "memagents.sweeps", *args],
                                capture_output=True, text=True)  # fmt: skip
        assert result.returncode == 2, result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
