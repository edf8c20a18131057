"""Rules generator, budget and QC on real Home Depot titles and queries."""

from __future__ import annotations

import time

import pandas as pd
import pytest

from discovery_pipelines.failure_analysis.taxonomy import RULE_GROUPS
from discovery_pipelines.failure_analysis.vocab import Vocabulary
from discovery_pipelines.synthetic.budget import allocate_budget, largest_remainder, print_budget
from discovery_pipelines.synthetic.planning import plan_requests, trim_to_budget
from discovery_pipelines.synthetic.prompts import template_files
from discovery_pipelines.synthetic.qc import RulesJury, acceptance_by_group, language_ok, quality_control
from discovery_pipelines.synthetic.rules import RulesGenerator, typo, unit_variants
from discovery_pipelines.synthetic.schema import PAIR_COLUMNS, GenerationRequest


@pytest.fixture(scope="module")
def vocab(hd_small):
    return Vocabulary.from_titles(hd_small.products["title"])


def test_unit_variants_and_typos():
    v = unit_variants("1/2", "in.")
    assert {"half inch", "0.5 in", '1/2"', "1/2 inch"} <= set(v)
    assert "20v" in unit_variants("20", "-Volt") and "5 gallon" in unit_variants("5", "gal.")
    import random

    rng = random.Random(0)
    outs = {typo("faucet", rng) for _ in range(30)}
    assert "faucet" not in outs and all(o[0] == "f" for o in outs)
    from rapidfuzz.distance import DamerauLevenshtein

    assert all(DamerauLevenshtein.distance(o, "faucet") == 1 for o in outs)


def test_rules_generator_is_deterministic_fast_and_on_group(hd_small, vocab):
    prods = hd_small.products.head(300)
    reqs = [GenerationRequest(f"{g}|{pid}", pid, t, g, "en", 2)
            for pid, t in zip(prods["product_id"], prods["title"]) for g in RULE_GROUPS + ("cluster:misc",)]
    gen = RulesGenerator(vocab.brands)
    t = time.perf_counter()
    a = gen.generate(reqs)
    dt = time.perf_counter() - t
    b = RulesGenerator(vocab.brands).generate(reqs)
    assert a.equals(b) and list(a.columns) == PAIR_COLUMNS
    assert set(a["source"]) == {"synthetic"} and set(a["generator"]) == {"rules"}
    assert len(a) > 2000 and dt / len(a) * 1000 < 5.0  # < 5 s per 1,000 pairs (measured ~0.5 s)
    by = a.groupby("group")["query"]
    assert by.size().index.isin(RULE_GROUPS + ("cluster:misc",)).all()
    # on-group spot checks
    nu = a[a["group"] == "numeric_unit"]["query"]
    assert nu.str.contains(r"\d|half|quarter|third|eighth").all()
    neg = a[a["group"] == "negation"]["query"]
    assert neg.str.contains(r"\b(?:without|no|free)\b").all()
    ms = a[a["group"] == "misspelling"]
    assert len(ms) > 100
    # a misspelt query has a token not in the catalogue vocabulary
    assert sum(any(t not in vocab for t in q.split()) for q in ms["query"]) / len(ms) > 0.9


def test_budget_split_and_factors():
    stats = pd.DataFrame({"group": ["misspelling", "brand", "color", "tiny"], "n_queries": [50, 40, 30, 2],
                          "n_not_good": [30, 10, 0, 2], "not_good_rate": [0.6, 0.25, 0.0, 1.0],
                          "coverage": [0.5, 0.9, 1.0, 0.0]})
    b = allocate_budget(stats, 1000, languages={"en": 0.8, "fi": 0.2}, language_factors={"fi": 1.5},
                        group_factors={"brand": 2.0})
    assert b["n_pairs"].sum() == 1000
    assert set(b["group"]) == {"misspelling", "brand"}  # color: no failure; tiny: < min_queries
    w = {(r.group, r.language): r.weight for r in b.itertuples()}
    assert w[("misspelling", "en")] == pytest.approx(0.6 * 0.5 * 0.8)
    assert w[("brand", "fi")] == pytest.approx(0.25 * 0.1 * 2.0 * 0.2 * 1.5)  # gap floored at 0.1
    assert largest_remainder([1, 1, 1], 10) == [4, 3, 3]
    assert "total" in print_budget(b, echo=False)
    with pytest.raises(ValueError, match="language_factors"):
        allocate_budget(stats, 10, language_factors={"fi": -1})


def test_plan_uses_train_queries_only_and_trim(hd_small, vocab):
    from discovery_pipelines.failure_analysis.taxonomy import query_groups

    q = hd_small.queries
    fg = pd.DataFrame({"query_id": q["query_id"], "split": q["split"],
                       "groups": [query_groups(t, vocab) for t in q["text"]]})
    budget = pd.DataFrame({"group": ["brand", "misspelling"], "language": ["en", "en"], "n_pairs": [20, 10]})
    reqs = plan_requests(budget, fg, hd_small.products, hd_small.qrels, vocab=vocab, catalogue_sample=300)
    assert len(reqs) == 15 + 8
    dev_only = set(hd_small.qrels[hd_small.qrels["query_id"].isin(q[q["split"] != "train"]["query_id"])]
                   ["product_id"]) - set(hd_small.qrels[hd_small.qrels["query_id"].isin(
                       q[q["split"] == "train"]["query_id"])]["product_id"])
    brand_seeds = [r.product_id for r in reqs if r.group == "brand"]
    train_judged = set(hd_small.qrels[hd_small.qrels["query_id"].isin(q[q["split"] == "train"]["query_id"])]
                       ["product_id"])
    # seeds come from train judgements first (dev-only products only via the catalogue top-up)
    assert brand_seeds and sum(p in train_judged for p in brand_seeds) >= len(brand_seeds) // 2
    pairs = RulesGenerator(vocab.brands).generate(reqs)
    pairs["accepted"] = True
    trimmed = trim_to_budget(pairs.drop(columns="accepted"), budget)
    assert trimmed.groupby("group").size().to_dict() == {"brand": 20, "misspelling": 10}


def test_quality_control_filters_and_leakage(hd_small):
    p = hd_small.products.head(3)
    titles = dict(zip(p["product_id"], p["title"]))
    pid = p["product_id"].tolist()
    dev_text = hd_small.queries[hd_small.queries["split"] == "dev"]["text"].iloc[0]
    first_words = " ".join(p["title"].iloc[0].lower().split()[:3])
    pairs = pd.DataFrame({
        "query": [first_words, first_words.upper(), "x", dev_text.upper(), "Кран для ванной", "garden gnome statue",
                  " ".join(["word"] * 20)],
        "product_id": [pid[0], pid[0], pid[1], pid[1], pid[2], pid[2], pid[2]],
        "group": "brand", "language": "en"})
    out = quality_control(pairs, titles, [dev_text], RulesJury(model=None))
    assert out["reject_reason"].tolist()[1:] == ["duplicate", "length", "leakage", "wrong_language",
                                                 out["reject_reason"].iloc[5], "length"]
    assert out["accepted"].iloc[0]
    acc = acceptance_by_group(out)
    assert acc.loc[0, "generated"] == 7 and acc.loc[0, "leakage"] == 1
    assert language_ok("fußmatte grau", "de") and not language_ok("fußmatte", "en")
    with pytest.raises(ValueError, match="not in the products table"):
        quality_control(pairs.assign(product_id="nope"), titles, [], RulesJury(model=None))


def test_prompt_templates_per_language():
    f, g = template_files("fi", "misspelling")
    assert f.parent.name == "fi" and g.name == "misspelling.v1.yaml"
    f, g = template_files("de", "color")  # no German colour template: the German default, not English
    assert g.parent.name == "de" and g.name == "_default.v1.yaml"
    with pytest.raises(FileNotFoundError, match="no prompt frame"):
        template_files("xx", "color")


def test_rules_jury_matches_misspelt_tokens_by_rapidfuzz_ratio(hd_small):
    """A one-letter typo of a real title's word matches (rapidfuzz ratio >= 80); an unrelated word and a
    short token (< 4 characters, never fuzzy) do not."""
    from rapidfuzz import fuzz

    title = next(t for t in hd_small.products["title"] if any(len(w) >= 7 and w.isalpha() for w in t.split()))
    word = next(w.lower() for w in title.split() if len(w) >= 7 and w.isalpha())
    typo = word[:3] + word[4:]  # one letter dropped
    jury = RulesJury(model=None)
    assert fuzz.ratio(typo, word) >= jury.fuzzy
    assert jury.overlap(typo, title) == 1.0
    assert jury.overlap("zzqxwv", title) == 0.0
    assert RulesJury(model=None, fuzzy=99.5).overlap(typo, title) == 0.0
