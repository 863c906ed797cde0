"""The CIL layout readers: good data read right, every kind of bad input refused
with one line naming the file and what was expected."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from PIL import Image

from cosmojax.data import layout
from tests.conftest import write_cil


def one_line(excinfo):
    msg = str(excinfo.value)
    assert "\n" not in msg
    return msg


def test_reads_a_good_folder(tmp_path):
    root = write_cil(tmp_path / "d")
    ids, paths, targets = layout.list_split(root, "scored")
    assert len(ids) == 4 and all(p.is_file() for p in paths)
    assert targets.dtype == np.float32 and np.all((targets >= 0) & (targets <= 8))
    q_ids, _, q_targets = layout.list_split(root, "query")
    assert q_targets is None and q_ids == sorted(q_ids)


def test_nested_kaggle_layout_is_found(tmp_path):
    inner = tmp_path / "k" / "cosmology_aux_data_170429" / "cosmology_aux_data_170429"
    write_cil(inner)
    assert layout.find_root(tmp_path / "k") == inner


def test_missing_data_dir(tmp_path):
    with pytest.raises(layout.DataError) as e:
        layout.find_root(tmp_path / "nope")
    assert "nope" in one_line(e) and "does not exist" in one_line(e)


def test_folder_without_split_folders(tmp_path):
    (tmp_path / "d" / "labeled").mkdir(parents=True)
    with pytest.raises(layout.DataError) as e:
        layout.find_root(tmp_path / "d")
    assert "missing scored/ query/" in one_line(e)


@pytest.mark.parametrize(
    "content, expected",
    [
        (None, "CSV file is missing"),
        ("Id,Score\n1000000,1.0\n", "expected header Id,Actual"),
        ("", "expected header Id,Actual"),
        ("Id,Actual\n1000000,abc\n", "'abc' is not a number"),
        ("Id,Actual\n1000000,nan\n", "not a finite number"),
        ("Id,Actual\n1000000,1.0\n1000000,2.0\n", "duplicate Id 1000000"),
        ("Id,Actual\n1000000,1.0,3\n", "expected 2 fields"),
        ("Id,Actual\n1000000,9.5\n", "outside [0, 8]"),
        ("Id,Actual\n", "no data rows (empty split)"),
        ("Id,Actual\n../x,1.0\n", "is not a file stem"),
    ],
)
def test_bad_scored_csv(tmp_path, content, expected):
    root = write_cil(tmp_path / "d")
    csv = root / "scored.csv"
    if content is None:
        csv.unlink()
    else:
        csv.write_text(content)
    with pytest.raises(layout.DataError) as e:
        layout.list_split(root, "scored")
    assert expected in one_line(e) and "scored.csv" in one_line(e)


def test_labels_must_be_binary(tmp_path):
    root = write_cil(tmp_path / "d")
    (root / "labeled.csv").write_text("Id,Actual\n1000000,0.5\n")
    with pytest.raises(layout.DataError, match=r"labeled.csv:2: label '0.5' must be 0 or 1"):
        layout.list_split(root, "labeled")


def test_id_without_png(tmp_path):
    root = write_cil(tmp_path / "d")
    ids, paths, _ = layout.list_split(root, "scored")
    paths[1].unlink()
    with pytest.raises(layout.DataError) as e:
        layout.list_split(root, "scored")
    assert f"{ids[1]}.png" in one_line(e) and "is missing" in one_line(e)


def test_empty_query_split(tmp_path):
    root = write_cil(tmp_path / "d")
    for p in (root / "query").iterdir():
        p.unlink()
    with pytest.raises(layout.DataError, match="no .png images"):
        layout.list_split(root, "query")


def test_truncated_and_non_png(tmp_path):
    good = tmp_path / "good.png"
    layout.write_png(good, np.full((50, 50), 7, np.uint8))
    data = good.read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    (tmp_path / "text.png").write_text("not an image")
    for name, expected in (("cut.png", "unreadable or truncated PNG"), ("text.png", "not a PNG")):
        with pytest.raises(layout.DataError) as e:
            layout.read_png(tmp_path / name)
        assert name in one_line(e) and expected in one_line(e)


def test_conversions_are_logged_once_and_counted(tmp_path, caplog):
    rgb = np.zeros((40, 40, 3), np.uint8)
    rgb[..., 0] = 255
    Image.fromarray(rgb, "RGB").save(tmp_path / "rgb.png")
    Image.fromarray(np.full((30, 30), 4096, np.uint16)).save(tmp_path / "deep.png")
    log = layout.ConversionLog()
    with caplog.at_level(logging.WARNING):
        a = layout.read_png(tmp_path / "rgb.png", log)
        layout.read_png(tmp_path / "rgb.png", log)
        b = layout.read_png(tmp_path / "deep.png", log)
    assert a.dtype == np.uint8 and a.shape == (40, 40) and a[0, 0] == 76  # ITU-R 601 luma
    assert b.dtype == np.uint8 and b[0, 0] == 4096 >> 8
    assert log.counts["mode RGB converted to 8-bit grayscale"] == 2
    assert sum("rgb.png" in r.getMessage() for r in caplog.records) == 2  # mode + size, once
    assert "size 30x30" in log.summary()


def test_write_csv_is_atomic_and_formatted(tmp_path):
    path = tmp_path / "out.csv"
    layout.write_csv(path, ["1234567"], [1.23456789012345])
    assert path.read_text() == "Id,Actual\n1234567,1.2345678901\n"
    assert not list(tmp_path.glob(".*tmp"))
