"""Run the model on ShopBench questions, score them as the official evaluator does, time each batch.

The model is loaded as the grader loads it (``UserModel()`` from ``models/user_config.py``, set up by
``SHOPBENCH_MODEL`` / ``SHOPBENCH_ENGINE``; on a CPU machine the default is SmolLM2-135M-Instruct on
the transformers engine). Questions are batched per task type, as the grader does, answers are
parsed with the official parsers and scored with the official metrics (offline), and every batch
is checked against the 10-seconds-per-question rule.

Every score comes with a 95 % interval (a seeded bootstrap over questions, stratified by task:
``utilities/evaluation_stats.py``), and every task with its counts of fallback answers, empty raw
replies, shortened prompts, replies cut by the batch's deadline and questions the router sent to another type than the row's label.
Each batch's answers are appended to ``records.jsonl`` in the run folder as soon as the batch ends,
so an interrupted run (Ctrl-C, a kill) loses at most the batch in flight and ``--resume`` finishes it.

Examples: (``shopbench eval`` runs this file; ``make eval`` installs ``shopbench`` into .venv/bin)
    shopbench eval                                # the 96 dev questions, default model
    shopbench eval --suite ecguide                # the EC-Guide validation suite
    shopbench eval --track 2 --limit 8            # Track 2 only, 8 questions (a subset: the report says so)
    shopbench eval --data MCQ_PRP.json            # an EC-Guide published file, as downloaded
    shopbench eval --data test.jsonl              # rows without truths: answered, not scored (answers.jsonl)
    shopbench eval --resume runs/latest           # finish an interrupted run (same --track/--limit/data)
    shopbench eval --compare runs/a runs/b        # B - A per task and overall, paired, with 95 % intervals
    shopbench tiny-model runs/tiny-model && \
    SHOPBENCH_MODEL=runs/tiny-model SHOPBENCH_ENGINE=transformers shopbench eval --out runs/tiny-eval
    shopbench eval --multilingual-model ~/models/paraphrase-multilingual-MiniLM-L12-v2 --data my.json

Data (``--data``): JSON Lines (or one JSON array) of ShopBench rows: input_field, is_multiple_choice,
and, to score them, task_name, task_type, metric, track and output_field. A JSON array whose rows
have no task_name (and truths) is read as an EC-Guide published file (input_field, output_field,
task_type, metric; the file's stem is the task name) and converted row by row by
``utilities.suites.from_ecguide``.

Answer only: a file none of whose rows has an output_field (a test file: input_field,
is_multiple_choice, perhaps task_type) is answered without scores; ``--answer-only`` does the same
for any data, truths or not. Each question is answered as its task_type (the router's type where the
row has none), and the run writes answers.jsonl (one line per question: its line in the data file,
key, task type and where it came from, answer) and a report without scores. A file where some rows
have a truth and others not is refused, each row without one named (``file:line``).

Run folders: without ``--out``, every run gets a new folder of its own (``utilities/runs.py``;
SHOPBENCH_RUNS moves runs/), named by time, the model and engine that will answer, the suite (or the
data file's stem), then -t<track>, -n<limit>, -pt<per task> and -answers where they apply:
    runs/20250601-143000-smollm2-135m-instruct-transformers-dev-t2-n8/
A second run never replaces the first one's report. Once the model has loaded, ``runs/latest`` (a
relative link) points at the new folder, so ``--resume runs/latest`` finishes an interrupted run (in
the folder the link names). ``--out DIR`` writes exactly DIR (what an earlier run left there is
replaced) and leaves runs/latest alone; ``--resume`` does not move it either. The folder is printed
at the start and at the end. It holds run.json (what was asked: data, track, limit, batch size,
model), records.jsonl (one line per answered question, appended per batch), report.json, report.md
and scores.png (answer only: answers.jsonl, report.json, report.md).

Subsets: a run that answers part of its data (``--track``, ``--per-task``, ``--limit``) heads its
report with one line, e.g. ``subset: 8 of the 96 questions (track 2 only, the first 8); not comparable
with the leaderboard's full-track scores``, and report.json holds it as ``subset`` (null for all of
it). The report shows only the tracks the selection has questions in; the all-around row (Track 5)
only when --track is 5, labelled with the tracks it averages, over the selected questions.

Nothing sinks a run:
- The data is checked whole, in one streamed pass, before the model loads (``read_data``): every row's
  fields, task type, metric, track, and its truth against its metric's type (``check_row``;
  ``utilities.metrics.check_truth``: accuracy an option number 0-9, hit rate@3 distinct candidate
  numbers, ndcg finite relevances >= 0, micro f1 a list of strings, the text metrics non-empty text).
  Every problem is one line ``file:line: what is wrong`` (the first 20 shown, all counted), including
  a line that is not UTF-8 (``file:line: not UTF-8 (byte 0xe9 at column 21)``). JSON Lines are read
  line by line and only a small entry per row is kept; the selected rows are read again afterwards
  (a 100,000-row file: benchmarks/evaluator_memory.py). A JSON array is read whole.
- One rule for numbers written otherwise: where a truth needs a number, a string of ASCII digits is
  read as that whole number ("3" -> 3) and a float without fraction as an int (3.0 -> 3); every
  conversion is counted in a warning and in report.json (``truth_conversions``). Any other string, a
  boolean, NaN or an infinity there is refused at load, never scored 0.
- After answering, a run always writes report.json and exits 0. The answers are in records.jsonl
  before anything is scored; an answer the parser cannot read scores 0 (``parse_error`` in its record,
  ``unreadable_answers`` in its task); a task whose metric fails gets ``score: null`` and ``error``
  (listed in ``scoring_errors``), and the tracks and overall score that would include it are null;
  ``--resume RUN`` re-scores the recorded answers without loading the model.
- report.json, compare.json and run.json are strict JSON: NaN and infinities are written as null.

Progress: a bar while answering on a terminal; elsewhere (a log, CI) one plain line per finished
task type and every 10 % of the questions. ``--progress`` (or SHOPBENCH_PROGRESS=1) draws the bar
anywhere, SHOPBENCH_PROGRESS=0 never.

Exit status: 0 a report was written (or a comparison). 2 a mistake to fix, said in one line (a
flag's after a one-line usage): refused before the model loads (arguments, data, a run folder that
cannot be resumed, a metric that cannot be computed here), or a setting or setup error
(``SetupError``) while the model loads, which says that nothing was answered (a new run folder is
then removed; runs/latest is not moved). 130 interrupted (Ctrl-C; ``--resume`` continues). 1 a model
that fails otherwise while loading or answering: its traceback; the finished batches are in
records.jsonl and ``--resume`` continues.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import logging
import math
import os
import re
import shlex
import statistics
import sys
import textwrap
import time
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent
sys.path.insert(0, str(REPO))

from utilities.evaluation_stats import (  # noqa: E402
    NoSharedQuestions, bootstrap, group_by_task, natural_key, paired_bootstrap, question_key, question_keys, task_rows,
)
from utilities.metrics import (  # noqa: E402
    METRICS, MissingModelError, TruthError, check_available, check_truth, load_multilingual_model, score_task,
)
from utilities.parsers import parse  # noqa: E402
from utilities.suites import SUITES  # noqa: E402
from utilities.tasks import TASK_TYPES  # noqa: E402
from utilities import grader  # noqa: E402
from utilities.grader import PER_SAMPLE_LIMIT_S  # noqa: E402
from utilities.tracks import ALL_AROUND, TRACKS, get_track, track_of  # noqa: E402
from utilities import progress  # noqa: E402
from utilities.errors import SetupError, one_line, run_command  # noqa: E402
from utilities.runs import LATEST, new_run_dir, point_latest  # noqa: E402

DEFAULT_SUITE = "dev"
DEFAULT_DATA = SUITES[DEFAULT_SUITE]
RUN_FILE = "run.json"  # what a run was asked to do, checked by --resume
RECORDS_FILE = "records.jsonl"  # one answered question per line, appended per batch
ANSWERS_FILE = "answers.jsonl"  # answer-only runs: one line per question (its line, key, task type, answer)
REPORT_FILES = ("report.json", "report.md", "scores.png", ANSWERS_FILE)
NOT_COMPARABLE = "not comparable with the leaderboard's full-track scores"
INTERRUPTED = 130  # exit status of a run stopped by Ctrl-C (128 + SIGINT), as shells report it
NOTE_FIELDS = ("shortened", "raw_empty", "fallback", "cut")  # booleans of ShopBenchModel.last_notes


@dataclass
class BatchTiming:
    task_type: str
    size: int
    seconds: float
    tracks: list[int | None]  # the track number of each question in the batch (None: an answer-only row without)
    questions: list[int]  # their indices in the report's records (the cost model refits on them)

    @property
    def limit_s(self) -> float:
        return PER_SAMPLE_LIMIT_S * self.size

    @property
    def within_limit(self) -> bool:
        return self.seconds <= self.limit_s


REQUIRED_FIELDS = ("input_field", "is_multiple_choice", "task_name", "task_type", "metric", "track", "output_field")


log = logging.getLogger("shopbench.evaluation")


class DataError(ValueError):
    """A data file that cannot be evaluated; the message names the file, the line and the fix."""


class RunError(ValueError):
    """A run folder that cannot be resumed or compared; the message says why and what to do."""


# ---- data: checked in one streamed pass before the model loads ----------------------------------

MAX_PROBLEMS_SHOWN = 20  # a file with more problems shows the first 20 and counts the rest
BOM = b"\xef\xbb\xbf"  # a UTF-8 byte order mark at the start of a file is skipped
_SHARED_FIELDS = ("task_name", "task_type", "metric", "track")  # repeated on every row: interned
_JSON_SPACE = re.compile(r"[ \t\n\r]*")
# A lone surrogate can only come from a "\ud800"-"\udfff" escape (UTF-8 text cannot hold one): rows
# whose JSON text has no such escape skip the (slower) check of every string.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


class _RowProblem(ValueError):
    """What is wrong with one row (the caller adds the file and line)."""


class Problems:
    """The problems found in one data file: all counted, the first MAX_PROBLEMS_SHOWN kept, one line each."""

    def __init__(self, path: Path):
        self.path, self.lines, self.count = path, [], 0
        self.use = "scored"  # "answered" for data checked for answering only

    def add(self, where, message: str) -> None:
        self.count += 1
        if len(self.lines) < MAX_PROBLEMS_SHOWN:
            self.lines.append(f"{self.path}:{where}: {message}")

    def check(self) -> None:
        if self.count == 1:
            raise DataError(self.lines[0])
        if self.count:
            more = self.count - len(self.lines)
            raise DataError(f"{self.path}: {self.count} rows cannot be {self.use}; nothing was answered. Fix them and run "
                            "again:\n" + "\n".join(self.lines) + (f"\n... and {more} more" if more else ""))


def _not_utf8(raw: bytes, err: UnicodeDecodeError, skipped: int = 0) -> str:
    return (f"not UTF-8 (byte 0x{raw[err.start]:02x} at column {skipped + err.start + 1}); "
            "save the file as UTF-8")


def _valid_unicode(value) -> bool:
    """False when a string in `value` holds a lone surrogate ("\\ud800" in JSON): it cannot be written out."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return False
        return True
    if isinstance(value, list):
        return all(map(_valid_unicode, value))
    if isinstance(value, dict):
        return all(_valid_unicode(k) and _valid_unicode(v) for k, v in value.items())
    return True


def check_row(row, text: str | None = None) -> tuple[dict, list[str]]:
    """(the row as scored, the truth conversions applied), or _RowProblem saying what is wrong.

    Checks what answering and scoring need: the fields, their types, a known task type, metric and
    track, a task type whose parsed answers the metric scores, the truth against its metric's type
    (``utilities.metrics.check_truth``, with its one rule for numbers written as strings), and that no
    string holds a lone surrogate (checked only when ``text``, the row's JSON, is None or has an escape
    that can write one)."""
    if not isinstance(row, dict):
        raise _RowProblem(f"a row must be a JSON object, got {type(row).__name__}")
    missing = [k for k in REQUIRED_FIELDS if k not in row]
    if missing:
        raise _RowProblem(f"no {', '.join(missing)}. Scoring needs {', '.join(REQUIRED_FIELDS)} "
                          "(a file whose rows have no output_field is answered without scores; so is any file "
                          "with --answer-only)")
    if not isinstance(row["input_field"], str):
        raise _RowProblem(f"input_field must be the prompt (a string), got {type(row['input_field']).__name__}")
    if not isinstance(row["task_name"], str) or not row["task_name"].strip():
        raise _RowProblem(f"task_name must be a non-empty string, got {row['task_name']!r}")
    for name in ("task_type", "metric", "track"):
        if not isinstance(row[name], str):
            raise _RowProblem(f"{name} must be a string, got {row[name]!r}"[:200])
    task_type, metric = row["task_type"], row["metric"]
    if task_type not in TASK_TYPES:
        raise _RowProblem(f"unknown task_type {task_type!r}; one of {', '.join(TASK_TYPES)}")
    if metric not in METRICS:
        raise _RowProblem(f"unknown metric {metric!r}; one of {', '.join(METRICS)}")
    try:
        track_of(row["track"])
    except KeyError as err:
        raise _RowProblem(err.args[0]) from None
    scores = METRICS[metric].task_types
    if scores and task_type not in scores:
        raise _RowProblem(f"metric {metric!r} scores the parsed answers of {' / '.join(scores)} questions, not of "
                          f"{task_type} questions (every answer would score 0)")
    try:
        truth, conversions = check_truth(metric, row["output_field"])
    except TruthError as err:
        raise _RowProblem(f"output_field: {err}") from None
    _check_text(row, text)
    checked = {sys.intern(k): v for k, v in row.items()}  # one copy of each key and repeated value per run
    for name in _SHARED_FIELDS:
        checked[name] = sys.intern(checked[name])
    checked["output_field"] = truth
    return checked, conversions


def _check_text(row, text: str | None) -> None:
    """_RowProblem where a string of the row (its line ``text``, when given) holds a lone surrogate."""
    try:
        valid = not (text is None or _SURROGATE_ESCAPE.search(text)) or _valid_unicode(row)
    except RecursionError:
        raise _RowProblem("nested too deeply") from None
    if not valid:
        raise _RowProblem("a string holds a lone surrogate (a \\ud800-\\udfff escape), which is not text")


ANSWER_FIELDS = ("input_field", "is_multiple_choice")  # what answering a question needs


def check_answer_row(row, text: str | None = None) -> tuple[dict, list[str]]:
    """(the row as answered, no conversions), or _RowProblem: what answering needs, without a truth.

    input_field (a string) and is_multiple_choice (true or false); a task_type, task_name or track
    the row has must be valid (task_type agreeing with is_multiple_choice, as the grader's batches
    do). A row without task_type gets the router's type later (``route_missing_task_types``); the
    checked row's task_name and track are "" where the row has none. Truths are not looked at."""
    if not isinstance(row, dict):
        raise _RowProblem(f"a row must be a JSON object, got {type(row).__name__}")
    missing = [k for k in ANSWER_FIELDS if k not in row]
    if missing:
        raise _RowProblem(f"no {', '.join(missing)}. Answering needs input_field (the prompt) and "
                          "is_multiple_choice (true or false)")
    if not isinstance(row["input_field"], str):
        raise _RowProblem(f"input_field must be the prompt (a string), got {type(row['input_field']).__name__}")
    if not isinstance(row["is_multiple_choice"], bool):
        raise _RowProblem(f"is_multiple_choice must be true or false, got {row['is_multiple_choice']!r}"[:200])
    task_type = row.get("task_type")
    if task_type is not None:
        if not isinstance(task_type, str) or task_type not in TASK_TYPES:
            raise _RowProblem(f"unknown task_type {task_type!r}; one of {', '.join(TASK_TYPES)}"[:300])
        if grader.is_multiple_choice(task_type) != row["is_multiple_choice"]:
            raise _RowProblem(f"task_type {task_type} with is_multiple_choice {str(row['is_multiple_choice']).lower()}: "
                              "the grader flags exactly the multiple-choice questions")
    task_name = row.get("task_name")
    if task_name is not None and (not isinstance(task_name, str) or not task_name.strip()):
        raise _RowProblem(f"task_name must be a non-empty string, got {task_name!r}"[:200])
    track = row.get("track")
    if track is not None:
        if not isinstance(track, str):
            raise _RowProblem(f"track must be a string, got {track!r}"[:200])
        try:
            track_of(track)
        except KeyError as err:
            raise _RowProblem(err.args[0]) from None
    _check_text(row, text)
    checked = {sys.intern(k): v for k, v in row.items()}
    checked["task_name"] = sys.intern(task_name or "")
    checked["track"] = sys.intern(track or "")
    checked["task_type"] = task_type
    checked["task_type_from"] = "row" if task_type is not None else "router"
    return checked, []


def _check(row, text: str | None, answer_only: bool) -> tuple[dict, list[str]]:
    return check_answer_row(row, text) if answer_only else check_row(row, text)


def _has_truth(row) -> bool:
    """Whether a row is meant to be scored: anything but a JSON object without output_field."""
    return not isinstance(row, dict) or "output_field" in row


@dataclass(frozen=True, slots=True)
class Entry:
    """What the checking pass keeps of one usable row: where to find it, what selection needs, its key."""

    number: int  # its line (JSON Lines: the line; JSON array: the line where the row starts)
    offset: int  # JSON Lines: byte offset of the line; JSON array: index into DataFile.held
    task_name: str
    track: str
    key: str  # utilities.evaluation_stats.question_key


class _Keys:
    """question_keys one row at a time, remembering only a digest of each (task_name, prompt) pair."""

    def __init__(self):
        self.seen: Counter = Counter()

    def __call__(self, row: dict) -> str:
        pair = hashlib.sha256(f"{row['task_name']}\x00{row['input_field']}".encode("utf-8")).digest()
        key = question_key(row["task_name"], row["input_field"], self.seen[pair])
        self.seen[pair] += 1
        return key


@dataclass
class DataFile:
    """A data file that passed the check: one Entry per usable row; `rows(indices)` reads the rows."""

    path: Path
    entries: list[Entry]
    conversions: dict[str, list[int]]  # conversion rule -> the lines it was applied on
    held: list[dict] | None = None  # JSON array: the checked rows (read whole); JSON Lines: None
    stamp: tuple[int, int] | None = None  # JSON Lines: (size, mtime_ns) when checked
    answer_only: bool = False  # rows checked for answering only (no truths, or --answer-only): no scores
    reason: str = ""  # why the run answers without scores ("" when it scores)

    @property
    def keys(self) -> list[str]:
        return [e.key for e in self.entries]

    def rows(self, indices) -> list[dict]:
        """The checked rows at `indices` (into `entries`); JSON Lines are read again, line by line, so
        only the selected rows are ever held."""
        if self.held is not None:
            return [self.held[self.entries[i].offset] for i in indices]
        if _stamp(self.path) != self.stamp:
            raise DataError(f"{self.path}: the file changed after it was checked; run again")
        out = []
        with open(self.path, "rb") as f:
            for i in indices:
                entry = self.entries[i]
                f.seek(entry.offset)
                raw = f.readline()
                try:
                    text = _line_text(raw, entry.offset == 0)
                    row, _ = _check(json.loads(text), text, self.answer_only)
                except (ValueError, UnicodeDecodeError) as err:
                    raise DataError(f"{self.path}:{entry.number}: changed after it was checked ({err}); run again") \
                        from None
                out.append(row)
        return out


def _stamp(path: Path) -> tuple[int, int]:
    st = os.stat(path)
    return st.st_size, st.st_mtime_ns


def _line_text(raw: bytes, first: bool) -> str:
    return (raw[len(BOM):] if first and raw.startswith(BOM) else raw).decode("utf-8")


def _starts_with_bracket(path: Path) -> bool:
    """Whether the file's first non-blank character is "[" (one JSON array) rather than a JSON Lines row."""
    with open(path, "rb") as f:
        start = True
        while chunk := f.read(1 << 16):
            if start and chunk.startswith(BOM):
                chunk = chunk[len(BOM):]
            start = False
            text = chunk.lstrip(b" \t\r\n")
            if text:
                return text[:1] == b"["
    return False


UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")


class _Truths:
    """Which rows have a truth: checked as scored rows; rows without one (a JSON object without
    output_field) are checked for answering only. With ``forced`` (--answer-only) every row is."""

    def __init__(self, forced: bool):
        self.forced, self.with_truth, self.without = forced, 0, []

    def check(self, value, text: str | None, where) -> tuple[dict, list[str]]:
        if self.forced:
            return check_answer_row(value, text)
        if _has_truth(value):
            self.with_truth += isinstance(value, dict)
            return check_row(value, text)
        self.without.append(where)
        return check_answer_row(value, text)

    def mode(self, problems: Problems) -> tuple[bool, str]:
        """(answer only, why): every row without a truth -> answer only; a mix -> a problem per row without."""
        if self.forced:
            return True, "--answer-only was given"
        if self.without and self.with_truth:
            for where in self.without:
                problems.add(where, f"no output_field (the truth), while {self.with_truth} other row(s) have one: "
                                    "give every row its truth, or pass --answer-only to answer every row without scores")
            return False, ""
        if self.without:
            return True, "no row of the data has a truth (output_field)"
        return False, ""


def _scan_lines(path: Path, problems: Problems, entries: list[Entry], conversions: dict, truths: _Truths) -> None:
    """The checking pass over a JSON Lines file: streamed line by line; keeps an Entry per good row."""
    keys = _Keys()
    with open(path, "rb") as f:
        if f.read(2) in UTF16_BOMS:
            raise DataError(f"{path}:1: not UTF-8 (it starts with a UTF-16 byte order mark); save the file as UTF-8")
        f.seek(0)
        offset = 0
        for number, raw in enumerate(f, start=1):
            start, offset = offset, offset + len(raw)
            try:
                text = _line_text(raw, number == 1)
            except UnicodeDecodeError as err:
                skipped = len(BOM) if number == 1 and raw.startswith(BOM) else 0
                problems.add(number, _not_utf8(raw[skipped:], err, skipped))
                continue
            if not text.strip():
                continue
            try:
                row, notes = truths.check(json.loads(text), text, number)
            except json.JSONDecodeError as err:
                problems.add(number, f"not a JSON object ({err.msg}, column {err.colno})")
                continue
            except RecursionError:
                problems.add(number, "not a JSON object (nested too deeply)")
                continue
            except _RowProblem as err:
                problems.add(number, str(err))
                continue
            for note in notes:
                conversions[note].append(number)
            entries.append(Entry(number, start, row["task_name"], row["track"], keys(row)))


def _array_items(text: str, path: Path) -> list[tuple[int, object]]:
    """(line where it starts, value) of every item of the JSON array `text`, or DataError at the line."""
    decoder = json.JSONDecoder()
    pos = _JSON_SPACE.match(text, 0).end() + 1  # after "["
    out: list[tuple[int, object]] = []
    line, counted = 1, 0
    pos = _JSON_SPACE.match(text, pos).end()
    if text.startswith("]", pos):
        pos += 1
    else:
        while True:
            line, counted = line + text.count("\n", counted, pos), pos
            try:
                value, pos = decoder.raw_decode(text, pos)
            except json.JSONDecodeError as err:
                raise DataError(f"{path}:{err.lineno}: not a JSON array ({err.msg}, column {err.colno})") from None
            except RecursionError:
                raise DataError(f"{path}:{line}: not a JSON array (row {len(out) + 1} is nested too deeply)") from None
            out.append((line, value))
            pos = _JSON_SPACE.match(text, pos).end()
            if text.startswith(",", pos):
                pos = _JSON_SPACE.match(text, pos + 1).end()
                continue
            if text.startswith("]", pos):
                pos += 1
                break
            where = line + text.count("\n", counted, pos)
            raise DataError(f"{path}:{where}: not a JSON array (expected ',' or ']' after row {len(out)})")
    if _JSON_SPACE.match(text, pos).end() != len(text):
        line = 1 + text.count("\n", 0, pos)
        raise DataError(f"{path}:{line}: not a JSON array (text after its closing ']')")
    return out


def _read_array(path: Path, problems: Problems, entries: list[Entry], conversions: dict,
                truths: _Truths) -> list[dict]:
    """One JSON array, read whole (EC-Guide's published files are such arrays): its checked rows."""
    raw = path.read_bytes()
    if raw[:2] in UTF16_BOMS:
        raise DataError(f"{path}:1: not UTF-8 (it starts with a UTF-16 byte order mark); save the file as UTF-8")
    skipped = len(BOM) if raw.startswith(BOM) else 0
    try:
        text = raw[skipped:].decode("utf-8")
    except UnicodeDecodeError as err:
        at = skipped + err.start
        line_start = raw.rfind(b"\n", 0, at) + 1
        column, line = at - line_start + 1, raw.count(b"\n", 0, at) + 1
        raise DataError(f"{path}:{line}: not UTF-8 (byte 0x{raw[at]:02x} at column {column}); "
                        "save the file as UTF-8") from None
    del raw
    items = _array_items(text, path)
    may_hold_surrogates = bool(_SURROGATE_ESCAPE.search(text))
    del text
    numbered = [(n, value) for n, (_, value) in enumerate(items, start=1)]
    line_of = {n: line for n, (line, _) in enumerate(items, start=1)}
    del items
    if is_ecguide_file(True, numbered):
        numbered = _from_ecguide(path, numbered)
    held, keys = [], _Keys()
    for number, value in numbered:
        where = f"{line_of[number]}: row {number}"
        try:
            row, notes = truths.check(value, None if may_hold_surrogates else "", where)  # None: every string
        except _RowProblem as err:
            problems.add(where, str(err))
            continue
        for note in notes:
            conversions[note].append(line_of[number])
        entries.append(Entry(line_of[number], len(held), row["task_name"], row["track"], keys(row)))
        held.append(row)
    return held


def read_data(path: Path, answer_only: bool = False) -> DataFile:
    """Check every row of a data file in one pass, before any model loads; DataError lists the problems.

    JSON Lines are streamed (one line in memory at a time) and only an Entry per row is kept; the rows
    a run selects are read again by ``DataFile.rows``. A JSON array is read whole. Every problem is
    one line ``file:line: what is wrong`` (the first MAX_PROBLEMS_SHOWN are shown, all are counted): a
    line that is not UTF-8 (its first bad byte and column), not JSON, a row missing a field, of an
    unknown task type, metric or track, or whose truth its metric cannot score (``check_row``).

    A file none of whose rows has an output_field, or any file with ``answer_only`` (--answer-only),
    is checked for answering only (``check_answer_row``) and answered without scores; a file where
    some rows have a truth and others not is refused, each row without one named.
    """
    path = Path(path)
    problems, entries, conversions = Problems(path), [], defaultdict(list)
    truths = _Truths(answer_only)
    try:
        if _starts_with_bracket(path):
            held = _read_array(path, problems, entries, conversions, truths)
            stamp = None
        else:
            held, stamp = None, _stamp(path)
            _scan_lines(path, problems, entries, conversions, truths)
    except OSError as err:
        raise DataError(f"{path}: cannot be read ({err.strerror or err})") from None
    only, reason = truths.mode(problems)
    if only:
        problems.use = "answered"
    problems.check()
    return DataFile(path, entries, dict(conversions), held, stamp, only, reason)


def is_ecguide_file(is_array: bool, numbered: list[tuple[int, object]]) -> bool:
    """EC-Guide's published files are one JSON list of objects none of which has a task_name, with truths
    (a list of rows without any output_field is a file to answer, not EC-Guide's)."""
    return (is_array and bool(numbered) and all(isinstance(r, dict) and "task_name" not in r for _, r in numbered)
            and any("output_field" in r for _, r in numbered))


def _from_ecguide(path: Path, numbered: list[tuple[int, object]]) -> list[tuple[int, object]]:
    """EC-Guide's published rows converted by ``utilities.suites.from_ecguide``. A row it refuses (an
    empty answer, an NER answer with no entity) cannot be scored: it is left out, and every such row
    is counted by reason and named in a warning; a file with no usable row is an error."""
    from utilities.suites import from_ecguide

    out = []
    refused: dict[str, list[int]] = defaultdict(list)
    for number, row in numbered:
        try:
            out.append((number, from_ecguide(row, task_name=Path(path).stem)))
        except ValueError as err:
            refused[str(err)].append(number)
    for reason, numbers in refused.items():
        shown = ", ".join(map(str, numbers[:5])) + (", ..." if len(numbers) > 5 else "")
        log.warning("%s: %d EC-Guide row(s) left out, %s (rows %s, 1-based)", path, len(numbers), reason, shown)
    if not out:
        raise DataError(f"{path}: none of its {len(numbered)} rows can be used (read as EC-Guide's published format: "
                        "a JSON list of input_field, output_field, task_type, metric without task_name)")
    return out


def load_rows(path: Path) -> list[dict]:
    """Every row of a data file, checked (``read_data``): JSON Lines, or a JSON array (numbered from 1
    in messages, with its line). A JSON array whose rows have no task_name is EC-Guide's published
    format, converted by ``utilities.suites.from_ecguide(row, task_name=<file stem>)`` (which, e.g.,
    turns its yes/no ``bool`` rows into two-option multiple choice); a row it refuses is left out and
    counted in a warning."""
    data = read_data(path)
    return data.rows(range(len(data.entries)))


def warn_conversions(data: DataFile) -> dict[str, int]:
    """One warning per conversion rule applied to the file's truths; {rule: count} for the report."""
    for rule, lines in data.conversions.items():
        shown = ", ".join(map(str, lines[:8])) + (", ..." if len(lines) > 8 else "")
        log.warning("%s: %d truth value(s) converted: %s (lines %s)", data.path, len(lines), rule, shown)
    return {rule: len(lines) for rule, lines in data.conversions.items()}


def check_scorers(rows: list[dict]) -> None:
    """Every metric the selected rows need can be computed here (multilingual: multilingual_model_for)."""
    needed = Counter(r["metric"] for r in rows if r["metric"] != "multilingual-sent-transformer")
    for metric, count in needed.items():
        try:
            check_available(metric)
        except MissingModelError as err:
            raise DataError(f"{count} selected questions are scored with {metric}, which cannot be computed here: "
                            f"{err}. Install what it needs, or leave those questions out (--track, --data).") from None


def multilingual_model_for(rows: list[dict], folder: Path | None):
    """The multilingual scoring model, loaded before any question is answered, when a row needs it."""
    needing = [r for r in rows if r["metric"] == "multilingual-sent-transformer"]
    if not needing:
        return None
    try:
        return load_multilingual_model(folder)
    except MissingModelError as err:
        tasks = ", ".join(sorted({r["task_name"] for r in needing}, key=natural_key))
        raise DataError(f"{len(needing)} selected questions ({tasks}) are scored with multilingual-sent-transformer. "
                        f"{err} Here: pass --multilingual-model FOLDER, or leave those questions out "
                        "(--track, --data).") from None


def route_missing_task_types(rows: list[dict]) -> list[dict]:
    """Answer-only rows without a task_type get the router's (``utilities.routing.route_task``: what
    ShopBenchModel itself would answer them as); the grader batches by it."""
    from utilities.routing import route_task

    for row in rows:
        if row.get("task_type") is None:
            row["task_type"] = route_task(row["input_field"], row["is_multiple_choice"])
    return rows


def _task_and_track(row) -> tuple[str, str]:
    return (row.task_name, row.track) if isinstance(row, Entry) else (row["task_name"], row["track"])


def select_indices(rows, track: int, limit: int | None, per_task: int | None = None) -> list[int]:
    """Indices of the rows (dicts, or a DataFile's entries) of one track (5: all); with ``per_task``,
    the first that many rows of each task (in file order: a stratified sample, the same on every run);
    then the first ``limit``."""
    pairs = [_task_and_track(r) for r in rows]
    picked = [i for i, (_, t) in enumerate(pairs) if track == ALL_AROUND or t == get_track(track).challenge_id]
    if per_task:
        taken: dict[str, int] = defaultdict(int)
        kept = []
        for i in picked:
            if taken[pairs[i][0]] < per_task:
                taken[pairs[i][0]] += 1
                kept.append(i)
        picked = kept
    return picked[:limit] if limit else picked


def select_rows(rows: list[dict], track: int, limit: int | None, per_task: int | None = None) -> list[dict]:
    return [rows[i] for i in select_indices(rows, track, limit, per_task)]


# ---- answering, one batch at a time, recorded as it goes ----------------------------------------

def plan_batches(rows: list[dict], size: int) -> list[tuple[str, list[int]]]:
    """(task type, row indices) of every batch, as the grader forms them (``utilities.grader``)."""
    return grader.grader_batches([row["task_type"] for row in rows], size)


def _routed(prompt, is_multiple_choice: bool) -> str | None:
    from utilities.routing import route_task

    try:
        return route_task(prompt if isinstance(prompt, str) else str(prompt), is_multiple_choice)
    except Exception:  # noqa: BLE001 - a note must never sink a batch
        logging.getLogger("shopbench").exception("routing a prompt for its note failed")
        return None


def batch_notes(model, prompts: list, is_multiple_choice: bool) -> list[dict]:
    """One note per prompt: the routed task type, and whether it was shortened, its raw reply empty and
    its answer the task's fallback. Read from ``model.last_notes`` (ShopBenchModel sets it after each
    ``batch_predict``); a model without it (a user's own) gets the router's type and None (unknown)."""
    notes = getattr(model, "last_notes", None)
    usable = isinstance(notes, (list, tuple)) and len(notes) == len(prompts)
    out = []
    for k, prompt in enumerate(prompts):
        note = notes[k] if usable else None
        routed = getattr(note, "task_type", None)
        entry = {"task_type": routed if isinstance(routed, str) else _routed(prompt, is_multiple_choice)}
        for name in NOTE_FIELDS:
            value = getattr(note, name, None)
            entry[name] = None if value is None else bool(value)
        out.append(entry)
    return out


class Recorder:
    """records.jsonl, appended one batch at a time: written, flushed and fsynced before the next batch
    starts, so a kill (even SIGKILL) loses at most the batch in flight."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._file = open(self.path, "a", encoding="utf-8", errors="backslashreplace")  # see _write_text

    def append(self, records: list[dict]) -> None:
        self._file.write("".join(strict_json(r) + "\n" for r in records))
        self._file.flush()
        os.fsync(self._file.fileno())

    def close(self) -> None:
        self._file.close()


def generate(model, rows: list[dict], batch_size: int | None = None, *, keys: list[str] | None = None,
             done: dict[str, dict] | None = None, recorder: Recorder | None = None) -> list[dict]:
    """The model's answer to every row, batched per task type as the grader does: one record per row.

    ``done`` (key -> record) holds questions answered by an earlier session; they are not asked again.
    Each new batch's records go to ``recorder`` as soon as the batch ends.
    """
    keys = keys if keys is not None else question_keys(rows)
    done = done or {}
    size = batch_size or model.get_batch_size()
    records: list[dict | None] = [done.get(k) for k in keys]
    batch_number = 1 + max((r["batch"] for r in done.values()), default=-1)
    lines = PlainProgress([row["task_type"] for row, r in zip(rows, records) if r is None])
    with progress.bar(total=lines.total, desc="answering", unit="q") as bar:
        for b in grader.answer_questions(model, rows, size, skip=lambda i: records[i] is not None):
            chunk, task_type = b.indices, b.task_type
            notes = batch_notes(model, b.prompts, b.is_multiple_choice)
            new = [{"key": keys[i], "index": i, "task_name": rows[i]["task_name"], "label": task_type,
                    "answer": answer, "notes": note, "batch": batch_number, "batch_task_type": task_type,
                    "batch_size": len(chunk), "batch_s": b.seconds}
                   for i, answer, note in zip(chunk, b.answers, notes)]
            if recorder is not None:
                recorder.append(new)
            for i, record in zip(chunk, new):
                records[i] = record
            batch_number += 1
            bar.update(len(chunk))
            lines.update(task_type, len(chunk))
    return records


class PlainProgress:
    """Off a terminal (no bar drawn: ``utilities.progress``), one plain line when a task type's questions
    are all answered and at every further 10 % of the questions, so a log shows how far a run is."""

    STEP = 0.10

    def __init__(self, task_types: list[str]):
        self.left = Counter(task_types)
        self.total, self.done, self.next_step = len(task_types), 0, self.STEP
        self.started = time.perf_counter()
        self.quiet = progress.enabled()  # a bar is drawn: it says all this

    def update(self, task_type: str, n: int) -> None:
        self.done += n
        self.left[task_type] -= n
        finished = self.left[task_type] <= 0
        share = self.done / max(1, self.total)
        if self.quiet or not (finished or share >= self.next_step or self.done >= self.total):
            return
        while self.next_step <= share:
            self.next_step += self.STEP
        elapsed = time.perf_counter() - self.started
        progress.say(f"answering: {self.done} of {self.total} questions ({100 * share:.0f} %), {elapsed:.0f} s"
                     + (f"; {task_type} done" if finished else ""))


def batch_timings(records: list[dict], rows: list[dict]) -> list[BatchTiming]:
    """Every batch's timing, rebuilt from the records (so a resumed run keeps its earlier batches)."""
    by_batch: dict[int, list[int]] = defaultdict(list)
    for i, r in enumerate(records):
        by_batch[r["batch"]].append(i)
    out = []
    for number in sorted(by_batch):
        ix = by_batch[number]
        first = records[ix[0]]
        out.append(BatchTiming(first["batch_task_type"], len(ix), float(first["batch_s"]),
                               [_track_number(rows[i]) for i in ix], ix))
    return out


def _track_number(row: dict) -> int | None:
    """The row's track number; None for an answer-only row without a track."""
    return track_of(row["track"]).number if row.get("track") else None


# ---- the run folder: start, resume ---------------------------------------------------------------

def json_safe(value):
    """`value` with every NaN and infinity replaced by None (JSON null) and numpy scalars made Python
    numbers, so that it can be written as strict JSON (``allow_nan=False``)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if hasattr(value, "item") and callable(value.item) and getattr(value, "shape", None) == ():
        return json_safe(value.item())  # a numpy scalar
    return value


def strict_json(value, **options) -> str:
    """Strict JSON text (RFC 8259): NaN and infinities written as null (``json_safe``), never as bare NaN."""
    return json.dumps(json_safe(value), ensure_ascii=False, default=str, allow_nan=False, **options)


def _write_text(path: Path, text: str) -> None:
    """Written whole or not at all (a temporary file, then renamed). A lone surrogate a model may have
    put in its answer is written as its JSON escape ("\\udc80"), which reads back the same."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(text.encode("utf-8", errors="backslashreplace"))
    os.replace(tmp, path)


def _write_json(path: Path, value) -> None:
    _write_text(path, strict_json(value, indent=1))


def selection_digest(keys: list[str]) -> str:
    return hashlib.sha256("\n".join(keys).encode()).hexdigest()


def model_label() -> list[str]:
    """[model, engine]: short names of what will answer, known before the model loads (for the run
    folder's name): the folder name of SHOPBENCH_MODEL if set, else the default the engine would pick
    (the configured checkpoint where CUDA is present, SmolLM2-135M-Instruct elsewhere), and
    SHOPBENCH_ENGINE if set, else vllm with CUDA and transformers without (the defaults of
    ``models.engines.load_engine``: ``default_model_dir``, ``default_engine``)."""
    from models import engines, settings

    folder = os.environ.get(settings.CHECKPOINT_ENV, "").strip()
    engine = os.environ.get(settings.ENGINE_ENV, "").strip().lower()
    try:
        cuda = False if folder and engine else engines.cuda_available()
    except Exception:  # noqa: BLE001 - a name for a folder; loading will say what is wrong
        cuda = False
    if folder:
        name = Path(folder).expanduser().resolve().name
    else:
        name = engines.default_model_dir(convert=False, cuda=cuda)[0].name
    return [name or "model", engine or engines.default_engine(cuda)]


def run_labels(args, suite: str | None, data: Path, answer_only: bool) -> list[str]:
    """The labels of a new run folder's name: model, engine, suite (or the data file's stem), then
    t<track> when not 5, n<limit>, pt<per task> and "answers" (answer-only) where they apply."""
    labels = model_label() + [suite or Path(data).stem]
    if args.track != ALL_AROUND:
        labels.append(f"t{args.track}")
    if args.limit:
        labels.append(f"n{args.limit}")
    if args.per_task:
        labels.append(f"pt{args.per_task}")
    if answer_only:
        labels.append("answers")
    return labels


def start_run(out: Path, spec: dict) -> None:
    """A fresh run in `out`: what an earlier run left there (records, reports) is replaced."""
    out.mkdir(parents=True, exist_ok=True)
    for name in (RECORDS_FILE, RUN_FILE, *REPORT_FILES):
        (out / name).unlink(missing_ok=True)
    (out / RECORDS_FILE).touch()
    _write_json(out / RUN_FILE, spec)


ASKED = ("data", "suite", "track", "limit", "per_task")  # what --resume must be given again, unchanged


def read_records(path: Path) -> tuple[list[dict], list[str]]:
    """The records of a records.jsonl and what was dropped: a last line cut short by a kill, and the
    records of a batch that was not written in full (each record names its batch and its size)."""
    dropped = []
    raw = path.read_bytes().decode("utf-8", errors="replace")
    lines = raw.split("\n")
    records = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            if number == len(lines):  # no newline after it: the write was cut short
                dropped.append(f"line {number} cut short")
                continue
            raise RunError(f"{path}:{number}: not a JSON record; the file is damaged (start the run again)") from None
    by_batch: dict[int, list[dict]] = defaultdict(list)
    for r in records:
        by_batch[r.get("batch")].append(r)
    kept = []
    for number, group in by_batch.items():
        if len(group) == group[0].get("batch_size"):
            kept.extend(group)
        else:
            dropped.append(f"batch {number}: {len(group)} of {group[0].get('batch_size')} records written")
    return kept, dropped


def resume_run(out: Path, spec: dict, keys: list[str]) -> tuple[dict, dict[str, dict]]:
    """(the run's run.json, key -> record of every question it answered in full batches)."""
    run_file, records_file = out / RUN_FILE, out / RECORDS_FILE
    if not run_file.is_file():
        raise RunError(f"{out} is not a run folder of local_evaluation.py (no {RUN_FILE}); nothing to resume")
    try:
        recorded = json.loads(run_file.read_text(encoding="utf-8"))
    except (ValueError, OSError) as err:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise RunError(f"{run_file}: not readable as a run of local_evaluation.py ({err}); start the run again") from None
    if not isinstance(recorded, dict):
        raise RunError(f"{run_file}: not a run of local_evaluation.py; start the run again")
    differ = [f"{k}: the run has {recorded.get(k)!r}, this command {spec[k]!r}" for k in ASKED
              if recorded.get(k) != spec[k]]
    if differ:
        raise RunError(f"--resume {out}: give the same data, suite, track, limit and per-task as the run: " + "; ".join(differ))
    if bool(recorded.get("answer_only")) != spec["answer_only"]:
        was = "answered without scores" if recorded.get("answer_only") else "scored"
        raise RunError(f"--resume {out}: the run was {was}; " + (
            "give --answer-only again" if recorded.get("answer_only") else "drop --answer-only"))
    if recorded.get("selection_sha256") != spec["selection_sha256"]:
        raise RunError(f"--resume {out}: the questions of {spec['data']} changed since the run began "
                       f"({recorded.get('questions')} then, {spec['questions']} now); start it again")
    records, dropped = read_records(records_file) if records_file.is_file() else ([], [])
    wanted = set(keys)
    done: dict[str, dict] = {}
    for r in records:
        if r.get("key") not in wanted:
            raise RunError(f"{records_file}: a record's question ({r.get('task_name')}) is not among the selected "
                           "questions; start the run again")
        if r["key"] in done:
            raise RunError(f"{records_file}: question {r['key']} ({r.get('task_name')}) is recorded twice")
        done[r["key"]] = r
    if dropped:  # rewrite the file without them, so that the next append follows whole records
        logging.getLogger("shopbench").warning("resume: dropped %s; those questions are answered again", dropped)
        _write_text(records_file, "".join(strict_json(r) + "\n" for r in records))
    for name in REPORT_FILES:  # a report of the unfinished run must not stand beside new records
        (out / name).unlink(missing_ok=True)
    return recorded, done


def _command(args) -> list[str]:
    """How this evaluation was started: ``shopbench eval`` or ``python local_evaluation.py``."""
    prog = getattr(args, "prog", "") or ""
    return ["shopbench", "eval"] if prog.startswith("shopbench") else ["python", "local_evaluation.py"]


def resume_command(args, out: Path) -> str:
    parts = _command(args) + ["--resume", str(out)]
    if args.data is not None:
        parts += ["--data", str(args.data)]
    elif args.suite not in (None, DEFAULT_SUITE):
        parts += ["--suite", args.suite]
    if args.track != ALL_AROUND:
        parts += ["--track", str(args.track)]
    if args.limit:
        parts += ["--limit", str(args.limit)]
    if args.per_task:
        parts += ["--per-task", str(args.per_task)]
    if getattr(args, "answer_only", False):
        parts += ["--answer-only"]
    if args.multilingual_model is not None:
        parts += ["--multilingual-model", str(args.multilingual_model)]
    return shlex.join(parts)


# ---- scoring -------------------------------------------------------------------------------------

def _failure(err: BaseException) -> str:
    return f"{type(err).__name__}: {err}"[:500]


def score(rows: list[dict], outputs: list[str], multilingual_model=None) -> dict:
    """Per-question records, per-task, per-track and overall scores, as the official evaluator computes them.

    Nothing here stops a run that has answered: an answer the parser cannot read (not a string) is
    recorded with its ``parse_error`` and scores 0 (the official evaluator would stop); a metric that
    fails on a task leaves that task's ``score`` null with its ``error``, and the tracks holding it and
    the overall score null too (a mean without one of its tasks would be another number).
    """
    records = []
    for row, output in zip(rows, outputs):
        record = {
            "input_field": row["input_field"],
            "task_name": row["task_name"],
            "task_type": row["task_type"],
            "metric": row["metric"],
            "track": row["track"],
            "model_output": output,
            "parsed": None,
            "truth": row["output_field"],
        }
        try:
            record["parsed"] = parse(row["task_type"], output)
        except Exception as err:  # noqa: BLE001 - one unreadable answer must not sink the run
            record["parse_error"] = _failure(err)
        records.append(record)
    tasks = {}
    for task_name, task_records in group_by_task(records).items():
        by_metric: dict[str, list[dict]] = defaultdict(list)
        for record in task_records:
            by_metric[record["metric"]].append(record)
        row_scores = []
        pooled = None
        errors = []
        for metric, group in by_metric.items():
            try:
                result = score_task(metric, [r["parsed"] for r in group], [r["truth"] for r in group],
                                    multilingual_model=multilingual_model)
            except Exception as err:  # noqa: BLE001 - the answers are kept; the task is marked
                log.error("task %s: scoring with %s failed (%s); its score is left out", task_name, metric,
                          _failure(err))
                errors.append(f"{metric}: {_failure(err)}")
                continue
            for record, value in zip(group, result.per_row):
                record["score"] = value
            row_scores.extend(result.per_row)
            if metric == "micro f1":
                pooled = result.score
        task = {
            "task_type": task_records[0]["task_type"],
            "metrics": sorted(by_metric),
            "track": task_records[0]["track"],
            "questions": len(task_records),
            # the official evaluator: mean of the rows, except micro f1, pooled over the task
            "score": None if errors else
            pooled if pooled is not None and len(by_metric) == 1 else statistics.fmean(row_scores),
        }
        if errors:
            task["error"] = "; ".join(errors)
            for record in task_records:
                record["score"] = None
        unreadable = sum("parse_error" in r for r in task_records)
        if unreadable:
            task["unreadable_answers"] = unreadable
            log.warning("task %s: %d answer(s) the parser cannot read scored 0 (first: %s)", task_name, unreadable,
                        next(r["parse_error"] for r in task_records if "parse_error" in r))
        tasks[task_name] = task
    tracks = {}
    for number, track in TRACKS.items():
        if number == ALL_AROUND:
            continue
        scores = [t["score"] for t in tasks.values() if t["track"] == track.challenge_id]
        if scores:
            tracks[number] = None if None in scores else statistics.fmean(scores)
    if tracks:  # Track 5: the mean of Tracks 1-4
        tracks[ALL_AROUND] = None if None in tracks.values() else statistics.fmean(tracks.values())
    scores = [t["score"] for t in tasks.values()]
    overall = None if None in scores else statistics.fmean(scores) if scores else 0.0
    return {"records": records, "tasks": tasks, "tracks": tracks, "overall": overall}


def add_intervals(result: dict) -> dict:
    """95 % bootstrap intervals (utilities/evaluation_stats.py) on every task, track and overall score.
    A score that is null (its task failed to score) gets a null interval; the bootstrap runs on the
    tasks that scored. If the bootstrap itself fails, every interval is null and ``bootstrap`` says why."""
    scored = {n for n, t in result["tasks"].items() if t["score"] is not None}
    try:
        intervals = bootstrap(task_rows([r for r in result["records"] if r["task_name"] in scored])) if scored else None
    except Exception as err:  # noqa: BLE001 - intervals are a help; the scores stand without them
        log.error("the bootstrap intervals failed (%s); the report has none", _failure(err))
        intervals, result["bootstrap"] = None, {"error": _failure(err)}
    for name, task in result["tasks"].items():
        task["ci95"] = list(intervals.tasks[name]) if intervals and name in scored else None
    result["tracks_ci95"] = {n: list(intervals.tracks[n]) if intervals and n in intervals.tracks
                             and result["tracks"].get(n) is not None else None for n in result["tracks"]}
    result["overall_ci95"] = list(intervals.overall) if intervals and result["overall"] is not None else None
    if intervals is not None:
        result["bootstrap"] = intervals.describe()
    result.setdefault("bootstrap", {"error": "no task could be scored"})
    return result


def add_counts(result: dict, answered: list[dict]) -> dict:
    """Per task: fallback answers, empty raw replies, shortened prompts, deadline cuts (None when the model does not
    say), and questions routed to another type than the row's task_type label ("misrouted")."""
    by_task: dict[str, list[tuple[dict, dict]]] = defaultdict(list)
    for record, a in zip(result["records"], answered):
        record["key"] = a["key"]
        record["notes"] = a["notes"]
        record["batch"] = a["batch"]
        by_task[record["task_name"]].append((record, a["notes"]))
    for name, pairs in by_task.items():
        task = result["tasks"][name]
        for field in NOTE_FIELDS:
            values = [n.get(field) for _, n in pairs]
            task[field if field != "fallback" else "fallbacks"] = (
                None if any(v is None for v in values) else sum(values))
        routed = [n.get("task_type") for _, n in pairs]
        task["misrouted"] = None if any(t is None for t in routed) else sum(
            t != r["task_type"] for t, (r, _) in zip(routed, pairs))
    return result


# ---- timing, tables, chart ----------------------------------------------------------------------

def timing_summary(rows: list[dict], timings: list[BatchTiming]) -> dict:
    """Seconds in all, per question, per batch against the 10-s-per-question rule, and per track."""
    total = sum(t.seconds for t in timings)
    per_track = defaultdict(float)
    for t in timings:  # a batch holds one task type, possibly from several tracks: share its time
        for number in t.tracks:
            if number is not None:
                per_track[number] += t.seconds / t.size
    per_track[ALL_AROUND] = total
    return {
        "total_s": total,
        "per_question_s": total / max(1, len(rows)),
        "batches": [asdict(t) | {"limit_s": t.limit_s, "within_limit": t.within_limit} for t in timings],
        "batches_over_limit": sum(not t.within_limit for t in timings),
        "per_track_s": {n: per_track[n] for n in sorted(per_track)},
    }


def _ci(interval, scale: float = 1.0, digits: int = 4) -> str:
    if not interval:
        return "-"
    lo, hi = interval
    return f"{scale * lo:.{digits}f}-{scale * hi:.{digits}f}"


def _percent(value, digits: int) -> str:
    return "-" if value is None else f"{100 * value:.{digits}f}"


def _count(value) -> str:
    return "?" if value is None else str(value)


def _sorted_counts(counts: Counter) -> dict:
    """Options in order; anything else (an unreadable answer's None) after them, never a TypeError."""
    return dict(sorted(counts.items(), key=lambda kv: (not isinstance(kv[0], int), str(kv[0]))))


def choice_shares(records: list[dict]) -> dict[str, dict[str, dict[int, int]]]:
    """Per multiple-choice task, how often each option was answered and how often it is the truth: a
    model that answers one option whatever the question (a position bias) shows here at a glance."""
    out: dict[str, dict[str, dict[int, int]]] = {}
    for name, group in group_by_task(r for r in records if r["task_type"] == "multiple-choice").items():
        answered = Counter(r["parsed"] for r in group)
        truths = Counter(r["truth"] for r in group)
        out[name] = {"answered": _sorted_counts(answered), "truth": _sorted_counts(truths)}
    return out


def render_choices(shares: dict) -> list[str]:
    if not shares:
        return []
    lines = ["", "| multiple-choice task | answers by option | truths by option |", "|---|---|---|"]
    for name, s in shares.items():
        n = sum(s["answered"].values())
        fmt = lambda counts: ", ".join(f"{k}: {100 * v / n:.0f} %" for k, v in counts.items())  # noqa: E731
        lines.append(f"| {name} | {fmt(s['answered'])} | {fmt(s['truth'])} |")
    return lines


def track_label(number: int, tracks) -> str:
    """A track's row label; the all-around row says which tracks it averages and that it is computed over
    the selected questions (not the leaderboard's Track 5 questions)."""
    label = f"{number} {TRACKS[number].name}"
    if number == ALL_AROUND:
        covered = ", ".join(str(n) for n in sorted(tracks) if n != ALL_AROUND) or "none"
        label += f" (mean of tracks {covered}, over the selected questions)"
    return label


def render_tables(result: dict, timing: dict, subset: str | None = None) -> str:
    """report.md's tables: tasks, the tracks in ``result["tracks"]`` (only those the selection covers),
    totals; ``subset`` (a one-line description) heads them when the run answered part of its data."""
    lines = [f"{subset}", ""] if subset else []
    lines += ["| task | type | metric | n | score | 95 % CI | fallbacks | empty raw | shortened | cut | misrouted |",
              "|---|---|---|---|---|---|---|---|---|---|---|"]
    for name in sorted(result["tasks"], key=natural_key):
        t = result["tasks"][name]
        value = "failed" if t["score"] is None else f"{t['score']:.4f}"
        lines.append(f"| {name} | {t['task_type']} | {', '.join(t['metrics'])} | {t['questions']} | {value} | "
                     f"{_ci(t.get('ci95'))} | {_count(t.get('fallbacks'))} | {_count(t.get('raw_empty'))} | "
                     f"{_count(t.get('shortened'))} | {_count(t.get('cut'))} | {_count(t.get('misrouted'))} |")
    tracks_ci = result.get("tracks_ci95", {})
    lines += ["", "| track | score | 95 % CI | 1st place | measured s | limit s |", "|---|---|---|---|---|---|"]
    for number, value in result["tracks"].items():
        track = TRACKS[number]
        lines.append(
            f"| {track_label(number, result['tracks'])} | {_percent(value, 1)} | {_ci(tracks_ci.get(number), 100, 1)} | "
            f"{track.leaderboard} | "
            f"{timing['per_track_s'].get(number, 0.0):.1f} | {track.time_limit_s} |"
        )
    totals = {}
    for f in ("fallbacks", "raw_empty", "shortened", "cut", "misrouted"):
        values = [t.get(f) for t in result["tasks"].values()]
        totals[f] = None if any(v is None for v in values) else sum(values)
    questions = sum(t["questions"] for t in result["tasks"].values())
    failed = {n: t["error"] for n, t in result["tasks"].items() if t.get("error")}
    unreadable = sum(t.get("unreadable_answers", 0) for t in result["tasks"].values())
    lines += [
        "",
        f"overall (mean over {len(result['tasks'])} tasks): {_percent(result['overall'], 2)} "
        f"(95 % CI {_ci(result.get('overall_ci95'), 100, 2)})",
        f"of {questions} questions: {_count(totals['fallbacks'])} fallback answers, {_count(totals['raw_empty'])} "
        f"empty raw replies, {_count(totals['shortened'])} shortened prompts, {_count(totals['cut'])} replies cut by "
        f"the batch's deadline, {_count(totals['misrouted'])} misrouted "
        "(? = the model does not report it)",
        f"time: {timing['total_s']:.1f} s, {timing['per_question_s']:.2f} s per question; "
        f"{timing['batches_over_limit']} of {len(timing['batches'])} batches over the "
        f"{PER_SAMPLE_LIMIT_S} s-per-question limit",
    ]
    for name, error in failed.items():
        lines.append(f"SCORING FAILED for {name} ({error}): its score, its track's and the overall score are "
                     "null; the answers are kept (records.jsonl) and --resume re-scores them without the model")
    if unreadable:
        lines.append(f"{unreadable} answer(s) the official parser cannot read (not text) scored 0 (parse_error in "
                     "their records)")
    b = result.get("bootstrap")
    if b and "error" in b:
        lines.append(f"intervals: none ({b['error']})")
    elif b:
        lines.append(f"intervals: {b['resamples']} bootstrap resamples of the questions within each task, "
                     f"seed {b['seed']}")
    lines += render_choices(choice_shares(result["records"]))
    return "\n".join(lines)


def write_chart(tracks: dict[int, float], path: Path, title: str,
                intervals: dict[int, list[float]] | None = None, numbers: list[int] | None = None) -> Path:
    """Per-track scores (with their 95 % intervals as error bars) beside the 1st-place leaderboard, as a PNG;
    ``numbers``: the tracks drawn (default all five)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    numbers = sorted(numbers) if numbers else sorted(TRACKS)
    ours = [float("nan") if tracks.get(n) is None else 100 * tracks[n] for n in numbers]
    first = [TRACKS[n].leaderboard for n in numbers]
    intervals = {n: v for n, v in (intervals or {}).items() if v is not None}
    yerr = [[max(0.0, v - 100 * intervals[n][0]) if n in intervals else 0.0 for n, v in zip(numbers, ours)],
            [max(0.0, 100 * intervals[n][1] - v) if n in intervals else 0.0 for n, v in zip(numbers, ours)]]
    x = range(len(numbers))
    fig, ax = plt.subplots(figsize=(8, 4.2), dpi=120)
    bars = ax.bar([i - 0.2 for i in x], ours, width=0.4, label="this run (95 % CI)", color="#2b6cb0",
                  yerr=yerr, capsize=3, error_kw={"elinewidth": 1})
    ax.bar([i + 0.2 for i in x], first, width=0.4, label="1st place (Team NVIDIA)", color="#b7b7b7")
    for bar, value, top in zip(bars, ours, yerr[1]):
        if value == value:  # not NaN
            ax.annotate(f"{value:.1f}", (bar.get_x() + bar.get_width() / 2, value + top), xytext=(0, 2),
                        textcoords="offset points", ha="center", va="bottom", fontsize=8)
    ax.set_xticks(list(x), [f"Track {n}\n" + textwrap.fill(TRACKS[n].name, 16) for n in numbers], fontsize=7)
    pad = (max(len(numbers), 4) - len(numbers)) / 2  # one or two tracks keep bars of the usual width, centred
    ax.set_xlim(-0.7 - pad, len(numbers) - 0.3 + pad)
    ax.set_ylabel("score (x100)")
    ax.set_ylim(0, 100)
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


# ---- comparing two runs --------------------------------------------------------------------------

def _run_records(run: Path) -> tuple[Path, list[dict]]:
    path = run / "report.json" if run.is_dir() else run
    if not path.is_file():
        hint = " (interrupted? finish it with --resume)" if (run / RECORDS_FILE).is_file() else ""
        raise RunError(f"{run}: no report.json{hint}")
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
        records = report["records"]
    except (ValueError, KeyError, TypeError, OSError) as err:  # JSONDecodeError, UnicodeDecodeError: ValueErrors
        raise RunError(f"{path}: not a report of local_evaluation.py ({err})") from None
    if report.get("answer_only"):
        raise RunError(f"{path}: an answer-only run has no scores to compare ({report.get('reason') or 'no truths'})")
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise RunError(f"{path}: not a report of local_evaluation.py (its records are not a list of objects)")
    unscored = sum(r.get("score") is None for r in records)
    if unscored:  # a task whose scoring failed: its questions are left out of the comparison
        log.warning("%s: %d questions without a score (their task failed to score) are left out", path, unscored)
    return path, [r for r in records if r.get("score") is not None]


def render_comparison(cmp, a: Path, b: Path) -> str:
    def row(label, d):
        mark = " *" if d.excludes_zero else ""
        return (f"| {label} | {d.questions} | {100 * d.a:.1f} | {100 * d.b:.1f} | {100 * d.diff:+.1f}{mark} | "
                f"{100 * d.low:+.1f} to {100 * d.high:+.1f} |")

    head = ["| {} | n | A | B | B - A | 95 % CI |", "|---|---|---|---|---|---|"]
    lines = [f"A: {a}", f"B: {b}",
             f"{cmp.matched} questions matched (A alone: {cmp.only_a}, B alone: {cmp.only_b}); scores x100 on the "
             "matched questions; * = the interval excludes 0", ""]
    lines += [head[0].format("task"), head[1]] + [row(n, d) for n, d in cmp.tasks.items()]
    lines += ["", head[0].format("track"), head[1]]
    lines += [row(f"{n} {TRACKS[n].name}", d) for n, d in cmp.tracks.items()]
    lines += ["", head[0].format("overall"), head[1], row("overall (mean over tasks)", cmp.overall), "",
              f"paired bootstrap: {cmp.resamples} resamples of the matched questions within each task, seed {cmp.seed}"]
    return "\n".join(lines)


def compare_runs(run_a: Path, run_b: Path, out: Path | None) -> dict:
    """B - A on the questions both runs answered; printed, and written to compare.json / compare.md."""
    path_a, records_a = _run_records(Path(run_a))
    path_b, records_b = _run_records(Path(run_b))
    cmp = paired_bootstrap(records_a, records_b)
    table = render_comparison(cmp, path_a, path_b)
    print(table)
    out = Path(out) if out is not None else path_b.parent
    out.mkdir(parents=True, exist_ok=True)
    result = {"a": str(path_a), "b": str(path_b)} | asdict(cmp)
    _write_json(out / "compare.json", result)
    _write_text(out / "compare.md", f"# ShopBench run comparison (B - A)\n\n{table}\n")
    print(f"comparison: {out / 'compare.json'}, {out / 'compare.md'}")
    return result


# ---- command line --------------------------------------------------------------------------------

class Parser(argparse.ArgumentParser):
    """argparse whose errors are one line, ``<prog>: error: --limit: ...`` (exit 2), after a one-line
    usage that points at ``--help`` (argparse's own usage takes six lines before the error)."""

    def error(self, message: str):
        message = re.sub(r"^argument ([^:]+): ", r"\1: ", message)
        self.exit(2, f"usage: {self.prog} [options] (--help lists them)\n{self.prog}: error: {message}\n")


def _whole_number(text: str, want: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number (give {want})") from None


def _at_least_one(text: str) -> int:
    value = _whole_number(text, "N >= 1")
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value} (give N >= 1)")
    return value


def _grader_batch_size(text: str) -> int:
    want = f"1 to {grader.MAX_BATCH_SIZE}, as the grader's batches hold"
    value = _whole_number(text, want)
    if not 1 <= value <= grader.MAX_BATCH_SIZE:
        raise argparse.ArgumentTypeError(f"the grader's batches hold 1 to {grader.MAX_BATCH_SIZE} questions, got {value}")
    return value


def _track(text: str) -> int:
    want = "1-4, or 5 for all"
    value = _whole_number(text, want)
    if value not in TRACKS:
        raise argparse.ArgumentTypeError(f"there is no track {value} (give {want})")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--suite", choices=sorted(SUITES), default=None,
                        help=f"a named question set (default: {DEFAULT_SUITE}, the 96 dev questions)")
    source.add_argument("--data", type=Path, default=None,
                        help="a data file: JSON Lines / JSON array of ShopBench rows, or an EC-Guide published file; "
                             "rows without output_field are answered without scores")
    parser.add_argument("--track", type=_track, default=ALL_AROUND, metavar="{1,2,3,4,5}",
                        help="1-4, or 5 for all (default)")
    parser.add_argument("--limit", type=_at_least_one, default=None, metavar="N",
                        help="answer only the first N selected questions")
    parser.add_argument("--per-task", type=_at_least_one, default=None, metavar="N",
                        help="answer only the first N questions of each task (a stratified sample of a large suite)")
    parser.add_argument("--batch-size", type=_grader_batch_size, default=None, metavar="N",
                        help="override the model's get_batch_size() (1-16, as the grader allows)")
    parser.add_argument("--answer-only", action="store_true",
                        help="answer the questions without scoring them, even where the data has truths: "
                             "answers.jsonl and a report without scores")
    parser.add_argument("--out", type=Path, default=None, metavar="DIR",
                        help="run folder (default: a new runs/<time>-<model>-<engine>-<suite>/, which runs/latest "
                             "then points at; --out DIR is replaced by a new run and leaves runs/latest alone). "
                             "With --compare: where compare.json/.md go (default: RUN_B's folder)")
    parser.add_argument("--resume", type=Path, default=None, metavar="RUN",
                        help="finish the interrupted run in folder RUN (e.g. runs/latest) without answering its "
                             "recorded questions again (give the same data/suite, --track, --limit and --per-task)")
    parser.add_argument("--compare", type=Path, nargs=2, default=None, metavar=("RUN_A", "RUN_B"),
                        help="paired differences B - A per task, track and overall, with 95 %% intervals, from two "
                             "finished runs (folders or report.json files); answers nothing")
    parser.add_argument("--multilingual-model", type=Path, default=None,
                        help="local folder of paraphrase-multilingual-MiniLM-L12-v2 (for that metric)")
    progress.add_flag(parser)
    return parser


def answer_questions(parser, args, out: Path, spec: dict, rows: list[dict], keys: list[str],
                     done: dict[str, dict], batch_size: int | None, loaded=None) -> tuple[list[dict], float]:
    """(one record per row, model load seconds): load the model, unless every question is recorded
    already, and answer what is not, appending each batch to the run's records.jsonl. ``loaded()`` is
    called once the model has loaded, before the first batch."""
    if len(done) == len(rows):  # a finished run being re-scored needs no model
        return [done[k] for k in keys], 0.0
    from models.user_config import UserModel

    t0 = time.perf_counter()
    model = UserModel()
    load_s = time.perf_counter() - t0
    batch_size = batch_size or model.get_batch_size()
    engine = getattr(model, "engine", None)
    identity = {"engine": type(engine).__name__, "model_dir": str(getattr(engine, "model_dir", ""))}
    if args.resume is not None and spec.get("model_dir") is not None and \
            (spec.get("engine"), spec.get("model_dir")) != (identity["engine"], identity["model_dir"]):
        parser.error(f"--resume {out}: the run was answered by {spec['engine']} on {spec['model_dir']}, "
                     f"the model now is {identity['engine']} on {identity['model_dir']}; set "
                     "SHOPBENCH_MODEL / SHOPBENCH_ENGINE as for the run")
    spec |= identity | {"batch_size": batch_size}
    _write_json(out / RUN_FILE, spec)
    if loaded is not None:
        loaded()
    recorder = Recorder(out / RECORDS_FILE)
    try:
        return generate(model, rows, batch_size, keys=keys, done=done, recorder=recorder), load_s
    finally:
        recorder.close()


def refuse_data(parser: argparse.ArgumentParser, err: Exception) -> None:
    """Exit 2 with the data problem(s), one line each, without the usage text (the arguments were fine)."""
    parser.exit(2, f"{parser.prog}: error: {err}\n")


def _interrupted(args, out: Path, rows: list[dict]) -> None:
    kept, _ = read_records(out / RECORDS_FILE)
    print(f"\ninterrupted: {len(kept)} of {len(rows)} questions are recorded in {out / RECORDS_FILE}. "
          f"Continue with:\n  {resume_command(args, out)}", file=sys.stderr)
    raise SystemExit(INTERRUPTED) from None


def _stopped(args, out: Path, rows: list[dict], done: dict, err: SetupError, fresh: bool) -> None:
    """A SetupError while loading the model (or answering: a setting read per batch) as one line that
    says what was answered. With ``fresh`` (a new run folder that runs/latest does not name yet: it is
    moved once the model has loaded) a folder that holds no answer is removed; --out and --resume
    folders stay as they are."""
    try:
        kept, _ = read_records(out / RECORDS_FILE) if (out / RECORDS_FILE).is_file() else ([], [])
    except RunError:
        kept = []
    if len(kept) > len(done):
        raise SetupError(f"{one_line(err)} ({len(kept)} of {len(rows)} questions are recorded in {out}; after the "
                         f"fix, continue with: {resume_command(args, out)})") from None
    if fresh:
        for name in (RUN_FILE, RECORDS_FILE):
            (out / name).unlink(missing_ok=True)
        try:
            out.rmdir()
        except OSError:
            pass
        raise SetupError(f"{one_line(err)} (nothing was answered; the new run folder {out} is removed)") from None
    before = f"; {len(done)} of {len(rows)} questions were recorded before, continue after the fix with: " \
             f"{resume_command(args, out)}" if done else ""
    raise SetupError(f"{one_line(err)} (nothing was answered{before})") from None


def describe_subset(args, entries: list, picked: list[int], answer_only: bool = False) -> dict | None:
    """report.json's ``subset``: which part of the data the run answered (None: all of it), with a
    one-line ``note`` for the report's head. Each of --track, --per-task and --limit is named only
    where it left questions out."""
    if len(picked) >= len(entries):
        return None
    parts = []
    in_track = select_indices(entries, args.track, None)
    if args.track != ALL_AROUND:
        parts.append(f"track {args.track} only")
    in_tasks = select_indices(entries, args.track, None, args.per_task) if args.per_task else in_track
    if args.per_task and len(in_tasks) < len(in_track):
        parts.append(f"the first {args.per_task} of each task")
    if args.limit and len(picked) < len(in_tasks):
        parts.append(f"the first {args.limit}")
    note = f"subset: {len(picked)} of the {len(entries)} questions ({', '.join(parts)})"
    if not answer_only:
        note += f"; {NOT_COMPARABLE}"
    return {"questions": len(picked), "of": len(entries), "track": None if args.track == ALL_AROUND else args.track,
            "per_task": args.per_task, "limit": args.limit, "note": note}


def shown_tracks(tracks: dict, track: int) -> list[int]:
    """The tracks a report shows: those with questions in the selection; the all-around row only when
    the selection is the all-around suite (--track 5), where it is the mean over the selected questions."""
    return [n for n in tracks if n != ALL_AROUND or track == ALL_AROUND]


def finish_run(args, out: Path, spec: dict, rows: list[dict], answered: list[dict], done: dict, load_s: float,
               multilingual, conversions: dict[str, int], subset: dict | None = None) -> dict:
    """Score the answers and write report.json, report.md and scores.png. A task whose scoring fails is
    named in the report (``score``), never a reason to lose the others. The report shows the tracks
    the selection covers (``shown_tracks``) and, for a subset, says so (``describe_subset``)."""
    result = score(rows, [a["answer"] for a in answered], multilingual_model=multilingual)
    add_counts(result, answered)  # first: it gives the records their keys, which order the bootstrap's rows
    add_intervals(result)
    shown = shown_tracks(result["tracks"], args.track)
    result["tracks"] = {n: result["tracks"][n] for n in shown}
    result["tracks_ci95"] = {n: result["tracks_ci95"].get(n) for n in shown}
    timing = timing_summary(rows, batch_timings(answered, rows)) | {"model_load_s": load_s}
    timing["per_track_s"] = {n: v for n, v in timing["per_track_s"].items() if n in shown}
    tables = render_tables(result, timing, subset and subset["note"])
    print(tables)
    errors = {name: t["error"] for name, t in result["tasks"].items() if t.get("error")}
    report = {
        "data": spec["data"], "suite": spec["suite"], "track": args.track, "limit": args.limit,
        "per_task": args.per_task, "questions": len(rows), "subset": subset,
        "engine": spec.get("engine", ""), "model_dir": spec.get("model_dir", ""),
        "overall": result["overall"], "overall_ci95": result["overall_ci95"],
        "tracks": result["tracks"], "tracks_ci95": result["tracks_ci95"],
        "all_around": track_label(ALL_AROUND, result["tracks"]) if ALL_AROUND in shown else None,
        "tasks": result["tasks"],
        "scoring_errors": errors, "truth_conversions": conversions,
        "bootstrap": result["bootstrap"], "choices": choice_shares(result["records"]),
        "run": {"folder": str(out), "resumed": args.resume is not None,
                "answered_before_resume": len(done), "answered_now": len(rows) - len(done)},
        "timing": timing, "records": result["records"],
    }
    _write_json(out / "report.json", report)
    try:
        title = f"{report['engine']} on {Path(report['model_dir']).name}: {len(rows)} questions"
        chart = write_chart(result["tracks"], out / "scores.png", title + (" (a subset)" if subset else ""),
                            result["tracks_ci95"], numbers=shown)
        image = f"\n\n![per-track scores]({chart.name})"
    except Exception as err:  # noqa: BLE001 - the chart is a picture of report.json, which is written
        log.error("the chart could not be drawn (%s)", _failure(err))
        chart, image = None, ""
    _write_text(out / "report.md", f"# ShopBench local evaluation\n\n{tables}{image}\n")
    print(f"report: {out / 'report.json'}, {out / 'report.md'}" + (f", {chart}" if chart else ""))
    if errors:
        print(f"scoring failed for {len(errors)} task(s) ({', '.join(errors)}); the answers are kept. After a fix, "
              f"re-score them without the model:\n  {resume_command(args, out)}", file=sys.stderr)
    return report


def answers_by_type(rows: list[dict], answered: list[dict]) -> dict[str, dict]:
    """Per task type of an answer-only run: questions, where the type came from, and the model's counts."""
    out: dict[str, dict] = {}
    for row, a in zip(rows, answered):
        t = out.setdefault(row["task_type"], {"questions": 0, "from_row": 0, "from_router": 0,
                                              **{f: 0 for f in NOTE_FIELDS}})
        t["questions"] += 1
        t["from_router" if row.get("task_type_from") == "router" else "from_row"] += 1
        for field in NOTE_FIELDS:
            value = a["notes"].get(field)
            t[field] = None if value is None or t[field] is None else t[field] + bool(value)
    return dict(sorted(out.items()))


def render_answers(reason: str, by_type: dict, timing: dict, subset: dict | None) -> str:
    total = sum(t["questions"] for t in by_type.values())
    lines = [f"answer only, no scores: {reason}; {total} questions answered"]
    if subset:
        lines.append(subset["note"])
    lines += ["", "| task type | n | type from | fallbacks | empty raw | shortened | cut |", "|---|---|---|---|---|---|---|"]
    for name, t in by_type.items():
        origin = ", ".join(f"{where} {t['from_' + where]}" for where in ("row", "router") if t["from_" + where])
        lines.append(f"| {name} | {t['questions']} | {origin} | {_count(t['fallback'])} | {_count(t['raw_empty'])} | "
                     f"{_count(t['shortened'])} | {_count(t['cut'])} |")
    lines += ["", f"time: {timing['total_s']:.1f} s, {timing['per_question_s']:.2f} s per question; "
                  f"{timing['batches_over_limit']} of {len(timing['batches'])} batches over the "
                  f"{PER_SAMPLE_LIMIT_S} s-per-question limit",
              f"answers: {ANSWERS_FILE}, one line per question (its line in the data file, key, task type, answer)"]
    return "\n".join(lines)


def finish_answers(args, out: Path, spec: dict, rows: list[dict], answered: list[dict], done: dict, load_s: float,
                   lines: list[int], subset: dict | None = None) -> dict:
    """An answer-only run's end: answers.jsonl (one line per question), report.json and a report.md that
    says there are no scores and why."""
    reason = spec.get("answer_only_reason") or "no truths"
    answers = []
    for i, (row, a) in enumerate(zip(rows, answered)):
        entry = {"line": lines[i], "index": i, "key": a["key"]}
        if row.get("task_name"):
            entry["task_name"] = row["task_name"]
        answers.append(entry | {"task_type": row["task_type"], "task_type_from": row.get("task_type_from", "row"),
                                "answer": a["answer"]})
    _write_text(out / ANSWERS_FILE, "".join(strict_json(e) + "\n" for e in answers))
    by_type = answers_by_type(rows, answered)
    timing = timing_summary(rows, batch_timings(answered, rows)) | {"model_load_s": load_s}
    text = render_answers(reason, by_type, timing, subset)
    print(text)
    report = {
        "answer_only": True, "reason": reason,
        "data": spec["data"], "suite": spec["suite"], "track": args.track, "limit": args.limit,
        "per_task": args.per_task, "questions": len(rows), "subset": subset,
        "engine": spec.get("engine", ""), "model_dir": spec.get("model_dir", ""),
        "overall": None, "tracks": {}, "tasks": {}, "task_types": by_type, "answers": ANSWERS_FILE,
        "run": {"folder": str(out), "resumed": args.resume is not None,
                "answered_before_resume": len(done), "answered_now": len(rows) - len(done)},
        "timing": timing, "records": answers,
    }
    _write_json(out / "report.json", report)
    _write_text(out / "report.md", f"# ShopBench local evaluation: answers, no scores\n\n{text}\n")
    print(f"answers: {out / ANSWERS_FILE}; report: {out / 'report.json'}, {out / 'report.md'}")
    return report


def report_without_scores(args, out: Path, spec: dict, rows: list[dict], answered: list[dict],
                          err: BaseException) -> dict:
    """What a run writes when building its report failed in an unforeseen way: the answers, and why."""
    log.error("the report could not be built; the answers are kept", exc_info=err)
    report = {"data": spec["data"], "suite": spec["suite"], "track": args.track, "limit": args.limit,
              "per_task": args.per_task, "questions": len(rows), "engine": spec.get("engine", ""),
              "model_dir": spec.get("model_dir", ""), "overall": None, "tasks": {}, "error": _failure(err),
              "records": answered}
    _write_json(out / "report.json", report)
    _write_text(out / "report.md", f"# ShopBench local evaluation\n\nNo scores: building the report failed "
                                   f"({_failure(err)}). The {len(answered)} answers are in {RECORDS_FILE}; after a "
                                   f"fix, re-score them without the model:\n\n    {resume_command(args, out)}\n")
    print(f"report: {out / 'report.json'} (no scores: {_failure(err)})", file=sys.stderr)
    return report


def main(argv: list[str] | None = None) -> dict:
    """One evaluation (or --compare); returns its report. A mistake the user can fix raises SetupError
    (one line, exit 2, under ``run_command`` or ``shopbench eval``) or exits 2 through the parser."""
    parser = build_parser()
    args = parser.parse_args(argv)
    args.prog = parser.prog
    progress.apply_flag(args)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    if args.compare is not None:
        if args.resume is not None:
            parser.error("--compare reads two finished runs; it cannot be combined with --resume")
        try:
            return compare_runs(*args.compare, args.out)
        except (RunError, ValueError, KeyError, TypeError) as err:  # NoSharedQuestions is a ValueError
            parser.error(str(err))
    if args.resume is not None and args.out is not None and args.out.resolve() != args.resume.resolve():
        parser.error(f"--resume {args.resume} continues in that folder; drop --out {args.out}")
    if args.resume is None and args.out is not None and args.out.name == LATEST and args.out.is_symlink():
        parser.error(f"--out {args.out} is the link to the newest run, whose report a new run would replace; "
                     "drop --out (every run gets a folder of its own) or give another folder")
    suite = None if args.data is not None else (args.suite or DEFAULT_SUITE)
    data = args.data if args.data is not None else SUITES[suite]

    try:  # everything about the data is checked here, before the model loads: exit 2, nothing answered
        data_file = read_data(data, answer_only=args.answer_only)
        answer_only = data_file.answer_only
        conversions = warn_conversions(data_file)
        picked = select_indices(data_file.entries, args.track, args.limit, args.per_task)
        if not picked:
            untracked = answer_only and not any(e.track for e in data_file.entries)
            parser.error(f"no questions selected from {data} for track {args.track}"
                         + (" (its rows have no track: drop --track)" if untracked else ""))
        rows, keys = data_file.rows(picked), [data_file.entries[i].key for i in picked]
        lines = [data_file.entries[i].number for i in picked]
        if answer_only:
            route_missing_task_types(rows)
            multilingual = None
        else:
            check_scorers(rows)
            multilingual = multilingual_model_for(rows, args.multilingual_model)
    except DataError as err:
        refuse_data(parser, err)
    subset = describe_subset(args, data_file.entries, picked, answer_only)
    spec = {"data": str(Path(data).resolve()), "suite": suite, "track": args.track, "limit": args.limit,
            "per_task": args.per_task, "questions": len(rows), "selection_sha256": selection_digest(keys),
            "answer_only": answer_only, "answer_only_reason": data_file.reason, "available": len(data_file.entries)}
    fresh = False
    if args.resume is not None:
        out = args.resume.resolve() if args.resume.is_symlink() else args.resume  # runs/latest: the run itself
        try:
            recorded, done = resume_run(out, spec, keys)
        except RunError as err:
            parser.error(str(err))
        if args.batch_size is not None and recorded.get("batch_size") not in (None, args.batch_size):
            parser.error(f"--resume {out}: the run used --batch-size {recorded['batch_size']}; drop --batch-size "
                         "or give the same")
        spec = recorded | spec
        batch_size = args.batch_size or recorded.get("batch_size")
    else:
        out = args.out
        if out is None:  # a folder of its own: no earlier run is replaced
            out, fresh = new_run_dir(*run_labels(args, suite, data, answer_only)), True
        start_run(out, spec)
        done, batch_size = {}, args.batch_size
    print(f"run folder: {out}")
    if answer_only:
        print(f"answer only, no scores: {data_file.reason}; {len(rows)} questions are answered")
    latest = []

    def loaded():  # the run is under way: runs/latest points at it, so `--resume runs/latest` finds it
        if fresh:
            latest.append(point_latest(out))

    try:
        answered, load_s = answer_questions(parser, args, out, spec, rows, keys, done, batch_size, loaded)
    except KeyboardInterrupt:
        _interrupted(args, out, rows)
    except SetupError as err:
        _stopped(args, out, rows, done, err, fresh and not latest)
    # Every answer is in records.jsonl now. From here on the run ends with a report and exit status 0.
    try:
        if answer_only:
            report = finish_answers(args, out, spec, rows, answered, done, load_s, lines, subset)
        else:
            report = finish_run(args, out, spec, rows, answered, done, load_s, multilingual, conversions, subset)
    except KeyboardInterrupt:
        _interrupted(args, out, rows)
    except Exception as err:  # noqa: BLE001 - after answering, nothing may lose the answers
        report = report_without_scores(args, out, spec, rows, answered, err)
    print(f"run folder: {out}" + (f" ({latest[0]} points here)" if latest else ""))
    return report


if __name__ == "__main__":
    run_command(main, prog="local_evaluation.py")
