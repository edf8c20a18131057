"""Quality control of generated pairs: length, language, de-duplication, leakage, relevance jury.

Filters run in that order; each rejected row keeps the first ``reject_reason``:

``length``     query outside [min_chars, max_chars] characters or [min_tokens, max_tokens] tokens
``wrong_language`` a character outside the language's alphabet (Latin letters + the language's extra
               letters, digits, common punctuation): catches wrong-script or garbage answers
``duplicate``  same (normalised query, product_id) already kept
``leakage``    normalised query equals a dev or holdout query (:func:`text.normalize_query`): a
               synthetic pair must never teach the model an evaluation query
``jury``       the relevance jury judged the product irrelevant to the query

Jury: :class:`LLMJury` (N jurors with different rater personas, veto rule ``any`` | ``majority`` |
``all``, as in "LLM-as-a-jury" panels, Verga et al. 2024 "Replacing Judges with Juries") when an LLM
is configured, else :class:`RulesJury`: fuzzy token overlap between query and title (tokens match
when equal after unit / fraction normalisation or when rapidfuzz ratio >= ``fuzzy``), optionally
OR an embedding cosine >= ``min_cosine``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from discovery_pipelines.failure_analysis.lexicon import FRACTION_WORDS, UNITS, content_tokens
from discovery_pipelines.synthetic.llm import ChatClient
from discovery_pipelines.synthetic.prompts import render_named, sanitize_product_text
from discovery_pipelines.synthetic.schema import JuryVerdict
from discovery_pipelines.data.text import normalize_query

ALPHABETS = {"en": "", "de": "äöüß", "fi": "äöå", "sv": "äöå", "fr": "àâæçéèêëîïôœùûüÿ", "es": "áéíñóúü"}
PERSONAS = ("a strict search-quality rater following product-search relevance guidelines",
            "an experienced home-improvement store associate",
            "a careful shopper who returns products that do not match the query")
VETO_RULES = ("any", "majority", "all")


def language_ok(query: str, language: str) -> bool:
    """True when every letter of ``query`` belongs to ``language``'s alphabet (see module doc)."""
    extra = ALPHABETS.get(language.split("-")[0].lower(), "")
    return re.fullmatch(rf"[a-z{extra}0-9\s\-/.,'\"&#+%()x×]+", query.lower()) is not None


def _canon(tok: str) -> str:
    t = tok.rstrip(".").lower()
    for frac, (word, dec) in FRACTION_WORDS.items():
        if t in (word, dec):
            return frac
    return UNITS.get(t, t[:-1] if len(t) > 3 and t.endswith("s") else t)


class RulesJury:
    """Offline relevance judge (see module doc). ``model``: sentence-transformers model for the
    optional cosine test (``None`` skips it)."""

    def __init__(self, min_overlap: float = 0.5, fuzzy: float = 80.0, min_cosine: float | None = 0.5,
                 model: Any = None) -> None:
        self.min_overlap, self.fuzzy, self.min_cosine, self.model = min_overlap, fuzzy, min_cosine, model
        self.stats: dict[str, Any] = {"method": "rules"}

    @staticmethod
    def _parts(tok: str) -> list[str]:
        """``"20v"`` -> ``["20", "volt"]``; ``"drill/driver"`` -> ``["drill", "driver"]``."""
        m = re.fullmatch(r"(\d+(?:\.\d+)?)([a-z]+)", tok)
        if m and m.group(2) in UNITS:
            return [m.group(1), _canon(m.group(2))]
        return [_canon(p) for p in re.split(r"[-/]", tok) if p]

    def overlap(self, query: str, title: str) -> float:
        """Share of the query's content tokens matched by a title token (0..1; 0 for no tokens).

        Tokens are unit/fraction-normalised and split at ``-`` / ``/``; a query token matches when
        all its parts are title tokens or fuzzily equal to one (rapidfuzz ratio >= ``fuzzy``)."""
        from rapidfuzz import fuzz, process

        q = content_tokens(query)
        tt: set[str] = set()
        for t in content_tokens(title):
            tt.add(_canon(t))
            tt.update(self._parts(t))
        if not q:
            return 0.0

        def match(p: str) -> bool:
            return p in tt or (len(p) >= 4 and process.extractOne(
                p, tt, scorer=fuzz.ratio, score_cutoff=self.fuzzy) is not None)

        hit = sum(1 for t in q if _canon(t) in tt or all(match(p) for p in self._parts(t)))
        return hit / len(q)

    def judge(self, queries: Sequence[str], titles: Sequence[str]) -> np.ndarray:
        """Bool array: keep (relevant) per pair."""
        ov = np.array([self.overlap(q, t) for q, t in zip(queries, titles)], dtype=np.float32)
        keep = ov >= self.min_overlap
        if self.model is not None and self.min_cosine is not None and len(queries):
            from discovery_pipelines.search.embeddings import encode

            qe = encode(self.model, list(queries), cache_dir=None, show_progress=False)
            te = encode(self.model, list(titles), cache_dir=None, show_progress=False)
            cos = (qe * te).sum(1)
            keep |= cos >= self.min_cosine
            self.stats["mean_cosine"] = float(cos.mean())
        self.stats["mean_overlap"] = float(ov.mean()) if len(ov) else 0.0
        return keep


class LLMJury:
    """N LLM jurors (distinct rater personas) and a veto rule.

    ``veto``: ``any`` drops a pair when any juror says irrelevant; ``majority`` when more than half of
    the jurors that answered do; ``all`` only when every answering juror does. A pair no juror
    answered for is decided by ``fallback`` (a :class:`RulesJury`).

    Raises:
        ValueError: unknown veto rule or ``n_jurors < 1``.
    """

    def __init__(self, client: ChatClient, n_jurors: int = 3, veto: str = "majority",
                 fallback: RulesJury | None = None, language: str = "en") -> None:
        if veto not in VETO_RULES:
            raise ValueError(f"jury veto must be one of {VETO_RULES}, got {veto!r}")
        if n_jurors < 1:
            raise ValueError(f"n_jurors must be >= 1, got {n_jurors}")
        self.client, self.n, self.veto = client, n_jurors, veto
        self.fallback = fallback or RulesJury(model=None)
        self.language = language
        self.stats: dict[str, Any] = {"method": f"llm x{n_jurors} veto={veto}"}

    def judge(self, queries: Sequence[str], titles: Sequence[str], pair_ids: Sequence[str] | None = None
              ) -> np.ndarray:
        pair_ids = list(pair_ids or [f"p{i}" for i in range(len(queries))])
        jobs, index = [], []
        for i, (q, t, pid) in enumerate(zip(queries, titles, pair_ids)):
            for j in range(self.n):
                msgs, _ = render_named(self.language, "jury", {
                    "persona": PERSONAS[j % len(PERSONAS)], "query": sanitize_product_text(q, 120),
                    "title": sanitize_product_text(t), "product_id": pid, "pair_id": pid})

                def check(v: Any, _pid: str = pid) -> None:
                    if v.pair_id != _pid:
                        raise ValueError(f"verdict for {v.pair_id!r}, asked {_pid!r}")

                jobs.append((msgs, JuryVerdict, check))
                index.append(i)
        res = self.client.map(jobs, desc="jury (LLM)")
        votes: list[list[bool]] = [[] for _ in queries]
        for i, r in zip(index, res):
            if r.parsed is not None:
                votes[i].append(bool(r.parsed.relevant))  # type: ignore[attr-defined]
        keep = np.ones(len(queries), dtype=bool)
        need_fb = [i for i, v in enumerate(votes) if not v]
        for i, v in enumerate(votes):
            if not v:
                continue
            neg = sum(not x for x in v)
            keep[i] = not ((self.veto == "any" and neg > 0) or (self.veto == "majority" and neg * 2 > len(v))
                           or (self.veto == "all" and neg == len(v)))
        if need_fb:
            keep[need_fb] = self.fallback.judge([queries[i] for i in need_fb], [titles[i] for i in need_fb])
        self.stats.update({"pairs_without_votes": len(need_fb), **self.client.accounting()})
        return keep


def quality_control(
    pairs: pd.DataFrame,
    titles: Mapping[str, str],
    eval_queries: Iterable[str],
    jury: Callable[..., np.ndarray] | Any,
    *,
    min_chars: int = 3,
    max_chars: int = 80,
    min_tokens: int = 1,
    max_tokens: int = 10,
) -> pd.DataFrame:
    """Return ``pairs`` plus ``accepted`` (bool) and ``reject_reason`` (str|None) columns.

    Args:
        pairs: generated pairs (columns query, product_id, group, language, ...).
        titles: ``{product_id: title}`` for the jury.
        eval_queries: texts of dev and holdout queries (normalised inside).
        jury: object with ``judge(queries, titles) -> bool array`` (``RulesJury`` / ``LLMJury``).

    Raises:
        ValueError: ``pairs`` lacks query / product_id / language, or a product id has no title.
    """
    need = {"query", "product_id", "language"}
    if not need <= set(pairs.columns):
        raise ValueError(f"generated pairs: missing columns {sorted(need - set(pairs.columns))}")
    out = pairs.reset_index(drop=True).copy()
    out["query"] = out["query"].astype(str).map(lambda s: " ".join(s.split()))
    reason = pd.Series([None] * len(out), dtype=object)
    ntok = out["query"].str.split().map(len)
    nchar = out["query"].str.len()
    bad_len = (nchar < min_chars) | (nchar > max_chars) | (ntok < min_tokens) | (ntok > max_tokens)
    reason[bad_len] = "length"
    bad_lang = ~pd.Series([language_ok(q, lang) for q, lang in zip(out["query"], out["language"])])
    reason[reason.isna() & bad_lang] = "wrong_language"
    key = out["query"].map(normalize_query) + "\x00" + out["product_id"].astype(str)
    # duplicates are counted among rows still alive (a copy of a rejected row is not a duplicate)
    alive_keys: set[str] = set()
    for i in range(len(out)):
        if reason[i] is not None:
            continue
        if key[i] in alive_keys:
            reason[i] = "duplicate"
        else:
            alive_keys.add(key[i])
    leak = set(normalize_query(q) for q in eval_queries)
    is_leak = out["query"].map(normalize_query).isin(leak)
    reason[reason.isna() & is_leak] = "leakage"
    todo = np.flatnonzero(reason.isna().to_numpy())
    if len(todo):
        missing = sorted(set(out.loc[todo, "product_id"].astype(str)) - set(titles))
        if missing:
            raise ValueError(f"generated pairs: product_id(s) {missing[:5]} not in the products table")
        qs = out.loc[todo, "query"].tolist()
        ts = [titles[str(p)] for p in out.loc[todo, "product_id"]]
        if isinstance(jury, LLMJury):
            keep = jury.judge(qs, ts, [f"{out.loc[i, 'request_id'] if 'request_id' in out else 'r'}-{i}" for i in todo])
        else:
            keep = jury.judge(qs, ts)
        reason[todo[~np.asarray(keep, dtype=bool)]] = "jury"
    out["reject_reason"] = reason
    out["accepted"] = reason.isna()
    return out


def acceptance_by_group(qc: pd.DataFrame) -> pd.DataFrame:
    """Per (group, language): generated, accepted, acceptance rate and rejections by reason."""
    g = qc.groupby(["group", "language"])
    out = g.agg(generated=("accepted", "size"), accepted=("accepted", "sum")).reset_index()
    out["acceptance_rate"] = out["accepted"] / out["generated"]
    rej = qc[~qc["accepted"]].pivot_table(index=["group", "language"], columns="reject_reason",
                                          values="query", aggfunc="count", fill_value=0)
    out = out.merge(rej.reset_index(), on=["group", "language"], how="left").fillna(0)
    for c in ("length", "wrong_language", "duplicate", "leakage", "jury"):
        if c not in out.columns:
            out[c] = 0
        out[c] = out[c].astype(int)
    return out
