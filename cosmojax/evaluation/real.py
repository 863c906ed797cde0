"""The real images that generators are compared with: label-1 images of a CIL
folder, read one at a time and reduced to the resolution of the comparison."""

from __future__ import annotations

from collections.abc import Iterator

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


def iter_real(
    reference: str,
    num: int | None,
    seed: int = 0,
    resolution: int | None = None,
    progress: bool = True,
) -> Iterator[np.ndarray]:
    """``num`` label-1 images of ``reference`` (a CIL folder; empty: the default
    synthetic set; None: all of them), chosen by ``seed`` (any ``num`` takes the
    first of one order), each reduced to ``resolution`` as it is read, one at a
    time: a caller that keeps only what it needs of each holds no more."""
    root = sources.resolve_data_dir(reference or None)
    _, paths, labels = layout.list_split(root, "labeled")
    chosen = [p for p, t in zip(paths, labels, strict=True) if t == 1]
    chosen = [chosen[i] for i in np.random.default_rng(seed).permutation(len(chosen))[:num]]
    bar = console.progress(chosen, desc="reading real", unit="img", enabled=progress)
    for path in bar:
        image = layout.read_png(path)
        yield image if resolution is None else at_resolution(image[None], resolution)[0]


def load_real(
    reference: str,
    num: int | None,
    seed: int = 0,
    resolution: int | None = None,
    progress: bool = True,
) -> np.ndarray:
    """:func:`iter_real`'s images stacked ``[N, H, W]`` (uint8)."""
    return np.stack(list(iter_real(reference, num, seed, resolution, progress)))
