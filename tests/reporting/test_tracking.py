"""The promoted model is registered with MLflow's sentence-transformers flavor and loads back by alias."""

from __future__ import annotations

import numpy as np
import pytest

mlflow = pytest.importorskip("mlflow")

from discovery_pipelines.reporting import tracking  # noqa: E402
from discovery_pipelines.search.models import load_model  # noqa: E402



def test_registered_model_loads_by_production_alias(sqlite_tracking, hd_small):
    base = load_model("all-MiniLM-L6-v2", device="cpu")
    queries = hd_small.queries["text"].head(8).tolist()
    assert tracking.register_model(base, "discovery-search-test") is None  # no active run: nothing logged
    with mlflow.start_run(experiment_id=sqlite_tracking):
        v1 = tracking.register_model(base, "discovery-search-test")
        v2 = tracking.register_model("all-MiniLM-L6-v2", "discovery-search-test")
    assert (v1, v2) == (1, 2)
    client = mlflow.MlflowClient()
    assert str(client.get_model_version_by_alias("discovery-search-test", "production").version) == "2"
    flavors = mlflow.models.get_model_info("models:/discovery-search-test@production").flavors
    assert "sentence_transformers" in flavors
    loaded = mlflow.sentence_transformers.load_model("models:/discovery-search-test@production")
    via_project = load_model("models:/discovery-search-test@production", device="cpu")
    want = base.encode(queries, normalize_embeddings=True)
    for m in (loaded, via_project):
        got = m.encode(queries, normalize_embeddings=True)
        assert got.shape == (8, 384)
        np.testing.assert_allclose(got, want, atol=1e-5)
