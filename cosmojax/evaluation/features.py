"""Summary statistics of one 8-bit image at its own resolution, in NumPy: fast on sparse skies.

The per-image statistics that the evaluation compares (:mod:`cosmojax.evaluation.metrics`)
and that the statistics scorer reads at full resolution (computed once, when a
PNG is decoded for preparation: :mod:`cosmojax.data.tfds_builder`, and the same
way when a folder is scored: :mod:`cosmojax.scoring`). The definitions are
those of :mod:`cosmojax.evaluation.statistics` (histogram bins, power-spectrum
bins, peaks) and :mod:`cosmojax.evaluation.catalog` (components above the
background), and tests hold these implementations equal to them; this one
works only where the sky is, so a 1000x1000 image costs milliseconds:

* the background is the image minimum; almost every pixel of a CIL image
  sits at it, so the pixels above it are listed once and every later statistic
  visits only them (components through a sparse neighbour graph; an image
  with more than 2% of its pixels above the background uses whole-image
  operations instead);
* the intensity histogram comes from the 256 level counts;
* the power spectrum needs one real FFT of the whole image.

Version 2 of the vector adds a photometric catalogue (:func:`photometry`: total
fluxes of detections, found on a noisy sky after smoothing), its cumulative
counts and the clustering of its detections; only the scorer reads those.

:func:`image_features` is the fixed-length vector (names in :data:`NAMES`)
stored beside each prepared image; :data:`VERSION` names its definition, and
the prepared copies that hold it carry the version in their name, so a change
of definition prepares a fresh copy instead of reading stale vectors.
"""

from __future__ import annotations

import functools

import numpy as np
import scipy.fft
from scipy import ndimage

from cosmojax.evaluation import catalog, statistics

VERSION = 2  # 2: the photometric catalogue and the source clustering (PHOTOMETRY_NAMES)


def check_version(version: int, where: str) -> None:
    """Raises unless ``version`` (a scorer's, from its config) is this code's definition."""
    from cosmojax.configlib import ConfigError

    if int(version) != VERSION:
        raise ConfigError(
            f"{where}: trained on full-resolution statistics v{version}, but this code "
            f"computes v{VERSION}; retrain the scorer"
        )


FLUX_BINS = np.linspace(1.0, 6.0, 21)  # log10 counts above the background
AREA_BINS = np.linspace(0.0, 4.0, 17)  # log10 pixels
PS_BINS = 24  # power-spectrum bins, as statistics.power_spectrum's default
BRIGHT = 50.0  # counts above the background: a source whose size is measured
DENSE_FRACTION = 0.02  # above this fraction of pixels: whole-image operations are faster
_EIGHT = np.ones((3, 3), bool)
_FORWARD = ((0, 1), (1, -1), (1, 0), (1, 1))  # half of the 8 neighbours: each edge once


@functools.lru_cache(maxsize=4)
def _level_bins(edges: tuple[float, ...]) -> np.ndarray:
    """The histogram bin of each 8-bit level, as :func:`statistics.histogram` assigns it."""
    idx = np.searchsorted(np.asarray(edges, np.float32), np.arange(256, dtype=np.float32), "right")
    return np.clip(idx - 1, 0, len(edges) - 2)


class Sky:
    """One uint8 image ``[H, W]``: its background level (the minimum) and the
    pixels above it (flat index and value above the background), found once;
    every statistic reuses them."""

    def __init__(self, image: np.ndarray):
        image = np.asarray(image)
        if image.ndim != 2 or image.dtype != np.uint8 or min(image.shape) < 2:
            raise ValueError(
                f"expected a uint8 [H, W] image of at least 2x2, got {image.dtype} {image.shape}"
            )
        self.image = image
        self.background = int(image.min())
        self.index = np.flatnonzero(image > self.background)
        self.above = image.ravel()[self.index].astype(np.int32) - self.background
        self._labels: dict[float, tuple[np.ndarray, np.ndarray, int]] = {}

    def dense(self, count: int) -> bool:
        """Whether ``count`` pixels are too many for the sparse operations."""
        return count > DENSE_FRACTION * self.image.size

    @functools.cached_property
    def level_counts(self) -> np.ndarray:
        """Pixels per 8-bit level ``[256]``."""
        counts = np.bincount(self.above + self.background, minlength=256).astype(np.int64)
        counts[self.background] += self.image.size - len(self.index)
        return counts

    def label(self, threshold: float) -> tuple[np.ndarray, np.ndarray, int]:
        """8-connected components of the pixels above background + ``threshold``:
        ``(which of self.index, component number from 0 of each, count)``;
        computed once per threshold (the catalogue and the photometry share them)."""
        threshold = float(threshold)
        if threshold not in self._labels:
            self._labels[threshold] = self._label(threshold)
        return self._labels[threshold]

    def _label(self, threshold: float) -> tuple[np.ndarray, np.ndarray, int]:
        keep = np.flatnonzero(self.above > threshold)
        if self.dense(len(keep)):
            labels, n = ndimage.label(self.image > self.background + threshold, structure=_EIGHT)
            return keep, labels.ravel()[self.index[keep]] - 1, int(n)
        return (keep, *_connected(self.index[keep], self.image.shape))

    def count(self, threshold: float) -> int:
        """The number of those components (whole-image labelling where many,
        unless :meth:`label` has them already)."""
        if float(threshold) not in self._labels and self.dense(
            int(np.count_nonzero(self.above > threshold))
        ):
            return int(ndimage.label(self.image > self.background + threshold, _EIGHT)[1])
        return self.label(threshold)[2]


def _neighbour(index: np.ndarray, shape, dy: int, dx: int) -> tuple[np.ndarray, np.ndarray]:
    """For sorted flat pixel indices: ``(pixels with that neighbour in the set,
    position of the neighbour)``."""
    h, w = shape
    y, x = np.divmod(index, w)
    inside = (y + dy < h) & (x + dx >= 0) & (x + dx < w)
    target = index + dy * w + dx
    pos = np.minimum(np.searchsorted(index, target), len(index) - 1)
    hit = inside & (index[pos] == target)
    return np.flatnonzero(hit), pos[hit]


def _connected(index: np.ndarray, shape) -> tuple[np.ndarray, int]:
    """8-connected components of a sparse set of pixels (sorted flat indices)."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    m = len(index)
    if m == 0:
        return np.zeros(0, np.int64), 0
    pairs = [_neighbour(index, shape, dy, dx) for dy, dx in _FORWARD]
    a = np.concatenate([p[0] for p in pairs])
    b = np.concatenate([p[1] for p in pairs])
    graph = coo_matrix((np.ones(len(a), np.int8), (a, b)), shape=(m, m))
    n, labels = connected_components(graph, directed=False)
    return labels, int(n)


def histogram(sky: Sky, edges=statistics.HIST_EDGES) -> np.ndarray:
    """Pixel counts per bin, equal to :func:`statistics.histogram` of the image."""
    bins = _level_bins(tuple(float(e) for e in edges))
    return np.bincount(bins, weights=sky.level_counts, minlength=len(edges) - 1)


@functools.lru_cache(maxsize=8)
def _spectrum_bins(h: int, w: int, n_bins: int):
    """A sparse ``[bins, rfft2 modes]`` matrix that averages the power in each
    bin of :func:`statistics.spectrum_bins` (the k = 0 mode in none)."""
    import scipy.sparse

    idx, centres = statistics.spectrum_bins(h, w, n_bins)
    flat = idx.ravel()
    cols = np.flatnonzero(flat >= 0)
    modes = np.bincount(flat[cols], minlength=len(centres))
    weights = (1.0 / modes[flat[cols]] / float(h * w) ** 2).astype(np.float32)
    return scipy.sparse.csr_matrix((weights, (flat[cols], cols)), shape=(len(centres), flat.size))


def power_spectrum(sky: Sky, n_bins: int = PS_BINS) -> np.ndarray:
    """:func:`statistics.power_spectrum` of the image (float32 FFT)."""
    x = sky.image
    mean = float(np.dot(np.arange(256), sky.level_counts)) / x.size
    delta = x.astype(np.float32)
    delta *= np.float32(1.0 / max(mean, 1e-6))
    delta -= np.float32(1.0)
    f = scipy.fft.rfft2(delta)
    power = np.square(f.real) + np.square(f.imag)
    return (_spectrum_bins(*x.shape, n_bins) @ power.ravel()).astype(np.float64)


def peak_counts(sky: Sky, thresholds=statistics.PEAK_THRESHOLDS) -> np.ndarray:
    """Local maxima of a 3x3 window above background + each threshold, equal to
    :func:`statistics.peak_counts` (outside the image counts as -inf)."""
    t = np.asarray(thresholds, np.float64)
    h, w = sky.image.shape
    candidates = np.flatnonzero(sky.above > t.min())  # only these can count
    # a candidate is above the background >= 0, so a zero border acts as -inf
    padded = np.pad(sky.image, 1)
    if sky.dense(len(candidates)):
        rows = np.maximum(np.maximum(padded[:, :-2], padded[:, 1:-1]), padded[:, 2:])
        mx = np.maximum(np.maximum(rows[:-2], rows[1:-1]), rows[2:]).ravel()
        mx = mx[sky.index[candidates]]
    else:
        y, x = np.divmod(sky.index[candidates], w)
        mx = np.max([padded[y + 1 + dy, x + 1 + dx] for dy in (-1, 0, 1) for dx in (-1, 0, 1)], 0)
    above = sky.above[candidates]
    above = above[above + sky.background >= mx.astype(np.int32)]
    return (above[:, None] > t).sum(0).astype(np.float64)


def _components(sky: Sky, threshold: float) -> np.ndarray:
    """Per component brighter than background + ``threshold`` ``[n, 4]``: flux above
    the background, area, peak above the background, pixels at or above half of it."""
    keep, labels, n = sky.label(threshold)
    vals = sky.above[keep].astype(np.float64)
    peak = np.zeros(n)
    np.maximum.at(peak, labels, vals)
    return np.stack(
        [
            np.bincount(labels, weights=vals, minlength=n),
            np.bincount(labels, minlength=n).astype(np.float64),
            peak,
            np.bincount(labels, weights=vals >= peak[labels] / 2.0, minlength=n),
        ],
        1,
    )


def catalogue(sky: Sky, thresholds=catalog.THRESHOLDS, flux_threshold: float = 5.0) -> dict:
    """Component counts above background + each of ``thresholds`` (equal to
    :func:`catalog.component_counts`), and the per-source table of the
    components above ``flux_threshold`` (:func:`catalog.catalog`'s flux and area;
    ``peak`` and ``half``, the pixels at or above half of it, above the background)."""
    table = _components(sky, flux_threshold)
    counts = [len(table) if t == flux_threshold else sky.count(t) for t in thresholds]
    return {
        "counts": np.asarray(counts, np.float64),
        "flux": table[:, 0],
        "area": table[:, 1],
        "peak": table[:, 2],
        "half": table[:, 3],
    }


def image_statistics(image: np.ndarray) -> dict[str, np.ndarray]:
    """The evaluation's per-image statistics of a uint8 image (see
    :mod:`cosmojax.evaluation.metrics`)."""
    sky = Sky(image)
    cat = catalogue(sky)
    return _evaluation_part(sky, cat)


def _evaluation_part(sky: Sky, cat: dict) -> dict[str, np.ndarray]:
    return {
        "histogram": np.log10(1.0 + histogram(sky)),
        "power_spectrum": np.log10(power_spectrum(sky) + 1e-12),
        "peak_counts": np.log10(1.0 + peak_counts(sky)),
        "source_counts": np.log10(1.0 + cat["counts"]),
        "source_flux": np.histogram(np.log10(np.maximum(cat["flux"], 1)), FLUX_BINS)[0].astype(
            np.float64
        ),
        "source_area": np.histogram(np.log10(np.maximum(cat["area"], 1)), AREA_BINS)[0].astype(
            np.float64
        ),
    }


def _level_quantile(counts: np.ndarray, q: float) -> int:
    """The first level at which the cumulative count reaches ``q`` of the total."""
    cdf = np.cumsum(counts)
    return int(np.searchsorted(cdf, q * cdf[-1]))


def _sky_noise(levels: np.ndarray) -> tuple[float, float]:
    """(median level, 1.4826 x the median absolute deviation) from level counts."""
    median = _level_quantile(levels, 0.5)
    dev = np.bincount(np.abs(np.arange(256) - median), weights=levels, minlength=256)
    return float(median), 1.4826 * _level_quantile(dev, 0.5)


def _extra(sky: Sky, cat: dict) -> np.ndarray:
    levels = sky.level_counts
    bright = cat["peak"] >= BRIGHT
    fwhm = 2.0 * np.sqrt(cat["half"][bright] / np.pi)
    median, noise = _sky_noise(levels)
    return np.asarray(
        [
            np.log10(1.0 + bright.sum()),
            np.median(fwhm) if len(fwhm) else 0.0,
            fwhm.max() if len(fwhm) else 0.0,
            np.log10(1.0 + levels[255]),  # saturated pixels
            np.log10(1.0 + np.sum(cat["peak"] + sky.background >= 255)),  # saturated sources
            float(sky.background),
            median,
            noise,
            np.log10(1e-3 + np.dot(np.arange(256), levels) / sky.image.size),
            float(np.nonzero(levels)[0].max()),
        ]
    )


EXTRA_NAMES = (
    "bright_sources",
    "fwhm_median",
    "fwhm_max",
    "saturated_pixels",
    "saturated_sources",
    "background",
    "sky_median",
    "sky_noise",
    "mean",
    "max",
)


def _fixed_spectrum(sky: Sky) -> np.ndarray:
    """log10 power in all :data:`PS_BINS` bins; a bin that no frequency of this image
    size falls in (small images only) is interpolated in log k from its neighbours."""
    h, w = sky.image.shape
    _, centres = statistics.spectrum_bins(h, w, PS_BINS)
    ps = np.log10(power_spectrum(sky, PS_BINS) + 1e-12)
    if len(centres) == PS_BINS:
        return ps
    edges = statistics.spectrum_edges(h, w, PS_BINS)
    every = np.sqrt(edges[:-1] * edges[1:])
    return np.interp(np.log(every), np.log(centres), ps)


def sky_sigma(levels: np.ndarray) -> tuple[float, float]:
    """(median level, one-sided robust noise ``(q75 - median) / 0.6745``) from level
    counts: the usual Gaussian sigma where the noise is symmetric, and still right
    where it is clipped at the floor (0 counts), which zeroes the MAD."""
    median = _level_quantile(levels, 0.5)
    return float(median), (_level_quantile(levels, 0.75) - median) / 0.6745


DETECT = 5.0  # a detection: counts above the sky (noise-free), or sigmas of the smoothed sky
GROW = 2.0  # a source's extent in noise: sigmas of the smoothed sky
NOISELESS = 0.5  # below this sky sigma (counts) the sky is treated as exact
SMOOTH = 5  # box width (px) of the detection filter on a noisy sky
CELLS = (4, 8)  # counts-in-cells grids


def photometry(sky: Sky) -> dict:
    """A photometric source catalogue: detections and their total fluxes.

    On an exact sky (noise sigma under :data:`NOISELESS`) a source is a component
    above sky + :data:`DETECT` counts, and its flux is that of every pixel above
    the sky around it: its component above the sky, shared among the detections
    inside it in proportion to their own fluxes (so the faint wings count,
    which an isophote at :data:`DETECT` loses). On a noisy sky detection and
    extent use the image smoothed by a :data:`SMOOTH` px box, at :data:`DETECT`
    and :data:`GROW` of its noise above the mean of the quiet sky, and fluxes
    are above that mean. Returns ``{"flux", "y", "x" (flux-weighted centres of
    the detections), "sigma" (:func:`sky_sigma`)}``."""
    median, sigma = sky_sigma(sky.level_counts)
    shape = sky.image.shape
    if sigma < NOISELESS:
        level = median - sky.background
        det_keep, det_lab, n_det = sky.label(level + DETECT)
        ext_keep, ext_lab, n_ext = sky.label(level)
        vals = sky.above.astype(np.float64) - level
        if n_det == 0:
            return _catalogue_of(np.zeros(0), np.zeros(0), np.zeros(0), sigma)
        pix = sky.index[det_keep]
        region = np.empty(len(sky.index), np.int64)
        region[ext_keep] = ext_lab
        region = region[det_keep]
        w = vals[det_keep]
    else:
        x = sky.image.astype(np.float32) - np.float32(median)
        quiet = x <= 2.0 * sigma
        s = ndimage.uniform_filter(x, SMOOTH)
        mean, noise = float(x[quiet].mean()), float(s[quiet].std())
        det_img, n_det = ndimage.label(s > mean + DETECT * noise, _EIGHT)
        if n_det == 0:
            return _catalogue_of(np.zeros(0), np.zeros(0), np.zeros(0), sigma)
        ext_img, n_ext = ndimage.label(s > mean + GROW * noise, _EIGHT)
        pix = np.flatnonzero(det_img)
        det_lab = det_img.ravel()[pix] - 1
        region = ext_img.ravel()[pix] - 1
        vals = (x - np.float32(mean)).ravel().astype(np.float64)
        w = vals[pix]
        ext_lab = ext_img.ravel()
        ext_keep = np.flatnonzero(ext_lab)
        ext_lab = ext_lab[ext_keep] - 1
    core = np.maximum(np.bincount(det_lab, weights=w, minlength=n_det), 1e-6)
    where = np.zeros(n_det, np.int64)
    where[det_lab] = region  # a detection lies inside one extent
    total = np.bincount(ext_lab, weights=vals[ext_keep], minlength=n_ext)
    shared = np.bincount(where, weights=core, minlength=n_ext)
    flux = total[where] * core / shared[where]
    y, x = np.divmod(pix, shape[1])
    wsum = np.bincount(det_lab, weights=np.maximum(w, 0), minlength=n_det) + 1e-12
    cy = np.bincount(det_lab, weights=np.maximum(w, 0) * y, minlength=n_det) / wsum
    cx = np.bincount(det_lab, weights=np.maximum(w, 0) * x, minlength=n_det) / wsum
    return _catalogue_of(flux, cy, cx, sigma)


def _catalogue_of(flux, y, x, sigma) -> dict:
    return {"flux": flux, "y": y, "x": x, "sigma": float(sigma)}


def _clustering(y: np.ndarray, x: np.ndarray, shape) -> list[float]:
    """log10 index of dispersion ``(var + 1) / (mean + 1)`` of the detections'
    counts in :data:`CELLS` grids, and log10 of their median nearest-neighbour
    distance in units of the mean spacing (0 with under two detections)."""
    out = []
    for g in CELLS:
        cells = np.histogram2d(y, x, g, [[0, shape[0]], [0, shape[1]]])[0].ravel()
        out.append(float(np.log10((cells.var() + 1.0) / (cells.mean() + 1.0))))
    if len(y) < 2:
        return [*out, 0.0]
    from scipy.spatial import cKDTree

    pts = np.stack([y, x], 1)
    d = cKDTree(pts).query(pts, 2)[0][:, 1]
    return [*out, float(np.log10(max(np.median(d), 1e-3) * np.sqrt(len(y) / np.prod(shape))))]


def _photometry_part(sky: Sky) -> np.ndarray:
    cat = photometry(sky)
    logf = np.log10(np.maximum(cat["flux"], 1.0))
    above = (logf[:, None] > FLUX_BINS[None, :-1]).sum(0)  # cumulative counts N(> F)
    return np.asarray(
        [
            *np.log10(1.0 + above),
            cat["sigma"],
            np.log10(1.0 + len(logf)),
            *_clustering(cat["y"], cat["x"], sky.image.shape),
        ]
    )


PHOTOMETRY_NAMES = (
    *[f"flux_above_{i}" for i in range(len(FLUX_BINS) - 1)],
    "sky_sigma",
    "detections",
    *[f"cells_dispersion_{g}" for g in CELLS],
    "nearest_neighbour",
)


def image_features(image: np.ndarray) -> np.ndarray:
    """The full-resolution statistics vector ``float32 [SIZE]`` of one uint8 image:
    the evaluation's statistics (histogram, power spectrum in all
    :data:`PS_BINS` bins, peaks, component counts, log10(1 + count) of the flux
    and area histograms), :data:`EXTRA_NAMES`, then the photometric catalogue's
    cumulative counts above each flux edge and the clustering of its detections
    (:data:`PHOTOMETRY_NAMES`, :func:`photometry`)."""
    sky = Sky(image)
    cat = catalogue(sky)
    parts = _evaluation_part(sky, cat)
    parts["power_spectrum"] = _fixed_spectrum(sky)
    parts["source_flux"] = np.log10(1.0 + parts["source_flux"])
    parts["source_area"] = np.log10(1.0 + parts["source_area"])
    return np.concatenate([*parts.values(), _extra(sky, cat), _photometry_part(sky)]).astype(
        np.float32
    )


NAMES = tuple(
    [
        f"{g}_{i}"
        for g, n in (
            ("histogram", len(statistics.HIST_EDGES) - 1),
            ("power_spectrum", PS_BINS),
            ("peak_counts", len(statistics.PEAK_THRESHOLDS)),
            ("source_counts", len(catalog.THRESHOLDS)),
            ("source_flux", len(FLUX_BINS) - 1),
            ("source_area", len(AREA_BINS) - 1),
        )
        for i in range(n)
    ]
    + list(EXTRA_NAMES)
    + list(PHOTOMETRY_NAMES)
)
SIZE = len(NAMES)
