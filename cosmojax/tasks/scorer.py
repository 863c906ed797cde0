"""Scorer task: regress the similarity score of ``scored`` images with an L1 loss."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax

from cosmojax.configlib import ConfigError
from cosmojax.data import augment as augment_lib
from cosmojax.data import pipeline
from cosmojax.evaluation import features as stats_lib
from cosmojax.models import gan as gan_models
from cosmojax.models import scorer as scorer_models
from cosmojax.tasks.base import Task
from cosmojax.train import checkpoint as ckpt_lib
from cosmojax.train import parallel
from cosmojax.train import state as state_lib
from cosmojax.train import step as step_lib
from cosmojax.train.state import TrainState


def _inputs(batch, prefix: str = "") -> tuple:
    """The model's positional inputs: images, and the statistics where the batch has them."""
    images = batch[prefix + "image"]
    return (images, batch[prefix + "stats"]) if prefix + "stats" in batch else (images,)


def train_step(
    state: TrainState, batch, *, apply_fn, tx, augment: bool, labeled_weight: float = 0.0
):
    """One L1 regression step on this device's shard; gradients averaged over ``data``.

    With ``labeled_weight > 0`` the batch also holds ``labeled_*`` images of the
    labeled split, and the loss adds ``labeled_weight`` times the binary cross-
    entropy of their label (1 cosmology, 0 corrupted) under the model's
    ``label_head``, on the same features that score."""
    images = batch["image"]
    labeled = batch.get("labeled_image")
    if augment:
        key = state.step_key()
        images = augment_lib.random_dihedral(parallel.example_keys(key, images.shape[0]), images)
        if labeled is not None:
            labeled = augment_lib.random_dihedral(
                parallel.example_keys(jax.random.fold_in(key, 1), labeled.shape[0]), labeled
            )
    extra = _inputs(batch)[1:]

    def loss_fn(params):
        variables = {"params": params, **state.model_state}
        pred = apply_fn(variables, images, *extra, train=True)
        l1 = jnp.mean(jnp.abs(pred - batch["target"]))
        if labeled is None:
            return l1, {}
        _, logit = apply_fn(
            variables, labeled, *_inputs(batch, "labeled_")[1:], train=True, with_label=True
        )
        bce = jnp.mean(optax.sigmoid_binary_cross_entropy(logit, batch["labeled_target"]))
        return l1 + labeled_weight * bce, {"score_l1": l1, "label_bce": bce}

    (loss, parts), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
    params, opt_state, (loss, parts), grad_norm = step_lib.apply_mean(
        tx, state.params, state.opt_state, grads, (loss, parts)
    )
    metrics = {
        "loss": loss,
        **parts,
        "grad_norm": grad_norm,
        "param_norm": optax.tree.norm(params),
    }
    return state.replace(step=state.step + 1, params=params, opt_state=opt_state), metrics


def eval_step(state: TrainState, batch, *, apply_fn, constant: float):
    """Summed absolute errors of the model and of a constant prediction."""
    pred = apply_fn({"params": state.params, **state.model_state}, *_inputs(batch), train=False)
    pred = jnp.clip(pred, 0.0, 8.0)
    m = batch["mask"]
    sums = {
        "abs_err": jnp.sum(m * jnp.abs(pred - batch["target"])),
        "abs_err_const": jnp.sum(m * jnp.abs(constant - batch["target"])),
        "count": jnp.sum(m),
    }
    return parallel.psum(sums)


def _is_bn(x) -> bool:
    return isinstance(x, dict) and set(x) == {"mean", "var"}


@functools.partial(jax.jit, static_argnums=0)
def _bn_update(disc, params, stats, images):
    """The discriminator's BatchNorm statistics after one training-mode pass."""
    _, upd = disc.apply(
        {"params": params, "batch_stats": stats},
        images,
        train=True,
        method="features",
        mutable=["batch_stats"],
    )
    return upd["batch_stats"]


@functools.partial(jax.jit, static_argnums=0)
def _stats_features(model, variables, *inputs):
    """The statistics scorer's raw features (parameters are arguments, not constants)."""
    return model.apply(variables, *inputs, method=scorer_models.StatsScorer.features)


# What a critic scorer shares with its GAN: the discriminator's shape, and how
# its images were reduced and represented ((field, default of older configs)).
CRITIC_SHARED = (
    ("model.d_norm", "batch"),
    ("model.ndf", None),
    ("data.resolution", None),
    ("data.downsample", "area"),
    ("data.intensity_map", "linear"),
    ("data.intensity_scale", 0.01),
    ("data.sky", "keep"),
)


def _check_critic_fits(gan_config, config, gan_dir) -> None:
    """A ConfigError naming the first field in which the critic scorer's config
    differs from the GAN's (the discriminator would read other images)."""
    for field, default in CRITIC_SHARED:
        block, name = field.split(".")
        theirs, ours = (c[block].get(name, default) for c in (gan_config, config))
        if theirs != ours:
            raise ConfigError(
                f"{field}: {gan_dir}'s discriminator was trained with {theirs!r}, this "
                f"config has {ours!r}; set --config.{field}={theirs}"
            )


def _critic_labels(params) -> dict:
    """``frozen`` for the discriminator backbone, ``train`` for the head."""
    return {
        k: jax.tree.map(lambda _, k=k: "frozen" if k == "backbone" else "train", v)
        for k, v in params.items()
    }


class ScorerTask(Task):
    name = "scorer"
    best_metric = "eval_mae"

    def __init__(self, config):
        super().__init__(config)
        self.model = scorer_models.build(config, self.dtype)
        if config.model.name == "gan_critic" and config.model.frozen:
            # No update at all for the backbone: a zero gradient alone would still
            # let AdamW's weight decay shrink it.
            self.tx = optax.multi_transform(
                {"train": self.tx, "frozen": optax.set_to_zero()}, _critic_labels
            )
        m = config.model
        self.with_stats = scorer_models.reads_stats(m)
        self.labeled_weight = float(m.get("labeled_weight", 0.0))
        if self.labeled_weight < 0:
            raise ConfigError(f"model.labeled_weight must be >= 0, got {self.labeled_weight}")
        if self.with_stats:
            stats_lib.check_version(m.get("stats_version", 1), "model.stats_version")
        if self.labeled_weight > 0:
            if int(m.get("labeled_batch_size", 32)) < 1:
                raise ConfigError("model.labeled_batch_size must be a positive number of images")
            if m.name != "stats":
                raise ConfigError("model.labeled_weight: only the 'stats' scorer has a label head")
            if config.data.get("on_device", False):
                raise ConfigError("model.labeled_weight needs data.on_device = False")
        self.train_step = functools.partial(
            train_step,
            apply_fn=self.model.apply,
            tx=self.tx,
            augment=bool(config.data.augment),
            labeled_weight=self.labeled_weight,
        )

    def dataset(self) -> pipeline.Split:
        d = self.config.data
        return pipeline.load_split(
            d.dir, "scored", d.resolution, d.downsample, stats=self.with_stats
        )

    def check_data(self) -> None:
        """The statistics depend on the image size: the training images must have
        the size the scorer declares (``model.stats_image_size``), which scoring
        then requires of every image."""
        super().check_data()
        if not self.with_stats:
            return
        from PIL import Image

        from cosmojax.data import layout, sources

        want = int(self.config.model.get("stats_image_size", layout.IMAGE_SIZE))
        _, paths, _ = layout.list_split(sources.resolve_data_dir(self.config.data.dir), "scored")
        with Image.open(paths[0]) as im:
            w, h = im.size
        if (h, w) != (want, want):
            raise ConfigError(
                f"model.stats_image_size is {want} but {paths[0]} is {w}x{h}: set it to the "
                "size of the data's images"
            )

    @functools.cached_property
    def labeled(self) -> pipeline.Split:
        """The whole labeled split (targets 0 / 1): the auxiliary objective's images."""
        d = self.config.data
        return pipeline.load_split(
            d.dir, "labeled", d.resolution, d.downsample, stats=self.with_stats
        )

    def train_batches(self, start_step: int, num_steps: int):
        scored = super().train_batches(start_step, num_steps)
        if self.labeled_weight <= 0:
            return scored
        size = int(self.config.model.get("labeled_batch_size", 32))
        if size > len(self.labeled) or size % jax.process_count():
            raise ConfigError(
                f"model.labeled_batch_size {size}: must be at most the {len(self.labeled)} "
                f"labeled images and divide over {jax.process_count()} hosts"
            )
        labeled = pipeline.train_batches(
            self.labeled,
            batch_size=size,
            seed=self.config.seed + 1,
            start_step=start_step,
            num_steps=num_steps,
        )
        return (
            {**s, **{f"labeled_{k}": v for k, v in b.items() if k != "id"}}
            for s, b in zip(scored, labeled, strict=True)
        )

    @functools.cached_property
    def eval_step(self):
        return functools.partial(
            eval_step, apply_fn=self.model.apply, constant=float(np.mean(self.train.targets))
        )

    def init_state(self, rng) -> TrainState:
        r = self.config.data.resolution
        inputs = [jnp.zeros((1, r, r, 1))]
        if self.with_stats:  # the vector's length, without touching the data
            inputs.append(jnp.zeros((1, stats_lib.SIZE)))
        kwargs = {"with_label": True} if self.labeled_weight > 0 else {}
        variables = self.model.init(state_lib.init_key(rng), *inputs, **kwargs)
        params = variables.pop("params")
        return TrainState.create(params, self.tx.init(params), rng, dict(variables))

    def after_init(self, state: TrainState) -> TrainState:
        """Data-dependent initialisation: the statistics scorer's feature
        standardisation, or a critic scorer's discriminator weights."""
        if self.config.model.name == "stats":
            return self._init_feature_norm(state)
        if self.config.model.name != "gan_critic":
            return state
        gan_dir = self.config.model.gan_workdir
        if not gan_dir:
            raise ConfigError("model.gan_workdir: give the workdir of a trained GAN")
        try:
            gan_config = ckpt_lib.load_config(gan_dir)
            gan_task = gan_config.get("task")
            if gan_task != "gan":
                raise ConfigError(f"model.gan_workdir: {gan_dir} holds a {gan_task!r} run")
            _check_critic_fits(gan_config, self.config, gan_dir)
            gan, gan_step = ckpt_lib.restore_params(gan_dir)
        except FileNotFoundError as e:
            raise ConfigError(f"model.gan_workdir: {e}") from None
        params = dict(state.params)
        stats = {k: dict(v) for k, v in state.model_state.items()}
        params["backbone"] = {k: gan.params["d"][k] for k in params["backbone"]}
        if "batch_stats" in stats:  # a BatchNorm discriminator
            stats["batch_stats"]["backbone"] = self._real_batch_stats(
                params["backbone"],
                {k: gan.model_state["d"][k] for k in stats["batch_stats"]["backbone"]},
            )
        print(
            f"Critic scorer: discriminator of {gan_dir} (step {gan_step}), "
            f"{'frozen' if self.config.model.frozen else 'fine-tuned'}"
            + (", BatchNorm statistics of real images" if "batch_stats" in stats else ""),
            flush=True,
        )
        new = state.replace(params=params, opt_state=self.tx.init(params), model_state=stats)
        return jax.device_put(new, jax.tree.map(lambda x: x.sharding, state))

    def _init_batches(self, n: int = 1024, batch: int = 64):
        """Batches of up to ``n`` training examples in fixed-size batches (the data-
        dependent initialisations; a seeded choice, the same on every host)."""
        pick = np.random.default_rng(self.config.seed).permutation(len(self.train))[:n]
        for idx in np.array_split(pick, max(1, len(pick) // batch)):
            yield pipeline.gather(self.train, idx)

    def _real_batch_stats(self, backbone, gan_stats):
        """BatchNorm statistics of the critic's backbone on real images.

        The GAN's running averages come from the discriminator's training
        passes, most of them on generated images, so they describe a mixture
        that a scorer never sees. Instead each BatchNorm layer's mean and variance
        are measured on training images of this data set, in training mode
        (each layer normalised by its batch statistics, as the discriminator
        was trained) and pooled over the batches: the mean of the batch means,
        and the mean of the batch variances plus the variance of the batch means.
        """
        disc = gan_models.Discriminator(self.model.size, self.model.ndf, dtype=self.dtype)
        zeros = jax.tree.map(jnp.zeros_like, gan_stats)
        ones = jax.tree.map(jnp.ones_like, gan_stats)
        batches = []
        for b in self._init_batches():
            x = self.model.inputs(jnp.asarray(b["image"]))  # as the GAN's training
            new0, new1 = (_bn_update(disc, backbone, s, x) for s in (zeros, ones))
            # an update is momentum * old + (1 - momentum) * the batch's statistic
            batches.append(jax.tree.map(lambda a, b: np.asarray(a / (1.0 - (b - a))), new0, new1))
        stacked = jax.tree.map(lambda *b: np.stack(b), *batches)  # [batches, channels]
        return jax.tree.map(
            lambda s: {
                "mean": jnp.asarray(s["mean"].mean(0), jnp.float32),
                "var": jnp.asarray(s["var"].mean(0) + s["mean"].var(0), jnp.float32),
            },
            stacked,
            is_leaf=_is_bn,
        )

    def _init_feature_norm(self, state: TrainState) -> TrainState:
        """Quantiles of the statistics over up to 1024 training images."""
        variables = {"params": state.params, **state.model_state}
        feats = np.concatenate(
            [
                np.asarray(_stats_features(self.model, variables, *_inputs(b)))
                for b in self._init_batches()
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
