"""Image grids and PNG folders for people to look at."""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from cosmojax.data import layout


def to_uint8(images) -> np.ndarray:
    """Intensities in [0, 1] (float) -> uint8 0..255; uint8 passes through.

    >>> to_uint8(np.array([0.0, 0.5, 1.0])).tolist()
    [0, 128, 255]
    """
    images = np.asarray(images)
    if images.dtype == np.uint8:
        return images
    return np.clip(np.rint(images * 255.0), 0, 255).astype(np.uint8)


def display_stretch(images: np.ndarray) -> np.ndarray:
    """``255 * sqrt(x / 255)``: faint sources visible at thumbnail size (display only).

    >>> display_stretch(np.array([0, 64, 255], np.uint8)).tolist()
    [0, 128, 255]
    """
    x = np.asarray(images, np.float32) / 255.0
    return np.clip(np.rint(np.sqrt(x) * 255.0), 0, 255).astype(np.uint8)


def grid(images, cols: int | None = None, *, stretch: bool = True, pad: int = 2) -> Image.Image:
    """A PIL image tiling ``images`` (uint8 or [0, 1] floats, ``[N, H, W]`` or
    ``[N, H, W, 1]``) row by row, ``cols`` per row (default: a square), ``pad``
    grey (64) pixels between the tiles and around them; shows inline in
    notebooks. ``stretch`` applies :func:`display_stretch` so that sparse skies
    are not just black.

    >>> grid(np.zeros((5, 16, 16), np.uint8), 3).size  # 3 x 2 tiles of 16 + 2 pad
    (56, 38)
    """
    from skimage.util import montage

    imgs = to_uint8(images)
    if imgs.ndim == 4:
        imgs = imgs[..., 0]
    if imgs.ndim != 3 or len(imgs) == 0:
        raise ValueError(f"grid: expected images [N, H, W] with N >= 1, got shape {imgs.shape}")
    if stretch:
        imgs = display_stretch(imgs)
    cols = cols or int(math.ceil(math.sqrt(len(imgs))))
    rows = int(math.ceil(len(imgs) / cols))
    canvas = montage(
        imgs, fill=64, grid_shape=(rows, cols), padding_width=pad, rescale_intensity=False
    )
    return Image.fromarray(canvas.astype(np.uint8), mode="L")


def _next_number(folder: Path, prefix: str) -> int:
    """One more than the highest ``<prefix><digits>.png`` in ``folder`` (0 if none)."""
    pattern = re.compile(rf"{re.escape(prefix)}(\d+)\.png")
    found = [int(m.group(1)) for p in folder.iterdir() if (m := pattern.fullmatch(p.name))]
    return max(found) + 1 if found else 0


def save_pngs(
    images,
    folder: str | os.PathLike,
    ids: Sequence[str] | None = None,
    prefix: str = "",
    *,
    overwrite: bool = False,
) -> list[Path]:
    """Writes each image as ``<id>.png`` (8-bit grayscale) in ``folder`` (created);
    returns the paths.

    Without ``ids`` the images are numbered ``<prefix>0000000``, ``<prefix>0000001``,
    ... on from the highest such number already in the folder, so that two calls
    into one folder add to it. A file that exists is never replaced unless
    ``overwrite``: FileExistsError names it, and nothing is written.

    >>> import tempfile
    >>> d = tempfile.mkdtemp()
    >>> [p.name for p in save_pngs(np.zeros((2, 4, 4), np.uint8), d)]
    ['0000000.png', '0000001.png']
    >>> [p.name for p in save_pngs(np.zeros((1, 4, 4), np.uint8), d)]
    ['0000002.png']
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    imgs = to_uint8(images)
    if imgs.ndim == 4:
        imgs = imgs[..., 0]
    if ids is None:
        start = _next_number(folder, prefix)
        ids = [f"{prefix}{i:07d}" for i in range(start, start + len(imgs))]
    ids = [layout.check_id(str(i), "save_pngs ids") for i in ids]
    if len(ids) != len(imgs) or len(set(ids)) != len(ids):
        raise ValueError(
            f"save_pngs: expected {len(imgs)} different ids, one per image, got {len(ids)} "
            f"({len(set(ids))} different)"
        )
    paths = [folder / f"{i}.png" for i in ids]
    existing = [p for p in paths if p.exists()]
    if existing and not overwrite:
        raise FileExistsError(
            f"{existing[0]}: exists ({len(existing)} of the files to write do); "
            "pass overwrite=True to replace them"
        )
    for path, img in zip(paths, imgs, strict=True):
        layout.write_png(path, img)
    return paths


def list_pngs(folder: str | os.PathLike) -> list[Path]:
    """The ``.png`` files of ``folder``, sorted by name; DataError if there are none.

    >>> import tempfile
    >>> d = tempfile.mkdtemp()
    >>> _ = save_pngs(np.zeros((2, 4, 4), np.uint8), d, ids=["b", "a"])
    >>> [p.name for p in list_pngs(d)]
    ['a.png', 'b.png']
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise layout.DataError(f"{folder}: image folder does not exist")
    paths = sorted(p for p in folder.iterdir() if p.suffix.lower() == ".png")
    if not paths:
        raise layout.DataError(f"{folder}: no .png images")
    return paths


def read_pngs(paths: Sequence[str | os.PathLike], progress: bool = False) -> Iterator[np.ndarray]:
    """Each PNG of ``paths`` as uint8 ``[H, W]``, read one at a time (conversions
    of other formats are logged once per kind, then summarised).

    >>> import tempfile
    >>> d = tempfile.mkdtemp()
    >>> paths = save_pngs(np.full((2, 4, 4), 7, np.uint8), d)
    >>> [int(im.max()) for im in read_pngs(paths)]
    [7, 7]
    """
    from cosmojax import console

    conversions = layout.ConversionLog()
    for p in console.progress(paths, desc="reading", unit="img", enabled=progress):
        yield layout.read_png(p, conversions)
    conversions.log_summary()
