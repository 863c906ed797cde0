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

import dataclasses
import warnings

import numpy as np
import scipy.linalg
from scipy import ndimage

from cosmojax import upscale
from cosmojax.data import resample
from cosmojax.data.augment import dihedral
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
    return float(nn_distances(queries, bank).mean())


def penultimate_features(scorer, images) -> np.ndarray:
    """A scorer's last hidden layer (the input of its final dense layer) for uint8
    images, in the scorer's fixed-size batches (compiled once per scorer)."""
    return scorer.penultimate(images).astype(np.float64)


SOURCE_PATCH = 25  # px: the square a source's shape is read from (odd: a turn keeps its centre)
SOURCE_MIN_PEAK = 10.0  # counts: fainter sources are a few noisy pixels, alike copied or not
SHIFT = 3  # px: how far from its peak pixel a source's shape may be centred


def source_shapes(library, patch: int = SOURCE_PATCH, min_peak: float = SOURCE_MIN_PEAK):
    """The shape of each source of ``library`` (an ``upscale.SourceLibrary``)
    that reaches ``min_peak`` counts: the square around its centre over its
    brightest pixel, square-rooted, flattened. A copy scaled in brightness has
    the shape of its original, and a flipped or turned copy the same shape
    flipped or turned: the centre is the maximum of the source smoothed by a
    1 px Gaussian (a saturated core's or a rounded peak's ties broken by their
    surroundings, alike under every turn), within ``SHIFT`` px of its peak."""
    big = upscale.cutouts(library, patch + 2 * SHIFT)
    peak = big.reshape(len(big), -1).max(1)
    keep = np.flatnonzero(peak >= min_peak)
    out = np.zeros((len(keep), patch, patch), np.float32)
    c, w = patch // 2 + SHIFT, 2 * SHIFT + 1
    for j, i in enumerate(keep):
        smooth = ndimage.gaussian_filter(big[i], 1.0)[
            c - SHIFT : c + SHIFT + 1, c - SHIFT : c + SHIFT + 1
        ]
        dy, dx = np.unravel_index(np.argmax(smooth), (w, w))
        y0, x0 = dy + c - SHIFT - patch // 2, dx + c - SHIFT - patch // 2
        out[j] = big[i, y0 : y0 + patch, x0 : x0 + patch]
    return np.sqrt(out / peak[keep, None, None]).reshape(len(keep), -1)


def nn_distances(queries: np.ndarray, bank: np.ndarray, chunk: int = 512) -> np.ndarray:
    """Each row of ``queries``' L2 distance to its nearest row of ``bank``, by
    brute force (images and shapes have hundreds of dimensions, where a k-d tree
    is not faster): the nearest row found in float32, its distance measured in
    float64 (an exact copy is at 0, not at float32's cancellation error)."""
    bank = np.asarray(bank, np.float32)
    b2 = (bank**2).sum(1)
    out = []
    for i in range(0, len(queries), chunk):
        q = np.asarray(queries[i : i + chunk], np.float32)
        nearest = np.argmin(b2[None, :] - 2.0 * q @ bank.T, axis=1)  # |q|^2 is the same per row
        diff = q.astype(np.float64) - bank[nearest].astype(np.float64)
        out.append(np.sqrt((diff**2).sum(1)))
    return np.concatenate(out) if out else np.zeros(0, np.float64)


@dataclasses.dataclass(frozen=True)
class SourceReference:
    """What :func:`source_memorisation` compares generated sources with, computed
    once for any number of generators: the shapes of the training library's
    sources under every flip and quarter turn, and how far the sources of
    held-out real images lie from them."""

    library: object  # upscale.SourceLibrary: its resolution and downsampling cut the sources
    bank: np.ndarray  # [8 * train, SOURCE_PATCH ** 2]
    held_out_distance: float
    counts: dict

    @classmethod
    def build(cls, train_library, held_out) -> SourceReference:
        """``held_out``: uint8 full-size real images whose sources are not in
        ``train_library``."""
        train = source_shapes(train_library)
        p = SOURCE_PATCH
        bank = np.concatenate([dihedral(train.reshape(-1, p, p), t, (1, 2)) for t in range(8)])
        bank = bank.reshape(len(bank), -1)
        h = _shapes_of(held_out, train_library)
        counts = {"held_out": len(h), "train": len(train)}
        return cls(train_library, bank, float(nn_distances(h, bank).mean()), counts)


def _shapes_of(images, library):
    """The source shapes of uint8 full-size ``images``, cut as ``library``'s were
    (``SourceLibrary.build`` at its resolution and downsampling)."""
    return source_shapes(
        upscale.SourceLibrary.build(images, library.resolution, library.downsample)
    )


def source_memorisation(generated, reference: SourceReference) -> dict:
    """Are the sources of the uint8 full-size ``generated`` images copies of the
    training sources? The ratio is the mean distance of a generated source's
    shape to its nearest training shape (under any flip or quarter turn) over
    the same for a held-out real source (:class:`SourceReference`): a copy
    scores 0, a new source of the same population about 1."""
    g = _shapes_of(generated, reference.library)
    dg, dh = float(nn_distances(g, reference.bank).mean()), reference.held_out_distance
    return {
        "ratio": dg / max(dh, 1e-12),
        "nn_distance_generated_to_train": dg,
        "nn_distance_heldout_to_train": dh,
        "sources": {"generated": len(g), **reference.counts},
    }
