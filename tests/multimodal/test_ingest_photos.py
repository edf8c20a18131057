"""GroceryStore adapter and photo decoding on the real dataset (small slices) and broken copies of it."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from discovery_pipelines.data.contract import ContractError
from discovery_pipelines.data.ingest import load_grocery_store
from discovery_pipelines.data.ingest.grocery_store import listings_from_tables
from discovery_pipelines.multimodal.images import ImageError, decode_images
from discovery_pipelines.pipelines.multimodal.nodes import decode_photos


def test_listings_follow_the_contract(grocery_root: Path) -> None:
    items = pd.read_parquet(grocery_root / "items.parquet")
    g = load_grocery_store(grocery_root, blank_title_share=0.5, seed=3)
    lst = g.listings
    assert len(lst) == len(items) == 5421
    # product_id is the photo's path relative to the dataset folder, exactly as in items.parquet
    assert lst["product_id"].tolist() == items["image_path"].tolist()
    assert (lst["image_path"] == lst["product_id"]).all()
    assert int(lst["blank_title"].sum()) == round(0.5 * len(lst))
    blank = lst[lst["blank_title"]]
    assert (blank["title"] == "").all() and blank["description"].isna().all()
    titled = lst[~lst["blank_title"]]
    row = titled[titled["fine_class_name"] == "Granny-Smith"].iloc[0]
    assert row["title"] == "Granny Smith Apple" and row["category_path"] == "Apple > Granny Smith"
    assert row["description"].startswith("Granny Smith")
    # seeded: same seed, same blanks; another seed, other blanks
    again = load_grocery_store(grocery_root, blank_title_share=0.5, seed=3).listings
    other = load_grocery_store(grocery_root, blank_title_share=0.5, seed=4).listings
    assert (again["blank_title"] == lst["blank_title"]).all()
    assert (other["blank_title"] != lst["blank_title"]).any()


def test_photos_only_catalogue(grocery_root: Path) -> None:
    lst = load_grocery_store(grocery_root, blank_title_share=1.0).listings
    assert lst["blank_title"].all() and (lst["title"] == "").all()
    assert lst["category_path"].str.contains(" > ").all()


def test_bad_tables_name_file_and_row(grocery_root: Path) -> None:
    items = pd.read_parquet(grocery_root / "items.parquet").head(50)
    classes = pd.read_parquet(grocery_root / "classes.parquet")
    bad = items.copy()
    bad.loc[7, "fine_class_id"] = 99
    with pytest.raises(ContractError, match=r"items.parquet: row 7 column=fine_class_id: unknown class id .99. \(image "):
        listings_from_tables(bad, classes, grocery_root, items_source="items.parquet")
    cls = classes.copy()
    cls.loc[5, "description"] = "  "
    with pytest.raises(ContractError, match=r"classes.parquet: row 5 column=description: empty description.*Avocado"):
        listings_from_tables(items, cls, grocery_root, classes_source="classes.parquet")
    with pytest.raises(ValueError, match="blank_title_share"):
        listings_from_tables(items, classes, grocery_root, blank_title_share=1.5)


def test_missing_photo_raises_or_is_counted(grocery_root: Path) -> None:
    items = pd.read_parquet(grocery_root / "items.parquet").head(20).copy()
    classes = pd.read_parquet(grocery_root / "classes.parquet")
    items.loc[3, "image_path"] = "images/train/Fruit/Apple/Golden-Delicious/missing.jpg"
    with pytest.raises(FileNotFoundError, match=r"row 3: image file .*missing\.jpg does not exist"):
        listings_from_tables(items, classes, grocery_root)
    g = listings_from_tables(items, classes, grocery_root, on_missing_image="skip")
    assert len(g.listings) == 19 and g.listings.attrs["skipped"] == 1


def test_corrupt_and_truncated_photos(grocery_root: Path, tmp_path: Path) -> None:
    items = pd.read_parquet(grocery_root / "items.parquet").head(4)
    rel = items["image_path"].tolist()
    for r in rel:
        (tmp_path / r).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(grocery_root / r, tmp_path / r)
    data = (tmp_path / rel[1]).read_bytes()
    (tmp_path / rel[1]).write_bytes(data[: len(data) // 3])          # truncated JPEG
    (tmp_path / rel[2]).write_bytes(b"this is not a jpeg at all")   # corrupt
    with pytest.raises(ImageError, match=r"image .*" + Path(rel[1]).name + r": corrupt or truncated"):
        decode_images(tmp_path, rel, 32, show_progress=False)
    pixels, skipped = decode_images(tmp_path, rel, 32, on_error="skip", show_progress=False)
    assert pixels.shape == (2, 3, 32, 32) and pixels.dtype == np.uint8
    assert skipped["image_path"].tolist() == [rel[1], rel[2]]
    assert "not a readable image" in skipped["reason"].iloc[1]
    # the node drops exactly the skipped listings and reports them
    g = listings_from_tables(items, pd.read_parquet(grocery_root / "classes.parquet"), tmp_path)
    px, cat, report = decode_photos(g.listings, tmp_path, {"decode_px": 32, "on_error": "skip"})
    assert cat["product_id"].tolist() == [rel[0], rel[3]] and len(px) == 2
    assert report["skipped"] == 2 and report["decoded"] == 2
    # a real photo decodes to the same pixels wherever it lies
    real, _ = decode_images(grocery_root, [rel[0]], 32, show_progress=False)
    assert np.array_equal(real[0], px[0])
