"""The real images that generators are compared with: label-1 images of a CIL
folder, read one at a time and reduced to the resolution of the comparison."""

from __future__ import annotations

import numpy as np

from cosmojax import console
from cosmojax.data import layout, resample, sources


def at_resolution(images: np.ndarray, resolution: int) -> np.ndarray:
    """uint8 ``[N, H, W]`` -> uint8 ``[N, resolution, resolution]`` by area (as the
    metrics reduce images); unchanged at that size already.

    >>> at_resolution(np.full((1, 8, 8), 10, np.uint8), 4).tolist()[0][0]
    [10, 10, 10, 10]
    """
    if images.shape[-2:] == (resolution, resolution):
        return images
    return np.stack(
        [
            np.clip(np.rint(resample.area_resize(im, resolution)), 0, 255).astype(np.uint8)
            for im in images
        ]
    )


def load_real(
    reference: str,
    num: int | None,
    seed: int = 0,
    resolution: int | None = None,
    progress: bool = True,
) -> np.ndarray:
    """``num`` label-1 images of ``reference`` (a CIL folder; empty: the default
    synthetic set; None: all of them), chosen by ``seed`` (any ``num`` takes the
    first of one order), each reduced to ``resolution`` as it is
    read: no more than one full-size image is held at a time."""
    root = sources.resolve_data_dir(reference or None)
    _, paths, labels = layout.list_split(root, "labeled")
    chosen = [p for p, t in zip(paths, labels, strict=True) if t == 1]
    chosen = [chosen[i] for i in np.random.default_rng(seed).permutation(len(chosen))[:num]]
    read = layout.read_png
    if resolution is not None:
        read = lambda p: at_resolution(layout.read_png(p)[None], resolution)[0]  # noqa: E731
    bar = console.progress(chosen, desc="reading real", unit="img", enabled=progress)
    return np.stack([read(p) for p in bar])
