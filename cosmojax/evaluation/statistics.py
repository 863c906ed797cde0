"""Summary statistics of cosmology images, in JAX: the one definition of each.

Used by the statistics branch of the stronger scorer (:mod:`cosmojax.models.scorer`)
and by the boosted-trees reference of ``benchmarks/scorer_quality.py``; for
8-bit images :mod:`cosmojax.evaluation.features` computes the same histogram,
spectrum and peaks on the CPU, sparsely (the evaluation of generators and the
scorer's full-resolution statistics), held equal to these by tests.
Images are ``[..., H, W]`` in counts (0-255, fractional after resampling);
every function works at any resolution, so the statistics can be computed on
1000x1000 images or at a model's resolution.

* Intensity histogram: fixed bins, the first ``[0, ZERO_LEVEL)`` holding the
  empty sky, then log-spaced edges up to 255; values beyond the range go to the
  edge bins. :func:`soft_histogram` spreads each value linearly between the two
  nearest bin centres (in log intensity), so it is differentiable.
* Radially averaged power spectrum: overdensity ``d = x / mean(x) - 1``,
  ``|FFT(d)|^2 / N^2`` averaged in log-spaced bins of ``|k|``, with ``k`` from
  ``fftfreq`` (cycles per pixel, not a pixel-centre radius). Bins that no
  frequency falls in are dropped.
* Peak counts: local maxima (equal to the maximum over a ``window`` square)
  above each threshold.
* Pixel fractions above thresholds.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

ZERO_LEVEL = 0.25  # counts: below this a (resampled) pixel is empty sky
HIST_EDGES = np.concatenate([[0.0], np.geomspace(ZERO_LEVEL, 255.0, 32)])  # 32 bins
PEAK_THRESHOLDS = (1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 150.0, 200.0, 240.0)
FRACTION_THRESHOLDS = (0.5, 2.0, 5.0, 20.0, 100.0)


def _bincount(idx: jax.Array, n_bins: int, weights=None) -> jax.Array:
    """Per-row bin sums: ``idx`` ``[..., M]`` int in [0, n_bins) -> ``[..., n_bins]``."""
    lead, m = idx.shape[:-1], idx.shape[-1]
    w = jnp.ones(idx.shape, jnp.float32) if weights is None else weights
    rows = jax.vmap(lambda i, v: jnp.zeros(n_bins, jnp.float32).at[i].add(v))(
        idx.reshape(-1, m), w.reshape(-1, m)
    )
    return rows.reshape(*lead, n_bins)


def histogram(x: jax.Array, edges=HIST_EDGES) -> jax.Array:
    """Pixel counts per bin ``[..., n_bins]``; out-of-range values go to the edge bins."""
    n_bins = len(edges) - 1
    flat = x.reshape(*x.shape[:-2], -1)
    idx = jnp.searchsorted(jnp.asarray(edges, jnp.float32), flat, side="right") - 1
    return _bincount(jnp.clip(idx, 0, n_bins - 1), n_bins)


def soft_histogram(x: jax.Array, edges=HIST_EDGES) -> jax.Array:
    """Differentiable histogram ``[..., n_bins]`` (fractions of pixels, summing to 1).

    The zero bin takes ``relu(1 - x / ZERO_LEVEL)`` of a pixel; the rest of it is
    split linearly between the two nearest log-spaced bin centres.
    """
    edges = np.asarray(edges, np.float64)
    centres = np.log(np.sqrt(edges[1:-1] * edges[2:]))  # log centres of the non-zero bins
    n = len(centres)
    flat = x.reshape(*x.shape[:-2], -1).astype(jnp.float32)
    zero = jnp.clip(1.0 - flat / edges[1], 0.0, 1.0)
    pos = (jnp.log(jnp.maximum(flat, edges[1])) - centres[0]) / (centres[1] - centres[0])
    pos = jnp.clip(pos, 0.0, n - 1.0)
    lo = jnp.floor(pos)
    frac = pos - lo
    lo = lo.astype(jnp.int32)
    hi = jnp.minimum(lo + 1, n - 1)
    w_lo, w_hi = (1.0 - zero) * (1.0 - frac), (1.0 - zero) * frac
    nonzero = _bincount(jnp.concatenate([lo, hi], -1), n, jnp.concatenate([w_lo, w_hi], -1))
    return jnp.concatenate([zero.mean(-1, keepdims=True), nonzero / flat.shape[-1]], axis=-1)


def spectrum_edges(height: int, width: int, n_bins: int = 24) -> np.ndarray:
    """The ``n_bins + 1`` log-spaced ``|k|`` edges (cycles per pixel) of an image size."""
    return np.geomspace(1.0 / max(height, width), np.sqrt(0.5) * (1 + 1e-6), n_bins + 1)


@functools.lru_cache(maxsize=16)
def spectrum_bins(height: int, width: int, n_bins: int = 24):
    """``(bin index per rfft2 frequency, centres of the non-empty bins)`` for an image size."""
    ky = np.fft.fftfreq(height)[:, None]
    kx = np.fft.rfftfreq(width)[None, :]
    k = np.sqrt(kx**2 + ky**2)
    edges = spectrum_edges(height, width, n_bins)
    idx = np.digitize(k, edges) - 1  # -1: the k = 0 mode and anything below the first edge
    present = [b for b in range(n_bins) if np.any(idx == b)]
    remap = -np.ones(n_bins + 1, np.int64)
    remap[present] = np.arange(len(present))
    centres = np.sqrt(edges[:-1] * edges[1:])[present]
    return remap[idx], centres


def power_spectrum(x: jax.Array, n_bins: int = 24) -> jax.Array:
    """Radially averaged power spectrum of the overdensity, ``[..., n_nonempty_bins]``."""
    h, w = x.shape[-2:]
    idx, centres = spectrum_bins(h, w, n_bins)
    x = x.astype(jnp.float32)
    mean = x.mean(axis=(-2, -1), keepdims=True)
    delta = x / jnp.maximum(mean, 1e-6) - 1.0
    power = jnp.abs(jnp.fft.rfft2(delta)) ** 2 / float(h * w) ** 2
    n = len(centres)
    trash = np.where(idx >= 0, idx, n).reshape(-1)  # the k = 0 mode goes to a dropped bin
    flat = power.reshape(*power.shape[:-2], -1)
    sums = _bincount(jnp.broadcast_to(trash, flat.shape), n + 1, flat)[..., :n]
    return sums / np.bincount(trash, minlength=n + 1)[:n]


def peak_counts(
    x: jax.Array, thresholds=PEAK_THRESHOLDS, window: int = 3, softness: float = 0.0
) -> jax.Array:
    """Number of local maxima above each threshold ``[..., len(thresholds)]``.

    A pixel is a peak if it equals the maximum of its ``window`` square and is
    above the background (the image minimum). With ``softness > 0`` the
    threshold is a sigmoid of that width (in counts).
    """
    lead = x.shape[:-2]
    img = x.reshape(-1, *x.shape[-2:]).astype(jnp.float32)
    pad = window // 2
    mx = jax.lax.reduce_window(
        img, -jnp.inf, jax.lax.max, (1, window, window), (1, 1, 1), [(0, 0), (pad, pad), (pad, pad)]
    )
    background = img.min(axis=(-2, -1), keepdims=True)
    is_peak = (img >= mx) & (img > background)
    t = jnp.asarray(thresholds, jnp.float32)
    above = img[..., None] - background[..., None] - t
    weight = jax.nn.sigmoid(above / softness) if softness > 0 else (above > 0).astype(jnp.float32)
    counts = jnp.sum(is_peak[..., None] * weight, axis=(-3, -2))
    return counts.reshape(*lead, len(thresholds))


def fractions_above(x: jax.Array, thresholds=FRACTION_THRESHOLDS) -> jax.Array:
    t = jnp.asarray(thresholds, jnp.float32)
    return jnp.mean(x[..., None] > t, axis=(-3, -2))


def summary_vector(x: jax.Array, *, soft: bool = False, ps_bins: int = 24) -> jax.Array:
    """All statistics of ``x`` (counts) as one log-scaled feature vector ``[..., F]``."""
    n_pix = x.shape[-1] * x.shape[-2]
    hist = soft_histogram(x) if soft else histogram(x) / n_pix
    mean = x.astype(jnp.float32).mean(axis=(-2, -1))[..., None]
    parts = [
        jnp.log(hist + 1e-7),
        jnp.log(power_spectrum(x, ps_bins) + 1e-12),
        jnp.log1p(peak_counts(x, softness=1.0 if soft else 0.0)),
        jnp.log(fractions_above(x) + 1e-7),
        jnp.log(mean + 1e-4),
    ]
    return jnp.concatenate(parts, axis=-1)
