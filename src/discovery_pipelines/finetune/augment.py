"""Query-side noise for training: typo-aware fine-tuning.

Real shopping queries are misspelt ("polyeurethane exterior", "wirless smoke dedector"), and a
sub-word tokenizer turns one wrong letter into unrelated word pieces, so a dense retriever trained on
clean queries falls apart on them (Sidiropoulos & Kanoulas, SIGIR 2022; Zhuang & Zuccon, ICTIR 2021
"Dealing with typos for BERT-based passage retrieval and ranking", where typo-augmented training
queries recovered most of the loss). :func:`add_query_typos` replaces the anchor of a seeded share of
training rows by a copy with one keyboard typo, keeping the positive and the hard negatives that were
mined for the clean query. Rows are replaced, not added, so the training time does not change.
"""

from __future__ import annotations

import hashlib
import random
import re
from collections.abc import Collection, Sequence
from typing import Any

import numpy as np
import pandas as pd

from discovery_pipelines.synthetic.rules import typo
from discovery_pipelines.data.text import normalize_query

_WORD = re.compile(r"^[^\W\d_]{4,}$")   # letters only, 4 or more: no numbers, sizes or model numbers


def typo_query(query: str, rng: random.Random, layout: str = "qwerty") -> str:
    """``query`` with one Damerau edit (keyboard-neighbour substitution, deletion, transposition or a
    doubled letter, never the first letter) in one of its alphabetic words of 4+ letters, chosen at
    random; returned unchanged when it has no such word. See :func:`synthetic.rules.typo`."""
    words = query.split(" ")
    idx = [i for i, w in enumerate(words) if _WORD.match(w)]
    if not idx:
        return query
    i = rng.choice(idx)
    words[i] = typo(words[i], rng, layout)
    return " ".join(words)


def add_query_typos(
    examples: pd.DataFrame,
    *,
    rate: float,
    seed: int = 13,
    sources: Sequence[str] | None = ("qrels",),
    layout: str = "qwerty",
    held_out: Collection[str] = (),
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Replace the ``query`` of a seeded ``rate`` share of eligible rows by a one-typo copy.

    Args:
        examples: training rows with at least ``query`` (str) and ``source``; every other column
            (positive, negative_1..n, provenance) is kept as is.
        rate: share in [0, 1] of eligible rows to noise (0 returns the input unchanged).
        seed: the same seed and rows always give the same typos (the edit's RNG is seeded per row
            from ``seed`` and the query text).
        sources: only rows of these sources are eligible (default: the judged qrels pairs, not the
            synthetic misspellings that already carry one); None = every row.
        layout: keyboard layout for neighbour substitutions (``qwerty`` / ``qwertz``).
        held_out: normalised dev / holdout query texts (:func:`text.normalize_query`); a typo that
            happens to spell one of them is not used (no evaluation query may appear in training).

    Returns:
        (rows in the input order with ``query`` noised where chosen, plus ``query_clean`` (the original
        text) and ``typo`` (bool); stats with ``eligible``, ``noised``, ``unchanged`` (chosen rows whose
        query had no word to misspell), ``held_out_collisions`` and ``examples`` (up to 5 clean -> noised pairs)).

    Raises:
        ValueError: ``rate`` outside [0, 1], or a required column missing.
    """
    if not 0.0 <= float(rate) <= 1.0:
        raise ValueError(f"augment rate must be in [0, 1], got {rate!r}")
    missing = {"query", "source"} - set(examples.columns)
    if missing:
        raise ValueError(f"training examples lack column(s) {sorted(missing)} needed for query typos")
    out = examples.copy()
    out["query_clean"] = out["query"].astype(str)
    out["typo"] = False
    eligible = np.ones(len(out), dtype=bool) if sources is None else out["source"].isin(list(sources)).to_numpy()
    n_eligible = int(eligible.sum())
    chosen = np.flatnonzero(eligible)
    chosen = chosen[np.random.default_rng(seed).random(len(chosen)) < float(rate)]
    unchanged, collisions, shown = 0, 0, []
    held = set(held_out)
    qcol = out.columns.get_loc("query")
    tcol = out.columns.get_loc("typo")
    for i in chosen:
        clean = out.iat[i, qcol]
        key = hashlib.sha256(f"{seed}\x00{i}\x00{clean}".encode()).digest()
        noisy = typo_query(clean, random.Random(int.from_bytes(key[:8], "big")), layout)
        if noisy == clean:
            unchanged += 1
            continue
        if held and normalize_query(noisy) in held:
            collisions += 1
            continue
        out.iat[i, qcol] = noisy
        out.iat[i, tcol] = True
        if len(shown) < 5:
            shown.append([clean, noisy])
    stats = {"rate": float(rate), "sources": None if sources is None else list(sources), "eligible": n_eligible,
             "noised": int(out["typo"].sum()), "unchanged": unchanged, "held_out_collisions": collisions, "examples": shown}
    return out, stats
