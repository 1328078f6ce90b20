"""Method 1, build a task: from seed data the LLM writes a new ShopBench-style question and its
answer (kinds ``attribute``, ``query_products``, ``documents`` in :data:`KINDS`), which is
checked, wrapped in one of our instruction templates and written as a training row.
"""
from __future__ import annotations

import os
import random
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from training.data.registry import Question
from training.data.rows import check, choose, numbered, numbers_answer, one_line, shuffled_options, to_row
from training.data.sources import SourceData
from training.data.synthetic.extract import Invalid, _int, _text_field, _words, norm, parse_json
from training.data.synthetic.jobs import Request, SyntheticJob, teacher_request
from training.data.synthetic.prompts import (
    ATTRIBUTE_QUESTION_TEMPLATES,
    BUILD_ATTRIBUTE_PROMPT,
    BUILD_DOCUMENTS_PROMPT,
    BUILD_QUERY_PRODUCTS_PROMPT,
    DOCUMENT_QUESTION_TEMPLATES,
    MAX_DETAILS_CHARS,
    MAX_NEW_TOKENS,
    QUERY_QUESTION_TEMPLATES,
)
from training.data.synthetic.results import MethodReport, _parse_all, _write_jsonl
from training.data.synthetic.seeds import (
    PRODUCT_SOURCES,
    AttributeSeed,
    DocumentSeed,
    ProductText,
    QuerySeed,
    attribute_seeds,
    document_seeds,
    query_seeds,
)
from utilities.grader import is_multiple_choice


@dataclass(frozen=True)
class SyntheticDataset:
    """What rows.check / rows.to_row read of a builder: name, source, task type."""

    name: str
    source: str
    task_type: str

    @property
    def is_multiple_choice(self) -> bool:
        return is_multiple_choice(self.task_type)


def product_block(p: ProductText) -> str:
    text = p.text(MAX_DETAILS_CHARS)
    return f"Title: {p.title}" + (f"\nDescription: {one_line(text)}" if text else "")


def attribute_request(seed: AttributeSeed, max_new_tokens: int = MAX_NEW_TOKENS["build_task"]) -> Request:
    user = BUILD_ATTRIBUTE_PROMPT.format(product=product_block(seed.product), attribute=seed.attribute,
                                         value=seed.value)
    return teacher_request(f"build_task:attribute:{seed.id}", user, max_new_tokens,
                           {"kind": "attribute", "source": seed.product.source, "seed": seed.id})


def parse_attribute_task(text: str, seed: AttributeSeed, rng: random.Random) -> Question:
    """{"question", "options": 4 strings, "answer": index of the target value} -> a 0-3 multiple choice."""
    obj = parse_json(text, dict)
    question = _text_field(obj, "question", 300)
    options = obj.get("options")
    if not isinstance(options, list) or not all(isinstance(o, str) for o in options):
        raise Invalid("'options' is not a list of strings")
    if len(options) != 4:
        raise Invalid("not 4 options")
    options = [one_line(o) for o in options]
    if not all(options) or any(len(o) > 120 for o in options):
        raise Invalid("an option is empty or too long")
    if len({norm(o) for o in options}) != 4:
        raise Invalid("repeated options")
    answer = _int(obj.get("answer"))
    if answer is None or not 0 <= answer < 4:
        raise Invalid("'answer' is not an index 0-3")
    target = norm(seed.value)
    if sum(norm(o) == target for o in options) != 1 or norm(options[answer]) != target:
        raise Invalid("the answer is not the target value")
    if re.search(r"(?<!\w)" + re.escape(target) + r"(?!\w)", norm(question)):
        raise Invalid("the question gives the answer away")
    shuffled, index = shuffled_options(options[answer], [o for i, o in enumerate(options) if i != answer], rng)
    prompt = choose(rng, ATTRIBUTE_QUESTION_TEMPLATES, product=product_block(seed.product), question=question,
                    options=numbered(shuffled, start=0))
    return Question(prompt, str(index))


def query_products_request(seed: QuerySeed, max_new_tokens: int = MAX_NEW_TOKENS["build_task"]) -> Request:
    user = BUILD_QUERY_PRODUCTS_PROMPT.format(query=seed.query, products=numbered(seed.titles))
    return teacher_request(f"build_task:query_products:{seed.id}", user, max_new_tokens,
                           {"kind": "query_products", "source": seed.source, "seed": seed.id})


def parse_query_products_task(text: str, seed: QuerySeed, rng: random.Random) -> Question:
    """{"question", "answer": 3 distinct listed numbers} -> a retrieval question over the same list."""
    obj = parse_json(text, dict)
    question = _text_field(obj, "question", 300).replace('"', "'")
    answer = obj.get("answer")
    if not isinstance(answer, list) or any(_int(a) is None for a in answer):
        raise Invalid("'answer' is not a list of numbers")
    if len(answer) != 3:
        raise Invalid("not 3 numbers")
    if len(set(answer)) != 3:
        raise Invalid("repeated numbers")
    if not all(1 <= a <= len(seed.titles) for a in answer):
        raise Invalid("a number is not on the list")
    if norm(question).strip(" ?") == norm(seed.query):
        raise Invalid("the question repeats the search query")
    prompt = choose(rng, QUERY_QUESTION_TEMPLATES, question=question, products=numbered(seed.titles),
                    count=len(seed.titles))
    return Question(prompt, numbers_answer(answer))


def documents_request(seed: DocumentSeed, max_new_tokens: int = MAX_NEW_TOKENS["build_task"]) -> Request:
    user = BUILD_DOCUMENTS_PROMPT.format(title=seed.title, documents=_bullets(seed.documents))
    return teacher_request(f"build_task:documents:{seed.id}", user, max_new_tokens,
                           {"kind": "documents", "source": seed.source, "seed": seed.id})


def _bullets(documents: Sequence[str]) -> str:
    return "\n".join(f"- {one_line(d)}" for d in documents)


SUPPORT_SHARE = 0.5  # at least half of an answer's words (3+ letters) must occur in the documents


def parse_documents_task(text: str, seed: DocumentSeed, rng: random.Random) -> Question:
    """{"question", "answer": one line, <= 60 words, mostly words of the documents} -> generation."""
    obj = parse_json(text, dict)
    question = _text_field(obj, "question", 300)
    answer = _text_field(obj, "answer", 600)
    if len(answer.split()) > 60:
        raise Invalid("the answer is longer than 60 words")
    words = [w for w in _words(answer) if len(w) >= 3]
    known = set(_words(" ".join((seed.title, *seed.documents))))
    if words and sum(w in known for w in words) < SUPPORT_SHARE * len(words):
        raise Invalid("the answer is not supported by the documents")
    prompt = choose(rng, DOCUMENT_QUESTION_TEMPLATES, title=seed.title, documents=_bullets(seed.documents),
                    question=question)
    return Question(prompt, answer)


@dataclass(frozen=True)
class Kind:
    name: str
    task_type: str
    seeds: Callable[[SourceData, random.Random, int], list]
    request: Callable[..., Request]
    parse: Callable[[str, Any, random.Random], Question]
    sources: tuple[str, ...]

    @property
    def dataset(self) -> str:
        return f"synthetic_build_task_{self.name}"


KINDS: dict[str, Kind] = {k.name: k for k in (
    Kind("attribute", "multiple-choice", attribute_seeds, attribute_request, parse_attribute_task, PRODUCT_SOURCES),
    Kind("query_products", "retrieval", query_seeds, query_products_request, parse_query_products_task, ("esci",)),
    Kind("documents", "generation", document_seeds, documents_request, parse_documents_task, PRODUCT_SOURCES),
)}


def kind_of(name: str) -> Kind:
    """A kind by its name or its dataset name (``attribute`` or ``synthetic_build_task_attribute``)."""
    short = name.removeprefix("synthetic_build_task_")
    if short not in KINDS:
        raise KeyError(f"unknown build-task dataset {name!r}; known: "
                       f"{', '.join(k.dataset for k in KINDS.values())}")
    return KINDS[short]


def build_task_rows(kind: Kind, source: str, seeds: Sequence, outputs: Sequence[str | None], seed: int,
                    report: MethodReport) -> list[dict]:
    """Checked training rows from the LLM's outputs; each question's options and wording are drawn
    from a generator seeded by (seed, kind, request id), so the rows do not depend on the order."""
    dataset = SyntheticDataset(kind.dataset, source, kind.task_type)

    def parse(text: str, s) -> dict:
        rng = random.Random(f"{seed}:{kind.name}:{s.id}")
        q = kind.parse(text, s, rng)
        check(dataset, q)
        return to_row(dataset, q)

    return [row for _, row in _parse_all(seeds, outputs, parse, report)]


def run_build_task(job: SyntheticJob, kind: Kind | str, sources: Mapping[str, SourceData], n: int,
                   out_dir: str | os.PathLike | None = None, seed: int = 0,
                   max_new_tokens: int = MAX_NEW_TOKENS["build_task"],
                   report: MethodReport | None = None) -> tuple[list[dict], MethodReport]:
    """Up to ``n`` seeds per source of ``kind``; rows written to ``out_dir/<dataset>.jsonl``."""
    kind = kind_of(kind) if isinstance(kind, str) else kind
    report = report or MethodReport("build_task")
    rows: list[dict] = []
    for source, data in sources.items():
        if source not in kind.sources:
            continue
        seeds = kind.seeds(data, random.Random(f"{seed}:synthetic:{kind.name}:{source}"), n)
        requests = [kind.request(s, max_new_tokens) for s in seeds]
        result = job.run(requests)
        report.add_job(result.report)
        rows += build_task_rows(kind, source, seeds, result.outputs, seed, report)
    report.accepted += len(rows)
    report.counts[kind.dataset] = len(rows)
    if out_dir is not None:
        path = Path(out_dir) / f"{kind.dataset}.jsonl"
        _write_jsonl(path, rows)
        report.outputs[str(path)] = f"{len(rows)} rows"
    return rows, report
