"""data.sky: GANs that learn sky-free images and draw the sky from the data's levels."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cosmojax import cli, sampling
from cosmojax.configlib import ConfigError
from cosmojax.data import sky as sky_lib
from cosmojax.tasks import gan as gan_task
from cosmojax.tasks import vae as vae_task
from tests.helpers import tiny_config


def _images():
    x = np.zeros((3, 8, 8, 1), np.float32)
    x[:, 3, 4] = 0.6  # a source in each
    x[1] += 2 / 255  # a grey sky
    x[2] += 1 / 255
    return x


def test_subtract_removes_each_images_own_sky():
    x = _images()
    out = np.asarray(sky_lib.subtract(jnp.asarray(x)))
    np.testing.assert_allclose(out, np.broadcast_to(x[:1], x.shape), atol=1e-7)
    np.testing.assert_allclose(sky_lib.levels_of(x), [0, 2 / 255, 1 / 255], atol=1e-7)


def test_the_gan_sees_real_images_less_their_sky():
    c = tiny_config("gan", "unused", **{"data.sky": "keep"})
    x = jnp.asarray(_images())
    keep = np.asarray(gan_task.to_tanh_range(x, c.data))
    assert not np.allclose(keep[1], keep[0])  # the grey sky shows
    c.data.sky = "draw"
    drawn = np.asarray(gan_task.to_tanh_range(x, c.data))
    np.testing.assert_allclose(drawn, np.broadcast_to(keep[:1], keep.shape), atol=1e-6)


def test_levels_are_drawn_with_the_data_frequencies():
    x = np.zeros((10, 4, 4), np.float32)
    x[:2] = 2 / 255
    x[2:5] = 1 / 255
    levels = sky_lib.SkyLevels.from_images(x)
    drawn = np.asarray(levels.at(jax.random.normal(jax.random.PRNGKey(0), (40_000,))))
    freq = [np.mean(np.isclose(drawn, v / 255)) for v in (0, 1, 2)]
    np.testing.assert_allclose(freq, [0.5, 0.3, 0.2], atol=0.01)
    ends = np.asarray(levels.at(jnp.asarray([-9.0, 9.0])))
    np.testing.assert_allclose(ends, [0.0, 2 / 255], atol=1e-7)


def test_sky_file_round_trip_and_refusals(tmp_path):
    levels = sky_lib.SkyLevels.from_images(_images())
    path = tmp_path / sky_lib.SKY_FILE
    levels.save(path)
    np.testing.assert_array_equal(sky_lib.SkyLevels.load(path).levels, levels.levels)
    assert [p.name for p in tmp_path.iterdir()] == [sky_lib.SKY_FILE]
    for text, why in (
        ("{", "not a sky-level file"),
        ('{"version": 9, "levels": [0]}', "version 9"),
        ('{"version": 1, "levels": [0, 3]}', r"levels in \[0, 1\]"),
        ('{"version": 1, "levels": []}', "non-empty"),
    ):
        path.write_text(text)
        with pytest.raises(ValueError, match=why) as e:
            sky_lib.SkyLevels.load(path)
        assert str(path) in str(e.value)


def test_a_vae_and_an_unknown_mode_are_refused():
    c = tiny_config("vae", "unused")
    c.data.sky = "draw"
    with pytest.raises(ConfigError, match="data.sky"):
        vae_task.VAETask(c)
    c = tiny_config("gan", "unused")
    c.data.sky = "learn"
    with pytest.raises(ConfigError, match="data.sky"):
        gan_task.GANTask(c)


def test_a_gan_run_draws_its_sky_from_the_training_images(tiny_data, tmp_path):
    c = tiny_config("gan", tiny_data, num_steps=2, eval_every=2, checkpoint_every=2)
    c.model.nz, c.model.ngf, c.model.ndf = 8, 4, 4
    c.data.score_threshold = 1.0
    c.data.sky = "draw"
    w = tmp_path / "g"
    cli.train(c, w)
    # the levels are those of the training split, as the train step sees it
    task = gan_task.GANTask(c)
    train = task.train
    assert len(train) < len(task.dataset())  # not the validation images
    saved = sky_lib.SkyLevels.load(w / sky_lib.SKY_FILE).levels
    np.testing.assert_array_equal(saved, np.sort(train.images.reshape(len(train), -1).min(1)))

    # one more latent coordinate picks the level: Phi(-9) the lowest, Phi(9) the highest
    sky_lib.SkyLevels(np.asarray([0.0, 2 / 255], np.float32)).save(w / sky_lib.SKY_FILE)
    g = sampling.load(w)
    assert g.latent_dim == 9
    z = np.asarray(jax.random.normal(jax.random.PRNGKey(1), (4, 9)))
    empty = g.decode_float(np.concatenate([z[:, :8], np.full((4, 1), -9.0)], 1))
    grey = g.decode_float(np.concatenate([z[:, :8], np.full((4, 1), 9.0)], 1))
    np.testing.assert_allclose(grey, np.minimum(empty + 2 / 255, 1.0), atol=1e-6)
    assert g.sample(jax.random.PRNGKey(0), 3).shape == (3, 16, 16)
    with pytest.raises(ValueError, match=r"expected \[N, 9\]"):
        g.decode(z[:, :8])  # the generator's own latent size is not enough

    (w / sky_lib.SKY_FILE).unlink()
    with pytest.raises(ValueError, match="sky.json"):
        sampling.load(w)


def test_configs_written_before_data_sky_keep_the_sky():
    assert sky_lib.mode({}) == "keep"  # a config without data.sky
    c = tiny_config("gan", "unused")
    c.data.sky = "keep"
    assert gan_task.GANTask(c).latent_dim == c.model.nz  # no sky coordinate
    c.data.sky = "draw"
    assert gan_task.GANTask(c).latent_dim == c.model.nz + 1


def test_a_resumed_run_keeps_its_sky_levels(tmp_path):
    from cosmojax.tasks import generated

    c = tiny_config("gan", "unused")
    c.data.sky = "draw"
    images = _images()
    first = generated.workdir_sky(c, tmp_path, lambda: images)
    np.testing.assert_allclose(first.levels, [0, 1 / 255, 2 / 255], atol=1e-7)
    assert (tmp_path / sky_lib.SKY_FILE).is_file()
    again = generated.workdir_sky(c, tmp_path, lambda: images + 0.5)  # resumed: the file's
    np.testing.assert_array_equal(again.levels, first.levels)
    c.data.sky = "keep"
    assert generated.workdir_sky(c, tmp_path / "keep", lambda: images) is None
