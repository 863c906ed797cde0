"""Exact area resampling (the default downsampling rule) and block-max pooling.

An output pixel is the mean of the input it covers, input pixels that straddle
its edge counted by the fraction inside. So the total flux of a source is kept
(sum(out) * (n_in / n_out)**2 == sum(in)), small sources are not lost between
sample points as with bilinear or nearest resizing, and an empty sky stays
exactly 0. Resolutions need not divide each other (1000 -> 128, 1000 -> 140).

The same function serves the data pipeline, scoring, the generators' encoders
and the evaluation metrics, so images are always reduced the same way. A
generator may instead see block maxima (``data.downsample = "max"``,
:func:`max_resize`), which keep the peaks of compact sources; its encoder then
reduces images the same way (:func:`prepare_image`).
"""

from __future__ import annotations

import functools

import numpy as np
import scipy.sparse as sp

from cosmojax.configlib import ConfigError


@functools.lru_cache(maxsize=64)
def area_matrix(n_in: int, n_out: int) -> sp.csr_matrix:
    """Sparse ``[n_out, n_in]`` matrix whose rows average the covered input pixels."""
    if n_in < 1 or n_out < 1:
        raise ValueError(f"sizes must be positive, got {n_in} -> {n_out}")
    scale = n_in / n_out
    lo = np.arange(n_out)[:, None] * scale
    hi = lo + scale
    j = np.arange(n_in)[None, :]
    overlap = np.clip(np.minimum(hi, j + 1) - np.maximum(lo, j), 0.0, None) / scale
    return sp.csr_matrix(overlap.astype(np.float32))


def area_resize(image: np.ndarray, size: int | tuple[int, int]) -> np.ndarray:
    """Area-resamples a ``[H, W]`` image to ``size`` (int for square); float32 out.

    Works for both shrinking and enlarging (enlarging repeats pixel values with
    fractional edges), keeps the mean intensity, and is exact for empty regions.
    """
    out_h, out_w = (size, size) if isinstance(size, int) else size
    image = np.asarray(image)
    if image.ndim != 2:
        raise ValueError(f"area_resize expects [H, W], got shape {image.shape}")
    x = image.astype(np.float32, copy=False)
    h, w = x.shape
    if (h, w) == (out_h, out_w):
        return x.copy() if x is image else x
    rows = area_matrix(h, out_h) @ x  # [out_h, w]
    return np.asarray((area_matrix(w, out_w) @ rows.T).T, dtype=np.float32)


def block_starts(n_in: int, n_out: int) -> np.ndarray:
    """The first input index of each of ``n_out`` blocks that tile ``n_in``.

    >>> block_starts(10, 4).tolist()
    [0, 2, 5, 7]
    """
    return np.floor(np.arange(n_out) * (n_in / n_out)).astype(np.int64)


def max_resize(image: np.ndarray, size: int | tuple[int, int]) -> np.ndarray:
    """Block maximum of a ``[H, W]`` image, shrinking to ``size``; float32 out.

    Output pixel ``i`` covers input rows ``floor(i * H / h)`` up to the next
    block's start (sizes need not divide). A compact source keeps its peak value
    instead of being averaged with the empty sky around it (an area average from
    1000 to 128 divides a few-pixel star by about 61); an empty sky stays 0.
    """
    out_h, out_w = (size, size) if isinstance(size, int) else size
    x = np.asarray(image)
    if x.ndim != 2:
        raise ValueError(f"max_resize expects [H, W], got shape {x.shape}")
    h, w = x.shape
    if out_h > h or out_w > w:
        raise ValueError(f"max_resize only shrinks: {h}x{w} -> {out_h}x{out_w}")
    rows = np.maximum.reduceat(x, block_starts(h, out_h), axis=0)
    return np.maximum.reduceat(rows, block_starts(w, out_w), axis=1).astype(np.float32)


DOWNSAMPLE = {"area": area_resize, "max": max_resize}


def check_downsample(downsample: str) -> None:
    if downsample not in DOWNSAMPLE:
        raise ConfigError(
            f"data.downsample: expected one of {sorted(DOWNSAMPLE)}, got {downsample!r}"
        )


def resize(image: np.ndarray, size: int, downsample: str = "area") -> np.ndarray:
    """``image`` reduced to ``size`` by ``downsample`` (``area`` or ``max``)."""
    check_downsample(downsample)
    return DOWNSAMPLE[downsample](image, size)


def to_unit(image_uint8_scale: np.ndarray) -> np.ndarray:
    """Maps 8-bit intensities (0..255, possibly fractional after resampling) to [0, 1]."""
    return np.asarray(image_uint8_scale, np.float32) * np.float32(1.0 / 255.0)


def prepare_image(image: np.ndarray, resolution: int, downsample: str = "area") -> np.ndarray:
    """uint8 ``[H, W]`` of any size -> float32 ``[resolution, resolution]`` in [0, 1]
    (``downsample``: ``area`` average or block ``max``; images smaller than
    ``resolution`` are area-enlarged by either)."""
    if downsample == "max" and min(np.shape(image)) < resolution:
        downsample = "area"
    return to_unit(resize(image, resolution, downsample))


def load_resampled(
    path, resolution: int, downsample: str = "area", with_stats: bool = False
) -> tuple[np.ndarray, np.ndarray | None, list[tuple[str, str]]]:
    """Reads one PNG and reduces it to float16 ``[resolution, resolution]`` in [0, 1];
    with ``with_stats`` also its full-resolution statistics vector
    (:func:`cosmojax.evaluation.features.image_features` of the decoded image,
    else None); and the conversions it needed (for a worker process to report)."""
    from cosmojax.data import layout

    notes = layout.ConversionLog(quiet=True)
    img = layout.read_png(path, notes)
    stats = None
    if with_stats:
        from cosmojax.evaluation import features

        stats = features.image_features(img)
    return prepare_image(img, resolution, downsample).astype(np.float16), stats, notes.events
