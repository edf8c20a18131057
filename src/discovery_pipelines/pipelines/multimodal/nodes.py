"""Nodes of ``multimodal``: thin wrappers over :mod:`discovery_pipelines.multimodal` (see docs/multimodal.md).

Every node validates its parameter block with the pydantic models of
:mod:`discovery_pipelines.multimodal.params` (unknown keys are errors).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from discovery_pipelines.data.ingest.grocery_store import listings_from_tables  # noqa: E402
from discovery_pipelines.finetune.losses import compare_qcc_mnrl  # noqa: E402
from discovery_pipelines.multimodal import evaluation as E  # noqa: E402
from discovery_pipelines.multimodal import params as P  # noqa: E402
from discovery_pipelines.multimodal import plots  # noqa: E402
from discovery_pipelines.multimodal.enrichment import (  # noqa: E402
    class_prototypes,
    inferred_text_vectors,
    photo_captions,
    photo_class_posterior,
)
from discovery_pipelines.multimodal.images import decode_images  # noqa: E402
from discovery_pipelines.multimodal.queries import dev_qrels, training_queries  # noqa: E402
from discovery_pipelines.multimodal.query_tower import build_query_tower, train_query_tower as _train_qt  # noqa: E402
from discovery_pipelines.multimodal.towers import default_device, fuse, load_tower, tower_state  # noqa: E402
from discovery_pipelines.multimodal.training import (  # noqa: E402
    class_accuracy,
    encode_photos,
    knn_scores,
    linear_probe,
    project_texts,
    train_product_tower as _train_tower,
)
from discovery_pipelines.search.embeddings import encode, product_texts  # noqa: E402
from discovery_pipelines.search.models import load_model  # noqa: E402
from discovery_pipelines.synthetic.llm import load_credentials  # noqa: E402

log = logging.getLogger(__name__)
SPLIT_ORDER = {"train": 0, "val": 1, "test": 2}


def check_parameters(params: dict[str, Any]) -> dict[str, Any]:
    """The validated ``multimodal`` block (defaults filled in); fails on a misspelt or unknown key."""
    return P.parse(params).model_dump()


def ingest_grocery_store(items: pd.DataFrame, classes: pd.DataFrame, dataset_folder: Path,
                         params: dict[str, Any]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Contract listings (one per photo) and the class table (:mod:`data.ingest.grocery_store`)."""
    p = P.IngestParams.model_validate(params)
    g = listings_from_tables(items, classes, dataset_folder, blank_title_share=p.blank_title_share, seed=p.seed,
                             on_missing_image=p.on_missing_image, items_source=str(dataset_folder / "items.parquet"),
                             classes_source=str(dataset_folder / "classes.parquet"))
    log.info("grocery_store: %d listings (%d blank titles, %d missing photos skipped)", len(g.listings),
             int(g.listings["blank_title"].sum()), g.listings.attrs.get("skipped", 0))
    return g.listings, g.classes


def decode_photos(listings: pd.DataFrame, dataset_folder: Path, params: dict[str, Any]
                  ) -> tuple[np.ndarray, pd.DataFrame, dict[str, Any]]:
    """Decode every listing's photo once (``(N, 3, S, S)`` uint8) and return the listings that have one.

    Returns:
        ``(pixels, catalogue, report)``: ``catalogue`` is ``listings`` without skipped photos, in
        ``pixels`` row order; ``report`` counts decoded / skipped photos with the reasons.
    """
    p = P.PhotoParams.model_validate(params)
    t = time.perf_counter()
    pixels, skipped = decode_images(dataset_folder, listings["image_path"].tolist(), p.decode_px, on_error=p.on_error)
    keep = np.setdiff1d(np.arange(len(listings)), skipped["position"].to_numpy(dtype=int))
    catalogue = listings.iloc[keep].reset_index(drop=True)
    secs = time.perf_counter() - t
    report = {"decoded": int(len(catalogue)), "skipped": int(len(skipped)), "decode_px": p.decode_px,
              "seconds": secs, "photos_per_s": len(listings) / secs if secs else 0.0,
              "skipped_files": skipped.to_dict(orient="records")}
    return pixels, catalogue, report


def encode_texts(catalogue: pd.DataFrame, classes: pd.DataFrame, params: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """Frozen text-model embeddings: ``(C, 384)`` of the class texts and ``(N, 384)`` of each listing's
    title + description (zero rows for blank listings), via :func:`search.embeddings.encode` (cached)."""
    p = P.TextParams.model_validate(params)
    model = load_model(p.model)
    cls = encode(model, classes["class_text"].tolist(), batch_size=p.batch_size, cache_dir=p.cache_dir)
    texts = product_texts(catalogue, ("title", "description"))
    has = np.array([bool(t.strip()) for t in texts])
    lst = np.zeros((len(texts), cls.shape[1]), dtype=np.float32)
    if has.any():
        uniq = sorted({t for t, h in zip(texts, has) if h})
        emb = dict(zip(uniq, encode(model, uniq, batch_size=p.batch_size, cache_dir=p.cache_dir)))
        lst[has] = np.stack([emb[t] for t, h in zip(texts, has) if h])
    return cls.astype(np.float32), lst


def _rows(catalogue: pd.DataFrame, split: str) -> np.ndarray:
    return np.flatnonzero(catalogue["split"].to_numpy() == split)


def train_product_tower(pixels: np.ndarray, catalogue: pd.DataFrame, class_text_emb: np.ndarray,
                        params: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Stage 1 on the train split, early stopping on val (:func:`multimodal.training.train_product_tower`).

    Returns:
        ``(tower_state, training_report)``: the tower's spec + weights, and the epoch history, the
        chosen epoch, why it stopped, seconds and training images/s.
    """
    p = P.ProductTowerParams.model_validate(params)
    cfg = p
    res = _train_tower(pixels, catalogue["fine_class_id"].to_numpy(), _rows(catalogue, "train"),
                       _rows(catalogue, "val"), class_text_emb, cfg)
    report = {"history": res.history, "best_epoch": res.best_epoch, "stopped": res.stopped,
              "train_seconds": res.train_seconds, "train_images_per_s": res.train_images_per_s,
              "precision": res.precision,
              "device": default_device() if p.device == "auto" else p.device, "config": p.model_dump()}
    return tower_state(res.tower), report


def encode_catalogue(tower: dict[str, Any], pixels: np.ndarray, catalogue: pd.DataFrame, listing_text_emb: np.ndarray,
                     class_text_emb: np.ndarray, params: dict[str, Any], enrichment_params: dict[str, Any]
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
    """Product vectors of every listing, backbone features, the photo class posterior and its report.

    Returns:
        ``(vectors (4, N, dim), features (N, F), posterior (N, C), report)``: ``vectors[0]`` photo; ``[1]``
        projected title text (zeros when blank); ``[2]`` fused, the served vector: photo + title, and for a blank
        listing photo + its photo-inferred text (:mod:`multimodal.enrichment`; the photo alone when enrichment is
        off); ``[3]`` photo + photo-inferred text for every listing (what a photos-only catalogue serves).
        ``posterior`` is ``p(class | photo)`` (prototypes from train photos, temperature calibrated on val).
    """
    p = P.ProductTowerParams.model_validate(params)
    ep = P.EnrichmentParams.model_validate(enrichment_params)
    device = default_device() if p.device == "auto" else p.device
    t = load_tower(tower, device)
    img, feats = encode_photos(t, pixels, np.arange(len(catalogue)), p.crop, device=device, tta=p.tta,
                               with_features=True, precision=p.precision)
    has = ~catalogue["blank_title"].to_numpy(dtype=bool)
    txt = project_texts(t, listing_text_emb, device)
    txt[~has] = 0.0
    cls = project_texts(t, class_text_emb, device)
    posterior, report = photo_class_posterior(img, cls, catalogue["fine_class_id"].to_numpy(), _rows(catalogue, "train"),
                                              _rows(catalogue, "val"), float(t.scale().detach()), beta=ep.prototype_beta,
                                              top_k=ep.top_k, calibrate=ep.calibrate)
    photo_inferred = fuse(img, inferred_text_vectors(posterior, cls), np.ones(len(img), bool), t.fusion_alpha)
    fused = fuse(img, txt, has, t.fusion_alpha)
    if ep.enabled:
        fused[~has] = photo_inferred[~has]
    report = {**report, "enabled": ep.enabled, "n_blank_enriched": int((~has).sum()) if ep.enabled else 0}
    return np.stack([img, txt, fused, photo_inferred]).astype(np.float32), feats, posterior, report


def generate_training_queries(classes: pd.DataFrame, dev_queries: pd.DataFrame, params: dict[str, Any]
                              ) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Training (query, fine class) pairs from the synthetic stage (:func:`multimodal.queries.training_queries`)."""
    p = P.TrainingQueryParams.model_validate(params)
    return training_queries(classes, dev_queries["query"].astype(str).tolist(), p.model_dump(),
                            credentials=load_credentials(p.credentials_key))


def train_query_tower(tower: dict[str, Any], product_vectors: np.ndarray, catalogue: pd.DataFrame,
                      pairs: pd.DataFrame, params: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    """Stage 2: the QCC-trained query tower (:mod:`multimodal.query_tower`) against frozen train-listing
    vectors (photo-only and fused views); returns ``(SentenceTransformer, report)``."""
    p = P.QueryTowerParams.model_validate(params)
    cfg = p
    t = load_tower(tower, "cpu")
    qt = build_query_tower(p.base_model, t.text_proj.weight.detach().numpy(), t.text_proj.bias.detach().numpy())
    inference_len = qt.max_seq_length
    train = _rows(catalogue, "train")
    views = product_vectors[[0, 2]][:, train]
    secs = time.perf_counter()
    qt, history = _train_qt(qt, pairs, views, catalogue["fine_class_id"].to_numpy()[train], cfg)
    qt.max_seq_length = inference_len
    secs = time.perf_counter() - secs
    return qt, {"history": history, "train_seconds": secs, "n_pairs": int(len(pairs)),
                "pairs_per_s": len(pairs) * cfg.epochs / secs if secs else 0.0, "config": p.model_dump()}


def evaluate_classification(tower: dict[str, Any], product_vectors: np.ndarray, features: np.ndarray,
                            catalogue: pd.DataFrame, classes: pd.DataFrame, class_text_emb: np.ndarray,
                            listing_text_emb: np.ndarray, params: dict[str, Any], enrichment_params: dict[str, Any]
                            ) -> tuple[dict[str, Any], plt.Figure]:
    """Photo -> class top-1/top-5 on test (fine and coarse) for the tower (photo vs class prototypes: the class
    texts, plus ``prototype_beta`` x the train photos' mean, :func:`multimodal.enrichment.class_prototypes`), a
    linear probe on the same frozen image features, the text-only model where a title exists, and aisle
    (coarse) accuracy of kNN / linear heads on the image and fused vectors; plus the coarse confusion plot."""
    p = P.EvaluationParams.model_validate(params)
    ep = P.EnrichmentParams.model_validate(enrichment_params)
    t = load_tower(tower, "cpu")
    f2c = classes.sort_values("fine_class_id")["coarse_class_id"].to_numpy()
    tr, te = _rows(catalogue, "train"), _rows(catalogue, "test")
    y = catalogue["fine_class_id"].to_numpy()
    yc = catalogue["coarse_class_id"].to_numpy()
    cls_vecs = project_texts(t, class_text_emb)
    img, fused = product_vectors[0], product_vectors[2]
    out: dict[str, Any] = {"chance": {"fine_top1": 1 / len(classes), "coarse_top1": 1 / (int(f2c.max()) + 1)},
                           "n_test": int(len(te))}
    tower_scores = img[te] @ class_prototypes(cls_vecs, img[tr], y[tr], ep.prototype_beta).T
    out["product_tower"] = {**class_accuracy(tower_scores, y[te], f2c), "prototype_beta": ep.prototype_beta}
    probe, cols = linear_probe(features[tr], y[tr], features[te], c=p.probe_c, max_iter=p.probe_max_iter, seed=p.seed)
    full = np.full((len(te), len(classes)), -np.inf)
    full[:, cols] = probe
    out["linear_probe"] = class_accuracy(full, y[te], f2c)
    titled = te[~catalogue["blank_title"].to_numpy(dtype=bool)[te]]
    if len(titled):
        text_scores = listing_text_emb[titled] @ class_text_emb.T
        out["text_only_titled"] = {**class_accuracy(text_scores, y[titled], f2c), "n": int(len(titled))}
    n_coarse = int(f2c.max()) + 1
    aisle = {}
    for name, vecs in (("image", img), ("fused", fused)):
        knn = knn_scores(vecs[tr], yc[tr], vecs[te], n_coarse, k=p.knn_k)
        aisle[f"{name}_knn"] = float((knn.argmax(1) == yc[te]).mean())
        lin, lcols = linear_probe(vecs[tr], yc[tr], vecs[te], c=p.probe_c, max_iter=p.probe_max_iter, seed=p.seed)
        aisle[f"{name}_linear"] = float((lcols[lin.argmax(1)] == yc[te]).mean())
    out["aisle_coarse_accuracy"] = aisle
    pred_coarse = f2c[tower_scores.argmax(1)]
    names = classes.drop_duplicates("coarse_class_id").sort_values("coarse_class_id")["coarse_class_name"].tolist()
    fig = plots.confusion_figure(E.confusion(yc[te], pred_coarse, n_coarse), names,
                                 f"coarse classes, test photos (top-1 {out['product_tower']['coarse_top1']:.3f})")
    return out, fig


def evaluate_retrieval(query_tower: Any, product_vectors: np.ndarray, listing_text_emb: np.ndarray,
                       catalogue: pd.DataFrame, classes: pd.DataFrame, class_text_emb: np.ndarray,
                       photo_posterior: np.ndarray, dev_queries: pd.DataFrame, params: dict[str, Any],
                       text_params: dict[str, Any], enrichment_params: dict[str, Any]
                       ) -> tuple[dict[str, Any], pd.DataFrame, plt.Figure]:
    """Dev-query retrieval over the test listings (:mod:`multimodal.evaluation`): fused vs text-only vs
    image-only on all listings and on the blanked ones, the photos-only vs fully-titled target, and the
    query -> top-5 photo grid. Text-only queries are encoded with the configured text model
    (``multimodal.text.model``), the one the listing and class text embeddings came from."""
    p = P.EvaluationParams.model_validate(params)
    tp = P.TextParams.model_validate(text_params)
    ep = P.EnrichmentParams.model_validate(enrichment_params)
    te = _rows(catalogue, "test")
    test = catalogue.iloc[te].reset_index(drop=True)
    ids = test["product_id"].tolist()
    blank = test["blank_title"].to_numpy(dtype=bool)
    queries, qrels = dev_qrels(dev_queries, classes, test)
    qids, qtexts = queries["query_id"].tolist(), queries["text"].tolist()
    text_model = load_model(tp.model)
    q_text = encode(text_model, qtexts, cache_dir=None, show_progress=False)
    q_tower = encode(query_tower, qtexts, cache_dir=None, show_progress=False)
    img, fused, inferred = product_vectors[0][te], product_vectors[2][te], product_vectors[3][te]
    doc_text = listing_text_emb[te]
    # the same listings fully titled: each listing's class text (title | description)
    full_text = class_text_emb[test["fine_class_id"].to_numpy()]
    # the photo's caption in the text model's own space: sum_c p(c | photo) e(class text c), not renormalised,
    # so a query scores a blank listing by its expected similarity to the listing's unknown class text
    caption = photo_captions(photo_posterior[te], class_text_emb)
    text_or_caption = np.where(blank[:, None], caption, doc_text) if ep.enabled else doc_text
    out: dict[str, Any] = {"n_queries": len(qids), "n_listings": len(ids), "n_blank_listings": int(blank.sum())}
    per_query = []
    for subset, keep in (("all", np.ones(len(ids), bool)), ("blanked", blank)):
        if not keep.any():
            continue
        sub_ids = [i for i, k in zip(ids, keep) if k]
        sub_qrels = E.restrict_qrels(qrels, sub_ids)
        runs = {
            "text_only": E.dense_run(qids, q_text, doc_text[keep], sub_ids, mask=~blank[keep], k=p.k),
            "image_only": E.dense_run(qids, q_tower, img[keep], sub_ids, k=p.k),
            "image_inferred_text": E.dense_run(qids, q_tower, inferred[keep], sub_ids, k=p.k),
            "fused": E.dense_run(qids, q_tower, fused[keep], sub_ids, k=p.k),
            "text_model_title_or_photo_caption": E.dense_run(qids, q_text, text_or_caption[keep], sub_ids, k=p.k),
        }
        m, pq = E.score_systems(runs, sub_qrels, rel_threshold=p.rel_threshold, n_bootstrap=p.n_bootstrap, seed=p.seed)
        out[subset] = m
        per_query.append(pq.assign(subset=subset))
        if subset == "all":
            grid_run = runs["fused"]
    # a photos-only catalogue is served as its blank listings are: photo + photo-inferred text when
    # enrichment is on (product_vectors[2] of a blank listing), the bare photo vector otherwise
    served_blank = inferred if ep.enabled else img
    target_runs = {"photos_only": E.dense_run(qids, q_tower, served_blank, ids, k=p.k),
                   "photos_only_bare_photo_vectors": E.dense_run(qids, q_tower, img, ids, k=p.k),
                   "photos_only_text_model_captions": E.dense_run(qids, q_text, caption, ids, k=p.k),
                   "text_only_fully_titled": E.dense_run(qids, q_text, full_text, ids, k=p.k)}
    tm, tpq = E.score_systems(target_runs, qrels, rel_threshold=p.rel_threshold, n_bootstrap=p.n_bootstrap, seed=p.seed,
                              comparisons=(("photos_only", "text_only_fully_titled"),
                                           ("photos_only_text_model_captions", "text_only_fully_titled"),
                                           ("photos_only", "photos_only_bare_photo_vectors")))
    titled = max(tm["text_only_fully_titled"]["ndcg@10"], 1e-12)
    ratios = {name: tm[name]["ndcg@10"] / titled for name in target_runs if name != "text_only_fully_titled"}
    best = max(ratios, key=ratios.get)
    out["target_photos_only_vs_titled_text"] = {
        **tm, "ndcg@10_ratio": ratios["photos_only"], "ndcg@10_ratio_by_system": ratios, "best_system": best,
        "best_ratio": ratios[best], "target_ratio": 0.70, "met": ratios[best] >= 0.70,
        "photos_only_vectors": "photo + photo-inferred text" if ep.enabled else "photo"}
    per_query.append(tpq.assign(subset="target"))
    qtext = dict(zip(qids, qtexts))
    want = [q for q in qids if qtext[q] in set(p.grid_queries)] or qids[:5]
    judged: dict[str, dict[str, float]] = {}
    for q, pid, g in zip(qrels["query_id"], qrels["product_id"], qrels["gain"]):
        judged.setdefault(q, {})[pid] = float(g)
    captions = {pid: (name + (" (no title)" if b else "")) for pid, name, b in
                zip(test["product_id"], test["fine_class_name"], blank)}
    fig = plots.query_grid(plots.image_rows(grid_run, qtext, judged, captions, want, rel_threshold=p.rel_threshold),
                           p.image_root)
    return out, pd.concat(per_query, ignore_index=True), fig


def compare_text_losses(products: pd.DataFrame, queries: pd.DataFrame, qrels: pd.DataFrame,
                        params: dict[str, Any]) -> dict[str, Any]:
    """QCC vs MNRL on the text catalogue's dev queries (:func:`finetune.losses.compare_qcc_mnrl`)."""
    p = P.TextQCCParams.model_validate(params)
    if not p.enabled:
        return {"enabled": False}
    return {"enabled": True, **compare_qcc_mnrl(p.base_model, products, queries, qrels, p.model_dump())}


def export_listing_index(query_tower: Any, product_vectors: np.ndarray, catalogue: pd.DataFrame,
                         training_report: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    """Test listings + fused vectors for the faiss index dataset (the text index's format,
    :func:`search.index.export_index`); the query tower is the index's model."""
    p = P.ExportParams.model_validate(params)
    te = _rows(catalogue, "test")
    test = catalogue.iloc[te].reset_index(drop=True)
    return {"products": test[["product_id", "title", "category_path", "image_path", "locale", "fine_class_name",
                              "blank_title"]],
            "embeddings": product_vectors[2][te], "factory": p.factory, "save_embeddings": p.save_embeddings,
            "text_fields": ("title",), "extra_columns": ("image_path", "fine_class_name", "blank_title"),
            "show_progress": False,
            "metadata": {"pipeline": "multimodal", "query_model": "manifest", "vectors": "fused image+title (photo alone when blank)",
                         "product_tower_best_epoch": training_report.get("best_epoch")}}


def export_caption_index(catalogue: pd.DataFrame, listing_text_emb: np.ndarray, class_text_emb: np.ndarray,
                         photo_posterior: np.ndarray, params: dict[str, Any]) -> dict[str, Any]:
    """Test listings in the **text model's** space, for the index dataset served by the plain text model
    (``mm_caption_index``): a titled listing is its title + description embedding, a blank one the caption its
    photo implies, ``sum_c p(c | photo) e_c`` (:func:`multimodal.enrichment.photo_captions`, norms <= 1:
    a query scores it by its expected similarity to the listing's class text). The manifest pins the text
    model (``metadata.query_model: manifest``), as the listing index pins its query tower."""
    p = P.ExportParams.model_validate(params)
    te = _rows(catalogue, "test")
    test = catalogue.iloc[te].reset_index(drop=True)
    blank = test["blank_title"].to_numpy(dtype=bool)
    caption = photo_captions(photo_posterior[te], class_text_emb)
    vecs = np.where(blank[:, None], caption, listing_text_emb[te]).astype(np.float32)
    return {"products": test[["product_id", "title", "category_path", "image_path", "locale", "fine_class_name",
                              "blank_title"]],
            "embeddings": vecs, "factory": p.factory, "save_embeddings": p.save_embeddings, "unit_norm": False,
            "text_fields": ("title", "description"), "extra_columns": ("image_path", "fine_class_name", "blank_title"),
            "show_progress": False, "default_mode": "dense",
            # pinned: these vectors are in the packaged text model's space, which a fine-tuned production model
            # (data/06_models/production after a finetune run) cannot read
            "metadata": {"pipeline": "multimodal", "query_model": "manifest",
                         "vectors": "title text; photo caption (expected class text) when blank"}}


def report(classification: dict[str, Any], retrieval: dict[str, Any], text_losses: dict[str, Any],
           training_report: dict[str, Any], query_report: dict[str, Any], decode_report: dict[str, Any],
           query_stats: dict[str, Any], enrichment_report: dict[str, Any]) -> tuple[dict[str, Any], plt.Figure]:
    """``data/08_reporting/multimodal/metrics.json`` (every headline figure) and the training-curves plot."""
    import os

    metrics = {
        "photo_to_class_test": classification,
        "retrieval_dev_queries": retrieval,
        "qcc_vs_mnrl_text_dev": text_losses,
        "product_tower": {k: v for k, v in training_report.items() if k != "history"},
        "query_tower": {k: v for k, v in query_report.items() if k != "history"},
        "photo_inferred_text": enrichment_report,
        "training_queries": query_stats,
        "photos": {k: v for k, v in decode_report.items() if k != "skipped_files"},
        "machine": {"cpu_count": os.cpu_count(), "load_average": os.getloadavg(), "device": default_device()},
    }
    return metrics, plots.training_curves(training_report["history"], query_report["history"])
