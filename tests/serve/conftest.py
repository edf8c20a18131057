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


ADMIN_TOKEN = "test-admin-token-7f3a"


@pytest.fixture(scope="session")
def admin_token() -> str:
    """The bearer token the test apps are built with (as if from credentials search_admin.token)."""
    return ADMIN_TOKEN


@pytest.fixture(scope="session")
def admin_headers(admin_token) -> dict[str, str]:
    return {"Authorization": f"Bearer {admin_token}"}


@pytest.fixture(scope="session")
def client(service):
    from fastapi.testclient import TestClient

    from discovery_pipelines.serve.api import create_app

    app = create_app(service, admin_token=ADMIN_TOKEN, allowed_hosts=["localhost"])
    with TestClient(app, base_url="http://localhost") as c:
        yield c
