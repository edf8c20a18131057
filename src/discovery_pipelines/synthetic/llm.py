"""A fault-tolerant client for any OpenAI-compatible chat-completions endpoint.

* Settings (base URL, model, key) come from Kedro credentials (``credentials.yml`` of the run's env,
  key given by ``params.llm.credentials_key``, default ``synthetic_llm``; see :func:`load_credentials`)
  or the environment (``OPENAI_BASE_URL``, ``OPENAI_API_KEY``, ``DISCOVERY_LLM_MODEL``; environment
  wins). The key is a ``SecretStr``: it is never printed, logged, cached or written to a report, and
  the base URL is reported and logged as ``scheme://host:port`` only (no user info, path or query,
  where keys hide).
* Structured output: the request carries the pydantic model's JSON schema (``response_format``
  ``json_schema`` as in OpenAI's Structured Outputs, or llama.cpp's ``json_object`` + ``schema``);
  every answer is parsed and validated with pydantic anyway, because not every server enforces it.
* Bounded concurrency: a thread pool of ``max_concurrency`` workers.
* Transport retries are the ``openai`` client's own (``max_retries``, ``timeout``): exponential
  backoff with jitter on 408/409/429/5xx, timeouts and connection errors, ``Retry-After`` /
  ``retry-after-ms`` honoured up to 120 s. A counting HTTP transport records every attempt, so the
  report shows exactly how many retries each kind of fault cost (``retry_429``, ``retry_5xx``,
  ``retry_timeout``, ``retry_connection``, ``retry_4xx``).
* Invalid answers are re-asked ``invalid_retries`` times and then dropped, all counted in
  :attr:`ChatClient.stats`: malformed JSON content, schema violations, wrong product id, and HTTP 200
  bodies that are not a chat completion at all (truncated JSON, ``{"choices": "nope"}``, HTML):
  ``bad_body``. The run always completes.
* 401/403/404 are configuration errors: the run stops with :class:`LLMConfigError` (no key shown).
* On-disk cache keyed by the SHA-256 of (model, messages, response format, temperature, max
  tokens): only validated answers are stored (atomically), so a re-run makes no calls.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import urllib.parse
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2
from pydantic import BaseModel, SecretStr, ValidationError

from discovery_pipelines.data.io import sha256_text, write_json

ENV_BASE_URL, ENV_API_KEY, ENV_MODEL = "OPENAI_BASE_URL", "OPENAI_API_KEY", "DISCOVERY_LLM_MODEL"

log = logging.getLogger(__name__)


def public_endpoint(url: str | None) -> str | None:
    """``scheme://host[:port]`` of ``url``: user info, path, query and fragment (where API keys are
    put by some gateways) are dropped. ``None`` stays ``None``; an unparsable URL gives ``"<redacted>"``."""
    if not url:
        return None
    try:
        parts = urllib.parse.urlsplit(url.strip())
        host = parts.hostname
        port = parts.port
    except ValueError:
        return "<redacted>"
    if not parts.scheme or not host:
        return "<redacted>"
    host = f"[{host}]" if ":" in host else host
    return f"{parts.scheme}://{host}" + (f":{port}" if port else "")


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
    temperature: float = 0.7
    max_tokens: int = 256
    response_format: str = "json_schema"  # json_schema | json_object | none
    strict_schema: bool = False
    system_role: bool = True  # False: the model's chat template has no system role (Gemma), see fold_system
    price_prompt_per_1k: float = 0.0
    price_completion_per_1k: float = 0.0
    cache_dir: str | None = "data/02_intermediate/llm_cache"

    def __repr__(self) -> str:
        return f"LLMSettings(model={self.model!r}, endpoint={public_endpoint(self.base_url)!r})"

    def public(self) -> dict[str, Any]:
        """Settings safe to report (no key; URL reduced to scheme://host:port by :func:`public_endpoint`)."""
        return {"model": self.model, "endpoint": public_endpoint(self.base_url),
                "max_concurrency": self.max_concurrency, "max_retries": self.max_retries,
                "temperature": self.temperature, "response_format": self.response_format}


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

    Raises:
        ValueError: ``params`` hold ``base_url`` or ``api_key``: parameters are logged to MLflow
            (kedro-mlflow) and a URL may carry a key, so connection settings live in credentials only.
    """
    params = dict(params or {})
    leaked = sorted({"base_url", "api_key"} & set(params))
    if leaked:
        raise ValueError(f"LLM parameters hold connection setting(s) {leaked}: put them in credentials "
                         "(conf/local/credentials.yml) or OPENAI_BASE_URL / OPENAI_API_KEY; parameters are "
                         "logged to MLflow")
    creds = dict(credentials or {})
    environ = os.environ if environ is None else environ
    model = environ.get(ENV_MODEL) or creds.get("model") or params.get("model")
    if not model:
        return None
    base_url = environ.get(ENV_BASE_URL) or creds.get("base_url")
    key = environ.get(ENV_API_KEY) or creds.get("api_key") or "not-needed"
    known = {f for f in LLMSettings.__dataclass_fields__ if f not in {"model", "base_url", "api_key"}}
    extra = {k: v for k, v in params.items() if k in known}
    return LLMSettings(model=str(model), base_url=base_url, api_key=SecretStr(str(key)), **extra)


def fold_system(messages: Sequence[Mapping[str, str]]) -> list[dict[str, str]]:
    """Messages for a chat template without a system role: the system messages' text goes in front of the
    first user message (separated by a blank line) instead of being dropped by the template, as llama.cpp's
    ``gemma`` chat format does. Without a user message the system text becomes one.

    Returns a new list; the input is not changed.
    """
    system = "\n\n".join(str(m["content"]) for m in messages if m.get("role") == "system")
    rest = [dict(m) for m in messages if m.get("role") != "system"]
    if not system:
        return rest
    for m in rest:
        if m.get("role") == "user":
            m["content"] = f"{system}\n\n{m['content']}"
            return rest
    return [{"role": "user", "content": system}, *rest]


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


def split_base_url(url: str | None) -> tuple[str | None, tuple[str, str] | None, dict[str, str]]:
    """``(url without user info and query, (user, password) or None, query parameters)``.

    Credentials written into the base URL (``https://user:key@host/v1``, ``...?api-key=...``) are
    moved out of the URL the HTTP layer sees and logs: user info becomes HTTP basic auth, the query
    the client's default query (sent, never logged: see :class:`_RedactURLs`)."""
    if not url:
        return url, None, {}
    parts = urllib.parse.urlsplit(url)
    auth = None
    if parts.username is not None:
        auth = (urllib.parse.unquote(parts.username), urllib.parse.unquote(parts.password or ""))
    netloc = parts.netloc.rsplit("@", 1)[-1]
    query = dict(urllib.parse.parse_qsl(parts.query, keep_blank_values=True))
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, "", "")), auth, query


class _RedactURLs(logging.Filter):
    """Drop user info and query from URLs in the HTTP library's log records ("HTTP Request: POST ...")."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and any(isinstance(a, httpx2.URL) for a in record.args):
            record.args = tuple(a.copy_with(query=None, userinfo=b"") if isinstance(a, httpx2.URL) else a
                                for a in record.args)
        return True


logging.getLogger("httpx2").addFilter(_RedactURLs())

_ATTEMPTS = threading.local()
"""Per-thread list of attempt outcomes of the request in flight (the openai client retries in the
calling thread, so one logical request's attempts land in one list)."""


def _note(outcome: str) -> None:
    rec = getattr(_ATTEMPTS, "log", None)
    if rec is not None:
        rec.append(outcome)


class CountingTransport(httpx2.HTTPTransport):
    """The openai client's HTTP transport, recording each attempt's outcome for the accounting:
    ``ok`` (2xx/3xx), ``429``, ``5xx``, ``4xx``, ``timeout`` or ``connection``."""

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        try:
            resp = super().handle_request(request)
        except httpx2.TimeoutException:
            _note("timeout")
            raise
        except httpx2.TransportError:
            _note("connection")
            raise
        code = resp.status_code
        _note("ok" if code < 400 else "429" if code == 429 else "5xx" if code >= 500 else "4xx")
        return resp


_RETRY_KEYS = {"429": "retry_429", "5xx": "retry_5xx", "timeout": "retry_timeout",
               "connection": "retry_connection", "4xx": "retry_4xx", "ok": "retry_other"}


def completion_content(resp: Any) -> str | None:
    """The first choice's message content of a parsed chat completion.

    Raises:
        ValueError: the body is not a chat completion (``choices`` missing, not a list, empty, or a
            message whose ``content`` is not a string).
    """
    choices = getattr(resp, "choices", None)
    if not isinstance(choices, list) or not choices:
        raise ValueError(f"not a chat completion: 'choices' is {type(choices).__name__}"
                         + (" (empty)" if isinstance(choices, list) else ""))
    content = getattr(getattr(choices[0], "message", None), "content", None)
    if content is not None and not isinstance(content, str):
        raise ValueError(f"not a chat completion: message content is {type(content).__name__}")
    return content


class ChatClient:
    """Thread-safe chat client with retries, validation, cache and accounting (see module doc).

    Args:
        settings: :class:`LLMSettings`; ``max_retries`` and ``timeout_s`` go to the ``openai``
            client, which does the transport retries (and honours ``Retry-After``).
    """

    def __init__(self, settings: LLMSettings) -> None:
        from openai import DefaultHttpxClient, OpenAI

        self.settings = settings
        url, auth, query = split_base_url(settings.base_url)
        self._client = OpenAI(base_url=url, api_key=settings.api_key.get_secret_value(),
                              max_retries=int(settings.max_retries), timeout=settings.timeout_s,
                              default_query=query or None,
                              http_client=DefaultHttpxClient(transport=CountingTransport(), auth=auth))
        self._lock = threading.Lock()
        self.stats: Counter = Counter()

    # ------------------------------------------------------------------ helpers
    def _count(self, **kv: float) -> None:
        with self._lock:
            for k, v in kv.items():
                self.stats[k] += v

    def _account_attempts(self, attempts: list[str]) -> None:
        """Every attempt is a call; every attempt but the last was retried by the openai client."""
        kinds = Counter(_RETRY_KEYS[a] for a in attempts[:-1])
        self._count(calls=len(attempts), **kinds)

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

    def _usage(self, resp: Any) -> dict[str, int] | None:
        """Token counts of ``resp`` (added to the stats), or ``None`` when absent or not numbers."""
        usage = getattr(resp, "usage", None)
        if usage is None:
            return None
        try:
            out = {"prompt_tokens": int(getattr(usage, "prompt_tokens", 0) or 0),
                   "completion_tokens": int(getattr(usage, "completion_tokens", 0) or 0)}
        except (TypeError, ValueError):
            return None
        self._count(**out)
        return out

    def _send(self, kwargs: dict[str, Any]) -> Any:
        """One logical request through the openai client (its retries included); returns the raw
        response, unparsed. Attempts are accounted whatever happens."""
        _ATTEMPTS.log = attempts = []
        try:
            return self._client.chat.completions.with_raw_response.create(**kwargs)
        finally:
            _ATTEMPTS.log = None
            if attempts:
                self._account_attempts(attempts)

    # ------------------------------------------------------------------ one request
    def complete(self, messages: Sequence[Mapping[str, str]], schema: type[BaseModel],
                 check: Callable[[BaseModel], None] | None = None) -> CallResult:
        """Ask once (with retries) and return a validated ``schema`` instance or a failure status.

        ``check(parsed)`` may raise ``ValueError`` to reject a schema-valid answer (e.g. wrong id).
        Status ``failed``: transport faults outlasted ``max_retries`` or another 4xx; ``invalid``:
        every answer in the ``invalid_retries`` budget was malformed, off-schema, rejected by
        ``check`` or not a chat completion.

        Raises:
            LLMConfigError: 401 / 403 / 404 from the endpoint.
        """
        import openai

        if not self.settings.system_role:
            messages = fold_system(messages)
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
            except (ValueError, KeyError, TypeError, ValidationError):
                self._count(cache_corrupt=1)
        kwargs: dict[str, Any] = {"model": self.settings.model, "messages": list(messages),
                                  "temperature": self.settings.temperature, "max_tokens": self.settings.max_tokens}
        rf = self._response_format(schema)
        if rf is not None:
            kwargs["response_format"] = rf
        invalid = 0
        asked = 0
        while True:
            asked += 1
            try:
                raw = self._send(kwargs)
            except (openai.AuthenticationError, openai.PermissionDeniedError, openai.NotFoundError) as e:
                raise LLMConfigError(f"LLM endpoint {public_endpoint(self.settings.base_url)} refused the request "
                                     f"({type(e).__name__}, HTTP {getattr(e, 'status_code', '?')}): check model / "
                                     f"base_url / key (model={self.settings.model!r})") from None
            except (openai.APIConnectionError, openai.RateLimitError, openai.InternalServerError) as e:
                self._count(failed=1)  # the openai client's retries are spent
                return CallResult(None, "failed", type(e).__name__, asked)
            except openai.APIStatusError as e:  # other 4xx: this request is bad, drop it
                self._count(failed=1, http_4xx=1)
                return CallResult(None, "failed", f"HTTP {e.status_code}", asked)
            bad = None
            try:
                resp = raw.parse()
                content = completion_content(resp)
            except (ValueError, TypeError, AttributeError, KeyError, openai.APIResponseValidationError) as e:
                bad, content, resp = "bad_body", None, None
                log.debug("LLM answer is not a chat completion: %s", str(e)[:200])
            usage = self._usage(resp) if bad is None else None
            if bad is None:
                try:
                    parsed = schema.model_validate(parse_json_answer(content))
                    if check:
                        check(parsed)
                except (json.JSONDecodeError, ValueError, ValidationError) as e:
                    bad = "malformed_json" if isinstance(e, json.JSONDecodeError) or "empty answer" in str(e) \
                        else "schema_violation"
            if bad is not None:
                self._count(**{bad: 1})
                if invalid >= self.settings.invalid_retries:
                    self._count(invalid=1)
                    return CallResult(None, "invalid", bad, asked)
                invalid += 1
                continue
            if path is not None:
                write_json({"model": self.settings.model, "content": content, "usage": usage}, path)
            self._count(ok=1)
            return CallResult(parsed, "ok", None, asked)

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
