"""The fused NTM access step (ntm_access.c): its two checked entries, forward and backward.

    reads, read_weights, write_weights, memory, saved = forward(
        interface, prev_memory, prev_read_weights, prev_write_weights, shift_range, offsets
    )
    grad_interface, grad_memory, grad_read, grad_write = backward(
        interface, prev_memory, prev_read_weights, prev_write_weights, saved, shift_range,
        offsets, grad_reads, grad_read_weights, grad_write_weights, grad_memory
    )

are the same maths as `memagents.kernels.torch_ops.ntm_access` and its gradient: one C call each
way instead of about 40 torch ops and their autograd nodes. `saved` (B, saved_size) holds the
forward's intermediates for the backward. Both check their inputs (`memagents.kernels.checks`)
before calling C. They are the CPU implementations of the ops in `memagents.kernels.ops`, which
is what the circuits call.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import torch
from torch import Tensor

from memagents.kernels.build import kernel, layout_pointer, pointers, threads_for
from memagents.kernels.checks import check_dims, check_tensors
from memagents.kernels.layout import ntm_layout, plan

__all__ = ["backward", "forward", "saved_size"]

INPUTS = ("interface", "prev_memory", "prev_read_weights", "prev_write_weights")
GRADS = ("grad_reads", "grad_read_weights", "grad_write_weights", "grad_memory")


def saved_size(N: int, W: int, R: int, H: int, shift_range: int) -> int:
    """Per batch element size (in numbers, whatever the dtype) of the forward's `saved` buffer."""
    return kernel("ntm_access_saved_size", torch.float64)(N, W, R, H, 2 * shift_range + 1)


@functools.lru_cache(maxsize=256)
def _geometry(B, N, W, R, H, shift_range, offsets):
    """(saved size, the expected shapes of INPUTS + saved + GRADS); validates the rest."""
    if shift_range < 0 or 2 * shift_range + 1 > N:
        raise ValueError(f"ntm_access: shift_range {shift_range} does not fit {N} slots")
    saved = saved_size(N, W, R, H, shift_range)
    plan(ntm_layout(R, H, W, shift_range), offsets)  # raises ValueError on bad offsets
    shapes = (
        (B, offsets[-1]), (B, N, W), (B, R, N), (B, H, N),  # inputs
        (B, saved),
        (B, R, W), (B, R, N), (B, H, N), (B, N, W),  # gradients of the outputs
    )  # fmt: skip
    return saved, shapes


def _dims(entry: str, inputs: Sequence[Tensor], shift_range: int, offsets: Sequence[int]):
    try:
        B, N, W = inputs[1].shape
        R, H = inputs[2].shape[1], inputs[3].shape[1]
        if inputs[0].dim() != 2 or inputs[2].dim() != 3 or inputs[3].dim() != 3:
            raise ValueError
    except (AttributeError, ValueError, IndexError):
        check_dims(entry, INPUTS, inputs, (2, 3, 3, 3))
        raise
    return (B, N, W, R, H), _geometry(B, N, W, R, H, shift_range, tuple(offsets))


def forward(
    interface: Tensor,
    prev_memory: Tensor,
    prev_read_weights: Tensor,
    prev_write_weights: Tensor,
    shift_range: int,
    offsets: Sequence[int],
) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    """The step: reads (B, R, W), read weights (B, R, N), write weights (B, H, N), memory
    (B, N, W), and the intermediates `saved` (B, saved_size) for `backward`."""
    inputs = (interface, prev_memory, prev_read_weights, prev_write_weights)
    (B, N, W, R, H), (saved_size_, shapes) = _dims(
        "ntm_access forward", inputs, shift_range, offsets
    )
    check_tensors("ntm_access forward", INPUTS, inputs, shapes[:4])
    new = prev_memory.new_empty
    outputs = (new(B, R, W), new(B, R, N), new(B, H, N), new(B, N, W), new(B, saved_size_))
    kernel("ntm_access_forward", prev_memory.dtype)(
        B, N, W, R, H, 2 * shift_range + 1, threads_for(B), layout_pointer(tuple(offsets)),
        *pointers(*inputs), *pointers(*outputs),
    )  # fmt: skip
    return outputs


def backward(
    interface: Tensor,
    prev_memory: Tensor,
    prev_read_weights: Tensor,
    prev_write_weights: Tensor,
    saved: Tensor,
    shift_range: int,
    offsets: Sequence[int],
    grad_reads: Tensor,
    grad_read_weights: Tensor,
    grad_write_weights: Tensor,
    grad_memory: Tensor,
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Gradients of the interface, memory, read and write weights at t-1 from those of the
    forward's four outputs (all contiguous, shaped as the outputs)."""
    inputs = (interface, prev_memory, prev_read_weights, prev_write_weights)
    (B, N, W, R, H), (_, shapes) = _dims("ntm_access backward", inputs, shift_range, offsets)
    tensors = (*inputs, saved, grad_reads, grad_read_weights, grad_write_weights, grad_memory)
    check_tensors("ntm_access backward", (*INPUTS, "saved", *GRADS), tensors, shapes)
    grads = tuple(torch.empty_like(t) for t in inputs)
    status = kernel("ntm_access_backward", prev_memory.dtype)(
        B, N, W, R, H, 2 * shift_range + 1, threads_for(B), layout_pointer(tuple(offsets)),
        *pointers(*tensors), *pointers(*grads),
    )  # fmt: skip
    if status:
        raise MemoryError("ntm_access backward: out of memory")
    return grads
