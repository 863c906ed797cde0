"""Scoring images with a trained scorer, from Python.

    >>> from cosmojax import scoring
    >>> s = scoring.load("runs/scorer")          # best checkpoint by validation MAE
    >>> s.score(images)                          # uint8 [N, H, W], any H, W
    array([1.53, 0.02, ...], dtype=float32)      # in [0, 8]

Images are reduced to the model's resolution with the same area resampling as
the training data (:mod:`cosmojax.data.resample`); a scorer that reads
full-resolution statistics computes them from the images as given, as
preparation does (:func:`full_resolution_stats`).

Several workdirs make an ensemble: each member scores the images at its own
resolution and the scores are averaged (or their median taken):

    >>> e = scoring.load(["runs/s0", "runs/s1", "runs/s2"], reduce="median")
    >>> e.score(images)
"""

from __future__ import annotations

import dataclasses
import functools
import os
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from cosmojax.data import layout, resample
from cosmojax.evaluation import features

SCORE_MIN, SCORE_MAX = layout.SCORE_MIN, layout.SCORE_MAX


@dataclasses.dataclass
class Scorer:
    config: object
    params: object
    model_state: dict
    apply_fn: object
    step: int
    batch_size: int = 64

    @property
    def resolution(self) -> int:
        return int(self.config.data.resolution)

    @property
    def with_stats(self) -> bool:
        """Whether the model also reads each image's full-resolution statistics."""
        from cosmojax.models import scorer

        if not scorer.reads_stats(self.config.model):
            return False
        features.check_version(self.config.model.get("stats_version", 1), "model.stats_version")
        return True

    @functools.cached_property
    def _forward(self):
        def fwd(params, model_state, *inputs):
            pred = self.apply_fn({"params": params, **model_state}, *inputs, train=False)
            return jnp.clip(pred, SCORE_MIN, SCORE_MAX)

        return jax.jit(fwd)

    @functools.cached_property
    def _penultimate(self):
        def features(params, model_state, *inputs):
            _, inter = self.apply_fn(
                {"params": params, **model_state},
                *inputs,
                capture_intermediates=True,
                mutable=["intermediates"],
            )
            inter = inter["intermediates"]
            dense = sorted(
                (k for k in inter if k.startswith("Dense_")), key=lambda k: int(k.split("_")[1])
            )
            return inter[dense[-2]]["__call__"][0]

        return jax.jit(features)

    def _batched(self, fn, images: np.ndarray, stats: np.ndarray | None) -> np.ndarray:
        """``fn(params, model_state, batch[, stats])`` over ``images`` ``[N, r, r]`` in
        batches of ``batch_size``, the last one padded: one compiled shape."""
        images = np.asarray(images, np.float32)[..., None]
        arrays = [images]
        if self.with_stats:
            if stats is None:
                raise ValueError(
                    "this scorer reads full-resolution statistics: give stats, or score "
                    "uint8 images with score()"
                )
            stats = np.asarray(stats, np.float32)
            if stats.shape != (len(images), features.SIZE):
                raise ValueError(
                    f"stats: expected shape ({len(images)}, {features.SIZE}), one full-"
                    f"resolution statistics vector per image, got {stats.shape}"
                )
            arrays.append(stats)
        out = []
        for start in range(0, len(images), self.batch_size):
            chunks = [a[start : start + self.batch_size] for a in arrays]
            n = len(chunks[0])
            if n < self.batch_size:
                chunks = [
                    np.concatenate([c, np.zeros((self.batch_size - n, *c.shape[1:]), np.float32)])
                    for c in chunks
                ]
            out.append(np.asarray(fn(self.params, self.model_state, *chunks))[:n])
        if not out:
            shape = jax.eval_shape(
                fn, self.params, self.model_state, *(jnp.zeros((1, *a.shape[1:])) for a in arrays)
            ).shape
            return np.zeros((0, *shape[1:]), np.float32)
        return np.concatenate(out)

    def score_prepared(self, images: np.ndarray, stats: np.ndarray | None = None) -> np.ndarray:
        """Scores float images already at the model's resolution, ``[N, r, r]`` in [0, 1]
        (with their full-resolution statistics ``[N, F]`` where :attr:`with_stats`)."""
        return self._batched(self._forward, images, stats)

    def penultimate_prepared(
        self, images: np.ndarray, stats: np.ndarray | None = None
    ) -> np.ndarray:
        """The last hidden layer (the input of the final dense layer, before its
        activation) for images prepared like :meth:`score_prepared`'s."""
        return self._batched(self._penultimate, images, stats)

    def prepare(self, image: np.ndarray) -> np.ndarray:
        image = np.asarray(image)
        if image.ndim != 2:
            raise ValueError(f"expected a 2-D grayscale image, got shape {image.shape}")
        return resample.prepare_image(image, self.resolution)

    @property
    def stats_image_size(self) -> int:
        """The image size the scorer's statistics are defined at (its training images')."""
        return int(self.config.model.get("stats_image_size", layout.IMAGE_SIZE))

    def _prepare_all(self, images, stats=None) -> tuple[np.ndarray, np.ndarray | None]:
        prepared = [self.prepare(im) for im in images]
        x = np.stack(prepared) if prepared else np.zeros((0, self.resolution, self.resolution))
        if self.with_stats and stats is None:
            stats = full_resolution_stats(images, self.stats_image_size)
        return x, stats if self.with_stats else None

    def score(self, images: np.ndarray | Sequence[np.ndarray]) -> np.ndarray:
        """Scores uint8 images ``[N, H, W]`` (or a list of 2-D arrays of any sizes)."""
        return self.score_prepared(*self._prepare_all(images))

    def penultimate(self, images: np.ndarray | Sequence[np.ndarray]) -> np.ndarray:
        """:meth:`penultimate_prepared` of uint8 images (any sizes, as :meth:`score`)."""
        return self.penultimate_prepared(*self._prepare_all(images))


def full_resolution_stats(images, size: int | None = None) -> np.ndarray:
    """Each uint8 image's full-resolution statistics ``[N, F]``, as preparation
    stores them (:func:`cosmojax.evaluation.features.image_features`). The
    statistics depend on the image size (counts of pixels and sources, spectrum
    bins), so with ``size`` every image must be ``size x size``."""
    out = []
    for im in images:
        im = np.asarray(im)
        if im.dtype != np.uint8:
            raise ValueError(f"full-resolution statistics need uint8 images, got {im.dtype}")
        if size is not None and im.shape != (size, size):
            raise ValueError(
                f"this scorer's statistics are defined on {size}x{size} images (its training "
                f"images), got {im.shape[1]}x{im.shape[0]}"
            )
        out.append(features.image_features(im))
    return np.stack(out) if out else np.zeros((0, features.SIZE), np.float32)


REDUCERS = {"mean": np.mean, "median": np.median}


@dataclasses.dataclass
class Ensemble:
    """Scorers whose scores are reduced (``mean`` or ``median``) per image."""

    members: list[Scorer]
    reduce: str = "mean"

    def __post_init__(self):
        if not self.members:
            raise ValueError("an ensemble needs at least one scorer workdir")
        if self.reduce not in REDUCERS:
            raise ValueError(f"reduce: expected one of {sorted(REDUCERS)}, got {self.reduce!r}")

    @property
    def config(self):
        return self.members[0].config

    @property
    def step(self) -> list[int]:
        return [m.step for m in self.members]

    def combine(self, scores: Sequence[np.ndarray]) -> np.ndarray:
        """Per-image reduction of the members' scores ``[M][N]`` -> ``[N]``."""
        return REDUCERS[self.reduce](np.stack(scores), axis=0).astype(np.float32)

    def score(self, images: np.ndarray | Sequence[np.ndarray]) -> np.ndarray:
        """Scores uint8 images as :meth:`Scorer.score`, reduced over the members
        (the full-resolution statistics computed once, whoever needs them)."""
        readers = [m for m in self.members if m.with_stats]
        stats = None
        if readers:
            stats = full_resolution_stats(images, readers[0].stats_image_size)
        return self.combine(
            [m.score_prepared(*m._prepare_all(images, stats)) for m in self.members]
        )


def load(
    workdir: str | os.PathLike | Sequence[str | os.PathLike],
    *,
    step: int | None = None,
    reduce: str = "mean",
) -> Scorer | Ensemble:
    """The scorer trained in ``workdir``: the checkpoint with the best validation MAE
    (or ``step``), with its config. A list of several workdirs gives an
    :class:`Ensemble` of their best checkpoints, reduced by ``reduce``."""
    if not isinstance(workdir, (str, os.PathLike)):
        workdirs = list(workdir)
        if len(workdirs) != 1:
            if step is not None:
                raise ValueError("step: give one workdir to pick a checkpoint by step")
            return Ensemble([_load_one(w) for w in workdirs], reduce=reduce)
        workdir = workdirs[0]
    return _load_one(workdir, step)


def _load_one(workdir, step: int | None = None) -> Scorer:
    from cosmojax import restore

    task, state, step = restore.load_run(workdir, step=step, best=True)
    if not hasattr(task, "model") or task.best_metric != "eval_mae":
        raise ValueError(f"{workdir}: a {task.name!r} run has no scorer")
    return Scorer(
        config=task.config,
        params=state.params,
        model_state=dict(state.model_state),
        apply_fn=task.model.apply,
        step=step,
    )
