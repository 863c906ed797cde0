"""Fuzzing the data readers: every input is read correctly or refused with a
DataError, never a crash or a hang; a broken file never leaves a prepared set."""

from __future__ import annotations

import io

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from PIL import Image

from cosmojax.data import layout, sources
from tests.conftest import write_cil

SETTINGS = dict(
    deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)


def png_bytes(arr, mode=None) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr, mode=mode).save(buf, format="PNG")
    return buf.getvalue()


PIXELS = np.random.default_rng(0).integers(0, 255, (40, 30), dtype=np.uint8)
VALID = png_bytes(PIXELS)


def check_png(data: bytes):
    try:
        img = layout.decode_png(data, "fuzz.png")
    except layout.DataError as e:
        assert str(e).startswith("fuzz.png: ") and "\n" not in str(e)
        return None
    assert img.dtype == np.uint8 and img.ndim == 2 and img.size > 0
    return img


@settings(max_examples=400, **SETTINGS)
@given(st.binary(max_size=600))
def test_random_bytes(data):
    check_png(b"\x89PNG\r\n\x1a\n" + data)
    check_png(data)


@settings(max_examples=400, **SETTINGS)
@given(
    st.integers(0, len(VALID)),
    st.lists(st.tuples(st.integers(0, len(VALID) - 1), st.integers(0, 255)), max_size=8),
)
@example(len(VALID), [])  # the file itself
def test_truncated_and_mutated_pngs(cut, flips):
    data = bytearray(VALID)
    for pos, value in flips:
        data[pos] = value
    img = check_png(bytes(data[:cut]) if cut < len(data) else bytes(data))
    if img is not None and data == VALID:  # a whole or cut copy of the file read: its pixels
        np.testing.assert_array_equal(img, PIXELS)


@settings(max_examples=200, **SETTINGS)
@given(
    st.sampled_from(["L", "RGB", "RGBA", "LA", "P", "I;16", "1"]),
    st.integers(1, 70),
    st.integers(1, 70),
    st.integers(0, 2**31 - 1),
)
def test_every_mode_and_size_reads_as_8_bit_gray(mode, w, h, seed):
    rng = np.random.default_rng(seed)
    if mode == "I;16":
        wide = rng.integers(0, 65535, (h, w), dtype=np.uint16)
        im, want = Image.fromarray(wide), (wide >> 8).astype(np.uint8)  # the high byte
    else:
        rgb = rng.integers(0, 255, (h, w, 3), dtype=np.uint8)
        im = Image.fromarray(rgb, "RGB").convert(mode)
        want = np.asarray(im.convert("L"))  # the written image's gray levels
        if mode in ("L", "RGB", "RGBA", "LA"):  # no palette or threshold: ITU-R 601 luma
            luma = rgb.astype(np.int64) @ [19595, 38470, 7471]
            np.testing.assert_array_equal(want, (luma + 32768) >> 16)
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    img = check_png(buf.getvalue())
    assert img is not None and img.shape == (h, w)
    np.testing.assert_array_equal(img, want)


CSV_CHARS = st.sampled_from(list('0123456789.,-eE naNIf"\n\r;xId') + ["Actual", "Id,Actual\n"])


@settings(max_examples=400, **SETTINGS)
@given(st.lists(CSV_CHARS, max_size=80), st.sampled_from(["labeled", "scored", None]))
def test_csv_junk(tmp_path_factory, pieces, split):
    path = tmp_path_factory.mktemp("csv") / "x.csv"
    path.write_text("".join(pieces))
    try:
        ids, values = layout.read_csv(path, split=split)
    except layout.DataError as e:
        assert str(e).startswith(str(path)) and "\n" not in str(e)
        return
    assert len(ids) == len(values) == len(set(ids)) > 0 and np.all(np.isfinite(values))


DAMAGES = ["truncate", "garbage", "rgb_header_lie", "huge"]


@pytest.mark.parametrize("damage", DAMAGES)
def test_damaged_file_never_leaves_a_prepared_set(tmp_path, damage):
    from cosmojax.data import tfds_builder

    root = write_cil(tmp_path / damage, size=24, seed=DAMAGES.index(damage))
    _, paths, _ = layout.list_split(root, "query")
    target = paths[0]
    data = target.read_bytes()
    if damage == "truncate":
        target.write_bytes(data[: len(data) // 3])
    elif damage == "garbage":
        target.write_bytes(np.random.default_rng(0).bytes(500))
    elif damage == "rgb_header_lie":
        target.write_bytes(data[:25] + b"\x02" + data[26:])  # colour type byte, bad CRC
    else:
        Image.new("L", (6000, 5000)).save(target)
    with pytest.raises(layout.DataError, match=target.name):
        tfds_builder.prepared_builder(root, 8)
    base = sources.home() / "tfds" / "cil_cosmology"
    config = f"r8_{sources.fingerprint(root)}"
    assert not (base / config / "1.0.0").exists()
    assert not list(base.glob("*incomplete*")) and not list(base.glob(f"{config}/*incomplete*"))
