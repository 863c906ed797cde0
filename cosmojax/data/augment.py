"""Random flips and 90-degree rotations (the dihedral group D4), on the accelerator.

Applied inside the jitted train step with a key folded from the step, so the
host pipeline stays a plain gather and the same augmentation serves both the
tf.data path and the on-device data path. The sky has no preferred
orientation, so all eight symmetries of the square leave a target unchanged.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def dihedral(image: jax.Array, k: jax.Array) -> jax.Array:
    """Applies symmetry ``k`` in 0..7 to one ``[H, W, C]`` square image
    (bit 2: transpose, bit 0: flip rows, bit 1: flip columns)."""
    image = jnp.where(k & 4, jnp.swapaxes(image, 0, 1), image)
    image = jnp.where(k & 1, image[::-1], image)
    return jnp.where(k & 2, image[:, ::-1], image)


def random_dihedral(keys: jax.Array, images: jax.Array) -> jax.Array:
    """One random symmetry per image; ``keys`` holds one PRNG key per image."""
    ks = jax.vmap(lambda key: jax.random.randint(key, (), 0, 8))(keys)
    return jax.vmap(dihedral)(images, ks)
