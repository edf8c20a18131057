"""Content-hash stage caching for Kedro: skip a node whose inputs, parameters and code are unchanged.

Kedro re-runs every node of a pipeline, and ``--only-missing-outputs`` only looks at whether output
files *exist*, so it silently reuses stale outputs after a code or parameter change. This module
implements the build-system rule used by Make/Bazel/DVC ("a target is up to date when the content
hash of everything it was built from is unchanged"), applied to Kedro nodes:

A node is **skipped** when, at the moment it would run (decisions are taken in topological order,
after upstream nodes have finished),

1. every non-parameter input is a persisted local file or folder and its content hash
   (SHA-256 over the bytes; folders: over the sorted relative paths and the file digests) equals
   the one recorded at the node's last successful run;
2. every ``params:...`` / ``parameters`` input has the same canonical-JSON hash (and, for the
   parameter keys listed in ``path_params``, the files or folders they name have the same content);
3. its code fingerprint is unchanged: the node function's source plus the source of every module
   of the project's own packages that the function's module references (transitively), plus the
   ``extra_code_paths`` (comments and formatting are ignored: sources are compared as ASTs with
   docstrings removed), and the numeric precision models run at (``discovery_pipelines.search.precision``);
4. the catalog entries of its inputs and outputs (dataset type, filepath, load/save args) are
   unchanged; and
5. every output is a persisted local file or folder that still exists with the content hash recorded
   when the node last wrote it.

Otherwise the node **runs**, and after it succeeds its fingerprint and output hashes are stored.
Because a child's input hash is the hash of the parent's output file, a change re-runs everything
downstream of it *whose input bytes actually changed*: a parent that re-runs and writes
byte-identical output lets its children skip (the "early cut-off" of build systems, Mokhov,
Mitchell & Peyton Jones, *Build Systems à la Carte*, ICFP 2018).

Nodes with an input or output that is not a local file (``MemoryDataset``, parameters-only nodes
with no outputs, database / remote datasets) cannot be verified, so they always run; their
in-memory outputs then feed their children, which therefore also run.

State lives in ``<cache_dir>/state.sqlite`` (default ``data/.stage_cache/``):

* ``files``: digest cache keyed by ``(path, size, mtime_ns, inode)`` so unchanged files are not
  re-read (files modified in the last 2 s are always re-read, the "racy timestamp" rule of git);
* ``nodes``: one record per node name (fingerprint parts + output digests), written right after
  the node succeeds and deleted when it fails, so a crash never leaves a record for a half-run node.

Each run also writes ``<cache_dir>/last_run.json``: per node ``status`` (skipped / ran / failed),
the ``reason`` and the ``seconds`` it took.

Usage (``kedro run`` in this project uses it by default, see ``discovery_pipelines.cli``)::

    kedro run                                    # skips up-to-date nodes
    kedro run --no-cache                         # runs everything, refreshes the records
    kedro run --runner=discovery_pipelines.stage_cache.CachingRunner --runner-params=cache_dir=/tmp/c

Configuration: constructor arguments (``--runner-params``) and, merged with them, a ``stage_cache``
block in the Kedro parameters (``conf/base/parameters_stage_cache.yml``) with the keys
``path_params``, ``extra_code_paths``, ``code_packages`` and ``package_versions``.

Kedro node hooks (``before_node_run`` / ``after_node_run``) do not fire for skipped nodes; pipeline
hooks do (so kedro-mlflow still opens and closes its run).
"""

from __future__ import annotations

import ast
import functools
import hashlib
import importlib.metadata
import inspect
import json
import linecache
import logging
import os
import re
import sqlite3
import sys
import sysconfig
import textwrap
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path, PurePath
from types import ModuleType
from typing import TYPE_CHECKING, Any

from kedro.runner import SequentialRunner
from kedro.runner.task import Task

from discovery_pipelines.data.io import write_json

if TYPE_CHECKING:
    from kedro.io import CatalogProtocol
    from kedro.pipeline import Pipeline
    from kedro.pipeline.node import Node
    from pluggy import PluginManager

logger = logging.getLogger(__name__)

DEFAULT_CACHE_DIR = "data/.stage_cache"
"""Default state folder, relative to the working directory (the project root under ``kedro run``)."""

_CHUNK = 1 << 20
_RACY_WINDOW_NS = 2_000_000_000
_LOCAL_PROTOCOLS = {None, "", "file", "local"}
_ADDRESS_RE = re.compile(r" at 0x[0-9a-fA-F]+")


# --------------------------------------------------------------------------------------------
# Hashing primitives
# --------------------------------------------------------------------------------------------


def canonical_json(value: Any) -> str:
    """Serialise ``value`` deterministically: sorted keys, no whitespace, ``repr`` for the rest.

    Object reprs are stripped of memory addresses (``<... at 0x7f...>``) so they are stable
    between processes.
    """
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=repr, ensure_ascii=False)
    return _ADDRESS_RE.sub("", text)


def sha256_text(text: str) -> str:
    """Hex SHA-256 of UTF-8 ``text``."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def normalized_python_source(source: str) -> str:
    """Canonical form of Python source: the AST dump with docstrings removed.

    Two sources that differ only in comments, blank lines, formatting or docstrings give the same
    string, so editing documentation does not invalidate cached stages. Falls back to the raw
    text when ``source`` does not parse.
    """
    try:
        tree = ast.parse(textwrap.dedent(source))
    except SyntaxError:
        return source
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (
            isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
            and body
            and isinstance(body[0], ast.Expr)
            and isinstance(body[0].value, ast.Constant)
            and isinstance(body[0].value.value, str)
        ):
            node.body = body[1:] or [ast.Pass()]
    return ast.dump(tree, include_attributes=False)


class StateStore:
    """SQLite state of the stage cache: file-digest cache and per-node records.

    Args:
        cache_dir: folder for ``state.sqlite`` (created if missing).

    The connection uses a 60 s busy timeout so concurrent ``kedro run`` processes sharing one
    checkout serialise their (short) writes instead of failing.
    """

    def __init__(self, cache_dir: str | os.PathLike[str]):
        self.cache_dir = Path(cache_dir)
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        self.path = self.cache_dir / "state.sqlite"
        self._con = sqlite3.connect(self.path, timeout=60, isolation_level=None)
        self._con.execute("PRAGMA journal_mode=WAL")
        self._con.execute(
            "CREATE TABLE IF NOT EXISTS files (path TEXT PRIMARY KEY, size INTEGER, "
            "mtime_ns INTEGER, inode INTEGER, digest TEXT)"
        )
        self._con.execute(
            "CREATE TABLE IF NOT EXISTS nodes (name TEXT PRIMARY KEY, record TEXT, updated REAL)"
        )
        self.files_hashed = 0
        self.bytes_hashed = 0

    def close(self) -> None:
        """Close the database connection."""
        self._con.close()

    # -- file digests --------------------------------------------------------------------
    def file_digest(self, path: Path) -> str:
        """SHA-256 of the bytes of regular file ``path``, reusing a cached digest when the file's
        ``(size, mtime_ns, inode)`` is unchanged and it was not modified in the last 2 seconds.

        Raises:
            FileNotFoundError: ``path`` does not exist.
        """
        key = str(path.resolve())
        st = path.stat()
        row = self._con.execute(
            "SELECT size, mtime_ns, inode, digest FROM files WHERE path = ?", (key,)
        ).fetchone()
        if row is not None and tuple(row[:3]) == (st.st_size, st.st_mtime_ns, st.st_ino):
            return str(row[3])
        with open(path, "rb") as fh:
            digest = hashlib.file_digest(fh, "sha256").hexdigest()
        self.files_hashed += 1
        self.bytes_hashed += st.st_size
        if time.time_ns() - st.st_mtime_ns > _RACY_WINDOW_NS:
            self._con.execute(
                "INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?, ?)",
                (key, st.st_size, st.st_mtime_ns, st.st_ino, digest),
            )
        return digest

    def path_digest(self, path: str | os.PathLike[str]) -> str | None:
        """Content digest of a file or folder, or ``None`` when it does not exist.

        A folder's digest is the SHA-256 of ``"<relative posix path>\\0<file digest>\\n"`` lines
        over all files below it in sorted order (empty folders contribute nothing).
        """
        p = Path(path)
        if p.is_file():
            return "f:" + self.file_digest(p)
        if p.is_dir():
            h = hashlib.sha256()
            files = sorted(
                (Path(root) / name for root, _, names in os.walk(p) for name in names),
                key=lambda f: f.relative_to(p).as_posix(),
            )
            for f in files:
                if f.is_file():
                    h.update(f"{f.relative_to(p).as_posix()}\0{self.file_digest(f)}\n".encode())
            return "d:" + h.hexdigest()
        return None

    # -- node records ----------------------------------------------------------------------
    def get_node(self, name: str) -> dict[str, Any] | None:
        """The record stored for node ``name`` at its last successful run, or ``None``."""
        row = self._con.execute("SELECT record FROM nodes WHERE name = ?", (name,)).fetchone()
        return json.loads(row[0]) if row else None

    def put_node(self, name: str, record: Mapping[str, Any]) -> None:
        """Store the record of a node that just succeeded."""
        self._con.execute(
            "INSERT OR REPLACE INTO nodes VALUES (?, ?, ?)",
            (name, json.dumps(record, sort_keys=True), time.time()),
        )

    def delete_node(self, name: str) -> None:
        """Forget node ``name`` (it failed, so its outputs may be partial)."""
        self._con.execute("DELETE FROM nodes WHERE name = ?", (name,))


# --------------------------------------------------------------------------------------------
# Code fingerprints
# --------------------------------------------------------------------------------------------


def _unwrap_callable(func: Any) -> Any:
    while isinstance(func, functools.partial):
        func = func.func
    func = inspect.unwrap(func)
    if not (inspect.isfunction(func) or inspect.ismethod(func) or inspect.isclass(func)):
        if callable(func) and not inspect.isbuiltin(func):
            return type(func)  # callable object: its class holds the code
    return func


def _is_installed_module(module: ModuleType) -> bool:
    filename = getattr(module, "__file__", None)
    if not filename:
        return True
    roots = {sysconfig.get_paths()[k] for k in ("purelib", "platlib", "stdlib", "platstdlib")}
    resolved = str(Path(filename).resolve())
    return any(resolved.startswith(str(Path(r).resolve())) for r in roots)


class CodeFingerprinter:
    """Fingerprint of the code a Kedro node executes.

    The fingerprint of a node function ``f`` hashes

    * the normalised source of ``f`` itself (``inspect.getsource``),
    * the normalised source of ``f``'s module and of every module of the *project packages* it
      references, transitively (a module references another when one of its globals is that
      module, or a function/class defined in it),
    * the ``extra_code_paths`` (files, or folders of files; ``.py`` files normalised), and
    * the versions of the ``package_versions`` distributions.

    Project packages are ``code_packages`` plus the top-level package of ``f`` when it is not
    installed in site-packages / the standard library (functions of third-party libraries are
    fingerprinted by qualified name and library version instead).

    Args:
        code_packages: extra top-level package names whose modules are followed.
        extra_code_paths: files or folders whose content is part of every node's fingerprint.
        package_versions: distribution names whose installed version is part of every fingerprint.
    """

    def __init__(
        self,
        code_packages: Iterable[str] = (),
        extra_code_paths: Iterable[str | os.PathLike[str]] = (),
        package_versions: Iterable[str] = (),
        store: StateStore | None = None,
    ):
        self.code_packages = {p.split(".")[0] for p in code_packages}
        self.extra_code_paths = [Path(p) for p in extra_code_paths]
        self.package_versions = sorted(set(package_versions))
        self._store = store
        self._module_digest: dict[str, str] = {}
        self._module_deps: dict[str, set[str]] = {}
        self._module_split: dict[str, tuple[dict[str, str], str] | None] = {}
        self._common: str | None = None

    def _module_source_digest(self, name: str) -> str:
        if name not in self._module_digest:
            module = sys.modules[name]
            filename = getattr(module, "__file__", None)
            try:
                text = Path(filename).read_text(encoding="utf-8") if filename else ""
            except (OSError, UnicodeDecodeError):
                text = ""
            if filename and filename.endswith(".py"):
                text = normalized_python_source(text)
            self._module_digest[name] = sha256_text(text or name)
        return self._module_digest[name]

    def _deps(self, name: str, packages: set[str]) -> set[str]:
        if name not in self._module_deps:
            deps: set[str] = set()
            for value in list(vars(sys.modules[name]).values()):
                if isinstance(value, ModuleType):
                    dep = value.__name__
                else:
                    dep = getattr(value, "__module__", None)
                    if not isinstance(dep, str) or not (
                        inspect.isfunction(value) or inspect.isclass(value)
                    ):
                        continue
                if dep.split(".")[0] in packages and dep in sys.modules and dep != name:
                    deps.add(dep)
            self._module_deps[name] = deps
        return self._module_deps[name]

    def module_closure(self, module_name: str, packages: set[str]) -> list[str]:
        """Sorted names of ``module_name`` and the project modules it references transitively."""
        seen: set[str] = set()
        todo = [module_name]
        while todo:
            name = todo.pop()
            if name in seen or name not in sys.modules:
                continue
            seen.add(name)
            todo.extend(self._deps(name, packages) - seen)
        return sorted(seen)

    def _common_digest(self) -> str:
        if self._common is None:
            parts: list[str] = []
            for p in self.extra_code_paths:
                if p.is_file() and p.suffix == ".py":
                    parts.append(f"{p}:{sha256_text(normalized_python_source(p.read_text('utf-8')))}")
                elif self._store is not None:
                    parts.append(f"{p}:{self._store.path_digest(p)}")
                else:
                    parts.append(f"{p}:{p.exists()}")
            for dist in self.package_versions:
                try:
                    parts.append(f"{dist}=={importlib.metadata.version(dist)}")
                except importlib.metadata.PackageNotFoundError:
                    parts.append(f"{dist}==<absent>")
            # the numeric precision models run at (bf16 where native under "auto") changes their outputs
            from discovery_pipelines.search.precision import resolve_precision

            parts.append(f"precision={resolve_precision()}")
            self._common = sha256_text("\n".join(parts))
        return self._common

    def _module_ast(self, name: str) -> tuple[dict[str, str], str] | None:
        """``({top-level function name: normalised def}, normalised rest of the module)``."""
        if name not in self._module_split:
            module = sys.modules[name]
            filename = getattr(module, "__file__", None)
            result = None
            if filename and filename.endswith(".py"):
                try:
                    tree = ast.parse(Path(filename).read_text(encoding="utf-8"))
                except (OSError, UnicodeDecodeError, SyntaxError):
                    tree = None
                if tree is not None:
                    funcs: dict[str, str] = {}
                    rest: list[ast.stmt] = []
                    for stmt in tree.body:
                        if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef):
                            funcs[stmt.name] = normalized_python_source(ast.unparse(stmt))
                        else:
                            rest.append(stmt)
                    skeleton = normalized_python_source(ast.unparse(ast.Module(body=rest, type_ignores=[])))
                    result = (funcs, skeleton)
            self._module_split[name] = result
        return self._module_split[name]

    @staticmethod
    def _referenced_names(normalized_def: str) -> set[str]:
        return set(re.findall(r"Name\(id='([^']+)'", normalized_def))

    def _function_closure_digest(self, module_name: str, func_name: str) -> str | None:
        """Digest of top-level function ``func_name`` of ``module_name``: its own source, the
        sources of the module's other top-level functions it (or module-level code such as a
        registry dict) references, transitively, and the rest of the module (imports, constants,
        classes). ``None`` if ``func_name`` is not a top-level def."""
        split = self._module_ast(module_name)
        if split is None or func_name not in split[0]:
            return None
        funcs, skeleton = split
        seen: set[str] = set()
        # functions referenced by module-level code (e.g. a registry dict) count for every node
        todo = [func_name, *self._referenced_names(skeleton)]
        while todo:
            name = todo.pop()
            if name in seen or name not in funcs:
                continue
            seen.add(name)
            todo.extend(self._referenced_names(funcs[name]) - seen)
        parts = [f"skeleton:{sha256_text(skeleton)}"]
        parts.extend(f"def:{n}:{sha256_text(funcs[n])}" for n in sorted(seen))
        return sha256_text("\n".join(parts))

    def fingerprint(self, func: Any) -> tuple[str, list[str]]:
        """Return ``(digest, modules)``: the code digest of ``func`` and the project modules hashed.

        Within the node function's own module only the function, the same-module functions it
        calls and the module's non-function statements count (so editing one node of a
        ``nodes.py`` does not invalidate its siblings); the other project modules it references
        count whole.
        """
        target = _unwrap_callable(func)
        module_name = getattr(target, "__module__", None) or ""
        module = sys.modules.get(module_name)
        qualname = getattr(target, "__qualname__", repr(target))
        parts = [f"callable:{module_name}:{qualname}"]
        modules: list[str] = []
        if module is not None and not _is_installed_module(module):
            own = self._function_closure_digest(module_name, qualname)
            if own is not None:
                parts.append("own:" + own)
            else:  # method, lambda, nested function, callable object: own source + whole module
                linecache.checkcache(getattr(module, "__file__", None))
                try:
                    parts.append("source:" + sha256_text(normalized_python_source(inspect.getsource(target))))
                except (OSError, TypeError):
                    code = getattr(target, "__code__", None)
                    parts.append("bytecode:" + (hashlib.sha256(code.co_code).hexdigest() if code else ""))
                parts.append(f"module:{module_name}:{self._module_source_digest(module_name)}")
            packages = self.code_packages | {module_name.split(".")[0]}
            modules = self.module_closure(module_name, packages)
            parts.extend(
                f"module:{m}:{self._module_source_digest(m)}" for m in modules if m != module_name
            )
        else:
            top = module_name.split(".")[0]
            try:
                parts.append(f"dist:{top}=={importlib.metadata.version(top)}")
            except (importlib.metadata.PackageNotFoundError, ValueError):
                parts.append(f"python:{sys.version}")
        parts.append("common:" + self._common_digest())
        return sha256_text("\n".join(parts)), modules


# --------------------------------------------------------------------------------------------
# Datasets
# --------------------------------------------------------------------------------------------


def _is_param(name: str) -> bool:
    return name == "parameters" or name.startswith("params:")


def dataset_local_path(dataset: Any, for_save: bool = False) -> Path | None:
    """Local filesystem path a Kedro dataset reads/writes, or ``None`` if it is not file-backed.

    Handles fsspec-based datasets (``_filepath`` + ``_protocol``; versioned datasets resolve the
    latest load version, or the current save version with ``for_save``) and
    ``PartitionedDataset``-style datasets (``_path``). Memory, parameter, database and remote
    (``s3://`` ...) datasets return ``None``.
    """
    if getattr(dataset, "_EPHEMERAL", False):
        return None
    protocol = getattr(dataset, "_protocol", None)
    if protocol not in _LOCAL_PROTOCOLS:
        return None
    raw: Any = None
    if getattr(dataset, "_version", None) and hasattr(dataset, "_get_versioned_path"):
        try:
            version = dataset.resolve_save_version() if for_save else dataset.resolve_load_version()
            raw = dataset._get_versioned_path(version)
        except Exception:  # noqa: BLE001  (no version yet: treat as missing file)
            raw = PurePath(str(getattr(dataset, "_filepath", ""))) / "<no-version>"
    elif getattr(dataset, "_filepath", None) is not None:
        raw = dataset._filepath
    elif isinstance(getattr(dataset, "_path", None), str | PurePath):
        raw = dataset._path
        if "://" in str(raw) and not str(raw).startswith("file://"):
            return None
        raw = str(raw).removeprefix("file://")
    if raw is None or str(raw) == "":
        return None
    return Path(str(raw))


def dataset_config(dataset: Any) -> str:
    """Canonical JSON of a dataset's type and ``_describe()`` (minus the run-specific ``version``)."""
    try:
        desc = dict(dataset._describe())
    except Exception:  # noqa: BLE001
        desc = {}
    desc.pop("version", None)
    return canonical_json({"type": f"{type(dataset).__module__}.{type(dataset).__qualname__}", **desc})


def _lookup(value: Any, dotted: str) -> tuple[bool, Any]:
    cur = value
    for part in dotted.split(".") if dotted else []:
        if isinstance(cur, Mapping) and part in cur:
            cur = cur[part]
        else:
            return False, None
    return True, cur


# --------------------------------------------------------------------------------------------
# The runner
# --------------------------------------------------------------------------------------------


@dataclass
class NodeDecision:
    """Outcome for one node of a run: ``status`` is ``skipped``, ``ran`` or ``failed``."""

    node: str
    status: str
    reason: str
    seconds: float = 0.0
    details: list[str] = field(default_factory=list)


def _as_bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() not in {"0", "false", "no", "off", ""}
    return bool(value)


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [v for v in re.split(r"[,%s]" % re.escape(os.pathsep), value) if v.strip()]
    return [str(v) for v in value]


class CachingRunner(SequentialRunner):
    """``SequentialRunner`` that skips nodes whose content fingerprint is unchanged.

    See the module docstring for the exact rule. Decisions are taken node by node in topological
    order, so a node whose upstream re-ran but wrote identical bytes is still skipped.

    Args:
        is_async: as for ``SequentialRunner`` (threaded load/save).
        cache_dir: state folder (``state.sqlite``, ``last_run.json``); default
            ``$DISCOVERY_STAGE_CACHE_DIR`` or ``data/.stage_cache`` under the working directory.
        enabled: ``False`` runs every node (``kedro run --no-cache``) but still records fresh state.
        code_packages: extra top-level packages whose modules count as the node's code.
        extra_code_paths: files/folders hashed into every node's code fingerprint.
        path_params: dotted parameter keys (e.g. ``ingest.path``) whose values are local paths;
            the content of those files/folders is hashed with the parameter.
        package_versions: distributions whose versions are part of every code fingerprint.

    Every list argument also accepts a comma-separated string (for ``--runner-params``) and is
    merged with the same key of the ``stage_cache`` parameters block.

    Attributes:
        decisions: the ``NodeDecision`` list of the last run.
    """

    def __init__(  # noqa: PLR0913
        self,
        is_async: bool = False,
        cache_dir: str | os.PathLike[str] | None = None,
        enabled: bool | str = True,
        code_packages: Iterable[str] | str = (),
        extra_code_paths: Iterable[str | os.PathLike[str]] | str = (),
        path_params: Iterable[str] | str = (),
        package_versions: Iterable[str] | str = (),
    ):
        super().__init__(is_async=_as_bool(is_async))
        self.cache_dir = Path(cache_dir or os.environ.get("DISCOVERY_STAGE_CACHE_DIR", DEFAULT_CACHE_DIR))
        self.enabled = _as_bool(enabled)
        self.code_packages = _as_list(code_packages)
        self.extra_code_paths = _as_list(extra_code_paths)
        self.path_params = _as_list(path_params)
        self.package_versions = _as_list(package_versions)
        self.decisions: list[NodeDecision] = []

    # -- configuration from the ``stage_cache`` parameters ----------------------------------
    def _configure(self, catalog: CatalogProtocol) -> None:
        conf: Mapping[str, Any] = {}
        try:
            if "parameters" in catalog:
                params = catalog.get("parameters").load()
                if isinstance(params, Mapping) and isinstance(params.get("stage_cache"), Mapping):
                    conf = params["stage_cache"]
        except Exception:  # noqa: BLE001  (no parameters: defaults only)
            conf = {}
        self._path_params = sorted(set(self.path_params) | set(_as_list(conf.get("path_params"))))
        self._fingerprinter = CodeFingerprinter(
            code_packages=[*self.code_packages, *_as_list(conf.get("code_packages"))],
            extra_code_paths=[*self.extra_code_paths, *_as_list(conf.get("extra_code_paths"))],
            package_versions=[*self.package_versions, *_as_list(conf.get("package_versions"))],
            store=self._store,
        )

    # -- fingerprint of one node ---------------------------------------------------------------
    def _param_part(self, name: str, catalog: CatalogProtocol) -> dict[str, Any]:
        value = catalog.get(name).load()  # direct load: no "Loading data from" log line per node
        part: dict[str, Any] = {"value": sha256_text(canonical_json(value))}
        prefix = "" if name == "parameters" else name.removeprefix("params:")
        for key in self._path_params:
            if prefix and key != prefix and not key.startswith(prefix + "."):
                continue
            found, sub = _lookup(value, key[len(prefix) + 1 :] if prefix else key)
            if found and isinstance(sub, str | os.PathLike):
                part[f"path:{key}"] = self._store.path_digest(sub) or "<missing>"
        return part

    def _fingerprint(self, node: Node, catalog: CatalogProtocol) -> tuple[dict[str, Any] | None, str]:
        """Fingerprint parts of ``node``, or ``(None, why)`` when the node is not cacheable."""
        inputs: dict[str, str] = {}
        params: dict[str, Any] = {}
        config: dict[str, str] = {}
        if not node.outputs:
            return None, "node has no outputs to verify"
        for name in node.outputs:
            ds = catalog.get(name, fallback_to_runtime_pattern=True)
            if dataset_local_path(ds) is None:
                return None, f"output '{name}' is not a local file dataset ({type(ds).__name__})"
            config[name] = dataset_config(ds)
        for name in node.inputs:
            if _is_param(name):
                params[name] = self._param_part(name, catalog)
                continue
            ds = catalog.get(name, fallback_to_runtime_pattern=True)
            path = dataset_local_path(ds)
            if path is None:
                return None, f"input '{name}' is not a local file dataset ({type(ds).__name__})"
            inputs[name] = self._store.path_digest(path) or "<missing>"
            config[name] = dataset_config(ds)
        code, modules = self._fingerprinter.fingerprint(node.func)
        return {
            "code": code,
            "code_modules": modules,
            "params": params,
            "inputs": inputs,
            "config": sha256_text(canonical_json(config)),
        }, ""

    def _output_digests(self, node: Node, catalog: CatalogProtocol, for_save: bool) -> dict[str, str | None]:
        out: dict[str, str | None] = {}
        for name in node.outputs:
            ds = catalog.get(name, fallback_to_runtime_pattern=True)
            path = dataset_local_path(ds, for_save=for_save)
            out[name] = self._store.path_digest(path) if path is not None else None
            if out[name] is None and for_save:  # versioned dataset: fall back to latest version
                path = dataset_local_path(ds, for_save=False)
                out[name] = self._store.path_digest(path) if path is not None else None
        return out

    @staticmethod
    def _why_changed(parts: Mapping[str, Any], record: Mapping[str, Any]) -> list[str]:
        reasons: list[str] = []
        if parts["code"] != record.get("code"):
            reasons.append("code changed")
        old_params = record.get("params", {})
        changed = sorted(k for k in parts["params"] if parts["params"][k] != old_params.get(k))
        if changed:
            reasons.append("parameters changed: " + ", ".join(changed))
        old_inputs = record.get("inputs", {})
        changed = sorted(k for k in parts["inputs"] if parts["inputs"][k] != old_inputs.get(k))
        if changed:
            reasons.append("inputs changed: " + ", ".join(changed))
        if set(parts["inputs"]) != set(old_inputs) or set(parts["params"]) != set(old_params):
            reasons.append("node inputs renamed")
        if parts["config"] != record.get("config"):
            reasons.append("catalog entry changed")
        return reasons

    def _decide(self, node: Node, catalog: CatalogProtocol) -> tuple[bool, str, dict[str, Any] | None]:
        """Return ``(skip, reason, parts)`` for ``node``."""
        parts, why_not = self._fingerprint(node, catalog)
        if parts is None:
            return False, f"uncacheable: {why_not}", None
        if not self.enabled:
            return False, "cache disabled (--no-cache)", parts
        record = self._store.get_node(node.name)
        if record is None:
            return False, "no record of a previous successful run", parts
        reasons = self._why_changed(parts, record)
        if not reasons:
            current = self._output_digests(node, catalog, for_save=False)
            recorded = record.get("outputs", {})
            missing = sorted(k for k, v in current.items() if v is None)
            modified = sorted(k for k, v in current.items() if v is not None and v != recorded.get(k))
            if missing:
                reasons.append("outputs missing: " + ", ".join(missing))
            if modified:
                reasons.append("outputs modified since last run: " + ", ".join(modified))
        if reasons:
            return False, "; ".join(reasons), parts
        return True, "inputs, parameters and code unchanged; outputs verified", parts

    # -- the run loop ------------------------------------------------------------------------
    def _run(
        self,
        pipeline: Pipeline,
        catalog: CatalogProtocol,
        hook_manager: PluginManager | None = None,
        run_id: str | None = None,
    ) -> None:
        """Run ``pipeline`` node by node in topological order, skipping up-to-date nodes.

        Raises:
            Exception: whatever a node raises (its record is deleted first).
        """
        nodes = pipeline.nodes
        self._store = StateStore(self.cache_dir)
        self._configure(catalog)
        self.decisions = []
        load_counts = Counter(chain.from_iterable(n.inputs for n in nodes))
        done_nodes: set[Node] = set()
        started = time.perf_counter()
        logger.info(
            "Stage cache %s (state in %s)",
            "enabled" if self.enabled else "disabled: running every node",
            self.cache_dir,
        )
        try:
            for node in nodes:
                t0 = time.perf_counter()
                skip, reason, parts = self._decide(node, catalog)
                if skip:
                    self.decisions.append(NodeDecision(node.name, "skipped", reason, time.perf_counter() - t0))
                    logger.info("stage cache: skip %s (%s)", node.name, reason)
                else:
                    logger.info("stage cache: run %s (%s)", node.name, reason)
                    try:
                        Task(
                            node=node,
                            catalog=catalog,
                            hook_manager=hook_manager,
                            is_async=self._is_async,
                            run_id=run_id,
                        ).execute()
                    except Exception as exc:
                        self._store.delete_node(node.name)
                        self.decisions.append(
                            NodeDecision(node.name, "failed", f"{reason}; failed: {exc!r}", time.perf_counter() - t0)
                        )
                        self._suggest_resume_scenario(pipeline, done_nodes, catalog)
                        raise
                    if parts is not None:
                        outputs = self._output_digests(node, catalog, for_save=True)
                        if all(v is not None for v in outputs.values()):
                            self._store.put_node(node.name, {**parts, "outputs": outputs})
                        else:
                            self._store.delete_node(node.name)
                    self.decisions.append(NodeDecision(node.name, "ran", reason, time.perf_counter() - t0))
                done_nodes.add(node)
                self._logger.info("Completed %d out of %d tasks", len(done_nodes), len(nodes))
                self._release_datasets(node, catalog, load_counts, pipeline)
        finally:
            self._write_summary(run_id, time.perf_counter() - started)
            self._store.close()

    def _write_summary(self, run_id: str | None, seconds: float) -> None:
        counts = Counter(d.status for d in self.decisions)
        summary = {
            "run_id": run_id,
            "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "enabled": self.enabled,
            "seconds": round(seconds, 3),
            "counts": {k: counts.get(k, 0) for k in ("skipped", "ran", "failed")},
            "files_hashed": self._store.files_hashed,
            "bytes_hashed": self._store.bytes_hashed,
            "nodes": [
                {"node": d.node, "status": d.status, "reason": d.reason, "seconds": round(d.seconds, 3)}
                for d in self.decisions
            ],
        }
        write_json(summary, self.cache_dir / "last_run.json")
        logger.info(
            "Stage cache: %d skipped, %d ran, %d failed in %.1f s (%d files / %.1f MB hashed); summary in %s",
            summary["counts"]["skipped"],
            summary["counts"]["ran"],
            summary["counts"]["failed"],
            seconds,
            self._store.files_hashed,
            self._store.bytes_hashed / 1e6,
            self.cache_dir / "last_run.json",
        )
