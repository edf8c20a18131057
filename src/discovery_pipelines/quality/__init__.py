"""Comparison of served search modes (BM25, dense, hybrid fusions, cross-encoder re-ranking): see ``compare``."""
