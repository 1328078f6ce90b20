"""Reading text: the teacher's outputs (one JSON value, its fields, :class:`Invalid` with the reason
an output is not used) and the seeds' texts (HTML removed, capped, compared case-folded).
"""
from __future__ import annotations

import html
import json
import re
from typing import Mapping

from training.data.rows import one_line


class Invalid(ValueError):
    """An LLM output we do not use; the message is the reason, counted in the report."""


_FENCE = re.compile(r"^```[a-zA-Z]*\s*\n?(.*?)\n?\s*```$", re.S)


def parse_json(text: str, expect: type = dict):
    """One JSON object (or list), alone or inside a ``` fence; nothing else around it."""
    s = (text or "").strip()
    if not s:
        raise Invalid("empty output")
    fenced = _FENCE.match(s)
    if fenced:
        s = fenced.group(1).strip()
    if not s or s[0] not in "{[":
        raise Invalid("text before the JSON" if "{" in s or "[" in s else "no JSON")
    try:
        value, end = json.JSONDecoder().raw_decode(s)
    except ValueError:
        raise Invalid("not valid JSON") from None
    if s[end:].strip():
        raise Invalid("text after the JSON")
    if not isinstance(value, expect):
        raise Invalid(f"not a JSON {'object' if expect is dict else 'list'}")
    return value


def _text_field(obj: Mapping, key: str, max_chars: int) -> str:
    if key not in obj:
        raise Invalid(f"no {key!r}")
    value = obj[key]
    if not isinstance(value, str):
        raise Invalid(f"{key!r} is not a string")
    if "\n" in value.strip():
        raise Invalid(f"{key!r} spans several lines")
    value = one_line(value)
    if not value:
        raise Invalid(f"{key!r} is empty")
    if len(value) > max_chars:
        raise Invalid(f"{key!r} is too long")
    return value


def _int(value) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def norm(text: str) -> str:
    """Case-folded, whitespace-collapsed: what "the same text" means in the checks."""
    return " ".join(str(text).casefold().split())


_TAG = re.compile(r"<[^>]{0,200}>")
JUNK_VALUES = {"", "nan", "none", "null", "n/a", "na", "-", "unknown", "not applicable", "[]"}


def clean(text) -> str:
    """HTML tags and entities removed, whitespace collapsed."""
    return one_line(_TAG.sub(" ", html.unescape(str(text or ""))))


def cap(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text[:limit].rsplit(" ", 1)[0]
    return (cut or text[:limit]) + " ..."


def _words(text: str) -> list[str]:
    return re.findall(r"\w+", text.casefold())
