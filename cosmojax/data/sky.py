"""The sky level of an image, and generators that draw it instead of learning it.

A real image's sky is one constant level: 0 counts for most, 1 or 2 for some
(about a fifth of the default set's galaxy images). Its sources sit on top of
it. A GAN draws the sources well but drops the grey-sky mode: none of the
DCGANs trained here ever drew one, and an empty sky in every image costs the
statistics Fréchet distance about 50x the real-vs-real value by itself
(benchmarks/RESULTS.md), while giving the real images each other's skies
(a random permutation) costs nothing: the sky level is independent of the rest.

``data.sky``:

- ``keep`` (default): the model sees and draws each image with its sky.
- ``draw``: the model sees each training image less its sky (:func:`subtract`:
  the per-image minimum of its model-resolution intensities) and draws
  sky-free images; the sky is then added back, drawn from the training
  images' own levels (:class:`SkyLevels`, ``WORKDIR/sky.json``) through one
  extra latent coordinate ``u ~ N(0, 1)``: the level at quantile ``Phi(u)``.
  So ``decode(z)`` stays a pure function of ``z``, and ``sample`` draws
  skies with the data's frequencies.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from cosmojax import files
from cosmojax.configlib import ConfigError

MODES = ("keep", "draw")
SKY_FILE = "sky.json"
VERSION = 1


def check(mode: str) -> None:
    if mode not in MODES:
        raise ConfigError(f"data.sky: expected one of {MODES}, got {mode!r}")


def mode(data_cfg) -> str:
    """``data.sky`` of a config (``keep`` for configs written before it existed)."""
    m = str(data_cfg.get("sky", "keep"))
    check(m)
    return m


def levels_of(images):
    """Per-image sky level (the minimum) of intensities ``[N, H, W]`` or
    ``[N, H, W, 1]``, NumPy or JAX."""
    return images.reshape(images.shape[0], -1).min(axis=1)


def subtract(x):
    """Intensities ``[N, H, W, C]`` (jnp or np) less each image's sky level."""
    return x - levels_of(x)[:, None, None, None]


@dataclasses.dataclass(frozen=True)
class SkyLevels:
    """The sky levels (intensities in [0, 1]) of a generator's training images."""

    levels: np.ndarray  # float32 [n], sorted

    @classmethod
    def from_images(cls, images) -> SkyLevels:
        levels = np.sort(levels_of(np.asarray(images, np.float32)))
        if not len(levels):
            raise ValueError("SkyLevels: no images to take sky levels from")
        return cls(levels)

    def at(self, u):
        """The level at quantile ``Phi(u)`` of each ``u`` (jnp, ``[N]``)."""
        n = len(self.levels)
        q = jax.scipy.stats.norm.cdf(u)
        idx = jnp.clip(jnp.floor(q * n).astype(jnp.int32), 0, n - 1)
        return jnp.asarray(self.levels)[idx]

    def save(self, path: str | os.PathLike) -> None:
        """Written whole or not at all (a temporary file, then renamed)."""
        files.atomic_write_text(
            path, json.dumps({"version": VERSION, "levels": self.levels.tolist()})
        )

    @classmethod
    def load(cls, path: str | os.PathLike) -> SkyLevels:
        path = Path(path)
        try:
            d = json.loads(path.read_text())
            if int(d["version"]) != VERSION:
                raise ValueError(f"version {d['version']}, expected {VERSION}")
            levels = np.sort(np.asarray(d["levels"], np.float32))
            if levels.ndim != 1 or not len(levels) or not np.all(np.isfinite(levels)):
                raise ValueError("expected a non-empty list of finite levels")
            if levels.min() < 0 or levels.max() > 1:
                raise ValueError("expected levels in [0, 1]")
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise ValueError(f"{path}: not a sky-level file ({e})") from None
        return cls(levels)
