"""How generator runs choose their checkpoints: the statistics Fréchet distance
of a fixed sample, not the loss.

At every evaluation, ``config.eval_generated`` images are drawn with fixed
keys, upscaled to the data format (1000x1000) exactly as ``cosmojax.generate``
writes them, and compared by :func:`cosmojax.evaluation.metrics.frechet` of
their per-image statistics with the same number of real label-1 images of
``labeled/`` (read once per task). The distance is logged as
``eval_stats_frechet`` and the checkpoint manager keeps the lowest, which
``sampling.load`` (and so ``cosmojax.generate``) restores by default: a loss
says little about how the images look, and the -ELBO and GAN losses are not
even comparable across runs.

A generator run also writes the source library of its upscaler into its
workdir (``sources.npz``, :class:`cosmojax.upscale.SourceLibrary`): the
full-resolution sources of up to ``data.library_images`` of its training
images (the training side of the split), read once when training starts and
kept for resumption and sampling. The fixed sample is upscaled with it, as
``cosmojax.generate`` upscales.
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path

import jax
import numpy as np

from cosmojax import upscale as upscale_lib
from cosmojax.data import layout, pipeline, sources
from cosmojax.data import sky as sky_lib
from cosmojax.evaluation import metrics
from cosmojax.evaluation import real as real_lib

EVAL_KEY = 20181  # the sample's key: the same images' latents at every evaluation


@functools.lru_cache(maxsize=4)
def real_vectors(data_dir: str, n: int) -> tuple[np.ndarray, int]:
    """Statistics vectors of ``n`` label-1 images (a fixed choice) at their own
    size, and that size (1000 for the CIL data)."""
    real = real_lib.load_real(data_dir, n, seed=0)
    return metrics.stat_vectors(metrics.image_statistics(real)), int(real.shape[-1])


def selected_images(config) -> tuple[list[str], list[Path]]:
    """``(ids, paths)`` of the images a generator learns (label-1 ``labeled`` and
    ``scored`` at or above ``data.score_threshold``), as
    :meth:`GeneratorTask.dataset` selects them, both sides of the split."""
    d = config.data
    root = sources.resolve_data_dir(d.dir or None)
    ids, paths = [], []
    for split, keep in (
        ("labeled", lambda t: t == 1),
        ("scored", lambda t: t >= d.score_threshold),
    ):
        for i, p, t in zip(*layout.list_split(root, split), strict=True):
            if keep(t):
                ids.append(i)
                paths.append(p)
    return ids, paths


def library_paths(config) -> list[Path]:
    """The full-resolution PNGs the source library is read from: the generator's
    training images (:func:`selected_images`, training side of the split), at
    most ``data.library_images`` of them, chosen by ``seed``. The validation
    side is drawn over the selected images of both splits together, as
    ``split_train_val`` draws it."""
    d = config.data
    ids, paths = selected_images(config)
    val = pipeline.validation_mask(ids, d.val_fraction, d.split_seed)
    chosen = [p for p, v in zip(paths, val, strict=True) if not v]
    order = np.random.default_rng([int(config.seed), 3]).permutation(len(chosen))
    return [chosen[i] for i in order[: int(d.get("library_images", 500))]]


def workdir_library(config, workdir, write: bool = True):
    """The run's source library: ``workdir/sources.npz`` if it exists (a resumed
    run keeps its own), else built from :func:`library_paths` and (``write``)
    saved there. A run resumed from checkpoints made without a library keeps the
    ``sources`` upscaler (None), so that its checkpoints stay comparable."""
    path = Path(workdir) / upscale_lib.LIBRARY_FILE
    d = config.data
    if path.is_file():
        library = upscale_lib.SourceLibrary.load(path)
        if (library.resolution, library.downsample) != (int(d.resolution), str(d.downsample)):
            raise ValueError(
                f"{path}: a library of {library.downsample!r} images at {library.resolution}, "
                f"but data.downsample={d.downsample!r} and data.resolution={d.resolution}"
            )
        return library
    ckpts = Path(workdir) / "checkpoints"
    if ckpts.is_dir() and any(p.name.isdigit() for p in ckpts.iterdir()):
        print(
            f"{workdir}: checkpoints without {path.name}; upscaling by 'sources'", file=sys.stderr
        )
        return None
    paths = library_paths(config)
    print(f"Reading the sources of {len(paths)} training images", file=sys.stderr, flush=True)
    library = upscale_lib.SourceLibrary.build(
        (layout.read_png(p) for p in paths), config.data.resolution, config.data.downsample
    )
    if write:
        library.save(path)
    return library


def workdir_sky(config, workdir, train_images, write: bool = True) -> sky_lib.SkyLevels | None:
    """With ``data.sky`` ``draw``: the sky levels of the run's training images,
    ``workdir/sky.json`` if it exists, else taken from ``train_images()`` (the
    model-resolution training split, as the train step sees it) and
    (``write``) saved there. ``None`` with ``keep``."""
    if sky_lib.mode(config.data) == "keep":
        return None
    path = Path(workdir) / sky_lib.SKY_FILE
    if path.is_file():
        return sky_lib.SkyLevels.load(path)
    levels = sky_lib.SkyLevels.from_images(train_images())
    if write:
        levels.save(path)
    return levels


def read_sky(config, workdir) -> sky_lib.SkyLevels | None:
    """The sky levels a trained ``data.sky`` ``draw`` run saved (sampling)."""
    if sky_lib.mode(config.data) == "keep":
        return None
    path = Path(workdir) / sky_lib.SKY_FILE
    if not path.is_file():
        raise ValueError(f"{path}: missing; a run with data.sky='draw' writes it when it starts")
    return sky_lib.SkyLevels.load(path)


def stats_frechet(config, sample_fn, library=None) -> float:
    """``sample_fn(key, n) -> [n, r, r]`` intensities; the distance to the real set."""
    n = int(config.eval_generated)
    real, size = real_vectors(config.data.dir, n)
    small = np.asarray(sample_fn(jax.random.PRNGKey(EVAL_KEY), n))
    big = upscale_lib.full_size(small, size, downsample=config.data.downsample, library=library)
    gen = metrics.stat_vectors(metrics.image_statistics(big))
    return float(metrics.frechet(real, gen))


class GeneratorTask:
    """What the generator tasks (VAE, GAN) share: checkpoints chosen by the
    statistics Fréchet distance, and the workdir's source library."""

    best_metric = "eval_stats_frechet"
    data_description = (
        "label-1 labeled and scored at or above data.score_threshold, training side of the split"
    )
    library = None  # a SourceLibrary once prepare_workdir ran; None: the ``sources`` upscaler
    sky = None  # data.sky 'draw': the SkyLevels the generator draws from (sky.json)

    def dataset(self) -> pipeline.Split:
        """Label-1 ``labeled`` images plus ``scored`` images at or above
        ``data.score_threshold``: the images a generator learns."""
        d = self.config.data
        labeled = pipeline.load_split(d.dir, "labeled", d.resolution, d.downsample)
        scored = pipeline.load_split(d.dir, "scored", d.resolution, d.downsample)
        return pipeline.Split.concat(
            labeled.take(labeled.targets == 1),
            scored.take(scored.targets >= d.score_threshold),
        )

    def prepare_workdir(self, workdir, is_main: bool) -> None:
        self.library = workdir_library(self.config, workdir, write=is_main)
        self.sky = workdir_sky(self.config, workdir, lambda: self.train.images, write=is_main)

    def read_workdir(self, workdir) -> None:
        """What sampling needs from a trained run's workdir besides checkpoints."""
        self.sky = read_sky(self.config, workdir)

    def stats_frechet(self, sample_fn) -> float:
        return stats_frechet(self.config, sample_fn, self.library)
