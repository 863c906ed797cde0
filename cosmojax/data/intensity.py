"""Intensity maps: how a generator sees pixel values, with exact inverses.

Cosmology images are heavy-tailed: a sparse set of bright sources on an
empty sky. A generator trained on linear intensities spends its likelihood on
the sky and ignores the faint end (CosmoGAN and 3DcosmoGAN map intensities
before training for that reason). A map ``forward: [0, 1] -> [0, 1]`` is
applied to the prepared images on the accelerator inside the train step; the
generator's outputs go through ``inverse`` before they become images, so
users always get intensities on the original scale (``sampling``,
``generate``, ``evaluate``). Both directions are exact and monotone, map 0 to 0
and 1 to 1, and work on NumPy and JAX arrays alike.

- ``linear``: the identity (the paper's VAE).
- ``log``: ``log(1 + x / a) / log(1 + 1 / a)`` -- a log stretch that lifts
  intensities below ``a`` least; inverse ``a * (exp(y log(1 + 1/a)) - 1)``.
- ``stretch``: ``x (1 + a) / (x + a)`` -- the CosmoGAN-style rational map
  ``2x / (x + a) - 1`` rescaled to [0, 1]; inverse ``a y / (1 + a - y)``.
"""

from __future__ import annotations

import math

from cosmojax.configlib import ConfigError
from cosmojax.data import sky

MAPS = ("linear", "log", "stretch")


def _xp(x):
    if type(x).__module__.startswith(("jax", "jaxlib")):
        import jax.numpy as jnp

        return jnp
    import numpy as np

    return np


def check(name: str, scale: float) -> None:
    if name not in MAPS:
        raise ConfigError(f"data.intensity_map: expected one of {', '.join(MAPS)}, got {name!r}")
    if name != "linear" and not scale > 0:
        raise ConfigError(f"data.intensity_scale: expected a positive number, got {scale!r}")


def forward(x, name: str = "linear", scale: float = 0.01):
    """Intensities in [0, 1] -> the generator's values in [0, 1]."""
    check(name, scale)
    if name == "linear":
        return x
    xp = _xp(x)
    if name == "log":
        return xp.log1p(x / scale) / math.log1p(1.0 / scale)
    return x * (1.0 + scale) / (x + scale)


def inverse(y, name: str = "linear", scale: float = 0.01):
    """The generator's values in [0, 1] -> intensities in [0, 1] (exact inverse)."""
    check(name, scale)
    if name == "linear":
        return y
    xp = _xp(y)
    y = xp.clip(y, 0.0, 1.0)
    if name == "log":
        return scale * xp.expm1(y * math.log1p(1.0 / scale))
    return scale * y / (1.0 + scale - y)


def to_tanh_range(
    x, intensity_map: str = "linear", intensity_scale: float = 0.01, subtract_sky: bool = False
):
    """Prepared intensities ``[N, H, W, 1]`` in [0, 1] -> a GAN's [-1, 1]: less each
    image's sky level first (``subtract_sky``, a ``data.sky`` ``draw`` run), then
    the map. The generator learns these values and its discriminator reads them,
    in training and as a critic scorer.

    >>> import numpy as np
    >>> to_tanh_range(np.array([[[[0.0]], [[1.0]]]]), "log", 0.02).ravel().tolist()
    [-1.0, 1.0]
    """
    if subtract_sky:
        x = sky.subtract(x)
    return forward(x, intensity_map, intensity_scale) * 2.0 - 1.0


def of_config(data_cfg) -> dict:
    """The keyword arguments of :func:`to_tanh_range` that a config's ``data`` block sets."""
    return {
        "intensity_map": str(data_cfg.intensity_map),
        "intensity_scale": float(data_cfg.intensity_scale),
        "subtract_sky": sky.mode(data_cfg) == "draw",
    }
