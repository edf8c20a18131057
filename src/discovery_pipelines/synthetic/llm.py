"""A fault-tolerant client for any OpenAI-compatible chat-completions endpoint.

* Settings (base URL, model, key) come from Kedro credentials (``credentials.yml``, key given by
  ``params.llm.credentials_key``, default ``synthetic_llm``) or the environment (``OPENAI_BASE_URL``,
  ``OPENAI_API_KEY``, ``DISCOVERY_LLM_MODEL``; environment wins). The key is a ``SecretStr``: it is
  never printed, logged, cached or written to a report.
* Structured output: the request carries the pydantic model's JSON schema (``response_format``
  ``json_schema`` as in OpenAI's Structured Outputs, or llama.cpp's ``json_object`` + ``schema``);
  every answer is parsed and validated with pydantic anyway, because not every server enforces it.
* Bounded concurrency: a thread pool of ``max_concurrency`` workers.
* Retries with exponential backoff and full jitter (Brooker, AWS Architecture Blog 2015,
  "Exponential Backoff And Jitter") on 429, 5xx, timeouts and connection errors; ``Retry-After``
  is honoured when larger. Invalid answers (malformed JSON, schema violations, wrong product id)
  are re-asked ``invalid_retries`` times and then dropped; everything is counted in :attr:`stats`.
* 401/403/404 are configuration errors: the run stops with :class:`LLMConfigError` (no key shown).
* On-disk cache keyed by the SHA-256 of (model, messages, response format, temperature, max
  tokens): only validated answers are stored (atomically), so a re-run makes no calls.
"""

from __future__ import annotations

import json
import os
import random
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, SecretStr, ValidationError

from discovery_pipelines.data.io import sha256_text, write_json

ENV_BASE_URL, ENV_API_KEY, ENV_MODEL = "OPENAI_BASE_URL", "OPENAI_API_KEY", "DISCOVERY_LLM_MODEL"


class LLMConfigError(RuntimeError):
    """The endpoint refused us for a reason retries cannot fix (auth, unknown model, bad URL)."""


@dataclass
class LLMSettings:
    """Connection and behaviour settings; build with :func:`resolve_llm_settings`.

    Prices are in currency units per 1,000 tokens (0 for a local model).
    """

    model: str
    base_url: str | None = None
    api_key: SecretStr = field(default_factory=lambda: SecretStr("not-needed"), repr=False)
    timeout_s: float = 30.0
    max_concurrency: int = 4
    max_retries: int = 4
    invalid_retries: int = 1
    backoff_base_s: float = 0.5
    backoff_max_s: float = 20.0
    temperature: float = 0.7
    max_tokens: int = 256
    response_format: str = "json_schema"  # json_schema | json_object | none
    strict_schema: bool = False
    price_prompt_per_1k: float = 0.0
    price_completion_per_1k: float = 0.0
    cache_dir: str | None = "data/02_intermediate/llm_cache"

    def public(self) -> dict[str, Any]:
        """Settings safe to report (no key; URL reduced to scheme://host:port)."""
        url = None
        if self.base_url:  # drop user:password@ and the path
            url = "/".join(re.sub(r"^(\w+://)[^@/]*@", r"\1", self.base_url).split("/")[:3])
        return {"model": self.model, "endpoint": url, "max_concurrency": self.max_concurrency,
                "max_retries": self.max_retries, "temperature": self.temperature,
                "response_format": self.response_format}


def load_credentials(key: str, conf_source: str | os.PathLike[str] | None = None,
                     env: str | None = None) -> dict[str, Any]:
    """The ``key`` entry of Kedro's merged ``credentials`` config, or ``{}`` when there is none.

    Under ``kedro run`` (``conf_source`` and ``env`` not given) this is the run's own credentials,
    captured by :class:`discovery_pipelines.hooks.CredentialsHooks` from the session's config loader,
    so ``conf/local/credentials.yml`` and ``--env <name>`` work as in any Kedro project. Outside a
    session a config loader is built with the project's settings (resolvers) for ``conf_source``
    (default ``conf``) and ``env`` (default ``$KEDRO_ENV``, else ``local``).
    """
    if conf_source is None and env is None:
        from discovery_pipelines.hooks import session_credentials

        creds = session_credentials()
        if creds is not None:
            return dict(creds.get(key) or {})
    conf_source = "conf" if conf_source is None else conf_source
    if not Path(conf_source).is_dir():
        return {}
    from kedro.config import MissingConfigException, OmegaConfigLoader

    from discovery_pipelines.settings import CONFIG_LOADER_ARGS

    run_env = env or os.environ.get("KEDRO_ENV") or CONFIG_LOADER_ARGS.get("default_run_env", "local")
    try:
        creds = OmegaConfigLoader(conf_source=str(conf_source), env=run_env, **CONFIG_LOADER_ARGS)["credentials"]
    except MissingConfigException:
        return {}
    return dict((creds or {}).get(key) or {})


def resolve_llm_settings(params: Mapping[str, Any] | None, credentials: Mapping[str, Any] | None = None,
                         environ: Mapping[str, str] | None = None) -> LLMSettings | None:
    """Settings from ``params`` (behaviour), ``credentials`` and the environment (connection).

    Returns ``None`` when no model is configured anywhere (the caller then uses offline rules).
    Connection values: env var > credentials entry (keys ``base_url``, ``api_key``, ``model``) >
    ``params['model']``.
    """
    params = dict(params or {})
    creds = dict(credentials or {})
    environ = os.environ if environ is None else environ
    model = environ.get(ENV_MODEL) or creds.get("model") or params.get("model")
    if not model:
        return None
    base_url = environ.get(ENV_BASE_URL) or creds.get("base_url") or params.get("base_url")
    key = environ.get(ENV_API_KEY) or creds.get("api_key") or "not-needed"
    known = {f for f in LLMSettings.__dataclass_fields__ if f not in {"model", "base_url", "api_key"}}
    extra = {k: v for k, v in params.items() if k in known}
    return LLMSettings(model=str(model), base_url=base_url, api_key=SecretStr(str(key)), **extra)


@dataclass
class CallResult:
    """Outcome of one logical request: ``status`` in ok | cached | invalid | failed."""

    parsed: BaseModel | None
    status: str
    error: str | None = None
    attempts: int = 0


_FENCE = re.compile(r"^\s*```(?:json)?\s*|\s*```\s*$", re.IGNORECASE)


def parse_json_answer(text: str | None) -> Any:
    """``json.loads`` of a chat answer, tolerating a surrounding Markdown code fence.

    Raises:
        ValueError: empty or not JSON.
    """
    if not text or not text.strip():
        raise ValueError("empty answer")
    return json.loads(_FENCE.sub("", text.strip()))


class ChatClient:
    """Thread-safe chat client with retries, validation, cache and accounting (see module doc).

    Args:
        settings: :class:`LLMSettings`.
        sleep: injectable sleep (tests pass a fast one); default ``time.sleep``.
    """

    def __init__(self, settings: LLMSettings, sleep: Callable[[float], None] = time.sleep) -> None:
        from openai import OpenAI

        self.settings = settings
        self._client = OpenAI(base_url=settings.base_url, api_key=settings.api_key.get_secret_value(),
                              max_retries=0, timeout=settings.timeout_s)
        self._sleep = sleep
        self._lock = threading.Lock()
        self._rng = random.Random(0)
        self.stats: Counter = Counter()

    # ------------------------------------------------------------------ helpers
    def _count(self, **kv: float) -> None:
        with self._lock:
            for k, v in kv.items():
                self.stats[k] += v

    def _response_format(self, schema: type[BaseModel]) -> dict[str, Any] | None:
        js = schema.model_json_schema()
        rf = self.settings.response_format
        if rf == "json_schema":
            return {"type": "json_schema",
                    "json_schema": {"name": schema.__name__, "schema": js, "strict": self.settings.strict_schema}}
        if rf == "json_object":
            return {"type": "json_object", "schema": js}
        return None

    def cache_key(self, messages: Sequence[Mapping[str, str]], schema: type[BaseModel]) -> str:
        """SHA-256 hex of everything that determines the answer (never the key or URL)."""
        blob = json.dumps({"model": self.settings.model, "messages": list(messages),
                           "format": self._response_format(schema), "temperature": self.settings.temperature,
                           "max_tokens": self.settings.max_tokens}, sort_keys=True, ensure_ascii=False)
        return sha256_text(blob)

    def _cache_path(self, key: str) -> Path | None:
        if not self.settings.cache_dir:
            return None
        return Path(self.settings.cache_dir) / key[:2] / f"{key}.json"

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        with self._lock:
            u = self._rng.random()
        d = u * min(self.settings.backoff_max_s, self.settings.backoff_base_s * 2 ** attempt)
        if retry_after is not None:
            d = max(d, min(retry_after, self.settings.backoff_max_s))
        return d

    # ------------------------------------------------------------------ one request
    def complete(self, messages: Sequence[Mapping[str, str]], schema: type[BaseModel],
                 check: Callable[[BaseModel], None] | None = None) -> CallResult:
        """Ask once (with retries) and return a validated ``schema`` instance or a failure status.

        ``check(parsed)`` may raise ``ValueError`` to reject a schema-valid answer (e.g. wrong id).

        Raises:
            LLMConfigError: 401 / 403 / 404 from the endpoint.
        """
        import openai

        key = self.cache_key(messages, schema)
        path = self._cache_path(key)
        if path is not None and path.exists():
            try:
                cached = json.loads(path.read_text(encoding="utf-8"))
                parsed = schema.model_validate(parse_json_answer(cached["content"]))
                if check:
                    check(parsed)
                self._count(cache_hits=1)
                return CallResult(parsed, "cached")
            except (ValueError, KeyError, ValidationError):
                self._count(cache_corrupt=1)
        transient = 0
        invalid = 0
        attempts = 0
        last_err = None
        while True:
            attempts += 1
            self._count(calls=1)
            try:
                kwargs: dict[str, Any] = {"model": self.settings.model, "messages": list(messages),
                                          "temperature": self.settings.temperature,
                                          "max_tokens": self.settings.max_tokens}
                rf = self._response_format(schema)
                if rf is not None:
                    kwargs["response_format"] = rf
                resp = self._client.chat.completions.create(**kwargs)
            except (openai.AuthenticationError, openai.PermissionDeniedError, openai.NotFoundError) as e:
                raise LLMConfigError(f"LLM endpoint refused the request ({type(e).__name__}, HTTP "
                                     f"{getattr(e, 'status_code', '?')}): check model / base_url / key "
                                     f"(model={self.settings.model!r})") from None
            except (openai.RateLimitError, openai.InternalServerError, openai.APITimeoutError,
                    openai.APIConnectionError) as e:
                kind = {openai.RateLimitError: "retry_429", openai.InternalServerError: "retry_5xx",
                        openai.APITimeoutError: "retry_timeout"}.get(type(e), "retry_connection")
                if isinstance(e, openai.APIStatusError) and e.status_code >= 500:
                    kind = "retry_5xx"
                last_err = f"{type(e).__name__}"
                if transient >= self.settings.max_retries:
                    self._count(failed=1)
                    return CallResult(None, "failed", last_err, attempts)
                retry_after = None
                resp_obj = getattr(e, "response", None)
                if resp_obj is not None:
                    try:
                        retry_after = float(resp_obj.headers.get("retry-after"))
                    except (TypeError, ValueError):
                        retry_after = None
                self._count(**{kind: 1})
                self._sleep(self._backoff(transient, retry_after))
                transient += 1
                continue
            except openai.APIStatusError as e:  # other 4xx: this request is bad, drop it
                self._count(failed=1, http_4xx=1)
                return CallResult(None, "failed", f"HTTP {e.status_code}", attempts)
            usage = getattr(resp, "usage", None)
            if usage is not None:
                self._count(prompt_tokens=int(usage.prompt_tokens or 0),
                            completion_tokens=int(usage.completion_tokens or 0))
            content = resp.choices[0].message.content if resp.choices else None
            try:
                parsed = schema.model_validate(parse_json_answer(content))
                if check:
                    check(parsed)
            except (json.JSONDecodeError, ValueError, ValidationError) as e:
                bad = "malformed_json" if isinstance(e, json.JSONDecodeError) or "empty answer" in str(e) \
                    else "schema_violation"
                self._count(**{bad: 1})
                last_err = bad
                if invalid >= self.settings.invalid_retries:
                    self._count(invalid=1)
                    return CallResult(None, "invalid", last_err, attempts)
                invalid += 1
                continue
            if path is not None:
                write_json({"model": self.settings.model, "content": content,
                            "usage": usage.model_dump() if usage is not None else None}, path)
            self._count(ok=1)
            return CallResult(parsed, "ok", None, attempts)

    def map(self, jobs: Sequence[tuple[Sequence[Mapping[str, str]], type[BaseModel],
                                       Callable[[BaseModel], None] | None]],
            desc: str = "LLM requests", progress: bool = True) -> list[CallResult]:
        """Run ``complete`` over ``jobs`` with at most ``max_concurrency`` in flight; order kept.

        A :class:`LLMConfigError` in any job stops the run and is re-raised.
        """
        from tqdm.auto import tqdm

        results: list[CallResult | None] = [None] * len(jobs)
        with ThreadPoolExecutor(max_workers=max(1, self.settings.max_concurrency)) as pool:
            futs = {pool.submit(self.complete, *job): i for i, job in enumerate(jobs)}
            bar = tqdm(total=len(jobs), desc=desc, disable=not progress or len(jobs) < 20)
            try:
                from concurrent.futures import as_completed

                for f in as_completed(futs):
                    results[futs[f]] = f.result()
                    bar.update(1)
            except LLMConfigError:
                for f in futs:
                    f.cancel()
                raise
            finally:
                bar.close()
        return [r for r in results if r is not None]

    def accounting(self) -> dict[str, Any]:
        """Counts, tokens and cost (``price_*_per_1k`` * tokens / 1000)."""
        s = dict(self.stats)
        cost = (s.get("prompt_tokens", 0) * self.settings.price_prompt_per_1k
                + s.get("completion_tokens", 0) * self.settings.price_completion_per_1k) / 1000
        return {**{k: int(v) for k, v in s.items()}, "cost": round(cost, 6), **self.settings.public()}
