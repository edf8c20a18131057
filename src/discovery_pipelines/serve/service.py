"""Search service core: an immutable :class:`SearchEngine` per exported index, and a
:class:`SearchService` that holds the current engine and hot-swaps it when a new index appears.

Retrievers (all over the exported catalogue, product order = index order):

* ``dense``: the query is encoded with the index's model; exact maximum-inner-product search is a
  (masked) matrix product + top-k in torch (on CUDA when present, the same code on CPU) when the
  index is flat or a filter is set and the vectors were exported; otherwise the faiss index is
  searched (ANN for IVF/HNSW/PQ), with a faiss ``IDSelectorBitmap`` for filters.
* ``bm25``: Okapi BM25 over the exported titles (:class:`discovery_pipelines.search.retrieval.BM25Retriever`),
  filters as a bm25s weight mask.
* ``hybrid``: fusion of the two over the top ``candidates`` of each, as chosen on dev and recorded in the
  index manifest (``manifest["fusion"]``: RRF with a tuned constant or a weighted sum of normalised
  scores, :mod:`discovery_pipelines.search.fusion`); RRF c=60 with equal weights for an index without one.
* ``rerank``: the hybrid top ``rerank_top_n`` re-ordered by the cross-encoder exported with the index
  (``<index>/reranker``, :mod:`discovery_pipelines.search.rerank`).
* ``ltr``: the hybrid top ``manifest["ltr"]["depth"]`` re-ordered by the LambdaMART ranker exported with the
  index (``<index>/ltr.txt``), its features computed by :func:`discovery_pipelines.search.ltr.candidate_features`
  as in training and evaluation.

``mode=None`` serves the index's ``manifest["default_mode"]`` (the mode that measured best on dev within
the latency budget, see docs/quality.md), ``hybrid`` for an index without one.

Hot swap: requests read ``service.engine`` once and use that snapshot to the end, so replacing
the reference (one attribute store, atomic in CPython) never disturbs a request in flight; a
failed load keeps the old engine serving.
"""

from __future__ import annotations

import functools
import logging
import os
import threading
import time
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from discovery_pipelines.search.index import MANIFEST_FILE, IndexLoadError, LoadedIndex, load_index, read_manifest
from discovery_pipelines.search.fusion import FusionConfig, fuse
from discovery_pipelines.search.retrieval import BM25Retriever, masked_top_k
from discovery_pipelines.search.precision import autocast, resolve_precision

log = logging.getLogger(__name__)

Mode = Literal["dense", "bm25", "hybrid", "rerank", "ltr"]
MODES: tuple[str, ...] = ("dense", "bm25", "hybrid", "rerank", "ltr")
MAX_QUERY_CHARS = 512
MAX_K = 100
MAX_CANDIDATES = 1000
RRF_C = 60.0
DEFAULT_RERANK_TOP_N = 30

DEFAULT_MODEL_DIR = Path(os.environ.get("DISCOVERY_MODEL_DIR", "data/06_models/production"))
DEFAULT_INDEX_DIR = Path(os.environ.get("DISCOVERY_INDEX_DIR", "data/07_model_output/index"))
_ALLOWED_CC = {"\t", "\n", "\r"}
_CTRL = r"\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f"
#: The rule :func:`clean_query` enforces, as a regex for the OpenAPI spec (ECMA-262 and Python ``re``):
#: no control characters but tab/LF/CR, and at least one non-whitespace character.
QUERY_PATTERN = rf"^[^{_CTRL}]*[^\s{_CTRL}][^{_CTRL}]*$"
#: Filter text (category, store): no control characters at all.
TEXT_PATTERN = r"^[^\x00-\x1f\x7f-\x9f]*$"


class QueryError(ValueError):
    """The request cannot be served as asked (bad query text, k, mode or a filter this index
    cannot apply). Maps to HTTP 4xx; the message says what to change."""


class UnknownFilterValue(QueryError):
    """A filter names something the loaded index does not hold (e.g. a store): HTTP 404."""


class NoIndexLoaded(RuntimeError):
    """The service has no index loaded yet (HTTP 503)."""


def clean_query(text: Any, max_chars: int = MAX_QUERY_CHARS) -> str:
    """Validate and normalise a query: tabs/newlines -> spaces, whitespace collapsed.

    Raises:
        QueryError: not a string, empty after stripping, longer than ``max_chars`` characters,
            or holding control characters (Unicode category Cc other than tab/newline/CR),
            lone surrogates (Cs) or NUL.
    """
    if not isinstance(text, str):
        raise QueryError(f"query must be a string, got {type(text).__name__}")
    if len(text) > max_chars:
        raise QueryError(f"query is {len(text)} characters long; the limit is {max_chars}")
    for i, ch in enumerate(text):
        cat = unicodedata.category(ch)
        if (cat == "Cc" and ch not in _ALLOWED_CC) or cat == "Cs":
            raise QueryError(f"query holds a control or surrogate character U+{ord(ch):04X} at position {i}")
    out = " ".join(text.split())
    if not out:
        raise QueryError("query is empty (only whitespace)")
    return out


@dataclass(frozen=True)
class Filters:
    """Restrictions applied inside retrieval (never post-filtering a top-k).

    Attributes:
        category: a ``category_path`` prefix on level boundaries, case-insensitive:
            ``"Tools > Power Tools"`` matches ``"tools > power tools"`` and
            ``"Tools > Power Tools > Drills"`` but not ``"Tools > Power Tools Accessories"``.
        available_only: keep products whose ``available`` column is true.
        store: keep products whose ``store_<store>`` column is true.
        product_ids: keep only these products (a store's assortment); unknown ids are ignored.
    """

    category: str | None = None
    available_only: bool = False
    store: str | None = None
    product_ids: tuple[str, ...] | None = None

    @property
    def active(self) -> bool:
        return bool(self.category or self.available_only or self.store or self.product_ids is not None)


@dataclass(frozen=True)
class Hit:
    """One result. ``ranks``/``scores`` are per retriever (1-based rank in that retriever's
    candidate list; dense score = inner product, bm25 score = BM25); ``score`` is the score of
    the mode asked for (RRF score for hybrid)."""

    rank: int
    product_id: str
    title: str
    score: float
    retrievers: list[str]
    ranks: dict[str, int]
    scores: dict[str, float]


@dataclass(frozen=True)
class SearchResult:
    query: str
    mode: str
    k: int
    index_id: str
    model_fingerprint: str
    n_candidates: int
    dense_backend: str | None
    took_ms: float
    hits: list[Hit]


def _norm_category(s: str) -> str:
    return ">".join(part.strip().casefold() for part in str(s).split(">"))


@dataclass(eq=False)
class SearchEngine:
    """Everything needed to answer queries over one exported index (built once, then read-only).

    Args:
        loaded: the index from :func:`discovery_pipelines.search.index.load_index`.
        model: the ``SentenceTransformer`` whose fingerprint the manifest records.
        device: torch device for exact search (``"cuda"`` when available by default).
    """

    loaded: LoadedIndex
    model: Any
    model_fingerprint: str
    device: str = "cpu"
    loaded_at: float = field(default_factory=time.time)

    def __post_init__(self) -> None:
        import torch

        ids = self.loaded.ids
        self.n = len(self.loaded)
        self.product_ids = self.loaded.product_ids
        self.titles = ids["title"].astype(str).to_numpy(dtype=object)
        self.position = {pid: i for i, pid in enumerate(self.product_ids)}
        self.bm25 = BM25Retriever(list(self.titles), list(self.product_ids))
        emb = self.loaded.embeddings
        self.doc = None
        if emb is not None and self.loaded.metric == "ip":
            self.doc = torch.from_numpy(emb).to(self.device)
        self._category = (
            ids["category_path"].astype("string").fillna("").map(_norm_category).to_numpy(dtype=object)
            if "category_path" in ids.columns else None
        )
        self._available = ids["available"].fillna(False).astype(bool).to_numpy() if "available" in ids.columns else None
        self.stores = sorted(c[len("store_"):] for c in ids.columns if c.startswith("store_"))
        self._encode_lock = threading.Lock()
        # queries are encoded under the rule the offline evaluation encodes them with (bf16 autocast where the
        # hardware runs it natively, DISCOVERY_PRECISION to override): a query alone then gets the vector it got
        # in an evaluation batch up to padding rounding (1 - cos ~1e-7), so the served order is the one scored
        self.query_precision = resolve_precision()
        # per-engine cache (dies with the engine on a swap, unlike a class-level lru_cache)
        self._category_mask = functools.lru_cache(maxsize=256)(self._category_mask_uncached)
        self._faiss_kind = self._classify_faiss(self.loaded.index)
        self.search_params = dict(self.loaded.manifest.get("search_params") or {})
        manifest = self.loaded.manifest
        self.fusion = FusionConfig.from_dict(manifest.get("fusion"))
        rr = manifest.get("reranker") or {}
        self.reranker = None
        self.rerank_top_n = int(rr.get("top_n", DEFAULT_RERANK_TOP_N))
        self.rerank_first_stage_weight = float(rr.get("first_stage_weight", 0.0))
        if rr.get("dir"):
            from discovery_pipelines.search.rerank import load_cross_encoder

            self.reranker = load_cross_encoder(self.loaded.path / rr["dir"], device=self.device)
        lt = manifest.get("ltr") or {}
        self.ranker = None
        self.ltr_depth = int(lt.get("depth", 50))
        if lt.get("file"):
            from discovery_pipelines.search.ltr import load_ranker

            self.ranker = load_ranker(self.loaded.path / lt["file"])
            self._emb = self.loaded.embeddings
            if self._emb is None:   # loaded without embeddings.npy: the vectors from a flat faiss index
                try:
                    self._emb = self.loaded.index.reconstruct_n(0, self.n)
                except RuntimeError as e:
                    log.warning("ltr disabled: index %s has no vectors for the cosine feature (%s)", self.index_id, e)
                    self.ranker = None
        self.default_mode = str(manifest.get("default_mode") or "hybrid")
        if self._lacks_reranker(self.default_mode):
            self.default_mode = "hybrid"
        self._rerank_lock = threading.Lock()

    def _lacks_reranker(self, mode: str) -> bool:
        """``rerank`` without an exported cross-encoder, or ``ltr`` without an exported ranker."""
        return (mode == "rerank" and self.reranker is None) or (mode == "ltr" and self.ranker is None)

    @staticmethod
    def _classify_faiss(index: Any) -> str:
        import faiss

        if isinstance(index, faiss.IndexFlat):
            return "flat"
        if faiss.try_extract_index_ivf(index) is not None:
            return "ivf"
        if isinstance(index, faiss.IndexHNSW):
            return "hnsw"
        return "other"

    @property
    def index_id(self) -> str:
        return self.loaded.index_id

    # ---- filters -------------------------------------------------------------------------
    def _category_mask_uncached(self, prefix: str) -> np.ndarray:
        p = _norm_category(prefix)
        cats = self._category
        return np.fromiter((c == p or c.startswith(p + ">") for c in cats), dtype=bool, count=len(cats))

    def mask_for(self, filters: Filters) -> np.ndarray | None:
        """Bool ``(N,)`` of products passing ``filters`` (``None`` = no filter).

        Raises:
            QueryError: a filter names a column this index was exported without.
        """
        if not filters.active:
            return None
        mask = np.ones(self.n, dtype=bool)
        if filters.category:
            if self._category is None:
                raise QueryError("filter 'category' needs a category_path column; this index has none")
            mask &= self._category_mask(filters.category)
        if filters.available_only:
            if self._available is None:
                raise QueryError("filter 'available_only' needs an 'available' column; this index has none")
            mask &= self._available
        if filters.store:
            col = f"store_{filters.store}"
            if col not in self.loaded.ids.columns:
                raise UnknownFilterValue(f"unknown store {filters.store!r}; this index knows stores {self.stores}")
            mask &= self.loaded.ids[col].fillna(False).astype(bool).to_numpy()
        if filters.product_ids is not None:
            sel = np.zeros(self.n, dtype=bool)
            pos = [self.position[p] for p in filters.product_ids if p in self.position]
            sel[pos] = True
            mask &= sel
        return mask

    # ---- retrievers ----------------------------------------------------------------------
    def encode_query(self, query: str) -> np.ndarray:
        """float32 ``(1, d)`` L2-normalised query vector (the tokenizer is not thread-safe: locked), encoded at
        ``query_precision`` (:func:`search.precision.resolve_precision`, as :func:`search.embeddings.encode`)."""
        device_type = getattr(getattr(self.model, "device", None), "type", "cpu")
        with self._encode_lock, autocast(self.query_precision, device_type=device_type):
            v = self.model.encode([query], normalize_embeddings=True, convert_to_numpy=True,
                                  show_progress_bar=False)
        return np.ascontiguousarray(v, dtype=np.float32)

    def dense_positions(self, qv: np.ndarray, k: int, mask: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, str]:
        """Top-``k`` ``(positions int64, scores float32, backend)`` for one query vector ``(1, d)``."""
        import torch

        if self.doc is not None and (self._faiss_kind == "flat" or mask is not None):
            i, s = (a[0] for a in masked_top_k(torch.from_numpy(qv).to(self.doc.device), self.doc, k, mask))
            keep = np.isfinite(s)
            return i[keep], s[keep].astype(np.float32), f"torch-exact-{self.doc.device.type}"
        return (*self._faiss_search(qv, k, mask), f"faiss-{self.loaded.manifest.get('factory')}")

    def _faiss_search(self, qv: np.ndarray, k: int, mask: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        import faiss

        kind, sp = self._faiss_kind, self.search_params
        sel = None
        if mask is not None:
            bits = np.packbits(mask, bitorder="little")
            sel = faiss.IDSelectorBitmap(self.n, faiss.swig_ptr(bits))
        if kind == "ivf":
            params = faiss.SearchParametersIVF(sel=sel, nprobe=int(sp.get("nprobe", 16)))
        elif kind == "hnsw":
            params = faiss.SearchParametersHNSW(sel=sel, efSearch=int(sp.get("efSearch", max(64, k))))
        else:
            params = faiss.SearchParameters(sel=sel) if sel is not None else None
        kk = min(k, self.n)
        scores, labels = self.loaded.index.search(qv, kk, params=params)
        keep = labels[0] >= 0
        s = scores[0][keep].astype(np.float32)
        if self.loaded.metric == "l2":
            s = -s  # higher is better everywhere in the API
        return labels[0][keep].astype(np.int64), s

    def bm25_positions(self, query: str, k: int, mask: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        ids, scores = self.bm25.search([query], k=min(k, self.n), mask=mask)
        keep = np.array([p is not None for p in ids[0]], dtype=bool)
        pos = np.array([self.position[p] for p in ids[0][keep]], dtype=np.int64)
        return pos, scores[0][keep].astype(np.float32)

    def search(self, query: str, k: int = 10, mode: str | None = None, filters: Filters | None = None,
               candidates: int = 100, weights: dict[str, float] | None = None,
               rerank_top_n: int | None = None) -> SearchResult:
        """Top-``k`` products for ``query``.

        Args:
            query: raw text (validated by :func:`clean_query`).
            k: 1..``MAX_K`` results.
            mode: ``"dense"``, ``"bm25"``, ``"hybrid"``, ``"rerank"`` or ``None`` (the index's default mode).
            filters: restrictions applied inside retrieval.
            candidates: depth of each retriever's list fused by hybrid (>= k, <= ``MAX_CANDIDATES``).
            weights: fusion weights per retriever (default: the index's tuned fusion weights).
            rerank_top_n: hybrid candidates the cross-encoder re-scores (default: the manifest's ``top_n``).

        Raises:
            QueryError: bad query, k, mode, candidates or an unsupported filter. ``rerank`` (``ltr``) on an
                index exported without a cross-encoder (ranker) answers with its hybrid ranking
                (``result.mode == "hybrid"``).
        """
        t0 = time.perf_counter()
        q = clean_query(query)
        mode = self.default_mode if mode is None else mode
        if not isinstance(k, int) or not 1 <= k <= MAX_K:
            raise QueryError(f"k must be an integer in 1..{MAX_K}, got {k!r}")
        if mode not in MODES:
            raise QueryError(f"mode must be one of {list(MODES)}, got {mode!r}")
        if self._lacks_reranker(mode):
            mode = "hybrid"   # an index exported without that re-ranker serves its first stage; the result says so
        top_n = self.rerank_top_n if rerank_top_n is None else int(rerank_top_n)
        if mode == "rerank" and not 1 <= top_n <= MAX_CANDIDATES:
            raise QueryError(f"rerank_top_n must be in 1..{MAX_CANDIDATES}, got {rerank_top_n!r}")
        if not 1 <= candidates <= MAX_CANDIDATES:
            raise QueryError(f"candidates must be in 1..{MAX_CANDIDATES}, got {candidates!r}")
        filters = filters or Filters()
        mask = self.mask_for(filters)
        n_cand = self.n if mask is None else int(mask.sum())
        backend = None
        runs: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        fused = mode in ("hybrid", "rerank", "ltr")
        depth = k if not fused else max(k, candidates)
        qv = None
        if n_cand > 0:
            if mode != "bm25":
                qv = self.encode_query(q)
                pos, sc, backend = self.dense_positions(qv, depth, mask)
                runs["dense"] = (pos, sc)
            if mode != "dense":
                runs["bm25"] = self.bm25_positions(q, depth, mask)
        per_rank = {name: {int(p): r + 1 for r, p in enumerate(pos)} for name, (pos, _) in runs.items()}
        per_score = {name: {int(p): float(s) for p, s in zip(pos, sc)} for name, (pos, sc) in runs.items()}
        ce_scores: dict[int, float] = {}
        if fused and runs:
            cfg = self.fusion if weights is None else FusionConfig(self.fusion.method, weights, self.fusion.c)
            fused_ids, fused_sc = fuse(
                # bm25 first, as the evaluation fuses: RRF ties keep the order products first appear in the runs
                {n: (np.asarray(pos, dtype=object)[None, :], sc[None, :]) for n, (pos, sc) in sorted(runs.items())},
                cfg, k={"hybrid": k, "rerank": max(k, top_n), "ltr": max(k, self.ltr_depth)}[mode],
            )
            final = [(int(p), float(s)) for p, s in zip(fused_ids[0], fused_sc[0]) if p is not None]
            if mode == "rerank":
                final, ce_scores = self._rerank(q, final, top_n, k)
            elif mode == "ltr":
                final = self._ltr(q, qv, final, per_score.get("bm25", {}), k)
        elif runs:
            pos, sc = runs[mode]
            final = [(int(p), float(s)) for p, s in zip(pos[:k], sc[:k])]
        else:
            final = []
        hits = []
        for r, (p, s) in enumerate(final):
            found = [n for n in runs if p in per_rank[n]]
            hits.append(Hit(
                rank=r + 1, product_id=str(self.product_ids[p]), title=str(self.titles[p]), score=s,
                retrievers=found, ranks={n: per_rank[n][p] for n in found},
                scores={**{n: per_score[n][p] for n in found},
                        **({"cross_encoder": ce_scores[p]} if p in ce_scores else {})},
            ))
        return SearchResult(q, mode, k, self.index_id, self.model_fingerprint, n_cand, backend,
                            (time.perf_counter() - t0) * 1000.0, hits)


    def _rerank(self, query: str, fused: list[tuple[int, float]], top_n: int, k: int
                ) -> tuple[list[tuple[int, float]], dict[int, float]]:
        """The fused list's first ``top_n`` re-ordered by cross-encoder logit interpolated with the fused score
        by the manifest's ``first_stage_weight``, then the rest; first ``k``. Also ``{row: raw logit}``."""
        from discovery_pipelines.search.rerank import interpolate, order_by_logits, score_pairs

        head, tail = [p for p, _ in fused[:top_n]], [p for p, _ in fused[top_n:]]
        with self._rerank_lock:   # one forward pass at a time: the tokenizer is not thread-safe
            logits = score_pairs(self.reranker, [query] * len(head), [str(self.titles[p]) for p in head],
                                 batch_size=max(len(head), 1))
        scores = interpolate(logits, [s for _, s in fused[:top_n]], self.rerank_first_stage_weight)
        return order_by_logits(head, scores, tail)[:k], {p: float(x) for p, x in zip(head, logits)}


    def _ltr(self, query: str, qv: np.ndarray, fused: list[tuple[int, float]], bm25: dict[int, float], k: int
             ) -> list[tuple[int, float]]:
        """The fused list's first ``ltr_depth`` re-ordered by the LambdaMART score, then the rest; first ``k``."""
        from discovery_pipelines.search.ltr import score_head
        from discovery_pipelines.search.rerank import order_by_logits

        head, tail = [p for p, _ in fused[: self.ltr_depth]], [p for p, _ in fused[self.ltr_depth:]]
        if not head:
            return fused[:k]
        scores = score_head(self.ranker, query, [str(self.titles[p]) for p in head], [s for _, s in fused[: len(head)]],
                            [bm25.get(p, 0.0) for p in head], self._emb[head] @ qv[0])
        return order_by_logits(head, scores, tail)[:k]


def default_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


@dataclass(frozen=True)
class ReloadOutcome:
    swapped: bool
    index_id: str | None
    previous_index_id: str | None
    message: str


class SearchService:
    """Holds the current :class:`SearchEngine` and replaces it when the index folder changes.

    Args:
        index_dir: exported index folder (watched: its ``manifest.json`` bytes).
        model_dir: model folder; default ``$DISCOVERY_MODEL_DIR`` or ``data/06_models/production``
            when it exists, else the ``model_path`` recorded in the manifest.
        device: torch device for exact dense search (default CUDA when available).
        poll_interval: seconds between manifest checks by :meth:`start_watcher`.
        load: load the index now (raises :class:`IndexLoadError` when it fails); with ``False``
            the service starts empty and answers 503 until a load succeeds.
    """

    def __init__(self, index_dir: str | os.PathLike[str] = DEFAULT_INDEX_DIR,
                 model_dir: str | os.PathLike[str] | None = None, *, device: str | None = None,
                 poll_interval: float = 2.0, load: bool = True) -> None:
        self.index_dir = Path(index_dir)
        self.model_dir = Path(model_dir) if model_dir is not None else None
        self.device = device or default_device()
        self.poll_interval = float(poll_interval)
        self._engine: SearchEngine | None = None
        self._reload_lock = threading.Lock()
        self._stop = threading.Event()
        self._watcher: threading.Thread | None = None
        self.last_error: str | None = None
        self.swaps = 0
        if load:
            out = self.reload()
            if self._engine is None:
                raise IndexLoadError(out.message)

    @property
    def engine(self) -> SearchEngine:
        """The current engine snapshot (read once per request)."""
        eng = self._engine
        if eng is None:
            raise NoIndexLoaded(f"no index loaded from {self.index_dir}" + (f": {self.last_error}" if self.last_error else ""))
        return eng

    @property
    def ready(self) -> bool:
        return self._engine is not None

    def _resolve_model_dir(self, manifest: dict[str, Any]) -> Path:
        if self.model_dir is not None:
            return self.model_dir
        # an index whose vectors only its own query model can read (e.g. the multimodal photo index, built by
        # a product tower in another space) pins that model: the production text model can never serve it
        pinned = (manifest.get("metadata") or {}).get("query_model") == "manifest"
        if pinned and manifest.get("model_path") and Path(manifest["model_path"]).is_dir():
            return Path(manifest["model_path"])
        if DEFAULT_MODEL_DIR.is_dir():
            return DEFAULT_MODEL_DIR
        if manifest.get("model_path") and Path(manifest["model_path"]).is_dir():
            return Path(manifest["model_path"])
        raise IndexLoadError(
            f"no model folder: {DEFAULT_MODEL_DIR} does not exist and the manifest of {self.index_dir} "
            f"records model_path {manifest.get('model_path')!r}; pass model_dir"
        )

    def _build(self) -> SearchEngine:
        from discovery_pipelines.search.models import load_model, model_fingerprint

        manifest, _ = read_manifest(self.index_dir)
        want = str(manifest.get("model_fingerprint"))
        cur = self._engine
        if cur is not None and cur.model_fingerprint == want:
            model, fp = cur.model, cur.model_fingerprint
        else:
            folder = self._resolve_model_dir(manifest)
            model = load_model(str(folder), device=self.device)
            fp = model_fingerprint(model)
        loaded = load_index(self.index_dir, expected_model_fingerprint=fp)
        return SearchEngine(loaded, model, fp, self.device)

    def reload(self, force: bool = False) -> ReloadOutcome:
        """Load the index folder if its manifest changed (or ``force``) and swap it in.

        Never raises for a bad or half-promoted index: the old engine keeps serving and the
        reason is returned (and kept in ``last_error``). ``last_error`` clears after a good
        reload, including one that finds the served index back in the folder ("index unchanged").
        """
        with self._reload_lock:
            prev = self._engine
            prev_id = prev.index_id if prev else None
            try:
                _, sha = read_manifest(self.index_dir)
            except IndexLoadError as e:
                self.last_error = str(e)
                return ReloadOutcome(False, prev_id, prev_id, f"not reloaded: {e}")
            if prev is not None and sha == prev.loaded.manifest_sha256 and not force:
                self.last_error = None  # the folder holds the index being served again: nothing is wrong
                return ReloadOutcome(False, prev_id, prev_id, "index unchanged")
            try:
                eng = self._build()
            except (IndexLoadError, OSError, ValueError, RuntimeError) as e:
                self.last_error = str(e)
                log.warning("index reload from %s failed, keeping %s: %s", self.index_dir, prev_id, e)
                return ReloadOutcome(False, prev_id, prev_id, f"not reloaded: {e}")
            self._engine = eng  # the swap: one reference store
            self.swaps += 1
            self.last_error = None
            log.info("serving index %s from %s (was %s)", eng.index_id, self.index_dir, prev_id)
            return ReloadOutcome(True, eng.index_id, prev_id, "swapped")

    def _watch(self) -> None:
        while not self._stop.wait(self.poll_interval):
            try:
                self.reload()
            except Exception:  # noqa: BLE001  (the watcher must outlive any one bad index)
                log.exception("index watcher")

    def start_watcher(self) -> None:
        """Poll ``index_dir/manifest.json`` every ``poll_interval`` s in a daemon thread."""
        if self._watcher is None or not self._watcher.is_alive():
            self._stop.clear()
            self._watcher = threading.Thread(target=self._watch, name="index-watcher", daemon=True)
            self._watcher.start()

    def stop_watcher(self) -> None:
        self._stop.set()
        if self._watcher is not None:
            self._watcher.join(timeout=10)
            self._watcher = None

    def status(self) -> dict[str, Any]:
        eng = self._engine
        return {
            "ready": eng is not None,
            "index_dir": str(self.index_dir),
            "manifest": str(self.index_dir / MANIFEST_FILE),
            "index_id": eng.index_id if eng else None,
            "n_vectors": eng.n if eng else None,
            "loaded_at": eng.loaded_at if eng else None,
            "swaps": self.swaps,
            "last_error": self.last_error,
            "device": self.device,
        }
