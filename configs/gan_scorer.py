"""A scorer on a trained DCGAN discriminator (the paper's discriminator scores).

    python train_scorer.py --config=configs/gan_scorer.py --workdir=runs/gan_scorer \
        --config.model.gan_workdir=runs/gan [--config.model.frozen=False]

The discriminator's last hidden layer feeds a small head (dense 100, dense 1)
trained with L1 on ``scored``. frozen=True trains the head only; False
fine-tunes the discriminator end to end. The discriminator's weights are
copied from the GAN's latest checkpoint when the run starts. The images reach
it as they reached it in the GAN's training: reduced, mapped and less their
sky the same way, so data.resolution, data.downsample, data.intensity_map,
data.intensity_scale, data.sky, model.size, model.ndf and model.d_norm must
match the GAN (the defaults are configs/gan.py's; a run that differs stops
with the field to set).
"""

from configs import gan, scorer


def get_config():
    c = scorer.get_config()
    g = gan.get_config()
    c.num_steps = 2000
    c.eval_every = 250
    c.checkpoint_every = 250
    for name in ("resolution", "downsample", "intensity_map", "intensity_scale", "sky"):
        c.data[name] = g.data[name]
    c.data.augment = True
    c.optimizer.learning_rate = 2e-4
    c.model.name = "gan_critic"
    c.model.gan_workdir = ""
    c.model.frozen = True
    c.model.size = g.data.resolution
    c.model.ndf = g.model.ndf
    c.model.d_norm = g.model.d_norm
    c.model.head_width = 100
    return c
