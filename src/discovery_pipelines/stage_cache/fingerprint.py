"""Fingerprints of what a node is built from: its code, its parameters and the content of the files
and folders those parameters name.

* Code: :class:`CodeFingerprinter` (the node function, the same-module functions it reaches, the
  project modules it references, extra code paths, library versions, the numeric precision).
* Parameters: :func:`parameter_part` (canonical JSON of the value, plus the content digest of every
  key declared :data:`discovery_pipelines.data.paths.InputPath` by a registered parameter schema).
* Content: SHA-256 of files and folders, computed by :mod:`discovery_pipelines.data.io` (the one
  hashing implementation of the project) and memoised by :class:`~.store.StateStore`.
"""

from __future__ import annotations

import ast
import functools
import importlib.metadata
import inspect
import linecache
import os
import re
import sys
import sysconfig
import textwrap
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

from discovery_pipelines.data.io import canonical_json, sha256_bytes, sha256_json, sha256_text
from discovery_pipelines.data.paths import resolve_input_path
from discovery_pipelines.stage_cache.store import StateStore

__all__ = [
    "CodeFingerprinter",
    "canonical_json",
    "normalized_python_source",
    "parameter_part",
    "sha256_text",
]


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
                    parts.append("bytecode:" + (sha256_bytes(code.co_code) if code else ""))
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



def _lookup(value: Any, dotted: str) -> tuple[bool, Any]:
    cur = value
    for part in dotted.split(".") if dotted else []:
        if isinstance(cur, Mapping) and part in cur:
            cur = cur[part]
        else:
            return False, None
    return True, cur


def parameter_part(
    name: str, value: Any, content_keys: Iterable[str], store: StateStore
) -> dict[str, str]:
    """Fingerprint of one parameter input of a node.

    Args:
        name: the node input, ``parameters`` or ``params:<dotted key>``.
        value: its loaded value.
        content_keys: dotted keys from the top of the parameters (e.g. ``ingest.path``)
            whose values name files or folders read by the pipeline
            (:func:`discovery_pipelines.data.paths.content_hashed_keys`).
        store: digest memo.

    Returns:
        ``{"value": sha256 of the canonical JSON}`` plus ``{"path:<key>": content digest}`` for every
        content key inside ``value`` whose value is a string, resolved by
        :func:`discovery_pipelines.data.paths.resolve_input_path` (a packaged model name hashes its installed
        weights; ``"<missing>"`` when nothing exists there).
    """
    part = {"value": sha256_json(value)}
    prefix = "" if name == "parameters" else name.removeprefix("params:")
    for key in content_keys:
        if prefix and key != prefix and not key.startswith(prefix + "."):
            continue
        found, sub = _lookup(value, key[len(prefix) + 1 :] if prefix else key)
        if found and isinstance(sub, str | os.PathLike):
            part[f"path:{key}"] = store.path_digest(resolve_input_path(sub)) or "<missing>"
    return part
