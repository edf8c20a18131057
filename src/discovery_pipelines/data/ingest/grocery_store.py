"""GroceryStore (Klasson et al., WACV 2019) adapter: one **listing** per shop photo.

The folder holds ``items.parquet`` (one row per photo: ``image_path`` relative to the folder,
``split``, fine / coarse class ids and names) and ``classes.parquet`` (one row per fine class, with
its English ``description``). A listing is one photo:

* ``product_id`` = the photo's ``image_path`` exactly as in ``items.parquet`` (relative to the folder);
* ``image_path`` = the same relative path (resolve it against the dataset folder);
* ``category_path`` = ``"{coarse} > {fine}"`` (class names with ``-`` read as spaces);
* ``title`` = the fine class name, with the coarse name appended when the fine name lacks it
  (``Granny-Smith`` -> ``"Granny Smith Apple"``); ``description`` = the class description.

A seeded share ``blank_title_share`` of the listings (of every split) gets an empty title and no
description, as real catalogues have listings known by their photo alone; ``1.0`` blanks all.
Extra columns: ``split``, ``fine_class_id``, ``fine_class_name``, ``coarse_class_id``,
``coarse_class_name``, ``blank_title`` (bool).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from discovery_pipelines.data.contract import ContractError, conform, validate
from discovery_pipelines.data.ingest.base import require_file

SPLITS = ("train", "val", "test")
LISTING_EXTRA = ["split", "fine_class_id", "fine_class_name", "coarse_class_id", "coarse_class_name", "blank_title"]


@dataclass
class GroceryStore:
    """``listings``: contract ``listings`` table (+ :data:`LISTING_EXTRA`); ``classes``: one row per fine
    class with ``fine_class_id``, ``fine_class_name``, ``coarse_class_id``, ``coarse_class_name``,
    ``title``, ``description``, ``class_text`` (title and description, the text the text tower encodes)."""

    listings: pd.DataFrame
    classes: pd.DataFrame


def pretty_name(name: str) -> str:
    """``"Granny-Smith"`` -> ``"Granny Smith"``."""
    return " ".join(str(name).replace("-", " ").split())


def class_title(fine: str, coarse: str) -> str:
    """Listing title of a fine class: its name, plus the coarse name when not already in it."""
    f, c = pretty_name(fine), pretty_name(coarse)
    return f if c.lower() in f.lower() else f"{f} {c}"


def check_classes(classes: pd.DataFrame, source: str) -> pd.DataFrame:
    """Validate ``classes.parquet`` and add ``title`` / ``class_text``.

    Raises:
        ContractError: missing column, duplicate ``fine_class_id``, or an empty / missing description
            (the message names ``source``, the row and the class).
    """
    need = ["fine_class_id", "fine_class_name", "coarse_class_id", "coarse_class_name", "description"]
    missing = [c for c in need if c not in classes.columns]
    if missing:
        raise ContractError(f"{source}: missing column(s) {missing}; has {list(classes.columns)}")
    c = classes.reset_index(drop=True).copy()
    dup = c["fine_class_id"].duplicated()
    if dup.any():
        r = int(np.flatnonzero(dup)[0])
        raise ContractError(f"{source}: row {r}: fine_class_id {c.loc[r, 'fine_class_id']!r} is repeated")
    desc = c["description"].astype("string").fillna("").str.strip()
    if (desc == "").any():
        r = int(np.flatnonzero(desc == "")[0])
        raise ContractError(f"{source}: row {r} column=description: empty description for fine class "
                            f"{c.loc[r, 'fine_class_name']!r} (id {c.loc[r, 'fine_class_id']})")
    c["description"] = desc.astype(str)
    c["fine_class_id"] = c["fine_class_id"].astype(int)
    c["coarse_class_id"] = c["coarse_class_id"].astype(int)
    c["title"] = [class_title(f, k) for f, k in zip(c["fine_class_name"], c["coarse_class_name"])]
    c["class_text"] = c["title"] + " | " + c["description"]
    return c.sort_values("fine_class_id").reset_index(drop=True)


def blank_mask(n: int, share: float, seed: int) -> np.ndarray:
    """Boolean mask with exactly ``round(share * n)`` seeded ``True`` entries.

    Raises:
        ValueError: ``share`` outside ``[0, 1]``.
    """
    if not 0.0 <= float(share) <= 1.0:
        raise ValueError(f"blank_title_share must be in [0, 1], got {share!r}")
    k = int(round(float(share) * n))
    mask = np.zeros(n, dtype=bool)
    mask[np.random.default_rng(seed).permutation(n)[:k]] = True
    return mask


def load_grocery_store(folder: str | Path, *, blank_title_share: float = 0.5, seed: int = 0,
                       on_missing_image: str = "raise") -> GroceryStore:
    """Read ``items.parquet`` / ``classes.parquet`` of ``folder`` and build the listings
    (:func:`listings_from_tables`, same arguments and errors)."""
    folder = Path(folder)
    items_p = require_file(folder, "items.parquet")
    classes_p = require_file(folder, "classes.parquet")
    return listings_from_tables(pd.read_parquet(items_p), pd.read_parquet(classes_p), folder,
                                blank_title_share=blank_title_share, seed=seed, on_missing_image=on_missing_image,
                                items_source=str(items_p), classes_source=str(classes_p))


def listings_from_tables(items: pd.DataFrame, classes: pd.DataFrame, folder: str | Path, *,
                         blank_title_share: float = 0.5, seed: int = 0, on_missing_image: str = "raise",
                         items_source: str = "items.parquet", classes_source: str = "classes.parquet") -> GroceryStore:
    """Contract listings from the dataset's two tables (see module doc).

    Args:
        items, classes: the ``items.parquet`` / ``classes.parquet`` tables; folder: the dataset folder
            (photo paths are relative to it).
        blank_title_share: share of listings whose title and description are emptied (seeded by ``seed``).
        on_missing_image: ``"raise"`` (default) or ``"skip"``: a photo file that does not exist raises
            ``FileNotFoundError`` naming it, or is dropped (the count is in ``listings.attrs["skipped"]``).
        items_source, classes_source: file names quoted in errors.

    Raises:
        FileNotFoundError: (with ``"raise"``) a photo is missing.
        ContractError: an unknown class id, a class name / coarse class disagreeing with the classes
            table, an unknown split, an empty description; messages name the file and row.
    """
    if on_missing_image not in ("raise", "skip"):
        raise ValueError(f"on_missing_image must be 'raise' or 'skip', got {on_missing_image!r}")
    folder = Path(folder)
    items_p, classes_p = items_source, classes_source
    classes = check_classes(classes, str(classes_p))
    items = items.reset_index(drop=True)
    need = ["image_path", "split", "fine_class_id"]
    missing = [c for c in need if c not in items.columns]
    if missing:
        raise ContractError(f"{items_p}: missing column(s) {missing}; has {list(items.columns)}")
    known = set(classes["fine_class_id"])
    fine = pd.to_numeric(items["fine_class_id"], errors="coerce")
    bad = ~fine.isin(known)
    if bad.any():
        r = int(np.flatnonzero(bad)[0])
        raise ContractError(f"{items_p}: row {r} column=fine_class_id: unknown class id "
                            f"{str(items.loc[r, 'fine_class_id'])!r} (image {items.loc[r, 'image_path']!r}); "
                            f"{int(bad.sum())} row(s) affected, known ids 0..{max(known)}")
    bad_split = ~items["split"].isin(SPLITS)
    if bad_split.any():
        r = int(np.flatnonzero(bad_split)[0])
        raise ContractError(f"{items_p}: row {r} column=split: {items.loc[r, 'split']!r} is not one of {SPLITS}")
    items["fine_class_id"] = fine.astype(int)
    meta = classes.set_index("fine_class_id")
    for col in ("coarse_class_id", "fine_class_name", "coarse_class_name"):
        if col in items.columns:
            expect = items["fine_class_id"].map(meta[col])
            off = items[col].astype(str) != expect.astype(str)
            if off.any():
                r = int(np.flatnonzero(off)[0])
                raise ContractError(f"{items_p}: row {r} column={col}: {items.loc[r, col]!r} disagrees with "
                                    f"{classes_p} ({expect.iloc[r]!r} for fine class {items.loc[r, 'fine_class_id']})")
    exists = np.array([(folder / p).is_file() for p in items["image_path"].astype(str)])
    skipped = int((~exists).sum())
    if skipped and on_missing_image == "raise":
        r = int(np.flatnonzero(~exists)[0])
        raise FileNotFoundError(f"{items_p}: row {r}: image file {folder / items.loc[r, 'image_path']} does not exist "
                                f"({skipped} missing in all; set on_missing_image: skip to drop them)")
    items = items[exists].reset_index(drop=True)
    m = meta.loc[items["fine_class_id"]].reset_index()
    blank = blank_mask(len(items), blank_title_share, seed)
    listings = pd.DataFrame({
        "product_id": items["image_path"].astype(str),
        "title": np.where(blank, "", m["title"].to_numpy()),
        "description": pd.Series(np.where(blank, None, m["description"].to_numpy()), dtype="object"),
        "category_path": [f"{pretty_name(c)} > {pretty_name(f)}" for c, f in
                          zip(m["coarse_class_name"], m["fine_class_name"])],
        "image_path": items["image_path"].astype(str),
        "locale": "en-US",
        "split": items["split"].astype(str),
        "fine_class_id": items["fine_class_id"].astype(int),
        "fine_class_name": m["fine_class_name"].astype(str).to_numpy(),
        "coarse_class_id": m["coarse_class_id"].astype(int).to_numpy(),
        "coarse_class_name": m["coarse_class_name"].astype(str).to_numpy(),
        "blank_title": blank,
    })
    listings = validate(conform(listings, "listings"), "listings", f"{items_p} (listings)")
    listings.attrs["skipped"] = skipped
    return GroceryStore(listings, classes)
