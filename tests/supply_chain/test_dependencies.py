"""The pins have one source (pyproject.toml) and the hashed lock is generated from it.

Checks the committed files against each other and against what the code imports: every pyproject pin is in
``requirements.lock`` at the same version with sha256 hashes, test-only tools stay out of the runtime set,
and every third-party module imported by ``src/`` (runtime) or ``tests/`` + ``scripts/`` (runtime + test
extra) belongs to a declared distribution.
"""

from __future__ import annotations

import ast
import importlib.metadata as md
import re
import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
TEST_ONLY = {"pytest", "hypothesis", "schemathesis", "playwright", "httpx", "psutil"}


def _reqs(key: str | None = None) -> dict[str, Requirement]:
    items = PYPROJECT["project"]["dependencies"] if key is None else PYPROJECT["project"]["optional-dependencies"][key]
    return {canonicalize_name(r.name): r for r in map(Requirement, items)}


def _lock() -> dict[str, tuple[str, list[str]]]:
    """name -> (version, hashes) parsed from requirements.lock."""
    out: dict[str, tuple[str, list[str]]] = {}
    for block in re.split(r"\n(?=[A-Za-z0-9])", (ROOT / "requirements.lock").read_text()):
        m = re.match(r"([A-Za-z0-9_.\-]+)(?:\[[^\]]*\])?==([^\s\\;]+)", block)
        if m:
            out[canonicalize_name(m.group(1))] = (m.group(2), re.findall(r"--hash=sha256:([0-9a-f]{64})", block))
    return out


def test_every_pin_is_exact_and_locked_with_hashes() -> None:
    lock = _lock()
    assert len(lock) > 100
    for name, req in {**_reqs(), **_reqs("test")}.items():
        specs = list(req.specifier)
        assert len(specs) == 1 and specs[0].operator == "==", f"pyproject: {req} is not an exact pin"
        assert name in lock, f"requirements.lock lacks {name}: run `bash scripts/lock.sh`"
        version, hashes = lock[name]
        assert specs[0].contains(version), f"{name}: pyproject {specs[0]} but lock {version}: run scripts/lock.sh"
    unhashed = [n for n, (_, h) in lock.items() if not h]
    assert not unhashed, f"lock entries without hashes: {unhashed}"
    assert lock["torch"][0].endswith("+cpu"), "torch must be the CPU build"


def test_test_tools_are_not_runtime_dependencies_and_unused_ones_are_gone() -> None:
    runtime, test = _reqs(), _reqs("test")
    assert TEST_ONLY <= set(test), TEST_ONLY - set(test)
    assert not TEST_ONLY & set(runtime), TEST_ONLY & set(runtime)
    assert "polars" not in runtime and "polars" not in _lock()
    extras = runtime["kedro-datasets"].extras
    provided = set(md.distribution("kedro-datasets").metadata.get_all("Provides-Extra") or [])
    used = {f"{m}-{c.lower()}" for m, c in re.findall(r"type:\s*([a-z]+)\.([A-Za-z]+Dataset)", "\n".join(
        p.read_text() for p in (ROOT / "conf").rglob("catalog*.yml")))} & provided  # some types need no extra
    assert used <= extras, f"the catalog uses datasets whose extras are not declared: {sorted(used - extras)}"
    assert extras <= used, f"kedro-datasets extras no catalog entry uses: {sorted(extras - used)}"


def _imported_modules(folders: list[str]) -> set[str]:
    mods: set[str] = set()
    for folder in folders:
        for path in (ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Import):
                    mods |= {a.name.split(".")[0] for a in node.names}
                elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                    mods.add(node.module.split(".")[0])
    return mods - set(sys.stdlib_module_names) - {"discovery_pipelines", "_project", "conftest", "__future__"}


def _undeclared(folders: list[str], declared: set[str]) -> dict[str, list[str]]:
    """Imported modules whose distribution is not declared (a transitive dependency does not count)."""
    dists = md.packages_distributions()
    missing = {}
    for mod in sorted(_imported_modules(folders)):
        owners = {canonicalize_name(d) for d in dists.get(mod, [])}
        assert owners, f"{mod} is imported but no installed distribution provides it"
        if not owners & declared:
            missing[mod] = sorted(owners)
    return missing


def test_src_imports_only_declared_runtime_dependencies() -> None:
    declared = set(_reqs())
    assert _undeclared(["src"], declared) == {}


def test_tests_and_scripts_import_only_declared_dependencies() -> None:
    declared = set(_reqs()) | set(_reqs("test"))
    assert _undeclared(["tests", "scripts"], declared) == {}


def test_setup_installs_from_the_lock_with_hashes_and_torch_from_one_source() -> None:
    """No second index may shadow a registry package: no extra index and no unsafe-best-match; torch is
    installed alone (--no-deps --no-index) from one find-links source, the rest with --require-hashes."""
    sh = (ROOT / "scripts" / "setup.sh").read_text()
    code = "\n".join(line for line in sh.splitlines() if not line.lstrip().startswith("#"))
    assert "unsafe-best-match" not in code and "extra-index-url" not in code and "--index-url" not in code
    installs = [line for line in code.splitlines() if "pip install" in line]
    torch_line = next(line for line in installs if '"$TORCH_REQ"' in line)
    assert all(f in torch_line for f in ("--require-hashes", "--no-deps", "--no-index", "--find-links"))
    lock_line = next(line for line in installs if "-r requirements.lock" in line)
    assert "--require-hashes" in lock_line and "--find-links" not in lock_line
