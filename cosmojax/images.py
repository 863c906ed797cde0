"""Image grids and PNG folders for people to look at."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from cosmojax.data import layout


def to_uint8(images) -> np.ndarray:
    """Intensities in [0, 1] (float) -> uint8 0..255; uint8 passes through."""
    images = np.asarray(images)
    if images.dtype == np.uint8:
        return images
    return np.clip(np.rint(images * 255.0), 0, 255).astype(np.uint8)


def display_stretch(images: np.ndarray) -> np.ndarray:
    """``255 * sqrt(x / 255)``: faint sources visible at thumbnail size (display only)."""
    x = np.asarray(images, np.float32) / 255.0
    return np.clip(np.rint(np.sqrt(x) * 255.0), 0, 255).astype(np.uint8)


def grid(images, cols: int | None = None, *, stretch: bool = True, pad: int = 2) -> Image.Image:
    """A PIL image tiling ``images`` (uint8 or [0, 1] floats, ``[N, H, W]`` or
    ``[N, H, W, 1]``); shows inline in notebooks. ``stretch`` applies
    :func:`display_stretch` so that sparse skies are not just black."""
    imgs = to_uint8(images)
    if imgs.ndim == 4:
        imgs = imgs[..., 0]
    if stretch:
        imgs = display_stretch(imgs)
    n, h, w = imgs.shape
    cols = cols or int(math.ceil(math.sqrt(n)))
    rows = int(math.ceil(n / cols))
    canvas = np.full((rows * (h + pad) + pad, cols * (w + pad) + pad), 64, np.uint8)
    for i, img in enumerate(imgs):
        r, c = divmod(i, cols)
        y, x = pad + r * (h + pad), pad + c * (w + pad)
        canvas[y : y + h, x : x + w] = img
    return Image.fromarray(canvas, mode="L")


def save_pngs(
    images, folder: str | os.PathLike, ids: Sequence[str] | None = None, prefix: str = ""
) -> list[Path]:
    """Writes each image as ``<id>.png`` (8-bit grayscale); returns the paths."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    imgs = to_uint8(images)
    if imgs.ndim == 4:
        imgs = imgs[..., 0]
    ids = ids if ids is not None else [f"{prefix}{i:07d}" for i in range(len(imgs))]
    paths = []
    for i, img in zip(ids, imgs, strict=True):
        path = folder / f"{i}.png"
        layout.write_png(path, img)
        paths.append(path)
    return paths
