"""Content-hash stage caching: real pipelines, real Parquet/JSON files on disk, the real runner.

Pipeline used (node functions live in a module file written to tmp so tests can edit its code):

    raw.json --clean(params:clean)--> cleaned.parquet --scale(params:scale)--> scaled.parquet
             \\                                                                  --summarize--> summary.json
              --count--> raw_count.json
"""

from __future__ import annotations

import importlib
import json
import sys
import textwrap
import uuid
from pathlib import Path
from typing import Any

import pytest
from kedro.io import DataCatalog
from kedro.pipeline import Pipeline, node

from discovery_pipelines.stage_cache import CachingRunner, StateStore, normalized_python_source

NODES_SOURCE = '''
"""Toy node functions (rewritten by the tests)."""
import pandas as pd

OFFSET = 0


def clean(raw: list, params: dict) -> pd.DataFrame:
    values = [v for v in raw if v >= params["min_value"]]
    return pd.DataFrame({"value": values})


def scale(df: pd.DataFrame, factor: float) -> pd.DataFrame:
    return df.assign(value=df["value"] * factor + OFFSET)


def summarize(df: pd.DataFrame) -> dict:
    if len(df) > 1000:
        raise RuntimeError("boom: too many rows")
    return {"n": int(len(df)), "total": float(df["value"].sum())}


def count(raw: list) -> dict:
    return {"n": len(raw)}
'''


class Project:
    """A tiny pipeline with file datasets under ``root``; ``run()`` builds a fresh catalog each time."""

    def __init__(self, root: Path):
        self.root = root
        self.code_dir = root / "code"
        self.code_dir.mkdir()
        self.module_name = f"stagecache_nodes_{uuid.uuid4().hex[:8]}"
        self.module_file = self.code_dir / f"{self.module_name}.py"
        self.module_file.write_text(NODES_SOURCE)
        sys.path.insert(0, str(self.code_dir))
        self.module = importlib.import_module(self.module_name)
        self.params: dict[str, Any] = {"clean": {"min_value": 0}, "scale": 2.0}
        self.data = root / "data"
        self.data.mkdir()
        self.write_raw([3, -1, 4, 1, 5, 9, 2, 6])
        self.cache_dir = root / "data" / ".stage_cache"

    def write_raw(self, values: list[int]) -> None:
        (self.data / "raw.json").write_text(json.dumps(values))

    def edit_code(self, old: str, new: str) -> None:
        text = self.module_file.read_text()
        assert old in text
        self.module_file.write_text(text.replace(old, new))
        importlib.invalidate_caches()
        sys.modules.pop(self.module_name, None)
        self.module = importlib.import_module(self.module_name)

    def pipeline(self) -> Pipeline:
        m = self.module
        return Pipeline(
            [
                node(m.clean, ["raw", "params:clean"], "cleaned", name="clean"),
                node(m.scale, ["cleaned", "params:scale"], "scaled", name="scale"),
                node(m.summarize, "scaled", "summary", name="summarize"),
                node(m.count, "raw", "raw_count", name="count"),
            ]
        )

    def catalog(self) -> DataCatalog:
        d = self.data
        catalog = DataCatalog.from_config(
            {
                "raw": {"type": "json.JSONDataset", "filepath": str(d / "raw.json")},
                "cleaned": {"type": "pandas.ParquetDataset", "filepath": str(d / "cleaned.parquet")},
                "scaled": {"type": "pandas.ParquetDataset", "filepath": str(d / "scaled.parquet")},
                "summary": {"type": "json.JSONDataset", "filepath": str(d / "summary.json")},
                "raw_count": {"type": "json.JSONDataset", "filepath": str(d / "raw_count.json")},
            }
        )
        catalog["parameters"] = self.params
        for key, value in self.params.items():
            catalog[f"params:{key}"] = value
        return catalog

    def run(self, pipeline: Pipeline | None = None, **runner_kwargs: Any) -> dict[str, str]:
        runner = CachingRunner(cache_dir=self.cache_dir, **runner_kwargs)
        try:
            runner.run(pipeline or self.pipeline(), self.catalog())
        finally:
            self.last_decisions = runner.decisions
        return {d.node: d.status for d in runner.decisions}

    def ran(self, statuses: dict[str, str]) -> set[str]:
        return {n for n, s in statuses.items() if s == "ran"}

    def close(self) -> None:
        sys.path.remove(str(self.code_dir))
        sys.modules.pop(self.module_name, None)


@pytest.fixture
def project(tmp_path: Path):
    p = Project(tmp_path)
    yield p
    p.close()


ALL = {"clean", "scale", "summarize", "count"}


def test_second_run_skips_everything_and_writes_summary(project: Project) -> None:
    first = project.run()
    assert project.ran(first) == ALL
    summary_before = json.loads((project.data / "summary.json").read_text())
    assert summary_before == {"n": 7, "total": 60.0}

    second = project.run()
    assert set(second.values()) == {"skipped"}, second
    assert json.loads((project.data / "summary.json").read_text()) == summary_before

    last = json.loads((project.cache_dir / "last_run.json").read_text())
    assert last["counts"] == {"skipped": 4, "ran": 0, "failed": 0, "interrupted": 0}
    assert last["outcome"] == "completed" and last["stopped_in"] is None and last["nodes_not_reached"] == 0
    assert {n["node"] for n in last["nodes"]} == ALL
    assert all(n["reason"].startswith("inputs, parameters and code unchanged") for n in last["nodes"])
    assert all(n["seconds"] >= 0 for n in last["nodes"])


def test_parameter_change_reruns_node_and_descendants_only(project: Project) -> None:
    project.run()
    project.params["scale"] = 3.0
    statuses = project.run()
    assert project.ran(statuses) == {"scale", "summarize"}
    reasons = {d.node: d.reason for d in project.last_decisions}
    assert "parameters changed: params:scale" in reasons["scale"]
    assert "inputs changed: scaled" in reasons["summarize"]
    assert json.loads((project.data / "summary.json").read_text())["total"] == 90.0
    # unchanged again -> everything skipped
    assert set(project.run().values()) == {"skipped"}


def test_whole_parameters_dict_and_nested_param_changes_are_detected(project: Project) -> None:
    project.run()
    project.params["clean"] = {"min_value": 4}
    statuses = project.run()
    assert project.ran(statuses) == {"clean", "scale", "summarize"}
    assert statuses["count"] == "skipped"
    assert json.loads((project.data / "summary.json").read_text()) == {"n": 4, "total": 48.0}


def test_input_file_change_reruns_its_consumers(project: Project) -> None:
    project.run()
    project.write_raw([3, -1, 4, 1, 5, 9, 2, 6, 7])
    statuses = project.run()
    assert project.ran(statuses) == ALL
    reasons = {d.node: d.reason for d in project.last_decisions}
    assert "inputs changed: raw" in reasons["clean"] and "inputs changed: raw" in reasons["count"]

    # A change that the filter removes: clean re-runs, writes identical bytes, downstream skips.
    project.write_raw([3, -1, 4, 1, 5, 9, 2, 6, 7, -5])
    statuses = project.run()
    assert project.ran(statuses) == {"clean", "count"}
    assert statuses["scale"] == statuses["summarize"] == "skipped"


def test_same_size_same_mtime_rewrite_is_still_detected(project: Project) -> None:
    """Content hashes, not (size, mtime): a same-length edit with the old mtime restored re-runs."""
    import os

    project.run()
    raw = project.data / "raw.json"
    st = raw.stat()
    raw.write_text(raw.read_text().replace("9", "8"))
    os.utime(raw, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert raw.stat().st_size == st.st_size
    statuses = project.run()
    assert "clean" in project.ran(statuses)


def test_deleted_output_reruns_its_producer(project: Project) -> None:
    project.run()
    (project.data / "scaled.parquet").unlink()
    statuses = project.run()
    assert statuses["scale"] == "ran"
    reasons = {d.node: d.reason for d in project.last_decisions}
    assert "outputs missing: scaled" in reasons["scale"]
    # the producer rewrote identical bytes, so its consumer is still up to date
    assert statuses["summarize"] == "skipped"
    assert statuses["clean"] == statuses["count"] == "skipped"


def test_tampered_output_reruns_its_producer(project: Project) -> None:
    project.run()
    (project.data / "summary.json").write_text('{"n": 0, "total": 0.0}')
    statuses = project.run()
    assert project.ran(statuses) == {"summarize"}
    assert json.loads((project.data / "summary.json").read_text()) == {"n": 7, "total": 60.0}


def test_code_change_reruns_that_node_but_comment_edits_do_not(project: Project) -> None:
    project.run()
    project.edit_code(
        'return df.assign(value=df["value"] * factor + OFFSET)',
        'return df.assign(value=df["value"] * factor + OFFSET + 1)',
    )
    statuses = project.run()
    assert project.ran(statuses) == {"scale", "summarize"}
    reasons = {d.node: d.reason for d in project.last_decisions}
    assert reasons["scale"].startswith("code changed")
    assert json.loads((project.data / "summary.json").read_text())["total"] == 67.0

    # comments, blank lines and docstrings are not code
    project.edit_code("def count(raw: list) -> dict:\n", 'def count(raw: list) -> dict:\n    """Count."""\n    # a comment\n\n')
    assert set(project.run().values()) == {"skipped"}

    # a module-level constant is code of every node in the module
    project.edit_code("OFFSET = 0", "OFFSET = 0.5")
    assert project.ran(project.run()) == ALL


def test_domain_module_change_reruns_nodes_that_reference_it(project: Project) -> None:
    """Code the node's module imports from the project package (here a helper module) counts."""
    helper = project.code_dir / f"{project.module_name}_helpers.py"
    helper.write_text("def bump(x):\n    return x + 1\n")
    project.edit_code("import pandas as pd\n", f"import pandas as pd\nfrom {helper.stem} import bump\n")
    project.run(code_packages=[helper.stem])
    assert set(project.run(code_packages=[helper.stem]).values()) == {"skipped"}
    helper.write_text("def bump(x):\n    return x + 2\n")
    sys.modules.pop(helper.stem, None)
    project.edit_code("OFFSET = 0", "OFFSET = 0  # reload")
    assert project.ran(project.run(code_packages=[helper.stem])) == ALL


def test_crash_mid_run_records_no_state_for_the_failed_node(project: Project) -> None:
    project.run()
    project.write_raw(list(range(2000)))  # summarize raises on > 1000 rows
    with pytest.raises(RuntimeError, match="boom"):
        project.run()
    statuses = {d.node: d.status for d in project.last_decisions}
    assert statuses["summarize"] == "failed"
    last = json.loads((project.cache_dir / "last_run.json").read_text())
    assert last["counts"]["failed"] == 1
    store = StateStore(project.cache_dir)
    try:
        assert store.get_node("summarize") is None
        assert store.get_node("scale") is not None  # finished nodes keep their fresh records
    finally:
        store.close()

    # Restore the original input: upstream outputs go back to the recorded bytes, but summarize
    # has no record any more, so it re-runs even though its inputs equal those of its last success.
    project.write_raw([3, -1, 4, 1, 5, 9, 2, 6])
    statuses = project.run()
    assert statuses["summarize"] == "ran"
    reasons = {d.node: d.reason for d in project.last_decisions}
    assert reasons["summarize"] == "no record of a previous successful run"


def _damage(db: Path) -> None:
    """Overwrite the start of every page after the header page: SQLite then reports
    "database disk image is malformed" on the first query."""
    data = bytearray(db.read_bytes())
    for off in range(4096, len(data), 4096):
        data[off : off + 100] = b"\xff" * 100
    db.write_bytes(data)


@pytest.mark.parametrize("damage", ["malformed", "not_a_database"])
@pytest.mark.parametrize("enabled", [True, False], ids=["cache", "no_cache"])
def test_damaged_state_database_is_moved_aside_and_the_run_proceeds(
    project: Project, damage: str, enabled: bool, caplog: pytest.LogCaptureFixture
) -> None:
    project.run()
    db = project.cache_dir / "state.sqlite"
    assert db.stat().st_size > 4096 and not Path(f"{db}-wal").exists()
    if damage == "malformed":
        _damage(db)
    else:
        db.write_bytes(b"this is not an sqlite file" * 200)
    damaged = db.read_bytes()
    with caplog.at_level("ERROR", logger="discovery_pipelines.stage_cache"):
        statuses = project.run(enabled=enabled)
    assert project.ran(statuses) == ALL
    moved = sorted(project.cache_dir.glob("state.sqlite.corrupt-*"))
    assert len(moved) == 1 and moved[0].read_bytes() == damaged      # kept for inspection, not deleted
    message = " ".join(r.getMessage() for r in caplog.records)
    assert str(db) in message and str(moved[0]) in message and "damaged" in message
    last = json.loads((project.cache_dir / "last_run.json").read_text())
    assert last["state_recovered_from"] == str(moved[0]) and last["outcome"] == "completed"
    # the records were rebuilt in a fresh database: the next run skips everything
    assert set(project.run().values()) == {"skipped"}


def test_an_unusable_cache_folder_runs_with_state_in_memory(project: Project, caplog) -> None:
    """``cache_dir`` that cannot hold a database (here: it is a regular file) is logged, and the run
    completes with its state in memory (every node runs, nothing is skipped on the next run either)."""
    blocker = project.root / "not_a_folder"
    blocker.write_text("a file where the cache folder should be")
    with caplog.at_level("WARNING", logger="discovery_pipelines.stage_cache"):
        runner = CachingRunner(cache_dir=blocker)
        runner.run(project.pipeline(), project.catalog())
    assert {d.status for d in runner.decisions} == {"ran"} and runner.summary["outcome"] == "completed"
    message = " ".join(r.getMessage() for r in caplog.records)
    assert f"cannot use {blocker / 'state.sqlite'}" in message and "in memory" in message
    assert blocker.read_text() == "a file where the cache folder should be"


def test_interrupted_run_is_recorded_with_the_node_it_stopped_in(project: Project) -> None:
    """Ctrl-C inside a node: last_run.json says the run was interrupted and where, the node keeps
    no record (its outputs may be partial), and the next run re-runs it."""
    project.run()
    project.edit_code('raise RuntimeError("boom: too many rows")', "raise KeyboardInterrupt")
    project.write_raw(list(range(2000)))
    with pytest.raises(KeyboardInterrupt):
        project.run()
    last = json.loads((project.cache_dir / "last_run.json").read_text())
    assert last["outcome"] == "interrupted" and last["stopped_in"] == "summarize"
    by_node = {n["node"]: n for n in last["nodes"]}
    assert by_node["summarize"]["status"] == "interrupted"
    assert last["counts"]["interrupted"] == 1 and last["counts"]["ran"] == len(by_node) - 1
    assert last["nodes_total"] == len(ALL) and last["nodes_not_reached"] == len(ALL) - len(by_node)
    store = StateStore(project.cache_dir)
    try:
        assert store.get_node("summarize") is None
    finally:
        store.close()


SIGTERM_SCRIPT = """
import sys, time
from pathlib import Path
from kedro.io import DataCatalog
from kedro.pipeline import Pipeline, node
from discovery_pipelines.stage_cache import CachingRunner

root = Path(sys.argv[1])

def first(x):
    return {"x": x}

def slow(d):
    (root / "started").write_text("1")
    time.sleep(60)
    return d

catalog = DataCatalog.from_config({
    "a": {"type": "json.JSONDataset", "filepath": str(root / "a.json")},
    "b": {"type": "json.JSONDataset", "filepath": str(root / "b.json")},
    "c": {"type": "json.JSONDataset", "filepath": str(root / "c.json")},
})
catalog["params:x"] = 1
pipe = Pipeline([node(first, "params:x", "a", name="first"), node(slow, "a", "b", name="slow"),
                 node(slow, "b", "c", name="after")])
CachingRunner(cache_dir=root / "cache").run(pipe, catalog)
"""


def test_sigterm_is_recorded_as_an_interruption(tmp_path: Path) -> None:
    """``kill <pid>`` (SIGTERM, what CI timeouts and process managers send) mid-node is recorded too."""
    import os
    import signal
    import subprocess
    import time

    script = tmp_path / "run.py"
    script.write_text(SIGTERM_SCRIPT)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen([sys.executable, str(script), str(tmp_path)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while not (tmp_path / "started").exists():
            assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
            assert time.monotonic() < deadline, "the pipeline did not reach its slow node"
            time.sleep(0.1)
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode != 0
    last = json.loads((tmp_path / "cache" / "last_run.json").read_text())
    assert last["outcome"] == "interrupted" and last["stopped_in"] == "slow"
    assert [n["status"] for n in last["nodes"]] == ["ran", "interrupted"] and last["nodes_not_reached"] == 1
    assert "SIGTERM" in last["nodes"][1]["reason"]


def test_memory_datasets_are_uncacheable_and_so_are_their_consumers(project: Project) -> None:
    m = project.module
    pipe = Pipeline(
        [
            node(m.clean, ["raw", "params:clean"], "cleaned_mem", name="clean_mem"),
            node(m.scale, ["cleaned_mem", "params:scale"], "scaled", name="scale"),
            node(m.count, "raw", "raw_count", name="count"),
        ]
    )
    project.run(pipe)
    statuses = project.run(pipe)
    assert statuses == {"clean_mem": "ran", "scale": "ran", "count": "skipped"}
    reasons = {d.node: d.reason for d in project.last_decisions}
    assert "output 'cleaned_mem' is not a local file dataset (MemoryDataset)" in reasons["clean_mem"]
    assert "input 'cleaned_mem' is not a local file dataset" in reasons["scale"]


def test_no_cache_runs_everything_and_refreshes_state(project: Project) -> None:
    project.run()
    statuses = project.run(enabled="False")  # as passed by --runner-params / --no-cache
    assert project.ran(statuses) == ALL
    assert set(project.run().values()) == {"skipped"}


def test_input_path_parameters_are_hashed_by_content_by_declaration(project: Project) -> None:
    """A parameter declared ``InputPath`` in a registered schema (like ``ingest.path``) is hashed by
    the content of the file or folder it names; undeclared strings are hashed as strings only."""
    from pydantic import BaseModel, ConfigDict

    from discovery_pipelines.data import paths

    folder = project.root / "src_data"
    folder.mkdir()
    (folder / "a.csv").write_text("x\n1\n")
    project.params["clean"] = {"min_value": 0, "source": str(folder)}
    # without a declaration the folder is just a string: adding a file changes nothing
    project.run()
    (folder / "b.csv").write_text("x\n2\n")
    assert project.run()["clean"] == "skipped"

    class CleanParams(BaseModel):
        model_config = ConfigDict(extra="forbid")
        min_value: int
        source: paths.InputPath

    key = f"clean_{uuid.uuid4().hex[:6]}"
    project.params[key] = project.params.pop("clean")
    paths.parameters_schema(key)(CleanParams)
    try:
        assert f"{key}.source" in paths.content_hashed_keys()
        m = project.module
        pipe = Pipeline([node(m.clean, ["raw", f"params:{key}"], "cleaned", name="clean")])
        project.run(pipe)
        assert project.run(pipe) == {"clean": "skipped"}
        (folder / "c.csv").write_text("x\n3\n")       # new content at the same path
        assert project.run(pipe) == {"clean": "ran"}
        assert f"parameters changed: params:{key}" in project.last_decisions[0].reason
        assert project.run(pipe) == {"clean": "skipped"}
        (folder / "a.csv").write_text("x\n9\n")       # same file names, other bytes
        assert project.run(pipe) == {"clean": "ran"}
    finally:
        paths._SCHEMAS.pop(key, None)


def test_stage_cache_parameters_reject_unknown_keys(project: Project) -> None:
    """The retired ``path_params`` list (or any misspelt key) is an error naming the key."""
    project.params["stage_cache"] = {"path_params": ["clean.source"]}
    with pytest.raises(ValueError, match=r"unknown stage_cache parameter\(s\) \['path_params'\]"):
        project.run()


def test_normalized_source_ignores_comments_and_docstrings() -> None:
    a = 'def f(x):\n    """Doc."""\n    return x + 1  # note\n'
    b = "def f(x):\n\n    return (x +\n            1)\n"
    c = "def f(x):\n    return x + 2\n"
    assert normalized_python_source(a) == normalized_python_source(b)
    assert normalized_python_source(a) != normalized_python_source(c)


@pytest.fixture
def kedro_project(tmp_path: Path, hd_small, monkeypatch) -> Path:
    """A copy of this project's configuration in ``tmp_path`` whose ``ingest`` reads three small
    contract tables (a real Home Depot slice) through the ``tables`` adapter."""
    import shutil

    root = Path(__file__).resolve().parents[2]
    proj = tmp_path / "proj"
    shutil.copytree(root / "conf", proj / "conf", ignore=shutil.ignore_patterns("local"))
    (proj / "conf" / "local").mkdir()
    shutil.copy(root / "pyproject.toml", proj / "pyproject.toml")
    (proj / "src").mkdir()   # the package itself is imported from this checkout
    raw = tmp_path / "raw"
    raw.mkdir()
    q = hd_small.queries.head(30)[["query_id", "text"]]
    r = hd_small.qrels[hd_small.qrels["query_id"].isin(set(q["query_id"]))][["query_id", "product_id", "gain"]]
    p = hd_small.products[hd_small.products["product_id"].isin(set(r["product_id"]))][["product_id", "title"]]
    for name, df in (("products", p), ("queries", q), ("qrels", r)):
        df.to_csv(raw / f"{name}.csv", index=False)
    (proj / "conf" / "local" / "parameters_ingest.yml").write_text(
        f"ingest:\n  source: tables\n  path: {raw}\n  tables:\n"
        + "".join(f"    {n}: {raw / (n + '.csv')}\n" for n in ("products", "queries", "qrels"))
    )
    # MLflow tracking is not what this test is about: off for ingest (kedro-mlflow's own switch)
    mlflow_yml = (root / "conf" / "base" / "mlflow.yml").read_text()
    assert "    pipelines: []" in mlflow_yml
    (proj / "conf" / "local" / "mlflow.yml").write_text(mlflow_yml.replace("    pipelines: []", "    pipelines: [ingest]"))
    monkeypatch.chdir(proj)
    monkeypatch.delenv("DISCOVERY_STAGE_CACHE_DIR", raising=False)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    return proj


def test_kedro_run_uses_the_caching_runner_and_no_cache_runs_everything(kedro_project: Path) -> None:
    """The project's ``kedro run`` (its own ``run`` command, every Kedro flag kept): by default the
    second run skips every node; ``--no-cache`` runs them all and refreshes the records; a new file
    in the declared ``ingest.path`` folder re-runs ingest."""
    from click.testing import CliRunner
    from kedro.framework.cli.project import run as kedro_run
    from kedro.framework.startup import bootstrap_project

    from discovery_pipelines.cli import cli

    run = cli.commands["run"]
    assert {p.name for p in kedro_run.params} | {"no_cache"} == {p.name for p in run.params}
    bootstrap_project(kedro_project)
    last_run = kedro_project / "data" / ".stage_cache" / "last_run.json"

    def kedro(*args: str) -> dict[str, str]:
        result = CliRunner().invoke(cli, ["run", "--pipelines", "ingest", *args], catch_exceptions=False)
        assert result.exit_code == 0, result.output[-3000:]
        summary = json.loads(last_run.read_text())
        return {n["node"].rsplit(".", 1)[-1]: n["status"] for n in summary["nodes"]}

    assert kedro() == {"load_source": "ran", "split_queries": "ran"}
    assert kedro() == {"load_source": "skipped", "split_queries": "skipped"}
    assert kedro("--no-cache") == {"load_source": "ran", "split_queries": "ran"}
    assert json.loads(last_run.read_text())["enabled"] is False
    (kedro_project.parent / "raw" / "notes.txt").write_text("a new file in the source folder")
    assert kedro()["load_source"] == "ran"     # the folder's content is part of params:ingest


def test_helpers_reached_through_module_level_tables_count_as_code(project: Project) -> None:
    """Editing a same-module helper re-runs the nodes that call it (directly or via a module-level
    table) and leaves the other nodes of the module alone."""
    project.edit_code(
        "def count(raw: list) -> dict:\n    return {\"n\": len(raw)}\n",
        "def _size(x):\n    return len(x)\n\n\nSIZERS = {'len': _size}\n\n\n"
        "def count(raw: list) -> dict:\n    return {\"n\": SIZERS['len'](raw)}\n",
    )
    project.run()
    assert set(project.run().values()) == {"skipped"}
    project.edit_code("    return len(x)\n", "    return len(x) + 0\n")
    statuses = project.run()
    # _size is reachable from module-level code, so it is code of every node of the module
    assert project.ran(statuses) == ALL
    project.edit_code(
        "def summarize(df: pd.DataFrame) -> dict:\n",
        "def _unused_helper():\n    return 1\n\n\ndef summarize(df: pd.DataFrame) -> dict:\n",
    )
    assert set(project.run().values()) == {"skipped"}
    project.edit_code("    return 1\n", "    return 2\n")
    assert set(project.run().values()) == {"skipped"}  # nobody references it
