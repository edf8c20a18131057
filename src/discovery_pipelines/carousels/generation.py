"""Carousel generation (stage 2): a user's profile + the visit's daypart and day -> N carousels, each a
title and catalogue-aligned metadata (:class:`~discovery_pipelines.carousels.schema.Carousel`).

Requirements of seed 004, each enforced here and measured in the report:

* personal relevance: topics come from the user's own top categories (rules) or the LLM is given the
  profile and only the catalogue categories of the user's departments (hierarchical narrowing);
* daypart awareness: categories with an affinity to the visit's daypart are ranked up and titled for it;
  a title naming another daypart is blocked later by the jury's policy juror;
* topic balance: a carousel's metadata must match between ``min_items`` and ``max_items`` catalogue items
  (too broad -> narrowed to the user's product types of that category, else dropped);
* title diversity: greedy selection keeps a title only if its cosine to every kept title of the user is
  below ``diversity_threshold`` (all-MiniLM-L6-v2 embeddings);
* exclusions: ``excluded_topics`` (words / phrases) never become a topic; brand names are never used
  (rules titles come from category names; LLM titles naming a brand are blocked by the jury).

A **staples** slot comes first for both backends (``staples_categories`` > 0): "Your weekly staples", whose
metadata is the user's top ``staples_categories`` categories (narrowed to the user's product types there when
the union is too broad). A one-category topic caps what a carousel can hit in the next basket (on
completejourney the user's own top-10 items of their top category reach 0.23 hit-rate@10, of their sixth 0.13,
against 0.31 for the all-category bestsellers); the staples theme spans the categories the user restocks
most, as a grocery homepage's "buy it again" row does.

Backends: :class:`RulesCarouselGenerator` (offline, deterministic) and :class:`LLMCarouselGenerator`
(one request per user through the project's :class:`~discovery_pipelines.synthetic.llm.ChatClient`,
JSON schema :class:`~discovery_pipelines.carousels.schema.CarouselAnswer`, the user id echoed; an answer
that is invalid or yields fewer than N usable carousels is completed by the rules generator, counted).
Product names in prompts are untrusted: sanitised, tagged, and any name that carries an instruction
("ignore previous instructions ...") is left out of the prompt (counted as ``injected_titles_dropped``).

Prompt building / rules generation runs over a pandas frame of (profile, context) rows; with
``engine="spark"`` the same function runs as a Spark ``mapInPandas`` job (seed: "we generate our prompts
with Spark jobs and call LLM through batch requests").
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from discovery_pipelines.carousels import lexicons as lx
from discovery_pipelines.carousels.catalogue import Catalogue, is_food_department, pretty
from discovery_pipelines.carousels.profiles import profile_text
from discovery_pipelines.carousels.schema import CarouselAnswer, CarouselMetadata
from discovery_pipelines.synthetic.llm import ChatClient
from discovery_pipelines.synthetic.prompts import render_named, sanitize_product_text

AFFINITY = {
    "breakfast": {"cereal", "cereals", "coffee", "egg", "eggs", "bakery", "breakfast", "juice", "juices", "yogurt",
                  "milk", "bacon", "bread", "tea", "teas", "oatmeal", "pancake", "syrup", "syrups", "fruit", "fruits",
                  "muffin", "bagel", "bagels", "butter", "jam", "jams", "jelly", "granola", "sausage", "pastries",
                  "sweets", "waffle", "waffles", "berries", "citrus", "cream"},
    "lunch": {"lunch", "lunchmeat", "deli", "soup", "soups", "sandwich", "sandwiches", "salad", "salads", "bread",
              "chips", "cheese", "cheeses", "crackers", "wraps", "tortillas", "dips", "meats", "prepared", "noodles",
              "hummus", "pickle", "pickles", "olives", "water", "drinks", "fruit", "vegetables", "buns", "rolls"},
    "dinner": {"dinner", "dinners", "meat", "beef", "chicken", "pork", "turkey", "pasta", "sauce", "sauces",
               "vegetables", "rice", "pizza", "seafood", "fish", "potatoes", "potato", "spices", "wine", "wines",
               "noodles", "frozen", "poultry", "lamb", "sausage", "herbs", "salad", "mixes", "gravy", "oil",
               "dessert", "desserts", "rolls", "tomatoes", "onions", "beans", "hispanic", "meals"},
    "late": {"snacks", "snack", "candy", "chocolate", "ice", "cookies", "popcorn", "chips", "beer", "beers",
             "ales", "soft", "drinks", "novelties", "frozen", "pizza", "nuts", "crackers", "sweets", "cakes",
             "desserts", "pretzels", "cocoa", "tea", "liquor", "spirits", "jerky", "trail"},
}
TEMPLATES = {
    "breakfast": ("Morning {x}", "{X} for breakfast", "Start the day with {x}"),
    "lunch": ("{X} for lunch", "Midday {x}", "Lunchtime {x}"),
    "dinner": ("{X} for dinner", "Dinner tonight: {x}", "{X} for supper"),
    "late": ("Late-night {x}", "{X} after dark", "Midnight {x}"),
    None: ("Your {x}", "{X} favourites", "{X} restock", "More {x} to try"),
}
_INJ = [re.compile(p) for p in lx.INJECTION_PATTERNS]


def has_instruction(text: str) -> bool:
    """True when ``text`` carries an instruction to a model (e.g. "ignore previous instructions")."""
    t = str(text).lower()
    return any(p.search(t) for p in _INJ)


def affinity(category: str, department: str, daypart: str | None) -> float:
    """Share of the category's words that belong to the daypart's food vocabulary (0 for non-food)."""
    if daypart not in AFFINITY or not is_food_department(department):
        return 0.0
    words = [w for w in re.findall(r"[a-z]+", pretty(category)) if w not in lx.STOPWORDS]
    return sum(w in AFFINITY[daypart] for w in words) / max(1, len(words))


def readable(name: str) -> bool:
    """True when the title words of a catalogue name (:func:`pretty`) read as English: no token with a digit
    and every word known to the jury's vocabulary (:func:`~discovery_pipelines.carousels.jury.known_word`
    over :func:`~discovery_pipelines.carousels.jury.base_vocabulary`). Complete Journey's product types are
    often store abbreviations ("SFT DRNK 2 LITER BTL CARB INCL", "SGL SV/VEND MACH SNACKS CHIP/P"): they
    narrow a topic's items but make poor titles. Without the packaged text model only the digit test
    applies."""
    from discovery_pipelines.carousels.jury import base_vocabulary, known_word

    words = re.findall(r"[a-z0-9][a-z0-9'\-]*", pretty(name))
    if not words or any(any(ch.isdigit() for ch in w) for w in words):
        return False
    vocab = base_vocabulary()
    return not vocab or all(known_word(w, vocab) for w in words if w not in lx.STOPWORDS)


def make_title(name: str, daypart: str | None, variant: int = 0) -> str:
    """A title from a topic name and the daypart's templates (at most 8 words / 60 characters)."""
    x = name
    for _ in range(3):
        t = TEMPLATES.get(daypart, TEMPLATES[None])
        tmpl = t[variant % len(t)]
        title = tmpl.replace("{x}", x).replace("{X}", x[:1].upper() + x[1:])
        title = title[:1].upper() + title[1:]
        if len(title) <= 60 and len(title.split()) <= 8:
            return title
        x = re.split(r",| and ", x)[0].strip()  # shorten: first part of the name
    return title[:60].rsplit(" ", 1)[0]


def excluded(text: str, topics: Sequence[str]) -> bool:
    """True when any configured off-policy topic (word or phrase) occurs in ``text``."""
    t = " " + re.sub(r"[^a-z0-9]+", " ", str(text).lower()) + " "
    return any(f" {re.sub(r'[^a-z0-9]+', ' ', x.lower()).strip()} " in t for x in topics if x.strip())


class RulesCarouselGenerator:
    """Offline carousels from the profile's categories (see module doc).

    Args:
        catalogue: the :class:`Catalogue` (topic sizes, category -> department).
        n: carousels per user; ``min_items`` / ``max_items``: topic-balance bounds;
        excluded_topics: off-policy words / phrases.
    """

    name = "rules"

    STAPLES_TITLE = "Your weekly staples"

    def __init__(self, catalogue: Catalogue, n: int = 6, min_items: int = 15, max_items: int = 2500,
                 excluded_topics: Sequence[str] = (), staples_categories: int = 0) -> None:
        self.cat, self.n, self.min_items, self.max_items = catalogue, n, min_items, max_items
        self.excluded_topics = list(excluded_topics)
        self.staples_categories = int(staples_categories)
        it = catalogue.items
        self.dept_of = it.dropna(subset=["category"]).groupby("category")["department"].agg(
            lambda s: s.value_counts().index[0]).to_dict()
        self.cat_of_type = it.dropna(subset=["product_type", "category"]).groupby("product_type")["category"].agg(
            lambda s: s.value_counts().index[0]).to_dict()
        self.cats_by_dept: dict[str, list[str]] = {}
        for c, d in sorted(self.dept_of.items(), key=lambda kv: -catalogue.category_size.get(kv[0], 0)):
            self.cats_by_dept.setdefault(d, []).append(c)
        self.stats: Counter = Counter()

    def staples(self, profile: Mapping[str, Any]) -> dict[str, Any] | None:
        """The staples carousel (see module doc) or ``None`` when disabled, when the user has no own
        categories, or when its topic stays outside ``[min_items, max_items]`` even narrowed (counted)."""
        if self.staples_categories <= 0:
            return None
        cats = [c for c in (profile.get("top_categories") or []) if c in self.dept_of and
                not excluded(f"{c} {self.dept_of[c]} {pretty(c)}", self.excluded_topics)][: self.staples_categories]
        if not cats:
            return None
        pts: list[str] = []
        size = self.cat.topic_size(cats, [])
        if size > self.max_items:
            pts = [t for t in (profile.get("top_product_types") or []) if self.cat_of_type.get(t) in cats]
            size = self.cat.topic_size(cats, pts) if pts else size
        if not self.min_items <= size <= self.max_items:
            self.stats["staples_balance_rejected"] += 1
            return None
        meta = CarouselMetadata(department=sorted({self.dept_of[c] for c in cats}), category=cats, product_type=pts)
        return {"title": self.STAPLES_TITLE, "metadata": meta, "topic_size": size, "daypart_affine": False,
                "source": "staples"}

    def candidates(self, profile: Mapping[str, Any], daypart: str | None) -> list[dict[str, Any]]:
        """Ranked candidate carousels (more than ``n``: diversity selection happens later), the staples
        carousel first when enabled."""
        own = [c for c in (profile.get("top_categories") or []) if c in self.dept_of]
        depts = [d for d in (profile.get("top_departments") or []) if d in self.cats_by_dept]
        # personal topics first (rank-weighted), then daypart-affine categories of the user's departments
        scored: dict[str, float] = {}
        for r, c in enumerate(own):
            scored[c] = 1.0 / (1 + r) + affinity(c, self.dept_of[c], daypart)
        # exploration fills only: daypart-affine categories of the user's departments rank after every
        # own category (personal relevance is the seed's paramount objective)
        for d in depts[:3]:
            for c in self.cats_by_dept[d][:15]:
                a = affinity(c, d, daypart)
                if a > 0 and c not in scored:
                    scored[c] = -1.0 + 0.25 * a
        types = [t for t in (profile.get("top_product_types") or []) if t in self.cat_of_type]
        st = self.staples(profile)
        out = [st] if st is not None else []
        for c, s in sorted(scored.items(), key=lambda kv: (-kv[1], kv[0])):
            d = self.dept_of[c]
            if excluded(f"{c} {d} {pretty(c)}", self.excluded_topics):
                self.stats["excluded_topic"] += 1
                continue
            pts = [t for t in types if self.cat_of_type.get(t) == c][:3]
            size = self.cat.topic_size([c], [])
            narrow = False
            if size > self.max_items and pts:
                size, narrow = self.cat.topic_size([c], pts), True
            if not self.min_items <= size <= self.max_items:
                self.stats["balance_rejected"] += 1
                continue
            a = affinity(c, d, daypart)
            # a narrowed topic is titled by its product type when that reads as English, else by its category
            by_type = narrow and readable(pts[0])
            if narrow and not by_type:
                self.stats["unreadable_type_titled_by_category"] += 1
            name = pretty(pts[0]) if by_type else pretty(c)
            title = make_title(name, daypart if a > 0 else None, variant=len(out))
            meta = CarouselMetadata(department=[d], category=[c], product_type=pts)
            out.append({"title": title, "metadata": meta, "topic_size": size, "daypart_affine": a > 0,
                        "source": "rules"})
        return out

    def generate_one(self, profile: Mapping[str, Any], context: Mapping[str, Any]) -> list[dict[str, Any]]:
        return self.candidates(profile, context.get("daypart"))


def select_diverse(cands: list[dict[str, Any]], emb: np.ndarray, n: int, threshold: float) -> tuple[list[int], int]:
    """Greedy: keep candidate ``i`` when cos(emb_i, emb_j) < ``threshold`` for every kept ``j``; stop at ``n``.

    Returns ``(kept indices, number rejected as too similar)``.
    """
    kept: list[int] = []
    rejected = 0
    for i in range(len(cands)):
        if len(kept) >= n:
            break
        if kept and float(np.max(emb[kept] @ emb[i])) >= threshold:
            rejected += 1
            continue
        kept.append(i)
    return kept, rejected


class LLMCarouselGenerator:
    """Carousels from an OpenAI-compatible model, one request per user; rules fill what the model misses.

    Args:
        client: the project's :class:`ChatClient`; rules: the :class:`RulesCarouselGenerator` used for
            completion and its catalogue lookups; item_titles: ``{product_id: name}`` for the profile's items.
    """

    name = "llm"

    def __init__(self, client: ChatClient, rules: RulesCarouselGenerator, item_titles: Mapping[str, str]) -> None:
        self.client, self.rules, self.item_titles = client, rules, dict(item_titles)
        self.stats: Counter = Counter()

    def allowed_categories(self, profile: Mapping[str, Any], daypart: str | None, limit: int = 40) -> list[str]:
        """Hierarchical narrowing: the categories of the user's top departments (own categories first)."""
        own = [c for c in (profile.get("top_categories") or []) if c in self.rules.dept_of]
        out = list(own)
        for d in (profile.get("top_departments") or [])[:3]:
            for c in self.rules.cats_by_dept.get(d, []):
                if c not in out:
                    out.append(c)
        return [c for c in out if not excluded(c, self.rules.excluded_topics)][:limit]

    def messages(self, profile: Mapping[str, Any], context: Mapping[str, Any]) -> list[dict[str, str]]:
        """The chat messages for one user (untrusted names sanitised; instruction-bearing ones left out)."""
        names = []
        for pid in profile.get("top_items") or []:
            t = self.item_titles.get(str(pid))
            if not t:
                continue
            if has_instruction(t):
                self.stats["injected_titles_dropped"] += 1
                continue
            names.append(sanitize_product_text(t, 80))
        cats = self.allowed_categories(profile, context.get("daypart"))
        msgs, _ = render_named("en", "carousel_generation", {
            "user_id": str(profile["user_id"]), "n": str(self.rules.n),
            "profile": sanitize_product_text(profile_text(profile), 600),
            "items": "\n".join(f"- {n}" for n in names) or "- (none)",
            "daypart": str(context.get("daypart") or "any"), "day": str(context.get("day") or "any"),
            "categories": "\n".join(f"- {sanitize_product_text(c, 60)}" for c in cats),
            "excluded": ", ".join(self.rules.excluded_topics) or "none"})
        return msgs

    def answer_to_candidates(self, ans: CarouselAnswer, profile: Mapping[str, Any],
                             daypart: str | None) -> list[dict[str, Any]]:
        """Validated answer -> candidates; unknown categories, excluded topics and unbalanced topics dropped."""
        out = []
        for c in ans.carousels:
            cats = [x for x in c.metadata.category if x in self.rules.dept_of]
            if not cats:
                self.stats["unknown_category"] += 1
                continue
            if excluded(f"{c.title} {' '.join(cats)}", self.rules.excluded_topics):
                self.stats["excluded_topic"] += 1
                continue
            pts = [t for t in c.metadata.product_type if t in self.rules.cat_of_type]
            size = self.rules.cat.topic_size(cats, pts)
            if not self.rules.min_items <= size <= self.rules.max_items:
                self.stats["balance_rejected"] += 1
                continue
            meta = CarouselMetadata(department=sorted({self.rules.dept_of[x] for x in cats}), category=cats,
                                    product_type=pts)
            out.append({"title": c.title, "metadata": meta, "topic_size": size,
                        "daypart_affine": any(affinity(x, self.rules.dept_of[x], daypart) > 0 for x in cats),
                        "source": "llm"})
        return out

    def generate_many(self, rows: Sequence[tuple[Mapping[str, Any], Mapping[str, Any]]]) -> list[list[dict[str, Any]]]:
        jobs = []
        for prof, ctx in rows:
            def check(a: Any, _u: str = str(prof["user_id"])) -> None:
                if a.user_id != _u:
                    raise ValueError(f"answer for user {a.user_id!r}, asked {_u!r}")
            jobs.append((self.messages(prof, ctx), CarouselAnswer, check))
        res = self.client.map(jobs, desc="carousels (LLM)")
        out = []
        for (prof, ctx), r in zip(rows, res):
            st = self.rules.staples(prof)
            cands = [st] if st is not None else []
            if r.parsed is not None:
                cands += self.answer_to_candidates(r.parsed, prof, ctx.get("daypart"))
            self.stats["answers_valid" if r.parsed is not None else "answers_invalid"] += 1
            if len(cands) < self.rules.n:
                fill = [c for c in self.rules.generate_one(prof, ctx)
                        if c["metadata"].category not in [x["metadata"].category for x in cands]
                        and c["source"] != "staples"]
                self.stats["filled_by_rules"] += max(0, min(len(fill), 2 * self.rules.n - len(cands)))
                cands += fill
            out.append(cands)
        return out


def _rules_partition(pdf: pd.DataFrame, gen: RulesCarouselGenerator) -> pd.DataFrame:
    rows = []
    for r in pdf.to_dict(orient="records"):
        prof = json.loads(r["profile_json"])
        ctx = {"daypart": r["daypart"], "day": r["day"]}
        for rank, c in enumerate(gen.generate_one(prof, ctx)):
            rows.append({"user_id": prof["user_id"], "rank": rank, "title": c["title"],
                         "metadata": c["metadata"].model_dump_json(), "topic_size": int(c["topic_size"]),
                         "daypart_affine": bool(c["daypart_affine"]), "source": c["source"]})
    return pd.DataFrame(rows, columns=["user_id", "rank", "title", "metadata", "topic_size", "daypart_affine",
                                       "source"])


def generate_candidates(profiles: pd.DataFrame, context: pd.DataFrame, gen: RulesCarouselGenerator,
                        llm: LLMCarouselGenerator | None = None, engine: str = "pandas",
                        spark_master: str = "local[1]") -> pd.DataFrame:
    """Candidate carousels for every profiled user, one row per candidate (``metadata`` as JSON).

    ``engine="spark"`` runs the rules generation / prompt building as a ``mapInPandas`` job; LLM calls are
    batched on the driver through the client's bounded pool either way.

    Raises:
        ValueError: unknown engine.
    """
    rows = profiles.merge(context, on="user_id", how="inner")
    if llm is not None:
        pairs = [(p, {"daypart": p["daypart"], "day": p["day"]}) for p in rows.to_dict(orient="records")]
        res = llm.generate_many(pairs)
        out = []
        for (p, _), cands in zip(pairs, res):
            for rank, c in enumerate(cands):
                out.append({"user_id": p["user_id"], "rank": rank, "title": c["title"],
                            "metadata": c["metadata"].model_dump_json(), "topic_size": int(c["topic_size"]),
                            "daypart_affine": bool(c["daypart_affine"]), "source": c["source"]})
        return pd.DataFrame(out, columns=["user_id", "rank", "title", "metadata", "topic_size", "daypart_affine",
                                          "source"])
    payload = pd.DataFrame({"profile_json": [json.dumps(p, default=list) for p in
                                             rows[profiles.columns].to_dict(orient="records")],
                            "daypart": rows["daypart"].astype(str), "day": rows["day"].astype(str)})
    if engine == "pandas":
        return _rules_partition(payload, gen)
    if engine != "spark":
        raise ValueError(f"generation engine must be 'pandas' or 'spark', got {engine!r}")
    from discovery_pipelines.log_mining.mining import spark_session

    schema = ("user_id string, rank long, title string, metadata string, topic_size long, "
              "daypart_affine boolean, source string")
    import sys

    # Python workers must run this interpreter (the project's venv), not whatever python is on PATH
    conf = {"spark.pyspark.python": sys.executable, "spark.pyspark.driver.python": sys.executable,
            "spark.executorEnv.PYTHONPATH": ":".join(p for p in sys.path if p)}
    with spark_session(spark_master, conf=conf, app_name="carousels") as spark:
        sdf = spark.createDataFrame(payload).repartition(2)
        out = sdf.mapInPandas(lambda it: (_rules_partition(p, gen) for p in it), schema=schema).toPandas()
    return out.sort_values(["user_id", "rank"], kind="stable").reset_index(drop=True)


def metadata_from_json(s: str) -> CarouselMetadata:
    """Parse a stored metadata JSON string."""
    return CarouselMetadata.model_validate_json(s)
