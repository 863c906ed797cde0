"""The DCGAN baseline, at 32x32 block maxima (set data.resolution=64 or 128).

    python train_gan.py --config=configs/gan.py --workdir=runs/gan

Radford et al.: z of 100 dims, transposed convolutions with BatchNorm and
ReLU to tanh; strided convolutions with LeakyReLU 0.2; non-saturating BCE;
Adam lr 2e-4, beta1 0.5; batch 64. Trained on label-1 and scored >= 2.5
images in the VAE's representation: block-max pooled and log-stretched (see
configs/vae.py); ``cosmojax.generate`` renders each generated peak as a
source of the training images (``stamps``, cosmojax/upscale.py).

What differs from the paper's DCGAN, and why (benchmarks/RESULTS.md):
- LayerNorm instead of BatchNorm in the discriminator (``model.d_norm``). With
  BatchNorm the discriminator won at once and the generator stayed a grey
  texture (it fooled a fixed discriminator in 60 steps without ever making
  the sky black); with LayerNorm D(fake) stays near 0.1-0.3 and the
  generator learns an empty sky, then sources.
- 32x32 instead of 64x64: a step is about 3x faster on a CPU, and the
  round trip of real images through 32x32 block maxima and ``stamps`` is
  1.27x real-vs-real (the 64x64 one 1.05x).
- one-sided label smoothing (0.1).
"""

from cosmojax import configlib


def get_config():
    c = configlib.base("gan")
    c.num_steps = 10_000
    c.eval_every = 1000
    c.checkpoint_every = 1000
    c.data.resolution = 32
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
    c.model.g_upsample = "transpose"  # or "resize": nearest 2x then a 3x3 convolution
    c.model.g_margin = 0.0  # > 0: output clip((1 + margin) tanh), reaching 0 and 255 exactly
    c.model.d_norm = "layer"  # "layer", "batch" (the paper's) or "none"
    c.model.n_critic = 1  # critic updates per generator update
    c.model.gp_weight = 10.0  # wgan_gp: the gradient penalty's lambda
    c.model.label_smoothing = 0.1  # one-sided: real target 1 - label_smoothing
    c.model.r1_weight = 0.0  # bce: gamma of the R1 penalty on real images (0 = off)
    return c
