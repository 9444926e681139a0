"""The fused C kernels (memagents.kernels) against the torch-ops path they replace.

Each kernel must give the same values and the same gradients as the torch ops of its access module
(float64, random interfaces, planted zero memory rows), pass gradcheck, run whole circuits to the
same logits and parameter gradients, and fall back to the torch ops, with a warning that says why,
when no compiler can build it.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import warnings

import pytest
import torch
import torch.nn.functional as F
from conftest import skip_or_fail

from memagents.access import DNCAccess, NTMAccess
from memagents.circuits import build_circuit
from memagents.kernels import build, torch_ops
from memagents.kernels.ops import dnc_access, ntm_access


@pytest.fixture(autouse=True)
def kernels_built():
    """Skip without a C compiler; in CI (MEMAGENTS_REQUIRE_BROWSER=1) that is a failure."""
    if build.load_library() is None:
        skip_or_fail("the fused C kernels could not be built (no C compiler?)")


NTM_SHAPES = [  # B, N, W, R, H, shift_range
    (3, 7, 4, 1, 1, 1),
    (2, 9, 3, 2, 2, 2),
    (2, 5, 3, 1, 3, 1),
    (1, 3, 2, 2, 1, 1),  # 3 slots, 3 shifts: every slot is a neighbour
    (2, 2, 1, 1, 1, 0),  # no shift, one-number words
]


def ntm_case(B, N, W, R, H, shift_range, seed=0, dtype=torch.float64):
    """A random NTMAccess and its inputs, with one all-zero memory row."""
    torch.manual_seed(seed)
    access = NTMAccess(8, N, W, R, H, shift_range).to(dtype)
    interface = torch.randn(B, access.layout.size, dtype=dtype) * 2
    memory = torch.randn(B, N, W, dtype=dtype)
    memory[0, 1] = 0.0
    read_weights = torch.softmax(torch.randn(B, R, N, dtype=dtype) * 3, -1)
    write_weights = torch.softmax(torch.randn(B, H, N, dtype=dtype) * 3, -1)
    return access, [t.requires_grad_() for t in (interface, memory, read_weights, write_weights)]


@pytest.mark.parametrize("shape", NTM_SHAPES, ids=str)
def test_ntm_kernel_equals_torch_ops(shape):
    access, tensors = ntm_case(*shape)
    fused = ntm_access(*tensors, access.shift_range)
    reference = torch_ops.ntm_access(*tensors, access.shift_range)
    for name, a, b in zip(("reads", "read w", "write w", "memory"), fused, reference, strict=True):
        torch.testing.assert_close(a, b, msg=name)
    projections = [torch.randn_like(t) for t in fused]
    losses = [
        sum((o * p).sum() for o, p in zip(out, projections, strict=True))
        for out in (fused, reference)
    ]
    grads = [torch.autograd.grad(loss, tensors) for loss in losses]
    for name, a, b in zip(("interface", "memory", "read w", "write w"), *grads, strict=True):
        # A zero memory row puts 1/eps into the similarity gradient: rounding grows with it.
        torch.testing.assert_close(a, b, rtol=1e-7, atol=1e-8, msg=name)


@pytest.mark.parametrize("shape", NTM_SHAPES[:3], ids=str)
def test_ntm_kernel_gradcheck(shape):
    access, tensors = ntm_case(*shape)
    with torch.no_grad():
        tensors[1][0, 1] = 0.5  # |M[n]| is not differentiable at a zero row
    assert torch.autograd.gradcheck(lambda *t: ntm_access(*t, access.shift_range), tensors)


def test_ntm_kernel_float32_close_to_float64():
    access, tensors = ntm_case(16, 128, 20, 1, 1, 1)
    out64 = ntm_access(*tensors, 1)
    out32 = ntm_access(*[t.detach().float() for t in tensors], 1)
    for a, b in zip(out32, out64, strict=True):
        torch.testing.assert_close(a, b.float(), rtol=1e-4, atol=1e-5)


def test_ntm_kernel_rejects_a_wrong_interface():
    access, (interface, *rest) = ntm_case(2, 5, 3, 1, 1, 1)
    with pytest.raises(ValueError, match="interface has shape"):
        ntm_access(interface[:, :-1], *rest, access.shift_range)


@pytest.mark.parametrize("controller", ["lstm", "feedforward"])
def test_ntm_circuit_same_logits_and_gradients_with_and_without_kernel(controller):
    """The default NTM (kernel) and the same weights on torch ops, float32, 12 steps."""
    grads, logits = [], []
    for use_kernel in (True, False):
        torch.manual_seed(0)
        circuit = build_circuit("ntm", 9, 8, memory_size=32, controller=controller)
        circuit.access.use_kernel = use_kernel
        x = torch.rand(4, 12, 9, generator=torch.Generator().manual_seed(1))
        out, _ = circuit.unroll(x)
        F.binary_cross_entropy_with_logits(out, (x[..., :8] > 0.5).float()).backward()
        logits.append(out)
        grads.append({n: p.grad for n, p in circuit.named_parameters()})
    torch.testing.assert_close(logits[0], logits[1], rtol=1e-5, atol=1e-5)
    for name in grads[0]:
        torch.testing.assert_close(grads[0][name], grads[1][name], rtol=1e-4, atol=1e-6, msg=name)


def test_the_kernel_is_what_runs_by_default(monkeypatch):
    """The NTM on CPU unrolls through the fused sequence, and steps through the kernel when the
    fused sequence is off (a check that the fast paths are not silently skipped)."""
    from memagents.kernels import ops, unroll

    sequences, steps = [], []
    fused, step = unroll._Unroll.apply, ops._NTMStep.apply
    monkeypatch.setattr(unroll._Unroll, "apply", lambda *a: sequences.append(1) or fused(*a))
    monkeypatch.setattr(ops._NTMStep, "apply", lambda *a: steps.append(1) or step(*a))
    circuit = build_circuit("ntm", 9, 8, memory_size=16)
    circuit.unroll(torch.rand(2, 5, 9))
    assert (len(sequences), len(steps)) == (1, 0)
    circuit.fused_unroll = False
    circuit.unroll(torch.rand(2, 5, 9))
    assert (len(sequences), len(steps)) == (1, 5)
    assert "step on the fused C kernel" in repr(circuit)  # and so in every run's log
    circuit.access.use_kernel = False
    circuit.fused_unroll = True  # not where the access step has no kernel
    circuit.unroll(torch.rand(2, 5, 9))
    assert (len(sequences), len(steps)) == (1, 5)
    assert "step on torch ops" in repr(circuit)


def test_without_a_compiler_the_torch_ops_run_after_one_warning(monkeypatch, tmp_path):
    monkeypatch.setenv("CC", "/nonexistent/cc")
    monkeypatch.setattr(build.shutil, "which", lambda name: None)
    monkeypatch.setenv("MEMAGENTS_KERNEL_CACHE", str(tmp_path))
    build.load_library.cache_clear()
    try:
        with pytest.warns(RuntimeWarning, match="no C compiler"):
            assert build.load_library() is None
        circuit = build_circuit("ntm", 9, 8, memory_size=16)
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # the warning comes once, not every step
            logits, _ = circuit.unroll(torch.rand(2, 5, 9))
        assert torch.isfinite(logits).all()
    finally:
        build.load_library.cache_clear()


def test_a_failing_build_warns_with_the_compiler_error(monkeypatch, tmp_path):
    fake = tmp_path / "cc"
    fake.write_text("#!/bin/sh\necho 'fatal: this compiler is broken' >&2\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setenv("CC", str(fake))
    monkeypatch.setenv("MEMAGENTS_KERNEL_CACHE", str(tmp_path / "cache"))
    build.load_library.cache_clear()
    try:
        with pytest.warns(RuntimeWarning, match="this compiler is broken"):
            assert build.load_library() is None
    finally:
        build.load_library.cache_clear()


def test_build_is_cached_and_disabled_by_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("MEMAGENTS_KERNEL_CACHE", str(tmp_path))
    build.load_library.cache_clear()
    try:
        assert build.load_library() is not None
        built = list(tmp_path.glob("kernels-*.so"))
        assert len(built) == 1  # and no temporary files left beside it
        assert [p.name for p in tmp_path.iterdir()] == [built[0].name]
        monkeypatch.setenv("MEMAGENTS_KERNELS", "0")
        build.load_library.cache_clear()
        assert build.load_library() is None
    finally:
        build.load_library.cache_clear()


def test_loading_the_kernels_keeps_denormals():
    """The library must not switch the process to flush-to-zero (as -ffast-math linking does)."""
    build.load_library()
    tiny = torch.tensor([1e-40], dtype=torch.float32)
    assert (tiny * 1).item() > 0


# -- DNC -------------------------------------------------------------------------------------------

DNC_SHAPES = [(3, 6, 4, 2), (2, 16, 16, 4), (1, 5, 3, 1), (2, 5, 1, 1)]  # B, N, W, R


def dnc_case(B, N, W, R, seed=0, dtype=torch.float64):
    """A random DNCAccess (one write head) and a state with planted ties and zeros."""
    torch.manual_seed(seed)
    access = DNCAccess(8, N, W, R, 1).to(dtype)
    interface = torch.randn(B, access.layout.size, dtype=dtype) * 2
    memory = torch.randn(B, N, W, dtype=dtype)
    memory[0, 1] = 0.0
    read_weights = torch.softmax(torch.randn(B, R, N, dtype=dtype) * 3, -1) * 0.9
    write_weights = torch.softmax(torch.randn(B, 1, N, dtype=dtype) * 3, -1) * 0.8
    usage = torch.rand(B, N, dtype=dtype)
    usage[0, :3] = 0.0  # ties in the allocation sort, and usage at its lower bound
    usage[0, 4] = usage[0, 3]
    link = torch.rand(B, 1, N, N, dtype=dtype) / N * (1 - torch.eye(N, dtype=dtype))
    precedence = torch.softmax(torch.randn(B, 1, N, dtype=dtype), -1) * 0.7
    tensors = (interface, memory, read_weights, write_weights, usage, link, precedence)
    return access, [t.requires_grad_() for t in tensors]


DNC_OUTPUTS = ("reads", "read w", "write w", "usage", "link", "precedence", "memory")


@pytest.mark.parametrize("shape", DNC_SHAPES, ids=str)
def test_dnc_kernel_equals_torch_ops(shape):
    _, tensors = dnc_case(*shape)
    fused = dnc_access(*tensors)
    reference = torch_ops.dnc_access(*tensors)
    for name, a, b in zip(DNC_OUTPUTS, fused, reference, strict=True):
        torch.testing.assert_close(a, b, msg=name)
    projections = [torch.randn_like(t) for t in fused]
    losses = [
        sum((o * p).sum() for o, p in zip(out, projections, strict=True))
        for out in (fused, reference)
    ]
    inputs = [t for i, t in enumerate(tensors) if i != 3]  # no gradient to the previous write
    grads = [torch.autograd.grad(loss, inputs) for loss in losses]
    names = ("interface", "memory", "read w", "usage", "link", "precedence")
    for name, a, b in zip(names, *grads, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-7, atol=1e-8, msg=name)


@pytest.mark.parametrize("shape", DNC_SHAPES, ids=str)
def test_dnc_kernel_gradcheck(shape):
    _, tensors = dnc_case(*shape)
    with torch.no_grad():
        tensors[1][0, 1] = 0.5  # |M[n]| is not differentiable at a zero row
    prev_write = tensors[3].detach()  # stop_usage_gradient: the step has none for it

    def step(interface, memory, read_weights, usage, link, precedence):
        return dnc_access(interface, memory, read_weights, prev_write, usage, link, precedence)

    assert torch.autograd.gradcheck(step, [t for i, t in enumerate(tensors) if i != 3])


def test_dnc_kernel_rejects_two_write_heads_and_a_wrong_interface():
    from memagents.kernels import dnc
    from memagents.kernels.layout import dnc_layout

    _, (interface, memory, read, write, usage, link, precedence) = dnc_case(2, 5, 3, 1)
    offsets = dnc_layout(1, 1, 3).offsets
    state = [t.detach() for t in (memory, read, write, usage, link, precedence)]
    two_heads = state[:2] + [state[2].expand(-1, 2, -1).contiguous()] + state[3:]
    with pytest.raises(ValueError, match="one write head"):
        dnc.forward(interface.detach(), *two_heads, offsets)
    with pytest.raises(ValueError, match="interface has shape"):
        dnc_access(interface[:, 1:], memory, read, write, usage, link, precedence)


def test_the_dnc_op_runs_two_write_heads_on_torch_ops():
    """The op takes any number of write heads; the C kernel only one (the rest: torch ops)."""
    access = DNCAccess(8, 5, 3, 2, 2).double()
    state = access.initial_state(2)
    interface = torch.randn(2, access.layout.size, dtype=torch.float64)
    args = (interface, *state[:6], access.offsets)
    for a, b in zip(dnc_access(*args), torch_ops.dnc_access(*args), strict=True):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize(
    "kwargs",
    [dict(memory_size=8, num_reads=2), dict(memory_size=16), dict(controller="feedforward")],
    ids=["small", "default", "feedforward"],
)
def test_dnc_circuit_same_logits_and_gradients_with_and_without_kernel(kwargs):
    """The default DNC (kernel) and the same weights on torch ops, float32, 10 steps; the loss
    also sums the final state, so the kernel gets expanded (stride 0) gradients as well."""
    results = []
    for use_kernel in (True, False):
        torch.manual_seed(0)
        circuit = build_circuit("dnc", 6, 5, **kwargs)
        circuit.access.use_kernel = use_kernel
        x = torch.rand(4, 10, 6, generator=torch.Generator().manual_seed(1))
        out, final = circuit.unroll(x)
        loss = F.binary_cross_entropy_with_logits(out, (x[..., :5] > 0.5).float())
        (loss + 0.1 * sum(t.sum() for t in final.access)).backward()
        results.append((out, {n: p.grad for n, p in circuit.named_parameters()}))
    (logits, grads), (reference_logits, reference_grads) = results
    torch.testing.assert_close(logits, reference_logits, rtol=1e-5, atol=1e-5)
    for name in grads:
        torch.testing.assert_close(
            grads[name], reference_grads[name], rtol=1e-4, atol=1e-6, msg=name
        )


def test_dnc_kernel_runs_by_default_and_only_where_it_applies(monkeypatch):
    from memagents.kernels import ops, unroll

    sequences, steps = [], []
    fused, step = unroll._Unroll.apply, ops._DNCStep.apply
    monkeypatch.setattr(unroll._Unroll, "apply", lambda *a: sequences.append(1) or fused(*a))
    monkeypatch.setattr(ops._DNCStep, "apply", lambda *a: steps.append(1) or step(*a))
    build_circuit("dnc", 6, 5).unroll(torch.rand(2, 4, 6))
    assert (len(sequences), len(steps)) == (1, 0)
    circuit = build_circuit("dnc", 6, 5)
    circuit.fused_unroll = False
    circuit.unroll(torch.rand(2, 4, 6))
    assert (len(sequences), len(steps)) == (1, 4)
    build_circuit("dnc", 6, 5, num_writes=2).unroll(torch.rand(2, 4, 6))  # two write heads
    circuit = build_circuit("dnc", 6, 5)
    circuit.access.stop_usage_gradient = False  # the kernel implements only the stopped gradient
    circuit.unroll(torch.rand(2, 4, 6))
    assert (len(sequences), len(steps)) == (1, 4)


# -- threads over the batch ------------------------------------------------------------------------


@contextlib.contextmanager
def torch_threads(threads: int):
    """torch's intra-op thread count (and so the kernels') set to `threads` inside."""
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def outputs_and_grads(step, tensors, threads, grad_inputs=None):
    """The step's outputs and the gradients of `grad_inputs` (default: all of `tensors`) for
    fixed random output gradients (no reduction across the batch outside the kernels)."""
    with torch_threads(threads):
        outputs = step(*tensors)
        generator = torch.Generator().manual_seed(2)
        projections = [torch.randn(o.shape, dtype=o.dtype, generator=generator) for o in outputs]
        grads = torch.autograd.grad(outputs, grad_inputs or tensors, projections)
    return [o.detach() for o in outputs], list(grads)


def assert_same_bits(first, second):
    for index, (a, b) in enumerate(zip(first, second, strict=True)):
        assert torch.equal(a, b), f"tensor {index} differs"


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
@pytest.mark.parametrize("B", [build.THREADED_MIN_BATCH, 67])  # a batch split unevenly
def test_ntm_kernel_same_bits_on_1_and_2_threads(B, dtype):
    assert B >= build.THREADED_MIN_BATCH and build.threads_for(B) >= 1
    access, tensors = ntm_case(B, 10, 4, 2, 2, 1, dtype=dtype)

    def step(*t):
        return ntm_access(*t, access.shift_range)

    one = outputs_and_grads(step, tensors, 1)
    two = outputs_and_grads(step, tensors, 2)
    assert_same_bits(one[0], two[0])
    assert_same_bits(one[1], two[1])


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
@pytest.mark.parametrize("B", [build.THREADED_MIN_BATCH, 67])
def test_dnc_kernel_same_bits_on_1_and_2_threads(B, dtype):
    _, tensors = dnc_case(B, 6, 4, 2, dtype=dtype)
    inputs = [t for i, t in enumerate(tensors) if i != 3]  # no gradient to the previous write
    one = outputs_and_grads(dnc_access, tensors, 1, inputs)
    two = outputs_and_grads(dnc_access, tensors, 2, inputs)
    assert_same_bits(one[0], two[0])
    assert_same_bits(one[1], two[1])


def test_kernels_thread_from_the_threshold_on_with_torchs_count():
    with torch_threads(2):
        assert build.threads_for(build.THREADED_MIN_BATCH) == 2
        assert build.threads_for(build.THREADED_MIN_BATCH - 1) == 1
    with torch_threads(1):
        assert build.threads_for(10 * build.THREADED_MIN_BATCH) == 1


def test_the_kernels_are_built_with_openmp_where_the_compiler_has_it(tmp_path):
    probe = tmp_path / "probe.c"
    probe.write_text("#include <omp.h>\nint main(void) { return omp_get_max_threads() < 1; }\n")
    command = [build.find_compiler(), "-fopenmp", "-o", str(tmp_path / "probe"), str(probe)]
    if subprocess.run(command, capture_output=True).returncode != 0:
        pytest.skip("the C compiler has no OpenMP")
    assert build.openmp()


def test_the_kernels_and_torch_share_one_openmp_runtime():
    """torch's wheel ships its own libgomp.so.1; the kernels' must resolve to the same copy."""
    build.load_library()
    if not os.path.exists("/proc/self/maps"):
        pytest.skip("needs /proc (Linux)")
    with open("/proc/self/maps") as maps:
        runtimes = {line.split()[-1] for line in maps if "libgomp" in line or "libiomp" in line}
    assert len(runtimes) <= 1, runtimes


def serial_build_runs_the_kernels(B=64):
    """With the library just loaded: not OpenMP, and the NTM and DNC steps at batch B on 2
    threads as on 1 and as the torch ops."""
    assert build.load_library() is not None and not build.openmp()
    access, tensors = ntm_case(B, 6, 3, 1, 1, 1)
    for threads in (1, 2):
        with torch_threads(threads):
            fused = ntm_access(*[t.detach() for t in tensors], access.shift_range)
        reference = torch_ops.ntm_access(*[t.detach() for t in tensors], access.shift_range)
        for a, b in zip(fused, reference, strict=True):
            torch.testing.assert_close(a, b)
    _, tensors = dnc_case(B, 5, 3, 1)
    tensors = [t.detach() for t in tensors]
    with torch_threads(2):
        fused = dnc_access(*tensors)
    for a, b in zip(fused, torch_ops.dnc_access(*tensors), strict=True):
        torch.testing.assert_close(a, b)


def test_openmp_can_be_turned_off_for_the_build(monkeypatch, tmp_path):
    monkeypatch.setenv("MEMAGENTS_KERNEL_OPENMP", "0")
    monkeypatch.setenv("MEMAGENTS_KERNEL_CACHE", str(tmp_path))
    clear_library()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # asked for: no warning
            serial_build_runs_the_kernels()
    finally:
        clear_library()


def test_a_compiler_without_openmp_builds_the_serial_library(monkeypatch, tmp_path):
    real = build.find_compiler()
    fake = tmp_path / "cc"
    fake.write_text(
        "#!/bin/sh\n"
        'for arg in "$@"; do [ "$arg" = -fopenmp ] && { echo "no OpenMP here" >&2; exit 1; }; '
        "done\n"
        f'exec {real} "$@"\n'
    )
    fake.chmod(0o755)
    monkeypatch.setenv("CC", str(fake))
    monkeypatch.setenv("MEMAGENTS_KERNEL_CACHE", str(tmp_path / "cache"))
    clear_library()
    try:
        with pytest.warns(RuntimeWarning, match="(?s)without OpenMP.*no OpenMP here"):
            assert build.load_library() is not None
        serial_build_runs_the_kernels()
        clear_library()
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # cached: the warning came with the build only
            assert build.load_library() is not None and not build.openmp()
    finally:
        clear_library()


def clear_library():
    """Forget the loaded library and the functions taken from it (the next call reloads)."""
    build.load_library.cache_clear()
    build.kernel.cache_clear()
