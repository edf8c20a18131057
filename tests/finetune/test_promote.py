"""``promote`` on a failing gate: nothing is registered, and the Gated outputs carry the production checkpoint
and its index as fallbacks, which the catalog's GatedDataset entries write only where no release exists yet."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

mlflow = pytest.importorskip("mlflow")

from discovery_pipelines.data.datasets import (  # noqa: E402
    FaissIndexDataset, Gated, GatedDataset, SentenceTransformerDataset)
from discovery_pipelines.pipelines.finetune.nodes import promote  # noqa: E402
from discovery_pipelines.search.fusion import FusionConfig  # noqa: E402
from discovery_pipelines.search.models import load_model, model_fingerprint  # noqa: E402

PRODUCTION = "all-MiniLM-L6-v2"
CHECKS = {"dev_gain": {"value": -0.01, "limit": 0.0, "passed": False}}



def _products() -> pd.DataFrame:
    titles = ["cordless drill 20v", "led light bulb 60w", "interior paint white", "kitchen faucet chrome",
              "circular saw blade", "toilet seat elongated", "garden hose 50 ft", "door hinge brass"]
    return pd.DataFrame({"product_id": [str(1000 + i) for i in range(len(titles))], "title": titles})


def test_a_failing_gate_releases_the_production_checkpoint_only_where_no_release_exists(sqlite_tracking, tmp_path):
    products = _products()
    serving = {"fusion": FusionConfig(method="weighted", weights={"bm25": 0.3, "dense": 0.7}).to_dict(),
               "default_mode": "dense", "rerank_top_n": 7, "rerank_first_stage_weight": 0.25, "model": "base"}
    model_params = {"production": PRODUCTION, "cache_dir": str(tmp_path / "embedding_cache")}
    decision = {"passed": False, "chosen": None, "checks": CHECKS}
    with mlflow.start_run(experiment_id=sqlite_tracking) as run:
        model_out, index_out, promotion = promote(
            decision, object(), products, {"factory": "Flat", "registered_model_name": "discovery-search-test"},
            model_params, serving, None, object())

    # nothing registered, nothing logged as a model
    client = mlflow.MlflowClient()
    assert client.search_registered_models() == []
    assert client.list_artifacts(run.info.run_id) == []
    assert promotion == {"promoted": False, "reason": "gate failed", "checks": CHECKS,
                         "fallback": f"{PRODUCTION}: released only where no release exists yet"}

    # the fallbacks: the production checkpoint itself and the passing branch's index dict
    assert isinstance(model_out, Gated) and isinstance(index_out, Gated)
    assert (model_out.passed, model_out.value, index_out.passed, index_out.value) == (False, None, False, None)
    production_fp = model_fingerprint(load_model(PRODUCTION, device="cpu"))
    assert model_fingerprint(model_out.fallback) == production_fp
    index = index_out.fallback
    assert index["products"] is products
    assert {k: v for k, v in index.items() if k != "products"} == {
        "factory": "Flat", "cache_dir": model_params["cache_dir"], "fusion": serving["fusion"], "reranker": None,
        "rerank_top_n": 7, "rerank_first_stage_weight": 0.25, "default_mode": "dense", "serving": serving,
            "ltr": None, "ltr_depth": 50}

    # through the catalog's datasets, in output order: a first run releases both fallbacks ...
    model_dir, index_dir = tmp_path / "06_models" / "production", tmp_path / "07_model_output" / "index"
    model_ds = GatedDataset(SentenceTransformerDataset(str(model_dir)))
    index_ds = GatedDataset(FaissIndexDataset(str(index_dir), model_dir=str(model_dir)))
    model_ds.save(model_out)
    index_ds.save(index_out)
    assert model_fingerprint(model_ds.load()) == production_fp
    manifest = json.loads((index_dir / "manifest.json").read_text())
    assert manifest["model_fingerprint"] == production_fp and manifest["n_vectors"] == len(products)
    assert (manifest["fusion"], manifest["default_mode"]) == (serving["fusion"], "dense")

    # ... and a later failure leaves that release untouched
    before = {p: p.read_bytes() for p in [*model_dir.rglob("*"), *index_dir.rglob("*")] if p.is_file()}
    model_ds.save(model_out)
    index_ds.save(index_out)
    assert {p: p.read_bytes() for p in [*model_dir.rglob("*"), *index_dir.rglob("*")] if p.is_file()} == before
