"""Content-hash stage cache: ``CachingRunner`` skips Kedro nodes whose inputs, parameters and code
are unchanged (see ``runner`` and docs/caching.md)."""

from discovery_pipelines.stage_cache.runner import (
    DEFAULT_CACHE_DIR,
    CachingRunner,
    CodeFingerprinter,
    NodeDecision,
    StateStore,
    canonical_json,
    dataset_config,
    dataset_local_path,
    normalized_python_source,
    sha256_text,
)

__all__ = [
    "DEFAULT_CACHE_DIR",
    "CachingRunner",
    "CodeFingerprinter",
    "NodeDecision",
    "StateStore",
    "canonical_json",
    "dataset_config",
    "dataset_local_path",
    "normalized_python_source",
    "sha256_text",
]
