"""The fused DNC access step (dnc_access.c), one write head: its two checked entries.

    reads, read_weights, write_weights, usage, link, precedence, memory, saved = forward(
        interface, prev_memory, prev_read_weights, prev_write_weights, prev_usage, prev_link,
        prev_precedence, offsets
    )
    grads = backward(interface, prev_memory, prev_read_weights, prev_write_weights, prev_link,
                     prev_precedence, read_weights, write_weights, link, memory, saved, offsets,
                     *grads_of_the_seven_outputs)
    # grads: interface, memory, read weights, usage, link, precedence (none for the previous
    # write weights: the usage gradient is stopped there, as deepmind/dnc does)

are the same maths as `memagents.kernels.torch_ops.dnc_access` (one write head, the usage
gradient stopped) and its gradient: one C call each way instead of about 60 torch ops and their
autograd nodes. Both check their inputs (`memagents.kernels.checks`) before calling C. They are
the CPU implementations of the ops in `memagents.kernels.ops`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from memagents.kernels.build import kernel, layout_pointer, pointers
from memagents.kernels.checks import check_dims, check_tensors
from memagents.kernels.layout import dnc_layout, plan

__all__ = ["backward", "forward", "saved_size"]

STATE = ("prev_memory", "prev_read_weights", "prev_write_weights", "prev_usage", "prev_link",
         "prev_precedence")  # fmt: skip


def saved_size(N: int, W: int, R: int) -> int:
    """Per batch element size (in numbers, whatever the dtype) of the forward's `saved` buffer."""
    return kernel("dnc_access_saved_size", torch.float64)(N, W, R)


def _state_shapes(entry: str, interface: Tensor, state: dict[str, Tensor], offsets):
    check_dims(entry, "interface", interface, 2)
    for name, dims in zip(STATE, (3, 3, 3, 2, 4, 3), strict=True):
        if name in state:
            check_dims(entry, name, state[name], dims)
    B, N, W = state["prev_memory"].shape
    R = state["prev_read_weights"].shape[1]
    if state["prev_write_weights"].shape[1] != 1:
        raise ValueError(
            f"{entry}: the fused DNC step has one write head, got "
            f"{state['prev_write_weights'].shape[1]}"
        )
    offsets = tuple(offsets)
    plan(dnc_layout(R, 1, W), offsets)  # raises ValueError on bad offsets
    shapes = {
        "interface": (B, offsets[-1]),
        "prev_memory": (B, N, W),
        "prev_read_weights": (B, R, N),
        "prev_write_weights": (B, 1, N),
        "prev_usage": (B, N),
        "prev_link": (B, 1, N, N),
        "prev_precedence": (B, 1, N),
    }
    return (B, N, W, R), offsets, shapes


def forward(
    interface: Tensor,
    prev_memory: Tensor,
    prev_read_weights: Tensor,
    prev_write_weights: Tensor,
    prev_usage: Tensor,
    prev_link: Tensor,
    prev_precedence: Tensor,
    offsets: Sequence[int],
) -> tuple[Tensor, ...]:
    """The step: reads (B, R, W), read weights, write weights, usage, link, precedence and memory
    at t (shaped as their inputs), and the intermediates `saved` (B, saved_size)."""
    entry = "dnc_access forward"
    state = dict(zip(STATE, (prev_memory, prev_read_weights, prev_write_weights, prev_usage,
                             prev_link, prev_precedence), strict=True))  # fmt: skip
    (B, N, W, R), offsets, shapes = _state_shapes(entry, interface, state, offsets)
    check_tensors(entry, {"interface": interface, **state}, shapes)
    memory = prev_memory
    outputs = (
        memory.new_empty(B, R, W),  # reads
        memory.new_empty(B, R, N),  # read weights
        memory.new_empty(B, 1, N),  # write weights
        memory.new_empty(B, N),  # usage
        memory.new_empty(B, 1, N, N),  # link
        memory.new_empty(B, 1, N),  # precedence
        memory.new_empty(B, N, W),  # memory
    )
    saved = memory.new_empty(B, saved_size(N, W, R))
    kernel("dnc_access_forward", memory.dtype)(
        B, N, W, R, layout_pointer(offsets), *pointers(interface, *state.values()),
        *pointers(*outputs, saved),
    )  # fmt: skip
    return (*outputs, saved)


def backward(
    interface: Tensor,
    prev_memory: Tensor,
    prev_read_weights: Tensor,
    prev_write_weights: Tensor,
    prev_link: Tensor,
    prev_precedence: Tensor,
    read_weights: Tensor,
    write_weights: Tensor,
    link: Tensor,
    memory: Tensor,
    saved: Tensor,
    offsets: Sequence[int],
    grad_reads: Tensor,
    grad_read_weights: Tensor,
    grad_write_weights: Tensor,
    grad_usage: Tensor,
    grad_link: Tensor,
    grad_precedence: Tensor,
    grad_memory: Tensor,
) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor]:
    """Gradients of the interface, memory, read weights, usage, link and precedence at t-1 from
    those of the forward's seven outputs (all contiguous, shaped as the outputs)."""
    entry = "dnc_access backward"
    state = {
        "prev_memory": prev_memory,
        "prev_read_weights": prev_read_weights,
        "prev_write_weights": prev_write_weights,
        "prev_link": prev_link,
        "prev_precedence": prev_precedence,
    }
    (B, N, W, R), offsets, shapes = _state_shapes(entry, interface, state, offsets)
    tensors = {
        "interface": interface,
        **state,
        "read_weights": read_weights,
        "write_weights": write_weights,
        "link": link,
        "memory": memory,
        "saved": saved,
        "grad_reads": grad_reads,
        "grad_read_weights": grad_read_weights,
        "grad_write_weights": grad_write_weights,
        "grad_usage": grad_usage,
        "grad_link": grad_link,
        "grad_precedence": grad_precedence,
        "grad_memory": grad_memory,
    }
    shapes |= {
        "read_weights": (B, R, N),
        "write_weights": (B, 1, N),
        "link": (B, 1, N, N),
        "memory": (B, N, W),
        "saved": (B, saved_size(N, W, R)),
        "grad_reads": (B, R, W),
        "grad_read_weights": (B, R, N),
        "grad_write_weights": (B, 1, N),
        "grad_usage": (B, N),
        "grad_link": (B, 1, N, N),
        "grad_precedence": (B, 1, N),
        "grad_memory": (B, N, W),
    }
    check_tensors(entry, tensors, shapes)
    grads = (
        torch.empty_like(interface),
        torch.empty_like(prev_memory),
        torch.empty_like(prev_read_weights),
        prev_memory.new_empty(B, N),  # usage
        torch.empty_like(prev_link),
        torch.empty_like(prev_precedence),
    )
    status = kernel("dnc_access_backward", prev_memory.dtype)(
        B, N, W, R, layout_pointer(offsets), *pointers(*tensors.values(), *grads)
    )
    if status:
        raise MemoryError("dnc_access backward: out of memory")
    return grads
