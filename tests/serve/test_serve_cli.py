"""The ``discovery`` typer CLI (search, info) in-process."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from discovery_pipelines.serve.cli import app

runner = CliRunner()


def test_search_prints_json_hits(flat_index, minilm_path):
    r = runner.invoke(app, ["search", "cordless drill", "-k", "3", "--index", str(flat_index),
                            "--model", str(minilm_path), "--category", "Tools", "--json"])
    assert r.exit_code == 0, r.output
    # other in-process tests may leave a logging handler on stdout: parse the JSON document itself
    lines = r.stdout.splitlines()
    body = json.loads("\n".join(lines[next(i for i, ln in enumerate(lines) if ln.startswith("{")):]))
    assert body["mode"] == "hybrid" and len(body["hits"]) == 3
    assert all(set(h["ranks"]) == set(h["retrievers"]) for h in body["hits"])


def test_table_output_and_errors(flat_index, minilm_path):
    r = runner.invoke(app, ["search", "white paint", "--mode", "bm25", "--index", str(flat_index),
                            "--model", str(minilm_path)])
    assert r.exit_code == 0 and "bm25 rank" in r.stdout
    r = runner.invoke(app, ["search", "   ", "--index", str(flat_index), "--model", str(minilm_path)])
    assert r.exit_code == 2 and "query is empty" in r.output
    r = runner.invoke(app, ["search", "drill", "--mode", "semantic", "--index", str(flat_index)])
    assert r.exit_code == 2 and "--mode must be one of" in r.output
    r = runner.invoke(app, ["search", "drill", "--index", str(flat_index / "missing")])
    assert r.exit_code == 2 and "does not exist" in r.output


def test_info_prints_the_manifest(flat_index):
    r = runner.invoke(app, ["info", "--index", str(flat_index)])
    assert r.exit_code == 0 and json.loads(r.stdout)["factory"] == "Flat"
