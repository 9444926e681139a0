"""Entry checks of the C kernels: nothing reaches C that it would read wrongly.

A C kernel trusts its pointers: a float32 tensor read as doubles, a strided view read as dense, or
a shape one short is read past its end. So every entry (`memagents.kernels.ntm`, `.dnc`) checks
dtype (one of float32/float64, all equal), device (CPU), contiguity and every shape, and raises a
one-line ValueError naming the tensor before any pointer crosses into C.

The checks run on every call, so they have a fast path: one loop of cheap tests, and only when one
fails the slower one that finds and names the culprit.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

DTYPES = (torch.float32, torch.float64)


def check_tensors(
    entry: str,
    names: Sequence[str],
    tensors: Sequence[Tensor],
    shapes: Sequence[tuple[int, ...] | None],
) -> None:
    """Raise ValueError unless every tensor is a contiguous CPU float32/float64 tensor of the
    first one's dtype and has its shape in `shapes` (None: any shape)."""
    dtype = getattr(tensors[0], "dtype", None)
    if dtype in DTYPES:
        for tensor, shape in zip(tensors, shapes, strict=True):
            if (
                not isinstance(tensor, Tensor)
                or tensor.dtype != dtype
                or not tensor.is_cpu
                or not tensor.is_contiguous()
                or (shape is not None and tensor.shape != shape)
            ):
                break
        else:
            return
    _explain(entry, names, tensors, shapes)


def _explain(entry, names, tensors, shapes) -> None:
    """Find the first tensor that fails a check and raise a ValueError naming it."""
    first_name, first = names[0], tensors[0]
    for name, tensor in zip(names, tensors, strict=True):
        if not isinstance(tensor, Tensor):
            raise ValueError(f"{entry}: {name} is {type(tensor).__name__}, not a tensor")
    dtype = first.dtype
    if dtype not in DTYPES:
        raise ValueError(f"{entry}: {first_name} is {dtype}; the kernel takes float32 or float64")
    for name, tensor, shape in zip(names, tensors, shapes, strict=True):
        if tensor.dtype != dtype:
            raise ValueError(
                f"{entry}: {name} is {tensor.dtype} but {first_name} is {dtype}; "
                "all tensors must share one dtype"
            )
        if tensor.device.type != "cpu":
            raise ValueError(f"{entry}: {name} is on {tensor.device}; the kernel runs on the CPU")
        if not tensor.is_contiguous():
            raise ValueError(f"{entry}: {name} is not contiguous (call .contiguous() first)")
        if shape is not None and tuple(tensor.shape) != shape:
            raise ValueError(f"{entry}: {name} has shape {tuple(tensor.shape)}; expected {shape}")
    raise AssertionError("unreachable: a check failed but none explains it")


def check_dims(entry: str, names: Sequence[str], tensors: Sequence, dims: Sequence[int]) -> None:
    """Raise ValueError for the first of `tensors` that is not a tensor of its number of dims."""
    for name, tensor, expected in zip(names, tensors, dims, strict=True):
        if not isinstance(tensor, Tensor) or tensor.dim() != expected:
            shape = tuple(tensor.shape) if isinstance(tensor, Tensor) else type(tensor).__name__
            raise ValueError(f"{entry}: {name} must be {expected}-D, got {shape}")
