"""Full-resolution statistics: equal to the evaluation's definitions, stored at preparation."""

from __future__ import annotations

import numpy as np
import pytest

from cosmojax.data import layout, pipeline, tfds_builder
from cosmojax.evaluation import catalog, features, statistics


def sky_images(size: int = 96) -> dict[str, np.ndarray]:
    """Hand-made skies: sparse sources on 0, on a constant 2, a noisy sky, blank, saturated."""
    rng = np.random.default_rng(3)
    yy, xx = np.mgrid[:size, :size]
    sparse = np.zeros((size, size))
    for _ in range(12):
        cy, cx = rng.uniform(0, size, 2)
        sparse += rng.uniform(5, 400) * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / 3.0)
    sparse[rng.integers(0, size, 30), rng.integers(0, size, 30)] += rng.uniform(1, 60, 30)
    sparse = np.clip(np.rint(sparse), 0, 255).astype(np.uint8)
    noisy = np.clip(np.rint(rng.normal(3, 4, (size, size))) + sparse, 0, 255).astype(np.uint8)
    return {
        "sparse": sparse,
        "background_2": np.maximum(sparse, 2).astype(np.uint8),
        "noisy": noisy,  # most pixels above the minimum: the whole-image path
        "blank": np.zeros((size, size), np.uint8),
        "edge_sources": np.pad(sparse[:8, :8], ((0, size - 8), (0, size - 8))),
    }


@pytest.mark.parametrize("name", list(sky_images()))
def test_statistics_equal_the_evaluation_definitions(name, monkeypatch):
    img = sky_images()[name]
    x = img.astype(np.float32)
    for fraction in (0.0, 1.0):  # every image through both the whole-image and the sparse path
        monkeypatch.setattr(features, "DENSE_FRACTION", fraction)
        sky = features.Sky(img)
        np.testing.assert_array_equal(features.histogram(sky), np.asarray(statistics.histogram(x)))
        np.testing.assert_array_equal(
            features.peak_counts(sky), np.asarray(statistics.peak_counts(x))
        )
        np.testing.assert_allclose(
            features.power_spectrum(sky),
            np.asarray(statistics.power_spectrum(x)),
            rtol=2e-4,
            atol=1e-10,
        )
        cat = features.catalogue(sky)
        assert cat["counts"].tolist() == list(catalog.component_counts(img).values())
        ref = catalog.catalog(img, 5)
        for k in ("flux", "area"):
            np.testing.assert_allclose(np.sort(cat[k]), np.sort(ref[k]), rtol=1e-6)
        np.testing.assert_allclose(np.sort(cat["peak"]), np.sort(ref["peak"] - img.min()))


def test_source_sizes_saturation_and_sky_noise():
    size, sigma = 200, 2.0
    yy, xx = np.mgrid[:size, :size]
    img = np.zeros((size, size))
    for cy, cx in ((50, 50), (150, 60), (100, 150)):  # three resolved sources, one saturated
        img += 200.0 * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * sigma**2))
    img[100, 150] = 255
    img = np.clip(np.rint(img), 0, 255).astype(np.uint8)
    v = dict(zip(features.NAMES, features.image_features(img), strict=True))
    assert v["bright_sources"] == pytest.approx(np.log10(4))
    assert v["fwhm_median"] == pytest.approx(2.355 * sigma, rel=0.15)  # a Gaussian's FWHM
    assert v["saturated_pixels"] == pytest.approx(np.log10(2))
    assert v["saturated_sources"] == pytest.approx(np.log10(2))
    assert v["background"] == v["sky_median"] == v["sky_noise"] == 0
    noisy = np.clip(np.rint(np.random.default_rng(0).normal(20, 3, (size, size))), 0, 255)
    v = dict(zip(features.NAMES, features.image_features(noisy.astype(np.uint8)), strict=True))
    assert v["sky_median"] == 20 and v["sky_noise"] == pytest.approx(3.0, rel=0.2)


def test_vector_has_a_fixed_length_at_any_image_size():
    for size in (40, 100, 1000):
        img = np.zeros((size, size), np.uint8)
        img[size // 2, size // 3] = 200
        v = features.image_features(img)
        assert v.shape == (features.SIZE,) and np.isfinite(v).all()
    assert len(features.NAMES) == len(set(features.NAMES)) == features.SIZE


def test_prepared_statistics_equal_the_features_of_the_decoded_image(tiny_data):
    split = pipeline.load_split(str(tiny_data), "scored", 16, stats=True)
    plain = pipeline.load_split(str(tiny_data), "scored", 16)
    assert plain.stats is None and split.stats.shape == (len(split), features.SIZE)
    np.testing.assert_array_equal(split.images, plain.images)
    ids, paths, _ = layout.list_split(tiny_data, "scored")
    path = dict(zip(ids, paths, strict=True))
    for k in (0, 7, len(split) - 1):
        want = features.image_features(layout.read_png(path[split.ids[k]]))
        np.testing.assert_array_equal(split.stats[k], want)
    assert not np.allclose(split.stats[0], split.stats[1])


def test_a_new_definition_prepares_a_new_copy(monkeypatch):
    name = tfds_builder.CilCosmologyConfig(resolution=16, with_stats=True).name
    assert f"_s{features.VERSION}_" in name
    assert name != tfds_builder.CilCosmologyConfig(resolution=16).name
    monkeypatch.setattr(features, "VERSION", features.VERSION + 1)
    assert tfds_builder.CilCosmologyConfig(resolution=16, with_stats=True).name != name


def gaussian_sky(size, sources, sigma=3.0):
    """float image of Gaussian sources ``(y, x, total flux)`` on 0."""
    yy, xx = np.mgrid[:size, :size]
    img = np.zeros((size, size))
    for cy, cx, f in sources:
        img += (
            f / (2 * np.pi * sigma**2) * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * sigma**2))
        )
    return img


@pytest.mark.parametrize("fraction", [0.0, 1.0])  # the whole-image and the sparse path
def test_photometry_recovers_total_fluxes(fraction, monkeypatch):
    monkeypatch.setattr(features, "DENSE_FRACTION", fraction)
    truth = [(30, 30, 400.0), (30, 100, 1500.0), (100, 60, 6000.0)]
    img = np.clip(np.rint(gaussian_sky(140, truth)), 0, 255).astype(np.uint8)
    cat = features.photometry(features.Sky(img))
    assert cat["sigma"] == 0 and len(cat["flux"]) == 3
    order = np.argsort(cat["flux"])
    np.testing.assert_allclose(
        cat["flux"][order], [f for *_, f in truth], rtol=0.01, atol=30
    )  # rounding
    np.testing.assert_allclose(cat["y"][order], [y for y, *_ in truth], atol=0.5)
    # the isophote at 5 counts loses the wings of the faintest source
    iso = np.sort(features.catalogue(features.Sky(img))["flux"])
    assert iso[0] < 0.8 * 400
    # two sources in one extent share its flux by their detected cores
    pair = np.clip(np.rint(gaussian_sky(80, [(40, 32, 2000.0), (40, 46, 2000.0)])), 0, 255)
    flux = features.photometry(features.Sky(pair.astype(np.uint8)))["flux"]
    assert len(flux) == 2 and flux.sum() == pytest.approx(4000, rel=0.03)
    assert flux[0] == pytest.approx(flux[1], rel=0.05)


def test_photometry_on_a_noisy_sky():
    rng = np.random.default_rng(0)
    sky = gaussian_sky(300, [(150, 150, 8000.0)]) + rng.normal(0, 10, (300, 300))
    img = np.clip(np.rint(sky), 0, 255).astype(np.uint8)  # noise clipped at 0, as a sensor does
    levels = features.Sky(img).level_counts
    assert features._sky_noise(levels)[1] == 0  # the MAD sees the clipped half only
    assert features.sky_sigma(levels)[1] == pytest.approx(10, rel=0.1)
    cat = features.photometry(features.Sky(img))
    assert cat["sigma"] >= features.NOISELESS
    assert len(cat["flux"]) == 1 and cat["flux"][0] == pytest.approx(8000, rel=0.15)
    v = dict(zip(features.NAMES, features.image_features(img), strict=True))
    assert v["sky_sigma"] == pytest.approx(10, rel=0.1)
    assert v["detections"] == pytest.approx(np.log10(2))


def test_clustering_separates_clumps_from_a_uniform_field():
    grid = [(y, x, 2000.0) for y in range(20, 300, 40) for x in range(20, 300, 40)]
    rng = np.random.default_rng(1)
    clumps = [(70 + rng.normal(0, 12), 70 + rng.normal(0, 12), 2000.0) for _ in range(25)]
    clumps += [(230 + rng.normal(0, 12), 220 + rng.normal(0, 12), 2000.0) for _ in range(24)]
    got = {}
    for name, src in (("grid", grid), ("clumps", clumps)):
        img = np.clip(np.rint(gaussian_sky(300, src, sigma=1.5)), 0, 255).astype(np.uint8)
        v = dict(zip(features.NAMES, features.image_features(img), strict=True))
        got[name] = v
    for g in features.CELLS:
        assert got["grid"][f"cells_dispersion_{g}"] < 0 < got["clumps"][f"cells_dispersion_{g}"]
    assert got["clumps"]["nearest_neighbour"] < got["grid"]["nearest_neighbour"] - 0.3


def boxes_sky(sky: int = 0) -> np.ndarray:
    """Boxes of known size and value on a constant sky (values above it):

    A 5x5 of 100; B 4x4 of 100 with one 200 (half its peak: exactly 100);
    C 7x7 of 40 (not bright: peak < 50); D 2x2 of 3 (below the 5-count
    detection); E 3x3 of 4 around an 80 (a bright core with faint wings)."""
    img = np.zeros((100, 100), np.int64)
    img[10:15, 10:15] = 100
    img[40:44, 40:44] = 100
    img[41, 41] = 200
    img[70:77, 70:77] = 40
    img[90:92, 10:12] = 3
    img[20:23, 60:63] = 4
    img[21, 61] = 80
    return (img + sky).astype(np.uint8)


@pytest.mark.parametrize("fraction", [0.0, 1.0])  # the whole-image and the sparse path
@pytest.mark.parametrize("sky", [0, 2])
def test_feature_definitions_on_boxes(sky, fraction, monkeypatch):
    monkeypatch.setattr(features, "DENSE_FRACTION", fraction)
    v = dict(zip(features.NAMES, features.image_features(boxes_sky(sky)), strict=True))
    # bright sources (peak >= 50 above the sky): A, B, E; the FWHM is the diameter of
    # the disc of the pixels at or above half the peak: 25 px for A, 16 for B, 1 for E
    assert v["bright_sources"] == pytest.approx(np.log10(1 + 3))
    assert v["fwhm_max"] == pytest.approx(2 * np.sqrt(25 / np.pi), rel=1e-6)
    assert v["fwhm_median"] == pytest.approx(2 * np.sqrt(16 / np.pi), rel=1e-6)
    assert v["max"] == 200 + sky and v["background"] == v["sky_median"] == sky
    total = 25 * 100 + 15 * 100 + 200 + 49 * 40 + 4 * 3 + 8 * 4 + 80
    assert v["mean"] == pytest.approx(np.log10(1e-3 + sky + total / 100**2), rel=1e-6)
    # photometric fluxes above the sky (D detects nothing; E's wings count): log10
    # of 2500 = 3.40, 1960 = 3.29, 1700 = 3.23, 112 = 2.05 against edges 1, 1.25, ...
    counts = [4] * 5 + [3] * 4 + [2] + [0] * 10
    above = [v[f"flux_above_{i}"] for i in range(len(features.FLUX_BINS) - 1)]
    np.testing.assert_allclose(above, np.log10(1.0 + np.asarray(counts)), rtol=1e-6)
    assert v["detections"] == pytest.approx(np.log10(1 + 4)) and v["sky_sigma"] == 0
