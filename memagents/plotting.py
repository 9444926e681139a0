"""Live training plots in visdom, with PNG files as the fallback that always works.

    plotter = Plotter(env="copy_ntm", out_dir=run_dir / "plots")
    plotter.line("loss", step, {"train": loss}, title="loss", xlabel="sequences", ylabel="bits")
    plotter.heatmap("memory", memory, title="memory", xlabel="word", ylabel="slot")  # (N, W)
    plotter.save_pngs()  # run_dir/plots/loss.png, run_dir/plots/memory.png

The plotter keeps everything it was given, so ``save_pngs`` can draw it with matplotlib whether
or not a visdom server was there. A missing server is announced once at construction; a server
that goes away during a run is announced once and then ignored: plotting never stops training.

A server that works offline: ``python scripts/visdom_server.py`` (see ``memagents.visdom_server``).
"""

from __future__ import annotations

import contextlib
import logging
import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from memagents.visdom_server import visdom_answers

logger = logging.getLogger(__name__)

FIGURE_SIZE_INCHES = (6.4, 4.8)
FIGURE_DPI = 100
"""PNG files are FIGURE_SIZE_INCHES * FIGURE_DPI pixels: 640 x 480."""

CONNECT_TIMEOUT_S = 1.0
"""How long the constructor waits for a visdom server to answer."""
SEND_TIMEOUT_S = 10.0
"""How long one plot update may wait for the server before the plotter gives up on it."""


@dataclass
class _Curves:
    """One line-plot window: its labels and, per series, the points given so far."""

    title: str
    xlabel: str
    ylabel: str
    series: dict[str, tuple[list[float], list[float]]] = field(default_factory=dict)


@dataclass
class _Heatmap:
    """One heatmap window: its labels and the latest matrix."""

    title: str
    xlabel: str
    ylabel: str
    matrix: np.ndarray


class Plotter:
    """Curves and heatmaps sent to a visdom environment when a server answers; PNGs on request.

    Args:
        env: visdom environment name (one per run).
        out_dir: where ``save_pngs`` writes ``<win>.png`` (created when needed).
        server: visdom server address, scheme included.
        port: visdom server port.
        enabled: False: never contact a server (no warning); only keep data for ``save_pngs``.
    """

    def __init__(
        self,
        env: str,
        out_dir: Path | str,
        server: str = "http://localhost",
        port: int = 8097,
        enabled: bool = True,
    ) -> None:
        self.env = env
        self.out_dir = Path(out_dir)
        self.url = f"{server.rstrip('/')}:{port}"
        self._curves: dict[str, _Curves] = {}
        self._heatmaps: dict[str, _Heatmap] = {}
        self._visdom: Any = None
        if enabled:
            self._visdom = self._connect(server, port)
            if self._visdom is None:
                logger.warning(
                    "No visdom server at %s: start one with `python scripts/visdom_server.py "
                    "--port %d` for live plots; the plots are written as PNG files to %s",
                    self.url,
                    port,
                    self.out_dir,
                )

    def _connect(self, server: str, port: int) -> Any:
        """A visdom client if a server answers at the URL, else None."""
        if not visdom_answers(self.url, timeout=CONNECT_TIMEOUT_S):
            return None
        try:
            with _quiet_visdom():
                client = _client_class()(
                    server=server,
                    port=port,
                    env=self.env,
                    raise_exceptions=True,
                    use_incoming_socket=False,
                )
        except Exception as error:  # any failure means: no live plots
            logger.warning("visdom server at %s did not accept a client: %s", self.url, error)
            return None
        return client

    @property
    def connected(self) -> bool:
        """Whether plots currently go to a visdom server."""
        return self._visdom is not None

    def line(
        self,
        win: str,
        x: float,
        ys: Mapping[str, float],
        title: str = "",
        xlabel: str = "",
        ylabel: str = "",
    ) -> None:
        """Append one point at `x` to each named series of the line plot `win`.

        The first call for `win` creates the window (replacing one of that name on the server);
        a series name not seen before starts a new curve in it. Non-finite values are kept as NaN
        (a gap in the curve).
        """
        if not ys:
            return
        x = float(x)
        ys = {name: _finite_or_nan(value) for name, value in ys.items()}
        curves = self._curves.get(win)
        created = curves is None
        if created:
            curves = self._curves[win] = _Curves(title or win, xlabel, ylabel)
        for name, value in ys.items():
            xs, values = curves.series.setdefault(name, ([], []))
            xs.append(x)
            values.append(value)
        if self._visdom is None:
            return
        if created:
            names = list(ys)
            self._send(
                "line",
                Y=np.array([[ys[name] for name in names]]),
                X=np.full((1, len(names)), x),
                win=win,
                opts=dict(
                    title=curves.title,
                    xlabel=xlabel,
                    ylabel=ylabel,
                    legend=names,
                    showlegend=True,
                ),
            )
        else:
            for name, value in ys.items():
                self._send(
                    "line",
                    Y=np.array([value]),
                    X=np.array([x]),
                    win=win,
                    name=name,
                    update="append",
                )

    def heatmap(
        self,
        win: str,
        matrix: np.ndarray,
        title: str = "",
        xlabel: str = "",
        ylabel: str = "",
    ) -> None:
        """Draw `matrix` (rows, cols) in window `win`, replacing what it showed.

        Row 0 is drawn at the bottom, as visdom (plotly) does; columns run left to right.
        """
        matrix = np.array(matrix, dtype=np.float64)  # a copy: the caller may reuse its buffer
        if matrix.ndim != 2:
            raise ValueError(f"heatmap needs a (rows, cols) matrix, got shape {matrix.shape}")
        matrix[~np.isfinite(matrix)] = np.nan
        self._heatmaps[win] = _Heatmap(title or win, xlabel, ylabel, matrix)
        if self._visdom is not None:
            self._send(
                "heatmap",
                X=matrix,
                win=win,
                opts=dict(title=title or win, xlabel=xlabel, ylabel=ylabel, colormap="Viridis"),
            )

    def _send(self, method: str, **kwargs: Any) -> None:
        """Call a visdom plotting method; on any failure, warn once and stop using the server."""
        try:
            getattr(self._visdom, method)(env=self.env, **kwargs)
        except Exception as error:  # plotting must never stop training
            logger.warning(
                "visdom server at %s stopped answering (%s): no more live plots; save_pngs() "
                "still writes PNG files to %s",
                self.url,
                error,
                self.out_dir,
            )
            self._visdom = None

    def save_pngs(self) -> list[Path]:
        """Write every line plot and heatmap drawn so far to ``out_dir/<win>.png``; return paths.

        Uses matplotlib's Agg canvas directly: no display, no change to pyplot's backend.
        """
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        self.out_dir.mkdir(parents=True, exist_ok=True)
        paths = []
        for win, curves in self._curves.items():
            figure = Figure(figsize=FIGURE_SIZE_INCHES, dpi=FIGURE_DPI)
            axes = figure.add_subplot()
            for name, (xs, values) in curves.series.items():
                axes.plot(xs, values, label=name, marker="." if len(xs) < 50 else None)
            axes.set(title=curves.title, xlabel=curves.xlabel, ylabel=curves.ylabel)
            axes.grid(True, alpha=0.3)
            axes.legend()
            paths.append(self._write(figure, FigureCanvasAgg, win))
        for win, heatmap in self._heatmaps.items():
            figure = Figure(figsize=FIGURE_SIZE_INCHES, dpi=FIGURE_DPI)
            axes = figure.add_subplot()
            image = axes.imshow(
                heatmap.matrix, origin="lower", aspect="auto", interpolation="nearest"
            )
            figure.colorbar(image, ax=axes)
            axes.set(title=heatmap.title, xlabel=heatmap.xlabel, ylabel=heatmap.ylabel)
            paths.append(self._write(figure, FigureCanvasAgg, win))
        return paths

    def _write(self, figure: Any, canvas_class: type, win: str) -> Path:
        path = self.out_dir / f"{_file_name(win)}.png"
        canvas_class(figure).print_png(str(path))
        return path


def _finite_or_nan(value: float) -> float:
    value = float(value)
    return value if math.isfinite(value) else math.nan


def _file_name(win: str) -> str:
    """A window name made safe as a file name."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", win).strip(".") or "window"


@contextlib.contextmanager
def _quiet_visdom() -> Iterator[None]:
    """Silence the visdom client's logger: it warns about choices made on purpose here (no
    incoming socket)."""
    visdom_logger = logging.getLogger("visdom")
    previous = visdom_logger.level
    visdom_logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        visdom_logger.setLevel(previous)


def _client_class() -> type:
    """``visdom.Visdom`` with a timeout and a status check on every request, and no prints.

    The stock client waits forever for a server that hangs, treats HTTP errors as answers and
    prints to stdout when the server is gone.
    """
    import requests
    import visdom

    class Client(visdom.Visdom):
        @property
        def session(self) -> requests.Session:
            if self._session is None:
                self._session = requests.Session()
            return self._session

        def _handle_post(self, url: str, data: Any = None) -> str:
            response = self.session.post(url, data=data or {}, timeout=SEND_TIMEOUT_S)
            response.raise_for_status()
            return response.text

        def win_exists(self, win: str, env: str | None = None) -> bool | None:
            # The stock one prints a line and returns None when the server is gone; raise instead.
            answer = self._win_exists_wrap(win, env)
            return {"true": True, "false": False}.get(answer)

    return Client
