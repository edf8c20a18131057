"""Content-hash stage cache: ``CachingRunner`` skips Kedro nodes whose inputs, parameters and code
are unchanged (docs/caching.md).

Modules: :mod:`.runner` (``CachingRunner``), :mod:`.store` (SQLite state), :mod:`.fingerprint`
(code / parameter / content fingerprints), :mod:`.datasets` (catalog entry -> local path and
configuration) and :mod:`.kedro_api` (every private Kedro API the cache uses, in one place).
"""

from discovery_pipelines.stage_cache.datasets import dataset_config, dataset_local_path
from discovery_pipelines.stage_cache.fingerprint import (
    CodeFingerprinter,
    canonical_json,
    normalized_python_source,
    parameter_part,
    sha256_text,
)
from discovery_pipelines.stage_cache.runner import DEFAULT_CACHE_DIR, CachingRunner, NodeDecision, RunInterrupted
from discovery_pipelines.stage_cache.store import StateStore

__all__ = [
    "DEFAULT_CACHE_DIR",
    "CachingRunner",
    "CodeFingerprinter",
    "NodeDecision",
    "RunInterrupted",
    "StateStore",
    "canonical_json",
    "dataset_config",
    "dataset_local_path",
    "normalized_python_source",
    "parameter_part",
    "sha256_text",
]
