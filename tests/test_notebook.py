"""notebooks/tour.ipynb runs top to bottom on a tiny data set, training its own
tiny generator and scorer, and shows what each section promises."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
TINY = {
    "data.resolution": 16,
    "batch_size": 8,
    "eval_batch_size": 8,
    "num_steps": 4,
    "eval_every": 2,
    "checkpoint_every": 2,
    "eval_generated": 8,
}


def outputs(cell, kind: str) -> list:
    return [o for o in cell.get("outputs", []) if o.get("output_type") == kind]


def text(cell) -> str:
    return "".join(o.get("text", "") for o in outputs(cell, "stream"))


def test_the_tour_runs_on_a_tiny_workdir(tiny_data, tmp_path, monkeypatch):
    nb = nbformat.read(ROOT / "notebooks" / "tour.ipynb", as_version=4)
    for cell in nb.cells:  # the committed outputs are not what is checked
        cell.pop("outputs", None)
    monkeypatch.setenv("COSMOJAX_TOUR_GENERATOR", str(tmp_path / "vae"))
    monkeypatch.setenv("COSMOJAX_TOUR_SCORER", str(tmp_path / "scorer"))
    monkeypatch.setenv("COSMOJAX_TOUR_DATA", str(tiny_data))
    monkeypatch.setenv("COSMOJAX_TOUR_OVERRIDES", json.dumps(TINY))
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    assert os.environ["COSMOJAX_HOME"]  # the suite's private home reaches the kernel
    NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}}
    ).execute()
    code = [c for c in nb.cells if c.cell_type == "code"]
    by_source = {
        k: next(c for c in code if k in c.source)
        for k in (
            "sampling.load(GENERATOR)",
            "images.grid(samples)",
            "images.grid(strip, 8)",
            "show([",
            "evaluate.evaluate(",
            "power_spectrum",
            "scoring.load(SCORER)",
        )
    }
    loaded = text(by_source["sampling.load(GENERATOR)"])
    assert re.search(r"^vae step [24]: 16x16, latent 64$", loaded, re.M), loaded
    for key in ("images.grid(samples)", "images.grid(strip, 8)"):
        assert any("image/png" in o["data"] for o in outputs(by_source[key], "execute_result"))
    for key in ("show([", "power_spectrum"):
        assert any("image/png" in o["data"] for o in outputs(by_source[key], "display_data"))
    assert "statistics Fréchet: generated" in text(by_source["evaluate.evaluate("])
    assert "zero_fraction: real" in text(by_source["power_spectrum"])
    scored = text(by_source["scoring.load(SCORER)"])
    assert "real: mean score" in scored and "generated: mean score" in scored
    assert (tmp_path / "vae" / "checkpoints").is_dir() and (tmp_path / "scorer").is_dir()
