"""Memory addressing: hand-computed tables, DNC invariants, gradient checks, numerical safety."""

from __future__ import annotations

import math

import pytest
import torch

from memagents import addressing

F64 = torch.float64


def t(values) -> torch.Tensor:
    return torch.tensor(values, dtype=F64)


def close(actual, expected, atol=1e-5):
    torch.testing.assert_close(actual, t(expected), atol=atol, rtol=0)


@pytest.fixture(autouse=True)
def one_thread():
    """These tensors are tiny: one intra-op thread is fastest, and on a shared 2-core machine
    OpenMP workers spinning against other processes made a 5 s test take 70 s."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# -- hand-computed tables: NTM -------------------------------------------------------------------

MEMORY = t([[[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [0.0, 0.0]]])  # (1, 4, 2)


def test_content_weighting_follows_the_cosine_table():
    """log w[n] - log w[0] = strength * (cosine[n] - cosine[0]); a zero row has cosine 0."""
    keys = t([[[1.0, 0.0], [0.0, -2.0]]])
    cosine = t([[[1.0, 0.0, 1 / math.sqrt(2), 0.0], [0.0, -1.0, -1 / math.sqrt(2), 0.0]]])
    log_weights = torch.log(addressing.content_weighting(MEMORY, keys, t([[3.0, 3.0]])))
    expected = 3.0 * (cosine - cosine[..., :1])
    close(log_weights - log_weights[..., :1], expected.tolist())


def test_content_weighting_table():
    keys = t([[[1.0, 0.0], [1.0, 0.0]]])
    weights = addressing.content_weighting(MEMORY, keys, t([[2.0, 0.0]]))
    logits = [2.0, 0.0, 2 / math.sqrt(2), 0.0]
    total = sum(math.exp(v) for v in logits)
    close(weights[0, 0], [math.exp(v) / total for v in logits])
    close(weights[0, 1], [0.25] * 4)  # strength 0: uniform


def test_interpolation_table():
    content = t([[[1.0, 0.0, 0.0]]])
    prev = t([[[0.0, 0.0, 1.0]]])
    close(addressing.interpolate(content, prev, t([[0.25]])), [[[0.25, 0.0, 0.75]]])
    close(addressing.interpolate(content, prev, t([[1.0]])), content.tolist())


@pytest.mark.parametrize(
    ("weights", "shift", "expected"),
    [
        ([1, 0, 0, 0, 0], [0, 0, 1], [0, 1, 0, 0, 0]),  # +1
        ([1, 0, 0, 0, 0], [1, 0, 0], [0, 0, 0, 0, 1]),  # -1 wraps around
        ([0.1, 0.2, 0.3, 0.4, 0], [0, 0, 1], [0, 0.1, 0.2, 0.3, 0.4]),
        ([1, 0, 0, 0, 0], [0.2, 0.5, 0.3], [0.5, 0.3, 0, 0, 0.2]),
        ([0, 0, 1, 0, 0], [0.1, 0.2, 0.3, 0.25, 0.15], [0.1, 0.2, 0.3, 0.25, 0.15]),  # range 2
    ],
)
def test_circular_shift_table(weights, shift, expected):
    close(addressing.circular_shift(t([[weights]]), t([[shift]])), [[expected]])


def test_sharpen_table():
    weights = t([[[0.5, 0.25, 0.25]]])
    close(addressing.sharpen(weights, t([[2.0]])), [[[2 / 3, 1 / 6, 1 / 6]]])
    close(addressing.sharpen(weights, t([[1.0]])), weights.tolist())
    # All-zero weights: uniform, not 0/0.
    close(addressing.sharpen(torch.zeros(1, 1, 4, dtype=F64), t([[50.0]])), [[[0.25] * 4]])


def test_read_and_erase_write_tables():
    memory = t([[[1.0, 2.0], [3.0, 4.0]]])
    close(addressing.read_memory(memory, t([[[0.25, 0.75]]])), [[[2.5, 3.5]]])
    written = addressing.erase_and_write(
        memory, t([[[1.0, 0.0]]]), t([[[1.0, 0.0]]]), t([[[5.0, 6.0]]])
    )
    close(written, [[[5.0, 8.0], [3.0, 4.0]]])
    written = addressing.erase_and_write(
        memory, t([[[0.5, 0.5]]]), t([[[1.0, 1.0]]]), t([[[2.0, 2.0]]])
    )
    close(written, [[[1.5, 2.0], [2.5, 3.0]]])
    # Two heads: erases multiply, adds sum.
    written = addressing.erase_and_write(
        memory,
        t([[[1.0, 0.0], [0.0, 1.0]]]),
        t([[[1.0, 1.0], [0.5, 0.5]]]),
        t([[[1.0, 1.0], [0.0, 2.0]]]),
    )
    close(written, [[[1.0, 1.0], [1.5, 4.0]]])


# -- hand-computed tables: DNC -------------------------------------------------------------------


def test_usage_table():
    prev = t([[0.5, 0.0, 1.0]])
    write = t([[[0.5, 1.0, 0.0]]])
    read = t([[[0.0, 0.0, 1.0]]])
    close(addressing.update_usage(prev, write, t([[0.0]]), read), [[0.75, 1.0, 1.0]])
    # A fully freed slot (free gate 1, read weight 1) goes to usage 0.
    close(addressing.update_usage(prev, write, t([[1.0]]), read), [[0.75, 1.0, 0.0]])
    close(addressing.update_usage(prev, write, t([[0.5]]), read), [[0.75, 1.0, 0.5]])
    # Two write heads: w = 1 - (1 - w_0)(1 - w_1).
    two = t([[[0.5, 0.0, 0.0], [0.5, 0.0, 0.0]]])
    close(addressing.update_usage(t([[0.0, 0.0, 0.0]]), two, t([[0.0]]), read), [[0.75, 0.0, 0.0]])


def test_allocation_table():
    close(
        addressing.allocation_weighting(t([[0.4, 0.1, 0.9]])), [[0.6 * 0.1, 0.9, 0.1 * 0.1 * 0.4]]
    )
    close(addressing.allocation_weighting(t([[1.0, 1.0, 1.0]])), [[0.0, 0.0, 0.0]])
    # Ties (a fresh memory) go to the lowest index first.
    close(addressing.allocation_weighting(t([[0.0, 0.0, 0.0]])), [[1.0, 0.0, 0.0]])


def test_write_allocation_for_two_heads_takes_different_slots():
    allocation = addressing.write_allocation_weights(t([[0.0, 0.5, 1.0]]), t([[1.0, 1.0]]), 2)
    close(allocation, [[[1.0, 0.0, 0.0], [0.0, 0.5, 0.0]]])


def test_write_weighting_table():
    weights = addressing.write_weighting(
        t([[[0.0, 1.0]]]), t([[[1.0, 0.0]]]), t([[0.25]]), t([[0.5]])
    )
    close(weights, [[[0.125, 0.375]]])


def test_precedence_table():
    prev = t([[[0.5, 0.5, 0.0]]])
    close(addressing.update_precedence(prev, t([[[0.0, 0.0, 1.0]]])), [[[0.0, 0.0, 1.0]]])
    close(addressing.update_precedence(prev, t([[[0.0, 0.0, 0.5]]])), [[[0.25, 0.25, 0.5]]])
    close(addressing.update_precedence(prev, t([[[0.0, 0.0, 0.0]]])), prev.tolist())


def test_link_and_directional_tables():
    """Write slots 0, 1, 2 in turn: L[1, 0] = L[2, 1] = 1; reading follows the order."""
    link = torch.zeros(1, 1, 3, 3, dtype=F64)
    precedence = torch.zeros(1, 1, 3, dtype=F64)
    for slot in range(3):
        write = torch.zeros(1, 1, 3, dtype=F64)
        write[0, 0, slot] = 1.0
        link = addressing.update_link(link, precedence, write)
        precedence = addressing.update_precedence(precedence, write)
    close(link, [[[[0, 0, 0], [1, 0, 0], [0, 1, 0]]]])
    read = t([[[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]])  # two read heads at slots 0 and 2
    close(
        addressing.directional_read_weights(link, read, forward=True), [[[[0, 1, 0]], [[0, 0, 0]]]]
    )
    close(
        addressing.directional_read_weights(link, read, forward=False), [[[[0, 0, 0]], [[0, 1, 0]]]]
    )
    # Rewriting slot 0 cuts its old links: (1 - w[i] - w[j]) scales row 0 and column 0.
    write = t([[[1.0, 0.0, 0.0]]])
    close(addressing.update_link(link, precedence, write), [[[[0, 0, 1], [0, 0, 0], [0, 1, 0]]]])


def test_read_modes_table():
    content = t([[[1.0, 0.0, 0.0]]])
    forward = t([[[[0.0, 1.0, 0.0]]]])
    backward = t([[[[0.0, 0.0, 1.0]]]])
    modes = t([[[0.2, 0.3, 0.5]]])  # backward, forward, content
    close(addressing.read_mode_weighting(content, forward, backward, modes), [[[0.5, 0.3, 0.2]]])
    # Two write heads: modes [b0, b1, f0, f1, c].
    forward2 = t([[[[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]]])
    backward2 = t([[[[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]]]])
    modes2 = t([[[0.1, 0.2, 0.3, 0.15, 0.25]]])
    close(
        addressing.read_mode_weighting(content, forward2, backward2, modes2),
        [[[0.25 + 0.2, 0.3, 0.1 + 0.15]]],
    )


# -- invariants ------------------------------------------------------------------------------------


def random_weights(generator, *shape, total=1.0):
    """Non-negative weights over the last dim summing to a random value <= total."""
    weights = torch.rand(*shape, generator=generator, dtype=F64) ** 3
    weights = weights / weights.sum(-1, keepdim=True)
    return weights * torch.rand(*shape[:-1], 1, generator=generator, dtype=F64) * total


@pytest.mark.parametrize("num_writes", [1, 2])
def test_dnc_invariants_over_a_random_episode(num_writes):
    generator = torch.Generator().manual_seed(0)
    B, N, R, H = 5, 7, 3, num_writes
    link = torch.zeros(B, H, N, N, dtype=F64)
    precedence = torch.zeros(B, H, N, dtype=F64)
    usage = torch.zeros(B, N, dtype=F64)
    write = torch.zeros(B, H, N, dtype=F64)
    read = torch.zeros(B, R, N, dtype=F64)
    for _ in range(12):
        free = torch.rand(B, R, generator=generator, dtype=F64)
        usage = addressing.update_usage(usage, write, free, read)
        assert ((usage >= 0) & (usage <= 1)).all()
        gates = torch.rand(B, H, generator=generator, dtype=F64)
        allocation = addressing.write_allocation_weights(usage, gates, H)
        assert (allocation >= 0).all() and (allocation.sum(-1) <= 1 + 1e-9).all()
        content = random_weights(generator, B, H, N)
        write = addressing.write_weighting(
            content, allocation, gates, torch.rand(B, H, generator=generator, dtype=F64)
        )
        assert (write >= 0).all() and (write.sum(-1) <= 1 + 1e-9).all()
        link = addressing.update_link(link, precedence, write)
        precedence = addressing.update_precedence(precedence, write)
        assert (precedence >= 0).all() and (precedence.sum(-1) <= 1 + 1e-9).all()
        assert (link >= -1e-12).all()
        torch.testing.assert_close(
            torch.diagonal(link, dim1=-2, dim2=-1), torch.zeros(B, H, N, dtype=F64)
        )
        assert (link.sum(-1) <= 1 + 1e-9).all() and (link.sum(-2) <= 1 + 1e-9).all()
        modes = torch.softmax(torch.randn(B, R, 2 * H + 1, generator=generator, dtype=F64), -1)
        read = addressing.read_mode_weighting(
            random_weights(generator, B, R, N),
            addressing.directional_read_weights(link, read, True),
            addressing.directional_read_weights(link, read, False),
            modes,
        )
        assert (read >= 0).all() and (read.sum(-1) <= 1 + 1e-9).all()


def test_allocation_picks_the_least_used_slot():
    generator = torch.Generator().manual_seed(1)
    usage = torch.rand(64, 10, generator=generator, dtype=F64) * 0.5 + 0.5
    slots = torch.randint(0, 10, (64,), generator=generator)
    usage[torch.arange(64), slots] = 0.01  # plant a nearly free slot
    allocation = addressing.allocation_weighting(usage)
    assert torch.equal(allocation.argmax(-1), slots)
    assert torch.equal(allocation.argmax(-1), usage.argmin(-1))


def test_ntm_weights_stay_distributions():
    generator = torch.Generator().manual_seed(2)
    B, K, N, W = 4, 3, 9, 5
    memory = torch.randn(B, N, W, generator=generator, dtype=F64)
    weights = random_weights(generator, B, K, N)
    weights = weights / weights.sum(-1, keepdim=True)
    content = addressing.content_weighting(
        memory, torch.randn(B, K, W, dtype=F64), torch.rand(B, K) * 10
    )
    weights = addressing.interpolate(content, weights, torch.rand(B, K, dtype=F64))
    weights = addressing.circular_shift(weights, torch.softmax(torch.randn(B, K, 3, dtype=F64), -1))
    weights = addressing.sharpen(weights, 1 + torch.rand(B, K, dtype=F64) * 5)
    assert (weights >= 0).all()
    torch.testing.assert_close(weights.sum(-1), torch.ones(B, K, dtype=F64))


# -- gradients -------------------------------------------------------------------------------------


def _gradcheck_cases():
    g = torch.Generator().manual_seed(3)
    B, N, W, K, R, H = 2, 5, 3, 2, 2, 2

    def rand(*shape, low=0.0, high=1.0):
        return (torch.rand(*shape, generator=g, dtype=F64) * (high - low) + low).requires_grad_()

    def dist(*shape):
        return torch.softmax(torch.randn(*shape, generator=g, dtype=F64), -1).requires_grad_()

    usage = torch.tensor([[0.1, 0.7, 0.3, 0.9, 0.5], [0.8, 0.2, 0.6, 0.4, 0.05]], dtype=F64)
    return {
        "content_weighting": (
            addressing.content_weighting,
            (rand(B, N, W, low=-1), rand(B, K, W, low=-1), rand(B, K, high=5)),
        ),
        "interpolate": (addressing.interpolate, (dist(B, K, N), dist(B, K, N), rand(B, K))),
        "circular_shift": (addressing.circular_shift, (dist(B, K, N), dist(B, K, 3))),
        "sharpen": (addressing.sharpen, (dist(B, K, N), rand(B, K, low=1, high=3))),
        "read_memory": (addressing.read_memory, (rand(B, N, W), dist(B, R, N))),
        "erase_and_write_1": (
            addressing.erase_and_write,
            (rand(B, N, W), dist(B, 1, N), rand(B, 1, W), rand(B, 1, W, low=-1)),
        ),
        "erase_and_write_2": (
            addressing.erase_and_write,
            (rand(B, N, W), dist(B, H, N), rand(B, H, W), rand(B, H, W, low=-1)),
        ),
        "update_usage": (
            addressing.update_usage,
            (rand(B, N), dist(B, H, N), rand(B, R), dist(B, R, N)),
        ),
        "allocation_weighting": (
            addressing.allocation_weighting,
            (usage.clone().requires_grad_(),),
        ),
        "write_allocation_weights": (
            lambda u, gates: addressing.write_allocation_weights(u, gates, 2),
            (usage.clone().requires_grad_(), rand(B, 2)),
        ),
        "write_weighting": (
            addressing.write_weighting,
            (dist(B, H, N), dist(B, H, N), rand(B, H), rand(B, H)),
        ),
        "update_precedence": (addressing.update_precedence, (dist(B, H, N), dist(B, H, N))),
        "update_link": (
            addressing.update_link,
            (rand(B, H, N, N, high=0.2), dist(B, H, N), dist(B, H, N)),
        ),
        "directional_forward_1": (
            lambda link, read: addressing.directional_read_weights(link, read, True),
            (rand(B, 1, N, N, high=0.2), dist(B, R, N)),
        ),
        "directional_backward_2": (
            lambda link, read: addressing.directional_read_weights(link, read, False),
            (rand(B, H, N, N, high=0.2), dist(B, R, N)),
        ),
        "read_modes_1": (
            addressing.read_mode_weighting,
            (dist(B, R, N), dist(B, R, 1, N), dist(B, R, 1, N), dist(B, R, 3)),
        ),
        "read_modes_2": (
            addressing.read_mode_weighting,
            (dist(B, R, N), dist(B, R, H, N), dist(B, R, H, N), dist(B, R, 5)),
        ),
        "oneplus": (addressing.oneplus, (rand(B, K, low=-3, high=3),)),
    }


GRADCHECK_CASES = _gradcheck_cases()


@pytest.mark.parametrize("case", sorted(GRADCHECK_CASES))
def test_gradcheck(case):
    function, args = GRADCHECK_CASES[case]
    assert torch.autograd.gradcheck(function, args, eps=1e-6, atol=1e-6)


# -- numerical safety ------------------------------------------------------------------------------


def test_no_nan_with_zero_memory_zero_keys_and_huge_strengths():
    memory = torch.zeros(2, 6, 4, requires_grad=True)
    keys = torch.zeros(2, 3, 4, requires_grad=True)
    strengths = torch.full((2, 3), 1e6, requires_grad=True)
    weights = addressing.content_weighting(memory, keys, strengths)
    gammas = torch.full((2, 3), 1e4, requires_grad=True)
    sharp = addressing.sharpen(weights * 0, gammas)
    shifted = addressing.circular_shift(sharp, torch.softmax(torch.zeros(2, 3, 3), -1))
    reads = addressing.read_memory(memory, shifted)
    (weights.sum() + reads.sum() + shifted.pow(2).sum()).backward()
    for tensor in (weights, sharp, shifted, reads):
        assert torch.isfinite(tensor).all()
    for leaf in (memory, keys, strengths, gammas):
        assert torch.isfinite(leaf.grad).all()
    torch.testing.assert_close(weights, torch.full_like(weights, 1 / 6))
    # Nearly equal keys and huge strengths: softmax stays a distribution.
    memory = torch.randn(2, 6, 4)
    keys = memory[:, :3] * 1e-20
    weights = addressing.content_weighting(memory, keys, torch.full((2, 3), 1e8))
    assert torch.isfinite(weights).all()
    torch.testing.assert_close(weights.sum(-1), torch.ones(2, 3))


def test_no_nan_in_allocation_at_extremes():
    for value in (0.0, 1.0):
        usage = torch.full((2, 5), value, requires_grad=True)
        allocation = addressing.allocation_weighting(usage)
        allocation.pow(2).sum().backward()
        assert torch.isfinite(allocation).all() and torch.isfinite(usage.grad).all()
