"""Kedro pipeline ``synthetic``: budgeted, quality-controlled synthetic training pairs."""

from discovery_pipelines.pipelines.synthetic.pipeline import create_pipeline

__all__ = ["create_pipeline"]
