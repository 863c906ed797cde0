"""Trains the DCGAN baseline (configs/gan.py).

    python train_gan.py --config=configs/gan.py --workdir=runs/gan [--config.num_steps=N]

Writes sample grids from fixed latents to DIR/samples/ at every evaluation.
Running it again with the same workdir resumes.
"""

import os

from cosmojax import cli

if __name__ == "__main__":
    cli.main(os.path.join(os.path.dirname(os.path.abspath(__file__)), "configs", "gan.py"))
