"""The carousels HTML page: headline figures, then for a few users their profile and carousels with items
(held-out next-basket items marked), blocked titles struck through."""

from __future__ import annotations

import html
import json
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

_CSS = """body{font-family:system-ui,sans-serif;margin:24px;color:#222}h1{font-size:22px}h2{font-size:18px;
margin-top:28px}table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ccc;padding:3px 8px;
font-size:13px;text-align:left}.car{margin:6px 0 14px 0}.title{font-weight:600}.meta{color:#666;font-size:12px}
.items{display:flex;flex-wrap:wrap;gap:6px;margin-top:4px}.item{border:1px solid #ddd;border-radius:6px;
padding:4px 6px;font-size:12px;max-width:210px}.hit{background:#e3f6e3;border-color:#5a5}.blocked{color:#a33;
text-decoration:line-through}.prof{background:#f6f6f9;padding:8px;border-radius:6px;font-size:13px}"""


def _fmt(v: Any) -> str:
    return f"{v:.3f}" if isinstance(v, float) else html.escape(str(v))


def carousel_html(metrics: Mapping[str, Any], profiles: pd.DataFrame, moderated: pd.DataFrame,
                  items: pd.DataFrame, stores: pd.DataFrame, products: pd.DataFrame,
                  baskets: Mapping[str, set[str]], n_users: int = 5, seed: int = 0) -> str:
    """A self-contained HTML page (no scripts, every value escaped)."""
    e = html.escape
    title_of = dict(zip(products["product_id"].astype(str), products["title"].astype(str)))
    head = [("precision@10 (relevance set)", metrics.get("precision@10")),
            ("hit-rate@10 carousel", metrics["hit_rate@10"].get("carousel")),
            ("hit-rate@10 popularity carousel", metrics["hit_rate@10"].get("popularity_carousel")),
            ("jury recall on bad (held-out, veto)", metrics["jury"]["heldout"]["veto"]["recall_bad"]),
            ("jury false-block on good (held-out, veto)", metrics["jury"]["heldout"]["veto"]["false_block_good"]),
            ("max title cosine per user (mean)", (metrics.get("diversity") or {}).get("max_pairwise_cosine_mean")),
            ("ms per user, whole chain", metrics["latency"]["ms_per_user_chain"])]
    out = [f"<!doctype html><html><head><meta charset='utf-8'><title>Carousels: {e(str(metrics['dataset']))}"
           f"</title><style>{_CSS}</style></head><body>",
           f"<h1>Personalised carousels: {e(str(metrics['dataset']))} (generator {e(str(metrics['generator']))}, "
           f"jury {e(str(metrics['jury_backend']))})</h1><table>"]
    out += [f"<tr><th>{e(k)}</th><td>{_fmt(v)}</td></tr>" for k, v in head]
    out.append("</table>")
    users = sorted(set(moderated["user_id"].astype(str)))
    rng = np.random.default_rng(seed)
    pick = sorted(rng.choice(users, size=min(n_users, len(users)), replace=False).tolist()) if users else []
    prof = profiles.set_index(profiles["user_id"].astype(str))
    lists = items.sort_values("position").groupby("carousel_id")["product_id"].agg(list).to_dict()
    store_by = stores.groupby("carousel_id") if len(stores) else None
    for u in pick:
        pr = prof.loc[u] if u in prof.index else None
        out.append(f"<h2>User {e(u)}</h2>")
        if pr is not None:
            def j(x: Any) -> str:
                return e(", ".join(map(str, list(x)))) if x is not None else "-"
            out.append(f"<div class='prof'>baskets {int(pr['n_baskets'])} &middot; departments: {j(pr['top_departments'])}"
                       f"<br>categories: {j(pr['top_categories'])}<br>usual days: {j(pr['usual_days'])} &middot; "
                       f"dayparts: {j(pr['usual_dayparts'])} &middot; price band: {e(str(pr['price_band']))} &middot; "
                       f"deal share: {e(str(pr['deal_share']))}</div>")
        mine = moderated[moderated["user_id"].astype(str) == u].sort_values("rank")
        basket = baskets.get(u, set())
        for r in mine.itertuples(index=False):
            meta = json.loads(r.metadata)
            cls = "title" if r.verdict == "allow" else "title blocked"
            out.append(f"<div class='car'><span class='{cls}'>{e(r.title)}</span> <span class='meta'>"
                       f"[{e(str(r.daypart))}, {e(r.day)}] {e(json.dumps(meta))}"
                       f"{' blocked by ' + e(r.blocked_by) if r.verdict == 'block' else ''}</span>")
            if store_by is not None and r.carousel_id in store_by.groups:
                st = store_by.get_group(r.carousel_id)
                out.append("<div class='meta'>stores: " + ", ".join(
                    f"{e(str(s.store_id))} (best: {e(title_of.get(str(s.best_product_id), '-')[:40])})"
                    for s in st.itertuples(index=False)) + "</div>")
            out.append("<div class='items'>")
            for pid in lists.get(r.carousel_id, []):
                hit = " hit" if str(pid) in basket else ""
                out.append(f"<div class='item{hit}'>{e(title_of.get(str(pid), str(pid))[:90])}</div>")
            out.append("</div></div>")
    out.append("<p class='meta'>Green items are in the user's held-out next basket. Generated by "
               "<code>kedro run --pipeline=carousels</code>; figures in metrics.json.</p></body></html>")
    return "\n".join(out)
