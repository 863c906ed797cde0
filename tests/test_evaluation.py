"""Evaluation statistics and distances: known answers on hand-made inputs."""

from __future__ import annotations

import json

import jax.numpy as jnp
import numpy as np
from scipy import spatial

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


def test_memorisation_ratio_sees_near_copies_of_images():
    """Images as evaluate compares them (metrics.small thumbnails): training images
    with noise, a brightness change and a one-pixel shift are near copies, their
    ratio far below that of new images from the same population (about 1)."""
    rng = np.random.default_rng(5)

    def draw(n):
        imgs = np.zeros((n, 96, 96))
        yy, xx = np.mgrid[:96, :96]
        for img in imgs:
            for _ in range(5):
                y, x, a = rng.uniform(8, 88, 2).tolist() + [rng.uniform(60, 250)]
                img += a * np.exp(-((yy - y) ** 2 + (xx - x) ** 2) / (2 * 4.0**2))
        return np.clip(imgs, 0, 255).astype(np.uint8)

    train, held_out, fresh = draw(24), draw(24), draw(24)
    noisy = train.astype(np.int32) * 0.9 + rng.normal(0, 3, train.shape)
    near = np.clip(np.roll(noisy, 1, axis=2), 0, 255).astype(np.uint8)
    small = {k: metrics.small(v) for k, v in dict(t=train, h=held_out, f=fresh, n=near).items()}
    scale = metrics.mean_nn_distance(small["h"], small["t"])
    near_ratio = metrics.mean_nn_distance(small["n"], small["t"]) / scale
    fresh_ratio = metrics.mean_nn_distance(small["f"], small["t"]) / scale
    assert near_ratio < 0.35 and 0.8 < fresh_ratio < 1.25, (near_ratio, fresh_ratio)
    # each near copy is nearest to the image it was made from
    _, index = spatial.cKDTree(small["t"]).query(small["n"], k=1)
    np.testing.assert_array_equal(index, np.arange(len(train)))


def stat_images() -> np.ndarray:
    """Hand-made 8-bit images: sparse point sources on a faint noisy background."""
    rng = np.random.default_rng(11)
    imgs = rng.poisson(0.3, (3, 64, 48)).astype(np.float64)
    yy, xx = np.mgrid[:64, :48]
    for img in imgs:
        for _ in range(6):
            y, x, a, s = rng.uniform(0, 64), rng.uniform(0, 48), rng.uniform(20, 250), 1.5
            img += a * np.exp(-((yy - y) ** 2 + (xx - x) ** 2) / (2 * s**2))
    return np.clip(np.rint(imgs), 0, 255).astype(np.uint8)


# Sums over the images of each statistic of stat_images(), saved when they were
# checked; any change in a statistic's definition or binning shows here.
# fmt: off
SAVED_SUMS = {
    "histogram": [
        9.885123, 0, 0, 0, 0, 0, 0, 8.41151, 0, 0, 6.365807, 0, 4.678118, 4.12704, 3.671358,
        4.172516, 2.862131, 4.017033, 3.30963, 4.062582, 3.57101, 4.109916, 3.552668, 3.663513,
        3.985875, 3.584331, 3.711976, 3.796297, 3.455758, 2.908485, 2.049218, 1.146128
    ],
    "power_spectrum": [
        -3.001908, -3.757086, -3.577457, -4.43258, -2.750807, -2.340213, -2.672202, -2.876802,
        -2.96969, -3.24276, -3.318435, -3.946635, -4.442069, -4.96205, -6.036805, -7.527498,
        -9.075365, -11.1366, -12.75241, -13.12181, -13.56142, -15.52952, -15.84396
    ],
    "peak_counts": [
        5.953663, 3.527114, 2.535294, 2.535294, 2.535294, 2.468347, 2.334454, 1.556303, 0.90309, 0
    ],
    "source_counts": [
        6.510404, 2.468347, 2.468347, 2.468347
    ],
    "source_flux": [
        0, 0, 0, 0, 0, 1, 0, 1, 4, 8, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0
    ],
    "source_area": [
        0, 0, 0, 0, 1, 2, 13, 1, 0, 0, 0, 0, 0, 0, 0, 0
    ],
}
# fmt: on


def test_metrics_match_saved_values():
    stats = metrics.image_statistics(stat_images())
    assert set(stats) == set(SAVED_SUMS)
    for key, saved in SAVED_SUMS.items():
        np.testing.assert_allclose(stats[key].sum(0), saved, rtol=1e-5, atol=1e-6, err_msg=key)


def write_pngs(folder, images):
    from cosmojax.data import layout

    folder.mkdir(parents=True)
    for i, img in enumerate(images):
        layout.write_png(folder / f"{i:03d}.png", img)
    return folder


def run_evaluate(
    generated, reference, out, num, scorer_workdir=None, flags=("--images", "--data_dir")
):
    extra = ["--scorer_workdir", str(scorer_workdir)] if scorer_workdir else []
    evaluate.main(
        [
            flags[0],
            str(generated),
            flags[1],
            str(reference),
            "--out",
            str(out),
            "--num",
            str(num),
            "--resolution",
            "100",
            *extra,
        ]
    )
    return json.loads((out / "metrics.json").read_text())


def test_evaluate_command_orders_real_and_shifted_images(tiny_data, tmp_path, capsys):
    from cosmojax.data import layout

    _, paths, labels = layout.list_split(tiny_data, "labeled")
    real = np.stack([layout.read_png(p) for p, t in zip(paths, labels, strict=True) if t == 1])
    num = len(real) // 2  # the command's two real halves hold every real image
    results = {}
    for name, shift in [("copies", 0), ("mild", 5), ("strong", 40)]:
        images = np.clip(real.astype(np.int32) + shift, 0, 255).astype(np.uint8)
        folder = write_pngs(tmp_path / name, images)
        old_names = ("--generated", "--reference") if name == "strong" else None
        flags = old_names or ("--images", "--data_dir")
        results[name] = run_evaluate(
            folder, tiny_data, tmp_path / f"report_{name}", num, None, flags
        )
    err = capsys.readouterr().err  # the old flag names still work, each with one note
    assert err.count("note: --reference is deprecated; use --data_dir\n") == 1
    assert err.count("note: --generated is deprecated; use --workdir or --images\n") == 1
    sf = {k: r["statistics_frechet"] for k, r in results.items()}
    real_vs_real = sf["copies"]["real_vs_real"]
    assert all(s["real_vs_real"] == real_vs_real for s in sf.values()) and real_vs_real > 0
    d = {k: s["generated_vs_real"] for k, s in sf.items()}
    assert d["copies"] < d["mild"] < d["strong"]
    assert d["copies"] < 2 * real_vs_real < d["mild"]
    ratio = {k: r["memorisation"]["ratio"] for k, r in results.items()}
    assert ratio["copies"] < 1.0 < ratio["strong"]
    for name in ("histogram", "power_spectrum", "peak_counts", "source_counts", "samples"):
        assert (tmp_path / "report_copies" / f"{name}.png").stat().st_size > 1000
    # from Python: the dict metrics.json holds, for the folder or its images as an array
    mild = evaluate.evaluate(tmp_path / "mild", tiny_data, num=num, resolution=100)
    assert mild == results["mild"]
    array = np.clip(real.astype(np.int32) + 5, 0, 255).astype(np.uint8)
    from_array = evaluate.evaluate(array, str(tiny_data), num=num, resolution=100)
    assert from_array["generated"] == f"array of {num} images"  # the first num
    assert {**from_array, "generated": mild["generated"]} == mild


def test_domain_frechet_with_a_scorer_orders_real_and_shifted_images(tiny_data, tmp_path):
    """--scorer_workdir adds the distance in the scorer's penultimate features and
    the scores; copies of the real images are closer than strongly shifted ones."""
    from cosmojax import cli
    from cosmojax.data import layout
    from tests.helpers import tiny_config

    cli.train(tiny_config("scorer", tiny_data, num_steps=4), tmp_path / "scorer")
    _, paths, labels = layout.list_split(tiny_data, "labeled")
    real = np.stack([layout.read_png(p) for p, t in zip(paths, labels, strict=True) if t == 1])
    num = len(real) // 2
    out = {}
    for name, shift in [("copies", 0), ("strong", 60)]:
        images = np.clip(real.astype(np.int32) + shift, 0, 255).astype(np.uint8)
        folder = write_pngs(tmp_path / name, images)
        out[name] = run_evaluate(
            folder, tiny_data, tmp_path / f"r_{name}", num, tmp_path / "scorer"
        )
    df = {k: r["domain_frechet"]["generated_vs_real"] for k, r in out.items()}
    assert out["copies"]["domain_frechet"]["real_vs_real"] > 0
    assert df["copies"] < df["strong"], df
    assert set(out["copies"]["scores"]) == {"generated", "real"}
    strong = evaluate.evaluate(
        tmp_path / "strong", tiny_data, num=num, resolution=100, scorer=tmp_path / "scorer"
    )
    assert strong == out["strong"]


def test_load_real_takes_every_label_1_image_for_none_and_a_prefix_of_one_order_for_a_number(
    tiny_data,
):
    from cosmojax.data import layout
    from cosmojax.evaluation import real as real_lib

    _, _, labels = layout.list_split(tiny_data, "labeled")
    every = real_lib.load_real(str(tiny_data), None, progress=False)
    assert len(every) == sum(t == 1 for t in labels) >= 3
    two = real_lib.load_real(str(tiny_data), 2, progress=False)
    np.testing.assert_array_equal(two, every[:2])  # statistics_check's halves are its first 2 * num


def test_iter_real_reads_one_image_per_image_it_yields(tiny_data, monkeypatch):
    """statistics_check streams every real image through it: one PNG is read
    per image taken, none ahead, and the images are load_real's."""
    from cosmojax.data import layout
    from cosmojax.evaluation import real as real_lib

    read, reads = layout.read_png, []
    monkeypatch.setattr(layout, "read_png", lambda p: reads.append(p) or read(p))
    images = real_lib.iter_real(str(tiny_data), None, progress=False)
    first = next(images)
    assert len(reads) == 1
    rest = list(images)
    every = real_lib.load_real(str(tiny_data), None, progress=False)
    np.testing.assert_array_equal(np.stack([first, *rest]), every)
    assert len(reads) == 2 * len(every)
