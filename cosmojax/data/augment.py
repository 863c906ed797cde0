"""Random flips and 90-degree rotations (the dihedral group D4), on the accelerator.

Applied inside the jitted train step with a key folded from the step, so the
host pipeline stays a plain gather and the same augmentation serves both the
tf.data path and the on-device data path. The sky has no preferred
orientation, so all eight symmetries of the square leave a target unchanged.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np


def dihedral(image, k, axes: tuple[int, int] = (0, 1)):
    """Symmetry ``k`` in 0..7 of the square on ``axes`` of ``image``: flip the
    first axis (bit 0), flip the second (bit 1), then transpose (bit 2).

    NumPy in, NumPy out (``k`` an int); JAX arrays or a traced ``k`` go through
    JAX. The upscaler turns its source stamps with the same function.

    >>> a = np.arange(4).reshape(2, 2)
    >>> [dihedral(a, k).tolist() for k in (1, 4, 5)]
    [[[2, 3], [0, 1]], [[0, 2], [1, 3]], [[2, 0], [3, 1]]]
    """
    xp = jnp if isinstance(image, jax.Array) or isinstance(k, jax.Array) else np
    r, c = axes
    if xp is np:  # a static symmetry: views, no copies
        image = image if not k & 1 else np.flip(image, r)
        image = image if not k & 2 else np.flip(image, c)
        return image if not k & 4 else np.swapaxes(image, r, c)
    image = jnp.where(k & 1, jnp.flip(image, r), image)
    image = jnp.where(k & 2, jnp.flip(image, c), image)
    return jnp.where(k & 4, jnp.swapaxes(image, r, c), image)


def random_dihedral(keys: jax.Array, images: jax.Array) -> jax.Array:
    """One random symmetry per image; ``keys`` holds one PRNG key per image."""
    ks = jax.vmap(lambda key: jax.random.randint(key, (), 0, 8))(keys)
    return jax.vmap(dihedral)(images, ks)
