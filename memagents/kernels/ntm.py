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

from collections.abc import Sequence

import torch
from torch import Tensor

from memagents.kernels.build import kernel, layout_pointer, pointers
from memagents.kernels.checks import check_dims, check_tensors
from memagents.kernels.layout import ntm_layout, plan

__all__ = ["backward", "forward", "saved_size"]


def saved_size(N: int, W: int, R: int, H: int, shift_range: int) -> int:
    """Per batch element size (in numbers, whatever the dtype) of the forward's `saved` buffer."""
    return kernel("ntm_access_saved_size", torch.float64)(N, W, R, H, 2 * shift_range + 1)


def _dims(entry: str, interface, prev_memory, prev_read, prev_write, shift_range, offsets):
    for name, tensor, dims in (
        ("interface", interface, 2),
        ("prev_memory", prev_memory, 3),
        ("prev_read_weights", prev_read, 3),
        ("prev_write_weights", prev_write, 3),
    ):
        check_dims(entry, name, tensor, dims)
    B, N, W = prev_memory.shape
    R, H = prev_read.shape[1], prev_write.shape[1]
    if shift_range < 0 or 2 * shift_range + 1 > N:
        raise ValueError(f"{entry}: shift_range {shift_range} does not fit {N} slots")
    offsets = tuple(offsets)
    plan(ntm_layout(R, H, W, shift_range), offsets)  # raises ValueError on bad offsets
    shapes = {
        "interface": (B, offsets[-1]),
        "prev_read_weights": (B, R, N),
        "prev_write_weights": (B, H, N),
    }
    return (B, N, W, R, H), offsets, shapes


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
    entry = "ntm_access forward"
    (B, N, W, R, H), offsets, shapes = _dims(
        entry, interface, prev_memory, prev_read_weights, prev_write_weights, shift_range, offsets
    )
    inputs = {
        "interface": interface,
        "prev_memory": prev_memory,
        "prev_read_weights": prev_read_weights,
        "prev_write_weights": prev_write_weights,
    }
    check_tensors(entry, inputs, shapes)
    memory = prev_memory
    reads = memory.new_empty(B, R, W)
    read_weights = memory.new_empty(B, R, N)
    write_weights = memory.new_empty(B, H, N)
    new_memory = memory.new_empty(B, N, W)
    saved = memory.new_empty(B, saved_size(N, W, R, H, shift_range))
    kernel("ntm_access_forward", memory.dtype)(
        B, N, W, R, H, 2 * shift_range + 1, layout_pointer(offsets),
        *pointers(interface, memory, prev_read_weights, prev_write_weights),
        *pointers(reads, read_weights, write_weights, new_memory, saved),
    )  # fmt: skip
    return reads, read_weights, write_weights, new_memory, saved


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
    entry = "ntm_access backward"
    (B, N, W, R, H), offsets, shapes = _dims(
        entry, interface, prev_memory, prev_read_weights, prev_write_weights, shift_range, offsets
    )
    shapes |= {
        "saved": (B, saved_size(N, W, R, H, shift_range)),
        "grad_reads": (B, R, W),
        "grad_read_weights": (B, R, N),
        "grad_write_weights": (B, H, N),
        "grad_memory": (B, N, W),
    }
    tensors = {
        "interface": interface,
        "prev_memory": prev_memory,
        "prev_read_weights": prev_read_weights,
        "prev_write_weights": prev_write_weights,
        "saved": saved,
        "grad_reads": grad_reads,
        "grad_read_weights": grad_read_weights,
        "grad_write_weights": grad_write_weights,
        "grad_memory": grad_memory,
    }
    check_tensors(entry, tensors, shapes)
    grad_interface = torch.empty_like(interface)
    grad_prev_memory = torch.empty_like(prev_memory)
    grad_prev_read = torch.empty_like(prev_read_weights)
    grad_prev_write = torch.empty_like(prev_write_weights)
    status = kernel("ntm_access_backward", prev_memory.dtype)(
        B, N, W, R, H, 2 * shift_range + 1, layout_pointer(offsets),
        *pointers(*tensors.values()),
        *pointers(grad_interface, grad_prev_memory, grad_prev_read, grad_prev_write),
    )  # fmt: skip
    if status:
        raise MemoryError("ntm_access backward: out of memory")
    return grad_interface, grad_prev_memory, grad_prev_read, grad_prev_write
