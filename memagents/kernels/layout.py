"""The NTM's and the DNC's interface vectors, declared once: each field's name, shape, activation.

An access module's interface layer emits one flat vector per batch element; these tables say what
is where. Everything else reads its offsets from here: the access modules size their interface
layer with `InterfaceLayout.size`, the torch-ops path (`memagents.kernels.torch_ops`) slices and
activates the fields by `InterfaceLayout.offsets`, and the C kernels receive the same offsets as an
argument (`ntm_access.c` and `dnc_access.c` index them by the field names below, in this order).

A shape is written in the dimension letters of the legend in `memagents.addressing` (K = R + H
heads addressed together, S = 2 * shift_range + 1 shifts, M = 2H + 1 read modes), or as a number.
Activations: "linear" (none), "sigmoid", "oneplus" (1 + softplus), "softmax" (over the last
dimension of the field's shape). The C kernels implement these same activations per field.
"""

from __future__ import annotations

import functools
import math
from typing import NamedTuple

__all__ = [
    "DNC_INTERFACE",
    "NTM_INTERFACE",
    "Field",
    "InterfaceLayout",
    "dnc_layout",
    "ntm_layout",
]

ACTIVATIONS = ("linear", "sigmoid", "oneplus", "softmax")

# (field, shape, activation), packed in this order. The C kernels take the offsets of exactly these
# names (a table may add fields they ignore, which tests use to show that all readers follow).
NTM_INTERFACE: tuple[tuple[str, str, str], ...] = (
    ("keys", "K W", "linear"),
    ("add", "H W", "linear"),
    ("gates", "K", "sigmoid"),
    ("erase", "H W", "sigmoid"),
    ("strengths", "K", "oneplus"),
    ("gammas", "K", "oneplus"),
    ("shifts", "K S", "softmax"),
)
NTM_FIELDS = ("keys", "add", "gates", "erase", "strengths", "gammas", "shifts")

DNC_INTERFACE: tuple[tuple[str, str, str], ...] = (
    ("keys", "K W", "linear"),  # read heads' keys, then the write heads'
    ("write_vectors", "H W", "linear"),
    ("erase", "H W", "sigmoid"),
    ("free_gates", "R", "sigmoid"),
    ("allocation_gates", "H", "sigmoid"),
    ("write_gates", "H", "sigmoid"),
    ("strengths", "K", "oneplus"),  # read heads', then the write heads'
    ("read_modes", "R M", "softmax"),  # [backward x H, forward x H, content]
)
DNC_FIELDS = (
    "keys",
    "write_vectors",
    "erase",
    "free_gates",
    "allocation_gates",
    "write_gates",
    "strengths",
    "read_modes",
)


class Field(NamedTuple):
    """One field of an interface vector: `shape` per batch element, at `offset` in the vector."""

    name: str
    shape: tuple[int, ...]
    activation: str
    offset: int

    @property
    def size(self) -> int:
        return math.prod(self.shape)


class InterfaceLayout(NamedTuple):
    """The fields of one circuit's interface vector, in order, and its size P.

    `offsets` is what the op and the C kernels take: the offsets of the fields `names` (the ones
    the kernels read, in their order), then P.
    """

    fields: tuple[Field, ...]
    size: int
    names: tuple[str, ...]

    @property
    def offsets(self) -> tuple[int, ...]:
        by_name = {field.name: field.offset for field in self.fields}
        return (*(by_name[name] for name in self.names), self.size)

    def field(self, name: str) -> Field:
        for field in self.fields:
            if field.name == name:
                return field
        raise KeyError(name)

    def describe(self) -> str:
        """e.g. "keys 2x20 | add 1x20 | sigmoid: gates 2 | ..." for printing."""
        parts = []
        for field in self.fields:
            size = "x".join(str(n) for n in field.shape)
            prefix = "" if field.activation == "linear" else f"{field.activation}: "
            parts.append(f"{prefix}{field.name.replace('_', ' ')} {size}")
        return " | ".join(parts)


def _resolve(shape: str, dims: dict[str, int]) -> tuple[int, ...]:
    return tuple(int(part) if part.isdigit() else dims[part] for part in shape.split())


@functools.lru_cache(maxsize=256)
def pack(
    table: tuple[tuple[str, str, str], ...], names: tuple[str, ...], **dims: int
) -> InterfaceLayout:
    """Lay the fields of `table` out one after another, shapes resolved with `dims` (cached)."""
    fields, offset = [], 0
    for name, shape, activation in table:
        if activation not in ACTIVATIONS:
            raise ValueError(f"field {name!r}: activation {activation!r} not in {ACTIVATIONS}")
        field = Field(name, _resolve(shape, dims), activation, offset)
        fields.append(field)
        offset += field.size
    missing = set(names) - {field.name for field in fields}
    if missing:
        raise ValueError(f"the interface table lacks the fields {sorted(missing)}")
    return InterfaceLayout(tuple(fields), offset, tuple(names))


def ntm_layout(
    num_reads: int, num_writes: int, word_size: int, shift_range: int
) -> InterfaceLayout:
    """The NTM's interface layout (read from `NTM_INTERFACE` at each call)."""
    return pack(
        tuple(NTM_INTERFACE),
        NTM_FIELDS,
        K=num_reads + num_writes,
        R=num_reads,
        H=num_writes,
        W=word_size,
        S=2 * shift_range + 1,
    )


def dnc_layout(num_reads: int, num_writes: int, word_size: int) -> InterfaceLayout:
    """The DNC's interface layout (read from `DNC_INTERFACE` at each call)."""
    return pack(
        tuple(DNC_INTERFACE),
        DNC_FIELDS,
        K=num_reads + num_writes,
        R=num_reads,
        H=num_writes,
        W=word_size,
        M=2 * num_writes + 1,
    )


class Run(NamedTuple):
    """Adjacent fields that share an elementwise activation: sliced and activated as one."""

    start: int
    stop: int
    activation: str
    fields: tuple[Field, ...]


@functools.lru_cache(maxsize=256)
def plan(layout: InterfaceLayout, offsets: tuple[int, ...]) -> tuple[Run, ...]:
    """The fields of `layout` placed at `offsets` (as the op receives them), grouped into runs.

    Validates the offsets: one per kernel field plus P, every field inside [0, P), no overlaps.
    """
    names = layout.names
    if len(offsets) != len(names) + 1:
        raise ValueError(
            f"offsets has {len(offsets)} entries; expected {len(names) + 1} ({', '.join(names)}, P)"
        )
    *starts, total = offsets
    fields = sorted(
        (
            layout.field(name)._replace(offset=start)
            for name, start in zip(names, starts, strict=True)
        ),
        key=lambda field: field.offset,
    )
    end = 0
    for field in fields:
        if field.offset < end:
            raise ValueError(
                f"interface field {field.name!r} at {field.offset} overlaps the one before"
            )
        end = field.offset + field.size
    if fields and (fields[0].offset < 0 or end > total):
        raise ValueError(f"interface fields span {fields[0].offset}..{end}, outside 0..{total}")
    runs: list[Run] = []
    for field in fields:
        previous = runs[-1] if runs else None
        if (
            previous is not None
            and field.activation != "softmax"
            and previous.activation == field.activation
            and previous.stop == field.offset
        ):
            runs[-1] = Run(
                previous.start,
                field.offset + field.size,
                field.activation,
                (*previous.fields, field),
            )
        else:
            runs.append(Run(field.offset, field.offset + field.size, field.activation, (field,)))
    return tuple(runs)
