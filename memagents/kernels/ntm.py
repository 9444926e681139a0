"""The fused NTM access step (ntm_access.c) as a torch.autograd.Function.

    reads, read_weights, write_weights, memory = ntm_access(
        interface, prev_memory, prev_read_weights, prev_write_weights, shift_range
    )

is the same maths as the torch-ops body of `memagents.access.NTMAccess.forward` after its interface
layer: one C call forward and one backward per step instead of about 40 torch ops and their
autograd nodes. CPU, float32 and float64 (`memagents.kernels.build.available`).
"""

from __future__ import annotations

import torch
from torch import Tensor

from memagents.kernels.build import kernel, pointers

__all__ = ["ntm_access"]


class _NTMAccess(torch.autograd.Function):
    @staticmethod
    def forward(ctx, interface, memory, prev_read, prev_write, shift_size):  # type: ignore[override]
        B, N, W = memory.shape
        R, H, S = prev_read.shape[1], prev_write.shape[1], shift_size
        saved_size = kernel("ntm_access_saved_size", memory.dtype)(N, W, R, H, S)
        reads = memory.new_empty(B, R, W)
        read_weights = memory.new_empty(B, R, N)
        write_weights = memory.new_empty(B, H, N)
        new_memory = memory.new_empty(B, N, W)
        saved = memory.new_empty(B, saved_size)
        kernel("ntm_access_forward", memory.dtype)(
            B, N, W, R, H, S,
            *pointers(interface, memory, prev_read, prev_write),
            *pointers(reads, read_weights, write_weights, new_memory, saved),
        )  # fmt: skip
        ctx.save_for_backward(interface, memory, prev_read, prev_write, saved)
        ctx.shift_size = shift_size
        return reads, read_weights, write_weights, new_memory

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_reads, grad_read_weights, grad_write_weights, grad_memory):  # type: ignore[override]
        interface, memory, prev_read, prev_write, saved = ctx.saved_tensors
        B, N, W = memory.shape
        R, H, S = prev_read.shape[1], prev_write.shape[1], ctx.shift_size
        grads = (grad_reads, grad_read_weights, grad_write_weights, grad_memory)
        grads = [g.contiguous() for g in grads]
        grad_interface = torch.empty_like(interface)
        grad_prev_memory = torch.empty_like(memory)
        grad_prev_read = torch.empty_like(prev_read)
        grad_prev_write = torch.empty_like(prev_write)
        status = kernel("ntm_access_backward", memory.dtype)(
            B, N, W, R, H, S,
            *pointers(interface, memory, prev_read, prev_write, saved, *grads),
            *pointers(grad_interface, grad_prev_memory, grad_prev_read, grad_prev_write),
        )  # fmt: skip
        if status:
            raise MemoryError("ntm_access_backward: out of memory")
        return grad_interface, grad_prev_memory, grad_prev_read, grad_prev_write, None


def ntm_access(
    interface: Tensor,
    prev_memory: Tensor,
    prev_read_weights: Tensor,
    prev_write_weights: Tensor,
    shift_range: int,
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """One fused NTM access step.

    Args:
        interface: (B, P) the raw interface output, laid out as `NTMAccess.split_sizes`.
        prev_memory: (B, N, W).
        prev_read_weights: (B, R, N); prev_write_weights: (B, H, N).
        shift_range: shifts -shift_range..+shift_range.

    Returns:
        read vectors (B, R, W) of the previous memory, read weights (B, R, N), write weights
        (B, H, N) and the new memory (B, N, W).
    """
    B, N, W = prev_memory.shape
    R, H = prev_read_weights.shape[1], prev_write_weights.shape[1]
    S = 2 * shift_range + 1
    expected = (R + H) * W + 2 * H * W + 3 * (R + H) + (R + H) * S
    if interface.shape != (B, expected):
        raise ValueError(
            f"interface has shape {tuple(interface.shape)}; expected ({B}, {expected}) for "
            f"{R} read and {H} write heads, word size {W} and {S} shifts"
        )
    tensors = [
        t.contiguous() for t in (interface, prev_memory, prev_read_weights, prev_write_weights)
    ]
    return _NTMAccess.apply(*tensors, S)
