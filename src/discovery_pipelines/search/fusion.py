"""Hybrid fusion of a lexical (BM25) and a dense run, and its choice on dev.

Two fusion families, both over the top-``depth`` list of each retriever:

* ``rrf``: weighted reciprocal rank fusion (Cormack, Clarke & Büttcher, SIGIR 2009),
  ``score(d) = sum_r w_r / (c + rank_r(d))`` (:func:`discovery_pipelines.search.retrieval.rrf`).
* ``weighted``: convex combination of per-query min-max normalised scores
  (Fox & Shaw 1994 "CombSUM"; Bruch, Gai & Ingber 2023, "An Analysis of Fusion Functions for Hybrid
  Retrieval", who find a tuned convex combination at least as good as RRF in and out of domain):
  ``score(d) = sum_r w_r * (s_r(d) - min_r) / (max_r - min_r)``, a product absent from run ``r``
  getting 0 from it.

:func:`tune_fusion` scores a small grid of both families on dev qrels and keeps the best mean nDCG@10;
the grid contains each input alone (weight 0 on the other), so the choice is never worse on dev than
the better of its two inputs. The chosen :class:`FusionConfig` is recorded in the index manifest
(``manifest["fusion"]``) and the search service fuses with it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from discovery_pipelines.search import metrics as M
from discovery_pipelines.search.retrieval import Run, fuse_runs, rrf, run_to_dict

METHODS = ("rrf", "weighted")


@dataclass(frozen=True)
class FusionConfig:
    """How two runs are fused. ``weights`` per run name (missing = 1.0); ``c`` is RRF's constant
    (ignored by ``weighted``)."""

    method: str = "rrf"
    weights: Mapping[str, float] = field(default_factory=lambda: {"bm25": 1.0, "dense": 1.0})
    c: float = 60.0

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"fusion method must be one of {METHODS}, got {self.method!r}")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["weights"] = {k: float(v) for k, v in self.weights.items()}
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | None) -> "FusionConfig":
        """From a manifest / parameters mapping (``None``: RRF c=60, equal weights).

        Raises:
            ValueError: an unknown key or method.
        """
        if not d:
            return cls()
        unknown = set(d) - {"method", "weights", "c"}
        if unknown:
            raise ValueError(f"unknown fusion key(s) {sorted(unknown)}; known: ['c', 'method', 'weights']")
        return cls(str(d.get("method", "rrf")), dict(d.get("weights") or {"bm25": 1.0, "dense": 1.0}),
                   float(d.get("c", 60.0)))

    @property
    def label(self) -> str:
        w = ",".join(f"{k}={float(v):g}" for k, v in sorted(self.weights.items()))
        return f"rrf(c={self.c:g};{w})" if self.method == "rrf" else f"weighted({w})"


def weighted_sum(runs: Mapping[str, Run], weights: Mapping[str, float] | None = None, k: int = 100) -> Run:
    """Convex combination of per-query min-max normalised scores (see the module docstring).

    Args:
        runs: ``{name: (ids (nq, depth) object, scores (nq, depth) float32)}``, all with the same ``nq``;
            ``None`` ids are padding.
        weights: per run (default 1.0).
        k: depth of the fused run.

    Returns:
        ``(ids (nq, k) object, scores (nq, k) float32)``, descending; ties broken by the order products
        first appear in the runs (given order).
    """
    def min_max(ids: np.ndarray, sc: np.ndarray):
        keep = np.array([p is not None for p in ids], dtype=bool)
        if not keep.any():
            return []
        s = sc[keep].astype(np.float64)
        lo, hi = float(s.min()), float(s.max())
        return zip(ids[keep], (s - lo) / (hi - lo) if hi > lo else np.ones_like(s))

    return fuse_runs(runs, min_max, weights, k)


def fuse(runs: Mapping[str, Run], config: FusionConfig, k: int = 100) -> Run:
    """Fuse ``runs`` with ``config`` (RRF or weighted sum of normalised scores)."""
    if config.method == "rrf":
        return rrf(runs, config.weights, k=k, c=config.c)
    return weighted_sum(runs, config.weights, k=k)


def default_grid(rrf_c: Iterable[float] = (5, 10, 20, 40, 60, 100),
                 rrf_dense_weight: Iterable[float] = (0.5, 0.75, 1.0, 1.5, 2.0),
                 alphas: Iterable[float] = tuple(np.round(np.linspace(0.0, 1.0, 11), 2))) -> list[FusionConfig]:
    """The configurations :func:`tune_fusion` compares: RRF over ``c`` x dense weight (BM25 weight 1) and
    the weighted sum with dense weight ``alpha`` and BM25 weight ``1 - alpha`` (alpha 0 / 1 = one input)."""
    grid = [FusionConfig("rrf", {"bm25": 1.0, "dense": float(w)}, float(c)) for c in rrf_c for w in rrf_dense_weight]
    grid += [FusionConfig("weighted", {"bm25": float(1 - a), "dense": float(a)}) for a in alphas]
    return grid


@dataclass
class FusionChoice:
    """Result of :func:`tune_fusion`: the chosen config, its dev nDCG@10, the inputs' dev nDCG@10 and
    every tried config's score (``table``: one row per config, best first)."""

    config: FusionConfig
    ndcg: float
    inputs: dict[str, float]
    table: pd.DataFrame
    ranked: list[FusionConfig] = field(default_factory=list)

    def best_of(self, method: str) -> FusionConfig:
        """The best tried config of one family (``rrf`` / ``weighted``).

        Raises:
            KeyError: no config of that family was tried.
        """
        for cfg in self.ranked:
            if cfg.method == method:
                return cfg
        raise KeyError(f"no {method!r} fusion was tried")

    def to_dict(self) -> dict[str, Any]:
        best_per_method = {m: float(g["ndcg@10"].max()) for m, g in self.table.groupby("method")}
        return {"config": self.config.to_dict(), "label": self.config.label, "dev_ndcg@10": self.ndcg,
                "inputs_dev_ndcg@10": self.inputs, "best_per_method_dev_ndcg@10": best_per_method,
                "n_tried": int(len(self.table))}


def tune_fusion(
    query_ids: Sequence[str], runs: Mapping[str, Run], qrels: pd.DataFrame, *,
    grid: Sequence[FusionConfig] | None = None, rel_threshold: float = 2.0, k: int = 100,
) -> FusionChoice:
    """Pick the fusion with the best mean nDCG@10 on ``qrels`` (dev) over ``grid``.

    Args:
        query_ids: the row order of every run (same for all).
        runs: ``{"bm25": run, "dense": run}`` of the dev queries.
        qrels: dev qrels (contract table).
        grid: configurations to try (default :func:`default_grid`).

    Returns:
        :class:`FusionChoice`; ties go to the earlier grid entry.

    Raises:
        ValueError: empty grid or no judged query.
    """
    grid = list(grid if grid is not None else default_grid())
    if not grid:
        raise ValueError("tune_fusion: empty grid")
    if qrels.empty:
        raise ValueError("tune_fusion: no dev qrels")

    def ndcg(run: Run) -> float:
        return float(M.score_run(run_to_dict(query_ids, run), qrels, rel_threshold)["ndcg@10"].mean())

    inputs = {name: ndcg(run) for name, run in runs.items()}
    rows = []
    for cfg in grid:
        rows.append({"label": cfg.label, "method": cfg.method, "ndcg@10": ndcg(fuse(runs, cfg, k=k)), "config": cfg})
    table = pd.DataFrame(rows).sort_values("ndcg@10", ascending=False, kind="stable").reset_index(drop=True)
    ranked = table["config"].tolist()
    return FusionChoice(ranked[0], float(table.loc[0, "ndcg@10"]), inputs, table.drop(columns="config"), ranked)
