"""Adapters from public product-search datasets to the data contract (:mod:`discovery_pipelines.data.contract`).

Each ``load_*`` function takes a folder (configuration, never baked in) and returns validated contract
tables as a :class:`Dataset`; the order-history adapters (``completejourney``, ``instacart_histories``)
return :class:`discovery_pipelines.data.histories.Histories`. All are usable without Kedro.
"""

from discovery_pipelines.data.ingest.base import Dataset, query_id_for
from discovery_pipelines.data.ingest.completejourney import completejourney_histories, load_completejourney
from discovery_pipelines.data.ingest.esci import ESCI_GAIN_MAPS, load_esci, load_esci_judgments
from discovery_pipelines.data.ingest.generic import load_beir, load_tables
from discovery_pipelines.data.ingest.grocery_store import GroceryStore, load_grocery_store
from discovery_pipelines.data.ingest.home_depot import load_home_depot
from discovery_pipelines.data.ingest.instacart import load_instacart
from discovery_pipelines.data.ingest.instacart_histories import instacart_histories, load_instacart_histories
from discovery_pipelines.data.ingest.wands import WANDS_GAINS, load_wands

__all__ = [
    "Dataset", "query_id_for", "load_home_depot", "load_wands", "WANDS_GAINS", "load_esci",
    "load_esci_judgments", "ESCI_GAIN_MAPS", "load_instacart", "load_tables", "load_beir",
    "load_completejourney", "completejourney_histories", "load_instacart_histories", "instacart_histories",
    "GroceryStore", "load_grocery_store",
]
