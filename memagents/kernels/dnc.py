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

import functools
from collections.abc import Sequence

import torch
from torch import Tensor

from memagents.kernels.build import kernel, layout_pointer, pointers, threads_for
from memagents.kernels.checks import check_dims, check_tensors
from memagents.kernels.layout import dnc_layout, plan

__all__ = ["backward", "forward", "saved_size"]

INPUTS = ("interface", "prev_memory", "prev_read_weights", "prev_write_weights", "prev_usage",
          "prev_link", "prev_precedence")  # fmt: skip
OUTPUTS = ("read_weights", "write_weights", "link", "memory", "saved")  # kept for the backward
GRADS = ("grad_reads", "grad_read_weights", "grad_write_weights", "grad_usage", "grad_link",
         "grad_precedence", "grad_memory")  # fmt: skip
BACKWARD = (*INPUTS[:4], *INPUTS[5:], *OUTPUTS, *GRADS)


def saved_size(N: int, W: int, R: int) -> int:
    """Per batch element size (in numbers, whatever the dtype) of the forward's `saved` buffer."""
    return kernel("dnc_access_saved_size", torch.float64)(N, W, R)


@functools.lru_cache(maxsize=256)
def _geometry(B, N, W, R, offsets):
    """The expected shapes of INPUTS and of BACKWARD's tensors; validates the offsets."""
    plan(dnc_layout(R, 1, W), offsets)  # raises ValueError on bad offsets
    inputs = ((B, offsets[-1]), (B, N, W), (B, R, N), (B, 1, N), (B, N), (B, 1, N, N), (B, 1, N))
    outputs = ((B, R, N), (B, 1, N), (B, 1, N, N), (B, N, W), (B, saved_size(N, W, R)))
    grads = ((B, R, W), *inputs[2:], (B, N, W))
    return inputs, (*inputs[:4], *inputs[5:], *outputs, *grads)


def _dims(entry: str, names, tensors, dims, offsets):
    """(B, N, W, R) from the memory and read weights, after the one-write-head check."""
    try:
        B, N, W = tensors[1].shape
        R, H = tensors[2].shape[1], tensors[3].shape[1]
        if any(t.dim() != d for t, d in zip(tensors, dims, strict=True)):
            raise ValueError
    except (AttributeError, ValueError, IndexError):
        check_dims(entry, names, tensors, dims)
        raise
    if H != 1:
        raise ValueError(f"{entry}: the fused DNC step has one write head, got {H}")
    return (B, N, W, R), _geometry(B, N, W, R, tuple(offsets))


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
    inputs = (interface, prev_memory, prev_read_weights, prev_write_weights, prev_usage,
              prev_link, prev_precedence)  # fmt: skip
    (B, N, W, R), (shapes, _) = _dims(entry, INPUTS, inputs, (2, 3, 3, 3, 2, 4, 3), offsets)
    check_tensors(entry, INPUTS, inputs, shapes)
    new = prev_memory.new_empty
    outputs = (
        new(B, R, W), new(B, R, N), new(B, 1, N), new(B, N), new(B, 1, N, N), new(B, 1, N),
        new(B, N, W), new(B, saved_size(N, W, R)),
    )  # fmt: skip
    kernel("dnc_access_forward", prev_memory.dtype)(
        B, N, W, R, threads_for(B), layout_pointer(tuple(offsets)),
        *pointers(*inputs), *pointers(*outputs),
    )  # fmt: skip
    return outputs


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
    tensors = (
        interface, prev_memory, prev_read_weights, prev_write_weights, prev_link, prev_precedence,
        read_weights, write_weights, link, memory, saved,
        grad_reads, grad_read_weights, grad_write_weights, grad_usage, grad_link, grad_precedence,
        grad_memory,
    )  # fmt: skip
    dims = (2, 3, 3, 3, 4, 3)
    (B, N, W, R), (_, shapes) = _dims(entry, BACKWARD[:6], tensors[:6], dims, offsets)
    check_tensors(entry, BACKWARD, tensors, shapes)
    grads = (
        torch.empty_like(interface),
        torch.empty_like(prev_memory),
        torch.empty_like(prev_read_weights),
        prev_memory.new_empty(B, N),  # usage
        torch.empty_like(prev_link),
        torch.empty_like(prev_precedence),
    )
    status = kernel("dnc_access_backward", prev_memory.dtype)(
        B, N, W, R, threads_for(B), layout_pointer(tuple(offsets)), *pointers(*tensors, *grads)
    )
    if status:
        raise MemoryError("dnc_access backward: out of memory")
    return grads
