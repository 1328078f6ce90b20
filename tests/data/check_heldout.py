#!/usr/bin/env python3
"""Validate tests/data/routing_heldout.jsonl (the held-out router test set).

Checks, per row:
  * keys prompt, is_multiple_choice, task_type, n_candidates, family, note with the right types;
  * task_type is one of the five official task types;
  * task_type == "multiple-choice" iff is_multiple_choice is true;
  * ranking / retrieval: n_candidates >= 2, the prompt has a run of lines numbered 1..n_candidates
    (accepts "1. x", "1.x", "1) x", "1 - x", "1: x"), and no run starting at 1 is longer than that;
  * multiple-choice: n_candidates is 0 (no listed options, e.g. a star rating) or 2..10 with lines
    numbered 0..n_candidates-1; with 0, no 0-based option list may appear;
  * named_entity_recognition / generation: n_candidates == 0;
  * no duplicate prompts; no sentence (>= 30 chars) of the dev set is reused verbatim.
Prints counts per task_type and per family. Exit status 1 on any error.
Usage: python3 tests/data/check_heldout.py [path.jsonl]
"""
import collections
import json
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT = os.path.join(HERE, "routing_heldout.jsonl")
DEV = "/work/shared/data/shopbench/development.json"
TYPES = ["multiple-choice", "ranking", "retrieval", "named_entity_recognition", "generation"]
KEYS = {"prompt": str, "is_multiple_choice": bool, "task_type": str, "n_candidates": int,
        "family": str, "note": str}
NUM_LINE = re.compile(r"^\s*(\d{1,2})\s*(?:[.)\uff0e:]|-\s)")


def numbered_runs(prompt):
    """Runs of consecutively numbered lines: list of (start, length). Unnumbered lines do not break a run."""
    runs = []
    for line in prompt.splitlines():
        m = NUM_LINE.match(line)
        if not m:
            continue
        k = int(m.group(1))
        if runs and k == runs[-1][0] + runs[-1][1]:
            runs[-1][1] += 1
        else:
            runs.append([k, 1])
    return [tuple(r) for r in runs]


def dev_sentences():
    if not os.path.exists(DEV):
        return []
    out = set()
    with open(DEV, encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            text = json.loads(line)["input_field"]
            for part in re.split(r"\n|(?<=[.?!])\s+", text):
                part = part.strip()
                if len(part) >= 30:
                    out.add(part)
    return sorted(out)


def check_row(i, row, errors):
    def err(msg):
        errors.append(f"line {i}: {msg}")

    for k, t in KEYS.items():
        if k not in row:
            err(f"missing key {k!r}")
            return
        if not isinstance(row[k], t) or (t is int and isinstance(row[k], bool)):
            err(f"key {k!r} should be {t.__name__}, got {type(row[k]).__name__}")
            return
    extra = set(row) - set(KEYS)
    if extra:
        err(f"unexpected keys {sorted(extra)}")
    tt, mc, n, prompt = row["task_type"], row["is_multiple_choice"], row["n_candidates"], row["prompt"]
    if tt not in TYPES:
        err(f"invalid task_type {tt!r}")
        return
    if (tt == "multiple-choice") != mc:
        err(f"task_type {tt!r} with is_multiple_choice={mc}")
    if not prompt.strip():
        err("empty prompt")
    if not row["family"].strip():
        err("empty family")
    runs = numbered_runs(prompt)
    if tt in ("ranking", "retrieval"):
        if n < 2:
            err(f"{tt} needs n_candidates >= 2, got {n}")
        one_based = [length for start, length in runs if start == 1]
        if n not in one_based:
            err(f"{tt}: no run of lines numbered 1..{n} (1-based runs found: {one_based})")
        if one_based and max(one_based) > n:
            err(f"{tt}: a run numbered 1..{max(one_based)} is longer than n_candidates={n}")
    elif tt == "multiple-choice":
        zero_based = [length for start, length in runs if start == 0]
        if n == 0:
            if any(length >= 2 for length in zero_based):
                err("multiple-choice with n_candidates=0 but 0-based options are listed")
        else:
            if not 2 <= n <= 10:
                err(f"multiple-choice n_candidates should be 0 or 2..10, got {n}")
            if n not in zero_based:
                err(f"multiple-choice: no run of lines numbered 0..{n - 1} (0-based runs: {zero_based})")
            if zero_based and max(zero_based) > n:
                err(f"multiple-choice: 0-based run longer than n_candidates={n}")
    else:
        if n != 0:
            err(f"{tt} should have n_candidates 0, got {n}")


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else DEFAULT
    errors, rows, seen = [], [], {}
    with open(path, encoding="utf-8") as f:
        for i, line in enumerate(f, 1):
            if not line.strip():
                errors.append(f"line {i}: blank line")
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                errors.append(f"line {i}: invalid JSON ({e})")
                continue
            if not isinstance(row, dict):
                errors.append(f"line {i}: not a JSON object")
                continue
            check_row(i, row, errors)
            rows.append(row)
            p = row.get("prompt")
            if isinstance(p, str):
                if p in seen:
                    errors.append(f"line {i}: duplicate prompt (first at line {seen[p]})")
                seen.setdefault(p, i)

    sentences = dev_sentences()
    for i, row in enumerate(rows, 1):
        p = row.get("prompt") if isinstance(row.get("prompt"), str) else ""
        norm = p.replace("\r\n", "\n")
        for s in sentences:
            if s in norm:
                errors.append(f"row {i}: reuses a dev-set sentence verbatim: {s[:80]!r}")

    by_type = collections.Counter(r.get("task_type") for r in rows)
    by_family = collections.Counter((r.get("task_type"), r.get("family")) for r in rows)
    print(f"{len(rows)} rows in {path}")
    print("per task_type:")
    for t in TYPES:
        print(f"  {t:26s} {by_type.get(t, 0)}")
    print("per task_type / family:")
    for (t, fam), c in sorted(by_family.items(), key=lambda x: (TYPES.index(x[0][0]) if x[0][0] in TYPES else 9, x[0][1])):
        print(f"  {t:26s} {fam:45s} {c}")
    if errors:
        print(f"\n{len(errors)} error(s):")
        for e in errors:
            print("  " + e)
        return 1
    print("\nOK: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
