#!/usr/bin/env python3
"""Validate tests/data/routing_heldout_2.jsonl (second blind routing held-out set).

Stdlib only. Exit status 0 if every check passes, 1 otherwise.

Checks:
  * every row has the keys prompt, is_multiple_choice, task_type, n_candidates, family, note
    with the right types;
  * task_type is one of the five ShopBench task types;
  * task_type == "multiple-choice" iff is_multiple_choice is true;
  * ranking / retrieval: n_candidates >= 2 and the prompt holds lines numbered 1..n_candidates
    (in one numbering style, with no line n_candidates+1 in that style);
  * multiple-choice: n_candidates == number of options numbered 0..k (0 if no options listed);
  * named_entity_recognition / generation: n_candidates == 0;
  * no prompt duplicates another (after lower-casing and collapsing whitespace);
  * no sentence of 30+ characters from a dev prompt is copied into a prompt
    (skipped if the dev file is missing);
  * prints counts per task_type and per (task_type, family).
"""
import collections
import json
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "routing_heldout_2.jsonl")
DEV = "/work/shared/data/shopbench/development.json"

TASK_TYPES = {
    "multiple-choice",
    "ranking",
    "retrieval",
    "named_entity_recognition",
    "generation",
}
KEYS = {
    "prompt": str,
    "is_multiple_choice": bool,
    "task_type": str,
    "n_candidates": int,
    "family": str,
    "note": str,
}

# Numbering styles used in the file: "1.", "1)", "(1)", "1 -", "1:", "[1]".
STYLES = {
    "dot": re.compile(r"^\s*(\d{1,2})\.(?!\d)\s*\S"),
    "paren": re.compile(r"^\s*(\d{1,2})\)\s*\S"),
    "both_paren": re.compile(r"^\s*\((\d{1,2})\)\s*\S"),
    "dash": re.compile(r"^\s*(\d{1,2})\s+[-\u2013\u2014]\s+\S"),
    "colon": re.compile(r"^\s*(\d{1,2}):\s*\S"),
    "bracket": re.compile(r"^\s*\[(\d{1,2})\]\s*\S"),
}

MIN_COPY = 30


def numbers_by_style(prompt):
    """Map style -> set of line numbers found in that style."""
    found = collections.defaultdict(set)
    for line in prompt.splitlines():
        for name, rx in STYLES.items():
            m = rx.match(line)
            if m:
                found[name].add(int(m.group(1)))
    return found


def run_length(nums, start):
    """Length of the consecutive run start, start+1, ... contained in nums."""
    k = 0
    while start + k in nums:
        k += 1
    return k


def has_numbered_run(prompt, start, n):
    """True if some style holds exactly the run start..start+n-1 (and not start+n)."""
    for nums in numbers_by_style(prompt).values():
        if run_length(nums, start) == n:
            return True
    return False


def norm(text):
    return re.sub(r"\s+", " ", text).strip().lower()


SENT_SPLIT = re.compile(r"(?<=[.!?\u3002\uff1f\uff01])\s+")


def dev_sentences(path):
    sents = set()
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            prompt = json.loads(line)["input_field"]
            for raw_line in prompt.splitlines():
                for s in SENT_SPLIT.split(raw_line):
                    s = norm(s)
                    if len(s) >= MIN_COPY:
                        sents.add(s)
    return sents


def main():
    errors = []
    rows = []
    with open(DATA, encoding="utf-8") as f:
        for i, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                rows.append((i, json.loads(line)))
            except json.JSONDecodeError as e:
                errors.append(f"line {i}: invalid JSON ({e})")

    seen = {}
    for i, r in rows:
        where = f"line {i}"
        missing = [k for k in KEYS if k not in r]
        if missing:
            errors.append(f"{where}: missing keys {missing}")
            continue
        extra = [k for k in r if k not in KEYS]
        if extra:
            errors.append(f"{where}: unexpected keys {extra}")
        bad_types = [k for k, t in KEYS.items() if type(r[k]) is not t]
        if bad_types:
            errors.append(f"{where}: wrong type for {bad_types}")
            continue
        tt, n, p = r["task_type"], r["n_candidates"], r["prompt"]
        if tt not in TASK_TYPES:
            errors.append(f"{where}: invalid task_type {tt!r}")
            continue
        if (tt == "multiple-choice") != r["is_multiple_choice"]:
            errors.append(f"{where}: is_multiple_choice={r['is_multiple_choice']} but task_type={tt}")
        if not p.strip():
            errors.append(f"{where}: empty prompt")
        if not r["family"].strip():
            errors.append(f"{where}: empty family")
        if tt in ("ranking", "retrieval"):
            if n < 2:
                errors.append(f"{where}: {tt} needs n_candidates >= 2, got {n}")
            elif not has_numbered_run(p, 1, n):
                errors.append(f"{where}: no lines numbered 1..{n} (exactly) in one style")
        elif tt == "multiple-choice":
            if n < 0:
                errors.append(f"{where}: negative n_candidates")
            elif n == 0:
                if any(0 in nums for nums in numbers_by_style(p).values()):
                    errors.append(f"{where}: options numbered from 0 present but n_candidates=0")
            elif not has_numbered_run(p, 0, n):
                errors.append(f"{where}: no options numbered 0..{n - 1} (exactly) in one style")
        else:
            if n != 0:
                errors.append(f"{where}: {tt} must have n_candidates 0, got {n}")
        key = norm(p)
        if key in seen:
            errors.append(f"{where}: duplicates the prompt on line {seen[key]}")
        else:
            seen[key] = i

    if os.path.exists(DEV):
        sents = dev_sentences(DEV)
        for i, r in rows:
            p = r.get("prompt")
            if not isinstance(p, str):
                continue
            np_ = norm(p)
            for s in sents:
                if s in np_:
                    errors.append(f"line {i}: copies dev sentence {s[:80]!r}")
        print(f"dev copy check: {len(sents)} dev sentences of >= {MIN_COPY} chars")
    else:
        print(f"dev copy check skipped: {DEV} not found")

    by_type = collections.Counter(r.get("task_type") for _, r in rows)
    by_family = collections.Counter((r.get("task_type"), r.get("family")) for _, r in rows)
    print(f"rows: {len(rows)}")
    for tt in sorted(TASK_TYPES):
        print(f"  {tt:26s} {by_type.get(tt, 0):4d}")
    print("per family:")
    for (tt, fam), c in sorted(by_family.items(), key=lambda x: (str(x[0][0]), str(x[0][1]))):
        print(f"  {str(tt):26s} {str(fam):24s} {c:3d}")

    if errors:
        print(f"\n{len(errors)} error(s):")
        for e in errors:
            print("  " + e)
        return 1
    print("\nOK: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
