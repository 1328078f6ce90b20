"""ShopBenchModel: route -> render -> constrain -> engine -> tidy, behind the grader's contract.

Each prompt is routed to a task type (:mod:`utilities.routing`), rendered with that type's
system prompt through the tokenizer's chat template and shortened to fit the context
(:mod:`utilities.prompting`), given the type's decode spec, answered by the engine in sub-batches
of one task type, and tidied so that the official parser accepts the answer.

Nothing a caller sends sinks a batch: a non-string prompt is read as text (``None`` as empty),
an overlong prompt is shortened, an engine error on a sub-batch falls back to one call per
prompt, and a prompt that still fails gets its task's fallback answer, which parses. Every such
step is logged on the ``shopbench`` logger.
"""
from __future__ import annotations

import logging
import os
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any, Sequence

from models.base_model import ShopBenchBaseModel
from models.settings import CHECKPOINT_ENV, ENGINE_ENV, batch_size, configured_checkpoint
from utilities.decoding import DecodeSpec
from utilities.prompting import fit_prompt
from utilities.routing import Route, route

log = logging.getLogger("shopbench")

ENGINES = ("vllm", "transformers")


def cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def load_engine(engine: str | None = None, model_dir: str | os.PathLike | None = None):
    """The engine the environment asks for.

    ``SHOPBENCH_ENGINE`` (vllm | transformers; default: vllm where CUDA is present, else
    transformers) and ``SHOPBENCH_MODEL`` (a model folder; default: where CUDA is present, the
    checkpoint of the track aicrowd.json names, else the SmolLM2 CPU model, converted once).
    """
    has_cuda = cuda_available()
    name = (engine or os.environ.get(ENGINE_ENV) or ("vllm" if has_cuda else "transformers")).lower()
    if name not in ENGINES:
        raise ValueError(f"{ENGINE_ENV}={name!r}: choose one of {', '.join(ENGINES)}")
    folder = model_dir or os.environ.get(CHECKPOINT_ENV)
    if not folder:
        if has_cuda:
            folder = configured_checkpoint()
        else:
            from models.default_model import ensure_default_model

            folder = ensure_default_model()
    log.info("engine %s on %s", name, folder)
    if name == "vllm":
        from models.engines import VLLMEngine

        return VLLMEngine(folder)
    from models.engines import TransformersEngine

    return TransformersEngine(folder)


@dataclass(frozen=True)
class Prepared:
    """One prompt ready for the engine."""

    route: Route
    spec: DecodeSpec
    ids: list[int]
    shortened: bool


class ShopBenchModel(ShopBenchBaseModel):
    def __init__(self, engine=None) -> None:
        super().__init__()
        self.engine = engine if engine is not None else load_engine()
        self.batch_size = batch_size()

    def get_batch_size(self) -> int:
        return self.batch_size

    # --- one prompt ---------------------------------------------------------------------------
    def prepare(self, prompt: str, is_multiple_choice: bool) -> Prepared:
        r = route(prompt, is_multiple_choice)
        spec = r.task.decode_spec(r.info, self.engine.table)
        budget = self.engine.max_model_len - spec.max_new_tokens
        fitted = fit_prompt(self.engine.tokenizer, prompt, r.task_type, budget)
        return Prepared(r, spec, fitted.ids, fitted.shortened)

    # --- the grader's call --------------------------------------------------------------------
    def batch_predict(self, batch: dict[str, Any], is_multiple_choice: bool) -> list[str]:
        prompts = _prompts_of(batch)
        answers: list[str | None] = [None] * len(prompts)
        prepared: list[Prepared | None] = []
        for i, prompt in enumerate(prompts):
            try:
                prepared.append(self.prepare(prompt, bool(is_multiple_choice)))
            except Exception:  # noqa: BLE001 - one bad prompt must not sink the batch
                log.exception("prompt %d could not be prepared; it gets its task's fallback answer", i)
                prepared.append(None)
        groups: dict[str, list[int]] = defaultdict(list)
        for i, p in enumerate(prepared):
            if p is not None:
                groups[p.route.task_type].append(i)
        shortened = sum(1 for p in prepared if p is not None and p.shortened)
        log.info(
            "batch of %d (is_multiple_choice=%s): %s%s",
            len(prompts), is_multiple_choice, dict(Counter({t: len(ix) for t, ix in groups.items()})),
            f", {shortened} shortened to fit the context" if shortened else "",
        )
        for task_type, indices in groups.items():
            raw = self._generate([prepared[i] for i in indices])
            for i, text in zip(indices, raw):
                answers[i] = self._tidy(prepared[i], text)
        for i, p in enumerate(prepared):
            if p is None:
                answers[i] = _fallback(prompts[i], is_multiple_choice)
        return [a if isinstance(a, str) else "" for a in answers]

    def _generate(self, items: Sequence[Prepared]) -> list[str | None]:
        """Raw texts for prompts of one task type; on an engine error, one call per prompt."""
        out: list[str | None] = []
        for start in range(0, len(items), self.batch_size):
            chunk = items[start:start + self.batch_size]
            try:
                out.extend(self.engine.generate([p.ids for p in chunk], [p.spec for p in chunk]))
                continue
            except Exception:  # noqa: BLE001
                log.exception("engine failed on a sub-batch of %d; retrying one prompt at a time", len(chunk))
            for p in chunk:
                try:
                    out.extend(self.engine.generate([p.ids], [p.spec]))
                except Exception:  # noqa: BLE001
                    log.exception("engine failed on one %s prompt; it gets the fallback answer", p.route.task_type)
                    out.append(None)
        return out

    @staticmethod
    def _tidy(p: Prepared, text: str | None) -> str:
        answer = p.route.task.tidy(text or "", p.route.info)
        if text is None:
            log.warning("fallback %s answer %r", p.route.task_type, answer)
        return answer


def _prompts_of(batch: Any) -> list[str]:
    """The batch's prompts as strings; whatever cannot be read is logged and read as text."""
    if not isinstance(batch, dict) or "prompt" not in batch:
        log.error("batch is not a dict with a 'prompt' list (got %s); answering nothing", type(batch).__name__)
        return []
    prompts = batch["prompt"]
    if isinstance(prompts, str):
        log.warning("batch['prompt'] is one string, not a list; answering it as one prompt")
        prompts = [prompts]
    try:
        prompts = list(prompts)
    except TypeError:
        log.error("batch['prompt'] is not a list (got %s); answering nothing", type(prompts).__name__)
        return []
    out = []
    for i, p in enumerate(prompts):
        if not isinstance(p, str):
            log.warning("prompt %d is %s, not a string; reading it as text", i, type(p).__name__)
            p = "" if p is None else str(p)
        out.append(p)
    return out


def _fallback(prompt: str, is_multiple_choice: bool) -> str:
    """An answer that parses, for a prompt nothing else could answer."""
    try:
        r = route(prompt, bool(is_multiple_choice))
        return r.task.tidy("", r.info)
    except Exception:  # noqa: BLE001
        log.exception("fallback routing failed")
        return "0" if is_multiple_choice else ""
