"""Per-user profiles from order histories (stage 1) and the held-out next basket.

Input: the histories contract tables (:mod:`discovery_pipelines.data.histories`). For every user with at
least ``min_baskets`` baskets the last basket (by timestamp) is held out: its items are the ground truth
of the personal hit-rate, and its day of week and hour are the context the carousels are generated for
(the "next visit"). The profile is computed from the earlier baskets only, with DuckDB SQL:

* top departments / categories / product types / items by lines bought (``top_n`` each),
* brand mix (share of lines per brand value, e.g. Private vs National on completejourney),
* price band (the user's median unit price relative to the catalogue-wide median of the same
  products: ``low`` < 0.9 <= ``mid`` <= 1.1 < ``high``) and deal share (share of lines with a discount),
  both null where the source has no prices (Instacart),
* usual days of week and dayparts (most frequent two).

Dayparts from the basket hour (store clock): breakfast 5-10 h, lunch 11-14 h, dinner 15-20 h, late
21-4 h (seed 004: "part of day, for example breakfast or lunch").
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd

from discovery_pipelines.carousels.schema import DAYPARTS

DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def daypart_of(hour: Any) -> str | None:
    """``breakfast`` (5-10), ``lunch`` (11-14), ``dinner`` (15-20), ``late`` (21-4); ``None`` for a null hour.

    Raises:
        ValueError: an hour outside 0..23.
    """
    if hour is None or (isinstance(hour, float) and np.isnan(hour)) or pd.isna(hour):
        return None
    h = int(hour)
    if not 0 <= h <= 23:
        raise ValueError(f"hour must be in 0..23, got {hour!r}")
    if 5 <= h <= 10:
        return "breakfast"
    if 11 <= h <= 14:
        return "lunch"
    if 15 <= h <= 20:
        return "dinner"
    return "late"


def split_next_basket(lines: pd.DataFrame, min_baskets: int = 2) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, int]]:
    """``(history, next_basket, counts)``: each user's last basket held out from the earlier ones.

    Users with fewer than ``min_baskets`` baskets are skipped (counted as ``users_too_few_baskets``);
    a user with an empty history therefore never reaches generation.

    Raises:
        KeyError: ``lines`` lacks user_id / basket_id / timestamp / product_id.
    """
    need = ["user_id", "basket_id", "timestamp", "product_id"]
    missing = [c for c in need if c not in lines.columns]
    if missing:
        raise KeyError(f"histories lines: missing column(s) {missing}")
    b = (lines.groupby(["user_id", "basket_id"], sort=False)["timestamp"].min().reset_index()
         .sort_values(["user_id", "timestamp", "basket_id"], kind="stable"))
    b["rank_from_end"] = b.groupby("user_id").cumcount(ascending=False)
    n_b = b.groupby("user_id").size()
    ok_users = set(n_b[n_b >= min_baskets].index)
    last = set(b.loc[(b["rank_from_end"] == 0) & b["user_id"].isin(ok_users), "basket_id"])
    keep = lines["user_id"].isin(ok_users)
    is_last = lines["basket_id"].isin(last)
    counts = {"users_in": int(n_b.size), "users_too_few_baskets": int((n_b < min_baskets).sum()),
              "users_profiled": len(ok_users)}
    return (lines[keep & ~is_last].reset_index(drop=True), lines[keep & is_last].reset_index(drop=True), counts)


_PROFILE_SQL = """
WITH l AS (
  SELECT h.user_id, h.basket_id, h.product_id, h.price, h.discount, h.day_of_week, h.hour,
         p.department, p.category, p.product_type, p.brand
  FROM hist h JOIN prods p USING (product_id)
),
ranked AS (
  SELECT user_id, field, value, n,
         row_number() OVER (PARTITION BY user_id, field ORDER BY n DESC, value) AS r
  FROM (
    SELECT user_id, 'department' AS field, department AS value, count(*) AS n FROM l
      WHERE department IS NOT NULL GROUP BY ALL
    UNION ALL SELECT user_id, 'category', category, count(*) FROM l WHERE category IS NOT NULL GROUP BY ALL
    UNION ALL SELECT user_id, 'product_type', product_type, count(*) FROM l WHERE product_type IS NOT NULL GROUP BY ALL
    UNION ALL SELECT user_id, 'item', product_id, count(*) FROM l GROUP BY ALL
    UNION ALL SELECT user_id, 'brand', brand, count(*) FROM l WHERE brand IS NOT NULL GROUP BY ALL
    UNION ALL SELECT user_id, 'day', CAST(day_of_week AS VARCHAR), count(DISTINCT basket_id) FROM l GROUP BY ALL
    UNION ALL SELECT user_id, 'daypart', CASE WHEN hour BETWEEN 5 AND 10 THEN 'breakfast'
                                              WHEN hour BETWEEN 11 AND 14 THEN 'lunch'
                                              WHEN hour BETWEEN 15 AND 20 THEN 'dinner' ELSE 'late' END,
                     count(DISTINCT basket_id) FROM l WHERE hour IS NOT NULL GROUP BY ALL
  )
),
med AS (SELECT product_id, median(price) AS med_price FROM hist WHERE price > 0 GROUP BY product_id),
money AS (
  SELECT user_id, count(DISTINCT basket_id) AS n_baskets, count(*) AS n_lines,
         median(CASE WHEN h.price > 0 AND m.med_price > 0 THEN h.price / m.med_price END) AS price_ratio,
         avg(CASE WHEN h.price IS NULL THEN NULL WHEN h.discount > 0 THEN 1.0 ELSE 0.0 END) AS deal_share
  FROM hist h LEFT JOIN med m USING (product_id) GROUP BY user_id
)
SELECT m.user_id, m.n_baskets, m.n_lines, m.price_ratio, m.deal_share, r.field, r.value, r.n
FROM money m LEFT JOIN ranked r ON r.user_id = m.user_id AND r.r <= $top_n
ORDER BY m.user_id, r.field, r.n DESC, r.value
"""


def build_profiles(history: pd.DataFrame, products: pd.DataFrame, top_n: int = 5, con: Any = None) -> pd.DataFrame:
    """One row per user: ``user_id, n_baskets, n_lines, top_departments, top_categories,
    top_product_types, top_items, brand_mix, price_band, deal_share, usual_days, usual_dayparts``.

    List columns hold names (most frequent first); ``brand_mix`` is ``{brand: share}``; ``price_band``
    is low / mid / high or null, ``deal_share`` in 0..1 or null (no prices). Computed in DuckDB.
    """
    from discovery_pipelines.log_mining.mining import duckdb_connect

    own = con is None
    con = con or duckdb_connect(threads=2, memory_limit="3GB")
    try:
        cols = ["user_id", "basket_id", "product_id", "price", "discount", "day_of_week", "hour"]
        con.register("hist", history[cols])
        con.register("prods", products[["product_id", "department", "category", "product_type", "brand"]])
        df = con.execute(_PROFILE_SQL.replace("$top_n", str(int(top_n)))).df()
    finally:
        if own:
            con.close()
    rows = []
    for uid, g in df.groupby("user_id", sort=True):
        first = g.iloc[0]
        by = {f: gg for f, gg in g.groupby("field")}

        def names(field: str) -> list[str]:
            return by[field]["value"].astype(str).tolist() if field in by else []

        brands = by.get("brand")
        mix = {}
        if brands is not None:
            tot = float(brands["n"].sum())
            mix = {str(b): round(float(n) / tot, 3) for b, n in zip(brands["value"], brands["n"])}
        ratio = first["price_ratio"]
        band = None if pd.isna(ratio) else ("low" if ratio < 0.9 else "high" if ratio > 1.1 else "mid")
        rows.append({
            "user_id": str(uid), "n_baskets": int(first["n_baskets"]), "n_lines": int(first["n_lines"]),
            "top_departments": names("department"), "top_categories": names("category"),
            "top_product_types": names("product_type"), "top_items": names("item"),
            "brand_mix": json.dumps(mix), "price_band": band,
            "deal_share": None if pd.isna(first["deal_share"]) else round(float(first["deal_share"]), 3),
            "usual_days": [DAYS[int(d)] for d in names("day")[:2]],
            "usual_dayparts": [d for d in names("daypart")[:2] if d in DAYPARTS],
        })
    return pd.DataFrame(rows)


def visit_context(next_basket: pd.DataFrame) -> pd.DataFrame:
    """``user_id, daypart, day_of_week`` of each user's held-out basket (the visit carousels are made for).

    A basket without an hour gets daypart ``dinner`` (the busiest grocery daypart), counted in
    ``daypart_imputed``.
    """
    g = next_basket.groupby("user_id", sort=True).agg(hour=("hour", "first"), day_of_week=("day_of_week", "first"))
    dp = [daypart_of(h) for h in g["hour"]]
    out = pd.DataFrame({"user_id": g.index.astype(str), "daypart": [d or "dinner" for d in dp],
                        "day": [DAYS[int(d)] for d in g["day_of_week"]],
                        "daypart_imputed": [d is None for d in dp]})
    return out.reset_index(drop=True)


def profile_text(profile: dict[str, Any], max_items: int = 5) -> str:
    """The compact profile as prompt text (lists trimmed, no ids).

    Catalogue names are untrusted text: they are sanitised by the caller's prompt renderer.
    """
    def j(v: Any) -> str:
        return ", ".join(map(str, list(v)[:max_items])) if v is not None and len(v) else "-"

    parts = [f"departments: {j(profile.get('top_departments'))}",
             f"categories: {j(profile.get('top_categories'))}",
             f"product types: {j(profile.get('top_product_types'))}",
             f"usual days: {j(profile.get('usual_days'))}", f"usual dayparts: {j(profile.get('usual_dayparts'))}"]
    if profile.get("price_band"):
        parts.append(f"price band: {profile['price_band']}, deal share: {profile.get('deal_share')}")
    return "; ".join(parts)
