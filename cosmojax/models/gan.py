"""DCGAN (Radford et al. 2016) for 64x64 or 128x128 single-channel images.

Generator: z -> 4x4 -> ... -> size x size through transposed convolutions with
BatchNorm and ReLU, tanh output. Discriminator: strided 4x4 convolutions with
LeakyReLU 0.2 and BatchNorm on every layer but the first, a logit out. No
biases (BatchNorm has them), N(0, 0.02) weights and N(1, 0.02) BatchNorm
scales, as in the paper and the PyTorch example; at 64x64 the parameter
counts equal the PyTorch reference's (3,574,656 and 2,763,520).

BatchNorm statistics live in the ``batch_stats`` collection (train mode
updates them, eval mode reads them); with ``axis_name`` set, batch statistics
are averaged over that mesh axis, so all devices normalise with the statistics
of the global batch.
"""

from __future__ import annotations

import math
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from cosmojax.configlib import ConfigError
from cosmojax.data import intensity
from cosmojax.models.layers import ConvTranspose2x, Project, ResizeConv2x, conv_init, sow_hidden


def bn_scale_init(key, shape, dtype=jnp.float32):
    return 1.0 + 0.02 * nn.initializers.normal(1.0)(key, shape, dtype)


def stages(size: int) -> int:
    n = int(math.log2(size)) - 2
    if 2 ** (n + 2) != size or n < 2:
        raise ValueError(f"DCGAN image size must be a power of two >= 16, got {size}")
    return n


UPSAMPLES = ("transpose", "resize")


def output_map(x, margin: float = 0.0):
    """``tanh``, or with ``margin`` > 0 ``clip((1 + margin) tanh(x), -1, 1)`` whose
    gradient is ``tanh``'s, straight through the clip."""
    t = jnp.tanh(x)
    if not margin:
        return t
    return t + jax.lax.stop_gradient(jnp.clip((1.0 + margin) * t, -1.0, 1.0) - t)


class Generator(nn.Module):
    """``upsample``: ``transpose`` (4x4 stride-2 transposed convolutions, the
    paper's) or ``resize`` (nearest 2x then a 3x3 convolution).

    ``margin`` > 0: the output is ``clip((1 + margin) tanh(x), -1, 1)``, with the
    gradient of ``tanh`` straight through the clip, so the ends of the range, an
    empty sky and a saturated 255, are reached exactly (``tanh`` only tends to
    them) without a region of zero gradient."""

    size: int = 64
    nz: int = 100
    ngf: int = 64
    axis_name: str | None = None
    dtype: Any = jnp.float32
    upsample: str = "transpose"
    margin: float = 0.0

    @nn.compact
    def __call__(self, z, train: bool = False):
        if self.upsample not in UPSAMPLES:
            raise ConfigError(
                f"model.g_upsample: expected one of {UPSAMPLES}, got {self.upsample!r}"
            )
        up = ConvTranspose2x if self.upsample == "transpose" else ResizeConv2x
        n = stages(self.size)
        ch = [self.ngf * 2**i for i in reversed(range(n))]
        bn = dict(
            use_running_average=not train,
            momentum=0.9,
            epsilon=1e-5,
            scale_init=bn_scale_init,
            axis_name=self.axis_name if train else None,
            dtype=self.dtype,
        )
        x = Project(ch[0], self.dtype)(z.reshape(z.shape[0], -1))
        x = nn.relu(nn.BatchNorm(**bn)(x))
        for c in ch[1:]:
            x = nn.relu(nn.BatchNorm(**bn)(up(c, self.dtype)(x)))
        return output_map(up(1, self.dtype)(x).astype(jnp.float32), self.margin)


NORMS = ("batch", "layer", "none")


class Discriminator(nn.Module):
    """``__call__`` -> logits ``[B]``; ``features`` -> the last hidden layer, flattened.

    ``norm``: ``batch`` (DCGAN), or ``layer`` / ``none`` for a Wasserstein critic,
    whose gradient penalty is defined per example and so must not mix examples
    through batch statistics (Gulrajani et al. 2017). Without BatchNorm the
    convolutions get biases.
    """

    size: int = 64
    ndf: int = 64
    axis_name: str | None = None
    dtype: Any = jnp.float32
    norm: str = "batch"
    mbstd_group: int = 0  # > 0: a minibatch-stddev channel over groups of this many images

    def setup(self):
        if self.norm not in NORMS:
            raise ConfigError(f"model.d_norm: expected one of {NORMS}, got {self.norm!r}")
        n = stages(self.size)
        ch = [self.ndf * 2**i for i in range(n)]
        self.convs = [
            nn.Conv(
                c,
                (4, 4),
                strides=(2, 2),
                padding=((1, 1), (1, 1)),
                use_bias=self.norm != "batch",
                kernel_init=conv_init,
                dtype=self.dtype,
            )
            for c in ch
        ]
        if self.norm == "batch":
            self.norms = [
                nn.BatchNorm(
                    momentum=0.9,
                    epsilon=1e-5,
                    scale_init=bn_scale_init,
                    axis_name=self.axis_name,
                    dtype=self.dtype,
                )
                for _ in ch[1:]
            ]
        elif self.norm == "layer":
            self.norms = [
                nn.LayerNorm(reduction_axes=(-3, -2, -1), dtype=self.dtype) for _ in ch[1:]
            ]
        self.out = nn.Conv(
            1, (4, 4), padding="VALID", use_bias=False, kernel_init=conv_init, dtype=self.dtype
        )

    def features(self, x, train: bool = False):
        h = nn.leaky_relu(self.convs[0](x.astype(self.dtype)), 0.2)
        for i, conv in enumerate(self.convs[1:]):
            h = conv(h)
            if self.norm == "batch":
                h = self.norms[i](h, use_running_average=not train)
            elif self.norm == "layer":
                h = self.norms[i](h)
            h = nn.leaky_relu(h, 0.2)
        return h

    def __call__(self, x, train: bool = False):
        h = self.features(x, train)
        if self.mbstd_group:
            g = self.mbstd_group
            b = h.shape[0]
            grouped = h.reshape(b // g, g, *h.shape[1:]).astype(jnp.float32)
            sd = jnp.sqrt(grouped.var(axis=1) + 1e-8).mean(axis=(1, 2, 3))  # [b // g]
            extra = jnp.broadcast_to(jnp.repeat(sd, g)[:, None, None, None], (*h.shape[:3], 1))
            h = jnp.concatenate([h, extra.astype(h.dtype)], axis=-1)
        return self.out(h).reshape(x.shape[0]).astype(jnp.float32)


class CriticScorer(nn.Module):
    """A scorer on a DCGAN discriminator's features: a small head on the last
    hidden layer. ``frozen`` keeps the backbone as trained (no gradient);
    otherwise it is fine-tuned end to end. The images reach the backbone as
    they reached it in the GAN's training (:meth:`inputs`)."""

    size: int = 64
    ndf: int = 64
    head_width: int = 100
    frozen: bool = True
    score_offset: float = 1.5
    dtype: Any = jnp.float32
    norm: str = "batch"  # the GAN's model.d_norm
    # what the discriminator read in the GAN's training (intensity.to_tanh_range)
    intensity_map: str = "linear"
    intensity_scale: float = 0.01
    subtract_sky: bool = False

    def inputs(self, images):
        """Prepared intensities ``[N, r, r, 1]`` -> the discriminator's input, as
        the GAN's training gave it its real images."""
        return intensity.to_tanh_range(
            images.astype(jnp.float32), self.intensity_map, self.intensity_scale, self.subtract_sky
        )

    @nn.compact
    def __call__(self, images, train: bool = False):
        x = self.inputs(images)
        h = Discriminator(
            self.size, self.ndf, dtype=self.dtype, norm=self.norm, name="backbone"
        ).features(x)
        if self.frozen:
            h = jax.lax.stop_gradient(h)
        h = h.reshape(h.shape[0], -1)
        h = nn.relu(sow_hidden(self, nn.Dense(self.head_width, dtype=self.dtype)(h)))
        out = nn.Dense(1, dtype=self.dtype, bias_init=nn.initializers.constant(self.score_offset))(
            h
        )
        return out[:, 0].astype(jnp.float32)
