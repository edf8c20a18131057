"""Service fixtures on top of the shared small-index fixtures in tests/conftest.py."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def flat_index(tmp_path_factory, st_model, catalogue, catalogue_emb) -> Path:
    """Flat (exact) index over the small catalogue, with embeddings.npy."""
    from discovery_pipelines.search.index import export_index

    return export_index(tmp_path_factory.mktemp("serve") / "flat", st_model, catalogue[0], catalogue_emb,
                        show_progress=False)


@pytest.fixture(scope="session")
def service(flat_index, minilm_path):
    from discovery_pipelines.serve.service import SearchService

    return SearchService(flat_index, minilm_path, device="cpu")


@pytest.fixture(scope="session")
def client(service):
    from fastapi.testclient import TestClient

    from discovery_pipelines.serve.api import create_app

    with TestClient(create_app(service)) as c:
        yield c
