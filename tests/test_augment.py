"""augment.dihedral is the action of the dihedral group D4 on square images."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from cosmojax.data import augment


def d4(image: np.ndarray) -> list[np.ndarray]:
    """The eight symmetries of a square image ``[H, W, C]``: rotations, and
    rotations after a transpose."""
    return [np.rot90(x, r) for x in (image, np.swapaxes(image, 0, 1)) for r in range(4)]


def key_of(a: np.ndarray) -> bytes:
    return np.ascontiguousarray(a).tobytes()


def test_dihedral_gives_each_of_the_eight_symmetries_once():
    image = np.arange(5 * 5 * 2, dtype=np.float32).reshape(5, 5, 2)  # no symmetry of its own
    out = [np.asarray(augment.dihedral(jnp.asarray(image), jnp.int32(k))) for k in range(8)]
    assert {key_of(x) for x in out} == {key_of(x) for x in d4(image)}
    assert len({key_of(x) for x in out}) == 8
    np.testing.assert_array_equal(out[0], image)  # k = 0 is the identity


def test_dihedral_is_a_group_action():
    image = np.random.default_rng(0).normal(size=(6, 6, 1)).astype(np.float32)
    apply = lambda x, k: np.asarray(augment.dihedral(jnp.asarray(x), jnp.int32(k)))  # noqa: E731
    table = {key_of(apply(image, k)): k for k in range(8)}
    for a in range(8):
        for b in range(8):
            composed = apply(apply(image, b), a)  # a after b is again one of the eight
            assert key_of(composed) in table
            # and acting on another image agrees: the same group element
            other = np.random.default_rng(a * 8 + b).normal(size=(6, 6, 1)).astype(np.float32)
            np.testing.assert_array_equal(
                apply(apply(other, b), a), apply(other, table[key_of(composed)])
            )


def test_random_dihedral_uses_every_symmetry_and_keeps_pixels():
    image = np.arange(4 * 4, dtype=np.float32).reshape(4, 4, 1)
    images = jnp.asarray(np.repeat(image[None], 256, 0))
    keys = jax.random.split(jax.random.PRNGKey(0), 256)
    out = np.asarray(augment.random_dihedral(keys, images))
    assert {key_of(x) for x in out} == {key_of(x) for x in d4(image)}
    np.testing.assert_array_equal(
        np.sort(out.reshape(256, -1), 1), np.sort(images.reshape(256, -1), 1)
    )
