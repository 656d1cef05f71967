"""How close rendered clocks come to genuine ones, in numbers a person can check by eye.

Per-image statistics on 150 px grey images, chosen for what a person sees when the genuine
course samples sit beside the renders: overall brightness (`mean`), contrast (`contrast`,
the grey levels' standard deviation), how busy and sharp the picture is (`edge_density`,
`fine_detail`), how dark the hands are (`hand_darkness`) and how busy the floor is
(`floor_contrast`). Genuine samples are read with reference_images.read_reference; the
renderer's defaults (clock_styles.py) are set from the side-by-side table these functions make.
"""
from __future__ import annotations

import numpy as np

STATISTICS = ("mean", "contrast", "edge_density", "fine_detail", "hand_darkness", "floor_contrast")
SIZE = 150
EDGE_STEP = 20.0  # grey levels between neighbouring pixels that count as an edge
HUB_WINDOW = 0.15  # radius (fraction of the frame) around the frame centre where both hands pass the hub
HAND_PERCENTILE = 1.0  # hands cover a few percent of the hub window; its darkest percent is theirs
CORNER = 16  # side in pixels of each corner patch, which in almost every view shows floor only


def image_statistics(images: np.ndarray) -> dict[str, np.ndarray]:
    """Each statistic (see STATISTICS) for each image of (N, 150, 150) uint8 grey images."""
    images = np.asarray(images)
    if images.ndim != 3 or images.shape[1:] != (SIZE, SIZE):
        raise ValueError(f"expected (N, {SIZE}, {SIZE}) grey images, got shape {images.shape}")
    x = images.astype(np.float32)
    dx, dy = np.diff(x, axis=2)[:, :-1, :], np.diff(x, axis=1)[:, :, :-1]
    laplacian = 4 * x[:, 1:-1, 1:-1] - x[:, :-2, 1:-1] - x[:, 2:, 1:-1] - x[:, 1:-1, :-2] - x[:, 1:-1, 2:]
    yy, xx = np.mgrid[0:SIZE, 0:SIZE]
    centre = (SIZE - 1) / 2
    hub = (xx - centre) ** 2 + (yy - centre) ** 2 <= (HUB_WINDOW * SIZE) ** 2
    corners = np.concatenate([x[:, :CORNER, :CORNER], x[:, :CORNER, -CORNER:], x[:, -CORNER:, :CORNER],
                              x[:, -CORNER:, -CORNER:]], axis=1).reshape(len(x), -1)
    return {
        "mean": x.mean(axis=(1, 2)),
        "contrast": x.std(axis=(1, 2)),
        "edge_density": (np.hypot(dx, dy) > EDGE_STEP).mean(axis=(1, 2)),
        "fine_detail": np.abs(laplacian).mean(axis=(1, 2)),
        "hand_darkness": np.percentile(x[:, hub], HAND_PERCENTILE, axis=1),
        "floor_contrast": corners.std(axis=1),
    }


def summary_rows(stats: dict[str, dict[str, np.ndarray]]) -> list[dict[str, object]]:
    """One row per statistic: for each source (say genuine, renders) its median and 10th-90th percentile."""
    rows = []
    for name in STATISTICS:
        row: dict[str, object] = {"statistic": name}
        for source, values in stats.items():
            low, mid, high = np.percentile(values[name], [10, 50, 90])
            row[f"{source} median"] = round(float(mid), 3)
            row[f"{source} p10-p90"] = f"{low:.3g}-{high:.3g}"
        rows.append(row)
    return rows


def per_image_rows(source: str, names: list[str], stats: dict[str, np.ndarray]) -> list[dict[str, object]]:
    """One row per image: where it came from, its name and each statistic."""
    return [{"source": source, "image": name, **{k: round(float(stats[k][i]), 4) for k in STATISTICS}}
            for i, name in enumerate(names)]
