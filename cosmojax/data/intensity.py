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
