"""Project hooks registered in ``settings.HOOKS``.

:class:`CredentialsHooks` hands the run's credentials, as Kedro's config loader merged them for the
run's environment (``conf/base`` + ``conf/<env>``, ``--env`` / ``KEDRO_ENV``, default ``local``,
``${oc.env:VAR}`` resolved), to code that needs them outside the catalog (the LLM client, the
search service's admin token) through :func:`session_credentials`. :class:`ParametersHooks` validates every
pipeline's parameters against its pydantic schema (:mod:`discovery_pipelines.data.params`) as soon as the
context exists, so a misspelt key stops the run before any node, naming the key.
"""

from __future__ import annotations

import logging
from typing import Any

from kedro.framework.hooks import hook_impl

log = logging.getLogger(__name__)

_CREDENTIALS: dict[str, Any] | None = None


def session_credentials() -> dict[str, Any] | None:
    """The credentials of the current Kedro session (``None`` outside ``kedro run``)."""
    return _CREDENTIALS


class CredentialsHooks:
    """Capture ``context.config_loader["credentials"]`` when the Kedro context is created."""

    @hook_impl
    def after_context_created(self, context: Any) -> None:
        global _CREDENTIALS
        from kedro.config import MissingConfigException

        try:
            creds = context.config_loader["credentials"]
        except MissingConfigException:
            creds = {}
        _CREDENTIALS = dict(creds or {})
        log.debug("credentials for env %r: entries %s", context.env, sorted(_CREDENTIALS))


class ParametersHooks:
    """Validate ``context.params`` with :func:`discovery_pipelines.data.params.validate_all`."""

    @hook_impl
    def after_context_created(self, context: Any) -> None:
        from discovery_pipelines.data.params import validate_all

        validate_all(context.params)


hooks: list = [CredentialsHooks(), ParametersHooks()]
