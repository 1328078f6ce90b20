"""The held-out routing sets are sound data: labels consistent, lists really numbered, no dev copies.

Read with a deliberately simple, independent reading of numbered lines (not the router's), so
that a wrong label or count in the data cannot hide behind the code under test.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from utilities.tasks import TASK_TYPES

DATA = Path(__file__).parent / "data"
SETS = sorted(DATA.glob("routing_heldout*.jsonl"))
KEYS = {"prompt": str, "is_multiple_choice": bool, "task_type": str, "n_candidates": int, "family": str, "note": str}
# "1.", "(1)", "Review 1:", "#1 ...", "1、", "（1）"
NUMBERED = re.compile(r"^\s*(?:[^\W\d_]+\s+)?(?:[(\[#（])?(\d{1,2})\s*(?:[.)\]:、）]|\s-\s?|(?<=#\d)\s|(?<=#\d\d)\s)")


def numbers_at_line_starts(prompt: str) -> list[int]:
    return [int(m.group(1)) for line in prompt.splitlines() if (m := NUMBERED.match(line))]


def lists_n_candidates(numbers: list[int], n: int) -> bool:
    """At least two candidates, numbered 1..n (ShopBench's own lists) or 0..n-1 (other authors')."""
    return n >= 2 and any(all(k in numbers for k in range(first, first + n)) for first in (1, 0))


def test_a_candidate_list_may_be_numbered_from_1_or_from_0_but_not_with_gaps():
    assert lists_n_candidates(numbers_at_line_starts("1) a\n2) b\n3) c"), 3)
    assert lists_n_candidates(numbers_at_line_starts("0. a\n1. b\n2. c"), 3)
    assert not lists_n_candidates(numbers_at_line_starts("0. a\n1. b\n2. c"), 4)
    assert not lists_n_candidates(numbers_at_line_starts("1. a\n3. b\n4. c"), 3)
    assert not lists_n_candidates(numbers_at_line_starts("1. a"), 1)


def rows_of(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


@pytest.fixture(scope="module")
def dev_sentences(dev_rows):
    out = set()
    for row in dev_rows:
        for part in re.split(r"\n|(?<=[.?!])\s+", row["input_field"]):
            if len(part.strip()) >= 30:
                out.add(part.strip())
    return out


@pytest.mark.parametrize("path", SETS, ids=lambda p: p.stem)
def test_held_out_rows_are_consistent(path, dev_sentences):
    rows = rows_of(path)
    assert len({r["prompt"] for r in rows}) == len(rows), "duplicate prompts"
    for row in rows:
        assert {k: type(row[k]) for k in KEYS} == KEYS, row
        assert row["task_type"] in TASK_TYPES
        assert (row["task_type"] == "multiple-choice") == row["is_multiple_choice"]
        numbers = numbers_at_line_starts(row["prompt"])
        n = row["n_candidates"]
        if row["task_type"] in ("ranking", "retrieval"):
            assert lists_n_candidates(numbers, n), row["prompt"][:80]
        elif row["task_type"] == "multiple-choice" and n:
            assert all(k in numbers for k in range(n)), row["prompt"][:80]
        else:
            assert n == 0
        copied = [s for s in dev_sentences if s in row["prompt"]]
        assert not copied, copied
