"""Synthetic (query, product) training pairs aimed at the failure groups found on dev.

Plain modules, usable without Kedro: :mod:`budget` (split a pair budget), :mod:`planning` (seed
products per group), :mod:`rules` (offline generator), :mod:`generators` (one interface, OpenAI-
compatible LLM backend), :mod:`llm` (retrying, caching, accounting chat client), :mod:`prompts`
(versioned templates per language and group), :mod:`qc` (filters and relevance jury), :mod:`report`.
"""

from discovery_pipelines.synthetic.budget import allocate_budget, print_budget
from discovery_pipelines.synthetic.generators import Generator, OpenAIGenerator, make_generator
from discovery_pipelines.synthetic.llm import ChatClient, LLMSettings, resolve_llm_settings
from discovery_pipelines.synthetic.qc import LLMJury, RulesJury, quality_control
from discovery_pipelines.synthetic.rules import RulesGenerator
from discovery_pipelines.synthetic.schema import PAIR_COLUMNS, GenerationRequest

__all__ = ["allocate_budget", "print_budget", "Generator", "OpenAIGenerator", "make_generator", "ChatClient",
           "LLMSettings", "resolve_llm_settings", "LLMJury", "RulesJury", "quality_control", "RulesGenerator",
           "PAIR_COLUMNS", "GenerationRequest"]
