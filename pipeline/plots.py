"""Figures the steps log: pure functions from arrays to matplotlib figures (the caller logs and closes them)."""
from __future__ import annotations

from typing import Sequence

import matplotlib

matplotlib.use("Agg")  # files only; no display on training machines
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def image_grid(images: np.ndarray, titles: Sequence[str], columns: int = 8, title: str | None = None):
    """A grid of images (grey or colour) with one caption each."""
    rows = max(1, int(np.ceil(len(images) / columns)))
    fig, axes = plt.subplots(rows, columns, figsize=(1.6 * columns, 1.8 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, image, caption in zip(axes.flat, images, titles):
        ax.imshow(np.squeeze(image), cmap="gray" if image.ndim == 2 or image.shape[-1] == 1 else None,
                  vmin=0, vmax=255)
        ax.set_title(caption, fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
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
    import optuna.visualization.matplotlib as ovm
    import warnings

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
