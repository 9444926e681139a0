"""The NTM and DNC access steps as registered torch ops (`torch.library`), what the circuits call.

    reads, read_weights, write_weights, memory = ntm_access(
        interface, prev_memory, prev_read_weights, prev_write_weights, shift_range
    )  # torch.ops.memagents.ntm_access
    reads, read_weights, write_weights, usage, link, precedence, memory = dnc_access(
        interface, prev_memory, prev_read_weights, prev_write_weights, prev_usage, prev_link,
        prev_precedence
    )  # torch.ops.memagents.dnc_access

Each op is declared once (schema) with:
- on the CPU (float32/float64, a built C library; for the DNC one write head): the fused C kernel
  (`ntm.forward` / `dnc.forward`, internal ops `*_fused`) and its hand-written backward
  (`*_fused_backward`), as the op's CPU and AutogradCPU kernels;
- on every other device, and on the CPU without a compiler (or with MEMAGENTS_KERNELS=0): the
  torch-ops composition (`memagents.kernels.torch_ops`), registered as CompositeImplicitAutograd,
  so autograd, torch.compile and double backward see plain torch ops;
- fake (meta) implementations of the internal ops, so torch.compile traces the CPU kernels with
  no graph break (`fullgraph=True`), compiled and eager running the same C code.

The Python entries `ntm_access` and `dnc_access` below call the op; in a plain eager CPU call
(no torch.compile, no tracer) they run its AutogradCPU kernel without the dispatcher's round trip
(the same code; tests/test_ops.py checks both routes agree bit for bit).

Double backward works on every path: where the C backward would be differentiated (a backward
with create_graph=True), it is computed from the torch ops instead, whose graph autograd can
differentiate again.

Why `Library.define` with a hand-written autograd kernel and not `torch.library.custom_op` or
`register_autograd`: their Python wrappers cost a quarter to a third more per forward + backward
of an NTM step; this costs about 1% more than a plain autograd.Function
(`python -m memagents.kernels.bench_registration` times the four side by side).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from memagents.kernels import build, dnc, ntm, torch_ops
from memagents.kernels.layout import dnc_layout, ntm_layout

__all__ = ["dnc_access", "ntm_access"]

_LIBRARY = torch.library.Library("memagents", "DEF")

_NTM_ARGS = (
    "Tensor interface, Tensor prev_memory, Tensor prev_read_weights, Tensor prev_write_weights, "
    "int shift_range, int[] offsets"
)
_DNC_ARGS = (
    "Tensor interface, Tensor prev_memory, Tensor prev_read_weights, Tensor prev_write_weights, "
    "Tensor prev_usage, Tensor prev_link, Tensor prev_precedence, int[] offsets"
)
_LIBRARY.define(f"ntm_access({_NTM_ARGS}) -> (Tensor, Tensor, Tensor, Tensor)")
_LIBRARY.define(f"ntm_access_fused({_NTM_ARGS}) -> (Tensor, Tensor, Tensor, Tensor, Tensor)")
_LIBRARY.define(
    "ntm_access_fused_backward(Tensor interface, Tensor prev_memory, Tensor prev_read_weights, "
    "Tensor prev_write_weights, Tensor saved, int shift_range, int[] offsets, Tensor grad_reads, "
    "Tensor grad_read_weights, Tensor grad_write_weights, Tensor grad_memory) "
    "-> (Tensor, Tensor, Tensor, Tensor)"
)
_LIBRARY.define(
    f"dnc_access({_DNC_ARGS}) -> (Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor)"
)
_LIBRARY.define(
    f"dnc_access_fused({_DNC_ARGS}) "
    "-> (Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor)"
)
_LIBRARY.define(
    "dnc_access_fused_backward(Tensor interface, Tensor prev_memory, Tensor prev_read_weights, "
    "Tensor prev_write_weights, Tensor prev_link, Tensor prev_precedence, Tensor read_weights, "
    "Tensor write_weights, Tensor link, Tensor memory, Tensor saved, int[] offsets, "
    "Tensor grad_reads, Tensor grad_read_weights, Tensor grad_write_weights, Tensor grad_usage, "
    "Tensor grad_link, Tensor grad_precedence, Tensor grad_memory) "
    "-> (Tensor, Tensor, Tensor, Tensor, Tensor, Tensor)"
)


@torch.compiler.assume_constant_result
def _ntm_offsets(num_reads: int, num_writes: int, word_size: int, shift_range: int) -> list[int]:
    return list(ntm_layout(num_reads, num_writes, word_size, shift_range).offsets)


@torch.compiler.assume_constant_result
def _dnc_offsets(num_reads: int, num_writes: int, word_size: int) -> list[int]:
    return list(dnc_layout(num_reads, num_writes, word_size).offsets)


def _contiguous(*tensors: Tensor) -> list[Tensor]:
    return [t.contiguous() for t in tensors]


def _eager(tensor: Tensor) -> bool:
    """Whether this is a plain eager call (no torch.compile, no tracer): then the Python entries
    below call the op's own CPU autograd kernel directly, saving the dispatcher's trip into
    Python and back (boxing every tensor; about 30 us for the DNC's 7 in and 7 out)."""
    return not torch.compiler.is_compiling() and not _traced(tensor)


def _traced(tensor: Tensor) -> bool:
    """Whether a tracer (torch.compile, opcheck's fake tensors) watches: then the kernels are
    called as the internal ops, which it can see; otherwise their entries directly, which saves
    a trip through the dispatcher each way (about 10 us)."""
    return type(tensor) is not Tensor or torch._C._len_torch_dispatch_stack() > 0


def _vjp_on_torch_ops(
    function: Callable[..., tuple[Tensor, ...]],
    inputs: Sequence[Tensor],
    arguments: tuple,
    grads: Sequence[Tensor],
) -> list[Tensor | None]:
    """The gradient of `function(*inputs, *arguments)` with a graph (for double backward)."""
    wanted = [i for i, t in enumerate(inputs) if t.requires_grad]
    with torch.enable_grad():
        outputs = function(*inputs, *arguments)
        pairs = [(o, g) for o, g in zip(outputs, grads, strict=True) if o.requires_grad]
        found = torch.autograd.grad(
            [o for o, _ in pairs],
            [inputs[i] for i in wanted],
            [g for _, g in pairs],
            create_graph=True,
            allow_unused=True,
        )
    result: list[Tensor | None] = [None] * len(inputs)
    for i, grad in zip(wanted, found, strict=True):
        result[i] = grad
    return result


# -- NTM -------------------------------------------------------------------------------------------


def _ntm_fused_fake(interface, prev_memory, prev_read, prev_write, shift_range, offsets):
    B, N, W = prev_memory.shape
    R, H = prev_read.shape[1], prev_write.shape[1]
    saved = ntm.saved_size(N, W, R, H, shift_range)
    new = prev_memory.new_empty
    return new(B, R, W), new(B, R, N), new(B, H, N), new(B, N, W), new(B, saved)


def _ntm_fused_backward_fake(interface, prev_memory, prev_read, prev_write, *_):
    return tuple(torch.empty_like(t) for t in (interface, prev_memory, prev_read, prev_write))


class _NTMStep(torch.autograd.Function):
    """The C forward and backward as one autograd node (the op's AutogradCPU kernel)."""

    @staticmethod
    def forward(ctx, interface, prev_memory, prev_read, prev_write, shift_range, offsets):  # type: ignore[override]
        fused = torch.ops.memagents.ntm_access_fused if _traced(interface) else ntm.forward
        *outputs, saved = fused(interface, prev_memory, prev_read, prev_write, shift_range, offsets)
        ctx.save_for_backward(interface, prev_memory, prev_read, prev_write, saved)
        ctx.arguments = (shift_range, offsets)
        return tuple(outputs)

    @staticmethod
    def backward(ctx, *grads):  # type: ignore[override]
        *inputs, saved = ctx.saved_tensors
        if torch.is_grad_enabled():  # create_graph=True: a gradient autograd can differentiate
            grads_in = _vjp_on_torch_ops(torch_ops.ntm_access, inputs, ctx.arguments, grads)
            return (*grads_in, None, None)
        shift_range, offsets = ctx.arguments
        fused = torch.ops.memagents.ntm_access_fused_backward if _traced(saved) else ntm.backward
        grads_in = fused(*inputs, saved, shift_range, offsets, *_contiguous(*grads))
        return (*grads_in, None, None)


def _ntm_cpu(interface, prev_memory, prev_read, prev_write, shift_range, offsets):
    if build.available(prev_memory):
        tensors = _contiguous(interface, prev_memory, prev_read, prev_write)
        return torch.ops.memagents.ntm_access_fused(*tensors, shift_range, offsets)[:4]
    return torch_ops.ntm_access(interface, prev_memory, prev_read, prev_write, shift_range, offsets)


def _ntm_autograd_cpu(interface, prev_memory, prev_read, prev_write, shift_range, offsets):
    if build.available(prev_memory):
        tensors = _contiguous(interface, prev_memory, prev_read, prev_write)
        return _NTMStep.apply(*tensors, shift_range, offsets)
    return torch_ops.ntm_access(interface, prev_memory, prev_read, prev_write, shift_range, offsets)


_LIBRARY.impl("ntm_access", torch_ops.ntm_access, "CompositeImplicitAutograd")
_LIBRARY.impl("ntm_access", _ntm_cpu, "CPU")
_LIBRARY.impl("ntm_access", _ntm_autograd_cpu, "AutogradCPU")
_LIBRARY.impl("ntm_access_fused", ntm.forward, "CPU")
_LIBRARY.impl("ntm_access_fused_backward", ntm.backward, "CPU")
torch.library.register_fake("memagents::ntm_access_fused", _ntm_fused_fake, lib=_LIBRARY)
torch.library.register_fake(
    "memagents::ntm_access_fused_backward", _ntm_fused_backward_fake, lib=_LIBRARY
)


def ntm_access(
    interface: Tensor,
    prev_memory: Tensor,
    prev_read_weights: Tensor,
    prev_write_weights: Tensor,
    shift_range: int,
    offsets: Sequence[int] | None = None,
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """One NTM access step after the interface layer: `torch.ops.memagents.ntm_access`.

    Args and returns as `memagents.kernels.torch_ops.ntm_access`; `offsets` None: the standard
    layout (`memagents.kernels.layout.ntm_layout`). In a plain eager call on the CPU this runs the
    op's AutogradCPU kernel without the dispatcher (same code, same results).
    """
    if offsets is None:
        W = prev_memory.shape[-1]
        R, H = prev_read_weights.shape[1], prev_write_weights.shape[1]
        offsets = _ntm_offsets(R, H, W, shift_range)
    if _eager(interface) and prev_memory.is_cpu:  # the op's AutogradCPU kernel, directly
        return _ntm_autograd_cpu(
            interface, prev_memory, prev_read_weights, prev_write_weights, shift_range, offsets
        )
    return torch.ops.memagents.ntm_access(
        interface, prev_memory, prev_read_weights, prev_write_weights, shift_range, list(offsets)
    )


# -- DNC -------------------------------------------------------------------------------------------


def _dnc_fused_fake(
    interface, prev_memory, prev_read, prev_write, usage, link, precedence, offsets
):
    B, N, W = prev_memory.shape
    R = prev_read.shape[1]
    new = prev_memory.new_empty
    saved = dnc.saved_size(N, W, R)
    return (
        new(B, R, W), new(B, R, N), new(B, 1, N), new(B, N), new(B, 1, N, N), new(B, 1, N),
        new(B, N, W), new(B, saved),
    )  # fmt: skip


def _dnc_fused_backward_fake(
    interface, prev_memory, prev_read, prev_write, prev_link, prev_precedence, *_
):
    B, N = prev_memory.shape[:2]
    return (
        torch.empty_like(interface), torch.empty_like(prev_memory), torch.empty_like(prev_read),
        prev_memory.new_empty(B, N), torch.empty_like(prev_link), torch.empty_like(prev_precedence),
    )  # fmt: skip


class _DNCStep(torch.autograd.Function):
    """The C forward and backward as one autograd node (the op's AutogradCPU kernel)."""

    @staticmethod
    def forward(ctx, interface, memory, read, write, usage, link, precedence, offsets):  # type: ignore[override]
        fused = torch.ops.memagents.dnc_access_fused if _traced(interface) else dnc.forward
        outputs = fused(interface, memory, read, write, usage, link, precedence, offsets)
        _, new_read, new_write, _, new_link, _, new_memory, saved = outputs
        ctx.save_for_backward(
            interface, memory, read, write, usage, link, precedence,
            new_read, new_write, new_link, new_memory, saved,
        )  # fmt: skip
        ctx.offsets = offsets
        return outputs[:7]

    @staticmethod
    def backward(ctx, *grads):  # type: ignore[override]
        interface, memory, read, write, usage, link, precedence, *new, saved = ctx.saved_tensors
        if torch.is_grad_enabled():  # create_graph=True: a gradient autograd can differentiate
            inputs = (interface, memory, read, write, usage, link, precedence)
            grads_in = _vjp_on_torch_ops(torch_ops.dnc_access, inputs, (ctx.offsets,), grads)
            return (*grads_in, None)
        fused = torch.ops.memagents.dnc_access_fused_backward if _traced(saved) else dnc.backward
        g_interface, g_memory, g_read, g_usage, g_link, g_precedence = fused(
            interface, memory, read, write, link, precedence, *new, saved, ctx.offsets,
            *_contiguous(*grads),
        )  # fmt: skip
        # The previous write weights reach the step only through usage, whose gradient the DNC
        # stops there (stop_usage_gradient): None.
        return g_interface, g_memory, g_read, None, g_usage, g_link, g_precedence, None


def _dnc_fused_applies(prev_memory: Tensor, prev_write: Tensor) -> bool:
    return prev_write.shape[1] == 1 and build.available(prev_memory)


def _dnc_cpu(interface, memory, read, write, usage, link, precedence, offsets):
    if _dnc_fused_applies(memory, write):
        tensors = _contiguous(interface, memory, read, write, usage, link, precedence)
        return torch.ops.memagents.dnc_access_fused(*tensors, offsets)[:7]
    return torch_ops.dnc_access(interface, memory, read, write, usage, link, precedence, offsets)


def _dnc_autograd_cpu(interface, memory, read, write, usage, link, precedence, offsets):
    if _dnc_fused_applies(memory, write):
        tensors = _contiguous(interface, memory, read, write, usage, link, precedence)
        return _DNCStep.apply(*tensors, offsets)
    return torch_ops.dnc_access(interface, memory, read, write, usage, link, precedence, offsets)


_LIBRARY.impl("dnc_access", torch_ops.dnc_access, "CompositeImplicitAutograd")
_LIBRARY.impl("dnc_access", _dnc_cpu, "CPU")
_LIBRARY.impl("dnc_access", _dnc_autograd_cpu, "AutogradCPU")
_LIBRARY.impl("dnc_access_fused", dnc.forward, "CPU")
_LIBRARY.impl("dnc_access_fused_backward", dnc.backward, "CPU")
torch.library.register_fake("memagents::dnc_access_fused", _dnc_fused_fake, lib=_LIBRARY)
torch.library.register_fake(
    "memagents::dnc_access_fused_backward", _dnc_fused_backward_fake, lib=_LIBRARY
)


def dnc_access(
    interface: Tensor,
    prev_memory: Tensor,
    prev_read_weights: Tensor,
    prev_write_weights: Tensor,
    prev_usage: Tensor,
    prev_link: Tensor,
    prev_precedence: Tensor,
    offsets: Sequence[int] | None = None,
) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor]:
    """One DNC access step after the interface layer, the usage gradient stopped:
    `torch.ops.memagents.dnc_access`.

    Args and returns as `memagents.kernels.torch_ops.dnc_access`; `offsets` None: the standard
    layout (`memagents.kernels.layout.dnc_layout`). In a plain eager call on the CPU this runs the
    op's AutogradCPU kernel without the dispatcher (same code, same results).
    """
    if offsets is None:
        W = prev_memory.shape[-1]
        R, H = prev_read_weights.shape[1], prev_write_weights.shape[1]
        offsets = _dnc_offsets(R, H, W)
    if _eager(interface) and prev_memory.is_cpu:  # the op's AutogradCPU kernel, directly
        return _dnc_autograd_cpu(
            interface, prev_memory, prev_read_weights, prev_write_weights, prev_usage, prev_link,
            prev_precedence, offsets,
        )  # fmt: skip
    return torch.ops.memagents.dnc_access(
        interface, prev_memory, prev_read_weights, prev_write_weights, prev_usage, prev_link,
        prev_precedence, list(offsets),
    )  # fmt: skip
