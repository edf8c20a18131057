"""``CachingRunner``: a Kedro ``SequentialRunner`` that skips nodes whose inputs, parameters and
code are unchanged (the build-system rule of Make/Bazel/DVC: "a target is up to date when the
content hash of everything it was built from is unchanged"), applied to Kedro nodes.

A node is **skipped** when, at the moment it would run (decisions are taken in topological order,
after upstream nodes have finished),

1. every non-parameter input is a persisted local file or folder and its content hash
   (SHA-256 over the bytes; folders: over the sorted relative paths and the file digests) equals
   the one recorded at the node's last successful run;
2. every ``params:...`` / ``parameters`` input has the same canonical-JSON hash, and every file or
   folder named by a parameter declared ``InputPath`` in a registered parameter schema
   (:mod:`discovery_pipelines.data.paths`) has the same content;
3. its code fingerprint is unchanged (:class:`~.fingerprint.CodeFingerprinter`);
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

State: :class:`~.store.StateStore` (``<cache_dir>/state.sqlite``, default ``data/.stage_cache/``).
Each run also writes ``<cache_dir>/last_run.json``: the ``outcome`` (``completed`` / ``failed`` /
``interrupted``), the node it ``stopped_in``, and per node its ``status`` (``skipped`` / ``ran`` /
``failed`` / ``interrupted``), the ``reason`` and the ``seconds`` it took.

Usage (``kedro run`` in this project uses it by default, see ``discovery_pipelines.cli``)::

    kedro run                                    # skips up-to-date nodes
    kedro run --no-cache                         # runs everything, refreshes the records
    kedro run --runner=discovery_pipelines.stage_cache.CachingRunner --runner-params=cache_dir=/tmp/c

Configuration: constructor arguments (``--runner-params``) and, merged with them, a ``stage_cache``
block in the Kedro parameters (``conf/base/parameters_stage_cache.yml``) with the keys
``extra_code_paths``, ``code_packages`` and ``package_versions``.

Kedro node hooks (``before_node_run`` / ``after_node_run``) do not fire for skipped nodes; pipeline
hooks do. The private Kedro API this module needs is reached through :mod:`.kedro_api` only.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import signal
import threading
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from itertools import chain
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kedro.runner import Task

from discovery_pipelines.data.io import canonical_json, sha256_text, write_json
from discovery_pipelines.data.paths import content_hashed_keys
from discovery_pipelines.stage_cache import kedro_api
from discovery_pipelines.stage_cache.datasets import dataset_config, dataset_local_path, is_param, may_be_absent
from discovery_pipelines.stage_cache.fingerprint import CodeFingerprinter, parameter_part
from discovery_pipelines.stage_cache.store import StateStore

if TYPE_CHECKING:
    from kedro.io import CatalogProtocol
    from kedro.pipeline import Pipeline
    from kedro.pipeline.node import Node
    from pluggy import PluginManager

logger = logging.getLogger(__name__)

DEFAULT_CACHE_DIR = "data/.stage_cache"
"""Default state folder, relative to the working directory (the project root under ``kedro run``)."""


#: Recorded digest of an output that is missing by design (not written, e.g. a failed gate's release).
ABSENT = "<absent>"


class RunInterrupted(KeyboardInterrupt):
    """Raised inside a run when the process receives SIGTERM (as SIGINT raises ``KeyboardInterrupt``)."""


@dataclass
class NodeDecision:
    """Outcome for one node of a run: ``status`` is ``skipped``, ``ran``, ``failed`` or ``interrupted``."""

    node: str
    status: str
    reason: str
    seconds: float = 0.0


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


@contextlib.contextmanager
def _sigterm_interrupts() -> Iterator[None]:
    """While the run lasts, SIGTERM raises :class:`RunInterrupted` in the main thread (so the run is
    recorded as interrupted instead of the process dying without a summary)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        raise RunInterrupted(f"signal {signal.Signals(signum).name}")

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


class CachingRunner(kedro_api.BaseRunner):
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
        package_versions: distributions whose versions are part of every code fingerprint.

    Every list argument also accepts a comma-separated string (for ``--runner-params``) and is
    merged with the same key of the ``stage_cache`` parameters block.

    Attributes:
        decisions: the ``NodeDecision`` list of the last run.
        summary: the ``last_run.json`` content of the last run.
    """

    def __init__(  # noqa: PLR0913
        self,
        is_async: bool = False,
        cache_dir: str | os.PathLike[str] | None = None,
        enabled: bool | str = True,
        code_packages: Iterable[str] | str = (),
        extra_code_paths: Iterable[str | os.PathLike[str]] | str = (),
        package_versions: Iterable[str] | str = (),
    ):
        super().__init__(is_async=_as_bool(is_async))
        self.cache_dir = Path(cache_dir or os.environ.get("DISCOVERY_STAGE_CACHE_DIR", DEFAULT_CACHE_DIR))
        self.enabled = _as_bool(enabled)
        self.code_packages = _as_list(code_packages)
        self.extra_code_paths = _as_list(extra_code_paths)
        self.package_versions = _as_list(package_versions)
        self.decisions: list[NodeDecision] = []
        self.summary: dict[str, Any] = {}

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
        unknown = sorted(set(conf) - {"extra_code_paths", "code_packages", "package_versions"})
        if unknown:
            raise ValueError(
                f"unknown stage_cache parameter(s) {unknown}; known: code_packages, extra_code_paths, "
                "package_versions (paths of input files are declared with data.paths.InputPath, see docs/caching.md)"
            )
        self._content_keys = content_hashed_keys()
        self._fingerprinter = CodeFingerprinter(
            code_packages=[*self.code_packages, *_as_list(conf.get("code_packages"))],
            extra_code_paths=[*self.extra_code_paths, *_as_list(conf.get("extra_code_paths"))],
            package_versions=[*self.package_versions, *_as_list(conf.get("package_versions"))],
            store=self._store,
        )

    # -- fingerprint of one node ---------------------------------------------------------------
    def _param_parts(self, node: Node, catalog: CatalogProtocol) -> dict[str, Any]:
        # direct load: no "Loading data from" log line per node
        return {
            name: parameter_part(name, catalog.get(name).load(), self._content_keys, self._store)
            for name in node.inputs
            if is_param(name)
        }

    def _fingerprint(self, node: Node, catalog: CatalogProtocol) -> tuple[dict[str, Any] | None, str]:
        """Fingerprint parts of ``node``, or ``(None, why)`` when the node is not cacheable."""
        inputs: dict[str, str] = {}
        config: dict[str, str] = {}
        if not node.outputs:
            return None, "node has no outputs to verify"
        for name in node.outputs:
            ds = catalog.get(name, fallback_to_runtime_pattern=True)
            if dataset_local_path(ds) is None:
                return None, f"output '{name}' is not a local file dataset ({type(ds).__name__})"
            config[name] = dataset_config(ds)
        for name in node.inputs:
            if is_param(name):
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
            "params": self._param_parts(node, catalog),
            "inputs": inputs,
            "config": sha256_text(canonical_json(config)),
        }, ""

    def _output_digests(self, node: Node, catalog: CatalogProtocol, for_save: bool) -> dict[str, str | None]:
        """Content digest of each output; ``None`` when missing, :data:`ABSENT` when missing by design
        (a :func:`~.datasets.may_be_absent` dataset, e.g. a release the gate did not let through)."""
        out: dict[str, str | None] = {}
        for name in node.outputs:
            ds = catalog.get(name, fallback_to_runtime_pattern=True)
            path = dataset_local_path(ds, for_save=for_save)
            out[name] = self._store.path_digest(path) if path is not None else None
            if out[name] is None and for_save:  # versioned dataset: fall back to latest version
                path = dataset_local_path(ds, for_save=False)
                out[name] = self._store.path_digest(path) if path is not None else None
            if out[name] is None and may_be_absent(ds):
                out[name] = ABSENT
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
        if self._store.recovered_from is not None:
            return False, f"state database was damaged (moved to {self._store.recovered_from}): running without cache", parts
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

    def _record(self, node: Node, catalog: CatalogProtocol, parts: dict[str, Any]) -> None:
        """Store the record of ``node``, which just succeeded (or forget it if an output is missing).

        Content digests of declared input paths are taken again after the run: a node that itself
        writes below such a path (a simulator filling the events folder it is configured with)
        then matches its record on the next run instead of re-running once more.
        """
        outputs = self._output_digests(node, catalog, for_save=True)
        if all(v is not None for v in outputs.values()):
            self._store.put_node(node.name, {**parts, "params": self._param_parts(node, catalog), "outputs": outputs})
        else:
            self._store.delete_node(node.name)

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
            KeyboardInterrupt: Ctrl-C, or :class:`RunInterrupted` on SIGTERM (recorded as
                ``interrupted`` in ``last_run.json``, with the node it stopped in).
        """
        nodes = pipeline.nodes
        self._store = StateStore(self.cache_dir)
        self.decisions = []
        outcome, stopped_in = "completed", None
        started = time.perf_counter()
        try:
            self._configure(catalog)
            load_counts = Counter(chain.from_iterable(n.inputs for n in nodes))
            done_nodes: set[Node] = set()
            logger.info(
                "Stage cache %s (state in %s)",
                "enabled" if self.enabled else "disabled: running every node",
                self.cache_dir,
            )
            with _sigterm_interrupts():
                for node in nodes:
                    t0 = time.perf_counter()
                    reason = "deciding"
                    try:
                        skip, reason, parts = self._decide(node, catalog)
                        if skip:
                            self.decisions.append(NodeDecision(node.name, "skipped", reason, time.perf_counter() - t0))
                            logger.info("stage cache: skip %s (%s)", node.name, reason)
                        else:
                            logger.info("stage cache: run %s (%s)", node.name, reason)
                            Task(
                                node=node,
                                catalog=catalog,
                                hook_manager=hook_manager,
                                is_async=kedro_api.runner_is_async(self),
                                run_id=run_id,
                            ).execute()
                            if parts is not None:
                                self._record(node, catalog, parts)
                            self.decisions.append(NodeDecision(node.name, "ran", reason, time.perf_counter() - t0))
                    except BaseException as exc:
                        interrupted = not isinstance(exc, Exception)
                        outcome, stopped_in = ("interrupted" if interrupted else "failed"), node.name
                        self._store.delete_node(node.name)
                        self.decisions.append(
                            NodeDecision(node.name, outcome, f"{reason}; {outcome}: {exc!r}", time.perf_counter() - t0)
                        )
                        if not interrupted:
                            kedro_api.suggest_resume_scenario(self, pipeline, done_nodes, catalog)
                        raise
                    done_nodes.add(node)
                    kedro_api.runner_logger(self).info("Completed %d out of %d tasks", len(done_nodes), len(nodes))
                    kedro_api.release_datasets(self, node, catalog, load_counts, pipeline)
        except BaseException as exc:
            if outcome == "completed":  # raised outside any node (configuration, signal between nodes)
                outcome = "failed" if isinstance(exc, Exception) else "interrupted"
            raise
        finally:
            self._write_summary(run_id, time.perf_counter() - started, len(nodes), outcome, stopped_in)
            self._store.close()

    def _write_summary(
        self, run_id: str | None, seconds: float, n_nodes: int, outcome: str, stopped_in: str | None
    ) -> None:
        counts = Counter(d.status for d in self.decisions)
        summary = {
            "run_id": run_id,
            "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "outcome": outcome,
            "stopped_in": stopped_in,
            "enabled": self.enabled,
            "state_recovered_from": str(self._store.recovered_from) if self._store.recovered_from else None,
            "seconds": round(seconds, 3),
            "nodes_total": n_nodes,
            "nodes_not_reached": n_nodes - len(self.decisions),
            "counts": {k: counts.get(k, 0) for k in ("skipped", "ran", "failed", "interrupted")},
            "files_hashed": self._store.files_hashed,
            "bytes_hashed": self._store.bytes_hashed,
            "nodes": [
                {"node": d.node, "status": d.status, "reason": d.reason, "seconds": round(d.seconds, 3)}
                for d in self.decisions
            ],
        }
        self.summary = summary
        try:
            write_json(summary, self.cache_dir / "last_run.json")
        except OSError as exc:  # an unusable cache folder must not fail a run that did its work
            logger.warning("stage cache: cannot write %s (%s)", self.cache_dir / "last_run.json", exc)
        log = logger.warning if outcome != "completed" else logger.info
        log(
            "Stage cache: run %s%s; %d skipped, %d ran, %d failed in %.1f s (%d files / %.1f MB hashed); summary in %s",
            outcome,
            f" in node {stopped_in}" if stopped_in else "",
            summary["counts"]["skipped"],
            summary["counts"]["ran"],
            summary["counts"]["failed"],
            seconds,
            self._store.files_hashed,
            self._store.bytes_hashed / 1e6,
            self.cache_dir / "last_run.json",
        )
