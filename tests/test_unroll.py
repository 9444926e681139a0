"""The fused sequence (memagents.kernels.unroll) against the step-by-step graph it replaces.

`circuit.unroll` on the CPU runs the whole loop as one autograd node; `fused_unroll = False` runs
the circuit's step T times under autograd. Both must give the same logits, final state and
gradients (of every parameter and of the initial state), for both circuits, both controllers,
several heads, float64 to 1e-10 and float32 to float32's rounding; the C LSTM cell must match
torch's over the whole range of its inputs.
"""

from __future__ import annotations

import pytest
import torch
from conftest import skip_or_fail

from memagents.access import DNCAccessState
from memagents.circuits import build_circuit
from memagents.kernels import build, unroll


@pytest.fixture(autouse=True)
def kernels_built():
    if build.load_library() is None:
        skip_or_fail("the fused C kernels could not be built (no C compiler?)")


CASES = {
    "ntm-lstm": ("ntm", {}),
    "ntm-ff-2x2": ("ntm", {"controller": "feedforward", "num_reads": 2, "num_writes": 2}),
    "ntm-shift-2": ("ntm", {"memory_size": 12, "shift_range": 2, "num_reads": 3}),
    "dnc-lstm": ("dnc", {}),
    "dnc-ff": ("dnc", {"controller": "feedforward", "num_reads": 2}),
}


def random_state(circuit, batch_size: int, dtype: torch.dtype):
    """The initial state, and for the DNC a random one: from all-zero usage the allocation's
    sort meets exact ties, where rounding decides which free slot is written first (the same
    maths, a permutation of the slots)."""
    state = circuit.initial_state(batch_size)
    if circuit.name == "dnc":
        generator = torch.Generator().manual_seed(1)

        def rand(t):
            return torch.rand(t.shape, generator=generator, dtype=dtype)

        a = state.access
        state = state._replace(
            access=DNCAccessState(
                rand(a.memory),
                torch.softmax(3 * rand(a.read_weights), -1),
                torch.softmax(3 * rand(a.write_weights), -1),
                rand(a.usage),
                rand(a.link) / a.link.shape[-1],
                0.5 * torch.softmax(rand(a.precedence), -1),
                rand(a.read_vectors),
            )  # fmt: skip
        )
    leaf = [t.detach().clone().requires_grad_() for t in (*state.controller, *state.access)]
    controller = type(state.controller)(*leaf[: len(state.controller)])
    return type(state)(controller, type(state.access)(*leaf[len(state.controller) :])), leaf


def run(circuit, inputs, fused: bool):
    """Logits, final state and the gradients of every parameter and initial state tensor for a
    loss that uses the logits and every part of the final state."""
    circuit.fused_unroll = fused
    circuit.zero_grad(set_to_none=True)
    state, leaves = random_state(circuit, inputs.shape[0], inputs.dtype)
    logits, final = circuit.unroll(inputs, state)
    loss = logits.sin().sum()
    loss = loss + sum(0.5 * t.cos().sum() for t in (*final.controller, *final.access))
    loss.backward()
    grads = {name: p.grad for name, p in circuit.named_parameters()}
    grads |= {f"initial state {i}": leaf.grad for i, leaf in enumerate(leaves)}
    return logits.detach(), [t.detach() for t in (*final.controller, *final.access)], grads


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=str)
@pytest.mark.parametrize("case", CASES)
def test_fused_sequence_equals_the_step_by_step_graph(case, dtype):
    name, settings = CASES[case]
    torch.manual_seed(0)
    circuit = build_circuit(name, 9, 8, **settings).to(dtype)
    inputs = torch.rand(3, 7, 9, dtype=dtype) * 2 - 1
    assert_same(run(circuit, inputs, True), run(circuit, inputs, False), dtype)


@pytest.mark.parametrize("case", ["ntm-lstm", "dnc-lstm"])
def test_the_same_with_the_kernels_threaded_and_some_parameters_frozen(case):
    """A batch that the kernels split over 2 threads, and parameters that want no gradient."""
    name, settings = CASES[case]
    torch.manual_seed(0)
    circuit = build_circuit(name, 9, 8, **settings).double()
    circuit.controller.hidden_weight.requires_grad_(False)
    circuit.access.interface.bias.requires_grad_(False)
    inputs = torch.rand(build.THREADED_MIN_BATCH + 1, 6, 9, dtype=torch.float64)
    previous = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        fused, stepped = run(circuit, inputs, True), run(circuit, inputs, False)
    finally:
        torch.set_num_threads(previous)
    assert fused[2]["controller.hidden_weight"] is None
    assert fused[2]["access.interface.bias"] is None
    assert_same(fused, stepped, torch.float64)


def assert_same(fused, stepped, dtype):
    tolerance = {"rtol": 1e-10, "atol": 1e-12} if dtype == torch.float64 else {}
    torch.testing.assert_close(fused[0], stepped[0], **tolerance)
    for index, (a, b) in enumerate(zip(fused[1], stepped[1], strict=True)):
        torch.testing.assert_close(a, b, **tolerance, msg=f"final state {index}")
    assert fused[2].keys() == stepped[2].keys()
    for key, grad in fused[2].items():
        if stepped[2][key] is None:  # the DNC's initial write weights: the usage gradient stops
            assert grad is None, key
            continue
        assert grad is not None, key
        expected = stepped[2][key]
        if dtype == torch.float32:  # rounding, relative to the gradient's scale
            scale = max(1.0, expected.abs().max().item())
            torch.testing.assert_close(grad, expected, rtol=1e-4, atol=1e-5 * scale, msg=key)
        else:
            torch.testing.assert_close(grad, expected, **tolerance, msg=key)


@pytest.mark.parametrize("steps", [11, 12])  # the last state in either of the two slots
@pytest.mark.parametrize("case", ["ntm-lstm", "ntm-ff-2x2", "dnc-lstm", "dnc-ff"])
def test_without_gradients_the_same_outputs_and_no_graph(case, steps):
    name, settings = CASES[case]
    torch.manual_seed(0)
    circuit = build_circuit(name, 9, 8, **settings)
    inputs = torch.rand(4, steps, 9)
    with torch.no_grad():
        logits, final = circuit.unroll(inputs)
    circuit.fused_unroll = False
    with torch.no_grad():
        reference, reference_final = circuit.unroll(inputs)
    assert logits.grad_fn is None
    torch.testing.assert_close(logits, reference)
    torch.testing.assert_close(tuple(final.controller), tuple(reference_final.controller))
    torch.testing.assert_close(final.access.read_vectors, reference_final.access.read_vectors)
    if name == "ntm":
        torch.testing.assert_close(tuple(final.access), tuple(reference_final.access))
    else:  # from zero usage, rounding may pick another free slot first: compare as a set
        sort = torch.sort
        torch.testing.assert_close(
            sort(final.access.usage)[0], sort(reference_final.access.usage)[0]
        )


def test_the_fused_sequence_is_one_node_and_can_be_turned_off(monkeypatch):
    calls = []
    original = unroll._Unroll.apply
    monkeypatch.setattr(unroll._Unroll, "apply", lambda *a: calls.append(1) or original(*a))
    circuit = build_circuit("ntm", 9, 8, memory_size=16)
    logits, _ = circuit.unroll(torch.rand(2, 3, 9))
    assert len(calls) == 1
    circuit.fused_unroll = False
    circuit.unroll(torch.rand(2, 3, 9))
    assert len(calls) == 1


def test_a_gradient_through_the_final_state_alone_reaches_the_inputs():
    """Truncated backpropagation carries the final state into the next chunk: its gradient
    must flow back through the fused sequence as through the steps."""
    torch.manual_seed(0)
    circuit = build_circuit("dnc", 6, 5, controller_size=16)
    inputs = torch.rand(2, 5, 6, dtype=torch.float64, requires_grad=True)
    circuit.double()
    grads = []
    for fused in (True, False):
        circuit.fused_unroll = fused
        _, final = circuit.unroll(inputs)
        (grad,) = torch.autograd.grad(
            final.access.memory.sum() + final.controller.cell.sum(), inputs
        )
        grads.append(grad)
    assert grads[0].abs().sum() > 0
    torch.testing.assert_close(grads[0], grads[1], rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=str)
def test_the_c_lstm_cell_matches_torch_over_its_range(dtype):
    """tanh from exp (vectorized) and its series near 0 against torch's lstm_cell, forward and
    backward, from saturated gates to pre-activations of 1e-8."""
    C, B = 40, 6
    generator = torch.Generator().manual_seed(0)
    scales = torch.tensor([1e-8, 1e-3, 0.04, 0.06, 0.5, 2.0, 8.0, 60.0], dtype=dtype)
    gates = torch.randn(B, 4 * C, generator=generator, dtype=dtype)
    gates = gates * scales[torch.randint(0, len(scales), (B, 4 * C), generator=generator)]
    prev_cell = torch.randn(B, C, generator=generator, dtype=dtype) * 3
    grad_hidden, grad_cell = (torch.randn(B, C, generator=generator, dtype=dtype) for _ in "hc")
    hidden, cell = torch.empty(B, C, dtype=dtype), torch.empty(B, C, dtype=dtype)
    activations = gates.clone()
    build.kernel("lstm_cell_forward", dtype)(
        B, C, *build.pointers(activations, prev_cell, hidden, cell)
    )
    grad_gates, grad_prev_cell = torch.empty_like(gates), grad_cell.clone()
    build.kernel("lstm_cell_backward", dtype)(
        B, C,
        *build.pointers(activations, prev_cell, cell, grad_hidden, grad_prev_cell, grad_gates),
    )  # fmt: skip

    leaves = [gates.clone().requires_grad_(), prev_cell.clone().requires_grad_()]
    zeros = torch.zeros(B, 1, dtype=dtype)
    expected = torch.lstm_cell(
        zeros, (zeros.expand(B, C), leaves[1]), torch.zeros(4 * C, 1, dtype=dtype),
        torch.zeros(4 * C, C, dtype=dtype), leaves[0], None,
    )  # fmt: skip
    expected_grads = torch.autograd.grad(expected, leaves, (grad_hidden, grad_cell))
    if dtype == torch.float64:
        tolerance = {"rtol": 1e-12, "atol": 1e-15}
    else:
        tolerance = {"rtol": 2e-6, "atol": 1e-6}
    torch.testing.assert_close(hidden, expected[0], **tolerance)
    torch.testing.assert_close(cell, expected[1], **tolerance)
    torch.testing.assert_close(grad_gates, expected_grads[0], **tolerance)
    torch.testing.assert_close(grad_prev_cell, expected_grads[1], **tolerance)


def test_the_final_state_holds_no_other_step():
    """The final state is copies: carried on (truncated backpropagation), it must not keep every
    step's memory and links alive, and it can be changed in place as the step-by-step one."""
    circuit = build_circuit("dnc", 6, 5, controller_size=16)
    _, final = circuit.unroll(torch.rand(2, 30, 6))
    for tensor in (*final.controller, *final.access):
        assert tensor.untyped_storage().nbytes() == tensor.numel() * tensor.element_size()
    final.access.memory.mul_(0.5)


def test_a_state_of_another_dtype_takes_the_step_by_step_path():
    """Pointers to C must not meet a tensor of another dtype: that path raises instead."""
    circuit = build_circuit("ntm", 9, 8, memory_size=16)
    state = circuit.initial_state(2)
    state = state._replace(
        controller=state.controller._replace(cell=state.controller.cell.double())
    )
    projected = circuit.controller.project_inputs(torch.rand(2, 3, 9))
    assert not circuit._unrolls_fused(projected, state)
    assert circuit._unrolls_fused(projected, circuit.initial_state(2))
