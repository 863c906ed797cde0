"""How good is a generator? Summary statistics, Fréchet distances, scores, memorisation.

All definitions in one place (the statistics themselves are in
:mod:`cosmojax.evaluation.statistics` and :mod:`cosmojax.evaluation.catalog`,
computed for 8-bit images by :mod:`cosmojax.evaluation.features`):

* **Per-image statistics** of 8-bit images (at 1000x1000 or any resolution):
  intensity histogram (log10 of 1 + counts in the fixed bins of
  ``statistics.HIST_EDGES``, out-of-range values in the edge bins); radially
  averaged power spectrum (log10, log-spaced ``|k|`` bins from ``fftfreq``,
  empty bins dropped); peak counts (local maxima of a 3x3 window above each
  of ``statistics.PEAK_THRESHOLDS``, as log10(1 + count)); source catalogue
  (connected components above ``catalog.THRESHOLDS``: log10(1 + count), and
  the log10 flux and area histograms of the components above 5).
* **Statistics Fréchet distance**: Gaussians fitted to the per-image vectors
  (the concatenation of the above), real vs generated, Fréchet distance
  ``|mu1 - mu2|^2 + Tr(C1 + C2 - 2 (C1 C2)^1/2)``; and per bin
  ``|mean_real - mean_gen| / std_real``.
* **Domain Fréchet distance**: the same distance between Gaussians fitted to a
  trained scorer's penultimate-layer features (an FID that needs no
  downloaded network).
* **Scores**: the trained scorer's scores of the generated images: mean,
  quantiles, fraction at or above 2.5 and 3.
* **Memorisation**: mean nearest-neighbour distance (L2 between 32x32
  area-resampled images in [0, 1]) from generated images to the reference
  "training" half, divided by the same for the held-out real half. Near 1:
  as novel as real images; well below 1: copies of training images.

Every distance is also computed real vs real (two disjoint halves of the real
set), so that each number has a scale.
"""

from __future__ import annotations

import warnings

import numpy as np
import scipy.linalg
from scipy import spatial

from cosmojax.data import resample
from cosmojax.evaluation import features

FLUX_BINS, AREA_BINS = features.FLUX_BINS, features.AREA_BINS
NN_SIZE = 32


def image_statistics(images) -> dict[str, np.ndarray]:
    """Per-image statistics of uint8 images ``[N, H, W]`` (see the module doc),
    computed by :func:`cosmojax.evaluation.features.image_statistics`, the same
    code that prepares the scorer's full-resolution statistics."""
    per_image = [features.image_statistics(np.asarray(im)) for im in images]
    if not per_image:
        raise ValueError("image_statistics: no images")
    return {k: np.stack([s[k] for s in per_image]).astype(np.float64) for k in per_image[0]}


def stat_vectors(stats: dict[str, np.ndarray]) -> np.ndarray:
    parts = [
        stats["histogram"],
        stats["power_spectrum"],
        stats["peak_counts"],
        stats["source_counts"],
        np.log10(1.0 + stats["source_flux"]),
        np.log10(1.0 + stats["source_area"]),
    ]
    return np.concatenate(parts, axis=1)


def fit_gaussian(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(x, np.float64)
    return x.mean(0), np.atleast_2d(np.cov(x, rowvar=False))


def frechet_distance(mu1, cov1, mu2, cov2, eps: float = 1e-6) -> float:
    """Fréchet distance between N(mu1, cov1) and N(mu2, cov2)."""
    diff = mu1 - mu2
    with warnings.catch_warnings():  # singular products are handled below
        warnings.simplefilter("ignore", scipy.linalg.LinAlgWarning)
        covmean = scipy.linalg.sqrtm(cov1 @ cov2)
    if not np.isfinite(covmean).all():
        offset = np.eye(len(cov1)) * eps
        covmean = scipy.linalg.sqrtm((cov1 + offset) @ (cov2 + offset))
    covmean = covmean.real
    return float(diff @ diff + np.trace(cov1) + np.trace(cov2) - 2 * np.trace(covmean))


def frechet(a: np.ndarray, b: np.ndarray) -> float:
    return max(0.0, frechet_distance(*fit_gaussian(a), *fit_gaussian(b)))


def per_bin_difference(real: np.ndarray, gen: np.ndarray) -> np.ndarray:
    """``|mean_real - mean_gen| / std_real`` per component (std floored at 1e-6)."""
    return np.abs(real.mean(0) - gen.mean(0)) / np.maximum(real.std(0), 1e-6)


def score_summary(scores: np.ndarray) -> dict[str, float]:
    scores = np.asarray(scores, np.float64)
    q = np.quantile(scores, [0.1, 0.5, 0.9])
    return {
        "mean": float(scores.mean()),
        "p10": float(q[0]),
        "median": float(q[1]),
        "p90": float(q[2]),
        "frac_ge_2.5": float(np.mean(scores >= 2.5)),
        "frac_ge_3": float(np.mean(scores >= 3.0)),
    }


def small(images, size: int = NN_SIZE) -> np.ndarray:
    return np.stack([resample.prepare_image(im, size).ravel() for im in images])


def mean_nn_distance(queries: np.ndarray, bank: np.ndarray) -> float:
    """Mean L2 distance from each row of ``queries`` to its nearest row of ``bank``.

    >>> mean_nn_distance(np.array([[0.0, 1.0], [3.0, 4.0]]), np.zeros((1, 2)))
    3.0
    """
    tree = spatial.cKDTree(np.asarray(bank, np.float64))
    return float(tree.query(np.asarray(queries, np.float64), k=1)[0].mean())


def penultimate_features(scorer, images) -> np.ndarray:
    """A scorer's last hidden layer (the input of its final dense layer) for uint8
    images, in the scorer's fixed-size batches (compiled once per scorer)."""
    return scorer.penultimate(images).astype(np.float64)
