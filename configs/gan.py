"""The DCGAN baseline at 64x64 (set data.resolution=128 for 128x128).

    python train_gan.py --config=configs/gan.py --workdir=runs/gan

Radford et al.: z of 100 dims, transposed convolutions with BatchNorm and
ReLU to tanh; strided convolutions with LeakyReLU 0.2 and BatchNorm (not on
the first layer); non-saturating BCE; Adam lr 2e-4, beta1 0.5; batch 64.
Trained on label-1 and scored >= 2.5 images (the VAE's threshold of 4
measured worse here: benchmarks/RESULTS.md), in the VAE's representation:
block-max pooled and log-stretched (see configs/vae.py).
The discriminator sees real and fake images in one joint batch, so its
BatchNorm cannot normalise away what tells them apart; one-sided label
smoothing (0.9) keeps it from saturating at once.
"""

from cosmojax import configlib


def get_config():
    c = configlib.base("gan")
    c.num_steps = 10_000
    c.eval_every = 1000
    c.checkpoint_every = 1000
    c.data.resolution = 64
    c.data.score_threshold = 2.5
    c.data.downsample = "max"
    c.data.intensity_map = "log"
    c.data.intensity_scale = 0.02
    c.data.library_images = 500  # training images whose sources the upscaler uses (stamps)
    c.optimizer.learning_rate = 2e-4
    c.optimizer.b1 = 0.5
    c.model.nz = 100
    c.model.ngf = 64
    c.model.ndf = 64
    c.model.loss = "bce"  # or "wgan_gp" (configs/wgan.py)
    c.model.d_norm = "batch"  # "batch", "layer" or "none"
    c.model.n_critic = 1  # critic updates per generator update
    c.model.gp_weight = 10.0  # wgan_gp: the gradient penalty's lambda
    c.model.label_smoothing = 0.1  # one-sided: real target 1 - label_smoothing
    return c
