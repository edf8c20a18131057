"""Failure analysis: group evaluation queries, rate each group, measure training coverage, report.

Input is the evaluate pipeline's per-query table (one row per (retriever, query_id) with
``verdict`` in {"Good", "Not Good"}). Every train and dev query gets its rule groups
(:func:`taxonomy.query_groups`); dev Not-Good queries with no rule group are clustered on their
embeddings and every other ungrouped query is assigned to its nearest cluster, so a Not-Good rate
exists for cluster groups too. Train-query groups seed the synthetic-data generator (products judged
relevant to train queries of a group), never dev ones.

Definitions (per group g, dev split only):
    n_queries     dev queries carrying g
    n_not_good    of those, verdict == "Not Good"
    not_good_rate n_not_good / n_queries, with a Wilson 95 % interval (Wilson 1927)
    coverage      |V_g ∩ V_train| / |V_g| where V_g = content tokens of g's Not-Good dev queries
                  and V_train = content tokens of train queries + titles of their judged products
    gap           1 - coverage
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from discovery_pipelines.search.metrics import wilson_interval

from discovery_pipelines.failure_analysis.clustering import ClusterNamer, assign_nearest, cluster_names, fit_clusters
from discovery_pipelines.failure_analysis.lexicon import content_tokens
from discovery_pipelines.failure_analysis.taxonomy import RULE_GROUPS, query_groups
from discovery_pipelines.failure_analysis.vocab import Vocabulary

NOT_GOOD = "Not Good"
REQUIRED_PER_QUERY = ("retriever", "query_id", "verdict")


@dataclass
class FailureAnalysis:
    """``groups``: one row per train/dev query (query_id, text, split, verdict, ndcg@10, groups
    list[str], rule_groups list[str], cluster str|None, is_failure bool); ``stats``: one row per group
    (see module doc); ``meta``: retriever, counts, cluster names."""

    groups: pd.DataFrame
    stats: pd.DataFrame
    meta: dict[str, Any] = field(default_factory=dict)


def _check_columns(df: pd.DataFrame, cols: Sequence[str], name: str) -> None:
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise ValueError(f"{name}: missing column(s) {missing}; has {list(df.columns)}")


def training_vocabulary(queries: pd.DataFrame, qrels: pd.DataFrame, products: pd.DataFrame,
                        split: str = "train") -> set[str]:
    """Content tokens of ``split`` queries and of the titles of the products judged for them."""
    q = queries[queries["split"] == split]
    judged = set(qrels.loc[qrels["query_id"].isin(set(q["query_id"])), "product_id"].astype(str))
    vocab: set[str] = set()
    for t in q["text"]:
        vocab.update(content_tokens(t))
    for t in products.loc[products["product_id"].astype(str).isin(judged), "title"]:
        vocab.update(content_tokens(t))
    return vocab


def analyse_failures(
    per_query: pd.DataFrame,
    queries: pd.DataFrame,
    qrels: pd.DataFrame,
    products: pd.DataFrame,
    *,
    retriever: str = "dense",
    eval_split: str = "dev",
    train_split: str = "train",
    model: Any = "all-MiniLM-L6-v2",
    n_clusters: int = 8,
    min_cluster_size: int = 5,
    vocab_min_count: int = 3,
    namer: ClusterNamer | None = None,
    n_examples: int = 5,
    random_state: int = 0,
    embed_fn: Any = None,
) -> FailureAnalysis:
    """Group ``eval_split`` queries of ``retriever`` into failure groups and rate them.

    Args:
        per_query: evaluate output, columns retriever, query_id, verdict (+ text, ndcg@10, split).
        queries: contract queries with ``split``; qrels, products: contract tables.
        model: sentence-transformers model for query embeddings (clustering).
        embed_fn: optional ``texts -> float32 (n, d)`` replacing ``model`` (tests, other encoders).

    Raises:
        ValueError: a required column is missing, or no ``retriever`` rows on ``eval_split``.
    """
    _check_columns(per_query, REQUIRED_PER_QUERY, "evaluate_per_query")
    _check_columns(queries, ("query_id", "text", "split"), "queries")
    pq = per_query[per_query["retriever"] == retriever].copy()
    pq["query_id"] = pq["query_id"].astype(str)
    split_of = dict(zip(queries["query_id"].astype(str), queries["split"]))
    mapped = pq["query_id"].map(split_of)
    pq["split"] = mapped.fillna(pq["split"]) if "split" in pq.columns else mapped
    pq = pq[pq["split"] == eval_split]
    if pq.empty:
        have = sorted(per_query["retriever"].unique().tolist())
        raise ValueError(f"evaluate_per_query: no rows for retriever={retriever!r} on split={eval_split!r} "
                         f"(retrievers present: {have})")
    vocab = Vocabulary.from_titles(products["title"].astype(str), min_count=vocab_min_count,
                                   extra_brands=products["brand"].dropna() if "brand" in products else ())
    train_q = queries[queries["split"] == train_split][["query_id", "text"]].copy()
    train_q["query_id"] = train_q["query_id"].astype(str)
    text_of = dict(zip(queries["query_id"].astype(str), queries["text"]))
    dev = pd.DataFrame({"query_id": pq["query_id"], "text": pq["query_id"].map(text_of)})
    if "text" in pq.columns:
        dev["text"] = dev["text"].fillna(pq["text"])
    dev["verdict"] = pq["verdict"].to_numpy()
    dev["ndcg@10"] = pq["ndcg@10"].to_numpy() if "ndcg@10" in pq.columns else np.nan
    dev["split"] = eval_split
    train_q["verdict"] = None
    train_q["ndcg@10"] = np.nan
    train_q["split"] = train_split
    allq = pd.concat([dev, train_q], ignore_index=True)
    allq["rule_groups"] = [query_groups(t, vocab) for t in allq["text"]]

    # --- clustering of what the rules do not name --------------------------------------------
    unnamed = allq["rule_groups"].map(len) == 0
    fit_mask = unnamed & (allq["split"] == eval_split) & (allq["verdict"] == NOT_GOOD)
    allq["cluster"] = None
    names: dict[int, str] = {}
    if fit_mask.any():
        texts = allq.loc[unnamed, "text"].tolist()
        if embed_fn is not None:
            emb = np.asarray(embed_fn(texts), dtype=np.float32)
        else:
            from discovery_pipelines.search.embeddings import encode

            emb = encode(model, texts, cache_dir=None, show_progress=False)
        un_idx = np.flatnonzero(unnamed.to_numpy())
        fit_rows = np.flatnonzero(fit_mask.to_numpy()[un_idx])
        labels, cents = fit_clusters(emb[fit_rows], n_clusters, min_cluster_size=min_cluster_size,
                                     random_state=random_state)
        names = cluster_names([texts[i] for i in fit_rows], labels, namer=namer)
        lab_all = assign_nearest(emb, cents)
        allq.loc[unnamed, "cluster"] = [names[int(lb)] for lb in lab_all]
    allq["groups"] = [list(r) + ([c] if c else []) for r, c in zip(allq["rule_groups"], allq["cluster"])]
    allq["is_failure"] = (allq["split"] == eval_split) & (allq["verdict"] == NOT_GOOD)

    # --- per-group statistics -------------------------------------------------------------------
    train_vocab = training_vocabulary(queries, qrels, products, train_split)
    devq = allq[allq["split"] == eval_split]
    order = list(RULE_GROUPS) + sorted(set(names.values()))
    rows = []
    for g in order:
        has = devq["groups"].map(lambda gs, _g=g: _g in gs)
        sub = devq[has]
        bad = sub[sub["verdict"] == NOT_GOOD]
        gv: Counter = Counter()
        for t in bad["text"]:
            gv.update(set(content_tokens(t)))
        cov = (sum(1 for t in gv if t in train_vocab) / len(gv)) if gv else 1.0
        lo, hi = (float(x) for x in wilson_interval(len(bad), len(sub)))
        # most frequent first, ties alphabetical (set iteration order depends on the hash seed)
        uncovered = sorted((t for t in gv if t not in train_vocab), key=lambda t: (-gv[t], t))[:8]
        rows.append({
            "group": g, "kind": "cluster" if g.startswith("cluster:") else "rule",
            "n_queries": int(len(sub)), "n_not_good": int(len(bad)),
            "not_good_rate": float(len(bad) / len(sub)) if len(sub) else 0.0,
            "rate_ci_low": lo, "rate_ci_high": hi,
            "share_of_failures": float(len(bad) / max(1, int(devq["is_failure"].sum()))),
            "mean_ndcg@10": float(sub["ndcg@10"].mean()) if len(sub) else float("nan"),
            "coverage": float(cov), "gap": float(1 - cov),
            "n_train_queries": int(allq[(allq["split"] == train_split)]["groups"].map(lambda gs, _g=g: _g in gs).sum()),
            "examples": bad["text"].head(n_examples).tolist(),
            "uncovered_terms": uncovered,
        })
    stats = pd.DataFrame(rows)
    n_dev, n_bad = len(devq), int(devq["is_failure"].sum())
    meta = {
        "retriever": retriever, "eval_split": eval_split, "n_dev_queries": n_dev, "n_not_good": n_bad,
        "overall_not_good_rate": n_bad / n_dev if n_dev else 0.0,
        "n_failures_rule_grouped": int((devq["is_failure"] & (devq["rule_groups"].map(len) > 0)).sum()),
        "n_failures_clustered": int((devq["is_failure"] & devq["cluster"].notna()).sum()),
        "clusters": sorted(set(names.values())), "vocab_size": len(vocab.counts), "n_brands": len(vocab.brands),
        "train_vocab_size": len(train_vocab),
    }
    cols = ["query_id", "text", "split", "verdict", "ndcg@10", "groups", "rule_groups", "cluster", "is_failure"]
    return FailureAnalysis(allq[cols].reset_index(drop=True), stats, meta)


def build_report(fa: FailureAnalysis, *, min_queries: int = 1) -> tuple[str, dict[str, Any], Any]:
    """The failure-analysis report: ``(markdown, json_dict, figure)``.

    ``markdown`` embeds ``not_good_rate.png`` (the figure, saved beside it by the catalog); ``json_dict`` is
    ``{"meta": fa.meta, "groups": [per-group stats rows]}``; ``figure`` is a matplotlib bar chart of the
    Not-Good rate per group with Wilson 95 % intervals. Groups with fewer than ``min_queries`` dev queries
    are left out of the plot.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    st = fa.stats[fa.stats["n_queries"] >= min_queries].sort_values("not_good_rate", ascending=True)
    fig, ax = plt.subplots(figsize=(8, max(3, 0.35 * len(st) + 1)))
    colors = ["#c0504d" if k == "rule" else "#4f81bd" for k in st["kind"]]
    ax.barh(st["group"], st["not_good_rate"], color=colors,
            xerr=[(st["not_good_rate"] - st["rate_ci_low"]).clip(lower=0),
                  (st["rate_ci_high"] - st["not_good_rate"]).clip(lower=0)],
            error_kw={"elinewidth": 0.8, "ecolor": "#555"})
    for y, (r, n) in enumerate(zip(st["not_good_rate"], st["n_queries"])):
        ax.text(min(r + 0.02, 0.95), y, f"n={n}", va="center", fontsize=7)
    ax.axvline(fa.meta["overall_not_good_rate"], color="k", ls="--", lw=1, label="all dev queries")
    ax.set_xlim(0, 1)
    ax.set_xlabel("Not-Good rate (dev, Wilson 95% CI)")
    ax.set_title(f"Failure groups — retriever={fa.meta['retriever']} (red: rules, blue: clusters)")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()

    m = fa.meta
    lines = [
        "# Failure analysis", "",
        f"Retriever `{m['retriever']}` on the `{m['eval_split']}` split: {m['n_dev_queries']} queries, "
        f"{m['n_not_good']} Not Good (rate {m['overall_not_good_rate']:.3f}). "
        f"{m['n_failures_rule_grouped']} failures carry a rule group, {m['n_failures_clustered']} were clustered.",
        "",
        "Rate = Not-Good / dev queries having the group (a query may have several groups). "
        "Coverage = share of the group's Not-Good query vocabulary found in train queries + titles of their "
        "judged products.", "",
        "![Not-Good rate per group](not_good_rate.png)", "",
        "| group | dev queries | Not Good | rate | 95% CI | coverage | train queries | examples | uncovered terms |",
        "|---|---:|---:|---:|---|---:|---:|---|---|",
    ]
    for r in fa.stats.sort_values("n_not_good", ascending=False).itertuples():
        ex = "; ".join(f"`{e}`" for e in r.examples[:3]).replace("|", "\\|")
        un = ", ".join(r.uncovered_terms[:5]).replace("|", "\\|")
        lines.append(f"| {r.group} | {r.n_queries} | {r.n_not_good} | {r.not_good_rate:.3f} | "
                     f"{r.rate_ci_low:.2f}–{r.rate_ci_high:.2f} | {r.coverage:.3f} | {r.n_train_queries} | {ex} | {un} |")
    return "\n".join(lines) + "\n", {"meta": m, "groups": json.loads(fa.stats.to_json(orient="records"))}, fig


def write_report(fa: FailureAnalysis, out_dir: str | Path, *, min_queries: int = 1) -> dict[str, str]:
    """:func:`build_report` written to ``out_dir`` (``failure_groups.md``, ``failure_groups.json``,
    ``not_good_rate.png``) atomically, for use without Kedro. Returns ``{kind: path}``."""
    from discovery_pipelines.data.io import write_figure, write_json, write_text

    out = Path(out_dir)
    md, js, fig = build_report(fa, min_queries=min_queries)
    return {"markdown": str(write_text(md, out / "failure_groups.md")),
            "json": str(write_json(js, out / "failure_groups.json")),
            "png": str(write_figure(fig, out / "not_good_rate.png"))}
