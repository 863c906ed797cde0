"""A saturated source stays saturated from the library to the written image."""

from __future__ import annotations

import types

import numpy as np

from cosmojax import sampling, upscale


def star(size, cy, cx, peak, width):
    yy, xx = np.mgrid[:size, :size]
    return peak * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * width**2))


def library_and_image():
    """A 100x100 training image on a sky of 10: a star saturated at 255 and a faint
    one; a 16x16 model image that draws the bright one dimmer than it was."""
    im = 10 + star(100, 50, 50, 2000.0, 2.0) + star(100, 20, 75, 60.0, 1.5)
    im = np.clip(np.rint(im), 0, 255).astype(np.uint8)
    lib = upscale.SourceLibrary.build([im], 16, "max")
    assert lib.saturated.any() and not lib.saturated.all()
    small = np.zeros((16, 16), np.float32)
    small[8, 8] = 150 / 255  # the library's core is 245 above its sky: scaled by ~0.6
    small[3, 12] = 50 / 255
    return lib, small, im


def test_a_saturated_stamp_keeps_its_255_pixels_when_scaled_down():
    lib, small, im = library_and_image()
    out = upscale.upscale(small, 100, "stamps", downsample="max", library=lib)
    assert (out == 255).sum() == (im == 255).sum() > 0  # the same saturated core
    faint = out[10:30, 65:85]
    assert 0 < faint.max() < 255  # the unsaturated source is scaled, not saturated


def test_generate_writes_the_saturated_source_saturated():
    lib, small, _ = library_and_image()
    fake = types.SimpleNamespace(
        sample_float=lambda key, n: np.repeat(small[None], n, 0),
        config=types.SimpleNamespace(data={"downsample": "max"}),
        library=lib,
    )
    imgs, *_ = sampling.generate(fake, 2, size=100, seed=0, batch=2, progress=False)
    assert imgs.shape == (2, 100, 100) and (imgs.max((1, 2)) == 255).all()
