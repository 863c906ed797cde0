"""DCGAN task: the paper's baseline generator, trained by the shared loop.

A step is one discriminator update then one generator update, the generator's
forward pass shared by both (as in the PyTorch DCGAN example): the generator
output is computed once with its VJP, the discriminator is updated on real and
(detached) fake images, then the updated discriminator's gradient with
respect to the fake images is pulled back through the stored VJP. Losses are
the non-saturating BCE ones, with optional one-sided label smoothing.
"""

from __future__ import annotations

import functools
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax

from cosmojax import images as images_lib
from cosmojax.data import pipeline
from cosmojax.models import gan as gan_models
from cosmojax.tasks.base import Task
from cosmojax.tasks.vae import training_images
from cosmojax.train import optim, parallel
from cosmojax.train import state as state_lib
from cosmojax.train.state import TrainState


def bce_logits(logits, target):
    return jnp.mean(optax.sigmoid_binary_cross_entropy(logits, jnp.full_like(logits, target)))


def latents(key, batch: int, nz: int):
    keys = parallel.example_keys(key, batch)
    return jax.vmap(lambda k: jax.random.normal(k, (nz,)))(keys)


def d_step(params, stats, opt_d, real, fake, *, d_apply, tx_d, real_target: float):
    """One discriminator update on real images and (detached) fakes."""
    fake = jax.lax.stop_gradient(fake)

    def loss_fn(pd):
        logits_real, upd = d_apply(
            {"params": pd, "batch_stats": stats["d"]}, real, train=True, mutable=["batch_stats"]
        )
        logits_fake, upd = d_apply(
            {"params": pd, "batch_stats": upd["batch_stats"]},
            fake,
            train=True,
            mutable=["batch_stats"],
        )
        loss = bce_logits(logits_real, real_target) + bce_logits(logits_fake, 0.0)
        aux = (
            upd["batch_stats"],
            jax.nn.sigmoid(logits_real).mean(),
            jax.nn.sigmoid(logits_fake).mean(),
        )
        return loss, aux

    (loss, (d_stats, d_real, d_fake)), grads = jax.value_and_grad(loss_fn, has_aux=True)(
        params["d"]
    )
    loss, grads, d_real, d_fake = parallel.pmean((loss, grads, d_real, d_fake))
    updates, opt_d = tx_d.update(grads, opt_d, params["d"])
    new_d = optax.apply_updates(params["d"], updates)
    metrics = {
        "d_loss": loss,
        "d_real": d_real,
        "d_fake": d_fake,
        "d_grad_norm": optax.global_norm(grads),
    }
    return {**params, "d": new_d}, {**stats, "d": d_stats}, opt_d, metrics


def g_step(params, stats, opt_g, fake, g_vjp, *, d_apply, tx_g):
    """One generator update through the stored VJP of the generator's forward pass."""

    def loss_fn(f):
        logits, upd = d_apply(
            {"params": params["d"], "batch_stats": stats["d"]},
            f,
            train=True,
            mutable=["batch_stats"],
        )
        return bce_logits(logits, 1.0), upd["batch_stats"]

    (loss, d_stats), dfake = jax.value_and_grad(loss_fn, has_aux=True)(fake)
    (grads,) = g_vjp(dfake)
    loss, grads = parallel.pmean((loss, grads))
    updates, opt_g = tx_g.update(grads, opt_g, params["g"])
    new_g = optax.apply_updates(params["g"], updates)
    metrics = {"g_loss": loss, "g_grad_norm": optax.global_norm(grads)}
    return {**params, "g": new_g}, {**stats, "d": d_stats}, opt_g, metrics


def train_step(
    state: TrainState, batch, *, g_apply, d_apply, tx_g, tx_d, nz: int, real_target: float
):
    real = batch["image"] * 2.0 - 1.0  # tanh range
    z = latents(state.step_key(), real.shape[0], nz)
    stats = state.model_state

    def generate(pg):
        fake, upd = g_apply(
            {"params": pg, "batch_stats": stats["g"]}, z, train=True, mutable=["batch_stats"]
        )
        return fake, upd["batch_stats"]

    fake, g_vjp, g_stats = jax.vjp(generate, state.params["g"], has_aux=True)
    stats = {**stats, "g": g_stats}
    params, stats, opt_d, m_d = d_step(
        state.params,
        stats,
        state.opt_state["d"],
        real,
        fake,
        d_apply=d_apply,
        tx_d=tx_d,
        real_target=real_target,
    )
    params, stats, opt_g, m_g = g_step(
        params, stats, state.opt_state["g"], fake, g_vjp, d_apply=d_apply, tx_g=tx_g
    )
    stats = parallel.pmean(stats)  # identical already; keeps the replicated invariant exact
    new = state.replace(
        step=state.step + 1, params=params, opt_state={"g": opt_g, "d": opt_d}, model_state=stats
    )
    return new, {**m_d, **m_g}


def eval_step(state: TrainState, batch, *, d_apply):
    """Discriminator output on real validation images (eval-mode BatchNorm)."""
    x = batch["image"] * 2.0 - 1.0
    logits = d_apply({"params": state.params["d"], "batch_stats": state.model_state["d"]}, x)
    m = batch["mask"]
    return parallel.psum({"d_real": jnp.sum(m * jax.nn.sigmoid(logits)), "count": jnp.sum(m)})


class GANTask(Task):
    name = "gan"
    best_metric = None
    finite_metrics = ("d_loss", "g_loss")

    def __init__(self, config):
        self.config = config
        m = config.model
        size = config.data.resolution
        self.latent_dim = int(m.nz)
        self.generator = gan_models.Generator(size, m.nz, m.ngf, parallel.AXIS, self.dtype)
        self.discriminator = gan_models.Discriminator(size, m.ndf, parallel.AXIS, self.dtype)
        self.tx_g, self.lr_fn = optim.build(config.optimizer, config.num_steps)
        self.tx_d, _ = optim.build(config.optimizer, config.num_steps)
        self.tx = self.tx_g
        self.train_step = functools.partial(
            train_step,
            g_apply=self.generator.apply,
            d_apply=self.discriminator.apply,
            tx_g=self.tx_g,
            tx_d=self.tx_d,
            nz=self.latent_dim,
            real_target=1.0 - float(config.model.label_smoothing),
        )
        self.eval_step = functools.partial(eval_step, d_apply=self.discriminator.apply)

    def dataset(self) -> pipeline.Split:
        return training_images(self.config)

    def init_state(self, rng) -> TrainState:
        r = self.config.data.resolution
        kg, kd = jax.random.split(state_lib.init_key(rng))
        g = self.generator.init(kg, jnp.zeros((1, self.latent_dim)))
        d = self.discriminator.init(kd, jnp.zeros((1, r, r, 1)))
        params = {"g": g["params"], "d": d["params"]}
        return TrainState(
            step=jnp.zeros((), jnp.int32),
            params=params,
            opt_state={"g": self.tx_g.init(params["g"]), "d": self.tx_d.init(params["d"])},
            model_state={"g": g["batch_stats"], "d": d["batch_stats"]},
            rng=rng,
        )

    def evaluate(self, state) -> dict:
        s = self.eval_sums(self.eval_step, state, self.val)
        return {"eval_d_real": s["d_real"] / s["count"]}

    def describe(self) -> dict:
        return {"task": self.name, "size": int(self.config.data.resolution)}

    def generator_fns(self):
        """``(decode_fn, None)`` for :mod:`cosmojax.sampling`: eval-mode generator."""
        gen = self.generator

        def decode_fn(params, model_state, z):
            out = gen.apply({"params": params["g"], "batch_stats": model_state["g"]}, z)
            return (out + 1.0) / 2.0

        return decode_fn, None

    @functools.cached_property
    def _decode(self):
        return jax.jit(self.generator_fns()[0])

    def on_eval(self, state, step: int, workdir, writer):
        if jax.process_index() != 0:
            return
        folder = Path(workdir) / "samples"
        folder.mkdir(exist_ok=True)
        samples = np.asarray(
            self._decode(
                parallel.host_local(state.params),
                parallel.host_local(state.model_state),
                self.fixed_latents(),
            )
        )
        grid = images_lib.grid(samples, 8)
        grid.save(folder / f"step_{step:06d}.png")
        writer.image("samples", np.asarray(grid), step)
