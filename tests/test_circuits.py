"""Circuits: the interface of docs/INTERFACES.md, step == unroll, batch independence, gradients,
numerical safety, devices and dtypes, and that tiny NTM/DNC models can fit a small copy batch."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F

from memagents.access import DNCAccessState, NTMAccessState
from memagents.circuits import CIRCUITS, LSTM, build_circuit

TINY = {
    "ntm": dict(memory_size=8, word_size=4, controller_size=8),
    "dnc": dict(memory_size=6, word_size=4, num_reads=2, controller_size=8),
    "lstm": dict(hidden_size=8, num_layers=2),
}
TINY_VARIANTS = [
    ("ntm", TINY["ntm"]),
    ("ntm", dict(TINY["ntm"], num_reads=2, num_writes=2, shift_range=2)),
    ("ntm", dict(TINY["ntm"], controller="feedforward")),
    ("dnc", TINY["dnc"]),
    ("dnc", dict(TINY["dnc"], num_writes=2)),
    ("dnc", dict(TINY["dnc"], controller="feedforward")),
    ("lstm", TINY["lstm"]),
]
IDS = [f"{name}-{i}" for i, (name, _) in enumerate(TINY_VARIANTS)]
INPUT_SIZE, OUTPUT_SIZE = 5, 4


def tiny(name: str, dtype=torch.float64, seed: int = 0, **kwargs):
    torch.manual_seed(seed)
    return build_circuit(name, INPUT_SIZE, OUTPUT_SIZE, **kwargs).to(dtype)


def inputs(batch: int, steps: int, dtype=torch.float64, seed: int = 1) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(batch, steps, INPUT_SIZE, generator=generator, dtype=dtype)


def flat_state(state) -> list[torch.Tensor]:
    """Every tensor of a (nested) state NamedTuple."""
    if isinstance(state, torch.Tensor):
        return [state]
    return [t for part in state for t in flat_state(part)]


@pytest.fixture(autouse=True)
def one_thread():
    """These tensors are tiny: one intra-op thread is fastest, and on a shared 2-core machine
    OpenMP workers spinning against other processes made a 5 s test take 70 s."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# -- interface ---------------------------------------------------------------------------------


def test_registry_names_and_defaults():
    assert set(CIRCUITS) == {"ntm", "dnc", "lstm"}
    for name, cls in CIRCUITS.items():
        assert cls.name == name
    ntm = build_circuit("ntm", 9, 8)
    assert (ntm.access.memory_size, ntm.access.word_size) == (128, 20)
    assert (ntm.access.num_reads, ntm.access.num_writes, ntm.access.shift_range) == (1, 1, 1)
    assert ntm.controller.hidden_size == 100
    dnc = build_circuit("dnc", 6, 5)
    assert (dnc.access.memory_size, dnc.access.word_size) == (16, 16)
    assert (dnc.access.num_reads, dnc.access.num_writes) == (4, 1)
    assert dnc.controller.hidden_size == 64
    with pytest.raises(ValueError, match="unknown circuit"):
        build_circuit("gru", 1, 1)
    with pytest.raises(ValueError, match="controller must be one of"):
        build_circuit("ntm", 1, 1, controller="gru")


@pytest.mark.parametrize(("name", "kwargs"), TINY_VARIANTS, ids=IDS)
def test_interface_shapes_and_immutable_state(name, kwargs):
    circuit = tiny(name, **kwargs)
    state = circuit.initial_state(3)
    assert isinstance(state, tuple) and hasattr(state, "_fields")
    with pytest.raises(AttributeError):
        state.controller = None  # NamedTuple: immutable
    logits, next_state = circuit(inputs(3, 1)[:, 0], state)
    assert logits.shape == (3, OUTPUT_SIZE)
    assert type(next_state) is type(state)
    logits, final = circuit.unroll(inputs(3, 4))
    assert logits.shape == (3, 4, OUTPUT_SIZE)
    if name != "lstm":
        access = final.access
        N, W = kwargs["memory_size"], kwargs["word_size"]
        R, H = kwargs.get("num_reads", circuit.access.num_reads), kwargs.get("num_writes", 1)
        assert access.memory.shape == (3, N, W)
        assert access.read_weights.shape == (3, R, N)
        assert access.write_weights.shape == (3, H, N)
        assert access.read_vectors.shape == (3, R, W)


@pytest.mark.parametrize(("name", "kwargs"), TINY_VARIANTS, ids=IDS)
def test_config_rebuilds_the_same_circuit(name, kwargs):
    circuit = tiny(name, **kwargs)
    rebuilt = build_circuit(circuit.name, INPUT_SIZE, OUTPUT_SIZE, **circuit.config()).double()
    rebuilt.load_state_dict(circuit.state_dict())  # same parameter names and shapes
    x = inputs(2, 3)
    torch.testing.assert_close(rebuilt.unroll(x)[0], circuit.unroll(x)[0])


def test_logits_are_clipped():
    circuit = tiny("ntm", **TINY["ntm"])
    with torch.no_grad():
        circuit.output.bias.fill_(1e3)
    logits, _ = circuit.unroll(inputs(2, 3))
    assert logits.max().item() == 20.0
    step_logits, _ = circuit(inputs(2, 1)[:, 0], circuit.initial_state(2))
    assert step_logits.max().item() == 20.0


def test_describe_and_repr_show_the_structure():
    ntm, dnc, lstm = build_circuit("ntm", 9, 8), build_circuit("dnc", 6, 5), LSTM(9, 8)
    text = ntm.describe()
    assert "128 slots x 20 words" in text and "LSTMController" in text
    assert f"total params  {sum(p.numel() for p in ntm.parameters())}" in text
    assert "memory=128x20" in repr(ntm) and "interface" in repr(ntm)
    assert "16 slots x 16 words, 4 read head(s), 1 write head(s)" in dnc.describe()
    assert "read modes" in repr(dnc)
    assert "LSTM(9, 256, num_layers=3" in lstm.describe()


# -- equivalences ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "kwargs"), TINY_VARIANTS, ids=IDS)
def test_step_by_step_equals_unroll(name, kwargs):
    circuit = tiny(name, **kwargs)
    x = inputs(3, 6)
    unrolled, unrolled_state = circuit.unroll(x)
    state = circuit.initial_state(3)
    stepped = []
    for t in range(x.shape[1]):
        logits, state = circuit(x[:, t], state)
        stepped.append(logits)
    torch.testing.assert_close(torch.stack(stepped, 1), unrolled)
    for a, b in zip(flat_state(state), flat_state(unrolled_state), strict=True):
        torch.testing.assert_close(a, b)
    # Unrolling in two halves, passing the state on, is the same again.
    first, mid_state = circuit.unroll(x[:, :2])
    second, _ = circuit.unroll(x[:, 2:], mid_state)
    torch.testing.assert_close(torch.cat([first, second], 1), unrolled)


@pytest.mark.parametrize(("name", "kwargs"), TINY_VARIANTS, ids=IDS)
def test_batch_equals_batches_of_one(name, kwargs):
    circuit = tiny(name, **kwargs)
    x = inputs(4, 5)
    batched, _ = circuit.unroll(x)
    singles = torch.cat([circuit.unroll(x[b : b + 1])[0] for b in range(4)])
    torch.testing.assert_close(batched, singles)


# -- gradients and numerical safety ----------------------------------------------------------------


@pytest.mark.parametrize(("name", "kwargs"), TINY_VARIANTS[:6], ids=IDS[:6])
def test_gradcheck_whole_step(name, kwargs):
    """Numerical vs analytic gradient of two whole steps w.r.t. the inputs and all parameters."""
    circuit = tiny(name, **kwargs)
    if name == "dnc":
        circuit.access.stop_usage_gradient = False  # else analytic != numerical by design
    x = inputs(2, 2).requires_grad_()
    names = [n for n, _ in circuit.named_parameters()]
    values = [p.detach().clone().requires_grad_() for p in circuit.parameters()]
    wrapper = _Unroll(circuit)

    def unroll(x, *values):
        overrides = {"circuit." + n: v for n, v in zip(names, values, strict=True)}
        return torch.func.functional_call(wrapper, overrides, (x,))

    assert torch.autograd.gradcheck(unroll, (x, *values), eps=1e-6, atol=1e-5, fast_mode=True)


class _Unroll(torch.nn.Module):
    """`unroll` as a module call (logits only), for torch.func.functional_call."""

    def __init__(self, circuit):
        super().__init__()
        self.circuit = circuit

    def forward(self, x):
        return self.circuit.unroll(x)[0]


@pytest.mark.parametrize("name", ["ntm", "dnc"])
def test_finite_with_zero_memory_and_huge_interface(name):
    """Zero memory, zero/huge head parameters: outputs and gradients stay finite."""
    circuit = tiny(name, dtype=torch.float32, **TINY[name])
    for scale in (0.0, 1e4):
        with torch.no_grad():
            circuit.access.interface.weight.fill_(scale)
            circuit.access.interface.bias.fill_(scale)
        state = circuit.initial_state(2)
        access = state.access._replace(memory=torch.zeros_like(state.access.memory))
        state = state._replace(access=access)
        logits, final = circuit.unroll(inputs(2, 5, torch.float32), state)
        loss = logits.square().sum() + sum(t.sum() for t in flat_state(final))
        circuit.zero_grad()
        loss.backward()
        assert torch.isfinite(logits).all()
        for t in flat_state(final):
            assert torch.isfinite(t).all()
        for n, p in circuit.named_parameters():
            assert p.grad is None or torch.isfinite(p.grad).all(), n


# -- initial state, dtypes, devices ----------------------------------------------------------------


@pytest.mark.parametrize("name", ["ntm", "dnc"])
def test_memory_init_zero_matches_between_kernel_and_torch_ops(name):
    """memory_init=0 starts every row at exactly 0 (similarity 0 to any key until written): the
    fused kernel and the torch ops agree on outputs and gradients, and both stay finite."""
    results = []
    for use_kernel in (True, False):
        circuit = tiny(name, **TINY[name], memory_init=0.0)
        circuit.access.use_kernel = use_kernel
        state = circuit.initial_state(2)
        assert not state.access.memory.any()
        logits, _ = circuit.unroll(inputs(2, 6), state)
        logits.square().sum().backward()
        grads = [p.grad.clone() for p in circuit.parameters() if p.grad is not None]
        assert all(torch.isfinite(g).all() for g in grads)
        results.append((logits.detach(), grads))
    torch.testing.assert_close(results[0][0], results[1][0])
    for kernel_grad, torch_grad in zip(results[0][1], results[1][1], strict=True):
        torch.testing.assert_close(kernel_grad, torch_grad)
    with pytest.raises(ValueError, match="memory_init"):
        build_circuit(name, INPUT_SIZE, OUTPUT_SIZE, memory_init=-1.0)


def test_head_start_first_puts_every_head_on_slot_zero_on_both_paths():
    """head_start='first': every head's initial weighting is (to float rounding) one-hot on slot
    0, the kernel and the torch ops agree on outputs and gradients, and the fused sequence agrees
    with the step-by-step graph."""
    results = []
    for use_kernel, fused in ((True, True), (True, False), (False, False)):
        circuit = tiny("ntm", **TINY["ntm"], num_reads=2, head_start="first")
        circuit.access.use_kernel = use_kernel
        circuit.fused_unroll = fused
        access = circuit.initial_state(3).access
        one_hot = torch.zeros(3, 2, TINY["ntm"]["memory_size"], dtype=torch.float64)
        one_hot[..., 0] = 1.0
        torch.testing.assert_close(access.read_weights, one_hot, atol=1e-11, rtol=0)
        torch.testing.assert_close(access.write_weights, one_hot[:, :1], atol=1e-11, rtol=0)
        logits, _ = circuit.unroll(inputs(3, 6), circuit.initial_state(3))
        logits.square().sum().backward()
        grads = [p.grad.clone() for p in circuit.parameters() if p.grad is not None]
        results.append((logits.detach(), grads))
    for logits, grads in results[1:]:
        torch.testing.assert_close(logits, results[0][0])
        for grad, first in zip(grads, results[0][1], strict=True):
            torch.testing.assert_close(grad, first)
    learned = tiny("ntm", **TINY["ntm"]).initial_state(1).access.read_weights
    assert learned.max() < 0.5  # the default starts near uniform, not on one slot
    with pytest.raises(ValueError, match="head_start"):
        build_circuit("ntm", INPUT_SIZE, OUTPUT_SIZE, head_start="last")


def test_forward_shift_starts_every_head_stepping_forward():
    """forward_shift biases each head's +1 shift logit at initialisation (only that): with every
    head on slot 0 and a large bias, an untrained NTM's heads move one slot per step."""
    torch.manual_seed(0)
    plain = build_circuit("ntm", INPUT_SIZE, OUTPUT_SIZE, head_start="first", num_reads=2)
    torch.manual_seed(0)
    biased = build_circuit(
        "ntm", INPUT_SIZE, OUTPUT_SIZE, head_start="first", num_reads=2, forward_shift=30.0
    )
    shifts = biased.access.layout.field("shifts")  # K=3 heads x S=3 shifts (-1, 0, +1)
    change = (biased.access.interface.bias - plain.access.interface.bias).detach()
    expected = torch.zeros_like(change)
    expected[[shifts.offset + 3 * k + 2 for k in range(3)]] = 30.0
    torch.testing.assert_close(change, expected)
    state = biased.initial_state(1)
    with torch.no_grad():
        for step in range(1, 6):
            _, state = biased(inputs(1, 1, dtype=torch.float32)[:, 0], state)
            slots = torch.cat([state.access.write_weights, state.access.read_weights], 1).argmax(-1)
            assert slots.flatten().tolist() == [step] * 3
    with pytest.raises(ValueError, match="forward_shift"):
        build_circuit("ntm", INPUT_SIZE, OUTPUT_SIZE, shift_range=0, forward_shift=2.0)
    with pytest.raises(ValueError, match="forward_shift"):
        build_circuit("ntm", INPUT_SIZE, OUTPUT_SIZE, forward_shift=float("nan"))


def test_write_gate_bias_starts_write_heads_by_location():
    """write_gate_bias biases only the write heads' interpolation gates at initialisation: with
    every head on slot 0 and a large negative bias, an untrained NTM's write weighting after a
    step lies on the slots one shift from slot 0, where without it the content weighting of the
    blank memory spreads it over every slot. Read heads keep their gates."""
    torch.manual_seed(0)
    plain = build_circuit("ntm", INPUT_SIZE, OUTPUT_SIZE, head_start="first", num_reads=2)
    torch.manual_seed(0)
    biased = build_circuit(
        "ntm", INPUT_SIZE, OUTPUT_SIZE, head_start="first", num_reads=2, write_gate_bias=-30.0
    )
    gates = biased.access.layout.field("gates")  # K=3 heads: 2 read, then 1 write
    change = (biased.access.interface.bias - plain.access.interface.bias).detach()
    expected = torch.zeros_like(change)
    expected[gates.offset + 2] = -30.0
    torch.testing.assert_close(change, expected)
    step = inputs(1, 1, dtype=torch.float32)[:, 0]
    size = biased.access.memory_size
    near = [size - 1, 0, 1]
    with torch.no_grad():
        _, state = biased(step, biased.initial_state(1))
        _, plain_state = plain(step, plain.initial_state(1))
    assert state.access.write_weights[0, 0, near].sum() > 1 - 1e-6
    assert plain_state.access.write_weights[0, 0, near].sum() < 0.99
    torch.testing.assert_close(state.access.read_weights, plain_state.access.read_weights)
    with pytest.raises(ValueError, match="write_gate_bias"):
        build_circuit("ntm", INPUT_SIZE, OUTPUT_SIZE, write_gate_bias=float("inf"))


def test_initial_states():
    ntm = tiny("ntm", **TINY["ntm"])
    access = ntm.initial_state(2).access
    assert isinstance(access, NTMAccessState)
    torch.testing.assert_close(access.memory, torch.full_like(access.memory, 1e-6))
    torch.testing.assert_close(access.read_weights.sum(-1), torch.ones(2, 1, dtype=torch.float64))
    assert access.read_weights.requires_grad  # learned initial weights
    assert access.read_vectors.requires_grad  # learned initial read vectors
    torch.testing.assert_close(access.read_weights[0], access.read_weights[1])
    dnc = tiny("dnc", **TINY["dnc"])
    access = dnc.initial_state(2).access
    assert isinstance(access, DNCAccessState)
    for field in ("read_weights", "write_weights", "usage", "link", "precedence", "read_vectors"):
        assert not getattr(access, field).any(), field
    # The first write of a fresh DNC with the allocation gate open goes to slot 0.
    with torch.no_grad():
        dnc.access.interface.weight.zero_()
        dnc.access.interface.bias.fill_(20.0)  # all gates ~1, strong keys
    _, state = dnc(inputs(2, 1)[:, 0], dnc.initial_state(2))
    assert state.access.write_weights[:, 0].argmax(-1).tolist() == [0, 0]
    assert state.access.write_weights[:, 0, 0].min() > 0.99


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("name", ["ntm", "dnc", "lstm"])
def test_dtypes(name, dtype):
    circuit = tiny(name, dtype=dtype, **TINY[name])
    logits, state = circuit.unroll(inputs(2, 3, dtype))
    assert logits.dtype == dtype
    assert all(t.dtype == dtype for t in flat_state(state))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("name", ["ntm", "dnc", "lstm"])
def test_cuda_matches_cpu(name):
    circuit = tiny(name, **TINY[name])
    x = inputs(3, 4)
    cpu_logits, _ = circuit.unroll(x)
    gpu = circuit.to("cuda")
    gpu_logits, gpu_state = gpu.unroll(x.cuda())
    assert all(t.device.type == "cuda" for t in flat_state(gpu_state))
    gpu_logits.sum().backward()
    torch.testing.assert_close(gpu_logits.cpu(), cpu_logits)
    stepped, _ = gpu(x[:, 0].cuda(), gpu.initial_state(3))
    torch.testing.assert_close(stepped.cpu(), cpu_logits[:, 0])


# -- learning --------------------------------------------------------------------------------------


def copy_batch(batch: int, bits: int, min_length: int, max_length: int, seed: int = 0):
    """A copy batch: inputs (B, T, bits + 1), targets (B, T, bits), mask (B, T), T = 2 * max + 1.

    The sequence comes first, then a delimiter on the extra channel, then the model must output
    the sequence while the input is silent.
    """
    generator = torch.Generator().manual_seed(seed)
    T = 2 * max_length + 1
    x = torch.zeros(batch, T, bits + 1)
    y = torch.zeros(batch, T, bits)
    mask = torch.zeros(batch, T)
    for b in range(batch):
        length = int(torch.randint(min_length, max_length + 1, (1,), generator=generator))
        sequence = torch.randint(0, 2, (length, bits), generator=generator).float()
        x[b, :length, :bits] = sequence
        x[b, length, bits] = 1.0
        y[b, length + 1 : 2 * length + 1] = sequence
        mask[b, length + 1 : 2 * length + 1] = 1.0
    return x, y, mask


def steps_to_fit_copy(circuit, max_steps: int, lr: float = 1e-2) -> tuple[int, float]:
    """Adam on one fixed copy batch until it has no bit errors: (steps taken, loss then)."""
    x, y, mask = copy_batch(8, bits=4, min_length=3, max_length=5)
    optimizer = torch.optim.Adam(circuit.parameters(), lr=lr)
    for step in range(max_steps):
        logits, _ = circuit.unroll(x)
        loss = F.binary_cross_entropy_with_logits(logits, y, reduction="none").sum(-1) * mask
        loss = loss.sum() / mask.sum()
        bit_errors = int((((logits > 0).float() != y).float().sum(-1) * mask).sum())
        if bit_errors == 0:
            return step, loss.item()
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(circuit.parameters(), 10.0)
        optimizer.step()
    return max_steps, loss.item()


@pytest.mark.parametrize(
    ("name", "kwargs"),
    [
        ("ntm", dict(memory_size=12, word_size=6, controller_size=32)),
        ("dnc", dict(memory_size=8, word_size=6, num_reads=1, controller_size=32)),
    ],
)
def test_tiny_memory_circuits_fit_a_copy_batch(name, kwargs):
    """Lengths 3-5 of 4 bits, batch 8: all bits right within 350 Adam steps (~200 in practice)."""
    torch.manual_seed(0)
    circuit = build_circuit(name, 5, 4, **kwargs)
    steps, loss = steps_to_fit_copy(circuit, max_steps=350)
    assert steps < 350, f"still bit errors after {steps} steps (loss {loss:.3f})"
    assert loss < 0.35


def _recording_backend(graphs: list[str]):
    """An AOTAutograd backend (no code generation, so quick) that keeps the graphs' code."""
    from functorch.compile import make_boxed_func
    from torch._dynamo.backends.common import aot_autograd

    def record(graph_module, _):
        graphs.append(graph_module.code)
        return make_boxed_func(graph_module.forward)

    return aot_autograd(fw_compiler=record, bw_compiler=record)


def _eager_and_compiled(eager, compiled, x):
    results = []
    for circuit, run in ((eager, eager.unroll), compiled):
        logits, _ = run(x)
        logits.square().sum().backward()
        results.append((logits, [p.grad for p in circuit.parameters()]))
    torch.testing.assert_close(results[1][0], results[0][0])
    for compiled_grad, eager_grad in zip(results[1][1], results[0][1], strict=True):
        torch.testing.assert_close(compiled_grad, eager_grad)


@pytest.mark.parametrize("name", ["ntm", "dnc"])
def test_compiled_step_runs_the_fused_kernel_with_no_graph_break(name):
    """`compile_step()` traces the whole step (fullgraph: no graph break); on CPU its graphs
    call the same C kernels as eager (the registered ops), with the eager logits and gradients."""
    from memagents.kernels import build

    if build.load_library() is None:
        pytest.skip("the fused C kernels could not be built")
    torch._dynamo.reset()
    graphs: list[str] = []
    eager = tiny(name, dtype=torch.float32, **TINY[name])
    compiled = tiny(name, dtype=torch.float32, **TINY[name])
    compiled.compile_step(backend=_recording_backend(graphs))
    _eager_and_compiled(eager, (compiled, compiled.unroll), inputs(3, 4, torch.float32))
    assert any(f"memagents.{name}_access_fused.default" in graph for graph in graphs)
    assert any(f"memagents.{name}_access_fused_backward.default" in graph for graph in graphs)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["ntm", "dnc"])
def test_compiled_unroll_equals_eager(name):
    """torch.compile(fullgraph=True, inductor) of a whole unroll: eager logits and gradients."""
    torch._dynamo.reset()
    eager = tiny(name, dtype=torch.float32, **TINY[name])
    compiled = tiny(name, dtype=torch.float32, **TINY[name])
    run = torch.compile(compiled.unroll, fullgraph=True, dynamic=False)
    _eager_and_compiled(eager, (compiled, run), inputs(3, 4, torch.float32))


@pytest.mark.slow
@pytest.mark.parametrize("name", ["ntm", "dnc"])
def test_compiled_step_equals_eager(name):
    """`compile_step()` (inductor) gives the eager logits and gradients."""
    eager = tiny(name, dtype=torch.float32, **TINY[name])
    compiled = tiny(name, dtype=torch.float32, **TINY[name]).compile_step()
    x = inputs(3, 4, torch.float32)
    results = []
    for circuit in (eager, compiled):
        logits, _ = circuit.unroll(x)
        logits.square().sum().backward()
        results.append((logits, [p.grad for p in circuit.parameters()]))
    torch.testing.assert_close(results[1][0], results[0][0])
    for compiled_grad, eager_grad in zip(results[1][1], results[0][1], strict=True):
        torch.testing.assert_close(compiled_grad, eager_grad)


def test_the_package_exports_its_entry_points_without_importing_torch_early():
    code = (
        "import sys, memagents\n"
        "assert 'torch' not in sys.modules\n"
        "circuit = memagents.build_circuit('dnc', 6, 5)\n"
        "assert isinstance(circuit, memagents.DNC) and 'torch' in sys.modules\n"
        "assert set(memagents.__all__) >= {'build_circuit', 'NTM', 'DNC', 'LSTM', 'TrainConfig'}\n"
        "assert 'ntm-copy' in memagents.PRESETS\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


@pytest.mark.parametrize("controller", ["lstm", "feedforward"])
def test_an_ntm_on_fewer_slots_is_the_ntm_built_with_that_many(controller):
    """initial_state(B, n) on a 32-slot NTM: the same outputs and gradients as the same weights
    built with n slots, through the fused unroll and step by step; n outside 3..32 is refused."""
    torch.manual_seed(0)
    sizes = dict(word_size=8, controller_size=16, num_reads=2, controller=controller)
    wide = build_circuit("ntm", 10, 9, memory_size=32, **sizes)
    narrow = build_circuit("ntm", 10, 9, memory_size=20, **sizes)
    state = wide.state_dict()
    for key in state:
        if key.endswith("initial_weight_logits"):
            state[key] = state[key][:, :20]
    narrow.load_state_dict(state)
    inputs = torch.randn(4, 12, 10)
    logits, final = wide.unroll(inputs, wide.initial_state(4, 20))
    expected, _ = narrow.unroll(inputs)
    assert final.access.memory.shape == (4, 20, 8)
    torch.testing.assert_close(logits, expected, rtol=1e-5, atol=1e-6)
    stepped, step_state = [], wide.initial_state(4, 20)
    for t in range(inputs.shape[1]):
        out, step_state = wide(inputs[:, t], step_state)
        stepped.append(out)
    torch.testing.assert_close(torch.stack(stepped, 1), expected, rtol=1e-5, atol=1e-6)
    logits.square().sum().backward()
    expected.square().sum().backward()
    grads = dict(narrow.named_parameters())
    for name, param in wide.named_parameters():
        grad = param.grad[:, :20] if name.endswith("initial_weight_logits") else param.grad
        torch.testing.assert_close(grad, grads[name].grad, rtol=1e-4, atol=1e-6)
    for slots in (2, 33):
        with pytest.raises(ValueError, match="needs 3..32 slots"):
            wide.initial_state(1, slots)
