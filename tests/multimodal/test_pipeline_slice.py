"""The multimodal nodes end to end on a small real slice of GroceryStore (6 classes, ~25 photos each):
ingest -> decode -> text -> product tower -> vectors -> training queries -> QCC query tower ->
classification / retrieval evaluation -> faiss export answered by SearchService and ``discovery search``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from discovery_pipelines.pipelines.multimodal import nodes as n

CLASSES = ["Granny-Smith", "Red-Delicious", "Banana", "Oatly-Oat-Milk", "Red-Bell-Pepper", "Vine-Tomato"]
PER_SPLIT = {"train": 14, "val": 3, "test": 6}


@pytest.fixture(scope="module")
def slice_run(grocery_root: Path, tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("mm")
    items = pd.read_parquet(grocery_root / "items.parquet")
    classes = pd.read_parquet(grocery_root / "classes.parquet")
    items = items[items["fine_class_name"].isin(CLASSES)]
    items = pd.concat([g.head(PER_SPLIT[s]) for (_, s), g in items.groupby(["fine_class_name", "split"])])
    dev = pd.read_csv(Path(__file__).resolve().parents[2] / "conf/base/multimodal/dev_queries.csv")
    dev = dev[dev["fine_class_name"].isin(CLASSES)]
    listings, cls = n.ingest_grocery_store(items, classes, grocery_root, {"blank_title_share": 0.5, "seed": 0})
    pixels, cat, decode_report = n.decode_photos(listings, grocery_root, {"decode_px": 64})
    text_p = {"cache_dir": None}
    cls_emb, lst_emb = n.encode_texts(cat, cls, text_p)
    tower_p = {"model_kwargs": {"channels": [8, 16, 32, 64], "stem_width": 8}, "dim": 32, "crop": 56,
               "batch_size": 16, "lr": 3e-3, "max_epochs": 4, "patience": 10, "time_budget_s": 120, "device": "cpu"}
    tower, tower_report = n.train_product_tower(pixels, cat, cls_emb, tower_p)
    vectors, feats, posterior, enrich_report = n.encode_catalogue(tower, pixels, cat, lst_emb, cls_emb, tower_p, {})
    pairs, qstats = n.generate_training_queries(cls[cls["fine_class_name"].isin(CLASSES)], dev,
                                                {"groups": ["misspelling", "keyword"], "n_per_request": 2})
    qt, q_report = n.train_query_tower(tower, vectors, cat, pairs, {"epochs": 1, "batch_size": 32,
                                                                     "catalog_negatives": 16})
    ev = {"n_bootstrap": 200, "probe_max_iter": 100, "image_root": str(grocery_root),
          "grid_queries": ["bananas", "oat drink"]}
    classification, confusion_fig = n.evaluate_classification(tower, vectors, feats, cat, cls, cls_emb, lst_emb, ev, {})
    retrieval, per_query, grid_fig = n.evaluate_retrieval(qt, vectors, lst_emb, cat, cls, cls_emb, posterior, dev, ev,
                                                          text_p, {})
    return dict(out=out, listings=listings, cls=cls, pixels=pixels, cat=cat, cls_emb=cls_emb, lst_emb=lst_emb,
                tower=tower, tower_report=tower_report, vectors=vectors, feats=feats, posterior=posterior,
                enrich_report=enrich_report, pairs=pairs, qstats=qstats,
                qt=qt, q_report=q_report, classification=classification, retrieval=retrieval, per_query=per_query,
                figs=(confusion_fig, grid_fig), dev=dev, decode_report=decode_report)


def test_product_tower_learns_and_vectors_are_normalised(slice_run) -> None:
    r = slice_run
    hist = r["tower_report"]["history"]
    assert len(hist) == 4 and hist[-1]["train_loss"] < hist[0]["train_loss"]
    assert 1 <= r["tower_report"]["best_epoch"] <= 4 and r["tower_report"]["train_images_per_s"] > 0
    img, txt, fused, inferred = r["vectors"]
    assert img.shape == (len(r["cat"]), 32)
    for v in (img, fused, inferred):
        assert np.allclose(np.linalg.norm(v, axis=1), 1, atol=1e-4)
    blank = r["cat"]["blank_title"].to_numpy()
    # a blank listing is served as photo + the text its photo implies; a titled one as photo + its title
    assert np.allclose(fused[blank], inferred[blank]) and not np.allclose(fused[blank], img[blank])
    assert not np.allclose(fused[~blank], inferred[~blank])
    assert np.allclose(txt[blank], 0)
    post, rep = r["posterior"], r["enrich_report"]
    assert post.shape == (len(r["cat"]), len(r["cls"])) and np.allclose(post.sum(axis=1), 1, atol=1e-5)
    assert ((post > 0).sum(axis=1) <= 5).all()               # top-K posterior, K = 5 by default
    # the temperature is the multiple of the tower's scale with the lowest val NLL
    nll = rep["val_nll_by_multiplier"]
    assert rep["n_val"] > 0 and rep["scale"] == pytest.approx(rep["tower_scale"] * float(min(nll, key=nll.get)))


def test_training_queries_never_use_test_listings_or_dev_queries(slice_run) -> None:
    r = slice_run
    pairs = r["pairs"]
    assert len(pairs) > 30 and set(pairs["fine_class_id"]) <= set(r["cat"]["fine_class_id"])
    assert not set(pairs["query"]) & set(r["dev"]["query"].str.lower())
    assert not pairs["query"].str.contains("images/").any()
    assert r["qstats"]["generator"] == "rules" and r["qstats"]["n_accepted"] > 0


def test_query_tower_is_a_sentence_transformer_in_product_space(slice_run) -> None:
    qt = slice_run["qt"]
    v = qt.encode(["bananas"], normalize_embeddings=False)
    assert v.shape == (1, 32) and abs(float(np.linalg.norm(v)) - 1) < 1e-4
    assert slice_run["q_report"]["history"][-1]["loss"] > 0


def test_evaluation_reports_every_system(slice_run) -> None:
    c, ret = slice_run["classification"], slice_run["retrieval"]
    for key in ("product_tower", "linear_probe", "text_only_titled"):
        assert 0.0 <= c[key]["fine_top1"] <= c[key]["fine_top5"] <= 1.0
    assert c["text_only_titled"]["fine_top1"] == 1.0       # a titled listing's text is its class text
    assert set(c["aisle_coarse_accuracy"]) == {"image_knn", "image_linear", "fused_knn", "fused_linear"}
    for subset in ("all", "blanked"):
        for system in ("text_only", "image_only", "image_inferred_text", "fused", "text_model_title_or_photo_caption"):
            assert 0.0 <= ret[subset][system]["ndcg@10"] <= 1.0
            assert "recall@10" in ret[subset][system]
        ci = ret[subset]["diff"]["fused-text_only"]["ndcg@10"]
        assert ci["low"] <= ci["mean"] <= ci["high"]
    # text-only retrieval cannot reach a listing without a title
    assert ret["blanked"]["text_only"]["ndcg@10"] == 0.0
    assert ret["blanked"]["image_only"]["ndcg@10"] > 0.0
    # blank listings are served by their photo + inferred-text vectors: fused == image_inferred_text there
    assert ret["blanked"]["fused"]["ndcg@10"] == ret["blanked"]["image_inferred_text"]["ndcg@10"]
    t = ret["target_photos_only_vs_titled_text"]
    assert t["photos_only_vectors"] == "photo + photo-inferred text"
    assert t["best_ratio"] == max(t["ndcg@10_ratio_by_system"].values()) and t["met"] == (t["best_ratio"] >= 0.70)
    # with perfect captions the text model over captions would equal the fully titled text-only run
    assert 0.0 < t["photos_only_text_model_captions"]["ndcg@10"] <= 1.0
    assert t["ndcg@10_ratio"] == pytest.approx(t["photos_only"]["ndcg@10"] / t["text_only_fully_titled"]["ndcg@10"])


def test_export_is_served_by_search_service_and_cli(slice_run, tmp_path: Path, minilm_path, monkeypatch) -> None:
    from typer.testing import CliRunner

    from discovery_pipelines.data.datasets import FaissIndexDataset, SentenceTransformerDataset
    from discovery_pipelines.serve.cli import app
    from discovery_pipelines.serve.service import SearchService

    r = slice_run
    model_dir = tmp_path / "query_tower"
    SentenceTransformerDataset(str(model_dir)).save(r["qt"])
    payload = n.export_listing_index(r["qt"], r["vectors"], r["cat"], r["tower_report"], {})
    ds = FaissIndexDataset(str(tmp_path / "index"), str(model_dir))
    ds.save(payload)
    loaded = ds.load()
    test_ids = r["cat"].loc[r["cat"]["split"] == "test", "product_id"].tolist()
    assert loaded.ids["product_id"].tolist() == test_ids and loaded.manifest["model_path"] == str(model_dir.resolve())
    # a production text model exists, yet the index is served by the query tower its manifest pins
    monkeypatch.setattr("discovery_pipelines.serve.service.DEFAULT_MODEL_DIR", Path(minilm_path))
    svc = SearchService(index_dir=tmp_path / "index", device="cpu")
    assert svc.engine.model_fingerprint == loaded.manifest["model_fingerprint"]
    res = svc.engine.search("bananas", k=5, mode="dense")
    assert len(res.hits) == 5 and all(h.product_id in set(test_ids) for h in res.hits)
    assert all(h.product_id.startswith("images/test/") for h in res.hits)
    cli = CliRunner().invoke(app, ["search", "--index", str(tmp_path / "index"), "--mode", "dense", "-k", "3",
                                   "--json", "green apples"])
    assert cli.exit_code == 0, cli.output
    assert '"product_id": "images/test/' in cli.output


def test_caption_index_serves_untitled_listings_with_the_text_model(slice_run, tmp_path: Path, minilm_path,
                                                                   monkeypatch) -> None:
    """The caption index holds titles and, for blank listings, the photo's expected class-text vector (norm <= 1);
    the plain text model answers it, and untitled photos are found by what they show. Its manifest pins that
    text model: a production model of another space (after a finetune run) does not take over."""
    from discovery_pipelines.data.datasets import FaissIndexDataset, SentenceTransformerDataset
    from discovery_pipelines.serve.service import SearchService

    r = slice_run
    payload = n.export_caption_index(r["cat"], r["lst_emb"], r["cls_emb"], r["posterior"], {})
    norms = np.linalg.norm(payload["embeddings"], axis=1)
    blank = payload["products"]["blank_title"].to_numpy(dtype=bool)
    assert np.allclose(norms[~blank], 1, atol=1e-4) and (norms[blank] > 0).all() and (norms[blank] <= 1 + 1e-4).all()
    FaissIndexDataset(str(tmp_path / "captions"), str(minilm_path)).save(payload)
    other = tmp_path / "production"                         # another model where production lives
    SentenceTransformerDataset(str(other)).save(slice_run["qt"])
    monkeypatch.setattr("discovery_pipelines.serve.service.DEFAULT_MODEL_DIR", other)
    svc = SearchService(index_dir=tmp_path / "captions", device="cpu")
    manifest = FaissIndexDataset(str(tmp_path / "captions"), str(minilm_path)).load().manifest
    assert manifest["unit_norm"] is False and manifest["default_mode"] == "dense"
    assert svc.engine.model_fingerprint == manifest["model_fingerprint"]
    hits = svc.engine.search("bananas", k=len(payload["products"]), mode="dense").hits
    by_id = payload["products"].set_index("product_id")
    untitled_bananas = [h for h in hits if by_id.loc[h.product_id, "blank_title"]
                        and by_id.loc[h.product_id, "fine_class_name"] == "Banana"]
    assert untitled_bananas, "an untitled banana photo must be retrievable by text"
    # short vectors are refused unless the export says they are expected-similarity vectors
    bad = dict(payload, unit_norm=True)
    with pytest.raises(Exception, match="expects L2-normalised vectors"):   # kedro wraps the ValueError
        FaissIndexDataset(str(tmp_path / "bad"), str(minilm_path)).save(bad)


def test_registered_pipeline_wiring() -> None:
    from discovery_pipelines.pipelines.multimodal.pipeline import create_multimodal_stages

    pipe = create_multimodal_stages()
    names = {nd.name for nd in pipe.nodes}
    assert {"multimodal.photos.ingest_grocery_store", "multimodal.product_tower.train_product_tower",
            "multimodal.query_tower.train_query_tower", "multimodal.export.export_listing_index"} <= names
    assert all(nd.name.split(".")[-1] == nd.func.__name__ for nd in pipe.nodes)
    check = next(nd for nd in pipe.nodes if nd.name.endswith("check_parameters"))
    out = check.run({"params:multimodal": {"ingest": {"blank_title_share": 1.0}}})
    assert out["mm_parameters"]["ingest"]["blank_title_share"] == 1.0
    with pytest.raises(Exception, match="blank_titel_share"):
        check.run({"params:multimodal": {"ingest": {"blank_titel_share": 1.0}}})
