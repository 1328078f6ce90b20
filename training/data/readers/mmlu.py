"""MMLU (Hendrycks et al.; MIT): the HF ``cais/mmlu`` parquet files or the original CSVs.

- parquet (``cais/mmlu``, e.g. ``all/test-00000-of-00001.parquet``, ``auxiliary_train-*.parquet``):
  columns ``question``, ``subject`` ("" in auxiliary_train), ``choices`` (list of 4), ``answer`` (0-3);
  the split is read from the file name. A standalone ``auxiliary_train`` config wraps each row in
  one struct column named ``train``; it is unwrapped.
- CSV, the original ``hendrycks/test`` files ``<subject>_<split>.csv``: no header, question, four
  choices, and the answer as a letter A-D. Re-headed copies (``question,choice0..3,answer`` with an
  int answer, as some repositories ship) are read too.
Rows without four non-empty choices or with an answer out of range are counted as malformed. A
file that cannot be read (truncated parquet, empty, not UTF-8 from some line on, a parquet without
the question columns) is recorded in ``stats.lost`` (``readers.files``); the questions before the
fault are kept.
A whole ``cais/mmlu`` snapshot holds every question twice (``all/`` and the subject's own folder;
the auxiliary train set in ``all/`` and in ``auxiliary_train/``): a question already read (same
text, choices and answer) is counted as a duplicate and kept once.
"""
from __future__ import annotations

import csv
import io
import re
from pathlib import Path

from training.data.readers.files import Fault, SourceFile, reading
from training.data.sources import MMLUIndex, MMLUQuestion, ReadStats, SourceData

SPLITS = ("auxiliary_train", "validation", "test", "dev", "val", "train")
LETTERS = "ABCD"


def _split_of(path: Path) -> str:
    if path.parent.name.lower() == "auxiliary_train":  # cais/mmlu: auxiliary_train/train-*.parquet
        return "auxiliary_train"
    name = path.name.lower()
    for split in SPLITS:
        if split in name:
            return {"val": "validation"}.get(split, split)
    return "unknown"


def _question(stats: ReadStats, question, subject, choices, answer, split) -> MMLUQuestion | None:
    stats.rows += 1
    choices = tuple(str(c).strip() for c in (choices or ()))
    if isinstance(answer, str):
        answer = LETTERS.index(answer.strip()) if answer.strip() in LETTERS else (
            int(answer) if answer.strip().isdigit() else -1)
    if not isinstance(question, str) or not question.strip():
        stats.skip("empty question")
    elif len(choices) != 4 or not all(choices):
        stats.skip("not four non-empty choices")
    elif not isinstance(answer, int) or not 0 <= answer < 4:
        stats.skip("answer out of range")
    else:
        return MMLUQuestion(question.strip(), subject or "", choices, int(answer), split)
    return None


def _parquet(f: SourceFile, stats: ReadStats, out: list[MMLUQuestion]) -> None:
    path = f.path
    table = f.parquet().read()
    if table.column_names == ["train"]:  # the standalone auxiliary_train config: one struct column
        struct = table.column("train").combine_chunks()
        rows = zip(*(struct.field(k).to_pylist() for k in ("question", "subject", "choices", "answer")))
    else:
        missing = {"question", "choices", "answer"} - set(table.column_names)
        if missing:
            raise Fault(f"no column {sorted(missing)}")
        subjects = table.column("subject").to_pylist() if "subject" in table.column_names else [""] * table.num_rows
        rows = zip(table.column("question").to_pylist(), subjects, table.column("choices").to_pylist(),
                   table.column("answer").to_pylist())
    split = _split_of(path)
    out.extend(q for q in (_question(stats, *row, split) for row in rows) if q)


def _csv(f: SourceFile, stats: ReadStats, out: list[MMLUQuestion]) -> None:
    path = f.path
    subject = re.sub(r"_(dev|val|test|auxiliary_train)$", "", path.stem)
    split = _split_of(path)
    reader = csv.reader(io.StringIO(f.text(), newline=""))  # text() stops before bytes that are not UTF-8
    for i, row in enumerate(reader):
        if i == 0 and [c.strip().lower() for c in row[:2]] == ["question", "choice0"]:
            continue  # a re-headed copy
        if len(row) != 6:
            stats.rows += 1
            stats.skip("a CSV row without 6 fields")
            continue
        q = _question(stats, row[0], subject, row[1:5], row[5], split)
        if q:
            out.append(q)


def open_source(folder: Path, stats: ReadStats, seed: int = 0) -> SourceData:
    questions: list[MMLUQuestion] = []
    seen: set[tuple] = set()
    for path in sorted(Path(folder).rglob("*")):
        if path.suffix not in (".parquet", ".csv"):
            continue
        read: list[MMLUQuestion] = []
        with reading(path, stats) as f:  # a fault keeps the questions read before it
            (_parquet if path.suffix == ".parquet" else _csv)(f, stats, read)
        for q in read:
            key = (q.question, q.choices, q.answer)
            if key in seen:
                stats.skip("duplicate question (read from another file already)")
                continue
            seen.add(key)
            questions.append(q)
    return SourceData("mmlu", MMLUIndex(questions), stats)
