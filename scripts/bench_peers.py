"""Benchmark the peers' training throughput beside ours: one interleaved run on this machine.

The README's "x the fastest peer" ratios came from figures taken on another machine. This script
times the peers' full training iterations and ours in one process, in interleaved rounds (one
iteration of every item per round, the order rotating: `bench_circuits.time_rounds`), each
implementation at every thread count of `--threads`, and compares each at its best count.

For each work (a preset of ours) and batch size, the items are, at each thread count:

  ours                  `SupervisedAgent.train_step()` on the preset, as `scripts/train.py` runs
                        it (sampled batch, unroll, loss, backward, clipping, optimizer step)
  loudinthecloud/pytorch-ntm   (ntm-copy) its copy task: `CopyTaskModelTraining` with its
                        `CopyTaskParams` (LSTM 100, memory 128 x 20, one read + one write head,
                        8 bits, RMSprop lr 1e-4, momentum 0.9, alpha 0.95), batch size as the row;
                        one iteration is its `tasks.copytask.dataloader` drawing one batch, then
                        its `train.train_batch` (zero_grad, forward step by step, BCE, backward,
                        its `clip_grads` to [-10, 10], optimizer step, and its bit-error cost,
                        all as its `train_model` loop runs them)
  ixaxaar/pytorch-dnc   (dnc-repeat-copy, dnc-copy) its `dnc.DNC` (LSTM controller of one layer,
                        our preset's memory size, word size, read heads and controller size)
                        trained as the loop of its `tasks/copy_task.py`: zero_grad, the batch,
                        forward with `(None, None, None)` and `reset_experience=True`, its
                        `criterion` (BCE with logits, unmasked mean), backward,
                        `clip_grad_norm_(50)`, Adam (lr 1e-4, eps 1e-9, betas 0.9/0.98), and
                        `loss.item()`. The batch: on copy, its `generate_data`; on repeat-copy
                        (it has no such task) our sampler's batch, the targets padded with zero
                        channels to the input's width (its DNC outputs as many channels as it
                        is given). Two variants, both timed: `independent_linears=True` (what its
                        copy_task.py builds: ten interface layers) and `False` (the class default:
                        one interface layer); the fastest counts.

Same data per round: round k trains every item on batch k of our run (`batch_seed(seed, k)`):
ours and the repeat-copy peers on that very batch, the copy peers on a batch of their own
drawing of the same sequence length (their data functions with the length range pinned to it),
so T is the same for every item of a round and a same-round time ratio compares like with like.

The shims, applied at run time; the peers' files are never edited:
  - attrs >= 19.2 has no `attr.attrib(convert=...)`, which pytorch-ntm's task params use: while
    its modules are imported, `attr.attrib` maps `convert=` to `converter=` (restored after).
  - pytorch-ntm's train.py imports `argcomplete` (command-line completion, unused here) and
    pytorch-dnc's copy_task.py imports `visdom` (unused unless --visdom): where one is not
    installed, an empty module stands in for it.
  - pytorch-dnc's copy_task.py puts "../.." on sys.path; the path is restored after the import.
  - pytorch-dnc's DNC returns its outputs time-first (T, B, O) though built `batch_first=True`
    (its forward transposes only when batch_first is False), so its copy_task.py fails at its
    first iteration ("Target size ... must be the same as input size"); when a probe finds the
    outputs time-first, they are transposed back (a view) before its criterion. Its loop's
    post-step `mhx.items()` (a detach of a state it then drops; the state is a list, so the line
    would raise) is left out.
  Neither peer needed a torch shim on torch 2.13. A peer that cannot be loaded, built or run
  one iteration is reported as such, with the error, and has no figure.

Rates are batch / median seconds. Each implementation's best thread count is the one with the
lowest median time; "ours x peer" is the median over rounds of the peer's time / ours, each at
its best count, both timed in the same round. The fastest peer is the peer item with the lowest
median time at its best count.

    python scripts/bench_peers.py --peers-dir /work/peers           # batches 1 16 64, 20 rounds
    python scripts/bench_peers.py --peers-dir /work/peers --batch-sizes 16 --rounds 5
    python scripts/bench_peers.py --peers-dir /work/peers --threads 1 2 --markdown peers.md

--peers-dir holds the peers' source trees as `pytorch-ntm/` and `pytorch-dnc/`, e.g.
`git --git-dir=MIRROR archive HEAD | tar -x -C DIR/pytorch-ntm`.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import itertools
import os
import statistics
import subprocess
import sys
import time
import types
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from memagents.agent import SupervisedAgent, batch_seed, env_sizes, make_envs
from memagents.circuits import build_circuit
from memagents.config import TrainConfig
from memagents.kernels import build as kernel_build


def _load_bench_circuits() -> types.ModuleType:
    """scripts/bench_circuits.py as a module (its time_rounds, Prepared, WORKS, ...)."""
    if "bench_circuits" in sys.modules:
        return sys.modules["bench_circuits"]
    path = Path(__file__).resolve().with_name("bench_circuits.py")
    spec = importlib.util.spec_from_file_location("bench_circuits", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


bench = _load_bench_circuits()

CPU = torch.device("cpu")
OURS = "ours (memagents)"
NTM_PEER = "loudinthecloud/pytorch-ntm"
DNC_PEER = "ixaxaar/pytorch-dnc"
PEER_FOLDERS = {NTM_PEER: "pytorch-ntm", DNC_PEER: "pytorch-dnc"}
WORK_PEERS = {"ntm-copy": (NTM_PEER,), "dnc-repeat-copy": (DNC_PEER,), "dnc-copy": (DNC_PEER,)}
DEFAULT_WORKS = tuple(WORK_PEERS)
COPY_ENV = "memtasks/Copy-v0"

# pytorch-dnc's tasks/copy_task.py defaults: --optim adam --lr 1e-4 --clip 50 --nlayer 1.
DNC_PEER_ADAM = dict(lr=1e-4, eps=1e-9, betas=(0.9, 0.98))
DNC_PEER_CLIP = 50.0
# Its --nhlayer (LSTM layers inside the controller) defaults to 2; ours is one LSTM layer of the
# preset's size, so the peer gets one too: the same model, and its faster setting.
DNC_PEER_CONTROLLER_LAYERS = 1


# -- items and their figures (pure functions of the per-round times) -----------------------------


@dataclass(frozen=True)
class Item:
    """One timed item: an implementation (ours, or a peer and variant) at a torch thread count."""

    implementation: str
    threads: int
    peer: bool

    @property
    def label(self) -> str:
        return f"{self.implementation}, {self.threads} thread{'s' * (self.threads != 1)}"


@dataclass(frozen=True)
class ItemRow:
    """One item's figures over the timed rounds (medians)."""

    item: Item
    ms_per_iteration: float
    sequences_per_second: float
    best: bool  # the fastest thread count of its implementation


@dataclass(frozen=True)
class Comparison:
    """Ours against one peer implementation, each at its best thread count."""

    peer: ItemRow
    ours: ItemRow
    speedup: float  # median over rounds of the peer's time / ours, the same round
    fastest: bool  # the fastest peer implementation of this work and batch size


def item_rows(times: dict[str, list[float]], items: list[Item], batch_size: int) -> list[ItemRow]:
    """The rows of `items` from `time_rounds`' per-round seconds (keyed by `Item.label`), the
    fastest thread count of each implementation marked `best` (lowest median time)."""
    rounds = {len(times[item.label]) for item in items}
    if len(rounds) != 1 or 0 in rounds:
        raise ValueError(f"every item needs the same number of rounds (> 0), got {sorted(rounds)}")
    medians = {item: statistics.median(times[item.label]) for item in items}
    fastest: dict[str, Item] = {}
    for item in items:
        current = fastest.get(item.implementation)
        if current is None or medians[item] < medians[current]:
            fastest[item.implementation] = item
    return [
        ItemRow(
            item=item,
            ms_per_iteration=1e3 * medians[item],
            sequences_per_second=batch_size / medians[item],
            best=fastest[item.implementation] == item,
        )
        for item in items
    ]


def compare(times: dict[str, list[float]], rows: list[ItemRow]) -> list[Comparison]:
    """Ours at its best thread count against each peer implementation at its best: the median of
    same-round ratios (peer time / our time, so > 1 means ours is faster), the fastest peer (the
    lowest median time) marked. Empty when there is no peer row or no row of ours."""
    best = [row for row in rows if row.best]
    ours = [row for row in best if not row.item.peer]
    peers = [row for row in best if row.item.peer]
    if len(ours) > 1:
        raise ValueError(f"one implementation of ours expected, got {len(ours)}")
    if not ours or not peers:
        return []
    fastest = min(peers, key=lambda row: row.ms_per_iteration)
    return [
        Comparison(
            peer=row,
            ours=ours[0],
            speedup=bench.same_round_ratio(times, row.item.label, ours[0].item.label),
            fastest=row is fastest,
        )
        for row in peers
    ]


def counted(step: Callable[[int], None], threads: int) -> Any:
    """`step(k)` as a `time_rounds` item: before the clock starts, torch is set to `threads`
    threads and k is the number of calls so far (so the k-th call trains on batch k)."""
    calls = itertools.count()

    def prepare() -> int:
        torch.set_num_threads(threads)
        return next(calls)

    return bench.Prepared(step, prepare)


# -- the batches of a run ------------------------------------------------------------------------


class Schedule:
    """Batch k of our run of `config`: its seed, the options that pin its length, its data."""

    def __init__(self, config: TrainConfig, agent: SupervisedAgent) -> None:
        self.config, self.envs, self.sampler = config, agent.envs, agent.sampler
        self.pinned = agent._pinned_length if config.same_length_batches else None
        if self.sampler is None:
            raise ValueError(f"{config.env_id} has no batch sampler: the bench times memtasks envs")

    def seed(self, k: int) -> int:
        return batch_seed(self.config.seed, k)

    def options(self, k: int) -> dict[str, int] | None:
        return None if self.pinned is None else self.pinned(self.seed(k))

    def length(self, k: int) -> int:
        """The sequence length of batch k (a work with one length per batch)."""
        options = self.options(k)
        if options is None:
            raise ValueError("the copy peers need a preset with same_length_batches")
        return options["length"]

    def batch(self, k: int):
        """(inputs (B, T, I), targets (B, T, O), mask (B, T), lengths) as numpy arrays."""
        return self.sampler(self.seed(k), self.options(k))

    def steps(self, k: int) -> int:
        """T of batch k."""
        return int(self.batch(k).inputs.shape[1])


def our_agent(config: TrainConfig) -> SupervisedAgent:
    """A fresh agent of `config`, built as bench_circuits builds its headline."""
    envs = make_envs(config.env_id, config.batch_size, config.env_kwargs)
    torch.manual_seed(config.seed)
    circuit = build_circuit(config.agent, *env_sizes(envs), **config.circuit_kwargs)
    return SupervisedAgent(circuit.to(CPU), envs, config)


def our_step(agent: SupervisedAgent) -> Callable[[int], None]:
    def step(k: int) -> None:
        if agent.step != k:  # the agent draws batch agent.step: it must be the round's
            raise RuntimeError(f"our agent is at batch {agent.step}, the round at {k}")
        agent.train_step()

    return step


# -- loading the peers ---------------------------------------------------------------------------


@contextlib.contextmanager
def _import_path(root: Path) -> Iterator[None]:
    """`root` first on sys.path for the block; sys.path as it was after (whatever the peer's
    modules inserted)."""
    saved = list(sys.path)
    sys.path.insert(0, str(root))
    try:
        yield
    finally:
        sys.path[:] = saved


def _stub_if_missing(name: str) -> None:
    """An empty module for `name` where it is not installed (an import the bench never uses)."""
    if name in sys.modules:
        return
    try:
        importlib.import_module(name)
    except ImportError:
        sys.modules[name] = types.ModuleType(name)


def _module_from_file(name: str, path: Path) -> types.ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@contextlib.contextmanager
def _attrs_convert_shim() -> Iterator[None]:
    """`attr.attrib(convert=f)` as `attr.attrib(converter=f)` (attrs removed `convert` in 19.2)."""
    import attr

    original = attr.attrib

    def attrib(*args, convert=None, **kwargs):
        if convert is not None:
            kwargs.setdefault("converter", convert)
        return original(*args, **kwargs)

    attr.attrib = attrib
    try:
        yield
    finally:
        attr.attrib = original


def load_ntm_peer(root: Path) -> types.SimpleNamespace:
    """pytorch-ntm's train.py (as `pytorch_ntm_train`: scripts/ has a train.py too) and its
    tasks.copytask."""
    _stub_if_missing("argcomplete")
    with _import_path(root), _attrs_convert_shim():
        train = _module_from_file("pytorch_ntm_train", root / "train.py")
        copytask = importlib.import_module("tasks.copytask")
    return types.SimpleNamespace(train=train, copytask=copytask)


def load_dnc_peer(root: Path) -> types.SimpleNamespace:
    """pytorch-dnc's `dnc` package and its tasks/copy_task.py (as `pytorch_dnc_copy_task`)."""
    _stub_if_missing("visdom")
    with _import_path(root):
        dnc = importlib.import_module("dnc")
        copy_task = _module_from_file("pytorch_dnc_copy_task", root / "tasks" / "copy_task.py")
    return types.SimpleNamespace(dnc=dnc, copy_task=copy_task)


# -- the peers' iterations -----------------------------------------------------------------------


def ntm_peer_steps(
    peer: types.SimpleNamespace, config: TrainConfig, schedule: Schedule
) -> dict[str, Callable[[int], None]]:
    """{implementation: step(k)}: pytorch-ntm's copy-task training iteration on a batch of our
    batch k's length."""
    train, copytask = peer.train, peer.copytask
    params = train.attr.evolve(copytask.CopyTaskParams(), batch_size=config.batch_size)
    sizes, task = config.circuit_kwargs, config.env_kwargs
    ours = (sizes["controller_size"], sizes["memory_size"], sizes["word_size"], sizes["num_reads"])
    ours += (task["bits"], task["min_length"], task["max_length"])
    theirs = (params.controller_size, params.memory_n, params.memory_m, params.num_heads)
    theirs += (params.sequence_width, params.sequence_min_len, params.sequence_max_len)
    if ours != theirs or sizes.get("num_writes", 1) != 1 or params.controller_layers != 1:
        raise ValueError(f"{NTM_PEER}'s copy-task sizes {theirs} are not ours {ours}")
    train.init_seed(train.RANDOM_SEED)
    model = copytask.CopyTaskModelTraining(params=params)

    def step(k: int) -> None:
        length = schedule.length(k)
        batches = copytask.dataloader(1, params.batch_size, params.sequence_width, length, length)
        _, inputs, targets = next(batches)
        train.train_batch(model.net, model.criterion, model.optimizer, inputs, targets)

    return {NTM_PEER: step}


def _outputs_time_first(rnn: torch.nn.Module, input_size: int) -> bool:
    """Whether `rnn` (built batch_first) returns (T, B, O): a probe with B = 2, T = 3."""
    with torch.no_grad():
        outputs, _ = rnn(torch.zeros(2, 3, input_size), (None, None, None), reset_experience=True)
    return outputs.shape[:2] == (3, 2)


def dnc_peer_steps(
    peer: types.SimpleNamespace, config: TrainConfig, schedule: Schedule
) -> dict[str, Callable[[int], None]]:
    """{implementation: step(k)}: pytorch-dnc's DNC trained as its copy_task.py loop, with ten
    interface layers (what copy_task.py builds) and with one (the class default)."""
    copy_task = peer.copy_task
    sizes = config.circuit_kwargs
    input_size, output_size = env_sizes(schedule.envs)
    batch_size = config.batch_size

    def batch(k: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(inputs (B, T, I), targets (B, T, I))."""
        if config.env_id == COPY_ENV:
            return copy_task.generate_data(batch_size, schedule.length(k), input_size, CPU)
        data = schedule.batch(k)
        padding = ((0, 0), (0, 0), (0, input_size - output_size))
        targets = np.pad(data.targets, padding).astype(np.float32)
        return torch.from_numpy(data.inputs.astype(np.float32)), torch.from_numpy(targets)

    steps = {}
    for independent in (True, False):
        torch.manual_seed(config.seed)
        rnn = peer.dnc.DNC(
            input_size=input_size,
            hidden_size=sizes["controller_size"],
            rnn_type="lstm",
            num_layers=1,
            num_hidden_layers=DNC_PEER_CONTROLLER_LAYERS,
            dropout=0,
            nr_cells=sizes["memory_size"],
            cell_size=sizes["word_size"],
            read_heads=sizes["num_reads"],
            device=CPU,
            debug=False,
            batch_first=True,
            independent_linears=independent,
        )
        optimizer = torch.optim.Adam(rnn.parameters(), **DNC_PEER_ADAM)
        time_first = _outputs_time_first(rnn, input_size)

        def step(k: int, rnn=rnn, optimizer=optimizer, time_first=time_first) -> None:
            optimizer.zero_grad()
            inputs, targets = batch(k)
            output, _ = rnn(inputs, (None, None, None), reset_experience=True)
            if time_first:
                output = output.transpose(0, 1)
            loss = copy_task.criterion(output, targets)
            loss.backward()
            copy_task.clip_grad_norm_(rnn.parameters(), DNC_PEER_CLIP)
            optimizer.step()
            loss.item()

        layers = "ten interface layers (copy_task.py)" if independent else "one interface layer"
        steps[f"{DNC_PEER}, {layers}"] = step
    return steps


PEER_LOADERS = {NTM_PEER: load_ntm_peer, DNC_PEER: load_dnc_peer}
PEER_STEPS = {NTM_PEER: ntm_peer_steps, DNC_PEER: dnc_peer_steps}


# -- one work and batch size ---------------------------------------------------------------------


@dataclass
class Measurement:
    work: str  # the work's title
    batch_size: int
    steps: float  # mean T of the timed batches
    rows: list[ItemRow]
    comparisons: list[Comparison]
    unavailable: dict[str, str]  # peer -> why it has no figure


def measure(
    name: str,
    batch_size: int,
    peers: dict[str, types.SimpleNamespace | str],
    threads: list[int],
    rounds: int,
    warmup: int,
) -> Measurement:
    """Time ours and the peers of work `name` at `batch_size`, each at every thread count, in
    interleaved rounds. `peers` maps a peer to its loaded modules, or to why it did not load."""
    work = bench.WORKS[name]
    config = work.config(batch_size)
    schedule = Schedule(config, our_agent(config))
    steps: dict[Item, Callable[[int], None]] = {}
    for count in threads:
        steps[Item(OURS, count, peer=False)] = our_step(our_agent(config))
    unavailable: dict[str, str] = {}
    for peer in WORK_PEERS[name]:
        loaded = peers[peer]
        if isinstance(loaded, str):
            unavailable[peer] = loaded
            continue
        peer_steps: dict[Item, Callable[[int], None]] = {}
        try:
            for count in threads:
                with _threads(count):
                    built = PEER_STEPS[peer](loaded, config, schedule)
                    for step in built.values():
                        step(0)  # a probe: can it run one iteration here at all?
                for implementation, step in built.items():
                    peer_steps[Item(implementation, count, peer=True)] = step
        except Exception as error:  # a peer that cannot run here has no figure, and says why
            unavailable[peer] = f"{type(error).__name__}: {error}"
            continue
        steps.update(peer_steps)
    items = list(steps)
    previous = torch.get_num_threads()
    try:
        run = {item.label: counted(steps[item], item.threads) for item in items}
        times = bench.time_rounds(run, rounds, warmup, CPU)
    finally:
        torch.set_num_threads(previous)
    rows = item_rows(times, items, batch_size)
    mean_steps = float(np.mean([schedule.steps(k) for k in range(warmup, warmup + rounds)]))
    return Measurement(work.title, batch_size, mean_steps, rows, compare(times, rows), unavailable)


@contextlib.contextmanager
def _threads(count: int) -> Iterator[None]:
    previous = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


# -- tables --------------------------------------------------------------------------------------


def items_table(measurements: list[Measurement]) -> str:
    lines = [
        "| work | batch | T | implementation | threads | ms / iteration | sequences/s |",
        "| --- | ---: | ---: | --- | ---: | ---: | ---: |",
    ]
    for measurement in measurements:
        for row in measurement.rows:
            bold = "**" if row.best else ""
            lines.append(
                f"| {measurement.work} | {measurement.batch_size} | {measurement.steps:.1f} "
                f"| {row.item.implementation} | {bold}{row.item.threads}{bold} "
                f"| {bold}{row.ms_per_iteration:.2f}{bold} "
                f"| {bold}{row.sequences_per_second:,.0f}{bold} |"
            )
    return "\n".join(lines)


def comparison_table(measurements: list[Measurement]) -> str:
    lines = [
        "| work | batch | T | ours: sequences/s (threads) | peer: sequences/s (threads) "
        "| ours x peer |",
        "| --- | ---: | ---: | ---: | --- | ---: |",
    ]
    for measurement in measurements:
        head = f"| {measurement.work} | {measurement.batch_size} | {measurement.steps:.1f} "
        for comparison in measurement.comparisons:
            ours, peer = comparison.ours, comparison.peer
            ratio = f"{comparison.speedup:.2f}x"
            if comparison.fastest:
                ratio = f"**{ratio}** (fastest peer)"
            lines.append(
                f"{head}| {ours.sequences_per_second:,.0f} ({ours.item.threads}) "
                f"| {peer.item.implementation}: {peer.sequences_per_second:,.0f} "
                f"({peer.item.threads}) | {ratio} |"
            )
        for peer, why in measurement.unavailable.items():
            lines.append(f"{head}| | {peer}: cannot run here ({why}) | no figure |")
    return "\n".join(lines)


# -- main ----------------------------------------------------------------------------------------


def _peer_version(root: Path) -> str:
    """The peer's commit where `root` is a git checkout; an exported tree does not record it."""
    if not (root / ".git").exists():
        return f"{root} (an exported tree: its commit is not recorded there)"
    try:
        commit = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True
        ).stdout.strip()
    except OSError:
        commit = ""
    return f"{root} at {commit or 'an unknown commit'}"


def _load_average() -> str:
    """The machine's 1, 5 and 15 minute load averages: other work distorts the figures."""
    try:
        return " / ".join(f"{value:.2f}" for value in os.getloadavg())
    except OSError:
        return "unknown"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--peers-dir", default=None, help="holds pytorch-ntm/ and pytorch-dnc/")
    parser.add_argument("--works", nargs="+", default=list(DEFAULT_WORKS), choices=DEFAULT_WORKS)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 16, 64])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="torch threads")
    parser.add_argument("--markdown", default=None, help="also write the tables to this file")
    args = parser.parse_args(argv)
    if args.peers_dir is None:
        parser.exit(2, f"{parser.prog}: error: --peers-dir is required (the peers' sources)\n")
    peers_dir = Path(args.peers_dir)
    if not peers_dir.is_dir():
        parser.exit(2, f"{parser.prog}: error: --peers-dir {peers_dir} is not a folder\n")
    for peer in sorted({peer for name in args.works for peer in WORK_PEERS[name]}):
        folder = peers_dir / PEER_FOLDERS[peer]
        if not folder.is_dir():
            parser.exit(2, f"{parser.prog}: error: {peer} is not at {folder} (no such folder)\n")
    if min(args.batch_sizes) < 1 or min(args.threads) < 1 or args.rounds < 1 or args.warmup < 0:
        parser.exit(2, f"{parser.prog}: error: batch sizes, threads and rounds must be >= 1\n")
    args.peers_dir = peers_dir
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    peers: dict[str, types.SimpleNamespace | str] = {}
    for peer in sorted({peer for name in args.works for peer in WORK_PEERS[name]}):
        try:
            peers[peer] = PEER_LOADERS[peer](args.peers_dir / PEER_FOLDERS[peer])
        except Exception as error:  # reported in the table, no figure
            peers[peer] = f"cannot be imported: {type(error).__name__}: {error}"
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    openmp = "with OpenMP" if kernel_build.openmp() else "WITHOUT OpenMP (serial)"
    setting = (
        f"{bench.describe_machine(threads=False)}; our kernels built {openmp}; torch threads "
        f"{' '.join(map(str, args.threads))}; {args.rounds} rounds after {args.warmup} warm-up; "
        f"{started}; load average {_load_average()} at the start"
    )
    print(setting, flush=True)
    for peer, loaded in peers.items():
        where = args.peers_dir / PEER_FOLDERS[peer]
        state = loaded if isinstance(loaded, str) else "loaded"
        print(f"  {peer}: {_peer_version(where)}, {state}", flush=True)
    measurements = []
    for batch_size in args.batch_sizes:
        for name in args.works:
            measurement = measure(name, batch_size, peers, args.threads, args.rounds, args.warmup)
            measurements.append(measurement)
            print(items_table([measurement]).split("\n", 2)[2], flush=True)
            print(comparison_table([measurement]).split("\n", 2)[2], flush=True)
    argv = " ".join(sys.argv[1:] if argv is None else argv)
    text = "\n".join(
        [
            f"`python scripts/bench_peers.py {argv}`",
            f"({setting}):",
            "",
            items_table(measurements),
            "",
            "Ours against each peer, each at its best thread count (bold above):",
            "",
            comparison_table(measurements),
            "",
            "Items: full training iterations (data, forward, backward, clipping, optimizer "
            "step), ours `SupervisedAgent.train_step()`, the peers' as their training loops run "
            "them (scripts/bench_peers.py's docstring). Every item of a round trains on a batch "
            "of the same length. Rates: batch / median time; bold: the implementation's best "
            "thread count. ours x peer: the median over rounds of the peer's time / ours, both "
            "at their best thread count, timed in the same round. T: mean steps per batch.",
        ]
    )
    text += f"\n\nLoad average at the end: {_load_average()} (1, 5, 15 minutes)."
    print()
    print(text)
    if args.markdown:
        with open(args.markdown, "w") as handle:
            handle.write(text + "\n")


if __name__ == "__main__":
    main()
