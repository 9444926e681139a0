"""Eager cost of four ways to give the fused NTM step to torch, side by side (one torch thread).

    python -m memagents.kernels.bench_registration [--rounds 400] [--batch-size 16]

Each variant runs the same checked C entries (`memagents.kernels.ntm.forward` / `backward`); they
differ only in how torch reaches them:
    autograd.Function     a plain torch.autograd.Function calling the entries (no op at all)
    shipped op            torch.ops.memagents.ntm_access: Library.define, a hand-written
                          AutogradCPU kernel (memagents.kernels.ops)
    register_autograd     Library.define ops + torch.library.register_autograd
    custom_op             torch.library.custom_op + register_fake + register_autograd
Prints the median microseconds per forward + backward of one step at the NTM copy sizes
(128 x 20 memory, one read and one write head), timed in interleaved rounds.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch import Tensor

from memagents.kernels import ntm, ops
from memagents.kernels.layout import ntm_layout

Outputs = tuple[Tensor, Tensor, Tensor, Tensor, Tensor]


def _fake(interface, memory, prev_read, prev_write, shift_range, offsets):
    B, N, W = memory.shape
    R, H = prev_read.shape[1], prev_write.shape[1]
    size = ntm.saved_size(N, W, R, H, shift_range)
    new = memory.new_empty
    return new(B, R, W), new(B, R, N), new(B, H, N), new(B, N, W), new(B, size)


def _fake_backward(interface, memory, prev_read, prev_write, *_):
    return tuple(torch.empty_like(t) for t in (interface, memory, prev_read, prev_write))


def _setup_context(ctx, inputs, output):
    ctx.save_for_backward(*inputs[:4], output[4])
    ctx.arguments = inputs[4:]


class _Function(torch.autograd.Function):
    @staticmethod
    def forward(ctx, interface, memory, prev_read, prev_write, shift_range, offsets):  # type: ignore[override]
        *outputs, saved = ntm.forward(
            interface, memory, prev_read, prev_write, shift_range, offsets
        )
        ctx.save_for_backward(interface, memory, prev_read, prev_write, saved)
        ctx.arguments = (shift_range, offsets)
        return tuple(outputs)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, *grads):  # type: ignore[override]
        tensors = ctx.saved_tensors
        grads = [g.contiguous() for g in grads]
        return (*ntm.backward(*tensors, *ctx.arguments, *grads), None, None)


def _register_autograd_variant():
    library = torch.library.Library("memagents_bench_b", "DEF")
    arguments = (
        "Tensor interface, Tensor memory, Tensor prev_read, Tensor prev_write, int shift_range, "
        "int[] offsets"
    )
    library.define(f"forward({arguments}) -> (Tensor, Tensor, Tensor, Tensor, Tensor)")
    library.define(
        "backward(Tensor interface, Tensor memory, Tensor prev_read, Tensor prev_write, "
        "Tensor saved, int shift_range, int[] offsets, Tensor g0, Tensor g1, Tensor g2, "
        "Tensor g3) -> (Tensor, Tensor, Tensor, Tensor)"
    )
    library.impl("forward", ntm.forward, "CPU")
    library.impl("backward", ntm.backward, "CPU")
    torch.library.register_fake("memagents_bench_b::forward", _fake, lib=library)
    torch.library.register_fake("memagents_bench_b::backward", _fake_backward, lib=library)

    def backward(ctx, *grads):
        grads = [g.contiguous() for g in grads[:4]]
        return (
            *torch.ops.memagents_bench_b.backward(*ctx.saved_tensors, *ctx.arguments, *grads),
            None,
            None,
        )

    torch.library.register_autograd(
        "memagents_bench_b::forward", backward, setup_context=_setup_context, lib=library
    )
    return library, lambda *args: torch.ops.memagents_bench_b.forward(*args)[:4]


def _custom_op_variant():
    @torch.library.custom_op("memagents_bench_c::forward", mutates_args=(), device_types="cpu")
    def forward(
        interface: Tensor,
        memory: Tensor,
        prev_read: Tensor,
        prev_write: Tensor,
        shift_range: int,
        offsets: list[int],
    ) -> Outputs:
        return ntm.forward(interface, memory, prev_read, prev_write, shift_range, offsets)

    @torch.library.custom_op("memagents_bench_c::backward", mutates_args=(), device_types="cpu")
    def backward_op(
        interface: Tensor,
        memory: Tensor,
        prev_read: Tensor,
        prev_write: Tensor,
        saved: Tensor,
        shift_range: int,
        offsets: list[int],
        g0: Tensor,
        g1: Tensor,
        g2: Tensor,
        g3: Tensor,
    ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        return ntm.backward(
            interface, memory, prev_read, prev_write, saved, shift_range, offsets, g0, g1, g2, g3
        )

    forward.register_fake(_fake)
    backward_op.register_fake(_fake_backward)

    def backward(ctx, *grads):
        grads = [g.contiguous() for g in grads[:4]]
        return (*backward_op(*ctx.saved_tensors, *ctx.arguments, *grads), None, None)

    forward.register_autograd(backward, setup_context=_setup_context)
    return lambda *args: forward(*args)[:4]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=400)
    parser.add_argument("--batch-size", type=int, default=16)
    args = parser.parse_args()
    torch.set_num_threads(1)

    B, N, W = args.batch_size, 128, 20
    offsets = list(ntm_layout(1, 1, W, 1).offsets)
    generator = torch.Generator().manual_seed(0)
    tensors = [
        torch.randn(B, offsets[-1], generator=generator),
        torch.randn(B, N, W, generator=generator),
        torch.softmax(torch.randn(B, 1, N, generator=generator), -1),
        torch.softmax(torch.randn(B, 1, N, generator=generator), -1),
    ]
    tensors = [t.requires_grad_() for t in tensors]
    _library, register_autograd = _register_autograd_variant()
    variants = {
        "autograd.Function (no op)": lambda *a: _Function.apply(*a),
        "shipped op (Library.define + AutogradCPU kernel)": ops.ntm_access,
        "Library.define + register_autograd": register_autograd,
        "custom_op + register_autograd": _custom_op_variant(),
    }
    reference = None
    for name, step in variants.items():  # all give the same gradients
        grads = torch.autograd.grad(sum(o.sum() for o in step(*tensors, 1, offsets)), tensors)
        if reference is None:
            reference = grads
        for a, b in zip(grads, reference, strict=True):
            torch.testing.assert_close(a, b, msg=name)
    times: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(args.rounds):
        for name, step in variants.items():
            start = time.perf_counter()
            outputs = step(*tensors, 1, offsets)
            torch.autograd.backward(outputs, [torch.ones_like(o) for o in outputs])
            times[name].append(time.perf_counter() - start)
    print(f"torch {torch.__version__}, 1 thread, NTM step B={B} N={N} W={W}, {args.rounds} rounds")
    base = statistics.median(times["autograd.Function (no op)"])
    for name, values in times.items():
        median = statistics.median(values)
        print(f"  {name:50s} {median * 1e6:7.1f} us  ({median / base:.3f}x)")


if __name__ == "__main__":
    main()
