"""Compile the fused C kernels with the system C compiler, load them with ctypes, call them.

The library is built once per source version and cached (``$MEMAGENTS_KERNEL_CACHE``, else
``$XDG_CACHE_HOME/memagents`` or ``~/.cache/memagents``); a build takes about two seconds. Without a
compiler, or with ``MEMAGENTS_KERNELS=0``, `load_library` returns None and the circuits run their
torch-ops path (same maths), after one warning that says why.
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

SOURCES = ("common.h", "ntm_access.c", "dnc_access.c")
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


def _digest(compiler: str) -> str:
    digest = hashlib.sha256(_UNIT.encode())
    for source in SOURCES:
        digest.update((_HERE / source).read_bytes())
    digest.update(" ".join((compiler, *COMPILE_FLAGS, "link: -shared -lm")).encode())
    return digest.hexdigest()[:16]


def build(compiler: str, target: Path) -> None:
    """Compile the kernels into the shared library `target` (written atomically)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as scratch:
        unit = Path(scratch) / "kernels.c"
        unit.write_text(_UNIT)
        objects = Path(scratch) / "kernels.o"
        output = Path(scratch) / target.name
        for command in (
            [compiler, *COMPILE_FLAGS, f"-I{_HERE}", "-c", "-o", str(objects), str(unit)],
            [compiler, "-shared", "-o", str(output), str(objects), "-lm"],
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
    target = cache_dir() / f"kernels-{_digest(compiler)}.so"
    try:
        if not target.exists():
            build(compiler, target)
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


# The C signatures: (name, integer arguments, pointer arguments, returns a status). The first
# pointer of a step's forward and backward is its interface layout (`layout_pointer`).
SIGNATURES = (
    ("ntm_access_saved_size", 5, 0, True),
    ("ntm_access_forward", 6, 10, False),
    ("ntm_access_backward", 6, 14, True),
    ("dnc_access_saved_size", 3, 0, True),
    ("dnc_access_forward", 4, 16, False),
    ("dnc_access_backward", 4, 25, True),
)


def _declare(library: ctypes.CDLL) -> None:
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
