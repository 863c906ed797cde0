"""Trains the VAE generator (configs/vae.py: the paper's MLP VAE; configs/vae_conv.py).

    python train_vae.py --config=configs/vae.py --workdir=runs/vae [--config.num_steps=N]

Writes sample grids to DIR/samples/ at every evaluation and DIR/curves.png at
the end. Running it again with the same workdir resumes.
"""

import os

from cosmojax import cli

if __name__ == "__main__":
    cli.main(os.path.join(os.path.dirname(os.path.abspath(__file__)), "configs", "vae.py"))
