"""Training machinery shared by the scorer, VAE and GAN: state, data parallelism,
checkpoints, metrics and the one training loop."""
