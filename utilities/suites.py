"""Named question suites for the local evaluation, and EC-Guide's rows in the project's data format.

- ``SUITES``: suite name -> data file in the repo (``--suite dev``, ``--suite ecguide``).
- ``from_ecguide(row, task_name)``: one published EC-Guide row -> one row in the project's data
  format (the keys of ``data/development.json``), or ``ValueError(reason)`` for a row it cannot use.
- ``read_ecguide(path)``: a whole EC-Guide file (a JSON list) or folder -> (rows, Counter of the
  quirks handled and the rows skipped, each with its reason).
- ``ECGUIDE_TRACKS``: subtask -> skill -> ShopBench track, one reason each; ``track_for`` applies it.
- ``select_validation``: the stratified, hash-chosen validation rows (``data/ecguide/validation.jsonl``,
  written by ``python -m utilities.suites make-ecguide``); the training reader of EC-Guide
  (``training/data/readers/ecguide.py``) holds the same rows out.

EC-Guide (github.com/fzp0424/EC-Guide-KDDUP-2024, folder ``EC-Guide/``; Apache-2.0; team ZJU-AI4H,
arXiv 2408.02970) publishes ShopBench-shaped rows ``{"input_field", "output_field", "task_type",
"metric"}``, one file per subtask: ``<TaskType>_<Subtask>.json`` (the Hugging Face copy) or
``<TaskType>/<Subtask>.json`` (the repository). Quirks, each handled by one rule and counted:

- no ``task_name`` / ``track`` / ``is_multiple_choice``: task_name is the file's ``<Type>_<Sub>``,
  is_multiple_choice is ``task_type == "multiple-choice"``, track comes from ``ECGUIDE_TRACKS``.
- metric ``bool`` (not an official metric; MCQ_PRP's product-matching rows): a multiple-choice-typed
  prompt answered "yes"/"no". Rule ``BOOL_OPTIONS``: the lines "0. yes" and "1. no" go right before
  the prompt's answer cue (its last non-empty line, when that is a short label ending in ":", such
  as "Output: "); a prompt without such a cue gets them at its end followed by "Answer: ". The
  truth is the index of the answer (yes -> 0, no -> 1), the metric accuracy. All 246 bool rows of
  the published MCQ_PRP end in the cue "Output: ".
- option labels that skip a number (MCQ_PRP lists "0. ..., 1. ..., 3. ..." and answers 2 for the
  third option): an option list numbered from 0 whose labels are not 0..n-1 is renumbered by
  position, and the answer is mapped to the option it names, read as a label and as a position;
  where those readings name two different options the row is skipped.
- answers as int, str or list: a multiple-choice "3" -> 3; list items "2" -> 2; a retrieval,
  ranking or NER answer given as text is split on commas (the official parsers' rule); a numeric
  generation answer becomes text.
- 0-based candidate lists (Retrieval_PR numbers its products from 0; its answers name 0): kept as
  they are (valid ShopBench answers); rows whose answer names candidate 0 are counted.
- mixed task types in one file (MCQ_ACR: multiple-choice rows and GSM8K generation rows): each row
  keeps its own task_type and metric; rows whose type differs from the file's are counted.
- duplicates (MCQ_ACR repeats whole rows; Generation_EBT gives one prompt two reference answers):
  a repeated row (same prompt and answer) is read once; a prompt with several answers keeps them all
  (the validation file takes one of them, see ``select_validation``).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from utilities.grader import DEV_FILE, REPO, is_multiple_choice  # noqa: E402

SUITES: dict[str, Path] = {
    "dev": DEV_FILE,  # the 96 public dev questions
    "ecguide": REPO / "data" / "ecguide" / "validation.jsonl",  # stratified EC-Guide validation rows
}

# The key order of data/development.json, so that written rows read like the dev file's.
FIELDS = ("input_field", "output_field", "task_name", "task_type", "metric", "is_multiple_choice", "track")
TASK_TYPES = ("multiple-choice", "ranking", "retrieval", "named_entity_recognition", "generation")
# The file-name prefixes EC-Guide uses for its task types ("MCQ_PRP.json", "Retrieval/PR.json").
FILE_TYPES = {"generation": "generation", "mcq": "multiple-choice", "retrieval": "retrieval",
              "ranking": "ranking", "ner": "named_entity_recognition"}
PER_STRATUM = 150  # validation rows per (subtask, published metric): 17 strata x 150 = 2,550 rows at most


# ---- tracks -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Skill:
    track: int  # utilities.tracks.TRACKS key
    skill: str
    reason: str


# Subtask -> the ShopBench skill it exercises -> that skill's track. The skills (ShopBench):
# Track 1 understanding shopping concepts (concept normalisation, elaboration, relational inference,
# attribute/entity extraction, summarisation), Track 2 shopping knowledge reasoning (numeric,
# commonsense, multi-hop reasoning), Track 3 user behavior alignment (queries, sessions, purchases,
# co-purchase, review ratings, user Q&A), Track 4 multi-lingual abilities. The dev set files
# review-star rating (task15) under Track 3, keyphrase extraction from a review (task6) and review
# retrieval by aspect (task3) under Track 1. Subtask names: EC-Guide's README.
ECGUIDE_TRACKS: dict[str, Skill] = {
    "Generation_PE": Skill(1, "concept elaboration", "Product Elaboration explains what a product is"),
    "Generation_PQA": Skill(3, "user Q&A", "Product Question and Answer answers real customers' questions"),
    "Generation_CR": Skill(1, "concept normalisation", "Category Recognition names a product's category"),
    "Generation_EPF": Skill(1, "relational inference", "Explaining Pair Fashion says why two items go together"),
    "Generation_EBT": Skill(3, "co-purchase", "Explaining Bought Together explains what customers buy together"),
    "Generation_ERK": Skill(1, "attribute extraction", "Extract Review Keyphrase: keyphrases of a review, as dev task6"),
    "Generation_EPK": Skill(1, "attribute extraction", "EPK isolates a product's key features from its description"),
    "Generation_PKS": Skill(1, "summarisation", "Product Keyword Summarization sums a product up in keywords"),
    "Generation_RTS": Skill(1, "summarisation", "Review Title Summarization condenses a review into a title"),
    "Generation_MT": Skill(4, "multi-lingual", "Multilingual Translation translates product titles"),
    "MCQ_SPA": Skill(1, "attribute understanding", "Select Product based on Attribute: which product has it"),
    "MCQ_SAP": Skill(1, "attribute extraction", "Select Attribute based on Product: which attribute it has"),
    "MCQ_PRP": Skill(3, "co-purchase", "Product Relation Prediction: also-bought / also-viewed / similar pairs"),
    "MCQ_QPRP": Skill(3, "queries", "Query Product Relation Prediction relates a search query to products"),
    "MCQ_QPRJ": Skill(3, "queries", "Query Product Relation Judgement judges a query-product pair"),
    "MCQ_SA": Skill(3, "review ratings", "Sentiment Analysis rates a review 1-5, as dev task15"),
    "MCQ_PKS": Skill(1, "summarisation", "Product Keyword Summarization, as options"),
    "MCQ_MDM": Skill(4, "multi-lingual", "Multilingual Description Matching matches descriptions across languages"),
    "MCQ_ACR": Skill(2, "numeric and commonsense reasoning", "Arithmetic and Commonsense Reasoning (GSM8K, CommonsenseQA)"),
    "Retrieval_IPP": Skill(3, "sessions and purchases", "Inferring Potential Purchases from a session"),
    "Retrieval_RRS": Skill(1, "attribute extraction", "Retrieving Review Snippets, as dev task3's review retrieval"),
    "Retrieval_RRA": Skill(1, "attribute extraction", "Retrieving Review Aspects, as dev task3 (review retrieval by aspect)"),
    "Retrieval_CR": Skill(1, "concept normalisation", "Category Recognition: the categories a product belongs to"),
    "Retrieval_PR": Skill(1, "concept normalisation", "Product Recognition: the products of a category"),
    "Ranking_QPR": Skill(3, "queries", "Query Product Ranking ranks products for a query, as dev task12"),
    "NER_NER": Skill(1, "entity extraction", "Named Entity Recognition extracts entities from titles and queries"),
}
# The one rule for a subtask the table does not know: its skill is not known, so it is not guessed.
# Its rows go to Track 5 (all-around), which holds every question: they count in the overall score
# and in no per-track score. Such rows are counted ("unknown subtask ...").
UNKNOWN_SUBTASK = Skill(5, "unknown", "a subtask this table does not know: all-around only, never guessed")


def track_for(task_name: str) -> Skill:
    return ECGUIDE_TRACKS.get(task_name, UNKNOWN_SUBTASK)


def _challenge_id(track: int) -> str:
    from utilities.tracks import get_track

    return get_track(track).challenge_id


# ---- one row ------------------------------------------------------------------------------------

# An answer cue: a short label ending in ":" on the prompt's last non-empty line ("Output: ", "Answer:").
_CUE = re.compile(r"^[ \t]*[^\W\d_][^\n:]{0,30}:[ \t]*$")
_OPTION_LINE = re.compile(r"^([ \t]*)(\d{1,2})([.)][ \t]+\S.*)$")
BOOL_OPTIONS = ("yes", "no")  # "0. yes", "1. no": the truth is the answer's index


def _last_line(lines: list[str]) -> int | None:
    return next((i for i in range(len(lines) - 1, -1, -1) if lines[i].strip()), None)


def _option_block(lines: list[str]) -> tuple[int, int] | None:
    """(first, end) line indices of the option list: the numbered lines that end right before the
    answer cue (blank lines aside) and are numbered from 0; None when there is no such list."""
    cue = _last_line(lines)
    if cue is None or not _CUE.match(lines[cue]):
        return None
    end = cue
    while end > 0 and not lines[end - 1].strip():
        end -= 1
    first = end
    while first > 0 and _OPTION_LINE.match(lines[first - 1]):
        first -= 1
    if first == end or int(_OPTION_LINE.match(lines[first]).group(2)) != 0:
        return None
    return first, end


def bool_to_options(prompt: str, answer, quirks: Counter) -> tuple[str, int]:
    """The two-option prompt and the truth's index for a ``bool`` row (rule: ``BOOL_OPTIONS``)."""
    word = answer if isinstance(answer, str) else None
    if isinstance(answer, bool):
        word = "yes" if answer else "no"
        quirks["bool answer given as JSON true/false"] += 1
    word = (word or "").strip().rstrip(".").strip().lower()
    if word not in BOOL_OPTIONS:
        raise ValueError(f"a bool answer must be yes or no, got {answer!r}")
    lines = prompt.split("\n")
    if _option_block(lines) is not None:
        raise ValueError("a bool row whose prompt already lists options (which one is yes?)")
    options = [f"{i}. {word}" for i, word in enumerate(BOOL_OPTIONS)]
    cue = _last_line(lines)
    if cue is not None and _CUE.match(lines[cue]):
        new = "\n".join(lines[:cue] + options + lines[cue:])
        quirks["bool answer -> options '0. yes' / '1. no' before the answer cue"] += 1
    else:
        new = prompt.rstrip() + "\n" + "\n".join(options) + "\nAnswer: "
        quirks["bool answer -> options '0. yes' / '1. no' and 'Answer: ' appended (no answer cue)"] += 1
    return new, BOOL_OPTIONS.index(word)


def _int(value, what: str, quirks: Counter) -> int:
    if isinstance(value, bool):
        raise ValueError(f"{what} is a boolean, not a number: {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        quirks[f"{what} cast from float to int"] += 1
        return int(value)
    if isinstance(value, str) and value.strip().isdigit() and value.strip().isascii():
        quirks[f"{what} cast from str to int"] += 1
        return int(value.strip())
    raise ValueError(f"{what} is not a whole number: {value!r}")


def renumber_options(prompt: str, answer: int, quirks: Counter) -> tuple[str, int]:
    """Options numbered from 0 whose labels skip a number -> numbered by position, answer mapped."""
    lines = prompt.split("\n")
    block = _option_block(lines)
    if block is None:
        return prompt, answer
    first, end = block
    labels = [int(_OPTION_LINE.match(lines[i]).group(2)) for i in range(first, end)]
    if labels == list(range(len(labels))):
        if answer not in labels:
            raise ValueError(f"the answer {answer} is not one of the listed options {labels}")
        return prompt, answer
    named = {labels.index(answer)} if answer in labels else set()  # the option labelled so
    if answer < len(labels):
        named.add(answer)  # the option at that position
    if len(named) != 1 or labels.count(answer) > 1:
        raise ValueError(f"option labels {labels} skip a number and the answer {answer} names no single option")
    for position, i in enumerate(range(first, end)):
        m = _OPTION_LINE.match(lines[i])
        lines[i] = f"{m.group(1)}{position}{m.group(3)}"
    quirks["option labels that skip a number renumbered by position"] += 1
    return "\n".join(lines), named.pop()


def _number_list(value, quirks: Counter) -> list[int]:
    if isinstance(value, str):
        quirks["list answer given as text, split on commas"] += 1
        value = [x for x in (p.strip() for p in value.split(",")) if x]
    if not isinstance(value, list) or not value:
        raise ValueError(f"the answer is not a non-empty list of numbers: {value!r}")
    numbers = [_int(x, "list item", quirks) for x in value]
    if any(n < 0 for n in numbers) or len(set(numbers)) != len(numbers):
        raise ValueError(f"the answer's numbers are negative or repeated: {numbers}")
    return numbers


def _entities(value, quirks: Counter) -> list[str]:
    if isinstance(value, str):
        from utilities.parsers import parse

        quirks["NER answer given as text, read by the official parser"] += 1
        value = parse("named_entity_recognition", value)
    if not isinstance(value, list) or not all(isinstance(x, str) for x in value):
        raise ValueError(f"an NER answer must be a list of strings: {value!r}")
    entities = [x.strip() for x in value if x.strip()]
    if not entities:
        raise ValueError("the NER answer holds no entity")
    return entities


def from_ecguide(row: dict, task_name: str, quirks: Counter | None = None) -> dict:
    """One published EC-Guide row -> a row in the project's data format (``FIELDS``).

    ``task_name`` is the file's ``<Type>_<Sub>`` (e.g. "MCQ_PRP"). Raises ``ValueError(reason)`` for
    a row that cannot be used; ``quirks`` (optional) counts the quirks handled on a row it returns."""
    seen: Counter = Counter()
    row = _convert(row, task_name, seen)
    if quirks is not None:
        quirks.update(seen)
    return row


def _convert(row: dict, task_name: str, quirks: Counter) -> dict:
    if not isinstance(row, dict):
        raise ValueError(f"a row must be a JSON object, got {type(row).__name__}")
    prompt, answer = row.get("input_field"), row.get("output_field")
    task_type, metric = row.get("task_type"), row.get("metric")
    if not isinstance(prompt, str) or not prompt.strip():
        raise ValueError("no input_field text")
    if task_type not in TASK_TYPES:
        raise ValueError(f"unknown task_type {task_type!r}")
    if answer is None:
        raise ValueError("no output_field")
    if metric == "bool":
        if task_type != "multiple-choice":
            raise ValueError(f"metric bool on a {task_type} row")
        prompt, answer = bool_to_options(prompt, answer, quirks)
        metric = "accuracy"
    from utilities.metrics import METRICS

    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}")
    if task_type == "multiple-choice":
        answer = _int(answer, "multiple-choice answer", quirks)
        if not 0 <= answer <= 9:  # the official parser reads one character
            raise ValueError(f"a multiple-choice answer must be one digit, got {answer}")
        prompt, answer = renumber_options(prompt, answer, quirks)
    elif task_type in ("retrieval", "ranking"):
        answer = _number_list(answer, quirks)
        if 0 in answer:
            quirks[f"{task_type} answer names candidate 0 (0-based list, kept)"] += 1
    elif task_type == "named_entity_recognition":
        answer = _entities(answer, quirks)
    else:
        if isinstance(answer, (int, float)) and not isinstance(answer, bool):
            quirks["generation answer given as a number, written as text"] += 1
            answer = str(answer)
        if not isinstance(answer, str) or not answer.strip():
            raise ValueError(f"a generation answer must be non-empty text, got {answer!r}")
    file_type = FILE_TYPES.get(task_name.split("_", 1)[0].lower())
    if file_type is not None and file_type != task_type:
        quirks[f"{task_type} row in a {task_name.split('_', 1)[0]} file"] += 1
    skill = track_for(task_name)
    if skill is UNKNOWN_SUBTASK:
        quirks[f"unknown subtask {task_name}: Track 5 (all-around)"] += 1
    return {"input_field": prompt, "output_field": answer, "task_name": task_name, "task_type": task_type,
            "metric": metric, "is_multiple_choice": is_multiple_choice(task_type),
            "track": _challenge_id(skill.track)}


# ---- files and folders --------------------------------------------------------------------------

@dataclass(frozen=True)
class Converted:
    row: dict  # the row in the project's format
    published_metric: str  # the metric as published ("bool" for the converted yes/no rows)


def task_name_of(path: Path, root: Path | None = None) -> str:
    """``MCQ_PRP.json`` -> "MCQ_PRP"; ``MCQ/PRP.json`` (the repository layout) -> "MCQ_PRP"."""
    path = Path(path)
    if root is not None and path.parent != Path(root):
        return f"{path.parent.name}_{path.stem}"
    return path.stem


def ecguide_files(path: Path) -> list[tuple[Path, str]]:
    """(file, task_name) for a file, or for every ``*.json`` under a folder (both layouts), sorted."""
    path = Path(path)
    if path.is_file():
        return [(path, task_name_of(path))]
    if not path.is_dir():
        raise FileNotFoundError(f"{path}: no such EC-Guide file or folder")
    return [(p, task_name_of(p, path)) for p in sorted(path.rglob("*.json")) if p.is_file()]


@dataclass
class Reading:
    """What reading an EC-Guide file or folder met: quirks handled, and rows and files skipped."""

    quirks: Counter = field(default_factory=Counter)  # quirk -> published rows it was handled on
    skipped: Counter = field(default_factory=Counter)  # reason (naming the file for a file) -> count
    rows_read: int = 0  # published rows (list items) of the readable files

    def counts(self) -> Counter:
        """Quirks and skips in one Counter, skips as "skipped <reason>"."""
        return self.quirks + Counter({f"skipped {k}": v for k, v in self.skipped.items()})


def iter_ecguide(path: Path, reading: Reading) -> Iterator[Converted]:
    """Every usable row of an EC-Guide file or folder. Never fatal: a file that is not a JSON list,
    and a row ``from_ecguide`` refuses, are counted in ``reading.skipped`` with the reason."""
    for file, task_name in ecguide_files(path):
        try:
            data = json.loads(file.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError) as err:
            reading.skipped[f"file {file.name}: not valid JSON ({type(err).__name__})"] += 1
            continue
        if not isinstance(data, list):
            reading.skipped[f"file {file.name}: not a JSON list of rows"] += 1
            continue
        seen: set[tuple[str, str]] = set()
        for raw in data:
            reading.rows_read += 1
            try:
                row = from_ecguide(raw, task_name, reading.quirks)
            except ValueError as err:
                reading.skipped[f"row: {err}"] += 1
                continue
            key = (raw["input_field"], json.dumps(raw["output_field"], sort_keys=True))
            if key in seen:
                reading.quirks["repeated row (same prompt and answer) read once"] += 1
                continue
            seen.add(key)
            yield Converted(row, raw["metric"])


def read_ecguide(path: Path) -> tuple[list[dict], Counter]:
    """The rows of an EC-Guide file (a JSON list) or folder in the project's data format, and a
    Counter of the quirks handled and of the rows and files skipped ("skipped <reason>")."""
    reading = Reading()
    rows = [c.row for c in iter_ecguide(path, reading)]
    return rows, reading.counts()


# ---- the validation suite -----------------------------------------------------------------------

def prompt_hash(prompt: str) -> str:
    """The stable hash that chooses validation rows: sha256 of the (converted) prompt's UTF-8."""
    return hashlib.sha256(prompt.encode("utf-8")).hexdigest()


def stratum(c: Converted) -> tuple[str, str]:
    return c.row["task_name"], c.published_metric


def select_validation(converted: list[Converted], per_stratum: int = PER_STRATUM) -> list[Converted]:
    """Up to ``per_stratum`` rows of every (task_name, published metric) stratum: the rows with the
    smallest ``prompt_hash``, one per prompt (a prompt with several answers keeps the smallest answer
    in JSON order). Deterministic: the same rows give the same selection, in any order; a row's
    selection depends only on the rows of its own stratum. Strata in sorted order, rows by hash."""
    by_stratum: dict[tuple[str, str], dict[str, Converted]] = defaultdict(dict)
    order = sorted(converted, key=lambda c: (prompt_hash(c.row["input_field"]),
                                             json.dumps(c.row["output_field"], sort_keys=True, ensure_ascii=False)))
    for c in order:
        by_stratum[stratum(c)].setdefault(c.row["input_field"], c)
    out = []
    for key in sorted(by_stratum):
        out.extend(list(by_stratum[key].values())[:per_stratum])
    return out


def write_jsonl(rows: list[dict], out: Path) -> None:
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps({k: row[k] for k in FIELDS}, ensure_ascii=False) + "\n")


def make_ecguide(sources: Path, out: Path, per_stratum: int = PER_STRATUM) -> dict:
    """Write the validation file; returns the counts per stratum and the quirks (for SOURCE.md)."""
    reading = Reading()
    converted = list(iter_ecguide(sources, reading))
    chosen = select_validation(converted, per_stratum)
    write_jsonl([c.row for c in chosen], out)
    usable = Counter(stratum(c) for c in converted)
    picked = Counter(stratum(c) for c in chosen)
    return {"rows": len(chosen), "usable": len(converted), "read": reading.rows_read, "quirks": reading.counts(),
            "strata": {k: (usable[k], picked[k], track_for(k[0]).track) for k in sorted(usable)}}


def render_counts(counts: dict) -> str:
    lines = ["| subtask | published metric | track | usable rows | validation rows |", "|---|---|---|---|---|"]
    for (task, metric), (usable, picked, track) in counts["strata"].items():
        lines.append(f"| {task} | {metric} | {track} | {usable:,} | {picked} |")
    lines.append(f"| all ({counts['read']:,} published rows read) | | | {counts['usable']:,} | {counts['rows']:,} |")
    lines += ["", "| quirk handled / row skipped | rows |", "|---|---|"]
    lines += [f"| {q} | {n:,} |" for q, n in sorted(counts["quirks"].items())]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m utilities.suites", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    m = sub.add_parser("make-ecguide", help="write the stratified EC-Guide validation file (JSON Lines)")
    m.add_argument("--sources", type=Path, required=True, help="an EC-Guide folder (or one file)")
    m.add_argument("--out", type=Path, default=SUITES["ecguide"])
    m.add_argument("--per-stratum", type=int, default=PER_STRATUM)
    args = parser.parse_args(argv)
    counts = make_ecguide(args.sources, args.out, args.per_stratum)
    print(render_counts(counts))
    print(f"\nwrote {counts['rows']:,} rows to {args.out}", file=sys.stderr)
    return counts


if __name__ == "__main__":
    main()
