"""HTTP API (FastAPI) over a :class:`~discovery_pipelines.serve.service.SearchService`.

Endpoints (OpenAPI at ``/openapi.json``, docs at ``/docs``):

* ``GET /search?q=...&k=10&mode=hybrid&category=...&available_only=true&store=...``
* ``POST /search`` with a :class:`SearchRequest` body (adds ``product_ids``: a store assortment)
* ``GET /health`` (200 when an index is loaded, else 503), ``GET /index`` (manifest summary)
* ``POST /admin/reload`` (check the index folder now; swap when it changed)

Errors: 422 for a request that breaks the schema (empty/too long/control-character query,
k out of range, unknown parameter or filter, non-UTF-8 query string), 400 for a filter the loaded
index cannot apply, 503 while no index is loaded. Bodies are ``{"detail": ...}``.
"""

from __future__ import annotations

import logging
import urllib.parse
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, field_validator

from discovery_pipelines.serve.service import (
    MAX_CANDIDATES,
    MAX_K,
    MAX_QUERY_CHARS,
    QUERY_PATTERN,
    TEXT_PATTERN,
    Filters,
    NoIndexLoaded,
    QueryError,
    SearchResult,
    SearchService,
    UnknownFilterValue,
    clean_query,
)

_Q = {"pattern": QUERY_PATTERN}
_T = {"pattern": TEXT_PATTERN}

log = logging.getLogger(__name__)

ModeT = Literal["dense", "bm25", "hybrid"]
RetrieverT = Literal["dense", "bm25"]


def _check_query(v: str) -> str:
    try:
        return clean_query(v)
    except QueryError as e:
        raise ValueError(str(e)) from None


def _check_text(v: str | None) -> str | None:
    if v is None:
        return v
    for ch in v:
        if ord(ch) < 32 or 0xD800 <= ord(ch) <= 0xDFFF or 0x7F <= ord(ch) < 0xA0:
            raise ValueError(f"holds a control or surrogate character U+{ord(ch):04X}")
    return v


class SearchFilters(BaseModel):
    """Restrictions applied inside retrieval (exact masked KNN / BM25 weight mask)."""

    model_config = ConfigDict(extra="forbid")
    category: str | None = Field(None, min_length=1, max_length=300, json_schema_extra=_T,
                                 description="category_path prefix on ' > ' level boundaries, case-insensitive")
    available_only: bool = Field(False, description="only products whose 'available' column is true")
    store: str | None = Field(None, min_length=1, max_length=100, json_schema_extra=_T,
                              description="only products whose 'store_<store>' column is true (404 if unknown)")
    product_ids: list[Annotated[str, Field(min_length=1, max_length=100)]] | None = Field(
        None, max_length=100_000, description="a store's assortment: only these products (unknown ids ignored)")

    @field_validator("category", "store")
    @classmethod
    def _v_text(cls, v: str | None) -> str | None:
        return _check_text(v)


class SearchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    query: str = Field(..., min_length=1, max_length=MAX_QUERY_CHARS, json_schema_extra=_Q,
                       description="free-text query: a non-space character, no control characters but tab/newline")
    k: int = Field(10, ge=1, le=MAX_K, description="number of results")
    mode: ModeT = Field("hybrid", description="retriever: dense, bm25 or hybrid (reciprocal rank fusion)")
    candidates: int = Field(100, ge=1, le=MAX_CANDIDATES, description="hybrid: depth of each fused list")
    filters: SearchFilters = Field(default_factory=SearchFilters)

    @field_validator("query")
    @classmethod
    def _v_query(cls, v: str) -> str:
        return _check_query(v)


class SearchParams(BaseModel):
    """Query-string form of :class:`SearchRequest` (no ``product_ids``; use POST for assortments)."""

    model_config = ConfigDict(extra="forbid")
    q: str = Field(..., min_length=1, max_length=MAX_QUERY_CHARS, json_schema_extra=_Q,
                   description="free-text query: a non-space character, no control characters but tab/newline")
    k: int = Field(10, ge=1, le=MAX_K)
    mode: ModeT = "hybrid"
    candidates: int = Field(100, ge=1, le=MAX_CANDIDATES)
    category: str | None = Field(None, min_length=1, max_length=300, json_schema_extra=_T)
    available_only: bool = False
    store: str | None = Field(None, min_length=1, max_length=100, json_schema_extra=_T)

    @field_validator("q")
    @classmethod
    def _v_query(cls, v: str) -> str:
        return _check_query(v)

    @field_validator("category", "store")
    @classmethod
    def _v_text(cls, v: str | None) -> str | None:
        return _check_text(v)


class HitModel(BaseModel):
    rank: int = Field(..., ge=1, description="1-based rank in this response")
    product_id: str
    title: str
    score: float = Field(..., description="score of the mode asked for: inner product, BM25 or RRF")
    retrievers: list[RetrieverT] = Field(..., description="retrievers whose candidate list held this product")
    ranks: dict[str, int] = Field(..., description="1-based rank per retriever")
    scores: dict[str, float] = Field(..., description="raw score per retriever")


class SearchResponse(BaseModel):
    query: str = Field(..., description="the query as searched (whitespace-normalised)")
    mode: ModeT
    k: int
    index_id: str = Field(..., description="manifest index_id of the index that answered")
    model_fingerprint: str
    n_candidates: int = Field(..., description="products passing the filters")
    dense_backend: str | None = Field(None, description="torch-exact-<device> or faiss-<factory>")
    took_ms: float
    hits: list[HitModel]


class ErrorResponse(BaseModel):
    detail: str


class HealthResponse(BaseModel):
    ready: bool
    index_dir: str
    index_id: str | None
    n_vectors: int | None
    loaded_at: float | None
    swaps: int
    last_error: str | None
    device: str


class IndexInfo(BaseModel):
    index_id: str
    path: str
    n_vectors: int
    dimension: int
    metric: str
    factory: str
    created_utc: str | None
    model_fingerprint: str
    columns: list[str]
    stores: list[str]
    manifest: dict[str, Any]


class ReloadResponse(BaseModel):
    swapped: bool
    index_id: str | None
    previous_index_id: str | None
    message: str


ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorResponse, "description": "a filter this index cannot apply (column not exported)"},
    404: {"model": ErrorResponse, "description": "a filter value this index does not know (e.g. a store)"},
    503: {"model": ErrorResponse, "description": "no index loaded yet"},
}


def _to_response(r: SearchResult) -> SearchResponse:
    return SearchResponse(
        query=r.query, mode=r.mode, k=r.k, index_id=r.index_id, model_fingerprint=r.model_fingerprint,
        n_candidates=r.n_candidates, dense_backend=r.dense_backend, took_ms=r.took_ms,
        hits=[HitModel(**h.__dict__) for h in r.hits],
    )


def _utf8_query_string(request: Request) -> None:
    """Reject a query string whose percent-decoded bytes are not UTF-8 (Starlette would
    otherwise replace them with U+FFFD and search for mojibake)."""
    raw: bytes = request.scope.get("query_string", b"")
    try:
        urllib.parse.unquote_to_bytes(raw.replace(b"+", b" ")).decode("utf-8")
    except UnicodeDecodeError as e:
        raise HTTPException(422, f"query string is not valid UTF-8 (byte {e.start}: {e.reason})") from None


def create_app(service: SearchService, *, watch: bool = False) -> FastAPI:
    """The FastAPI application serving ``service``.

    Args:
        service: holds the current index; ``watch=True`` starts its manifest watcher for the
            app's lifetime (hot swap without calling ``/admin/reload``).
    """
    from contextlib import asynccontextmanager

    @asynccontextmanager
    async def lifespan(app: FastAPI):  # noqa: ANN202
        if watch:
            service.start_watcher()
        yield
        if watch:
            service.stop_watcher()

    app = FastAPI(
        title="discovery-pipelines product search",
        version="1",
        description="Dense, BM25 and hybrid (RRF) product search over an exported faiss index, "
                    "with category / availability / assortment filters applied inside retrieval.",
        lifespan=lifespan,
    )
    app.state.service = service

    @app.exception_handler(NoIndexLoaded)
    async def _no_index(_: Request, exc: NoIndexLoaded) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=503)

    @app.exception_handler(UnknownFilterValue)
    async def _unknown_value(_: Request, exc: UnknownFilterValue) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=404)

    @app.exception_handler(QueryError)
    async def _bad_query(_: Request, exc: QueryError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=400)

    def run(query: str, k: int, mode: str, candidates: int, filters: Filters) -> SearchResponse:
        engine = service.engine  # one snapshot for the whole request: safe under hot swap
        return _to_response(engine.search(query, k=k, mode=mode, filters=filters, candidates=candidates))

    @app.get("/search", response_model=SearchResponse, responses=ERRORS, dependencies=[Depends(_utf8_query_string)])
    def search_get(params: Annotated[SearchParams, Query()]) -> SearchResponse:
        """Search with query-string parameters."""
        f = Filters(category=params.category, available_only=params.available_only, store=params.store)
        return run(params.q, params.k, params.mode, params.candidates, f)

    @app.post("/search", response_model=SearchResponse, responses=ERRORS)
    def search_post(req: SearchRequest) -> SearchResponse:
        """Search with a JSON body (filters include ``product_ids``, a store's assortment)."""
        fl = req.filters
        f = Filters(category=fl.category, available_only=fl.available_only, store=fl.store,
                    product_ids=tuple(fl.product_ids) if fl.product_ids is not None else None)
        return run(req.query, req.k, req.mode, req.candidates, f)

    @app.get("/health", response_model=HealthResponse, responses={503: {"model": HealthResponse}})
    def health() -> Any:
        """Readiness: 200 with the loaded index, 503 while none is loaded."""
        st = service.status()
        body = HealthResponse(**{k: st[k] for k in HealthResponse.model_fields})
        return body if st["ready"] else JSONResponse(body.model_dump(), status_code=503)

    @app.get("/index", response_model=IndexInfo, responses={503: ERRORS[503]})
    def index_info() -> IndexInfo:
        """The loaded index's manifest."""
        eng = service.engine
        m = eng.loaded.manifest
        return IndexInfo(
            index_id=eng.index_id, path=str(eng.loaded.path), n_vectors=eng.n, dimension=eng.loaded.dimension,
            metric=eng.loaded.metric, factory=str(m.get("factory")), created_utc=m.get("created_utc"),
            model_fingerprint=eng.model_fingerprint, columns=list(eng.loaded.ids.columns), stores=eng.stores,
            manifest=m,
        )

    @app.post("/admin/reload", response_model=ReloadResponse)
    def reload(force: bool = False) -> ReloadResponse:
        """Check the index folder now and swap in a changed index (old one keeps serving on failure)."""
        out = service.reload(force=force)
        return ReloadResponse(**out.__dict__)

    from discovery_pipelines.serve.recommend_api import create_router

    app.include_router(create_router())
    return app


def create_app_from_env() -> FastAPI:
    """App factory for ``uvicorn --factory discovery_pipelines.serve.api:create_app_from_env``:
    index from ``$DISCOVERY_INDEX_DIR``, model from ``$DISCOVERY_MODEL_DIR`` (defaults in
    :mod:`discovery_pipelines.serve.service`), manifest watcher on."""
    return create_app(SearchService(), watch=True)
