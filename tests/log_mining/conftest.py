"""Fixtures of the log-mining tests: BM25 lists and simulated events over the real ``hd_small`` slice."""

from __future__ import annotations

from pathlib import Path

import pytest

from discovery_pipelines.log_mining import ClickModel, ranked_lists, simulate_events

#: one bad row of each kind per ~250 clean events
CORRUPTION = {"unknown_product": 0.004, "null_query": 0.002, "empty_query": 0.002, "negative_position": 0.004,
              "duplicate": 0.004, "out_of_order": 0.004}


@pytest.fixture(scope="session")
def hd_lists(hd_small):
    return ranked_lists(hd_small.products, hd_small.queries, hd_small.qrels, k=10)


@pytest.fixture(scope="session")
def clean_events(hd_lists, tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("events") / "clean"
    return out, simulate_events(hd_lists, out, n_events=30_000, seed=7, n_days=3, chunk_events=8_000,
                                model=ClickModel(), progress=False)


@pytest.fixture(scope="session")
def dirty_events(hd_lists, tmp_path_factory) -> tuple[Path, dict]:
    """Same seed as ``clean_events`` + added bad rows (the clean rows are identical)."""
    out = tmp_path_factory.mktemp("events") / "dirty"
    return out, simulate_events(hd_lists, out, n_events=30_000, seed=7, n_days=3, chunk_events=8_000,
                                model=ClickModel(), corruption=CORRUPTION, progress=False)
