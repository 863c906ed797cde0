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
