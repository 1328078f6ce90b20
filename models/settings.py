"""Engine and model settings: every constant in one block, each with its reason and an override.

The defaults are the 4 x T4 submission (AWS g4dn.12xlarge: 4 x 16 GB, compute capability 7.5).
Each setting can be overridden by the environment variable named beside it, read when
:meth:`EngineSettings.from_env` is called (not at import), so tests and the CLI can set them.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, fields
from pathlib import Path

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
    """The number in environment variable ``name`` (``default`` when unset), or a ValueError naming it."""
    text = os.environ.get(name, str(default))
    try:
        value = cast(text)
    except ValueError:
        raise ValueError(f"{name}={text!r}: {kind}") from None
    if not ok(value):
        raise ValueError(f"{name}={value}: {out_of_range}")
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


def _bool(text: str) -> bool:
    if text.lower() in ("1", "true", "yes", "on"):
        return True
    if text.lower() in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"not a boolean: {text!r}")


def _optional(text: str) -> str | None:
    return None if text.lower() in ("", "none", "auto") else text


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

    _ENV = {
        "tensor_parallel_size": ("SHOPBENCH_TP", int),
        "dtype": ("SHOPBENCH_DTYPE", str),
        "quantization": ("SHOPBENCH_QUANTIZATION", _optional),
        "enforce_eager": ("SHOPBENCH_ENFORCE_EAGER", _bool),
        "max_model_len": ("SHOPBENCH_MAX_MODEL_LEN", int),
        "gpu_memory_utilization": ("SHOPBENCH_GPU_MEMORY_UTILIZATION", float),
        "max_num_seqs": ("SHOPBENCH_MAX_NUM_SEQS", int),
        "distributed_executor_backend": ("SHOPBENCH_EXECUTOR", _optional),
        "seed": ("SHOPBENCH_SEED", int),
        "enable_prefix_caching": ("SHOPBENCH_PREFIX_CACHING", _bool),
    }

    @classmethod
    def from_env(cls, **overrides) -> "EngineSettings":
        """Defaults, then environment variables, then ``overrides``."""
        values = {}
        for f in fields(cls):
            name, cast = cls._ENV[f.name]
            if name in os.environ:
                try:
                    values[f.name] = cast(os.environ[name])
                except ValueError as err:
                    raise ValueError(f"{name}={os.environ[name]!r}: {err}") from None
        values.update(overrides)
        settings = cls(**values)
        settings.check()
        return settings

    def check(self) -> None:
        """Values vLLM would reject later, or silently misread, named with their variable now."""
        rules = (  # field, whether its value is fine, what it must be
            ("tensor_parallel_size", self.tensor_parallel_size >= 1, "at least 1 GPU"),
            ("gpu_memory_utilization", 0 < self.gpu_memory_utilization <= 1, "a fraction in (0, 1]"),  # nan fails
            ("max_model_len", self.max_model_len >= 1,
             "a positive number of tokens (prompts are shortened to it, so it must be stated)"),
            ("max_num_seqs", 1 <= self.max_num_seqs <= 1024, "1 to 1024"),
            ("dtype", self.dtype in ("half", "float16", "bfloat16", "float32", "float", "auto"),
             "half, float16, bfloat16, float32 or auto"),
        )
        problems = [f"{self._ENV[name][0]}={getattr(self, name)!r}: {must}" for name, ok, must in rules if not ok]
        if problems:
            raise ValueError("; ".join(problems))
