"""Memory addressing for the NTM and the DNC as pure tensor functions.

Every function takes tensors and returns tensors: no module, no state, no parameters. The circuits
(`memagents.circuits`) and access modules (`memagents.access`) compose them.

Dimension legend (used in every docstring and shape comment of `memagents`):

    B  batch                 T  time
    N  memory slots          W  word size
    R  read heads            H  write heads
    K  heads addressed together (R + H for the NTM, R or H for the DNC)
    S  shift kernel size (2 * shift_range + 1)
    C  controller size       I  input size       O  output size

Numerical care: cosine similarity divides by (|key| + eps)(|row| + eps), so zero memory rows and
zero keys give similarity 0 with finite gradients (the norm's gradient at 0 taken as 0, as torch
does); sharpening is done in log space (softmax(gamma * log(w + eps))) so it can neither
underflow to 0/0 nor raise 0 to a learned power; allocation rescales usage into [eps, 1] as the
DNC reference does so the exclusive cumulative product never multiplies exact zeros.

The fused C kernels (`memagents.kernels`) compute the same functions; their backward is written
in stages named after the functions here (`<name>_backward`).

References: Graves, Wayne & Danihelka 2014 (NTM, section 3.3), Graves et al. 2016 (DNC, Methods),
and the structure (not the code) of deepmind/dnc `addressing.py`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

EPSILON = 1e-6

__all__ = [
    "EPSILON",
    "allocation_weighting",
    "circular_shift",
    "content_weighting",
    "directional_read_weights",
    "erase_and_write",
    "interpolate",
    "oneplus",
    "read_memory",
    "read_mode_weighting",
    "sharpen",
    "update_link",
    "update_precedence",
    "update_usage",
    "write_allocation_weights",
    "write_weighting",
]


def oneplus(x: Tensor) -> Tensor:
    """1 + softplus(x): a strength or sharpening exponent in [1, inf). Any shape."""
    return 1.0 + F.softplus(x)


# --------------------------------------------------------------------------------------------------
# Content addressing (NTM 3.3.1, DNC "content-based addressing")
# --------------------------------------------------------------------------------------------------


def content_weighting(
    memory: Tensor, keys: Tensor, strengths: Tensor, eps: float = EPSILON
) -> Tensor:
    """Content-based weights softmax(strength * cosine(key, memory row)).

    cosine(k, m) = k.m / ((|k| + eps)(|m| + eps)): a zero row or key gives 0, not NaN.

    Args:
        memory: (B, N, W).
        keys: (B, K, W).
        strengths: (B, K), >= 0 (the key strength beta).

    Returns:
        (B, K, N), each row a distribution over slots.
    """
    # The strength scales the normalised key, so the product costs no op of size N.
    key_scale = strengths.unsqueeze(-1) / (
        torch.linalg.vector_norm(keys, dim=-1, keepdim=True) + eps
    )
    dot = torch.bmm(keys * key_scale, memory.transpose(1, 2))  # (B, K, N)
    memory_norm = torch.linalg.vector_norm(memory, dim=-1).unsqueeze(1) + eps  # (B, 1, N)
    return torch.softmax(dot / memory_norm, dim=-1)


# --------------------------------------------------------------------------------------------------
# NTM location addressing (NTM 3.3.2)
# --------------------------------------------------------------------------------------------------


def interpolate(content_weights: Tensor, prev_weights: Tensor, gates: Tensor) -> Tensor:
    """Interpolation gate: g * content + (1 - g) * previous.

    Args:
        content_weights: (B, K, N).
        prev_weights: (B, K, N).
        gates: (B, K) in [0, 1].

    Returns:
        (B, K, N).
    """
    return torch.addcmul(prev_weights, gates.unsqueeze(-1), content_weights - prev_weights)


def circular_shift(weights: Tensor, shift_weights: Tensor) -> Tensor:
    """Circular convolution of weights with a shift distribution (NTM eq. 8).

    out[n] = sum_s shift_weights[s] * weights[(n - shift_s) mod N], shift_s = s - shift_range, so
    all the mass of a shift kernel on +1 moves every weight one slot forward.

    Implemented as S rolls accumulated with addcmul: for the usual S = 3 this is cheaper, forward
    and backward, than a gather with a precomputed index or a grouped convolution (the loop runs
    over shift offsets, never over batch or heads).

    Args:
        weights: (B, K, N).
        shift_weights: (B, K, S), S odd, the distribution over shifts -(S-1)/2..(S-1)/2.

    Returns:
        (B, K, N).
    """
    shift_range = shift_weights.shape[-1] // 2
    kernels = shift_weights.unsqueeze(-1).unbind(2)  # S x (B, K, 1)
    out = torch.roll(weights, -shift_range, -1) * kernels[0]
    for s in range(1, 2 * shift_range + 1):
        out = torch.addcmul(out, torch.roll(weights, s - shift_range, -1), kernels[s])
    return out


def sharpen(weights: Tensor, gammas: Tensor, eps: float = EPSILON) -> Tensor:
    """Sharpening w^gamma / sum(w^gamma) (NTM eq. 9), computed as softmax(gamma * log(w + eps)).

    The log-space form cannot underflow (a tiny weight to a large power) or divide by zero (all
    weights zero), and its gradient with respect to gamma is finite at w = 0.

    Args:
        weights: (B, K, N), non-negative.
        gammas: (B, K), >= 1.

    Returns:
        (B, K, N), each row a distribution.
    """
    return torch.softmax(torch.log(weights + eps) * gammas.unsqueeze(-1), dim=-1)


# --------------------------------------------------------------------------------------------------
# Reading and writing (NTM 3.1-3.2, DNC "reading and writing to memory")
# --------------------------------------------------------------------------------------------------


def read_memory(memory: Tensor, read_weights: Tensor) -> Tensor:
    """Read vectors r = w M.

    Args:
        memory: (B, N, W).
        read_weights: (B, R, N).

    Returns:
        (B, R, W).
    """
    return torch.bmm(read_weights, memory)


def erase_and_write(
    memory: Tensor, write_weights: Tensor, erase_vectors: Tensor, write_vectors: Tensor
) -> Tensor:
    """Erase then add: M * prod_h(1 - w_h e_h^T) + sum_h w_h a_h^T.

    Args:
        memory: (B, N, W).
        write_weights: (B, H, N).
        erase_vectors: (B, H, W) in [0, 1].
        write_vectors: (B, H, W).

    Returns:
        (B, N, W) the new memory.
    """
    if write_weights.shape[1] == 1:
        # One head: M + w (a - M e) by broadcasting (B, N, 1) x (B, 1, W); three ops, no bmm.
        weights = write_weights.transpose(1, 2)  # (B, N, 1)
        return torch.addcmul(memory, weights, write_vectors - memory * erase_vectors)
    # (B, H, N, W) -> product over heads: each head's erase applies multiplicatively.
    keep = (1.0 - write_weights.unsqueeze(-1) * erase_vectors.unsqueeze(-2)).prod(1)
    return torch.baddbmm(memory * keep, write_weights.transpose(1, 2), write_vectors)


# --------------------------------------------------------------------------------------------------
# DNC dynamic memory allocation
# --------------------------------------------------------------------------------------------------


def update_usage(
    prev_usage: Tensor, write_weights: Tensor, free_gates: Tensor, read_weights: Tensor
) -> Tensor:
    """Usage after the previous step's writes, then retention of the freed reads.

    u = (u_prev + w - u_prev * w) * psi, w = 1 - prod_h(1 - w_h), psi = prod_r(1 - f_r w_r).

    (The DNC reference stops the gradient through `write_weights` here; the circuit does that, so
    this function stays a plain differentiable map that gradcheck can test.)

    Args:
        prev_usage: (B, N) in [0, 1].
        write_weights: (B, H, N), the previous step's write weights.
        free_gates: (B, R) in [0, 1].
        read_weights: (B, R, N), the previous step's read weights.

    Returns:
        (B, N) in [0, 1].
    """
    if write_weights.shape[1] == 1:
        written = write_weights.squeeze(1)
    else:
        written = 1.0 - (1.0 - write_weights).prod(1)
    usage = prev_usage + written - prev_usage * written
    retention = (1.0 - free_gates.unsqueeze(-1) * read_weights).prod(1)  # (B, N)
    return usage * retention


def allocation_weighting(usage: Tensor, eps: float = EPSILON) -> Tensor:
    """Allocation weights: the least used slots first (DNC eq. for a_t).

    Sort slots by usage ascending (stable, so ties go to the lowest slot index), then
    a[phi_j] = (1 - u[phi_j]) * prod_{i<j} u[phi_i]. Gradient flows through the sorted usage
    values; the permutation itself is piecewise constant and gets none, as the DNC paper says.

    Args:
        usage: (B, N) in [0, 1].

    Returns:
        (B, N) in [0, 1], summing to <= 1.
    """
    usage = usage * (1.0 - eps) + eps  # in [eps, 1]: keeps the products away from exact zeros
    sorted_usage, order = torch.sort(usage, dim=-1, stable=True)
    ones = torch.ones_like(sorted_usage[..., :1])
    exclusive_product = torch.cumprod(torch.cat([ones, sorted_usage[..., :-1]], -1), -1)
    sorted_allocation = (1.0 - sorted_usage) * exclusive_product
    return torch.zeros_like(sorted_allocation).scatter(-1, order, sorted_allocation)


def write_allocation_weights(usage: Tensor, write_gates: Tensor, num_writes: int) -> Tensor:
    """Allocation weights for each write head in turn.

    Head h allocates from the usage left after heads 0..h-1 claimed their slots (scaled by their
    gates), so two heads do not pick the same free slot. This is a sequential dependency between
    heads, hence the loop over H (one iteration in the default configurations).

    Args:
        usage: (B, N).
        write_gates: (B, H), allocation gate times write gate per head.
        num_writes: H.

    Returns:
        (B, H, N).
    """
    if num_writes == 1:
        return allocation_weighting(usage).unsqueeze(1)
    allocations = []
    for head in range(num_writes):
        allocation = allocation_weighting(usage)
        allocations.append(allocation)
        if head + 1 < num_writes:
            usage = usage + (1.0 - usage) * write_gates[:, head : head + 1] * allocation
    return torch.stack(allocations, 1)


def write_weighting(
    content_weights: Tensor,
    allocation_weights: Tensor,
    allocation_gates: Tensor,
    write_gates: Tensor,
) -> Tensor:
    """Write weights g_w (g_a a + (1 - g_a) c).

    Args:
        content_weights: (B, H, N).
        allocation_weights: (B, H, N).
        allocation_gates: (B, H) in [0, 1].
        write_gates: (B, H) in [0, 1].

    Returns:
        (B, H, N).
    """
    mixed = interpolate(allocation_weights, content_weights, allocation_gates)
    return mixed * write_gates.unsqueeze(-1)


# --------------------------------------------------------------------------------------------------
# DNC temporal links
# --------------------------------------------------------------------------------------------------


def update_precedence(prev_precedence: Tensor, write_weights: Tensor) -> Tensor:
    """Precedence p = (1 - sum_n w[n]) p_prev + w, per write head.

    Args:
        prev_precedence: (B, H, N).
        write_weights: (B, H, N).

    Returns:
        (B, H, N), summing to <= 1.
    """
    keep = 1.0 - write_weights.sum(-1, keepdim=True)
    return torch.addcmul(write_weights, keep, prev_precedence)


def update_link(
    prev_link: Tensor,
    prev_precedence: Tensor,
    write_weights: Tensor,
    off_diagonal: Tensor | None = None,
) -> Tensor:
    """Temporal link L[i, j] = (1 - w[i] - w[j]) L_prev[i, j] + w[i] p_prev[j], zero diagonal.

    L[i, j] near 1 means slot i was written right after slot j.

    Args:
        prev_link: (B, H, N, N).
        prev_precedence: (B, H, N).
        write_weights: (B, H, N).
        off_diagonal: (N, N) ones with a zero diagonal; precompute it to save ops per step.

    Returns:
        (B, H, N, N), diagonal 0, rows and columns summing to <= 1.
    """
    if off_diagonal is None:
        n = write_weights.shape[-1]
        off_diagonal = 1.0 - torch.eye(n, device=write_weights.device, dtype=write_weights.dtype)
    row = write_weights.unsqueeze(-1)  # (B, H, N, 1): w[i]
    scale = (1.0 - row) - write_weights.unsqueeze(-2)  # (B, H, N, N): 1 - w[i] - w[j]
    link = torch.addcmul(prev_link * scale, row, prev_precedence.unsqueeze(-2))
    return link * off_diagonal


def directional_read_weights(link: Tensor, prev_read_weights: Tensor, forward: bool) -> Tensor:
    """Forward (f = L w) or backward (b = L^T w) weights of each read head through each link.

    Args:
        link: (B, H, N, N).
        prev_read_weights: (B, R, N).
        forward: True for forward weights.

    Returns:
        (B, R, H, N).
    """
    matrix = link.transpose(-1, -2) if forward else link
    if link.shape[1] == 1:  # one write head: a plain bmm, (B, R, N) @ (B, N, N)
        return torch.bmm(prev_read_weights, matrix.squeeze(1)).unsqueeze(2)
    # (B, 1, R, N) @ (B, H, N, N) -> (B, H, R, N)
    weights = torch.matmul(prev_read_weights.unsqueeze(1), matrix)
    return weights.transpose(1, 2)


def read_mode_weighting(
    content_weights: Tensor,
    forward_weights: Tensor,
    backward_weights: Tensor,
    read_modes: Tensor,
) -> Tensor:
    """Read weights as a mix of backward, forward and content modes.

    Args:
        content_weights: (B, R, N).
        forward_weights: (B, R, H, N).
        backward_weights: (B, R, H, N).
        read_modes: (B, R, 2H + 1), a distribution ordered [backward x H, forward x H, content].

    Returns:
        (B, R, N).
    """
    if forward_weights.shape[2] == 1:  # one write head: three weighted terms, no stacking
        backward_mode, forward_mode, content_mode = read_modes.unsqueeze(-1).unbind(2)
        weights = content_weights * content_mode
        weights = torch.addcmul(weights, forward_weights.squeeze(2), forward_mode)
        return torch.addcmul(weights, backward_weights.squeeze(2), backward_mode)
    stacked = torch.cat([backward_weights, forward_weights, content_weights.unsqueeze(2)], 2)
    return torch.matmul(read_modes.unsqueeze(-2), stacked).squeeze(-2)  # (B, R, N)
