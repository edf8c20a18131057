"""Nodes of the ``personalization`` pipeline: thin wrappers over :mod:`discovery_pipelines.personalization`."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from discovery_pipelines.data.ingest.completejourney import completejourney_histories
from discovery_pipelines.data.ingest.instacart_histories import instacart_histories
from discovery_pipelines.personalization import baselines as bl
from discovery_pipelines.personalization import blend as bd
from discovery_pipelines.personalization import explore as ex
from discovery_pipelines.personalization import ranker as rk
from discovery_pipelines.personalization import semantic_ids as sid
from discovery_pipelines.personalization import two_tower as tt
from discovery_pipelines.personalization.evaluation import evaluate_model, item_prices
from discovery_pipelines.personalization.features import build_features
from discovery_pipelines.personalization.items import item_table, text_embeddings
from discovery_pipelines.personalization.params import (
    BaselineParams, BlendParams, EvaluationParams, ExploreParams, FeatureParams, PersonalizationParams, RankerParams,
    SemanticIdParams, SplitParams, TextParams, TwoTowerParams,
)
from discovery_pipelines.personalization.recommender import build_bundle
from discovery_pipelines.personalization.report import build_report
from discovery_pipelines.personalization.split import ALL_STAGES, SERVE, split_last_baskets, stage_data

Runs = dict[str, dict[str, dict[str, np.ndarray]]]


def validate_parameters(params: dict[str, Any]) -> dict[str, Any]:
    """Validate the whole ``personalization`` block (pydantic, ``extra="forbid"``); returns it resolved."""
    return PersonalizationParams.model_validate(params).model_dump(mode="json")


def ingest_histories(dataset: str, raw: Mapping[str, Callable[[], pd.DataFrame]]) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, dict]:
    """Source tables (a partitioned folder: name -> loader) -> validated histories lines / products / users
    and the adapter's counted decisions.

    Raises:
        ValueError: unknown ``dataset``. KeyError: a source table is missing from the folder.
    """
    def need(name: str) -> pd.DataFrame:
        if name not in raw:
            raise KeyError(f"{dataset}: source table {name!r} missing; folder has {sorted(raw)}")
        return raw[name]()

    if dataset == "completejourney":
        h = completejourney_histories(need("transactions"), need("products"), need("demographics"))
    elif dataset == "instacart_histories":
        h = instacart_histories(need("orders"), need("order_products"), need("products"), need("users"))
    else:
        raise ValueError(f"personalization.dataset must be completejourney or instacart_histories, got {dataset!r}")
    return h.lines, h.products, h.users, {"dataset": dataset, **h.decisions}


def split_histories(lines: pd.DataFrame, params: dict[str, Any]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Leave-last-basket split (:func:`~discovery_pipelines.personalization.split.split_last_baskets`)."""
    p = SplitParams.model_validate(params)
    return split_last_baskets(lines, p.min_baskets)


def build_stage_features(split_lines: pd.DataFrame, params: dict[str, Any]) -> dict[str, dict[str, pd.DataFrame]]:
    """Per stage (valid, test, serve), the SQL aggregates of the stage history on the configured engine
    (duckdb | spark)."""
    p = FeatureParams.model_validate(params)
    opts = p.duckdb if p.engine == "duckdb" else p.spark
    return {s: build_features(stage_data(split_lines, s).history, p.engine, **opts) for s in ALL_STAGES}


def _run(items: np.ndarray, scores: np.ndarray) -> dict[str, np.ndarray]:
    return {"items": items.astype(np.int64), "scores": scores.astype(np.float32)}


def run_baselines(split_lines: pd.DataFrame, params: dict[str, Any], evaluation: dict[str, Any]) -> tuple[Runs, dict]:
    """Fit every baseline on each stage's history (valid, test, serve); top-``k`` lists and fit seconds.

    Also ``popularity_unseen``: popularity among items new to the user (a candidate source for explore).
    """
    p, k = BaselineParams.model_validate(params), EvaluationParams.model_validate(evaluation).k
    runs: Runs = {}
    secs: dict[str, dict[str, float]] = {}
    for s in ALL_STAGES:
        sd = stage_data(split_lines, s)
        runs[s], secs[s] = {}, {}
        seen = sd.user_item_counts()
        for name, cls in bl.BASELINES.items():
            t0 = time.perf_counter()
            with threadpool_limits(1):
                m = cls(**(getattr(p, name).model_dump() if hasattr(p, name) else {})).fit(sd)
                runs[s][name] = _run(*bl.top_k(m.score, sd.users, k, progress=f"{s} {name}"))
            secs[s][name] = round(time.perf_counter() - t0, 2)
            if name == "popularity":
                unseen = lambda us, m=m: m.score(us) - 2.0 * (seen[us].toarray() > 0)  # noqa: E731
                runs[s]["popularity_unseen"] = _run(*bl.top_k(unseen, sd.users, k))
    return runs, {"seconds": secs}


def run_explore(split_lines: pd.DataFrame, items: pd.DataFrame, params: dict[str, Any]) -> Runs:
    """Per stage (valid, test, serve), ranked new-to-user items from the explore generators and their fusion
    (:func:`~discovery_pipelines.personalization.explore.explore_lists`): stage -> name -> {"items"}."""
    p = ExploreParams.model_validate(params)
    runs: Runs = {}
    for s in ALL_STAGES:
        sd = stage_data(split_lines, s)
        lists = ex.explore_lists(sd, items, p.weights, list_length=p.list_length, rrf_c=p.rrf_c,
                                 params={"neighbour_items": p.neighbour_items.model_dump(),
                                         "taxonomy_popularity": p.taxonomy_popularity.model_dump()})
        runs[s] = {n: {"items": v} for n, v in lists.items()}
    return runs


def embed_items(split_lines: pd.DataFrame, products: pd.DataFrame, params: dict[str, Any]) -> tuple[pd.DataFrame, np.ndarray]:
    """Item table (row = item code) and the L2-normalised title embeddings of the project's text model."""
    from discovery_pipelines.search.models import load_model, resolve_model_path

    p = TextParams.model_validate(params)
    items = item_table(split_lines, products)
    model = load_model(str(resolve_model_path(p.model)))
    return items, text_embeddings(items, model, batch_size=p.batch_size, precision=p.precision)


def train_two_tower(split_lines: pd.DataFrame, text: np.ndarray, params: dict[str, Any]) -> tuple[dict, dict]:
    """Fit the two towers on the train baskets; returns ``({"config", "state_dict"}, train report)``."""
    p = TwoTowerParams.model_validate(params)
    sd = stage_data(split_lines, "valid")
    model, rep = tt.train_two_tower(sd, text, dim=p.dim, tau=p.tau, epochs=p.epochs, batch_size=p.batch_size,
                                    lr=p.lr, history_len=p.history_len, targets_per_user=p.targets_per_user,
                                    seed=p.seed, device=p.device, max_seconds=p.max_seconds, text_dim=p.text_dim)
    cfg = {"n_items": sd.n_items, "dim": p.dim, "tau": p.tau, "history_len": p.history_len,
           "text_dim": int(model.text.shape[1])}
    return {"config": cfg, "state_dict": model.state_dict()}, dict(vars(rep))


def _load_tower(saved: dict) -> tt.TwoTower:
    import torch

    c = saved["config"]
    m = tt.TwoTower(c["n_items"], torch.zeros(c["n_items"], c["text_dim"]), dim=c["dim"], tau=c["tau"])
    m.load_state_dict(saved["state_dict"])
    return m.eval()


def two_tower_retrieval(saved: dict, split_lines: pd.DataFrame, evaluation: dict[str, Any]) -> tuple[np.ndarray, Runs]:
    """Exported item vectors and, per stage (valid, test, serve), faiss exact-IP top-``k`` lists plus the
    user vectors."""
    k = EvaluationParams.model_validate(evaluation).k
    model = _load_tower(saved)
    iv = tt.all_item_vectors(model, saved["config"]["n_items"])
    runs: Runs = {}
    for s in ALL_STAGES:
        sd = stage_data(split_lines, s)
        uv = tt.user_vectors(model, tt.stage_snapshots(sd, saved["config"]["history_len"]))
        items, scores = tt.faiss_recall(iv, uv, k)
        runs[s] = {"two_tower": {**_run(items, scores), "user_vectors": uv}}
    return iv, runs


def build_semantic_ids(text: np.ndarray, items: pd.DataFrame, item_vectors: np.ndarray, tt_runs: Runs,
                       split_lines: pd.DataFrame, params: dict[str, Any]) -> tuple[pd.DataFrame, dict]:
    """Residual-quantised semantic IDs of the item text embeddings, their statistics, and two-tower
    recall on cold test items with and without prefix vectors."""
    p = SemanticIdParams.model_validate(params)
    codes = sid.residual_codes(text, p.levels, p.bits, p.seed)
    full = sid.with_collision_suffix(codes)
    table = pd.DataFrame(full, columns=[f"c{j + 1}" for j in range(p.levels)] + ["suffix"])
    table.insert(0, "i", np.arange(len(items)))
    table.insert(1, "product_id", items["product_id"].to_numpy())
    table["semantic_id"] = sid.code_strings(full)
    stats = sid.semantic_id_stats(codes, items["department"].to_numpy(), text, p.bits, p.seed)
    stats["unique_with_suffix"] = bool(table["semantic_id"].is_unique)
    stats["cold_items"] = cold_item_recall(item_vectors, codes, tt_runs, split_lines, p)
    return table, stats


def cold_item_recall(item_vectors: np.ndarray, codes: np.ndarray, tt_runs: Runs, split_lines: pd.DataFrame,
                     p: SemanticIdParams, k: int = 20) -> dict:
    """Recall@``k`` of the two-tower on test target items that are cold (in at most ``cold_max_baskets``
    train baskets), with the item tower's vectors and with semantic-ID prefix vectors for cold items."""
    sd = stage_data(split_lines, "test")
    train = split_lines[split_lines["split"] == "train"].drop_duplicates(["basket_id", "i"])
    n = np.bincount(train["i"].to_numpy(), minlength=sd.n_items)
    cold = n <= p.cold_max_baskets
    new_vecs, served = sid.prefix_vectors(item_vectors, codes, ~cold, cold, p.min_prefix)
    uv = tt_runs["test"]["two_tower"]["user_vectors"]
    out: dict[str, Any] = {"cold_max_baskets": p.cold_max_baskets, "n_cold_items": int(cold.sum()),
                           "prefix_served": served}
    rel = [t[cold[t]] for t in sd.targets]
    out["n_cold_targets"] = int(sum(len(r) for r in rel))
    from discovery_pipelines.search.metrics import binary_topk_metrics

    for name, vecs in (("item_tower", item_vectors), ("semantic_id_prefix", new_vecs)):
        items, _ = tt.faiss_recall(vecs, uv, k)
        m = binary_topk_metrics(items, rel, recall_k=k, ndcg_k=10, hit_k=10)
        out[f"cold_recall@{k}_{name}"] = float(np.nanmean(m[f"recall@{k}"])) if m[f"recall@{k}"].notna().any() else float("nan")
    return out


def build_ranker_rows(split_lines: pd.DataFrame, stage_features: dict, baseline_runs: Runs, tt_runs: Runs,
                      item_vectors: np.ndarray, semantic_ids: pd.DataFrame, params: dict[str, Any]) -> dict[str, pd.DataFrame]:
    """Per stage (valid, test, serve), candidate rows with features and labels (:func:`~discovery_pipelines.personalization.ranker.assemble`)."""
    p = RankerParams.model_validate(params)
    codes = semantic_ids[[c for c in semantic_ids.columns if c.startswith("c") and c[1:].isdigit()]].to_numpy()
    out = {}
    for s in ALL_STAGES:
        sd = stage_data(split_lines, s)
        runs = {**baseline_runs[s], **{"two_tower": tt_runs[s]["two_tower"]}}
        cand = rk.candidates({n: r["items"] for n, r in runs.items()}, sd.users, p.candidates)
        scores = {}
        for name in ("tifu_knn", "als", "cooccurrence"):
            scores[name] = _list_scores(cand, sd.users, runs[name])
        uv = tt_runs[s]["two_tower"]["user_vectors"]
        row = np.searchsorted(sd.users, cand["u"].to_numpy())
        scores["two_tower"] = np.einsum("nd,nd->n", uv[row], item_vectors[cand["i"].to_numpy()])
        out[s] = rk.assemble(cand, sd, stage_features[s], scores, codes)
    return out


def _list_scores(cand: pd.DataFrame, users: np.ndarray, run: dict[str, np.ndarray]) -> np.ndarray:
    """A retriever's score where the candidate is in its top-k list, NaN elsewhere (LightGBM: missing)."""
    items, scores = run["items"], run["scores"]
    lst = pd.DataFrame({"u": np.repeat(users, items.shape[1]), "i": items.ravel(), "s": scores.ravel()})
    return cand[["u", "i"]].merge(lst.drop_duplicates(["u", "i"]), on=["u", "i"], how="left")["s"].to_numpy()


def train_ranker(rows: dict[str, pd.DataFrame], params: dict[str, Any]) -> tuple[dict, dict]:
    """LambdaRank + explore head on the valid stage (:func:`~discovery_pipelines.personalization.ranker.fit_ranker`)."""
    p = RankerParams.model_validate(params)
    return rk.fit_ranker(rows["valid"], num_leaves=p.num_leaves, learning_rate=p.learning_rate,
                         n_estimators=p.n_estimators, min_child_samples=p.min_child_samples,
                         valid_fraction=p.valid_fraction, early_stopping=p.early_stopping, seed=p.seed)


def score_candidates(models: dict, rows: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """Both heads' scores and the three value columns on every stage's candidates."""
    return {s: bd.value_columns(rk.predict_heads(models, r)) for s, r in rows.items()}


def evaluate_personalization(split_lines: pd.DataFrame, split_users: pd.DataFrame, baseline_runs: Runs,
                             tt_runs: Runs, explore_runs: Runs, scored: dict[str, pd.DataFrame], semantic_id_stats: dict,
                             ingest_decisions: dict, ranker_report: dict, two_tower_report: dict,
                             baseline_report: dict, blend: dict[str, Any], evaluation: dict[str, Any]):
    """Every model on both stages, CIs against the strongest baseline (chosen on valid), blend sweeps,
    explore trade-off, semantic-ID statistics: ``(metrics dict, per-user table, figure, trade-off figure,
    markdown)``."""
    return build_report(split_lines, split_users, baseline_runs, tt_runs, explore_runs, scored, semantic_id_stats,
                        ingest_decisions, ranker_report, two_tower_report, baseline_report,
                        BlendParams.model_validate(blend), EvaluationParams.model_validate(evaluation))


def export_recommender(saved: dict, item_vectors: np.ndarray, items: pd.DataFrame, split_lines: pd.DataFrame,
                       split_users: pd.DataFrame, ranker: dict, ranker_rows: dict[str, pd.DataFrame],
                       explore_runs: Runs, blend: dict[str, Any], dataset: str) -> dict:
    """The serving bundle: the full stack on the ``serve`` stage (every user's candidate rows over their
    whole history, both ranker heads, the explore list, the blend weights), plus the two towers and the
    faiss index of item vectors, user histories and the popularity fallback."""
    weights = bd.weights_from_params(BlendParams.model_validate(blend))
    sd = stage_data(split_lines, SERVE)
    return build_bundle(saved, item_vectors, items, split_lines, split_users, dataset,
                        full_stack={"models": ranker, "rows": ranker_rows[SERVE], "users": sd.users,
                                    "explore": explore_runs[SERVE]["explore"]["items"], "weights": weights,
                                    "context": sd.target_context})
