"""Entry checks of the C kernels: nothing reaches C that it would read wrongly.

A C kernel trusts its pointers: a float32 tensor read as doubles, a strided view read as dense, or
a shape one short is read past its end. So every entry (`memagents.kernels.ntm`, `.dnc`) checks
dtype (one of float32/float64, all equal), device (CPU), contiguity and every shape, and raises a
one-line ValueError naming the tensor before any pointer crosses into C.
"""

from __future__ import annotations

import torch
from torch import Tensor

DTYPES = (torch.float32, torch.float64)


def check_tensors(
    entry: str, tensors: dict[str, Tensor], shapes: dict[str, tuple[int, ...]]
) -> None:
    """Raise ValueError unless every tensor is a contiguous CPU float32/float64 tensor of the
    first one's dtype, shaped as `shapes` says (for the names it lists)."""
    first_name, first = next(iter(tensors.items()))
    dtype = first.dtype
    if dtype not in DTYPES:
        raise ValueError(f"{entry}: {first_name} is {dtype}; the kernel takes float32 or float64")
    for name, tensor in tensors.items():
        if not isinstance(tensor, Tensor):
            raise ValueError(f"{entry}: {name} is {type(tensor).__name__}, not a tensor")
        if tensor.dtype != dtype:
            raise ValueError(
                f"{entry}: {name} is {tensor.dtype} but {first_name} is {dtype}; "
                "all tensors must share one dtype"
            )
        if tensor.device.type != "cpu":
            raise ValueError(f"{entry}: {name} is on {tensor.device}; the kernel runs on the CPU")
        if not tensor.is_contiguous():
            raise ValueError(f"{entry}: {name} is not contiguous (call .contiguous() first)")
        expected = shapes.get(name)
        if expected is not None and tuple(tensor.shape) != expected:
            raise ValueError(
                f"{entry}: {name} has shape {tuple(tensor.shape)}; expected {expected}"
            )


def check_dims(entry: str, tensor_name: str, tensor: Tensor, dims: int) -> None:
    if not isinstance(tensor, Tensor) or tensor.dim() != dims:
        shape = tuple(tensor.shape) if isinstance(tensor, Tensor) else type(tensor).__name__
        raise ValueError(f"{entry}: {tensor_name} must be {dims}-D, got {shape}")
