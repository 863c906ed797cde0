"""A conditional VAE of single sources: the ``learned`` upscaler's model.

It learns the full-resolution sources of a generator's training images
(``upscale.cutouts``: a square of counts around each source's peak) given
what the generator's low-resolution image shows of them
(``upscale.conditions``: the peak and the 5x5 blocks around it). The ELBO's
prior of the latent is conditional too, p(z | c) = N(mu(c), sigma(c)^2)
(Sohn et al. 2015): with N(0, I) the latent carried what the condition
already says (how extended a bright source is). Latents are drawn from a
second prior, a mixture of Gaussians m(z | c) (``mixture``) fitted by
maximum likelihood to the encoder's latents in the same training step, their
gradient stopped: the Gaussian's draws decoded to sources about 30% smaller
than the library's, where the encoder's own latents gave the library's
sizes. Drawing z from m(z | c) and decoding it with a generated peak's
condition gives a source of its own for that peak, not a copy of a training
source.

A source is modelled as its shape: its counts over its peak's, in [0, 1]; the
brightness is the generated peak's, as for ``stamps``. The shape is modelled
per pixel in three states (``EMPTY``, ``BETWEEN``, ``AT_PEAK``), whose
probabilities the decoder gives: an empty pixel, one at the peak's level (a
saturated core's plateau), or one in between, Gaussian in a log map
(``to_unit``: wings at a few percent of the peak matter as much as the core)
with a mean and sd (``SIGMA_MIN`` and up) of its own. A faint wing is
mostly a matter of which pixels are empty, which a single Gaussian cannot
say: its mean falls in between, below half a count, and the wing is cut. A
drawn source is each pixel's quantile under this likelihood at one uniform
for the whole source (``quantile_shape``): each pixel keeps the likelihood's
distribution, and the wings stay smooth, as real ones are (a draw of every
pixel on its own makes them grainy).
"""

from __future__ import annotations

import math
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax.scipy.special import ndtri

from cosmojax.models import vae as vae_models

LOG_SCALE = 0.002  # of the peak: the log map's knee (log(1 + r / a) / log(1 + 1 / a))
MARGIN = 0.01
SIGMA_MIN = 0.01  # the likelihood's smallest sd, in the log map
EMPTY, BETWEEN, AT_PEAK = range(3)  # a pixel's states


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


class SourceVAE(nn.Module):
    """MLP encoder q(z | x, c) and decoder p(x | z, c) over ``patch`` x ``patch``
    squares, both reading the condition ``c``; the decoder gives each pixel's
    state logits, and the mean and sd (starting at ``sigma``) of its value in
    between."""

    patch: int = 65
    latent_dim: int = 16
    hidden: int = 512
    sigma: float = 0.1
    components: int = 8
    dtype: Any = jnp.float32

    def setup(self):
        dense = lambda n: nn.Dense(n, dtype=self.dtype)  # noqa: E731
        self.enc = [dense(self.hidden), dense(self.hidden)]
        self.enc_out = dense(2 * self.latent_dim)
        self.dec = [dense(self.hidden), dense(self.hidden)]
        self.dec_out = nn.Dense(
            self.patch * self.patch, dtype=self.dtype, bias_init=vae_models.sky_bias
        )
        start = math.log(math.expm1(self.sigma - SIGMA_MIN))  # softplus^-1: sd starts at sigma
        self.dec_sd = nn.Dense(
            self.patch * self.patch, dtype=self.dtype, bias_init=nn.initializers.constant(start)
        )
        self.dec_state = dense(3 * self.patch * self.patch)
        self.prior_hidden = dense(self.hidden // 2)
        self.prior_out = dense(2 * self.latent_dim)
        self.mix_hidden = [dense(self.hidden // 2), dense(self.hidden // 2)]
        self.mix_out = dense(self.components * (1 + 2 * self.latent_dim))

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
        """Each pixel's ``(state logits [N, patch, patch, 3], mean, sd)``: the
        last two ``[N, patch, patch, 1]``, of its value in between, in the log map."""
        h = jnp.concatenate([z, cond], axis=-1)
        for layer in self.dec:
            h = nn.gelu(layer(h))
        shape = (-1, self.patch, self.patch, 1)
        mean = nn.sigmoid(self.dec_out(h).astype(jnp.float32)).reshape(shape)
        sd = SIGMA_MIN + nn.softplus(self.dec_sd(h).astype(jnp.float32)).reshape(shape)
        states = self.dec_state(h).astype(jnp.float32).reshape(-1, self.patch, self.patch, 3)
        return states, mean, sd

    def mixture(self, cond):
        """The sampling prior of z given c: ``(logits [N, K], means [N, K, D],
        log sds [N, K, D])`` of a mixture of ``components`` Gaussians."""
        h = cond
        for layer in self.mix_hidden:
            h = nn.gelu(layer(h))
        out = self.mix_out(h).astype(jnp.float32)
        k, d = self.components, self.latent_dim
        logits, rest = out[:, :k], out[:, k:].reshape(-1, k, 2, d)
        return logits, rest[:, :, 0], jnp.clip(rest[:, :, 1], -7.0, 2.0)

    def __call__(self, x, cond, eps):
        """``((state logits, mean, sd), KL(q(z | x, c) || p(z | c)), -log m(z | c))``
        per example: the decoded latent ``z`` ~ q(z | x, c), the KL to the
        Gaussian prior the ELBO uses, and the mixture's negative log density of
        ``z`` (held fixed: it trains the mixture alone)."""
        mean, logvar = self.encode(x, cond)
        z = mean + jnp.exp(0.5 * logvar) * eps
        kl = gaussian_kl(mean, logvar, *self.prior(cond))
        return self.decode(z, cond), kl, mixture_nll(self.mixture(cond), jax.lax.stop_gradient(z))

    def sample_latent(self, cond, eps, u):
        """A draw from the mixture m(z | c): the component at uniform ``u`` ``[N]``
        by its probability, then its Gaussian for standard normals ``eps``."""
        logits, means, log_sds = self.mixture(cond)
        cdf = jnp.cumsum(jax.nn.softmax(logits), axis=-1)
        k = jnp.minimum(jnp.sum(cdf < u[:, None], axis=-1), self.components - 1)
        pick = lambda a: jnp.take_along_axis(a, k[:, None, None], axis=1)[:, 0]  # noqa: E731
        return pick(means) + jnp.exp(pick(log_sds)) * eps


def states(shape):
    """Each pixel's state in a shape (counts over the peak's, in [0, 1])."""
    return jnp.where(shape <= 0.0, EMPTY, jnp.where(shape >= 1.0, AT_PEAK, BETWEEN))


def nll(decoded, shape):
    """-sum log p(shape) over each example's pixels, for ``decoded`` =
    ``SourceVAE.decode``'s ``(state logits, mean, sd)``."""
    logits, mean, sd = decoded
    state = states(shape)
    log_p = jnp.take_along_axis(jax.nn.log_softmax(logits), state, axis=-1)
    gauss = 0.5 * ((to_unit(shape) - mean) / sd) ** 2 + jnp.log(sd) + vae_models.HALF_LOG_2PI
    per_pixel = -log_p + jnp.where(state == BETWEEN, gauss, 0.0)
    return per_pixel.reshape(per_pixel.shape[0], -1).sum(-1)


def quantile_shape(decoded, u):
    """Each pixel's ``u``-quantile under the likelihood, as a shape in [0, 1], for
    ``u`` in (0, 1) broadcast against ``[N, patch, patch, 1]`` (one per source:
    the same quantile at every pixel). The states are in the order of their
    values, so the quantile lies in the first state whose cumulative
    probability reaches ``u``; in between, it is the Gaussian's quantile at
    what is left of ``u`` (through the monotone ``from_unit``), which fades to
    empty where the empty state's probability nears ``u``. A uniform ``u``
    gives each pixel the likelihood's distribution, and a source a smooth
    shape: larger and brighter as ``u`` grows."""
    logits, mean, sd = decoded
    p = jax.nn.softmax(logits)
    p_empty, p_between = p[..., :1], p[..., 1:2]
    state = jnp.where(u <= p_empty, EMPTY, jnp.where(u <= p_empty + p_between, BETWEEN, AT_PEAK))
    q = jnp.clip((u - p_empty) / jnp.maximum(p_between, 1e-12), 1e-6, 1.0 - 1e-6)
    between = from_unit(mean + sd * ndtri(q))
    return jnp.where(state == EMPTY, 0.0, jnp.where(state == AT_PEAK, 1.0, between))


def mixture_nll(mixture, z):
    """-log of the mixture ``(logits, means, log sds)``'s density at ``z`` ``[N, D]``."""
    logits, means, log_sds = mixture
    per = -0.5 * (((z[:, None] - means) / jnp.exp(log_sds)) ** 2) - log_sds
    log_p = per.sum(-1) - 0.5 * z.shape[-1] * math.log(2 * math.pi)
    return -jax.nn.logsumexp(jax.nn.log_softmax(logits) + log_p, axis=-1)


def gaussian_kl(mean_q, logvar_q, mean_p, logvar_p):
    """KL(N(mean_q, exp(logvar_q)) || N(mean_p, exp(logvar_p))), summed over dims."""
    return 0.5 * jnp.sum(
        logvar_p
        - logvar_q
        + (jnp.exp(logvar_q) + (mean_q - mean_p) ** 2) / jnp.exp(logvar_p)
        - 1.0,
        axis=-1,
    )
