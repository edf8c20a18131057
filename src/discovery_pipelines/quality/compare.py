"""One comparison of every served search mode on dev and holdout: BM25, dense models, hybrid fusions,
cross-encoder re-ranking; paired bootstrap CIs; per-mode latency; the serving choice.

Usable without Kedro (``pipelines/quality`` wires it; ``scripts/benchmark_quality.py`` runs it on a
slice). Systems are named ``bm25``, ``dense:<model>``, ``hybrid_rrf60:<model>`` (RRF c=60, equal
weights: the fusion served before tuning), ``hybrid_rrf:<model>`` / ``hybrid_weighted:<model>`` (best of
each family on dev), ``hybrid:<model>`` (the fusion chosen on dev) and ``rerank:<model>`` (the chosen
hybrid's top ``top_n`` re-ordered by the cross-encoder, interpolated with the hybrid score by a weight
chosen on dev; ``rerank_ce:<model>`` is the cross-encoder alone when that weight is not 0) and
``ltr:<model>`` (the chosen hybrid's head re-ordered by LambdaMART trained on the train split,
:mod:`discovery_pipelines.search.ltr`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from discovery_pipelines.search import metrics as M
from discovery_pipelines.search.embeddings import DEFAULT_CACHE_DIR, encode, product_texts
from discovery_pipelines.search.evaluation import dense_run
from discovery_pipelines.search.fusion import FusionConfig, fuse, tune_fusion
from discovery_pipelines.search.ltr import LTRConfig, importance, ranker_scores, run_features, train_ranker
from discovery_pipelines.search.models import load_model, model_fingerprint
from discovery_pipelines.search.rerank import apply_rerank, head_logits, interpolate, score_pairs
from discovery_pipelines.search.retrieval import BM25Retriever, Run, dense_search, run_to_dict

log = logging.getLogger(__name__)


@dataclass
class SplitRuns:
    """First-stage runs of one split: ``query_ids`` / ``texts`` give the row order of every run."""

    query_ids: list[str]
    texts: list[str]
    qrels: pd.DataFrame
    runs: dict[str, Run] = field(default_factory=dict)


def judged_split(queries: pd.DataFrame, qrels: pd.DataFrame, split: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The ``split``'s queries that have qrels, and those qrels.

    Raises:
        ValueError: no judged query in ``split``.
    """
    q = queries[queries["split"] == split]
    q = q[q["query_id"].isin(set(qrels["query_id"]))].reset_index(drop=True)
    if q.empty:
        raise ValueError(f"no judged query in split {split!r}")
    return q, qrels[qrels["query_id"].isin(set(q["query_id"]))].reset_index(drop=True)


def first_stage_runs(products: pd.DataFrame, queries: pd.DataFrame, qrels: pd.DataFrame,
                     dense_models: Mapping[str, Any], *, splits: Sequence[str] = ("dev", "holdout"), k: int = 100,
                     text_fields: Sequence[str] = ("title",), cache_dir: Any = DEFAULT_CACHE_DIR,
                     bm25: BM25Retriever | None = None) -> dict[str, SplitRuns]:
    """BM25 (as the search service builds it: over the same product text) and each dense model's
    full-catalogue top-``k`` on every split (catalogue embeddings from the embedding cache)."""
    bm25 = bm25 or BM25Retriever(product_texts(products, text_fields), products["product_id"].tolist())
    out: dict[str, SplitRuns] = {}
    for split in splits:
        q, r = judged_split(queries, qrels, split)
        sr = SplitRuns(q["query_id"].astype(str).tolist(), q["text"].astype(str).tolist(), r)
        sr.runs["bm25"] = bm25.search(sr.texts, k=k)
        for name, model in dense_models.items():
            sr.runs[f"dense:{name}"] = dense_run(model, products, q, k=k, text_fields=text_fields,
                                                 cache_dir=cache_dir, show_progress=True)
        out[split] = sr
    return out


def per_query(sr: SplitRuns, system: str, rel_threshold: float) -> pd.DataFrame:
    """Per-query metrics of one system (rows in ``sr.query_ids`` order)."""
    return per_query_of_run(sr, sr.runs[system], rel_threshold)


def per_query_of_run(sr: SplitRuns, run: Run, rel_threshold: float) -> pd.DataFrame:
    """Per-query metrics of ``run`` (rows in ``sr.query_ids`` order) against the split's qrels."""
    pq = M.score_run(run_to_dict(sr.query_ids, run), sr.qrels, rel_threshold)
    return pq.set_index("query_id").loc[sr.query_ids].reset_index()


def add_fusions(splits: Mapping[str, SplitRuns], model: str, *, tune_on: str = "dev", grid: Sequence[FusionConfig]
                | None = None, rel_threshold: float = 2.0, k: int = 100) -> dict[str, Any]:
    """Tune the fusion of ``bm25`` and ``dense:<model>`` on ``tune_on`` and add the hybrid systems of
    ``model`` (see the module docstring) to every split. Returns the choice record
    (:meth:`FusionChoice.to_dict` plus the best config of each family)."""
    dev = splits[tune_on]
    inputs = {"bm25": dev.runs["bm25"], "dense": dev.runs[f"dense:{model}"]}
    choice = tune_fusion(dev.query_ids, inputs, dev.qrels, grid=grid, rel_threshold=rel_threshold, k=k)
    configs = {f"hybrid_rrf60:{model}": FusionConfig(), f"hybrid_rrf:{model}": choice.best_of("rrf"),
               f"hybrid_weighted:{model}": choice.best_of("weighted"), f"hybrid:{model}": choice.config}
    for sr in splits.values():
        two = {"bm25": sr.runs["bm25"], "dense": sr.runs[f"dense:{model}"]}
        for name, cfg in configs.items():
            sr.runs[name] = fuse(two, cfg, k=k)
    rec = choice.to_dict()
    rec["families"] = {m: choice.best_of(m).to_dict() for m in ("rrf", "weighted")}
    rec["top"] = choice.table.head(10).to_dict("records")
    return rec


def add_rerank(splits: Mapping[str, SplitRuns], model: str, cross_encoder: Any, doc_text: Mapping[str, str], *,
               top_n: int, k: int = 100, batch_size: int = 64, precision: str | None = None,
               first_stage_weights: Sequence[float] = (0.0,), tune_on: str = "dev",
               rel_threshold: float = 2.0) -> tuple[dict[str, float], dict[str, Any]]:
    """Add ``rerank:<model>`` (the chosen hybrid's top ``top_n`` by cross-encoder, interpolated with the
    hybrid score by the first-stage weight with the best ``tune_on`` nDCG@10, ties to the smaller weight) and
    ``rerank_ce:<model>`` (weight 0, the cross-encoder alone) to every split; the cross-encoder scores each
    pair once, the weights reuse the logits (:func:`discovery_pipelines.search.rerank.apply_rerank`).

    Returns:
        ``({split: re-scored pairs per second}, {"first_stage_weight": w, "dev_ndcg@10_by_weight": {...}})``.
    """
    speed, logits = {}, {}
    for split, sr in splits.items():
        t = time.perf_counter()
        logits[split] = head_logits(cross_encoder, sr.texts, sr.runs[f"hybrid:{model}"], doc_text, top_n=top_n,
                                    batch_size=batch_size, precision=precision)
        speed[split] = len(sr.query_ids) * top_n / max(time.perf_counter() - t, 1e-9)
    dev = splits[tune_on]
    by_w = {}
    for w in sorted({0.0, *map(float, first_stage_weights)}):
        run = apply_rerank(dev.runs[f"hybrid:{model}"], logits[tune_on], top_n=top_n, k=k, first_stage_weight=w)
        by_w[w] = float(per_query_of_run(dev, run, rel_threshold)["ndcg@10"].mean())
    best = max(by_w, key=lambda w: (round(by_w[w], 10), -w))
    for split, sr in splits.items():
        hyb = sr.runs[f"hybrid:{model}"]
        sr.runs[f"rerank:{model}"] = apply_rerank(hyb, logits[split], top_n=top_n, k=k, first_stage_weight=best)
        if best != 0.0:
            sr.runs[f"rerank_ce:{model}"] = apply_rerank(hyb, logits[split], top_n=top_n, k=k)
    return speed, {"first_stage_weight": best, f"{tune_on}_ndcg@10_by_weight": {str(w): v for w, v in by_w.items()}}


def add_ltr(splits: Mapping[str, SplitRuns], model: str, dense_model: Any, train: SplitRuns, fusion: FusionConfig,
            products: pd.DataFrame, config: LTRConfig, *, k: int = 100, text_fields: Sequence[str] = ("title",),
            cache_dir: Any = DEFAULT_CACHE_DIR) -> tuple[Any, dict[str, Any]]:
    """Train LambdaMART on ``train`` (its queries' ``bm25`` / ``dense:<model>`` runs fused with ``fusion``, the
    hybrid the service serves) and add ``ltr:<model>``, each split's ``hybrid:<model>`` head of ``config.depth``
    re-ordered by the ranker, to every split (:mod:`discovery_pipelines.search.ltr`).

    Args:
        train: first-stage runs of the training split (``bm25`` and ``dense:<model>``; never dev / holdout).
        dense_model: the dense model behind ``dense:<model>`` (name, folder or loaded) for the cosine feature.

    Returns:
        ``(lightgbm.Booster, stats)``: training queries / rows / judged rows, seconds, feature importance.

    Raises:
        ValueError: the training heads hold no judged product (:func:`~discovery_pipelines.search.ltr.train_ranker`).
    """
    t0 = time.perf_counter()
    st = load_model(dense_model)
    texts = product_texts(products, text_fields)
    doc = encode(st, texts, cache_dir=cache_dir, model_key=model_fingerprint(st), show_progress=False)
    pids = products["product_id"].astype(str).tolist()
    position = {p: i for i, p in enumerate(pids)}
    doc_text = dict(zip(pids, texts))

    def features(sr: SplitRuns, hybrid: Run) -> tuple[np.ndarray, np.ndarray, list[list[str]]]:
        qe = encode(st, sr.texts, cache_dir=None, show_progress=False)
        return run_features(sr.texts, hybrid, sr.runs["bm25"], qe, doc, position, doc_text, config.depth)

    train_hybrid = fuse({"bm25": train.runs["bm25"], "dense": train.runs[f"dense:{model}"]}, fusion, k=k)
    X, groups, heads = features(train, train_hybrid)
    gain = {(q, p): float(g) for q, p, g in zip(train.qrels["query_id"].astype(str),
                                                 train.qrels["product_id"].astype(str), train.qrels["gain"])}
    gains = [gain.get((q, p), 0.0) for q, head in zip(train.query_ids, heads) for p in head]
    t1 = time.perf_counter()
    ranker = train_ranker(X, gains, groups, config)
    t2 = time.perf_counter()
    for sr in splits.values():
        hyb = sr.runs[f"hybrid:{model}"]
        Xs, gs, _ = features(sr, hyb)
        sr.runs[f"ltr:{model}"] = apply_rerank(hyb, ranker_scores(ranker, Xs, gs), top_n=config.depth, k=k)
    stats = {"train_queries": len(train.query_ids), "train_rows": int(len(X)),
             "judged_rows": int(sum(g > 0 for g in gains)), "depth": config.depth,
             "seconds": {"train_features": t1 - t0, "fit": t2 - t1, "score_splits": time.perf_counter() - t2},
             "importance": importance(ranker)}
    log.info("LambdaMART on %d train queries (%d rows, %d judged) in %.0f s", stats["train_queries"], len(X),
             stats["judged_rows"], time.perf_counter() - t0)
    return ranker, stats


def teacher_agreement(cross_encoder: Any, sr: SplitRuns, doc_text: Mapping[str, str], *, rel_threshold: float,
                      candidates: Run | None = None, top_n: int = 30, batch_size: int = 64,
                      precision: str | None = None) -> dict[str, Any]:
    """Agreement of the teacher with the human labels of one split (dev).

    * Spearman rank correlation of the teacher's logit with the graded gain over all judged pairs;
    * ROC-AUC of relevant (``gain >= rel_threshold``) vs judged-not-relevant pairs;
    * ROC-AUC of judged vs unjudged products among the first-stage top ``top_n`` of ``candidates``
      (the decision a re-ranker makes: unjudged products score 0 in nDCG).
    """
    from scipy.stats import spearmanr
    from sklearn.metrics import roc_auc_score

    text = dict(zip(sr.query_ids, sr.texts))
    r = sr.qrels[sr.qrels["product_id"].isin(set(doc_text))]
    s = score_pairs(cross_encoder, [text[q] for q in r["query_id"]], [doc_text[p] for p in r["product_id"]],
                    batch_size=batch_size, precision=precision)
    g = r["gain"].to_numpy(dtype=float)
    rel = g >= rel_threshold
    out: dict[str, Any] = {"n_judged_pairs": int(len(r)), "spearman_vs_gain": float(spearmanr(s, g).statistic),
                           "roc_auc_relevant_vs_not": float(roc_auc_score(rel, s)) if 0 < rel.sum() < len(rel)
                           else None, "n_relevant": int(rel.sum())}
    if candidates is not None:
        judged = {(q, p) for q, p in zip(r["query_id"], r["product_id"])}
        qs, ps = [], []
        for qi, q in enumerate(sr.query_ids):
            for p in candidates[0][qi, :top_n]:
                if p is not None and (q, p) not in judged:
                    qs.append(q)
                    ps.append(p)
        su = score_pairs(cross_encoder, [text[q] for q in qs], [doc_text[p] for p in ps], batch_size=batch_size,
                         precision=precision)
        y = np.r_[np.ones(len(s)), np.zeros(len(su))]
        out["roc_auc_judged_vs_unjudged_candidates"] = float(roc_auc_score(y, np.r_[s, su])) if len(su) else None
        out["n_unjudged_candidates"] = int(len(su))
    return out


def score_systems(splits: Mapping[str, SplitRuns], *, rel_threshold: float, baselines: Sequence[str],
                  samples: int = 1000, seed: int = 13) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Per-query metrics of every system and split, and ``{split: {system: {metrics..., "vs_<b>": CI}}}``
    with a paired bootstrap of the nDCG@10 difference against each baseline system in ``baselines``."""
    frames, table = [], {}
    for split, sr in splits.items():
        pqs = {name: per_query(sr, name, rel_threshold) for name in sr.runs}
        table[split] = {}
        for name, pq in pqs.items():
            row: dict[str, Any] = M.aggregate(pq)
            for b in baselines:
                if b in pqs and b != name:
                    row[f"vs_{b}"] = M.paired_bootstrap_ci(pq["ndcg@10"], pqs[b]["ndcg@10"], n_resamples=samples,
                                                           seed=seed)
            table[split][name] = row
            frames.append(pq.assign(split=split, system=name))
    return pd.concat(frames, ignore_index=True), table


def mode_latency(products: pd.DataFrame, texts: Sequence[str], model: Any, cross_encoder: Any | None,
                 fusion: FusionConfig, *, top_n: int, candidates: int = 100, bm25: BM25Retriever | None = None,
                 first_stage_weight: float = 0.0,
                 cache_dir: Any = DEFAULT_CACHE_DIR, text_fields: Sequence[str] = ("title",),
                 precision: str | None = None, ranker: Any = None, ltr_depth: int = 50
                 ) -> dict[str, dict[str, float]]:
    """In-process per-query latency (ms, p50 / p95, one query at a time) of each serving mode, the
    steps the search service runs: BM25, query encoding + exact dense top-k, fusion, then the
    cross-encoder (``rerank``) or the LambdaMART ``ranker``'s features and scores (``ltr``, head ``ltr_depth``)."""
    from discovery_pipelines.search.ltr import score_head

    st = load_model(model)
    bm25 = bm25 or BM25Retriever(product_texts(products, text_fields), products["product_id"].tolist())
    ids = products["product_id"].tolist()
    doc = encode(st, product_texts(products, text_fields), cache_dir=cache_dir, show_progress=False)
    title = dict(zip(products["product_id"], product_texts(products, text_fields)))
    position = {p: i for i, p in enumerate(ids)}
    lat: dict[str, list[float]] = {"bm25": [], "dense": [], "hybrid": [], "rerank": [], "ltr": []}
    for q in texts:
        t0 = time.perf_counter()
        b = bm25.search([q], k=candidates)
        t1 = time.perf_counter()
        qv = st.encode([q], normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)
        d = dense_search(qv, doc, ids, k=candidates)
        t2 = time.perf_counter()
        h = fuse({"bm25": b, "dense": d}, fusion, k=max(top_n, 10, ltr_depth if ranker is not None else 0))
        t3 = time.perf_counter()
        lat["bm25"].append(t1 - t0)
        lat["dense"].append(t2 - t1)
        lat["hybrid"].append(t3 - t0)
        if ranker is not None:
            keep = [j for j, p in enumerate(h[0][0, :ltr_depth]) if p is not None]
            head = [h[0][0, j] for j in keep]
            bm = {p: float(x) for p, x in zip(b[0][0], b[1][0]) if p is not None}
            s = score_head(ranker, q, [title[p] for p in head], h[1][0, keep], [bm.get(p, 0.0) for p in head],
                           doc[[position[p] for p in head]] @ qv[0])
            _ranked = [head[j] for j in np.argsort(-s, kind="stable")]
            lat["ltr"].append(time.perf_counter() - t0)
        if cross_encoder is not None:
            keep = [j for j, p in enumerate(h[0][0, :top_n]) if p is not None]
            head = [h[0][0, j] for j in keep]
            lg = score_pairs(cross_encoder, [q] * len(head), [title[p] for p in head], batch_size=max(len(head), 1),
                             precision=precision)
            interpolate(lg, h[1][0, keep], first_stage_weight)
            lat["rerank"].append(time.perf_counter() - t0)
    return {m: {"p50_ms": float(np.percentile(v, 50) * 1e3), "p95_ms": float(np.percentile(v, 95) * 1e3),
                "n": len(v)} for m, v in lat.items() if v}


def choose_serving_mode(dev_ndcg: Mapping[str, float], latency: Mapping[str, Mapping[str, float]],
                        budget_ms: float) -> dict[str, Any]:
    """The mode with the best dev nDCG@10 whose p95 latency is within ``budget_ms`` (``bm25`` is
    always eligible as the fallback).

    Args:
        dev_ndcg: ``{mode: dev nDCG@10}`` for modes among ``dense``, ``bm25``, ``hybrid``, ``rerank``, ``ltr``.
        latency: ``{mode: {"p95_ms": ...}}`` from :func:`mode_latency`.
    """
    eligible = {m: v for m, v in dev_ndcg.items()
                if m == "bm25" or latency.get(m, {}).get("p95_ms", float("inf")) <= budget_ms}
    best = max(eligible, key=eligible.get)
    return {"default_mode": best, "dev_ndcg@10": dict(dev_ndcg), "eligible": sorted(eligible),
            "latency_budget_p95_ms": float(budget_ms),
            "rejected_for_latency": sorted(set(dev_ndcg) - set(eligible))}
