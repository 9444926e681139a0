"""Live training plots in visdom, with PNG files as the fallback that always works.

    plotter = Plotter(env="copy-ntm", out_dir=run_dir / "plots")
    plotter.line("loss", step, {"train": loss}, title="loss", xlabel="sequences", ylabel="bits")
    plotter.heatmap("memory", memory, title="memory", xlabel="word", ylabel="slot")  # (N, W)
    plotter.save_pngs()  # run_dir/plots/loss.png, run_dir/plots/memory.png

A training run draws its curves from the rows it writes to ``metrics.jsonl``:
``plotter.plot_metrics(row)`` for each new row, and on resume ``plotter.replay(read_metrics(run))``
to redraw every earlier step first (see ``METRIC_CURVES`` for which field goes where).

The plotter keeps everything it was given, so ``save_pngs`` can draw it with matplotlib whether
or not a visdom server was there, and so it can draw it all again into a server that lost it:
- no server at construction: announced once; the plotter asks again at most every
  ``retry_every_s`` seconds and, when one answers, draws everything it holds into it;
- a server that goes away during a run: announced once, then the same;
- a server that came back without the env (restarted with another env path, or the env deleted
  in the dashboard): a window found missing at its next update is drawn again whole.
Plotting never stops training.

A server that works offline: ``python scripts/visdom_server.py`` (see ``memagents.visdom_server``).
"""

from __future__ import annotations

import contextlib
import logging
import math
import re
import time
import urllib.parse
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from memagents.visdom_server import visdom_answers

logger = logging.getLogger(__name__)

FIGURE_SIZE_INCHES = (6.4, 4.8)
FIGURE_DPI = 100
"""PNG files are FIGURE_SIZE_INCHES * FIGURE_DPI pixels: 640 x 480."""

CONNECT_TIMEOUT_S = 1.0
"""How long the constructor (and each retry) waits for a visdom server to answer."""
SEND_TIMEOUT_S = 10.0
"""How long one plot update may wait for the server before the plotter gives up on it."""
RETRY_EVERY_S = 30.0
"""Without a server, the plotter asks again at most this often (each ask waits up to
CONNECT_TIMEOUT_S, so an absent remote server costs at most a few percent of a run)."""

NAN_COLOUR = (0.8, 0.8, 0.8)
"""Heatmap cells holding NaN (for example output on steps that are not scored): light grey."""


def visdom_env_name(name: str) -> str:
    """`name` as a visdom env name: '_' becomes '-'.

    visdom's env tree groups names on '_' (``a_b`` is shown as ``b`` under a parent ``a``, and the
    parent opens an empty compare view), so a run named ``box_241204`` would make a phantom group.
    """
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"visdom env name must be a non-empty string, got {name!r}")
    return name.replace("_", "-")


class MetricCurve(NamedTuple):
    """Where one field of a ``metrics.jsonl`` row is drawn."""

    kind: str
    """The row's kind: "train" or "eval"."""
    field: str
    """The row's field drawn (y)."""
    win: str
    """The line plot's window (and PNG file) name."""
    series: str
    """The curve's name in that window."""
    title: str
    ylabel: str


METRIC_CURVES: dict[str, tuple[MetricCurve, ...]] = {
    # Supervised runs (scripts/train.py): x is the number of training sequences seen.
    "sequences": (
        MetricCurve("train", "loss_bits", "loss", "train", "loss (bits/sequence)", "bits"),
        MetricCurve(
            "train", "bit_errors", "bit_errors", "train", "bit errors per sequence", "bits"
        ),
        MetricCurve("eval", "bit_errors", "bit_errors", "eval", "bit errors per sequence", "bits"),
    ),
    # RL runs (scripts/train_rl.py): x is the number of training episodes.
    "episodes": (
        MetricCurve("train", "episode_return", "return", "train", "mean episode return", "return"),
        MetricCurve("train", "bit_errors", "bit_errors", "train", "bit errors per episode", "bits"),
        MetricCurve(
            "eval", "episode_return", "return", "eval (greedy)", "mean episode return", "return"
        ),
        MetricCurve(
            "eval", "bit_errors", "bit_errors", "eval (greedy)", "bit errors per episode", "bits"
        ),
    ),
}
"""The curves a training run shows, by the x field of its rows ("sequences" or "episodes"): the
one definition that live plotting (``Plotter.plot_metrics``) and resuming (``Plotter.replay``)
share. Rows of other kinds ("solved", ...) draw nothing."""


@dataclass
class _Curves:
    """One line-plot window: its labels and, per series, the points given so far."""

    title: str
    xlabel: str
    ylabel: str
    series: dict[str, tuple[list[float], list[float]]] = field(default_factory=dict)


@dataclass
class _Heatmap:
    """One heatmap window: its labels, colour range and the latest matrix."""

    title: str
    xlabel: str
    ylabel: str
    matrix: np.ndarray
    vmin: float | None = None
    vmax: float | None = None


class Plotter:
    """Curves and heatmaps sent to a visdom environment when a server answers; PNGs on request.

    Args:
        env: visdom environment name (one per run); '_' is replaced by '-' (see
            ``visdom_env_name``), so read the name used from ``env``.
        out_dir: where ``save_pngs`` writes ``<win>.png`` (created when needed).
        server: visdom server address, scheme included.
        port: visdom server port.
        enabled: False: never contact a server (no warning); only keep data for ``save_pngs``.
        retry_every_s: while no server answers, ask again at most this often (seconds), at the
            next plot call; 0 asks at every call.
    """

    def __init__(
        self,
        env: str,
        out_dir: Path | str,
        server: str = "http://localhost",
        port: int = 8097,
        enabled: bool = True,
        retry_every_s: float = RETRY_EVERY_S,
    ) -> None:
        self.env = visdom_env_name(env)
        self.out_dir = Path(out_dir)
        self.url = f"{server.rstrip('/')}:{port}"
        self.enabled = enabled
        self.retry_every_s = float(retry_every_s)
        self._server, self._port = server, port
        self._curves: dict[str, _Curves] = {}
        self._heatmaps: dict[str, _Heatmap] = {}
        self._visdom: Any = None
        self._next_retry = 0.0
        if enabled:
            self._visdom = self._connect(quiet=False)
            if self._visdom is None:
                self._next_retry = time.monotonic() + self.retry_every_s
                logger.warning(
                    "No visdom server at %s: start one with `python scripts/visdom_server.py "
                    "--port %d` for live plots (they appear, history included, once it answers); "
                    "the plots are written as PNG files to %s",
                    self.url,
                    port,
                    self.out_dir,
                )

    def _connect(self, quiet: bool) -> Any:
        """A visdom client if a server answers at the URL, else None."""
        if not visdom_answers(self.url, timeout=CONNECT_TIMEOUT_S):
            return None
        try:
            with _quiet_visdom():
                client = _client_class()(
                    server=self._server,
                    port=self._port,
                    env=self.env,
                    raise_exceptions=True,
                    use_incoming_socket=False,
                )
        except Exception as error:  # any failure means: no live plots
            if not quiet:
                logger.warning("visdom server at %s did not accept a client: %s", self.url, error)
            return None
        return client

    @property
    def connected(self) -> bool:
        """Whether plots currently go to a visdom server."""
        return self._visdom is not None

    @property
    def env_url(self) -> str:
        """The dashboard page of this plotter's env: ``http://host:port/env/<env>``."""
        return f"{self.url}/env/{urllib.parse.quote(self.env)}"

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
        created = self._add_points(win, x, ys, title, xlabel, ylabel)
        if self._reconnected() or self._visdom is None:
            return  # (a reconnection drew everything, this point included)
        if created:
            self._send_curves(win)
            return
        if not self._window_on_server(win):
            return
        for name, value in ys.items():
            appended = self._send(
                "line",
                Y=np.array([_finite_or_nan(value)]),
                X=np.array([float(x)]),
                win=win,
                name=name,
                update="append",
            )
            if not appended:
                return

    def _add_points(
        self, win: str, x: float, ys: Mapping[str, float], title: str, xlabel: str, ylabel: str
    ) -> bool:
        """Keep the points; return whether the window is new."""
        x = float(x)
        curves = self._curves.get(win)
        created = curves is None
        if created:
            curves = self._curves[win] = _Curves(title or win, xlabel, ylabel)
        for name, value in ys.items():
            xs, values = curves.series.setdefault(name, ([], []))
            xs.append(x)
            values.append(_finite_or_nan(value))
        return created

    def plot_metrics(self, record: Mapping[str, Any]) -> None:
        """Draw one ``metrics.jsonl`` row (``{"kind": ..., "sequences" or "episodes": ...}``) on
        the curves ``METRIC_CURVES`` gives for it: what a training run calls for each row it
        writes, so that its live curves and ``replay`` agree. Rows of other kinds draw nothing.

        Raises:
            ValueError: the row has no "kind", or a train/eval row has no "sequences" or
                "episodes" (its x).
        """
        for curve, x, value in _curve_points(record):
            self.line(
                curve.win, x, {curve.series: value}, curve.title, _xlabel(record), curve.ylabel
            )

    def replay(self, records: Iterable[Mapping[str, Any]]) -> int:
        """Rebuild the training curves from recorded metrics, in visdom and for ``save_pngs``.

        `records` are the rows of a run's ``metrics.jsonl`` in order, as
        ``memagents.runs.read_metrics(run_dir)`` returns them: kinds "train", "eval" (and
        "solved", which draws nothing), x from "sequences" (supervised runs) or "episodes" (RL
        runs), the fields drawn as ``METRIC_CURVES`` says. A resumed run calls it once, before it
        plots anything: the plotter's line plots become exactly those of `records` (heatmaps are
        kept), and each window is sent to the server whole, replacing what the server showed
        (points after the checkpoint included). Later points go on with ``plot_metrics``.

        Returns:
            The number of points drawn.

        Raises:
            ValueError: as ``plot_metrics``, naming the row; nothing is changed then.
        """
        points = [
            (curve, x, value, _xlabel(record))
            for record in records
            for curve, x, value in _curve_points(record)
        ]
        self._curves.clear()
        for curve, x, value, xlabel in points:
            self._add_points(curve.win, x, {curve.series: value}, curve.title, xlabel, curve.ylabel)
        if not self._reconnected() and self._visdom is not None:
            for win in list(self._curves):
                if not self._send_curves(win):
                    break
        return len(points)

    def heatmap(
        self,
        win: str,
        matrix: np.ndarray,
        title: str = "",
        xlabel: str = "",
        ylabel: str = "",
        vmin: float | None = None,
        vmax: float | None = None,
    ) -> None:
        """Draw `matrix` (rows, cols) in window `win`, replacing what it showed.

        Row 0 is drawn at the bottom, as visdom (plotly) does; columns run left to right; ticks
        are whole row and column numbers. NaN cells are drawn light grey (``NAN_COLOUR``): use
        them to mask cells that mean nothing. `vmin`/`vmax` fix the colour scale's ends (default:
        the matrix's range).
        """
        matrix = np.array(matrix, dtype=np.float64)  # a copy: the caller may reuse its buffer
        if matrix.ndim != 2:
            raise ValueError(f"heatmap needs a (rows, cols) matrix, got shape {matrix.shape}")
        if vmin is not None and vmax is not None and not vmin < vmax:
            raise ValueError(f"heatmap needs vmin < vmax, got vmin={vmin}, vmax={vmax}")
        matrix[~np.isfinite(matrix)] = np.nan
        self._heatmaps[win] = _Heatmap(title or win, xlabel, ylabel, matrix, vmin, vmax)
        if not self._reconnected() and self._visdom is not None:
            self._send_heatmap(win)

    # --- talking to the server -------------------------------------------------------------

    def _reconnected(self) -> bool:
        """If no server is in use and it is time to ask again: connect, draw everything held, and
        return True (the caller need not send its update)."""
        if not self.enabled or self._visdom is not None or time.monotonic() < self._next_retry:
            return False
        self._visdom = self._connect(quiet=True)
        if self._visdom is None:
            self._next_retry = time.monotonic() + self.retry_every_s
            return False
        windows = self._draw_everything()
        if self._visdom is not None:
            logger.info(
                "visdom server at %s answers: drew %d windows, history included, into env %r (%s)",
                self.url,
                windows,
                self.env,
                self.env_url,
            )
        return True

    def _draw_everything(self) -> int:
        """Send every window held, whole; return how many went (fewer if the server failed)."""
        sent = 0
        for win in list(self._curves):
            if not self._send_curves(win):
                return sent
            sent += 1
        for win in list(self._heatmaps):
            if not self._send_heatmap(win):
                return sent
            sent += 1
        return sent

    def _window_on_server(self, win: str) -> bool:
        """Whether the server still has line plot `win`; if it lost it (restarted without the
        env, or the env was deleted), draw it again whole and return False."""
        try:
            exists = self._visdom.win_exists(win, self.env)
        except Exception as error:  # plotting must never stop training
            self._lost(error)
            return False
        if exists is not False:
            return True
        points = sum(len(xs) for xs, _ in self._curves[win].series.values())
        if self._send_curves(win):
            logger.info(
                "visdom env %r at %s had lost window %r (server restarted?): drew its %d points "
                "again",
                self.env,
                self.url,
                win,
                points,
            )
        return False

    def _send_curves(self, win: str) -> bool:
        """Send line plot `win` whole, replacing any window of that name on the server."""
        curves = self._curves[win]
        (first, (xs, values)), *others = curves.series.items()
        sent = self._send(
            "line",
            Y=np.array(values),
            X=np.array(xs),
            win=win,
            opts=dict(
                title=curves.title,
                xlabel=curves.xlabel,
                ylabel=curves.ylabel,
                legend=[first],
                showlegend=True,
            ),
        )
        for name, (xs, values) in others:
            if not sent:
                break
            sent = self._send(
                "line", Y=np.array(values), X=np.array(xs), win=win, name=name, update="append"
            )
        return sent

    def _send_heatmap(self, win: str) -> bool:
        heatmap = self._heatmaps[win]
        opts = dict(
            title=heatmap.title, xlabel=heatmap.xlabel, ylabel=heatmap.ylabel, colormap="Viridis"
        )
        if heatmap.vmin is not None:
            opts["xmin"] = heatmap.vmin
        if heatmap.vmax is not None:
            opts["xmax"] = heatmap.vmax
        if np.isnan(heatmap.matrix).any():
            opts["nancolor"] = "rgb({},{},{})".format(*(round(255 * c) for c in NAN_COLOUR))
        return self._send("heatmap", X=heatmap.matrix, win=win, opts=opts)

    def _send(self, method: str, **kwargs: Any) -> bool:
        """Call a visdom plotting method; on any failure, warn and stop using the server until
        it answers again. Return whether it went."""
        try:
            getattr(self._visdom, method)(env=self.env, **kwargs)
        except Exception as error:  # plotting must never stop training
            self._lost(error)
            return False
        return True

    def _lost(self, error: Exception) -> None:
        logger.warning(
            "visdom server at %s stopped answering (%s): no live plots until it answers again "
            "(asked at most every %.0f s); PNG files still go to %s",
            self.url,
            error,
            self.retry_every_s,
            self.out_dir,
        )
        self._visdom = None
        self._next_retry = time.monotonic() + self.retry_every_s

    # --- PNG files -------------------------------------------------------------------------

    def save_pngs(self) -> list[Path]:
        """Write every line plot and heatmap drawn so far to ``out_dir/<win>.png``; return paths.

        Uses matplotlib's Agg canvas directly: no display, no change to pyplot's backend.
        """
        _quiet_matplotlib()
        from matplotlib.backends.backend_agg import FigureCanvasAgg

        self.out_dir.mkdir(parents=True, exist_ok=True)
        paths = []
        for win in self._curves:
            paths.append(self._write(self.curves_figure(win), FigureCanvasAgg, win))
        for win in self._heatmaps:
            paths.append(self._write(self.heatmap_figure(win), FigureCanvasAgg, win))
        return paths

    def curves_figure(self, win: str) -> Any:
        """The matplotlib Figure ``save_pngs`` writes for line plot `win`."""
        _quiet_matplotlib()
        from matplotlib.figure import Figure

        curves = self._curves[win]
        figure = Figure(figsize=FIGURE_SIZE_INCHES, dpi=FIGURE_DPI)
        axes = figure.add_subplot()
        for name, (xs, values) in curves.series.items():
            axes.plot(xs, values, label=name, marker="." if len(xs) < 50 else None)
        axes.set(title=curves.title, xlabel=curves.xlabel, ylabel=curves.ylabel)
        axes.grid(True, alpha=0.3)
        axes.legend()
        return figure

    def heatmap_figure(self, win: str) -> Any:
        """The matplotlib Figure ``save_pngs`` writes for heatmap `win`: viridis, row 0 at the
        bottom, whole-number ticks, NaN cells light grey."""
        _quiet_matplotlib()
        import matplotlib
        from matplotlib.figure import Figure
        from matplotlib.ticker import MaxNLocator

        heatmap = self._heatmaps[win]
        figure = Figure(figsize=FIGURE_SIZE_INCHES, dpi=FIGURE_DPI)
        axes = figure.add_subplot()
        image = axes.imshow(
            heatmap.matrix,
            origin="lower",
            aspect="auto",
            interpolation="nearest",
            cmap=matplotlib.colormaps["viridis"].with_extremes(bad=NAN_COLOUR),
            vmin=heatmap.vmin,
            vmax=heatmap.vmax,
        )
        figure.colorbar(image, ax=axes)
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        axes.yaxis.set_major_locator(MaxNLocator(integer=True))
        axes.set(title=heatmap.title, xlabel=heatmap.xlabel, ylabel=heatmap.ylabel)
        return figure

    def _write(self, figure: Any, canvas_class: type, win: str) -> Path:
        path = self.out_dir / f"{_file_name(win)}.png"
        canvas_class(figure).print_png(str(path))
        return path


def _xlabel(record: Mapping[str, Any]) -> str:
    return "episodes" if "sequences" not in record and "episodes" in record else "sequences"


def _curve_points(record: Mapping[str, Any]) -> list[tuple[MetricCurve, float, float]]:
    """(curve, x, y) for each curve `record` (a metrics.jsonl row) draws on."""
    if not isinstance(record, Mapping) or "kind" not in record:
        raise ValueError(f"metrics record without a 'kind': {record!r}")
    kind = record["kind"]
    if kind not in ("train", "eval"):
        return []
    x_field = next((name for name in METRIC_CURVES if name in record), None)
    if x_field is None:
        raise ValueError(
            f"metrics record of kind {kind!r} at step {record.get('step')} has neither "
            f"'sequences' nor 'episodes': {record!r}"
        )
    return [
        (curve, float(record[x_field]), _finite_or_nan(record[curve.field]))
        for curve in METRIC_CURVES[x_field]
        if curve.kind == kind and curve.field in record
    ]


def _finite_or_nan(value: float) -> float:
    value = float(value)
    return value if math.isfinite(value) else math.nan


def _file_name(win: str) -> str:
    """A window name made safe as a file name."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", win).strip(".") or "window"


def _quiet_matplotlib() -> None:
    """Keep matplotlib's INFO lines ("generated new fontManager", on a machine's first use) out of
    a run's console and log: a script's INFO logging would otherwise show them."""
    logging.getLogger("matplotlib").setLevel(logging.WARNING)


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
