"""The fused DNC access step (dnc_access.c) as a torch.autograd.Function.

    reads, state_tensors = dnc_access(interface, memory, read_weights, write_weights, usage, link,
                                      precedence)

is the same maths as the torch-ops body of `memagents.access.DNCAccess.forward` after its interface
layer, for one write head and with `stop_usage_gradient`: one C call forward and one backward per
step instead of about 60 torch ops and their autograd nodes. CPU, float32 and float64.
"""

from __future__ import annotations

import torch
from torch import Tensor

from memagents.kernels.build import kernel, pointers

__all__ = ["dnc_access"]


class _DNCAccess(torch.autograd.Function):
    @staticmethod
    def forward(
        ctx, interface, memory, prev_read, prev_write, prev_usage, prev_link, prev_precedence
    ):  # type: ignore[override]
        B, N, W = memory.shape
        R = prev_read.shape[1]
        saved = memory.new_empty(B, kernel("dnc_access_saved_size", memory.dtype)(N, W, R))
        reads = memory.new_empty(B, R, W)
        read_weights = memory.new_empty(B, R, N)
        write_weights = memory.new_empty(B, 1, N)
        usage = memory.new_empty(B, N)
        link = memory.new_empty(B, 1, N, N)
        precedence = memory.new_empty(B, 1, N)
        new_memory = memory.new_empty(B, N, W)
        inputs = (interface, memory, prev_read, prev_write, prev_usage, prev_link, prev_precedence)
        outputs = (reads, read_weights, write_weights, usage, link, precedence, new_memory)
        kernel("dnc_access_forward", memory.dtype)(
            B, N, W, R, *pointers(*inputs), *pointers(*outputs, saved)
        )
        ctx.save_for_backward(
            interface, memory, prev_read, prev_write, prev_link, prev_precedence,
            read_weights, write_weights, link, new_memory, saved,
        )  # fmt: skip
        return outputs

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, *grads):  # type: ignore[override]
        saved_tensors = ctx.saved_tensors
        interface, memory, prev_read = saved_tensors[:3]
        B, N, W = memory.shape
        R = prev_read.shape[1]
        grad_interface = torch.empty_like(interface)
        grad_memory = torch.empty_like(memory)
        grad_prev_read = torch.empty_like(prev_read)
        grad_prev_usage = memory.new_empty(B, N)
        grad_prev_link = memory.new_empty(B, 1, N, N)
        grad_prev_precedence = memory.new_empty(B, 1, N)
        outputs = (
            grad_interface, grad_memory, grad_prev_read, grad_prev_usage, grad_prev_link,
            grad_prev_precedence,
        )  # fmt: skip
        grads = [g.contiguous() for g in grads]  # held here: the C call reads their memory
        status = kernel("dnc_access_backward", memory.dtype)(
            B, N, W, R, *pointers(*saved_tensors, *grads, *outputs)
        )
        if status:
            raise MemoryError("dnc_access_backward: out of memory")
        # The previous write weights reach the step only through usage, whose gradient the DNC
        # stops there (stop_usage_gradient): None.
        return (
            grad_interface, grad_memory, grad_prev_read, None, grad_prev_usage, grad_prev_link,
            grad_prev_precedence,
        )  # fmt: skip


def dnc_access(
    interface: Tensor,
    memory: Tensor,
    read_weights: Tensor,
    write_weights: Tensor,
    usage: Tensor,
    link: Tensor,
    precedence: Tensor,
) -> tuple[Tensor, ...]:
    """One fused DNC access step, one write head.

    Args:
        interface: (B, P), laid out as `DNCAccess.split_sizes`.
        memory (B, N, W), read_weights (B, R, N), write_weights (B, 1, N), usage (B, N),
        link (B, 1, N, N), precedence (B, 1, N): the state at t-1.

    Returns:
        read vectors (B, R, W) of the new memory, then the state at t: read weights, write
        weights, usage, link, precedence and memory, shaped as their inputs.
    """
    B, N, W = memory.shape
    R = read_weights.shape[1]
    expected = (R + 1) * W + 2 * W + 5 * R + 3
    if write_weights.shape[1] != 1:
        raise ValueError(f"the fused DNC step has one write head, got {write_weights.shape[1]}")
    if interface.shape != (B, expected):
        raise ValueError(
            f"interface has shape {tuple(interface.shape)}; expected ({B}, {expected}) for "
            f"{R} read heads and word size {W}"
        )
    tensors = (interface, memory, read_weights, write_weights, usage, link, precedence)
    return _DNCAccess.apply(*(t.contiguous() for t in tensors))
