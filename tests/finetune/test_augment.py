"""Typo-aware training: query noise on real Home Depot training pairs."""

from __future__ import annotations

import random

import pytest

from discovery_pipelines.data.text import normalize_query
from discovery_pipelines.finetune.augment import add_query_typos, typo_query
from discovery_pipelines.finetune.data import assemble_pairs


def _levenshtein_ok(a: str, b: str) -> bool:
    """True when ``b`` is ``a`` with exactly one Damerau edit (substitution, deletion, insertion of a
    doubled letter, adjacent transposition)."""
    if a == b:
        return False
    if len(a) == len(b):
        diff = [i for i in range(len(a)) if a[i] != b[i]]
        return len(diff) == 1 or (len(diff) == 2 and diff[1] == diff[0] + 1
                                  and a[diff[0]] == b[diff[1]] and a[diff[1]] == b[diff[0]])
    short, long_ = (a, b) if len(a) < len(b) else (b, a)
    if len(long_) - len(short) != 1:
        return False
    return any(long_[:i] + long_[i + 1:] == short for i in range(len(long_)))


@pytest.fixture(scope="module")
def pairs(hd_small):
    ds = hd_small
    synthetic = ds.qrels.merge(ds.queries[ds.queries["split"] == "train"], on="query_id").head(20)
    synthetic = synthetic.assign(query="synthetic " + synthetic["text"], group="misspelling")
    out, _ = assemble_pairs(ds.products, ds.queries, ds.qrels, None, synthetic, qrels_min_gain=2.0)
    out["negative_1"] = out["positive"].iloc[::-1].values   # any extra column must pass through untouched
    return out


def test_typo_query_edits_one_alphabetic_word():
    rng = random.Random(0)
    for q in ["cordless drill", "vinyl plank flooring", "behr premium plus ultra"]:
        noisy = typo_query(q, rng)
        changed = [(a, b) for a, b in zip(q.split(" "), noisy.split(" ")) if a != b]
        assert len(changed) == 1 and _levenshtein_ok(*changed[0])
        assert changed[0][1][0] == changed[0][0][0]           # never the first letter
    # numbers, sizes and model numbers are left alone; short words too
    assert typo_query("2x4 8ft", rng) == "2x4 8ft"
    assert typo_query("rj45 cat", rng) == "rj45 cat"


def test_add_query_typos_rate_sources_determinism(pairs):
    n_qrels = int((pairs["source"] == "qrels").sum())
    out, stats = add_query_typos(pairs, rate=0.5, seed=3)
    assert len(out) == len(pairs) and list(out.index) == list(pairs.index)
    assert stats["eligible"] == n_qrels
    # about half of the qrels rows, none of the synthetic ones
    assert 0.35 * n_qrels < stats["noised"] < 0.65 * n_qrels
    assert not out.loc[out["source"] == "synthetic", "typo"].any()
    noised = out[out["typo"]]
    assert all(_levenshtein_ok(a, b) for a, b in zip(noised["query_clean"], noised["query"]))
    assert (out.loc[~out["typo"], "query"] == pairs.loc[~out["typo"], "query"]).all()
    for col in ("positive", "negative_1", "product_id", "query_norm"):
        assert (out[col] == pairs[col]).all()
    again, _ = add_query_typos(pairs, rate=0.5, seed=3)
    assert (again["query"] == out["query"]).all()
    other, _ = add_query_typos(pairs, rate=0.5, seed=4)
    assert (other["query"] != out["query"]).any()
    none, s0 = add_query_typos(pairs, rate=0.0)
    assert s0["noised"] == 0 and (none["query"] == pairs["query"]).all()
    everything, s_all = add_query_typos(pairs, rate=1.0, sources=None)
    assert s_all["eligible"] == len(pairs) and s_all["noised"] + s_all["unchanged"] == len(pairs)


def test_add_query_typos_never_writes_a_held_out_query(pairs):
    out, _ = add_query_typos(pairs, rate=1.0, seed=1)
    row = out[out["typo"]].iloc[0]
    held = {normalize_query(row["query"])}          # pretend this typo is a dev query
    guarded, stats = add_query_typos(pairs, rate=1.0, seed=1, held_out=held)
    assert stats["held_out_collisions"] >= 1
    assert not guarded["query"].map(normalize_query).isin(held).any()
    assert guarded.loc[row.name, "query"] == row["query_clean"]


def test_add_query_typos_bad_input(pairs):
    with pytest.raises(ValueError, match="rate"):
        add_query_typos(pairs, rate=1.5)
    with pytest.raises(ValueError, match="source"):
        add_query_typos(pairs.drop(columns=["source"]), rate=0.1)
