#!/usr/bin/env bash
# Installs everything this project needs, from nothing, into the current Python environment
# (activate a virtualenv first if you want one). Safe to run again.
#
#   bash install.sh            # tasks + circuits + agent + dev tools + visdom web assets + Chromium
#   MEMAGENTS_NO_APT=1 bash install.sh   # skip the system packages (Chromium for the browser test)
#
# Why each step is here (see README "Installing"):
# 1. torch is pinned *before* the project resolves its dependencies. An unpinned `torch` on a clean
#    machine downloads a multi-GB CUDA build; torch==2.13.0 is the CPU build. If a torch is already
#    importable (say, your CUDA build), it is kept. Override with TORCH_SPEC="torch==X".
# 2. visdom 0.2.4 ships only as an sdist whose setup.py imports pkg_resources, which setuptools>=81
#    no longer has. pip's isolated build would pull the newest setuptools and fail, so visdom is built
#    without isolation against a setuptools that still has pkg_resources.
# 3. The project itself, editable, with the agents, RL, sweep (Ray Tune) and dev extras.
# 4. visdom's server downloads its JS/CSS from CDNs at start, which fails offline; the same files are
#    npm packages, installed once into visdom's static folder by scripts/visdom_server.py.
# 5. The fused C kernels of the NTM and DNC memory steps (memagents/kernels), compiled once with the
#    system C compiler (gcc from Debian as root when there is none). Optional: without a compiler
#    the circuits run the same maths on torch ops, about 2-4x slower on CPU.
# 6. Debian's chromium + chromium-driver for the browser test (only as root with apt-get).
set -euo pipefail
cd "$(dirname "$0")"
PY="${PYTHON:-python}"
PIP=("$PY" -m pip install --disable-pip-version-check)

echo "==> [1/6] torch"
if [ -n "${TORCH_SPEC:-}" ]; then
  "${PIP[@]}" "$TORCH_SPEC"
elif "$PY" -c "import torch" 2>/dev/null; then
  echo "    keeping installed torch $("$PY" -c 'import torch; print(torch.__version__)')"
else
  "${PIP[@]}" "torch==2.13.0"
fi

echo "==> [2/6] visdom (built without isolation: its setup.py needs pkg_resources)"
if "$PY" -c "import importlib.metadata as m; assert m.version('visdom') >= '0.2.4'" 2>/dev/null; then
  echo "    visdom already installed"
else
  "${PIP[@]}" "setuptools>=61,<81" wheel
  "${PIP[@]}" --no-build-isolation "visdom==0.2.4"
fi

echo "==> [3/6] memtasks + memagents (editable, with the agents, rl, sweep and dev extras)"
TORCH_BEFORE="$("$PY" -c 'import torch; print(torch.__version__)')"
"${PIP[@]}" -e ".[dev]"
TORCH_AFTER="$("$PY" -c 'import torch; print(torch.__version__)')"
if [ "$TORCH_BEFORE" != "$TORCH_AFTER" ]; then
  echo "error: installing the project replaced torch $TORCH_BEFORE with $TORCH_AFTER" >&2
  exit 1
fi

echo "==> [4/6] visdom web assets from the npm registry (once)"
if ! command -v npm >/dev/null && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null \
    && [ -z "${MEMAGENTS_NO_APT:-}" ]; then
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
fi
"$PY" scripts/visdom_server.py --install-only

echo "==> [5/6] fused C kernels (memagents/kernels)"
if ! command -v cc >/dev/null && ! command -v gcc >/dev/null && [ "$(id -u)" = 0 ] \
    && command -v apt-get >/dev/null && [ -z "${MEMAGENTS_NO_APT:-}" ]; then
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends gcc libc6-dev >/dev/null
fi
"$PY" -c "
from memagents.kernels.build import load_library
library = load_library()
print('    built:', library._name if library else 'no (the circuits will run on torch ops)')"

echo "==> [6/6] headless Chromium for the browser test"
if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then
  echo "    chromium and chromedriver found"
elif [ -n "${MEMAGENTS_NO_APT:-}" ]; then
  echo "    skipped (MEMAGENTS_NO_APT set): the browser test will be skipped"
elif [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null
else
  echo "    not root or no apt-get: install chromium + chromedriver yourself for the browser test"
fi
echo "==> installed. Train: python scripts/train.py --agent dnc   Test: python -m pytest"
