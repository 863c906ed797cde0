"""A scorer on a trained DCGAN discriminator (the paper's discriminator scores).

    python train_scorer.py --config=configs/gan_scorer.py --workdir=runs/gan_scorer \
        --config.model.gan_workdir=runs/gan [--config.model.frozen=False]

The discriminator's last hidden layer feeds a small head (dense 100, dense 1)
trained with L1 on ``scored``. frozen=True trains the head only; False
fine-tunes the discriminator end to end. The discriminator's weights are
copied from the GAN's latest checkpoint when the run starts; data.resolution,
model.size, model.ndf and model.d_norm must match the GAN (the defaults match
configs/gan.py).
"""

from configs import scorer


def get_config():
    c = scorer.get_config()
    c.num_steps = 2000
    c.eval_every = 250
    c.checkpoint_every = 250
    c.data.resolution = 32
    c.data.augment = True
    c.optimizer.learning_rate = 2e-4
    c.model.name = "gan_critic"
    c.model.gan_workdir = ""
    c.model.frozen = True
    c.model.size = 32
    c.model.ndf = 64
    c.model.d_norm = "none"  # the GAN's model.d_norm (configs/gan.py: none)
    c.model.head_width = 100
    return c
