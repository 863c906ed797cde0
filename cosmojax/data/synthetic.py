"""Calibrated synthetic CIL cosmology data set, written in exactly the real layout.

Usage::

    python -m cosmojax.data.synthetic --out DIR --size 1000 \\
        --labeled 1200 --scored 9600 --query 1200 --seed 0 --query_truth FILE

writes ``DIR/{labeled,scored,query}/<Id>.png`` (8-bit grayscale, 7-digit ids),
``DIR/labeled.csv`` and ``DIR/scored.csv`` (``Id,Actual``). The true query
scores go to ``--query_truth`` (never inside DIR). Output is a pure function of
the arguments: every image draws from its own generator seeded with
``(seed, split, index)``, so the worker count does not change a byte.

Image model (calibrated on a real ``labeled/`` image; see
``benchmarks/data_realism.py``):

* Sources: point sources with a Moffat PSF (alpha 0.9-1.6 px, beta 2.3-3.5, one
  PSF per image) and Sersic galaxies (n 0.5-3, effective radius 1.2-6 px, axis
  ratio 0.35-1). Fluxes follow a power law ``N(>F) ~ F**-a`` with a in
  [0.5, 0.75] from F = 2.5 counts, so ~18% of the ~50 detected sources are
  brighter than 20. Stars saturate with a soft knee at 200 (asymptote 255) and
  the brightest bleed a few pixels along the column, as on the real sensor.
* Background: exactly 0 in 80% of images, a constant 1 or 2 otherwise.
* Irrelevant images: natural photographs shipped inside scikit-image (random
  crop, rotation, flip, gamma), never downloaded.

Corruptions of ``scored``/``query`` cosmology images, each switched on with its
probability and given a strength c in (0, 1]:

  noise       additive Gaussian noise, sigma = 1 + 30c, clipped at 0
  blur        Gaussian blur, sigma = 0.8 + 5c px
  density     source count times exp(+-2.3c)
  gain        all fluxes times 10**(+-1.2c)
  artifacts   1 + 8c streaks and patches of intensity 30-255
  clustering  a fraction c of the sources packed into 1-3 clumps
  pixelation  blocks of 2 + 10c px

Score (the function :func:`raw_quality` and the monotone map :func:`to_score`)::

  raw   = Q_pop * prod_k (1 - w_k c_k)        (w: noise .9, blur .85, gain .8,
                                               artifacts .85, clustering .7,
                                               pixelation .85)
  Q_pop = exp(-0.5 (ln(n_bright / 12) / 0.55)**2)

where n_bright = sum_i min(1, F_i / 160)**2 is a soft count of the sources
whose total flux F_i (after gain) exceeds 160 counts, about the flux that
peaks at 20 counts with the typical PSF (blur and pixelation keep flux, so
this survives corruption; fainter sources count fractionally, so the score
has no ties). ``score = T^-1(F(raw))`` maps raw through its own
distribution function F under the generator's prior (a fixed 20,000-draw
table) onto the real ``scored.csv`` histogram T (13 bins of 0.5 from 0, max 6.25), so
the scores are distributed like the real ones, bimodal with peaks near 0 and
1.5. Natural photographs (8% of scored) score 0.0075 * u with u their crop
fraction, i.e. at most 0.0075. ``labeled``: 1000 clean cosmology images per
1200 with label 1; the rest label 0, half photographs and half cosmology images
with two strong (c >= 0.6) corruptions.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import importlib.resources
import multiprocessing
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage
from scipy.special import gammaln

from cosmojax import console
from cosmojax.data import layout
from cosmojax.data.resample import area_resize
from cosmojax.data.sensor import KNEE, soft_saturate

NATIVE = layout.IMAGE_SIZE
SPLIT_CODE = {"labeled": 1, "scored": 2, "query": 3}
PHOTO_FRACTION = 0.08  # natural photographs among scored/query images
PHOTO_MAX_SCORE = 0.0075
LABELED_POSITIVE_FRACTION = 1000 / 1200
BRIGHT_FLUX = 160.0  # a bright source, for the score: total flux above 160 counts (blur keeps flux)

# Real scored.csv: counts per 0.5-wide bin from 0 (the last bin ends at the max 6.25).
REAL_SCORE_BIN_COUNTS = (1532, 738, 2515, 1848, 1007, 795, 572, 294, 175, 80, 34, 7, 3)
REAL_SCORE_MAX = 6.25
COSMOLOGY_MIN_SCORE = 0.01

CORRUPTIONS = {  # name: (probability in scored/query, weight in the score)
    "noise": (0.30, 0.90),
    "blur": (0.25, 0.85),
    "density": (0.35, 0.00),  # acts through the source population
    "gain": (0.30, 0.80),
    "artifacts": (0.20, 0.85),
    "clustering": (0.25, 0.70),
    "pixelation": (0.15, 0.85),
}
PHOTO_NAMES = (
    "astronaut.png",
    "brick.png",
    "camera.png",
    "cell.png",
    "chelsea.png",
    "coffee.png",
    "coins.png",
    "grass.png",
    "gravel.png",
    "horse.png",
    "moon.png",
    "page.png",
    "text.png",
    "motorcycle_left.png",
    "rocket.jpg",
    "retina.jpg",
    "clock_motion.png",
    "ihc.png",
    "microaneurysms.png",
    "color.png",
    "logo.png",
    "phantom.png",
)


# --------------------------------------------------------------------------- params
@dataclasses.dataclass
class Sources:
    """Source list as arrays (galaxy shape fields are unused for stars)."""

    is_galaxy: np.ndarray
    x: np.ndarray
    y: np.ndarray
    flux: np.ndarray
    n: np.ndarray
    r_e: np.ndarray
    q: np.ndarray
    theta: np.ndarray

    def __len__(self):
        return len(self.flux)


@dataclasses.dataclass
class CosmologyParams:
    alpha: float
    beta: float
    background: int
    sources: Sources
    corruptions: dict[str, float]  # name -> strength c; gain/density carry a sign
    gain_shift: float = 0.0  # the whole set's gain (``generate(gain=)``), in the same units

    @property
    def gain(self) -> float:
        return 10.0 ** (1.2 * (self.corruptions.get("gain", 0.0) + self.gain_shift))

    def peaks(self) -> np.ndarray:
        """Peak counts of every source before saturation (gain included)."""
        s = self.sources
        star = s.flux * (self.beta - 1) / (np.pi * self.alpha**2)
        b = _sersic_b(s.n)
        soft = np.exp(-b * ((0.5 / s.r_e) ** (1 / s.n) - 1))  # centre softened by 0.5 px
        galaxy = s.flux * soft / (_sersic_norm(s.n, b) * s.r_e**2 * s.q)
        return self.gain * np.where(s.is_galaxy, galaxy, star)

    @property
    def n_bright(self) -> float:
        """Soft count of the sources brighter than BRIGHT_FLUX in total flux (gain included)."""
        return float(np.sum(np.minimum(1.0, self.gain * self.sources.flux / BRIGHT_FLUX) ** 2))


def _sersic_b(n):
    return 2.0 * n - 1.0 / 3.0 + 0.009876 / n


def _sersic_norm(n, b):
    """Integral of exp(-b((r/r_e)^(1/n) - 1)) over the plane, in units of r_e**2."""
    return 2 * np.pi * n * np.exp(b) * np.exp(gammaln(2 * n)) / b ** (2 * n)


def sample_population(rng: np.random.Generator, density: float = 0.0, clustering: float = 0.0):
    """Draws PSF, galaxy fraction and the sources of one cosmology image."""
    alpha = rng.uniform(1.6, 2.4)
    beta = rng.uniform(2.2, 3.0)
    lam = np.exp(rng.uniform(np.log(32), np.log(150))) * np.exp(2.3 * density)
    n = max(1, int(rng.poisson(lam)))
    gal_frac = rng.uniform(0.2, 0.8)
    slope = rng.uniform(0.38, 0.58)
    f_min, f_max = 2.5, 2e5
    tail = (f_max / f_min) ** (-slope)
    flux = f_min * (1 - rng.uniform(size=n) * (1 - tail)) ** (-1 / slope)  # truncated power law
    is_gal = rng.uniform(size=n) < gal_frac
    xy = rng.uniform(8, NATIVE - 8, size=(n, 2))
    if clustering > 0:
        n_clumps = int(rng.integers(1, 4))
        centres = rng.uniform(150, NATIVE - 150, size=(n_clumps, 2))
        spread = rng.uniform(25, 80)
        moved = rng.uniform(size=n) < clustering
        which = rng.integers(0, n_clumps, size=n)
        jitter = rng.normal(0, spread, (int(moved.sum()), 2))
        xy[moved] = np.clip(centres[which[moved]] + jitter, 8, NATIVE - 8)
    sources = Sources(
        is_galaxy=is_gal,
        x=xy[:, 0],
        y=xy[:, 1],
        flux=np.where(is_gal, 1.5 * flux, flux),
        n=rng.uniform(0.5, 3.0, n),
        r_e=np.exp(rng.uniform(np.log(1.2), np.log(8.0), n)),
        q=rng.uniform(0.35, 1.0, n),
        theta=rng.uniform(0, np.pi, n),
    )
    return alpha, beta, sources


def sample_corruptions(rng: np.random.Generator, mode: str) -> dict[str, float]:
    """Corruption strengths: none (``clean``), the scored prior, or two strong ones."""
    out: dict[str, float] = {}
    if mode == "clean":
        return out
    if mode == "strong":
        for name in rng.choice(sorted(k for k in CORRUPTIONS if k != "density"), 2, replace=False):
            out[str(name)] = rng.uniform(0.6, 1.0)
    else:
        for name, (prob, _) in CORRUPTIONS.items():
            if rng.uniform() < prob:
                out[name] = rng.uniform(0.05, 1.0)
    for signed in ("gain", "density"):
        if signed in out and rng.uniform() < 0.5:
            out[signed] = -out[signed]
    return out


def sample_cosmology(
    rng: np.random.Generator, mode: str = "scored", density: float = 0.0, gain: float = 0.0
) -> CosmologyParams:
    """One image's parameters; ``density`` and ``gain`` shift the whole set's
    source counts (times exp(2.3 density)) and fluxes (times 10**(1.2 gain)) on
    top of the image's own corruptions."""
    corruptions = sample_corruptions(rng, mode)
    alpha, beta, sources = sample_population(
        rng, corruptions.get("density", 0.0) + density, corruptions.get("clustering", 0.0)
    )
    background = 0 if rng.uniform() < 0.8 else int(rng.integers(1, 3))
    return CosmologyParams(alpha, beta, background, sources, corruptions, gain_shift=gain)


# --------------------------------------------------------------------------- score
def raw_quality(p: CosmologyParams) -> float:
    """Unmapped quality in (0, 1]; see the module doc for the formula."""
    n_b = max(p.n_bright, 0.5)
    q_pop = np.exp(-0.5 * (np.log(n_b / 12.0) / 0.55) ** 2)
    penalty = 1.0
    for name, c in p.corruptions.items():
        penalty *= 1.0 - CORRUPTIONS[name][1] * abs(c)
    return float(q_pop * penalty)


@functools.lru_cache(maxsize=1)
def _raw_table() -> np.ndarray:
    """Sorted raw qualities of 20,000 draws from the scored prior (fixed seed)."""
    rng = np.random.default_rng(20180429)
    vals = np.sort([raw_quality(sample_cosmology(rng, "scored")) for _ in range(20_000)])
    return vals


@functools.lru_cache(maxsize=1)
def _target_quantiles() -> tuple[np.ndarray, np.ndarray]:
    """Piecewise-linear inverse CDF of the real cosmology-image scores."""
    counts = np.asarray(REAL_SCORE_BIN_COUNTS, np.float64)
    counts[0] -= PHOTO_FRACTION * counts.sum()  # photographs sit in the first bin
    edges = np.arange(len(counts) + 1) * 0.5
    edges[0], edges[-1] = COSMOLOGY_MIN_SCORE, REAL_SCORE_MAX
    cdf = np.concatenate([[0.0], np.cumsum(counts) / counts.sum()])
    return cdf, edges


def to_score(raw: float) -> float:
    """Maps a raw quality onto the real score distribution (monotone)."""
    table = _raw_table()
    u = np.searchsorted(table, raw, side="left") + np.searchsorted(table, raw, side="right")
    u = np.clip(u / (2.0 * len(table)), 0.0, 1.0)
    cdf, edges = _target_quantiles()
    return float(np.interp(u, cdf, edges))


# --------------------------------------------------------------------------- render
def _moffat(dx, dy, p: CosmologyParams, flux):
    r2 = dx * dx + dy * dy
    return flux * (p.beta - 1) / (np.pi * p.alpha**2) * (1 + r2 / p.alpha**2) ** (-p.beta)


def _sersic(dx, dy, flux, n, r_e, q, theta):
    c, si = np.cos(theta), np.sin(theta)
    u = dx * c + dy * si
    v = (-dx * si + dy * c) / q
    r = np.sqrt(u * u + v * v + 0.25)
    b = _sersic_b(n)
    return flux * np.exp(-b * ((r / r_e) ** (1 / n) - 1)) / (_sersic_norm(n, b) * r_e**2 * q)


def _add_stamp(canvas, x, y, radius, fn):
    h, w = canvas.shape
    cx, cy = int(round(x)), int(round(y))
    x0, x1 = max(cx - radius, 0), min(cx + radius + 1, w)
    y0, y1 = max(cy - radius, 0), min(cy + radius + 1, h)
    if x0 >= x1 or y0 >= y1:
        return
    yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    canvas[y0:y1, x0:x1] += fn(xx - x, yy - y).astype(np.float32)


def render_cosmology(p: CosmologyParams, rng: np.random.Generator) -> np.ndarray:
    """Renders a 1000x1000 uint8 image of the population with its corruptions."""
    canvas = np.zeros((NATIVE, NATIVE), np.float32)
    s, gain = p.sources, p.gain
    for i, peak in enumerate(p.peaks()):
        if peak < 0.2:
            continue
        x, y, flux = s.x[i], s.y[i], gain * s.flux[i]
        if not s.is_galaxy[i]:
            radius = int(min(40, np.ceil(p.alpha * np.sqrt((peak / 0.2) ** (1 / p.beta) - 1)) + 1))
            _add_stamp(canvas, x, y, radius, lambda dx, dy, f=flux: _moffat(dx, dy, p, f))
            if peak > 1500:  # a saturated sensor bleeds along the column
                length = 1.5 * np.log2(peak / 1500) + 1
                _add_stamp(
                    canvas,
                    x,
                    y,
                    int(np.ceil(length)) + 2,
                    lambda dx, dy, L=length: (
                        0.6
                        * KNEE
                        * np.exp(-0.5 * (dx / 0.5) ** 2)
                        * np.clip(L + 1 - np.abs(dy), 0, 1)
                    ),
                )
        else:
            radius = int(min(60, np.ceil(s.r_e[i] * (3 + 2 * s.n[i]))))
            shape = (s.n[i], s.r_e[i], s.q[i], s.theta[i])
            _add_stamp(canvas, x, y, radius, lambda dx, dy, f=flux, g=shape: _sersic(dx, dy, f, *g))
    c = p.corruptions
    if "blur" in c:
        canvas = ndimage.gaussian_filter(canvas, 0.8 + 5 * c["blur"], truncate=3.0)
    if "artifacts" in c:
        canvas += _artifacts(rng, c["artifacts"])
    if "pixelation" in c:
        block = 2 + int(round(10 * c["pixelation"]))
        small = area_resize(canvas, max(1, NATIVE // block))
        idx = np.arange(NATIVE) * small.shape[0] // NATIVE
        canvas = small[idx][:, idx]
    canvas = soft_saturate(canvas) + p.background
    if "noise" in c:
        canvas = canvas + rng.normal(0.0, 1 + 30 * c["noise"], canvas.shape).astype(np.float32)
    return np.clip(np.rint(canvas), 0, 255).astype(np.uint8)


def _artifacts(rng, c) -> np.ndarray:
    layer = np.zeros((NATIVE, NATIVE), np.float32)
    for _ in range(1 + int(8 * c)):
        if rng.uniform() < 0.7:  # streak
            x0, y0 = rng.uniform(0, NATIVE, 2)
            ang, length = rng.uniform(0, np.pi), rng.uniform(100, 900)
            t = np.linspace(0, length, int(length * 2))
            xs = np.clip((x0 + t * np.cos(ang)).astype(int), 0, NATIVE - 1)
            ys = np.clip((y0 + t * np.sin(ang)).astype(int), 0, NATIVE - 1)
            layer[ys, xs] = rng.uniform(30, 255)
        else:  # rectangular patch
            x0, y0 = rng.integers(0, NATIVE - 40, 2)
            w, h = rng.integers(10, 120, 2)
            layer[y0 : y0 + h, x0 : x0 + w] += rng.uniform(10, 80)
    return ndimage.gaussian_filter(layer, 0.7)


@functools.cache
def _photo(name: str) -> np.ndarray:
    ref = importlib.resources.files("skimage.data").joinpath(name)
    with importlib.resources.as_file(ref) as path, Image.open(path) as im:
        return np.asarray(im.convert("L"), np.float32)


def photo_names() -> tuple[str, ...]:
    base = importlib.resources.files("skimage.data")
    return tuple(n for n in PHOTO_NAMES if base.joinpath(n).is_file())


def render_photo(rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """A natural photograph made irrelevant image; returns (uint8 image, crop fraction)."""
    names = photo_names()
    src = _photo(names[int(rng.integers(len(names)))])
    h, w = src.shape
    frac = rng.uniform(0.35, 1.0)
    ch, cw = max(8, int(h * frac)), max(8, int(w * frac))
    y0, x0 = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
    crop = src[y0 : y0 + ch, x0 : x0 + cw]
    im = Image.fromarray(crop).resize((NATIVE, NATIVE), Image.BILINEAR)
    arr = np.asarray(im, np.float32) / 255.0
    arr = np.rot90(arr, int(rng.integers(4)))
    if rng.uniform() < 0.5:
        arr = arr[:, ::-1]
    arr = arr ** rng.uniform(0.6, 1.6)
    return np.clip(np.rint(arr * 255), 0, 255).astype(np.uint8), float(frac)


# --------------------------------------------------------------------------- splits
def split_plan(split: str, n: int, seed: int) -> list[str]:
    """Kind of every image of a split: ``clean``, ``strong``, ``scored`` or ``photo``."""
    rng = np.random.default_rng([seed, SPLIT_CODE[split], 0])
    if split == "labeled":
        n_pos = int(round(n * LABELED_POSITIVE_FRACTION))
        n_photo = (n - n_pos) // 2
        kinds = ["clean"] * n_pos + ["photo"] * n_photo + ["strong"] * (n - n_pos - n_photo)
    else:
        n_photo = int(round(n * PHOTO_FRACTION))
        kinds = ["photo"] * n_photo + ["scored"] * (n - n_photo)
    return [kinds[i] for i in rng.permutation(n)]


def make_ids(total: int, seed: int) -> list[str]:
    """Unique 7-digit ids (1000000-9999999)."""
    rng = np.random.default_rng([seed, 0, 0])
    return [str(1_000_000 + int(v)) for v in rng.choice(9_000_000, size=total, replace=False)]


def _draw(seed: int, split: str, index: int, kind: str, density=0.0, gain=0.0):
    """``(parameters or None for a photograph, the rng that goes on to render)``."""
    rng = np.random.default_rng([seed, SPLIT_CODE[split], index + 1])
    return (None if kind == "photo" else sample_cosmology(rng, kind, density, gain)), rng


def make_image(
    seed: int, split: str, index: int, kind: str, density: float = 0.0, gain: float = 0.0
) -> tuple[np.ndarray, float]:
    """Renders one image; returns (uint8 [1000, 1000], target: label or score)."""
    params, rng = _draw(seed, split, index, kind, density, gain)
    if params is None:
        img, frac = render_photo(rng)
        return img, 0.0 if split == "labeled" else PHOTO_MAX_SCORE * (frac - 0.35) / 0.65
    img = render_cosmology(params, rng)
    if split == "labeled":
        return img, 1.0 if kind == "clean" else 0.0
    return img, to_score(raw_quality(params))


def parameters(
    labeled: int = 1200, scored: int = 9600, query: int = 1200, seed: int = 0
) -> dict[str, CosmologyParams | None]:
    """The drawn parameters of every image of the set :func:`generate` writes with
    these arguments, by id (None for a natural photograph). For diagnostics on
    the synthetic set only (what a scorer could know at best); nothing trains on them."""
    counts = {"labeled": labeled, "scored": scored, "query": query}
    jobs, _ = _plan(counts, seed, Path("."), NATIVE)
    return {job[4]: _draw(*job[:4])[0] for job in jobs}


def _work(job):
    seed, split, index, kind, image_id, folder, size, density, gain = job
    img, target = make_image(seed, split, index, kind, density, gain)
    if size != NATIVE:
        img = np.clip(np.rint(area_resize(img, size)), 0, 255).astype(np.uint8)
    layout.write_png(Path(folder) / split / f"{image_id}.png", img)
    return split, index, target


def _check_arguments(out: Path, counts: dict, query_truth) -> None:
    for split, n in counts.items():
        if n < 1:
            raise ValueError(f"--{split} must be at least 1, got {n}")
    if out.exists() and any(out.iterdir()):
        raise FileExistsError(f"{out}: already exists and is not empty")
    if query_truth is not None:
        qt = Path(query_truth).expanduser().resolve()
        if out == qt.parent or out in qt.parents:
            raise ValueError(f"--query_truth {qt} must lie outside the data folder {out}")


def _plan(
    counts: dict, seed: int, folder: Path, size: int, density: float = 0.0, gain: float = 0.0
) -> tuple[list, dict]:
    """``(jobs, ids per split)``: one job per image, ids drawn once for all splits."""
    ids = make_ids(sum(counts.values()), seed)
    jobs, split_ids, start = [], {}, 0
    for split, n in counts.items():
        split_ids[split] = ids[start : start + n]
        for i, kind in enumerate(split_plan(split, n, seed)):
            jobs.append(
                (seed, split, i, kind, split_ids[split][i], str(folder), size, density, gain)
            )
        start += n
    return jobs, split_ids


def _run_jobs(jobs: list, counts: dict, workers: int, desc: str, progress: bool) -> dict:
    """Renders and writes every image; returns the targets per split, in index order."""
    targets = {s: np.zeros(n, np.float64) for s, n in counts.items()}
    bar = console.progress(total=len(jobs), desc=desc, unit="img", enabled=progress)
    if workers > 1:
        ctx = multiprocessing.get_context("spawn")
        with ctx.Pool(workers) as pool:
            for split, index, target in pool.imap_unordered(_work, jobs, chunksize=4):
                targets[split][index] = target
                bar.update()
    else:
        for job in jobs:
            split, index, target = _work(job)
            targets[split][index] = target
            bar.update()
    bar.close()
    return targets


def generate(
    out: str | os.PathLike,
    *,
    labeled: int = 1200,
    scored: int = 9600,
    query: int = 1200,
    seed: int = 0,
    size: int = NATIVE,
    query_truth: str | os.PathLike | None = None,
    workers: int | None = None,
    progress: bool = True,
    density: float = 0.0,
    gain: float = 0.0,
) -> Path:
    """Writes the data set to ``out`` atomically (temporary folder, then rename).
    ``density`` and ``gain`` make another sky than the default set's: every
    image's source count times exp(2.3 density), every flux times
    10**(1.2 gain) (more saturated stars above 0), on top of its own draws."""
    out = Path(out).expanduser().resolve()
    counts = {"labeled": labeled, "scored": scored, "query": query}
    _check_arguments(out, counts, query_truth)
    _raw_table()  # build once here; spawned workers build their own
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    for split in counts:
        (tmp / split).mkdir(parents=True)
    jobs, split_ids = _plan(counts, seed, tmp, size, density, gain)
    workers = workers or os.cpu_count() or 1
    try:
        targets = _run_jobs(jobs, counts, workers, f"synthetic -> {out.name}", progress)
        layout.write_csv(tmp / "labeled.csv", split_ids["labeled"], targets["labeled"], digits=1)
        layout.write_csv(tmp / "scored.csv", split_ids["scored"], targets["scored"])
        if out.exists():
            out.rmdir()
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if query_truth is not None:
        layout.write_csv(query_truth, split_ids["query"], targets["query"])
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True, help="data folder to create (must not exist)")
    p.add_argument("--size", type=int, default=NATIVE, help="image side in pixels")
    p.add_argument("--labeled", type=int, default=1200)
    p.add_argument("--scored", type=int, default=9600)
    p.add_argument("--query", type=int, default=1200)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--query_truth", default=None, help="CSV for the true query scores")
    p.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    p.add_argument(
        "--density", type=float, default=0.0, help="every source count times exp(2.3 density)"
    )
    p.add_argument("--gain", type=float, default=0.0, help="every flux times 10**(1.2 gain)")
    args = p.parse_args(argv)
    t0 = time.time()
    try:
        out = generate(
            args.out,
            labeled=args.labeled,
            scored=args.scored,
            query=args.query,
            seed=args.seed,
            size=args.size,
            query_truth=args.query_truth,
            workers=args.workers,
            density=args.density,
            gain=args.gain,
        )
    except (ValueError, FileExistsError) as e:
        sys.exit(f"error: {e}")
    n = args.labeled + args.scored + args.query
    print(f"wrote {n} images to {out} in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
