"""Plotter: PNG files without a server, one warning when there is none or it goes away, quiet
and faithful with one (the ``visdom_server`` fixture)."""

from __future__ import annotations

import json
import logging
import socket
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import free_port, spawn_server, stop_server

from memagents.plotting import FIGURE_DPI, FIGURE_SIZE_INCHES, Plotter
from memagents.visdom_server import server_url, wait_for_server

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
WIDTH, HEIGHT = (round(inches * FIGURE_DPI) for inches in FIGURE_SIZE_INCHES)
VIRIDIS_LOW, VIRIDIS_HIGH = (68, 1, 84), (253, 231, 37)  # viridis(0), viridis(1)
LINE_COLOURS = (31, 119, 180), (255, 127, 14)  # matplotlib's first two: C0, C1


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE, path
    assert data[12:16] == b"IHDR", path
    return struct.unpack(">II", data[16:24])


def pixels(path: Path) -> np.ndarray:
    """(height, width, 3) uint8 RGB."""
    from matplotlib.image import imread

    return (imread(path)[..., :3] * 255).round().astype(np.uint8)


def rows_with(image: np.ndarray, colour: tuple[int, int, int], tolerance: int = 3) -> np.ndarray:
    """Indices (top = 0) of the image rows holding `colour`."""
    close = np.abs(image.astype(int) - np.array(colour)).max(axis=-1) <= tolerance
    return np.flatnonzero(close.any(axis=1))


def warnings_from(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


def test_no_server_warns_once_and_writes_pngs(tmp_path, caplog, capsys):
    caplog.set_level(logging.INFO)
    port = free_port()  # nothing listens there
    out_dir = tmp_path / "plots"
    plotter = Plotter("run", out_dir, port=port)
    assert not plotter.connected
    for step in range(3):
        plotter.line("loss", step, {"train": 1.0 / (step + 1), "eval": 2.0 / (step + 1)})
    plotter.heatmap("memory", np.eye(4), title="memory", xlabel="word", ylabel="slot")
    plotter.heatmap("memory", np.eye(4) * 2)
    paths = plotter.save_pngs()

    (warning,) = warnings_from(caplog)
    assert f"http://localhost:{port}" in warning
    assert "python scripts/visdom_server.py" in warning
    assert str(out_dir) in warning
    assert paths == [out_dir / "loss.png", out_dir / "memory.png"]
    for path in paths:
        assert png_size(path) == (WIDTH, HEIGHT) == (640, 480)
    assert capsys.readouterr().out == ""


def test_pngs_draw_every_series_and_heatmap_row_zero_at_the_bottom(tmp_path):
    plotter = Plotter("run", tmp_path, enabled=False)
    for step in range(10):
        plotter.line("two", step, {"a": step, "b": 10 - step})
        plotter.line("one", step, {"a": step})
    plotter.heatmap("halves", [[0.0, 0.0], [1.0, 1.0]])  # row 0 low, row 1 high
    plotter.save_pngs()

    two, one = pixels(tmp_path / "two.png"), pixels(tmp_path / "one.png")
    assert all(rows_with(two, colour).size for colour in LINE_COLOURS)
    assert rows_with(one, LINE_COLOURS[0]).size and not rows_with(one, LINE_COLOURS[1]).size
    heatmap = pixels(tmp_path / "halves.png")[:, : WIDTH * 3 // 4]  # left of the colour bar
    low, high = rows_with(heatmap, VIRIDIS_LOW), rows_with(heatmap, VIRIDIS_HIGH)
    assert low.size and high.size
    assert low.min() > high.max()  # image rows count from the top


def test_disabled_plotter_contacts_no_server_and_says_nothing(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        listener.setblocking(False)
        plotter = Plotter("run", tmp_path, port=listener.getsockname()[1], enabled=False)
        plotter.line("loss", 0, {"train": 1.0})
        with pytest.raises(BlockingIOError):
            listener.accept()  # nobody knocked
    assert not plotter.connected
    assert warnings_from(caplog) == []


def test_odd_input_is_handled(tmp_path):
    plotter = Plotter("run", tmp_path, enabled=False)
    plotter.line("weights/read 0", np.int64(1), {"x": np.float32(0.5)})
    plotter.line("weights/read 0", 2, {"x": float("inf")})
    plotter.line("weights/read 0", 3, {"x": float("nan")})
    plotter.heatmap("bits", np.array([[True, False], [False, True]]))
    with pytest.raises(ValueError, match="rows, cols"):
        plotter.heatmap("vector", np.zeros(3))
    paths = plotter.save_pngs()
    assert [path.name for path in paths] == ["weights_read_0.png", "bits.png"]


def test_importing_the_plotter_loads_neither_torch_nor_visdom_nor_matplotlib():
    code = (
        "import sys, memagents.plotting\n"
        "print(sorted({'torch', 'visdom', 'matplotlib'} & set(sys.modules)))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


def window(server, env: str, win: str) -> list[dict]:
    import visdom

    vis = visdom.Visdom(
        server=server.server,
        port=server.port,
        env=env,
        raise_exceptions=True,
        use_incoming_socket=False,
    )
    return json.loads(vis.get_window_data(win, env))["content"]["data"]


def test_with_a_server_plots_quietly(visdom_server, tmp_path, caplog, capsys):
    caplog.set_level(logging.INFO)
    plotter = Plotter("quiet", tmp_path, server=visdom_server.server, port=visdom_server.port)
    assert plotter.connected
    plotter.line("loss", 0, {"train": 1.0})
    plotter.line("loss", 1, {"train": 0.5, "eval": 0.75})
    plotter.heatmap("memory", np.ones((2, 3)))
    assert warnings_from(caplog) == []
    assert capsys.readouterr().out == ""
    assert plotter.connected
    assert [len(trace["x"]) for trace in window(visdom_server, "quiet", "loss")] == [2, 1]
    assert [path.name for path in plotter.save_pngs()] == ["loss.png", "memory.png"]


def test_a_new_plotter_replaces_old_windows_of_the_same_name(visdom_server, tmp_path):
    kwargs = dict(server=visdom_server.server, port=visdom_server.port)
    old = Plotter("replace", tmp_path, **kwargs)
    for step in range(3):
        old.line("loss", step, {"train": 1.0})
    Plotter("replace", tmp_path, **kwargs).line("loss", 7, {"train": 0.25})
    ((trace),) = window(visdom_server, "replace", "loss")
    assert (trace["x"], trace["y"]) == ([7], [0.25])


@pytest.mark.visdom
def test_server_going_away_mid_run_warns_once_and_keeps_the_pngs(
    visdom_assets, tmp_path, caplog, capsys
):
    caplog.set_level(logging.INFO)
    port = free_port()
    process = spawn_server(port, tmp_path / "envs", log_path=tmp_path / "server.log")
    try:
        wait_for_server(server_url(port), timeout=30.0, process=process)
        plotter = Plotter("run", tmp_path / "plots", port=port)
        assert plotter.connected
        plotter.line("loss", 0, {"train": 1.0})
    finally:
        stop_server(process)
    for step in range(1, 4):
        plotter.line("loss", step, {"train": 1.0 / (step + 1)})
    plotter.heatmap("memory", np.eye(3))

    (warning,) = warnings_from(caplog)
    assert "stopped answering" in warning and str(tmp_path / "plots") in warning
    assert not plotter.connected
    assert capsys.readouterr().out == ""
    paths = plotter.save_pngs()
    assert [png_size(path) for path in paths] == [(WIDTH, HEIGHT)] * 2
