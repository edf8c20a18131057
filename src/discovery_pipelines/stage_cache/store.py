"""SQLite state of the stage cache: the file-digest memo and one record per node.

``<cache_dir>/state.sqlite`` has two tables:

* ``files(path, size, mtime_ns, inode, digest)``: SHA-256 of a file, reused while its
  ``(size, mtime_ns, inode)`` is unchanged; a file modified in the last 2 s is always re-read and
  not memoised (git's "racy timestamp" rule), so a same-size rewrite within one mtime tick is seen;
* ``nodes(name, record, updated)``: the fingerprint parts and output digests of each node's last
  successful run (JSON).

A damaged database (``sqlite3.DatabaseError``: "database disk image is malformed", "file is not a
database", or a failing ``PRAGMA quick_check``) never locks a user out: the file (with its ``-wal`` /
``-shm`` companions) is moved aside to ``state.sqlite.corrupt-<UTC time>``, the event is logged with
both paths, and a fresh, empty state is used, so every node of that run runs (as with
``--no-cache``) and the records are rebuilt. When no database can be created in ``cache_dir`` at all
(read-only folder, full disk) the run keeps its state in memory.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from discovery_pipelines.data.io import path_digest, sha256_file

logger = logging.getLogger(__name__)

STATE_FILE = "state.sqlite"
_RACY_WINDOW_NS = 2_000_000_000
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS files (path TEXT PRIMARY KEY, size INTEGER, "
    "mtime_ns INTEGER, inode INTEGER, digest TEXT)",
    "CREATE TABLE IF NOT EXISTS nodes (name TEXT PRIMARY KEY, record TEXT, updated REAL)",
)


def _open(path: Path | str) -> sqlite3.Connection:
    """Open (creating if needed) and verify the state database.

    Raises:
        sqlite3.DatabaseError: the file is not a usable SQLite database (message from SQLite or
            from ``PRAGMA quick_check``).
    """
    con = sqlite3.connect(path, timeout=60, isolation_level=None)
    try:
        if str(path) != ":memory:":
            con.execute("PRAGMA journal_mode=WAL")
        for stmt in _SCHEMA:
            con.execute(stmt)
        check = [str(r[0]) for r in con.execute("PRAGMA quick_check").fetchall()]
        if check != ["ok"]:
            raise sqlite3.DatabaseError("PRAGMA quick_check: " + "; ".join(check[:3]))
    except sqlite3.DatabaseError:
        con.close()
        raise
    return con


class StateStore:
    """SQLite state of the stage cache: file-digest cache and per-node records.

    Args:
        cache_dir: folder for ``state.sqlite`` (created if missing).

    Attributes:
        path: the database file.
        recovered_from: ``None``, or the path a damaged database was moved to when opening it.
        files_hashed / bytes_hashed: files (and their bytes) read to compute digests so far.

    The connection uses a 60 s busy timeout so concurrent ``kedro run`` processes sharing one
    checkout serialise their (short) writes instead of failing.
    """

    def __init__(self, cache_dir: str | os.PathLike[str]):
        self.cache_dir = Path(cache_dir)
        self.path = self.cache_dir / STATE_FILE
        self.recovered_from: Path | None = None
        self.files_hashed = 0
        self.bytes_hashed = 0
        self._con = self._connect()

    def _connect(self) -> sqlite3.Connection:
        try:
            self.cache_dir.mkdir(parents=True, exist_ok=True)
            return _open(self.path)
        except sqlite3.DatabaseError as exc:
            if not self.path.exists():
                return self._memory(exc)
            aside = self.path.with_name(f"{STATE_FILE}.corrupt-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}")
            logger.error(
                "stage cache: the state database %s is damaged (%s); moved it to %s and running "
                "without cache (every node runs, records are rebuilt)", self.path, exc, aside,
            )
            for suffix in ("", "-wal", "-shm"):
                src = Path(f"{self.path}{suffix}")
                if src.exists():
                    os.replace(src, Path(f"{aside}{suffix}"))
            self.recovered_from = aside
            try:
                return _open(self.path)
            except sqlite3.DatabaseError as again:
                return self._memory(again)
        except OSError as exc:
            return self._memory(exc)

    def _memory(self, exc: BaseException) -> sqlite3.Connection:
        logger.error("stage cache: cannot use %s (%s); keeping this run's state in memory only", self.path, exc)
        return _open(":memory:")

    def close(self) -> None:
        """Close the database connection."""
        self._con.close()

    # -- file digests --------------------------------------------------------------------
    def file_digest(self, path: Path) -> str:
        """SHA-256 of the bytes of regular file ``path``, reusing a cached digest when the file's
        ``(size, mtime_ns, inode)`` is unchanged and it was not modified in the last 2 seconds.

        Raises:
            FileNotFoundError: ``path`` does not exist.
        """
        key = str(path.resolve())
        st = path.stat()
        row = self._con.execute(
            "SELECT size, mtime_ns, inode, digest FROM files WHERE path = ?", (key,)
        ).fetchone()
        if row is not None and tuple(row[:3]) == (st.st_size, st.st_mtime_ns, st.st_ino):
            return str(row[3])
        digest = sha256_file(path)
        self.files_hashed += 1
        self.bytes_hashed += st.st_size
        if time.time_ns() - st.st_mtime_ns > _RACY_WINDOW_NS:
            self._con.execute(
                "INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?, ?)",
                (key, st.st_size, st.st_mtime_ns, st.st_ino, digest),
            )
        return digest

    def path_digest(self, path: str | os.PathLike[str]) -> str | None:
        """Content digest of a file or folder (:func:`discovery_pipelines.data.io.path_digest` with
        memoised file digests), or ``None`` when it does not exist."""
        return path_digest(path, self.file_digest)

    # -- node records ----------------------------------------------------------------------
    def get_node(self, name: str) -> dict[str, Any] | None:
        """The record stored for node ``name`` at its last successful run, or ``None``."""
        row = self._con.execute("SELECT record FROM nodes WHERE name = ?", (name,)).fetchone()
        return json.loads(row[0]) if row else None

    def put_node(self, name: str, record: Mapping[str, Any]) -> None:
        """Store the record of a node that just succeeded."""
        self._con.execute(
            "INSERT OR REPLACE INTO nodes VALUES (?, ?, ?)",
            (name, json.dumps(record, sort_keys=True), time.time()),
        )

    def delete_node(self, name: str) -> None:
        """Forget node ``name`` (it failed, so its outputs may be partial)."""
        self._con.execute("DELETE FROM nodes WHERE name = ?", (name,))
