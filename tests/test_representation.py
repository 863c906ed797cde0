"""What a generator sees: block-max downsampling and intensity maps with exact
inverses, and the upscaler that turns block maxima back into sources."""

from __future__ import annotations

import warnings

import jax.numpy as jnp
import numpy as np
import pytest
from scipy import ndimage

from cosmojax import upscale
from cosmojax.configlib import ConfigError
from cosmojax.data import intensity, resample
from cosmojax.evaluation import catalog


@pytest.mark.parametrize("name", intensity.MAPS)
@pytest.mark.parametrize("scale", [0.004, 0.02, 0.5])
def test_intensity_maps_invert_exactly_and_keep_the_ends(name, scale):
    x = np.concatenate([[0.0, 1.0], np.random.default_rng(0).uniform(size=500) ** 4])
    y = intensity.forward(x, name, scale)
    assert y[0] == 0 and abs(y[1] - 1) < 1e-12 and np.all((y >= 0) & (y <= 1 + 1e-12))
    np.testing.assert_allclose(intensity.inverse(y, name, scale), x, rtol=1e-9, atol=1e-12)
    order = np.argsort(x)
    assert np.all(np.diff(y[order]) >= 0)  # monotone: the brightest stay the brightest
    yj = intensity.forward(jnp.asarray(x, jnp.float32), name, scale)  # same on JAX arrays
    np.testing.assert_allclose(np.asarray(yj), y, rtol=2e-5, atol=1e-6)
    back = np.asarray(intensity.inverse(yj, name, scale))
    np.testing.assert_allclose(back, x, rtol=1e-4, atol=1e-6)
    if name != "linear":  # a stretch lifts the faint end
        faint = x < scale
        assert np.all(y[faint & (x > 0)] > x[faint & (x > 0)])


def test_unknown_map_and_bad_scale_are_config_errors():
    with pytest.raises(ConfigError, match="data.intensity_map"):
        intensity.forward(np.zeros(2), "sqrt")
    with pytest.raises(ConfigError, match="data.intensity_scale"):
        intensity.forward(np.zeros(2), "log", 0.0)


def test_block_max_matches_a_brute_force_maximum_for_sizes_that_do_not_divide():
    rng = np.random.default_rng(1)
    img = (rng.uniform(size=(50, 37)) ** 8 * 255).astype(np.uint8)
    out = resample.max_resize(img, (7, 5))
    rows = np.floor(np.arange(8) * 50 / 7).astype(int)
    rows[-1] = 50
    cols = np.floor(np.arange(6) * 37 / 5).astype(int)
    cols[-1] = 37
    ref = np.array(
        [
            [img[rows[i] : rows[i + 1], cols[j] : cols[j + 1]].max() for j in range(5)]
            for i in range(7)
        ]
    )
    np.testing.assert_array_equal(out, ref)
    star = np.zeros((1000, 1000), np.uint8)
    star[500:503, 700:703] = 255
    assert resample.max_resize(star, 128).max() == 255  # an area average gives ~1/7
    assert resample.area_resize(star, 128).max() < 60
    assert resample.prepare_image(np.zeros((1000, 1000), np.uint8), 128, "max").max() == 0
    with pytest.raises(ConfigError, match="data.downsample"):
        resample.resize(star, 128, "median")


def test_block_max_upscaling_gives_one_compact_source_per_peak():
    small = np.zeros((128, 128), np.float32)
    small[20, 20] = 1.0  # a saturated star
    small[20:22, 90:92] = 40 / 255  # one faint star spread over 2x2 blocks
    small[100, 50] = 12 / 255
    big = upscale.upscale(small, 1000, downsample="max")
    counts = catalog.component_counts(big, (0, 5, 20, 50))
    assert counts == {0: 3, 5: 3, 20: 2, 50: 1}, counts
    assert big.max() == 255 and catalog.zero_fraction(big) > 0.999
    block = 1000 / 128
    ys, xs = np.nonzero(big[: int(30 * block), : int(30 * block)] > 100)
    assert 20 * block - 3 <= ys.mean() <= 21 * block + 3  # inside its block
    again = upscale.upscale(small, 1000, downsample="max")
    np.testing.assert_array_equal(big, again)  # a pure function of the image


def test_faint_sources_render_without_warnings():
    small = np.zeros((128, 128), np.float32)
    small[64, 64] = 0.2 / 255 / (1000 / 128) ** 2 * 40  # far below one count at full size
    small[10, 10] = 3 / 255
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for how in ("area", "max"):
            big = upscale.upscale(small, 1000, downsample=how, threshold=1e-4)
            assert big.shape == (1000, 1000)
    assert upscale.moffat_radius(0.1, 2.0) == 0.0 and upscale.moffat_radius(10.0, 2.0) > 2.0


def _sky_with_sources(seed: int, size: int = 200) -> np.ndarray:
    """A sparse sky: an elongated galaxy, a saturated star and a faint star."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    sky = np.zeros((size, size))
    for _ in range(2):
        cy, cx = rng.uniform(20, size - 20, 2)
        t = rng.uniform(0, np.pi)
        u = (yy - cy) * np.cos(t) + (xx - cx) * np.sin(t)
        v = -(yy - cy) * np.sin(t) + (xx - cx) * np.cos(t)
        sky += 180 * np.exp(-0.5 * ((u / 6.0) ** 2 + (v / 2.0) ** 2))  # galaxy, axes 6 and 2
    cy, cx = rng.uniform(20, size - 20, 2)
    sky += 900 * np.exp(-0.5 * ((yy - cy) ** 2 + (xx - cx) ** 2) / 2.0**2)  # saturates
    cy, cx = rng.uniform(20, size - 20, 2)
    sky += 30 * np.exp(-0.5 * ((yy - cy) ** 2 + (xx - cx) ** 2) / 1.5**2)
    return np.clip(np.rint(sky), 0, 255).astype(np.uint8)


def _moments_axis_ratio(img: np.ndarray) -> float:
    w = np.where(img > 20, img.astype(np.float64), 0.0)
    yy, xx = np.nonzero(w)
    ww = w[yy, xx]
    c = np.cov(np.stack([yy, xx]), aweights=ww)
    ev = np.linalg.eigvalsh(c)
    return float(np.sqrt(ev[1] / ev[0]))


def test_stamps_render_each_peak_as_a_library_source_at_its_block(tmp_path):
    skies = [_sky_with_sources(s) for s in range(40)]
    lib = upscale.SourceLibrary.build(skies, 25, "max")
    assert len(lib) >= 6 * 3 and lib.stamp(0).dtype == np.uint8
    lib.save(tmp_path / "sources.npz")
    again = upscale.SourceLibrary.load(tmp_path / "sources.npz")
    small = resample.prepare_image(_sky_with_sources(99), 25, "max")
    big = upscale.upscale(small, 200, "stamps", downsample="max", library=lib)
    np.testing.assert_array_equal(
        big, upscale.upscale(small, 200, "stamps", downsample="max", library=again)
    )  # saved and loaded, and a pure function of the image
    assert big.shape == (200, 200) and big.dtype == np.uint8
    # each peak block keeps its peak (the source is scaled to it), and where the
    # low-resolution image is empty at most a faint wing spills over
    back = resample.max_resize(big.astype(np.float32), 25)
    peaks = upscale.local_maxima(small * 255, upscale.THRESHOLDS["max"])
    np.testing.assert_allclose(back[peaks], small[peaks] * 255, atol=1.0)
    assert back[small == 0].max() <= 5.0 and (back[small == 0] > 0).mean() < 0.05
    # the galaxies' shapes come back (the Moffat upscaler makes round stars)
    lab, n = ndimage.label(big > 20, structure=np.ones((3, 3), bool))
    ratios = [_moments_axis_ratio(np.where(lab == i, big, 0)) for i in range(1, n + 1)]
    assert max(ratios) > 2.0, ratios
    moffat = upscale.upscale(small, 200, downsample="max")
    lab, n = ndimage.label(moffat > 20, structure=np.ones((3, 3), bool))
    assert max(_moments_axis_ratio(np.where(lab == i, moffat, 0)) for i in range(1, n + 1)) < 1.3


def test_stamps_refuse_a_missing_or_mismatched_library(tmp_path):
    lib = upscale.SourceLibrary.build([_sky_with_sources(0)], 25, "max")
    small = np.zeros((25, 25), np.float32)
    with pytest.raises(ValueError, match="needs a SourceLibrary"):
        upscale.upscale(small, 200, "stamps", downsample="max")
    with pytest.raises(ValueError, match="built from 'max' images"):
        upscale.upscale(small, 200, "stamps", downsample="area", library=lib)
    with pytest.raises(ValueError, match="built at 25x25"):
        upscale.upscale(np.zeros((32, 32)), 200, "stamps", downsample="max", library=lib)
    with pytest.raises(ValueError, match="smaller than the model's 25x25"):
        upscale.SourceLibrary.build([np.zeros((20, 20), np.uint8)], 25, "max")
    lib.save(tmp_path / "sources.npz")
    with np.load(tmp_path / "sources.npz") as f:
        fields = {k: f[k] for k in f.files}
    np.savez(tmp_path / "old.npz", **{**fields, "version": upscale.LIBRARY_VERSION + 1})
    with pytest.raises(ValueError, match="old.npz: source library version"):
        upscale.SourceLibrary.load(tmp_path / "old.npz")


def test_turns_move_points_and_in_block_offsets_with_the_pixels():
    a = np.arange(5 * 7).reshape(5, 7)
    block = np.arange(8 * 8).reshape(8, 8)
    for t in range(upscale.TURNS):
        y, x = upscale._turn_point(1, 5, 4, 6, t)
        assert upscale.turn(a, t)[int(y), int(x)] == a[1, 5], t
        fy, fx = upscale._turn_point((2 + 0.5) / 8, (6 + 0.5) / 8, 1.0, 1.0, t)
        assert upscale.turn(block, t)[int(fy * 8), int(fx * 8)] == block[2, 6], t


def test_a_library_renders_only_at_its_images_scale_and_names_a_bad_file(tmp_path):
    from configs import vae
    from cosmojax.tasks import generated

    lib = upscale.SourceLibrary.build([_sky_with_sources(s) for s in range(3)], 25, "max")
    assert lib.image_size == 200 and lib.fits(200) and not lib.fits(1000)
    small = resample.prepare_image(_sky_with_sources(5), 25, "max")
    with pytest.raises(ValueError, match="from 200x200 images, not 1000x1000"):
        upscale.upscale(small, 1000, "stamps", downsample="max", library=lib)
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="bad.npz: not a readable source library"):
        upscale.SourceLibrary.load(tmp_path / "bad.npz")
    config = vae.get_config()
    config.data.resolution, config.data.downsample = 32, "max"
    lib.save(tmp_path / upscale.LIBRARY_FILE)
    with pytest.raises(ValueError, match="sources.npz: a library of 'max' images at 25"):
        generated.workdir_library(config, tmp_path)
    # a run resumed from checkpoints made before it had a library keeps 'sources'
    old = tmp_path / "old"
    (old / "checkpoints" / "300").mkdir(parents=True)
    assert generated.workdir_library(config, old) is None
    assert not (old / upscale.LIBRARY_FILE).exists()


def _star(size, cy, cx, peak, sigma, sky=0):
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    star = peak * np.exp(-0.5 * ((yy - cy) ** 2 + (xx - cx) ** 2) / sigma**2)
    return np.clip(np.rint(star + sky), 0, 255).astype(np.uint8)


def test_library_leaves_out_border_cut_sources_and_flags_saturated_ones(tmp_path):
    inside = _star(200, 100, 100, 900, 2.0, sky=3)  # saturated on a sky of 3 counts
    cut = np.maximum(_star(200, 1, 60, 200, 2.5), _star(200, 150, 40, 120, 2.0))
    lib = upscale.SourceLibrary.build([inside, cut], 25, "max")
    assert len(lib) == 2  # the star cut by the top edge is not a source to paste elsewhere
    assert [s.max() for s in map(lib.stamp, range(2))] == [252, 120]
    assert lib.saturated.tolist() == [True, False]  # 252 above its sky, 255 in its image
    # a version-1 file (no flags, border sources kept) still loads; its flags are
    # derived from the stamps
    lib.save(tmp_path / "v2.npz")
    with np.load(tmp_path / "v2.npz") as f:
        fields = {k: f[k] for k in f.files if k != "saturated"}
    np.savez(tmp_path / "v1.npz", **{**fields, "version": 1})
    assert upscale.SourceLibrary.load(tmp_path / "v1.npz").saturated.tolist() == [False, False]


def test_a_source_wider_than_its_window_is_cut_whole_or_left_out():
    """A stamp cut through by its window shows a straight edge wherever it is
    pasted: a source reaching the 5x5 blocks' edge is cut from a wider window,
    and one wider than the widest is not in the library."""
    wide = _star(256, 132, 132, 200, 6.0)  # non-zero to ~21 px: past the 5 blocks of 8 px
    huge = _star(256, 132, 132, 200, 20.0)  # ~69 px: past 4 x HOOD blocks too
    lib = upscale.SourceLibrary.build([wide, huge], 32, "max")
    assert len(lib) == 1
    stamp = lib.stamp(0)
    assert (stamp > 0).sum() == (wide > 0).sum()  # every pixel of the source
    assert stamp.shape == tuple(np.ptp(np.nonzero(wide), axis=1) + 1)
    # blended with a small neighbour, its symmetric template is wider than the
    # window too: cut from a wider one, it still fades to zero at its edge
    pair = np.maximum(wide, _star(256, 132, 154, 100, 2.0))
    lib = upscale.SourceLibrary.build([pair], 32, "max")
    stamp = lib.stamp(int(np.argmax([lib.stamp(i).max() for i in range(len(lib))])))
    assert stamp.max() == 200 and stamp.shape[0] > 40
    assert stamp[(stamp > 0) & ~ndimage.binary_erosion(stamp > 0)].max() <= 2


def test_blended_sources_are_split_between_their_stamps():
    """Two stars whose wings touch: each stamp holds its own star and none of the
    other's, and fades to zero at its edge (no cut where the two met)."""
    pair = np.maximum(_star(200, 100, 100, 200, 3.0), _star(200, 100, 116, 150, 3.0))
    assert ndimage.label(pair > 0)[1] == 1  # one connected blend
    assert pair[100, 108] >= 5  # where they meet
    lib = upscale.SourceLibrary.build([pair], 25, "max")
    assert len(lib) == 2
    stamps = [lib.stamp(i) for i in range(2)]
    assert sorted(int(s.max()) for s in stamps) == [150, 200]
    for s in stamps:
        assert ndimage.label(s > 20)[1] == 1  # one star
        edge = (s > 0) & ~ndimage.binary_erosion(s > 0)
        assert s[edge].max() <= 2, s[edge].max()


def test_a_symmetric_source_does_not_crowd_out_the_others():
    """A round star matches its key under all eight turns; the draw is still among
    different sources (the k nearest would otherwise be one star eight times)."""
    stars = [_star(200, 100, 100, 150, sigma) for sigma in (2.0, 2.3, 2.6)]
    lib = upscale.SourceLibrary.build(stars, 25, "max")
    assert len(lib) == 3
    widths = set()
    for j in range(40):
        small = np.zeros((25, 25), np.float32)
        small[5 + j % 15, 5 + j // 15 * 5] = 150.0
        big = lib.render(small, 200)
        widths.add(int((big > 10).sum()))
    assert len(widths) >= 2, widths


def test_stamps_read_a_scattered_sky_as_sky_not_as_faint_sources():
    """A generated sky scatters around its level (values drawn inside an intensity
    bin); the data's sky is one constant level with the sources above it."""
    lib = upscale.SourceLibrary.build([_sky_with_sources(s) for s in range(10)], 25, "max")
    rng = np.random.default_rng(0)
    small = 2.0 + rng.uniform(0.0, 1.5, (25, 25))  # counts
    small[6, 6], small[17, 12] = 150.0, 60.0
    big = upscale.upscale(small / 255.0, 200, "stamps", downsample="max", library=lib)
    sky = int(np.rint(np.median(small)))
    assert np.median(big) == sky and (big > sky).mean() < 0.03
    _, n = ndimage.label(big > sky, structure=np.ones((3, 3), bool))
    assert n == 2, n


def test_a_saturated_source_is_never_brightened(tmp_path):
    """A star that reached 255 on a sky of 50 is 205 counts above it in the library:
    a brighter generated peak does not brighten it (its core stays 255, the rest as
    cut), a fainter one dims all but its core. A version-1 file derives the flag
    from the stamp reaching 255."""
    on_sky = _star(200, 100, 100, 900, 2.0, sky=50)
    lib = upscale.SourceLibrary.build([on_sky, _star(200, 100, 100, 900, 2.0)], 25, "max")
    assert lib.saturated.tolist() == [True, True] and lib.stamp(0).max() == 205
    one = upscale.SourceLibrary.build([on_sky], 25, "max")
    levels = np.unique(one.stamp(0))  # the saturated core last
    small = np.zeros((25, 25), np.float32)
    for peak, factor in ((250.0, 1.0), (150.0, 150 / 205)):
        small[12, 12] = peak
        out = one.render(small, 200)
        assert out.max() == 255
        np.testing.assert_allclose(np.unique(out)[-2], levels[-2] * factor, rtol=1e-5)
    lib.save(tmp_path / "v2.npz")
    again = upscale.SourceLibrary.load(tmp_path / "v2.npz")
    assert again.image_size == 200 and not again.fits(1000)
    with np.load(tmp_path / "v2.npz") as f:
        fields = {k: f[k] for k in f.files if k not in ("saturated", "image_size")}
    np.savez(tmp_path / "v1.npz", **{**fields, "version": 1})
    old = upscale.SourceLibrary.load(tmp_path / "v1.npz")
    assert old.saturated.tolist() == [False, True] and old.image_size is None


def test_a_stamp_lands_with_its_peak_where_the_library_saw_it():
    """A lopsided source, its low-resolution image turned by each symmetry of the
    square, renders as the source turned, pixel for pixel: the stamp is turned
    and placed with its brightest pixel where the turn puts it."""
    im = np.maximum(_star(200, 101, 98, 200, 2.0), _star(200, 105, 95, 90, 1.5))
    lib = upscale.SourceLibrary.build([im], 25, "max")
    assert len(lib) == 1
    small = resample.max_resize(im.astype(np.float32), 25)
    for t in range(upscale.TURNS):
        out = lib.render(upscale.turn(small, t), 200)
        np.testing.assert_array_equal(out, upscale.turn(im, t), err_msg=f"turn {t}")


def test_the_library_reads_the_training_side_of_the_split(tiny_data, tmp_path):
    from cosmojax.tasks import gan as gan_task
    from cosmojax.tasks import generated
    from tests.helpers import tiny_config

    # validation ids by their hash over the selected images of both splits; at
    # 0.01 none is drawn and the fallback takes the one smallest hash of them all
    for fraction in (0.3, 0.1, 0.01):
        c = tiny_config(
            "gan", tiny_data, **{"data.score_threshold": 1.0, "data.val_fraction": fraction}
        )
        c.data.library_images = 1000
        task = gan_task.GANTask(c)
        assert sorted(p.stem for p in generated.library_paths(c)) == sorted(task.train.ids)
        assert fraction > 0.01 or len(task.val) == 1
    c.data.library_images = 5
    assert len(generated.library_paths(c)) == 5
    # a run stopped before its first checkpoint builds (and writes) its library
    (tmp_path / "checkpoints").mkdir()
    lib = generated.workdir_library(c, tmp_path)
    assert lib is not None and (tmp_path / upscale.LIBRARY_FILE).is_file()
    # a resumed run's library must match the data's representation
    c.data.downsample = "area"
    with pytest.raises(ValueError, match="a library of 'max' images at 16"):
        generated.workdir_library(c, tmp_path)
