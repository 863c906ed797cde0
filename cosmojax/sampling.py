"""Sampling trained generators from Python (VAE and GAN workdirs alike).

    >>> import jax
    >>> from cosmojax import sampling
    >>> g = sampling.load("runs/vae")               # best checkpoint and its config
    >>> imgs = g.sample(jax.random.PRNGKey(0), 16)  # uint8 [16, 128, 128]
    >>> sampling.grid(imgs)                          # a PIL image; shows in notebooks
    >>> mean, logvar = g.encode(real_images)         # uint8 [N, H, W], any H, W
    >>> path = g.interpolate(mean[0], mean[1], 8, method="slerp")
    >>> g.decode(mean, draw=jax.random.PRNGKey(1))   # a draw from p(x | z), not the mean
    >>> big = g.generate(4, size=1000, seed=0)       # uint8 [4, 1000, 1000], as
    >>> sampling.save_pngs(big, "out/")              # python -m cosmojax.generate writes

Every network call is jitted and compiled once per input shape.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from cosmojax import console
from cosmojax import upscale as upscale_lib
from cosmojax.data import resample
from cosmojax.images import grid, save_pngs, to_uint8

__all__ = ["Generator", "load", "generate", "full_size", "image_ids", "grid", "save_pngs"]


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
    workdir: str | None = None  # the run's folder, where its source model is read from

    @property
    def resolution(self) -> int:
        return int(self.config.data.resolution)

    @functools.cached_property
    def source_model(self):
        """The run's source model (``tasks.sources.SourceModel``, ``source_model/``)
        or None: read when first asked for, as only ``learned`` draws from it."""
        return None if self.workdir is None else load_source_model(self.workdir)

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
        training images' posteriors at the restored step (the task's own
        draw, so that these are the latents its checkpoint selection saw)."""
        from cosmojax.tasks import vae as vae_task

        return vae_task.draw_latents(self.latent_prior, key, n, self.latent_dim)

    def decode_float(self, z, draw=None) -> np.ndarray:
        """Intensities in [0, 1], float32 ``[N, r, r]``, of latents ``[N, latent_dim]``
        (or one ``[latent_dim]``): the decoder's mean image, or with ``draw`` (a
        PRNG key) a draw from p(x | z) as :meth:`sample_float` makes (a GAN's
        p(x | z) is one image: its draw is the mean).

        >>> g.decode_float(np.zeros(g.latent_dim)).shape  # doctest: +SKIP
        (1, 128, 128)
        """
        z = jnp.asarray(z, jnp.float32)
        if z.ndim not in (1, 2) or z.shape[-1] != self.latent_dim:
            raise ValueError(
                f"latents: expected [N, {self.latent_dim}] or [{self.latent_dim}] "
                f"(latent_dim of this {self.kind} run), got shape {tuple(z.shape)}"
            )
        z = z.reshape(-1, self.latent_dim)
        if draw is not None and self._draw is not None:
            return np.asarray(self._draw(self.params, self.model_state, z, draw))[..., 0]
        return np.asarray(self._decode(self.params, self.model_state, z))[..., 0]

    def decode(self, z, draw=None) -> np.ndarray:
        """Latents ``[N, latent_dim]`` (or one ``[latent_dim]``) -> uint8 images: the
        decoder's most probable image (no pixel noise), or with ``draw`` (a PRNG
        key) a draw from p(x | z): ``decode(z, draw=k)`` is what :meth:`sample`
        gives for latents ``z`` (see there).

        >>> z = g.latents(jax.random.PRNGKey(0), 2)  # doctest: +SKIP
        >>> g.decode(z).shape, g.decode(z, draw=jax.random.PRNGKey(1)).shape  # doctest: +SKIP
        ((2, 128, 128), (2, 128, 128))
        """
        return to_uint8(self.decode_float(z, draw))

    @functools.cached_property
    def _draw(self):
        return None if self.draw_fn is None else jax.jit(self.draw_fn)

    def sample_float(self, key, n: int) -> np.ndarray:
        """``n`` draws from the model, intensities in [0, 1], float32 ``[n, r, r]``:
        with ``k_z, k_x = jax.random.split(key)``, z = ``latents(k_z, n)``, then x
        from p(x | z) with ``k_x`` (``decode_float(z, draw=k_x)``; for
        likelihoods whose draws are images, such as the zero-inflated one;
        otherwise the decoded image).

        >>> g.sample_float(jax.random.PRNGKey(0), 2).dtype  # doctest: +SKIP
        dtype('float32')
        """
        k_z, k_x = jax.random.split(key)
        return self.decode_float(self.latents(k_z, n), draw=k_x)

    def sample(self, key, n: int) -> np.ndarray:
        """``n`` images from the model (uint8); the same key gives the same images.

        >>> k_z, k_x = jax.random.split(jax.random.PRNGKey(0))
        >>> same = g.decode(g.latents(k_z, 4), draw=k_x)  # doctest: +SKIP
        >>> (g.sample(jax.random.PRNGKey(0), 4) == same).all()  # doctest: +SKIP
        True
        """
        return to_uint8(self.sample_float(key, n))

    def upscale(self, images, size: int = 1000, *, method: str | None = None) -> np.ndarray:
        """Images at the model's resolution ``[N, r, r]`` (uint8 or [0, 1] floats) ->
        uint8 ``[N, size, size]`` as ``python -m cosmojax.generate`` upscales them:
        the run's representation (``data.downsample``) and source library, and
        ``method`` by default the run's (:func:`cosmojax.upscale.choose_method`).

        >>> g.upscale(g.sample(jax.random.PRNGKey(0), 2)).shape  # doctest: +SKIP
        (2, 1000, 1000)
        """
        return full_size(self, images, size, method)

    def generate(
        self,
        n: int,
        size: int = 1000,
        seed: int = 0,
        *,
        min_score: float | None = None,
        scorer=None,
        method: str | None = None,
        progress: bool = False,
    ) -> np.ndarray:
        """uint8 ``[n, size, size]``: the images that ``python -m cosmojax.generate
        --workdir W --num n --size size --seed seed`` writes (image ``i`` is the
        file named ``image_ids(len(images), seed)[i]``), upscaled by
        ``method`` (default: the run's, :func:`cosmojax.upscale.choose_method`).

        With ``min_score``, candidates scored below it by ``scorer`` (an object
        with ``.score``, e.g. :func:`cosmojax.scoring.load`'s, or a scorer
        workdir or a list of them) are dropped, as with ``--min_score`` and
        ``--scorer_workdir``; fewer than ``n`` come back when too few of
        ``50 * n`` candidates pass.

        >>> imgs = g.generate(4, size=1000, seed=0)  # doctest: +SKIP
        >>> good = g.generate(4, min_score=2.5, scorer="runs/scorer")  # doctest: +SKIP
        """
        from cosmojax import scoring

        if (min_score is None) != (scorer is None):
            raise ValueError("min_score and scorer go together: give both or neither")
        if isinstance(scorer, (str, os.PathLike, list, tuple)):
            scorer = scoring.load(scorer)
        imgs, *_ = generate(
            self,
            n,
            size=size,
            seed=seed,
            method=method,
            scorer=scorer,
            min_score=min_score,
            progress=progress,
        )
        return imgs

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

    def interpolate(self, z0, z1, steps: int, method: str = "linear", draw=None) -> np.ndarray:
        """uint8 images ``[steps, r, r]`` along the path from ``z0`` to ``z1``
        (``linear`` or spherical ``slerp``): the decoder's mean images, or with
        ``draw`` (a PRNG key) draws from p(x | z). Every frame is drawn with that
        same key (frame ``i`` is ``decode(z_i, draw=draw)[0]``), so the pixel
        noise stays put and the strip changes only as z does.

        >>> g.interpolate(z[0], z[1], 8, method="slerp").shape  # doctest: +SKIP
        (8, 128, 128)
        >>> strip = g.interpolate(z[0], z[1], 8, draw=jax.random.PRNGKey(0))  # doctest: +SKIP
        """
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
        z = z.astype(np.float32)
        if draw is None:
            return self.decode(z)
        return np.stack([self.decode(zi, draw=draw)[0] for zi in z])


def image_ids(n: int, seed: int) -> list[str]:
    """The file names (7-digit ids) of ``n`` images generated with ``seed``.

    >>> image_ids(3, 0) == image_ids(3, 0) and len(set(image_ids(100, 0))) == 100
    True
    """
    rng = np.random.default_rng([seed, 77])
    return [str(1_000_000 + int(v)) for v in rng.choice(9_000_000, size=n, replace=False)]


def full_size(generator, images, size: int = 1000, method: str | None = None) -> np.ndarray:
    """``generator``'s images at its resolution ``[N, r, r]`` (uint8 or [0, 1]
    floats) -> uint8 ``[N, size, size]``, upscaled as this command does: the
    run's ``data.downsample``, source library and :func:`cosmojax.upscale.choose_method`.

    >>> g = load("runs/vae")  # doctest: +SKIP
    >>> full_size(g, g.sample(jax.random.PRNGKey(0), 2), 1000).shape  # doctest: +SKIP
    (2, 1000, 1000)
    """
    return upscale_lib.full_size(
        images,
        size,
        downsample=generator.config.data.get("downsample", "area"),
        library=getattr(generator, "library", None),  # a Generator: the run's sources
        method=method,
        draw=_draw_sources(generator, method, size),
    )


def choose_method(generator, size: int, method: str | None = None) -> str:
    """The upscaler ``generate`` uses for ``generator`` at ``size``: ``method``
    checked, or the run's default (:func:`cosmojax.upscale.choose_method`)."""
    return upscale_lib.choose_method(
        getattr(generator, "library", None), size, method, _draw_sources(generator, method, size)
    )


def _draw_sources(generator, method: str | None, size: int):
    """The run's source model's draws (``upscale``'s ``draw``), or None where it
    has none, for ``learned`` and for the default where the run's source
    library fits ``size`` (``learned`` when it has a source model); None for
    the other methods, without reading the source model."""
    library = getattr(generator, "library", None)
    default_may_learn = method is None and library is not None and library.fits(size)
    if method != "learned" and not default_may_learn:
        return None
    model = getattr(generator, "source_model", None)  # a Generator, or what stands for one
    return None if model is None else model.draw


def generate(
    generator,
    num: int,
    *,
    size: int = 1000,
    seed: int = 0,
    method: str | None = None,
    scorer=None,
    min_score: float | None = None,
    batch: int = 64,
    max_candidates: int | None = None,
    progress: bool = True,
):
    """Returns ``(images uint8 [num, size, size], their scores or None, candidates
    drawn, candidates that passed)``; candidates come in whole batches, so more
    may pass than are kept. Each batch is ``generator.sample_float`` of a key
    split from ``PRNGKey(seed)``, upscaled by :func:`full_size` (``method``:
    see :func:`cosmojax.upscale.choose_method`; checked before anything is drawn).

    >>> imgs, scores, drawn, passed = generate(g, 4, size=1000)  # doctest: +SKIP
    >>> imgs.shape, scores, drawn, passed  # doctest: +SKIP
    ((4, 1000, 1000), None, 64, 64)
    """
    method = choose_method(generator, size, method)
    if min_score is not None and scorer is None:
        raise ValueError("min_score: needs a scorer to score the candidates")
    max_candidates = max_candidates or (num if min_score is None else 50 * num)
    key = jax.random.PRNGKey(seed)
    kept, scores, drawn, passed = [], [], 0, 0
    bar = console.progress(total=num, desc="generating", unit="img", enabled=progress)
    while len(kept) < num and drawn < max_candidates:
        key, sub = jax.random.split(key)
        small = generator.sample_float(sub, batch)
        drawn += len(small)
        passed_here = len(small)
        big = full_size(generator, small, size, method)
        if min_score is not None:
            s = scorer.score(big)
            keep = s >= min_score
            big, s = big[keep], s[keep]
            scores.extend(s.tolist())
            passed_here = int(keep.sum())
        passed += passed_here
        take = big[: num - len(kept)]
        kept.extend(take)
        bar.update(len(take))
    bar.close()
    out = np.stack(kept) if kept else np.zeros((0, size, size), np.uint8)
    kept_scores = np.asarray(scores[: len(out)]) if min_score is not None else None
    return out, kept_scores, drawn, passed


def load(workdir: str | os.PathLike, *, step: int | None = None) -> Generator:
    """The generator trained in ``workdir``: its checkpoint with the lowest
    statistics Fréchet distance (``eval_stats_frechet``), or ``step``, with the
    run's config and source library.

    >>> g = load("runs/vae")  # doctest: +SKIP
    >>> g.kind, g.resolution, g.latent_dim  # doctest: +SKIP
    ('vae', 128, 64)
    """
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
        workdir=str(workdir),
    )


def load_source_model(workdir):
    """The source model trained in ``<workdir>/source_model`` (configs/sources.py;
    its best checkpoint by validation -ELBO), or None where there is none."""
    from cosmojax import restore
    from cosmojax.tasks import sources

    path = Path(workdir) / sources.SOURCE_MODEL_DIR
    if not (path / "checkpoints").is_dir():
        return None
    task, state, step = restore.load_run(path, best=True)
    if task.name != "sources":
        raise ValueError(
            f"{path}: a {task.name!r} run, expected a source model (configs/sources.py)"
        )
    return sources.SourceModel(task, state.params, step)


def _latent_prior(task, workdir, step: int) -> dict | None:
    if task.name != "vae" or task.config.model.get("latent_prior", "standard") == "standard":
        return None
    from cosmojax.tasks import vae as vae_task

    return vae_task.load_latent_prior(workdir, step)
