"""The NTM and DNC access steps composed of torch ops: free functions with the ops' signatures.

    reads, read_weights, write_weights, memory = ntm_access(
        interface, prev_memory, prev_read_weights, prev_write_weights, shift_range, offsets
    )
    reads, read_weights, write_weights, usage, link, precedence, memory = dnc_access(
        interface, prev_memory, prev_read_weights, prev_write_weights, prev_usage, prev_link,
        prev_precedence, offsets
    )

These are the implementation of the ops `memagents::ntm_access` and `memagents::dnc_access`
(`memagents.kernels.ops`) on every device but the CPU with a built C library, and the reference the
C kernels are tested against. `offsets` (default: the circuit's standard layout) places the
interface fields as `memagents.kernels.layout` declares them; shapes follow the legend in
`memagents.addressing`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from memagents import addressing
from memagents.kernels.layout import InterfaceLayout, dnc_layout, ntm_layout, plan

__all__ = ["dnc_access", "ntm_access", "unpack"]


def unpack(
    interface: Tensor, layout: InterfaceLayout, offsets: Sequence[int] | None = None
) -> dict[str, Tensor]:
    """The fields of `interface` (B, P), activated and shaped (B, *field.shape), by name.

    Adjacent fields with the same elementwise activation are activated with one op.
    """
    B = interface.shape[0]
    offsets = layout.offsets if offsets is None else tuple(offsets)
    if interface.shape[-1] != offsets[-1]:
        raise ValueError(
            f"interface has {interface.shape[-1]} features; the layout has {offsets[-1]}"
        )
    fields: dict[str, Tensor] = {}
    for run in plan(layout, offsets):
        piece = interface[:, run.start : run.stop]
        if run.activation == "sigmoid":
            piece = torch.sigmoid(piece)
        elif run.activation == "oneplus":
            piece = addressing.oneplus(piece)
        if len(run.fields) == 1:
            pieces: Sequence[Tensor] = (piece,)
        else:
            pieces = torch.split(piece, [field.size for field in run.fields], -1)
        for field, value in zip(run.fields, pieces, strict=True):
            value = value.reshape(B, *field.shape)
            if field.activation == "softmax":
                value = torch.softmax(value, -1)
            fields[field.name] = value
    return fields


def ntm_access(
    interface: Tensor,
    prev_memory: Tensor,
    prev_read_weights: Tensor,
    prev_write_weights: Tensor,
    shift_range: int,
    offsets: Sequence[int] | None = None,
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """One NTM access step after the interface layer (Graves et al. 2014, section 3).

    All R read and H write heads address M_{t-1} together (K = R + H rows of every addressing
    op); the read heads read M_{t-1}, then the write heads erase and add.

    Args:
        interface: (B, P) the interface layer's output, laid out as `layout.NTM_INTERFACE`.
        prev_memory: (B, N, W).
        prev_read_weights: (B, R, N); prev_write_weights: (B, H, N).
        shift_range: shifts -shift_range..+shift_range.
        offsets: the fields' offsets and P (`InterfaceLayout.offsets`); None: the standard layout.

    Returns:
        read vectors (B, R, W) of M_{t-1}, read weights (B, R, N), write weights (B, H, N) and
        the new memory (B, N, W).
    """
    W = prev_memory.shape[2]
    R, H = prev_read_weights.shape[1], prev_write_weights.shape[1]
    fields = unpack(interface, ntm_layout(R, H, W, shift_range), offsets)
    prev_weights = torch.cat([prev_read_weights, prev_write_weights], 1)  # (B, R + H, N)

    content = addressing.content_weighting(prev_memory, fields["keys"], fields["strengths"])
    weights = addressing.interpolate(content, prev_weights, fields["gates"])
    weights = addressing.circular_shift(weights, fields["shifts"])
    weights = addressing.sharpen(weights, fields["gammas"])  # (B, K, N)
    read_weights, write_weights = torch.split(weights, [R, H], 1)

    reads = addressing.read_memory(prev_memory, read_weights)
    memory = addressing.erase_and_write(prev_memory, write_weights, fields["erase"], fields["add"])
    return reads, read_weights, write_weights, memory


def dnc_access(
    interface: Tensor,
    prev_memory: Tensor,
    prev_read_weights: Tensor,
    prev_write_weights: Tensor,
    prev_usage: Tensor,
    prev_link: Tensor,
    prev_precedence: Tensor,
    offsets: Sequence[int] | None = None,
    *,
    stop_usage_gradient: bool = True,
    off_diagonal: Tensor | None = None,
) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor]:
    """One DNC access step after the interface layer (Graves et al. 2016, Methods).

    Order (as deepmind/dnc): usage from the previous weights and the free gates; write weights
    (content on M_{t-1} mixed with allocation); erase and write; link and precedence; read
    weights (content on M_t mixed with the links' two directions); read M_t.

    Args:
        interface: (B, P) the interface layer's output, laid out as `layout.DNC_INTERFACE`.
        prev_memory (B, N, W), prev_read_weights (B, R, N), prev_write_weights (B, H, N),
        prev_usage (B, N), prev_link (B, H, N, N), prev_precedence (B, H, N): the state at t-1.
        offsets: the fields' offsets and P (`InterfaceLayout.offsets`); None: the standard layout.
        stop_usage_gradient: usage is not differentiated through the previous write weights (as
            deepmind/dnc, and as the op); False only for tests against numerical gradients.
        off_diagonal: (N, N) ones with a zero diagonal, if the caller keeps one.

    Returns:
        read vectors (B, R, W) of M_t, then the state at t: read weights, write weights, usage,
        link, precedence and memory, shaped as their inputs.
    """
    W = prev_memory.shape[2]
    R, H = prev_read_weights.shape[1], prev_write_weights.shape[1]
    fields = unpack(interface, dnc_layout(R, H, W), offsets)
    read_keys, write_keys = torch.split(fields["keys"], [R, H], 1)
    read_strengths, write_strengths = torch.split(fields["strengths"], [R, H], -1)
    if stop_usage_gradient:
        prev_write_weights = prev_write_weights.detach()
    usage = addressing.update_usage(
        prev_usage, prev_write_weights, fields["free_gates"], prev_read_weights
    )

    # Write.
    allocation_gates, write_gates = fields["allocation_gates"], fields["write_gates"]
    write_content = addressing.content_weighting(prev_memory, write_keys, write_strengths)
    allocation = addressing.write_allocation_weights(usage, allocation_gates * write_gates, H)
    write_weights = addressing.write_weighting(
        write_content, allocation, allocation_gates, write_gates
    )
    memory = addressing.erase_and_write(
        prev_memory, write_weights, fields["erase"], fields["write_vectors"]
    )
    link = addressing.update_link(prev_link, prev_precedence, write_weights, off_diagonal)
    precedence = addressing.update_precedence(prev_precedence, write_weights)

    # Read.
    read_content = addressing.content_weighting(memory, read_keys, read_strengths)
    forward_weights = addressing.directional_read_weights(link, prev_read_weights, True)
    backward_weights = addressing.directional_read_weights(link, prev_read_weights, False)
    read_weights = addressing.read_mode_weighting(
        read_content, forward_weights, backward_weights, fields["read_modes"]
    )
    reads = addressing.read_memory(memory, read_weights)
    return reads, read_weights, write_weights, usage, link, precedence, memory
