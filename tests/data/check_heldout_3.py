#!/usr/bin/env python3
"""Validate the blind router held-out set tests/data/routing_heldout_3.jsonl (stdlib only).

Checks: required keys and types; valid task_type; multiple-choice iff is_multiple_choice;
ranking/retrieval have n_candidates >= 2 and the prompt holds lines numbered 1..n_candidates;
multiple-choice with listed options has lines numbered 0..n_candidates-1; NER/generation have
n_candidates 0; no duplicate prompts; no sentence of 30+ characters copied from a dev prompt
(skipped if the dev file is absent). Prints counts per task_type and per family.
Exit status 1 on any error.
"""
import collections
import json
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "routing_heldout_3.jsonl")
DEV_CANDIDATES = [
    os.environ.get("SHOPBENCH_DEV", ""),
    "/work/shared/data/shopbench/development.json",
    os.path.join(HERE, "..", "..", "..", "shared", "data", "shopbench", "development.json"),
]
KEYS = ("prompt", "is_multiple_choice", "task_type", "n_candidates", "family", "note")
TYPES = ("multiple-choice", "ranking", "retrieval", "named_entity_recognition", "generation")
MIN_COPY = 30

# Numbered-line formats: "1.", "1)", "(1)", "1:", "[1]", "1 -", "Review 1:" / "Product 2." ...
NUM_PATTERNS = {
    "dot": re.compile(r"^\s*(\d{1,2})\.(?!\d)\s*\S"),
    "paren": re.compile(r"^\s*(\d{1,2})\)\s*\S"),
    "both_paren": re.compile(r"^\s*\((\d{1,2})\)\s*\S"),
    "colon": re.compile(r"^\s*(\d{1,2})\s?[:：]\s*\S"),
    "bracket": re.compile(r"^\s*\[(\d{1,2})\]\s*\S"),
    "dash": re.compile(r"^\s*(\d{1,2})\s+[-–]\s+\S"),
    "label": re.compile(
        r"^\s*(?:Review|Product|Item|Candidate|Option|Query|Snippet)\s+#?(\d{1,2})\s*[:.)\-]\s*\S"),
}


def numbered_runs(prompt, start):
    """Lengths of runs start, start+1, ... of numbered lines, per format (lines in order)."""
    lines = prompt.splitlines()
    runs = []
    for pat in NUM_PATTERNS.values():
        nums = [int(m.group(1)) for m in (pat.match(l) for l in lines) if m]
        cur = None
        for n in nums:
            if n == start:
                if cur is not None:
                    runs.append(cur)
                cur = 1
            elif cur is not None and n == start + cur:
                cur += 1
            else:
                if cur is not None:
                    runs.append(cur)
                cur = None
        if cur is not None:
            runs.append(cur)
    return runs


def norm(text):
    return re.sub(r"\s+", " ", text).strip().lower()


def dev_sentences():
    for path in DEV_CANDIDATES:
        if path and os.path.isfile(path):
            sents = set()
            with open(path, encoding="utf-8") as fh:
                for line in fh:
                    line = line.strip()
                    if not line:
                        continue
                    text = json.loads(line).get("input_field", "")
                    for s in re.split(r"(?<=[.!?。？！])\s+|\n", text):
                        s = norm(s)
                        if len(s) >= MIN_COPY:
                            sents.add(s)
            return path, sents
    return None, None


def main():
    errors = []
    rows = []
    with open(DATA, encoding="utf-8") as fh:
        for i, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                rows.append((i, json.loads(line)))
            except json.JSONDecodeError as exc:
                errors.append(f"line {i}: bad JSON ({exc})")

    seen = {}
    for i, r in rows:
        tag = f"line {i}"
        missing = [k for k in KEYS if k not in r]
        if missing:
            errors.append(f"{tag}: missing keys {missing}")
            continue
        extra = [k for k in r if k not in KEYS]
        if extra:
            errors.append(f"{tag}: unexpected keys {extra}")
        p, mc, tt, n = r["prompt"], r["is_multiple_choice"], r["task_type"], r["n_candidates"]
        if not isinstance(p, str) or not p.strip():
            errors.append(f"{tag}: empty or non-string prompt")
            continue
        if not isinstance(mc, bool):
            errors.append(f"{tag}: is_multiple_choice must be a bool")
        if not isinstance(n, int) or isinstance(n, bool) or n < 0:
            errors.append(f"{tag}: n_candidates must be a non-negative int")
            continue
        for k in ("family", "note"):
            if not isinstance(r[k], str) or not r[k].strip():
                errors.append(f"{tag}: {k} must be a non-empty string")
        if tt not in TYPES:
            errors.append(f"{tag}: invalid task_type {tt!r}")
            continue
        if (tt == "multiple-choice") != (mc is True):
            errors.append(f"{tag}: multiple-choice must coincide with is_multiple_choice=true")
        if tt in ("ranking", "retrieval"):
            if n < 2:
                errors.append(f"{tag}: {tt} needs n_candidates >= 2")
            elif n not in numbered_runs(p, 1):
                errors.append(f"{tag}: no lines numbered 1..{n} (runs found: {numbered_runs(p, 1)})")
        elif tt in ("named_entity_recognition", "generation"):
            if n != 0:
                errors.append(f"{tag}: {tt} must have n_candidates 0")
        elif tt == "multiple-choice" and n > 0:
            if n < 2 or n not in numbered_runs(p, 0):
                errors.append(f"{tag}: no option lines numbered 0..{n - 1} "
                              f"(runs found: {numbered_runs(p, 0)})")
        key = norm(p)
        if key in seen:
            errors.append(f"{tag}: duplicate of line {seen[key]}")
        else:
            seen[key] = i

    dev_path, sents = dev_sentences()
    if sents is None:
        print("dev file not found: copy check skipped")
    else:
        for i, r in rows:
            if not isinstance(r.get("prompt"), str):
                continue
            p = norm(r["prompt"])
            for s in sents:
                if s in p:
                    errors.append(f"line {i}: copies a dev sentence: {s[:80]!r}")
        print(f"copy check against {dev_path}: {len(sents)} dev sentences of {MIN_COPY}+ chars")

    by_type = collections.Counter(r.get("task_type") for _, r in rows)
    by_family = collections.Counter((r.get("task_type"), r.get("family")) for _, r in rows)
    print(f"rows: {len(rows)}")
    for t in TYPES:
        print(f"  {t:26s} {by_type.get(t, 0)}")
    print("per family:")
    for (t, f), c in sorted(by_family.items(), key=lambda kv: (str(kv[0][0]), str(kv[0][1]))):
        print(f"  {t:26s} {f:40s} {c}")
    if errors:
        print(f"\n{len(errors)} error(s):")
        for e in errors:
            print("  " + e)
        return 1
    print("\nOK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
