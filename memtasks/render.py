"""Drawing an episode so far as bit grids: text ("ansi") or an RGB image ("rgb_array").

Both show three blocks over time (columns): the inputs (I rows), the targets (O rows) and the
predictions (O rows). Steps not yet reached are blank. Dimensions: T time, I input, O output.
"""

from __future__ import annotations

import numpy as np

CELL = 8  # pixels per time step and per channel in the RGB image
_BACKGROUND = np.array([40, 44, 52], dtype=np.uint8)  # steps not yet reached, separators
_UNSCORED = np.array([70, 70, 70], dtype=np.uint8)  # target cells on unscored steps
_WRONG = np.array([220, 50, 47], dtype=np.uint8)  # wrong predictions on scored steps


def _char(value: float) -> str:
    if value == 0:
        return "."
    if value == 1:
        return "1"
    return "+" if value > 0 else "-"


def render_ansi(
    inputs: np.ndarray, targets: np.ndarray, mask: np.ndarray, predictions: np.ndarray, time: int
) -> str:
    """Text grid of the first `time` steps; '.' is 0, '1' is 1, '+'/'-' other values (the count).

    Args:
        inputs: (T, I), targets: (T, O), mask: (T,), predictions: (T, O) of one episode.
        time: the number of steps taken so far (observations 0..time are shown, predictions
            0..time-1).
    """
    num_steps = inputs.shape[0]
    shown = min(time + 1, num_steps)

    def row(label: str, values: np.ndarray, upto: int) -> str:
        cells = "".join(_char(v) for v in values[:upto])
        return f"{label:<8}|{cells:<{num_steps}}|"

    lines = [row(f"in {i}", inputs[:, i], shown) for i in range(inputs.shape[1])]
    lines.append(row("mask", mask, shown))
    lines += [row(f"target {o}", targets[:, o], shown) for o in range(targets.shape[1])]
    lines += [row(f"pred {o}", predictions[:, o], time) for o in range(predictions.shape[1])]
    return "\n".join(lines) + "\n"


def render_rgb(
    inputs: np.ndarray,
    targets: np.ndarray,
    mask: np.ndarray,
    predictions: np.ndarray,
    time: int,
    canvas_steps: int | None = None,
) -> np.ndarray:
    """RGB image (H, W, 3) uint8 of the first `time` steps, on a canvas of fixed size.

    H = (I + 2 * O + 2) * CELL (two separator rows), W = C * CELL with C = `canvas_steps` (T when
    None). An episode shorter than C leaves the right of the canvas blank; a longer one scrolls:
    the frame shows the C steps that end at the newest observation. Inputs are drawn as grey
    levels of min(|value|, 1); targets grey (darker on unscored steps); predictions white/black,
    red where wrong on a scored step.
    """
    frame = _render_grid(inputs, targets, mask, predictions, time)  # (rows, T, 3)
    num_steps = inputs.shape[0]
    if canvas_steps is not None and canvas_steps != num_steps:
        shown = min(time + 1, num_steps)
        start = max(0, shown - canvas_steps)
        window = frame[:, start : start + canvas_steps]
        frame = np.empty((frame.shape[0], canvas_steps, 3), dtype=np.uint8)
        frame[:] = _BACKGROUND
        frame[:, : window.shape[1]] = window
    return np.repeat(np.repeat(frame, CELL, axis=0), CELL, axis=1)


def _render_grid(
    inputs: np.ndarray, targets: np.ndarray, mask: np.ndarray, predictions: np.ndarray, time: int
) -> np.ndarray:
    """One cell per channel and step: (I + 2 * O + 2, T, 3) uint8."""
    num_steps, input_size = inputs.shape
    output_size = targets.shape[1]
    shown = min(time + 1, num_steps)
    rows = input_size + 2 * output_size + 2
    grid = np.empty((rows, num_steps, 3), dtype=np.uint8)
    grid[:] = _BACKGROUND

    grey = (np.minimum(np.abs(inputs[:shown]), 1.0) * 255).astype(np.uint8)  # (t, I)
    grid[:input_size, :shown] = grey.T[:, :, None]

    top = input_size + 1
    target_grey = (np.clip(targets[:shown], 0.0, 1.0) * 255).astype(np.uint8).T[:, :, None]
    scored = mask[:shown] > 0
    grid[top : top + output_size, :shown] = np.where(scored[None, :, None], target_grey, 0)
    unscored_one = (targets[:shown].T > 0.5) & ~scored[None, :]
    grid[top : top + output_size, :shown][unscored_one] = _UNSCORED

    top += output_size + 1
    predicted = predictions[:time].T > 0.5  # (O, t)
    block = np.zeros((output_size, time, 3), dtype=np.uint8)
    block[predicted] = 255
    wrong = (predicted != (targets[:time].T > 0.5)) & (mask[:time] > 0)[None, :]
    block[wrong] = _WRONG
    grid[top : top + output_size, :time] = block
    return grid


def require_matplotlib() -> None:
    """Raise a ValueError when render_mode="human" cannot draw (matplotlib is missing)."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise ValueError(
            "render_mode='human' draws with matplotlib, which is not installed: "
            "pip install matplotlib, or use render_mode='rgb_array' or 'ansi'"
        ) from None


def show_human(frame: np.ndarray, figure, fps: float):
    """Draw `frame` (H, W, 3) in a matplotlib window (created when `figure` is None).

    Returns the figure to pass next time. Under a non-interactive backend (Agg, in tests and on
    servers) the figure is drawn off screen.
    """
    import matplotlib.pyplot as plt

    if figure is None:
        figure = plt.figure("memtasks")
        axes = figure.add_subplot()
        axes.set_axis_off()
        axes.imshow(frame)
    else:
        image = figure.axes[0].images[0]
        image.set_data(frame)
    if plt.get_backend().lower() == "agg":
        figure.canvas.draw()
    else:
        plt.pause(1.0 / fps)
    return figure


def close_human(figure) -> None:
    import matplotlib.pyplot as plt

    plt.close(figure)
