"""The config fields every task shares; ``configs/<task>.py`` start from :func:`base`."""

from __future__ import annotations

import ml_collections


class ConfigError(ValueError):
    """A config value that cannot work; the message names the field (``a.b: ...``)."""


def base(task: str) -> ml_collections.ConfigDict:
    c = ml_collections.ConfigDict()
    c.task = task
    c.seed = 0
    c.num_steps = 1000
    c.batch_size = 64  # global batch, split over all devices of all hosts
    c.eval_batch_size = 256
    c.eval_every = 500
    c.checkpoint_every = 500
    c.log_every = 50
    c.keep_checkpoints = 3  # the latest k, plus the best by the validation metric
    c.eval_generated = 64  # generators: images in the fixed sample that picks checkpoints
    c.dtype = "float32"  # or "bfloat16": bf16 compute, f32 parameters and optimizer state

    c.data = ml_collections.ConfigDict()
    c.data.dir = ""  # CIL-layout folder; empty = the default synthetic data set
    c.data.resolution = 128
    c.data.val_fraction = 0.1
    c.data.split_seed = 0
    c.data.augment = False  # random flips and 90-degree rotations
    c.data.on_device = False  # keep the training set on the accelerators (no host pipeline)
    # What a model sees (cosmojax/data/resample.py, cosmojax/data/intensity.py):
    c.data.downsample = "area"  # 1000 -> resolution by "area" averages or block "max"
    c.data.intensity_map = "linear"  # or "log", "stretch"; exact inverse on the way out
    c.data.intensity_scale = 0.01  # the map's constant a (intensities in [0, 1])
    c.data.sky = "keep"  # GANs: or "draw" (cosmojax/data/sky.py): learn sky-free images

    c.optimizer = ml_collections.ConfigDict()
    c.optimizer.name = "adam"
    c.optimizer.learning_rate = 1e-3
    c.optimizer.b1 = 0.9
    c.optimizer.b2 = 0.999
    c.optimizer.eps = 1e-8
    c.optimizer.weight_decay = 0.0
    c.optimizer.schedule = "constant"  # or "cosine"
    c.optimizer.warmup_steps = 0
    c.optimizer.final_fraction = 0.0
    c.optimizer.grad_clip_norm = 0.0  # 0 = no clipping

    c.model = ml_collections.ConfigDict()
    return c
