"""A conditional VAE of single sources: the ``learned`` upscaler's model.

It learns the full-resolution sources of a generator's training images
(``upscale.cutouts``: a square of counts around each source's peak) given
what the generator's low-resolution image shows of them
(``upscale.conditions``: the peak and the 5x5 blocks around it). The prior of
the latent is conditional too, p(z | c) = N(mu(c), sigma(c)^2) (Sohn et al.
2015): with N(0, I) the latent carried what the condition already says (how
extended a bright source is) and decoded prior draws came out as the faint
majority's points. Drawing z from p(z | c) and decoding it with a generated
peak's condition gives a source of its own for that peak, not a copy of a
training source.

A source is modelled as its shape: its counts over its peak's, in [0, 1]; the
brightness is the generated peak's, as for ``stamps``. The shape is modelled
in a log map (``to_unit``: wings at a few percent of the peak matter as much
as the core) with a Gaussian likelihood of fixed ``sigma``. Targets are
squeezed into [MARGIN, 1 - MARGIN] and decoded means stretched back
(``from_unit``), so an empty pixel and the peak's level are reached exactly.
"""

from __future__ import annotations

import math
from typing import Any

import flax.linen as nn
import jax.numpy as jnp

from cosmojax.models import vae as vae_models

LOG_SCALE = 0.002  # of the peak: the log map's knee (log(1 + r / a) / log(1 + 1 / a))
MARGIN = 0.01


def to_unit(shape):
    """A shape (counts over the peak's) in [0, 1] -> targets in [MARGIN, 1 - MARGIN]."""
    y = jnp.log1p(jnp.clip(shape, 0.0, 1.0) / LOG_SCALE) / math.log1p(1.0 / LOG_SCALE)
    return MARGIN + (1.0 - 2.0 * MARGIN) * y


def _level(y):
    """Decoded means -> their level in the log map, [0, 1] between the margins."""
    return jnp.clip((y - MARGIN) / (1.0 - 2.0 * MARGIN), 0.0, 1.0)


def from_unit(y):
    """Decoded means -> a shape in [0, 1]; the margins map to exactly 0 and 1."""
    return LOG_SCALE * jnp.expm1(_level(y) * math.log1p(1.0 / LOG_SCALE))


def expected_shape(y, sigma: float):
    """Decoded means -> the shape's expected value under the likelihood, in [0, 1].

    The likelihood is Gaussian with sd ``sigma`` in the log map, so a pixel's
    value is log-normal: its mean is ``from_unit``'s value of the decoded mean
    times exp(k^2 s^2 / 2) (k: the map's slope, s: ``sigma`` in its units),
    not the value at the mean, which a faint wing the model is unsure of falls
    below. Pixels at the lower margin stay exactly 0; the peak's level stays 1.
    """
    u = _level(y)
    k, s = math.log1p(1.0 / LOG_SCALE), sigma / (1.0 - 2.0 * MARGIN)
    mean = LOG_SCALE * jnp.expm1(u * k + 0.5 * (k * s) ** 2)
    return jnp.where(u > 0.0, jnp.clip(mean, 0.0, 1.0), 0.0)


class SourceVAE(nn.Module):
    """MLP encoder q(z | x, c) and decoder p(x | z, c) over ``patch`` x ``patch``
    squares, both reading the condition ``c``."""

    patch: int = 48
    latent_dim: int = 16
    hidden: int = 512
    dtype: Any = jnp.float32

    def setup(self):
        dense = lambda n: nn.Dense(n, dtype=self.dtype)  # noqa: E731
        self.enc = [dense(self.hidden), dense(self.hidden)]
        self.enc_out = dense(2 * self.latent_dim)
        self.dec = [dense(self.hidden), dense(self.hidden)]
        self.dec_out = nn.Dense(
            self.patch * self.patch, dtype=self.dtype, bias_init=vae_models.sky_bias
        )
        self.prior_hidden = dense(self.hidden // 2)
        self.prior_out = dense(2 * self.latent_dim)

    def prior(self, cond):
        """``(mean, logvar)`` of p(z | c)."""
        h = nn.gelu(self.prior_hidden(cond))
        mean, logvar = jnp.split(self.prior_out(h).astype(jnp.float32), 2, axis=-1)
        return mean, logvar

    def encode(self, x, cond):
        h = jnp.concatenate([x.reshape(x.shape[0], -1), cond], axis=-1)
        for layer in self.enc:
            h = nn.gelu(layer(h))
        mean, logvar = jnp.split(self.enc_out(h).astype(jnp.float32), 2, axis=-1)
        return mean, logvar

    def decode(self, z, cond):
        """Logits ``[N, patch, patch, 1]``; their sigmoid is the mean in the unit map."""
        h = jnp.concatenate([z, cond], axis=-1)
        for layer in self.dec:
            h = nn.gelu(layer(h))
        logits = self.dec_out(h).astype(jnp.float32)
        return logits.reshape(-1, self.patch, self.patch, 1)

    def __call__(self, x, cond, eps):
        """``(logits, KL(q(z | x, c) || p(z | c)) per example)``."""
        mean, logvar = self.encode(x, cond)
        z = mean + jnp.exp(0.5 * logvar) * eps
        return self.decode(z, cond), gaussian_kl(mean, logvar, *self.prior(cond))

    def sample_latent(self, cond, eps):
        """A draw from p(z | c) for standard normals ``eps``."""
        mean, logvar = self.prior(cond)
        return mean + jnp.exp(0.5 * logvar) * eps


def gaussian_kl(mean_q, logvar_q, mean_p, logvar_p):
    """KL(N(mean_q, exp(logvar_q)) || N(mean_p, exp(logvar_p))), summed over dims."""
    return 0.5 * jnp.sum(
        logvar_p
        - logvar_q
        + (jnp.exp(logvar_q) + (mean_q - mean_p) ** 2) / jnp.exp(logvar_p)
        - 1.0,
        axis=-1,
    )
