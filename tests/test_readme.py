"""The README agrees with benchmarks/RESULTS.md and with the code (no training).

The rules, each a test below:

* The README has at most 250 lines.
* **Numbers do not drift.** In the README's ``## Results`` and ``## Speed``
  sections (tables and text; code spans and link targets left out), every
  number -- a decimal such as ``0.2829``, an integer, ``120,466``; not digits
  glued to letters such as ``v2``, ``140x140`` or ``seed1`` -- occurs in
  RESULTS.md as the same string, not as part of a longer number. Every date
  (``2026-12-01``) occurs there too.
* **Each row's value is that row's.** Every row of those two tables links to
  its section of RESULTS.md (the heading to the next heading of the same or
  a higher level), and :data:`SOURCES` names, by its label, the table row or
  paragraph of that section that states the row's value; each number of the
  README row's value column (the second) must be in that row or paragraph.
  A README row without an entry in :data:`SOURCES` fails, so a new row comes
  with the place its number is read from.
* **Links resolve.** Every relative link in the README and in docs/data.md,
  docs/generators.md and docs/design.md names an existing file; a ``#anchor``
  names a heading of the target (GitHub's slugs).
* **Names exist.** Repository paths in code (``configs/vae.py``,
  ``benchmarks/pipeline.py``, ``train_gan.py``, ``cosmojax/upscale.py``),
  ``python -m`` modules and ``make`` targets exist.
* **Commands take their flags.** In every ``python ...`` command of the
  README and those docs (code blocks and code spans), each ``--flag`` is
  defined by what the command runs (the module's or benchmark's own source;
  the training scripts' flags in cosmojax/cli.py), and each
  ``--config.a.b`` override is a field of the config that the command names.
* **Python blocks run as written.** Every name a Python block of the README
  or those docs uses is defined in that block (imported, assigned or a
  builtin), and each call of the package API there (``sampling.load(...)``,
  ``g.generate(...)``, ``cosmojax.run(...)``) names an existing function and
  binds to its signature; ``cosmojax.run``'s overrides are fields of its
  config file.
"""

from __future__ import annotations

import ast
import builtins
import importlib
import inspect
import re
import types
import typing
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
RESULTS = ROOT / "benchmarks" / "RESULTS.md"
RESULTS_LINK = "benchmarks/RESULTS.md"
DOCS = ("data", "generators", "design", "accelerators", "layers")
OWN_DOCS = [README] + [ROOT / "docs" / f"{n}.md" for n in DOCS]
MAX_LINES = 250

DATE = re.compile(r"\b\d{4}-\d{2}-\d{2}\b")
# A number standing alone: not glued to letters, digits or a decimal point.
NUMBER = re.compile(r"(?<![\w.,])(\d{1,3}(?:,\d{3})+|\d+(?:\.\d+)?)(?!\w|[.,]\d)")
# In RESULTS.md a number may carry a unit (3.34x, 45%) or sit in a code span.
RESULTS_NUMBER = re.compile(r"(?<![\d.,])(\d{1,3}(?:,\d{3})+|\d+(?:\.\d+)?)(?![\d]|[.,]\d)")
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
CODE_SPAN = re.compile(r"`[^`]*`")
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)


def text(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def prose(markdown: str) -> str:
    """Markdown without code spans and link targets (numbers there are not results)."""
    return LINK.sub(lambda m: m.group(0).split("](")[0] + "]", CODE_SPAN.sub(" ", markdown))


def sections(markdown: str) -> list[tuple[int, str, str]]:
    """``(level, heading, body)`` of every heading; the body runs to the next
    heading of the same or a higher level (fenced code is not searched for headings)."""
    lines = markdown.splitlines()
    heads, fenced = [], False
    for i, line in enumerate(lines):
        if line.startswith("```"):
            fenced = not fenced
        m = re.match(r"(#{1,6}) (.*)", line)
        if m and not fenced:
            heads.append((i, len(m.group(1)), m.group(2).strip()))
    out = []
    for k, (i, level, title) in enumerate(heads):
        end = next((j for j, lv, _ in heads[k + 1 :] if lv <= level), len(lines))
        out.append((level, title, "\n".join(lines[i:end])))
    return out


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces -> '-'."""
    heading = LINK.sub(lambda m: m.group(0)[1:].split("](")[0].rstrip("]"), heading)
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(markdown: str) -> dict[str, str]:
    """Anchor -> section body, with GitHub's -1, -2 suffixes for repeated headings."""
    out, seen = {}, {}
    for _, title, body in sections(markdown):
        s = slug(title)
        n = seen.get(s, 0)
        seen[s] = n + 1
        out[s if n == 0 else f"{s}-{n}"] = body
    return out


def section(markdown: str, title: str) -> str:
    found = [body for level, t, body in sections(markdown) if level == 2 and t == title]
    assert found, f"README has no '## {title}' section"
    return found[0]


def table_rows(body: str) -> list[list[str]]:
    """Cells of every table row (header and separator rows left out)."""
    rows, previous = [], ""
    for line in body.splitlines():
        if line.startswith("|") and not re.match(r"\|[-| :]+\|$", line):
            if previous.startswith("|"):
                rows.append([c.strip() for c in line.strip().strip("|").split("|")])
        previous = line if line.startswith("|") else ""
    return rows


def numbers(s: str) -> list[str]:
    return NUMBER.findall(DATE.sub(" ", prose(s)))


def results_numbers() -> set[str]:
    t = text(RESULTS)
    return set(RESULTS_NUMBER.findall(DATE.sub(" ", t)))


def has_number(body: str, number: str) -> bool:
    return number in RESULTS_NUMBER.findall(DATE.sub(" ", body))


def test_readme_is_short():
    n = len(text(README).splitlines())
    assert n <= MAX_LINES, f"README.md has {n} lines (at most {MAX_LINES})"


@pytest.mark.parametrize("title", ["Results", "Speed"])
def test_every_number_is_in_results(title):
    body = section(text(README), title)
    known = results_numbers()
    missing = sorted(set(numbers(body)) - known, key=float_key)
    assert not missing, f"README '## {title}': numbers not in benchmarks/RESULTS.md: {missing}"
    dates = set(DATE.findall(prose(body))) - set(DATE.findall(text(RESULTS)))
    assert not dates, f"README '## {title}': dates not in benchmarks/RESULTS.md: {dates}"


def float_key(s: str) -> float:
    return float(s.replace(",", ""))


# README row (a substring of its first cell) -> the labels of the RESULTS.md table
# rows or paragraphs, in the section the README row links to, that state its value.
SOURCES = {
    # scorers: query MAE
    "constant (training median)": ["| constant, training median |"],
    "paper CNN": ["| paper CNN (`configs/scorer.py`, 140x140) |"],
    "boosted trees on histograms": ["| boosted trees, histogram + power spectrum at 256 |"],
    "boosted trees on the full-resolution": ["| boosted trees, full-resolution statistics v2"],
    "**statistics scorer**": ["| **statistics scorer** (`configs/scorer_stats.py`, v2) |"],
    "three seeds averaged": ["| ensemble of the three seeds, mean |"],
    # generators: statistics Fréchet / real-vs-real
    "floor:": ["| floor, 128 block max, `stamps` |"],
    "paper VAE, `configs/vae.py` (kept steps 1200 / 1200 / 900), three seeds": [
        "| median / worst, runs trained now |"
    ],
    "paper VAE with its source model": ["The paper VAE with its source model, on the three"],
    "convolutional VAE": ["| **convolutional VAE, median / worst** |"],
    "DCGAN, `configs/gan.py`": ["| median / worst, R1, γ = 1 |"],
    "WGAN-GP": ["| **WGAN-GP, median / worst** |"],
    # speed: img/s
    "paper scorer train step": ["| paper scorer (140x140) |"],
    "DCGAN, a whole training run": ["--workdir=runs/gqr1/gan/seed1 --config.seed=1"],
    "input, first pass: decode": ["| first pass: decode, area-resample 1000→128"],
    "input, every later pass": ["| later passes: batches of 64"],
    "input, first pass with the full-resolution": ["Preparing the 12,000 images at 128x128"],
    "roofline, the paper scorer": ["| paper scorer (`scorer`) |"],
    "roofline, the paper VAE": ["| paper VAE (`vae_paper`) |"],
    "roofline, the paper DCGAN": ["| paper DCGAN (`dcgan_paper`) |"],
}


def units(body: str) -> list[str]:
    """A section's table rows (one line each) and paragraphs (blank-line separated)."""
    out = []
    for para in re.split(r"\n\s*\n", body):
        rows = [line for line in para.splitlines() if line.startswith("|")]
        rest = "\n".join(line for line in para.splitlines() if not line.startswith("|"))
        out += rows + ([rest] if rest.strip() else [])
    return out


@pytest.mark.parametrize("title", ["Results", "Speed"])
def test_row_values_are_the_rows_in_results(title):
    results = anchors(text(RESULTS))
    rows = table_rows(section(text(README), title))
    assert rows, f"README '## {title}' has no table"
    for cells in rows:
        label = cells[0]
        values = numbers(cells[1])
        assert values, f"row {label!r}: no number in its value column"
        keys = [k for k in SOURCES if k in label]
        assert len(keys) == 1, f"row {label!r}: {len(keys)} entries in SOURCES, expected 1"
        links = [t for c in cells for t in LINK.findall(c) if t.startswith(f"{RESULTS_LINK}#")]
        assert links, f"row {label!r}: no link to its section of benchmarks/RESULTS.md"
        stated = []
        for link in links:
            anchor = link.partition("#")[2]
            assert anchor in results, f"row {label!r}: RESULTS.md has no #{anchor}"
            for marker in SOURCES[keys[0]]:
                found = [u for u in units(results[anchor]) if marker in u]
                assert len(found) == 1, (
                    f"row {label!r}: {len(found)} places in RESULTS.md#{anchor} hold {marker!r}"
                )
                stated += found
        for v in values:
            assert any(has_number(u, v) for u in stated), (
                f"row {label!r}: {v} is not where RESULTS.md states this row: {SOURCES[keys[0]]}"
            )


@pytest.mark.parametrize("doc", OWN_DOCS, ids=lambda p: p.name)
def test_relative_links_resolve(doc):
    for target in LINK.findall(text(doc)):
        if re.match(r"[a-z]+:", target):  # http:, https:, mailto:
            continue
        path, _, anchor = target.partition("#")
        file = (doc.parent / path).resolve() if path else doc
        assert file.exists(), f"{doc.name}: link to {target}: {file} does not exist"
        if anchor and file.suffix == ".md":
            assert anchor in anchors(text(file)), f"{doc.name}: {file.name} has no #{anchor}"


def code_texts(markdown: str) -> list[str]:
    return [m.group(2) for m in FENCE.finditer(markdown)] + [
        s.strip("`") for s in CODE_SPAN.findall(FENCE.sub("", markdown))
    ]


PATH = re.compile(
    r"(?<![\w/.])((?:configs|benchmarks|cosmojax|tests|docs|notebooks)/[\w/]+\.(?:py|md|ipynb|sh)"
    r"|train_\w+\.py)\b"
)


@pytest.mark.parametrize("doc", OWN_DOCS, ids=lambda p: p.name)
def test_named_files_modules_and_targets_exist(doc):
    code = "\n".join(code_texts(text(doc)))
    for p in PATH.findall(code):
        assert (ROOT / p).exists(), f"{doc.name} names {p}, which does not exist"
    for m in re.findall(r"python -m ([\w.]+)", code):
        rel = Path(*m.split("."))
        assert (ROOT / f"{rel}.py").exists() or (ROOT / rel / "__init__.py").exists(), (
            f"{doc.name}: python -m {m}: no such module"
        )
    makefile = text(ROOT / "Makefile")
    for target in re.findall(r"(?m)^\s*make (?:[A-Z]+=\S+ )*([a-z][\w-]*)", code):
        assert re.search(rf"^{target}:", makefile, re.M), f"{doc.name}: no make target {target}"


def commands(markdown: str) -> list[str]:
    """Every ``python ...`` command in code, continuation lines joined."""
    out = []
    for block in code_texts(markdown):
        block = block.replace("\\\n", " ")
        for line in block.splitlines():
            out += re.findall(r"\bpython3? (?:-m [\w.]+|[\w/]+\.py)[^`;#]*", line)
    return out


def command_source(cmd: str) -> Path:
    m = re.match(r"python3? (?:-m ([\w.]+)|([\w/]+\.py))", cmd)
    if m.group(1):
        rel = Path(*m.group(1).split("."))
        return ROOT / f"{rel}.py" if (ROOT / f"{rel}.py").exists() else ROOT / rel / "__main__.py"
    if re.fullmatch(r"train_\w+\.py", m.group(2)):
        return ROOT / "cosmojax" / "cli.py"
    return ROOT / m.group(2)


def config_has(config, dotted: str) -> bool:
    node = config
    for part in dotted.split("."):
        if part not in node:
            return False
        node = node[part]
    return True


@pytest.mark.parametrize("cmd", sorted({c for d in OWN_DOCS for c in commands(text(d))}))
def test_commands_take_their_flags(cmd):
    source = text(command_source(cmd))
    training = command_source(cmd).name == "cli.py"
    config_file = re.search(r"--config=(configs/\w+\.py)", cmd)
    for flag in re.findall(r"(?<![\w-])--([\w.]+)", cmd):
        if flag.startswith("config."):
            assert config_file, f"{cmd}: --{flag} without --config=configs/...py"
            module = importlib.import_module(config_file.group(1)[:-3].replace("/", "."))
            field = flag.removeprefix("config.")
            assert config_has(module.get_config(), field), (
                f"{cmd}: {config_file.group(1)} has no field {field}"
            )
        elif training:
            assert f'"{flag}"' in source, f"{cmd}: the training scripts define no --{flag}"
        else:
            assert f'"--{flag}"' in source, f"{cmd}: {command_source(cmd).name} has no --{flag}"


def python_blocks(markdown: str) -> list[str]:
    return [m.group(2) for m in FENCE.finditer(markdown) if m.group(1) == "python"]


@pytest.mark.parametrize("block", [b for d in OWN_DOCS for b in python_blocks(text(d))])
def test_python_block_defines_its_names(block):
    tree = ast.parse(block)
    defined = set(dir(builtins))
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            defined |= {(a.asname or a.name).split(".")[0] for a in node.names}
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            defined.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            defined.add(node.name)
    used = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
    assert not used - defined, f"names used but not defined in the block: {used - defined}"


def _types(annotation) -> list:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return list(typing.get_args(annotation))
    return [annotation]


@pytest.mark.parametrize("block", [b for d in OWN_DOCS for b in python_blocks(text(d))])
def test_python_block_calls_existing_api(block):
    """Calls on the package's modules, and on what their ``load`` returns, exist
    and bind: a method named in the README that the code lacks, or a keyword
    it does not take, fails here."""
    modules, kinds = {}, {}  # name -> module; name -> candidate classes
    for node in ast.parse(block).body:
        if isinstance(node, ast.ImportFrom) and node.module == "cosmojax":
            for a in node.names:
                modules[a.asname or a.name] = importlib.import_module(f"cosmojax.{a.name}")
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name.startswith("cosmojax"):
                    modules[a.asname or a.name] = importlib.import_module(a.name)
        for call in [n for n in ast.walk(node) if isinstance(n, ast.Call)]:
            f = call.func
            if not (isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name)):
                continue
            owner = f.value.id
            if owner in modules:
                assert hasattr(modules[owner], f.attr), f"{owner}.{f.attr} does not exist"
                fn = getattr(modules[owner], f.attr)
                candidates = [fn]
            elif owner in kinds:
                candidates = [getattr(k, f.attr) for k in kinds[owner] if hasattr(k, f.attr)]
                assert candidates, f"{owner}.{f.attr}: none of {kinds[owner]} has {f.attr}"
            else:
                continue
            errors = [_bind(fn, call, method=owner in kinds) for fn in candidates]
            assert None in errors, f"{owner}.{f.attr}(...): {errors}"
            if owner in modules and modules[owner].__name__ == "cosmojax" and f.attr == "run":
                _check_overrides(call)
            if isinstance(node, ast.Assign) and node.value is call and owner in modules:
                hints = typing.get_type_hints(candidates[0])
                if "return" in hints:
                    for t in node.targets:
                        if isinstance(t, ast.Name):
                            kinds[t.id] = [k for k in _types(hints["return"]) if inspect.isclass(k)]


def _bind(fn, call: ast.Call, method: bool) -> str | None:
    """None if ``call``'s positional count and keywords bind to ``fn``, else why not."""
    args = [object()] * (len(call.args) + (1 if method else 0))
    kwargs = {k.arg: object() for k in call.keywords if k.arg}
    try:
        inspect.signature(fn).bind(*args, **kwargs)
    except TypeError as e:
        return f"{fn.__qualname__}: {e}"
    return None


def _check_overrides(call: ast.Call) -> None:
    """``cosmojax.run("configs/x.py", workdir, field=value)``: the config file
    exists and takes the overrides (:func:`cosmojax.configlib.load`)."""
    from cosmojax import configlib

    path = call.args[0]
    if isinstance(path, ast.Constant) and isinstance(path.value, str):
        overrides = {k.arg: ast.literal_eval(k.value) for k in call.keywords if k.arg}
        configlib.load(ROOT / path.value, **overrides)
