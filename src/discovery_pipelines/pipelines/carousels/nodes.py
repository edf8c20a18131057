"""Nodes of ``carousels``: one per stage, thin wrappers over :mod:`discovery_pipelines.carousels`.

Every tunable comes from ``params:carousels`` (validated by
:class:`discovery_pipelines.carousels.params.CarouselsParams`); LLM connection settings come from Kedro
credentials or the environment, never parameters.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from discovery_pipelines.carousels.catalogue import Catalogue, build_catalogue, store_profiles
from discovery_pipelines.carousels.evaluation import (
    balance_stats,
    diversity_stats,
    hit_at_k,
    popularity_list,
    precision_at_k,
)
from discovery_pipelines.carousels.generation import (
    LLMCarouselGenerator,
    RulesCarouselGenerator,
    generate_candidates,
    metadata_from_json,
    select_diverse,
)
from discovery_pipelines.carousels.jury import client_for, heldout_mask, jury_figures, make_jury, vocabulary_words
from discovery_pipelines.carousels.knn import MaskedExactKNN, compare_with_faiss
from discovery_pipelines.carousels.params import CarouselsParams, parse_params
from discovery_pipelines.carousels.profiles import build_profiles, split_next_basket, visit_context
from discovery_pipelines.carousels.rerank import block_rerank, engagement_scores, engagement_tables, similarity_to_unit
from discovery_pipelines.carousels.report import carousel_html
from discovery_pipelines.carousels.retrieval import (
    category_centroids,
    category_texts,
    describe_device,
    expand_metadata,
    query_text,
    retrieve,
    store_level,
    user_store_masks,
)
from discovery_pipelines.carousels.rewrite import LLMRewriter, hierarchical_vs_flat, nearest_chooser, rules_rewrite, senses
from discovery_pipelines.search.embeddings import DEFAULT_CACHE_DIR, encode
from discovery_pipelines.search.models import load_model

log = logging.getLogger(__name__)
SOURCE_TABLES = {"completejourney": {"transactions", "products"},
                 "instacart_histories": {"orders", "order_products", "products"}}


def _p(params: dict[str, Any]) -> CarouselsParams:
    return parse_params(params)


def _embedder(p: CarouselsParams) -> Callable[[list[str]], np.ndarray]:
    """``embed(texts) -> (n, dim)`` with an in-process memo; large batches also use the on-disk cache."""
    model = load_model(p.retrieval.model, device=p.retrieval.device)
    memo: dict[str, np.ndarray] = {}

    def embed(texts: list[str]) -> np.ndarray:
        missing = list(dict.fromkeys(t for t in texts if t not in memo))
        if missing:
            e = encode(model, missing, batch_size=p.retrieval.batch_size, show_progress=len(missing) > 2000,
                       cache_dir=DEFAULT_CACHE_DIR if len(missing) >= 500 else None)
            memo.update(zip(missing, e))
        dim = (model.get_embedding_dimension() if hasattr(model, "get_embedding_dimension")
               else model.get_sentence_embedding_dimension())
        return np.stack([memo[t] for t in texts]) if texts else np.zeros((0, dim), np.float32)
    embed.model = model  # type: ignore[attr-defined]
    return embed


# ------------------------------------------------------------------------------------------ 0. histories
def load_histories(raw: dict[str, Callable[[], pd.DataFrame]], params: dict[str, Any]
                   ) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """Raw source tables (a partitioned folder) -> histories ``lines``, ``products`` and the adapter's
    counted decisions, through the project's adapters (:mod:`discovery_pipelines.data.ingest`).

    Raises:
        ValueError: the folder's tables do not belong to ``carousels.dataset``.
    """
    from discovery_pipelines.data.ingest import completejourney_histories, instacart_histories

    p = _p(params)
    need = SOURCE_TABLES[p.dataset]
    if not need <= set(raw):
        raise ValueError(f"carousels.dataset={p.dataset!r} needs tables {sorted(need)}, the raw folder has "
                         f"{sorted(raw)} (set DISCOVERY_CAROUSELS_DATASET to the same dataset)")
    t0 = time.perf_counter()
    if p.dataset == "completejourney":
        h = completejourney_histories(raw["transactions"](), raw["products"](),
                                      raw["demographics"]() if "demographics" in raw else None)
    else:
        h = instacart_histories(raw["orders"](), raw["order_products"](), raw["products"](),
                                raw["users"]() if "users" in raw else None)
    cols = ["user_id", "basket_id", "timestamp", "product_id", "quantity", "price", "discount", "store_id",
            "day_of_week", "hour"]
    return h.lines[cols], h.products, {"dataset": p.dataset, "decisions": h.decisions,
                                       "seconds": round(time.perf_counter() - t0, 2)}


# ------------------------------------------------------------------------------------------- 1. profiles
def build_user_profiles(lines: pd.DataFrame, products: pd.DataFrame, params: dict[str, Any]
                        ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """``(profiles, visit_context, history, next_baskets, stats)``: the last basket of each user is held out."""
    p = _p(params)
    t0 = time.perf_counter()
    history, nxt, counts = split_next_basket(lines, p.profiles.min_baskets)
    if p.profiles.max_users:
        users = sorted(history["user_id"].unique(), key=lambda u: (hash_u(u), u))[: p.profiles.max_users]
        history = history[history["user_id"].isin(users)].reset_index(drop=True)
        nxt = nxt[nxt["user_id"].isin(users)].reset_index(drop=True)
        counts["users_sampled"] = len(users)
    prof = build_profiles(history, products, top_n=p.profiles.top_n)
    ctx = visit_context(nxt)
    counts.update({"profiles": len(prof), "daypart_of_visit": ctx["daypart"].value_counts().to_dict(),
                   "daypart_imputed": int(ctx["daypart_imputed"].sum()),
                   "seconds": round(time.perf_counter() - t0, 2)})
    return prof, ctx, history, nxt, counts


def hash_u(u: str) -> str:
    import hashlib

    return hashlib.sha1(str(u).encode()).hexdigest()


# ----------------------------------------------------------------------------------------- 2. generation
def _rules_gen(catalogue: Catalogue, p: CarouselsParams) -> RulesCarouselGenerator:
    g = p.generation
    return RulesCarouselGenerator(catalogue, n=g.n_carousels, min_items=g.min_items, max_items=g.max_items,
                                  excluded_topics=g.excluded_topics, staples_categories=g.staples_categories)


def generate_carousels(profiles: pd.DataFrame, visit: pd.DataFrame, history: pd.DataFrame, products: pd.DataFrame,
                       params: dict[str, Any]) -> tuple[pd.DataFrame, dict[str, Any]]:
    """N carousels per user (title + metadata JSON), balance / diversity / exclusions enforced; stats."""
    p = _p(params)
    g = p.generation
    t0 = time.perf_counter()
    catalogue = build_catalogue(history, products)
    rules = _rules_gen(catalogue, p)
    llm = None
    if g.backend == "llm":
        client = client_for(g.llm)
        if client is None:
            log.warning("carousels.generation.backend=llm but no model configured; using rules")
        else:
            titles = dict(zip(products["product_id"].astype(str), products["title"].astype(str)))
            llm = LLMCarouselGenerator(client, rules, titles)
    cands = generate_candidates(profiles, visit, rules, llm, engine=g.engine, spark_master=g.spark_master)
    embed = _embedder(p)
    emb = embed(cands["title"].tolist()) if len(cands) else np.zeros((0, 384), "f4")
    keep, rejected_similar, by_user_emb = [], 0, {}
    for uid, idx in cands.groupby("user_id", sort=True).indices.items():
        idx = np.sort(idx)
        k, rj = select_diverse([{}] * len(idx), emb[idx], g.n_carousels, g.diversity_threshold)
        rejected_similar += rj
        keep.extend(idx[k])
        by_user_emb[uid] = emb[idx[k]]
    out = cands.iloc[np.sort(np.asarray(keep, dtype=int))].copy() if keep else cands.iloc[:0].copy()
    out["rank"] = out.groupby("user_id").cumcount()
    out["carousel_id"] = out["user_id"].astype(str) + ":" + out["rank"].astype(str)
    out = out.merge(visit[["user_id", "daypart", "day"]], on="user_id", how="left").reset_index(drop=True)
    per_user = out.groupby("user_id").size()
    stats = {"backend": g.backend if llm is not None else "rules", "engine": g.engine,
             "users": int(profiles["user_id"].nunique()), "users_with_carousels": int(per_user.size),
             "carousels": int(len(out)), "carousels_per_user_mean": float(per_user.mean()) if len(per_user) else 0.0,
             "users_short_of_n": int((per_user < g.n_carousels).sum()), "candidates": int(len(cands)),
             "staples_carousels": int((out["source"] == "staples").sum()) if len(out) else 0,
             "rejected_too_similar": int(rejected_similar), **{f"rules_{k}": int(v) for k, v in rules.stats.items()},
             "daypart_affine_share": float(out["daypart_affine"].mean()) if len(out) else 0.0,
             "diversity": diversity_stats(by_user_emb),
             "balance": balance_stats(out["topic_size"].tolist(), g.min_items, g.max_items),
             "seconds": round(time.perf_counter() - t0, 2)}
    if llm is not None:
        stats["llm"] = {**{k: int(v) for k, v in llm.stats.items()}, **llm.client.accounting()}
    return out, stats


# ----------------------------------------------------------------------------------------- 3. moderation
def _labelled_figures(jury: Any, labelled: pd.DataFrame, mod: int) -> dict[str, Any]:
    lab = labelled.copy()
    lab["daypart"] = lab["daypart"].where(lab["daypart"].isin(["breakfast", "lunch", "dinner", "late"]), None)
    held = np.asarray(heldout_mask(lab["title"], mod))
    m = jury.moderate(lab["title"].tolist(), lab["daypart"].tolist())
    out = {}
    for name, sel in (("all", np.ones(len(lab), bool)), ("dev", ~held), ("heldout", held)):
        out[name] = jury_figures(m[sel].reset_index(drop=True), lab["label"][sel].reset_index(drop=True))
    bad = lab["label"] == "bad"
    out["recall_by_reason_heldout"] = {
        r: float((m.loc[held & bad & (lab["reason"] == r), "verdict"] == "block").mean())
        for r in sorted(lab.loc[bad, "reason"].dropna().unique())}
    return out


def moderate_carousels(carousels: pd.DataFrame, jury_titles: pd.DataFrame, products: pd.DataFrame,
                       params: dict[str, Any]) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Jury verdicts for the generated carousels, and the jury's figures on the labelled title set
    (dev / held-out; rules jury always, LLM jury too when ``moderation.backend=llm``)."""
    p = _p(params)
    t0 = time.perf_counter()
    brands = [b for b in products["brand"].dropna().astype(str).unique()] if "brand" in products else []
    # the catalogue's words (names, categories, product types) count as known topic words for the jury
    vocab = vocabulary_words(pd.concat([products[c].dropna().astype(str).drop_duplicates() for c in
                                        ("title", "department", "category", "product_type") if c in products]))
    rules_jury = make_jury("rules", veto=p.moderation.veto, brands=brands,
                           excluded_topics=p.generation.excluded_topics, vocabulary=vocab)
    jury, backend = rules_jury, "rules"
    if p.moderation.backend == "llm":
        client = client_for(p.moderation.llm)
        if client is None:
            log.warning("carousels.moderation.backend=llm but no model configured; using the rules jury")
        else:
            jury, backend = make_jury("llm", veto=p.moderation.veto, brands=brands,
                                      excluded_topics=p.generation.excluded_topics, client=client,
                                      vocabulary=vocab), "llm"
    m = jury.moderate(carousels["title"].tolist(), carousels["daypart"].tolist()) if len(carousels) else None
    out = carousels.copy()
    out["verdict"] = m["verdict"].to_numpy() if m is not None else []
    out["blocked_by"] = [",".join(x) for x in m["blocked_by"]] if m is not None else []
    report = {"backend": backend, "veto": p.moderation.veto, "carousels": int(len(out)),
              "blocked": int((out["verdict"] == "block").sum()),
              "blocked_by_juror": {j: int(out["blocked_by"].str.contains(j).sum()) for j in ("safety", "appetite", "policy")},
              "labelled_set": {"rules": _labelled_figures(rules_jury, jury_titles, p.moderation.heldout_mod)}}
    if backend == "llm":
        report["labelled_set"]["llm"] = _labelled_figures(jury, jury_titles, p.moderation.heldout_mod)
        report["llm"] = {**jury.jurors[0].client.accounting(),
                         "no_verdict_fallback": {j.name: j.stats["no_verdict_fallback"] for j in jury.jurors}}
    report["seconds"] = round(time.perf_counter() - t0, 2)
    return out, report


# ------------------------------------------------------------------------------------------ 4. retrieval
def _item_index(history: pd.DataFrame, products: pd.DataFrame, p: CarouselsParams, embed: Callable
                ) -> tuple[Catalogue, np.ndarray, MaskedExactKNN]:
    cat = build_catalogue(history, products)
    emb = embed(cat.text)
    return cat, emb, MaskedExactKNN(emb, cat.store_masks, device=p.retrieval.device)


def retrieve_carousel_items(moderated: pd.DataFrame, history: pd.DataFrame, products: pd.DataFrame,
                            params: dict[str, Any]) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """``(candidates, store_carousels, knn_report)``: masked exact KNN per allowed carousel (top
    ``n_candidates`` items; on sources with stores, the user's stores and the best item in each), and the
    torch-vs-faiss comparison on a sample of the same masked queries."""
    p = _p(params)
    r = p.retrieval
    t0 = time.perf_counter()
    embed = _embedder(p)
    cat, item_emb, knn = _item_index(history, products, p, embed)
    ok = moderated[moderated["verdict"] == "allow"].reset_index(drop=True)
    metas = [metadata_from_json(s) for s in ok["metadata"]]
    q_emb = embed([query_text(t, m) for t, m in zip(ok["title"], metas)])
    stores = user_store_masks(history, cat)
    allowed = []
    unknown_store_users = set()
    user_mask: dict[str, np.ndarray | None] = {}
    for u in ok["user_id"].astype(str):
        if u not in user_mask:
            s = stores.get(u)
            if cat.has_stores and (s is None or not len(s)):
                unknown_store_users.add(u)  # an unknown store: the carousel is not restricted (counted)
            user_mask[u] = cat.store_masks[s].any(axis=0) if cat.has_stores and s is not None and len(s) else None
        allowed.append(user_mask[u])
    t1 = time.perf_counter()
    S, I = retrieve(knn, cat, q_emb, metas, allowed, r.n_candidates, r.metadata_filter, rank_penalty=r.rank_penalty)
    knn_s = time.perf_counter() - t1
    report: dict[str, Any] = {}
    rows = []
    ids = cat.items["product_id"].astype(str).to_numpy()
    # familiarity candidates (seed 002): the user's own past items inside the carousel's mask join the
    # KNN candidates, so the engagement ranker can surface repeat buys (knn_rank -1 marks them)
    pos = pd.Series(np.arange(len(ids)), index=ids)
    own = history.assign(pid=history["product_id"].astype(str)).groupby(history["user_id"].astype(str))["pid"].agg(
        lambda x: pos.reindex(x.value_counts().index[: r.n_candidates]).dropna().to_numpy(dtype=np.int64))
    memo: dict[tuple, np.ndarray] = {}
    for i, cid in enumerate(ok["carousel_id"]):
        u = str(ok.at[i, "user_id"])
        seen = set()
        for j in range(I.shape[1]):
            if I[i, j] >= 0:
                seen.add(int(I[i, j]))
                rows.append((cid, u, j, ids[I[i, j]], float(S[i, j])))
        mine = own.get(u)
        if mine is None or not len(mine):
            continue
        key = (tuple(metas[i].category), tuple(metas[i].product_type))
        if key not in memo:
            memo[key] = cat.metadata_mask(metas[i].category, metas[i].product_type)
        keep = mine[memo[key][mine] if r.metadata_filter else np.ones(len(mine), bool)]
        if allowed[i] is not None:
            keep = keep[allowed[i][keep]]
        for j in keep:
            if int(j) not in seen:
                rows.append((cid, u, -1, ids[j], float(item_emb[j] @ q_emb[i])))
    cands = pd.DataFrame(rows, columns=["carousel_id", "user_id", "knn_rank", "product_id", "similarity"])
    report["familiarity_candidates_share"] = float((cands["knn_rank"] < 0).mean()) if len(cands) else 0.0
    store_rows = []
    report.update({"carousels": int(len(ok)), "knn_seconds": round(knn_s, 3),
                              "knn_ms_per_carousel": round(knn_s * 1000 / max(1, len(ok)), 3),
                              "metadata_filter": r.metadata_filter, **describe_device(knn),
                              "unknown_store_users": len(unknown_store_users)})
    if cat.has_stores:
        sp = store_profiles(history, cat)
        s_emb = embed(sp["text"].tolist())
        sknn = MaskedExactKNN(s_emb, None, device=r.device)
        lv = store_level(sknn, knn, q_emb, [stores.get(str(u), np.zeros(0, np.int64)) for u in ok["user_id"]],
                         r.n_stores)
        for cid, u, picks in zip(ok["carousel_id"], ok["user_id"], lv):
            for rank, (si, sv, ii, iv) in enumerate(picks):
                store_rows.append((cid, u, rank, cat.store_ids[si], sv, ids[ii] if ii >= 0 else None, iv))
        # torch vs faiss on the same store masks (the seed's masked KNN), a sample of carousels
        n = min(r.faiss_queries, len(ok))
        rng = np.random.default_rng(0)
        pick = rng.choice(len(ok), size=n, replace=False) if n else np.zeros(0, int)
        mids = np.array([stores[str(ok.at[i, "user_id"])][0] if str(ok.at[i, "user_id"]) in stores else 0
                         for i in pick], dtype=np.int64)
        report["torch_vs_faiss"] = compare_with_faiss(knn, item_emb, q_emb[pick], mids, cat.store_masks, k=r.k)
        report["torch_vs_faiss"]["mask"] = "one store's sold products"
    else:
        n = min(r.faiss_queries, len(ok))
        pick = np.random.default_rng(0).choice(len(ok), size=n, replace=False) if n else np.zeros(0, int)
        masks = np.stack([cat.metadata_mask(metas[i].category, metas[i].product_type) for i in pick]) if n else \
            np.ones((1, len(cat.items)), bool)
        mknn = MaskedExactKNN(item_emb, masks, device=r.device)
        report["torch_vs_faiss"] = compare_with_faiss(mknn, item_emb, q_emb[pick], np.arange(n), masks, k=r.k)
        report["torch_vs_faiss"]["mask"] = "carousel metadata categories"
    stores_df = pd.DataFrame(store_rows, columns=["carousel_id", "user_id", "store_rank", "store_id",
                                                  "store_similarity", "best_product_id", "item_similarity"])
    report["seconds"] = round(time.perf_counter() - t0, 2)
    return cands, stores_df, report


# ----------------------------------------------------------------------------------------- 5. re-ranking
def _carousel_arrays(cands: pd.DataFrame, popularity: pd.Series, ucounts: dict[str, dict[str, int]], kind: str,
                     personal_weight: float = 0.8) -> dict[str, tuple[list[str], np.ndarray, np.ndarray]]:
    """Per carousel: ``(product ids, R, S in (0, 1])`` computed once (the grid reuses them)."""
    out = {}
    for cid, g in cands.groupby("carousel_id", sort=False):
        pids = g["product_id"].tolist()
        uid = str(g["user_id"].iloc[0])
        out[cid] = (pids, engagement_scores(uid, pids, popularity, ucounts.get(uid, {}), kind, personal_weight),
                    similarity_to_unit(g["similarity"].to_numpy()))
    return out


def _rerank_lists(arrays: dict[str, tuple[list[str], np.ndarray, np.ndarray]], alpha: float, beta: float,
                  block: int, k: int) -> dict[str, list[str]]:
    return {cid: [pids[i] for i in block_rerank(R, S, alpha, beta, block)[:k]] for cid, (pids, R, S) in arrays.items()}


def rerank_carousel_items(candidates: pd.DataFrame, history: pd.DataFrame, next_baskets: pd.DataFrame,
                          params: dict[str, Any]) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Block re-ranking of each carousel's candidates (``R^alpha * S^beta`` in blocks of K) and the
    alpha / beta / K grid scored by personal hit-rate@k against the held-out next basket."""
    p = _p(params)
    rr, k = p.rerank, p.retrieval.k
    t0 = time.perf_counter()
    pop, uc = engagement_tables(history)
    ucounts: dict[str, dict[str, int]] = {}
    for u, pid, n in uc.itertuples(index=False):
        ucounts.setdefault(u, {})[pid] = int(n)
    baskets = next_baskets.groupby(next_baskets["user_id"].astype(str))["product_id"].agg(
        lambda s: set(s.astype(str))).to_dict()
    cand_users = candidates.groupby("carousel_id")["user_id"].first().astype(str).to_dict()

    def hit_rate(lists: dict[str, list[str]]) -> float:
        return float(np.mean([hit_at_k(v, baskets.get(cand_users[c], set()), k) for c, v in lists.items()])) \
            if lists else 0.0

    arrays = {kind: _carousel_arrays(candidates, pop, ucounts, kind, rr.personal_weight)
              for kind in ("personal", "popularity")}
    final = _rerank_lists(arrays[rr.engagement], rr.alpha, rr.beta, rr.block_size, k)
    rows = [(c, cand_users[c], i, pid) for c, v in final.items() for i, pid in enumerate(v)]
    items = pd.DataFrame(rows, columns=["carousel_id", "user_id", "position", "product_id"])
    grid = []
    for kind in ("personal", "popularity"):
        for K in rr.grid_block_size:
            for a in rr.grid_alpha:
                for b in rr.grid_beta:
                    lists = _rerank_lists(arrays[kind], a, b, K, k)
                    grid.append({"engagement": kind, "block_size": K, "alpha": a, "beta": b,
                                 "hit_rate@10": hit_rate(lists)})
    sim_only = hit_rate({c: g[g["knn_rank"] >= 0].sort_values("knn_rank")["product_id"].tolist()[:k]
                         for c, g in candidates.groupby("carousel_id", sort=False)})
    pop_ranked = _rerank_lists(arrays["popularity"], rr.alpha, rr.beta, rr.block_size, k)
    report = {"engagement": rr.engagement, "alpha": rr.alpha, "beta": rr.beta, "block_size": rr.block_size,
              "hit_rate@10": hit_rate(final), "hit_rate@10_similarity_only": sim_only,
              "hit_rate@10_popularity_ranked": hit_rate(pop_ranked), "grid": grid,
              "seconds": round(time.perf_counter() - t0, 2)}
    return items, report


# ----------------------------------------------------------------------------------- 6. rewriting / RAG
def rewrite_queries(rewrites: list[dict[str, Any]], relevance: list[dict[str, Any]], history: pd.DataFrame,
                    products: pd.DataFrame, params: dict[str, Any]) -> dict[str, Any]:
    """Query rewriting (rules, and LLM when configured) on the hand-written ambiguous queries, and flat vs
    hierarchical collection generation on the relevance-set titles."""
    p = _p(params)
    t0 = time.perf_counter()
    embed = _embedder(p)
    cat, item_emb, knn = _item_index(history, products, p, embed)
    item_cat = dict(zip(cat.items["product_id"].astype(str), cat.items["category"]))
    ids = cat.items["product_id"].astype(str).to_numpy()
    rows = [(i, e["query"], e[p.dataset]) for i, e in enumerate(rewrites) if p.dataset in e]
    client = client_for(p.rewrite.llm) if p.rewrite.backend == "llm" else None

    def top_items(qs: list[str]) -> list[list[str]]:
        s, idx = knn.search(embed(qs), None, k=p.retrieval.k,
                            extra_mask=np.ones((len(qs), len(ids)), bool)) if qs else (None, np.zeros((0, 0), int))
        return [[ids[j] for j in r if j >= 0] for r in idx]

    raw_q = [q for _, q, _ in rows]
    ruled = [rules_rewrite(q, d["profile"], cat) for _, q, d in rows]
    systems = {"raw": raw_q, "rules": [r for r, _ in ruled]}
    if client is not None:
        llm_out = LLMRewriter(client).rewrite([(f"q{i}", q, d["profile"], list(senses(q, cat).index[:12]))
                                               for i, q, d in rows])
        systems["llm"] = [o or q for o, q in zip(llm_out, raw_q)]
        systems_valid = float(np.mean([o is not None for o in llm_out])) if llm_out else 0.0
    expected = [d["expected"] for _, _, d in rows]
    res: dict[str, Any] = {"n_queries": len(rows)}
    for name, qs in systems.items():
        prec = precision_at_k(top_items(qs), item_cat, expected, p.retrieval.k)
        res[name] = {"precision@10": float(prec.mean()) if len(prec) else None}
    res["rules"]["sense_accuracy"] = float(np.mean([c in set(e) for (_, c), e in zip(ruled, expected)]))
    if client is not None:
        res["llm"]["valid_answer_rate"] = systems_valid
    res["examples"] = [{"query": q, "profile": d["profile"][:2], "rules": r, **({"llm": systems["llm"][i]}
                        if "llm" in systems else {})} for i, ((_, q, d), r) in enumerate(zip(rows, systems["rules"]))][:8]
    rel = [e for e in relevance if p.dataset in e]
    dept_of = cat.items.dropna(subset=["category"]).groupby("category")["department"].first().to_dict()
    res["hierarchical_rag"] = hierarchical_vs_flat(
        [e["title"] for e in rel], [e[p.dataset] for e in rel], cat, dept_of,
        nearest_chooser(embed), embed.model.tokenizer, client=client,  # type: ignore[attr-defined]
        dept_limit=p.rewrite.catalogue_department_limit)
    res["hierarchical_rag"]["backend"] = "llm" if client is not None else "rules (nearest names)"
    if client is not None:
        res["llm_accounting"] = client.accounting()
    res["seconds"] = round(time.perf_counter() - t0, 2)
    return res


# ----------------------------------------------------------------------------------------- 7. evaluation
def evaluate_carousels(carousel_items: pd.DataFrame, moderated: pd.DataFrame, store_carousels: pd.DataFrame,
                       profiles: pd.DataFrame, history: pd.DataFrame, next_baskets: pd.DataFrame,
                       products: pd.DataFrame, relevance: list[dict[str, Any]], profile_stats: dict[str, Any],
                       generation_stats: dict[str, Any], jury_report: dict[str, Any], knn_report: dict[str, Any],
                       rerank_report: dict[str, Any], rewrite_report: dict[str, Any], params: dict[str, Any]
                       ) -> tuple[dict[str, Any], str]:
    """``metrics.json`` (precision@10, hit-rate@10 vs popularity, jury, diversity, balance, grid, KNN
    timings, rewriting, latency per user) and the HTML page for a few users."""
    p = _p(params)
    k = p.retrieval.k
    embed = _embedder(p)
    cat, item_emb, knn = _item_index(history, products, p, embed)
    item_cat = dict(zip(cat.items["product_id"].astype(str), cat.items["category"]))
    ids = cat.items["product_id"].astype(str).to_numpy()
    # precision@10 on the hand-labelled relevance set: rules metadata expansion, then masked retrieval
    rel = [e for e in relevance if p.dataset in e]
    titles = [e["title"] for e in rel]
    labels = [e[p.dataset] for e in rel]
    dept_of = cat.items.dropna(subset=["category"]).groupby("category")["department"].first().to_dict()
    cats = sorted(cat.category_size)
    t_emb = embed(titles)
    metas = expand_metadata(t_emb, cats, embed(category_texts(cats, dept_of)), dept_of,
                            centroids=category_centroids(item_emb, cat.items["category"].tolist(), cats))
    pop = history["product_id"].astype(str).value_counts()
    pop = pop / pop.max()
    prec = {}
    for name, use_meta, filt in (("title_only", False, False), ("title_metadata", True, False),
                                 ("title_metadata_filter", True, True)):
        q = embed([query_text(t, m) for t, m in zip(titles, metas)]) if use_meta else t_emb
        S, I = retrieve(knn, cat, q, metas, [None] * len(titles), p.retrieval.n_candidates, filt,
                        rank_penalty=p.retrieval.rank_penalty)
        lists = []
        for srow, irow in zip(S, I):
            ok = irow >= 0
            pids = ids[irow[ok]].tolist()
            R = engagement_scores("", pids, pop, {}, "popularity")
            order = block_rerank(R, similarity_to_unit(srow[ok]), p.rerank.alpha, p.rerank.beta, p.rerank.block_size)
            lists.append([pids[i] for i in order])
        prec[name] = float(precision_at_k(lists, item_cat, labels, k).mean()) if rel else None
    meta_cat_precision = float(np.mean([np.mean([c in set(l) for c in m.category]) for m, l in zip(metas, labels)]))
    # personal hit-rate@10 vs popularity
    baskets = next_baskets.groupby(next_baskets["user_id"].astype(str))["product_id"].agg(
        lambda s: set(s.astype(str))).to_dict()
    lists = carousel_items.sort_values("position").groupby("carousel_id")["product_id"].agg(list)
    users_of = carousel_items.groupby("carousel_id")["user_id"].first().astype(str)
    per_car = [hit_at_k(v, baskets.get(users_of[c], set()), k) for c, v in lists.items()]
    source_of = moderated.set_index("carousel_id")["source"] if "source" in moderated else pd.Series(dtype=str)
    by_source = pd.Series(per_car, index=lists.index).groupby(source_of.reindex(lists.index).fillna("?").to_numpy())
    # secondary view: each user's first shown carousel (lowest generation rank among those with items)
    rank_of = pd.Series([int(str(c).rsplit(":", 1)[-1]) for c in lists.index], index=lists.index)
    first = rank_of.groupby(users_of.reindex(lists.index).to_numpy()).idxmin()
    top_car = [hit_at_k(lists[c], baskets.get(u, set()), k) for u, c in first.items()]
    pop10 = popularity_list(history, k)
    users = sorted(set(users_of))
    pop_hit = [hit_at_k(pop10, baskets.get(u, set()), k) for u in users]
    by_user = carousel_items.groupby("user_id")["product_id"].agg(lambda s: set(s.astype(str)))
    union_hit = [float(bool(by_user.get(u, set()) & baskets.get(u, set()))) for u in users]
    n_per_user = carousel_items.groupby("user_id")["carousel_id"].nunique()
    popN = popularity_list(history, int(k * max(1, round(n_per_user.mean()))) if len(n_per_user) else k)
    popN_hit = [hit_at_k(popN, baskets.get(u, set()), len(popN)) for u in users]
    seconds = {s: float(d.get("seconds", 0)) for s, d in (("profiles", profile_stats), ("generation", generation_stats),
                                                         ("moderation", jury_report), ("retrieval", knn_report),
                                                         ("rerank", rerank_report))}
    n_users = max(1, generation_stats.get("users", 1))
    lab = jury_report["labelled_set"]
    metrics = {
        "dataset": p.dataset, "generator": generation_stats.get("backend"), "jury_backend": jury_report.get("backend"),
        "precision@10": prec["title_metadata_filter"] if p.retrieval.metadata_filter else prec["title_metadata"],
        "precision@10_variants": prec, "relevance_titles": len(rel), "metadata_category_precision": meta_cat_precision,
        "hit_rate@10": {"carousel": float(np.mean(per_car)) if per_car else None,
                        "popularity_carousel": float(np.mean(pop_hit)) if pop_hit else None,
                        "user_top_carousel": float(np.mean(top_car)) if top_car else None,
                        "user_all_carousels": float(np.mean(union_hit)) if union_hit else None,
                        f"popularity_top_{len(popN)}": float(np.mean(popN_hit)) if popN_hit else None,
                        "carousel_by_source": {str(src): {"hit_rate@10": float(v.mean()), "carousels": int(len(v))}
                                               for src, v in by_source},
                        "users": len(users), "carousels": len(per_car)},
        "jury": {"heldout": {j: lab["rules"]["heldout"][j] for j in ("safety", "appetite", "policy", "veto")},
                 "heldout_n": [lab["rules"]["heldout"]["n_bad"], lab["rules"]["heldout"]["n_good"]],
                 "dev": lab["rules"]["dev"]["veto"], "recall_by_reason_heldout": lab["rules"]["recall_by_reason_heldout"],
                 **({"llm_heldout": {j: lab["llm"]["heldout"][j] for j in ("safety", "appetite", "policy", "veto")}}
                    if "llm" in lab else {}),
                 "generated_blocked_share": jury_report["blocked"] / max(1, jury_report["carousels"])},
        "diversity": generation_stats.get("diversity"), "topic_balance": generation_stats.get("balance"),
        "daypart_affine_share": generation_stats.get("daypart_affine_share"),
        "rerank": {kk: rerank_report.get(kk) for kk in ("engagement", "alpha", "beta", "block_size", "hit_rate@10",
                                                   "hit_rate@10_similarity_only", "hit_rate@10_popularity_ranked")},
        "alpha_beta_grid": rerank_report["grid"],
        "knn": knn_report.get("torch_vs_faiss"), "knn_device": knn_report.get("device"),
        "query_rewriting": {kk: v for kk, v in rewrite_report.items() if kk not in ("hierarchical_rag",)},
        "hierarchical_rag": rewrite_report.get("hierarchical_rag"),
        "latency": {"seconds_by_stage": seconds, "ms_per_user_chain": round(sum(seconds.values()) * 1000 / n_users, 2),
                    "users": n_users},
        "counts": {"profiles": profile_stats, "generation": {kk: v for kk, v in generation_stats.items()
                                                             if kk not in ("diversity", "balance")}},
    }
    html = carousel_html(metrics, profiles, moderated, carousel_items, store_carousels, products, baskets,
                         n_users=p.report.n_users, seed=p.report.seed)
    return metrics, html
