"""The install: the accelerator extras in pyproject.toml agree with the pinned JAX
(the pins JAX itself declares for its jax[cuda12] and jax[tpu] extras), and the
Makefile installs the extras ACCEL names and refuses any other ACCEL at once."""

from __future__ import annotations

import importlib.metadata
import os
import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[1]
ACCELERATORS = ("cuda12", "tpu")
# Released together with jax, under jax's own version number.
VERSIONED_WITH_JAX = re.compile(r"^jax(lib)?$|^jax-(cuda|rocm)\d+-(plugin|pjrt)$")


def project() -> dict:
    with open(REPO / "pyproject.toml", "rb") as f:
        return tomllib.load(f)["project"]


def requirements(extra: str | None = None) -> list[Requirement]:
    p = project()
    lines = p["dependencies"] if extra is None else p["optional-dependencies"][extra]
    return [Requirement(line) for line in lines]


def pin(req: Requirement) -> str:
    """The version of an ``==`` pin (the one specifier); fails for anything looser."""
    (spec,) = req.specifier
    assert spec.operator == "==" and "*" not in spec.version, f"{req}: expected name==version"
    return spec.version


def jax_pin() -> str:
    (jax,) = [r for r in requirements() if r.name == "jax"]
    return pin(jax)


def declared_by_jax(extra: str) -> list[Requirement]:
    """What the installed jax's metadata requires for ``jax[extra]``."""
    reqs = [Requirement(line) for line in importlib.metadata.requires("jax")]
    return [r for r in reqs if r.marker and r.marker.evaluate({"extra": extra})]


def test_jax_and_jaxlib_are_pinned_together():
    (jaxlib,) = [r for r in requirements() if r.name == "jaxlib"]
    assert pin(jaxlib) == jax_pin()


@pytest.mark.parametrize("extra", ACCELERATORS)
def test_packages_released_with_jax_carry_its_version(extra):
    together = [r for r in requirements(extra) if VERSIONED_WITH_JAX.match(r.name)]
    assert together, f"{extra}: no JAX package"
    for req in together:
        assert pin(req) == jax_pin(), f"{extra}: {req} (jax=={jax_pin()})"


@pytest.mark.parametrize("extra", ACCELERATORS)
def test_extras_pin_what_jax_declares_for_its_own(extra):
    installed = importlib.metadata.version("jax")
    assert installed == jax_pin(), f"installed jax {installed}, pinned {jax_pin()}: make install"
    assert any(
        r.name == "jax" and r.extras == {extra} and pin(r) == jax_pin() for r in requirements(extra)
    ), f"{extra}: expected jax[{extra}]=={jax_pin()}"
    ours = {canonicalize_name(r.name): r for r in requirements() + requirements(extra)}
    declared = [r for r in declared_by_jax(extra) if r.specifier]
    assert declared, f"jax {installed} declares no pinned packages for jax[{extra}]"
    for theirs in declared:
        mine = ours.get(canonicalize_name(theirs.name))
        assert mine is not None, f"{extra}: {theirs.name} missing (jax[{extra}] needs {theirs})"
        assert theirs.specifier.contains(pin(mine)), f"{extra}: {mine}; jax declares {theirs}"
        assert theirs.extras <= mine.extras, f"{extra}: {mine}; jax declares {theirs}"


# A make run from within make (``make test``) would inherit these.
MAKE_ENV = ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES", "ACCEL", "VENV", "PYTHON")


def make(*args: str) -> subprocess.CompletedProcess:
    """``make -n -B ARGS``: the commands make would run, none of them run."""
    assert shutil.which("make"), "make is not installed: the README's two commands are make targets"
    env = {k: v for k, v in os.environ.items() if k not in MAKE_ENV}
    return subprocess.run(
        ["make", "-n", "-B", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize("accel", ["bogus", "rocm", "", "cpu tpu", "CUDA12"])
def test_make_refuses_an_unknown_accelerator_in_one_line(accel):
    proc = make(f"ACCEL={accel}", "install")
    assert proc.returncode != 0 and proc.stdout == ""
    (line,) = proc.stderr.strip().splitlines()
    assert f"ACCEL={accel}: expected cpu, cuda12 or tpu" in line


@pytest.mark.parametrize(
    "accel, extras",
    [(None, "test"), ("cpu", "test"), ("cuda12", "test,cuda12"), ("tpu", "test,tpu")],
)
def test_make_installs_the_extras_of_the_accelerator(accel, extras):
    proc = make(*([f"ACCEL={accel}"] if accel else []), "install")
    assert proc.returncode == 0, proc.stderr
    assert f"pip install -q -e '.[{extras}]'" in proc.stdout
    # One stamp per accelerator: switching ACCEL installs again.
    assert re.search(rf"touch \S*/\.installed-{accel or 'cpu'}-\d+$", proc.stdout, re.M)
    # The other accelerators' runtimes go, or JAX would still load them.
    runtimes = {"cuda12": ["jax-cuda12-plugin", "jax-cuda12-pjrt"], "tpu": ["libtpu"]}
    others = [p for a, ps in runtimes.items() if a != accel for p in ps]
    uninstalled = re.search(r"pip uninstall -q -y (.*?) 2>", proc.stdout).group(1).split()
    assert sorted(uninstalled) == sorted(others)


def test_console_scripts_name_the_commands_main_functions():
    import importlib

    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert set(scripts) == {"cosmojax-predict", "cosmojax-generate", "cosmojax-evaluate"}
    for name, target in scripts.items():
        module, fn = target.split(":")
        assert module == f"cosmojax.{name.removeprefix('cosmojax-')}" and fn == "main"
        assert callable(getattr(importlib.import_module(module), fn))
