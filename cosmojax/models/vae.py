"""Variational auto-encoders: the paper's MLP VAE and a convolutional variant.

The decoder outputs logits, read as the means of Bernoulli pixels; the loss is
the negative ELBO of the paper: Bernoulli negative log-likelihood of the
intensities in [0, 1] (eq. 2) plus the closed-form KL divergence of the
diagonal Gaussian posterior from N(0, I) (eq. 3), summed over pixels and
latent dimensions and averaged over the batch.

Decoder output biases start at ``SKY_LOGIT`` (a pixel intensity of about
0.005, the mean of a sparse sky), so training does not spend its first steps
darkening a grey image.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import jax.numpy as jnp

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

    @nn.compact
    def __call__(self, z):
        h = z.astype(self.dtype)
        for _ in range(2):
            h = nn.softplus(nn.Dense(self.hidden, dtype=self.dtype)(h))
        logits = nn.Dense(self.resolution**2, dtype=self.dtype, bias_init=sky_bias)(h)
        return logits.reshape(-1, self.resolution, self.resolution, 1).astype(jnp.float32)


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

    @nn.compact
    def __call__(self, z):
        start = self.resolution // 2 ** len(self.channels)
        h = nn.Dense(start * start * self.channels[0], dtype=self.dtype)(z.astype(self.dtype))
        h = nn.gelu(h).reshape(-1, start, start, self.channels[0])
        for c in self.channels[1:]:
            h = nn.gelu(nn.ConvTranspose(c, (4, 4), strides=(2, 2), dtype=self.dtype)(h))
        logits = nn.ConvTranspose(1, (4, 4), strides=(2, 2), dtype=self.dtype, bias_init=sky_bias)(
            h
        )
        return logits.astype(jnp.float32)


class VAE(nn.Module):
    """``__call__(x, eps)`` -> (logits, mean, logvar); ``encode``; ``decode``."""

    kind: str = "mlp"  # "mlp" (the paper's) or "conv"
    resolution: int = 128
    hidden: int = 1000
    latent_dim: int = 64
    channels: Sequence[int] = (32, 64, 128, 256)
    dtype: Any = jnp.float32

    def setup(self):
        if self.kind == "mlp":
            self.encoder = MLPEncoder(self.hidden, self.latent_dim, self.dtype)
            self.decoder = MLPDecoder(self.resolution, self.hidden, self.dtype)
        elif self.kind == "conv":
            self.encoder = ConvEncoder(tuple(self.channels), self.latent_dim, self.dtype)
            self.decoder = ConvDecoder(self.resolution, tuple(reversed(self.channels)), self.dtype)
        else:
            raise ValueError(f"model.kind: expected 'mlp' or 'conv', got {self.kind!r}")

    def encode(self, x):
        return self.encoder(x)

    def decode(self, z):
        return self.decoder(z)

    def __call__(self, x, eps):
        mean, logvar = self.encode(x)
        z = reparameterize(mean, logvar, eps)
        return self.decode(z), mean, logvar


def reparameterize(mean, logvar, eps):
    """z = mean + sigma * eps, differentiable in mean and logvar."""
    return mean + jnp.exp(0.5 * logvar) * eps


def bernoulli_nll(logits, x):
    """-sum log p(x | logits) over pixels, for intensities x in [0, 1] (paper eq. 2)."""
    per_pixel = jnp.maximum(logits, 0) - logits * x + jnp.log1p(jnp.exp(-jnp.abs(logits)))
    return per_pixel.reshape(per_pixel.shape[0], -1).sum(-1)


def kl_to_standard_normal(mean, logvar):
    """KL(N(mean, exp(logvar)) || N(0, I)) summed over latent dims (paper eq. 3)."""
    return -0.5 * jnp.sum(1.0 + logvar - mean**2 - jnp.exp(logvar), axis=-1)


def negative_elbo(logits, x, mean, logvar):
    """Per-example ``(loss, nll, kl)`` with loss = nll + kl."""
    nll = bernoulli_nll(logits, x)
    kl = kl_to_standard_normal(mean, logvar)
    return nll + kl, nll, kl


def build(cfg, resolution: int, dtype=jnp.float32) -> VAE:
    return VAE(
        kind=cfg.kind,
        resolution=resolution,
        hidden=cfg.hidden,
        latent_dim=cfg.latent_dim,
        channels=tuple(cfg.channels),
        dtype=dtype,
    )
