"""VAE task: the paper's generator, trained on cosmology images by the shared loop."""

from __future__ import annotations

import functools
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from cosmojax import files
from cosmojax import images as images_lib
from cosmojax.configlib import ConfigError
from cosmojax.data import augment as augment_lib
from cosmojax.data import intensity
from cosmojax.models import vae as vae_models
from cosmojax.tasks import generated
from cosmojax.tasks.base import Task
from cosmojax.train import metrics as metrics_lib
from cosmojax.train import parallel
from cosmojax.train import state as state_lib
from cosmojax.train import step as step_lib
from cosmojax.train.state import TrainState

EVAL_SEED = 20180  # the eval noise is fixed, so validation losses are comparable


def step_keys(state: TrainState) -> dict[str, jax.Array]:
    """The step's keys by purpose; each is the parent of per-example keys."""
    k_augment, k_eps = state.step_keys(2)
    return {"augment": k_augment, "eps": k_eps}


def loss_settings(config) -> dict:
    """The loss's keyword arguments from ``config.model`` (likelihood, KL schedule)."""
    m = config.model
    return {
        "likelihood": str(m.likelihood),
        "sigma": float(m.sigma),
        "beta": float(m.beta),
        "warmup_steps": int(m.kl_warmup_steps),
        "cycles": int(m.kl_cycles),
        "free_bits": float(m.free_bits),
        "saturated": bool(m.get("saturated_level", False)),
        "num_steps": int(config.num_steps),
    }


def to_model_space(x, data_cfg):
    """Prepared intensities in [0, 1] -> what the model sees (``data.intensity_map``)."""
    return intensity.forward(x, data_cfg.intensity_map, data_cfg.intensity_scale)


def train_step(
    state: TrainState, batch, *, apply_fn, tx, latent_dim: int, augment: bool, data_cfg, loss
):
    """One step on the (beta-weighted, free-bits) -ELBO; eps drawn per example from
    the step's noise key and the example's global index."""
    x = to_model_space(batch["image"], data_cfg)
    keys = step_keys(state)
    if augment:
        x = augment_lib.random_dihedral(parallel.example_keys(keys["augment"], x.shape[0]), x)
    eps = parallel.example_normals(keys["eps"], x.shape[0], latent_dim)
    beta = vae_models.kl_weight(
        state.step,
        beta=loss["beta"],
        warmup_steps=loss["warmup_steps"],
        cycles=loss["cycles"],
        num_steps=loss["num_steps"],
    )

    def loss_fn(params):
        logits, mean, logvar = apply_fn({"params": params}, x, eps)
        elbo, nll, kl = vae_models.negative_elbo(
            logits, x, mean, logvar, loss["likelihood"], loss["sigma"], loss["saturated"]
        )
        kl_seen = vae_models.free_bits_kl(mean, logvar, loss["free_bits"])
        objective = (nll + beta * kl_seen).mean()
        return objective, (elbo.mean(), nll.mean(), kl.mean())

    (objective, (elbo, nll, kl)), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
    params, opt_state, (objective, elbo, nll, kl), grad_norm = step_lib.apply_mean(
        tx, state.params, state.opt_state, grads, (objective, elbo, nll, kl)
    )
    metrics = {
        "loss": objective,
        "neg_elbo": elbo,
        "nll": nll,
        "kl": kl,
        "kl_weight": beta,
        "recon_loglik": -nll,
        "grad_norm": grad_norm,
    }
    return state.replace(step=state.step + 1, params=params, opt_state=opt_state), metrics


def eval_step(state: TrainState, batch, *, apply_fn, latent_dim: int, data_cfg, loss):
    x, m = to_model_space(batch["image"], data_cfg), batch["mask"]
    eps = parallel.example_normals(jax.random.PRNGKey(EVAL_SEED), x.shape[0], latent_dim)
    logits, mean, logvar = apply_fn({"params": state.params}, x, eps)
    elbo, nll, kl = vae_models.negative_elbo(
        logits, x, mean, logvar, loss["likelihood"], loss["sigma"], loss["saturated"]
    )
    return parallel.psum(
        {
            "loss": jnp.sum(m * elbo),
            "nll": jnp.sum(m * nll),
            "kl": jnp.sum(m * kl),
            "count": jnp.sum(m),
        }
    )


class VAETask(generated.GeneratorTask, Task):
    name = "vae"
    finite_metrics = ("loss", "grad_norm")

    def __init__(self, config):
        super().__init__(config)
        self.model = vae_models.build(config.model, config.data.resolution, self.dtype)
        self.latent_dim = int(config.model.latent_dim)
        intensity.check(config.data.intensity_map, config.data.intensity_scale)
        if config.data.get("sky", "keep") != "keep":
            raise ConfigError(
                f"data.sky: a VAE models each image with its sky ('keep'), "
                f"got {config.data.sky!r} ('draw' is for GAN runs)"
            )
        m = config.model
        if m.likelihood not in vae_models.LIKELIHOODS:
            raise ConfigError(
                f"model.likelihood: expected one of {vae_models.LIKELIHOODS}, got {m.likelihood!r}"
            )
        if m.latent_prior not in LATENT_PRIORS:
            raise ConfigError(
                f"model.latent_prior: expected one of {LATENT_PRIORS}, got {m.latent_prior!r}"
            )
        common = dict(
            apply_fn=self.model.apply,
            latent_dim=self.latent_dim,
            data_cfg=config.data,
            loss=loss_settings(config),
        )
        self.train_step = functools.partial(
            train_step, tx=self.tx, augment=bool(config.data.augment), **common
        )
        self.eval_step = functools.partial(eval_step, **common)

    def init_state(self, rng) -> TrainState:
        r = self.config.data.resolution
        params = self.model.init(
            state_lib.init_key(rng), jnp.zeros((1, r, r, 1)), jnp.zeros((1, self.latent_dim))
        )["params"]
        return TrainState.create(params, self.tx.init(params), rng)

    def evaluate(self, state) -> dict:
        s = self.eval_sums(self.eval_step, state, self.val)
        n = s["count"]
        out = {"eval_loss": s["loss"] / n, "eval_nll": s["nll"] / n, "eval_kl": s["kl"] / n}
        params = parallel.host_local(state.params)
        prior = None
        if self.config.model.latent_prior != "standard":
            prior = self.fit_latent_prior(params)
            self._fitted = (int(parallel.host_local(state.step)), prior)
        out["eval_stats_frechet"] = self.stats_frechet(
            functools.partial(self._sample, params, prior)
        )
        return out

    def _sample(self, params, prior, key, n: int) -> np.ndarray:
        """``n`` draws in [0, 1] at model resolution, as ``sampling.Generator`` makes them."""
        k_z, k_x = jax.random.split(key)
        z = draw_latents(prior, k_z, n, self.latent_dim)
        return np.asarray(self._draw(params, {}, z, k_x))[..., 0]

    @functools.cached_property
    def _draw(self):
        return jax.jit(self.draw_fn())

    def describe(self) -> dict:
        return {"task": self.name, "kind": self.config.model.kind, "latent_dim": self.latent_dim}

    # ---------------------------------------------------------------- pictures
    def generator_fns(self):
        """``(decode_fn, encode_fn)`` for :mod:`cosmojax.sampling`."""
        model, d, m = self.model, self.config.data, self.config.model

        def decode_fn(params, model_state, z):
            logits = model.apply({"params": params}, z, method=vae_models.VAE.decode)
            mean = vae_models.mean_image(logits, m.likelihood, m.get("saturated_level", False))
            return intensity.inverse(mean, d.intensity_map, d.intensity_scale)

        def encode_fn(params, x):
            x = to_model_space(x, d)
            return model.apply({"params": params}, x, method=vae_models.VAE.encode)

        return decode_fn, encode_fn

    def draw_fn(self):
        """``(params, model_state, z, key) -> intensities``: a draw from p(x | z)."""
        model, d, m = self.model, self.config.data, self.config.model
        # a drawn pixel that is not empty holds at least one count, as in the data
        # (the lowest bin's values below half a count would round to an empty pixel)
        faintest = float(intensity.forward(1.0 / 255, d.intensity_map, d.intensity_scale))

        def draw(params, model_state, z, key):
            logits = model.apply({"params": params}, z, method=vae_models.VAE.decode)
            x = vae_models.sample_image(
                key,
                logits,
                m.likelihood,
                m.sigma,
                m.get("sample_correlation", 0.0),
                m.get("saturated_level", False),
                floor=faintest,
            )
            return intensity.inverse(x, d.intensity_map, d.intensity_scale)

        return draw

    @functools.cached_property
    def _pictures(self):
        decode_fn, encode_fn = self.generator_fns()
        draw = self.draw_fn()
        decode = jax.jit(lambda p, z: draw(p, {}, z, jax.random.PRNGKey(EVAL_SEED)))
        reconstruct = jax.jit(lambda p, x: decode_fn(p, {}, encode_fn(p, x)[0]))
        return decode, reconstruct

    def fit_latent_prior(self, params) -> dict[str, np.ndarray]:
        """The latent prior that samples are drawn from, made from the training
        images' posteriors (ex-post density estimation, Ghosh et al. 2020): where
        the aggregate posterior has not yet filled N(0, I), many N(0, I) draws
        land in regions no image encodes to. ``fitted``: a Gaussian fitted to the
        posterior means; ``aggregate``: the aggregate posterior itself, the
        mixture of every training image's q(z | x)."""
        _, encode_fn = self.generator_fns()
        encode = jax.jit(encode_fn)
        images = self.train.images
        parts = [
            encode(params, images[i : i + 256].astype(np.float32)[..., None])
            for i in range(0, len(images), 256)
        ]
        means = np.concatenate([np.asarray(m) for m, _ in parts]).astype(np.float64)
        if self.config.model.latent_prior == "aggregate":
            sds = np.exp(0.5 * np.concatenate([np.asarray(lv) for _, lv in parts]))
            return {"means": means.astype(np.float32), "sds": sds.astype(np.float32)}
        cov = np.cov(means.T) + 1e-5 * np.eye(means.shape[1])
        return {"mean": means.mean(0), "scale_tril": np.linalg.cholesky(cov)}

    def on_eval(self, state, step: int, workdir, writer):
        if jax.process_index() != 0:
            return
        params = parallel.host_local(state.params)
        folder = Path(workdir) / "samples"
        folder.mkdir(exist_ok=True)
        decode, reconstruct = self._pictures
        latents = self.fixed_latents()
        if self.config.model.latent_prior != "standard":
            fitted_step, prior = getattr(self, "_fitted", (None, None))
            if fitted_step != step:
                prior = self.fit_latent_prior(params)
            save_latent_prior(workdir, step, prior)
            key = jax.random.PRNGKey(self.config.seed + 7919)
            latents = np.asarray(draw_latents(prior, key, len(latents), self.latent_dim))
        samples = np.asarray(decode(params, latents.astype(np.float32)))
        images_lib.grid(samples, 8).save(folder / f"step_{step:06d}.png")
        originals = self.val.images[:16].astype(np.float32)[..., None]
        recon = np.asarray(reconstruct(params, originals))
        pairs = np.concatenate([originals, recon])
        images_lib.grid(pairs, 16).save(folder / f"recon_step_{step:06d}.png")
        writer.image("samples", np.asarray(images_lib.grid(samples, 8)), step)

    def on_end(self, state, workdir):
        if jax.process_index() == 0:
            plot_curves(workdir)


LATENT_PRIORS = ("standard", "fitted", "aggregate")


def draw_latents(prior: dict | None, key, n: int, dim: int) -> jax.Array:
    """``n`` latents from ``prior``: N(0, I) (None), the fitted Gaussian
    (``mean``, ``scale_tril``) or the aggregate posterior (``means``, ``sds``:
    a training image's posterior, chosen uniformly, then a draw from it). The
    standard prior's latents are ``normal(key)``, as every generator draws them."""
    if prior is None:
        return jax.random.normal(key, (n, dim), jnp.float32)
    k_pick, k_eps = jax.random.split(key)
    eps = jax.random.normal(k_eps, (n, dim), jnp.float32)
    if "means" in prior:
        i = jax.random.randint(k_pick, (n,), 0, len(prior["means"]))
        return jnp.asarray(prior["means"])[i] + jnp.asarray(prior["sds"])[i] * eps
    tril = jnp.asarray(prior["scale_tril"], jnp.float32)
    return jnp.asarray(prior["mean"], jnp.float32) + eps @ tril.T


def latent_prior_path(workdir, step: int) -> Path:
    return Path(workdir) / "latent_prior" / f"step_{int(step):08d}.npz"


def save_latent_prior(workdir, step: int, prior: dict) -> None:
    """Writes the fitted latent prior of ``step`` (atomically: temp file, rename)."""
    files.atomic_savez(latent_prior_path(workdir, step), **prior)


def load_latent_prior(workdir, step: int) -> dict | None:
    """The latent prior fitted at ``step``, or None (then latents are N(0, I))."""
    path = latent_prior_path(workdir, step)
    if not path.exists():
        return None
    with np.load(path) as f:
        return {k: f[k] for k in f.files}


def plot_curves(workdir) -> Path:
    """``workdir/curves.png``: -ELBO, reconstruction log-likelihood and KL per step."""
    from matplotlib.figure import Figure  # no pyplot: the caller's backend is left alone

    rows = [r for r in metrics_lib.read_metrics(workdir) if "train_loss" in r]
    steps = [r["step"] for r in rows]
    fig = Figure(figsize=(13, 3.6))
    axes = fig.subplots(1, 3)
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
    return path
