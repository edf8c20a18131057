"""Data contract and ingest adapters on the real shared files."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from discovery_pipelines.data.contract import ContractError, conform, validate
from discovery_pipelines.data.ingest import (
    ESCI_GAIN_MAPS, load_beir, load_esci, load_esci_judgments, load_home_depot, load_instacart, load_tables,
    load_wands,
)


def test_home_depot_real(home_depot):
    p, q, r = home_depot.products, home_depot.queries, home_depot.qrels
    assert len(p) == 54_667 and p["product_id"].is_unique
    assert 8_800 < len(q) <= 8_846 and q["query_id"].is_unique
    assert r["gain"].between(1.0, 3.0).all()
    assert set(r["product_id"]) <= set(p["product_id"])
    assert set(r["query_id"]) == set(q["query_id"])
    # latin-1 glyphs kept as decoded upstream, not mangled into replacement characters
    assert not p["title"].str.contains("\ufffd").any()


def test_home_depot_latin1_csv(tmp_path, datasets_root):
    labels = pd.read_parquet(datasets_root / "home_depot" / "labels.parquet").head(50)
    labels.loc[0, "product_title"] = "Café table 30\u00e5\u00a1 wide"
    labels.to_csv(tmp_path / "train.csv", index=False, encoding="latin-1")
    ds = load_home_depot(tmp_path)
    assert "Café table 30\u00e5\u00a1 wide" in set(ds.products["title"])
    assert len(ds.qrels) == labels.groupby(["search_term", "product_uid"]).ngroups


def test_contract_error_names_file_row_column():
    bad = pd.DataFrame({"query_id": ["a", "b", "c"], "product_id": ["1", "2", "3"], "gain": [1.0, -2.0, 0.5],
                        "label": ["x", "y", "z"]})
    with pytest.raises(ContractError) as exc:
        validate(conform(bad, "qrels"), "qrels", "judgments.csv")
    msg = str(exc.value)
    assert "file=judgments.csv row=1 column=gain" in msg and "-2.0" in msg


def test_contract_rejects_bad_attributes_and_event_types():
    p = conform(pd.DataFrame({"product_id": ["1", "2"], "title": ["a", "b"], "attributes": ['{"k": 1}', "[1,2]"]}), "products")
    with pytest.raises(ContractError, match="row=1 column=attributes"):
        validate(p, "products", "p.parquet")
    ev = pd.DataFrame({"session_id": ["s"], "timestamp": ["2025-01-01T00:00:00Z"], "query": ["x"],
                       "product_id": ["1"], "position": [1], "event_type": ["hover"]})
    with pytest.raises(ContractError, match="column=event_type"):
        validate(ev, "events", "events.parquet")


def test_instacart_category_path(datasets_root):
    ds = load_instacart(datasets_root / "instacart_sample")
    assert len(ds.products) == 49_688
    row = ds.products.set_index("product_id").loc["1"]
    assert row["title"] == "Chocolate Sandwich Cookies"
    assert row["category_path"] == "snacks > cookies cakes"


def test_wands_queries_real_and_tsv_schema(tmp_path, datasets_root):
    ds = load_wands(datasets_root / "wands")
    assert len(ds.queries) == 480 and ds.products.empty and ds.qrels.empty
    # product/label readers on files in the upstream tab-separated schema
    pd.DataFrame({"query_id": [0, 1], "query": ["salon chair", "smart coffee table"], "query_class": ["a", "b"]}).to_csv(
        tmp_path / "query.csv", sep="\t", index=False)
    pd.DataFrame({
        "product_id": [10, 11], "product_name": ["hydraulic salon chair", "lift-top coffee table"],
        "product_class": ["Massage Chairs", "Coffee Tables"], "category hierarchy": ["Furniture / Chairs", "Furniture / Tables"],
        "product_description": ["a chair", "a table"], "product_features": ["color:black|material:leather", ""],
        "rating_count": [3, 4], "average_rating": [4.5, 4.0], "review_count": [3, 4],
    }).to_csv(tmp_path / "product.csv", sep="\t", index=False)
    pd.DataFrame({"id": [0, 1, 2], "query_id": [0, 0, 1], "product_id": [10, 11, 11],
                  "label": ["Exact", "Irrelevant", "Partial"]}).to_csv(tmp_path / "label.csv", sep="\t", index=False)
    w = load_wands(tmp_path)
    assert w.products.set_index("product_id").loc["wands:10", "category_path"] == "Furniture > Chairs"
    assert json.loads(w.products.set_index("product_id").loc["wands:10", "attributes"]) == {"color": "black", "material": "leather"}
    assert dict(zip(w.qrels["label"], w.qrels["gain"])) == {"Exact": 2.0, "Irrelevant": 0.0, "Partial": 1.0}
    pd.DataFrame({"id": [0], "query_id": [0], "product_id": [10], "label": ["Maybe"]}).to_csv(tmp_path / "label.csv", sep="\t", index=False)
    with pytest.raises(ValueError, match="row=0 column=label value='Maybe'"):
        load_wands(tmp_path)


def test_esci_judgments_and_gain_conventions(datasets_root, tmp_path):
    path = datasets_root / "esci_opensearch_judgments" / "judgments.parquet"
    paper = load_esci_judgments(path, gains="esci_paper")
    base = load_esci_judgments(path, gains="amazon_baseline")
    assert len(paper.queries) == 150 and len(paper.qrels) == 6_678
    s_p = paper.qrels[paper.qrels["label"] == "S"]["gain"].unique().tolist()
    s_b = base.qrels[base.qrels["label"] == "S"]["gain"].unique().tolist()
    assert s_p == [0.1] and s_b == [0.01]
    assert ESCI_GAIN_MAPS["amazon_baseline"]["C"] == 0.1
    # full ESCI layout (examples + products parquet) written in the upstream schema
    ex = pd.DataFrame({"example_id": [1, 2, 3], "query": ["usb c cable", "usb c cable", "lamp"], "query_id": [1, 1, 2],
                       "product_id": ["B1", "B2", "B3"], "product_locale": ["us", "us", "us"],
                       "esci_label": ["E", "C", "I"], "small_version": [1, 1, 1], "split": ["train"] * 3})
    pr = pd.DataFrame({"product_id": ["B1", "B2", "B3"], "product_title": ["USB-C cable 2m", "USB-C charger", "Desk lamp"],
                       "product_description": [None, None, None], "product_bullet_point": [None] * 3,
                       "product_brand": ["Anker", "Anker", "Ikea"], "product_color": ["black", "white", None],
                       "product_locale": ["us", "us", "us"]})
    ex.to_parquet(tmp_path / "shopping_queries_dataset_examples.parquet")
    pr.to_parquet(tmp_path / "shopping_queries_dataset_products.parquet")
    e = load_esci(tmp_path, gains="amazon_baseline")
    assert dict(zip(e.qrels["product_id"], e.qrels["gain"])) == {"B1": 1.0, "B2": 0.1, "B3": 0.0}
    assert e.products.set_index("product_id").loc["B1", "locale"] == "en-US"


def test_generic_tables_and_beir(tmp_path):
    pd.DataFrame({"sku": ["a", "b"], "name": ["red mug", "blue mug"]}).to_csv(tmp_path / "p.csv", index=False)
    pd.DataFrame({"query_id": ["q1"], "text": ["mug"]}).to_parquet(tmp_path / "q.parquet")
    pd.DataFrame({"query_id": ["q1", "q1"], "product_id": ["a", "zz"], "gain": [1.0, None]}).to_csv(tmp_path / "r.csv", index=False)
    with pytest.raises(ContractError, match=r"r\.csv.*row=1 column=gain"):
        load_tables(tmp_path / "p.csv", tmp_path / "q.parquet", tmp_path / "r.csv",
                    rename={"products": {"sku": "product_id", "name": "title"}})
    (tmp_path / "beir" / "qrels").mkdir(parents=True)
    (tmp_path / "beir" / "corpus.jsonl").write_text('{"_id": "d1", "title": "Hex nut M12", "text": "stainless"}\n'
                                                     '{"_id": "d2", "title": "", "text": "wood screw"}\n')
    (tmp_path / "beir" / "queries.jsonl").write_text('{"_id": "1", "text": "ss nut m12"}\n{"_id": "2", "text": "x"}\n')
    (tmp_path / "beir" / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n1\td1\t1\n")
    b = load_beir(tmp_path / "beir")
    assert list(b.queries["query_id"]) == ["1"] and b.products.set_index("product_id").loc["d2", "title"] == "wood screw"
