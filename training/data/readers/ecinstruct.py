"""ECInstruct (NingLab/ECInstruct on Hugging Face, the eCeLLM paper's data; CC BY 4.0).

Files: ``train.json`` (330 MB in later revisions), ``validation.json``, ``test.json`` (earlier:
``test_IND.json``, ``test_OOD.json``), each either one JSON array (streamed, never loaded whole:
``readers.files``) or JSON Lines (what ``datasets``' ``to_json`` writes); ``*.json`` and ``*.jsonl`` are read.

Rows: ``task, instruction, input, options, output, split (train|val|test), setting`` (e.g.
``IND_Diverse_Instruction``, ``OOD_Single_Instruction``) and ``few_shot_example``. Only train rows
are kept, grouped by task. A row without ``split`` takes the split its file name says (``train*``,
``val*``/``validation*``, ``test*``); a row with neither is skipped.

``input`` and ``options`` are JSON-encoded strings and are decoded:
- ``input``: an object for most tasks (``{"query": ..., "product title": ...}``, ``{"Product 1:":
  ..., "Product 2:": ...}``, ``{"question": ..., "document": [...]}``, AVE's ``{"product title": ...,
  "target attributes": "a and b"}``, PM's two product dicts), but **plain review text** for
  Sentiment_Analysis (kept as a string), and a **Python list repr** (``str(list)``, single quotes)
  for Sequential_Recommendation's history ("['1st: ...', '2nd: ...']"), read with
  ``ast.literal_eval`` when JSON fails. Text that is neither stays a string.
- ``options``: a list of "A: ..." strings, null (or "") when the task has none; also a Python
  list repr for Sequential_Recommendation (20 candidates A-T).

Outputs as the eCeLLM processing notebooks write them: "yes"/"no" (Answerability_Prediction,
Product_Matching, Product_Substitue_Identification); a letter ("A") for Product_Relation_Predicition
and Sequential_Recommendation; the *whole option* ("A: very positive", "B: The product is somewhat
relevant...") for Sentiment_Analysis and Multiclass_Product_Classification (the letter is its first
character); a comma-separated letter ranking ("B,A,C") for Query_Product_Ranking; a JSON list of
``{"attribute", "value", "source"}`` (lower-cased) for Attribute_Value_Extraction; free text for
Answer_Generation. Task names keep the dataset's typos: "Product_Relation_Predicition",
"Product_Substitue_Identification".

Counted as malformed (``stats.skip``), never fatal: a line or element that is not a JSON object, a
missing task, instruction or output, options that are
neither JSON nor a Python list or not a list, an input that looks like a JSON object but does not
parse; rows of another split are counted as "not the train split". Recorded as lost
(``stats.lost``, the file named): a broken or truncated JSON array (the rows before the break are
kept; the record gives the line of the break and the bytes after the last whole row), an empty
file, JSON Lines that are not UTF-8 (those lines).
"""
from __future__ import annotations

import ast
import json
import sys
from pathlib import Path
from typing import Iterator

from training.data.readers.files import reading
from training.data.sources import ECInstructIndex, ECInstructRow, ReadStats, SourceData

TASKS = (
    "Attribute_Value_Extraction", "Multiclass_Product_Classification", "Product_Relation_Predicition",
    "Query_Product_Ranking", "Sequential_Recommendation", "Answerability_Prediction", "Product_Matching",
    "Product_Substitue_Identification", "Sentiment_Analysis", "Answer_Generation",
)  # the dataset's own spelling, typos included
SPLIT_WORDS = (("train", "train"), ("validation", "val"), ("val", "val"), ("test", "test"))

_BAD = object()


def split_of_file(path: Path) -> str | None:
    name = path.name.lower()
    for word, split in SPLIT_WORDS:
        if name.startswith(word) or f"_{word}" in name or f"-{word}" in name:
            return split
    return None


def _items(path: Path, stats: ReadStats) -> Iterator[object]:
    """The rows of one file: a JSON array (streamed) or JSON Lines. A fault of the file (a broken or
    truncated array, bytes that are not UTF-8, an empty file) is recorded in ``stats.lost`` with what
    it cost (``readers.files``); the rows before it are kept."""
    with reading(path, stats) as f:
        with f.open() as raw:
            is_array = raw.read(4096).lstrip().startswith(b"[")
        if is_array:
            yield from f.json_array()
            return
        for line in f.lines():
            try:
                yield json.loads(line)
            except ValueError:
                stats.rows += 1
                stats.skip("non-JSON line")


def _decode(value):
    """A JSON string (or a Python literal, as the SR rows are written) -> its value; _BAD if neither."""
    try:
        return json.loads(value)
    except ValueError:
        pass
    try:
        return ast.literal_eval(value)
    except (ValueError, SyntaxError, MemoryError, RecursionError, TypeError):
        return _BAD


def decode_input(value):
    """-> (decoded input, "") or (None, reason)."""
    if value is None:
        return "", ""
    if not isinstance(value, str):
        return value, ""
    text = value.strip()
    if text and text[0] in "{[\"":
        decoded = _decode(text)
        if isinstance(decoded, (dict, list, str)):
            return decoded, ""
        if text.startswith("{") and text.endswith("}"):
            return None, "input looks like JSON but does not parse"
    return value, ""  # plain text: Sentiment_Analysis reviews


def decode_options(value):
    """-> (tuple of option strings or None, "") or (None, reason)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None, ""
    decoded = _decode(value) if isinstance(value, str) else value
    if decoded is _BAD:
        return None, "options are not valid JSON"
    if decoded is None:
        return None, ""
    if not isinstance(decoded, (list, tuple)) or not all(isinstance(o, (str, int, float)) for o in decoded):
        return None, "options are not a list of strings"
    return tuple(str(o) for o in decoded), ""


def parse_row(item, file_split: str | None, stats: ReadStats) -> ECInstructRow | None:
    stats.rows += 1
    if not isinstance(item, dict):
        stats.skip("not a JSON object")
        return None
    split = item.get("split") or file_split
    if split is None:
        stats.skip("no split in the row or the file name")
        return None
    if split != "train":
        stats.skip("not the train split")
        return None
    task, instruction, output = item.get("task"), item.get("instruction"), item.get("output")
    if not isinstance(output, str) and output is not None:
        output = json.dumps(output, ensure_ascii=False)
    if not isinstance(task, str) or not task.strip():
        stats.skip("missing task")
    elif not isinstance(instruction, str) or not instruction.strip():
        stats.skip("missing instruction")
    elif not isinstance(output, str) or not output.strip():
        stats.skip("empty output")
    else:
        inp, why = decode_input(item.get("input"))
        options, why_options = decode_options(item.get("options"))
        if why or why_options:
            stats.skip(why or why_options)
            return None
        setting = item.get("setting")
        return ECInstructRow(task=sys.intern(task.strip()), instruction=sys.intern(instruction.strip()), input=inp,
                             options=options, output=output.strip(), split=split,
                             setting=sys.intern(setting) if isinstance(setting, str) else "")
    return None


def read_rows(folder: Path, stats: ReadStats) -> dict[str, list[ECInstructRow]]:
    rows_by_task: dict[str, list[ECInstructRow]] = {}
    paths = sorted(p for p in Path(folder).rglob("*") if p.is_file() and p.suffix in (".json", ".jsonl"))
    for path in paths:
        file_split = split_of_file(path)
        for item in _items(path, stats):
            row = parse_row(item, file_split, stats)
            if row is not None:
                rows_by_task.setdefault(row.task, []).append(row)
    return rows_by_task


def open_source(folder: Path, stats: ReadStats, seed: int = 0) -> SourceData:
    return SourceData("ecinstruct", ECInstructIndex(read_rows(folder, stats)), stats)
