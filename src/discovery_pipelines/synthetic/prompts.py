"""Versioned prompt templates, per language and per failure group.

Layout: ``prompts/<lang>/_frame.v<k>.yaml`` (system + user frame of one language, written natively
for that language: the German and Finnish frames address compounds and inflection, they are not
translations) and ``prompts/<lang>/<group>.v<k>.yaml`` (the group's ``instruction``). A group with no
file of its own in a language uses ``<lang>/_default`` (cluster groups always do, with the cluster's
terms as ``$hint``). A language with no frame raises: no silent fallback to English.

Placeholders use :class:`string.Template` (``$title``), so JSON braces in templates need no escaping.
The version of a rendered prompt is ``<lang>/<group file>.v<k>+<frame>.v<k>@<sha256[:8]>`` of the
files' bytes: editing a template changes the version (and the LLM cache key).
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from string import Template

import yaml

from discovery_pipelines.data.io import sha256_bytes

PROMPT_DIR = Path(__file__).parent / "prompts"
_SAFE = re.compile(r"[<>\x00-\x08\x0b-\x1f\x7f]")


def sanitize_product_text(text: str, max_chars: int = 300) -> str:
    """Untrusted catalogue text made safe to place between ``<product>`` tags: angle brackets and
    control characters removed (no tag can be closed or opened), whitespace collapsed, truncated."""
    return " ".join(_SAFE.sub(" ", str(text)).split())[:max_chars]


@lru_cache(maxsize=256)
def _load(path: Path) -> tuple[dict, str]:
    raw = path.read_bytes()
    return yaml.safe_load(raw) or {}, sha256_bytes(raw)[:8]


def _latest(folder: Path, stem: str, version: int | None) -> Path | None:
    if version is not None:
        p = folder / f"{stem}.v{version}.yaml"
        return p if p.exists() else None
    found = sorted(folder.glob(f"{stem}.v*.yaml"), key=lambda p: int(p.stem.rsplit(".v", 1)[1]))
    return found[-1] if found else None


def template_files(language: str, group: str, version: int | None = None,
                   prompt_dir: Path = PROMPT_DIR) -> tuple[Path, Path]:
    """``(frame file, group file)`` for a language and group.

    Raises:
        FileNotFoundError: no frame for ``language`` (names the folder looked in).
    """
    folder = prompt_dir / language
    frame = _latest(folder, "_frame", version)
    if frame is None:
        raise FileNotFoundError(f"no prompt frame for language {language!r} in {folder} "
                                f"(write {folder}/_frame.v1.yaml; languages are not auto-translated)")
    g = None if group.startswith("cluster:") else _latest(folder, group, version)
    return frame, g or _latest(folder, "_default", version) or frame


def render_generation(language: str, group: str, *, product_id: str, title: str, n: int,
                      hint: str = "", version: int | None = None) -> tuple[list[dict[str, str]], str]:
    """Chat messages asking for ``n`` queries of ``group`` for one product, and the template version."""
    frame_p, group_p = template_files(language, group, version)
    frame, fh = _load(frame_p)
    grp, gh = _load(group_p)
    hint = hint or group.split(":", 1)[-1].replace("-", " ")
    instruction = Template(str(grp.get("instruction", ""))).safe_substitute(hint=sanitize_product_text(hint, 80))
    values = {"instruction": instruction, "n": str(n), "product_id": sanitize_product_text(product_id, 64),
              "title": sanitize_product_text(title)}
    msgs = [{"role": "system", "content": Template(frame["system"]).safe_substitute(values).strip()},
            {"role": "user", "content": Template(frame["user"]).safe_substitute(values).strip()}]
    version_s = f"{language}/{group_p.stem}+{frame_p.stem}@{gh}{fh}"
    return msgs, version_s


def render_named(language: str, name: str, values: dict[str, str], version: int | None = None
                 ) -> tuple[list[dict[str, str]], str]:
    """Messages of a two-part template file ``<lang>/<name>.v<k>.yaml`` (e.g. ``jury``), falling back
    to English for these evaluation prompts (they are not shown to shoppers)."""
    p = _latest(PROMPT_DIR / language, name, version) or _latest(PROMPT_DIR / "en", name, version)
    if p is None:
        raise FileNotFoundError(f"no prompt template {name!r} for {language!r} or 'en' in {PROMPT_DIR}")
    t, h = _load(p)
    msgs = [{"role": "system", "content": Template(t["system"]).safe_substitute(values).strip()},
            {"role": "user", "content": Template(t["user"]).safe_substitute(values).strip()}]
    return msgs, f"{p.parent.name}/{p.stem}@{h}"
