"""Shopper queries: training queries from the project's synthetic stage, and the hand-written dev set.

Training queries come from :func:`discovery_pipelines.synthetic.generators.make_generator` (offline
rules by default, an OpenAI-compatible model by configuration) asked about each fine *class*, never
about a listing: the request's "title" is the class title, a phrase of its description or its coarse
class, so no test photo or test listing text can reach training. Quality control is the synthetic
stage's (:func:`discovery_pipelines.synthetic.qc.quality_control`) with the dev queries as the leakage
set, so a generated query that copies a dev query is dropped.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from discovery_pipelines.data.contract import ContractError
from discovery_pipelines.data.ingest.base import query_id_for
from discovery_pipelines.data.ingest.grocery_store import pretty_name
from discovery_pipelines.synthetic.generators import make_generator
from discovery_pipelines.synthetic.qc import RulesJury, quality_control
from discovery_pipelines.synthetic.schema import GenerationRequest

DEV_COLUMNS = ("query", "fine_class_name", "gain")


def class_key(fine_class_id: int) -> str:
    """Product id used for a fine class in generation requests (``"class:7"``)."""
    return f"class:{int(fine_class_id)}"


def _description_phrase(description: str, max_words: int = 6) -> str:
    first = re.split(r"[.;:!?]", str(description))[0]
    words = [w for w in re.findall(r"[A-Za-z][A-Za-z'-]+", first)]
    return " ".join(words[:max_words])


def generation_requests(classes: pd.DataFrame, groups: Sequence[str], n_per_request: int = 3) -> list[GenerationRequest]:
    """One request per (class, source text, group): sources are the class title, the first words of
    its description and ``"{coarse} {fine}"``; ``product_id`` is :func:`class_key`."""
    reqs = []
    for r in classes.itertuples(index=False):
        sources = dict.fromkeys([r.title, _description_phrase(r.description),
                                 f"{pretty_name(r.fine_class_name)} {pretty_name(r.coarse_class_name)}"])
        for si, text in enumerate(s for s in sources if s):
            for g in groups:
                reqs.append(GenerationRequest(f"mm:{r.fine_class_id}:{si}:{g}", class_key(r.fine_class_id), text, g,
                                              "en", n=n_per_request))
    return reqs


def training_queries(classes: pd.DataFrame, dev_texts: Sequence[str], params: Mapping[str, Any],
                     credentials: Mapping[str, Any] | None = None) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Generated, quality-controlled training pairs ``query, fine_class_id, coarse_class_id, group, source``.

    Besides the generated queries, every class contributes its own title and its coarse class name
    (``"apple"`` -> every apple class): the catalogue's vocabulary, no test data.

    ``params``: ``groups``, ``n_per_request``, ``generator`` (the synthetic stage's generator block),
    ``qc`` (``min_chars``, ``max_chars``, ``max_tokens``, ``min_overlap``, ``fuzzy``).

    Returns:
        ``(pairs, stats)``; stats count requests, generated, accepted and rejection reasons.
    """
    gen = make_generator(dict(params.get("generator") or {"backend": "rules"}), credentials=credentials)
    reqs = generation_requests(classes, list(params.get("groups", ["category_vocabulary", "misspelling", "keyword"])),
                               int(params.get("n_per_request", 3)))
    raw = gen.generate(reqs)
    titles = {r.product_id: r.title for r in reqs}
    qc_p = dict(params.get("qc") or {})
    jury = RulesJury(min_overlap=float(qc_p.get("min_overlap", 0.5)), fuzzy=float(qc_p.get("fuzzy", 80)))
    checked = quality_control(raw, titles, dev_texts, jury, min_chars=int(qc_p.get("min_chars", 3)),
                              max_chars=int(qc_p.get("max_chars", 80)), max_tokens=int(qc_p.get("max_tokens", 8)))
    acc = checked[checked["accepted"]]
    fine_of = {class_key(c): int(c) for c in classes["fine_class_id"]}
    coarse_of = dict(zip(classes["fine_class_id"].astype(int), classes["coarse_class_id"].astype(int)))
    rows = [(q.lower(), fine_of[p], g, "synthetic:" + gen.name) for q, p, g in
            zip(acc["query"], acc["product_id"], acc["group"])]
    dev = {t.strip().lower() for t in dev_texts}
    for r in classes.itertuples(index=False):
        rows.append((r.title.lower(), int(r.fine_class_id), "class_title", "catalogue"))
        rows.append((pretty_name(r.coarse_class_name).lower(), int(r.fine_class_id), "coarse_class", "catalogue"))
    pairs = pd.DataFrame(rows, columns=["query", "fine_class_id", "group", "source"])
    pairs = pairs[~pairs["query"].isin(dev)].drop_duplicates(["query", "fine_class_id"]).reset_index(drop=True)
    pairs["coarse_class_id"] = pairs["fine_class_id"].map(coarse_of).astype(int)
    stats = {"generator": gen.name, "n_requests": len(reqs), "n_generated": int(len(raw)),
             "n_accepted": int(len(acc)), "n_pairs": int(len(pairs)), "n_unique_queries": int(pairs["query"].nunique()),
             "reject_reasons": {str(k): int(v) for k, v in checked["reject_reason"].value_counts().items()},
             "by_group": {str(k): int(v) for k, v in pairs["group"].value_counts().items()}}
    return pairs, stats


def dev_qrels(dev: pd.DataFrame, classes: pd.DataFrame, listings: pd.DataFrame,
              source: str = "dev_queries.csv") -> tuple[pd.DataFrame, pd.DataFrame]:
    """Contract ``queries`` and ``qrels`` of the dev set over ``listings``: every listing of a judged
    fine class gets that class's gain for the query.

    Raises:
        ContractError: a missing column, an unknown class name, an empty query or a negative gain
            (the message names ``source`` and the row).
    """
    missing = [c for c in DEV_COLUMNS if c not in dev.columns]
    if missing:
        raise ContractError(f"{source}: missing column(s) {missing}; has {list(dev.columns)}")
    names = dict(zip(classes["fine_class_name"], classes["fine_class_id"].astype(int)))
    for i, r in enumerate(dev.itertuples(index=False)):
        if not str(r.query).strip():
            raise ContractError(f"{source}: row {i} column=query: empty query")
        if r.fine_class_name not in names:
            raise ContractError(f"{source}: row {i} column=fine_class_name: unknown class {r.fine_class_name!r}")
        if not float(r.gain) >= 0:
            raise ContractError(f"{source}: row {i} column=gain: {r.gain!r} is not a gain >= 0")
    d = dev.assign(query=dev["query"].astype(str).str.strip(), fine_class_id=dev["fine_class_name"].map(names))
    d["query_id"] = d["query"].map(lambda t: query_id_for(t, "mm"))
    queries = d.drop_duplicates("query_id")[["query_id", "query"]].rename(columns={"query": "text"})
    by_class = listings.groupby("fine_class_id")["product_id"].apply(list)
    rows = [(q, p, float(g), str(g)) for q, c, g in zip(d["query_id"], d["fine_class_id"], d["gain"])
            for p in by_class.get(c, [])]
    qrels = pd.DataFrame(rows, columns=["query_id", "product_id", "gain", "label"])
    qrels = qrels.sort_values("gain", ascending=False).drop_duplicates(["query_id", "product_id"]).reset_index(drop=True)
    return queries.reset_index(drop=True), qrels
