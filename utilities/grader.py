"""What the grader fixes, in one place, and answering questions the way it asks them.

The facts (``docs/reference.md`` section 1): the grader calls ``UserModel.batch_predict`` with at
most ``MAX_BATCH_SIZE`` prompts of ONE task type at a time, with ``is_multiple_choice`` true exactly
for multiple-choice tasks, allows ``PER_SAMPLE_LIMIT_S`` per question (enforced per batch), and
kills a track that passes its limit (``utilities.tracks``: the five tracks, their names and limits).
The 96 public dev questions are ``DEV_FILE``; the submitted checkpoint's context is ``MODEL_CONTEXT``.

:func:`grader_batches` forms the batches as the grader does; :func:`answer_questions` asks a model
for them, batch by batch. The evaluator, the submission's model check, the pipeline, the cost model
and the benchmarks all batch through these two functions.
"""
from __future__ import annotations

import json
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

REPO = Path(__file__).resolve().parent.parent
DEV_FILE = REPO / "data" / "development.json"  # the 96 public dev questions (JSON Lines)
MAX_BATCH_SIZE = 16  # get_batch_size() may return 1-16; each batch holds one task type
PER_SAMPLE_LIMIT_S = 10  # the grader's limit per question, enforced per batch (16 -> 160 s)
MODEL_CONTEXT = 3072  # the submitted checkpoint's max_position_embeddings (the padded Qwen2 config)
MULTIPLE_CHOICE = "multiple-choice"  # the one task type the grader flags (is_multiple_choice)
GPUS = 4  # the grader's machine with aicrowd.json "gpu": true: a g4dn.12xlarge, 4 x T4 (16 GB each)
AWQ_GROUP_SIZE = 128  # input channels per AWQ scale and zero point in the submitted checkpoint


def is_multiple_choice(task_type: str) -> bool:
    """The grader's flag for a batch of ``task_type``: true exactly for multiple-choice tasks."""
    return task_type == MULTIPLE_CHOICE


def grader_batches(task_types: Sequence[str], batch_size: int) -> list[tuple[str, list[int]]]:
    """(task type, question indices) of every batch: one task type per batch, at most ``batch_size``
    questions, a type's batches one after another, types in order of first appearance."""
    if not 1 <= batch_size <= MAX_BATCH_SIZE:
        raise ValueError(f"batch size {batch_size}: the grader's batches hold 1 to {MAX_BATCH_SIZE} questions")
    by_type: dict[str, list[int]] = defaultdict(list)
    for i, task_type in enumerate(task_types):
        by_type[task_type].append(i)
    return [(t, ix[s:s + batch_size]) for t, ix in by_type.items() for s in range(0, len(ix), batch_size)]


@dataclass
class AnsweredBatch:
    task_type: str
    indices: list[int]  # the rows this batch asked, in order
    prompts: list[str]
    answers: list  # what batch_predict returned, one per prompt (checked)
    seconds: float  # batch_predict's wall time

    @property
    def is_multiple_choice(self) -> bool:
        return is_multiple_choice(self.task_type)


def answer_questions(model: Any, rows: Sequence[dict], batch_size: int | None = None, *,
                     skip: Callable[[int], bool] | None = None) -> Iterator[AnsweredBatch]:
    """Ask ``model.batch_predict`` for ``rows`` (with input_field and task_type) as the grader does,
    yielding each batch as it is answered; rows where ``skip(i)`` holds are left out (answered before).
    A batch that does not get one answer per prompt raises (the grader would fail the track)."""
    size = batch_size or model.get_batch_size()
    for task_type, indices in grader_batches([r["task_type"] for r in rows], size):
        if skip is not None:
            indices = [i for i in indices if not skip(i)]
        if not indices:
            continue
        prompts = [rows[i]["input_field"] for i in indices]
        started = time.perf_counter()
        answers = model.batch_predict({"prompt": prompts}, is_multiple_choice(task_type))
        seconds = time.perf_counter() - started
        if not isinstance(answers, list) or len(answers) != len(indices):
            got = len(answers) if isinstance(answers, list) else type(answers).__name__
            raise RuntimeError(f"batch_predict returned {got} answers for {len(indices)} {task_type} prompts")
        yield AnsweredBatch(task_type, indices, prompts, answers, seconds)


def read_dev_rows(path: Path = DEV_FILE) -> list[dict]:
    """The dev questions (JSON Lines)."""
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]
