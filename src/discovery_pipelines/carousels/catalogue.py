"""The catalogue as the carousel stages see it: the items bought at least once, their text for the text
model, readable names of catalogue fields, category tree counts and store availability masks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

# Abbreviations of the completejourney category / product-type vocabulary, expanded for titles.
ABBREVIATIONS = {
    "frzn": "frozen", "brkfst": "breakfast", "whlsm": "wholesome", "drnks": "drinks", "drnk": "drink",
    "refrgratd": "refrigerated", "bn": "beans", "veg": "vegetables", "pnt": "peanut", "btr": "butter",
    "sald": "salad", "drsng": "dressing", "sndwch": "sandwich", "sprd": "spreads", "mxs": "mixes", "mx": "mix",
    "jce": "juice", "conc": "concentrate", "bkd": "baked", "fd": "food", "misc": "assorted", "pkgd": "packaged",
    "pckgd": "packaged", "cleang": "cleaning", "tiss": "tissues", "dnr": "dinner", "pwdr": "powder",
    "crystl": "crystal", "snks": "snacks", "ckys": "cookies", "crkr": "crackers", "cndy": "candy",
    "flvrd": "flavoured", "pkld": "pickled", "sply": "supplies", "hbc": "health & beauty", "dsh": "dishes",
    "trsh": "trash", "bg": "bags", "coco": "cocoa", "sherbts": "sherbets", "mw": "microwave", "gm": "general",
    "supppl": "supplies", "sw": "sweet", "gds": "goods", "dan": "danish",
}
_NON_FOOD_DEPARTMENTS = {"drug gm", "cosmetics", "floral", "garden center", "miscellaneous", "coupon", "fuel",
                         "travel & leisure", "photo & video", "cntrl/store sup", "toys", "postal center",
                         "charitable cont", "prod-whs sales", "automotive", "elect &plumbing", "gm merch exp",
                         "housewares", "personal care", "household", "babies", "pets", "other", "missing",
                         "unknown"}


def pretty(name: str) -> str:
    """A catalogue field value as title words: lower-case, abbreviations expanded, ``/`` parts joined
    (``"PNT BTR/JELLY/JAMS"`` -> ``"peanut butter, jelly and jams"``)."""
    parts = []
    for part in re.split(r"\s*/\s*|\s+-\s+", str(name).lower()):
        words = [ABBREVIATIONS.get(w.strip(".()"), w.strip("()")) for w in
                 re.split(r"[\s:]+", part.replace("&", " and ")) if w.strip(".()")]
        dedup: list[str] = []
        for w in words:
            if not dedup or w != dedup[-1]:
                dedup.append(w)
        if dedup:
            parts.append(" ".join(dedup))
    if len(parts) <= 1:
        return parts[0] if parts else str(name).lower()
    return ", ".join(parts[:-1]) + " and " + parts[-1]


def is_food_department(department: str) -> bool:
    """False for household, personal care, pets, general merchandise... departments."""
    return str(department).lower() not in _NON_FOOD_DEPARTMENTS


@dataclass
class Catalogue:
    """Items (products bought at least once) and their lookup tables.

    Attributes:
        items: products rows (``product_id, title, department, category, product_type, brand``) in index
            order; row ``i`` is embedding row ``i``.
        text: the text encoded per item (``product name | category | department``; completejourney has no
            names, so its title from the adapter, which starts with the product type, is used).
        category_size / product_type_size: number of items per value.
        store_ids / store_masks: on sources with stores, ``(n_stores, n_items)`` bool of the items each store
            sold (seed 004's availability masks); ``None`` otherwise.
    """

    items: pd.DataFrame
    text: list[str]
    category_size: dict[str, int]
    product_type_size: dict[str, int]
    store_ids: list[str] | None = None
    store_masks: np.ndarray | None = None

    @property
    def has_stores(self) -> bool:
        return self.store_masks is not None

    def topic_size(self, categories: list[str], product_types: list[str]) -> int:
        """Items a metadata block matches: product types when given (the narrow form), else categories."""
        if product_types:
            return int(sum(self.product_type_size.get(p, 0) for p in product_types))
        return int(sum(self.category_size.get(c, 0) for c in categories))

    def metadata_mask(self, categories: list[str], product_types: list[str] | None = None) -> np.ndarray:
        """Bool ``(n_items,)``: item category in ``categories`` or product type in ``product_types``."""
        m = self.items["category"].isin(categories).to_numpy()
        if product_types:
            m |= self.items["product_type"].isin(product_types).to_numpy()
        return m


def build_catalogue(lines: pd.DataFrame, products: pd.DataFrame) -> Catalogue:
    """Catalogue of every product in the source catalogue (stubs for unknown ids excluded), so the item
    embeddings do not depend on which users are profiled; store masks from ``lines.store_id`` when filled."""
    items = products
    if "in_source_catalogue" in products.columns:
        items = products[products["in_source_catalogue"].fillna(True).astype(bool)]
    items = items.copy()
    items = items[["product_id", "title", "department", "category", "product_type", "brand"]]
    items = items.sort_values("product_id", kind="stable").reset_index(drop=True)
    for c in ("category", "product_type", "brand"):
        items[c] = items[c].astype(object).where(items[c].notna(), None)
    has_types = items["product_type"].notna().any()
    if has_types:  # completejourney: the adapter's title is "type | category | department | brand | size"
        text = [" | ".join(str(v) for v in (r.product_type, r.category, r.department) if v)
                for r in items.itertuples(index=False)]
    else:
        text = [" | ".join(str(v) for v in (r.title, r.category, r.department) if v)
                for r in items.itertuples(index=False)]
    cat_size = items["category"].dropna().value_counts().to_dict()
    pt_size = items["product_type"].dropna().value_counts().to_dict()
    store_ids, masks = None, None
    if "store_id" in lines.columns and lines["store_id"].notna().any():
        pos = pd.Series(np.arange(len(items)), index=items["product_id"].astype(str))
        sl = lines.loc[lines["store_id"].notna(), ["store_id", "product_id"]].drop_duplicates()
        sl = sl[sl["product_id"].astype(str).isin(pos.index)]  # stub products of unknown ids are not items
        store_ids = sorted(sl["store_id"].astype(str).unique())
        spos = pd.Series(np.arange(len(store_ids)), index=store_ids)
        masks = np.zeros((len(store_ids), len(items)), dtype=bool)
        masks[spos[sl["store_id"].astype(str)].to_numpy(), pos[sl["product_id"].astype(str)].to_numpy()] = True
    return Catalogue(items, text, {str(k): int(v) for k, v in cat_size.items()},
                     {str(k): int(v) for k, v in pt_size.items()}, store_ids, masks)


def store_profiles(lines: pd.DataFrame, catalogue: Catalogue, top_n: int = 12) -> pd.DataFrame:
    """``store_id, n_lines, text``: each store's profile text (its most sold categories), for embedding."""
    if not catalogue.has_stores:
        return pd.DataFrame(columns=["store_id", "n_lines", "text"])
    cat = dict(zip(catalogue.items["product_id"].astype(str), catalogue.items["category"]))
    l = lines[["store_id", "product_id"]].copy()
    l["category"] = l["product_id"].astype(str).map(cat)
    rows = []
    for sid in catalogue.store_ids or []:
        g = l[l["store_id"].astype(str) == sid]
        top = g["category"].dropna().value_counts().head(top_n).index
        rows.append({"store_id": sid, "n_lines": int(len(g)),
                     "text": "store selling " + ", ".join(pretty(c) for c in top) if len(top) else "store"})
    return pd.DataFrame(rows)
