"""EC-Guide (github.com/fzp0424/EC-Guide-KDDUP-2024, folder ``EC-Guide/``; team ZJU-AI4H, KDD Cup 2024;
Apache-2.0): ShopBench-shaped rows written by another team.

Files: ``ecguide/<Type>_<Sub>.json`` (the published names, e.g. ``MCQ_PRP.json``) or the repository
layout ``ecguide/<Type>/<Sub>.json``; each a JSON list of ``{"input_field", "output_field",
"task_type", "metric"}``. Rows are read and converted by ``utilities.suites`` (``from_ecguide``:
task_name = ``<Type>_<Sub>``, track from the subtask's skill, bool rows -> two options, answers
cast, option labels that skip a number renumbered; see its docstring for every quirk).

Held out, never training rows: every row whose prompt is in the validation suite, i.e. (1) the
prompts that ``utilities.suites.select_validation`` chooses from the rows read here (the rule that
wrote ``data/ecguide/validation.jsonl``: up to 150 rows per (subtask, published metric) by the
smallest sha256 of the prompt), and (2) the prompts of the shipped ``data/ecguide/validation.jsonl``
itself, since a folder holding more rows than the one the file was made from (the full repository)
would make (1) choose other rows. A held-out prompt is held out with all its answers.

Counted in ``stats`` (reason -> rows), never fatal: a file that is not valid JSON or not a list
(named), a row ``from_ecguide`` refuses (with its reason), a repeated row, a held-out row. Every
row read is either in the index or counted: ``stats.rows`` = indexed rows + the skipped rows (every
reason but the "file ..." ones, which count files). Those files are also recorded in ``stats.lost``
with their fault (``readers.files``), as every source's unreadable files are.
"""
from __future__ import annotations

import json
from pathlib import Path

from training.data.readers.files import Fault, reading as reading_file
from training.data.sources import ECGuideIndex, ReadStats, SourceData
from utilities.suites import PER_STRATUM, SUITES, Reading, ecguide_files, iter_ecguide, select_validation

VALIDATION_FILE = SUITES["ecguide"]
HELD_OUT = "held out: in the EC-Guide validation suite"
REPEATED = "repeated row (same prompt and answer)"


def shipped_prompts(path: Path | None = VALIDATION_FILE) -> set[str]:
    """The prompts of the shipped validation file (none when it does not exist)."""
    if path is None or not Path(path).is_file():
        return set()
    prompts = set()
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        if line.strip():
            try:
                prompts.add(json.loads(line)["input_field"])
            except (ValueError, KeyError, TypeError):
                raise ValueError(f"{path}:{number}: not a validation row; rows in the validation suite could "
                                 "not be held out (rewrite it with `.venv/bin/python -m utilities.suites make-ecguide`)") from None
    return prompts


def record_lost_files(folder: Path, reading: Reading, stats: ReadStats) -> None:
    """The files ``iter_ecguide`` could not use ("file <name>: ..." in ``reading.skipped``), recorded in
    ``stats.lost`` with the fault ``readers.files`` finds in each (the line of a JSON error, bytes
    that are not UTF-8, an empty file)."""
    names = {reason[len("file "):].partition(": ")[0] for reason in reading.skipped if reason.startswith("file ")}
    for path, _ in ecguide_files(folder):
        if path.name not in names:
            continue
        with reading_file(path, stats) as f:
            try:
                data = json.loads(f.text())
            except ValueError as err:
                raise Fault(f"not valid JSON: {err}", getattr(err, "lineno", None)) from None
            if not isinstance(data, list):
                raise Fault("not a JSON list of rows")


def read_index(folder: Path, stats: ReadStats, per_stratum: int = PER_STRATUM,
               shipped: Path | None = VALIDATION_FILE) -> ECGuideIndex:
    """The training rows of ``folder`` by task_name: every usable row except the held-out ones."""
    reading = Reading()
    converted = list(iter_ecguide(folder, reading))
    held = {c.row["input_field"] for c in select_validation(converted, per_stratum)} | shipped_prompts(shipped)
    stats.rows += reading.rows_read
    stats.skipped.update(reading.skipped)
    record_lost_files(folder, reading, stats)
    repeated = reading.quirks["repeated row (same prompt and answer) read once"]
    if repeated:
        stats.skipped[REPEATED] += repeated
    rows_by_task: dict[str, list[dict]] = {}
    for c in converted:
        if c.row["input_field"] in held:
            stats.skip(HELD_OUT)
            continue
        rows_by_task.setdefault(c.row["task_name"], []).append(c.row)
    return ECGuideIndex(rows_by_task, reading.quirks)


def open_source(folder: Path, stats: ReadStats, seed: int = 0) -> SourceData:
    return SourceData("ecguide", read_index(folder, stats), stats)
