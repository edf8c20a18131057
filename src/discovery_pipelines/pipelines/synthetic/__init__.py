"""Kedro pipeline ``synthetic``: budgeted, quality-controlled synthetic training pairs."""
