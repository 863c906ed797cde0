"""The stronger scorer: a CNN branch plus differentiable summary statistics.

    python train_scorer.py --config=configs/scorer_stats.py --workdir=runs/scorer_stats

Same machinery and loss (L1) as the paper's scorer; 256x256 inputs (area-
resampled from 1000x1000), random flips and rotations, AdamW with a cosine
schedule. The statistics (intensity histogram, power spectrum, peak counts)
are computed inside the model; see cosmojax/models/scorer.py.
"""

from configs import scorer


def get_config():
    c = scorer.get_config()
    c.num_steps = 1500
    c.eval_every = 250
    c.checkpoint_every = 250
    c.data.resolution = 128
    c.data.augment = True
    c.optimizer.name = "adamw"
    c.optimizer.learning_rate = 1e-3
    c.optimizer.b1 = 0.9
    c.optimizer.weight_decay = 1e-4
    c.optimizer.schedule = "cosine"
    c.optimizer.warmup_steps = 200
    c.optimizer.grad_clip_norm = 1.0
    c.model.name = "stats"
    c.model.cnn_channels = (16, 32, 64, 64)
    c.model.cnn_size = 64
    c.model.stats_width = 256
    c.model.head_width = 256
    c.model.ps_bins = 24
    c.model.stats_scales = (1, 2, 4)  # statistics at 128, 64 and 32
    c.model.use_cnn = True
    # the full-resolution statistics of each image, computed once at preparation
    # (cosmojax/evaluation/features.py), beside the in-model ones
    c.model.fullres_stats = True
    # > 0: also fit the labeled split's label (1 cosmology, 0 corrupted) with a
    # classification head on the same features, this weight on its cross-entropy
    c.model.labeled_weight = 0.0
    c.model.labeled_batch_size = 32
    return c
