"""Kedro project settings."""

import os

from kedro.config import OmegaConfigLoader  # noqa: F401  (documented default)

import discovery_pipelines  # noqa: F401  (sets the offline / telemetry environment first)


def _env(key: str, default: str | None = None) -> str | None:
    """``${env:KEY, default}`` resolver: read an environment variable in any config file."""
    return os.environ.get(key, default)


CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    "custom_resolvers": {"env": _env},
    # conf/ci and conf/local override single keys of a block instead of replacing the whole block
    "merge_strategy": {"parameters": "soft", "catalog": "soft"},
}

from discovery_pipelines.hooks import hooks as _project_hooks  # noqa: E402

HOOKS = tuple(_project_hooks)
"""Project hooks: :class:`~discovery_pipelines.hooks.CredentialsHooks` (credentials of the run's ``--env``)."""
