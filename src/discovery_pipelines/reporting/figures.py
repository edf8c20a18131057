"""Small helpers that turn metric dictionaries into Markdown tables and matplotlib figures."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

HEADLINE = ("ndcg@10", "recall@100", "mrr@10", "p@10", "good_rate")


def markdown_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str], floatfmt: str = ".4f") -> str:
    """GitHub Markdown table; floats formatted with ``floatfmt``."""
    def fmt(v: Any) -> str:
        return format(v, floatfmt) if isinstance(v, float) else str(v)

    head = "| " + " | ".join(columns) + " |\n|" + "---|" * len(columns) + "\n"
    return head + "".join("| " + " | ".join(fmt(r.get(c, "")) for c in columns) + " |\n" for r in rows)


def metrics_markdown(title: str, by_split: Mapping[str, Mapping[str, Mapping[str, float]]],
                     per_query: pd.DataFrame | None = None, n_examples: int = 10) -> str:
    """Report: one table per split (rows = systems), then the worst queries of each system."""
    out = [f"# {title}\n"]
    for split, systems in by_split.items():
        rows = [{"system": name, **{m: float(v.get(m, float('nan'))) for m in HEADLINE}, "n": v.get("n_queries", "")}
                for name, v in systems.items()]
        out.append(f"\n## {split}\n\n" + markdown_table(rows, ["system", *HEADLINE, "n"]))
    if per_query is not None and len(per_query) and "verdict" in per_query:
        out.append("\n## Not Good examples (lowest nDCG@10)\n")
        for name, g in per_query.groupby("retriever"):
            worst = g.sort_values("ndcg@10").head(n_examples)
            out.append(f"\n**{name}**: " + ", ".join(f"`{t}` ({v:.2f})" for t, v in zip(worst["text"], worst["ndcg@10"])) + "\n")
    out.append("\n![metrics](metrics.png)\n")
    return "".join(out)


def metrics_bar_plot(by_split: Mapping[str, Mapping[str, Mapping[str, float]]],
                     metrics: Sequence[str] = ("ndcg@10", "recall@100", "mrr@10")) -> plt.Figure:
    """Grouped bars: one panel per split, one group per metric, one bar per system."""
    fig, axes = plt.subplots(1, len(by_split), figsize=(5.5 * len(by_split), 4), squeeze=False)
    for ax, (split, systems) in zip(axes[0], by_split.items()):
        names = list(systems)
        width = 0.8 / max(1, len(names))
        for i, name in enumerate(names):
            vals = [systems[name].get(m, 0.0) for m in metrics]
            bars = ax.bar([j + i * width for j in range(len(metrics))], vals, width, label=name)
            ax.bar_label(bars, fmt="%.3f", fontsize=7)
        ax.set_xticks([j + width * (len(names) - 1) / 2 for j in range(len(metrics))], metrics)
        ax.set_ylim(0, 1)
        ax.set_title(split)
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def ndcg_ci_plot(by_split: Mapping[str, Mapping[str, Mapping[str, Any]]], baseline: str = "bm25",
                 metric: str = "ndcg@10") -> plt.Figure:
    """One panel per split: ``metric`` per system as horizontal bars, with the paired-bootstrap interval of
    its difference to ``baseline`` (``row[f"vs_{baseline}"]``) drawn around the bar's end."""
    fig, axes = plt.subplots(1, len(by_split), figsize=(6.5 * len(by_split), 0.45 * max(
        len(s) for s in by_split.values()) + 1.5), squeeze=False)
    for ax, (split, systems) in zip(axes[0], by_split.items()):
        names = list(systems)
        vals = [float(systems[n][metric]) for n in names]
        base = float(systems[baseline][metric]) if baseline in systems else 0.0
        err = [[0.0, 0.0] if f"vs_{baseline}" not in systems[n] else
               [systems[n][f"vs_{baseline}"]["mean"] - systems[n][f"vs_{baseline}"]["low"],
                systems[n][f"vs_{baseline}"]["high"] - systems[n][f"vs_{baseline}"]["mean"]] for n in names]
        ax.barh(names, vals, xerr=list(zip(*err)), capsize=3, color="#4c72b0")
        ax.axvline(base, color="k", lw=0.8, ls="--", label=f"{baseline} {base:.3f}")
        ax.axvline(base + 0.05, color="r", lw=0.8, ls=":", label=f"{baseline} + 0.05")
        for y, v in enumerate(vals):
            ax.text(v, y, f" {v:.3f}", va="center", fontsize=7)
        ax.invert_yaxis()
        ax.set_xlabel(f"{metric} (bars: 95% paired bootstrap CI of the difference to {baseline})")
        ax.set_title(split)
        ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return fig
