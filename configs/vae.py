"""The paper's MLP VAE on 128x128 images.

    python train_vae.py --config=configs/vae.py --workdir=runs/vae

16,384 inputs; encoder and decoder with two hidden layers of 1000 softplus
units; 64-dim Gaussian latent; Bernoulli likelihood; Adam; batch 64; 10,000
steps. Trained on label-1 images plus scored images with score >= 2.5.
"""

from cosmojax import configlib


def get_config():
    c = configlib.base("vae")
    c.num_steps = 10_000
    c.eval_every = 1000
    c.checkpoint_every = 1000
    c.data.resolution = 128
    c.data.score_threshold = 2.5
    c.optimizer.learning_rate = 1e-3
    c.model.kind = "mlp"
    c.model.hidden = 1000
    c.model.latent_dim = 64
    c.model.channels = (32, 64, 128, 256)  # used by kind="conv"
    return c
