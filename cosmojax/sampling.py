"""Sampling trained generators from Python (VAE and GAN workdirs alike).

    >>> import jax
    >>> from cosmojax import sampling
    >>> g = sampling.load("runs/vae")               # latest checkpoint and its config
    >>> imgs = g.sample(jax.random.PRNGKey(0), 16)  # uint8 [16, 128, 128]
    >>> sampling.grid(imgs)                          # a PIL image; shows in notebooks
    >>> mean, logvar = g.encode(real_images)         # uint8 [N, H, W], any H, W
    >>> path = g.interpolate(mean[0], mean[1], 8, method="slerp")
    >>> sampling.save_pngs(imgs, "out/")

Every network call is jitted and compiled once per input shape.
"""

from __future__ import annotations

import dataclasses
import functools
import os

import jax
import jax.numpy as jnp
import numpy as np

from cosmojax.data import resample
from cosmojax.images import grid, save_pngs, to_uint8

__all__ = ["Generator", "load", "grid", "save_pngs"]


@dataclasses.dataclass
class Generator:
    """A trained generator. Images come back as uint8 ``[N, r, r]``."""

    kind: str  # "vae" or "gan"
    config: object
    params: object
    model_state: dict
    decode_fn: object  # (params, model_state, z) -> intensities in [0, 1], [N, r, r, 1]
    encode_fn: object | None  # (params, x) -> (mean, logvar), or None for GANs
    latent_dim: int
    step: int
    draw_fn: object | None = None  # (params, model_state, z, key) -> a draw from p(x | z)
    latent_prior: dict | None = None  # see tasks.vae.draw_latents; None = N(0, I)
    library: object | None = None  # the run's upscale.SourceLibrary (sources.npz), if any

    @property
    def resolution(self) -> int:
        return int(self.config.data.resolution)

    @functools.cached_property
    def _decode(self):
        return jax.jit(self.decode_fn)

    @functools.cached_property
    def _encode(self):
        if self.encode_fn is None:
            return None
        return jax.jit(self.encode_fn)

    def latents(self, key, n: int) -> jax.Array:
        """``n`` latents from the prior: N(0, I), or, for a VAE trained with
        ``model.latent_prior`` ``fitted`` / ``aggregate``, the prior made from its
        training images' posteriors at the restored step."""
        if self.latent_prior is None:
            return jax.random.normal(key, (n, self.latent_dim), jnp.float32)
        from cosmojax.tasks import vae as vae_task

        return vae_task.draw_latents(self.latent_prior, key, n, self.latent_dim)

    def decode_float(self, z) -> np.ndarray:
        """Intensities in [0, 1], float32 ``[N, r, r]``."""
        z = jnp.asarray(z, jnp.float32)
        if z.ndim not in (1, 2) or z.shape[-1] != self.latent_dim:
            raise ValueError(
                f"latents: expected [N, {self.latent_dim}] or [{self.latent_dim}] "
                f"(latent_dim of this {self.kind} run), got shape {tuple(z.shape)}"
            )
        z = z.reshape(-1, self.latent_dim)
        return np.asarray(self._decode(self.params, self.model_state, z))[..., 0]

    def decode(self, z) -> np.ndarray:
        """Latents ``[N, latent_dim]`` (or one ``[latent_dim]``) -> uint8 images: the
        decoder's most probable image (no pixel noise)."""
        return to_uint8(self.decode_float(z))

    @functools.cached_property
    def _draw(self):
        return None if self.draw_fn is None else jax.jit(self.draw_fn)

    def sample_float(self, key, n: int) -> np.ndarray:
        """``n`` draws from the model, intensities in [0, 1], float32 ``[n, r, r]``:
        z from the prior, then x from p(x | z) (for likelihoods whose draws are
        images, such as the zero-inflated one; otherwise the decoded image)."""
        k_z, k_x = jax.random.split(key)
        z = self.latents(k_z, n)
        if self._draw is None:
            return self.decode_float(z)
        return np.asarray(self._draw(self.params, self.model_state, z, k_x))[..., 0]

    def sample(self, key, n: int) -> np.ndarray:
        """``n`` images from the model (uint8); the same key gives the same images."""
        return to_uint8(self.sample_float(key, n))

    def encode(self, images) -> tuple[np.ndarray, np.ndarray]:
        """uint8 images ``[N, H, W]`` of any size -> ``(mean, logvar)`` ``[N, latent_dim]``.

        Images are reduced to the model resolution like the training data
        (``data.downsample``); the intensity map is applied inside ``encode_fn``.
        """
        if self._encode is None:
            raise NotImplementedError(
                f"encode is not supported for {self.kind.upper()}s: a GAN has no encoder"
            )
        how = self.config.data.get("downsample", "area")
        x = np.stack(
            [resample.prepare_image(np.asarray(im), self.resolution, how) for im in images]
        )[..., None]
        mean, logvar = self._encode(self.params, jnp.asarray(x))
        return np.asarray(mean), np.asarray(logvar)

    def reconstruct(self, images) -> np.ndarray:
        """Decodes the posterior means of ``images``."""
        mean, _ = self.encode(images)
        return self.decode(mean)

    def interpolate(self, z0, z1, steps: int, method: str = "linear") -> np.ndarray:
        """Images along the path from ``z0`` to ``z1`` (``linear`` or spherical ``slerp``)."""
        z0, z1 = np.asarray(z0, np.float64).ravel(), np.asarray(z1, np.float64).ravel()
        t = np.linspace(0.0, 1.0, steps)[:, None]
        if method == "linear":
            z = (1 - t) * z0 + t * z1
        elif method == "slerp":
            cos = np.dot(z0, z1) / (np.linalg.norm(z0) * np.linalg.norm(z1) + 1e-12)
            omega = np.arccos(np.clip(cos, -1.0, 1.0))
            if omega < 1e-6:
                z = (1 - t) * z0 + t * z1
            else:
                z = (np.sin((1 - t) * omega) * z0 + np.sin(t * omega) * z1) / np.sin(omega)
        else:
            raise ValueError(f"method: expected 'linear' or 'slerp', got {method!r}")
        return self.decode(z.astype(np.float32))


def load(workdir: str | os.PathLike, *, step: int | None = None) -> Generator:
    """The generator trained in ``workdir``: its checkpoint with the lowest
    statistics Fréchet distance (``eval_stats_frechet``), or ``step``."""
    from cosmojax import restore, upscale

    task, state, step = restore.load_run(workdir, step=step, best=True)
    if not hasattr(task, "generator_fns"):
        raise ValueError(f"{workdir}: a {task.name!r} run has no generator")
    task.read_workdir(workdir)
    decode_fn, encode_fn = task.generator_fns()
    return Generator(
        kind=task.name,
        config=task.config,
        params=state.params,
        model_state=dict(state.model_state),
        decode_fn=decode_fn,
        encode_fn=encode_fn,
        latent_dim=task.latent_dim,
        step=step,
        draw_fn=task.draw_fn() if hasattr(task, "draw_fn") else None,
        latent_prior=_latent_prior(task, workdir, step),
        library=upscale.load_library(workdir),
    )


def _latent_prior(task, workdir, step: int) -> dict | None:
    if task.name != "vae" or task.config.model.get("latent_prior", "standard") == "standard":
        return None
    from cosmojax.tasks import vae as vae_task

    return vae_task.load_latent_prior(workdir, step)
