"""Area resampling keeps flux, keeps empty sky exactly 0, and is exact on blocks."""

import numpy as np

from cosmojax.data import resample


def test_flux_is_kept_at_non_integer_factors():
    rng = np.random.default_rng(0)
    img = np.zeros((1000, 1000), np.uint8)
    ys, xs = rng.integers(0, 1000, (2, 40))
    img[ys, xs] = 200
    out = resample.area_resize(img, 128)
    assert out.shape == (128, 128) and out.dtype == np.float32
    np.testing.assert_allclose(out.sum() * (1000 / 128) ** 2, img.sum(), rtol=1e-5)
    assert np.count_nonzero(out) <= 4 * 40  # each point touches at most 4 output pixels


def test_empty_sky_stays_exactly_zero_and_blocks_average():
    img = np.zeros((100, 100), np.float32)
    img[:10, :10] = 5.0
    out = resample.area_resize(img, 10)
    assert out[0, 0] == 5.0 and np.all(out.ravel()[1:] == 0.0)


def test_prepare_image_scales_to_unit_interval():
    out = resample.prepare_image(np.full((30, 30), 255, np.uint8), 7)
    np.testing.assert_allclose(out, 1.0, rtol=1e-6)
