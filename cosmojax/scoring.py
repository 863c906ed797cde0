"""Scoring images with a trained scorer, from Python.

    >>> from cosmojax import scoring
    >>> s = scoring.load("runs/scorer")          # best checkpoint by validation MAE
    >>> s.score(images)                          # uint8 [N, H, W], any H, W
    array([1.53, 0.02, ...], dtype=float32)      # in [0, 8]

Images are reduced to the model's resolution with the same area resampling as
the training data (:mod:`cosmojax.data.resample`).
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

    @functools.cached_property
    def _forward(self):
        def fwd(params, model_state, x):
            pred = self.apply_fn({"params": params, **model_state}, x, train=False)
            return jnp.clip(pred, SCORE_MIN, SCORE_MAX)

        return jax.jit(fwd)

    def score_prepared(self, images: np.ndarray) -> np.ndarray:
        """Scores float images already at the model's resolution, ``[N, r, r]`` in [0, 1]."""
        images = np.asarray(images, np.float32)
        out = []
        for start in range(0, len(images), self.batch_size):
            chunk = images[start : start + self.batch_size]
            n = len(chunk)
            if n < self.batch_size:  # one compiled shape for every batch
                chunk = np.concatenate(
                    [chunk, np.zeros((self.batch_size - n, *chunk.shape[1:]), np.float32)]
                )
            out.append(
                np.asarray(self._forward(self.params, self.model_state, chunk[..., None]))[:n]
            )
        return np.concatenate(out) if out else np.zeros(0, np.float32)

    def prepare(self, image: np.ndarray) -> np.ndarray:
        image = np.asarray(image)
        if image.ndim != 2:
            raise ValueError(f"expected a 2-D grayscale image, got shape {image.shape}")
        return resample.prepare_image(image, self.resolution)

    def score(self, images: np.ndarray | Sequence[np.ndarray]) -> np.ndarray:
        """Scores uint8 images ``[N, H, W]`` (or a list of 2-D arrays of any sizes)."""
        return self.score_prepared(np.stack([self.prepare(im) for im in images]))


def load(workdir: str | os.PathLike, *, step: int | None = None) -> Scorer:
    """The scorer trained in ``workdir``: the checkpoint with the best validation MAE
    (or ``step``), with its config."""
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
