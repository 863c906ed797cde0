"""The DCGAN baseline at 64x64 (set data.resolution=128 for 128x128).

    python train_gan.py --config=configs/gan.py --workdir=runs/gan

Radford et al.: z of 100 dims, transposed convolutions with BatchNorm and
ReLU to tanh; strided convolutions with LeakyReLU 0.2 and BatchNorm (not on
the first layer); non-saturating BCE; Adam lr 2e-4, beta1 0.5; batch 64.
Trained on the same images as the VAE (label 1, and scored >= 2.5).
"""

from cosmojax import configlib


def get_config():
    c = configlib.base("gan")
    c.num_steps = 10_000
    c.eval_every = 1000
    c.checkpoint_every = 1000
    c.data.resolution = 64
    c.data.score_threshold = 2.5
    c.optimizer.learning_rate = 2e-4
    c.optimizer.b1 = 0.5
    c.model.nz = 100
    c.model.ngf = 64
    c.model.ndf = 64
    c.model.label_smoothing = 0.0  # one-sided: real target 1 - label_smoothing
    return c
