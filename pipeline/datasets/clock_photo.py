"""What the camera and its software do to a rendered scene: lens blur, tone (contrast stretch and gamma), sensor
noise and JPEG artefacts. The scene arrives as float grey levels (values above 255 are saturated glare)."""
from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageFilter

BLUR_BELOW = 0.15  # pixels: a smaller blur changes no 8-bit pixel that matters; skipped


def to_uint8(value: np.ndarray) -> np.ndarray:
    """Round and clip float grey levels to 8 bits."""
    return np.clip(value + 0.5, 0, 255).astype(np.uint8)


def stretch_and_gamma(value: np.ndarray, stretch: float, gamma: float) -> np.ndarray:
    """Stretch the grey range part of the way (0 = not, 1 = fully) to 0-255, as a viewer normalising each picture
    would, then apply a gamma curve."""
    if stretch > 0:
        low, high = float(value.min()), float(value.max())
        if high - low > 1:
            value = value + stretch * ((value - low) * (255.0 / (high - low)) - value)
    if gamma != 1.0:
        value = np.float32(255.0) * (np.clip(value, 0, 255) * np.float32(1 / 255.0)) ** np.float32(gamma)
    return value


def jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    """The image after a round trip through JPEG at `quality` (blocks and ringing at low qualities)."""
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=int(quality))
    buffer.seek(0)
    with Image.open(buffer) as decoded:
        return np.asarray(decoded.convert("L"))


def photograph(scene: np.ndarray, blur: float, stretch: float, gamma: float, noise: float, jpeg_quality: int,
               rng: np.random.Generator | None) -> np.ndarray:
    """The 8-bit picture of a float scene: blur (Gaussian sigma in pixels), tone, noise (sigma in grey levels,
    drawn from `rng`), then JPEG when jpeg_quality > 0."""
    image = to_uint8(scene)
    if blur >= BLUR_BELOW:
        image = np.asarray(Image.fromarray(image).filter(ImageFilter.GaussianBlur(blur)))
    if stretch > 0 or gamma != 1.0 or noise > 0:
        value = stretch_and_gamma(image.astype(np.float32), stretch, gamma)
        if noise > 0:
            rng = np.random.default_rng(0) if rng is None else rng
            value = value + rng.standard_normal(value.shape, dtype=np.float32) * np.float32(noise)
        image = to_uint8(value)
    if jpeg_quality > 0:
        image = jpeg(image, jpeg_quality)
    return image
