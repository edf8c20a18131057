"""Offline harness for explore generators (issue #17): explore recall@k and explore hits per slot of
candidate generators of *new-to-the-user* items, on the cached split and models of a
``kedro run --pipeline=personalization`` (``data/`` of this checkout), without re-running the pipeline.

Choose on the ``valid`` stage (history = train baskets, target = the basket before the test basket);
report the chosen configuration on ``test``. Generators: popularity among unseen items (the pipeline's
``popularity_unseen`` list), category-conditioned adoption popularity (:class:`TaxonomyPopularity`) at
several taxonomy weightings and decays, user-KNN (TIFU-KNN neighbour component), co-occurrence with the
user's recent baskets, two-tower scores, the ranker's explore head, all with the user's own items
removed, and reciprocal-rank-fusion blends of the best variants of the four best families (by
explore recall@10). Also checks the report's popularity figure
(``explore_recall@20`` of the plain popularity list) with :func:`evaluate_model`.

Usage (from the project root, after a kedro run of that dataset)::

    nice -n 10 .venv/bin/python scripts/explore_harness.py --dataset completejourney --stage valid
    nice -n 10 .venv/bin/python scripts/explore_harness.py --dataset completejourney --stage test --only tax_pt

Writes ``results/personalization/explore_harness_<dataset>_<stage>.{json,md}``.
"""

from __future__ import annotations

import argparse
import json
import pickle
import re
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "scripts"))

from _project import RESULTS, provenance  # noqa: E402

from discovery_pipelines.personalization import baselines as bl  # noqa: E402
from discovery_pipelines.personalization import explore as ex  # noqa: E402
from discovery_pipelines.personalization.evaluation import evaluate_model, item_prices  # noqa: E402
from discovery_pipelines.personalization.split import stage_data  # noqa: E402
from discovery_pipelines.reporting.figures import markdown_table  # noqa: E402

K = 50


def _load(ds: str) -> dict:
    d = ROOT / "data"
    p = "personalization/" + ds
    rd = lambda path: pickle.loads((d / path).read_bytes())  # noqa: E731
    return {
        "lines": pd.read_parquet(d / f"03_primary/{p}/split_lines.parquet"),
        "items": pd.read_parquet(d / f"03_primary/{p}/items.parquet"),
        "baseline_runs": rd(f"07_model_output/{p}/baseline_runs.pkl"),
        "tt_runs": rd(f"07_model_output/{p}/two_tower_runs.pkl"),
        "item_vectors": rd(f"07_model_output/{p}/item_vectors.pkl"),
        "scored": rd(f"07_model_output/{p}/scored_candidates.pkl"),
    }


def _levels(items: pd.DataFrame) -> dict[str, dict[str, float]]:
    """Taxonomy weightings to try (only the columns the dataset has); ``{}`` = plain adoption popularity."""
    has = [c for c in ("product_type", "category", "department") if c in items and items[c].notna().any()]
    out: dict[str, dict[str, float]] = {"adoption_popularity": {}}
    out.update({f"taxonomy_{c}": {c: 1.0} for c in has})
    if "brand" in items and items["brand"].notna().any() and has:
        out[f"taxonomy_{has[0]}+brand"] = {f"{has[0]}+brand": 1.0}
    if len(has) >= 2:
        out["taxonomy_half_" + "_".join(has[:2])] = {has[0]: 0.5, has[1]: 0.5}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default="completejourney")
    ap.add_argument("--stage", default="valid", choices=["valid", "test"])
    ap.add_argument("--only", nargs="*", default=None, help="generator names to run (default: all)")
    a = ap.parse_args()
    t0 = time.perf_counter()
    D = _load(a.dataset)
    sd = stage_data(D["lines"], a.stage)
    price, disc = item_prices(sd.history, sd.n_items)
    runs = D["baseline_runs"][a.stage]
    pop_summary, _ = evaluate_model(runs["popularity"]["items"], sd, price, disc)
    rep, exp = sd.repeat_explore()
    check = {
        "popularity_explore_recall@20_report_formula": pop_summary["explore_recall@20"],
        "n_users": int(len(sd.users)), "n_users_with_explore_items": int(sum(len(e) > 0 for e in exp)),
        "mean_explore_items_per_user": float(np.mean([len(e) for e in exp if len(e)])),
        "mean_target_items_per_user": float(np.mean([len(t) for t in sd.targets])),
    }
    print(json.dumps(check, indent=1), flush=True)

    seen = ex.seen_matrix(sd)
    gens: dict[str, object] = {}
    for name, lv in _levels(D["items"]).items():
        for hl in (None, 90.0, 180.0) if not lv else (180.0,):
            gens[f"{name}_hl{hl or 'none'}"] = lambda lv=lv, hl=hl: ex.TaxonomyPopularity(
                D["items"], lv, half_life_days=hl).fit(sd)
    for k in (30, 100, 300):
        gens[f"neighbour_items_k{k}"] = lambda k=k: ex.NeighbourItems(k=k).fit(sd)
    gens["cooccurrence"] = lambda: ex.Masked(bl.CoOccurrence().fit(sd).score, seen)
    tt = D["tt_runs"][a.stage]["two_tower"]
    gens["two_tower"] = lambda: ex.Masked(ex.DotScorer(sd.users, tt["user_vectors"], D["item_vectors"]).score, seen)

    lists: dict[str, np.ndarray] = {}
    timing: dict[str, float] = {}
    lists["popularity_unseen"] = runs["popularity_unseen"]["items"][:, :K]
    sc = D["scored"][a.stage]
    new = sc[sc["ui_seen"] == 0].sort_values(["u", "p_new"], ascending=[True, False], kind="stable")
    new = new[new.groupby("u").cumcount() < K].assign(pos=lambda d: d.groupby("u").cumcount())
    head = np.full((len(sd.users), K), -1, np.int64)
    head[np.searchsorted(sd.users, new["u"].to_numpy()), new["pos"].to_numpy()] = new["i"].to_numpy()
    lists["explore_head"] = head
    for name, make in gens.items():
        if a.only and name not in a.only:
            continue
        t = time.perf_counter()
        with threadpool_limits(1):
            lists[name] = bl.top_k(make().score, sd.users, K)[0]
        timing[name] = round(time.perf_counter() - t, 1)
        print(name, timing[name], "s", {k: round(v, 4) for k, v in ex.explore_metrics(lists[name], sd).items()},
              flush=True)

    rows = [{"generator": n, **ex.explore_metrics(l, sd), "seconds": timing.get(n, 0.0)} for n, l in lists.items()]
    # the explore head is fitted on the valid baskets: on the valid stage its figures are in-sample, so it is
    # reported but never picked for a blend there
    in_sample = {"explore_head"} if a.stage == "valid" else set()
    for r in rows:
        r["in_sample"] = r["generator"] in in_sample
    best = sorted((r for r in rows if not r["in_sample"]), key=lambda r: -r["explore_recall@10"])
    family = lambda n: n.split("_")[0] if n.startswith("taxonomy") else re.sub(r"_(k|hl)[^_]*$", "", n)  # noqa: E731
    tops: list[str] = []
    for r in best:  # the best variant of each family, then the four best families
        if family(r["generator"]) not in map(family, tops):
            tops.append(r["generator"])
    tops = tops[:4]
    blends = {}
    for i, g1 in enumerate(tops):
        for g2 in tops[i + 1:]:
            for w in (0.3, 0.5, 0.7):
                blends[f"rrf[{g1}*{w}+{g2}*{1 - w:.1f}]"] = {g1: w, g2: 1 - w}
    blends["rrf[top4 equal]"] = {g: 1.0 for g in tops}
    for name, w in blends.items():
        l = bl.top_k(ex.RankFusion(sd.users, lists, w, sd.n_items).score, sd.users, K)[0]
        rows.append({"generator": name, **ex.explore_metrics(l, sd), "in_sample": False, "seconds": 0.0})
        print(name, {k: round(v, 4) for k, v in rows[-1].items() if k.startswith("explore")}, flush=True)
    rows.sort(key=lambda r: -r["explore_recall@10"])
    out = {"meta": {**provenance(), "seconds": round(time.perf_counter() - t0, 1), "dataset": a.dataset,
                    "stage": a.stage, "list_length": K}, "check": check, "generators": rows}
    RESULTS.joinpath("personalization").mkdir(parents=True, exist_ok=True)
    stem = RESULTS / "personalization" / f"explore_harness_{a.dataset}_{a.stage}"
    stem.with_suffix(".json").write_text(json.dumps(out, indent=1, default=float))
    cols = ["generator", "explore_recall@3", "explore_recall@5", "explore_recall@10", "explore_recall@20",
            "hits_per_slot@5", "hits_per_slot@10", "in_sample", "seconds"]
    md = (f"# Explore generators, {a.dataset}, {a.stage} stage ({check['n_users_with_explore_items']} users with "
          f"explore items)\n\n`{out['meta']['command']}`, {out['meta']['date_utc']}, load "
          f"{out['meta']['loadavg_1_5_15']}\n\nPopularity (plain list) explore recall@20: "
          f"{check['popularity_explore_recall@20_report_formula']:.4f}. `in_sample`: the explore head is fitted "
          f"on the valid baskets, so its valid-stage figures are in-sample (not comparable, never blended there)."
          f"\n\n" + markdown_table(rows, cols) + "\n")
    stem.with_suffix(".md").write_text(md)
    print(md)


if __name__ == "__main__":
    main()
