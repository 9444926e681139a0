"""Compile the fused C kernels with the system C compiler, load them with ctypes, call them.

The library is built once per source version and cached (``$MEMAGENTS_KERNEL_CACHE``, else
``$XDG_CACHE_HOME/memagents`` or ``~/.cache/memagents``); a build takes about two seconds. Without a
compiler, or with ``MEMAGENTS_KERNELS=0``, `load_library` returns None and the circuits run their
torch-ops path (same maths), after one warning that says why.

Threads: the library is built with OpenMP (``-fopenmp``) where the compiler can; then each call
runs its batch loop on `threads_for(B)` threads: torch's count (``torch.get_num_threads()``, so
``scripts/train.py --num-threads``), but 1 below `THREADED_MIN_BATCH` sequences. Each sequence
is computed wholly by one thread and nothing is summed across the batch, so the results are the
same bits for every thread count. A compiler without OpenMP builds the serial library (one
warning, at the build, with its error), never no library; ``MEMAGENTS_KERNEL_OPENMP=0`` asks
for the serial build. Each flavour has its own cache entry; the serial fallback is cached under
the OpenMP flavour's name (delete the cache to retry after installing OpenMP).

OpenMP and torch share one runtime: torch's CPU wheels ship their own ``libgomp.so.1`` (in
``torch/lib``) with the same soname as gcc's, so the dynamic loader resolves the library's
``libgomp.so.1`` to whichever copy the process loaded first (torch's, since importing this
module imports torch; gcc's if the library were loaded before torch, which torch then uses) and
both use one thread pool. With 1 thread a call costs about half a microsecond more than in the
serial build (the OpenMP call with its `if` clause false, kept so that every thread count runs
the same machine code).
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import os
import shutil
import subprocess
import tempfile
import warnings
from pathlib import Path

import torch
from torch import Tensor

SOURCES = ("common.h", "ntm_access.c", "dnc_access.c", "lstm_cell.c")
# Reassociation lets gcc vectorize the reductions. Not -ffast-math: its finite-math assumption is
# unsafe for saturated interfaces, and linking with it adds crtfastmath.o, which flushes denormals
# to zero for the whole process (torch included).
COMPILE_FLAGS = (
    "-O3",
    "-fno-math-errno",
    "-fno-trapping-math",
    "-fassociative-math",
    "-fno-signed-zeros",
    "-freciprocal-math",
    "-fPIC",
    "-std=c99",
)
OPENMP_FLAGS = ("-fopenmp",)  # at compile and link; gcc and (with libomp) clang

# Batches below this run on one thread whatever torch's count (a sequence's step is a few to a few
# tens of microseconds). Set on a quiet 2-core Intel Xeon (2026-12-05) from the contrast rows of
# `scripts/bench_circuits.py --thread-scaling --batch-sizes 1 2 4 8 16 32 --rounds 40`: full
# training iterations with 2 torch threads, the kernels on 2 threads against on 1, gained NTM copy
# 0.99x / 1.01x / 1.09x / 1.19x / 1.31x at batches 2 / 4 / 8 / 16 / 32 and DNC repeat-copy
# 1.00x / 1.00x / 1.03x / 1.03x / 1.12x; batch 64 1.42x / 1.17x (README "Speed", threads).
THREADED_MIN_BATCH = 8

_HERE = Path(__file__).resolve().parent

# One translation unit: the sources in order, once for float (names ending _f32), once for double.
_UNIT = "".join(
    f"#define real {real}\n#define SUFFIX {suffix}\n"
    + "".join(f'#include "{source}"\n' for source in SOURCES)
    + "#undef real\n#undef SUFFIX\n"
    for real, suffix in (("float", "f32"), ("double", "f64"))
)


def enabled() -> bool:
    """False when MEMAGENTS_KERNELS=0 asks for the torch-ops path everywhere."""
    return os.environ.get("MEMAGENTS_KERNELS", "1") != "0"


def openmp_wanted() -> bool:
    """False when MEMAGENTS_KERNEL_OPENMP=0 asks for the serial build (no -fopenmp)."""
    return os.environ.get("MEMAGENTS_KERNEL_OPENMP", "1") != "0"


def threads_for(batch_size: int) -> int:
    """The threads a kernel call over `batch_size` sequences is given: torch's intra-op count,
    but 1 below THREADED_MIN_BATCH (a library built without OpenMP runs on 1 whatever it is
    given)."""
    return torch.get_num_threads() if batch_size >= THREADED_MIN_BATCH else 1


def openmp() -> bool:
    """Whether the loaded kernels were built with OpenMP (False without kernels)."""
    library = load_library()
    return library is not None and library.memagents_openmp() > 0


def cache_dir() -> Path:
    if "MEMAGENTS_KERNEL_CACHE" in os.environ:
        return Path(os.environ["MEMAGENTS_KERNEL_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "memagents"


def find_compiler() -> str | None:
    for candidate in (os.environ.get("CC"), "cc", "gcc", "clang"):
        if candidate and shutil.which(candidate):
            return candidate
    return None


def _digest(compiler: str, openmp: bool) -> str:
    digest = hashlib.sha256(_UNIT.encode())
    for source in SOURCES:
        digest.update((_HERE / source).read_bytes())
    extra = OPENMP_FLAGS if openmp else ()
    digest.update(" ".join((compiler, *COMPILE_FLAGS, *extra, "link: -shared -lm")).encode())
    return digest.hexdigest()[:16]


def build(compiler: str, target: Path, openmp: bool = True) -> bool:
    """Compile the kernels into the shared library `target` (written atomically), with OpenMP
    if `openmp` and the compiler can (else serial, after a warning); True if with OpenMP."""
    if openmp:
        try:
            _compile(compiler, target, OPENMP_FLAGS)
            return True
        except RuntimeError as error:
            reason = error
    _compile(compiler, target, ())  # raises if the compiler cannot build the kernels at all
    if openmp:
        warnings.warn(
            f"memagents: the fused C kernels were built without OpenMP ({reason}); they run on "
            "one thread whatever torch's thread count.",
            RuntimeWarning,
            stacklevel=3,
        )
    return False


def _compile(compiler: str, target: Path, extra: tuple[str, ...]) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as scratch:
        unit = Path(scratch) / "kernels.c"
        unit.write_text(_UNIT)
        objects = Path(scratch) / "kernels.o"
        output = Path(scratch) / target.name
        for command in (
            [compiler, *COMPILE_FLAGS, *extra, f"-I{_HERE}", "-c", "-o", str(objects), str(unit)],
            [compiler, "-shared", *extra, "-o", str(output), str(objects), "-lm"],
        ):
            result = subprocess.run(command, capture_output=True, text=True)
            if result.returncode != 0:
                raise RuntimeError(f"{' '.join(command)} failed:\n{result.stderr.strip()}")
        os.replace(output, target)  # atomic: parallel runs never load a half-written file


@functools.cache
def load_library() -> ctypes.CDLL | None:
    """The compiled kernels, building them on first use; None (and one warning) if unavailable."""
    if not enabled():
        return None
    compiler = find_compiler()
    if compiler is None:
        warnings.warn(
            "memagents: no C compiler (cc, gcc, clang or $CC) found; the NTM and DNC run on "
            "torch ops, 2-4x slower on CPU. Install one (apt-get install gcc) for the kernels.",
            RuntimeWarning,
            stacklevel=2,
        )
        return None
    openmp = openmp_wanted()
    target = cache_dir() / f"kernels-{_digest(compiler, openmp)}.so"
    try:
        if not target.exists():
            build(compiler, target, openmp)
        library = ctypes.CDLL(str(target))
    except (OSError, RuntimeError) as error:
        warnings.warn(
            f"memagents: the fused C kernels could not be built or loaded ({error}); the NTM and "
            "DNC run on torch ops instead (same maths, slower on CPU).",
            RuntimeWarning,
            stacklevel=2,
        )
        return None
    _declare(library)
    return library


# The C signatures: (name, integer arguments, pointer arguments, returns a status). The last
# integer of a step's forward and backward is its thread count (`threads_for`), the first
# pointer its interface layout (`layout_pointer`).
SIGNATURES = (
    ("ntm_access_saved_size", 5, 0, True),
    ("ntm_access_forward", 7, 10, False),
    ("ntm_access_backward", 7, 14, True),
    ("dnc_access_saved_size", 3, 0, True),
    ("dnc_access_forward", 5, 16, False),
    ("dnc_access_backward", 5, 25, True),
    ("lstm_cell_forward", 2, 4, False),
    ("lstm_cell_backward", 2, 6, False),
)


def _declare(library: ctypes.CDLL) -> None:
    library.memagents_openmp.argtypes = []
    library.memagents_openmp.restype = ctypes.c_int
    for name, integers, pointers_, returns in SIGNATURES:
        for suffix in ("f32", "f64"):
            function = getattr(library, f"{name}_{suffix}")
            function.argtypes = [ctypes.c_int] * integers + [ctypes.c_void_p] * pointers_
            function.restype = ctypes.c_int if returns else None


SUFFIX = {torch.float32: "f32", torch.float64: "f64"}


def available(tensor: Tensor) -> bool:
    """True when the kernels can run on tensors like `tensor` (CPU, float32/64, library built).

    Also under torch.compile: the kernels are registered ops (`memagents.kernels.ops`), so compiled
    and eager runs execute the same code.
    """
    return tensor.is_cpu and tensor.dtype in SUFFIX and load_library() is not None


@functools.cache
def kernel(name: str, dtype: torch.dtype):  # -> ctypes function
    """The C function `name` for `dtype`, e.g. kernel("ntm_access_forward", torch.float32)."""
    return getattr(load_library(), f"{name}_{SUFFIX[dtype]}")


@functools.lru_cache(maxsize=256)
def _int_array(values: tuple[int, ...]) -> ctypes.Array:
    return (ctypes.c_int * len(values))(*values)


def layout_pointer(offsets: tuple[int, ...]) -> int:
    """The address of `offsets` as a C int array (cached, so it lives as long as the process)."""
    return ctypes.addressof(_int_array(offsets))


def pointers(*tensors: Tensor) -> list[int]:
    """The tensors' data addresses, for the C calls.

    The tensors must be contiguous and stay referenced until the call returns: an address of a
    temporary (say `pointers(x.contiguous())`) may be freed and reused before C reads it.
    """
    return [tensor.data_ptr() for tensor in tensors]
