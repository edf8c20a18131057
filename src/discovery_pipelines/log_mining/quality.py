"""Quality of mined pairs against graded qrels: precision, recall, precision-recall curve, report.

Ground truth: a (normalised query, product) pair is *relevant* when its qrel gain is
``>= relevant_gain`` (Home Depot: 2.5 on the 1..3 scale). Definitions (Manning, Raghavan & Schütze
2008, *Introduction to IR*, §8.3), over the queries present in the log:

* ``precision``   = |mined positives ∩ relevant| / |mined positives|;
  ``precision_judged`` counts only judged mined pairs in the denominator (an unjudged product may
  well be relevant: plain precision is a lower bound);
* ``recall``      = |mined ∩ relevant| / |relevant pairs of logged queries|;
  ``recall_shown`` divides by the relevant pairs that were shown at least once: the log can only
  reveal what the ranker showed.

The curve sweeps the Wilson-bound threshold at fixed ``min_impressions``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from discovery_pipelines.data.text import normalize_query


def attach_gains(pairs: pd.DataFrame, queries: pd.DataFrame, qrels: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Add ``gain`` (float, NaN = unjudged) to ``pairs`` by (query_norm, product_id).

    Returns:
        ``(pairs_with_gain, truth)`` where ``truth`` has one row per judged (query_norm, product_id)
        with the maximum gain over query ids sharing a normalised text.
    """
    qn = queries[["query_id", "text"]].assign(query_norm=queries["text"].map(normalize_query))
    truth = (qrels.merge(qn[["query_id", "query_norm"]], on="query_id")
             .assign(product_id=lambda d: d["product_id"].astype(str))
             .groupby(["query_norm", "product_id"], as_index=False)["gain"].max())
    out = pairs.merge(truth, on=["query_norm", "product_id"], how="left")
    return out, truth


def precision_recall(pairs: pd.DataFrame, truth: pd.DataFrame, threshold: float, min_impressions: int,
                     relevant_gain: float) -> dict[str, float]:
    """Precision / recall of ``wilson_lb >= threshold & impressions >= min_impressions`` (module docstring).

    Args:
        pairs: mined pairs with ``gain`` (from :func:`attach_gains`).
        truth: judged pairs (query_norm, product_id, gain).
    """
    logged = set(pairs["query_norm"])
    rel = truth[(truth["gain"] >= relevant_gain) & truth["query_norm"].isin(logged)]
    shown = pairs[pairs["impressions"] > 0]
    rel_shown = shown[shown["gain"] >= relevant_gain]
    mined = pairs[(pairs["wilson_lb"] >= threshold) & (pairs["impressions"] >= min_impressions)]
    hit = int((mined["gain"] >= relevant_gain).sum())
    judged = int(mined["gain"].notna().sum())
    return {
        "threshold": float(threshold), "mined": int(len(mined)), "true_positives": hit,
        "precision": hit / len(mined) if len(mined) else float("nan"),
        "precision_judged": hit / judged if judged else float("nan"),
        "recall": hit / len(rel) if len(rel) else float("nan"),
        "recall_shown": hit / len(rel_shown) if len(rel_shown) else float("nan"),
        "relevant_pairs": int(len(rel)), "relevant_pairs_shown": int(len(rel_shown)),
    }


def pr_curve(pairs: pd.DataFrame, truth: pd.DataFrame, thresholds: Sequence[float], min_impressions: int,
             relevant_gain: float) -> pd.DataFrame:
    """:func:`precision_recall` at each threshold, one row each (sorted by threshold)."""
    return pd.DataFrame([precision_recall(pairs, truth, t, min_impressions, relevant_gain)
                         for t in sorted(float(t) for t in thresholds)])


def negatives_quality(negatives: pd.DataFrame, relevant_gain: float) -> dict[str, float]:
    """Share of log negatives that are judged relevant (should be near 0) and judged at all."""
    n = len(negatives)
    g = negatives["gain"] if "gain" in negatives else pd.Series(dtype=float)
    return {"negatives": int(n),
            "relevant_share": float((g >= relevant_gain).mean()) if n else float("nan"),
            "judged_share": float(g.notna().mean()) if n else float("nan")}


def plot_pr_curve(curve: pd.DataFrame, default_threshold: float):
    """Matplotlib figure (Agg): precision and judged precision vs recall, default threshold marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.8))
    ax.plot(curve["recall"], curve["precision"], marker="o", ms=3, label="precision (unjudged = not relevant)")
    ax.plot(curve["recall"], curve["precision_judged"], marker=".", ms=3, ls="--", label="precision over judged")
    d = curve.iloc[(curve["threshold"] - default_threshold).abs().argsort()[:1]]
    ax.scatter(d["recall"], d["precision"], s=80, c="red", zorder=5,
               label=f"default threshold {default_threshold:g}")
    for _, r in curve.iloc[:: max(1, len(curve) // 6)].iterrows():
        ax.annotate(f"{r['threshold']:.2f}", (r["recall"], r["precision"]), fontsize=7,
                    textcoords="offset points", xytext=(4, 4))
    ax.set_xlabel("recall (relevant qrels of logged queries)")
    ax.set_ylabel("precision")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.set_title("Mined positives vs qrels over Wilson-bound thresholds")
    ax.legend(fontsize=8, loc="lower left")
    fig.tight_layout()
    return fig


def _fmt(v: object) -> str:
    if isinstance(v, float):
        return "nan" if np.isnan(v) else f"{v:.3f}"
    return str(v)


def markdown_report(report: Mapping, curve: pd.DataFrame, plot_name: str = "pr_curve.png") -> str:
    """The human-readable report (Markdown) of one log-mining run."""
    m, q, sim = report["mining"], report["quality"], report.get("events", {})
    d = q["default"]
    lines = [
        "# Log mining report", "",
        f"Engine **{m['engine']}**, {m['input_rows']:,} input rows, {m['kept_rows']:,} kept, "
        f"{m['dropped_rows']:,} dropped, mined in {m.get('wall_s', float('nan')):.1f} s.",
        "",
    ]
    if sim:
        lines += [f"Events: {sim.get('source', '?')} log at `{sim.get('path', '?')}`"
                  + (f", {sim.get('sessions', 0):,} sessions, seed {sim.get('seed')}" if "sessions" in sim else "")
                  + ".", ""]
    lines += ["## Dropped rows", "", "| reason | rows |", "|---|---:|"]
    lines += [f"| {k} | {v:,} |" for k, v in m["dropped"].items()]
    if sim.get("injected"):
        lines += ["", "Injected by the simulator: " + ", ".join(f"{k} {v:,}" for k, v in sim["injected"].items())]
    lines += [
        "", "## Mined pairs", "",
        f"{m['pairs']:,} (query, product) pairs over {m['distinct_queries']:,} queries; "
        f"{m['positives']:,} positives (Wilson LB >= {report['params']['positive_threshold']}, "
        f">= {report['params']['min_impressions']} impressions, z = {report['params']['z']}), "
        f"{m['negatives']:,} log negatives.", "",
        f"## Quality vs qrels (relevant = gain >= {q['relevant_gain']})", "",
        "| metric | value |", "|---|---:|",
    ]
    lines += [f"| {k} | {_fmt(d[k])} |" for k in ("precision", "precision_judged", "recall", "recall_shown",
                                                   "mined", "true_positives", "relevant_pairs",
                                                   "relevant_pairs_shown")]
    nq = q.get("negatives", {})
    if nq:
        lines += ["", f"Log negatives judged relevant: {_fmt(nq['relevant_share'])} "
                      f"(judged at all: {_fmt(nq['judged_share'])})."]
    lines += ["", "## Precision-recall over thresholds", "", f"![precision-recall curve]({plot_name})", "",
              "| threshold | mined | precision | precision_judged | recall | recall_shown |",
              "|---:|---:|---:|---:|---:|---:|"]
    for _, r in curve.iterrows():
        lines.append(f"| {r['threshold']:.2f} | {int(r['mined']):,} | {_fmt(r['precision'])} | "
                     f"{_fmt(r['precision_judged'])} | {_fmt(r['recall'])} | {_fmt(r['recall_shown'])} |")
    return "\n".join(lines) + "\n"
