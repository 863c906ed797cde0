"""Evaluation statistics and distances: known answers on hand-made inputs."""

from __future__ import annotations

import json

import jax.numpy as jnp
import numpy as np

from cosmojax import evaluate
from cosmojax.evaluation import catalog, metrics, statistics


def test_histogram_sums_to_the_pixel_count_and_clips_to_edge_bins():
    rng = np.random.default_rng(0)
    x = rng.uniform(-5, 400, (3, 40, 30)).astype(np.float32)
    h = np.asarray(statistics.histogram(jnp.asarray(x)))
    assert h.shape == (3, len(statistics.HIST_EDGES) - 1)
    np.testing.assert_array_equal(h.sum(-1), 40 * 30)
    assert h[:, 0].sum() == np.sum(x < statistics.HIST_EDGES[1])  # negatives: first bin
    assert h[:, -1].sum() == np.sum(x >= statistics.HIST_EDGES[-2])  # > 255: last bin
    soft = np.asarray(statistics.soft_histogram(jnp.asarray(np.clip(x, 0, None))))
    np.testing.assert_allclose(soft.sum(-1), 1.0, rtol=1e-5)


def test_power_spectrum_of_white_noise_is_flat():
    rng = np.random.default_rng(1)
    x = rng.normal(50.0, 5.0, (8, 128, 128))
    ps = np.asarray(statistics.power_spectrum(jnp.asarray(x))).mean(0)
    expected = (5.0 / 50.0) ** 2 / 128**2  # sigma^2 / mean^2 / N
    _, centres = statistics.spectrum_bins(128, 128)
    well_sampled = centres > 0.05  # enough modes per bin
    np.testing.assert_allclose(ps[well_sampled], expected, rtol=0.1)


def test_power_spectrum_of_a_gaussian_blob_matches_its_transform():
    n, s = 128, 2.5
    yy, xx = np.mgrid[:n, :n] - n / 2
    x = 1.0 + 100.0 * np.exp(-(xx**2 + yy**2) / (2 * s**2))
    ps = np.asarray(statistics.power_spectrum(jnp.asarray(x)))
    idx, centres = statistics.spectrum_bins(n, n)
    k2 = np.fft.fftfreq(n)[:, None] ** 2 + np.fft.rfftfreq(n)[None, :] ** 2
    model = np.exp(-4 * np.pi**2 * s**2 * k2)  # |FT of a Gaussian|^2, up to a constant
    expected = np.array([model[idx == b].mean() for b in range(len(centres))])
    use = (centres > 0.02) & (expected > 1e-6 * expected.max())
    ratio = ps[use] / expected[use]
    np.testing.assert_allclose(ratio / ratio.mean(), 1.0, rtol=0.05)


def test_peak_finder_on_a_hand_made_image():
    img = np.zeros((20, 20), np.float32)
    img[5, 5], img[10, 12], img[15, 3] = 30, 8, 200
    img[10, 13] = 8  # a plateau of two equal maxima counts as two peaks
    counts = np.asarray(statistics.peak_counts(jnp.asarray(img[None]), (1, 10, 100)))[0]
    np.testing.assert_array_equal(counts, [4, 2, 1])
    cat = catalog.catalog(img, 0)
    assert sorted(cat["peak"].tolist()) == [8, 30, 200]  # 8-connected: the plateau is one


def test_frechet_is_zero_on_itself_and_grows_with_shift():
    rng = np.random.default_rng(2)
    a = rng.normal(size=(500, 4))
    assert metrics.frechet(a, a) < 1e-8
    d1, d2 = metrics.frechet(a, a + 0.5), metrics.frechet(a, a + 1.0)
    assert 0.9 < d1 / (4 * 0.25) < 1.1 and d2 > 3.5 * d1
    np.testing.assert_allclose(metrics.per_bin_difference(a, a + 1.0), 1 / a.std(0), rtol=1e-6)


def test_memorisation_distance_detects_copies():
    rng = np.random.default_rng(3)
    bank = rng.uniform(size=(30, 16))
    assert metrics.mean_nn_distance(bank, bank) < 1e-3
    assert metrics.mean_nn_distance(rng.uniform(size=(30, 16)), bank) > 0.3


def test_metrics_are_identical_when_run_twice(tiny_data):
    from cosmojax.data import layout

    imgs = np.stack([layout.read_png(p) for p in sorted((tiny_data / "query").glob("*.png"))])
    a, b = metrics.image_statistics(imgs), metrics.image_statistics(imgs)
    assert all(np.array_equal(a[k], b[k]) for k in a)


def test_evaluate_command_writes_metrics_and_plots(tiny_data, tmp_path):
    out = tmp_path / "report"
    evaluate.main(
        [
            "--generated",
            str(tiny_data / "query"),
            "--reference",
            str(tiny_data),
            "--out",
            str(out),
            "--num",
            "4",
            "--resolution",
            "100",
        ]
    )
    result = json.loads((out / "metrics.json").read_text())
    sf = result["statistics_frechet"]
    assert sf["generated_vs_real"] > 0 and sf["real_vs_real"] > 0
    assert result["memorisation"]["ratio"] > 0
    for name in ("histogram", "power_spectrum", "peak_counts", "source_counts", "samples"):
        assert (out / f"{name}.png").stat().st_size > 1000
