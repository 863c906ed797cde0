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

conv_init = nn.initializers.normal(0.02)


def bn_scale_init(key, shape, dtype=jnp.float32):
    return 1.0 + 0.02 * nn.initializers.normal(1.0)(key, shape, dtype)


def stages(size: int) -> int:
    n = int(math.log2(size)) - 2
    if 2 ** (n + 2) != size or n < 2:
        raise ValueError(f"DCGAN image size must be a power of two >= 16, got {size}")
    return n


class Project(nn.Module):
    """z ``[B, nz]`` -> ``[B, 4, 4, features]``: the first transposed convolution
    (4x4 kernel on a 1x1 input) written as the contraction it is."""

    features: int
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, z):
        w = self.param("kernel", conv_init, (4, 4, z.shape[-1], self.features), jnp.float32)
        return jnp.einsum("bk,yxkc->byxc", z.astype(self.dtype), w.astype(self.dtype))


# Transposed 4x4 convolution, stride 2, padding 1 (PyTorch's ConvTranspose2d(4, 2, 1)):
# out[2m + r] takes input rows m - 1, m (r = 0; kernel taps 3, 1) or m, m + 1 (r = 1;
# taps 2, 0), and the same for columns. Each of the four output phases is thus a 2x2
# convolution of the input, with the padding given here.
_PHASES = {0: ((3, 1), (1, 0)), 1: ((2, 0), (0, 1))}


class ConvTranspose2x(nn.Module):
    """4x4 transposed convolution with stride 2 (doubles H and W), no bias.

    Computed as four ordinary 2x2 convolutions, one per output phase, then
    interleaved. The result equals the zero-inserting formulation exactly, but
    XLA's CPU backend computes the gradients of these convolutions about 9x
    faster than those of ``nn.ConvTranspose`` (benchmarks/throughput.py).
    """

    features: int
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x):
        w = self.param("kernel", conv_init, (4, 4, x.shape[-1], self.features), jnp.float32)
        w = w.astype(self.dtype)
        x = x.astype(self.dtype)
        rows = []
        for ry in (0, 1):
            cols = []
            for rx in (0, 1):
                (ty, py), (tx, px) = _PHASES[ry], _PHASES[rx]
                k = w[jnp.array(ty)][:, jnp.array(tx)]
                cols.append(
                    jax.lax.conv_general_dilated(
                        x, k, (1, 1), (py, px), dimension_numbers=("NHWC", "HWIO", "NHWC")
                    )
                )
            rows.append(jnp.stack(cols, axis=3))  # [B, H, W, rx, C]
        b, h, w_, _ = x.shape
        return jnp.stack(rows, axis=2).reshape(b, 2 * h, 2 * w_, self.features)


class Generator(nn.Module):
    size: int = 64
    nz: int = 100
    ngf: int = 64
    axis_name: str | None = None
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, z, train: bool = False):
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
            x = nn.relu(nn.BatchNorm(**bn)(ConvTranspose2x(c, self.dtype)(x)))
        x = ConvTranspose2x(1, self.dtype)(x)
        return jnp.tanh(x).astype(jnp.float32)


class Discriminator(nn.Module):
    """``__call__`` -> logits ``[B]``; ``features`` -> the last hidden layer, flattened."""

    size: int = 64
    ndf: int = 64
    axis_name: str | None = None
    dtype: Any = jnp.float32

    def setup(self):
        n = stages(self.size)
        ch = [self.ndf * 2**i for i in range(n)]
        self.convs = [
            nn.Conv(
                c,
                (4, 4),
                strides=(2, 2),
                padding=((1, 1), (1, 1)),
                use_bias=False,
                kernel_init=conv_init,
                dtype=self.dtype,
            )
            for c in ch
        ]
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
        self.out = nn.Conv(
            1, (4, 4), padding="VALID", use_bias=False, kernel_init=conv_init, dtype=self.dtype
        )

    def features(self, x, train: bool = False):
        h = nn.leaky_relu(self.convs[0](x.astype(self.dtype)), 0.2)
        for conv, norm in zip(self.convs[1:], self.norms, strict=True):
            h = nn.leaky_relu(norm(conv(h), use_running_average=not train), 0.2)
        return h

    def __call__(self, x, train: bool = False):
        return self.out(self.features(x, train)).reshape(x.shape[0]).astype(jnp.float32)


class CriticScorer(nn.Module):
    """A scorer on a DCGAN discriminator's features: a small head on the last
    hidden layer. ``frozen`` keeps the backbone as trained (no gradient);
    otherwise it is fine-tuned end to end. BatchNorm uses the GAN's running
    statistics in both cases."""

    size: int = 64
    ndf: int = 64
    head_width: int = 100
    frozen: bool = True
    score_offset: float = 1.5
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, images, train: bool = False):
        x = images.astype(jnp.float32) * 2.0 - 1.0  # the GAN's [-1, 1] range
        h = Discriminator(self.size, self.ndf, dtype=self.dtype, name="backbone").features(x)
        if self.frozen:
            h = jax.lax.stop_gradient(h)
        h = h.reshape(h.shape[0], -1)
        h = nn.relu(nn.Dense(self.head_width, dtype=self.dtype)(h))
        out = nn.Dense(1, dtype=self.dtype, bias_init=nn.initializers.constant(self.score_offset))(
            h
        )
        return out[:, 0].astype(jnp.float32)
