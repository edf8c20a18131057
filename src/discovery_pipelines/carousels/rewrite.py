"""Query rewriting and hierarchical RAG (stage 6; seed 002: "the search term 'ragu' could refer to pasta
sauce, a restaurant, or a brand ... incorporating ... past shopping habits"; "Hierarchical RAG: rather
than including the entire catalog in LLM context windows, they narrow the context using category trees").

Query rewriting: an ambiguous query + the user's profile -> a rewritten query.

* ``rules``: the catalogue categories with lexical support for the query (share of their items whose
  text contains every query word) are the senses; the sense the user's profile ranks highest wins, else
  the best-supported one. Rewritten query: ``"<query> <category name>"``.
* ``llm``: the model is given the query, the profile and the candidate senses (a narrowed slice) and
  returns :class:`~discovery_pipelines.carousels.schema.RewrittenQuery`.

Evaluation: precision@10 of the items retrieved for the raw vs the rewritten query against the
hand-written expected categories (``labels/rewrites.yaml``), plus sense accuracy.

Hierarchical collection generation: for a collection title, choose catalogue categories either from a
*flat* prompt listing every category, or *hierarchically* (departments first, then only the categories
of the chosen departments). Reported: prompt tokens (counted with the text model's tokenizer, or the
server's usage when an LLM answers) and answer validity (every chosen name is one that was offered)
plus category precision against the relevance set.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from discovery_pipelines.carousels.catalogue import Catalogue, pretty
from discovery_pipelines.carousels.schema import CollectionChoice, RewrittenQuery
from discovery_pipelines.synthetic.llm import ChatClient
from discovery_pipelines.synthetic.prompts import render_named, sanitize_product_text


def senses(query: str, catalogue: Catalogue, min_items: int = 1) -> pd.Series:
    """Lexical support per category: share of its items whose text contains every query word (> 0 only),
    highest first."""
    words = [w for w in re.findall(r"[a-z0-9]+", query.lower()) if len(w) > 1]
    if not words:
        return pd.Series(dtype=float)
    text = pd.Series(catalogue.text, dtype=object).str.lower()
    hit = np.ones(len(text), dtype=bool)
    for w in words:
        stem = w[:-1] if len(w) > 3 and w.endswith("s") else w
        hit &= text.str.contains(rf"\b{re.escape(stem)}", regex=True).to_numpy()
    cats = catalogue.items["category"]
    sup = pd.Series(hit, index=cats.index).groupby(cats).agg(["sum", "mean"])
    sup = sup[sup["sum"] >= min_items]["mean"]
    return sup[sup > 0].sort_values(ascending=False, kind="stable")


def rules_rewrite(query: str, profile_categories: Sequence[str], catalogue: Catalogue) -> tuple[str, str | None]:
    """``(rewritten query, chosen category)``; the query unchanged when no category supports it."""
    sup = senses(query, catalogue)
    if sup.empty:
        return query, None
    rank = {c: i for i, c in enumerate(profile_categories)}
    own = [c for c in sup.index if c in rank]
    chosen = min(own, key=lambda c: rank[c]) if own else str(sup.index[0])
    return f"{query} {pretty(chosen)}", chosen


class LLMRewriter:
    """Query rewriting through the project's :class:`ChatClient` (prompt ``query_rewrite``)."""

    def __init__(self, client: ChatClient) -> None:
        self.client = client

    def rewrite(self, rows: Sequence[tuple[str, str, Sequence[str], Sequence[str]]]) -> list[str | None]:
        """``rows``: ``(query_id, query, profile categories, candidate senses)``; ``None`` = no valid answer."""
        jobs = []
        for qid, q, prof, cands in rows:
            msgs, _ = render_named("en", "query_rewrite", {
                "query_id": qid, "query": sanitize_product_text(q, 80),
                "profile": ", ".join(sanitize_product_text(pretty(c), 60) for c in prof) or "-",
                "senses": "\n".join(f"- {sanitize_product_text(pretty(c), 60)}" for c in cands) or "- (none)"})

            def check(a: Any, _id: str = qid) -> None:
                if a.query_id != _id:
                    raise ValueError(f"answer for {a.query_id!r}, asked {_id!r}")
            jobs.append((msgs, RewrittenQuery, check))
        return [r.parsed.rewritten if r.parsed is not None else None  # type: ignore[attr-defined]
                for r in self.client.map(jobs, desc="rewrite (LLM)")]


def count_tokens(messages: Sequence[Mapping[str, str]], tokenizer: Any) -> int:
    """Prompt tokens of chat messages by ``tokenizer`` (a Hugging Face tokenizer; no special tokens)."""
    return int(sum(len(tokenizer(m["content"], add_special_tokens=False)["input_ids"]) for m in messages))


def collection_prompt(request_id: str, title: str, level: str, names: Sequence[str]) -> list[dict[str, str]]:
    """Messages asking to choose the ``level`` names (departments / categories) that belong to ``title``."""
    msgs, _ = render_named("en", "collection_choice", {
        "request_id": request_id, "title": sanitize_product_text(title, 80), "level": level,
        "names": "\n".join(f"- {sanitize_product_text(n, 80)}" for n in names)})
    return msgs


def nearest_chooser(embed: Callable[[list[str]], np.ndarray], max_n: int = 3, margin: float = 0.06
                    ) -> Callable[[str, Sequence[str]], list[str]]:
    """A rules "model" for collection choice: the offered names nearest to the title in embedding space."""
    def choose(title: str, names: Sequence[str]) -> list[str]:
        if not names:
            return []
        e = embed([title] + [pretty(n) for n in names])
        s = e[1:] @ e[0]
        order = np.argsort(-s)[:max_n]
        return [names[i] for i in order if s[i] >= s[order[0]] - margin]
    return choose


def hierarchical_vs_flat(titles: Sequence[str], labels: Sequence[Sequence[str]], catalogue: Catalogue,
                         dept_of: Mapping[str, str], choose: Callable[[str, Sequence[str]], list[str]] | None,
                         tokenizer: Any, client: ChatClient | None = None, dept_limit: int = 3) -> dict[str, Any]:
    """Prompt tokens, validity and category precision of flat vs hierarchical collection generation.

    With ``client`` the choices come from the LLM (invalid answers count as invalid); else from ``choose``.
    """
    cats = sorted(catalogue.category_size)
    depts = sorted({dept_of[c] for c in cats if c in dept_of})
    by_dept: dict[str, list[str]] = {}
    for c in cats:
        by_dept.setdefault(dept_of.get(c, ""), []).append(c)

    def ask(rid: str, title: str, level: str, names: Sequence[str]) -> tuple[list[str] | None, int]:
        msgs = collection_prompt(rid, title, level, [pretty(n) for n in names])
        ntok = count_tokens(msgs, tokenizer)
        if client is None:
            return (choose(title, list(names)) if choose else []), ntok
        res = client.complete(msgs, CollectionChoice)
        if res.parsed is None:
            return None, ntok
        back = {pretty(n): n for n in names}
        return [back.get(x, f"?{x}") for x in res.parsed.chosen], ntok  # type: ignore[attr-defined]

    out: dict[str, Any] = {}
    for mode in ("flat", "hierarchical"):
        toks, valid, prec = [], [], []
        for i, (t, rel) in enumerate(zip(titles, labels)):
            if mode == "flat":
                chosen, n = ask(f"f{i}", t, "category", cats)
                offered = set(cats)
            else:
                d, n1 = ask(f"d{i}", t, "department", depts)
                d = [x for x in (d or []) if x in by_dept][:dept_limit]
                slice_ = [c for x in d for c in by_dept[x]]
                chosen, n2 = ask(f"h{i}", t, "category", slice_) if slice_ else (None, 0)
                n, offered = n1 + n2, set(slice_)
            toks.append(n)
            ok = chosen is not None and len(chosen) > 0 and all(c in offered for c in chosen)
            valid.append(ok)
            prec.append(float(np.mean([c in set(rel) for c in chosen])) if ok else 0.0)
        out[mode] = {"prompt_tokens_mean": float(np.mean(toks)), "prompt_tokens_total": int(np.sum(toks)),
                     "valid_answer_rate": float(np.mean(valid)), "category_precision": float(np.mean(prec)),
                     "n": len(titles)}
    out["token_ratio_hierarchical_over_flat"] = out["hierarchical"]["prompt_tokens_mean"] / max(
        1e-9, out["flat"]["prompt_tokens_mean"])
    return out
