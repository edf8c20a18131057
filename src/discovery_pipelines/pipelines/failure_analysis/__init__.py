"""Kedro pipeline ``failure_analysis``: failure groups of the evaluated retriever on dev."""
