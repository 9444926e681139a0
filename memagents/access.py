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
  as in deepmind/dnc. Zero write weights matter: the seed's one-hot-at-slot-0 weights marked slot 0
  as used before anything was written to it.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor, nn

from memagents import addressing as A
from memagents.kernels import build as kernels
from memagents.kernels.dnc import dnc_access
from memagents.kernels.ntm import ntm_access

MEMORY_INIT = 1e-6


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

    Interface layout (one linear layer of the controller output), K = R + H,
    S = 2 * shift_range + 1:
        keys K*W | add vectors H*W | sigmoid: gates K, erase vectors H*W
        | oneplus: strengths K, gammas K | shift logits K*S

    `use_kernel` (True): on CPU in float32/float64, run the step after the interface layer as one
    fused C kernel with a hand-written backward (`memagents.kernels`, the same maths, tested
    against the torch ops below); elsewhere, under torch.compile, or without a C compiler, the
    torch ops run. Set it False on an instance (or MEMAGENTS_KERNELS=0) to force the torch ops.
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
    ) -> None:
        super().__init__()
        if shift_range < 0 or 2 * shift_range + 1 > memory_size:
            raise ValueError(f"shift_range {shift_range} does not fit {memory_size} slots")
        self.memory_size = memory_size
        self.word_size = word_size
        self.num_reads = num_reads
        self.num_writes = num_writes
        self.shift_range = shift_range
        heads = num_reads + num_writes
        shifts = 2 * shift_range + 1
        self.split_sizes = [
            heads * word_size,  # keys
            num_writes * word_size,  # add vectors
            heads + num_writes * word_size,  # sigmoid: gates, erase vectors
            2 * heads,  # oneplus: strengths, gammas
            heads * shifts,  # shift logits
        ]
        self.interface = nn.Linear(controller_size, sum(self.split_sizes))
        # Learned initial read vectors (through tanh) and head weights (through softmax). The logits
        # start as small noise: the softmax is near uniform but not exactly, which breaks the
        # symmetry between slots that a constant memory cannot break by content.
        self.initial_read_vectors = nn.Parameter(torch.randn(num_reads, word_size) * 0.5)
        self.initial_weight_logits = nn.Parameter(torch.randn(heads, memory_size) * 0.5)

    @property
    def reads_size(self) -> int:
        return self.num_reads * self.word_size

    def uses_kernel(self, like: Tensor) -> bool:
        """Whether a step on tensors like `like` runs the fused C kernel (else the torch ops)."""
        return self.use_kernel and kernels.available(like)

    def initial_state(self, batch_size: int) -> NTMAccessState:
        """Constant memory 1e-6, learned read vectors and weights, on the parameters' device/dtype.

        Why: a constant memory is the same for every sequence, so the model cannot lean on random
        initial contents, and 1e-6 (not 0) keeps cosine similarities defined and tiny until the
        first write; learned weights let the model choose where its heads start, which Collier &
        Beel found to converge faster than one-hot or random starts.
        """
        weights = torch.softmax(self.initial_weight_logits, -1)  # (K, N)
        weights = weights.unsqueeze(0).expand(batch_size, -1, -1)
        read_vectors = torch.tanh(self.initial_read_vectors).unsqueeze(0)
        memory = self.initial_weight_logits.new_full(
            (batch_size, self.memory_size, self.word_size), MEMORY_INIT
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
        interface = self.interface(controller_output)
        if self.uses_kernel(interface):
            reads, read_weights, write_weights, memory = ntm_access(
                interface,
                prev_state.memory,
                prev_state.read_weights,
                prev_state.write_weights,
                self.shift_range,
            )
            return reads, NTMAccessState(memory, read_weights, write_weights, reads)

        B = interface.shape[0]
        R, H, W = self.num_reads, self.num_writes, self.word_size
        K = R + H
        keys, add, gated, strengths_gammas, shifts = torch.split(
            interface, self.split_sizes, dim=-1
        )
        gates, erase = torch.split(torch.sigmoid(gated), [K, H * W], -1)
        strengths, gammas = torch.split(A.oneplus(strengths_gammas), [K, K], -1)
        prev_weights = torch.cat([prev_state.read_weights, prev_state.write_weights], 1)

        content = A.content_weighting(prev_state.memory, keys.view(B, K, W), strengths)
        weights = A.interpolate(content, prev_weights, gates)
        shift_weights = torch.softmax(shifts.view(B, K, -1), -1)
        weights = A.circular_shift(weights, shift_weights)
        weights = A.sharpen(weights, gammas)  # (B, K, N)
        read_weights, write_weights = torch.split(weights, [R, H], 1)

        read_vectors = A.read_memory(prev_state.memory, read_weights)
        memory = A.erase_and_write(
            prev_state.memory, write_weights, erase.view(B, H, W), add.view(B, H, W)
        )
        return read_vectors, NTMAccessState(memory, read_weights, write_weights, read_vectors)

    def extra_repr(self) -> str:
        return (
            f"memory={self.memory_size}x{self.word_size}, reads={self.num_reads}, "
            f"writes={self.num_writes}, shifts=-{self.shift_range}..+{self.shift_range}, "
            f"interface split={self.split_sizes} "
            "[keys | add | sigmoid: gates, erase | oneplus: strengths, gammas | shifts], "
            f"step on {_implementation(self)}"
        )


class DNCAccess(nn.Module):
    """DNC write head(s) with dynamic allocation, read heads with temporal links (Graves 2016).

    Order within a step (as deepmind/dnc): usage from the previous weights and the free gates;
    write weights (content on M_{t-1} mixed with allocation); erase and write; link and precedence;
    read weights (content on M_t mixed with forward/backward links); read M_t.

    Interface layout (one linear layer of the controller output), K = R + H:
        keys K*W (read heads then write heads) | write vectors H*W
        | sigmoid: erase vectors H*W, free gates R, allocation gates H, write gates H
        | oneplus: strengths K | read-mode logits R*(2H+1) [backward x H, forward x H, content]

    `stop_usage_gradient` (True, as deepmind/dnc): usage is not differentiated through the previous
    write weights. Tests set it False to compare the step against numerical gradients.

    `use_kernel` (True): with one write head and stop_usage_gradient, on CPU in float32/float64,
    run the step after the interface layer as one fused C kernel with a hand-written backward
    (`memagents.kernels`, the same maths, tested against the torch ops below); otherwise the
    torch ops run. Set it False on an instance (or MEMAGENTS_KERNELS=0) to force the torch ops.
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
    ) -> None:
        super().__init__()
        self.memory_size = memory_size
        self.word_size = word_size
        self.num_reads = num_reads
        self.num_writes = num_writes
        R, H, W = num_reads, num_writes, word_size
        self.num_modes = 2 * H + 1
        self.split_sizes = [
            (R + H) * W,  # keys
            H * W,  # write vectors
            H * W + R + 2 * H,  # sigmoid: erase, free gates, allocation gates, write gates
            R + H,  # oneplus: strengths
            R * self.num_modes,  # read modes
        ]
        self.interface = nn.Linear(controller_size, sum(self.split_sizes))
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
            and kernels.available(like)
        )

    def initial_state(self, batch_size: int) -> DNCAccessState:
        """Constant memory 1e-6; zero weights, usage, link, precedence and read vectors.

        Why zeros: usage is built from the previous write weights, so any non-zero initial write
        weight (the seed's one-hot at slot 0) would count as a write that never happened and push
        allocation off slot 0 at the first step; zero link and precedence say "nothing written
        yet", which is what the link recurrences assume. Symmetry is broken by allocation itself:
        the stable sort sends ties (all usage 0) to the lowest index, so the first write goes to
        slot 0, the next to slot 1, and so on.
        """
        B, N, W = batch_size, self.memory_size, self.word_size
        R, H = self.num_reads, self.num_writes
        like = self.off_diagonal
        return DNCAccessState(
            memory=like.new_full((B, N, W), MEMORY_INIT),
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
        if self.uses_kernel(interface):
            reads, *state = dnc_access(
                interface,
                prev_state.memory,
                prev_state.read_weights,
                prev_state.write_weights,
                prev_state.usage,
                prev_state.link,
                prev_state.precedence,
            )
            memory = state.pop()
            return reads, DNCAccessState(memory, *state, reads)

        B = interface.shape[0]
        R, H, W = self.num_reads, self.num_writes, self.word_size
        keys, write_vectors, gated, strengths, modes = torch.split(
            interface, self.split_sizes, dim=-1
        )
        erase, free_gates, allocation_gates, write_gates = torch.split(
            torch.sigmoid(gated), [H * W, R, H, H], -1
        )
        read_strengths, write_strengths = torch.split(A.oneplus(strengths), [R, H], -1)
        read_keys, write_keys = torch.split(keys.view(B, R + H, W), [R, H], 1)

        prev_write_weights = prev_state.write_weights
        if self.stop_usage_gradient:
            prev_write_weights = prev_write_weights.detach()
        usage = A.update_usage(
            prev_state.usage,
            prev_write_weights,
            free_gates,
            prev_state.read_weights,
        )

        # Write.
        write_content = A.content_weighting(prev_state.memory, write_keys, write_strengths)
        allocation = A.write_allocation_weights(usage, allocation_gates * write_gates, H)
        write_weights = A.write_weighting(write_content, allocation, allocation_gates, write_gates)
        memory = A.erase_and_write(
            prev_state.memory, write_weights, erase.view(B, H, W), write_vectors.view(B, H, W)
        )
        link = A.update_link(
            prev_state.link, prev_state.precedence, write_weights, self.off_diagonal
        )
        precedence = A.update_precedence(prev_state.precedence, write_weights)

        # Read.
        read_content = A.content_weighting(memory, read_keys, read_strengths)
        forward_weights = A.directional_read_weights(link, prev_state.read_weights, True)
        backward_weights = A.directional_read_weights(link, prev_state.read_weights, False)
        read_modes = torch.softmax(modes.view(B, R, self.num_modes), -1)
        read_weights = A.read_mode_weighting(
            read_content, forward_weights, backward_weights, read_modes
        )
        read_vectors = A.read_memory(memory, read_weights)
        state = DNCAccessState(
            memory, read_weights, write_weights, usage, link, precedence, read_vectors
        )
        return read_vectors, state

    def extra_repr(self) -> str:
        return (
            f"memory={self.memory_size}x{self.word_size}, reads={self.num_reads}, "
            f"writes={self.num_writes}, interface split={self.split_sizes} "
            "[keys | write vectors | sigmoid: erase, free, allocation, write gates "
            "| oneplus: strengths | read modes], "
            f"step on {_implementation(self)}"
        )
