"""The ``personalization`` report: every model on both stages, CIs against the strongest baseline,
blend-weight sweeps, the explore trade-off curve, semantic-ID statistics, counted data decisions; plus two
figures and a markdown table.

The strongest baseline is chosen on the *valid* stage (NDCG@10), never on the test baskets; blend
weights and the explore quota are documented defaults and the sweeps show how each moves the metrics on
both stages. The trade-off curve puts the explore generator's items at ``explore_slots`` positions after
the first ``explore_after`` of the ranked slate, for each ``(explore_after, explore_slots)`` of
``blend.tradeoff``: NDCG@10 vs explore recall@20, with paired bootstrap CIs of NDCG@10 against the
strongest baseline on the test stage.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pandas as pd

from discovery_pipelines.personalization import blend as bd
from discovery_pipelines.personalization import ranker as rk
from discovery_pipelines.personalization.evaluation import compare_to, evaluate_model, item_prices
from discovery_pipelines.personalization.params import BlendParams, EvaluationParams
from discovery_pipelines.personalization.split import STAGES, stage_data
from discovery_pipelines.reporting.figures import markdown_table
from discovery_pipelines.search.metrics import paired_bootstrap_ci

BASELINE_NAMES = ("popularity", "own_frequency", "cooccurrence", "tifu_knn", "als")
TABLE_COLUMNS = ["model", "all_ndcg@10", "all_recall@20", "all_hit@10", "repeat_ndcg@10", "repeat_recall@20",
                 "explore_ndcg@10", "explore_recall@20", "coverage@10", "rec_mean_price", "rec_discount_share"]


def build_report(split_lines: pd.DataFrame, split_users: pd.DataFrame, baseline_runs: dict, tt_runs: dict,
                 explore_runs: dict, scored: dict[str, pd.DataFrame], semantic_id_stats: dict,
                 ingest_decisions: dict, ranker_report: dict, two_tower_report: dict, baseline_report: dict,
                 blend: BlendParams, evaluation: EvaluationParams) -> tuple[dict[str, Any], pd.DataFrame, Any, Any, str]:
    """See the module docstring. Returns ``(metrics, per-user test metrics, figure, trade-off figure, markdown)``.

    ``explore_runs``: stage -> name -> {"items"}, with ``"explore"`` the list that fills the explore slots.
    """
    metrics: dict[str, Any] = {"dataset": ingest_decisions.get("dataset"), "stages": {}, "blend_sweeps": {},
                               "explore_tradeoff": {}}
    per_user: dict[str, dict[str, pd.DataFrame]] = {}
    tradeoff_pu: dict[tuple[int, int], pd.DataFrame] = {}
    default_w = bd.weights_from_params(blend)
    for s in STAGES:
        sd = stage_data(split_lines, s)
        price, disc = item_prices(sd.history, sd.n_items)
        explore = explore_runs[s]["explore"]["items"]
        lists = {n: baseline_runs[s][n]["items"] for n in BASELINE_NAMES}
        lists["popularity_unseen"] = baseline_runs[s]["popularity_unseen"]["items"]
        lists["two_tower"] = tt_runs[s]["two_tower"]["items"]
        lists["explore_generator"] = explore
        lists["ranker"] = rk.ranked_lists(scored[s], "rank_score", sd.users, 20)
        lists["full_stack_explore_head"] = bd.blend_slate(scored[s], sd.users, default_w)
        lists["full_stack"] = bd.blend_slate(scored[s], sd.users, default_w, explore)
        metrics["stages"][s], per_user[s] = {}, {}
        for name, ranked in lists.items():
            metrics["stages"][s][name], per_user[s][name] = evaluate_model(ranked, sd, price, disc)
        sweeps: dict[str, list] = {}
        for key, values in blend.sweep.items():
            sweeps[key] = []
            for v in values:
                sl = bd.blend_slate(scored[s], sd.users, bd.weights_from_params(blend, **{key: v}), explore)
                summ, _ = evaluate_model(sl, sd, price, disc)
                sweeps[key].append({key: v, **{m: summ[m] for m in ("all_ndcg@10", "all_recall@20", "explore_recall@20",
                                                                     "rec_mean_price", "rec_discount_share")}})
        metrics["blend_sweeps"][s] = sweeps
        metrics["explore_tradeoff"][s] = []
        for after, slots in blend.tradeoff:
            sl = bd.blend_slate(scored[s], sd.users, bd.weights_from_params(blend, explore_after=after, explore_slots=slots), explore)
            summ, pu = evaluate_model(sl, sd, price, disc)
            if s == "test":
                tradeoff_pu[(after, slots)] = pu
            metrics["explore_tradeoff"][s].append({"explore_after": after, "explore_slots": slots, **{
                m: summ[m] for m in ("all_ndcg@10", "all_recall@20", "repeat_recall@20", "explore_recall@20")}})
    valid = metrics["stages"]["valid"]
    strongest = max(BASELINE_NAMES, key=lambda n: valid[n]["all_ndcg@10"])
    ref = per_user["test"][strongest].set_index("u")
    for point in metrics["explore_tradeoff"]["test"]:
        pu = tradeoff_pu[(point["explore_after"], point["explore_slots"])].set_index("u").loc[ref.index]
        point["ndcg@10_vs_strongest"] = paired_bootstrap_ci(pu["all_ndcg@10"].to_numpy(), ref["all_ndcg@10"].to_numpy(),
                                                            n_resamples=evaluation.n_boot, seed=evaluation.seed)
    metrics["strongest_baseline"] = {"name": strongest, "chosen_on": "valid all_ndcg@10"}
    metrics["ci_vs_strongest_baseline"] = compare_to(per_user["test"], strongest, n_boot=evaluation.n_boot,
                                                     seed=evaluation.seed)
    test = metrics["stages"]["test"]
    ci = metrics["ci_vs_strongest_baseline"]["full_stack"]["all_ndcg@10"]
    metrics["targets"] = {
        "full_stack_ndcg@10": test["full_stack"]["all_ndcg@10"], "target_ndcg@10": 0.18,
        "ndcg_target_met": bool(test["full_stack"]["all_ndcg@10"] >= 0.18),
        "ci_excludes_zero": bool(ci["low"] > 0),
        "explore_recall@20_full_stack": test["full_stack"]["explore_recall@20"],
        "explore_recall@20_popularity": test["popularity"]["explore_recall@20"],
        "explore_ratio_vs_popularity": test["full_stack"]["explore_recall@20"] / max(test["popularity"]["explore_recall@20"], 1e-12),
        "explore_target_met": bool(test["full_stack"]["explore_recall@20"] >= 2 * test["popularity"]["explore_recall@20"]),
        "explore_recall@20_popularity_unseen": test["popularity_unseen"]["explore_recall@20"],
    }
    metrics["blend_weights"] = dataclasses.asdict(default_w)
    metrics["semantic_ids"] = semantic_id_stats
    metrics["ingest_decisions"] = ingest_decisions
    metrics["users"] = split_users["status"].value_counts().to_dict()
    metrics["users"]["min_baskets_rule"] = "users with fewer baskets train only, reported here"
    metrics["ranker"] = ranker_report
    metrics["two_tower_training"] = two_tower_report
    metrics["baseline_fit"] = baseline_report
    rows = [{"model": n, **{c: m.get(c, float("nan")) for c in TABLE_COLUMNS[1:]}} for n, m in test.items()]
    md = (f"# personalization: {metrics['dataset']} (test baskets, {test['full_stack']['n_users']} users)\n\n"
          + markdown_table(rows, TABLE_COLUMNS) + "\n\n"
          + f"Strongest baseline (valid NDCG@10): {strongest}. Full stack - {strongest}: NDCG@10 "
          + f"{ci['mean']:+.4f} [{ci['low']:+.4f}, {ci['high']:+.4f}] (95% paired bootstrap).\n\n"
          + f"Explore trade-off (test; explore items from the explore generator after the first `explore_after` "
          + f"positions; NDCG@10 CI vs {strongest}):\n\n"
          + markdown_table([{**{k: v for k, v in p.items() if k != "ndcg@10_vs_strongest"},
                             "ndcg_ci_low": p["ndcg@10_vs_strongest"]["low"],
                             "ndcg_ci_high": p["ndcg@10_vs_strongest"]["high"]} for p in metrics["explore_tradeoff"]["test"]],
                           ["explore_after", "explore_slots", "all_ndcg@10", "ndcg_ci_low", "ndcg_ci_high",
                            "all_recall@20", "repeat_recall@20", "explore_recall@20"]) + "\n")
    pu = pd.concat([df.assign(model=n) for n, df in per_user["test"].items()], ignore_index=True)
    return metrics, pu, _figure(metrics), _tradeoff_figure(metrics), md


def _figure(metrics: dict[str, Any]):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    test = metrics["stages"]["test"]
    names = list(test)
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.5))
    x = np.arange(len(names))
    for j, (col, lab) in enumerate((("all_ndcg@10", "NDCG@10 all"), ("repeat_ndcg@10", "NDCG@10 repeat"),
                                    ("explore_recall@20", "Recall@20 explore"))):
        axes[0].bar(x + (j - 1) * 0.27, [test[n][col] for n in names], 0.27, label=lab)
    axes[0].set_xticks(x, names, rotation=35, ha="right")
    axes[0].set_title(f"{metrics['dataset']}: test baskets")
    axes[0].legend(fontsize=8)
    for ax, stage in zip(axes[1:], ("valid", "test")):
        for key, pts in metrics["blend_sweeps"][stage].items():
            _ndcg_explore_curve(ax, pts, key, lambda p, key=key: f"{p[key]:g}")
        ax.set_title(f"blend sweeps ({stage})")
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def _ndcg_explore_curve(ax: Any, pts: list[dict[str, Any]], label: str, tag: Any) -> None:
    """One NDCG@10-vs-explore-Recall@20 curve on ``ax``, each point annotated with ``tag(point)``."""
    ax.plot([p["explore_recall@20"] for p in pts], [p["all_ndcg@10"] for p in pts], marker="o", label=label)
    for p in pts:
        ax.annotate(tag(p), (p["explore_recall@20"], p["all_ndcg@10"]), fontsize=7)
    ax.set_xlabel("explore Recall@20")
    ax.set_ylabel("NDCG@10")


def _tradeoff_figure(metrics: dict[str, Any]):
    """NDCG@10 vs explore recall@20 of the slate for each (explore_after, explore_slots), both stages, with
    the issue's targets (NDCG@10 0.18, twice popularity's explore recall@20) and the baselines."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    strongest = metrics["strongest_baseline"]["name"]
    for ax, stage in zip(axes, ("valid", "test")):
        _ndcg_explore_curve(ax, metrics["explore_tradeoff"][stage], "full stack",
                            lambda p: f"{p['explore_after']}/{p['explore_slots']}")
        st = metrics["stages"][stage]
        for name, mk in (("popularity", "s"), ("popularity_unseen", "v"), (strongest, "^"), ("explore_generator", "D")):
            ax.scatter(st[name]["explore_recall@20"], st[name]["all_ndcg@10"], marker=mk, label=name)
        ax.axhline(0.18, color="grey", ls="--", lw=0.8, label="NDCG@10 0.18")
        ax.axvline(2 * st["popularity"]["explore_recall@20"], color="grey", ls=":", lw=0.8, label="2 x popularity explore")
        ax.set_title(f"{metrics['dataset']} {stage}: explore_after / explore_slots")
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig
