"""Plotter: PNG files without a server, one warning when there is none or it goes away, quiet
and faithful with one (the ``visdom_server`` fixture)."""

from __future__ import annotations

import json
import logging
import os
import socket
import struct
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

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
    """The plotter's warnings (not those of the tests' own visdom clients)."""
    return [
        r.getMessage()
        for r in caplog.records
        if r.levelno >= logging.WARNING and r.name.startswith("memagents")
    ]


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
    return json.loads(_client(server, env).get_window_data(win, env))["content"]["data"]


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


# --- curves from metrics.jsonl: live, replayed on resume, and into a server that lost them ---


def supervised_rows(steps: int) -> list[dict]:
    """metrics.jsonl rows as scripts/train.py writes them: train every step, eval every 5th."""
    rows = []
    for step in range(1, steps + 1):
        sequences = 16 * step
        rows.append(
            dict(kind="train", step=step, sequences=sequences, loss_bits=10.0 / step,
                 bit_errors=5.0 / step, perfect=step / steps, ms_per_sequence=2.0, elapsed_s=step)
        )  # fmt: skip
        if step % 5 == 0:
            rows.append(
                dict(kind="eval", step=step, sequences=sequences, bit_errors=4.0 / step,
                     loss_bits=9.0 / step, perfect=0.5, num_sequences=64, elapsed_s=step)
            )  # fmt: skip
    rows.append(dict(kind="solved", step=steps, sequences=16 * steps, bit_errors=0.0))
    return rows


def drawn(plotter: Plotter, win: str) -> dict[str, list[float]]:
    """{series: x values} of the PNG figure `save_pngs` writes for line plot `win`."""
    (axes,) = plotter.curves_figure(win).axes
    return {line.get_label(): list(line.get_xdata()) for line in axes.lines}


def test_replay_then_go_on_draws_the_pngs_of_an_uninterrupted_run(tmp_path):
    from memagents.runs import read_metrics

    rows = supervised_rows(20)
    resumed_at = 12
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    recorded = read_metrics(tmp_path / "run")
    assert recorded == rows

    straight = Plotter("run", tmp_path / "straight", enabled=False)
    for row in rows:
        straight.plot_metrics(row)
    resumed = Plotter("run", tmp_path / "resumed", enabled=False)
    before = [row for row in recorded if row["step"] <= resumed_at]
    after = [row for row in recorded if row["step"] > resumed_at]
    assert resumed.replay(before) == 12 * 2 + 2  # loss and bit errors per train row; 2 evals
    for row in after:
        resumed.plot_metrics(row)
    only_after = Plotter("run", tmp_path / "only_after", enabled=False)
    for row in after:
        only_after.plot_metrics(row)

    every_x = [16.0 * step for step in range(1, 21)]
    assert drawn(resumed, "loss") == {"train": every_x}
    assert drawn(resumed, "bit_errors") == {"train": every_x, "eval": every_x[4::5]}
    for plotter in (straight, resumed, only_after):
        assert [path.name for path in plotter.save_pngs()] == ["loss.png", "bit_errors.png"]
    for name in ("loss.png", "bit_errors.png"):
        straight_png = pixels(tmp_path / "straight" / name)
        np.testing.assert_array_equal(pixels(tmp_path / "resumed" / name), straight_png)
        assert not np.array_equal(pixels(tmp_path / "only_after" / name), straight_png)


def test_replay_replaces_the_curves_and_draws_rl_rows_by_episodes(tmp_path):
    plotter = Plotter("rl", tmp_path, enabled=False)
    plotter.line("loss", 0, {"train": 1.0})  # anything drawn before is replaced
    rows = [
        dict(kind="train", step=10, episodes=160, episode_return=-3.0, bit_errors=3.0),
        dict(kind="eval", step=10, episodes=160, episode_return=-2.0, bit_errors=2.0),
        dict(kind="solved", step=10, episodes=160, episode_return=-0.1, bit_errors=0.1),
        dict(kind="train", step=20, episodes=320, episode_return=-1.0, bit_errors=1.0),
    ]
    assert plotter.replay(rows) == 6
    assert drawn(plotter, "return") == {"train": [160.0, 320.0], "eval (greedy)": [160.0]}
    assert drawn(plotter, "bit_errors") == {"train": [160.0, 320.0], "eval (greedy)": [160.0]}
    (axes,) = plotter.curves_figure("return").axes
    assert (axes.get_title(), axes.get_xlabel()) == ("mean episode return", "episodes")
    assert [path.name for path in plotter.save_pngs()] == ["return.png", "bit_errors.png"]


@pytest.mark.parametrize(
    "row, problem",
    [
        ({"step": 5, "sequences": 80, "loss_bits": 1.0}, "without a 'kind'"),
        ({"kind": "train", "step": 5, "loss_bits": 1.0}, "neither 'sequences' nor 'episodes'"),
        ("train", "without a 'kind'"),
    ],
)
def test_a_bad_metrics_row_is_a_clear_error_and_changes_nothing(tmp_path, row, problem):
    plotter = Plotter("run", tmp_path, enabled=False)
    plotter.replay(supervised_rows(2))
    with pytest.raises(ValueError, match=problem):
        plotter.replay([*supervised_rows(3), row])
    with pytest.raises(ValueError, match=problem):
        plotter.plot_metrics(row)
    assert drawn(plotter, "loss") == {"train": [16.0, 32.0]}


def test_env_names_have_no_underscore_for_visdom_to_group_on(tmp_path):
    plotter = Plotter("box_241204_test", tmp_path, port=8123, enabled=False)
    assert plotter.env == "box-241204-test"
    assert plotter.env_url == "http://localhost:8123/env/box-241204-test"
    with pytest.raises(ValueError, match="non-empty"):
        Plotter("", tmp_path, enabled=False)


def test_heatmap_colour_range_nan_cells_and_whole_number_ticks(tmp_path):
    plotter = Plotter("run", tmp_path, enabled=False)
    values = np.tile([0.5, 0.75], (4, 3))  # (4, 6)
    masked = values.copy()
    masked[:, :2] = np.nan
    plotter.heatmap("fixed", masked, vmin=0.0, vmax=1.0)
    plotter.heatmap("auto", values)  # its own range: 0.5 is the low end
    plotter.heatmap("ticks", np.arange(6.0).reshape(2, 3))
    with pytest.raises(ValueError, match="vmin < vmax"):
        plotter.heatmap("bad", values, vmin=1.0, vmax=0.0)
    plotter.save_pngs()

    viridis_half, grey = (33, 145, 140), (204, 204, 204)
    fixed = pixels(tmp_path / "fixed.png")[:, : WIDTH * 3 // 4]  # left of the colour bar
    auto = pixels(tmp_path / "auto.png")[:, : WIDTH * 3 // 4]
    assert rows_with(fixed, viridis_half).size and rows_with(fixed, grey).size
    assert not rows_with(fixed, VIRIDIS_LOW).size
    assert rows_with(auto, VIRIDIS_LOW).size and not rows_with(auto, viridis_half).size
    axes, _colour_bar = plotter.heatmap_figure("ticks").axes
    for ticks in (axes.get_xticks(), axes.get_yticks()):
        assert len(ticks) and np.array_equal(ticks, np.round(ticks)), ticks


def test_matplotlibs_font_cache_line_stays_out_of_the_log(tmp_path):
    code = (
        "import logging, sys\n"
        "logging.basicConfig(level=logging.INFO, stream=sys.stderr)\n"
        "from memagents.plotting import Plotter\n"
        f"plotter = Plotter('run', {str(tmp_path / 'plots')!r}, enabled=False)\n"
        "plotter.line('loss', 0, {'train': 1.0})\n"
        "print(plotter.save_pngs())\n"
    )
    environment = {**os.environ, "MPLCONFIGDIR": str(tmp_path / "fresh")}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=environment
    )
    assert "loss.png" in result.stdout
    assert (tmp_path / "fresh").is_dir()  # matplotlib did build its font cache there
    assert "fontManager" not in result.stderr, result.stderr


def test_a_window_the_server_lost_is_drawn_again_whole(visdom_server, tmp_path, caplog):
    caplog.set_level(logging.INFO)
    kwargs = dict(server=visdom_server.server, port=visdom_server.port)
    plotter = Plotter("lost-env", tmp_path, **kwargs)
    for step in range(4):
        plotter.line("loss", step, {"train": 1.0 / (step + 1)}, title="loss")
    plotter.line("loss", 3, {"eval": 0.5})
    client = _client(visdom_server, "lost-env")
    client.delete_env("lost-env")  # as a server restarted with another env path would have it
    assert not client.win_exists("loss", "lost-env")
    plotter.line("loss", 4, {"train": 0.2})

    by_name = {trace["name"]: trace for trace in window(visdom_server, "lost-env", "loss")}
    assert by_name["train"]["x"] == [0, 1, 2, 3, 4]
    assert by_name["eval"]["x"] == [3]
    assert plotter.connected and warnings_from(caplog) == []
    assert any("had lost window 'loss'" in r.getMessage() for r in caplog.records)


def test_replay_replaces_what_the_server_showed(visdom_server, tmp_path):
    kwargs = dict(server=visdom_server.server, port=visdom_server.port)
    rows = supervised_rows(10)
    before_the_crash = Plotter("replayed", tmp_path, **kwargs)
    for row in rows:
        before_the_crash.plot_metrics(row)
    resumed = Plotter("replayed", tmp_path, **kwargs)  # resumed from the checkpoint at step 6
    resumed.replay([row for row in rows if row["step"] <= 6])
    resumed.plot_metrics(rows[-2])  # step 10's eval row: no train row after step 6 yet

    by_name = {trace["name"]: trace for trace in window(visdom_server, "replayed", "bit_errors")}
    assert by_name["train"]["x"] == [16 * step for step in range(1, 7)]
    assert by_name["eval"]["x"] == [80, 160]
    ((loss),) = window(visdom_server, "replayed", "loss")
    assert loss["x"] == [16 * step for step in range(1, 7)]


@pytest.mark.visdom
def test_a_server_that_comes_back_gets_the_whole_history(visdom_assets, tmp_path, caplog):
    caplog.set_level(logging.INFO)
    port = free_port()
    server = VisdomAt("http://localhost", port)
    plotter = Plotter("comeback", tmp_path / "plots", port=port, retry_every_s=0)
    assert not plotter.connected  # none yet: announced once
    plotter.line("loss", 0, {"train": 1.0})
    process = spawn_server(port, tmp_path / "first", log_path=tmp_path / "server.log")
    try:
        wait_for_server(server_url(port), timeout=30.0, process=process)
        plotter.line("loss", 1, {"train": 0.5})  # the server appears: both points drawn
        assert plotter.connected
        assert window(server, "comeback", "loss")[0]["x"] == [0, 1]
    finally:
        stop_server(process)
    plotter.line("loss", 2, {"train": 0.25})  # gone: announced once
    plotter.line("loss", 3, {"train": 0.125})  # still gone: silent
    assert not plotter.connected
    # Restarted with another env folder: the env is lost; it is drawn again, history included.
    process = spawn_server(port, tmp_path / "second", log_path=tmp_path / "server.log")
    try:
        wait_for_server(server_url(port), timeout=30.0, process=process)
        plotter.line("loss", 4, {"train": 0.0625})
        assert plotter.connected
        ((trace),) = window(server, "comeback", "loss")
    finally:
        stop_server(process)
    assert trace["x"] == [0, 1, 2, 3, 4]
    np.testing.assert_allclose(trace["y"], [1, 0.5, 0.25, 0.125, 0.0625])
    first, second = warnings_from(caplog)
    assert "No visdom server" in first and "stopped answering" in second
    answers = [r.getMessage() for r in caplog.records if "answers: drew" in r.getMessage()]
    assert len(answers) == 2 and all("history included" in message for message in answers)


class VisdomAt(NamedTuple):
    """Where a server of a test's own listens (what ``window`` needs)."""

    server: str
    port: int


def _client(server, env: str):
    import visdom

    return visdom.Visdom(
        server=server.server,
        port=server.port,
        env=env,
        raise_exceptions=True,
        use_incoming_socket=False,
    )
