"""A supervised training iteration captured as CUDA graphs, one per (batch size, length bucket).

On a GPU an eager NTM/DNC step is about 40-60 small kernels forward and as many backward, each
launched from Python: at any batch size the step costs its launches (2.5-5 ms), not its
arithmetic. A CUDA graph replays a whole captured iteration (unroll, loss, backward, optimizer
step) with one launch. A graph has fixed shapes, so sequences are padded up to a length bucket:

    step = GraphedTrainStep(circuit, optimizer, buckets=length_buckets(max_length=41))
    loss = step(inputs, targets, mask)   # (B, T, I), (B, T, O), (B, T); T <= the largest bucket

Padding is exact: the circuits are causal (step t never sees step t+1), so steps appended after a
sequence's end cannot change the logits of its real steps, and with mask 0 they add nothing to
the loss (`memagents.agent.sequence_loss_bits` sums over scored steps, not over T); the loss and
every gradient are those of the unpadded batch (tests/test_ops.py checks this on CPU).

The optimizer must be built with `capturable=True` (Adam, AdamW, RMSprop support it), so that its
step counts live on the GPU. Each bucket's first call warms up on a side stream and captures
(a few seconds); later calls copy the batch into the graph's input buffers and replay.

Status: the bucketing and padding are unit-tested on CPU; the capture itself needs CUDA and its
speed has not been measured yet (no GPU in the session that wrote it).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn

__all__ = ["GraphedTrainStep", "bucket_length", "length_buckets", "pad_to_length"]

LossFunction = Callable[[Tensor, Tensor, Tensor], Tensor]


def length_buckets(max_length: int, min_length: int = 8, growth: float = 1.25) -> tuple[int, ...]:
    """Bucket lengths from `min_length` up to `max_length`, each about `growth` times the last.

    Geometric buckets bound the padding waste (at most growth - 1 of a batch's steps) with few
    graphs (each holds its own activations): 1..41 steps -> 8, 10, 13, 17, 22, 28, 35, 41.
    """
    if max_length < 1 or min_length < 1 or growth <= 1:
        raise ValueError(
            f"length_buckets needs max_length >= 1, min_length >= 1, growth > 1; got "
            f"{max_length}, {min_length}, {growth}"
        )
    buckets = []
    length = min(min_length, max_length)
    while length < max_length:
        buckets.append(length)
        length = max(length + 1, math.ceil(length * growth))
    buckets.append(max_length)
    return tuple(buckets)


def bucket_length(length: int, buckets: Sequence[int]) -> int:
    """The smallest bucket >= `length`; ValueError if the batch is longer than every bucket."""
    for bucket in sorted(buckets):
        if bucket >= length:
            return bucket
    raise ValueError(f"a batch of {length} steps is longer than the largest bucket {max(buckets)}")


def pad_to_length(
    inputs: Tensor, targets: Tensor, mask: Tensor, length: int
) -> tuple[Tensor, Tensor, Tensor]:
    """Zero inputs and targets and mask 0 appended after step T, up to `length` steps.

    Args:
        inputs: (B, T, I). targets: (B, T, O). mask: (B, T).

    Returns:
        (B, length, I), (B, length, O), (B, length).
    """
    B, T, _ = inputs.shape
    if targets.shape[:2] != (B, T) or mask.shape != (B, T):
        raise ValueError(
            f"inputs {tuple(inputs.shape)}, targets {tuple(targets.shape)} and mask "
            f"{tuple(mask.shape)} must share (B, T)"
        )
    if length < T:
        raise ValueError(f"cannot pad {T} steps to {length}")
    extra = length - T
    if extra == 0:
        return inputs, targets, mask
    pad = torch.nn.functional.pad
    return pad(inputs, (0, 0, 0, extra)), pad(targets, (0, 0, 0, extra)), pad(mask, (0, extra))


def mean_sequence_loss(logits: Tensor, targets: Tensor, mask: Tensor) -> Tensor:
    """The supervised loss: masked cross-entropy per sequence in bits, averaged over the batch."""
    from memagents.agent import sequence_loss_bits

    return sequence_loss_bits(logits, targets, mask).mean()


class _Graph:
    """One captured iteration and its static buffers."""

    def __init__(self, graph, inputs: Tensor, targets: Tensor, mask: Tensor, loss: Tensor):
        self.graph, self.inputs, self.targets, self.mask, self.loss = (
            graph, inputs, targets, mask, loss,
        )  # fmt: skip


class GraphedTrainStep:
    """Unroll + loss + backward + optimizer step, captured once per (B, bucket) and replayed.

    Args:
        circuit: an NTM, DNC or LSTM circuit (anything with `unroll(inputs) -> (logits, state)`),
            on a CUDA device.
        optimizer: over the circuit's parameters, built with `capturable=True`.
        buckets: the padded lengths (`length_buckets`).
        loss_function: (logits, targets, mask) -> scalar; must ignore steps with mask 0.
        warmup: eager iterations on a side stream before a capture (CUDA's requirement).
    """

    def __init__(
        self,
        circuit: nn.Module,
        optimizer: torch.optim.Optimizer,
        buckets: Sequence[int],
        loss_function: LossFunction = mean_sequence_loss,
        warmup: int = 3,
    ) -> None:
        parameter = next(circuit.parameters())
        if parameter.device.type != "cuda":
            raise ValueError(
                f"GraphedTrainStep captures CUDA graphs; the circuit is on {parameter.device}"
            )
        for group in optimizer.param_groups:
            if not group.get("capturable", False):
                raise ValueError(
                    f"build the optimizer with capturable=True ({type(optimizer).__name__})"
                )
        self.circuit, self.optimizer = circuit, optimizer
        self.buckets = tuple(sorted(buckets))
        self.loss_function = loss_function
        self.warmup = warmup
        self.graphs: dict[tuple[int, int], _Graph] = {}

    def __call__(self, inputs: Tensor, targets: Tensor, mask: Tensor) -> Tensor:
        """One training iteration on the batch; returns its loss (a 0-d CUDA tensor)."""
        B, T, _ = inputs.shape
        length = bucket_length(T, self.buckets)
        padded = pad_to_length(inputs, targets, mask, length)
        graph = self.graphs.get((B, length))
        if graph is None:
            graph = self.graphs[(B, length)] = self._capture(*padded)
        for static, value in zip((graph.inputs, graph.targets, graph.mask), padded, strict=True):
            static.copy_(value, non_blocking=True)
        graph.graph.replay()
        return graph.loss

    def _iteration(self, inputs: Tensor, targets: Tensor, mask: Tensor) -> Tensor:
        logits, _ = self.circuit.unroll(inputs)
        loss = self.loss_function(logits, targets, mask)
        loss.backward()
        self.optimizer.step()
        return loss

    def _capture(self, inputs: Tensor, targets: Tensor, mask: Tensor) -> _Graph:
        device = next(self.circuit.parameters()).device
        static = [t.to(device).clone() for t in (inputs, targets, mask)]
        # Warm up on a side stream (allocator and cuBLAS state), then put the weights and the
        # optimizer state back in place (earlier graphs hold these very tensors): the warm-up
        # iterations must not count as training.
        parameters = list(self.circuit.parameters())
        saved_parameters = [p.detach().clone() for p in parameters]
        saved_state = {
            p: {k: v.clone() for k, v in state.items() if isinstance(v, Tensor)}
            for p, state in self.optimizer.state.items()
        }
        side = torch.cuda.Stream(device)
        side.wait_stream(torch.cuda.current_stream(device))
        with torch.cuda.stream(side):
            for _ in range(self.warmup):
                self.optimizer.zero_grad(set_to_none=True)
                self._iteration(*static)
        torch.cuda.current_stream(device).wait_stream(side)
        with torch.no_grad():
            for parameter, saved in zip(parameters, saved_parameters, strict=True):
                parameter.copy_(saved)
            for parameter, state in self.optimizer.state.items():
                before = saved_state.get(parameter, {})
                for key, value in state.items():
                    if not isinstance(value, Tensor):
                        continue
                    if key in before:
                        value.copy_(before[key])
                    else:  # no state before the warm-up: a fresh state is zeros
                        value.zero_()

        graph = torch.cuda.CUDAGraph()
        self.optimizer.zero_grad(set_to_none=True)  # this graph allocates its own gradients
        with torch.cuda.graph(graph):
            loss = self._iteration(*static)
        return _Graph(graph, *static, loss)
