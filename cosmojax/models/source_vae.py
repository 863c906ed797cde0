"""A conditional VAE of single sources: the ``learned`` upscaler's model.

It learns the full-resolution sources of a generator's training images
(``upscale.cutouts``: a square of counts around each source's peak) given
what the generator's low-resolution image shows of them
(``upscale.conditions``: the peak and the 5x5 blocks around it). Drawing a
latent from N(0, I) and decoding it with a generated peak's condition gives a
source of its own for that peak, not a copy of a training source.

The pixels are modelled in a log map of the counts (``to_unit``: faint wings
and saturated cores both matter) with a Gaussian likelihood of fixed
``sigma``. Targets are squeezed into [MARGIN, 1 - MARGIN] and decoded means
stretched back (``from_unit``), so an empty pixel and a saturated 255 are
reached exactly, as the data reach them.
"""

from __future__ import annotations

import math
from typing import Any

import flax.linen as nn
import jax.numpy as jnp

from cosmojax.models import vae as vae_models

LOG_SCALE = 2.0  # counts: the log map's knee (log(1 + x / a) / log(1 + 255 / a))
MARGIN = 0.01


def to_unit(counts):
    """Counts in [0, 255] -> training targets in [MARGIN, 1 - MARGIN]."""
    y = jnp.log1p(jnp.clip(counts, 0.0, 255.0) / LOG_SCALE) / math.log1p(255.0 / LOG_SCALE)
    return MARGIN + (1.0 - 2.0 * MARGIN) * y


def from_unit(y):
    """Decoded means -> counts; the margins map to exactly 0 and 255."""
    y = jnp.clip((y - MARGIN) / (1.0 - 2.0 * MARGIN), 0.0, 1.0)
    return LOG_SCALE * jnp.expm1(y * math.log1p(255.0 / LOG_SCALE))


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
        mean, logvar = self.encode(x, cond)
        z = mean + jnp.exp(0.5 * logvar) * eps
        return self.decode(z, cond), mean, logvar
