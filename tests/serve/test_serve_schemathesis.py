"""Property-based conformance of the HTTP API to its own OpenAPI spec (schemathesis, in-process ASGI).

Every generated request (valid and invalid) must get a documented status code, a response that
matches the declared schema, never a 5xx, and schema-invalid input must be rejected.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from discovery_pipelines.serve.api import create_app


@pytest.fixture(scope="module")
def api_schema(service):
    return schemathesis.openapi.from_asgi("/openapi.json", create_app(service))


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_api_conforms_to_openapi(case):
    case.call_and_validate()
