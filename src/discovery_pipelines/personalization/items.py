"""Item tables keyed by item code: text embeddings, departments, prices."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from discovery_pipelines.search.embeddings import DEFAULT_CACHE_DIR, encode


def item_table(lines: pd.DataFrame, products: pd.DataFrame) -> pd.DataFrame:
    """One row per item code ``i`` (0..n_items-1): product_id plus the histories products columns.

    Raises:
        KeyError: an item's product_id is missing from ``products`` (the contract forbids it).
    """
    ids = lines[["i", "product_id"]].drop_duplicates("i").sort_values("i")
    out = ids.merge(products, on="product_id", how="left", validate="one_to_one")
    if out["title"].isna().any():
        raise KeyError(f"products table lacks {int(out['title'].isna().sum())} item(s) of the lines")
    return out.reset_index(drop=True)


def text_embeddings(items: pd.DataFrame, model, *, cache_dir: str | os.PathLike[str] | None = DEFAULT_CACHE_DIR,
                    batch_size: int = 128, precision: str | None = None, show_progress: bool = True) -> np.ndarray:
    """L2-normalised float32 ``(n_items, dim)`` title embeddings, row = item code.

    Each distinct title is encoded once (Complete Journey's 68k items have ~17k distinct taxonomy titles)
    through :func:`discovery_pipelines.search.embeddings.encode` and its on-disk cache.
    """
    titles = items["title"].astype(str)
    uniq, inv = np.unique(titles.to_numpy(), return_inverse=True)
    emb = encode(model, list(uniq), batch_size=batch_size, cache_dir=Path(cache_dir) if cache_dir else None,
                 show_progress=show_progress, precision=precision)
    return np.ascontiguousarray(emb[inv], dtype=np.float32)
