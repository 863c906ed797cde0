"""What every task shares: optimizer, batches, data-parallel evaluation."""

from __future__ import annotations

import functools

import jax
import numpy as np

from cosmojax.configlib import ConfigError
from cosmojax.data import pipeline
from cosmojax.train import optim, parallel


class Task:
    """Base class; subclasses set ``name``, ``best_metric``, ``init_state``,
    ``train_step`` and ``dataset()`` (the images to split into train and val)."""

    name = "task"
    best_metric: str | None = None
    finite_metrics = ("loss", "grad_norm")

    def __init__(self, config):
        self.config = config
        self.tx, self.lr_fn = optim.build(config.optimizer, config.num_steps)

    @functools.cached_property
    def mesh(self):
        return parallel.make_mesh()

    def dataset(self) -> pipeline.Split:
        raise NotImplementedError

    def check_data(self) -> None:
        """Raises a clear error when the data cannot serve this config (called
        before a training run writes anything): here, a training split smaller
        than one global batch."""
        n, batch = len(self.train), int(self.config.batch_size)
        if n < batch:
            raise ConfigError(
                f"batch_size {batch} is larger than the {n} training images of "
                f"{self.config.data.dir or 'the default data set'} ({self.data_description}); "
                f"lower --config.batch_size to at most {n} or add images"
            )

    data_description = "the training side of the split"

    @functools.cached_property
    def splits(self) -> tuple[pipeline.Split, pipeline.Split]:
        """``(train, val)``: the hash split of :meth:`dataset` (loaded on first use)."""
        data = self.config.data
        return pipeline.split_train_val(self.dataset(), data.val_fraction, data.split_seed)

    @property
    def train(self) -> pipeline.Split:
        return self.splits[0]

    @property
    def val(self) -> pipeline.Split:
        return self.splits[1]

    def fixed_latents(self, n: int = 64) -> np.ndarray:
        """The latents of the sample grids: the same at every evaluation."""
        key = jax.random.PRNGKey(self.config.seed + 7919)
        return np.asarray(jax.random.normal(key, (n, self.latent_dim)))

    @property
    def dtype(self):
        return {"float32": np.float32, "bfloat16": jax.numpy.bfloat16}[self.config.dtype]

    def learning_rate(self, step: int) -> float:
        return float(self.lr_fn(step))

    def train_batches(self, start_step: int, num_steps: int):
        return pipeline.train_batches(
            self.train,
            batch_size=self.config.batch_size,
            seed=self.config.seed,
            start_step=start_step,
            num_steps=num_steps,
        )

    def index_batches(self, start_step: int):
        """This host's share of the global batch indices, for on-device data."""
        sampler = pipeline.IndexSampler(len(self.train), self.config.batch_size, self.config.seed)
        step = start_step
        while True:
            idx = sampler.host_indices(step, jax.process_index(), jax.process_count())
            yield {"index": idx.astype(np.int32)}
            step += 1

    def eval_sums(self, eval_step, state, data: pipeline.Split) -> dict[str, float]:
        """Sums of ``eval_step``'s per-batch outputs over ``data`` (padding masked)."""
        fn = self._jitted(eval_step)
        total = None
        for batch in pipeline.eval_batches(data, self.config.eval_batch_size):
            out = fn(state, parallel.shard_batch(batch, self.mesh))
            total = out if total is None else jax.tree.map(lambda a, b: a + b, total, out)
        return {k: float(v) for k, v in parallel.host_local(total).items()}

    @functools.cache  # noqa: B019 (one compiled eval function per task object)
    def _jitted(self, eval_step):
        return jax.jit(
            jax.shard_map(
                eval_step,
                mesh=self.mesh,
                in_specs=(parallel.P(), parallel.P(parallel.AXIS)),
                out_specs=parallel.P(),
                check_vma=False,
            )
        )

    def describe(self) -> dict:
        return {"task": self.name}

    def prepare_workdir(self, workdir, is_main: bool) -> None:
        """Reads or writes what the task keeps beside its checkpoints (called once
        the workdir has its config, before the first step)."""

    def after_init(self, state):
        """Adjusts a freshly initialised state (e.g. loads pretrained weights)."""
        return state

    def evaluate(self, state) -> dict:
        return {}

    def on_eval(self, state, step: int, workdir, writer):
        pass

    def on_end(self, state, workdir):
        pass
