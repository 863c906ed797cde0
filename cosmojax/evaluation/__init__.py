"""Statistics of cosmology images and the evaluation of generators."""
