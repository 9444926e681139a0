"""Shared fixtures: a real visdom server on a free local port; helpers to start more servers.

Tests that use ``visdom_server`` are marked ``visdom`` automatically. The server's web assets are
installed from the npm registry the first time (about 5 s, then never again on that machine); a
machine without them and without npm skips these tests, unless ``MEMAGENTS_REQUIRE_BROWSER=1``
(set in CI) makes that a failure.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import pytest

REPO = Path(__file__).resolve().parents[1]
REQUIRE_BROWSER = os.environ.get("MEMAGENTS_REQUIRE_BROWSER") == "1"
"""CI sets MEMAGENTS_REQUIRE_BROWSER=1: what would be skipped for lack of tools fails instead."""


def skip_or_fail(reason: str) -> None:
    """Skip the test for a missing tool, or fail if CI requires it (MEMAGENTS_REQUIRE_BROWSER=1)."""
    if REQUIRE_BROWSER:
        pytest.fail(f"{reason} (required: MEMAGENTS_REQUIRE_BROWSER=1)")
    pytest.skip(reason)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def spawn_server(
    port: int,
    env_path: Path | str,
    log_path: Path | str | None = None,
    bind_all: bool = False,
) -> subprocess.Popen:
    """Start ``memagents.visdom_server.start_server`` in a child process (assets must be
    installed); return it at once. Its output goes to `log_path` (or is discarded). Stop it with
    ``stop_server``."""
    code = (
        "import logging, sys\n"
        "from memagents.visdom_server import start_server\n"
        "logging.basicConfig(level=logging.INFO, stream=sys.stderr)\n"
        f"start_server(port={int(port)}, env_path={str(env_path)!r}, bind_all={bool(bind_all)},"
        " install=False)\n"
    )
    output = open(log_path, "ab") if log_path is not None else subprocess.DEVNULL
    try:
        return subprocess.Popen(
            [sys.executable, "-u", "-c", code],
            stdout=output,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=REPO,
        )
    finally:
        if log_path is not None:
            output.close()


def stop_server(process: subprocess.Popen, timeout: float = 5.0) -> None:
    """Stop a server started by ``spawn_server``: terminate, then kill if it lingers."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=timeout)


class VisdomServer(NamedTuple):
    """A running visdom server, as the ``visdom_server`` fixture yields it."""

    server: str
    """Address without port, for ``Plotter(server=...)`` / ``visdom.Visdom(server=...)``."""
    port: int
    url: str
    """``server:port``: the dashboard."""
    env_path: Path
    """Where it saves environments."""
    log_path: Path
    """Its stdout and stderr."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "visdom_server" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.visdom)


@pytest.fixture(scope="session")
def visdom_assets() -> Path:
    """visdom's static folder, with the dashboard's web assets installed (once per machine)."""
    pytest.importorskip("visdom", reason="visdom is not installed (pip install -e .[agents])")
    from memagents.visdom_server import install_assets, missing_assets

    missing = missing_assets()
    if missing and shutil.which("npm") is None:
        skip_or_fail(
            "visdom's web assets are not installed and npm is absent: run "
            "`python scripts/visdom_server.py --install-only` on a machine with npm"
        )
    return install_assets()


@pytest.fixture(scope="session")
def visdom_server(
    visdom_assets: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[VisdomServer]:
    """A real visdom server in a subprocess on a free 127.0.0.1 port, stopped after the session."""
    from memagents.visdom_server import server_url, wait_for_server

    directory = tmp_path_factory.mktemp("visdom")
    env_path, log_path = directory / "envs", directory / "server.log"
    for _ in range(3):  # another process may take the free port before the server binds it
        port = free_port()
        process = spawn_server(port, env_path, log_path=log_path)
        try:
            wait_for_server(server_url(port), timeout=30.0, process=process)
            break
        except (RuntimeError, TimeoutError):
            stop_server(process)
    else:
        pytest.fail(f"no visdom server started; its log:\n{log_path.read_text()[-3000:]}")
    try:
        yield VisdomServer("http://localhost", port, server_url(port), env_path, log_path)
    finally:
        stop_server(process)
