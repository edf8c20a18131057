"""Search-log mining: a click-log simulator and Wilson-bound mining of training pairs from events.

Plain modules, usable without Kedro:

* :mod:`~discovery_pipelines.log_mining.click_model` -- position-based click model (Craswell et al.
  2008; Chuklin, Markov & de Rijke 2015) that turns a ranker's result lists and graded qrels into
  seeded, chunked, date-partitioned Parquet events in the ``events`` contract.
* :mod:`~discovery_pipelines.log_mining.mining` -- one SQL logic run by DuckDB (embedded,
  out-of-core, partition by partition) or Apache Spark: bad-row accounting, per (query, product)
  impressions / clicks / carts / purchases, CTR and its Wilson (1927) lower bound, mined positives
  and log negatives.
* :mod:`~discovery_pipelines.log_mining.quality` -- precision / recall of mined positives against
  qrels, the precision-recall curve over thresholds, plot and Markdown report.
"""

from discovery_pipelines.log_mining.click_model import (
    ClickModel,
    attractiveness,
    examination,
    ranked_lists,
    simulate_events,
)
from discovery_pipelines.log_mining.mining import (
    DROP_REASONS,
    MiningParams,
    MiningResult,
    mine_events,
)

__all__ = [
    "ClickModel", "attractiveness", "examination", "ranked_lists", "simulate_events",
    "DROP_REASONS", "MiningParams", "MiningResult", "mine_events",
]
