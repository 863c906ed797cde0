"""A source model for ``learned`` upscaling: a conditional VAE of a generator
run's sources (cosmojax/tasks/sources.py).

    python train_vae.py --config=configs/sources.py --workdir=runs/vae/source_model \
        --config.model.library_workdir=runs/vae
    python -m cosmojax.generate --workdir runs/vae --num 16 --images gen/  # learned, by default

Its workdir inside the generator's (``<workdir>/source_model``) is where
``cosmojax.generate`` and ``sampling.load`` look for it.
"""

from cosmojax import configlib


def get_config():
    c = configlib.base("sources")
    c.num_steps = 6000  # a second set: learned 1.39x stamps at 3000 steps, 1.14x at 6000
    c.batch_size = 256
    c.eval_batch_size = 1024
    c.eval_every = 500
    c.checkpoint_every = 500
    c.log_every = 100
    c.data.val_fraction = 0.05
    c.optimizer.learning_rate = 1e-3
    c.optimizer.schedule = "cosine"
    c.optimizer.warmup_steps = 100
    c.model.library_workdir = ""  # the generator run whose sources.npz to learn
    c.model.patch = 65  # px, odd: the square around each source's peak (upscale.PATCH)
    c.model.latent_dim = 16
    c.model.hidden = 512
    c.model.sigma = 0.1  # the starting sd of a pixel in between (log map); the decoder learns it
    c.model.beta = 1.0
    c.model.saturated_weight = 4.0  # a saturated source's weight in the training loss (others 1)
    c.model.components = 8  # of the mixture p(z | c) that draws latents (trained on q(z | x, c))
    return c
