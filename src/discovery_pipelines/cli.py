"""Project CLI: overrides ``kedro run`` so that the content-hash ``CachingRunner`` is the default.

Kedro loads ``<package>.cli:cli`` and lets its commands override the built-in ones. The ``run``
command here is Kedro 1.7's own ``run`` (same options, same callback, so every standard flag keeps
working) with two changes:

* ``--runner`` defaults to ``discovery_pipelines.stage_cache.CachingRunner`` (skip nodes whose
  inputs, parameters and code are unchanged; see ``discovery_pipelines.stage_cache``);
* ``--no-cache`` runs every node (the state is still refreshed, so the next run can skip).

``kedro run --runner=SequentialRunner`` gives plain Kedro behaviour.
"""

from __future__ import annotations

import copy
from typing import Any

import click
from kedro.framework.cli.project import run as _kedro_run
from kedro.utils import load_obj

from discovery_pipelines.stage_cache import CachingRunner

DEFAULT_RUNNER = "discovery_pipelines.stage_cache.CachingRunner"
"""Runner used by ``kedro run`` when ``--runner`` is not given."""

_RUNNER_HELP = f"""Runner to run the pipeline with. Default: {DEFAULT_RUNNER}
(skips nodes whose input content, parameters and code are unchanged; see --no-cache).
Others: 'SequentialRunner', 'ParallelRunner' and 'ThreadRunner'."""

_NO_CACHE_HELP = """Run every node even when its inputs, parameters and code are unchanged
(the stage-cache state is refreshed). Only meaningful with the caching runner."""


@click.group(name="discovery_pipelines")
def cli() -> None:
    """Project-specific commands (override Kedro's built-ins of the same name)."""


def _run(no_cache: bool, runner: str | None, runner_params: dict[str, Any], **kwargs: Any) -> Any:
    runner = runner or DEFAULT_RUNNER
    runner_params = dict(runner_params or {})
    if no_cache:
        runner_cls = load_obj(runner, "kedro.runner")
        if isinstance(runner_cls, type) and issubclass(runner_cls, CachingRunner):
            runner_params["enabled"] = False
        else:
            click.secho(f"--no-cache has no effect with runner {runner}", fg="yellow", err=True)
    return _kedro_run.callback(runner=runner, runner_params=runner_params, **kwargs)


def _params() -> list[click.Parameter]:
    params = [copy.copy(p) for p in _kedro_run.params]
    for p in params:
        if p.name == "runner" and isinstance(p, click.Option):
            p.help = _RUNNER_HELP
    params.append(click.Option(["--no-cache"], is_flag=True, default=False, help=_NO_CACHE_HELP))
    return params


run = click.Command(
    name="run",
    callback=_run,
    params=_params(),
    help=(_kedro_run.help or "Run the pipeline.")
    + "\n\nNodes whose inputs, parameters and code are unchanged since their last successful run"
    " are skipped (content hashes; state in data/.stage_cache/). Use --no-cache to run everything.",
    short_help="Run the pipeline (skips up-to-date nodes).",
)
cli.add_command(run)


def __getattr__(name: str) -> object:
    """Lazy ``app``: ``pyproject.toml``'s ``discovery = "discovery_pipelines.cli:app"`` script names
    this module, while the search CLI lives in ``discovery_pipelines.serve.cli`` (imported only
    when asked for, so ``kedro`` commands do not pay for it)."""
    if name == "app":
        from discovery_pipelines.serve.cli import app

        return app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
