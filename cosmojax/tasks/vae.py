"""VAE task: the paper's generator, trained on cosmology images by the shared loop."""

from __future__ import annotations

import functools
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax

from cosmojax import images as images_lib
from cosmojax.data import augment as augment_lib
from cosmojax.data import pipeline
from cosmojax.models import vae as vae_models
from cosmojax.tasks.base import Task
from cosmojax.train import metrics as metrics_lib
from cosmojax.train import parallel
from cosmojax.train import state as state_lib
from cosmojax.train.state import TrainState

EVAL_SEED = 20180  # the eval noise is fixed, so validation losses are comparable


def _noise(key, batch: int, latent_dim: int):
    keys = parallel.example_keys(key, batch)
    return jax.vmap(lambda k: jax.random.normal(k, (latent_dim,)))(keys)


def step_keys(state: TrainState) -> dict[str, jax.Array]:
    """The step's keys by purpose; each is the parent of per-example keys."""
    k_augment, k_eps = state.step_keys(2)
    return {"augment": k_augment, "eps": k_eps}


def train_step(state: TrainState, batch, *, apply_fn, tx, latent_dim: int, augment: bool):
    """One step on -ELBO; eps drawn per example from the step key and its global index."""
    x = batch["image"]
    keys = step_keys(state)
    if augment:
        x = augment_lib.random_dihedral(parallel.example_keys(keys["augment"], x.shape[0]), x)
    eps = _noise(keys["eps"], x.shape[0], latent_dim)

    def loss_fn(params):
        logits, mean, logvar = apply_fn({"params": params}, x, eps)
        loss, nll, kl = vae_models.negative_elbo(logits, x, mean, logvar)
        return loss.mean(), (nll.mean(), kl.mean())

    (loss, (nll, kl)), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
    loss, nll, kl, grads = parallel.pmean((loss, nll, kl, grads))
    updates, opt_state = tx.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    metrics = {
        "loss": loss,
        "nll": nll,
        "kl": kl,
        "recon_loglik": -nll,
        "grad_norm": optax.global_norm(grads),
    }
    return state.replace(step=state.step + 1, params=params, opt_state=opt_state), metrics


def eval_step(state: TrainState, batch, *, apply_fn, latent_dim: int):
    x, m = batch["image"], batch["mask"]
    eps = _noise(jax.random.PRNGKey(EVAL_SEED), x.shape[0], latent_dim)
    logits, mean, logvar = apply_fn({"params": state.params}, x, eps)
    loss, nll, kl = vae_models.negative_elbo(logits, x, mean, logvar)
    return parallel.psum(
        {
            "loss": jnp.sum(m * loss),
            "nll": jnp.sum(m * nll),
            "kl": jnp.sum(m * kl),
            "count": jnp.sum(m),
        }
    )


def training_images(config) -> pipeline.Split:
    """Label-1 ``labeled`` images plus ``scored`` images at or above the threshold."""
    r = config.data.resolution
    labeled = pipeline.load_split(config.data.dir, "labeled", r)
    scored = pipeline.load_split(config.data.dir, "scored", r)
    return pipeline.Split.concat(
        labeled.take(labeled.targets == 1),
        scored.take(scored.targets >= config.data.score_threshold),
    )


class VAETask(Task):
    name = "vae"
    best_metric = "eval_loss"
    finite_metrics = ("loss", "grad_norm")

    def __init__(self, config):
        super().__init__(config)
        self.model = vae_models.build(config.model, config.data.resolution, self.dtype)
        self.latent_dim = int(config.model.latent_dim)
        self.train_step = functools.partial(
            train_step,
            apply_fn=self.model.apply,
            tx=self.tx,
            latent_dim=self.latent_dim,
            augment=bool(config.data.augment),
        )
        self.eval_step = functools.partial(
            eval_step, apply_fn=self.model.apply, latent_dim=self.latent_dim
        )

    def dataset(self) -> pipeline.Split:
        return training_images(self.config)

    def init_state(self, rng) -> TrainState:
        r = self.config.data.resolution
        params = self.model.init(
            state_lib.init_key(rng), jnp.zeros((1, r, r, 1)), jnp.zeros((1, self.latent_dim))
        )["params"]
        return TrainState(
            step=jnp.zeros((), jnp.int32),
            params=params,
            opt_state=self.tx.init(params),
            model_state={},
            rng=rng,
        )

    def evaluate(self, state) -> dict:
        s = self.eval_sums(self.eval_step, state, self.val)
        n = s["count"]
        return {"eval_loss": s["loss"] / n, "eval_nll": s["nll"] / n, "eval_kl": s["kl"] / n}

    def describe(self) -> dict:
        return {"task": self.name, "kind": self.config.model.kind, "latent_dim": self.latent_dim}

    # ---------------------------------------------------------------- pictures
    def generator_fns(self):
        """``(decode_fn, encode_fn)`` for :mod:`cosmojax.sampling`."""
        model = self.model

        def decode_fn(params, model_state, z):
            return jax.nn.sigmoid(model.apply({"params": params}, z, method=vae_models.VAE.decode))

        def encode_fn(params, x):
            return model.apply({"params": params}, x, method=vae_models.VAE.encode)

        return decode_fn, encode_fn

    @functools.cached_property
    def _pictures(self):
        decode_fn, encode_fn = self.generator_fns()
        decode = jax.jit(lambda p, z: decode_fn(p, {}, z))
        reconstruct = jax.jit(lambda p, x: decode_fn(p, {}, encode_fn(p, x)[0]))
        return decode, reconstruct

    def on_eval(self, state, step: int, workdir, writer):
        if jax.process_index() != 0:
            return
        params = parallel.host_local(state.params)
        folder = Path(workdir) / "samples"
        folder.mkdir(exist_ok=True)
        decode, reconstruct = self._pictures
        samples = np.asarray(decode(params, self.fixed_latents()))
        images_lib.grid(samples, 8).save(folder / f"step_{step:06d}.png")
        originals = self.val.images[:16].astype(np.float32)[..., None]
        recon = np.asarray(reconstruct(params, originals))
        pairs = np.concatenate([originals, recon])
        images_lib.grid(pairs, 16).save(folder / f"recon_step_{step:06d}.png")
        writer.image("samples", np.asarray(images_lib.grid(samples, 8)), step)

    def on_end(self, state, workdir):
        if jax.process_index() == 0:
            plot_curves(workdir)


def plot_curves(workdir) -> Path:
    """``workdir/curves.png``: -ELBO, reconstruction log-likelihood and KL per step."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in metrics_lib.read_metrics(workdir) if "train_loss" in r]
    steps = [r["step"] for r in rows]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    for ax, key, title in zip(
        axes,
        ("train_loss", "train_recon_loglik", "train_kl"),
        ("-ELBO (loss)", "reconstruction log-likelihood", "KL(q(z|x) || N(0, I))"),
        strict=True,
    ):
        ax.plot(steps, [r[key] for r in rows])
        ax.set_title(title)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    path = Path(workdir) / "curves.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
