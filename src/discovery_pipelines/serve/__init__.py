"""Search service over an exported index: engine + hot swap (``service``), HTTP API (``api``,
FastAPI), command line (``cli``, typer; console script ``discovery``)."""

from discovery_pipelines.serve.service import (
    Filters,
    NoIndexLoaded,
    QueryError,
    SearchEngine,
    SearchResult,
    SearchService,
    clean_query,
)

__all__ = ["Filters", "NoIndexLoaded", "QueryError", "SearchEngine", "SearchResult", "SearchService", "clean_query"]
