"""Checks shared by the dataclasses that are built from Kedro parameter mappings."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any


def reject_unknown(params: Mapping[str, Any] | None, known: Iterable[str], what: str,
                   error: type[Exception] = ValueError) -> dict[str, Any]:
    """``dict(params)`` if every key is in ``known``.

    Raises:
        ``error`` (ValueError by default) naming the unknown keys and listing the known ones, so a
        typo in a parameters file fails at once instead of being silently ignored.
    """
    params = dict(params or {})
    known = sorted(known)
    unknown = sorted(set(params) - set(known))
    if unknown:
        raise error(f"unknown {what} parameter(s) {unknown}; known: {known}")
    return params
