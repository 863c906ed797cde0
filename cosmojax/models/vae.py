"""Variational auto-encoders: the paper's MLP VAE and a convolutional variant.

The decoder outputs logits; ``sigmoid(logits)`` is the mean image (values in
[0, 1], in the space of ``data.intensity_map``). The loss is the negative
ELBO: the negative log-likelihood of the pixels plus the closed-form KL
divergence of the diagonal Gaussian posterior from N(0, I) (paper eq. 3),
summed over pixels and latent dimensions and averaged over the batch.

Likelihoods (``model.likelihood``):

- ``bernoulli``: the paper's (eq. 2), cross-entropy of the intensities in
  [0, 1]. On sparse skies its gain for reproducing a bright pixel is a few
  nats, about what the KL charges to encode where a source is, so the
  posterior collapses to the empty mean.
- ``gaussian``: N(x; sigmoid(logits), sigma^2) per pixel with a fixed
  ``model.sigma``: a pixel reproduced to within sigma is worth (x/sigma)^2/2
  nats, so sources are worth encoding.
- ``categorical``: each pixel is exactly empty (level 0) or in one of
  ``model.levels`` equal bins of the mapped intensity; the decoder's two
  channels per pixel go through a small head shared by all pixels to give the
  levels' logits. With ``model.saturated_level`` one more level is exactly the
  maximum (255), as level 0 is exactly empty: 71% of the real block maxima in
  the top bin are exactly 255, and a draw uniform inside the bin never is.
  It models what the data are -- an exactly empty sky, faint wings and
  saturated cores -- and a draw from it (``sample_image``) is a sky
  with sources even where the latent does not say exactly where they are;
  ``model.sample_correlation`` draws neighbouring pixels together, so such a
  source comes out compact instead of scattered.

Collapse remedies: ``beta`` (the KL weight), a linear KL warm-up over
``kl_warmup_steps`` or ``kl_cycles`` cyclical ramps (Fu et al. 2019), and
``free_bits`` nats per latent dimension (Kingma et al. 2016) below which a
dimension's batch-mean KL costs nothing.

Decoder output biases start at ``SKY_LOGIT`` (a pixel intensity of about
0.005, the mean of a sparse sky), so training does not spend its first steps
darkening a grey image.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from cosmojax.configlib import ConfigError
from cosmojax.models.layers import ConvTranspose2x

LIKELIHOODS = ("bernoulli", "gaussian", "categorical")
OUT_CHANNELS = {"bernoulli": 1, "gaussian": 1, "categorical": 2}

SKY_LOGIT = -5.3
sky_bias = nn.initializers.constant(SKY_LOGIT)


class MLPEncoder(nn.Module):
    hidden: int = 1000
    latent_dim: int = 64
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x):
        h = x.reshape(x.shape[0], -1).astype(self.dtype)
        for _ in range(2):
            h = nn.softplus(nn.Dense(self.hidden, dtype=self.dtype)(h))
        mean = nn.Dense(self.latent_dim, dtype=self.dtype, name="mean")(h)
        logvar = nn.Dense(self.latent_dim, dtype=self.dtype, name="logvar")(h)
        return mean.astype(jnp.float32), logvar.astype(jnp.float32)


class MLPDecoder(nn.Module):
    resolution: int = 128
    hidden: int = 1000
    dtype: Any = jnp.float32
    out_channels: int = 1

    @nn.compact
    def __call__(self, z):
        h = z.astype(self.dtype)
        for _ in range(2):
            h = nn.softplus(nn.Dense(self.hidden, dtype=self.dtype)(h))
        c, r = self.out_channels, self.resolution
        logits = nn.Dense(r * r * c, dtype=self.dtype, bias_init=sky_bias)(h)
        # channel-major rows: slicing a channel is then a contiguous block
        return logits.reshape(-1, c, r, r).transpose(0, 2, 3, 1).astype(jnp.float32)


class ConvEncoder(nn.Module):
    channels: Sequence[int] = (32, 64, 128, 256)
    latent_dim: int = 64
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x):
        h = x.astype(self.dtype)
        for c in self.channels:
            h = nn.gelu(nn.Conv(c, (4, 4), strides=(2, 2), dtype=self.dtype)(h))
        h = h.reshape(h.shape[0], -1)
        mean = nn.Dense(self.latent_dim, dtype=self.dtype, name="mean")(h)
        logvar = nn.Dense(self.latent_dim, dtype=self.dtype, name="logvar")(h)
        return mean.astype(jnp.float32), logvar.astype(jnp.float32)


class ConvDecoder(nn.Module):
    resolution: int = 128
    channels: Sequence[int] = (256, 128, 64, 32)
    dtype: Any = jnp.float32
    out_channels: int = 1

    @nn.compact
    def __call__(self, z):
        start = self.resolution // 2 ** len(self.channels)
        h = nn.Dense(start * start * self.channels[0], dtype=self.dtype)(z.astype(self.dtype))
        h = nn.gelu(h).reshape(-1, start, start, self.channels[0])
        init = nn.initializers.lecun_normal()
        for c in self.channels[1:]:
            h = nn.gelu(ConvTranspose2x(c, self.dtype, use_bias=True, kernel_init=init)(h))
        logits = ConvTranspose2x(
            self.out_channels, self.dtype, use_bias=True, kernel_init=init, bias_init=sky_bias
        )(h)
        return logits.astype(jnp.float32)


class PixelHead(nn.Module):
    """The categorical likelihood's ``levels + 1`` logits of each pixel (one more
    with ``saturated``), from the
    decoder's two channels at that pixel (weights shared by all pixels). The
    decoder says where and how likely a source is; the head turns that into a
    full distribution over intensity levels -- empty, faint wing or saturated
    core -- without a 17x wider output layer."""

    levels: int = 16
    dtype: Any = jnp.float32
    saturated: bool = False

    @nn.compact
    def __call__(self, logits):
        h = nn.gelu(nn.Dense(32, dtype=self.dtype)(logits.astype(self.dtype)))
        n = self.levels + 1 + int(self.saturated)
        out = nn.Dense(n, dtype=self.dtype, bias_init=empty_sky_bias)(h)
        return out.astype(jnp.float32)


def empty_sky_bias(key, shape, dtype=jnp.float32):
    """Level logits that start at p(empty) ~ 0.99, the sparse sky, as SKY_LOGIT does."""
    del key
    return jnp.zeros(shape, dtype).at[0].set(math.log(0.99 * (shape[0] - 1) / 0.01))


class VAE(nn.Module):
    """``__call__(x, eps)`` -> (logits, mean, logvar); ``encode``; ``decode``."""

    kind: str = "mlp"  # "mlp" (the paper's) or "conv"
    out_channels: int = 1  # decoder logits per pixel: 1, or 2 for the categorical likelihood
    levels: int = 16  # categorical: intensity levels besides "empty"
    saturated_level: bool = False  # categorical: one more level, exactly the maximum
    resolution: int = 128
    hidden: int = 1000
    latent_dim: int = 64
    channels: Sequence[int] = (32, 64, 128, 256)
    dtype: Any = jnp.float32

    def setup(self):
        if self.kind == "mlp":
            self.encoder = MLPEncoder(self.hidden, self.latent_dim, self.dtype)
            self.decoder = MLPDecoder(self.resolution, self.hidden, self.dtype, self.out_channels)
        elif self.kind == "conv":
            self.encoder = ConvEncoder(tuple(self.channels), self.latent_dim, self.dtype)
            self.decoder = ConvDecoder(
                self.resolution, tuple(reversed(self.channels)), self.dtype, self.out_channels
            )
        else:
            raise ConfigError(f"model.kind: expected 'mlp' or 'conv', got {self.kind!r}")
        if self.out_channels == 2:
            self.level_head = PixelHead(self.levels, self.dtype, self.saturated_level)

    def encode(self, x):
        return self.encoder(x)

    def decode(self, z):
        logits = self.decoder(z)
        if self.out_channels == 2:  # categorical: the per-pixel level logits
            logits = self.level_head(logits)
        return logits

    def __call__(self, x, eps):
        mean, logvar = self.encode(x)
        z = reparameterize(mean, logvar, eps)
        return self.decode(z), mean, logvar


def reparameterize(mean, logvar, eps):
    """z = mean + sigma * eps, differentiable in mean and logvar."""
    return mean + jnp.exp(0.5 * logvar) * eps


def bernoulli_nll(logits, x):
    """-sum log p(x | logits) over pixels, for intensities x in [0, 1] (paper eq. 2)."""
    per_pixel = optax.sigmoid_binary_cross_entropy(logits, x)
    return per_pixel.reshape(per_pixel.shape[0], -1).sum(-1)


def gaussian_nll(logits, x, sigma: float):
    """-sum log N(x; sigmoid(logits), sigma^2) over pixels."""
    per_pixel = 0.5 * ((x - nn.sigmoid(logits)) / sigma) ** 2 + math.log(sigma) + HALF_LOG_2PI
    return per_pixel.reshape(per_pixel.shape[0], -1).sum(-1)


HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)


SATURATED = 1.0 - 1e-5  # mapped intensities at or above this are the maximum (255)


def categorical_nll(level_logits_, x, saturated: bool = False):
    """-sum log p(x) over pixels for the categorical likelihood: level 0 is an
    exactly empty pixel (the sky); levels 1..K split (0, 1] into K equal bins of
    the mapped intensity, with a uniform density inside a bin; with
    ``saturated``, level K+1 is exactly the maximum (a point mass, like level 0)."""
    k = level_logits_.shape[-1] - 1 - int(saturated)
    level = jnp.where(x > 0, jnp.clip(jnp.ceil(x * k), 1, k), 0).astype(jnp.int32)
    if saturated:
        level = jnp.where(x >= SATURATED, k + 1, level)
    logp = jax.nn.log_softmax(level_logits_, axis=-1)
    picked = jnp.take_along_axis(logp, level, axis=-1)
    per_pixel = -picked - jnp.where((level > 0) & (level <= k), math.log(k), 0.0)
    return per_pixel.reshape(per_pixel.shape[0], -1).sum(-1)


def nll(logits, x, likelihood: str = "bernoulli", sigma: float = 0.1, saturated: bool = False):
    """Per-example negative log-likelihood under ``likelihood`` (``saturated``:
    the categorical one's level of exactly the maximum)."""
    if likelihood == "bernoulli":
        return bernoulli_nll(logits, x)
    if likelihood == "gaussian":
        return gaussian_nll(logits, x, sigma)
    if likelihood == "categorical":
        return categorical_nll(logits, x[..., :1], saturated)
    raise ConfigError(f"model.likelihood: expected one of {LIKELIHOODS}, got {likelihood!r}")


def mean_image(logits, likelihood: str = "bernoulli", saturated: bool = False):
    """The decoder's mean image in [0, 1] (of the mapped intensities), ``[B, r, r, 1]``;
    for ``categorical``, each pixel's expected level value."""
    if likelihood == "categorical":
        k = logits.shape[-1] - 1 - int(saturated)
        centers = [jnp.zeros(1), (jnp.arange(k) + 0.5) / k] + [jnp.ones(1)] * int(saturated)
        centers = jnp.concatenate(centers)
        return jnp.sum(jax.nn.softmax(logits, axis=-1) * centers, axis=-1, keepdims=True)
    return nn.sigmoid(logits)


def sample_image(
    key,
    logits,
    likelihood: str = "bernoulli",
    sigma: float = 0.1,
    correlation=0.0,
    saturated: bool = False,
    floor: float = 0.0,
):
    """A draw from p(x | z) in [0, 1]: for ``categorical`` each pixel draws its
    level, then a value inside the level's bin (exactly 1 for the ``saturated``
    level) and at least ``floor`` (the data's faintest non-empty value: level 0
    is the only empty one); the other likelihoods return their mean (their
    pixel noise is not part of an image).

    Each pixel's draw is the inverse of its own CDF (levels in order of
    intensity) at a uniform ``u``, so every pixel keeps the decoder's marginal.
    With ``correlation`` > 0 the ``u`` of neighbouring pixels are correlated (a
    Gaussian copula, :func:`correlated_uniform`): where the decoder is unsure
    where a source sits, its bright core and fainter wings are drawn together
    as one compact source instead of as scattered single pixels.
    """
    if likelihood != "categorical":
        return mean_image(logits, likelihood)
    if correlation > 0:
        u = correlated_uniform(key, logits.shape[:-1], correlation)[..., None]
    else:
        u = jax.random.uniform(key, (*logits.shape[:-1], 1))
    top = logits.shape[-1] - 1
    k = top - int(saturated)
    p = jax.nn.softmax(logits, axis=-1)
    cdf = jnp.cumsum(p, axis=-1)
    level = jnp.clip(jnp.sum(cdf < u, axis=-1, keepdims=True), 0, top)
    below = jnp.take_along_axis(cdf - p, level, axis=-1)  # CDF up to the level below
    inside = (u - below) / jnp.maximum(jnp.take_along_axis(p, level, axis=-1), 1e-12)
    value = (level - 1 + jnp.clip(inside, 0.0, 1.0)) / k  # uniform inside the level's bin
    value = jnp.where(level > k, 1.0, jnp.maximum(value, floor))  # the saturated level, if any
    return jnp.where(level > 0, value, 0.0)


def correlated_uniform(key, shape, length: float):
    """Uniforms ``[..., H, W]`` whose neighbours are correlated: white noise
    smoothed by a Gaussian of ``length`` pixels (sd), rescaled to unit variance
    and mapped through the normal CDF. The noise is drawn over a margin, so the
    field is stationary up to the edges."""
    rad = int(math.ceil(3 * length))
    t = jnp.arange(-rad, rad + 1, dtype=jnp.float32)
    w = jnp.exp(-0.5 * (t / length) ** 2)
    kernel = jnp.outer(w, w) / jnp.sum(w**2)  # unit-variance output
    *lead, h, wd = shape
    eps = jax.random.normal(key, (math.prod(lead), 1, h + 2 * rad, wd + 2 * rad))
    field = jax.lax.conv_general_dilated(eps, kernel[None, None], (1, 1), "VALID")
    return jax.scipy.special.ndtr(field.reshape(shape))


def kl_per_dim(mean, logvar):
    """KL(N(mean, exp(logvar)) || N(0, 1)) per latent dimension, ``[B, D]``."""
    return -0.5 * (1.0 + logvar - mean**2 - jnp.exp(logvar))


def kl_to_standard_normal(mean, logvar):
    """KL(N(mean, exp(logvar)) || N(0, I)) summed over latent dims (paper eq. 3)."""
    return jnp.sum(kl_per_dim(mean, logvar), axis=-1)


def negative_elbo(
    logits, x, mean, logvar, likelihood: str = "bernoulli", sigma: float = 0.1, saturated=False
):
    """Per-example ``(loss, nll, kl)`` with loss = nll + kl (the true -ELBO)."""
    rec = nll(logits, x, likelihood, sigma, saturated)
    kl = kl_to_standard_normal(mean, logvar)
    return rec + kl, rec, kl


def kl_weight(step, *, beta: float = 1.0, warmup_steps: int = 0, cycles: int = 0, num_steps=1):
    """The KL weight at ``step``: ``beta`` times a linear ramp from 0 over
    ``warmup_steps``, or, with ``cycles`` > 0, the cyclical schedule of Fu et al.
    (each of ``cycles`` equal periods ramps from 0 to 1 over its first half)."""
    step = jnp.asarray(step, jnp.float32)
    if cycles > 0:
        period = max(float(num_steps) / cycles, 1.0)
        return beta * optax.linear_schedule(0.0, 1.0, 0.5 * period)(jnp.mod(step, period))
    if warmup_steps > 0:
        return beta * optax.linear_schedule(0.0, 1.0, warmup_steps)(step)
    return beta * jnp.ones(())


def free_bits_kl(mean, logvar, free_bits: float = 0.0):
    """The KL the optimiser sees, per example: each dimension's batch-mean KL is
    raised to at least ``free_bits`` nats (gradient-free below it)."""
    per_dim = kl_per_dim(mean, logvar)
    if free_bits <= 0:
        return per_dim.sum(-1)
    batch_mean = per_dim.mean(0, keepdims=True)
    return jnp.where(batch_mean < free_bits, 0.0, per_dim).sum(-1) + jnp.sum(
        jnp.where(batch_mean < free_bits, free_bits, 0.0)
    )


def build(cfg, resolution: int, dtype=jnp.float32) -> VAE:
    return VAE(
        kind=cfg.kind,
        resolution=resolution,
        hidden=cfg.hidden,
        latent_dim=cfg.latent_dim,
        channels=tuple(cfg.channels),
        out_channels=OUT_CHANNELS[cfg.get("likelihood", "bernoulli")],
        levels=int(cfg.get("levels", 16)),
        saturated_level=bool(cfg.get("saturated_level", False)),
        dtype=dtype,
    )
