"""LLM-generated personalised carousels with an LLM jury, masked exact KNN and block re-ranking, plus
query rewriting and hierarchical RAG (seed 004, GenAI homepage carousels; the LLM half of seed 002).

Plain modules, usable without Kedro: :mod:`profiles` (stage 1), :mod:`generation` (stage 2),
:mod:`jury` (stage 3), :mod:`knn` and :mod:`retrieval` (stage 4), :mod:`rerank` (stage 5),
:mod:`rewrite` (stage 6), :mod:`evaluation`, :mod:`report`; shapes in :mod:`schema`, parameters in
:mod:`params`, word lists in :mod:`lexicons`, hand-labelled sets in ``labels/``. The pipeline is
``kedro run --pipeline=carousels`` (``pipelines/carousels``); see ``docs/carousels.md``.
"""
