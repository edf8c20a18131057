"""One logic, two engines: Spark SQL and DuckDB give identical mined pairs and drop counts."""

from __future__ import annotations

import pandas as pd
import pytest

from discovery_pipelines.log_mining import MiningParams, mine_events
from discovery_pipelines.log_mining.mining import mine_spark, spark_session


@pytest.mark.spark
def test_duckdb_and_spark_agree_on_the_same_dirty_log(dirty_events, hd_small):
    path, _ = dirty_events
    params = MiningParams(min_impressions=5)
    pids = hd_small.products["product_id"]
    duck = mine_events(path, pids, params, engine="duckdb", duckdb_options={"threads": 1}, on_unknown_ids="drop")
    conf = {"spark.sql.shuffle.partitions": "2", "spark.default.parallelism": "1",
            "spark.sql.adaptive.enabled": "false", "spark.sql.codegen.wholeStage": "false"}
    with spark_session("local[1]", conf) as spark:
        spark_res = mine_spark(path, pids, params, spark=spark)
    assert spark_res.report["dropped"] == duck.report["dropped"]
    assert spark_res.report["input_rows"] == duck.report["input_rows"]
    pd.testing.assert_frame_equal(spark_res.pairs, duck.pairs, check_exact=False, rtol=0, atol=1e-12)
    assert duck.report["positives"] > 0
