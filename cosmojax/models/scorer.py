"""Scorers: the paper's CNN and a stronger model with summary-statistics features."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from cosmojax.configlib import ConfigError
from cosmojax.data import intensity
from cosmojax.evaluation import statistics
from cosmojax.models.layers import sow_hidden

xavier = nn.initializers.xavier_uniform()


def max_pool_2x2(x: jax.Array) -> jax.Array:
    """2x2 max-pooling with stride 2 as a reshape and a max.

    The same values as ``nn.max_pool(x, (2, 2), strides=(2, 2))``; its gradient
    is an equality mask instead of XLA's select-and-scatter, which made the
    paper CNN's train step about 40% faster on CPU (benchmarks/throughput.py).
    At exact ties the gradient is shared among the tied inputs; after a ReLU
    ties are zeros, whose gradient is zero anyway.
    """
    b, h, w, c = x.shape
    return x[:, : h // 2 * 2, : w // 2 * 2].reshape(b, h // 2, 2, w // 2, 2, c).max(axis=(2, 4))


class PaperCNN(nn.Module):
    """The CIL 2018 paper's scorer at 140x140 (7,892,297 parameters).

    conv 5x5x32 SAME, ReLU, max-pool 2; conv 5x5x64, ReLU, max-pool 2;
    dense 100, ReLU; dense 1. Xavier (Glorot uniform) weights, zero biases.
    """

    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, images, train: bool = False):
        x = images.astype(self.dtype)
        for features in (32, 64):
            x = nn.Conv(features, (5, 5), padding="SAME", kernel_init=xavier, dtype=self.dtype)(x)
            x = max_pool_2x2(nn.relu(x))
        x = x.reshape(x.shape[0], -1)
        x = sow_hidden(self, nn.Dense(100, kernel_init=xavier, dtype=self.dtype)(x))
        return nn.Dense(1, kernel_init=xavier, dtype=self.dtype)(nn.relu(x))[:, 0].astype(
            jnp.float32
        )


class ConvBranch(nn.Module):
    """A small CNN on log-scaled intensities, pooled globally (mean and max)."""

    channels: Sequence[int] = (32, 64, 128, 128)
    input_size: int = 128
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, z):
        size = z.shape[1]
        if size > self.input_size:  # average-pool down to the branch's input size
            f = size // self.input_size
            z = nn.avg_pool(z, (f, f), strides=(f, f))
        x = z.astype(self.dtype)
        for i, c in enumerate(self.channels):
            x = nn.Conv(c, (3, 3), strides=(1, 1) if i == 0 else (2, 2), dtype=self.dtype)(x)
            x = nn.gelu(x)
            x = nn.Conv(c, (3, 3), dtype=self.dtype)(x)
            x = nn.gelu(x)
        return jnp.concatenate([x.mean(axis=(1, 2)), x.max(axis=(1, 2))], -1)


QUANTILES = 64


def feature_cdf(module: nn.Module, feats: jax.Array) -> jax.Array:
    """Each feature's training-set distribution function ``F(x)`` in [0, 1]:
    piecewise linear through ``QUANTILES`` stored quantiles (the ``norm``
    collection; evenly spaced placeholders until :meth:`ScorerTask.after_init`
    measures them)."""
    n = feats.shape[-1]
    q = module.variable(
        "norm", "quantiles", lambda: jnp.tile(jnp.linspace(-5.0, 5.0, QUANTILES)[:, None], (1, n))
    )
    levels = jnp.linspace(0.0, 1.0, QUANTILES)
    ramp = jnp.arange(QUANTILES, dtype=jnp.float32)[:, None] * 1e-6  # strictly increasing
    return jax.vmap(lambda col, qs: jnp.interp(col, qs, levels), in_axes=(1, 1), out_axes=1)(
        feats.astype(jnp.float32), q.value + ramp
    )


def quantile_normalize(module: nn.Module, feats: jax.Array) -> jax.Array:
    """Maps each feature through its training-set distribution to a standard
    normal: ``ndtri(F(x))`` (:func:`feature_cdf`). Robust to the heavy tails of
    log power spectra and counts, and markedly better for an MLP than mean/std
    scaling on these statistics."""
    return jax.scipy.special.ndtri(jnp.clip(feature_cdf(module, feats), 1e-3, 1.0 - 1e-3))


def piecewise_linear(module: nn.Module, feats: jax.Array, bins: int) -> jax.Array:
    """Piecewise-linear encoding of each feature over ``bins`` quantile bins
    (Gorishniy et al. 2022, "On embeddings for numerical features in tabular
    deep learning"): ``[B, F] -> [B, F * bins]``, entry ``t`` of a feature is
    ``clip(bins * F(x) - t, 0, 1)``: 1 for the bins below the value, its
    position inside its own bin, 0 above. An MLP on it splits each feature at
    its quantiles as trees do; on the full-resolution statistics alone it
    matched boosted trees where an MLP on :func:`quantile_normalize` did not."""
    u = feature_cdf(module, feats)
    e = jnp.clip(u[..., None] * bins - jnp.arange(bins, dtype=jnp.float32), 0.0, 1.0)
    return e.reshape(*feats.shape[:-1], feats.shape[-1] * bins)


ENCODINGS = ("quantile", "piecewise")


class StatsScorer(nn.Module):
    """A CNN branch plus summary statistics, fused by an MLP.

    Statistics, encoded through their training-set quantiles (``encoding``:
    mapped to standard normals, :func:`quantile_normalize`, or piecewise
    linear over quantile bins, :func:`piecewise_linear`):

    * computed in the model (:mod:`cosmojax.evaluation.statistics`, differentiable):
      soft intensity histogram, radially averaged log power spectrum, peak
      counts above thresholds and pixel fractions above thresholds, each at
      the input resolution and at the average-pooled ``stats_scales`` (none
      if empty);
    * with ``fullres_stats``, the full-resolution statistics vector of each
      image (:func:`cosmojax.evaluation.features.image_features`, computed
      once at preparation), the second argument.

    The CNN branch sees ``log1p(counts) / log(256)`` average-pooled to
    ``cnn_size``. Output: the score; with ``with_label`` also the logit of the
    labeled split's label (``label_head``, on the last hidden layer), the
    auxiliary objective of a scorer trained with ``labeled_weight > 0``.
    """

    cnn_channels: Sequence[int] = (16, 32, 64, 64)
    cnn_size: int = 64
    stats_width: int = 256
    head_width: int = 256
    ps_bins: int = 24
    stats_scales: Sequence[int] = (1, 2, 4)
    use_cnn: bool = True
    fullres_stats: bool = False
    encoding: str = "quantile"  # of the statistics: "quantile" or "piecewise"
    encoding_bins: int = 16  # the piecewise encoding's quantile bins
    score_offset: float = 1.5  # initial output, near the mean score
    dtype: Any = jnp.float32

    def features(self, images, stats=None) -> jax.Array:
        """The raw statistics vector ``[B, F]`` of images ``[B, r, r, 1]`` in [0, 1]
        (and their full-resolution statistics ``[B, S]``, with ``fullres_stats``)."""
        counts = images[..., 0].astype(jnp.float32) * 255.0
        parts = []
        for f in self.stats_scales:
            x = counts
            if f > 1:
                b, h, w = x.shape
                x = x.reshape(b, h // f, f, w // f, f).mean((2, 4))
            parts.append(statistics.summary_vector(x, soft=True, ps_bins=self.ps_bins))
        if self.fullres_stats:
            if stats is None:
                raise ValueError("this scorer reads full-resolution statistics: pass stats")
            parts.append(jnp.asarray(stats, jnp.float32))
        return jnp.concatenate(parts, -1)

    @nn.compact
    def __call__(self, images, stats=None, train: bool = False, with_label: bool = False):
        feats = self.features(images, stats)
        if self.encoding == "piecewise":
            h = piecewise_linear(self, feats, self.encoding_bins).astype(self.dtype)
        else:
            h = quantile_normalize(self, feats).astype(self.dtype)
        for _ in range(2):
            h = nn.gelu(nn.Dense(self.stats_width, dtype=self.dtype)(h))
        parts = [h]
        if self.use_cnn:
            z = jnp.log1p(images[..., 0].astype(jnp.float32) * 255.0)[..., None] / np.log(256.0)
            parts.append(ConvBranch(tuple(self.cnn_channels), self.cnn_size, self.dtype)(z))
        x = jnp.concatenate(parts, -1)
        x = nn.gelu(nn.Dense(self.head_width, dtype=self.dtype)(x))
        x = nn.gelu(sow_hidden(self, nn.Dense(64, dtype=self.dtype)(x)))
        out = nn.Dense(1, dtype=self.dtype, bias_init=nn.initializers.constant(self.score_offset))(
            x
        )
        score = out[:, 0].astype(jnp.float32)
        if not with_label:
            return score
        logit = nn.Dense(1, dtype=self.dtype, name="label_head")(x)[:, 0].astype(jnp.float32)
        return score, logit


def reads_stats(cfg) -> bool:
    """Whether the scorer of config block ``model`` takes full-resolution statistics."""
    return cfg.name == "stats" and bool(cfg.get("fullres_stats", False))


def build(config, dtype=jnp.float32) -> nn.Module:
    """Scorer from a scorer config (its ``model`` block; ``data`` gives the
    resolution and, for a critic, how the GAN's images were represented)."""
    cfg, resolution = config.model, config.data.resolution
    if cfg.name == "paper_cnn":
        return PaperCNN(dtype=dtype)
    if cfg.name == "gan_critic":
        from cosmojax.models import gan

        if cfg.size != 0 and cfg.size != resolution:
            raise ConfigError(f"model.size {cfg.size} must equal data.resolution {resolution}")
        return gan.CriticScorer(
            size=cfg.size,
            ndf=cfg.ndf,
            head_width=cfg.head_width,
            frozen=cfg.frozen,
            dtype=dtype,
            norm=cfg.get("d_norm", "batch"),
            **intensity.of_config(config.data),
        )
    if cfg.name == "stats":
        if cfg.get("encoding", "quantile") not in ENCODINGS:
            raise ConfigError(f"model.encoding: expected one of {ENCODINGS}, got {cfg.encoding!r}")
        if not cfg.stats_scales and not cfg.get("fullres_stats", False):
            raise ConfigError("model.stats_scales is empty and model.fullres_stats is off")
        return StatsScorer(
            cnn_channels=tuple(cfg.cnn_channels),
            cnn_size=cfg.cnn_size,
            stats_width=cfg.stats_width,
            head_width=cfg.head_width,
            ps_bins=cfg.ps_bins,
            stats_scales=tuple(cfg.stats_scales),
            use_cnn=cfg.use_cnn,
            fullres_stats=reads_stats(cfg),
            encoding=cfg.get("encoding", "quantile"),
            encoding_bins=int(cfg.get("encoding_bins", 16)),
            dtype=dtype,
        )
    raise ConfigError(
        f"model.name: unknown scorer {cfg.name!r}; expected 'paper_cnn', 'stats' or 'gan_critic'"
    )
