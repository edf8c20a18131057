"""Hard-negative mining in a cosine band with the current production model.

For each anchor query we take the production model's top ``candidates`` products from the full
catalogue and keep those whose cosine similarity lies in ``[min_score, max_score]`` (default
[0.3, 0.7]) and that are not known positives of that query, nor carry the positive's exact title.
Too-easy negatives (< min) teach nothing; too-hard ones (> max) are often unjudged true positives
(label noise). This is the band rule of ``sentence_transformers.util.mine_hard_negatives``
(``min_score`` / ``max_score``); we implement it over our own embedding cache because that function
only excludes positives present in its input dataset, while unjudged-but-known positives from qrels
and logs must be excluded too, and it re-encodes the catalogue on every call.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from discovery_pipelines.search.embeddings import encode, product_texts
from discovery_pipelines.search.models import load_model, model_fingerprint
from discovery_pipelines.search.retrieval import dense_search


def mine_band_negatives(
    model: Any,
    pairs: pd.DataFrame,
    products: pd.DataFrame,
    exclude: Mapping[str, set[str]],
    *,
    min_score: float = 0.3,
    max_score: float = 0.7,
    num_negatives: int = 1,
    candidates: int = 100,
    sampling: str = "top",
    seed: int = 13,
    cache_dir: Any = None,
    text_fields: tuple[str, ...] = ("title",),
    preferred: Mapping[str, list[str]] | None = None,
    max_relative: float | None = None,
    fill_random: bool = False,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Add ``negative_1 .. negative_n`` (titles) and ``negative_id_1 ..`` columns to ``pairs``.

    Args:
        model: production model (name, path or SentenceTransformer).
        pairs: columns ``query``, ``query_norm``, ``product_id``, ``positive``.
        exclude: normalised query -> product ids never to use as negatives.
        min_score, max_score: cosine band (inclusive).
        num_negatives: negatives per anchor; anchors with fewer in-band candidates get NaN and are
            reported in the stats (the trainer drops or pads them).
        sampling: ``top`` (most similar in-band first) or ``random`` (seeded) among in-band candidates.
        preferred: normalised query -> product ids to use first (e.g. judged-irrelevant products from
            :func:`judged_negatives`, which are true negatives); band-mined ones fill the rest.
        max_relative: positive-aware ceiling: a candidate must also score at most
            ``max_relative * cos(query, positive)``. NV-Retriever (Moreira et al. 2024, "TopK-PercPos")
            found 0.95 removes most false negatives (unjudged products as relevant as the positive),
            which a fixed band alone lets through for short queries. ``None`` = band only.
        fill_random: give an anchor with too few in-band candidates random catalogue products
            (never its known positives) instead of leaving it short, so no training pair is lost;
            counted as ``random_fill`` in the stats.

    Returns:
        (pairs with negative columns, stats: anchors, mined, coverage, mean/quantiles of negative scores).
    """
    st = load_model(model)
    mkey = model_fingerprint(st)
    doc = encode(st, product_texts(products, text_fields), cache_dir=cache_dir, model_key=mkey)
    uq = pairs["query"].drop_duplicates().tolist()
    qemb = encode(st, uq, cache_dir=cache_dir, model_key=mkey, show_progress=False)
    pids = products["product_id"].astype(str).tolist()
    ids, scores = dense_search(qemb, doc, pids, k=candidates)
    titles = dict(zip(pids, products["title"]))
    row_of = {q: i for i, q in enumerate(uq)}
    col_of = {pid: j for j, pid in enumerate(pids)}
    rng = np.random.default_rng(seed)
    neg_ids: list[list[str | None]] = []
    neg_scores: list[float] = []
    n_pref = n_fill = 0
    for q, qn, pos_id, pos_title in zip(pairs["query"], pairs["query_norm"], pairs["product_id"], pairs["positive"]):
        r = row_of[q]
        ex = exclude.get(qn, set()) | {str(pos_id)}
        hi = max_score
        if max_relative is not None and str(pos_id) in col_of:
            hi = min(hi, float(max_relative) * float(qemb[r] @ doc[col_of[str(pos_id)]]))
        cand = [(pid, s) for pid, s in zip(ids[r], scores[r])
                if pid is not None and min_score <= s <= hi and pid not in ex and titles.get(pid) != pos_title]
        if sampling == "random" and len(cand) > num_negatives:
            cand = [cand[i] for i in sorted(rng.choice(len(cand), num_negatives, replace=False))]
        # chosen: (product id, band score); preferred and random-fill negatives carry no band score
        pref = [pid for pid in (preferred or {}).get(qn, []) if pid not in ex and pid in titles][:num_negatives]
        chosen = ([(pid, None) for pid in pref] + [c for c in cand if c[0] not in pref])[:num_negatives]
        n_pref += len(pref)
        neg_scores.extend(s for _, s in chosen if s is not None)
        tries = 0
        while fill_random and len(chosen) < num_negatives and tries < 50 * num_negatives:
            tries += 1
            pid = pids[int(rng.integers(len(pids)))]
            if pid not in ex and titles.get(pid) != pos_title and pid not in {c[0] for c in chosen}:
                chosen.append((pid, None))
                n_fill += 1
        neg_ids.append([pid for pid, _ in chosen] + [None] * (num_negatives - len(chosen)))
    out = pairs.copy()
    for j in range(num_negatives):
        out[f"negative_id_{j + 1}"] = [n[j] for n in neg_ids]
        out[f"negative_{j + 1}"] = out[f"negative_id_{j + 1}"].map(titles)
    full = out[[f"negative_id_{j + 1}" for j in range(num_negatives)]].notna().all(axis=1)
    ns = np.asarray(neg_scores, dtype=float)
    stats = {
        "anchors": int(len(out)),
        "anchors_with_all_negatives": int(full.sum()),
        "coverage": float(full.mean()) if len(out) else 0.0,
        "band": [min_score, max_score],
        "max_relative": max_relative,
        "preferred_negatives_used": int(n_pref),
        "random_fill": int(n_fill),
        "negative_score_mean": float(ns.mean()) if len(ns) else None,
        "negative_score_quantiles": {str(q): float(np.quantile(ns, q)) for q in (0.1, 0.5, 0.9)} if len(ns) else {},
    }
    return out, stats


def judged_negatives(qrels: pd.DataFrame, queries: pd.DataFrame, max_gain: float) -> dict[str, list[str]]:
    """``{normalised query: [product_id, ...]}`` of judged products with ``gain <= max_gain``.

    Products a rater judged (nearly) irrelevant for a query, yet that an existing engine retrieved
    for it, are the most informative hard negatives there are: they are lexically close and known
    to be wrong. Order is by ascending gain (the clearest negatives first).
    """
    from discovery_pipelines.data.text import normalize_query

    text_of = dict(zip(queries["query_id"], queries["text"]))
    bad = qrels[qrels["gain"] <= max_gain].sort_values("gain", kind="stable")
    out: dict[str, list[str]] = {}
    for qid, pid in zip(bad["query_id"], bad["product_id"]):
        t = text_of.get(qid)
        if t is not None:
            out.setdefault(normalize_query(t), []).append(str(pid))
    return out
