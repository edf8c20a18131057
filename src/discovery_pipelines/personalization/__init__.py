"""Personalised next-basket recommendations from order histories (issue #17), usable without Kedro.

Modules: :mod:`.split` (leave-last-basket split, stages), :mod:`.baselines` (popularity, own frequency,
co-occurrence, TIFU-KNN, implicit ALS), :mod:`.two_tower` (torch towers, log-Q in-batch softmax, faiss
recall), :mod:`.semantic_ids` (residual quantisation, collision suffix, prefix vectors for cold items),
:mod:`.features` (DuckDB / Spark SQL aggregates), :mod:`.ranker` (LightGBM LambdaRank + explore head),
:mod:`.blend` (familiarity / affordability / novelty slate), :mod:`.evaluation` (metrics, bootstrap CIs),
:mod:`.report`, :mod:`.recommender` (serving bundle), :mod:`.params` (pydantic parameters).
Input: the histories contract (:mod:`discovery_pipelines.data.histories`).
"""
