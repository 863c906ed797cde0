"""Upscaling generated 128x128 images to the 1000x1000 data format.

An area-downsampled sky spreads each compact source over a block of
(1000/128)^2 pixels. Interpolating it back (bilinear, bicubic) gives wide,
faint blobs whose peaks never reach 255, and nearest-neighbour gives squares.
``sources`` (the default) re-renders the sources instead:

1. The sky level (the image median: 0 for most real images, a constant 1 or 2
   counts for the others) is subtracted. Connected components above
   ``threshold`` counts are the sources; everything else becomes the sky
   level, rounded to whole counts and added back after rendering, as the
   constant sky of the real images.
2. A compact component (at most ``max_area`` low-resolution pixels) keeps its
   total flux and flux-weighted centroid; its second moment, minus the
   ``s^2/12`` that block averaging adds (s = the scale factor), gives the
   width of a Moffat profile (beta 2.5, alpha at least 2 px, the PSF of the
   data) rendered at full resolution and
   saturated softly at 255 like the sensor (knee 200).
3. A larger component (extended structure, noise, artifacts) is bicubic-
   interpolated inside its own footprint.

For block-max images (``data.downsample = "max"``) a low-resolution pixel is
the *peak* of its block, not its mean, so ``sources`` renders each compact
component as a Moffat profile with the component's peak and a width that
makes its footprint above ``threshold`` as large as the component's (at least
the PSF), placed at a uniformly drawn position inside its brightest block (the
position inside a block is what max-pooling forgets; the draw is seeded by the
image, so upscaling is a pure function).

``benchmarks/upscale.py`` compares the methods by a round trip on real and
synthetic images (1000 -> 128 by area, back to 1000): zero fraction, source
counts above 0/5/20/50 and peaks.
"""

from __future__ import annotations

import numpy as np
from PIL import Image
from scipy import ndimage

from cosmojax.data.synthetic import KNEE, soft_saturate  # the sensor's, as the data's

METHODS = ("sources", "bicubic", "bilinear", "nearest")
BETA = 2.5
MIN_ALPHA = 2.0  # px: no source is narrower than the instrument's PSF (alpha ~ 1.6-2.4)


def _resize(counts: np.ndarray, size: int, resample) -> np.ndarray:
    im = Image.fromarray(np.asarray(counts, np.float32), mode="F")
    return np.asarray(im.resize((size, size), resample), np.float32)


def _canvas(counts: np.ndarray, size: int, threshold: float):
    """``(scale, empty output, component labels, their count)`` of a low-res image."""
    out = np.zeros((size, size), np.float32)
    labels, n = ndimage.label(counts > threshold, structure=np.ones((3, 3), bool))
    return size / counts.shape[0], out, labels, n


def _render_sources(counts: np.ndarray, size: int, threshold: float, max_area: int):
    r = counts.shape[0]
    s, out, labels, n = _canvas(counts, size, threshold)
    if n == 0:
        return out
    smooth = None
    yy, xx = np.mgrid[0:r, 0:r].astype(np.float64)
    for i, sl in enumerate(ndimage.find_objects(labels), start=1):
        mask = labels[sl] == i
        w = counts[sl] * mask
        area = int(mask.sum())
        if area > max_area:
            if smooth is None:
                smooth = np.maximum(_resize(counts, size, Image.BICUBIC), 0.0)
            y0, y1 = int(sl[0].start * s), int(np.ceil(sl[0].stop * s))
            x0, x1 = int(sl[1].start * s), int(np.ceil(sl[1].stop * s))
            footprint = (
                np.asarray(
                    Image.fromarray(mask.astype(np.uint8) * 255).resize(
                        (x1 - x0, y1 - y0), Image.NEAREST
                    )
                )
                > 0
            )
            out[y0:y1, x0:x1] += smooth[y0:y1, x0:x1] * footprint
            continue
        flux = float(w.sum()) * s * s
        cy = float((w * yy[sl]).sum() / w.sum())
        cx = float((w * xx[sl]).sum() / w.sum())
        var = float((w * ((yy[sl] - cy) ** 2 + (xx[sl] - cx) ** 2)).sum() / w.sum()) / 2
        var_full = max(var * s * s - s * s / 12.0, MIN_ALPHA**2)  # per axis, full-res pixels
        alpha = np.sqrt(var_full * 2 * (BETA - 2))
        cy, cx = (cy + 0.5) * s - 0.5, (cx + 0.5) * s - 0.5
        peak = flux * (BETA - 1) / (np.pi * alpha**2)
        _add_moffat(out, cy, cx, peak, alpha)
    return out


def moffat_radius(peak: float, alpha: float, level: float = 0.3) -> float:
    """Radius at which a Moffat profile of ``peak`` and ``alpha`` falls to ``level``
    (0 when the peak is at or below it)."""
    if peak <= level:
        return 0.0
    return float(alpha * np.sqrt((peak / level) ** (1 / BETA) - 1))


def _add_moffat(out: np.ndarray, cy: float, cx: float, peak: float, alpha: float) -> None:
    size = out.shape[0]
    rad = int(min(60, np.ceil(moffat_radius(peak, alpha)) + 1))
    ya, yb = max(int(cy) - rad, 0), min(int(cy) + rad + 1, size)
    xa, xb = max(int(cx) - rad, 0), min(int(cx) + rad + 1, size)
    if ya >= yb or xa >= xb:
        return
    gy, gx = np.mgrid[ya:yb, xa:xb]
    r2 = (gy - cy) ** 2 + (gx - cx) ** 2
    out[ya:yb, xa:xb] += (peak * (1 + r2 / alpha**2) ** (-BETA)).astype(np.float32)


def _render_peaks(counts: np.ndarray, size: int, threshold: float, max_area: int):
    """``sources`` for block-max images: a Moffat source at each local maximum.

    A block maximum says how bright the brightest pixel of a block is, not how
    many sources share it or where in the block they sit. Each local maximum
    (3x3) above ``threshold`` becomes one source with that peak, at a position
    drawn uniformly inside its block; its width makes the source's footprint
    above ``threshold`` as large as the blocks around it at or above half its
    peak (a star spread over 2x2 blocks stays one star), and never narrower
    than the PSF. Components larger than ``max_area`` blocks (extended
    structure) are interpolated inside their footprint instead.
    """
    s, out, labels, n = _canvas(counts, size, threshold)
    if n == 0:
        return out
    seed = np.frombuffer(np.ascontiguousarray(counts, np.float32).tobytes(), np.uint32)[:1024]
    rng = np.random.default_rng(seed)
    extended = np.zeros_like(counts, bool)
    for i, sl in enumerate(ndimage.find_objects(labels), start=1):
        mask = labels[sl] == i
        if int(mask.sum()) > max_area:
            extended[sl] |= mask
            y0, y1 = int(sl[0].start * s), int(np.ceil(sl[0].stop * s))
            x0, x1 = int(sl[1].start * s), int(np.ceil(sl[1].stop * s))
            vals = np.where(mask, counts[sl], 0.0).astype(np.float32)
            big = Image.fromarray(vals, mode="F").resize((x1 - x0, y1 - y0), Image.BICUBIC)
            out[y0:y1, x0:x1] = np.maximum(out[y0:y1, x0:x1], np.maximum(np.asarray(big), 0.0))
    # strict local maxima; ties broken by position so a flat top yields one source
    rank = np.empty(counts.size, np.int64)
    rank[np.argsort(counts.ravel(), kind="stable")] = np.arange(counts.size)
    rank = rank.reshape(counts.shape)  # unique: equal values are ordered by position
    peaks = (rank == ndimage.maximum_filter(rank, size=3)) & (counts > threshold) & ~extended
    level = max(threshold, 0.5)
    for by, bx in zip(*np.nonzero(peaks), strict=True):
        peak = float(counts[by, bx])
        near = counts[max(by - 1, 0) : by + 2, max(bx - 1, 0) : bx + 2]
        area = int((near >= 0.5 * peak).sum())  # blocks the source spreads over (1..9)
        if peak >= KNEE:  # a saturated block: the true peak is higher, the core wider
            peak = KNEE + (peak - KNEE) * (3.0 + 2.0 * area)
        r_level = max(np.sqrt(area) - 1.0, 0.0) * s / 2.0
        stretch = np.sqrt(max((peak / level) ** (1 / BETA) - 1.0, 1e-6))
        alpha = max(MIN_ALPHA, r_level / stretch)
        cy = (by + rng.uniform()) * s - 0.5
        cx = (bx + rng.uniform()) * s - 0.5
        _add_moffat(out, cy, cx, peak, alpha)
    return out


def upscale(
    image,
    size: int = 1000,
    method: str = "sources",
    *,
    downsample: str = "area",
    threshold: float | None = None,
    max_area: int = 24,
) -> np.ndarray:
    """``image``: uint8 or [0, 1] float ``[r, r]`` -> uint8 ``[size, size]``.

    ``downsample`` says how the low-resolution image was made (``area`` or
    ``max``); ``threshold`` (counts above the sky) defaults to 0.05 for area
    images and 1.5 for block-max ones, whose faintest real pixel is 1.
    """
    img = np.asarray(image)
    counts = img.astype(np.float32) if img.dtype == np.uint8 else img.astype(np.float32) * 255.0
    if method == "nearest":
        out = _resize(counts, size, Image.NEAREST)
    elif method == "bilinear":
        out = _resize(counts, size, Image.BILINEAR)
    elif method == "bicubic":
        out = _resize(counts, size, Image.BICUBIC)
    elif method == "sources":
        sky = float(np.median(counts))
        if downsample == "max":
            t = 1.5 if threshold is None else threshold
            out = _render_peaks(np.maximum(counts - sky, 0.0), size, t, max_area)
        elif downsample == "area":
            t = 0.05 if threshold is None else threshold
            out = _render_sources(np.maximum(counts - sky, 0.0), size, t, max_area)
        else:
            raise ValueError(f"downsample: expected 'area' or 'max', got {downsample!r}")
        out = soft_saturate(out) + np.rint(sky)  # the sky level, as the data's constant sky
    else:
        raise ValueError(f"method: expected one of {', '.join(METHODS)}, got {method!r}")
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)
