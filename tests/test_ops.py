"""The access steps as registered torch ops (memagents.kernels.ops): opcheck, the kernels' entry
checks, one interface layout followed by every implementation, double backward on every path, and
torch.compile tracing the C kernels with no graph break."""

from __future__ import annotations

import pytest
import torch
from conftest import skip_or_fail

from memagents.access import DNCAccess, NTMAccess
from memagents.kernels import build, dnc, layout, ntm, ops, torch_ops

F64 = torch.float64


@pytest.fixture(autouse=True)
def kernels_built():
    if build.load_library() is None:
        skip_or_fail("the fused C kernels could not be built (no C compiler?)")


def ntm_inputs(B=2, N=6, W=3, R=2, H=1, shift_range=1, seed=0, grad=True):
    """interface, memory, read weights, write weights (float64) for the standard layout."""
    generator = torch.Generator().manual_seed(seed)
    size = layout.ntm_layout(R, H, W, shift_range).size
    tensors = [
        torch.randn(B, size, dtype=F64, generator=generator) * 2,
        torch.randn(B, N, W, dtype=F64, generator=generator),
        torch.softmax(torch.randn(B, R, N, dtype=F64, generator=generator) * 3, -1),
        torch.softmax(torch.randn(B, H, N, dtype=F64, generator=generator) * 3, -1),
    ]
    return [t.requires_grad_(grad) for t in tensors]


def dnc_inputs(B=2, N=5, W=3, R=2, seed=0, grad=True):
    """interface and the state at t-1 (float64), one write head, the standard layout."""
    generator = torch.Generator().manual_seed(seed)
    size = layout.dnc_layout(R, 1, W).size
    tensors = [
        torch.randn(B, size, dtype=F64, generator=generator) * 2,
        torch.randn(B, N, W, dtype=F64, generator=generator),
        torch.softmax(torch.randn(B, R, N, dtype=F64, generator=generator), -1) * 0.9,
        torch.softmax(torch.randn(B, 1, N, dtype=F64, generator=generator), -1) * 0.8,
        torch.rand(B, N, dtype=F64, generator=generator),
        torch.rand(B, 1, N, N, dtype=F64, generator=generator) / N * (1 - torch.eye(N, dtype=F64)),
        torch.softmax(torch.randn(B, 1, N, dtype=F64, generator=generator), -1) * 0.7,
    ]
    return [t.requires_grad_(grad) for t in tensors]


NTM_OFFSETS = list(layout.ntm_layout(2, 1, 3, 1).offsets)
DNC_OFFSETS = list(layout.dnc_layout(2, 1, 3).offsets)


def weighted_sum(outputs, seed=1):
    generator = torch.Generator().manual_seed(seed)
    return sum(
        (o * torch.randn(o.shape, dtype=o.dtype, generator=generator)).sum() for o in outputs
    )


# -- opcheck --------------------------------------------------------------------------------------


def test_opcheck_ntm_ops():
    inputs = ntm_inputs()
    torch.library.opcheck(torch.ops.memagents.ntm_access, (*inputs, 1, NTM_OFFSETS))
    plain = [t.detach() for t in inputs]
    torch.library.opcheck(torch.ops.memagents.ntm_access_fused, (*plain, 1, NTM_OFFSETS))
    *outputs, saved = ntm.forward(*plain, 1, NTM_OFFSETS)
    grads = [torch.randn_like(o) for o in outputs]
    torch.library.opcheck(
        torch.ops.memagents.ntm_access_fused_backward, (*plain, saved, 1, NTM_OFFSETS, *grads)
    )


def test_opcheck_dnc_ops():
    inputs = dnc_inputs()
    torch.library.opcheck(torch.ops.memagents.dnc_access, (*inputs, DNC_OFFSETS))
    plain = [t.detach() for t in inputs]
    torch.library.opcheck(torch.ops.memagents.dnc_access_fused, (*plain, DNC_OFFSETS))
    *outputs, saved = dnc.forward(*plain, DNC_OFFSETS)
    grads = [torch.randn_like(o) for o in outputs]
    interface, memory, read, write, _, link, precedence = plain
    _, new_read, new_write, _, new_link, _, new_memory = outputs
    torch.library.opcheck(
        torch.ops.memagents.dnc_access_fused_backward,
        (interface, memory, read, write, link, precedence, new_read, new_write, new_link,
         new_memory, saved, DNC_OFFSETS, *grads),
    )  # fmt: skip


def test_the_ops_run_the_torch_ops_on_other_devices():
    """On the meta device (as on CUDA) the op is the torch-ops composition: shapes follow."""
    inputs = [t.detach().to("meta") for t in ntm_inputs()]
    reads, read_weights, write_weights, memory = ops.ntm_access(*inputs, 1)
    assert reads.device.type == "meta"
    assert (reads.shape, read_weights.shape, memory.shape) == ((2, 2, 3), (2, 2, 6), (2, 6, 3))
    outputs = ops.dnc_access(*[t.detach().to("meta") for t in dnc_inputs()])
    assert [tuple(o.shape) for o in outputs] == [
        (2, 2, 3), (2, 2, 5), (2, 1, 5), (2, 5), (2, 1, 5, 5), (2, 1, 5), (2, 5, 3),
    ]  # fmt: skip


@pytest.mark.parametrize("circuit", ["ntm", "dnc"])
def test_the_python_entry_and_the_registered_op_agree(circuit):
    """`ops.ntm_access` (eager: the op's autograd kernel without the dispatcher) and
    `torch.ops.memagents.ntm_access` (through it), with grad, and in inference mode (where the
    op's CPU kernel runs): the same values and gradients."""
    if circuit == "ntm":
        inputs, extra = ntm_inputs(), (1, NTM_OFFSETS)
        entry, op = ops.ntm_access, torch.ops.memagents.ntm_access
    else:
        inputs, extra = dnc_inputs(), (DNC_OFFSETS,)
        entry, op = ops.dnc_access, torch.ops.memagents.dnc_access
    results = []
    for step in (entry, op):
        outputs = step(*inputs, *extra)
        results.append((*outputs, *torch.autograd.grad(weighted_sum(outputs), inputs[:3])))
        with torch.inference_mode():
            results.append(step(*[t.detach().clone() for t in inputs], *extra))
    for a, b in zip(results[0], results[2], strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    for a, b, c in zip(results[1], results[3], results[0], strict=False):
        torch.testing.assert_close(a, c, rtol=0, atol=0)
        torch.testing.assert_close(b, c, rtol=0, atol=0)


# -- the kernels' entry checks (one test per check) -----------------------------------------------


def _ntm_forward_args():
    return [t.detach() for t in ntm_inputs()] + [1, NTM_OFFSETS]


def _ntm_backward_args():
    inputs = [t.detach() for t in ntm_inputs()]
    *outputs, saved = ntm.forward(*inputs, 1, NTM_OFFSETS)
    return [*inputs, saved, 1, NTM_OFFSETS, *[torch.ones_like(o) for o in outputs]]


def _dnc_forward_args():
    return [t.detach() for t in dnc_inputs()] + [DNC_OFFSETS]


def _dnc_backward_args():
    interface, memory, read, write, usage, link, precedence = [t.detach() for t in dnc_inputs()]
    outputs = dnc.forward(interface, memory, read, write, usage, link, precedence, DNC_OFFSETS)
    *outputs, saved = outputs
    _, new_read, new_write, _, new_link, _, new_memory = outputs
    return [
        interface, memory, read, write, link, precedence, new_read, new_write, new_link,
        new_memory, saved, DNC_OFFSETS, *[torch.ones_like(o) for o in outputs],
    ]  # fmt: skip


ENTRIES = {
    "ntm forward": (ntm.forward, _ntm_forward_args),
    "ntm backward": (ntm.backward, _ntm_backward_args),
    "dnc forward": (dnc.forward, _dnc_forward_args),
    "dnc backward": (dnc.backward, _dnc_backward_args),
}


@pytest.fixture(params=list(ENTRIES))
def entry(request):
    function, make_args = ENTRIES[request.param]
    return function, make_args()


def test_entries_accept_their_own_arguments(entry):
    """The baseline the checks below differ from by one thing."""
    function, args = entry
    function(*args)


@pytest.mark.parametrize("position", [0, 1, 2])
def test_entries_refuse_mixed_dtypes(entry, position):
    """The issue's case: a float32 tensor among float64 ones (C would read it as doubles)."""
    function, args = entry
    args[position] = args[position].float()
    with pytest.raises(ValueError, match="all tensors must share one dtype|float32 but"):
        function(*args)


def test_entries_refuse_other_dtypes(entry):
    function, args = entry
    args = [a.half() if isinstance(a, torch.Tensor) else a for a in args]
    with pytest.raises(ValueError, match="takes float32 or float64"):
        function(*args)


def test_entries_refuse_other_devices(entry):
    function, args = entry
    args[1] = args[1].to("meta")
    with pytest.raises(ValueError, match="is on meta; the kernel runs on the CPU"):
        function(*args)


def test_entries_refuse_non_contiguous_tensors(entry):
    function, args = entry
    memory = args[1]
    args[1] = memory.transpose(1, 2).contiguous().transpose(1, 2)  # same values, other strides
    assert not args[1].is_contiguous()
    with pytest.raises(ValueError, match="prev_memory is not contiguous"):
        function(*args)


def test_entries_refuse_a_wrong_interface_shape(entry):
    function, args = entry
    args[0] = args[0][:, :-1].contiguous()
    with pytest.raises(ValueError, match="interface has shape"):
        function(*args)


def test_entries_refuse_a_wrong_state_shape(entry):
    function, args = entry
    args[2] = args[2][:, :, :-1].contiguous()  # read weights over one slot too few
    with pytest.raises(ValueError, match="prev_read_weights has shape"):
        function(*args)


def test_entries_refuse_a_wrong_number_of_dimensions(entry):
    function, args = entry
    args[1] = args[1].flatten(1)
    with pytest.raises(ValueError, match="prev_memory must be 3-D"):
        function(*args)


def test_entries_refuse_offsets_outside_the_interface(entry):
    function, args = entry
    position = next(i for i, a in enumerate(args) if isinstance(a, list))
    offsets = list(args[position])
    offsets[1] = offsets[-1] - 1  # the second field would run past the end
    args[position] = offsets
    with pytest.raises(ValueError, match="overlaps|outside"):
        function(*args)


@pytest.mark.parametrize("name", ["ntm backward", "dnc backward"])
def test_backward_entries_refuse_a_wrong_gradient_or_saved_buffer(name):
    function, make_args = ENTRIES[name]
    args = make_args()
    args[-1] = args[-1][:1].contiguous()  # the memory's gradient for one sequence of two
    with pytest.raises(ValueError, match="grad_memory has shape"):
        function(*args)
    args = make_args()
    saved = next(i for i, a in enumerate(args) if isinstance(a, list)) - (
        1 if name == "dnc backward" else 2
    )
    args[saved] = args[saved][:, 1:].contiguous()
    with pytest.raises(ValueError, match="saved has shape"):
        function(*args)


def test_ntm_forward_refuses_a_shift_range_larger_than_memory():
    args = _ntm_forward_args()
    args[4] = 3  # 7 shifts over 6 slots
    with pytest.raises(ValueError, match="shift_range 3 does not fit 6 slots"):
        ntm.forward(*args)


# -- one layout, followed by the access module, the torch ops and the C kernel --------------------


def _moved(table, first, spare):
    """`table` with the field `first` moved to the front and a 3-wide unused field after it."""
    moved = [row for row in table if row[0] == first]
    rest = [row for row in table if row[0] != first]
    return tuple(moved + [(spare, "3", "linear")] + rest)


@pytest.mark.parametrize("circuit", ["ntm", "dnc"])
def test_a_changed_layout_is_followed_by_module_torch_ops_and_kernel(monkeypatch, circuit):
    """Move a field to the front and add 3 unused numbers: the interface layer grows by 3, the
    C kernel and the torch ops read the moved fields (same results as the standard layout with
    the interface permuted alike) and give the unused numbers no gradient."""
    if circuit == "ntm":
        make = lambda: NTMAccess(8, 6, 3, 2, 1, 1).double()  # noqa: E731
        table, first, step_ops, step_torch = "NTM_INTERFACE", "shifts", ops.ntm_access, None
    else:
        make = lambda: DNCAccess(8, 5, 3, 2, 1).double()  # noqa: E731
        table, first, step_ops, step_torch = "DNC_INTERFACE", "read_modes", ops.dnc_access, None
    standard = make()
    monkeypatch.setattr(layout, table, _moved(getattr(layout, table), first, "spare"))
    changed = make()
    assert changed.interface.out_features == standard.interface.out_features + 3
    assert changed.layout.field(first).offset == 0
    assert changed.layout.offsets != standard.layout.offsets

    # The same interface values, placed by each layout.
    torch.manual_seed(0)
    values = torch.randn(2, standard.layout.size, dtype=F64) * 2
    spare = torch.randn(2, 3, dtype=F64)
    placed = torch.empty(2, changed.layout.size, dtype=F64)
    for field in standard.layout.fields:
        new = changed.layout.field(field.name)
        placed[:, new.offset : new.offset + new.size] = values[
            :, field.offset : field.offset + field.size
        ]
    spare_field = changed.layout.field("spare")
    placed[:, spare_field.offset : spare_field.offset + 3] = spare
    placed.requires_grad_()

    state = ntm_inputs(N=6)[1:] if circuit == "ntm" else dnc_inputs()[1:]
    state = [t.detach() for t in state]
    extra = (1,) if circuit == "ntm" else ()
    step_torch = torch_ops.ntm_access if circuit == "ntm" else torch_ops.dnc_access
    reference = step_torch(values, *state, *extra, standard.offsets)
    for step in (step_ops, step_torch):  # the C kernel (on CPU) and the torch ops
        outputs = step(placed, *state, *extra, changed.offsets)
        for a, b in zip(outputs, reference, strict=True):
            torch.testing.assert_close(a, b)
        (grad,) = torch.autograd.grad(weighted_sum(outputs), placed)
        assert torch.all(grad[:, spare_field.offset : spare_field.offset + 3] == 0)
        assert grad.abs().sum() > 0


# -- double backward ------------------------------------------------------------------------------


def _second_derivative(step, inputs, extra):
    """d/d(memory) of |d loss / d interface|^2: needs the backward to be differentiable."""
    outputs = step(*inputs, *extra)
    (grad_interface,) = torch.autograd.grad(weighted_sum(outputs), inputs[0], create_graph=True)
    return torch.autograd.grad(grad_interface.pow(2).sum(), inputs[1])[0]


@pytest.mark.parametrize("circuit", ["ntm", "dnc"])
def test_double_backward_is_the_same_on_every_path(monkeypatch, circuit):
    """C kernel on CPU, the op without a compiler (torch ops inside the op), the torch ops
    called directly: one second derivative."""
    if circuit == "ntm":
        inputs, extra, op, free = ntm_inputs(), (1,), ops.ntm_access, torch_ops.ntm_access
    else:
        inputs, extra, op, free = dnc_inputs(), (), ops.dnc_access, torch_ops.dnc_access
    on_kernel = _second_derivative(op, inputs, extra)
    on_torch_ops = _second_derivative(free, inputs, extra)
    monkeypatch.setenv("MEMAGENTS_KERNELS", "0")
    build.load_library.cache_clear()
    try:
        assert not build.available(inputs[1])
        in_op_without_kernel = _second_derivative(op, inputs, extra)
    finally:
        monkeypatch.delenv("MEMAGENTS_KERNELS")
        build.load_library.cache_clear()
    assert on_kernel.abs().sum() > 0
    torch.testing.assert_close(on_kernel, on_torch_ops)
    torch.testing.assert_close(in_op_without_kernel, on_torch_ops)


def test_ntm_op_gradgradcheck():
    interface, memory, read, write = ntm_inputs(B=1, N=4, W=2, R=1, H=1)
    read, write = read.detach(), write.detach()  # fewer inputs: a quicker numerical check

    def step(interface, memory):
        return ops.ntm_access(interface, memory, read, write, 1)

    assert torch.autograd.gradgradcheck(step, (interface, memory))


def test_dnc_op_gradgradcheck():
    interface, memory, read, write, usage, link, precedence = dnc_inputs(B=1, N=4, W=2, R=1)
    write = write.detach()  # the usage gradient is stopped there

    def step(interface, memory, read, usage, link, precedence):
        return ops.dnc_access(interface, memory, read, write, usage, link, precedence)

    assert torch.autograd.gradgradcheck(step, (interface, memory, read, usage, link, precedence))


# -- torch.compile --------------------------------------------------------------------------------


def _recording_backend(graphs: list[str]):
    """An AOTAutograd backend that keeps the forward and backward graphs' code and runs them."""
    from functorch.compile import make_boxed_func
    from torch._dynamo.backends.common import aot_autograd

    def record(graph_module, _):
        graphs.append(graph_module.code)
        return make_boxed_func(graph_module.forward)

    return aot_autograd(fw_compiler=record, bw_compiler=record)


@pytest.mark.parametrize("circuit", ["ntm", "dnc"])
def test_compile_traces_the_kernel_with_no_graph_break(circuit):
    """fullgraph=True: the op traces (no graph break), forward and backward graphs call the C
    kernels' ops, and the compiled step gives the eager values and gradients."""
    torch._dynamo.reset()
    if circuit == "ntm":
        inputs, step = ntm_inputs(), lambda *t: ops.ntm_access(*t, 1)
    else:
        inputs, step = dnc_inputs(), ops.dnc_access
    graphs: list[str] = []
    compiled = torch.compile(step, backend=_recording_backend(graphs), fullgraph=True)
    outputs = compiled(*inputs)
    grads = torch.autograd.grad(weighted_sum(outputs), inputs[:3])
    eager = step(*inputs)
    eager_grads = torch.autograd.grad(weighted_sum(eager), inputs[:3])
    for a, b in zip((*outputs, *grads), (*eager, *eager_grads), strict=True):
        torch.testing.assert_close(a, b)
    forward_graph, backward_graph = graphs
    assert f"memagents.{circuit}_access_fused.default" in forward_graph
    assert f"memagents.{circuit}_access_fused_backward.default" in backward_graph


# -- CUDA graphs: buckets and padding (CPU), capture (CUDA only) -----------------------------------


def test_length_buckets_grow_geometrically_up_to_the_longest():
    from memagents.kernels.cuda_graphs import length_buckets

    assert length_buckets(41) == (8, 10, 13, 17, 22, 28, 35, 41)
    assert length_buckets(5) == (5,)
    assert length_buckets(9, min_length=1, growth=2) == (1, 2, 4, 8, 9)
    with pytest.raises(ValueError, match="growth > 1"):
        length_buckets(10, growth=1.0)


def test_bucket_length_is_the_smallest_bucket_that_fits():
    from memagents.kernels.cuda_graphs import bucket_length

    assert [bucket_length(t, (8, 13, 22)) for t in (1, 8, 9, 13, 22)] == [8, 8, 13, 13, 22]
    with pytest.raises(ValueError, match="longer than the largest bucket 22"):
        bucket_length(23, (8, 13, 22))


def test_pad_to_length_appends_unscored_zero_steps():
    from memagents.kernels.cuda_graphs import pad_to_length

    inputs, targets, mask = torch.rand(2, 3, 4), torch.rand(2, 3, 5), torch.ones(2, 3)
    padded = pad_to_length(inputs, targets, mask, 6)
    assert [tuple(t.shape) for t in padded] == [(2, 6, 4), (2, 6, 5), (2, 6)]
    torch.testing.assert_close(padded[0][:, :3], inputs)
    assert padded[0][:, 3:].abs().sum() == 0 and padded[2][:, 3:].sum() == 0
    with pytest.raises(ValueError, match="cannot pad 3 steps to 2"):
        pad_to_length(inputs, targets, mask, 2)
    with pytest.raises(ValueError, match="must share"):
        pad_to_length(inputs, targets, mask[:, :2], 6)


@pytest.mark.parametrize("name", ["ntm", "dnc"])
def test_padding_to_a_bucket_keeps_the_loss_and_gradients(name):
    """Why one graph per bucket is exact: steps after the end, unscored, change nothing."""
    from memagents.circuits import build_circuit
    from memagents.kernels.cuda_graphs import mean_sequence_loss, pad_to_length

    generator = torch.Generator().manual_seed(0)
    inputs = torch.rand(3, 5, 6, generator=generator, dtype=F64)
    targets = (torch.rand(3, 5, 4, generator=generator) > 0.5).to(F64)
    mask = (torch.rand(3, 5, generator=generator) > 0.3).to(F64)
    results = []
    for batch in ((inputs, targets, mask), pad_to_length(inputs, targets, mask, 9)):
        torch.manual_seed(0)
        circuit = build_circuit(name, 6, 4, memory_size=8, word_size=4, controller_size=8)
        circuit = circuit.double()
        logits, _ = circuit.unroll(batch[0])
        loss = mean_sequence_loss(logits, batch[1], batch[2])
        loss.backward()
        results.append((loss, [p.grad for p in circuit.parameters()]))
    torch.testing.assert_close(results[0][0], results[1][0])
    for a, b in zip(results[0][1], results[1][1], strict=True):
        torch.testing.assert_close(a, b)


def test_graphed_train_step_refuses_a_cpu_circuit():
    from memagents.circuits import build_circuit
    from memagents.kernels.cuda_graphs import GraphedTrainStep

    circuit = build_circuit("ntm", 6, 4, memory_size=8)
    optimizer = torch.optim.Adam(circuit.parameters())
    with pytest.raises(ValueError, match="the circuit is on cpu"):
        GraphedTrainStep(circuit, optimizer, (8,))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("name", ["ntm", "dnc"])
def test_graphed_train_step_equals_eager_on_cuda(name):
    """Two buckets, three iterations: the replayed losses and weights equal eager training."""
    from memagents.circuits import build_circuit
    from memagents.kernels.cuda_graphs import GraphedTrainStep, mean_sequence_loss

    def make():
        torch.manual_seed(0)
        circuit = build_circuit(name, 6, 4, memory_size=16).cuda()
        return circuit, torch.optim.Adam(circuit.parameters(), lr=1e-3, capturable=True)

    generator = torch.Generator().manual_seed(0)
    batches = []
    for steps in (5, 11, 7):
        inputs = torch.rand(4, steps, 6, generator=generator)
        targets = (torch.rand(4, steps, 4, generator=generator) > 0.5).float()
        batches.append([t.cuda() for t in (inputs, targets, torch.ones(4, steps))])
    eager, eager_optimizer = make()
    graphed, graphed_optimizer = make()
    step = GraphedTrainStep(graphed, graphed_optimizer, buckets=(8, 16))
    for inputs, targets, mask in batches:
        eager_optimizer.zero_grad()
        loss = mean_sequence_loss(eager.unroll(inputs)[0], targets, mask)
        loss.backward()
        eager_optimizer.step()
        torch.testing.assert_close(step(inputs, targets, mask), loss, rtol=1e-4, atol=1e-5)
    assert set(step.graphs) == {(4, 8), (4, 16)}
    for a, b in zip(graphed.parameters(), eager.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
