"""Benchmark training throughput: full training iterations, what `scripts/train.py` runs.

For each work (a training preset) and batch size, one process times these items in interleaved
rounds (one iteration of each per round, the order rotating), so that a change of machine load
weighs on all of them alike:

  train_step                 the headline: `SupervisedAgent.train_step()` as training runs it:
                             the batch from the task's sampler, unroll, loss, backward, gradient
                             clipping, optimizer step (the preset's optimizer and settings)
  train_step, env rollout    the same through the env step by step (`rollout`, the path before
                             the sampled batch; still the path for third-party envs)
  train_step, torch ops      the headline with the access step on torch ops (CPU: no C kernel)
  train_step, step by step   the headline without the fused sequence (`fused_unroll = False`):
                             the circuit's step T times under autograd, the C kernel per step
  train_step, compile_step() with `--compile`: the circuit's compiled step
  train_step, N torch threads  with `--compare-threads N`: the headline with N intra-op threads
                             (the fused kernels thread their batch loop from THREADED_MIN_BATCH
                             sequences: memagents.kernels.build)
  unroll + backward          breakdown: the circuit's unroll, loss and backward on the same
                             batches, no data drawing, no clipping, no optimizer
  access step + backward     breakdown: the access module alone (interface layer + memory step,
                             the fused C kernel on CPU), T steps forward and backward
  LSTMCell(C) loop, train_step  the floor: a bare LSTMCell of the controller's size stepped in
                             Python + output layer, trained by the same SupervisedAgent on the
                             same batches with the same optimizer

Every train_step item uses the same config and seed, so round k trains every model on the same
batch (batch k of the run). Rates are batch / median seconds; ratios ("x headline", "x floor")
are medians of per-round ratios, i.e. each ratio compares two items timed in the same round.

Peers: their figures are full training steps (their data, forward, backward, optimizer) measured
with the torch thread count at which each is fastest (1 on this 2-core machine), in the
side-by-side run of issue 14 (`PEER_MEASUREMENT`); they are printed as measured, not scaled, so a
ratio to a peer is only as good as the machine's load is alike: re-measure on a quiet machine.

    python scripts/bench_circuits.py                          # batches 1, 16, 64; 30 rounds
    python scripts/bench_circuits.py --quick                  # 5 rounds
    python scripts/bench_circuits.py --works ntm-copy --batch-sizes 16 --rounds 50
    python scripts/bench_circuits.py --markdown throughput.md # also write the README table
    python scripts/bench_circuits.py --thread-scaling         # 1 against 2 threads, batch 16, 64

`--thread-scaling [N]` prints only the scaling table: the headline train_step of the NTM copy and
the DNC repeat-copy (or --works) at batches 16 and 64 (or --batch-sizes) with 1 torch thread and
with N (2), and, as the contrast that shows what the kernels' own threading adds, with N torch
threads but the kernels' threading flipped: on 1 thread where the batch reaches
THREADED_MIN_BATCH, on N below it. Speed-ups are medians of same-round time ratios.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from memagents.agent import (
    SupervisedAgent,
    batch_seed,
    env_sizes,
    make_envs,
    sequence_loss_bits,
)
from memagents.circuits import build_circuit
from memagents.config import PRESETS, TrainConfig
from memagents.kernels import build as kernel_build

PEER_MEASUREMENT = (
    "measured by the authors of issue 14 in one interleaved run beside this project on its 2-core "
    "AMD EPYC CPU machine (the one these figures come from), 1 torch thread for every peer (each "
    "is fastest with 1 on 2 cores), batch as in the row; the issue was filed after 2026-11-26 "
    "(the last commit it cites)"
)


@dataclass(frozen=True)
class Peer:
    """A peer's measured training throughput (sequences/s) for one work and batch size."""

    repo: str
    rate: float


@dataclass(frozen=True)
class Work:
    """A training preset to time, with the peers' figures for it by batch size."""

    title: str
    preset: str
    peers: dict[int, Peer] = field(default_factory=dict)
    circuit_kwargs: dict = field(default_factory=dict)  # over the preset's

    def config(self, batch_size: int) -> TrainConfig:
        config = PRESETS[self.preset]
        kwargs = {**config.circuit_kwargs, **self.circuit_kwargs}
        return dataclasses.replace(config, batch_size=batch_size, circuit_kwargs=kwargs)


NTM_PEER = "loudinthecloud/pytorch-ntm"
DNC_PEER = "ixaxaar/pytorch-dnc"
WORKS = {
    # The NTM paper's copy task: 8 bits, lengths 1..20 (one per batch: T = 2L + 1, 22 on average),
    # memory 128 x 20, LSTM 100, RMSprop with momentum.
    "ntm-copy": Work(
        "NTM copy",
        "ntm-copy",
        {1: Peer(NTM_PEER, 20.0), 16: Peer(NTM_PEER, 111.0), 64: Peer(NTM_PEER, 116.0)},
    ),
    # The seed's DNC repeat-copy (16 x 16, 4 reads, LSTM 64; mixed lengths, T = 9 for most
    # batches of 16), Adam: `train.py --agent dnc`.
    "dnc-repeat-copy": Work("DNC repeat-copy", "dnc-repeat-copy", {16: Peer(DNC_PEER, 749.0)}),
    # The DNC at the NTM copy sizes (128 x 20, one read head, LSTM 100) on the copy task.
    "dnc-copy": Work("DNC copy (128x20)", "dnc-copy", {16: Peer(DNC_PEER, 90.0)}),
    # Issue 17's multi-head check: the NTM paper's priority-sort NTM (feed-forward 512, 8 read +
    # 8 write heads, memory 128 x 20) against the same circuit with one head of each. Not in the
    # default set (`--works ntm-priority-sort ntm-priority-sort-1x1`).
    "ntm-priority-sort": Work("NTM priority sort (8+8 heads)", "ntm-priority-sort"),
    "ntm-priority-sort-1x1": Work(
        "NTM priority sort (1+1 heads)",
        "ntm-priority-sort",
        circuit_kwargs=dict(num_reads=1, num_writes=1),
    ),
}
DEFAULT_WORKS = ("ntm-copy", "dnc-repeat-copy", "dnc-copy")


class LSTMCellLoop(nn.Module):
    """The floor a per-step circuit cannot beat: an LSTMCell stepped in Python + output layer.

    It has the circuits' `unroll` (and `initial_state`/`forward`), so `SupervisedAgent` trains it.
    """

    def __init__(self, input_size: int, hidden_size: int, output_size: int) -> None:
        super().__init__()
        self.cell = nn.LSTMCell(input_size, hidden_size)
        self.output = nn.Linear(hidden_size, output_size)

    def initial_state(self, batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
        zeros = self.output.weight.new_zeros(batch_size, self.cell.hidden_size)
        return zeros, zeros

    def forward(self, x: torch.Tensor, state: tuple) -> tuple[torch.Tensor, tuple]:
        """x (B, I) -> logits (B, O) and the next (hidden, cell), each (B, C)."""
        hidden, cell = self.cell(x, state)
        return self.output(hidden), (hidden, cell)

    def unroll(self, inputs: torch.Tensor) -> tuple[torch.Tensor, tuple]:
        """inputs (B, T, I) -> logits (B, T, O) and the final (hidden, cell)."""
        B, T, _ = inputs.shape
        state = self.initial_state(B)
        outputs = []
        for t in range(T):
            state = self.cell(inputs[:, t], state)
            outputs.append(state[0])
        return self.output(torch.stack(outputs, 1)), state


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@dataclass
class Items:
    """The timed items of one work and batch size, and what they are checked against."""

    work: Work
    batch_size: int
    run: dict[str, Callable[[], None]]  # label -> one iteration
    agents: dict[str, SupervisedAgent]  # label -> the agent of a train_step item
    steps: list[int]  # T of each batch drawn so far by the headline (one per iteration)
    logged: list[float]  # the ms per sequence each headline train_step returned (train.py logs it)
    headline: str
    floor: str


def make_items(
    work: Work,
    batch_size: int,
    device: torch.device,
    *,
    torch_ops: bool = True,
    rollout: bool = True,
    compiled: bool = False,
    threads: int = 0,
    kernel_contrast: bool = False,
) -> Items:
    """The items of the module docstring for `work` at `batch_size`, each a function of no
    arguments that runs one iteration. All start from the same seed; every call of a train_step
    item draws the agent's next batch, so the n-th call of each sees the same data.

    With `threads` and `kernel_contrast`, one more item: the `threads` one with the kernels'
    threading flipped (`kernel_contrast_label`)."""
    config = work.config(batch_size)

    def agent_for(circuit: nn.Module, envs) -> SupervisedAgent:
        return SupervisedAgent(circuit.to(device), envs, config)

    def new_circuit(envs) -> nn.Module:
        torch.manual_seed(config.seed)
        return build_circuit(config.agent, *env_sizes(envs), **config.circuit_kwargs)

    def new_envs():
        return make_envs(config.env_id, batch_size, config.env_kwargs)

    agents: dict[str, SupervisedAgent] = {}
    headline = "train_step"
    envs = new_envs()
    agents[headline] = agent_for(new_circuit(envs), envs)
    if agents[headline].sampler is None:
        raise ValueError(f"{config.env_id} has no batch sampler: the bench times memtasks envs")
    if rollout:
        envs = new_envs()
        agents["train_step, env rollout"] = agent_for(new_circuit(envs), envs)
        agents["train_step, env rollout"].sampler = None
    circuit = agents[headline].circuit
    if torch_ops and device.type == "cpu" and hasattr(circuit, "access"):
        envs = new_envs()
        on_torch_ops = new_circuit(envs)
        on_torch_ops.access.use_kernel = False
        agents["train_step, torch ops"] = agent_for(on_torch_ops, envs)
        envs = new_envs()
        step_by_step = new_circuit(envs)
        step_by_step.fused_unroll = False
        agents["train_step, step by step"] = agent_for(step_by_step, envs)
    if compiled and hasattr(circuit, "compile_step"):
        envs = new_envs()
        agents["train_step, compile_step()"] = agent_for(new_circuit(envs).compile_step(), envs)
    size = circuit.controller.hidden_size if hasattr(circuit, "controller") else 100
    floor = f"LSTMCell({size}) loop, train_step"
    envs = new_envs()
    input_size, output_size = env_sizes(envs)
    torch.manual_seed(config.seed)
    agents[floor] = agent_for(LSTMCellLoop(input_size, size, output_size), envs)

    sampler = agents[headline].sampler  # before _recording_steps wraps it
    steps: list[int] = []
    logged: list[float] = []
    run: dict[str, Callable[[], None]] = {}
    for label, agent in agents.items():
        run[label] = agent.train_step
    run[headline] = _recording(agents[headline], steps, logged)
    if threads:
        envs = new_envs()
        label = f"train_step, {threads} torch threads"
        agents[label] = agent_for(new_circuit(envs), envs)
        run[label] = _with_threads(agents[label].train_step, threads)
        if kernel_contrast:
            label, min_batch = kernel_contrast_label(batch_size, threads)
            envs = new_envs()
            agents[label] = agent_for(new_circuit(envs), envs)
            run[label] = _with_threads(agents[label].train_step, threads, min_batch)

    # The breakdown: a separate copy of the circuit on the batches the agents draw, in order.
    envs = new_envs()
    breakdown = new_circuit(envs).to(device)
    param = next(breakdown.parameters())

    def batches():
        for index in itertools.count():
            seed = batch_seed(config.seed, index)
            options = agents[headline]._pinned_length(seed) if config.same_length_batches else None
            data = sampler(seed, options)
            yield tuple(
                torch.from_numpy(array).to(device=device, dtype=param.dtype)
                for array in (data.inputs, data.targets, data.mask)
            )

    def unroll_backward(batch) -> None:
        inputs, targets, mask = batch
        logits, _ = breakdown.unroll(inputs)
        loss = sequence_loss_bits(logits, targets, mask).mean()
        breakdown.zero_grad(set_to_none=True)
        loss.backward()

    run["unroll + backward"] = Prepared(unroll_backward, batches().__next__)

    if hasattr(breakdown, "access"):
        access = breakdown.access
        generator = torch.Generator().manual_seed(0)
        access_batches = batches()

        def controller_outputs() -> torch.Tensor:
            """(B, T, C) in [-1, 1] (an LSTM's range), T of the next batch."""
            inputs, _, _ = next(access_batches)
            B, T, _ = inputs.shape
            outputs = torch.rand(B, T, size, generator=generator).mul_(2).sub_(1)
            return outputs.to(device=device, dtype=param.dtype).requires_grad_()

        def access_backward(outputs: torch.Tensor) -> None:
            state = access.initial_state(outputs.shape[0])
            reads = []
            for output_t in outputs.unbind(1):
                read_vectors, state = access(output_t, state)
                reads.append(read_vectors)
            access.zero_grad(set_to_none=True)
            torch.stack(reads, 1).square().sum().backward()

        run["access step + backward"] = Prepared(access_backward, controller_outputs)
    return Items(work, batch_size, run, agents, steps, logged, headline, floor)


def _recording(agent: SupervisedAgent, steps: list[int], logged: list[float]):
    """agent.train_step, noting each batch's T (the sampler's padded length) and the ms per
    sequence the step returns."""
    sampler = agent.sampler

    def sample(seed, options=None):
        data = sampler(seed, options)
        steps.append(int(data.inputs.shape[1]))
        return data

    def train_step() -> None:
        logged.append(agent.train_step()[1])

    agent.sampler = sample
    return train_step


def kernel_contrast_label(batch_size: int, threads: int) -> tuple[str, int]:
    """The label of the `threads` item with the kernels' threading flipped, and the kernels'
    THREADED_MIN_BATCH that flips it: on 1 thread from THREADED_MIN_BATCH sequences up, on
    `threads` below."""
    if batch_size >= kernel_build.THREADED_MIN_BATCH:
        return f"train_step, {threads} torch threads, kernels on 1 thread", sys.maxsize
    return f"train_step, {threads} torch threads, kernels on {threads} threads", 1


def _with_threads(
    iteration: Callable[[], Any], threads: int, kernel_min_batch: int | None = None
) -> Callable[[], None]:
    """`iteration` run with `threads` torch threads (the previous count restored after), and
    with the kernels' THREADED_MIN_BATCH set to `kernel_min_batch` if given."""

    def run() -> None:
        previous = torch.get_num_threads(), kernel_build.THREADED_MIN_BATCH
        torch.set_num_threads(threads)
        if kernel_min_batch is not None:
            kernel_build.THREADED_MIN_BATCH = kernel_min_batch
        try:
            iteration()
        finally:
            torch.set_num_threads(previous[0])
            kernel_build.THREADED_MIN_BATCH = previous[1]

    return run


class Prepared:
    """An iteration whose input is made before the clock starts: `prepare()`, then `()`."""

    def __init__(self, iteration: Callable[[Any], None], make: Callable[[], Any]) -> None:
        self.iteration, self.make = iteration, make
        self.input: Any = None

    def prepare(self) -> None:
        self.input = self.make()

    def __call__(self) -> None:
        self.iteration(self.input)


def time_rounds(
    run: dict[str, Callable[[], None]], rounds: int, warmup: int, device: torch.device
) -> dict[str, list[float]]:
    """Seconds of each item in each of `rounds` rounds (one iteration of each per round, the
    order rotating from round to round), after `warmup` untimed rounds."""
    labels = list(run)
    times: dict[str, list[float]] = {label: [] for label in labels}
    for index in range(warmup + rounds):
        shift = index % len(labels)
        for label in labels[shift:] + labels[:shift]:
            iteration = run[label]
            if isinstance(iteration, Prepared):
                iteration.prepare()
            synchronize(device)
            start = time.perf_counter()
            iteration()
            synchronize(device)
            if index >= warmup:
                times[label].append(time.perf_counter() - start)
    return times


@dataclass(frozen=True)
class Row:
    """One item's figures: medians over rounds; ratios are medians of same-round ratios."""

    work: str
    batch_size: int
    label: str
    ms_per_iteration: float
    sequences_per_second: float
    versus_headline: float | None  # this item's time / the headline's, same round
    versus_floor: float | None  # this item's time / the floor's, same round
    peer: Peer | None = None  # the headline row only

    @property
    def versus_peer(self) -> float | None:
        return None if self.peer is None else self.sequences_per_second / self.peer.rate


def same_round_ratio(times: dict[str, list[float]], label: str, other: str) -> float:
    """Median over rounds of times[label][k] / times[other][k]."""
    ratios = [a / b for a, b in zip(times[label], times[other], strict=True)]
    return statistics.median(ratios)


def summarise(
    times: dict[str, list[float]],
    work: Work,
    batch_size: int,
    headline: str,
    floor: str,
    peer: Peer | None = None,
) -> list[Row]:
    """The rows of one work and batch size from `time_rounds`' per-round seconds."""
    rounds = {len(values) for values in times.values()}
    if len(rounds) != 1:
        raise ValueError(f"every item needs the same number of rounds, got {sorted(rounds)}")
    rows = []
    for label, values in times.items():
        seconds = statistics.median(values)
        rows.append(
            Row(
                work=work.title,
                batch_size=batch_size,
                label=label,
                ms_per_iteration=1e3 * seconds,
                sequences_per_second=batch_size / seconds,
                versus_headline=None
                if label == headline
                else same_round_ratio(times, label, headline),
                versus_floor=None if label == floor else same_round_ratio(times, label, floor),
                peer=peer if label == headline else None,
            )
        )
    return rows


def measure(
    work: Work,
    batch_size: int,
    device: torch.device,
    rounds: int,
    warmup: int,
    **item_options: bool,
) -> tuple[list[Row], float, float]:
    """The rows of one work and batch size, the mean T of the headline's timed batches and the
    median ms per sequence its train_step calls returned (what a training run logs)."""
    items = make_items(work, batch_size, device, **item_options)
    times = time_rounds(items.run, rounds, warmup, device)
    peer = work.peers.get(batch_size) if device.type == "cpu" else None
    rows = summarise(times, work, batch_size, items.headline, items.floor, peer)
    timed = slice(warmup, warmup + rounds)
    return rows, float(np.mean(items.steps[timed])), statistics.median(items.logged[timed])


def _ratio(value: float | None, digits: int = 2) -> str:
    return "" if value is None else f"{value:.{digits}f}x"


def table(rows: list[Row], steps: dict[tuple[str, int], float]) -> str:
    lines = [
        "| work | batch | T | item | ms / iteration | sequences/s | x headline time "
        "| x floor time | vs peer (peer's sequences/s) |",
        "| --- | ---: | ---: | --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for row in rows:
        versus_peer = (
            f"{row.versus_peer:.1f}x ({row.peer.rate:g}, {row.peer.repo})" if row.peer else ""
        )
        label = f"**{row.label}**" if row.versus_headline is None else row.label
        lines.append(
            f"| {row.work} | {row.batch_size} | {steps[row.work, row.batch_size]:.1f} | {label} "
            f"| {row.ms_per_iteration:.2f} | {row.sequences_per_second:,.0f} "
            f"| {_ratio(row.versus_headline)} | {_ratio(row.versus_floor)} | {versus_peer} |"
        )
    return "\n".join(lines)


SCALING_WORKS = ("ntm-copy", "dnc-repeat-copy")
SCALING_BATCH_SIZES = (16, 64)


@dataclass(frozen=True)
class ScalingRow:
    """One item of the thread-scaling table: medians over rounds."""

    work: str
    batch_size: int
    steps: float  # mean T of the timed batches
    label: str
    ms_per_iteration: float
    sequences_per_second: float
    speedup: float | None  # the 1-thread item's time / this item's, same round; None: that item
    default: bool  # the kernels thread as they do by default (not the contrast item)


def measure_scaling(
    work: Work, batch_size: int, device: torch.device, rounds: int, warmup: int, threads: int
) -> list[ScalingRow]:
    """The headline train_step of `work` at `batch_size` with 1 torch thread, with `threads`,
    and with `threads` but the kernels' threading flipped (`kernel_contrast_label`), timed in
    interleaved rounds."""
    items = make_items(
        work, batch_size, device, torch_ops=False, rollout=False, threads=threads,
        kernel_contrast=True,
    )  # fmt: skip
    one, many = "train_step, 1 torch thread", f"train_step, {threads} torch threads"
    contrast, _ = kernel_contrast_label(batch_size, threads)
    run = {
        one: _with_threads(items.run[items.headline], 1),
        many: items.run[many],
        contrast: items.run[contrast],
    }
    times = time_rounds(run, rounds, warmup, device)
    steps = float(np.mean(items.steps[warmup : warmup + rounds]))
    rows = []
    for label, values in times.items():
        seconds = statistics.median(values)
        rows.append(
            ScalingRow(
                work=work.title,
                batch_size=batch_size,
                steps=steps,
                label=label,
                ms_per_iteration=1e3 * seconds,
                sequences_per_second=batch_size / seconds,
                speedup=None if label == one else same_round_ratio(times, one, label),
                default=label != contrast,
            )
        )
    return rows


def scaling_table(rows: list[ScalingRow]) -> str:
    lines = [
        "| work | batch | T | item | ms / iteration | sequences/s | speed-up over 1 thread |",
        "| --- | ---: | ---: | --- | ---: | ---: | ---: |",
    ]
    for row in rows:
        label = row.label if row.default else f"({row.label})"
        speedup = "" if row.speedup is None else f"{row.speedup:.2f}x"
        if row.speedup is not None and row.default:
            speedup = f"**{speedup}**"
        lines.append(
            f"| {row.work} | {row.batch_size} | {row.steps:.1f} | {label} "
            f"| {row.ms_per_iteration:.2f} | {row.sequences_per_second:,.0f} | {speedup} |"
        )
    return "\n".join(lines)


def run_thread_scaling(args: argparse.Namespace, rounds: int, warmup: int) -> str:
    """The --thread-scaling run: prints each work's rows as they come; returns the markdown."""
    device = torch.device(args.device)
    threads = args.thread_scaling
    works = args.works or list(SCALING_WORKS)
    batch_sizes = args.batch_sizes or list(SCALING_BATCH_SIZES)
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    openmp = "with OpenMP" if kernel_build.openmp() else "WITHOUT OpenMP (serial)"
    setting = (
        f"{describe_machine(threads=False)}; kernels built {openmp}, threaded from "
        f"THREADED_MIN_BATCH = {kernel_build.THREADED_MIN_BATCH} sequences; {rounds} rounds "
        f"after {warmup} warm-up, {started}"
    )
    print(setting, flush=True)
    rows: list[ScalingRow] = []
    for batch_size in batch_sizes:
        for name in works:
            work_rows = measure_scaling(WORKS[name], batch_size, device, rounds, warmup, threads)
            rows.extend(work_rows)
            print(scaling_table(work_rows).split("\n", 2)[2], flush=True)
    return "\n".join(
        [
            f"`python scripts/bench_circuits.py {' '.join(_argv_for_readme(args))}`",
            f"({setting}):",
            "",
            scaling_table(rows),
            "",
            f"Items: the headline train_step (one training iteration as `scripts/train.py` runs "
            f"it) with 1 and with {threads} torch threads (`--num-threads`); in parentheses the "
            f"contrast, {threads} torch threads with the fused kernels' own threading flipped "
            "(on 1 thread from THREADED_MIN_BATCH up, on all below), which shows what the "
            "kernels' threading adds. Speed-up: the 1-thread time over the item's, the median "
            "of same-round ratios; in bold, the default behaviour's. T: mean steps per batch.",
        ]
    )


def describe_machine(threads: bool = True) -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as handle:
            names = [line.split(":", 1)[1].strip() for line in handle if "model name" in line]
        cpu = f"{names[0]} x {len(names)}" if names else cpu
    except OSError:
        pass
    if not threads:
        return f"{cpu}, torch {torch.__version__}"
    return f"{cpu}, torch {torch.__version__}, {torch.get_num_threads()} torch thread(s)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (0: the default)")
    parser.add_argument(
        "--works",
        nargs="*",
        default=None,
        choices=list(WORKS),
        help=f"default: {' '.join(DEFAULT_WORKS)}",
    )
    parser.add_argument("--batch-sizes", type=int, nargs="*", default=None, help="default: 1 16 64")
    parser.add_argument("--rounds", "--repeats", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="5 rounds, 1 warm-up")
    parser.add_argument("--no-rollout", action="store_true", help="skip the env-rollout rows")
    parser.add_argument("--no-torch-ops", action="store_true", help="skip the torch-ops rows")
    parser.add_argument(
        "--compile", action="store_true", help="also time compile_step() (compiles ~1 min each)"
    )
    parser.add_argument(
        "--compare-threads",
        type=int,
        default=0,
        help="also time train_step with this many torch threads (the scaling row)",
    )
    parser.add_argument(
        "--thread-scaling",
        type=int,
        nargs="?",
        const=2,
        default=0,
        metavar="N",
        help="only the thread-scaling table: train_step with 1 and N (2) torch threads, NTM copy "
        "and DNC repeat-copy (or --works) at batches 16 and 64 (or --batch-sizes)",
    )
    parser.add_argument("--markdown", default=None, help="also write the table to this file")
    args = parser.parse_args()
    for batch_size in args.batch_sizes or ():
        if batch_size < 1:
            raise ValueError(f"batch sizes must be >= 1, got {batch_size}")
    if args.threads:
        torch.set_num_threads(args.threads)
    rounds, warmup = (5, 1) if args.quick else (args.rounds, args.warmup)
    if args.thread_scaling:
        if args.thread_scaling < 2:
            raise ValueError(
                f"--thread-scaling compares 1 thread with N >= 2, got {args.thread_scaling}"
            )
        text = run_thread_scaling(args, rounds, warmup)
        print()
        print(text)
        if args.markdown:
            with open(args.markdown, "w") as handle:
                handle.write(text + "\n")
        return
    args.works = args.works or list(DEFAULT_WORKS)
    args.batch_sizes = args.batch_sizes or [1, 16, 64]
    device = torch.device(args.device)

    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    print(f"{describe_machine()}, {rounds} rounds after {warmup} warm-up, {started}", flush=True)
    rows: list[Row] = []
    steps: dict[tuple[str, int], float] = {}
    for batch_size in args.batch_sizes:
        for name in args.works:
            work = WORKS[name]
            work_rows, mean_steps, logged_ms = measure(
                work,
                batch_size,
                device,
                rounds,
                warmup,
                torch_ops=not args.no_torch_ops,
                rollout=not args.no_rollout,
                compiled=args.compile,
                threads=args.compare_threads,
            )
            steps[work.title, batch_size] = mean_steps
            rows.extend(work_rows)
            print(table(work_rows, steps).split("\n", 2)[2], flush=True)
            headline = next(row for row in work_rows if row.versus_headline is None)
            bench_ms = headline.ms_per_iteration / batch_size
            print(
                f"  {work.title}, batch {batch_size}: train_step returned {logged_ms:.3f} ms per "
                f"sequence (what train.py logs), the bench's headline {bench_ms:.3f}",
                flush=True,
            )
    text = "\n".join(
        [
            f"`python scripts/bench_circuits.py {' '.join(_argv_for_readme(args))}`".replace(
                "  ", " "
            ).replace(" `", "`"),
            f"({describe_machine()}; {rounds} rounds, {started}):",
            "",
            table(rows, steps),
            "",
            "Items: **train_step** is one training iteration as `scripts/train.py` runs it "
            "(sampled batch, unroll, loss, backward, gradient clipping, optimizer step); "
            '"env rollout" the same through the env step by step; "torch ops" without the C '
            'kernels; "step by step" without the fused sequence (the circuit\'s step under '
            'autograd, T times); "unroll + backward" and "access step + backward" the breakdown '
            "(no data, no optimizer); the LSTMCell loop is the floor, trained by the same agent on "
            "the same batches with the same optimizer. Time ratios are medians of same-round "
            "ratios. T: mean steps per batch.",
            "",
            f"Peers' figures: full training steps, {PEER_MEASUREMENT}. They are not scaled to "
            "this run's machine speed: compare on a quiet machine.",
        ]
    )
    print()
    print(text)
    if args.markdown:
        with open(args.markdown, "w") as handle:
            handle.write(text + "\n")


def _argv_for_readme(args: argparse.Namespace) -> list[str]:
    argv = []
    if args.quick:
        argv.append("--quick")
    elif args.rounds != 30:
        argv += ["--rounds", str(args.rounds)]
    if args.thread_scaling:
        argv.append(
            "--thread-scaling" + ("" if args.thread_scaling == 2 else f" {args.thread_scaling}")
        )
    if args.thread_scaling:
        batch_sizes, works = list(SCALING_BATCH_SIZES), list(SCALING_WORKS)
    else:
        batch_sizes, works = [1, 16, 64], list(DEFAULT_WORKS)
    if args.batch_sizes and args.batch_sizes != batch_sizes:
        argv += ["--batch-sizes", *map(str, args.batch_sizes)]
    if args.works and args.works != works:
        argv += ["--works", *args.works]
    if args.compile:
        argv.append("--compile")
    if args.compare_threads:
        argv += ["--compare-threads", str(args.compare_threads)]
    if args.no_rollout:
        argv.append("--no-rollout")
    if args.no_torch_ops:
        argv.append("--no-torch-ops")
    return argv


if __name__ == "__main__":
    main()
