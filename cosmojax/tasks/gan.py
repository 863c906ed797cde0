"""DCGAN task: the paper's baseline generator, trained by the shared loop.

A step is one discriminator update then one generator update, the generator's
forward pass shared by both (as in the PyTorch DCGAN example): the generator
output is computed once with its VJP, the discriminator is updated on real and
(detached) fake images, then the updated discriminator's gradient with
respect to the fake images is pulled back through the stored VJP. Losses
(``model.loss``): the non-saturating BCE ones with optional one-sided label
smoothing (DCGAN), or the Wasserstein loss with a gradient penalty (WGAN-GP,
Gulrajani et al. 2017) and ``model.n_critic`` critic updates per generator
update, each on its own slice of the step's batch. A BatchNorm discriminator
always sees real and fake images in one joint batch.
"""

from __future__ import annotations

import functools
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax

from cosmojax import images as images_lib
from cosmojax.configlib import ConfigError
from cosmojax.data import augment as augment_lib
from cosmojax.data import intensity
from cosmojax.data import sky as sky_lib
from cosmojax.models import gan as gan_models
from cosmojax.tasks import generated
from cosmojax.tasks.base import Task
from cosmojax.train import optim, parallel
from cosmojax.train import state as state_lib
from cosmojax.train import step as step_lib
from cosmojax.train.state import TrainState

LOSSES = ("bce", "wgan_gp")


def bce_logits(logits, target):
    return jnp.mean(optax.sigmoid_binary_cross_entropy(logits, jnp.full_like(logits, target)))


def d_logits(d_apply, params_d, stats_d, real, fake):
    """Train-mode logits of ``real`` and ``fake`` from one pass over the joint batch,
    so BatchNorm normalises real and fake images with the same statistics (a D
    that sees all-fake batches normalises away a global intensity shift and
    hands the generator a gradient without direction). Returns the new stats."""
    x = jnp.concatenate([real, fake])
    if stats_d:
        logits, upd = d_apply(
            {"params": params_d, "batch_stats": stats_d}, x, train=True, mutable=["batch_stats"]
        )
        stats_d = upd["batch_stats"]
    else:
        logits = d_apply({"params": params_d}, x, train=True)
    return logits[: real.shape[0]], logits[real.shape[0] :], stats_d


def input_grad_sq_norms(d_apply, params_d, x):
    """Per image, the squared norm of the gradient of D's logit with respect to it."""
    grads = jax.grad(lambda y: d_apply({"params": params_d}, y, train=True).sum())(x)
    return jnp.sum(grads.reshape(grads.shape[0], -1) ** 2, axis=-1)


def gradient_penalty(d_apply, params_d, real, fake, key):
    """WGAN-GP: mean (|grad_x D(x)| - 1)^2 at random interpolates of real and fake."""
    eps = jax.vmap(lambda k: jax.random.uniform(k, (1, 1, 1)))(
        parallel.example_keys(key, real.shape[0])
    )
    mix = eps * real + (1.0 - eps) * fake
    norms = jnp.sqrt(input_grad_sq_norms(d_apply, params_d, mix) + 1e-12)
    return jnp.mean((norms - 1.0) ** 2)


def r1_penalty(d_apply, params_d, real):
    """R1 (Mescheder et al. 2018): mean squared norm of grad_x D(x) at real images."""
    return jnp.mean(input_grad_sq_norms(d_apply, params_d, real))


def d_step(
    params, stats, opt_d, real, fake, key=None, *, d_apply, tx_d, real_target, loss, gp, r1=0.0
):
    """One discriminator (critic) update on real images and (detached) fakes."""
    fake = jax.lax.stop_gradient(fake)

    def loss_fn(pd):
        logits_real, logits_fake, d_stats = d_logits(d_apply, pd, stats["d"], real, fake)
        if loss == "wgan_gp":
            value = jnp.mean(logits_fake) - jnp.mean(logits_real)
            value = value + gp * gradient_penalty(d_apply, pd, real, fake, key)
            seen = (jnp.mean(logits_real), jnp.mean(logits_fake))
        else:
            value = bce_logits(logits_real, real_target) + bce_logits(logits_fake, 0.0)
            seen = (jax.nn.sigmoid(logits_real).mean(), jax.nn.sigmoid(logits_fake).mean())
        if r1:
            value = value + 0.5 * r1 * r1_penalty(d_apply, pd, real)
        return value, (d_stats, *seen)

    (value, (d_stats, d_real, d_fake)), grads = jax.value_and_grad(loss_fn, has_aux=True)(
        params["d"]
    )
    new_d, opt_d, (value, d_real, d_fake), grad_norm = step_lib.apply_mean(
        tx_d, params["d"], opt_d, grads, (value, d_real, d_fake)
    )
    metrics = {"d_loss": value, "d_real": d_real, "d_fake": d_fake, "d_grad_norm": grad_norm}
    return {**params, "d": new_d}, {**stats, "d": d_stats}, opt_d, metrics


def g_step(params, stats, opt_g, fake, g_vjp, real=None, *, d_apply, tx_g, loss):
    """One generator update through the stored VJP of the generator's forward pass.
    With a BatchNorm discriminator, D sees the fakes beside ``real`` (joint batch)."""

    def loss_fn(f):
        if stats["d"]:
            _, logits, d_stats = d_logits(d_apply, params["d"], stats["d"], real, f)
        else:
            logits, d_stats = d_apply({"params": params["d"]}, f, train=True), stats["d"]
        value = -jnp.mean(logits) if loss == "wgan_gp" else bce_logits(logits, 1.0)
        return value, d_stats

    (value, d_stats), dfake = jax.value_and_grad(loss_fn, has_aux=True)(fake)
    (grads,) = g_vjp(dfake)
    new_g, opt_g, value, grad_norm = step_lib.apply_mean(tx_g, params["g"], opt_g, grads, value)
    metrics = {"g_loss": value, "g_grad_norm": grad_norm}
    return {**params, "g": new_g}, {**stats, "d": d_stats}, opt_g, metrics


def step_keys(state: TrainState) -> dict[str, jax.Array]:
    """The step's keys by purpose (latents; gradient-penalty interpolation; the
    real images' random symmetries)."""
    k_z, k_gp, k_augment = state.step_keys(3)
    return {"z": k_z, "gp": k_gp, "augment": k_augment}


def to_tanh_range(x, data_cfg):
    """Prepared intensities in [0, 1] -> the generator's [-1, 1] (after the map;
    with ``data.sky`` ``draw``, less each image's sky level first)."""
    return intensity.to_tanh_range(x, **intensity.of_config(data_cfg))


def generator_forward(g_apply, stats, z):
    """``params_g -> (fakes, G's new batch_stats)``: the step's generator pass (a
    function of G's parameters, for its VJP)."""

    def generate(params_g):
        fake, upd = g_apply(
            {"params": params_g, "batch_stats": stats["g"]}, z, train=True, mutable=["batch_stats"]
        )
        return fake, upd["batch_stats"]

    return generate


def train_step(
    state: TrainState,
    batch,
    *,
    g_apply,
    d_update,
    g_update,
    nz: int,
    data_cfg,
    n_critic: int = 1,
    augment: bool = False,
):
    """``n_critic`` critic updates (``d_update``: :func:`d_step` with its options),
    each on its own slice of the batch, then one generator update (``g_update``:
    :func:`g_step`) on all the fakes; one generator forward pass serves both."""
    real = to_tanh_range(batch["image"], data_cfg)
    keys = step_keys(state)
    if augment:
        real = augment_lib.random_dihedral(
            parallel.example_keys(keys["augment"], real.shape[0]), real
        )
    z = parallel.example_normals(keys["z"], real.shape[0], nz)
    generate = generator_forward(g_apply, state.model_state, z)
    fake, g_vjp, g_stats = jax.vjp(generate, state.params["g"], has_aux=True)
    stats = {**state.model_state, "g": g_stats}
    params, opt_d = state.params, state.opt_state["d"]
    b = real.shape[0] // n_critic
    gp_keys = jax.random.split(keys["gp"], n_critic)
    for i in range(n_critic):
        chunk = slice(i * b, (i + 1) * b)
        params, stats, opt_d, m_d = d_update(
            params, stats, opt_d, real[chunk], fake[chunk], gp_keys[i]
        )
    params, stats, opt_g, m_g = g_update(params, stats, state.opt_state["g"], fake, g_vjp, real)
    stats = parallel.pmean(stats)  # identical already; keeps the replicated invariant exact
    new = state.replace(
        step=state.step + 1, params=params, opt_state={"g": opt_g, "d": opt_d}, model_state=stats
    )
    return new, {**m_d, **m_g}


def eval_step(state: TrainState, batch, *, d_apply, data_cfg):
    """Discriminator output on real validation images (eval-mode BatchNorm)."""
    x = to_tanh_range(batch["image"], data_cfg)
    variables = {"params": state.params["d"]}
    if state.model_state["d"]:
        variables["batch_stats"] = state.model_state["d"]
    logits = d_apply(variables, x)
    m = batch["mask"]
    return parallel.psum({"d_real": jnp.sum(m * jax.nn.sigmoid(logits)), "count": jnp.sum(m)})


def check_config(config) -> None:
    """One clear error for a GAN config this task cannot train."""
    m = config.model
    if m.loss not in LOSSES:
        raise ConfigError(f"model.loss: expected one of {LOSSES}, got {m.loss!r}")
    if m.loss == "wgan_gp" and m.d_norm == "batch":
        raise ConfigError("model.d_norm: a WGAN-GP critic needs 'layer' or 'none', not 'batch'")
    group = int(m.get("mbstd_group", 0))
    per_critic = config.batch_size // (m.n_critic * jax.device_count())
    per_eval = config.eval_batch_size // jax.device_count()
    if group and (per_critic % group or per_eval % group):
        raise ConfigError(
            f"model.mbstd_group: {group} must divide each device's critic batch "
            f"({per_critic}) and evaluation batch ({per_eval})"
        )
    if float(m.get("r1_weight", 0.0)) and m.d_norm == "batch":
        raise ConfigError(
            "model.r1_weight: the R1 penalty needs model.d_norm 'layer' or 'none', not "
            "'batch'; set model.r1_weight=0 for a BatchNorm discriminator"
        )
    if config.batch_size % (m.n_critic * jax.device_count()):
        raise ConfigError(
            f"batch_size: {config.batch_size} must split into model.n_critic={m.n_critic} "
            f"critic batches on each of {jax.device_count()} devices"
        )
    intensity.check(config.data.intensity_map, config.data.intensity_scale)


class GANTask(generated.GeneratorTask, Task):
    name = "gan"
    finite_metrics = ("d_loss", "g_loss")

    def __init__(self, config):
        self.config = config
        m = config.model
        size = config.data.resolution
        self.nz = int(m.nz)
        # data.sky 'draw': one more latent coordinate, whose quantile picks the sky level
        self.latent_dim = self.nz + (sky_lib.mode(config.data) == "draw")
        self.generator = gan_models.Generator(
            size,
            m.nz,
            m.ngf,
            parallel.AXIS,
            self.dtype,
            m.get("g_upsample", "transpose"),
            float(m.get("g_margin", 0.0)),
        )
        group = int(m.get("mbstd_group", 0))
        self.discriminator = gan_models.Discriminator(
            size,
            m.ndf,
            parallel.AXIS,
            self.dtype,
            norm=m.d_norm,
            mbstd_group=group,
        )
        check_config(config)
        self.tx_g, self.lr_fn = optim.build(config.optimizer, config.num_steps)
        self.tx_d, _ = optim.build(config.optimizer, config.num_steps)
        d_apply, loss = self.discriminator.apply, str(m.loss)
        self.train_step = functools.partial(
            train_step,
            g_apply=self.generator.apply,
            d_update=functools.partial(
                d_step,
                d_apply=d_apply,
                tx_d=self.tx_d,
                real_target=1.0 - float(m.label_smoothing),
                loss=loss,
                gp=float(m.gp_weight),
                r1=float(m.get("r1_weight", 0.0)),
            ),
            g_update=functools.partial(g_step, d_apply=d_apply, tx_g=self.tx_g, loss=loss),
            nz=self.nz,
            data_cfg=config.data,
            n_critic=int(m.n_critic),
            augment=bool(config.data.augment),
        )
        self.eval_step = functools.partial(
            eval_step, d_apply=self.discriminator.apply, data_cfg=config.data
        )

    def init_state(self, rng) -> TrainState:
        r = self.config.data.resolution
        kg, kd = jax.random.split(state_lib.init_key(rng))
        g = self.generator.init(kg, jnp.zeros((1, self.nz)))
        d = self.discriminator.init(
            kd, jnp.zeros((max(self.discriminator.mbstd_group, 1), r, r, 1))
        )
        params = {"g": g["params"], "d": d["params"]}
        return TrainState.create(
            params,
            {"g": self.tx_g.init(params["g"]), "d": self.tx_d.init(params["d"])},
            rng,
            {"g": g["batch_stats"], "d": d.get("batch_stats", {})},
        )

    def evaluate(self, state) -> dict:
        s = self.eval_sums(self.eval_step, state, self.val)
        params = parallel.host_local(state.params)
        model_state = parallel.host_local(state.model_state)

        def sample(key, n):
            z = jax.random.normal(key, (n, self.latent_dim), jnp.float32)
            return np.asarray(self._decode(params, model_state, z))[..., 0]

        return {
            "eval_d_real": s["d_real"] / s["count"],
            "eval_stats_frechet": self.stats_frechet(sample),
        }

    def describe(self) -> dict:
        return {"task": self.name, "size": int(self.config.data.resolution)}

    def generator_fns(self):
        """``(decode_fn, None)`` for :mod:`cosmojax.sampling`: eval-mode generator
        (with ``data.sky`` ``draw``, plus the sky level that ``z``'s last
        coordinate picks from :attr:`sky`)."""
        gen, d, nz, sky = self.generator, self.config.data, self.nz, self.sky
        if self.latent_dim > nz and sky is None:
            raise ValueError("data.sky='draw': the run's sky levels (sky.json) are not loaded")

        def decode_fn(params, model_state, z):
            out = gen.apply({"params": params["g"], "batch_stats": model_state["g"]}, z[:, :nz])
            x = intensity.inverse((out + 1.0) / 2.0, d.intensity_map, d.intensity_scale)
            if sky is None:
                return x
            return jnp.minimum(x + sky.at(z[:, nz])[:, None, None, None], 1.0)

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
