"""Sweep training settings over seeds on Ray Tune, on this machine or on a Ray cluster.

    python scripts/sweep.py --preset ntm-copy --seeds 1 2 3 4 5            # time to solved
    python scripts/sweep.py --preset ntm-copy --grid optimizer=adam,rmsprop --seeds 1 2 3 \
        --set max_steps=3000 --asha
    python scripts/sweep.py --preset dnc-repeat-copy --loguniform lr=1e-4:1e-2 --samples 8
    python scripts/sweep.py --spec sweep.yaml --address auto                # on a running cluster
    python scripts/sweep.py --preset ntm-repeat-copy --seeds 1 2 3 \
        --generalise 10 20 length=10,repeats=20 length=20,repeats=10         # past training

Each trial is one training run through the in-process API (``memagents.training.fit``, the loop
scripts/train.py runs), one CPU and one torch thread, in its own run folder; it reports each
evaluation to Tune with its checkpoint, so a trial that dies (a node lost, a process killed)
restarts from its last checkpoint and ends exactly where an uninterrupted one would (batches are a
function of (seed, step)). At the end a table of time to solved and final bit errors, median
(min-max) over the seeds of each setting, is printed and written (summary.md, trials.csv,
results.json) to the sweep's folder.

After training, ``--generalise`` adds columns of bit errors per sequence (1,000 sequences each,
a fixed data seed) under task conditions outside the training range: a bare number is a length
(``bit_errors_L80``), else ``reset`` options ``KEY=VALUE[,KEY=VALUE]`` as the task takes them
(``length=20,repeats=10`` -> ``bit_errors_L20_R10``, ``items=20`` -> ``bit_errors_items20``,
``num_inputs=40,num_outputs=32``; see ``memagents.evaluation.condition_name``). A condition
the task refuses is an error before any training.

A trial on DynamicNGrams (a prediction task, never solved) also records, after training and on
1,000 fresh sequences of a fixed seed, its cost in bits per sequence (``loss_bits``), the optimal
Bayesian estimator's on the same sequences (``optimal_loss_bits``) and the gap between them
(``gap_percent`` = 100 * (model - optimal) / optimal): the figures that matter on that task.

Settings: ``--set NAME=VALUE`` (fixed), ``--grid NAME=V1,V2`` (every value), ``--choice
NAME=V1,V2`` / ``--loguniform NAME=LOW:HIGH`` / ``--uniform NAME=LOW:HIGH`` (drawn per sample);
NAME is a TrainConfig field or env_kwargs.KEY / train_env_kwargs.KEY / circuit_kwargs.KEY.
``--spec FILE`` reads the same from YAML or JSON (see memagents.sweeps).

Where it runs: with no --address, an embedded Ray on this machine (one trial per CPU). On a
cluster (``ray start --head`` on one machine, ``ray start --address HEAD:PORT`` on the others,
with --storage on a folder every node shares), give ``--address auto`` on a cluster machine.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import logging
import os
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from memagents.evaluation import parse_condition
from memagents.sweeps import (
    SweepSpec,
    TrialResult,
    markdown_table,
    spec_from_arguments,
    summarize,
    trial_config,
    write_results,
)

OLD_FLAGS = {
    "--config": "--set NAME=VALUE / --grid NAME=V1,V2 (TrainConfig fields; see --help)",
    "--jobs": "--max-concurrent N",
    "--runs-dir": "--storage FOLDER",
}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    for flag, replacement in OLD_FLAGS.items():
        if argv is not None and any(a == flag or a.startswith(flag + "=") for a in argv):
            raise SystemExit(f"error: {flag} was replaced by {replacement}")
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--preset", help="the preset every trial starts from")
    parser.add_argument("--spec", help="a YAML or JSON sweep spec (the flags below add to it)")
    parser.add_argument("--seeds", type=int, nargs="+", help="seeds (a grid over them)")
    parser.add_argument("--samples", type=int, help="draws of the whole grid (default 1)")
    parser.add_argument("--set", dest="set_", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--grid", action="append", default=[], metavar="NAME=V1,V2")
    parser.add_argument("--choice", action="append", default=[], metavar="NAME=V1,V2")
    parser.add_argument("--loguniform", action="append", default=[], metavar="NAME=LOW:HIGH")
    parser.add_argument("--uniform", action="append", default=[], metavar="NAME=LOW:HIGH")
    parser.add_argument("--eval-every", type=int, help="evaluate (and report to Tune) this often")
    parser.add_argument(
        "--seconds",
        type=float,
        help="wall-clock limit of each trial's training "
        "(max_seconds: the trial then evaluates, checkpoints and runs "
        "--generalise as at max_steps)",
    )
    parser.add_argument(
        "--generalise", nargs="+", default=[], metavar="CONDITION", help="after training, bit "
        "errors per sequence under these conditions, 1,000 sequences each: a length (80) or "
        "reset options KEY=VALUE[,KEY=VALUE] (length=20,repeats=10; items=20); columns "
        "bit_errors_L80, bit_errors_L20_R10, bit_errors_items20",
    )  # fmt: skip
    parser.add_argument("--asha", action="store_true", help="stop poor trials early (ASHA)")
    parser.add_argument("--grace-steps", type=int, default=500, help="ASHA: steps before a stop")
    parser.add_argument("--address", help="a running Ray cluster: auto, HOST:PORT or ray://...")
    parser.add_argument("--cpus", type=int, help="CPUs of the embedded Ray (default: all)")
    parser.add_argument("--max-concurrent", type=int, help="trials at a time (default: CPUs)")
    parser.add_argument("--max-failures", type=int, default=2, help="restarts of a failed trial")
    parser.add_argument("--name", help="the sweep's name (default: PRESET-TIMESTAMP)")
    parser.add_argument(
        "--storage", default="runs/sweeps", help="where sweeps are kept (shared by all nodes)"
    )
    parser.add_argument(
        "--out", help="where the table files go (default: the sweep's folder in --storage)"
    )
    # For the tests: where the embedded Ray keeps its files (so its processes can be found), and a
    # crash of the first trial at a step (to check that its restart from the checkpoint is exact).
    parser.add_argument("--ray-temp-dir", help=argparse.SUPPRESS)
    parser.add_argument("--fault-kill-at-step", type=int, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


# -- one trial (runs in a Ray worker) ------------------------------------------------------------


def train_trial(
    params: dict[str, Any],
    *,
    spec: SweepSpec,
    generalise: list[dict[str, int]],
    fault_kill_at_step: int | None,
) -> None:
    """One trial: train with ``fit``, report every evaluation with its checkpoint to Tune, restore
    from Tune's checkpoint when Tune restarts the trial."""
    import ray
    from ray import tune

    from memagents.runs import Run
    from memagents.training import SupervisedTrainer, fit

    config = trial_config(spec, {**spec.set, **params})
    config = dataclasses.replace(config, checkpoint_every=config.eval_every, num_threads=1)
    trial_dir = Path(tune.get_context().get_trial_dir())
    run_dir = trial_dir / "run"
    restored = tune.get_checkpoint()
    if restored is not None:  # a restart: the run folder as of the last reported checkpoint
        (run_dir / "checkpoints").mkdir(parents=True, exist_ok=True)
        with restored.as_directory() as folder:
            shutil.copyfile(Path(folder) / "last.pt", run_dir / "checkpoints" / "last.pt")
            shutil.copyfile(Path(folder) / "metrics.jsonl", run_dir / "metrics.jsonl")
    elif (run_dir / "checkpoints" / "last.pt").exists():  # Tune kept no checkpoint: start over
        (run_dir / "checkpoints" / "last.pt").unlink()
    # Tune copies the trial folder to its storage while the trial trains: write the checkpoint's
    # temporary file in the trial's own working folder (not copied), so no copy lists a file
    # that its rename then removes.
    scratch = Path.cwd() / f".run-scratch-{tune.get_context().get_trial_id()}"
    scratch.mkdir(exist_ok=True)
    if run_dir.is_dir():
        run = Run.open("run", trial_dir, scratch=scratch)
    else:
        run = Run.create(trial_dir, "run", scratch=scratch)
    trainer = SupervisedTrainer(config)
    if restored is not None:
        trainer.restore(run.load_checkpoint(), run.checkpoint_path)
    run.write_config(config)
    run.open_outputs(resumed_at=trainer.step if restored is not None else None, visdom=False)
    node = ray.get_runtime_context().get_node_id()
    latest: dict[str, Any] = {"solved_step": -1, "solved_seconds": -1.0}

    def report(kind: str, record: dict[str, Any]) -> None:
        if kind == "eval":
            latest.update(step=record["step"], sequences=record["sequences"],
                          bit_errors=record["bit_errors"], perfect=record["perfect"],
                          loss_bits=record["loss_bits"], elapsed_s=record["elapsed_s"])  # fmt: skip
        elif kind == "solved":
            latest.update(solved_step=record["step"], solved_seconds=record["elapsed_s"])
        elif kind == "checkpoint":
            with tempfile.TemporaryDirectory() as folder:
                shutil.copyfile(record["path"], Path(folder) / "last.pt")
                shutil.copyfile(run.path / "metrics.jsonl", Path(folder) / "metrics.jsonl")
                metrics = {**latest, "step": record["step"], "node": node, "pid": os.getpid()}
                tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(folder))
            marker = trial_dir / "fault-injected"
            first_trial = tune.get_context().get_trial_id().endswith("00000")
            due = fault_kill_at_step and record["step"] >= fault_kill_at_step
            if due and first_trial and not marker.exists():
                marker.write_text(f"killed at step {record['step']}\n")
                os.kill(os.getpid(), signal.SIGKILL)  # a crash, as a lost node would be

    with run:
        result = fit(trainer, run, callback=report, progress=False)
    if result.status == "failed":
        raise RuntimeError(f"trial failed: {result.reason}")
    with trainer.averaged_weights() as circuit:  # the run's model (config.average_decay)
        extra = after_training(circuit, config, generalise)
    if extra:
        extra = {EXTRA_PREFIX + name: value for name, value in extra.items()}
        tune.report({**latest, "step": trainer.step, "node": node, "pid": os.getpid(), **extra})


EXTRA_PREFIX = "extra/"
"""Figures made after training are reported to Tune under this prefix (``TrialResult.extra``)."""
AFTER_TRAINING_SEQUENCES = 1000


def after_training(
    circuit, config, generalise: list[dict[str, int]], sequences: int = AFTER_TRAINING_SEQUENCES
) -> dict[str, float]:
    """The trained circuit's figures past training, on fixed evaluation data (`sequences` of
    them): on DynamicNGrams its cost in bits per sequence (``loss_bits``), the optimal
    estimator's on the same sequences (``optimal_loss_bits``) and ``gap_percent``; bit errors per
    sequence under each ``--generalise`` condition (``bit_errors_`` + its condition name)."""
    from memagents.evaluation import condition_figures, dynamic_ngrams_task, ngrams_cost

    extra: dict[str, float] = {}
    if dynamic_ngrams_task(config.env_id, config.env_kwargs) is not None:
        cost = ngrams_cost(circuit, config, sequences)
        extra.update(loss_bits=cost.loss_bits, optimal_loss_bits=cost.optimal_loss_bits,
                     gap_percent=cost.gap_percent)  # fmt: skip
    if generalise:
        figures = condition_figures(circuit, config, generalise, sequences)
        extra.update({f"bit_errors_{name}": m.bit_errors for name, m in figures.items()})
    return extra


# -- the sweep -----------------------------------------------------------------------------------


def check_generalise(spec: SweepSpec, conditions: list[dict[str, int]]) -> None:
    """Raise a one-line ValueError, before any training, when the env of some trial refuses a
    ``--generalise`` condition. The trials checked are every combination of the grid and choice
    values (the ranges at their low ends); a combination the config refuses is left to fail as
    its trial."""
    from memagents.evaluation import check_conditions

    if not conditions:
        return
    varying = {**spec.grid, **spec.choice}
    base = spec.example_params()
    checked: set[str] = set()
    for values in itertools.product(*varying.values()):
        try:
            config = trial_config(spec, {**base, **dict(zip(varying, values, strict=True))})
        except ValueError:
            continue
        key = json.dumps([config.env_id, config.env_kwargs], sort_keys=True, default=str)
        if key in checked:
            continue
        checked.add(key)
        try:
            check_conditions(config.env_id, config.env_kwargs, conditions)
        except ValueError as error:
            raise ValueError(f"--generalise on {config.env_id}: {error}") from None


def search_space(spec: SweepSpec) -> dict[str, Any]:
    """The spec's varying settings and seeds as a Ray Tune param_space."""
    from ray import tune

    space: dict[str, Any] = {"seed": tune.grid_search(list(spec.seeds))}
    space.update({name: tune.grid_search(list(values)) for name, values in spec.grid.items()})
    space.update({name: tune.choice(list(values)) for name, values in spec.choice.items()})
    space.update({name: tune.loguniform(*bounds) for name, bounds in spec.loguniform.items()})
    space.update({name: tune.uniform(*bounds) for name, bounds in spec.uniform.items()})
    return space


def trial_results(grid) -> list[TrialResult]:
    """Our view of a Tune ResultGrid: one TrialResult per trial."""
    trials = []
    for result in grid:
        params = {k: v for k, v in result.config.items() if k != "seed"}
        metrics = result.metrics or {}
        solved_step = metrics.get("solved_step", -1)
        status = "error" if result.error else ("solved" if solved_step >= 0 else "not solved")
        trials.append(
            TrialResult(
                params=params,
                seed=result.config["seed"],
                steps=int(metrics.get("step", 0)),
                bit_errors=float(metrics.get("bit_errors", float("nan"))),
                solved_step=solved_step if solved_step >= 0 else None,
                solved_seconds=metrics["solved_seconds"] if solved_step >= 0 else None,
                status=status,
                extra={
                    k.removeprefix(EXTRA_PREFIX): v
                    for k, v in metrics.items()
                    if k.startswith(EXTRA_PREFIX)
                },
            )
        )
    return trials


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        spec = spec_from_arguments(
            preset=args.preset, spec_file=args.spec, seeds=args.seeds, samples=args.samples,
            set_=args.set_ + ([f"eval_every={args.eval_every}"] if args.eval_every else [])
            + ([f"max_seconds={args.seconds}"] if args.seconds else []),
            grid=args.grid, choice=args.choice, loguniform=args.loguniform, uniform=args.uniform,
        )  # fmt: skip
        conditions = [parse_condition(token) for token in args.generalise]
        check_generalise(spec, conditions)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if not args.address:
        # One machine: keep every Ray process on the loopback address (Ray would otherwise
        # advertise the machine's network address, which a single machine does not need).
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    # Every evaluation is a checkpoint; Tune's warning about frequent state snapshots is noise here.
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
    import ray
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler

    name = args.name or f"{spec.preset}-{time.strftime('%y%m%d-%H%M%S')}"
    storage = Path(args.storage).resolve()
    logging.getLogger("ray").setLevel(logging.WARNING)
    if args.address:
        ray.init(address=args.address, log_to_driver=False)
    else:
        ray.init(
            num_cpus=args.cpus or os.cpu_count(), include_dashboard=False, log_to_driver=False,
            _temp_dir=args.ray_temp_dir,
        )  # fmt: skip
    try:
        cpus = int(ray.cluster_resources().get("CPU", 1))
        max_steps = trial_config(spec, spec.example_params()).max_steps
        scheduler = None
        if args.asha:
            scheduler = ASHAScheduler(
                time_attr="step", max_t=max_steps, grace_period=args.grace_steps
            )
        trainable = tune.with_resources(
            tune.with_parameters(
                train_trial, spec=spec, generalise=conditions,
                fault_kill_at_step=args.fault_kill_at_step,
            ),
            {"cpu": 1},
        )  # fmt: skip
        tuner = tune.Tuner(
            trainable,
            param_space=search_space(spec),
            tune_config=tune.TuneConfig(
                metric="bit_errors", mode="min", scheduler=scheduler, num_samples=spec.samples,
                max_concurrent_trials=args.max_concurrent or cpus, reuse_actors=False,
            ),
            run_config=tune.RunConfig(
                name=name, storage_path=str(storage), verbose=0,
                failure_config=tune.FailureConfig(max_failures=args.max_failures),
                checkpoint_config=tune.CheckpointConfig(num_to_keep=2),
            ),
        )  # fmt: skip
        print(f"sweep {name}: {spec.samples} sample(s) x {len(spec.seeds)} seed(s) "
              f"x the grid, on {cpus} CPU(s); trials in {storage / name}")  # fmt: skip
        grid = tuner.fit()
    finally:
        ray.shutdown()

    trials = trial_results(grid)
    rows = summarize(trials)
    command = "python scripts/sweep.py " + " ".join(sys.argv[1:] if argv is None else argv)
    print()
    print(markdown_table(rows))
    print(f"\n(median (min-max) over seeds; `{command}`)")
    out_dir = Path(args.out) if args.out else storage / name
    for path in write_results(out_dir, spec, trials, rows, command=command):
        print(f"wrote {path}")
    errors = [t for t in trials if t.status == "error"]
    if errors:
        print(f"{len(errors)} trial(s) failed; their logs are in {storage / name}", file=sys.stderr)
        return 3
    print(json.dumps({"solved": sum(t.solved_step is not None for t in trials),
                      "trials": len(trials)}))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
