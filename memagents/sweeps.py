"""Sweeps over training settings: the search space, each trial's config, and the results table.

Nothing here needs Ray: ``scripts/sweep.py`` turns a ``SweepSpec`` into a Ray Tune search space and
runs each trial through the in-process training API (``memagents.training``), on this machine or
on a Ray cluster; this module says what a sweep is and how its results read.

A spec names a preset and, over any ``TrainConfig`` field (``lr``, ``batch_size``, ...) or any key
of its kwargs dicts (``env_kwargs.max_length``, ``circuit_kwargs.memory_size``):

- ``set``: fixed values;
- ``grid``: every value is tried (a grid over ``seed`` is what ``seeds`` gives; a grid over
  ``preset`` compares presets);
- ``choice``: one value drawn per sample, ``loguniform`` / ``uniform``: a number drawn from
  ``[low, high]`` per sample (``samples`` draws of the whole grid).

From the command line (``--set lr=1e-3 --grid optimizer=adam,rmsprop --loguniform lr=1e-4:1e-2``)
or a YAML / JSON file with the same keys::

    preset: ntm-copy
    seeds: [1, 2, 3, 4, 5]
    set: {max_steps: 3000}
    grid: {optimizer: [adam, rmsprop]}
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from memagents.config import PRESETS, TrainConfig, apply_overrides, parse_kwarg

KWARG_DICTS = ("env_kwargs", "train_env_kwargs", "circuit_kwargs")
SPEC_KEYS = ("preset", "seeds", "samples", "set", "grid", "choice", "loguniform", "uniform")


@dataclass
class SweepSpec:
    """What a sweep trains: a preset, fixed settings, and the settings that vary."""

    preset: str
    seeds: list[int] = field(default_factory=lambda: [1])
    samples: int = 1
    """Draws of the whole grid (each draws the choice / loguniform / uniform settings anew)."""
    set: dict[str, Any] = field(default_factory=dict)
    grid: dict[str, list[Any]] = field(default_factory=dict)
    choice: dict[str, list[Any]] = field(default_factory=dict)
    loguniform: dict[str, tuple[float, float]] = field(default_factory=dict)
    uniform: dict[str, tuple[float, float]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.preset not in PRESETS:
            raise ValueError(f"unknown preset {self.preset!r}; choose one of {sorted(PRESETS)}")
        if not self.seeds or not all(isinstance(s, int) and s >= 0 for s in self.seeds):
            raise ValueError(f"seeds must be integers >= 0, got {self.seeds!r}")
        if not isinstance(self.samples, int) or self.samples < 1:
            raise ValueError(f"samples must be an integer >= 1, got {self.samples!r}")
        named = [*self.set, *self.grid, *self.choice, *self.loguniform, *self.uniform]
        twice = sorted({name for name in named if named.count(name) > 1})
        if twice:
            raise ValueError(f"settings given more than one way: {twice}")
        if "preset" in [*self.set, *self.loguniform, *self.uniform]:
            raise ValueError("preset varies with --grid preset=A,B (or --choice), or is --preset")
        for name, values in {**self.grid, **self.choice}.items():
            if name == "preset" and not set(values) <= set(PRESETS):
                raise ValueError(f"unknown preset(s) {sorted(set(values) - set(PRESETS))}")
        if "seed" in named:
            raise ValueError(
                "give seeds with --seeds (or 'seeds:' in a spec file), not as a setting"
            )
        for name in named:
            check_setting_name(name)
        for kind, ranges in (("loguniform", self.loguniform), ("uniform", self.uniform)):
            for name, (low, high) in ranges.items():
                if not (math.isfinite(low) and math.isfinite(high) and low < high):
                    raise ValueError(f"{kind} {name}: need finite low < high, got {low}:{high}")
                if kind == "loguniform" and low <= 0:
                    raise ValueError(f"loguniform {name}: need low > 0, got {low}")
        for kind, options in (("grid", self.grid), ("choice", self.choice)):
            for name, values in options.items():
                if not values:
                    raise ValueError(f"{kind} {name}: give at least one value")
        # Every fixed value and the first of each varying one must make a valid config.
        trial_config(self, self.example_params())

    def example_params(self) -> dict[str, Any]:
        """One point of the space (the first values, the ranges' low ends) and the first seed."""
        params = dict(self.set)
        params.update({name: values[0] for name, values in {**self.grid, **self.choice}.items()})
        params.update({name: low for name, (low, _) in {**self.loguniform, **self.uniform}.items()})
        params["seed"] = self.seeds[0]
        return params

    @property
    def varying(self) -> list[str]:
        """The settings that differ between trials, seed excluded."""
        return [*self.grid, *self.choice, *self.loguniform, *self.uniform]


def check_setting_name(name: str) -> None:
    """A TrainConfig field, or ``env_kwargs.KEY`` / ``train_env_kwargs.KEY`` /
    ``circuit_kwargs.KEY``; else ValueError."""
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    if name == "preset":  # a grid over presets: each trial starts from its own
        return
    head, dot, key = name.partition(".")
    if dot and head in KWARG_DICTS and key:
        return
    if not dot and name in fields and name not in KWARG_DICTS:
        return
    raise ValueError(
        f"unknown setting {name!r}: use a TrainConfig field ({', '.join(sorted(fields))}) or "
        "env_kwargs.KEY / train_env_kwargs.KEY / circuit_kwargs.KEY"
    )


def trial_config(spec: SweepSpec, params: Mapping[str, Any]) -> TrainConfig:
    """The TrainConfig of one trial: the spec's preset (or the trial's ``preset`` param) with
    ``params`` (flat names, dotted for the kwargs dicts) applied.

    Raises:
        ValueError: a setting the config refuses.
    """
    overrides: dict[str, Any] = {}
    preset = params.get("preset", spec.preset)
    for name, value in params.items():
        if name == "preset":
            continue
        head, dot, key = name.partition(".")
        if dot:
            overrides.setdefault(head, {})[key] = value
        else:
            overrides[name] = value
    return apply_overrides(PRESETS[preset], overrides)


# -- parsing -------------------------------------------------------------------------------------


def _values(text: str) -> list[Any]:
    return [parse_kwarg(f"v={item}")[1] for item in text.split(",")]


def _range(name: str, text: str) -> tuple[float, float]:
    low, sep, high = text.partition(":")
    try:
        return float(low), float(high)
    except ValueError:
        raise ValueError(f"{name}: expected LOW:HIGH, got {text!r}") from None


def spec_from_arguments(
    *,
    preset: str | None,
    spec_file: str | None = None,
    seeds: Iterable[int] | None = None,
    samples: int | None = None,
    set_: Iterable[str] = (),
    grid: Iterable[str] = (),
    choice: Iterable[str] = (),
    loguniform: Iterable[str] = (),
    uniform: Iterable[str] = (),
) -> SweepSpec:
    """A SweepSpec from a YAML/JSON file and/or command-line strings (``NAME=VALUE``,
    ``NAME=V1,V2``, ``NAME=LOW:HIGH``); the command line adds to (and overrides) the file.

    Raises:
        ValueError: a malformed item, an unknown setting, a value the config refuses.
    """
    data: dict[str, Any] = load_spec_file(spec_file) if spec_file else {}
    if preset:
        data["preset"] = preset
    if "preset" not in data:
        raise ValueError("give --preset NAME (or 'preset:' in the spec file)")
    if seeds:
        data["seeds"] = list(seeds)
    if samples:
        data["samples"] = samples
    for key, items, parse in (
        ("set", set_, lambda name, raw: parse_kwarg(f"v={raw}")[1]),
        ("grid", grid, lambda name, raw: _values(raw)),
        ("choice", choice, lambda name, raw: _values(raw)),
        ("loguniform", loguniform, _range),
        ("uniform", uniform, _range),
    ):
        for item in items:
            name, sep, raw = item.partition("=")
            if not sep or not name:
                raise ValueError(f"--{key} {item!r}: expected NAME=VALUE")
            data.setdefault(key, {})[name.strip()] = parse(name.strip(), raw)
    for key in ("loguniform", "uniform"):
        data[key] = {name: tuple(map(float, bounds)) for name, bounds in data.get(key, {}).items()}
    return SweepSpec(**data)


def load_spec_file(path: str | Path) -> dict[str, Any]:
    """A spec file (``.json``, or ``.yaml`` / ``.yml``) as a dict of SweepSpec fields."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as error:
        raise ValueError(f"spec file {path}: {error.strerror}") from None
    try:
        if path.suffix in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text)
        else:
            data = json.loads(text)
    except Exception as error:  # yaml and json raise their own types
        raise ValueError(f"spec file {path}: not valid {path.suffix[1:]} ({error})") from None
    if not isinstance(data, dict):
        raise ValueError(f"spec file {path}: expected a mapping of {SPEC_KEYS}")
    unknown = sorted(set(data) - set(SPEC_KEYS))
    if unknown:
        raise ValueError(f"spec file {path}: unknown keys {unknown}; use {SPEC_KEYS}")
    return data


# -- results -------------------------------------------------------------------------------------


@dataclass
class TrialResult:
    """What one trial reached: its settings, seed, and last reported figures."""

    params: dict[str, Any]
    """The varying settings (seed excluded)."""
    seed: int
    steps: int
    bit_errors: float
    """The last evaluation's bit errors per sequence."""
    solved_step: int | None
    solved_seconds: float | None
    status: str = ""
    extra: dict[str, float] = field(default_factory=dict)
    """Figures made after training: bit errors per sequence under each condition of
    ``--generalise`` (``bit_errors_`` + ``memagents.evaluation.condition_name``: ``bit_errors_L80``,
    ``bit_errors_L20_R10``, ``bit_errors_items20``), and on DynamicNGrams the cost in bits per
    sequence (``loss_bits``), the optimal estimator's (``optimal_loss_bits``) and
    ``gap_percent``."""


class Spread(NamedTuple):
    """One figure over several runs (seeds, checkpoints) of a setting."""

    median: float
    low: float  # the smallest
    high: float  # the largest
    count: int  # runs


def spread(values: Iterable[float]) -> Spread:
    """Median, min and max of a figure over runs (the median of an even count is the mean of the
    middle two)."""
    values = sorted(float(value) for value in values)
    if not values:
        raise ValueError("spread of no values")
    middle = len(values) // 2
    median = values[middle] if len(values) % 2 else (values[middle - 1] + values[middle]) / 2
    return Spread(median, values[0], values[-1], len(values))


def median_range(values: Iterable[float], fmt: str) -> str:
    """``median (min-max)`` in `fmt`, the value alone for one run, ``-`` for none."""
    values = list(values)
    if not values:
        return "-"
    figure = spread(values)
    if figure.count == 1:
        return format(figure.median, fmt)
    return f"{format(figure.median, fmt)} ({format(figure.low, fmt)}-{format(figure.high, fmt)})"


AFTER_TRAINING_FIRST = ("loss_bits", "optimal_loss_bits", "gap_percent")
"""Extra figures that lead the extra columns, in this order (the DynamicNGrams cost)."""


def _extra_order(name: str) -> tuple:
    """The order of the extra columns: ``AFTER_TRAINING_FIRST``, then the others by name with
    the numbers in them compared as numbers: ``bit_errors_L20`` before ``bit_errors_L20_R5``
    before ``bit_errors_L20_R10`` before ``bit_errors_L120``, ``bit_errors_items2`` before
    ``bit_errors_items20``."""
    if name in AFTER_TRAINING_FIRST:
        return (0, AFTER_TRAINING_FIRST.index(name), ())
    parts = re.split(r"(\d+)", name)  # text, number, text, ...: the same types at each place
    return (1, 0, tuple(int(part) if index % 2 else part for index, part in enumerate(parts)))


def _extra_format(name: str) -> str:
    return ".1f" if name == "gap_percent" else ".3f"


def summarize(results: Iterable[TrialResult]) -> list[dict[str, Any]]:
    """One row per setting (trials that differ only by seed grouped): seeds, solved count,
    time to solved and final bit errors as median (min-max) over the seeds."""
    groups: dict[str, list[TrialResult]] = {}
    for result in results:
        groups.setdefault(json.dumps(result.params, sort_keys=True), []).append(result)
    rows = []
    for key, trials in groups.items():
        solved = [t for t in trials if t.solved_step is not None]
        row = {
            "settings": json.loads(key),
            "seeds": sorted(t.seed for t in trials),
            "solved": f"{len(solved)}/{len(trials)}",
            "seconds_to_solved": median_range([t.solved_seconds for t in solved], ".0f"),
            "steps_to_solved": median_range([t.solved_step for t in solved], ".0f"),
            "final_bit_errors": median_range([t.bit_errors for t in trials], ".3f"),
        }
        for name in sorted({name for t in trials for name in t.extra}, key=_extra_order):
            values = [t.extra[name] for t in trials if name in t.extra]
            row[name] = median_range(values, _extra_format(name))
        rows.append(row)
    return rows


def markdown_table(rows: list[dict[str, Any]]) -> str:
    """The summary rows as a markdown table (median (min-max) over seeds)."""
    if not rows:
        return "(no trials)"
    columns = [name for name in rows[0] if name != "settings"]
    header = ["settings", *columns]
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    for row in rows:
        settings = ", ".join(f"{k}={v}" for k, v in row["settings"].items()) or "(preset)"
        cells = [settings] + [
            ", ".join(map(str, row[name])) if isinstance(row[name], list) else str(row[name])
            for name in columns
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_results(
    out_dir: Path,
    spec: SweepSpec,
    trials: list[TrialResult],
    rows: list[dict],
    command: str = "",
) -> list[Path]:
    """``results.json`` (the command, the spec, every trial, the summary), ``trials.csv`` and
    ``summary.md`` (the table and the command that made it)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    payload = {
        "command": command,
        "spec": dataclasses.asdict(spec),
        "trials": [dataclasses.asdict(t) for t in trials],
        "summary": rows,
    }
    json_path = out_dir / "results.json"
    json_path.write_text(json.dumps(payload, indent=2) + "\n")
    csv_path = out_dir / "trials.csv"
    extra = sorted({name for t in trials for name in t.extra}, key=_extra_order)
    with csv_path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["settings", "seed", "status", "steps", "bit_errors", "solved_step",
                         "solved_seconds", *extra])  # fmt: skip
        for t in trials:
            writer.writerow([json.dumps(t.params, sort_keys=True), t.seed, t.status, t.steps,
                             t.bit_errors, t.solved_step, t.solved_seconds,
                             *[t.extra.get(name) for name in extra]])  # fmt: skip
    md_path = out_dir / "summary.md"
    footer = f"\nMedian (min-max) over seeds. Made by `{command}`.\n" if command else ""
    md_path.write_text(markdown_table(rows) + "\n" + footer)
    return [json_path, csv_path, md_path]


def render(results_json: str | Path) -> list[Path]:
    """Write a sweep's ``summary.md`` and ``trials.csv`` again from its recorded ``results.json``
    (``python -m memagents.sweeps PATH/results.json``), say after the table's layout changed."""
    path = Path(results_json)
    payload = json.loads(path.read_text())
    spec_data = dict(payload["spec"])
    for key in ("loguniform", "uniform"):
        spec_data[key] = {name: tuple(bounds) for name, bounds in spec_data.get(key, {}).items()}
    spec = SweepSpec(**spec_data)
    trials = [TrialResult(**trial) for trial in payload["trials"]]
    return write_results(path.parent, spec, trials, summarize(trials), payload.get("command", ""))


if __name__ == "__main__":
    import sys

    if len(sys.argv) != 2 or sys.argv[1].startswith("-"):
        print("usage: python -m memagents.sweeps SWEEP_FOLDER/results.json", file=sys.stderr)
        sys.exit(2)
    try:
        written_files = render(sys.argv[1])
    except (OSError, ValueError, KeyError, TypeError) as error:
        print(f"error: cannot re-render {sys.argv[1]}: {error!r}", file=sys.stderr)
        sys.exit(2)
    for written in written_files:
        print(f"wrote {written}")
