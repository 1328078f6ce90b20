"""The official ShopBench answer parsers, rule for rule (quirks included).

The grader turns every raw model answer into a structured prediction before scoring it; an
answer a parser cannot use becomes -1 / [] and scores 0. This module reproduces the final
upstream `parsers.py` of the Amazon KDD Cup 2024 starter kit (`ShoppingBenchTaskParsers`,
VERSION "0.1.1", with `MAX_RESPONSE_CHARACTERS = 5000`). Earlier versions of that file (the
ones in the GitHub copy `Keita18/amazon-kdd-cup-2024-starter-kit`, `parsers.py`) differed:
they kept "[" and "]" in ranking/retrieval answers, did not filter ranking numbers > 5, could
return None for NER, kept empty NER items and crashed on an empty multiple-choice answer.

Rules (per official task type, see `PARSERS`):
- multiple-choice: `int(response.strip()[0])`, -1 on any failure. Only the first non-whitespace
  character counts: "2 because" -> 2, "Answer: 2" -> -1, "10" -> 1, "" -> -1.
- ranking: keep the characters that are `str.isnumeric()` (wider than 0-9, e.g. "½", "五";
  those then fail `int()` and drop out), "," and " " (newlines and tabs are deleted, so
  "1\\n2" reads as 12); split on ","; `int()` each piece, skipping failures ("1 2" is one
  piece and fails); keep values <= 5 (0 included); first 5; ANY duplicate -> [].
- retrieval: same cleaning and splitting; the first 3 ints; no range filter, no de-duplication.
- named_entity_recognition: `ast.literal_eval`; a list whose items are all strings is returned
  as is (not stripped, "[]" -> []); anything else falls back to splitting on "," with each
  item stripped and empty items dropped ("[a, b]" -> ["[a", "b]"]).
- generation: `response.strip()`.

`parse()` first cuts the answer to `MAX_RESPONSE_CHARS` characters, as the evaluator does;
the `parse_*` functions apply one rule to the text they are given, without that cut.
Differences from the official code: a non-string answer raises `TypeError` here (an
`AssertionError` there), an unknown task type raises `KeyError` (`NotImplementedError` there),
and failures are not logged.
"""
from __future__ import annotations

import ast
from typing import Any, Callable

MAX_RESPONSE_CHARS = 5000  # the evaluator reads only this many characters of an answer
RANKING_MAX_ITEM = 5  # a ranking question has 5 candidates, so larger numbers are dropped
RANKING_LENGTH = 5  # the first 5 numbers form the ranking
RETRIEVAL_LENGTH = 3  # hit rate@3 looks at the first 3 numbers
_KEPT_PUNCTUATION = (",", " ")


def parse_multiple_choice(response: str) -> int:
    """The first non-whitespace character as an int; -1 if there is none or it is no digit."""
    try:
        return int(response.strip()[0])
    except Exception:  # IndexError on a blank answer, ValueError on a non-digit
        return -1


def _comma_separated_ints(response: str) -> list[int]:
    cleaned = "".join(c for c in response if c.isnumeric() or c in _KEPT_PUNCTUATION)
    numbers = []
    for item in cleaned.split(","):
        try:
            numbers.append(int(item))
        except ValueError:  # "", "1 2", "½", ...
            pass
    return numbers


def parse_ranking(response: str) -> list[int]:
    """Comma-separated candidate numbers <= 5, the first 5 of them; [] if any repeats."""
    ranked = [n for n in _comma_separated_ints(response) if n <= RANKING_MAX_ITEM][:RANKING_LENGTH]
    return ranked if len(ranked) == len(set(ranked)) else []


def parse_retrieval(response: str) -> list[int]:
    """The first 3 comma-separated numbers, repeats kept."""
    return _comma_separated_ints(response)[:RETRIEVAL_LENGTH]


def parse_ner(response: str) -> list[str]:
    """A Python list literal of strings as is; otherwise the non-empty comma-separated items."""
    try:
        entities = ast.literal_eval(response)
        if isinstance(entities, list) and all(isinstance(e, str) for e in entities):
            return entities
    except Exception:  # SyntaxError, ValueError, RecursionError, ... all fall back
        pass
    return [e.strip() for e in response.split(",") if e.strip() != ""]


def parse_generation(response: str) -> str:
    """The answer without surrounding whitespace."""
    return response.strip()


PARSERS: dict[str, Callable[[str], Any]] = {
    "multiple-choice": parse_multiple_choice,
    "ranking": parse_ranking,
    "retrieval": parse_retrieval,
    "named_entity_recognition": parse_ner,
    "generation": parse_generation,
}


# What each parser returns when it cannot use an answer: it scores 0 for sure (NER and generation
# have no such value: an empty list or text is read as given).
FAILURES: dict[str, Any] = {"multiple-choice": -1, "ranking": [], "retrieval": []}


def unusable(task_type: str, parsed: Any) -> bool:
    """Whether ``parsed`` is the parser's failure value for ``task_type`` (the answer scores 0)."""
    return task_type in FAILURES and parsed == FAILURES[task_type]


def parse(task_type: str, response: str) -> Any:
    """Parse one raw answer as the official evaluator does: cut to 5000 characters, dispatch."""
    if not isinstance(response, str):
        raise TypeError(
            f"a model answer must be a str, got {type(response).__name__} ({response!r:.80}); "
            "the official evaluator fails on non-string answers"
        )
    try:
        parser = PARSERS[task_type]
    except KeyError:
        raise KeyError(
            f"unknown task type {task_type!r}; known task types: {', '.join(PARSERS)}"
        ) from None
    return parser(response[:MAX_RESPONSE_CHARS])
