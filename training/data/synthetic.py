"""Synthetic training data made by an LLM through the project's own engines (the slides' three methods).

    python -m training.data.synthetic enrich     --model DIR --sources DIR --out DIR [--source NAME ...]
    python -m training.data.synthetic reword     --model DIR --out DIR [--dataset NAME ...] [--n 3]
    python -m training.data.synthetic build-task --model DIR --sources DIR --out DIR [--dataset NAME ...]
        common: [--engine transformers|vllm] [--limit N] [--batch-size N] [--max-new-tokens N]
                [--cache FILE] [--model-id ID] [--seed S] [--no-progress]

The three methods (docs/reference.md section 5), each a preparer of requests from seed data, a module-level
prompt template, and a strict parser of the LLM's answer:

1. **build a task** (:func:`run_build_task`, kinds in :data:`KINDS`): from seed data the LLM writes a
   new ShopBench-style question and its answer, which we wrap in one of our instruction templates:
   ``attribute`` (a product's attributes + a target attribute -> a multiple-choice question,
   :data:`BUILD_ATTRIBUTE_PROMPT`), ``query_products`` (an ESCI query + 8 listed products -> a
   shopper's question and the 3 products that answer it, retrieval, :data:`BUILD_QUERY_PRODUCTS_PROMPT`),
   ``documents`` (a product's description/bullets or its reviews -> a question they answer and
   the answer, generation, :data:`BUILD_DOCUMENTS_PROMPT`). Every question is checked by
   :func:`training.data.rows.check` for its task type and written as a :func:`training.data.rows.to_row`
   row (dataset ``synthetic_build_task_<kind>``, source = the seed's source). Invalid outputs are
   counted with their reason and never written.
2. **enrich seed data** (:func:`run_enrich`, :data:`ENRICH_PROMPT`): per product (ESCI, Amazon-M2 or
   Amazon Reviews 2023 metadata) the LLM names the product type, a broad category and the entities
   (brand, color, material, ...) the title and description mention; values not found in the
   product's text are dropped. :func:`load_enrichment` gives builders a lookup by the source's own
   key (``(locale, id)`` or ``parent_asin``); ``training.data build --enrichment FILE`` hands the
   product types to the builders (``m2_attribute_category`` then asks about product categories).
3. **re-word instructions** (:func:`run_reword`, :data:`REWORD_PROMPT`): per instruction template of
   a registered builder, N paraphrases that keep every ``{field}`` exactly once; accepted ones
   (same placeholders, non-empty, distinct, not an original, a placeholder alone on its line stays
   alone on its line) are saved; :func:`load_rewordings` reads them back.

Chat format (a decision): the teacher prompts are not ShopBench questions, so each request carries
its own messages with :data:`TEACHER_SYSTEM_PROMPT`, rendered by the tokenizer's own chat template
(``apply_chat_template(..., add_generation_prompt=True)``), never by a hand-written template. A
request given as plain prompt text instead gets the ShopBench "generation" system prompt
(:func:`utilities.prompting.messages`). The *rows* we emit are rendered by ``rows.to_row``, i.e.
exactly like every other training row.

The job (:class:`SyntheticJob`): requests run through an engine (``generate(prompt_ids, specs)``,
greedy) in fixed slices of ``batch_size`` of the request list, with a tqdm bar; each finished batch
is appended to the cache (flush + fsync) before the next starts. The cache is JSON Lines, one
record per request::

    {"key": sha256 hex of (method, model id, messages, decoding params), "method": "enrich",
     "model": "qwen2-72b@1a2b...", "id": "enrich:esci:us/B0001", "meta": {...},
     "decode": {"max_new_tokens": 256, ...}, "prompt_tokens": 312, "output": "{...}"}

It is the single source of truth: a re-run skips every request whose key it holds (the engine is
not even loaded when nothing is left), so an interrupted job resumes where it stopped; because
batches are fixed slices, a resumed job decodes the same batches as an uninterrupted one and ends
with the same file. A partial last line (a crash mid-write) is detected, cut off and counted.
One job writes a cache at a time (an exclusive ``flock``). The model id is the folder's name plus a
hash of its config, tokenizer config, chat template and weight file sizes (:func:`model_identity`);
pass ``--model-id`` to share a cache between copies of one checkpoint, or to tell apart two
checkpoints that differ only in their weights' values.
"""
from __future__ import annotations

import argparse
import hashlib
import html
import json
import os
import random
import re
import string
import sys
from bisect import bisect_right
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Hashable, Iterable, Mapping, Sequence

from tqdm.auto import tqdm

from training.data.build import open_source
from training.data.registry import Builder, Question, Skip, load_builders
from training.data.rows import check, choose, numbered, numbers_answer, one_line, shuffled_options, to_row
from training.data.sources import (
    EsciIndex,
    EsciProduct,
    ItemMeta,
    M2Index,
    M2Product,
    ReviewsIndex,
    SourceData,
)
from utilities.decoding import DecodeSpec
from utilities.special_tokens import encode_chat
from utilities.tasks import get_task

METHODS = ("enrich", "reword", "build_task")
PRODUCT_SOURCES = ("esci", "amazon_m2", "amazon_reviews_2023")

# ================================================================================================
# Prompt templates (str.format fields in braces; literal braces doubled)
# ================================================================================================

TEACHER_SYSTEM_PROMPT = (
    "You are a careful data writer for an online shopping assistant. "
    "Follow the requested output format exactly and output nothing else."
)

ENRICH_PROMPT = """Read the product below and describe it as JSON.

Product title: {title}
Product text:
{details}

Return one JSON object with exactly these keys:
"product_type": what kind of product it is, in 1 to 4 lower-case words (e.g. "running shoes", "phone case"),
"category": the broad shopping category (e.g. "Clothing, Shoes & Jewelry", "Electronics"),
"entities": an object that maps an attribute name to the list of values the title or text mention for it, copied as written. Use only these names: {entity_types}. Leave out attributes that are not mentioned.
Output only the JSON object."""

REWORD_PROMPT = """The template below is the instruction of an online-shopping exam question ({task}; the answer is {answer_format}). Words in curly braces, such as {example}, are placeholders that a program fills in later.

Template (as a JSON string):
{template}

Write {n} new templates that ask for exactly the same thing in different words. Rules:
- Keep each of these placeholders exactly once, spelled exactly the same: {placeholders}.
- Add no other curly braces.
- A placeholder that stands alone on its line in the template must stand alone on its line in yours too.
- Keep the answer format and the answer cue at the end (such as "Answer: ").
Output a JSON list of {n} strings and nothing else."""

BUILD_ATTRIBUTE_PROMPT = """You write exam questions for an online shopping assistant.

Product:
{product}

Target attribute: {attribute}
Correct answer: {value}

Write one multiple-choice question that asks for this product's {attribute}, with four options: the correct answer "{value}" and three plausible but wrong values of the same kind. Do not give the answer away in the question.
Output one JSON object and nothing else:
{{"question": "...", "options": ["...", "...", "...", "..."], "answer": <the index 0-3 of the correct option>}}"""

BUILD_QUERY_PRODUCTS_PROMPT = """A shopper searched an online store for "{query}". These products were listed:
{products}

Write one new question a shopper could ask, in natural words and different from the search text, that exactly three of the listed products answer well. Give the numbers of those three products, best first.
Output one JSON object and nothing else:
{{"question": "...", "answer": [<number>, <number>, <number>]}}"""

BUILD_DOCUMENTS_PROMPT = """Here is information about the product "{title}":
{documents}

Write one question a shopper might ask about this product that the information answers, and its answer in one or two sentences (at most 40 words), using only facts stated in the information.
Output one JSON object and nothing else:
{{"question": "...", "answer": "..."}}"""

# The instruction templates that wrap an LLM-written question into the emitted ShopBench prompt
# (several wordings per kind, one picked per question with the seeded generator).
ATTRIBUTE_QUESTION_TEMPLATES = (
    "{product}\n{question}\n{options}\nAnswer: ",
    "Read the product information below and answer the question with the number of the correct option.\n"
    "{product}\nQuestion: {question}\n{options}\nAnswer: ",
    "Product information:\n{product}\n\nQuestion: {question}\nOptions:\n{options}\nAnswer: ",
)
QUERY_QUESTION_TEMPLATES = (
    'A shopper asks: "{question}"\nSelect the three products from the list below that best answer this, '
    "and output their numbers separated by commas.\n{products}\nAnswer: ",
    'Given the shopping question "{question}", which three of the following products fit it best? '
    "Answer with three numbers separated by commas.\n{products}\nAnswer: ",
    "Here is a numbered list of {count} products:\n{products}\n"
    'A customer is looking for the following: "{question}". Choose the 3 products that suit the customer '
    "best and output their numbers, separated by commas.\nAnswer: ",
)
DOCUMENT_QUESTION_TEMPLATES = (
    "Answer the question about the product using the information below.\nProduct: {title}\n{documents}\n"
    "Question: {question}\nAnswer:",
    '{documents}\nBased on the information above about "{title}", answer the following question in one or '
    "two sentences.\n{question}",
    "Product: {title}\nDetails:\n{documents}\n\nQuestion: {question}\nAnswer:",
)

ENTITY_TYPES = (
    "brand", "color", "material", "size", "model", "flavor", "scent", "style", "pattern", "quantity",
    "target_audience", "compatibility",
)

# Default output budgets (new tokens) and caps on the seed text put into a prompt, so that a
# prompt stays well inside a 3,072-token context.
MAX_NEW_TOKENS = {"enrich": 256, "reword": 480, "build_task": 256}
MAX_DETAILS_CHARS = 1500  # product text in an enrich / attribute prompt
MAX_DOC_CHARS = 500  # one document (a bullet point, a review) in a documents prompt
MAX_DOCS = 5
MAX_TITLE_CHARS = 200
QUERY_LIST_SIZE = 8  # products listed in a query_products question (> 5: a retrieval list)
QUERY_MIN_LIST = 6


# ================================================================================================
# Requests, keys, model identity
# ================================================================================================

@dataclass
class Request:
    """One LLM call: chat ``messages`` (or ``prompt`` text), how to decode it, and JSON-able ``meta``."""

    id: str
    messages: Sequence[Mapping[str, str]] | None = None
    prompt: str | None = None
    max_new_tokens: int = 256
    spec: DecodeSpec | None = None  # overrides max_new_tokens when given
    meta: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if (self.messages is None) == (self.prompt is None):
            raise ValueError(f"request {self.id!r}: give either messages or prompt text")

    def chat(self) -> list[dict[str, str]]:
        if self.messages is not None:
            return [dict(m) for m in self.messages]
        from utilities.prompting import messages

        return messages(self.prompt, "generation")

    def decode_spec(self) -> DecodeSpec:
        return self.spec if self.spec is not None else DecodeSpec(max_new_tokens=self.max_new_tokens)


def teacher_request(id: str, user: str, max_new_tokens: int, meta: Mapping[str, Any]) -> Request:
    return Request(id, messages=[{"role": "system", "content": TEACHER_SYSTEM_PROMPT},
                                 {"role": "user", "content": user}],
                   max_new_tokens=max_new_tokens, meta=dict(meta))


def spec_params(spec: DecodeSpec) -> dict:
    """Every decoding parameter of a spec, as JSON (decoding is greedy everywhere)."""
    return {
        "max_new_tokens": spec.max_new_tokens,
        "allowed_token_ids": list(spec.allowed_token_ids) if spec.allowed_token_ids is not None else None,
        "logit_bias": sorted([int(k), float(v)] for k, v in dict(spec.logit_bias).items()),
        "stop": list(spec.stop),
        "temperature": 0.0,
    }


def _canonical(value) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def request_key(method: str, model_id: str, messages: Sequence[Mapping[str, str]], spec: DecodeSpec) -> str:
    """The cache key: sha256 of (method, model id, messages, decoding parameters)."""
    payload = {"method": method, "model": model_id, "messages": [dict(m) for m in messages],
               "decode": spec_params(spec)}
    return hashlib.sha256(_canonical(payload).encode("utf-8")).hexdigest()


IDENTITY_FILES = ("config.json", "tokenizer_config.json", "chat_template.jinja", "chat_template.json",
                  "generation_config.json", "special_tokens_map.json")


def model_identity(model_dir: str | os.PathLike) -> str:
    """``<folder name>@<16 hex>``: a hash of the config, tokenizer config, chat template and the
    names and sizes of the weight files (cheap; weights' values are not read)."""
    path = Path(model_dir)
    digest = hashlib.sha256()
    for name in IDENTITY_FILES:
        f = path / name
        digest.update(name.encode() + b"\0" + (f.read_bytes() if f.is_file() else b"") + b"\0")
    for w in sorted(path.glob("*.safetensors")) + sorted(path.glob("*.bin")):
        digest.update(f"{w.name}:{w.stat().st_size}\0".encode())
    return f"{path.resolve().name}@{digest.hexdigest()[:16]}"


def render_chat(tokenizer, messages: Sequence[Mapping[str, str]]) -> list[int]:
    """Token ids of the chat, rendered by the tokenizer's own template with the generation prompt."""
    if not getattr(tokenizer, "chat_template", None):
        raise ValueError(
            f"tokenizer {getattr(tokenizer, 'name_or_path', tokenizer)!r} has no chat template; "
            "synthetic data needs an instruct model's folder"
        )
    # the template's special tokens parsed; one inside a source text (a review) is read as text
    return encode_chat(tokenizer, [dict(m) for m in messages], True)


# ================================================================================================
# The cache
# ================================================================================================

@dataclass
class CacheState:
    records: dict[str, dict]
    partial_lines: int = 0  # a last line cut off mid-write (removed from the file)
    corrupt_lines: int = 0  # complete lines that are not a record (kept in the file, ignored)
    duplicate_lines: int = 0  # records whose key an earlier line already holds (the first one counts)


def _record_ok(value) -> bool:
    return isinstance(value, dict) and isinstance(value.get("key"), str) and isinstance(value.get("output"), str)


def parse_cache(data: bytes) -> tuple[CacheState, int, bool]:
    """Read cache bytes: the state, the length of the intact part, and whether a newline must be added.

    Every complete line is a record; a last line without its newline is a record if it parses
    (then only the newline is missing), otherwise a partial write to be cut off."""
    state = CacheState({})
    lines = data.split(b"\n")
    tail = lines.pop()  # b"" when the data ends with a newline
    for line in lines:
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except ValueError:
            value = None
        if not _record_ok(value):
            state.corrupt_lines += 1
        elif value["key"] in state.records:
            state.duplicate_lines += 1
        else:
            state.records[value["key"]] = value
    intact, add_newline = len(data), False
    if tail.strip():
        try:
            value = json.loads(tail)
        except ValueError:
            value = None
        if _record_ok(value):
            if value["key"] not in state.records:
                state.records[value["key"]] = value
            add_newline = True
        else:
            state.partial_lines += 1
            intact = len(data) - len(tail)
    return state, intact, add_newline


def read_cache(path: str | os.PathLike) -> CacheState:
    """The records of a cache file (key -> record), without changing the file."""
    path = Path(path)
    return parse_cache(path.read_bytes())[0] if path.is_file() else CacheState({})


class _CacheWriter:
    """The cache file opened for appending under an exclusive lock, its partial tail cut off."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.file = open(path, "a+b")
        try:
            import fcntl

            fcntl.flock(self.file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except ImportError:  # pragma: no cover - not POSIX
            pass
        except OSError:
            self.file.close()
            raise RuntimeError(f"{path} is being written by another job; wait for it or use another --cache")
        self.file.seek(0)
        self.state, intact, add_newline = parse_cache(self.file.read())
        if self.state.partial_lines:
            self.file.truncate(intact)
        if add_newline:
            self.file.write(b"\n")
        self._sync()

    def append(self, records: Sequence[dict]) -> None:
        self.file.write("".join(_canonical(r) + "\n" for r in records).encode("utf-8"))
        self._sync()

    def _sync(self) -> None:
        self.file.flush()
        os.fsync(self.file.fileno())

    def close(self) -> None:
        self.file.close()  # releases the lock


# ================================================================================================
# The job
# ================================================================================================

@dataclass
class JobReport:
    method: str
    model: str
    requests: int = 0
    unique: int = 0  # distinct keys (identical requests are generated once)
    cached: int = 0  # already in the cache when the job started
    generated: int = 0
    too_long: int = 0  # prompt + max_new_tokens exceed the context: not generated, not cached
    batches: int = 0  # engine calls
    partial_lines: int = 0
    corrupt_lines: int = 0
    duplicate_lines: int = 0

    def as_dict(self) -> dict:
        return dict(self.__dict__)

    def render(self) -> str:
        text = (f"{self.method} ({self.model}): {self.requests} requests ({self.unique} distinct), "
                f"{self.cached} cached, {self.generated} generated in {self.batches} batches, "
                f"{self.too_long} too long for the context")
        damage = [f"{n} {what}" for n, what in ((self.partial_lines, "partial last line dropped"),
                                                (self.corrupt_lines, "corrupt lines ignored"),
                                                (self.duplicate_lines, "duplicate lines ignored")) if n]
        return text + (f"; cache: {', '.join(damage)}" if damage else "")


@dataclass
class JobResult:
    outputs: list[str | None]  # aligned with the requests; None: not generated (too long)
    report: JobReport

    def by_id(self, requests: Sequence[Request]) -> dict[str, str | None]:
        return {r.id: out for r, out in zip(requests, self.outputs)}


class SyntheticJob:
    """Run requests through an engine, batch by batch, with a resumable JSON Lines cache.

    ``engine``: an engine (``generate``, ``tokenizer``, ``max_model_len``) or a zero-argument
    callable that returns one, called only when some request is not cached yet. ``model_id``
    defaults to :func:`model_identity` of ``engine.model_dir`` (required with a callable).
    """

    def __init__(self, engine, cache_path: str | os.PathLike, *, method: str, model_id: str | None = None,
                 batch_size: int = 8, progress: bool = True) -> None:
        if batch_size < 1:
            raise ValueError(f"batch size must be >= 1, got {batch_size}")
        is_factory = callable(engine) and not hasattr(engine, "generate")
        self._engine = None if is_factory else engine
        self._factory = engine if is_factory else None
        if model_id is None:
            if is_factory or getattr(engine, "model_dir", None) is None:
                raise ValueError("give model_id (e.g. model_identity(model_dir)) with an engine factory")
            model_id = model_identity(engine.model_dir)
        self.model_id = model_id
        self.method = method
        self.cache_path = Path(cache_path)
        self.batch_size = batch_size
        self.progress = progress

    @property
    def engine(self):
        if self._engine is None:
            self._engine = self._factory()
        return self._engine

    def key(self, request: Request) -> str:
        return request_key(self.method, self.model_id, request.chat(), request.decode_spec())

    def run(self, requests: Sequence[Request]) -> JobResult:
        keys = [self.key(r) for r in requests]
        first: dict[str, Request] = {}
        for r, k in zip(requests, keys):
            first.setdefault(k, r)
        unique = list(first)
        report = JobReport(self.method, self.model_id, requests=len(requests), unique=len(unique))
        writer = _CacheWriter(self.cache_path)
        try:
            records = writer.state.records
            report.partial_lines = writer.state.partial_lines
            report.corrupt_lines = writer.state.corrupt_lines
            report.duplicate_lines = writer.state.duplicate_lines
            report.cached = sum(1 for k in unique if k in records)
            with tqdm(total=len(unique), initial=report.cached, desc=self.method, unit="req",
                      disable=not self.progress or report.cached == len(unique), leave=False) as bar:
                # fixed slices of the request list: a resumed job decodes the same batches
                for start in range(0, len(unique), self.batch_size):
                    pending = [k for k in unique[start:start + self.batch_size] if k not in records]
                    if pending:
                        report.too_long += self._batch(pending, first, records, writer, report)
                        bar.update(len(pending))
        finally:
            writer.close()
        outputs = [records[k]["output"] if k in records else None for k in keys]
        return JobResult(outputs, report)

    def _batch(self, pending: list[str], first: Mapping[str, Request], records: dict, writer: _CacheWriter,
               report: JobReport) -> int:
        engine = self.engine
        todo, too_long = [], 0
        for k in pending:
            r = first[k]
            ids = render_chat(engine.tokenizer, r.chat())
            spec = r.decode_spec()
            if len(ids) + spec.max_new_tokens > engine.max_model_len:
                too_long += 1
                continue
            todo.append((k, r, ids, spec))
        if not todo:
            return too_long
        texts = engine.generate([ids for _, _, ids, _ in todo], [spec for _, _, _, spec in todo])
        report.batches += 1
        if len(texts) != len(todo):
            raise RuntimeError(f"the engine returned {len(texts)} texts for {len(todo)} prompts")
        new = []
        for (k, r, ids, spec), text in zip(todo, texts):
            record = {"key": k, "method": self.method, "model": self.model_id, "id": r.id, "meta": dict(r.meta),
                      "decode": spec_params(spec), "prompt_tokens": len(ids), "output": text or ""}
            records[k] = record
            new.append(record)
        writer.append(new)
        report.generated += len(new)
        return too_long


# ================================================================================================
# Parsing helpers
# ================================================================================================

class Invalid(ValueError):
    """An LLM output we do not use; the message is the reason, counted in the report."""


_FENCE = re.compile(r"^```[a-zA-Z]*\s*\n?(.*?)\n?\s*```$", re.S)


def parse_json(text: str, expect: type = dict):
    """One JSON object (or list), alone or inside a ``` fence; nothing else around it."""
    s = (text or "").strip()
    if not s:
        raise Invalid("empty output")
    fenced = _FENCE.match(s)
    if fenced:
        s = fenced.group(1).strip()
    if not s or s[0] not in "{[":
        raise Invalid("text before the JSON" if "{" in s or "[" in s else "no JSON")
    try:
        value, end = json.JSONDecoder().raw_decode(s)
    except ValueError:
        raise Invalid("not valid JSON") from None
    if s[end:].strip():
        raise Invalid("text after the JSON")
    if not isinstance(value, expect):
        raise Invalid(f"not a JSON {'object' if expect is dict else 'list'}")
    return value


def _text_field(obj: Mapping, key: str, max_chars: int) -> str:
    if key not in obj:
        raise Invalid(f"no {key!r}")
    value = obj[key]
    if not isinstance(value, str):
        raise Invalid(f"{key!r} is not a string")
    if "\n" in value.strip():
        raise Invalid(f"{key!r} spans several lines")
    value = one_line(value)
    if not value:
        raise Invalid(f"{key!r} is empty")
    if len(value) > max_chars:
        raise Invalid(f"{key!r} is too long")
    return value


def _int(value) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def norm(text: str) -> str:
    """Case-folded, whitespace-collapsed: what "the same text" means in the checks."""
    return " ".join(str(text).casefold().split())


_TAG = re.compile(r"<[^>]{0,200}>")
JUNK_VALUES = {"", "nan", "none", "null", "n/a", "na", "-", "unknown", "not applicable", "[]"}


def clean(text) -> str:
    """HTML tags and entities removed, whitespace collapsed."""
    return one_line(_TAG.sub(" ", html.unescape(str(text or ""))))


def cap(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text[:limit].rsplit(" ", 1)[0]
    return (cut or text[:limit]) + " ..."


def _words(text: str) -> list[str]:
    return re.findall(r"\w+", text.casefold())


# ================================================================================================
# Seeds: products, queries, documents from the sources' index types
# ================================================================================================

@dataclass(frozen=True)
class ProductText:
    """A product's text for prompts, from an EsciProduct, M2Product or ItemMeta."""

    source: str
    key: Hashable  # the source's lookup key: (locale, id) or parent_asin
    title: str
    details: tuple[str, ...]  # description, bullet points / features (cleaned, non-empty)
    attributes: tuple[tuple[str, str], ...]  # known (name, value) pairs

    @property
    def id(self) -> str:
        return f"{self.source}:{'/'.join(self.key) if isinstance(self.key, tuple) else self.key}"

    def text(self, limit: int = MAX_DETAILS_CHARS) -> str:
        return cap("\n".join(self.details), limit)


def _attrs(pairs: Iterable[tuple[str, Any]]) -> tuple[tuple[str, str], ...]:
    out = []
    for name, value in pairs:
        value = clean(value)
        if value.casefold() not in JUNK_VALUES and len(value) <= 60:
            out.append((name, value))
    return tuple(out)


def product_text(record) -> ProductText | None:
    """The prompt text of a source's product record; None for other records or an empty title."""
    if isinstance(record, EsciProduct):
        pt = ProductText("esci", (record.locale, record.product_id), cap(clean(record.title), MAX_TITLE_CHARS),
                         tuple(t for t in (clean(x) for x in (record.description, *record.bullet_points)) if t),
                         _attrs([("brand", record.brand), ("color", record.color)]))
    elif isinstance(record, M2Product):
        pt = ProductText("amazon_m2", (record.locale, record.id), cap(clean(record.title), MAX_TITLE_CHARS),
                         tuple(t for t in (clean(record.desc),) if t),
                         _attrs([(n, getattr(record, n)) for n in ("brand", "color", "size", "model", "material",
                                                                    "author")]))
    elif isinstance(record, ItemMeta):
        pt = ProductText("amazon_reviews_2023", record.parent_asin, cap(clean(record.title), MAX_TITLE_CHARS),
                         tuple(t for t in (clean(x) for x in (*record.features, *record.description)) if t),
                         _attrs([("store", record.store)]))
    else:
        return None
    return pt if pt.title else None


def _product_keys(index, rng: random.Random, k: int) -> list[Hashable]:
    """``k`` distinct product lookup keys sampled from a source index (fewer if it holds fewer)."""
    if isinstance(index, (EsciIndex, M2Index)):
        pools = [(loc, ids) for loc, ids in sorted(index.products_by_locale.items()) if ids]
        offsets, total = [], 0
        for _, ids in pools:
            offsets.append(total)
            total += len(ids)
        out: dict = {}
        for p in rng.sample(range(total), min(k, total)):
            i = bisect_right(offsets, p) - 1
            loc, ids = pools[i]
            out.setdefault((loc, ids[p - offsets[i]]), None)
        return list(out)
    if isinstance(index, ReviewsIndex):
        asins = sorted({r.parent_asin for r in index.reviews})
        return rng.sample(asins, min(k, len(asins)))
    raise ValueError(f"{type(index).__name__} holds no products (sources with products: {', '.join(PRODUCT_SOURCES)})")


def sample_products(data: SourceData, rng: random.Random, n: int, oversample: int = 1,
                    keep: Callable[[ProductText], bool] = lambda p: True) -> list[ProductText]:
    """Up to ``n`` products of a source, in a seeded order, read in one lookup pass."""
    keys = _product_keys(data.index, rng, n * oversample)
    found = data.lookup(set(keys)) if keys else {}
    out = []
    for key in keys:
        p = product_text(found.get(key))
        if p is not None and keep(p):
            out.append(p)
            if len(out) == n:
                break
    return out


@dataclass(frozen=True)
class AttributeSeed:
    product: ProductText
    attribute: str
    value: str

    @property
    def id(self) -> str:
        return f"{self.product.id}:{self.attribute}"


@dataclass(frozen=True)
class QuerySeed:
    source: str
    query_id: str
    query: str
    titles: tuple[str, ...]  # the listed products, numbered from 1

    @property
    def id(self) -> str:
        return f"{self.source}:{self.query_id}"


@dataclass(frozen=True)
class DocumentSeed:
    source: str
    key: str
    title: str
    documents: tuple[str, ...]

    @property
    def id(self) -> str:
        return f"{self.source}:{self.key}"


def _per_seed(salt: int, seed_id: str) -> random.Random:
    """A generator of one seed's own: what a seed asks does not depend on how many seeds are drawn,
    so a run with a larger --limit repeats the requests (and reuses the cache) of a smaller one."""
    return random.Random(f"{salt}:{seed_id}")


def attribute_seeds(data: SourceData, rng: random.Random, n: int) -> list[AttributeSeed]:
    salt = rng.getrandbits(64)  # drawn before the sample, so the same for every n
    products = sample_products(data, rng, n, oversample=2, keep=lambda p: bool(p.attributes))
    return [AttributeSeed(p, *p.attributes[_per_seed(salt, p.id).randrange(len(p.attributes))]) for p in products]


def query_seeds(data: SourceData, rng: random.Random, n: int) -> list[QuerySeed]:
    """ESCI queries, each with up to 8 products: its own judged products, then random ones of its locale."""
    index = data.index
    if not isinstance(index, EsciIndex):
        raise ValueError("query_products needs the esci source")
    salt = rng.getrandbits(64)  # drawn before the sample, so the same for every n
    queries = rng.sample(index.queries, min(n, len(index.queries)))
    plans = []
    for q in queries:
        rng = _per_seed(salt, f"esci:{q.query_id}")
        own = list(dict.fromkeys(pid for pid, _ in q.items))
        rng.shuffle(own)
        own = own[:QUERY_LIST_SIZE]
        pool = index.products_by_locale.get(q.locale, [])
        others: list[str] = []
        for _ in range(4 * QUERY_LIST_SIZE):
            if len(own) + len(others) >= QUERY_LIST_SIZE or not pool:
                break
            pid = pool[rng.randrange(len(pool))]
            if pid not in own and pid not in others:
                others.append(pid)
        listed = own + others
        rng.shuffle(listed)
        plans.append((q, listed))
    found = data.lookup({(q.locale, pid) for q, listed in plans for pid in listed})
    seeds = []
    for q, listed in plans:
        titles = []
        for pid in listed:
            p = product_text(found.get((q.locale, pid)))
            if p is not None:
                titles.append(p.title)
        if len(titles) >= QUERY_MIN_LIST and clean(q.query):
            seeds.append(QuerySeed("esci", str(q.query_id), clean(q.query), tuple(titles)))
    return seeds


def document_seeds(data: SourceData, rng: random.Random, n: int) -> list[DocumentSeed]:
    """Products with their description / bullet points, or (Amazon Reviews) an item with its reviews."""
    index = data.index
    if isinstance(index, ReviewsIndex):
        by_item: dict[str, list] = defaultdict(list)
        for r in index.reviews:
            if clean(r.text):
                by_item[r.parent_asin].append(r)
        asins = sorted(a for a, rs in by_item.items() if len(rs) >= 2)
        asins = rng.sample(asins, min(n, len(asins)))
        meta = data.lookup(set(asins)) if asins else {}
        seeds = []
        for a in asins:
            item = product_text(meta.get(a))
            docs = tuple(cap(clean(f"{r.title}. {r.text}" if clean(r.title) else r.text), MAX_DOC_CHARS)
                         for r in by_item[a][:MAX_DOCS])
            seeds.append(DocumentSeed("amazon_reviews_2023", a, item.title if item else "this product", docs))
        return seeds
    products = sample_products(data, rng, n, oversample=2,
                               keep=lambda p: len(_words(" ".join(p.details))) >= 15)
    return [DocumentSeed(p.source, p.id.split(":", 1)[1], p.title,
                         tuple(cap(d, MAX_DOC_CHARS) for d in p.details[:MAX_DOCS])) for p in products]


# ================================================================================================
# Method 1: build a task
# ================================================================================================

@dataclass(frozen=True)
class SyntheticDataset:
    """What rows.check / rows.to_row read of a builder: name, source, task type."""

    name: str
    source: str
    task_type: str

    @property
    def is_multiple_choice(self) -> bool:
        return self.task_type == "multiple-choice"


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


@dataclass
class MethodReport:
    method: str
    job: JobReport | None = None
    accepted: int = 0
    invalid: Counter = field(default_factory=Counter)  # reason -> count
    outputs: dict[str, str] = field(default_factory=dict)  # files written -> what
    counts: dict[str, int] = field(default_factory=dict)  # rows per dataset / records per source

    def add_job(self, job: JobReport) -> None:
        if self.job is None:
            self.job = JobReport(job.method, job.model)
        for name, value in job.as_dict().items():
            if isinstance(value, int):
                setattr(self.job, name, getattr(self.job, name) + value)

    def as_dict(self) -> dict:
        return {"method": self.method, "job": self.job.as_dict() if self.job else None, "accepted": self.accepted,
                "invalid": dict(self.invalid.most_common()), "counts": self.counts, "outputs": self.outputs}

    def render(self) -> str:
        lines = [self.job.render() if self.job else f"{self.method}: no requests"]
        total = sum(self.invalid.values())
        reasons = "; ".join(f"{n} {r}" for r, n in self.invalid.most_common())
        lines.append(f"accepted {self.accepted}, invalid {total}" + (f": {reasons}" if reasons else ""))
        lines += [f"  {name}: {n}" for name, n in self.counts.items()]
        lines += [f"wrote {path} ({what})" for path, what in self.outputs.items()]
        return "\n".join(lines)


def _parse_all(seeds: Sequence, outputs: Sequence[str | None], parse: Callable, report: MethodReport) -> list:
    """(seed, parsed) for every valid output; invalid ones counted by reason."""
    out = []
    for seed, text in zip(seeds, outputs):
        if text is None:
            report.invalid["prompt too long for the context"] += 1
            continue
        try:
            out.append((seed, parse(text, seed)))
        except (Invalid, Skip) as why:
            report.invalid[str(why)] += 1
    return out


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


# ================================================================================================
# Method 2: enrich seed data
# ================================================================================================

@dataclass(frozen=True)
class Enrichment:
    source: str
    key: Hashable  # the source's lookup key
    title: str
    product_type: str
    category: str
    entities: Mapping[str, tuple[str, ...]]
    dropped: int = 0  # entity values the LLM gave that the product's text does not contain

    def as_dict(self) -> dict:
        return {"source": self.source, "key": list(self.key) if isinstance(self.key, tuple) else self.key,
                "title": self.title, "product_type": self.product_type, "category": self.category,
                "entities": {k: list(v) for k, v in self.entities.items()}, "dropped": self.dropped}

    @classmethod
    def from_dict(cls, d: Mapping) -> "Enrichment":
        key = tuple(d["key"]) if isinstance(d["key"], list) else d["key"]
        return cls(d["source"], key, d.get("title", ""), d["product_type"], d["category"],
                   {k: tuple(v) for k, v in d["entities"].items()}, d.get("dropped", 0))


def enrich_request(product: ProductText, max_new_tokens: int = MAX_NEW_TOKENS["enrich"]) -> Request:
    user = ENRICH_PROMPT.format(title=product.title, details=product.text() or "(none)",
                                entity_types=", ".join(ENTITY_TYPES))
    return teacher_request(f"enrich:{product.id}", user, max_new_tokens, {"source": product.source,
                                                                          "product": product.id})


def parse_enrichment(text: str, product: ProductText) -> Enrichment:
    """{"product_type", "category", "entities": {type: [values]}}; unknown entity types and values
    the title and text do not contain are dropped (counted in ``dropped``)."""
    obj = parse_json(text, dict)
    product_type = _text_field(obj, "product_type", 60)
    if len(product_type.split()) > 6:
        raise Invalid("'product_type' has more than 6 words")
    category = _text_field(obj, "category", 80)
    entities = obj.get("entities")
    if not isinstance(entities, dict):
        raise Invalid("'entities' is not an object")
    haystack = norm(" ".join((product.title, *product.details)))
    kept: dict[str, tuple[str, ...]] = {}
    dropped = 0
    for name, values in entities.items():
        values = [values] if isinstance(values, (str, int, float)) else values
        if not isinstance(values, list):
            raise Invalid("an entity's values are not a list")
        name = norm(name).replace(" ", "_")
        good = []
        for v in values:
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                v = str(v)  # "size": [10] -> "10", grounded like any value
            if not isinstance(v, str):
                dropped += 1  # one unusable value costs that value, not the product
                continue
            v = one_line(v)
            # grounded as a whole phrase of the text ("red" is not in "shredder")
            grounded = bool(v) and re.search(r"(?<!\w)" + re.escape(norm(v)) + r"(?!\w)", haystack) is not None
            if v and name in ENTITY_TYPES and grounded and norm(v) not in map(norm, good):
                good.append(v)
            elif v:
                dropped += 1
        if good:
            kept[name] = kept.get(name, ()) + tuple(good)
    return Enrichment(product.source, product.key, product.title, product_type, category,
                      dict(sorted(kept.items())), dropped)


def run_enrich(job: SyntheticJob, sources: Mapping[str, SourceData], n: int,
               out_dir: str | os.PathLike | None = None, seed: int = 0,
               max_new_tokens: int = MAX_NEW_TOKENS["enrich"]) -> tuple[list[Enrichment], MethodReport]:
    """Up to ``n`` products per source; records written to ``out_dir/enrichment_<source>.jsonl``."""
    report = MethodReport("enrich")
    everything: list[Enrichment] = []
    for source, data in sources.items():
        products = sample_products(data, random.Random(f"{seed}:synthetic:enrich:{source}"), n)
        result = job.run([enrich_request(p, max_new_tokens) for p in products])
        report.add_job(result.report)
        records = [e for _, e in _parse_all(products, result.outputs, parse_enrichment, report)]
        report.counts[f"enrichment_{source}"] = len(records)
        everything += records
        if out_dir is not None:
            path = Path(out_dir) / f"enrichment_{source}.jsonl"
            _write_jsonl(path, [e.as_dict() for e in records])
            report.outputs[str(path)] = f"{len(records)} products"
    report.accepted = len(everything)
    return everything, report


def load_enrichment(path: str | os.PathLike, source: str | None = None) -> dict[Hashable, Enrichment]:
    """Enrichment records by lookup key, from a file or a folder of ``enrichment_*.jsonl``.

    With ``source``: that source's records keyed by its own lookup key (``(locale, id)`` for esci
    and amazon_m2, ``parent_asin`` for amazon_reviews_2023), ready for a builder's ``lookup``;
    without: every record keyed by ``(source, key)``."""
    path = Path(path)
    files = sorted(path.glob("enrichment_*.jsonl")) if path.is_dir() else [path]
    out: dict[Hashable, Enrichment] = {}
    for f in files:
        with open(f, encoding="utf-8") as handle:
            for line in handle:
                if line.strip():
                    e = Enrichment.from_dict(json.loads(line))
                    if source is None:
                        out[(e.source, e.key)] = e
                    elif e.source == source:
                        out[e.key] = e
    return out


def product_types(path: str | os.PathLike, source: str) -> dict[Hashable, str]:
    """lookup key -> product type (``build --enrichment`` gives it to every builder of ``source``)."""
    return {k: e.product_type for k, e in load_enrichment(path, source).items()}


# ================================================================================================
# Method 3: re-word instructions
# ================================================================================================

_FORMATTER = string.Formatter()


def _field(name: str, spec: str | None, conversion: str | None) -> str:
    return "{" + name + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "") + "}"


def placeholders(template: str) -> list[str]:
    """The replacement fields of a format string, in order, with their conversion and spec
    (``{name}``, ``{name!r}``, ``{name:>5}``); ValueError for a malformed one."""
    return [_field(name, spec, conv) for _, name, spec, conv in _FORMATTER.parse(template) if name is not None]


def _alone_on_line(template: str) -> set[str]:
    """Placeholders that fill a whole line of the template (nothing else on that line)."""
    parts = list(_FORMATTER.parse(template))
    out = set()
    for i, (before, name, spec, conv) in enumerate(parts):
        if name is None:
            continue
        starts = before.endswith("\n") or (i == 0 and before == "")
        if i + 1 == len(parts):
            ends = True
        else:
            after, next_name = parts[i + 1][0], parts[i + 1][1]
            ends = after.startswith("\n") or (after == "" and next_name is None)
        if starts and ends:
            out.add(_field(name, spec, conv))
    return out


def check_rewording(candidate, original: str, taken: Iterable[str]) -> str:
    """The candidate, or Invalid: not a string, empty, malformed braces, other placeholders than the
    original's (each exactly once), a whole-line placeholder no longer alone on its line, equal to
    an original or to another accepted wording (``taken``)."""
    if not isinstance(candidate, str):
        raise Invalid("not a string")
    if not candidate.strip():
        raise Invalid("empty")
    try:
        fields = placeholders(candidate)
    except ValueError:
        raise Invalid("malformed braces") from None
    want = placeholders(original)
    if Counter(fields) != Counter(want):
        missing = set(want) - set(fields)
        extra = set(fields) - set(want)
        if missing:
            raise Invalid("a placeholder is missing")
        if extra:
            raise Invalid("a new placeholder")
        raise Invalid("a placeholder is repeated")
    if not _alone_on_line(original) <= _alone_on_line(candidate):
        raise Invalid("a placeholder is no longer alone on its line")
    if norm(candidate) in {norm(t) for t in taken}:
        raise Invalid("same as an original or another rewording")
    return candidate


def reword_request(builder: type[Builder], index: int, n: int,
                   max_new_tokens: int = MAX_NEW_TOKENS["reword"]) -> Request:
    template = builder.instructions[index]
    fields = list(dict.fromkeys(placeholders(template)))
    doc = (builder.__doc__ or "").strip().splitlines()
    user = REWORD_PROMPT.format(
        task=one_line(doc[0]).rstrip(".") if doc else builder.name,
        answer_format=get_task(builder.task_type).answer_format,
        example=fields[0] if fields else "{query}",
        template=json.dumps(template, ensure_ascii=False),
        n=n,
        placeholders=", ".join(fields) if fields else "(none: add none)",
    )
    return teacher_request(f"reword:{builder.name}:{index}", user, max_new_tokens,
                           {"dataset": builder.name, "template": index})


def parse_rewordings(text: str, original: str, taken: Iterable[str], n: int) -> tuple[list[str], Counter]:
    """The accepted wordings of a JSON list (at most ``n``) and the reasons of the rejected ones;
    Invalid when the output is not a JSON list."""
    values = parse_json(text, list)
    accepted: list[str] = []
    rejected: Counter = Counter()
    taken = list(taken)
    for value in values:
        if len(accepted) == n:
            break
        try:
            accepted.append(check_rewording(value, original, [*taken, *accepted]))
        except Invalid as why:
            rejected[str(why)] += 1
    return accepted, rejected


def run_reword(job: SyntheticJob, builders: Sequence[type[Builder]], n: int = 3,
               out_dir: str | os.PathLike | None = None, limit: int | None = None,
               max_new_tokens: int = MAX_NEW_TOKENS["reword"]) -> tuple[dict[str, list[list[str]]], MethodReport]:
    """``n`` rewordings asked per instruction template; accepted ones per dataset and template,
    written to ``out_dir/rewordings.json``."""
    report = MethodReport("reword")
    plan = [(b, i) for b in builders for i in range(len(b.instructions))][:limit]
    requests = [reword_request(b, i, n, max_new_tokens) for b, i in plan]
    result = job.run(requests)
    report.add_job(result.report)
    accepted: dict[str, list[list[str]]] = {b.name: [[] for _ in b.instructions] for b, _ in plan}
    for (b, i), text in zip(plan, result.outputs):
        if text is None:
            report.invalid["prompt too long for the context"] += 1
            continue
        taken = [*b.instructions, *(w for ws in accepted[b.name] for w in ws)]
        try:
            good, rejected = parse_rewordings(text, b.instructions[i], taken, n)
        except Invalid as why:
            report.invalid[str(why)] += 1
            continue
        accepted[b.name][i] = good
        report.accepted += len(good)
        report.invalid.update(rejected)
    for name, per in accepted.items():
        report.counts[name] = sum(map(len, per))
    if out_dir is not None:
        path = Path(out_dir) / "rewordings.json"
        by_name = {b.name: b for b, _ in plan}
        # datasets reworded by earlier runs into the same folder stay; this run's replace their entries
        data = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
        data.update({name: {"instructions": list(by_name[name].instructions), "reworded": per}
                     for name, per in accepted.items()})
        path.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        report.outputs[str(path)] = f"{report.accepted} wordings for {len(data)} datasets"
    return accepted, report


def load_rewordings(path: str | os.PathLike) -> dict[str, tuple[str, ...]]:
    """dataset name -> its accepted new wordings (all templates, in order)."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    return {name: tuple(w for ws in entry["reworded"] for w in ws) for name, entry in data.items()}


# ================================================================================================
# Command line
# ================================================================================================

def _write_jsonl(path: Path, rows: Iterable[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")


def _open_sources(names: Sequence[str], sources_dir: Path | None, seed: int) -> dict[str, SourceData]:
    if sources_dir is None:
        raise SystemExit("--sources DIR is required for this command")
    opened = {}
    for name in names:
        data = open_source(name, sources_dir, seed)
        if data is not None:
            opened[name] = data
    if not opened:
        raise SystemExit(f"{sources_dir} holds none of the sources this needs: {', '.join(names)}")
    return opened


def _engine_name(requested: str | None) -> str:
    from models.settings import ENGINE_ENV

    name = requested or os.environ.get(ENGINE_ENV)
    if not name:
        from models.shopbench_model import cuda_available

        name = "vllm" if cuda_available() else "transformers"
    return name.lower()


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m training.data.synthetic", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    for name, help_ in (("enrich", "product type, category and entities per product"),
                        ("reword", "new wordings of the builders' instructions"),
                        ("build-task", "new questions written from seed data")):
        s = sub.add_parser(name, help=help_)
        s.add_argument("--engine", choices=("transformers", "vllm"), default=None,
                       help="default: SHOPBENCH_ENGINE, else vllm where CUDA is present, else transformers")
        s.add_argument("--model", type=Path, default=None, help="the teacher's model folder (default: SHOPBENCH_MODEL)")
        s.add_argument("--model-id", default=None,
                       help="the model's name in the cache keys (default: folder name + config hash)")
        s.add_argument("--sources", type=Path, default=None, help="folder with one subfolder per source")
        s.add_argument("--out", type=Path, required=True, help="output folder")
        s.add_argument("--cache", type=Path, default=None, help="cache file (default: OUT/cache/<method>.jsonl)")
        s.add_argument("--limit", type=int, default=None,
                       help="at most N seeds per source and dataset (reword: N templates); default 1000 (reword: all)")
        s.add_argument("--batch-size", type=int, default=None,
                       help="requests per engine call and per cache write (default: 256 on vLLM, 8 on transformers)")
        s.add_argument("--max-new-tokens", type=int, default=None)
        s.add_argument("--seed", type=int, default=0)
        s.add_argument("--no-progress", action="store_true")
        if name == "reword":
            s.add_argument("--dataset", nargs="+", default=None, metavar="NAME",
                           help="registered datasets whose instructions to reword (default: all)")
            s.add_argument("--n", type=int, default=3, help="new wordings asked per template")
        elif name == "build-task":
            s.add_argument("--dataset", nargs="+", default=None, metavar="NAME",
                           help=f"default: all of {', '.join(k.dataset for k in KINDS.values())}")
            s.add_argument("--source", nargs="+", default=None, choices=PRODUCT_SOURCES)
        else:
            s.add_argument("--source", nargs="+", default=None, choices=PRODUCT_SOURCES)
    return p


def main(argv: list[str] | None = None, engine=None) -> dict:
    """Run one method and print its report; ``engine`` (an engine object) skips loading one."""
    args = parser().parse_args(argv)
    method = args.command.replace("-", "_")
    from models.settings import CHECKPOINT_ENV

    model_dir = args.model or (Path(os.environ[CHECKPOINT_ENV]) if os.environ.get(CHECKPOINT_ENV) else None)
    if engine is None and model_dir is None:
        raise SystemExit("--model DIR is required (or set SHOPBENCH_MODEL): synthetic data needs a strong "
                         "instruct model, not the CPU default")
    model_id = args.model_id or model_identity(model_dir if model_dir is not None else engine.model_dir)
    name = getattr(engine, "name", None) or _engine_name(args.engine)
    batch = args.batch_size or (256 if name == "vllm" else 8)
    if engine is None:
        from models.shopbench_model import load_engine

        engine = lambda: load_engine(name, model_dir)  # noqa: E731 - loaded only if something is not cached
    job = SyntheticJob(engine, args.cache or args.out / "cache" / f"{method}.jsonl", method=method,
                       model_id=model_id, batch_size=batch, progress=not args.no_progress)
    tokens = {"max_new_tokens": args.max_new_tokens or MAX_NEW_TOKENS[method]}
    limit = args.limit if args.limit is not None else 1000
    args.out.mkdir(parents=True, exist_ok=True)
    if method == "reword":
        registry = load_builders()
        names = args.dataset or list(registry)
        unknown = [n for n in names if n not in registry]
        if unknown:
            raise SystemExit(f"unknown datasets {unknown}; `python -m training.data list` shows them")
        _, report = run_reword(job, [registry[n] for n in names], args.n, args.out, limit=args.limit, **tokens)
    elif method == "enrich":
        sources = _open_sources(args.source or PRODUCT_SOURCES, args.sources, args.seed)
        _, report = run_enrich(job, sources, limit, args.out, seed=args.seed, **tokens)
    else:
        kinds = [kind_of(n) for n in (args.dataset or list(KINDS))]
        wanted = args.source or sorted({s for k in kinds for s in k.sources}, key=PRODUCT_SOURCES.index)
        sources = _open_sources(wanted, args.sources, args.seed)
        report = MethodReport("build_task")
        for kind in kinds:
            run_build_task(job, kind, sources, limit, args.out, seed=args.seed, report=report, **tokens)
    summary = report.as_dict()
    (args.out / f"synthetic_{method}_report.json").write_text(json.dumps(summary, indent=1, ensure_ascii=False) + "\n")
    print(report.render())
    return summary


if __name__ == "__main__":
    main(sys.argv[1:])
