"""WANDS (Wayfair ANnotation DataSet, Chen et al., ECIR 2022) adapter.

Upstream files are tab-separated: ``product.csv`` (product_id, product_name, product_class,
category hierarchy, product_description, product_features ``|``-joined ``name:value``, rating_count,
average_rating, review_count), ``query.csv`` (query_id, query, query_class) and ``label.csv``
(id, query_id, product_id, label in Exact / Partial / Irrelevant). Files are read from ``folder``;
when a file is absent and ``download=True`` they are fetched once from the public repository at the
pinned commit :data:`WANDS_COMMIT`, checked against :data:`WANDS_CHECKSUMS` and only then cached in
``folder`` (written to a temporary file and renamed); a failed or mismatching download raises
:class:`WandsDownloadError` and leaves nothing behind. A ``query.parquet`` copy (as in the shared data) is
also accepted.
"""

from __future__ import annotations

import hashlib
import json
import urllib.error
import urllib.request
from pathlib import Path

import pandas as pd

from discovery_pipelines.data.contract import OnUnknown
from discovery_pipelines.data.ingest.base import Dataset, read_table
from discovery_pipelines.data.io import atomic_path

WANDS_COMMIT = "3b74dcf4ba29ab8ff3e6a50b5b09fc627cb882b5"
"""The upstream commit (wayfair/WANDS, 18 Jan 2022) the files are pinned to."""
WANDS_URL = f"https://raw.githubusercontent.com/wayfair/WANDS/{WANDS_COMMIT}/dataset/{{name}}"
WANDS_CHECKSUMS: dict[str, dict[str, str]] = {
    # git_blob_sha1: the file's id in that commit's tree (``git hash-object``: SHA-1 of ``"blob <size>\0"`` +
    # bytes), known for every file; sha256 where the bytes were hashed here too (query.csv, 19,942 bytes).
    "query.csv": {"git_blob_sha1": "acb3c1f4cf1b775f494225afec79ec2163fc3e03",
                  "sha256": "63b61660560fecc33ec490804c7e2b81402ee3e7c31a9cbb5e03736639f68e95"},
    "product.csv": {"git_blob_sha1": "a415f7295dc0d90b3163ef606da611a4e9ddeca8"},
    "label.csv": {"git_blob_sha1": "2c09a0d7b1f77f6040deb5873b5a90b8ef1e3ae9"},
}
"""Checksums every downloaded file must match (see :func:`verify_checksum`)."""
WANDS_GAINS: dict[str, float] = {"Exact": 2.0, "Partial": 1.0, "Irrelevant": 0.0}
"""Gains used in the WANDS paper's nDCG (Exact 2, Partial 1, Irrelevant 0)."""


class WandsDownloadError(OSError):
    """A WANDS file could not be downloaded, or its bytes do not match :data:`WANDS_CHECKSUMS`."""


def verify_checksum(name: str, data: bytes, checksums: dict[str, dict[str, str]] | None = None) -> None:
    """Check ``data`` (the bytes of upstream file ``name``) against its pinned git blob SHA-1 and sha256.

    Raises:
        WandsDownloadError: ``name`` has no pinned checksum, or a digest differs (both digests named).
    """
    want = (checksums or WANDS_CHECKSUMS).get(name)
    if not want:
        raise WandsDownloadError(f"WANDS {name}: no pinned checksum; refusing an unverified download")
    got = {"git_blob_sha1": hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest(),
           "sha256": hashlib.sha256(data).hexdigest()}
    for algo, digest in want.items():
        if got[algo] != digest:
            raise WandsDownloadError(f"WANDS {name}: {algo} {got[algo]} does not match the pinned {digest} "
                                     f"({len(data):,} bytes downloaded)")


def _fetch(folder: Path, name: str, download: bool, timeout: float, base_url: str) -> Path | None:
    path = folder / name
    if path.exists():
        return path
    if not download:
        return None
    url = base_url.format(name=name)
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            data = r.read()
    except (urllib.error.URLError, OSError) as e:
        raise WandsDownloadError(f"WANDS {name}: download from {url} failed: {e}") from e
    verify_checksum(name, data)
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return path


def _features_to_json(s: object) -> str | None:
    if not isinstance(s, str) or not s.strip():
        return None
    out: dict[str, str] = {}
    for part in s.split("|"):
        if ":" in part:
            k, v = part.split(":", 1)
            out[k.strip()] = v.strip()
    return json.dumps(out, ensure_ascii=False)


def load_wands(
    folder: str | Path,
    *,
    download: bool = False,
    gains: dict[str, float] | None = None,
    timeout: float = 30.0,
    base_url: str = WANDS_URL,
    on_unknown: OnUnknown = "reject",
) -> Dataset:
    """Load WANDS into the contract (``on_unknown``: ``reject`` / ``drop`` labels naming an unknown
    query or product; products are only checked when ``product.csv`` is present).

    Args:
        folder: local folder with the upstream TSVs (or ``query.parquet``); also the download cache.
        download: fetch the missing TSVs (query, product, label) from the pinned commit and cache them;
            every one must download and match its checksum (needs network).
        gains: label -> gain; default :data:`WANDS_GAINS`.
        timeout: seconds per download.
        base_url: URL template with ``{name}`` (default :data:`WANDS_URL`; a mirror must serve the same bytes).

    Returns:
        Dataset; products/qrels are empty when their files are not available (queries-only copy).

    Raises:
        FileNotFoundError: no query file at all. ContractError: a row breaks the contract;
        ValueError: a label outside ``gains`` (file, row and value named).
        WandsDownloadError: with ``download=True``, a file failed to download or to match its checksum.
    """
    folder = Path(folder)
    gains = gains or WANDS_GAINS
    qpath = _fetch(folder, "query.csv", download, timeout, base_url)
    if qpath is not None:
        q = read_table(qpath, sep="\t")
    elif (folder / "query.parquet").exists():
        qpath = folder / "query.parquet"
        q = read_table(qpath)
    else:
        raise FileNotFoundError(f"WANDS: no query.csv or query.parquet in {folder}")
    queries = pd.DataFrame({"query_id": "wands:" + q["query_id"].astype(str), "text": q["query"]})
    if "query_class" in q:
        queries["query_class"] = q["query_class"]

    ds = Dataset("wands", pd.DataFrame({"product_id": [], "title": [], "locale": []}), queries)
    ppath = _fetch(folder, "product.csv", download, timeout, base_url)
    if ppath is not None:
        p = read_table(ppath, sep="\t")
        hier = next((c for c in p.columns if c.replace(" ", "_") == "category_hierarchy"), None)
        ds.products = pd.DataFrame(
            {
                "product_id": "wands:" + p["product_id"].astype(str),
                "title": p["product_name"],
                "description": p.get("product_description"),
                "category_path": p[hier].astype("string").str.replace(r"\s*/\s*", " > ", regex=True) if hier else None,
                "attributes": p.get("product_features", pd.Series(index=p.index, dtype=object)).map(_features_to_json),
                "locale": "en-US",
            }
        )
        if "product_class" in p:
            ds.products["product_class"] = p["product_class"]
    lpath = _fetch(folder, "label.csv", download, timeout, base_url)
    if lpath is not None:
        lab = read_table(lpath, sep="\t")
        bad = ~lab["label"].isin(list(gains))
        if bad.any():
            i = int(bad.idxmax())
            raise ValueError(f"{lpath}: row={i} column=label value={lab.loc[i, 'label']!r} not in {sorted(gains)}")
        ds.qrels = pd.DataFrame(
            {
                "query_id": "wands:" + lab["query_id"].astype(str),
                "product_id": "wands:" + lab["product_id"].astype(str),
                "gain": lab["label"].map(gains).astype(float),
                "label": lab["label"],
            }
        ).drop_duplicates(["query_id", "product_id"], keep="last")
    return ds.validated(str(qpath.parent), on_unknown=on_unknown, check_products=ppath is not None)
