"""Failure analysis on a real Home Depot slice, and the two Kedro pipelines wired end to end."""

from __future__ import annotations

import json

import pytest

from discovery_pipelines.search.evaluation import evaluate
from discovery_pipelines.failure_analysis import RULE_GROUPS, Vocabulary, analyse_failures, query_groups, write_report
from discovery_pipelines.search.metrics import wilson_interval


@pytest.fixture(scope="module")
def per_query(hd_small):
    res = evaluate(None, hd_small.products, hd_small.queries, hd_small.qrels, retrievers=("bm25",),
                   show_progress=False)
    return res.per_query.merge(hd_small.queries[["query_id", "split"]], on="query_id")


def test_rule_taxonomy_on_known_queries(home_depot):
    v = Vocabulary.from_titles(home_depot.products["title"])
    cases = {
        "elongagated toilet seat": "misspelling", "vanity without top": "negation", "non slip rug pad": "negation",
        "mens work boots": "gender_age", "oil rubbed bronze faucet": "color", "24 x 80 door": "size_fit",
        "1/2 in. pex pipe": "numeric_unit", "dewalt dcd771c2": "model_number", "ryobi drill": "brand",
        "stainless steel sink": "material", "outdoor christmas lights": "occasion_intent",
        "lighting accessories": "category_vocabulary",
    }
    for q, g in cases.items():
        assert g in query_groups(q, v), (q, query_groups(q, v))
    assert "multi_attribute" in query_groups("white 36 in. ryobi steel cabinet", v)
    assert query_groups("hammer", v) == []
    assert v.correction("masks") is None and v.correction("elongagated") == "elongated"
    lo, hi = wilson_interval(5, 10)
    assert lo < 0.5 < hi and wilson_interval(0, 0) == (0.0, 1.0)


def test_analysis_report_and_pipelines(hd_small, per_query, tmp_path, minilm_path):
    import torch

    torch.set_num_threads(1)
    fa = analyse_failures(per_query, hd_small.queries, hd_small.qrels, hd_small.products, retriever="bm25",
                          model=str(minilm_path), n_clusters=3, min_cluster_size=2)
    g, st = fa.groups, fa.stats
    dev = g[g["split"] == "dev"]
    assert len(dev) == (per_query["split"] == "dev").sum()
    assert set(g["split"]) == {"dev", "train"}
    fail = dev[dev["is_failure"]]
    assert len(fail) > 0 and fail["groups"].map(len).min() >= 1  # every failure gets a group
    for r in st.itertuples():
        has = dev["groups"].map(lambda gs, _g=r.group: _g in gs)
        assert r.n_queries == has.sum()
        assert r.n_not_good == (has & dev["is_failure"]).sum()
        if r.n_queries:
            assert r.not_good_rate == pytest.approx(r.n_not_good / r.n_queries)
        assert 0 <= r.coverage <= 1
    assert list(st["group"][: len(RULE_GROUPS)]) == list(RULE_GROUPS)
    assert fa.meta["n_failures_clustered"] + fa.meta["n_failures_rule_grouped"] == fa.meta["n_not_good"]
    paths = write_report(fa, tmp_path / "fa")
    md = open(paths["markdown"]).read()
    assert "| misspelling |" in md and "not_good_rate.png" in md
    assert open(paths["png"], "rb").read(4) == b"\x89PNG"
    assert json.load(open(paths["json"]))["meta"]["n_dev_queries"] == len(dev)

    # --- both Kedro pipelines on an in-memory catalogue ------------------------------------
    from kedro.io import DataCatalog, MemoryDataset
    from kedro_datasets.pandas import ParquetDataset
    from kedro_datasets.text import TextDataset
    from kedro.runner import SequentialRunner

    from discovery_pipelines.pipelines.failure_analysis.pipeline import create_pipeline as fa_pipe
    from discovery_pipelines.pipelines.synthetic.pipeline import create_pipeline as syn_pipe

    fa_params = {"retriever": "bm25", "model": str(minilm_path), "n_clusters": 3, "min_cluster_size": 2}
    syn_params = {"total_pairs": 150, "min_queries": 2, "catalogue_sample": 400,
                  "generator": {"backend": "rules"},
                  "qc": {"jury": {"backend": "llm", "model": None, "min_overlap": 0.5}}}  # llm w/o model -> rules
    cat = DataCatalog({
        "evaluate_per_query": MemoryDataset(per_query), "queries": MemoryDataset(hd_small.queries),
        "qrels": MemoryDataset(hd_small.qrels), "products": MemoryDataset(hd_small.products),
        "params:failure_analysis": MemoryDataset(fa_params), "params:synthetic": MemoryDataset(syn_params),
        "synthetic.budget": ParquetDataset(filepath=str(tmp_path / "budget.parquet")),
        "synthetic.report_md": TextDataset(filepath=str(tmp_path / "synthetic.md")),
        "failure_analysis.report_md": TextDataset(filepath=str(tmp_path / "failure_groups.md")),
    })
    out = SequentialRunner().run(fa_pipe() + syn_pipe(), cat)

    def get(name):
        v = out[name]
        return v.load() if hasattr(v, "load") else v

    pairs, qc = get("synthetic_pairs"), get("synthetic.qc")
    budget = cat["synthetic.budget"].load()
    assert budget["n_pairs"].sum() == 150
    assert {"query", "product_id", "group", "language", "source", "generator"} <= set(pairs.columns)
    assert len(pairs) > 50 and set(pairs["source"]) == {"synthetic"}
    cap = budget.set_index("group")["n_pairs"]
    assert all(n <= cap[g] for g, n in pairs.groupby("group").size().items())
    # no leakage: no kept query equals a dev or holdout query
    from discovery_pipelines.data.text import normalize_query

    ev = set(hd_small.queries[hd_small.queries["split"] != "train"]["text"].map(normalize_query))
    assert not set(pairs["query"].map(normalize_query)) & ev
    assert qc["accepted"].sum() >= len(pairs)
    syn_md = cat["synthetic.report_md"].load()
    assert "Acceptance per group" in syn_md and "s per 1,000 generated pairs" in syn_md
    assert "| misspelling |" in cat["failure_analysis.report_md"].load()
    assert get("synthetic.acceptance_plot").axes and get("failure_analysis.not_good_plot").axes
