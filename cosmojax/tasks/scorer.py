"""Scorer task: regress the similarity score of ``scored`` images with an L1 loss."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax

from cosmojax.data import augment as augment_lib
from cosmojax.data import pipeline
from cosmojax.models import scorer as scorer_models
from cosmojax.tasks.base import Task
from cosmojax.train import parallel
from cosmojax.train import state as state_lib
from cosmojax.train.state import TrainState


def train_step(state: TrainState, batch, *, apply_fn, tx, augment: bool):
    """One L1 regression step on this device's shard; gradients averaged over ``data``."""
    images = batch["image"]
    if augment:
        keys = parallel.example_keys(state.step_key(), images.shape[0])
        images = augment_lib.random_dihedral(keys, images)

    def loss_fn(params):
        pred = apply_fn({"params": params, **state.model_state}, images, train=True)
        return jnp.mean(jnp.abs(pred - batch["target"]))

    loss, grads = jax.value_and_grad(loss_fn)(state.params)
    loss, grads = parallel.pmean((loss, grads))
    updates, opt_state = tx.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    metrics = {
        "loss": loss,
        "grad_norm": optax.global_norm(grads),
        "param_norm": optax.global_norm(params),
    }
    return state.replace(step=state.step + 1, params=params, opt_state=opt_state), metrics


def eval_step(state: TrainState, batch, *, apply_fn, constant: float):
    """Summed absolute errors of the model and of a constant prediction."""
    pred = apply_fn({"params": state.params, **state.model_state}, batch["image"], train=False)
    pred = jnp.clip(pred, 0.0, 8.0)
    m = batch["mask"]
    sums = {
        "abs_err": jnp.sum(m * jnp.abs(pred - batch["target"])),
        "abs_err_const": jnp.sum(m * jnp.abs(constant - batch["target"])),
        "count": jnp.sum(m),
    }
    return parallel.psum(sums)


class ScorerTask(Task):
    name = "scorer"
    best_metric = "eval_mae"

    def __init__(self, config):
        super().__init__(config)
        self.model = scorer_models.build(config.model, config.data.resolution, self.dtype)
        self.train_step = functools.partial(
            train_step, apply_fn=self.model.apply, tx=self.tx, augment=bool(config.data.augment)
        )

    def dataset(self) -> pipeline.Split:
        return pipeline.load_split(self.config.data.dir, "scored", self.config.data.resolution)

    @functools.cached_property
    def eval_step(self):
        return functools.partial(
            eval_step, apply_fn=self.model.apply, constant=float(np.mean(self.train.targets))
        )

    def init_state(self, rng) -> TrainState:
        r = self.config.data.resolution
        variables = self.model.init(state_lib.init_key(rng), jnp.zeros((1, r, r, 1)))
        params = variables.pop("params")
        return TrainState(
            step=jnp.zeros((), jnp.int32),
            params=params,
            opt_state=self.tx.init(params),
            model_state=dict(variables),
            rng=rng,
        )

    def after_init(self, state: TrainState) -> TrainState:
        """Data-dependent initialisation: the statistics scorer's feature
        standardisation, or a critic scorer's discriminator weights."""
        if self.config.model.name == "stats":
            return self._init_feature_norm(state)
        if self.config.model.name != "gan_critic":
            return state
        from cosmojax import restore

        gan_dir = self.config.model.gan_workdir
        if not gan_dir:
            raise ValueError("model.gan_workdir: give the workdir of a trained GAN")
        gan_task, gan_state, gan_step = restore.load_run(gan_dir)
        if gan_task.name != "gan":
            raise ValueError(f"model.gan_workdir: {gan_dir} holds a {gan_task.name!r} run")
        params = dict(state.params)
        stats = {k: dict(v) for k, v in state.model_state.items()}
        want = params["backbone"]
        params["backbone"] = {k: gan_state.params["d"][k] for k in want}
        stats["batch_stats"]["backbone"] = {
            k: gan_state.model_state["d"][k] for k in stats["batch_stats"]["backbone"]
        }
        print(
            f"Critic scorer: discriminator of {gan_dir} (step {gan_step}), "
            f"{'frozen' if self.config.model.frozen else 'fine-tuned'}",
            flush=True,
        )
        new = state.replace(params=params, opt_state=self.tx.init(params), model_state=stats)
        return jax.device_put(new, jax.tree.map(lambda x: x.sharding, state))

    def _init_feature_norm(self, state: TrainState, n: int = 1024) -> TrainState:
        """Quantiles of the statistics over ``n`` training images."""
        pick = np.random.default_rng(self.config.seed).permutation(len(self.train))[:n]
        feats_fn = jax.jit(
            lambda x: self.model.apply(
                {"params": state.params, **state.model_state},
                x,
                method=scorer_models.StatsScorer.features,
            )
        )
        chunks = np.array_split(pick, max(1, len(pick) // 64))
        feats = np.concatenate(
            [
                np.asarray(feats_fn(self.train.images[idx].astype(np.float32)[..., None]))
                for idx in chunks
            ]
        )
        levels = np.linspace(0.0, 1.0, scorer_models.QUANTILES)
        norm = {"quantiles": np.quantile(feats, levels, axis=0).astype(np.float32)}
        model_state = {**state.model_state, "norm": norm}
        return state.replace(
            model_state=jax.device_put(
                model_state, jax.tree.map(lambda x: x.sharding, state.model_state)
            )
        )

    def evaluate(self, state) -> dict:
        s = self.eval_sums(self.eval_step, state, self.val)
        return {
            "eval_mae": s["abs_err"] / s["count"],
            "eval_mae_const": s["abs_err_const"] / s["count"],
        }

    def describe(self) -> dict:
        return {"task": self.name, "model": self.config.model.name}
