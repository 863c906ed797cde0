"""Scoring images with a trained scorer, from Python.

    >>> from cosmojax import scoring
    >>> s = scoring.load("runs/scorer")          # best checkpoint by validation MAE
    >>> s.score(images)                          # uint8 [N, H, W], any H, W
    array([1.53, 0.02, ...], dtype=float32)      # in [0, 8]
    >>> s.score("gen/")                          # a folder of PNGs, in file-name order

Images are reduced to the model's resolution as its training data were (area
averages, or block maxima for a critic scorer; :mod:`cosmojax.data.resample`); a scorer that reads
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

from cosmojax import images as images_lib
from cosmojax.data import layout, pipeline, resample
from cosmojax.evaluation import features
from cosmojax.models import layers

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
    def reduction(self) -> tuple[int, str]:
        """How its training images were reduced: (resolution, ``data.downsample``)."""
        return self.resolution, str(self.config.data.get("downsample", "area"))

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
                {"params": params, **model_state}, *inputs, mutable=["intermediates"]
            )
            return inter["intermediates"][layers.HIDDEN][0]

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
        out = pipeline.map_padded(
            functools.partial(fn, self.params, self.model_state), arrays, self.batch_size
        )
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
        """One uint8 image ``[H, W]`` -> float32 ``[r, r]`` in [0, 1], as the training
        data were reduced (:attr:`reduction`: area averages, or block maxima).

        >>> s.prepare(np.zeros((1000, 1000), np.uint8)).shape  # doctest: +SKIP
        (128, 128)
        """
        image = np.asarray(image)
        if image.ndim != 2:
            raise ValueError(f"expected a 2-D grayscale image, got shape {image.shape}")
        return resample.prepare_image(image, *self.reduction)

    @property
    def stats_image_size(self) -> int:
        """The image size the scorer's statistics are defined at (its training images')."""
        return int(self.config.model.get("stats_image_size", layout.IMAGE_SIZE))

    @property
    def members(self) -> list[Scorer]:
        """``[self]``: a scorer scores as an ensemble of one."""
        return [self]

    def combine(self, scores: Sequence[np.ndarray]) -> np.ndarray:
        """The one member's scores ``[1][N]`` -> ``[N]``."""
        return np.asarray(scores[0])

    def _prepare_all(self, images) -> tuple[np.ndarray, np.ndarray | None]:
        prepared, stats = _prepare([self], images)
        return prepared[self.reduction], stats

    def score(self, images) -> np.ndarray:
        """Scores float32 ``[N]`` in [0, 8] of uint8 images ``[N, H, W]`` (or a list
        of 2-D arrays of any sizes), or of the PNGs of a folder (a path; in the
        order of their file names, :func:`cosmojax.images.list_pngs`).

        >>> scoring.load("runs/scorer").score(np.zeros((2, 1000, 1000), np.uint8))
        ... # doctest: +SKIP
        array([0.01, 0.01], dtype=float32)
        """
        return _score(self, images)

    def penultimate(self, images) -> np.ndarray:
        """:meth:`penultimate_prepared` of uint8 images (any sizes, as :meth:`score`)."""
        return self.penultimate_prepared(*self._prepare_all(_images_of(images)))


def _images_of(images):
    """A folder path -> its PNGs, read one at a time; anything else as given."""
    if isinstance(images, (str, os.PathLike)):
        return images_lib.read_pngs(images_lib.list_pngs(images))
    return images


def _prepare(members, images) -> tuple[dict[tuple, np.ndarray], np.ndarray | None]:
    """``images`` (uint8 2-D arrays, read once, one at a time) reduced as each
    member's training images were (by :attr:`Scorer.reduction`), and their
    full-resolution statistics if a member reads them (computed once, at the
    first reader's image size), else None."""
    by_reduction = {m.reduction: m for m in members}
    readers = [m for m in members if m.with_stats]
    prepared = {k: [] for k in by_reduction}
    stats = []
    for image in images:
        for k, m in by_reduction.items():
            prepared[k].append(m.prepare(image))
        if readers:
            stats.append(full_resolution_stats([image], readers[0].stats_image_size)[0])
    arrays = {
        (r, d): np.stack(p) if p else np.zeros((0, r, r), np.float32)
        for (r, d), p in prepared.items()
    }
    if not readers:
        return arrays, None
    return arrays, np.stack(stats) if stats else np.zeros((0, features.SIZE), np.float32)


def _score(scorer, images) -> np.ndarray:
    """The scores of ``images`` (see :meth:`Scorer.score`) by a scorer or an ensemble:
    each image is read and reduced once per member resolution."""
    prepared, stats = _prepare(scorer.members, _images_of(images))
    return scorer.combine(
        [
            m.score_prepared(prepared[m.reduction], stats if m.with_stats else None)
            for m in scorer.members
        ]
    )


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

    def score(self, images) -> np.ndarray:
        """Scores of uint8 images or a folder of PNGs as :meth:`Scorer.score`,
        reduced over the members (each image read once, the full-resolution
        statistics computed once, whoever needs them).

        >>> scoring.load(["runs/s0", "runs/s1"]).score("gen/")  # doctest: +SKIP
        array([2.1, 0.4, ...], dtype=float32)
        """
        return _score(self, images)


def load(
    workdir: str | os.PathLike | Sequence[str | os.PathLike],
    *,
    step: int | None = None,
    reduce: str = "mean",
) -> Scorer | Ensemble:
    """The scorer trained in ``workdir``: the checkpoint with the best validation MAE
    (or ``step``), with its config. A list of several workdirs gives an
    :class:`Ensemble` of their best checkpoints, reduced by ``reduce`` (a list of
    one: that workdir's scorer). Either scores with ``.score(images or folder)``.

    >>> scoring.load("runs/scorer").score("runs/demo/generated")  # doctest: +SKIP
    array([2.7, 3.1, 0.9, 2.2], dtype=float32)
    >>> scoring.load(["runs/s0", "runs/s1"], reduce="median").step  # doctest: +SKIP
    [600, 400]
    """
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
