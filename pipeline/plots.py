"""Figures the steps log: pure functions from arrays to matplotlib figures (the caller logs and closes them)."""
from __future__ import annotations

from typing import Sequence

import matplotlib

matplotlib.use("Agg")  # files only; no display on training machines
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def image_grid(images: np.ndarray, titles: Sequence[str], columns: int = 8, title: str | None = None):
    """A grid of images (grey or colour, one size) with one caption each.

    The images are tiled into one picture on one axes: a subplot per image is slow to lay out (benchmarks/README.md).
    """
    images = np.asarray(images)
    colour = images.ndim == 4 and images.shape[-1] == 3
    tiles = images if colour else images.reshape(images.shape[:3])
    count, height, width = tiles.shape[:3]
    rows = max(1, int(np.ceil(count / columns)))
    gap_x, gap_y = max(2, width // 10), max(2, height // 4)  # room for the captions above each tile
    cell_w, cell_h = width + gap_x, height + gap_y
    canvas = np.full((rows * cell_h, columns * cell_w) + ((3,) if colour else ()), 255, dtype=np.uint8)
    fig, ax = plt.subplots(figsize=(1.6 * columns, 1.8 * rows + (0.4 if title else 0)))
    for i, (tile, caption) in enumerate(zip(tiles, titles)):
        top, left = (i // columns) * cell_h + gap_y, (i % columns) * cell_w + gap_x // 2
        canvas[top:top + height, left:left + width] = tile
        ax.text(left + width / 2, top - gap_y * 0.15, caption, ha="center", va="bottom", fontsize=8)
    ax.imshow(canvas, cmap=None if colour else "gray", vmin=0, vmax=255, interpolation="nearest")
    ax.axis("off")
    if title:
        ax.set_title(title)
    fig.subplots_adjust(left=0.01, right=0.99, bottom=0.01, top=0.99 if not title else 1 - 0.5 / fig.get_figheight())
    return fig


def label_histogram(counts_by_split: dict[str, np.ndarray], names: Sequence[str], title: str):
    """Bars of how often each label occurs, one colour per split."""
    fig, ax = plt.subplots(figsize=(max(6, 0.35 * len(names)), 3.5))
    width = 0.8 / len(counts_by_split)
    positions = np.arange(len(names))
    for i, (split, counts) in enumerate(counts_by_split.items()):
        ax.bar(positions + i * width, counts, width=width, label=split)
    ax.set_xticks(positions + 0.4 - width / 2, names, rotation=60 if len(names) > 10 else 0, fontsize=7)
    ax.set_ylabel("images")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    return fig


def note_figure(text: str):
    """A figure that says why a plot could not be drawn (too few finished trials, say)."""
    fig, ax = plt.subplots(figsize=(6, 2))
    ax.axis("off")
    ax.text(0.5, 0.5, text, ha="center", va="center", wrap=True)
    return fig


def study_figures(study) -> dict:
    """Optuna's own matplotlib plots of a study: history, importances, parallel coordinates, intermediate values."""
    import warnings

    import optuna.visualization.matplotlib as ovm

    figures = {}
    for name, draw in (("optimization_history", ovm.plot_optimization_history),
                       ("param_importances", ovm.plot_param_importances),
                       ("parallel_coordinate", ovm.plot_parallel_coordinate),
                       ("intermediate_values", ovm.plot_intermediate_values)):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # Optuna marks its matplotlib plots experimental
                axes = draw(study)
            ax = np.ravel(axes)[0] if isinstance(axes, np.ndarray) else axes
            ax.figure.set_size_inches(10, 6)
            ax.figure.tight_layout()
            figures[name] = ax.figure
        except (ValueError, RuntimeError, ZeroDivisionError) as exc:
            figures[name] = note_figure(f"{name.replace('_', ' ')}: not drawn ({exc})")
    return figures


def learning_curves(history: dict[str, list[float]], pairs: list[tuple[str, str]], title: str):
    """One panel per metric, training and validation curves over the epochs."""
    fig, axes = plt.subplots(1, len(pairs), figsize=(5 * len(pairs), 3.5), squeeze=False)
    for ax, (metric, label) in zip(axes[0], pairs):
        for prefix, style in (("", "-"), ("val_", "--")):
            values = history.get(prefix + metric)
            if values:
                ax.plot(range(1, len(values) + 1), values, style, label=("validation " if prefix else "training ")
                        + label)
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        ax.legend()
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def overlaid_curves(curves: dict[str, list[float]], ylabel: str, title: str):
    """Several runs' curves of one metric over the epochs, on one set of axes."""
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for label, values in curves.items():
        ax.plot(range(1, len(values) + 1), values, marker=".", label=label)
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def grouped_bars(table, category: str, series: list[str], ylabel: str, title: str):
    """Bars of several numeric columns side by side for each row of a DataFrame."""
    fig, ax = plt.subplots(figsize=(max(6, 0.9 * len(table) * len(series)), 4))
    positions = np.arange(len(table))
    width = 0.8 / len(series)
    for i, column in enumerate(series):
        bars = ax.bar(positions + i * width, table[column], width=width, label=column)
        ax.bar_label(bars, fmt="%.3g", fontsize=7)
    ax.set_xticks(positions + 0.4 - width / 2, table[category], rotation=30, ha="right", fontsize=8)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.margins(y=0.18)  # headroom, so that the legend in one row above the bars hides none of their labels
    ax.legend(loc="upper center", ncol=len(series))
    fig.tight_layout()
    return fig


def cse_histogram(errors: np.ndarray, title: str):
    """How the common-sense errors are spread (log count, so rare large errors show)."""
    fig, ax = plt.subplots(figsize=(7, 3.5))
    ax.hist(errors, bins=np.arange(0, 362, 2), log=True)
    ax.set_xlabel("common-sense error (minutes)")
    ax.set_ylabel("test images")
    ax.set_title(title)
    fig.tight_layout()
    return fig


def cse_against_time(true_minutes: np.ndarray, errors: np.ndarray, title: str):
    """Error against the true time of day on the dial: shows trouble around 12 o'clock or at the hour."""
    fig, ax = plt.subplots(figsize=(9, 3.5))
    ax.scatter(true_minutes / 60, errors, s=4, alpha=0.4)
    hours = np.floor(true_minutes / 60).astype(int)
    means = [errors[hours == h].mean() if np.any(hours == h) else np.nan for h in range(12)]
    ax.step(np.arange(13), means + means[-1:], where="post", color="C3", label="mean per hour")
    ax.set_xticks(range(13))
    ax.set_xlabel("true time (hours past 12)")
    ax.set_ylabel("common-sense error (minutes)")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    return fig


def hour_confusion(true_hours: np.ndarray, predicted_hours: np.ndarray, title: str):
    """12x12 counts of true against predicted hour."""
    counts = np.zeros((12, 12), dtype=int)
    np.add.at(counts, (true_hours, predicted_hours), 1)
    fig, ax = plt.subplots(figsize=(6, 5.5))
    image = ax.imshow(np.log1p(counts), cmap="Blues")
    for i in range(12):
        for j in range(12):
            if counts[i, j]:
                ax.text(j, i, counts[i, j], ha="center", va="center", fontsize=6,
                        color="white" if i == j else "black")
    ax.set_xticks(range(12))
    ax.set_yticks(range(12))
    ax.set_xlabel("predicted hour")
    ax.set_ylabel("true hour")
    ax.set_title(title)
    fig.colorbar(image, ax=ax, label="log(1 + count)")
    fig.tight_layout()
    return fig
