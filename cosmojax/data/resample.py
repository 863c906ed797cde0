"""Exact area resampling: the one downsampling rule used everywhere.

An output pixel is the mean of the input it covers, input pixels that straddle
its edge counted by the fraction inside. So the total flux of a source is kept
(sum(out) * (n_in / n_out)**2 == sum(in)), small sources are not lost between
sample points as with bilinear or nearest resizing, and an empty sky stays
exactly 0. Resolutions need not divide each other (1000 -> 128, 1000 -> 140).

The same function serves the data pipeline, scoring, the generators' encoders
and the evaluation metrics, so images are always reduced the same way.
"""

from __future__ import annotations

import functools

import numpy as np
import scipy.sparse as sp


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


def to_unit(image_uint8_scale: np.ndarray) -> np.ndarray:
    """Maps 8-bit intensities (0..255, possibly fractional after resampling) to [0, 1]."""
    return np.asarray(image_uint8_scale, np.float32) * np.float32(1.0 / 255.0)


def prepare_image(image: np.ndarray, resolution: int) -> np.ndarray:
    """uint8 ``[H, W]`` of any size -> float32 ``[resolution, resolution]`` in [0, 1]."""
    return to_unit(area_resize(image, resolution))


def load_resampled(path, resolution: int) -> tuple[np.ndarray, list[tuple[str, str]]]:
    """Reads one PNG and area-resamples it to float16 ``[resolution, resolution]`` in
    [0, 1]; also returns the conversions it needed (for a worker process to report)."""
    from cosmojax.data import layout

    notes = layout.ConversionLog(quiet=True)
    img = layout.read_png(path, notes)
    return prepare_image(img, resolution).astype(np.float16), notes.events
