"""Circuits: NTM, DNC and a plain LSTM baseline behind one interface (docs/INTERFACES.md).

    circuit = build_circuit("ntm", input_size=9, output_size=8)
    state = circuit.initial_state(batch_size)          # immutable NamedTuple
    logits, state = circuit(x_t, state)                 # (B, I) -> (B, O), pre-sigmoid, +-20
    logits, state = circuit.unroll(inputs)              # (B, T, I) -> (B, T, O)

A memory circuit is controller -> access -> output layer. The controller sees [x_t, r_{t-1}]; the
access module turns the controller output into head parameters and returns r_t; the output layer
sees [controller output, r_t]. `unroll` does the same maths as repeated `forward` calls but projects
the inputs of all T steps before the loop and applies the output layer to all T steps after it,
which removes two matmuls (and their backward) from every step. On the CPU with the access
step's C kernel, the loop itself is one autograd node (`memagents.kernels.unroll`: the fused
sequence, no graph per step); `circuit.fused_unroll = False` runs the step-by-step graph instead
(same maths; the only path that supports a second backward).

Shapes follow the legend in `memagents.addressing`.
"""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from memagents.access import DNCAccess, DNCAccessState, NTMAccess, NTMAccessState
from memagents.config import CIRCUIT_CONFIGS, DNCConfig, LSTMConfig, NTMConfig, circuit_config
from memagents.controllers import (
    FeedforwardController,
    FeedforwardState,
    LSTMController,
    LSTMState,
    build_controller,
)
from memagents.kernels.unroll import unroll as fused_unroll

__all__ = [
    "CIRCUITS",
    "DNC",
    "LSTM",
    "NTM",
    "LSTMBaselineState",
    "MemoryCircuitState",
    "build_circuit",
]


class MemoryCircuitState(NamedTuple):
    """controller: LSTMState or FeedforwardState; access: NTMAccessState or DNCAccessState."""

    controller: LSTMState | FeedforwardState
    access: NTMAccessState | DNCAccessState


def _count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


class _MemoryCircuit(nn.Module):
    """Controller + access + output layer; subclasses build the access module."""

    name = ""
    fused_unroll = True  # unroll through memagents.kernels.unroll where it applies

    def __init__(
        self,
        input_size: int,
        output_size: int,
        access: NTMAccess | DNCAccess,
        controller: str,
        controller_size: int,
        clip_value: float,
    ) -> None:
        super().__init__()
        self.input_size = input_size
        self.output_size = output_size
        self.clip_value = clip_value
        self.controller = build_controller(
            controller, input_size, access.reads_size, controller_size
        )
        self.access = access
        self.output = nn.Linear(controller_size + access.reads_size, output_size)

    # -- interface ---------------------------------------------------------------------------------

    def initial_state(self, batch_size: int, memory_size: int | None = None) -> MemoryCircuitState:
        """The state before the first step, on the module's device and dtype; ``memory_size``:
        a smaller memory than the circuit's (an NTM's; see ``NTMAccess.initial_state``)."""
        access = (
            self.access.initial_state(batch_size)
            if memory_size is None
            else self.access.initial_state(batch_size, memory_size)
        )
        return MemoryCircuitState(self.controller.initial_state(batch_size), access)

    def forward(self, x: Tensor, state: MemoryCircuitState) -> tuple[Tensor, MemoryCircuitState]:
        """One step: x (B, I) -> logits (B, O) clipped to +-clip_value, and the next state."""
        output, reads, state = self._step(self.controller.project_inputs(x), state)
        logits = self.output(torch.cat([output, reads.flatten(1)], -1))
        return logits.clamp(-self.clip_value, self.clip_value), state

    def unroll(
        self, inputs: Tensor, state: MemoryCircuitState | None = None
    ) -> tuple[Tensor, MemoryCircuitState]:
        """Whole sequence: inputs (B, T, I) -> logits (B, T, O) and the final state."""
        B, T, _ = inputs.shape
        if state is None:
            state = self.initial_state(B)
        projected = self.controller.project_inputs(inputs)  # (B, T, 4C or C)
        if self._unrolls_fused(projected, state):
            output_seq, read_seq, state = fused_unroll(self, projected, state)
        else:
            outputs, reads = [], []
            for projected_t in projected.unbind(1):
                output, read_vectors, state = self._step(projected_t, state)
                outputs.append(output)
                reads.append(read_vectors)
            output_seq, read_seq = torch.stack(outputs, 1), torch.stack(reads, 1)
        features = torch.cat([output_seq, read_seq.flatten(2)], -1)
        logits = self.output(features)  # (B, T, O)
        return logits.clamp(-self.clip_value, self.clip_value), state

    def config(self) -> dict[str, Any]:
        """The circuit's typed config as a dict: ``build_circuit(name, I, O, **config())``."""
        return dataclasses.asdict(self.settings)

    # -- the step ----------------------------------------------------------------------------------

    def _step(
        self, projected_input: Tensor, state: MemoryCircuitState
    ) -> tuple[Tensor, Tensor, MemoryCircuitState]:
        """(B, 4C) projected input -> controller output (B, C), reads (B, R, W), next state."""
        compiled = self.__dict__.get("_compiled_step")
        if compiled is not None:
            return compiled(projected_input, state)
        return self._eager_step(projected_input, state)

    def _unrolls_fused(self, projected: Tensor, state: MemoryCircuitState) -> bool:
        """Whether `unroll` runs the fused sequence (`memagents.kernels.unroll`): on the CPU with
        the access step's C kernel, in eager mode (no torch.compile, no compiled step), T >= 1,
        every parameter and state tensor of the inputs' dtype (else the step-by-step path, which
        says what does not match)."""
        if torch.compiler.is_compiling():  # first: the checks below are not traceable
            return False
        tensors = (*self.controller.parameters(), *self.access.parameters(), *state.controller)
        return (
            self.fused_unroll
            and projected.shape[1] > 0
            and "_compiled_step" not in self.__dict__
            and type(projected) is Tensor
            and torch._C._len_torch_dispatch_stack() == 0
            and self.access.uses_kernel(projected)
            and isinstance(self.controller, (LSTMController, FeedforwardController))
            and all(t.dtype == projected.dtype and t.is_cpu for t in (*tensors, *state.access))
        )

    def _eager_step(
        self, projected_input: Tensor, state: MemoryCircuitState
    ) -> tuple[Tensor, Tensor, MemoryCircuitState]:
        prev_reads = state.access.read_vectors.flatten(1)  # (B, R*W)
        output, controller_state = self.controller.step(
            projected_input, prev_reads, state.controller
        )
        reads, access_state = self.access(output, state.access)
        return output, reads, MemoryCircuitState(controller_state, access_state)

    def compile_step(self, **compile_kwargs: Any) -> _MemoryCircuit:
        """Compile the step (controller + access) with torch.compile; same maths and code as eager.

        The access step is a registered op (`memagents.kernels.ops`): on CPU the compiled step
        calls the same fused C kernel as the eager one, with no graph break (`fullgraph=True`);
        elsewhere the op is torch ops, which the compiler fuses (`scripts/bench_circuits.py
        --compile` times it beside eager). The first call per batch size compiles (about 30 s on
        2 cores). A whole unroll compiles too:
        `torch.compile(circuit.unroll, fullgraph=True)`. Returns self.
        """
        options = {"dynamic": False, "fullgraph": True} | compile_kwargs
        self.__dict__["_compiled_step"] = torch.compile(self._eager_step, **options)
        return self

    # -- printing ----------------------------------------------------------------------------------

    def describe(self) -> str:
        """A readable summary: sizes, the step's data flow and parameter counts."""
        access = self.access
        lines = [
            f"{type(self).__name__} ({self.name}): {self.input_size} inputs -> "
            f"{self.output_size} logits (clipped to +-{self.clip_value:g})",
            f"  memory        {access.memory_size} slots x {access.word_size} words, "
            f"{access.num_reads} read head(s), {access.num_writes} write head(s)",
            f"  controller    {self.controller}  [x_t, r_(t-1)] -> h_t   "
            f"params={_count(self.controller)}",
            f"  access        {access.extra_repr()}   params={_count(access)}",
            f"  output        {self.output}  [h_t, r_t] -> logits   params={_count(self.output)}",
            f"  total params  {_count(self)}",
        ]
        return "\n".join(lines)


class NTM(_MemoryCircuit):
    """Neural Turing Machine (Graves, Wayne & Danihelka 2014).

    Defaults are the paper's copy configuration: 128 x 20 memory, an LSTM controller of 100 units,
    one read and one write head, shifts -1, 0, +1.
    """

    name = "ntm"

    def __init__(
        self, input_size: int, output_size: int, config: NTMConfig | None = None, **settings: Any
    ) -> None:
        config = _typed_config(NTMConfig, config, settings)
        access = NTMAccess(
            config.controller_size,
            config.memory_size,
            config.word_size,
            config.num_reads,
            config.num_writes,
            config.shift_range,
            config.memory_init,
            config.head_start,
            config.forward_shift,
            config.write_gate_bias,
        )
        super().__init__(
            input_size, output_size, access, config.controller, config.controller_size,
            config.clip_value,
        )  # fmt: skip
        self.settings = config


class DNC(_MemoryCircuit):
    """Differentiable Neural Computer (Graves et al. 2016).

    Defaults are the seed's repeat-copy configuration: 16 x 16 memory, an LSTM controller of 64
    units, four read heads and one write head.
    """

    name = "dnc"

    def __init__(
        self, input_size: int, output_size: int, config: DNCConfig | None = None, **settings: Any
    ) -> None:
        config = _typed_config(DNCConfig, config, settings)
        access = DNCAccess(
            config.controller_size,
            config.memory_size,
            config.word_size,
            config.num_reads,
            config.num_writes,
            config.memory_init,
        )
        super().__init__(
            input_size, output_size, access, config.controller, config.controller_size,
            config.clip_value,
        )  # fmt: skip
        self.settings = config


class LSTMBaselineState(NamedTuple):
    """hidden (L, B, C), cell (L, B, C) for L layers."""

    hidden: Tensor
    cell: Tensor


class LSTM(nn.Module):
    """A plain stacked LSTM with a linear output layer: the no-memory baseline.

    Defaults follow the NTM paper's LSTM baseline (3 layers of 256). `unroll` runs the fused
    torch.nn.LSTM; `forward` steps the same weights with torch.lstm_cell, layer by layer.
    """

    name = "lstm"

    def __init__(
        self, input_size: int, output_size: int, config: LSTMConfig | None = None, **settings: Any
    ) -> None:
        super().__init__()
        config = _typed_config(LSTMConfig, config, settings)
        self.settings = config
        self.input_size = input_size
        self.output_size = output_size
        self.hidden_size = hidden_size = config.hidden_size
        self.num_layers = num_layers = config.num_layers
        self.clip_value = config.clip_value
        self.lstm = nn.LSTM(input_size, hidden_size, num_layers, batch_first=True)
        self.output = nn.Linear(hidden_size, output_size)

    def initial_state(self, batch_size: int) -> LSTMBaselineState:
        zeros = self.output.weight.new_zeros(self.num_layers, batch_size, self.hidden_size)
        return LSTMBaselineState(zeros, zeros)

    def forward(self, x: Tensor, state: LSTMBaselineState) -> tuple[Tensor, LSTMBaselineState]:
        """One step: x (B, I) -> logits (B, O) and the next state."""
        hiddens, cells = [], []
        layer_input = x
        for layer in range(self.num_layers):
            hidden, cell = torch.lstm_cell(
                layer_input,
                (state.hidden[layer], state.cell[layer]),
                getattr(self.lstm, f"weight_ih_l{layer}"),
                getattr(self.lstm, f"weight_hh_l{layer}"),
                getattr(self.lstm, f"bias_ih_l{layer}"),
                getattr(self.lstm, f"bias_hh_l{layer}"),
            )
            hiddens.append(hidden)
            cells.append(cell)
            layer_input = hidden
        logits = self.output(layer_input).clamp(-self.clip_value, self.clip_value)
        return logits, LSTMBaselineState(torch.stack(hiddens), torch.stack(cells))

    def unroll(
        self, inputs: Tensor, state: LSTMBaselineState | None = None
    ) -> tuple[Tensor, LSTMBaselineState]:
        """inputs (B, T, I) -> logits (B, T, O) and the final state."""
        if state is None:
            state = self.initial_state(inputs.shape[0])
        outputs, (hidden, cell) = self.lstm(inputs, tuple(state))
        logits = self.output(outputs).clamp(-self.clip_value, self.clip_value)
        return logits, LSTMBaselineState(hidden, cell)

    def config(self) -> dict[str, Any]:
        """The circuit's typed config as a dict: ``build_circuit(name, I, O, **config())``."""
        return dataclasses.asdict(self.settings)

    def describe(self) -> str:
        return (
            f"LSTM (lstm): {self.input_size} inputs -> {self.output_size} logits "
            f"(clipped to +-{self.clip_value:g})\n"
            f"  core          {self.lstm}   params={_count(self.lstm)}\n"
            f"  output        {self.output}   params={_count(self.output)}\n"
            f"  total params  {_count(self)}"
        )


CIRCUITS: dict[str, type[nn.Module]] = {"ntm": NTM, "dnc": DNC, "lstm": LSTM}


def _typed_config(cls: type, config: Any, settings: dict[str, Any]):
    """``config`` (an instance of ``cls``), or ``cls`` built from keyword ``settings``."""
    if config is not None and settings:
        raise TypeError(f"give a {cls.__name__} or keyword settings, not both")
    if config is None:
        name = next(key for key, value in CIRCUIT_CONFIGS.items() if value is cls)
        return circuit_config(name, settings)
    if not isinstance(config, cls):
        raise TypeError(f"expected a {cls.__name__}, got {type(config).__name__}")
    return config


def build_circuit(name: str, input_size: int, output_size: int, **settings: Any) -> nn.Module:
    """Build a circuit by name ("ntm", "dnc", "lstm"); ``settings`` override its typed config's
    defaults (``NTMConfig``, ``DNCConfig``, ``LSTMConfig``).

    `build_circuit(c.name, c.input_size, c.output_size, **c.config())` rebuilds circuit `c`.

    Raises:
        ValueError: an unknown circuit or setting, or a setting out of its range.
    """
    config = circuit_config(name, settings)
    return CIRCUITS[name](input_size, output_size, config)
