"""Synthetic-data report: budget, generation accounting, acceptance per group, examples, timing."""

from __future__ import annotations

from typing import Any

import pandas as pd


def build_synthetic_report(budget: pd.DataFrame, acceptance: pd.DataFrame, qc: pd.DataFrame,
                           final: pd.DataFrame, gen_stats: dict[str, Any], jury_stats: dict[str, Any],
                           timings: dict[str, float], budget_text: str = "") -> tuple[str, dict[str, Any], Any]:
    """The synthetic-data report: ``(markdown, json_dict, acceptance_figure)``.

    The Markdown embeds ``acceptance.png`` (the figure, saved beside it by the catalog). ``gen_stats`` /
    ``jury_stats`` carry token and cost accounting; they never contain the API key (see
    :meth:`llm.LLMSettings.public`). ``timings`` holds ``generate_s`` and ``qc_s`` (seconds).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    acc = acceptance.sort_values("generated")
    fig, ax = plt.subplots(figsize=(8, max(3, 0.35 * len(acc) + 1)))
    labels = [f"{g} [{lang}]" for g, lang in zip(acc["group"], acc["language"])]
    ax.barh(labels, acc["generated"], color="#cccccc", label="generated")
    ax.barh(labels, acc["accepted"], color="#4f81bd", label="accepted by QC")
    ax.set_xlabel("pairs")
    ax.set_title("Synthetic pairs per failure group")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()

    n_gen = len(qc)
    per1k = timings.get("generate_s", 0.0) / max(1, n_gen) * 1000
    final_counts = final.groupby(["group", "language"]).size().rename("final").reset_index() if len(final) \
        else pd.DataFrame(columns=["group", "language", "final"])
    acc2 = acceptance.merge(budget[["group", "language", "n_pairs"]], on=["group", "language"], how="left") \
        .merge(final_counts, on=["group", "language"], how="left").fillna(0)
    lines = [
        "# Synthetic training pairs", "",
        f"Generator: `{gen_stats.get('generator', '?')}`; jury: `{jury_stats.get('method', '?')}`. "
        f"Generated {n_gen} pairs, accepted {int(qc['accepted'].sum())} "
        f"({qc['accepted'].mean() if n_gen else 0:.1%}), kept {len(final)} after trimming to the budget "
        f"({int(budget['n_pairs'].sum()) if len(budget) else 0}).",
        f"Generation time: {timings.get('generate_s', 0):.2f} s ({per1k:.3f} s per 1,000 generated pairs); "
        f"QC time: {timings.get('qc_s', 0):.2f} s.", "",
        "![accepted per group](acceptance.png)", "",
        "## Acceptance per group", "",
        "| group | lang | budget | generated | accepted | rate | final | length | language | duplicate | leakage | jury |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in acc2.sort_values("n_pairs", ascending=False).itertuples():
        lines.append(f"| {r.group} | {r.language} | {int(r.n_pairs)} | {int(r.generated)} | {int(r.accepted)} | "
                     f"{r.acceptance_rate:.2f} | {int(r.final)} | {int(r.length)} | {int(r.wrong_language)} | "
                     f"{int(r.duplicate)} | {int(r.leakage)} | {int(r.jury)} |")
    lines += ["", "## Budget", "", "```", budget_text.strip() or budget.to_string(index=False), "```", "",
              "## Generation and jury accounting (tokens, cost, retries)", "", "```"]
    lines += [f"generator.{k}: {v}" for k, v in sorted(gen_stats.items())]
    lines += [f"jury.{k}: {v}" for k, v in sorted(jury_stats.items())]
    lines += ["```", "", "## Examples (accepted)", ""]
    for g, d in final.groupby("group"):
        ex = d.head(4)
        lines.append(f"- **{g}**: " + "; ".join(f"`{q}` → {p}" for q, p in zip(ex["query"], ex["product_id"])))
    rej = qc[~qc["accepted"]]
    if len(rej):
        lines += ["", "## Examples (rejected)", ""]
        for reason, d in rej.groupby("reject_reason"):
            lines.append(f"- **{reason}**: " + "; ".join(f"`{q}`" for q in d["query"].head(4)))
    return "\n".join(lines) + "\n", {"generator": gen_stats, "jury": jury_stats, "timings": timings,
                     "seconds_per_1000_pairs": per1k, "n_generated": n_gen, "n_accepted": int(qc["accepted"].sum()),
                     "n_final": len(final), "acceptance": acc2.to_dict(orient="records"),
                     "budget": budget.to_dict(orient="records")}, fig
