"""Controllers of the memory circuits: LSTM (jingweiz/pytorch-dnc's) and feed-forward (the NTM
paper's).

A controller sees the input x_t and the previous read vectors r_{t-1}. Both controllers split their
input weights into an x part and a reads part so that a circuit can project the whole input sequence
at once (`project_inputs`, one matmul for all T) and do only the reads/recurrent matmul per step.

Shapes follow the legend in `memagents.addressing` (B batch, T time, I input, C controller size,
R*W the flattened previous reads).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import Tensor, nn


class LSTMState(NamedTuple):
    """State of an LSTM controller: hidden (B, C), cell (B, C)."""

    hidden: Tensor
    cell: Tensor


class FeedforwardState(NamedTuple):
    """A feed-forward controller has no state; an empty tuple keeps the state types uniform."""


class LSTMController(nn.Module):
    """One LSTM layer over [x_t, r_{t-1}].

    The gate pre-activations are x W_x^T + b (projected for all T at once by `project_inputs`)
    + r W_r^T + h W_h^T (per step, inside the fused `torch.lstm_cell`). The hidden state is bounded
    by 1 in absolute value, so the +-20 clip of the references' controller output never acts on it.
    """

    def __init__(self, input_size: int, reads_size: int, hidden_size: int) -> None:
        super().__init__()
        self.input_size = input_size
        self.reads_size = reads_size
        self.hidden_size = hidden_size
        gates = 4 * hidden_size
        self.input_weight = nn.Parameter(torch.empty(gates, input_size))
        self.reads_weight = nn.Parameter(torch.empty(gates, reads_size))
        self.hidden_weight = nn.Parameter(torch.empty(gates, hidden_size))
        self.bias = nn.Parameter(torch.empty(gates))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        # torch.nn.LSTM's init, plus a forget-gate bias of 1 (Jozefowicz et al. 2015) which helps
        # the controller keep its state over the long copy sequences. Gate order i, f, g, o.
        bound = 1.0 / math.sqrt(self.hidden_size)
        for weight in (self.input_weight, self.reads_weight, self.hidden_weight, self.bias):
            nn.init.uniform_(weight, -bound, bound)
        with torch.no_grad():
            self.bias[self.hidden_size : 2 * self.hidden_size].fill_(1.0)

    def initial_state(self, batch_size: int) -> LSTMState:
        zeros = self.bias.new_zeros(batch_size, self.hidden_size)
        return LSTMState(zeros, zeros)

    def project_inputs(self, inputs: Tensor) -> Tensor:
        """(..., I) -> (..., 4C): the input part of the gates, bias included."""
        return torch.nn.functional.linear(inputs, self.input_weight, self.bias)

    def step(
        self, projected_input: Tensor, prev_reads: Tensor, prev_state: LSTMState
    ) -> tuple[Tensor, LSTMState]:
        """One step.

        Args:
            projected_input: (B, 4C) from `project_inputs`.
            prev_reads: (B, R*W).
            prev_state: LSTMState.

        Returns:
            output (B, C) and the new LSTMState.
        """
        if projected_input.device.type == "cpu":
            # lstm_cell(input, (h, c), w_ih, w_hh, b_ih, b_hh) with the projected input riding as
            # a (B, 4C) b_ih: one ATen call for the whole cell, the fewest dispatches on CPU.
            hidden, cell = torch.lstm_cell(
                prev_reads,
                (prev_state.hidden, prev_state.cell),
                self.reads_weight,
                self.hidden_weight,
                projected_input,
                None,
            )
        else:
            # The fused CUDA cell wants 1-D biases: do the same maths as separate kernels.
            gates = torch.addmm(projected_input, prev_reads, self.reads_weight.t())
            gates = torch.addmm(gates, prev_state.hidden, self.hidden_weight.t())
            in_gate, forget_gate, cell_gate, out_gate = gates.chunk(4, 1)
            cell = torch.addcmul(
                torch.sigmoid(forget_gate) * prev_state.cell,
                torch.sigmoid(in_gate),
                torch.tanh(cell_gate),
            )
            hidden = torch.sigmoid(out_gate) * torch.tanh(cell)
        return hidden, LSTMState(hidden, cell)

    def extra_repr(self) -> str:
        return f"input={self.input_size}, reads={self.reads_size}, hidden={self.hidden_size}"


class FeedforwardController(nn.Module):
    """One hidden layer over [x_t, r_{t-1}], ReLU clipped at `clip_value` (the references' +-20)."""

    def __init__(
        self, input_size: int, reads_size: int, hidden_size: int, clip_value: float = 20.0
    ) -> None:
        super().__init__()
        self.input_size = input_size
        self.reads_size = reads_size
        self.hidden_size = hidden_size
        self.clip_value = clip_value
        self.input_layer = nn.Linear(input_size, hidden_size)
        self.reads_weight = nn.Parameter(torch.empty(hidden_size, reads_size))
        nn.init.uniform_(
            self.reads_weight,
            -1.0 / math.sqrt(reads_size + input_size),
            1.0 / math.sqrt(reads_size + input_size),
        )

    def initial_state(self, batch_size: int) -> FeedforwardState:
        return FeedforwardState()

    def project_inputs(self, inputs: Tensor) -> Tensor:
        """(..., I) -> (..., C)."""
        return self.input_layer(inputs)

    def step(
        self, projected_input: Tensor, prev_reads: Tensor, prev_state: FeedforwardState
    ) -> tuple[Tensor, FeedforwardState]:
        """(B, C), (B, R*W) -> output (B, C) in [0, clip_value]."""
        pre = torch.addmm(projected_input, prev_reads, self.reads_weight.t())
        return torch.nn.functional.hardtanh(pre, 0.0, self.clip_value), prev_state

    def extra_repr(self) -> str:
        return (
            f"input={self.input_size}, reads={self.reads_size}, hidden={self.hidden_size}, "
            f"activation=relu clipped at {self.clip_value}"
        )


CONTROLLERS = {"lstm": LSTMController, "feedforward": FeedforwardController}


def build_controller(
    kind: str, input_size: int, reads_size: int, hidden_size: int
) -> LSTMController | FeedforwardController:
    """A controller by name: "lstm" or "feedforward"."""
    try:
        cls = CONTROLLERS[kind]
    except KeyError:
        raise ValueError(
            f"unknown controller {kind!r}; choose from {sorted(CONTROLLERS)}"
        ) from None
    return cls(input_size, reads_size, hidden_size)
