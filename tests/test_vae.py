"""The VAE: the paper's model, the ELBO, sampling API, full-size generation, resume."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image

from cosmojax import generate, sampling, upscale
from cosmojax.data import layout
from cosmojax.evaluation import catalog
from cosmojax.models import vae as vae_models
from cosmojax.train import loop
from tests.helpers import flat_params, tiny_config


def tiny_vae_config(data_dir, **kw):
    c = tiny_config("vae", data_dir, **kw)
    c.model.hidden = 32
    c.model.latent_dim = 8
    c.data.score_threshold = 1.0
    return c


def test_paper_vae_shapes_and_parameter_count():
    model = vae_models.VAE(kind="mlp", resolution=128, hidden=1000, latent_dim=64)
    x, eps = jnp.zeros((2, 128, 128, 1)), jnp.zeros((2, 64))
    variables = jax.eval_shape(model.init, jax.random.PRNGKey(0), x, eps)
    n = sum(int(np.prod(v.shape)) for v in jax.tree.leaves(variables))
    assert n == 34_980_512  # the same as the PyTorch reference's VAE
    logits, mean, logvar = jax.eval_shape(model.apply, variables, x, eps)
    assert logits.shape == (2, 128, 128, 1) and mean.shape == logvar.shape == (2, 64)


def test_conv_vae_shapes():
    model = vae_models.VAE(kind="conv", resolution=32, latent_dim=4, channels=(8, 16))
    x, eps = jnp.zeros((3, 32, 32, 1)), jnp.zeros((3, 4))
    variables = model.init(jax.random.PRNGKey(0), x, eps)
    logits, mean, _ = model.apply(variables, x, eps)
    assert logits.shape == (3, 32, 32, 1) and mean.shape == (3, 4)


def test_elbo_terms_match_numpy():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(2, 3, 3, 1)).astype(np.float32) * 3
    x = rng.uniform(size=(2, 3, 3, 1)).astype(np.float32)
    mean, logvar = rng.normal(size=(2, 4)), rng.normal(size=(2, 4)) * 0.5
    p = 1 / (1 + np.exp(-logits.astype(np.float64)))
    nll_ref = -(x * np.log(p) + (1 - x) * np.log(1 - p)).reshape(2, -1).sum(1)
    kl_ref = 0.5 * (np.exp(logvar) + mean**2 - 1 - logvar).sum(1)
    loss, nll, kl = vae_models.negative_elbo(
        jnp.asarray(logits), jnp.asarray(x), jnp.asarray(mean), jnp.asarray(logvar)
    )
    np.testing.assert_allclose(nll, nll_ref, rtol=1e-5)
    np.testing.assert_allclose(kl, kl_ref, rtol=1e-5)
    np.testing.assert_allclose(loss, nll_ref + kl_ref, rtol=1e-5)


def test_gradient_flows_through_the_reparameterisation():
    eps = jnp.array([0.5, -1.0])
    g_mean, g_logvar = jax.grad(
        lambda m, lv: jnp.sum(vae_models.reparameterize(m, lv, eps) ** 2), argnums=(0, 1)
    )(jnp.ones(2), jnp.zeros(2))
    np.testing.assert_allclose(g_mean, 2 * (1 + eps), rtol=1e-6)
    np.testing.assert_allclose(g_logvar, (1 + eps) * eps, rtol=1e-6)


@pytest.fixture(scope="module")
def vae_run(tiny_data, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("vae") / "run"
    result = loop.train_and_evaluate(tiny_vae_config(tiny_data), workdir)
    return workdir, result


def test_training_writes_samples_curves_and_resumes_exactly(vae_run, tiny_data, tmp_path):
    workdir, straight = vae_run
    assert (workdir / "samples" / "step_000003.png").exists()
    assert (workdir / "samples" / "recon_step_000006.png").exists()
    assert Image.open(workdir / "curves.png").size[0] > 500
    loop.train_and_evaluate(tiny_vae_config(tiny_data, num_steps=4), tmp_path / "b")
    resumed = loop.train_and_evaluate(tiny_vae_config(tiny_data), tmp_path / "b")
    a, b = flat_params(straight.state.params), flat_params(resumed.state.params)
    assert all(np.array_equal(a[k], b[k]) for k in a)


def test_sampling_api(vae_run):
    workdir, result = vae_run
    g = sampling.load(workdir)
    a = flat_params(g.params)
    assert all(np.array_equal(v, flat_params(result.state.params)[k]) for k, v in a.items())
    assert g.latent_dim == 8 and g.resolution == 16 and g.kind == "vae"
    s1, s2 = g.sample(jax.random.PRNGKey(1), 5), g.sample(jax.random.PRNGKey(1), 5)
    s3 = g.sample(jax.random.PRNGKey(2), 5)
    assert s1.shape == (5, 16, 16) and s1.dtype == np.uint8
    assert np.array_equal(s1, s2) and not np.array_equal(s1, s3)
    big = np.zeros((3, 100, 100), np.uint8)
    big[:, 40:45, 40:45] = 200
    mean, logvar = g.encode(big)
    assert mean.shape == logvar.shape == (3, 8)
    assert g.reconstruct(big).shape == (3, 16, 16)
    lin = g.interpolate(mean[0], mean[1] + 1.0, 4)
    sl = g.interpolate(mean[0], mean[1] + 1.0, 4, method="slerp")
    assert lin.shape == sl.shape == (4, 16, 16)
    np.testing.assert_array_equal(lin[0], g.decode(mean[0])[0])
    assert sampling.grid(s1).mode == "L"
    paths = sampling.save_pngs(s1, workdir / "pngs")
    assert len(paths) == 5 and layout.read_png(paths[0]).shape == (16, 16)


def test_full_size_generation(vae_run, tmp_path):
    workdir, _ = vae_run
    out = tmp_path / "gen"
    generate.main(["--workdir", str(workdir), "--num", "3", "--size", "1000", "--out", str(out)])
    paths = sorted(out.glob("*.png"))
    assert len(paths) == 3 and all(len(p.stem) == 7 for p in paths)
    for p in paths:
        with Image.open(p) as im:
            assert im.mode == "L" and im.size == (1000, 1000)
        assert 0.5 < catalog.zero_fraction(layout.read_png(p)) <= 1.0


def test_upscaler_keeps_empty_sky_and_compact_sources():
    small = np.zeros((128, 128), np.float32)
    small[60:62, 60:62] = 0.4  # one bright compact source
    for method in upscale.METHODS:
        big = upscale.upscale(small, 1000, method)
        assert big.shape == (1000, 1000) and big.dtype == np.uint8
    big = upscale.upscale(small, 1000)
    assert catalog.component_counts(big, (0,))[0] == 1
    assert big.max() == 255 and catalog.zero_fraction(big) > 0.999  # saturated core
    faint = upscale.upscale(small * 0.125, 1000)  # below saturation: flux is kept
    np.testing.assert_allclose(faint.sum(), 0.05 * 255 * 4 * (1000 / 128) ** 2, rtol=0.05)
