"""The paper's scorer CNN at 140x140, trained as in the paper.

    python train_scorer.py --config=configs/scorer.py --workdir=runs/scorer

L1 loss, Adam (lr 2e-4, beta1 0.5), Xavier init, batch 64, 90/10 split of
``scored``. 2700 steps are 20 epochs of the 8640 training images.
"""

from cosmojax import configlib


def get_config():
    c = configlib.base("scorer")
    c.num_steps = 2700
    c.eval_every = 270
    c.checkpoint_every = 270
    c.data.resolution = 140
    c.optimizer.learning_rate = 2e-4
    c.optimizer.b1 = 0.5
    c.model.name = "paper_cnn"
    return c
