"""Crash-safe file output and the project's one content-hashing implementation.

Writes go to a temporary sibling that is then renamed onto the target with ``os.replace`` (atomic
on POSIX): a reader never sees a half-written file, and an exception mid-write leaves the previous
version intact. There is no ``fsync``: the rename is atomic against crashes of this process, not
against a power loss of the machine.

Content hashes (SHA-256, FIPS 180-4) of bytes, text, JSON values, files and folders are computed by
the ``sha256_*`` / :func:`tree_digest` functions below and nowhere else: the stage cache, the model
and corpus fingerprints, the embedding cache, the index manifest, the training job key and the LLM
response cache all call them.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd

_ADDRESS_RE = re.compile(r" at 0x[0-9a-fA-F]+")


# --------------------------------------------------------------------------------------------
# Content hashing (SHA-256 everywhere; hex digests of 64 characters)
# --------------------------------------------------------------------------------------------


def sha256_bytes(data: bytes) -> str:
    """Hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def sha256_text(text: str) -> str:
    """Hex SHA-256 of the UTF-8 encoding of ``text``."""
    return sha256_bytes(text.encode("utf-8"))


def sha256_parts(parts: Iterable[bytes | str]) -> str:
    """Hex SHA-256 of the concatenation of ``parts`` (``str`` parts are UTF-8 encoded), streamed.

    The caller chooses separators: ``sha256_parts(f"{t}\\0" for t in texts)`` hashes a list of
    strings unambiguously without building one large string.
    """
    h = hashlib.sha256()
    for part in parts:
        h.update(part.encode("utf-8") if isinstance(part, str) else part)
    return h.hexdigest()


def canonical_json(value: Any) -> str:
    """Serialise ``value`` deterministically: sorted keys, no whitespace, ``repr`` for the rest.

    Object reprs are stripped of memory addresses (``<... at 0x7f...>``) so they are stable
    between processes.
    """
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=repr, ensure_ascii=False)
    return _ADDRESS_RE.sub("", text)


def sha256_json(value: Any) -> str:
    """Hex SHA-256 of :func:`canonical_json` of ``value`` (key order and whitespace do not matter)."""
    return sha256_text(canonical_json(value))


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Hex SHA-256 of the bytes of regular file ``path``, streamed (``hashlib.file_digest``).

    Raises:
        FileNotFoundError / IsADirectoryError / PermissionError: ``path`` cannot be read as a file.
    """
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def tree_digest(
    root: str | os.PathLike[str],
    files: Iterable[str | os.PathLike[str]] | None = None,
    file_digest: Callable[[Path], str] = sha256_file,
) -> str:
    """Hex SHA-256 of a folder: of ``"<relative posix path>\\0<file digest>\\n"`` per file, sorted by path.

    Args:
        root: the folder.
        files: the files to include, as paths relative to ``root`` (or absolute); default every regular file
            below ``root`` (empty folders contribute nothing, symlinks are followed).
        file_digest: digest of one file (the stage cache passes its memoised
            ``StateStore.file_digest``); default :func:`sha256_file`.

    Two folders with the same relative paths and file bytes get the same digest wherever they are
    and whatever they are named. Raises ``FileNotFoundError`` for a listed file that is missing.
    """
    base = Path(root)
    if files is None:
        chosen = [Path(d) / n for d, _, names in os.walk(base) for n in names]
        chosen = [f for f in chosen if f.is_file()]
    else:
        chosen = [f if Path(f).is_absolute() else base / f for f in map(Path, files)]
    keyed = sorted((f.relative_to(base).as_posix(), f) for f in chosen)
    return sha256_parts(f"{rel}\0{file_digest(f)}\n" for rel, f in keyed)



def path_digest(path: str | os.PathLike[str], file_digest: Callable[[Path], str] = sha256_file) -> str | None:
    """Content digest of a file (``"f:" + sha256``) or a folder (``"d:" +`` :func:`tree_digest`), or
    ``None`` when ``path`` does not exist. The prefix keeps a file and a folder of equal hash apart."""
    p = Path(path)
    if p.is_file():
        return "f:" + file_digest(p)
    if p.is_dir():
        return "d:" + tree_digest(p, file_digest=file_digest)
    return None

@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it onto ``path``.

    Works for files and directories (a directory target is replaced whole: the old one is moved
    aside, the new one renamed in, then the old one deleted).

    Raises:
        Whatever the body raises; the temporary path is removed and ``path`` is untouched.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    inner = tmp / target.name
    try:
        yield inner
        if not inner.exists():
            raise FileNotFoundError(f"atomic write to {target}: nothing was written to {inner}")
        if inner.is_dir() and target.exists():
            old = target.parent / f".{target.name}.old"
            if old.exists():
                shutil.rmtree(old) if old.is_dir() else old.unlink()
            os.replace(target, old)
            os.replace(inner, target)
            shutil.rmtree(old) if old.is_dir() else old.unlink()
        else:
            os.replace(inner, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def write_json(obj: Any, path: str | os.PathLike[str], **kwargs: Any) -> Path:
    """Atomically write ``obj`` as indented UTF-8 JSON. Returns the final path."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, ensure_ascii=False, default=str, **kwargs), encoding="utf-8")
    return Path(path)


def write_text(text: str, path: str | os.PathLike[str]) -> Path:
    """Atomically write UTF-8 text. Returns the final path."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def write_parquet(df: pd.DataFrame, path: str | os.PathLike[str]) -> Path:
    """Atomically write a DataFrame as Parquet (zstd). Returns the final path."""
    with atomic_path(path) as tmp:
        df.to_parquet(tmp, index=False, compression="zstd")
    return Path(path)


def write_figure(fig: Any, path: str | os.PathLike[str], dpi: int = 110) -> Path:
    """Atomically save a matplotlib figure as PNG, then close it. Returns the final path."""
    import matplotlib.pyplot as plt

    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi)
    plt.close(fig)
    return Path(path)
