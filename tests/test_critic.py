"""The critic scorer (a head on a GAN discriminator): a frozen backbone stays
bit-identical, and its BatchNorm statistics are measured on real images."""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from cosmojax import tasks
from cosmojax.data import pipeline
from cosmojax.models import gan as gan_models
from cosmojax.tasks import gan as gan_task
from cosmojax.train import parallel
from tests.helpers import flat_params, tiny_config


def critic_config(data_dir, **kw):
    overrides = {"model.size": 16, "model.ndf": 4, "model.d_norm": "batch", **kw}
    return tiny_config("gan_scorer", data_dir, **overrides)


def test_frozen_backbone_is_bit_identical_under_weight_decay(tiny_data):
    config = critic_config(tiny_data, **{"optimizer.name": "adamw"})
    config.optimizer.weight_decay = 0.5
    config.optimizer.learning_rate = 1e-2
    task = tasks.build(config)
    mesh = parallel.make_mesh()
    state = jax.jit(task.init_state, out_shardings=parallel.replicated(mesh))(jax.random.PRNGKey(0))
    before = flat_params(state.params)
    step = parallel.data_parallel(task.train_step, mesh)
    for batch in task.train_batches(0, 3):
        state, _ = step(state, parallel.shard_batch(batch, mesh))
    after = flat_params(state.params)
    backbone = [k for k in before if k.startswith("['backbone']")]
    head = [k for k in before if k not in backbone]
    assert backbone and head
    assert all(np.array_equal(before[k], after[k]) for k in backbone)
    assert all(not np.array_equal(before[k], after[k]) for k in head if "kernel" in k)


def test_batchnorm_statistics_come_from_real_images(tiny_data):
    """Pooled over the batches of the initialisation's images (here 2 x 64), they
    are the statistics of all of them; the batches differ (one bright, one faint),
    so a pooled variance without the spread of the batch means would be too low."""
    task = tasks.build(critic_config(tiny_data))
    rng = np.random.default_rng(0)
    n = 128
    pick = np.random.default_rng(task.config.seed).permutation(n)
    images = rng.uniform(0, 1, (n, 16, 16))
    images[pick[n // 2 :]] *= 0.02  # the second batch faint (a sky level would be subtracted)
    train = pipeline.Split(np.arange(n).astype(str), images.astype(np.float16), np.ones(n))
    task.splits = (train, task.splits[1])
    assert sum(1 for _ in task._init_batches()) == 2
    variables = task.model.init(jax.random.PRNGKey(1), jnp.zeros((1, 16, 16, 1)))
    backbone = variables["params"]["backbone"]
    gan_stats = jax.tree.map(lambda x: x + 3.0, variables["batch_stats"]["backbone"])
    stats = task._real_batch_stats(backbone, gan_stats)
    assert jax.tree.structure(stats) == jax.tree.structure(gan_stats)

    # The first BatchNorm's input does not depend on any normalisation: its
    # statistics over all the training images can be computed directly.
    disc = gan_models.Discriminator(16, 4)
    # the GAN's training input (log map, less each image's sky), as the critic reads it
    x = gan_task.to_tanh_range(
        jnp.asarray(train.images.astype(np.float32))[..., None], task.config.data
    )
    h = disc.apply(
        {"params": backbone},
        x,
        method=lambda m, x: m.convs[1](nn.leaky_relu(m.convs[0](x), 0.2)),
    )
    h = np.asarray(h, np.float64).reshape(-1, h.shape[-1])
    per_image = h.reshape(n, -1, h.shape[-1])
    within = np.mean([per_image[b].reshape(-1, h.shape[-1]).var(0) for b in np.split(pick, 2)], 0)
    assert np.max(h.var(0) / within) > 1.2  # the spread of the batch means counts
    np.testing.assert_allclose(stats["norms_0"]["mean"], h.mean(0), rtol=1e-4)
    np.testing.assert_allclose(stats["norms_0"]["var"], h.var(0), rtol=1e-3)
    for name in stats:  # nothing of the GAN's running averages is left
        assert not np.allclose(stats[name]["mean"], gan_stats[name]["mean"])
