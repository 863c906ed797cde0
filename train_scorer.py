"""Trains a scorer: the paper's CNN (configs/scorer.py) or the stronger one.

    python train_scorer.py --config=configs/scorer.py --workdir=runs/scorer \
        [--config.data.dir=PATH] [--config.num_steps=N] [--config.batch_size=B]

Running it again with the same workdir resumes from the latest checkpoint.
"""

import os

from cosmojax import cli

if __name__ == "__main__":
    cli.main(os.path.join(os.path.dirname(os.path.abspath(__file__)), "configs", "scorer.py"))
