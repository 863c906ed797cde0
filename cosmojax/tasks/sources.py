"""Source task: a conditional VAE of a generator run's sources (``learned`` upscaling).

    python train_vae.py --config=configs/sources.py --workdir=runs/vae/source_model \
        --config.model.library_workdir=runs/vae

The examples are the sources of the generator's source library
(``<library_workdir>/sources.npz``, the full-resolution sources of its
training images): each one a square of counts around its peak
(``upscale.cutouts``) with what the generator's low-resolution image shows of
it (``upscale.conditions``), under a random flip or quarter turn of both.
The shared loop trains, checkpoints and resumes it as any other task; the
validation -ELBO picks the kept checkpoint. ``cosmojax.generate`` on the
generator's workdir then draws each source from it by default (``learned``;
:mod:`cosmojax.sampling`), from ``<workdir>/source_model``.
"""

from __future__ import annotations

import functools
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from scipy import ndimage

from cosmojax import upscale
from cosmojax.configlib import ConfigError
from cosmojax.data import augment as augment_lib
from cosmojax.data import pipeline
from cosmojax.models import source_vae
from cosmojax.tasks.base import Task
from cosmojax.train import parallel
from cosmojax.train import state as state_lib
from cosmojax.train import step as step_lib
from cosmojax.train.state import TrainState

EVAL_SEED = 4242
SOURCE_MODEL_DIR = "source_model"  # inside a generator's workdir: where generate looks


def _turned(keys, x, cond):
    """The same random symmetry of each square and of its 5x5 condition blocks."""
    hood = cond[:, 1:].reshape(-1, 2 * upscale.HOOD + 1, 2 * upscale.HOOD + 1, 1)
    x = augment_lib.random_dihedral(keys, x)
    hood = augment_lib.random_dihedral(keys, hood)
    return x, jnp.concatenate([cond[:, :1], hood.reshape(hood.shape[0], -1)], axis=-1)


def _losses(apply_fn, params, shape, cond, eps):
    """``(nll, kl, mixture nll)`` per example (``SourceVAE.__call__``)."""
    decoded, kl, mix = apply_fn({"params": params}, source_vae.to_unit(shape), cond, eps)
    return source_vae.nll(decoded, shape), kl, mix


def train_step(state: TrainState, batch, *, apply_fn, tx, latent_dim: int, beta):
    """One step on the ELBO and the mixture's likelihood, each example weighted
    by its ``target`` (``SourceTask.weights``); the logged ``nll``, ``kl`` and
    ``mixture_nll`` are unweighted means."""
    k_turn, k_eps = state.step_keys(2)
    n = batch["image"].shape[0]
    shape, cond = _turned(
        parallel.example_keys(k_turn, n), batch["image"].astype(jnp.float32), batch["stats"]
    )
    eps = parallel.example_normals(k_eps, n, latent_dim)
    weight = batch["target"].astype(jnp.float32)

    def loss_fn(params):
        nll, kl, mix = _losses(apply_fn, params, shape, cond, eps)
        return (weight * (nll + beta * kl + mix)).mean(), (nll.mean(), kl.mean(), mix.mean())

    (loss, aux), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
    params, opt_state, (loss, nll, kl, mix), grad_norm = step_lib.apply_mean(
        tx, state.params, state.opt_state, grads, (loss, *aux)
    )
    metrics = {"loss": loss, "nll": nll, "kl": kl, "mixture_nll": mix, "grad_norm": grad_norm}
    return state.replace(step=state.step + 1, params=params, opt_state=opt_state), metrics


def eval_step(state: TrainState, batch, *, apply_fn, latent_dim: int):
    shape, m = batch["image"].astype(jnp.float32), batch["mask"]
    eps = parallel.example_normals(jax.random.PRNGKey(EVAL_SEED), shape.shape[0], latent_dim)
    nll, kl, mix = _losses(apply_fn, state.params, shape, batch["stats"], eps)
    return parallel.psum(
        {
            "loss": jnp.sum(m * (nll + kl + mix)),
            "elbo": -jnp.sum(m * (nll + kl)),
            "count": jnp.sum(m),
        }
    )


class SourceTask(Task):
    name = "sources"
    best_metric = "eval_loss"
    data_description = "the training side of the library's sources"

    def __init__(self, config):
        super().__init__(config)
        m = config.model
        if not m.library_workdir:
            raise ConfigError(
                "model.library_workdir: give the generator run whose sources to learn "
                "(its workdir holds sources.npz)"
            )
        if int(m.patch) % 2 != 1:
            raise ConfigError(
                f"model.patch: expected an odd number of pixels, got {m.patch} (only then do "
                "the training flips and quarter turns keep each source's peak at the centre)"
            )
        self.saturated_weight = float(m.saturated_weight)
        if not self.saturated_weight > 0:
            raise ConfigError(
                f"model.saturated_weight: expected a positive number, got {self.saturated_weight}"
            )
        self.latent_dim = int(m.latent_dim)
        self.model = source_vae.SourceVAE(
            patch=int(m.patch),
            latent_dim=self.latent_dim,
            hidden=int(m.hidden),
            sigma=float(m.sigma),
            components=int(m.components),
            dtype=self.dtype,
        )
        common = dict(apply_fn=self.model.apply, latent_dim=self.latent_dim)
        self.train_step = functools.partial(train_step, tx=self.tx, beta=float(m.beta), **common)
        self.eval_step = functools.partial(eval_step, **common)

    @functools.cached_property
    def library(self) -> upscale.SourceLibrary:
        path = Path(self.config.model.library_workdir) / upscale.LIBRARY_FILE
        if not path.is_file():
            raise ConfigError(
                f"model.library_workdir: {path} is missing; train a generator there first "
                "(configs/vae.py or configs/gan.py write it)"
            )
        return upscale.SourceLibrary.load(path)

    def weights(self) -> np.ndarray:
        """Each library source's weight in the training loss: ``model.saturated_weight``
        for a source that reaches 255, 1 for the others, over their mean (so they
        average 1). Saturated sources are few (5% of the second set's library)
        and their plateaus were drawn too small. The weight is, as near as the
        model can see, a function of the condition (a saturated source's peak
        block is at 255), so it leaves the best p(x | c) unchanged and only
        spends more of the fit on those conditions. The validation loss is
        unweighted."""
        w = np.where(self.library.saturated, self.saturated_weight, 1.0)
        return (w / w.mean()).astype(np.float32)

    def dataset(self) -> pipeline.Split:
        """The library's sources: their shapes (``image``, float16: each square of
        counts over its brightest pixel), conditions (``stats``) and training
        weights (``targets``, :meth:`weights`); ids ``src<i>`` in library order."""
        lib = self.library
        squares = upscale.cutouts(lib, int(self.config.model.patch))
        squares /= np.maximum(squares.reshape(len(squares), -1).max(1), 1e-6)[:, None, None]
        ids = np.asarray([f"src{i:07d}" for i in range(len(lib))])
        return pipeline.Split(
            ids, squares.astype(np.float16), self.weights(), stats=upscale.conditions(lib.hoods)
        )

    def init_state(self, rng) -> TrainState:
        p = int(self.config.model.patch)
        params = self.model.init(
            state_lib.init_key(rng),
            jnp.zeros((1, p, p, 1)),
            jnp.zeros((1, upscale.conditions(np.ones((1, 5, 5))).shape[1])),
            jnp.zeros((1, self.latent_dim)),
        )["params"]
        return TrainState.create(params, self.tx.init(params), rng)

    def evaluate(self, state) -> dict:
        s = self.eval_sums(self.eval_step, state, self.val)
        return {"eval_loss": s["loss"] / s["count"], "eval_elbo": s["elbo"] / s["count"]}

    def describe(self) -> dict:
        return {"task": self.name, "sources": len(self.library), "patch": self.config.model.patch}


def decoder(model: source_vae.SourceVAE):
    """``(params, eps, u, cond) -> shapes [N, patch, patch]``: a latent drawn
    from the mixture m(z | cond) (its component at uniform ``u[:, 0]``, then
    standard normals ``eps``) decoded to each pixel's ``u[:, 1]``-quantile
    under the likelihood (``source_vae.quantile_shape``; one per source), in
    [0, 1] of the peak, with the peak itself at the centre: 1, as in every
    training square."""
    c = model.patch // 2

    def decode(params, eps, u, cond):
        z = model.apply(
            {"params": params}, cond, eps, u[:, 0], method=source_vae.SourceVAE.sample_latent
        )
        decoded = model.apply({"params": params}, z, cond, method=source_vae.SourceVAE.decode)
        shape = source_vae.quantile_shape(decoded, u[:, 1, None, None, None])[..., 0]
        return shape.at[:, c, c].set(1.0)

    return decode


class SourceModel:
    """A trained source model's draws, for ``upscale`` (``draw=``): each peak of a
    generated image gets a shape decoded from a fresh latent and the peak's
    condition (each pixel at a fresh quantile of its likelihood, the same for
    the whole source), times the peak, cut to its connected part above half a
    count around the centre; placed as ``stamps`` places a library source (scaled so
    that its centre takes the generated peak, by 0.5x to 2x), and a drawn
    source that reaches 255 keeps its 255 pixels."""

    def __init__(self, task: SourceTask, params, step: int, batch: int = 64):
        self.task, self.params, self.step, self.batch = task, params, step, batch
        self._decode = jax.jit(decoder(task.model))

    def squares(self, hoods: np.ndarray, z: np.ndarray, u: np.ndarray) -> np.ndarray:
        """Decoded sources in counts ``[n, patch, patch]`` for 5x5 ``hoods`` (counts
        above the sky), standard normals ``z`` and uniforms ``u`` ``[n, 2]`` in
        (0, 1) (``decoder``'s): shapes times the hoods' peaks (in fixed-size
        batches: one compilation)."""
        decode = functools.partial(self._decode, self.params)
        out = pipeline.map_padded(decode, [z, u, upscale.conditions(hoods)], self.batch)
        p = self.task.model.patch
        shapes = np.concatenate(out) if out else np.zeros((0, p, p), np.float32)
        peak = np.asarray(hoods, np.float32)[:, upscale.HOOD, upscale.HOOD]
        return shapes * peak[:, None, None]

    def draw(self, hoods: np.ndarray, rng: np.random.Generator) -> list[upscale.Pick]:
        z = rng.standard_normal((len(hoods), self.task.latent_dim)).astype(np.float32)
        u = rng.uniform(0.0, 1.0, (len(hoods), 2)).astype(np.float32)
        return [_pick(s, rng) for s in self.squares(hoods, z, u)]


def _pick(square: np.ndarray, rng: np.random.Generator) -> upscale.Pick:
    """A decoded source -> its part connected to the centre above half a count,
    placed at a uniformly drawn spot of its peak's block; saturated where it
    reaches 255 (its peak did)."""
    c = square.shape[0] // 2
    mask = upscale.connected_part(square >= 0.5, c, c)
    sl = ndimage.find_objects(mask.astype(np.int8))[0]
    stamp = np.where(mask, square, 0.0)[sl].astype(np.float32)
    return upscale.Pick(
        stamp=stamp,
        peak=(c - sl[0].start, c - sl[1].start),
        offset=tuple(rng.uniform(size=2).tolist()),
        block_peak=max(float(square[c, c]), 1e-6),
        saturated=bool(stamp.max() >= 254.5),
    )
