"""The stronger scorer: full-resolution statistics, in-model statistics and a CNN branch.

    python train_scorer.py --config=configs/scorer_stats.py --workdir=runs/scorer_stats

Same machinery and loss (L1) as the paper's scorer. Each image's statistics at
full resolution (1000x1000: intensity histogram, power spectrum to the pixel
scale, peak counts, source catalogue, source sizes, saturation, background and
sky noise, and a photometric catalogue: the cumulative counts of sources above
each total flux and the clustering of the detections;
cosmojax/evaluation/features.py) are computed once when its PNG is decoded for
preparation, and stored beside the 128x128 area-resampled image.
The model adds differentiable statistics of the 128x128 image at three scales
and a small CNN on it, fused by an MLP (cosmojax/models/scorer.py). Random
flips and rotations, AdamW with a cosine schedule.

``model.labeled_weight > 0`` also fits the labeled split's label (cosmology or
corrupted) with a classification head on the same features.
"""

from configs import scorer
from cosmojax.evaluation import features


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
    c.model.stats_version = features.VERSION  # checked when the scorer is trained or loaded
    c.model.stats_image_size = 1000  # the data's image size: the statistics depend on it
    # statistics into the MLP: piecewise linear over 16 quantile bins each
    # ("quantile": one standard-normal value each)
    c.model.encoding = "piecewise"
    c.model.encoding_bins = 16
    # > 0: also fit the labeled split's label (1 cosmology, 0 corrupted) with a
    # classification head on the same features, this weight on its cross-entropy
    c.model.labeled_weight = 0.0
    c.model.labeled_batch_size = 32
    return c
