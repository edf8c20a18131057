"""Click-log simulator: a position-based click model over a ranker's result lists.

Public search logs with clicks, carts and purchases do not exist, so the log-mining pipeline runs on
simulated sessions whose ground truth (the qrels) is known. Each session is one query issue:

1. A query ``q`` is drawn with Zipf-like popularity ``P(q) ∝ 1 / r_q^s`` (``r_q`` a seeded random
   popularity rank, ``s = query_zipf_s``; ``s = 0`` is uniform).
2. The ranker's top-``k`` list for ``q`` (BM25 over product titles, :func:`ranked_lists`) is shown,
   optionally perturbed per session by Gaussian rank jitter (``position_jitter``, in ranks), which
   stands in for personalisation / A/B traffic and lets one product be seen at several positions.
3. Position-based model (PBM; Craswell, Zoeter, Taylor & Ramsey, WSDM 2008, "An experimental
   comparison of click position-bias models"; Chuklin, Markov & de Rijke 2015, *Click Models for
   Web Search*, ch. 3.3)::

       P(C = 1 | q, d, r) = P(E_r = 1) · P(A = 1 | q, d)
       P(E_r = 1)        = 1 / r^eta                              (examination at rank r; the
                                                                   power-law form of Joachims,
                                                                   Swaminathan & Schnabel, WSDM 2017)
       P(A = 1 | q, d)   = alpha(g) + (1 - alpha(g)) · false_click_rate
       alpha(g)          = alpha_max · clip((g - gain_min) / (gain_max - gain_min), 0, 1) ^ gamma

   ``g`` is the graded qrel gain (Home Depot: mean rater relevance 1.0 .. 3.0, so ``gain_min = 1``,
   ``gain_max = 3``); unjudged products get ``unjudged_gain``. ``false_click_rate`` is the noise
   click probability of an examined non-attractive result (Chuklin et al. 2015 §8, "noisy clicks").
4. Funnel after a click: ``P(add_to_cart | click) = cart_base + cart_slope · rel``,
   ``P(purchase | add_to_cart) = purchase_given_cart`` with ``rel`` the normalised gain in [0, 1].

Timestamps: impressions at the session start (uniform over its day), a click ``1 s + Exp(mean
click_delay_s)`` later, a cart ``Exp(cart_delay_s)`` after the click, a purchase ``Exp(...)`` after
the cart. Sessions never cross a day, so the ``date=YYYY-MM-DD`` partitions hold whole sessions
(the mining engine relies on that to run partition by partition).

Optionally a known number of bad rows is *added* (never replacing good rows): unknown product ids,
null / blank queries, negative positions, exact duplicates, engagements time-stamped before their
impression. Mining the corrupted log must therefore give exactly the result of the clean log, and the
counts it reports must equal ``manifest["injected"]``.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from discovery_pipelines.data.contract import COLUMNS, EVENT_TYPES
from discovery_pipelines.data.io import atomic_path
from discovery_pipelines.data.params import Params

_US = 1_000_000
CORRUPTION_KINDS = (
    "unknown_product", "null_query", "empty_query", "negative_position", "duplicate", "out_of_order",
)
UNKNOWN_PRODUCT_IDS = ("UNKNOWN-0", "UNKNOWN-1", "UNKNOWN-2")


class ClickModel(Params):
    """Parameters of the position-based click model and funnel (see the module docstring).

    Attributes:
        eta: examination decay exponent, ``P(E_r) = r^-eta`` (dimensionless, >= 0).
        alpha_max: attractiveness of a top-gain product, in [0, 1].
        gamma: shape of the gain -> attractiveness map (1 = linear, > 1 = convex).
        gain_min, gain_max: gain range mapped to [0, 1] (Home Depot: 1.0, 3.0).
        unjudged_gain: gain assumed for a shown product without a qrel.
        false_click_rate: click probability of an examined, non-attractive result, in [0, 1].
        cart_base, cart_slope: ``P(cart | click) = cart_base + cart_slope · rel``.
        purchase_given_cart: ``P(purchase | cart)``.
        position_jitter: std-dev (in ranks) of per-session Gaussian noise added before re-sorting.
        query_zipf_s: exponent of query popularity (0 = uniform).
        click_delay_s, cart_delay_s, purchase_delay_s: means of the exponential delays (seconds).
    """

    eta: float = 1.0
    alpha_max: float = 0.9
    gamma: float = 2.0
    gain_min: float = 1.0
    gain_max: float = 3.0
    unjudged_gain: float = 1.0
    false_click_rate: float = 0.03
    cart_base: float = 0.02
    cart_slope: float = 0.3
    purchase_given_cart: float = 0.4
    position_jitter: float = 1.0
    query_zipf_s: float = 0.5
    click_delay_s: float = 20.0
    cart_delay_s: float = 60.0
    purchase_delay_s: float = 120.0

    def relevance(self, gain: np.ndarray) -> np.ndarray:
        """Normalised gain ``clip((g - gain_min) / (gain_max - gain_min), 0, 1)``, float64, same shape."""
        span = self.gain_max - self.gain_min
        if span <= 0:
            raise ValueError(f"gain_max ({self.gain_max}) must exceed gain_min ({self.gain_min})")
        return np.clip((np.asarray(gain, dtype=np.float64) - self.gain_min) / span, 0.0, 1.0)


def attractiveness(gain: np.ndarray, model: ClickModel) -> np.ndarray:
    """``P(A = 1 | q, d)`` from graded gains: ``alpha + (1 - alpha) · false_click_rate`` with
    ``alpha = alpha_max · rel^gamma`` (module docstring). ``gain`` any shape, NaN = unjudged."""
    g = np.where(np.isnan(np.asarray(gain, dtype=np.float64)), model.unjudged_gain, gain)
    alpha = model.alpha_max * model.relevance(g) ** model.gamma
    return alpha + (1.0 - alpha) * model.false_click_rate


def examination(position: np.ndarray, model: ClickModel) -> np.ndarray:
    """``P(E_r = 1) = r^-eta`` for 1-based ranks ``position`` (any shape); float64 in (0, 1]."""
    return np.asarray(position, dtype=np.float64) ** (-model.eta)


@dataclass
class RankedLists:
    """The ranker's result lists the simulator shows.

    Attributes:
        queries: ``(n_q,)`` object array of raw query texts.
        product_ids: ``(n_p,)`` object array, the product dictionary.
        idx: ``(n_q, k)`` int32 indices into ``product_ids``; ``-1`` pads short lists (at the end).
        gain: ``(n_q, k)`` float64 qrel gains, NaN where unjudged or padding.
    """

    queries: np.ndarray
    product_ids: np.ndarray
    idx: np.ndarray
    gain: np.ndarray
    meta: dict = field(default_factory=dict)


def ranked_lists(products: pd.DataFrame, queries: pd.DataFrame, qrels: pd.DataFrame, k: int = 10,
                 k1: float = 1.5, b: float = 0.75) -> RankedLists:
    """BM25 (:class:`retrieval.BM25Retriever`, titles only) top-``k`` lists for *every* query.

    Args:
        products, queries, qrels: contract tables (``product_id``/``title``; ``query_id``/``text``;
            ``query_id``/``product_id``/``gain``).
        k: list depth shown to the simulated user (positions 1..k).

    Returns:
        :class:`RankedLists` with judged gains attached (``meta`` holds coverage figures).
    """
    from discovery_pipelines.search.retrieval import BM25Retriever

    pids = products["product_id"].astype(str).to_numpy(dtype=object)
    retriever = BM25Retriever(products["title"].astype(str).tolist(), pids.tolist(), k1=k1, b=b)
    texts = queries["text"].astype(str).to_numpy(dtype=object)
    ids, _ = retriever.search(texts.tolist(), k=k)
    pos_of = {p: i for i, p in enumerate(pids)}
    idx = np.full(ids.shape, -1, dtype=np.int32)
    for (r, c), p in np.ndenumerate(ids):
        if p is not None:
            idx[r, c] = pos_of[p]
    # Padding (None) only occurs at the end of a row: BM25 scores are sorted, zero scores last.
    gain = np.full(ids.shape, np.nan)
    qpos = {q: i for i, q in enumerate(queries["query_id"].astype(str))}
    qr = qrels[qrels["query_id"].astype(str).isin(qpos.keys())]
    judged = {(qpos[q], pos_of.get(p, -2)): g for q, p, g in zip(qr["query_id"].astype(str),
                                                                  qr["product_id"].astype(str), qr["gain"])}
    for (r, c), i in np.ndenumerate(idx):
        if i >= 0:
            g = judged.get((r, int(i)))
            if g is not None:
                gain[r, c] = g
    meta = {
        "n_queries": int(len(texts)), "k": int(k), "queries_with_results": int((idx[:, 0] >= 0).sum()),
        "judged_pairs": int(len(qr)), "judged_pairs_shown": int(np.isfinite(gain).sum()),
    }
    return RankedLists(texts, pids, idx, gain, meta)


def _session_counts(n_events: int, n_days: int) -> list[int]:
    base, extra = divmod(int(n_events), int(n_days))
    return [base + (1 if d < extra else 0) for d in range(n_days)]


def _query_weights(lists: RankedLists, s: float, rng: np.random.Generator) -> np.ndarray:
    n_q = len(lists.queries)
    ranks = rng.permutation(n_q) + 1.0
    w = ranks ** (-s)
    w[lists.idx[:, 0] < 0] = 0.0  # a query with no result produces no impression: never drawn
    if w.sum() <= 0:
        raise ValueError("no query has a non-empty result list; nothing to simulate")
    return w / w.sum()


def _simulate_sessions(lists: RankedLists, model: ClickModel, n_sessions: int, first_session: int,
                       day_start_us: int, weights: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Vectorised events of ``n_sessions`` sessions, as column arrays (indices, not strings)."""
    k = lists.idx.shape[1]
    q = rng.choice(len(weights), size=n_sessions, p=weights)
    base_idx = lists.idx[q]
    base_gain = lists.gain[q]
    valid = base_idx >= 0
    key = np.arange(k, dtype=np.float64)[None, :] + model.position_jitter * rng.standard_normal((n_sessions, k))
    key[~valid] = np.inf  # padding stays last
    order = np.argsort(key, axis=1, kind="stable")
    pidx = np.take_along_axis(base_idx, order, axis=1)
    gain = np.take_along_axis(base_gain, order, axis=1)
    shown = pidx >= 0
    position = np.broadcast_to(np.arange(1, k + 1, dtype=np.int64), (n_sessions, k))
    attract = attractiveness(gain, model)
    p_click = examination(position, model) * attract
    click = shown & (rng.random((n_sessions, k)) < p_click)
    rel = model.relevance(np.where(np.isnan(gain), model.unjudged_gain, gain))
    cart = click & (rng.random((n_sessions, k)) < np.clip(model.cart_base + model.cart_slope * rel, 0, 1))
    purchase = cart & (rng.random((n_sessions, k)) < model.purchase_given_cart)

    t0 = day_start_us + (rng.random(n_sessions) * (86_400 - 3_600) * _US).astype(np.int64)
    t0m = np.broadcast_to(t0[:, None], (n_sessions, k))
    t_click = t0m + ((1.0 + rng.exponential(model.click_delay_s, (n_sessions, k))) * _US).astype(np.int64)
    t_cart = t_click + ((1.0 + rng.exponential(model.cart_delay_s, (n_sessions, k))) * _US).astype(np.int64)
    t_buy = t_cart + ((1.0 + rng.exponential(model.purchase_delay_s, (n_sessions, k))) * _US).astype(np.int64)
    sess = np.broadcast_to((first_session + np.arange(n_sessions, dtype=np.int64))[:, None], (n_sessions, k))
    qm = np.broadcast_to(q[:, None], (n_sessions, k))

    parts = []
    for etype, mask, ts in ((0, shown, t0m), (1, click, t_click), (2, cart, t_cart), (3, purchase, t_buy)):
        parts.append((sess[mask], ts[mask], qm[mask], pidx[mask], position[mask],
                      np.full(int(mask.sum()), etype, dtype=np.int8), t0m[mask]))
    cols = [np.concatenate([p[i] for p in parts]) for i in range(7)]
    order = np.argsort(cols[0], kind="stable")  # group rows by session (better Parquet encoding)
    names = ("session", "ts", "query", "product", "position", "etype", "t0")
    return {n: c[order] for n, c in zip(names, cols)}


def _corrupt(ev: dict[str, np.ndarray], rates: Mapping[str, float], n_products: int, n_queries: int,
             rng: np.random.Generator) -> tuple[dict[str, np.ndarray], dict[str, int]]:
    """Bad rows *added* to a chunk: one defect per added row. Returns (rows, counts per kind)."""
    n = len(ev["session"])
    out: list[dict[str, np.ndarray]] = []
    counts: dict[str, int] = {}
    for kind in CORRUPTION_KINDS:
        rate = float(rates.get(kind, 0.0))
        m = int(rng.binomial(n, rate)) if rate > 0 else 0
        if kind == "out_of_order":
            pool = np.flatnonzero(ev["etype"] > 0)  # engagements only
        elif kind == "negative_position":
            pool = np.flatnonzero(ev["etype"] == 0)
        else:
            pool = np.arange(n)
        m = min(m, len(pool))
        counts[kind] = m
        if m == 0:
            continue
        pick = rng.choice(pool, size=m, replace=False)
        rows = {c: v[pick].copy() for c, v in ev.items()}
        rows["query_null"] = np.zeros(m, dtype=bool)
        if kind == "unknown_product":
            rows["product"] = n_products + rng.integers(0, len(UNKNOWN_PRODUCT_IDS), m)
        elif kind == "null_query":
            rows["query_null"][:] = True
        elif kind == "empty_query":
            rows["query"] = n_queries + rng.integers(0, 2, m)  # "" or "   "
        elif kind == "negative_position":
            rows["position"] = -rows["position"]
        elif kind == "out_of_order":
            rows["ts"] = rows["t0"] - ((1.0 + rng.random(m) * 600) * _US).astype(np.int64)
        out.append(rows)
    if not out:
        return {}, counts
    return {c: np.concatenate([o[c] for o in out]) for c in out[0]}, counts


def _to_table(ev: Mapping[str, np.ndarray], qdict: pa.Array, pdict: pa.Array, edict: pa.Array) -> pa.Table:
    n = len(ev["session"])
    qnull = ev.get("query_null", np.zeros(n, dtype=bool))
    return pa.table({
        "session_id": pa.array(ev["session"], pa.int64()).cast(pa.string()),
        "timestamp": pa.array(ev["ts"], pa.int64()).cast(pa.timestamp("us", tz="UTC")),
        "query": pa.DictionaryArray.from_arrays(pa.array(ev["query"].astype(np.int32), mask=qnull), qdict),
        "product_id": pa.DictionaryArray.from_arrays(pa.array(ev["product"].astype(np.int32)), pdict),
        "position": pa.array(ev["position"], pa.int64()),
        "event_type": pa.DictionaryArray.from_arrays(pa.array(ev["etype"].astype(np.int32)), edict),
    })


def simulate_events(lists: RankedLists, out_dir: str | Path, n_events: int, model: ClickModel | None = None,
                    seed: int = 0, n_days: int = 7, start_date: str = "2024-01-01",
                    chunk_events: int = 2_000_000, corruption: Mapping[str, float] | None = None,
                    progress: bool = True) -> dict:
    """Simulate about ``n_events`` clean events and write them as date-partitioned Parquet.

    Layout: ``out_dir/date=YYYY-MM-DD/part-00000.parquet`` (zstd, row groups of one chunk), columns
    ``contract.COLUMNS['events']``: session_id (string), timestamp (timestamp[us, UTC]), query
    (string, may be null for injected bad rows), product_id (string), position (int64, 1-based),
    event_type (string, one of ``contract.EVENT_TYPES``). Memory is bounded by ``chunk_events``.

    The directory is written atomically (:func:`io.atomic_path`): a crash leaves the previous one.

    Args:
        lists: the ranker's lists (:func:`ranked_lists`).
        n_events: target number of *clean* events; each day stops at the first session boundary at
            or after its share, so the total exceeds the target by less than one session per day.
        model: click-model parameters (defaults: :class:`ClickModel`).
        seed: seed of ``numpy.random.default_rng``: same inputs + seed = same files.
        n_days: number of date partitions.
        corruption: optional ``{kind: rate}`` (rate per clean event) of added bad rows, kinds in
            :data:`CORRUPTION_KINDS`.

    Returns:
        A manifest (also written to ``out_dir/_manifest.json``): path, events, sessions, per-type
        counts, injected bad rows per kind, parameters and seed.

    Raises:
        ValueError: ``n_events < 1``, ``n_days < 1``, unknown corruption kind, or no query with results.
    """
    from tqdm.auto import tqdm

    model = model or ClickModel()
    corruption = dict(corruption or {})
    bad = sorted(set(corruption) - set(CORRUPTION_KINDS))
    if bad:
        raise ValueError(f"unknown corruption kind(s) {bad}; expected {CORRUPTION_KINDS}")
    if n_events < 1 or n_days < 1:
        raise ValueError(f"n_events and n_days must be >= 1, got {n_events}, {n_days}")
    rng = np.random.default_rng(seed)
    crng = np.random.default_rng([seed, 1])  # own stream: the clean rows do not depend on the corruption
    weights = _query_weights(lists, model.query_zipf_s, rng)
    qdict = pa.array(list(lists.queries) + ["", "   "], pa.string())
    pdict = pa.array(list(lists.product_ids) + list(UNKNOWN_PRODUCT_IDS), pa.string())
    edict = pa.array(list(EVENT_TYPES), pa.string())
    # expected events per session, to size chunks
    shown = lists.idx >= 0
    exp_per_session = float((shown.sum(axis=1) * weights).sum()) * 1.15 + 1e-9
    start = dt.date.fromisoformat(str(start_date))
    injected = dict.fromkeys(CORRUPTION_KINDS, 0)
    type_counts = np.zeros(len(EVENT_TYPES), dtype=np.int64)
    n_sessions = 0
    n_clean = 0
    n_rows = 0
    schema = _to_table({c: np.zeros(0, dtype=np.int64) for c in ("session", "ts", "query", "product", "position",
                                                               "etype")}, qdict, pdict, edict).schema
    out_dir = Path(out_dir)
    with atomic_path(out_dir) as tmp:
        tmp.mkdir(parents=True)
        bar = tqdm(total=int(n_events), unit="ev", unit_scale=True, disable=not progress, desc="simulate events")
        for d, target in enumerate(_session_counts(n_events, n_days)):
            day = start + dt.timedelta(days=d)
            day_us = int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.timezone.utc).timestamp()) * _US
            part = tmp / f"date={day.isoformat()}"
            part.mkdir()
            done = 0
            with pq.ParquetWriter(part / "part-00000.parquet", schema, compression="zstd",
                                  store_schema=False) as writer:
                while done < target:
                    want = max(1, math.ceil(min(chunk_events, target - done) / exp_per_session))
                    ev = _simulate_sessions(lists, model, want, n_sessions, day_us, weights, rng)
                    # trim to the first session boundary at or after the day's target
                    if done + len(ev["session"]) > target:
                        cut = int(np.searchsorted(np.arange(len(ev["session"])), target - done))
                        last = ev["session"][max(cut - 1, 0)]
                        keep = ev["session"] <= last
                        ev = {c: v[keep] for c, v in ev.items()}
                    sessions_here = int(ev["session"].max() - n_sessions + 1) if len(ev["session"]) else want
                    n_sessions += sessions_here
                    done += len(ev["session"])
                    n_clean += len(ev["session"])
                    type_counts += np.bincount(ev["etype"], minlength=len(EVENT_TYPES))
                    table = _to_table(ev, qdict, pdict, edict)
                    if corruption:
                        rows, counts = _corrupt(ev, corruption, len(lists.product_ids), len(lists.queries), crng)
                        for kk, vv in counts.items():
                            injected[kk] += vv
                        if rows:
                            table = pa.concat_tables([table, _to_table(rows, qdict, pdict, edict)])
                    n_rows += table.num_rows
                    writer.write_table(table)
                    bar.update(len(ev["session"]))
        bar.close()
        manifest = {
            "path": str(out_dir), "layout": "hive date=YYYY-MM-DD partitions, whole sessions per partition",
            "columns": COLUMNS["events"], "clean_events": int(n_clean), "rows_written": int(n_rows),
            "sessions": int(n_sessions), "by_event_type": dict(zip(EVENT_TYPES, map(int, type_counts))),
            "injected": injected, "n_days": int(n_days), "start_date": start.isoformat(), "seed": int(seed),
            "click_model": model.model_dump(), "ranker": lists.meta, "corruption_rates": corruption,
        }
        (tmp / "_manifest.json").write_text(json.dumps(manifest, indent=2))
    return manifest
