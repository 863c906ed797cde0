"""The TFDS builder: both layouts, offline, nothing half-prepared after bad input."""

from __future__ import annotations

import shutil
import socket

import numpy as np
import pytest

from cosmojax.data import layout, sources
from tests.conftest import write_cil


def prepared_dirs():
    base = sources.home() / "tfds" / "cil_cosmology"
    return sorted(p.name for p in base.iterdir()) if base.exists() else []


def test_prepares_both_layouts_with_ids_and_targets(tmp_path):
    from cosmojax.data import tfds_builder

    flat = write_cil(tmp_path / "flat", size=50)
    nested_root = tmp_path / "kaggle" / "cosmology_aux_data_170429" / "cosmology_aux_data_170429"
    shutil.copytree(flat, nested_root)
    b1 = tfds_builder.prepared_builder(flat, 10)
    b2 = tfds_builder.prepared_builder(tmp_path / "kaggle", 10)
    assert b1.builder_config.name == b2.builder_config.name  # same content, same copy
    import tensorflow_datasets as tfds

    scored = tfds.as_numpy(b1.as_dataset(split="scored", batch_size=-1))
    ids, _, targets = layout.list_split(flat, "scored")
    got = dict(zip([i.decode() for i in scored["id"]], scored["target"], strict=True))
    assert got == pytest.approx(dict(zip(ids, targets, strict=True)))
    assert scored["image"].shape == (4, 10, 10) and scored["image"].dtype == np.float16
    query = tfds.as_numpy(b1.as_dataset(split="query", batch_size=-1))
    assert np.all(np.isnan(query["target"]))


def test_bad_png_leaves_nothing_prepared(tmp_path):
    from cosmojax.data import tfds_builder

    root = write_cil(tmp_path / "bad", size=40, seed=3)
    ids, paths, _ = layout.list_split(root, "scored")
    paths[2].write_bytes(paths[2].read_bytes()[:60])
    before = prepared_dirs()
    with pytest.raises(layout.DataError) as e:
        tfds_builder.prepared_builder(root, 8)
    assert f"{ids[2]}.png" in str(e.value) and "truncated" in str(e.value)
    assert prepared_dirs() == before or all(
        not (sources.home() / "tfds" / "cil_cosmology" / d / "1.0.0").exists()
        for d in set(prepared_dirs()) - set(before)
    )
    leftovers = list((sources.home() / "tfds").rglob("*incomplete*"))
    assert leftovers == []


def test_preparation_makes_no_network_access(tmp_path, monkeypatch):
    from cosmojax.data import tfds_builder

    attempts = []

    def refuse(*args, **kwargs):
        attempts.append(args)
        raise OSError("network is unavailable in this test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    root = write_cil(tmp_path / "offline", size=30, seed=5)
    builder = tfds_builder.prepared_builder(root, 6)
    assert builder.is_prepared()
    assert attempts == []


def test_csv_errors_fail_before_any_decoding(tmp_path):
    from cosmojax.data import tfds_builder

    root = write_cil(tmp_path / "csv", size=30, seed=9)
    (root / "scored.csv").write_text("Id,Actual\n1,2\n1,3\n")
    with pytest.raises(layout.DataError, match="duplicate Id 1"):
        tfds_builder.prepared_builder(root, 6)
