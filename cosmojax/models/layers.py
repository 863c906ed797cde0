"""Layers shared by the generators.

``ConvTranspose2x`` is a 4x4, stride-2 transposed convolution written as four
stride-1 phase convolutions: the same result, but XLA's CPU backend computes
its gradients several times faster than those of ``nn.ConvTranspose``.
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

conv_init = nn.initializers.normal(0.02)


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
    use_bias: bool = False
    kernel_init: Any = conv_init
    bias_init: Any = nn.initializers.zeros

    @nn.compact
    def __call__(self, x):
        w = self.param("kernel", self.kernel_init, (4, 4, x.shape[-1], self.features), jnp.float32)
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
        out = jnp.stack(rows, axis=2).reshape(b, 2 * h, 2 * w_, self.features)
        if self.use_bias:
            out = out + self.param("bias", self.bias_init, (self.features,), jnp.float32).astype(
                self.dtype
            )
        return out


class ResizeConv2x(nn.Module):
    """Nearest-neighbour 2x upsampling, then a 3x3 convolution, no bias (Odena et
    al. 2016): every output pixel sees the same number of kernel taps, so the
    layer has no checkerboard pattern to unlearn (a transposed convolution with
    stride 2 weights alternate pixels by different taps)."""

    features: int
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x):
        x = jnp.repeat(jnp.repeat(x.astype(self.dtype), 2, axis=1), 2, axis=2)
        return nn.Conv(
            self.features,
            (3, 3),
            padding="SAME",
            use_bias=False,
            kernel_init=conv_init,
            dtype=self.dtype,
            name="conv",
        )(x)


HIDDEN = "hidden"  # the ``intermediates`` entry each scorer sows


def sow_hidden(module: nn.Module, x):
    """Records ``x``, the last hidden layer (before its activation), as the
    ``intermediates`` entry ``hidden``: the features of
    :meth:`cosmojax.scoring.Scorer.penultimate`. Returns ``x``."""
    module.sow("intermediates", HIDDEN, x)
    return x
