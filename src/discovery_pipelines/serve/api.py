"""HTTP API (FastAPI) over a :class:`~discovery_pipelines.serve.service.SearchService`.

Endpoints (OpenAPI at ``/openapi.json``, docs at ``/docs``):

* ``GET /search?q=...&k=10&mode=hybrid&category=...&available_only=true&store=...``
* ``POST /search`` with a :class:`SearchRequest` body (adds ``product_ids``: a store assortment)
* ``GET /health`` (200 when an index is loaded, else 503), ``GET /index`` (manifest summary)
* ``POST /admin/reload`` (check the index folder now; swap when it changed): off unless an admin
  token is configured (credentials entry ``search_admin.token``); needs ``Authorization: Bearer
  <token>``, a ``Host`` on the allow-list and no foreign ``Origin`` / ``Sec-Fetch-Site: cross-site``
  (so a web page the operator opens cannot trigger it: DNS rebinding, simple cross-origin POSTs).

Errors: 422 for a request that breaks the schema (empty/too long/control-character query,
k out of range, unknown parameter or filter, non-UTF-8 query string), 413 for a body over
``max_body_bytes`` or a list over its cap, 400 for a filter the loaded index cannot apply, 503
while no index is loaded or too many searches are queued. Bodies are ``{"detail": ...}``; a 422
quotes at most :data:`ECHO_CHARS` characters of the offending input, never the whole input.

Robustness: searches run in worker threads behind a bounded limiter (``max_concurrent_searches``
in flight, ``max_queued_searches`` waiting, then 503), while ``/health`` and ``/index`` run on the
event loop and answer under any search load. Public routes show ids and names, never local paths
(paths inside messages are reduced to their last component).
"""

from __future__ import annotations

import hmac
import logging
import re
import urllib.parse
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Any, Literal

import anyio
from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, SecretStr, StrictBool, field_validator
from starlette.types import ASGIApp, Message, Receive, Scope, Send

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

MAX_BODY_BYTES = 2 * 1024 * 1024
"""Default cap on a request body (bytes); larger bodies get 413 before they are parsed."""
MAX_PRODUCT_IDS = 50_000
"""Cap on ``filters.product_ids`` (a store assortment); a longer list gets 413."""
ECHO_CHARS = 64
"""A 422 quotes at most this many characters of the offending input."""
DEFAULT_ALLOWED_HOSTS = ("127.0.0.1", "localhost", "::1")
"""Host names ``/admin/reload`` answers to by default (DNS-rebinding guard)."""
ADMIN_CREDENTIALS_KEY = "search_admin"
"""Credentials entry holding ``token`` for ``/admin/reload``."""

_ABS_PATH = re.compile(r"(?<![\w.:/~-])(?:~|[A-Za-z]:)?[/\\](?:[^\s'\"/\\:,;()\[\]{}<>]+[/\\])*([^\s'\"/\\:,;()\[\]{}<>]*)")


def redact_paths(value: Any) -> Any:
    """``value`` with every absolute local path reduced to its last component, recursively
    (strings, lists, dicts). ``/work/data/06_models/production`` -> ``production``; URLs such as
    ``http://host/v1`` are kept. Used for everything a public route returns."""
    if isinstance(value, str):
        return _ABS_PATH.sub(lambda m: m.group(1) or "<path>", value)
    if isinstance(value, dict):
        return {k: redact_paths(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact_paths(v) for v in value]
    return value


def _short(value: Any) -> Any:
    """A bounded stand-in for an input quoted in an error: strings cut to :data:`ECHO_CHARS`,
    containers replaced by their type and size."""
    if isinstance(value, str):
        return value if len(value) <= ECHO_CHARS else value[:ECHO_CHARS] + f"... ({len(value)} chars)"
    if isinstance(value, (list, tuple)):
        return f"<list of {len(value)} items>"
    if isinstance(value, dict):
        return f"<object with {len(value)} keys>"
    return value


class BodyTooLarge(Exception):
    """Raised inside :class:`BodySizeLimit` when a streamed body passes the cap."""


class BodySizeLimit:
    """ASGI middleware: 413 for a body over ``max_bytes``, judged by ``Content-Length`` before
    anything is read, and by counting the received chunks otherwise (chunked uploads)."""

    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app, self.max_bytes = app, int(max_bytes)

    async def _reject(self, send: Send) -> None:
        body = b'{"detail":"request body larger than %d bytes"}' % self.max_bytes
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                                (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for k, v in scope.get("headers", []):
            if k == b"content-length":
                try:
                    too_big = int(v) > self.max_bytes
                except ValueError:
                    too_big = False
                if too_big:
                    await self._reject(send)
                    return
        seen = 0
        overflow = started = False

        async def counting_receive() -> Message:
            nonlocal seen, overflow
            msg = await receive()
            if msg["type"] == "http.request":
                seen += len(msg.get("body", b""))
                if seen > self.max_bytes:
                    overflow = True
                    raise BodyTooLarge
            return msg

        async def guarded_send(msg: Message) -> None:
            nonlocal started
            if overflow:  # whatever the app answers to the aborted read (e.g. 400), the client gets 413
                if msg["type"] == "http.response.start" and not started:
                    started = True
                    await self._reject(send)
                return
            if msg["type"] == "http.response.start":
                started = True
            await send(msg)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except BodyTooLarge:
            pass
        if overflow and not started:
            await self._reject(send)


def _host_of(value: str) -> str:
    """Host name of a ``Host`` header or an origin URL, without port and brackets, lower-case."""
    v = value.strip().lower()
    if "://" in v:
        v = urllib.parse.urlsplit(v).netloc
    if v.startswith("["):
        return v[1:].split("]")[0]
    return v.rsplit(":", 1)[0] if v.count(":") == 1 else v


ModeT = Literal["dense", "bm25", "hybrid", "rerank", "ltr"]
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
    # JSON body: a boolean only (lax mode would take 0.0 / "yes"; the OpenAPI schema says boolean)
    available_only: StrictBool = Field(False, description="only products whose 'available' column is true")
    store: str | None = Field(None, min_length=1, max_length=100, json_schema_extra=_T,
                              description="only products whose 'store_<store>' column is true (404 if unknown)")
    product_ids: list[Annotated[str, Field(min_length=1, max_length=100)]] | None = Field(
        None, max_length=MAX_PRODUCT_IDS,
        description=f"a store's assortment: only these products (unknown ids ignored; more than "
                    f"{MAX_PRODUCT_IDS} is a 413)")

    @field_validator("category", "store")
    @classmethod
    def _v_text(cls, v: str | None) -> str | None:
        return _check_text(v)


class SearchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    query: str = Field(..., min_length=1, max_length=MAX_QUERY_CHARS, json_schema_extra=_Q,
                       description="free-text query: a non-space character, no control characters but tab/newline")
    k: int = Field(10, ge=1, le=MAX_K, description="number of results")
    mode: ModeT | None = Field(None, description="dense, bm25, hybrid (fusion tuned on dev), rerank (hybrid top-N "
                                               "-> cross-encoder) or ltr (hybrid top-N -> LambdaMART); default: "
                                               "the index's default mode")
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
    mode: ModeT | None = None
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
    index_name: str = Field(..., description="name of the served index folder (never its path)")
    index_id: str | None
    n_vectors: int | None
    loaded_at: float | None
    swaps: int
    last_error: str | None = Field(..., description="why the last reload failed; null after a good one")
    device: str


class IndexInfo(BaseModel):
    index_id: str
    name: str = Field(..., description="name of the served index folder (never its path)")
    model_name: str | None = Field(None, description="name of the served model's folder")
    n_vectors: int
    dimension: int
    metric: str
    factory: str
    created_utc: str | None
    model_fingerprint: str
    columns: list[str]
    stores: list[str]
    manifest: dict[str, Any] = Field(..., description="the manifest, local paths reduced to their last component")


class ReloadResponse(BaseModel):
    swapped: bool
    index_id: str | None
    previous_index_id: str | None
    message: str


ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorResponse, "description": "a filter this index cannot apply (column not exported)"},
    404: {"model": ErrorResponse, "description": "a filter value this index does not know (e.g. a store)"},
    503: {"model": ErrorResponse, "description": "no index loaded yet, or too many searches queued"},
}
SEARCH_ERRORS: dict[int | str, dict[str, Any]] = {
    **ERRORS, 413: {"model": ErrorResponse, "description": "body over the size cap or a list over its cap"}}
ADMIN_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorResponse, "description": "missing or wrong admin token"},
    403: {"model": ErrorResponse, "description": "admin API disabled, Host not allowed, or a cross-origin request"},
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


def create_app(service: SearchService, *, watch: bool = False,
               admin_token: str | SecretStr | None = None,
               allowed_hosts: Iterable[str] = DEFAULT_ALLOWED_HOSTS,
               max_body_bytes: int = MAX_BODY_BYTES,
               max_concurrent_searches: int = 4, max_queued_searches: int = 64) -> FastAPI:
    """The FastAPI application serving ``service``.

    Args:
        service: holds the current index; ``watch=True`` starts its manifest watcher for the
            app's lifetime (hot swap without calling ``/admin/reload``).
        admin_token: bearer token for ``/admin/reload`` (from credentials, see
            :func:`admin_token_from_credentials`); ``None`` turns the route off (403).
        allowed_hosts: ``Host`` header names ``/admin/reload`` accepts (and origins it accepts).
        max_body_bytes: request bodies over this many bytes get 413 unread.
        max_concurrent_searches: searches running at once (worker threads); the rest wait.
        max_queued_searches: searches allowed to wait; beyond that 503 with ``Retry-After``.
    """
    from contextlib import asynccontextmanager

    token = admin_token.get_secret_value() if isinstance(admin_token, SecretStr) else admin_token
    hosts = {_host_of(h) for h in allowed_hosts}

    @asynccontextmanager
    async def lifespan(app: FastAPI):  # noqa: ANN202
        app.state.search_limiter = anyio.CapacityLimiter(max(1, int(max_concurrent_searches)))
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
    app.add_middleware(BodySizeLimit, max_bytes=max_body_bytes)

    def _error(status: int, detail: Any, headers: dict[str, str] | None = None) -> JSONResponse:
        return JSONResponse({"detail": redact_paths(detail)}, status_code=status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        too_long = [e for e in errors if e.get("type") == "too_long"]
        if too_long:  # a list over its cap: 413, as for an oversized body
            e = too_long[0]
            where = ".".join(str(x) for x in e.get("loc", ()) if x != "body")
            return _error(413, f"{where}: {e.get('msg')}")
        out = []
        for e in errors:
            item = {k: v for k, v in e.items() if k in ("type", "loc", "msg", "ctx")}
            if "input" in e:
                item["input"] = _short(e["input"])
            if "ctx" in item:
                item["ctx"] = {k: _short(v) if isinstance(v, (str, list, dict)) else str(v)
                               for k, v in item["ctx"].items()}
            out.append(item)
        return JSONResponse({"detail": jsonable_encoder(out)}, status_code=422)

    @app.exception_handler(NoIndexLoaded)
    async def _no_index(_: Request, exc: NoIndexLoaded) -> JSONResponse:
        return _error(503, str(exc))

    @app.exception_handler(UnknownFilterValue)
    async def _unknown_value(_: Request, exc: UnknownFilterValue) -> JSONResponse:
        return _error(404, str(exc))

    @app.exception_handler(QueryError)
    async def _bad_query(_: Request, exc: QueryError) -> JSONResponse:
        return _error(400, str(exc))

    def run(query: str, k: int, mode: str | None, candidates: int, filters: Filters) -> SearchResponse:
        engine = service.engine  # one snapshot for the whole request: safe under hot swap
        return _to_response(engine.search(query, k=k, mode=mode, filters=filters, candidates=candidates))

    async def bounded(request: Request, *args: Any) -> SearchResponse:
        limiter: anyio.CapacityLimiter = request.app.state.search_limiter
        if limiter.available_tokens == 0 and limiter.statistics().tasks_waiting >= max_queued_searches:
            raise HTTPException(503, "too many searches in progress; retry shortly", headers={"Retry-After": "1"})
        return await anyio.to_thread.run_sync(run, *args, limiter=limiter)

    @app.get("/search", response_model=SearchResponse, responses=ERRORS, dependencies=[Depends(_utf8_query_string)])
    async def search_get(request: Request, params: Annotated[SearchParams, Query()]) -> SearchResponse:
        """Search with query-string parameters."""
        f = Filters(category=params.category, available_only=params.available_only, store=params.store)
        return await bounded(request, params.q, params.k, params.mode, params.candidates, f)

    @app.post("/search", response_model=SearchResponse, responses=SEARCH_ERRORS)
    async def search_post(request: Request, req: SearchRequest) -> SearchResponse:
        """Search with a JSON body (filters include ``product_ids``, a store's assortment)."""
        fl = req.filters
        f = Filters(category=fl.category, available_only=fl.available_only, store=fl.store,
                    product_ids=tuple(fl.product_ids) if fl.product_ids is not None else None)
        return await bounded(request, req.query, req.k, req.mode, req.candidates, f)

    @app.get("/health", response_model=HealthResponse, responses={503: {"model": HealthResponse}})
    async def health() -> Any:
        """Readiness: 200 with the loaded index, 503 while none is loaded (answers under any search load)."""
        st = service.status()
        body = HealthResponse(index_name=service.index_dir.name, last_error=redact_paths(st["last_error"]),
                              **{k: st[k] for k in HealthResponse.model_fields if k not in ("index_name", "last_error")})
        return body if st["ready"] else JSONResponse(body.model_dump(), status_code=503)

    @app.get("/index", response_model=IndexInfo, responses={503: ERRORS[503]})
    async def index_info() -> IndexInfo:
        """The loaded index's manifest (ids and names, no local paths)."""
        eng = service.engine
        m = eng.loaded.manifest
        model_path = service.model_dir or m.get("model_path")
        return IndexInfo(
            index_id=eng.index_id, name=eng.loaded.path.name,
            model_name=Path(str(model_path)).name if model_path else None,
            n_vectors=eng.n, dimension=eng.loaded.dimension,
            metric=eng.loaded.metric, factory=str(m.get("factory")), created_utc=m.get("created_utc"),
            model_fingerprint=eng.model_fingerprint, columns=list(eng.loaded.ids.columns), stores=eng.stores,
            manifest=redact_paths(m),
        )

    def admin_guard(request: Request) -> None:
        """Host allow-list, no cross-origin caller, then the bearer token (constant-time compare)."""
        if token is None:
            raise HTTPException(403, f"admin API is disabled: set a token in credentials "
                                     f"({ADMIN_CREDENTIALS_KEY}.token) to enable /admin/reload")
        host = _host_of(request.headers.get("host", ""))
        if host not in hosts:
            raise HTTPException(403, f"Host {host[:ECHO_CHARS]!r} is not allowed for admin requests")
        origin = request.headers.get("origin")
        if origin is not None and _host_of(origin) not in hosts:
            raise HTTPException(403, "cross-origin admin requests are refused")
        if request.headers.get("sec-fetch-site", "").lower() in ("cross-site", "same-site"):
            raise HTTPException(403, "cross-origin admin requests are refused")
        auth = request.headers.get("authorization", "")
        given = auth[7:] if auth[:7].lower() == "bearer " else ""
        if not given or not hmac.compare_digest(given.encode(), token.encode()):
            raise HTTPException(401, "admin token missing or wrong", headers={"WWW-Authenticate": "Bearer"})

    @app.post("/admin/reload", response_model=ReloadResponse, responses=ADMIN_ERRORS,
              dependencies=[Depends(admin_guard)])
    def reload(force: bool = False) -> ReloadResponse:
        """Check the index folder now and swap in a changed index (old one keeps serving on failure)."""
        out = service.reload(force=force)
        return ReloadResponse(**{**out.__dict__, "message": redact_paths(out.message)})

    from discovery_pipelines.serve.recommend_api import create_router

    app.include_router(create_router())
    return app


def admin_token_from_credentials(conf_source: str = "conf", env: str | None = None,
                                 key: str = ADMIN_CREDENTIALS_KEY) -> SecretStr | None:
    """``credentials[key].token`` through Kedro's config loader (base + ``env``), or ``None``
    (admin API off). Use ``token: ${oc.env:DISCOVERY_ADMIN_TOKEN}`` in the credentials file to
    take it from the environment."""
    from discovery_pipelines.synthetic.llm import load_credentials

    tok = load_credentials(key, conf_source, env).get("token")
    return SecretStr(str(tok)) if tok else None


def create_app_from_env() -> FastAPI:
    """App factory for ``uvicorn --factory discovery_pipelines.serve.api:create_app_from_env``:
    index from ``$DISCOVERY_INDEX_DIR``, model from ``$DISCOVERY_MODEL_DIR`` (defaults in
    :mod:`discovery_pipelines.serve.service`), manifest watcher on."""
    return create_app(SearchService(), watch=True, admin_token=admin_token_from_credentials())
