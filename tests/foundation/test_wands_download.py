"""WANDS downloads are pinned by checksum and a failed download is an error (local HTTP server, no internet).

The server serves the real upstream ``query.csv`` bytes, rebuilt from the shared ``query.parquet`` (its tab-
separated export is byte-identical to the file at the pinned commit: the pinned sha256 checks that).
"""

from __future__ import annotations

import functools
import http.server
import threading
from pathlib import Path

import pandas as pd
import pytest

from discovery_pipelines.data.ingest import load_wands
from discovery_pipelines.data.ingest.wands import WANDS_CHECKSUMS, WandsDownloadError, verify_checksum


@pytest.fixture()
def server(tmp_path):
    """(served folder, URL template) of a local HTTP server."""
    root = tmp_path / "served"
    root.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a, **k: None  # type: ignore[attr-defined]
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    yield root, f"http://127.0.0.1:{httpd.server_address[1]}/{{name}}"
    httpd.shutdown()
    httpd.server_close()


def _upstream_query_bytes(datasets_root: Path) -> bytes:
    return pd.read_parquet(datasets_root / "wands" / "query.parquet").to_csv(sep="\t", index=False).encode()


def _local_product_and_label(folder: Path) -> None:
    """Products and labels already cached locally (so only query.csv is downloaded)."""
    pd.DataFrame({"product_id": [10], "product_name": ["hydraulic salon chair"], "product_class": ["Chairs"],
                  "category hierarchy": ["Furniture / Chairs"], "product_description": ["a chair"],
                  "product_features": ["color:black"], "rating_count": [3], "average_rating": [4.5],
                  "review_count": [3]}).to_csv(folder / "product.csv", sep="\t", index=False)
    pd.DataFrame({"id": [0], "query_id": [0], "product_id": [10], "label": ["Exact"]}).to_csv(
        folder / "label.csv", sep="\t", index=False)


def test_verified_download_is_cached(server, tmp_path, datasets_root):
    served, url = server
    (served / "query.csv").write_bytes(_upstream_query_bytes(datasets_root))
    cache = tmp_path / "cache"
    cache.mkdir()
    _local_product_and_label(cache)
    ds = load_wands(cache, download=True, base_url=url)
    assert len(ds.queries) == 480 and ds.queries["query_id"].iloc[0] == "wands:0"
    assert (cache / "query.csv").read_bytes() == (served / "query.csv").read_bytes()
    (served / "query.csv").unlink()  # cached now: a second load does not download
    assert len(load_wands(cache, download=True, base_url=url).queries) == 480


def test_tampered_download_is_rejected_and_not_cached(server, tmp_path, datasets_root):
    served, url = server
    data = _upstream_query_bytes(datasets_root)
    (served / "query.csv").write_bytes(data.replace(b"salon chair", b"salon chaIr", 1))
    cache = tmp_path / "cache"
    cache.mkdir()
    with pytest.raises(WandsDownloadError, match=r"query.csv: git_blob_sha1 [0-9a-f]{40} does not match"):
        load_wands(cache, download=True, base_url=url)
    assert sorted(p.name for p in cache.iterdir()) == []  # nothing half-written or unverified left behind


def test_missing_file_or_dead_server_is_an_error_not_a_silent_skip(server, tmp_path, datasets_root):
    served, url = server
    (served / "query.csv").write_bytes(_upstream_query_bytes(datasets_root))
    cache = tmp_path / "cache"
    cache.mkdir()
    # product.csv is not served: 404 -> error naming the file and URL (was: a queries-only dataset)
    with pytest.raises(WandsDownloadError, match=r"product.csv: download from http://127.0.0.1:\d+/product.csv failed"):
        load_wands(cache, download=True, base_url=url)
    assert not (cache / "product.csv").exists()
    with pytest.raises(WandsDownloadError, match="download from http://127.0.0.1:9/query.csv failed"):
        load_wands(tmp_path / "other", download=True, base_url="http://127.0.0.1:9/{name}", timeout=5)


def test_checksums_cover_every_file_and_unpinned_names_are_refused():
    assert set(WANDS_CHECKSUMS) == {"query.csv", "product.csv", "label.csv"}
    with pytest.raises(WandsDownloadError, match="no pinned checksum"):
        verify_checksum("extra.csv", b"x")
