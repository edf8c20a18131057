"""Rules metadata expansion with category prototypes (item-embedding centroids), best-first metadata with a
per-rank penalty in masked retrieval, and the jury's recognisable-topic / word-salad rules."""

from __future__ import annotations

import numpy as np
import pytest

from discovery_pipelines.carousels.catalogue import build_catalogue
from discovery_pipelines.carousels.jury import (
    RulesJuror,
    implausible_spelling,
    known_word,
    make_jury,
    vocabulary_words,
)
from discovery_pipelines.carousels.knn import MaskedExactKNN
from discovery_pipelines.carousels.retrieval import category_centroids, expand_metadata, retrieve
from discovery_pipelines.carousels.schema import CarouselMetadata
from discovery_pipelines.search.models import load_model


@pytest.fixture(scope="module")
def indexed(ic_slice):
    lines, prods = ic_slice
    cat = build_catalogue(lines, prods)
    model = load_model("all-MiniLM-L6-v2", device="cpu")
    emb = model.encode(cat.text, batch_size=128, normalize_embeddings=True, convert_to_numpy=True)
    return cat, emb, model


def test_centroids_choose_the_category_when_its_name_says_nothing(indexed):
    cat, emb, model = indexed
    cats = sorted(cat.category_size)
    cen = category_centroids(emb, cat.items["category"].tolist(), [*cats, "no such category"])
    assert np.allclose(np.linalg.norm(cen[:-1], axis=1), 1.0, atol=1e-5) and not cen[-1].any()
    # category names replaced by opaque codes: only the items' prototype can tell what a category holds
    codes = model.encode([f"code {i}" for i in range(len(cats))], normalize_embeddings=True)
    dept_of = cat.items.dropna(subset=["category"]).groupby("category")["department"].first().to_dict()
    titles = ["Fresh bananas, apples and berries", "Milk and dairy for the fridge"]
    t = model.encode(titles, normalize_embeddings=True)
    with_c = expand_metadata(t, cats, codes, dept_of, centroids=category_centroids(emb, cat.items["category"].tolist(),
                                                                                   cats))
    assert with_c[0].category[0] == "fresh fruits"
    assert with_c[1].category[0] in {"milk", "yogurt", "other creams cheeses", "soy lactosefree"}
    assert all(m.department == sorted({dept_of[c] for c in m.category}) for m in with_c)


def test_rank_penalty_fills_from_the_first_listed_category_and_reports_plain_cosines(indexed):
    cat, emb, model = indexed
    big = [c for c, n in sorted(cat.category_size.items(), key=lambda kv: -kv[1])]
    first, second = big[0], big[1]
    n_first = cat.category_size[first]
    meta = CarouselMetadata(category=[first, second])
    q = model.encode([f"{second} and {first}"], normalize_embeddings=True)
    knn = MaskedExactKNN(emb, None, device="cpu")
    n = n_first + 5
    S0, I0 = retrieve(knn, cat, q, [meta], [None], n_candidates=n, rank_penalty=0.0)
    S1, I1 = retrieve(knn, cat, q, [meta], [None], n_candidates=n, rank_penalty=2.0)
    item_cat = cat.items["category"].to_numpy()
    assert set(item_cat[I0[0][I0[0] >= 0]]) <= {first, second} and set(item_cat[I1[0][I1[0] >= 0]]) <= {first, second}
    # with a penalty larger than any cosine gap, every item of the first category precedes the second's
    got = item_cat[I1[0][I1[0] >= 0]]
    assert (got[:n_first] == first).all() and (got[n_first:] == second).all()
    # without it the two categories mix by similarity (this query names the second category first)
    assert (item_cat[I0[0][:n_first]] == second).any()
    # returned similarities are the plain cosines, in either case
    for S, I in ((S0, I0), (S1, I1)):
        ok = I[0] >= 0
        assert np.allclose(S[0][ok], emb[I[0][ok]] @ q[0], atol=1e-5)


def test_search_offset_changes_the_order_not_the_mask(indexed):
    _, emb, model = indexed
    knn = MaskedExactKNN(emb, None, device="cpu")
    q = model.encode(["organic bananas"], normalize_embeddings=True)
    s, i = knn.search(q, None, k=5)
    off = np.zeros((1, len(emb)), np.float32)
    off[0, i[0][0]] = -1.0  # push the best item down
    s2, i2 = knn.search(q, None, k=5, offset=off)
    assert i[0][0] not in i2[0][:4] and np.isclose(s2[0][0], s[0][1], atol=1e-5)


def test_vocabulary_and_spelling_helpers():
    assert known_word("carrots", {"carrot"}) and known_word("berries", {"berry"}) and known_word("2", set())
    assert known_word("gluten-free", {"gluten", "free"}) and not known_word("zxqv", {"carrot"})
    assert implausible_spelling("xyzzy") and implausible_spelling("qzxvb")
    assert not implausible_spelling("kombucha") and not implausible_spelling("quinoa")
    assert {"greek", "tzatziki", "dip"} <= vocabulary_words(["Greek Tzatziki Dip", "DELI/SNACKS"])


def test_appetite_juror_needs_a_topic_word_and_a_well_formed_title():
    titles = ["Your favourite qzxvb", "Snacks for the", "Green the apples for lunch", "Cookies and",
              "Gluten-free favourites", "Start the day with eggs", "Sauces you come back to", "Five a day fruit bowl",
              "Kombucha favourites", "Quinoa salad bowls"]
    m = make_jury("rules").moderate(titles, [None] * len(titles))
    assert m["verdict"].tolist() == ["block"] * 4 + ["allow"] * 6
    assert all(m.loc[i, "blocked_by"] == ["appetite"] for i in range(4))
    assert "no recognisable topic word" in m.loc[0, "reason_appetite"]
    assert all("word salad" in m.loc[i, "reason_appetite"] for i in (1, 2, 3))


def test_catalogue_vocabulary_lets_a_rare_food_word_through():
    # "ajvar" (a Balkan pepper relish) is spelt unlike the text model's English words and is in no lexicon:
    # alone it reads as no topic, until the catalogue's own vocabulary knows it (the pipeline passes the
    # catalogue's words to the jury)
    plain = RulesJuror("appetite")
    known = RulesJuror("appetite", vocabulary=vocabulary_words(["Roasted Red Pepper Ajvar"]))
    assert plain.reasons("Ajvar favourites") and not known.reasons("Ajvar favourites")
