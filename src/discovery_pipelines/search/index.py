"""Export a product catalogue's embeddings to a faiss index folder, and load it back with checks.

An exported index is a folder written atomically (temp folder, then rename; see
:func:`discovery_pipelines.data.io.atomic_path`), so a reader sees either the old or the new index,
never a half-written one::

    <out_dir>/
      index.faiss       faiss index (``faiss.write_index``); labels are row positions 0..N-1
      ids.parquet       position -> product_id, title + filterable columns (category_path, brand,
                        available, store* ...), one row per vector, in index order
      embeddings.npy    optional float32 (N, d) L2-normalised vectors, for exact masked KNN /
                        re-ranking (skipped for large corpora with ``save_embeddings=False``)
      reranker/         optional cross-encoder folder (``mode=rerank``), its files listed in the manifest
      manifest.json     what built it and how to check it (see :func:`export_index`)

Faiss: Johnson, Douze & Jégou, "Billion-scale similarity search with GPUs", IEEE TBD 2019. The
``factory`` string is faiss' ``index_factory`` grammar: ``"Flat"`` (exact), ``"IVF256,Flat"``,
``"HNSW32"``, ``"IVF256,PQ32"``, ``"OPQ16,IVF256,PQ16"`` ...
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from discovery_pipelines.search.embeddings import DEFAULT_CACHE_DIR, corpus_fingerprint, encode, product_texts
from discovery_pipelines.data.io import atomic_path, sha256_bytes, sha256_file
from discovery_pipelines.search.precision import resolve_precision

FORMAT_VERSION = 1
INDEX_FILE = "index.faiss"
IDS_FILE = "ids.parquet"
MANIFEST_FILE = "manifest.json"
EMBEDDINGS_FILE = "embeddings.npy"
RERANKER_DIR = "reranker"
LTR_FILE = "ltr.txt"
SERVING_MODES = ("dense", "bm25", "hybrid", "rerank", "ltr")

#: Columns copied into ``ids.parquet`` when present in ``products`` (filters and display).
FILTER_COLUMNS = ("category_path", "brand", "color", "locale", "available")
METRICS = ("ip", "l2")


class IndexLoadError(ValueError):
    """An index folder is missing a file, is inconsistent with its manifest, or was built with
    another model. The message names the folder, the file and the field that failed."""


@dataclass(frozen=True)
class LoadedIndex:
    """An exported index in memory (treat as immutable; the search service swaps whole objects).

    Attributes:
        path: the index folder.
        index: the faiss index; ``index.ntotal == len(ids)``; search labels are row positions.
        ids: DataFrame in index order with ``position`` (int64), ``product_id``, ``title`` and
            the filterable columns that were exported.
        manifest: the parsed ``manifest.json``.
        embeddings: float32 ``(N, d)`` or ``None`` when not exported / not loaded.
        manifest_sha256: hash of the manifest bytes (identifies this exact export).
    """

    path: Path
    index: Any
    ids: pd.DataFrame
    manifest: dict[str, Any]
    embeddings: np.ndarray | None
    manifest_sha256: str = ""
    product_ids: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "product_ids", self.ids["product_id"].to_numpy(dtype=object))

    @property
    def index_id(self) -> str:
        """Unique id of this export (``manifest["index_id"]``)."""
        return str(self.manifest["index_id"])

    @property
    def dimension(self) -> int:
        return int(self.manifest["dimension"])

    @property
    def metric(self) -> str:
        return str(self.manifest["metric"])

    @property
    def is_exact(self) -> bool:
        """True for a flat (brute-force, exact) faiss index."""
        import faiss

        return isinstance(self.index, faiss.IndexFlat)

    def __len__(self) -> int:
        return int(self.index.ntotal)


def _library_versions() -> dict[str, str]:
    import importlib.metadata as md

    out = {}
    for pkg in ("faiss-cpu", "faiss-gpu", "numpy", "torch", "sentence-transformers", "pandas", "discovery_pipelines"):
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            continue
    return out


def _model_identity(model: Any) -> tuple[Any, str, str | None]:
    """(loaded model, weights fingerprint, model folder or None) for a name, path or loaded model.

    The fingerprint is :func:`models.model_fingerprint` of the *loaded* model (a hash of its
    weights), the same key :mod:`discovery_pipelines.search.evaluation` uses for the embedding cache, so
    one model copied to another folder keeps its fingerprint.
    """
    from discovery_pipelines.search.models import load_model, model_fingerprint, resolve_model_path

    folder = str(resolve_model_path(model).resolve()) if isinstance(model, (str, os.PathLike)) else None
    st = load_model(model)
    return st, model_fingerprint(st), folder


def build_faiss_index(vectors: np.ndarray, factory: str = "Flat", metric: str = "ip") -> Any:
    """A faiss index over ``vectors`` (float32 ``(N, d)``), trained when the factory needs it.

    Args:
        factory: ``faiss.index_factory`` description; labels are row positions 0..N-1.
        metric: ``"ip"`` (inner product; cosine for L2-normalised vectors) or ``"l2"``.

    Raises:
        ValueError: unknown metric, a bad factory string, or too few vectors to train it
            (IVF with ``nlist`` lists needs at least ``nlist`` training vectors; faiss advises 39x).
    """
    import faiss

    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    if vectors.ndim != 2 or vectors.shape[0] == 0:
        raise ValueError(f"vectors must be a non-empty 2-D array, got shape {vectors.shape}")
    d = vectors.shape[1]
    fmetric = faiss.METRIC_INNER_PRODUCT if metric == "ip" else faiss.METRIC_L2
    try:
        index = faiss.index_factory(d, factory, fmetric)
    except RuntimeError as e:
        raise ValueError(f"faiss could not build factory {factory!r} for d={d}: {e}") from e
    if not index.is_trained:
        ivf = faiss.try_extract_index_ivf(index)
        nlist = int(ivf.nlist) if ivf is not None else 0
        if nlist and vectors.shape[0] < nlist:
            raise ValueError(
                f"factory {factory!r} has {nlist} inverted lists but only {vectors.shape[0]} vectors to train on"
            )
        try:
            index.train(vectors)
        except RuntimeError as e:
            raise ValueError(f"training faiss index {factory!r} on {vectors.shape} failed: {e}") from e
    index.add(vectors)
    return index


def export_index(
    out_dir: str | os.PathLike[str],
    model: Any,
    products: pd.DataFrame,
    embeddings: np.ndarray | None = None,
    *,
    factory: str = "Flat",
    text_fields: Sequence[str] = ("title",),
    metric: str = "ip",
    cache_dir: str | os.PathLike[str] | None = DEFAULT_CACHE_DIR,
    save_embeddings: bool = True,
    extra_columns: Sequence[str] = (),
    search_params: dict[str, Any] | None = None,
    metadata: dict[str, Any] | None = None,
    show_progress: bool = True,
    fusion: dict[str, Any] | None = None,
    reranker: Any = None,
    rerank_top_n: int = 30,
    rerank_first_stage_weight: float = 0.0,
    default_mode: str = "hybrid",
    serving: dict[str, Any] | None = None,
    unit_norm: bool = True,
    ltr: Any = None,
    ltr_depth: int = 50,
) -> Path:
    """Encode ``products`` with ``model``, build a faiss index and write the index folder atomically.

    Args:
        out_dir: target folder; replaced whole if it exists (readers never see a partial folder).
        model: sentence-transformers name, folder or loaded ``SentenceTransformer``; its
            fingerprint is :func:`discovery_pipelines.search.models.model_fingerprint` of the loaded model
            (weights hash; ``fingerprint_kind="weights"``).
        products: contract products (``product_id``, ``title``; optional ``category_path``,
            ``brand``, ``available`` (bool), ``store*`` columns ...). Row order = index order.
        embeddings: precomputed float32 ``(N, d)`` L2-normalised vectors in ``products`` order;
            when ``None`` they are computed with :func:`discovery_pipelines.search.embeddings.encode`
            (on-disk cache in ``cache_dir``).
        factory: faiss ``index_factory`` string; IVF/PQ indexes are trained on the vectors.
        text_fields: product columns joined into the encoded text
            (:func:`discovery_pipelines.search.embeddings.product_texts`); recorded in the manifest. The
            search service's BM25 indexes the exported titles (``ids.parquet``) whatever these are.
        metric: ``"ip"`` (default; cosine on normalised vectors) or ``"l2"``.
        save_embeddings: also write ``embeddings.npy`` (exact masked KNN, re-ranking).
        extra_columns: more ``products`` columns to copy into ``ids.parquet``.
        search_params: defaults the service applies to non-flat indexes, e.g. ``{"nprobe": 16}``
            (IVF) or ``{"efSearch": 64}`` (HNSW).
        metadata: free-form JSON-able dict stored under ``manifest["metadata"]`` (run id, gate ...).
        fusion: the hybrid fusion chosen on dev (:meth:`discovery_pipelines.search.fusion.FusionConfig.to_dict`);
            default RRF c=60 with equal weights. The service fuses with it.
        reranker: a cross-encoder (``CrossEncoder`` or folder) copied into ``reranker/`` for ``mode=rerank``;
            ``rerank_top_n`` hybrid candidates it re-scores per query, its scores interpolated with the hybrid
            score by ``rerank_first_stage_weight`` (:func:`discovery_pipelines.search.rerank.interpolate`).
        ltr: a LambdaMART ranker (``lightgbm.Booster``, its model text or file;
            :mod:`discovery_pipelines.search.ltr`) written as ``ltr.txt`` for ``mode=ltr``: the hybrid's first
            ``ltr_depth`` products re-ordered by its score. Needs ``save_embeddings`` (the cosine feature).
        default_mode: the mode served when a request names none (one of ``SERVING_MODES``).
        serving: free-form record of how the serving choice was made (dev figures, latency budget).
        unit_norm: with ``metric="ip"``, vectors must be L2-normalised (default); ``False`` admits norms in
            ``(0, 1]``: expected-similarity vectors whose inner product with a query is an expectation
            (:func:`discovery_pipelines.multimodal.enrichment.expected_text_vectors`). Recorded in the manifest.

    Returns:
        ``Path(out_dir)``.

    Manifest fields: ``format_version``, ``index_id`` (uuid4 hex), ``created_utc`` (ISO 8601),
    ``model_fingerprint``, ``fingerprint_kind``, ``model_path``, ``dimension``, ``metric``,
    ``factory``, ``n_vectors``, ``is_trained``, ``text_fields``, ``corpus_fingerprint``
    (:func:`discovery_pipelines.search.embeddings.corpus_fingerprint` of the encoded texts),
    ``columns``, ``search_params``, ``files`` (name -> {bytes, sha256}; reranker files as
    ``reranker/<file>``), ``library_versions``, ``fusion``, ``reranker`` (``{"dir", "fingerprint", "top_n"}``
    or ``None``), ``ltr`` (``{"file", "depth", "features"}`` or ``None``), ``default_mode``, ``serving``,
    ``metadata``.

    Raises:
        ValueError: empty products, missing/duplicate ``product_id``, ``embeddings`` whose shape
            does not match ``products``, non-finite or non-normalised vectors with ``metric="ip"``,
            unknown ``extra_columns``, or a bad factory (see :func:`build_faiss_index`).
    """
    import faiss

    if len(products) == 0:
        raise ValueError("export_index: products is empty")
    for col in ("product_id", "title"):
        if col not in products.columns:
            raise ValueError(f"export_index: products has no {col!r} column (columns: {list(products.columns)})")
    pids = products["product_id"].astype(str)
    dup = pids[pids.duplicated()]
    if len(dup):
        raise ValueError(
            f"export_index: product_id must be unique; row {int(dup.index[0])} repeats {dup.iloc[0]!r}"
        )
    if default_mode not in SERVING_MODES or (default_mode == "rerank" and reranker is None) or (
            default_mode == "ltr" and ltr is None):
        raise ValueError(f"export_index: default_mode {default_mode!r} must be one of {SERVING_MODES} "
                         "('rerank' needs a reranker, 'ltr' a ranker)")
    if ltr is not None and not save_embeddings:
        raise ValueError("export_index: an ltr ranker needs save_embeddings=True (its cosine feature)")
    from discovery_pipelines.search.fusion import FusionConfig

    fusion_cfg = FusionConfig.from_dict(fusion).to_dict()
    missing = [c for c in extra_columns if c not in products.columns]
    if missing:
        raise ValueError(f"export_index: extra_columns {missing} are not product columns {list(products.columns)}")

    st, fingerprint, model_path = _model_identity(model)
    texts = product_texts(products, text_fields)
    precision = resolve_precision() if embeddings is None else None   # None: the caller passed the vectors
    if embeddings is None:
        embeddings = encode(
            st,
            texts,
            cache_dir=cache_dir,
            model_key=fingerprint,
            show_progress=show_progress,
            precision=precision,
        )
    emb = np.ascontiguousarray(embeddings, dtype=np.float32)
    if emb.ndim != 2 or emb.shape[0] != len(products):
        raise ValueError(f"export_index: embeddings shape {emb.shape} does not match {len(products)} products")
    if not np.isfinite(emb).all():
        bad = int(np.where(~np.isfinite(emb).all(axis=1))[0][0])
        raise ValueError(f"export_index: embeddings row {bad} (product {pids.iloc[bad]!r}) is not finite")
    if metric == "ip":
        norms = np.linalg.norm(emb, axis=1)
        off = np.abs(norms - 1.0) > 1e-3 if unit_norm else (norms <= 0.0) | (norms > 1.0 + 1e-3)
        if off.any():
            bad = int(np.where(off)[0][0])
            raise ValueError(
                f"export_index: metric 'ip' expects {'L2-normalised vectors' if unit_norm else 'norms in (0, 1]'}; "
                f"row {bad} (product {pids.iloc[bad]!r}) has norm {norms[bad]:.4f}"
            )

    index = build_faiss_index(emb, factory, metric)

    cols = ["product_id", "title"] + [
        c for c in products.columns
        if c not in ("product_id", "title") and (c in FILTER_COLUMNS or c.startswith("store") or c in extra_columns)
    ]
    ids = products[cols].reset_index(drop=True).copy()
    ids["product_id"] = pids.to_numpy()
    ids.insert(0, "position", np.arange(len(ids), dtype=np.int64))

    out = Path(out_dir)
    with atomic_path(out) as tmp:
        tmp.mkdir(parents=True)
        faiss.write_index(index, str(tmp / INDEX_FILE))
        ids.to_parquet(tmp / IDS_FILE, index=False, compression="zstd")
        files = [INDEX_FILE, IDS_FILE]
        if save_embeddings:
            with open(tmp / EMBEDDINGS_FILE, "wb") as fh:
                np.save(fh, emb)
            files.append(EMBEDDINGS_FILE)
        reranker_info = None
        if reranker is not None:
            from discovery_pipelines.search.rerank import cross_encoder_fingerprint, load_cross_encoder

            ce = load_cross_encoder(reranker)
            ce.save_pretrained(str(tmp / RERANKER_DIR))
            files += sorted(str(f.relative_to(tmp)) for f in (tmp / RERANKER_DIR).rglob("*") if f.is_file())
            reranker_info = {"dir": RERANKER_DIR, "fingerprint": cross_encoder_fingerprint(ce),
                             "top_n": int(rerank_top_n), "first_stage_weight": float(rerank_first_stage_weight)}
        ltr_info = None
        if ltr is not None:
            from discovery_pipelines.search.ltr import FEATURES, load_ranker

            load_ranker(ltr).save_model(str(tmp / LTR_FILE))
            files.append(LTR_FILE)
            ltr_info = {"file": LTR_FILE, "depth": int(ltr_depth), "features": list(FEATURES)}
        manifest = {
            "format_version": FORMAT_VERSION,
            "index_id": uuid.uuid4().hex,
            "created_utc": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
            "model_fingerprint": fingerprint,
            "fingerprint_kind": "weights",
            "model_path": model_path,
            "dimension": int(emb.shape[1]),
            "metric": metric,
            "unit_norm": bool(unit_norm),
            "factory": factory,
            "n_vectors": int(index.ntotal),
            "is_trained": bool(index.is_trained),
            "text_fields": list(text_fields),
            "encode_precision": precision,
            "corpus_fingerprint": corpus_fingerprint(texts),
            "columns": list(ids.columns),
            "search_params": dict(search_params or {}),
            "files": {f: {"bytes": (tmp / f).stat().st_size, "sha256": sha256_file(tmp / f)} for f in files},
            "library_versions": _library_versions(),
            "fusion": fusion_cfg,
            "reranker": reranker_info,
            "ltr": ltr_info,
            "default_mode": default_mode,
            "serving": dict(serving or {}),
            "metadata": dict(metadata or {}),
        }
        (tmp / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2, default=str), encoding="utf-8")
        for f in tmp.rglob("*"):
            if f.is_file():
                with open(f, "rb") as fh:
                    os.fsync(fh.fileno())
    return out


def read_manifest(path: str | os.PathLike[str]) -> tuple[dict[str, Any], str]:
    """``(manifest, sha256 of its bytes)`` of an index folder.

    Raises:
        IndexLoadError: no folder, no ``manifest.json``, or not a JSON object.
    """
    folder = Path(path)
    mf = folder / MANIFEST_FILE
    if not folder.is_dir():
        raise IndexLoadError(f"index folder {folder} does not exist")
    try:
        raw = mf.read_bytes()
    except FileNotFoundError:
        raise IndexLoadError(f"index folder {folder}: {MANIFEST_FILE} is missing") from None
    try:
        manifest = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise IndexLoadError(f"{mf}: not valid JSON ({e})") from e
    if not isinstance(manifest, dict):
        raise IndexLoadError(f"{mf}: expected a JSON object, got {type(manifest).__name__}")
    return manifest, sha256_bytes(raw)


def load_index(
    path: str | os.PathLike[str],
    *,
    expected_model_fingerprint: str | None = None,
    load_embeddings: bool = True,
    verify_checksums: bool = True,
) -> LoadedIndex:
    """Load an index folder written by :func:`export_index`, checking it against its manifest.

    Args:
        path: the index folder.
        expected_model_fingerprint: when given, must equal ``manifest["model_fingerprint"]``
            (the query encoder must be the model that embedded the catalogue).
        load_embeddings: read ``embeddings.npy`` when present; for a flat index without it the
            vectors are reconstructed from the faiss index.
        verify_checksums: compare each file's SHA-256 with the manifest (catches a folder
            replaced or corrupted between reading the manifest and the files).

    Raises:
        IndexLoadError: missing folder/file, unsupported ``format_version``, size/checksum
            mismatch, faiss ``ntotal`` or ``d`` differing from ``n_vectors``/``dimension``,
            ``ids.parquet`` row count or order wrong, embeddings shape wrong, or a model
            fingerprint mismatch. The message names the folder, file and field.
    """
    import faiss

    folder = Path(path)
    manifest, msha = read_manifest(folder)
    where = f"index {folder}"
    required = ("format_version", "index_id", "model_fingerprint", "dimension", "metric", "factory",
                "n_vectors", "files")
    missing = [k for k in required if k not in manifest]
    if missing:
        raise IndexLoadError(f"{where}: {MANIFEST_FILE} lacks field(s) {missing}")
    if manifest["format_version"] != FORMAT_VERSION:
        raise IndexLoadError(
            f"{where}: {MANIFEST_FILE} format_version {manifest['format_version']!r} is not supported "
            f"(this code reads {FORMAT_VERSION})"
        )
    if expected_model_fingerprint is not None and manifest["model_fingerprint"] != expected_model_fingerprint:
        raise IndexLoadError(
            f"{where}: {MANIFEST_FILE} model_fingerprint {manifest['model_fingerprint'][:12]}... does not match "
            f"the serving model {expected_model_fingerprint[:12]}...; re-export the index with this model"
        )
    files: dict[str, Any] = manifest["files"]
    for name in (INDEX_FILE, IDS_FILE):
        if name not in files:
            raise IndexLoadError(f"{where}: {MANIFEST_FILE} field 'files' lacks {name}")
    for name, info in files.items():
        f = folder / name
        if not f.is_file():
            raise IndexLoadError(f"{where}: file {name} listed in {MANIFEST_FILE} is missing")
        size = f.stat().st_size
        if size != info.get("bytes"):
            raise IndexLoadError(f"{where}: file {name} has {size} bytes, {MANIFEST_FILE} says {info.get('bytes')}")
        if verify_checksums and sha256_file(f) != info.get("sha256"):
            raise IndexLoadError(f"{where}: file {name} does not match its sha256 in {MANIFEST_FILE}")

    n, d = int(manifest["n_vectors"]), int(manifest["dimension"])
    try:
        index = faiss.read_index(str(folder / INDEX_FILE))
    except RuntimeError as e:
        raise IndexLoadError(f"{where}: faiss could not read {INDEX_FILE}: {e}") from e
    if index.ntotal != n:
        raise IndexLoadError(f"{where}: {INDEX_FILE} holds {index.ntotal} vectors, manifest n_vectors is {n}")
    if index.d != d:
        raise IndexLoadError(f"{where}: {INDEX_FILE} has dimension {index.d}, manifest dimension is {d}")
    ids = pd.read_parquet(folder / IDS_FILE)
    for col in ("position", "product_id", "title"):
        if col not in ids.columns:
            raise IndexLoadError(f"{where}: {IDS_FILE} has no {col!r} column")
    if len(ids) != n:
        raise IndexLoadError(f"{where}: {IDS_FILE} has {len(ids)} rows, manifest n_vectors is {n}")
    if not np.array_equal(ids["position"].to_numpy(), np.arange(n)):
        raise IndexLoadError(f"{where}: {IDS_FILE} column 'position' is not 0..{n - 1} in order")
    ids["product_id"] = ids["product_id"].astype(str)

    emb = None
    if load_embeddings:
        if EMBEDDINGS_FILE in files:
            emb = np.load(folder / EMBEDDINGS_FILE)
            if emb.shape != (n, d) or emb.dtype != np.float32:
                raise IndexLoadError(
                    f"{where}: {EMBEDDINGS_FILE} is {emb.dtype} {emb.shape}, expected float32 ({n}, {d})"
                )
        elif isinstance(index, faiss.IndexFlat):
            emb = index.reconstruct_n(0, n).astype(np.float32)
    return LoadedIndex(folder, index, ids, manifest, emb, msha)
