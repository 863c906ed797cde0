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
"""

from __future__ import annotations

import functools

import jax
import numpy as np

from cosmojax import upscale as upscale_lib
from cosmojax.data import layout
from cosmojax.evaluation import metrics

EVAL_KEY = 20181  # the sample's key: the same images' latents at every evaluation


@functools.lru_cache(maxsize=4)
def real_vectors(data_dir: str, n: int) -> tuple[np.ndarray, int]:
    """Statistics vectors of ``n`` label-1 images (a fixed choice) at their own
    size, and that size (1000 for the CIL data)."""
    from cosmojax import evaluate

    real = evaluate.load_real(data_dir, n, seed=0)
    return metrics.stat_vectors(metrics.image_statistics(real)), int(real.shape[-1])


def full_size(small: np.ndarray, downsample: str, size: int = layout.IMAGE_SIZE) -> np.ndarray:
    """Model-resolution intensities in [0, 1] -> uint8 images as ``generate`` writes them."""
    return np.stack([upscale_lib.upscale(im, size, downsample=downsample) for im in small])


def stats_frechet(config, sample_fn) -> float:
    """``sample_fn(key, n) -> [n, r, r]`` intensities; the distance to the real set."""
    n = int(config.eval_generated)
    real, size = real_vectors(config.data.dir, n)
    small = np.asarray(sample_fn(jax.random.PRNGKey(EVAL_KEY), n))
    big = full_size(small, config.data.downsample, size)
    gen = metrics.stat_vectors(metrics.image_statistics(big))
    return float(metrics.frechet(real, gen))
