"""Moderation of carousel titles by a jury with a veto (stage 3; seed 004: "three different LLMs ...
if any juror LLM finds a title to be in violation, it is automatically blocked"; Verga et al. 2024,
"Replacing Judges with Juries").

Three jurors, each with its own criteria:

``safety``     offensive language (profanity, insults, slurs) and unsafe food / product advice (hazards,
               risky items for vulnerable groups, household chemicals as food, tobacco, weapons, an
               allergen offered to allergic people, medication with alcohol, blades with anger words).
``appetite``   unappetising (spoilage, disgust) and incoherent titles (placeholders, gibberish, repeated
               words, only generic words, non-grocery nonsense, instructions addressed to the system, no
               recognisable topic word, word salad: a descriptive word right before an article, three
               function words in a row, a title ending on an article / conjunction / possessive).
``policy``     brand names (lexicon of well-known brands, catalogue brands, trademark signs, possessive
               and camel-case brand shapes), wrong daypart (a phrase naming another part of day, alcohol
               at breakfast) and the configured off-policy topics.

Backends: :class:`RulesJuror` (offline, deterministic lexicons and patterns from
:mod:`discovery_pipelines.carousels.lexicons`) and :class:`LLMJuror` (one prompt per juror through the
project's :class:`~discovery_pipelines.synthetic.llm.ChatClient`: cache, retries, budget and JSON
schema :class:`~discovery_pipelines.carousels.schema.JurorVerdict`). A title an LLM juror gives no valid
verdict for is judged by that juror's rules fallback (counted). :class:`Jury` combines the votes with
``veto``: ``any`` blocks when any juror blocks, ``majority`` / ``all`` as named.

Titles are untrusted (they may come from an LLM that read product text): they are placed between
``<title>`` tags after :func:`~discovery_pipelines.synthetic.prompts.sanitize_product_text`, and the
prompts tell the juror to treat them as data.
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from discovery_pipelines.carousels import lexicons as lx
from discovery_pipelines.carousels.schema import DAYPARTS, JurorVerdict
from discovery_pipelines.synthetic.llm import ChatClient
from discovery_pipelines.synthetic.prompts import render_named, sanitize_product_text

JURORS = ("safety", "appetite", "policy")
_WORD = re.compile(r"[a-z0-9][a-z0-9'&.\-]*")
_KEYBOARD_ROWS = ("qwertyuiop", "asdfghjkl", "zxcvbnm")


def _norm(title: str) -> str:
    t = str(title).lower().replace("’", "'").replace("é", "e").replace("ä", "a")
    return " ".join(t.split())


def _phrase_re(phrases: Iterable[str]) -> re.Pattern[str]:
    alts = sorted({re.escape(p) for p in phrases}, key=len, reverse=True)
    return re.compile(r"(?<![a-z0-9])(?:" + "|".join(alts) + r")(?![a-z0-9])")


def _tokens(text: str) -> list[str]:
    return [w.strip("'.-&") for w in _WORD.findall(text) if w.strip("'.-&")]


_RE = {name: _phrase_re(words) for name, words in {
    "profanity": lx.PROFANITY, "insult": lx.INSULTS, "hazard": lx.HAZARDS, "chemical": lx.HOUSEHOLD_CHEMICALS,
    "consume": lx.CONSUMPTION, "vulnerable": lx.VULNERABLE, "risky": lx.RISKY_FOR_VULNERABLE,
    "spoilage": lx.SPOILAGE, "placeholder": lx.PLACEHOLDERS, "incongruous": lx.INCONGRUOUS,
    "brand": lx.BRANDS, "alcohol": lx.ALCOHOL, "daypart": lx.DAYPART_PHRASES, "allergic": lx.ALLERGIC,
    "allergen": lx.ALLERGENS, "medication": lx.MEDICATION, "blade": lx.BLADES, "anger": lx.ANGER}.items()}
_FREE_FROM = re.compile(r"free\b|friendly\b|\bsafe\b|\bwithout\b|\bno\b")  # "nut-free", "allergy-friendly"
_INJECTION = [re.compile(p) for p in lx.INJECTION_PATTERNS]
_RAW_MEAT = re.compile(r"\b(raw|uncooked|undercooked|pink)\b.{0,20}\b(chicken|pork|poultry|turkey|meat|eggs?|"
                       r"burgers?|sausages?|beef)\b")
_PEOPLE_INSULT = re.compile(r"\b(ugly|fat|chubby|obese|overweight|skinny|dumb|stupid|lazy|poor|old|gross|sad|lonely|"
                            r"trashy)\s+(people|person|"
                            r"folks|losers?|guys|women|men|girls|boys|kids|ladies)\b")
_GLUE = {"and", "or", "of", "the", "for", "to", "a", "an", "with", "in", "on", "at", "nor"}  # three in a row: salad
_OLD = re.compile(r"\b(day|days|week|weeks|month|months|year|years)-old\b")


@functools.lru_cache(maxsize=1)
def base_vocabulary() -> frozenset[str]:
    """English words the rules jurors recognise: the lower-case alphabetic whole words of the project's text
    model's WordPiece vocabulary (all-MiniLM-L6-v2, ``vocab.txt``: about 21,700 words; Devlin et al. 2019,
    BERT uncased) plus every word of the jury and generation lexicons. Empty when the packaged model is
    not installed, which turns the recognisable-topic rule off (catalogue words passed to
    :class:`RulesJuror` still count)."""
    words: set[str] = set()
    try:
        from discovery_pipelines.search.models import resolve_model_path

        vocab = resolve_model_path("all-MiniLM-L6-v2") / "vocab.txt"
        words = {w for w in vocab.read_text(encoding="utf-8").split() if w.isascii() and w.isalpha() and len(w) > 1}
    except (FileNotFoundError, ImportError, OSError):
        return frozenset()
    for name in dir(lx):
        val = getattr(lx, name)
        if name.isupper() and isinstance(val, (set, dict)):
            for phrase in val:
                words.update(_tokens(str(phrase).lower()))
    return frozenset(words)


def vocabulary_words(texts: Iterable[str]) -> set[str]:
    """Lower-case word tokens of catalogue strings (product names, categories, product types), the
    catalogue's own vocabulary for :class:`RulesJuror` (``vocabulary``)."""
    out: set[str] = set()
    for t in texts:
        out.update(w for w in _tokens(_norm(t)) if w.isalpha())
    return out


@functools.lru_cache(maxsize=1)
def _vocabulary_trigrams() -> frozenset[str]:
    x = {f"^{w}$" for w in base_vocabulary()}
    return frozenset(w[i:i + 3] for w in x for i in range(len(w) - 2))


def implausible_spelling(word: str, min_unseen: int = 2) -> bool:
    """True when ``word`` has at least ``min_unseen`` letter trigrams (word boundaries included) that no
    word of :func:`base_vocabulary` has ("xyzzy": ``^xy``, ``xyz``, ``yzz``): a character-level
    plausibility test for words outside the vocabulary (False when the vocabulary is empty). Each
    alphabetic part of a hyphenated word is tested on its own."""
    tri = _vocabulary_trigrams()
    if not tri:
        return False
    for part in re.split(r"[^a-z]+", word.lower()):  # hyphenated words: each part on its own
        x = f"^{part}$"
        if part and sum(x[i:i + 3] not in tri for i in range(len(x) - 2)) >= min_unseen:
            return True
    return False


def known_word(word: str, vocab: frozenset[str] | set[str]) -> bool:
    """True when ``word`` (lower-case) or a regular singular / base form of it is in ``vocab``
    (``-s``, ``-es``, ``-ies`` -> ``-y``, ``'s``; hyphenated words when every part is known; numbers)."""
    w = word.strip("'")
    if not w or w.isdigit() or w in vocab:
        return True
    if "-" in w:
        parts = [x for x in w.split("-") if x]
        return bool(parts) and all(known_word(x, vocab) for x in parts)
    forms = [w.removesuffix("'s")]
    if w.endswith("ies"):
        forms.append(w[:-3] + "y")
    if w.endswith("es"):
        forms.append(w[:-2])
    if w.endswith("s"):
        forms.append(w[:-1])
    return any(f in vocab for f in forms)


def _gibberish(tok: str) -> bool:
    if len(tok) >= 4 and any(tok in row for row in _KEYBOARD_ROWS):
        return True
    if re.search(r"(.)\1\1", tok):  # three of a kind: "zzzz", "aaah"
        return True
    if len(tok) >= 5 and re.search(r"[bcdfghjklmnpqrstvwxz]{5,}", tok):
        return True
    return len(tok) >= 4 and not re.search(r"[aeiouy]", tok) and not tok.isdigit()


@dataclass
class RulesJuror:
    """One offline juror (``name`` in :data:`JURORS`); see the module doc for its criteria.

    Args:
        brands: extra brand names (e.g. the catalogue's ``brand`` values), matched case-insensitively.
        excluded_topics: off-policy topic words or phrases from configuration (``policy`` juror).
        vocabulary: extra known words (e.g. :func:`vocabulary_words` of the catalogue) added to
            :func:`base_vocabulary` for the ``appetite`` juror's recognisable-topic rule.
    """

    name: str
    brands: Sequence[str] = ()
    excluded_topics: Sequence[str] = ()
    vocabulary: Iterable[str] = ()
    _extra: re.Pattern[str] | None = field(default=None, init=False, repr=False)
    _topics: re.Pattern[str] | None = field(default=None, init=False, repr=False)
    _vocab: frozenset[str] = field(default=frozenset(), init=False, repr=False)

    def __post_init__(self) -> None:
        if self.name not in JURORS:
            raise ValueError(f"juror must be one of {JURORS}, got {self.name!r}")
        extra = {b.lower().strip() for b in self.brands if b and len(str(b).strip()) >= 3}
        extra -= {"national", "private", "store brand", "generic"}
        self._extra = _phrase_re(extra) if extra else None
        topics = {t.lower().strip() for t in self.excluded_topics if t and t.strip()}
        self._topics = _phrase_re(topics) if topics else None
        if self.name == "appetite":
            base = base_vocabulary()
            self._vocab = base | {str(w).lower() for w in self.vocabulary} if base else frozenset()

    def reasons(self, title: str, daypart: str | None = None) -> list[str]:
        """Why this juror blocks ``title`` in ``daypart`` (empty list = allow)."""
        t = _norm(title)
        toks = _tokens(t)
        out: list[str] = []
        if self.name == "safety":
            if _RE["profanity"].search(t) or _RE["insult"].search(t) or _PEOPLE_INSULT.search(t):
                out.append("offensive")
            if _RE["hazard"].search(t) or _RAW_MEAT.search(t):
                out.append("unsafe")
            elif _RE["chemical"].search(t) and _RE["consume"].search(t) and not re.search(r"\bsoap\b", t):
                out.append("unsafe: household chemical as food")
            elif _RE["vulnerable"].search(t) and _RE["risky"].search(t):
                out.append("unsafe: risky for a vulnerable group")
            elif _RE["allergic"].search(t) and _RE["allergen"].search(t) and not _FREE_FROM.search(t):
                out.append("unsafe: allergen for allergic people")
            elif _RE["medication"].search(t) and _RE["alcohol"].search(t):
                out.append("unsafe: medication with alcohol")
            elif _RE["blade"].search(t) and _RE["anger"].search(t):
                out.append("unsafe: violence")
        elif self.name == "appetite":
            if _RE["spoilage"].search(t) or _OLD.search(t):
                out.append("unappetising")
            content = [w for w in toks if w not in lx.STOPWORDS]
            if any(p.search(t) for p in _INJECTION):
                out.append("incoherent: instruction in title")
            if _RE["placeholder"].search(t) or re.search(r"[{}<>\[\]]|\?\?|!!|#", t):
                out.append("incoherent: placeholder or markup")
            if not content or all(w in lx.GENERIC or w.isdigit() for w in content):
                out.append("incoherent: no topic")
            elif sum(w.isdigit() for w in content) and any(w in lx.GENERIC for w in content):
                out.append("incoherent: catalogue codes")
            stems = [w[:-1] if len(w) > 3 and w.endswith("s") else w for w in toks if w not in lx.STOPWORDS]
            if len(stems) != len(set(stems)) or any(a == b for a, b in zip(toks, toks[1:])):
                out.append("incoherent: repeated word")
            if any(_gibberish(w) for w in content):
                out.append("incoherent: gibberish")
            if _RE["incongruous"].search(t):
                out.append("incoherent: not a grocery theme")
            if any(a in _GLUE and b in _GLUE and c in _GLUE for a, b, c in zip(toks, toks[1:], toks[2:])):
                out.append("incoherent: function-word salad")
            if len({w for w in toks if w in lx.TEMPERATURES}) >= 3:
                out.append("incoherent: contradictory")
            # a title needs one recognisable topic word: when every content word that is not filler is
            # unknown (to English / catalogue words) and one of them is spelt implausibly ("Your favourite
            # xyzzy"), the carousel has no topic; rare real food words ("tzatziki") are spelt plausibly
            # enough or known from the catalogue
            topical = [w for w in content if w not in lx.TITLE_FILLER and w not in lx.GENERIC and not w.isdigit()]
            unknown = [w for w in topical if not known_word(w, self._vocab)] if self._vocab else []
            if topical and len(unknown) == len(topical) and any(implausible_spelling(w) for w in unknown):
                out.append("incoherent: no recognisable topic word")
            # word salad: a colour / number / taste word right before an article, or a dangling last word
            if any(a in lx.DESCRIPTIVE and (b in ("the", "an") or (b == "of" and c == "the"))
                   for a, b, c in zip(toks, toks[1:], toks[2:] + [""])) \
                    or (len(toks) > 1 and toks[-1] in lx.DANGLING):
                out.append("incoherent: word salad")
        else:  # policy
            raw = str(title)
            if _RE["brand"].search(t) or (self._extra is not None and self._extra.search(t)):
                out.append("brand")
            elif re.search(r"[™®©]", raw) or re.search(r"\b(Mc|Mac)[A-Z][a-z]+", raw) \
                    or re.search(r"\b[a-z]+[A-Z][a-z]+[A-Za-z]*\b", raw[1:]):
                out.append("brand: trademark shape")
            else:
                for m in re.finditer(r"\b([A-Z][a-z]+)'s\b", raw):
                    if m.group(1).lower() not in lx.GENERIC_POSSESSORS:
                        out.append("brand: possessive name")
                        break
            if daypart in DAYPARTS:
                allowed: set[str] = set()
                for m in _RE["daypart"].finditer(t):
                    allowed |= lx.DAYPART_PHRASES[m.group(0)]
                if allowed and daypart not in allowed:
                    out.append(f"wrong daypart for {daypart}")
                elif daypart == "breakfast" and _RE["alcohol"].search(t):
                    out.append("wrong daypart: alcohol at breakfast")
            if self._topics is not None and self._topics.search(t):
                out.append("off-policy topic")
        return out

    def judge(self, titles: Sequence[str], dayparts: Sequence[str | None]) -> list[tuple[bool, str]]:
        """``(blocked, reason)`` per title."""
        res = []
        for t, d in zip(titles, dayparts):
            r = self.reasons(t, d)
            res.append((bool(r), "; ".join(r)))
        return res


PROMPT_NAMES = {"safety": "carousel_juror_safety", "appetite": "carousel_juror_appetite",
                "policy": "carousel_juror_policy"}


class LLMJuror:
    """One LLM juror: its own prompt (``carousel_juror_<name>``), the shared client, rules fallback.

    Args:
        name: juror name in :data:`JURORS`.
        client: the project's :class:`ChatClient` (cache, retries, accounting).
        fallback: :class:`RulesJuror` used for titles without a valid verdict.
    """

    def __init__(self, name: str, client: ChatClient, fallback: RulesJuror) -> None:
        if name not in JURORS:
            raise ValueError(f"juror must be one of {JURORS}, got {name!r}")
        self.name, self.client, self.fallback = name, client, fallback
        self.stats: dict[str, int] = {"no_verdict_fallback": 0, "instruction_guard_blocked": 0}

    def messages(self, title_id: str, title: str, daypart: str | None, excluded: str = "") -> list[dict[str, str]]:
        """The chat messages for one title (the title sanitised and tagged as data)."""
        msgs, _ = render_named("en", PROMPT_NAMES[self.name], {
            "title_id": title_id, "title": sanitize_product_text(title, 120),
            "daypart": daypart or "any", "excluded": excluded or "none"})
        return msgs

    def judge(self, titles: Sequence[str], dayparts: Sequence[str | None]) -> list[tuple[bool, str]]:
        excluded = ", ".join(self.fallback.excluded_topics)
        # a title that carries an instruction to a model is blocked before any model sees it, so an
        # injection cannot change the verdict (counted as instruction_guard_blocked)
        guard = [any(p.search(_norm(t)) for p in _INJECTION) for t in titles]
        self.stats["instruction_guard_blocked"] += int(sum(guard))
        todo = [i for i, g in enumerate(guard) if not g]
        res_todo = self._ask([titles[i] for i in todo], [dayparts[i] for i in todo], excluded)
        out: list[tuple[bool, str]] = [(True, "instruction in title (guard)")] * len(titles)
        for i, r in zip(todo, res_todo):
            out[i] = r
        return out

    def _ask(self, titles: Sequence[str], dayparts: Sequence[str | None], excluded: str) -> list[tuple[bool, str]]:
        jobs = []
        ids = [f"t{i}" for i in range(len(titles))]
        for tid, t, d in zip(ids, titles, dayparts):
            def check(v: Any, _id: str = tid) -> None:
                if v.title_id != _id:
                    raise ValueError(f"verdict for {v.title_id!r}, asked {_id!r}")
            jobs.append((self.messages(tid, t, d, excluded), JurorVerdict, check))
        res = self.client.map(jobs, desc=f"juror {self.name} (LLM)")
        out: list[tuple[bool, str]] = []
        for r, t, d in zip(res, titles, dayparts):
            if r.parsed is None:
                self.stats["no_verdict_fallback"] += 1
                blocked, why = self.fallback.judge([t], [d])[0]
                out.append((blocked, f"rules fallback: {why}" if why else "rules fallback"))
            else:
                out.append((r.parsed.verdict == "block", r.parsed.reason))  # type: ignore[attr-defined]
        return out


class Jury:
    """Jurors plus a veto rule.

    Raises:
        ValueError: unknown veto rule or no jurors.
    """

    def __init__(self, jurors: Sequence[RulesJuror | LLMJuror], veto: str = "any") -> None:
        if veto not in ("any", "majority", "all"):
            raise ValueError(f"veto must be any | majority | all, got {veto!r}")
        if not jurors:
            raise ValueError("a jury needs at least one juror")
        self.jurors, self.veto = list(jurors), veto

    def moderate(self, titles: Sequence[str], dayparts: Sequence[str | None] | None = None) -> pd.DataFrame:
        """One row per title: ``title, daypart, verdict (allow|block), blocked_by (list), block_<juror>
        (bool), reason_<juror>``."""
        titles = [str(t) for t in titles]
        dayparts = list(dayparts) if dayparts is not None else [None] * len(titles)
        out = pd.DataFrame({"title": titles, "daypart": dayparts})
        votes = []
        for j in self.jurors:
            res = j.judge(titles, dayparts)
            out[f"block_{j.name}"] = [b for b, _ in res]
            out[f"reason_{j.name}"] = [r for _, r in res]
            votes.append(out[f"block_{j.name}"].to_numpy())
        n_block = sum(v.astype(int) for v in votes)
        need = {"any": 1, "majority": len(votes) // 2 + 1, "all": len(votes)}[self.veto]
        out["verdict"] = ["block" if n >= need else "allow" for n in n_block]
        out["blocked_by"] = [[j.name for j in self.jurors if out.at[i, f"block_{j.name}"]] for i in range(len(out))]
        return out


def make_jury(backend: str = "rules", *, veto: str = "any", brands: Sequence[str] = (),
              excluded_topics: Sequence[str] = (), client: ChatClient | None = None,
              vocabulary: Iterable[str] = ()) -> Jury:
    """The three-juror jury (``rules`` or ``llm``; ``llm`` needs ``client``); ``vocabulary``: catalogue
    words the appetite juror knows besides :func:`base_vocabulary`.

    Raises:
        ValueError: unknown backend, or ``llm`` without a client.
    """
    vocabulary = list(vocabulary)
    rules = [RulesJuror(n, brands=brands, excluded_topics=excluded_topics, vocabulary=vocabulary) for n in JURORS]
    if backend == "rules":
        return Jury(rules, veto)
    if backend == "llm":
        if client is None:
            raise ValueError("the llm jury needs a ChatClient (configure a model, see docs/local_llm.md)")
        return Jury([LLMJuror(r.name, client, r) for r in rules], veto)
    raise ValueError(f"jury backend must be 'rules' or 'llm', got {backend!r}")


def heldout_mask(titles: Iterable[str], mod: int = 3) -> list[bool]:
    """Deterministic held-out split of a labelled set: SHA-1 of the title modulo ``mod`` == 0."""
    return [int(hashlib.sha1(str(t).encode()).hexdigest(), 16) % mod == 0 for t in titles]


def jury_figures(moderated: pd.DataFrame, labels: pd.Series) -> dict[str, Any]:
    """Recall on bad titles and false-block rate on good ones, per juror and for the veto.

    Args:
        moderated: :meth:`Jury.moderate` output; labels: ``good`` / ``bad`` per row (same order).
    """
    bad = labels.to_numpy() == "bad"
    good = ~bad
    out: dict[str, Any] = {"n": int(len(labels)), "n_bad": int(bad.sum()), "n_good": int(good.sum())}
    cols = [c for c in moderated.columns if c.startswith("block_")]
    for c in cols + ["veto"]:
        blocked = (moderated["verdict"] == "block").to_numpy() if c == "veto" else moderated[c].to_numpy(bool)
        name = c.removeprefix("block_")
        out[name] = {"recall_bad": float(blocked[bad].mean()) if bad.any() else None,
                     "false_block_good": float(blocked[good].mean()) if good.any() else None}
    return out


def client_for(llm_params: Any, conf_source: str | None = None, env: str | None = None) -> ChatClient | None:
    """A :class:`ChatClient` for an :class:`~discovery_pipelines.carousels.params.LLMParams` block, or
    ``None`` when no model is configured (params, credentials or ``DISCOVERY_LLM_MODEL``). Credentials are
    the running Kedro session's unless ``conf_source`` / ``env`` are given (see ``load_credentials``)."""
    from discovery_pipelines.synthetic.llm import load_credentials, resolve_llm_settings

    settings = resolve_llm_settings(llm_params.as_params(), load_credentials(llm_params.credentials_key,
                                                                             conf_source, env))
    return ChatClient(settings) if settings is not None else None


def configured_jury(conf_source: str = "conf", env: str = "local", backend: str | None = None,
                    brands: Sequence[str] = ()) -> Jury:
    """The jury that ``parameters_carousels.yml`` (``carousels.moderation``) configures.

    ``backend`` overrides the configured one. An ``llm`` jury with no model configured falls back to
    the rules jury (a warning is logged), as every LLM stage of the project does.
    """
    import logging

    from kedro.config import OmegaConfigLoader

    from discovery_pipelines.carousels.params import parse_params
    from discovery_pipelines.settings import CONFIG_LOADER_ARGS

    raw: dict[str, Any] = {}
    if conf_source and __import__("pathlib").Path(conf_source).is_dir():
        loader = OmegaConfigLoader(conf_source=str(conf_source), **{**CONFIG_LOADER_ARGS, "default_run_env": env})
        raw = dict((loader["parameters"] or {}).get("carousels") or {})
    p = parse_params(raw)
    mod = p.moderation
    chosen = backend or mod.backend
    client = client_for(mod.llm, conf_source, env) if chosen == "llm" else None
    if chosen == "llm" and client is None:
        logging.getLogger(__name__).warning("llm jury asked for but no model configured; using the rules jury")
        chosen = "rules"
    return make_jury(chosen, veto=mod.veto, brands=brands, excluded_topics=p.generation.excluded_topics,
                     client=client)


def moderate_lines(lines: Iterable[str], jury: Jury, daypart: str | None = None) -> list[dict[str, Any]]:
    """Moderate text lines (``title`` or ``title<TAB>daypart``; blank lines skipped).

    Returns one dict per title: ``title, daypart, verdict, blocked_by, reasons``.

    Raises:
        ValueError: a daypart that is not breakfast / lunch / dinner / late / any (names the line).
    """
    titles, dps = [], []
    for n, line in enumerate(lines, 1):
        line = line.rstrip("\n")
        if not line.strip():
            continue
        title, _, dp = line.partition("\t")
        dp = (dp.strip().lower() or daypart or "any")
        if dp not in (*DAYPARTS, "any"):
            raise ValueError(f"line {n}: daypart {dp!r} is not one of {(*DAYPARTS, 'any')}")
        titles.append(title.strip())
        dps.append(None if dp == "any" else dp)
    if not titles:
        return []
    m = jury.moderate(titles, dps)
    return [{"title": r["title"], "daypart": d or "any", "verdict": r["verdict"],
             "blocked_by": r["blocked_by"],
             "reasons": {j.name: r[f"reason_{j.name}"] for j in jury.jurors if r[f"reason_{j.name}"]}}
            for r, d in zip(m.to_dict(orient="records"), dps)]
