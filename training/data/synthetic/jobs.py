"""The job runner: requests (chat messages or prompt text, decoding, meta), their cache keys, the
model's identity, the chat rendering by the tokenizer's own template, and :class:`SyntheticJob`,
which runs requests through an engine in fixed batches and appends each batch to the cache.
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

from training.data.synthetic.cache import _CacheWriter, _canonical
from training.data.synthetic.prompts import TEACHER_SYSTEM_PROMPT
from utilities.decoding import DecodeSpec
from utilities.progress import bar, enabled, say
from utilities.special_tokens import encode_chat


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
            if self.progress:  # one plain line per job; the bar below only on a terminal (or --progress)
                say(f"{self.method}: {len(unique)} requests, {report.cached} cached, "
                    f"{len(unique) - report.cached} to generate")
            with bar(total=len(unique), initial=report.cached, desc=self.method, unit="req", leave=False,
                     disable=not (self.progress and enabled()) or report.cached == len(unique)) as progress:
                # fixed slices of the request list: a resumed job decodes the same batches
                for start in range(0, len(unique), self.batch_size):
                    pending = [k for k in unique[start:start + self.batch_size] if k not in records]
                    if pending:
                        report.too_long += self._batch(pending, first, records, writer, report)
                        progress.update(len(pending))
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
