"""Turn a budget into generation requests: which products seed which failure group.

Seed pool of group g, language l (first non-empty source wins, then topped up by the next):
1. products judged relevant (gain >= ``min_gain``) to *train* queries carrying g (never dev or
   holdout queries: their products would leak evaluation judgements into training);
   for title-detectable groups (attributes, negation, occasion) only those whose title shows g;
2. catalogue products whose title shows g (a seeded sample of ``catalogue_sample`` titles);
3. for groups no title can show (misspelling, category vocabulary, clusters): any catalogue product.

``ceil(n_pairs * overshoot / queries_per_product)`` requests are made per cell, so that QC rejections
and products that cannot express the group still leave about ``n_pairs`` accepted pairs.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
import pandas as pd

from discovery_pipelines.failure_analysis.taxonomy import RULE_GROUPS, title_groups
from discovery_pipelines.failure_analysis.vocab import Vocabulary
from discovery_pipelines.synthetic.schema import GenerationRequest

TITLE_FREE_GROUPS = {"misspelling", "category_vocabulary"}


def product_language(locale: object, default: str = "en") -> str:
    """``"en-US"`` -> ``"en"``; missing -> ``default``."""
    if locale is None or (isinstance(locale, float) and math.isnan(locale)) or not str(locale).strip():
        return default
    return str(locale).split("-")[0].split("_")[0].lower()


def plan_requests(
    budget: pd.DataFrame,
    failure_groups: pd.DataFrame,
    products: pd.DataFrame,
    qrels: pd.DataFrame,
    *,
    vocab: Vocabulary | None = None,
    queries_per_product: int = 2,
    overshoot: float = 1.5,
    min_gain: float = 2.0,
    train_split: str = "train",
    catalogue_sample: int = 5000,
    seed: int = 0,
) -> list[GenerationRequest]:
    """Requests for every budget cell with ``n_pairs > 0`` (deterministic for a given ``seed``).

    Args:
        budget: rows (group, language, n_pairs) from :func:`budget.allocate_budget`.
        failure_groups: per-query groups (query_id, split, groups) from failure analysis.
        products: contract products (product_id, title, optional locale).
        qrels: contract qrels (query_id, product_id, gain).

    Raises:
        ValueError: a required column is missing.
    """
    for name, df, cols in (("budget", budget, {"group", "language", "n_pairs"}),
                           ("failure_groups", failure_groups, {"query_id", "split", "groups"}),
                           ("products", products, {"product_id", "title"}),
                           ("qrels", qrels, {"query_id", "product_id", "gain"})):
        if not cols <= set(df.columns):
            raise ValueError(f"{name}: missing columns {sorted(cols - set(df.columns))}")
    rng = np.random.default_rng(seed)
    prods = products[["product_id", "title"]].copy()
    prods["product_id"] = prods["product_id"].astype(str)
    prods["language"] = [product_language(x) for x in products["locale"]] if "locale" in products else "en"
    title_of = dict(zip(prods["product_id"], prods["title"].astype(str)))
    lang_of = dict(zip(prods["product_id"], prods["language"]))
    train = failure_groups[failure_groups["split"] == train_split]
    rel = qrels[qrels["gain"] >= min_gain].copy()
    rel["query_id"] = rel["query_id"].astype(str)
    rel["product_id"] = rel["product_id"].astype(str)
    judged_by_q = rel.groupby("query_id")["product_id"].agg(list).to_dict()
    sample_idx = rng.permutation(len(prods))[: min(catalogue_sample, len(prods))]
    sample = prods.iloc[np.sort(sample_idx)]
    _tg_cache: dict[str, list[str]] = {}

    def tgroups(pid: str) -> list[str]:
        if pid not in _tg_cache:
            _tg_cache[pid] = title_groups(title_of[pid], vocab)
        return _tg_cache[pid]

    requests: list[GenerationRequest] = []
    for cell in budget[budget["n_pairs"] > 0].itertuples(index=False):
        g, lang, n_pairs = str(cell.group), str(cell.language), int(cell.n_pairs)
        title_detectable = g in RULE_GROUPS and g not in TITLE_FREE_GROUPS
        seeds: list[str] = []
        for qid, gs in zip(train["query_id"].astype(str), train["groups"]):
            if g in list(gs):
                seeds.extend(judged_by_q.get(qid, []))
        seeds = [p for p in dict.fromkeys(seeds) if p in title_of and lang_of[p] == lang]
        if title_detectable:
            seeds = [p for p in seeds if g in tgroups(p)]
        rng.shuffle(seeds)
        n_req = math.ceil(n_pairs * overshoot / queries_per_product)
        if len(seeds) < n_req:
            have = set(seeds)
            extra = [p for p in sample["product_id"] if lang_of[p] == lang and p not in have]
            if title_detectable:
                extra = [p for p in extra if g in tgroups(p)]
            seeds += extra[: n_req - len(seeds)]
        if not seeds:
            continue
        for k in range(n_req):
            pid = seeds[k % len(seeds)]
            requests.append(GenerationRequest(f"{g}|{lang}|{pid}|{k}", pid, title_of[pid], g, lang,
                                              queries_per_product))
    return requests


def trim_to_budget(accepted: pd.DataFrame, budget: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """Keep at most ``n_pairs`` accepted rows per (group, language), one query per product first
    (round-robin over products), so the table matches the budget without favouring a few products."""
    if accepted.empty:
        return accepted
    cap = {(str(r.group), str(r.language)): int(r.n_pairs) for r in budget.itertuples(index=False)}
    parts = []
    for (g, lang), d in accepted.groupby(["group", "language"], sort=True):
        d = d.sample(frac=1.0, random_state=seed)
        d = d.assign(_rank=d.groupby("product_id").cumcount()).sort_values("_rank", kind="stable")
        parts.append(d.head(cap.get((g, lang), 0)).drop(columns="_rank"))
    return pd.concat(parts, ignore_index=True) if parts else accepted.iloc[0:0]


def languages_of(products: pd.DataFrame, allowed: Iterable[str] | None = None) -> dict[str, float]:
    """``{language: share of products}`` from the ``locale`` column (``{"en": 1.0}`` without one)."""
    if "locale" not in products or products.empty:
        return {"en": 1.0}
    s = pd.Series([product_language(x) for x in products["locale"]]).value_counts(normalize=True)
    out = {str(k): float(v) for k, v in s.items()}
    if allowed is not None:
        out = {k: v for k, v in out.items() if k in set(allowed)}
    return out or {"en": 1.0}
