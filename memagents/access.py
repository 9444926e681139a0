"""Memory access modules: the NTM's and the DNC's heads and memory, one step at a time.

An access module owns one fused linear layer (the "interface") from the controller output to every
head parameter of every head, so a step costs one matmul plus a split instead of one layer per head
and per parameter. Its state is an immutable NamedTuple passed in and returned; nothing is kept on
the module. Shapes follow the legend in `memagents.addressing`.

Initial state (see `NTMAccess.initial_state` and `DNCAccess.initial_state` for the reasoning):
- NTM: memory a small constant (1e-6), initial read vectors and head weights learned
  (tanh / softmax of parameters), the combination Collier & Beel (2018, "Implementing Neural
  Turing Machines") found to converge fastest and most reliably on copy, repeat-copy and
  associative recall.
- DNC: memory the same small constant, every weighting, the usage, the link and the precedence zero,
  as in deepmind/dnc. Zero write weights matter: jingweiz/pytorch-dnc's one-hot-at-slot-0 weights
  marked slot 0 as used before anything was written to it.

The step after the interface layer is one registered torch op per circuit (`memagents.kernels.ops`:
a fused C kernel on the CPU, the torch ops of `memagents.kernels.torch_ops` elsewhere); the
interface vector's fields are declared once, in `memagents.kernels.layout`.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor, nn

from memagents.kernels import ops, torch_ops
from memagents.kernels.build import available as c_kernels_available
from memagents.kernels.layout import InterfaceLayout, dnc_layout, ntm_layout

MEMORY_INIT = 1e-6

HEAD_STARTS = ("learned", "first")
"""Where the NTM's heads start: learned initial weights (near uniform at first), or slot 0."""


def _implementation(access: NTMAccess | DNCAccess) -> str:
    """What runs the step for the module's current device and dtype, for printing."""
    if access.uses_kernel(access.interface.weight):
        return "the fused C kernel (memagents.kernels)"
    return "torch ops"


class NTMAccessState(NamedTuple):
    """NTM memory and heads.

    memory (B, N, W); read_weights (B, R, N); write_weights (B, H, N); read_vectors (B, R, W).
    """

    memory: Tensor
    read_weights: Tensor
    write_weights: Tensor
    read_vectors: Tensor


class DNCAccessState(NamedTuple):
    """DNC memory, heads, usage and temporal links.

    memory (B, N, W); read_weights (B, R, N); write_weights (B, H, N); usage (B, N);
    link (B, H, N, N); precedence (B, H, N); read_vectors (B, R, W).
    """

    memory: Tensor
    read_weights: Tensor
    write_weights: Tensor
    usage: Tensor
    link: Tensor
    precedence: Tensor
    read_vectors: Tensor


class NTMAccess(nn.Module):
    """NTM heads (content + location addressing) over one memory (Graves et al. 2014, section 3).

    All R read and H write heads address the previous memory M_{t-1} together (K = R + H rows of
    every addressing op); read heads read M_{t-1}, then the write heads erase and add.

    The interface layer's output is laid out as `memagents.kernels.layout.NTM_INTERFACE` says
    (`self.layout`): keys, add vectors, gates, erase vectors, strengths, gammas, shift logits.

    `use_kernel` (True): the step after the interface layer is the op `memagents::ntm_access`, on
    CPU in float32/float64 one fused C kernel with a hand-written backward (also under
    torch.compile), elsewhere or without a C compiler (or with MEMAGENTS_KERNELS=0) the torch ops.
    False (on an instance) calls the torch ops (`memagents.kernels.torch_ops.ntm_access`) directly.
    """

    use_kernel = True

    def __init__(
        self,
        controller_size: int,
        memory_size: int = 128,
        word_size: int = 20,
        num_reads: int = 1,
        num_writes: int = 1,
        shift_range: int = 1,
        memory_init: float = MEMORY_INIT,
        head_start: str = "learned",
        forward_shift: float = 0.0,
        write_gate_bias: float = 0.0,
    ) -> None:
        super().__init__()
        if head_start not in HEAD_STARTS:
            raise ValueError(f"head_start {head_start!r} is not one of {HEAD_STARTS}")
        if shift_range < 0 or 2 * shift_range + 1 > memory_size:
            raise ValueError(f"shift_range {shift_range} does not fit {memory_size} slots")
        self.memory_size = memory_size
        self.word_size = word_size
        self.num_reads = num_reads
        self.num_writes = num_writes
        self.shift_range = shift_range
        self.memory_init = memory_init
        self.head_start = head_start
        heads = num_reads + num_writes
        self.layout: InterfaceLayout = ntm_layout(num_reads, num_writes, word_size, shift_range)
        self.offsets = list(self.layout.offsets)  # what the op takes
        self.interface = nn.Linear(controller_size, self.layout.size)
        # Learned initial read vectors (through tanh) and head weights (through softmax). The logits
        # start as small noise: the softmax is near uniform but not exactly, which breaks the
        # symmetry between slots that a constant memory cannot break by content.
        self.initial_read_vectors = nn.Parameter(torch.randn(num_reads, word_size) * 0.5)
        self.initial_weight_logits = nn.Parameter(torch.randn(heads, memory_size) * 0.5)
        if head_start == "first":
            # Every head starts on slot 0, so the first item is written to one row, not smeared
            # (trained read heads still find it by content: docs/results/length-generalisation.md,
            # section 6). The softmax is saturated (the other slots get e^-30 each), so these
            # logits receive no gradient to speak of: the start is fixed.
            with torch.no_grad():
                self.initial_weight_logits.fill_(-30.0)
                self.initial_weight_logits[:, 0] = 0.0
        if forward_shift:
            # Every head's +1 shift logit (field "shifts", K x S, shift s - shift_range at s)
            # starts `forward_shift` above the others: heads that step forward from the start.
            shifts = self.layout.field("shifts")
            size = shifts.shape[-1]
            forward = [shifts.offset + k * size + shift_range + 1 for k in range(heads)]
            with torch.no_grad():
                self.interface.bias[forward] += forward_shift
        if write_gate_bias:
            # Every write head's interpolation gate (field "gates", K: read heads, then write
            # heads) starts `write_gate_bias` off zero: negative starts writes by location.
            gates = self.layout.field("gates")
            with torch.no_grad():
                self.interface.bias[gates.offset + num_reads : gates.offset + heads] += (
                    write_gate_bias
                )

    @property
    def reads_size(self) -> int:
        return self.num_reads * self.word_size

    def uses_kernel(self, like: Tensor) -> bool:
        """Whether a step on tensors like `like` runs the fused C kernel (else the torch ops)."""
        return self.use_kernel and c_kernels_available(like)

    def initial_state(self, batch_size: int, memory_size: int | None = None) -> NTMAccessState:
        """Constant memory (`memory_init`, 1e-6 by default), learned read vectors and weights, on
        the parameters' device/dtype. ``memory_size``: a memory of the first that many slots
        (1..``self.memory_size``), the heads' start weights renormalised over them (training on
        memories of several sizes, ``TrainConfig.min_train_memory_size``).

        Why: a constant memory is the same for every sequence, so the model cannot lean on random
        initial contents; 1e-6 (not 0) gives every row a norm, so similarities are defined (and,
        with |row| = 1e-6 sqrt(W) next to the 1e-6 added to each norm, about 0.82 of the true
        cosine at W = 20, the same for every slot) until the first write; learned weights let the
        model choose where its heads start, which Collier & Beel found to converge faster than
        one-hot or random starts.
        """
        slots = self.memory_size if memory_size is None else memory_size
        if not 2 * self.shift_range + 1 <= slots <= self.memory_size:
            raise ValueError(
                f"memory_size {slots}: needs {2 * self.shift_range + 1}..{self.memory_size} slots"
            )
        weights = torch.softmax(self.initial_weight_logits[:, :slots], -1)  # (K, N)
        weights = weights.unsqueeze(0).expand(batch_size, -1, -1)
        read_vectors = torch.tanh(self.initial_read_vectors).unsqueeze(0)
        memory = self.initial_weight_logits.new_full(
            (batch_size, slots, self.word_size), self.memory_init
        )
        return NTMAccessState(
            memory=memory,
            read_weights=weights[:, : self.num_reads],
            write_weights=weights[:, self.num_reads :],
            read_vectors=read_vectors.expand(batch_size, -1, -1),
        )

    def forward(
        self, controller_output: Tensor, prev_state: NTMAccessState
    ) -> tuple[Tensor, NTMAccessState]:
        """One step.

        Args:
            controller_output: (B, C).
            prev_state: NTMAccessState at t-1.

        Returns:
            read vectors (B, R, W) and the NTMAccessState at t.
        """
        step = ops.ntm_access if self.use_kernel else torch_ops.ntm_access
        reads, read_weights, write_weights, memory = step(
            self.interface(controller_output),
            prev_state.memory,
            prev_state.read_weights,
            prev_state.write_weights,
            self.shift_range,
            self.offsets,
        )
        return reads, NTMAccessState(memory, read_weights, write_weights, reads)

    def extra_repr(self) -> str:
        return (
            f"memory={self.memory_size}x{self.word_size}, reads={self.num_reads}, "
            f"writes={self.num_writes}, shifts=-{self.shift_range}..+{self.shift_range}, "
            f"interface [{self.layout.describe()}], step on {_implementation(self)}"
        )


class DNCAccess(nn.Module):
    """DNC write head(s) with dynamic allocation, read heads with temporal links (Graves 2016).

    Order within a step (as deepmind/dnc): usage from the previous weights and the free gates;
    write weights (content on M_{t-1} mixed with allocation); erase and write; link and precedence;
    read weights (content on M_t mixed with forward/backward links); read M_t.

    The interface layer's output is laid out as `memagents.kernels.layout.DNC_INTERFACE` says
    (`self.layout`): keys (read heads, then write heads), write vectors, erase vectors, free
    gates, allocation gates, write gates, strengths, read-mode logits.

    `stop_usage_gradient` (True, as deepmind/dnc): usage is not differentiated through the previous
    write weights. Tests set it False to compare the step against numerical gradients.

    `use_kernel` (True): with stop_usage_gradient, the step after the interface layer is the op
    `memagents::dnc_access`, on CPU in float32/float64 with one write head one fused C kernel
    with a hand-written backward (also under torch.compile), otherwise (and with
    MEMAGENTS_KERNELS=0) the torch ops. False (on an instance) calls the torch ops
    (`memagents.kernels.torch_ops`) directly.
    """

    stop_usage_gradient = True
    use_kernel = True

    def __init__(
        self,
        controller_size: int,
        memory_size: int = 16,
        word_size: int = 16,
        num_reads: int = 4,
        num_writes: int = 1,
        memory_init: float = MEMORY_INIT,
    ) -> None:
        super().__init__()
        self.memory_size = memory_size
        self.word_size = word_size
        self.num_reads = num_reads
        self.num_writes = num_writes
        self.memory_init = memory_init
        self.num_modes = 2 * num_writes + 1
        self.layout: InterfaceLayout = dnc_layout(num_reads, num_writes, word_size)
        self.offsets = list(self.layout.offsets)  # what the op takes
        self.interface = nn.Linear(controller_size, self.layout.size)
        self.register_buffer("off_diagonal", 1.0 - torch.eye(memory_size), persistent=False)

    @property
    def reads_size(self) -> int:
        return self.num_reads * self.word_size

    def uses_kernel(self, like: Tensor) -> bool:
        """Whether a step on tensors like `like` runs the fused C kernel (else the torch ops):
        one write head, the usage gradient stopped, CPU float32/float64, a built library."""
        return (
            self.use_kernel
            and self.num_writes == 1
            and self.stop_usage_gradient
            and c_kernels_available(like)
        )

    def initial_state(self, batch_size: int) -> DNCAccessState:
        """Constant memory (`memory_init`, 1e-6 by default); zero weights, usage, link, precedence
        and read vectors.

        Why zeros: usage is built from the previous write weights, so any non-zero initial write
        weight (jingweiz/pytorch-dnc's one-hot at slot 0) would count as a write that never
        happened and push allocation off slot 0 at the first step; zero link and precedence say
        "nothing written yet", which is what the link recurrences assume. Symmetry is broken by
        allocation itself: the stable sort sends ties (all usage 0) to the lowest index, so the
        first write goes to slot 0, the next to slot 1, and so on.
        """
        B, N, W = batch_size, self.memory_size, self.word_size
        R, H = self.num_reads, self.num_writes
        like = self.off_diagonal
        return DNCAccessState(
            memory=like.new_full((B, N, W), self.memory_init),
            read_weights=like.new_zeros(B, R, N),
            write_weights=like.new_zeros(B, H, N),
            usage=like.new_zeros(B, N),
            link=like.new_zeros(B, H, N, N),
            precedence=like.new_zeros(B, H, N),
            read_vectors=like.new_zeros(B, R, W),
        )

    def forward(
        self, controller_output: Tensor, prev_state: DNCAccessState
    ) -> tuple[Tensor, DNCAccessState]:
        """One step.

        Args:
            controller_output: (B, C).
            prev_state: DNCAccessState at t-1.

        Returns:
            read vectors (B, R, W) and the DNCAccessState at t.
        """
        interface = self.interface(controller_output)
        state = prev_state[:6]  # memory, read and write weights, usage, link, precedence
        if self.use_kernel and self.stop_usage_gradient:
            reads, *new_state = ops.dnc_access(interface, *state, self.offsets)
        else:
            reads, *new_state = torch_ops.dnc_access(
                interface,
                *state,
                self.offsets,
                stop_usage_gradient=self.stop_usage_gradient,
                off_diagonal=self.off_diagonal,
            )
        read_weights, write_weights, usage, link, precedence, memory = new_state
        state = DNCAccessState(memory, read_weights, write_weights, usage, link, precedence, reads)
        return reads, state

    def extra_repr(self) -> str:
        return (
            f"memory={self.memory_size}x{self.word_size}, reads={self.num_reads}, "
            f"writes={self.num_writes}, interface [{self.layout.describe()}], "
            f"step on {_implementation(self)}"
        )
