"""The weights pipeline: every step of the 1st-place recipe, in order, resumable, with manifests.

    shopbench pipeline --track 3 --sources DIR [--work runs/weights] [--dry-run] [--progress]
    shopbench pipeline tiny --out DIR        # every stage on a tiny model, on a CPU, in minutes (`make tiny`)
    shopbench pipeline answer AWQ_DIR --out answers.json   # the dev questions through ShopBenchModel

What each needs: the core environment (``make eval``) and AutoAWQ (``make awq``) for the quantize
stage, so ``tiny`` needs ``make awq`` (``make test`` builds both); vLLM (``make vllm``) is optional,
used to answer the dev questions where it imports. A ``--track`` run fine-tunes on GPUs in the
environment of ``requirements-train.txt`` (CUDA torch, bitsandbytes, deepspeed). Before any stage
runs, the pipeline checks what every stage needs (the optional layers it imports, the fine-tuning
configs on this machine, the launcher): a missing piece is one line naming what to install, not a
traceback after hours of stages.

Off a terminal each stage is one plain line on stderr (``stage 3/11 wise-ft-round1: -> DIR``, then
``... done in 2.1 s``); the bar is drawn on a terminal, or anywhere with ``--progress``.

Stages of ``--track N`` (docs/reference.md section 5; tracks, blends and alphas in utilities/tracks.py):

    round 1: data (blend v8 or v7) -> finetune (QLoRA, qlora_qwen2_72b.yaml, under accelerate launch
             with DeepSpeed ZeRO-2) -> wise-ft (alpha 0.56 or 1) -> merge (bfloat16, the base of round 2)
    round 2: data (blend v9b or v7b, another build seed) -> finetune (qlora_round2.yaml, from round 1's
             merged weights) -> average (the last checkpoint and the saved one nearest 150/192 of
             it: the winners averaged steps 150 and 192 of a 192-step run) -> wise-ft (the track's alpha)
             -> merge (float16) -> pad the MLP (TP 4 x AWQ group 128) -> AWQ (calibrated on the dev
             questions) -> install into the track's checkpoint folder

Each stage runs one step script (``training/<step>.py``, ``main(argv)``; ``shopbench finetune``,
``average``, ``wise-ft``, ``merge``, ``pad``, ``quantize`` run them alone), which writes its output
folder atomically with a ``manifest.json``. The pipeline records, per stage, a fingerprint of its
inputs (their manifests, or for raw inputs the size and time of every file) in
``WORK/pipeline.json``; a rerun skips every stage whose output exists and whose inputs are
unchanged, and redoes the others (so an interrupted run resumes where it stopped).

``tiny`` runs the same stages on a tiny random Qwen2 (models/tiny.py) and the repo's fixture
sources: a small blend, a few real training steps per round, two checkpoints averaged, wise-ft,
merge, padding 352 -> 512, AWQ, then the 96 dev questions answered through ShopBenchModel (vLLM's
CPU build where it imports, else the transformers engine on the dequantized weights), and the
checks the issue asks for: the padded model reloaded independently gives the unpadded model's
logits, and its intermediate size divides by TP x group.
"""
from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import logging
import shutil
import subprocess
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

from training.cli import PROGS, MissingInput, need_folder
from utilities.artifacts import checkpoint_steps
from utilities.errors import SetupError, require, run_command
from utilities.progress import add_flag, apply_flag, bar, enabled, say
from utilities.tracks import get_track

from utilities.grader import AWQ_GROUP_SIZE, DEV_FILE, GPUS, REPO  # noqa: E402

CONFIGS = REPO / "training" / "configs"
FIXTURE_SOURCES = REPO / "tests" / "data" / "sources"
STATE_FILE = "pipeline.json"
AVERAGE_STEPS = (150, 192)  # the submitted checkpoints averaged the adapters of these two steps
# 192 was the last step of the winners' round 2: 192 optimizer steps of 32 rows in "3-8 h" fits
# axolotl's sample packing (many questions per 3,072-token sequence). Our round 2 trains one row per
# micro batch (qlora_round2.yaml), so it takes more steps; by default the average therefore takes
# the LAST checkpoint and the saved one nearest 150/192 of the way, the same point of the run.
AVERAGE_FRACTION = AVERAGE_STEPS[0] / AVERAGE_STEPS[1]
# Fine-tuning a 72B model runs one process per GPU under accelerate + DeepSpeed ZeRO-2 (8 x A100).
ACCELERATE = ("accelerate", "launch", "--config_file", str(CONFIGS / "accelerate_deepspeed_zero2.yaml"))
TP, GROUP = GPUS, AWQ_GROUP_SIZE  # 4 x T4, AWQ group 128: the padded intermediate size divides by 512
# Build seeds of the two rounds' data. Round 2 draws with another seed, so where a source holds more
# seeds than a dataset uses, the second round meets new questions, and elsewhere the same items
# with other distractors, option orders and wordings, instead of repeating round 1's rows.
DATA_SEEDS = (0, 1)

PROG = PROGS["training.pipeline"]
TRAIN_REQUIREMENTS = "pip install -r requirements-train.txt"  # the GPU training environment (docs/training.md)

log = logging.getLogger("shopbench.pipeline")


@dataclass
class Stage:
    name: str
    output: Path  # a folder (or a file) the stage creates
    inputs: list[Path]
    run: Callable[[bool], object]  # run(overwrite)
    params: dict = field(default_factory=dict)
    command: str = ""  # how the stage runs, for --dry-run
    needs: tuple[str, ...] = ()  # modules of optional layers it imports (utilities.errors.LAYERS: "awq", "vllm")
    check: Callable[[], None] | None = None  # raises a SetupError when the stage cannot run here (before any runs)


# ---- fingerprints and state --------------------------------------------------------------------

def fingerprint(paths: Sequence[Path], params: dict) -> str:
    """A hash of what a stage reads: each input's manifest.json if it has one (it holds the sha256 of
    the input's files), else the name, size and modification time of every file; and the params."""
    h = hashlib.sha256(json.dumps(params, sort_keys=True, default=str).encode())
    for path in paths:
        path = Path(path)
        manifest = path / "manifest.json"
        if manifest.is_file():
            h.update(manifest.read_bytes())
            continue
        files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
        for f in files:
            stat = f.stat()
            h.update(f"{f}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return h.hexdigest()


def load_state(work: Path) -> dict:
    path = work / STATE_FILE
    return json.loads(path.read_text()) if path.is_file() else {"stages": {}}


def save_state(work: Path, state: dict) -> None:
    work.mkdir(parents=True, exist_ok=True)
    (work / STATE_FILE).write_text(json.dumps(state, indent=1) + "\n")


def preflight(stages: Sequence[Stage]) -> None:
    """What the stages need, checked before any of them runs: every optional layer a stage imports
    (``require``: a missing one is a MissingLayer naming its make target) and each stage's own check
    (the fine-tuning config on this machine, the launcher). Seconds, not the hours of the stages
    before the one that would fail. The cheap checks come first: a layer that is not installed at
    all (found without importing it), then the stages' checks, then the layers' imports (AutoAWQ:
    ~10 s, which the quantize stage would spend anyway; a broken build is said here too)."""
    layers = {module: [stage.name for stage in stages if module in stage.needs]
              for module in dict.fromkeys(m for stage in stages for m in stage.needs)}

    def purpose(module: str) -> str:
        users = layers[module]
        return f"the pipeline's {', '.join(users)} stage{'s' if len(users) > 1 else ''}"

    for module in layers:
        if importlib.util.find_spec(module.split(".")[0]) is None:
            require(module, purpose(module))  # not installed: a MissingLayer, at once
    for stage in stages:
        if stage.check is not None:
            stage.check()
    for module in layers:
        # AutoAWQ prints a deprecation notice on import, after turning DeprecationWarnings on for good
        # (warnings.simplefilter in its __init__): recorded here, not shown, and the filters put back
        with warnings.catch_warnings(record=True):
            require(module, purpose(module))


def _duration(seconds: float) -> str:
    return f"{seconds:.1f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def run_stages(stages: list[Stage], work: Path, dry_run: bool = False, checked: bool = False) -> dict:
    """Run the stages whose output is missing or whose inputs changed; record each in the state.

    First :func:`preflight` (unless ``checked``: the caller ran it). Each stage says one plain line
    on stderr when it starts (or is up to date) and one when done, with its time; a bar over the
    stages is drawn only where ``utilities.progress.enabled()``. ``dry_run`` prints the stages on
    stdout and runs nothing."""
    if not dry_run and not checked:
        preflight(stages)
    state = load_state(work)
    total = len(stages)
    with bar(total=total, desc="pipeline", unit="stage", disable=dry_run or not enabled()) as progress:
        for number, stage in enumerate(stages, 1):
            head = f"stage {number}/{total} {stage.name}"
            if dry_run:
                print(f"{head}: would write {stage.output} from {', '.join(map(str, stage.inputs))}")
                if stage.command:
                    print(f"    {stage.command}")
                continue
            done = state["stages"].get(stage.name, {})
            missing = [str(p) for p in stage.inputs if not Path(p).exists()]
            if missing:
                raise MissingInput(f"{head}: its input {', '.join(missing)} does not exist; restore it (or "
                                   "rerun the stage that writes it) and run the pipeline again")
            key = fingerprint(stage.inputs, stage.params)
            if stage.output.exists() and done.get("fingerprint") == key:
                say(f"{head}: up to date: {stage.output}")
                done["status"] = "skipped"
                progress.update(1)
                continue
            say(f"{head}: -> {stage.output}")
            started = time.time()
            stage.run(stage.output.exists())
            seconds = time.time() - started
            state["stages"][stage.name] = {"fingerprint": key, "output": str(stage.output), "status": "ran",
                                           "seconds": round(seconds, 1), "params": stage.params}
            save_state(work, state)
            say(f"{head}: done in {_duration(seconds)}")
            progress.update(1)
    if not dry_run:
        save_state(work, state)
    return state


# ---- the stages ---------------------------------------------------------------------------------

def build_data(sources: Path, out: Path, blend: str, limit: int | None, seed: int = 0) -> Callable[[bool], object]:
    def run(overwrite: bool):
        from training.data.__main__ import main as data_main

        if overwrite:
            shutil.rmtree(out, ignore_errors=True)
        argv = ["build", "--sources", str(sources), "--out", str(out), "--blend", blend, "--seed", str(seed)]
        manifest = data_main(argv + (["--limit", str(limit)] if limit else []))
        if manifest is not None and not manifest["complete"]:  # never train on a set that lost files unseen
            raise SetupError(f"--sources {sources}: the data build lost source files (listed above, and under "
                             f"\"lost\" in {out / 'manifest.json'}); mend or download them again and rerun")
        return manifest

    return run


def step(module: str, argv: list[str], overwrite_flag: str = "--overwrite") -> Callable[[bool], object]:
    def run(overwrite: bool):
        import importlib

        return importlib.import_module(f"training.{module}").main(argv + ([overwrite_flag] if overwrite else []))

    return run


def launcher_path(name: str) -> str | None:
    """The launcher's program: on PATH, or beside this Python (``.venv/bin/accelerate`` when the
    environment is not activated); None when neither."""
    found = shutil.which(name)
    if found:
        return found
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.is_file() else None


def launched(launcher: Sequence[str], module: str, argv: list[str],
             overwrite_flag: str = "--overwrite") -> Callable[[bool], object]:
    """``step`` in processes of their own: ``LAUNCHER -m training.MODULE ARGV`` (e.g. accelerate launch)."""
    def run(overwrite: bool):
        program = launcher_path(launcher[0]) or launcher[0]
        command = [program, *launcher[1:], "-m", f"training.{module}", *argv, *([overwrite_flag] if overwrite else [])]
        log.info("running %s", " ".join(command))
        done = subprocess.run(command, cwd=REPO)
        if done.returncode == 2:  # a SetupError (or argparse) in the launched step: its one line is above
            raise SetupError(f"{launcher[0]} ... -m training.{module}: refused to run (exit status 2); "
                             "its one-line error above says what to fix")
        if done.returncode:
            raise subprocess.CalledProcessError(done.returncode, command)

    return run


def pick_checkpoints(adapter_dir: Path, steps: Sequence[int] | None) -> list[Path]:
    """The checkpoints to average: the given steps, or (None) the last one and the saved one nearest
    ``AVERAGE_FRACTION`` of it (150 and 192 for a 192-step run)."""
    found = checkpoint_steps(adapter_dir)
    saved = ", ".join(map(str, sorted(found))) or "none"
    if steps:
        missing = [s for s in steps if s not in found]
        if missing:
            raise MissingInput(f"{adapter_dir}: no checkpoint for steps {missing} (saved: {saved}); "
                               "pass saved steps with --average-steps, or leave it out to average the "
                               "last checkpoint with the one nearest 150/192 of the run")
        return [found[s] for s in steps]
    if len(found) < 2:
        raise MissingInput(f"{adapter_dir}: averaging needs two checkpoints, the run saved: {saved}; "
                           "lower save_steps in the fine-tuning config")
    last = max(found)
    partner = min((s for s in found if s < last), key=lambda s: (abs(s - AVERAGE_FRACTION * last), -s))
    return [found[partner], found[last]]


def finetune_check(stage: str, config: Path, sets: Sequence[str], launcher: Sequence[str] | None) -> Callable[[], None]:
    """A fine-tuning stage's preflight: its config resolves, runs on this machine (a 4-bit base needs
    CUDA and bitsandbytes; ``deepspeed:`` needs DeepSpeed) and its launcher is installed."""
    def check():
        from training import finetune

        if not config.is_file():
            raise MissingInput(f"stage {stage}: the config {config} does not exist; restore it from git")
        try:
            cfg, _ = finetune.resolve_config(finetune.load_config(config, sets))
            finetune.check_hardware(cfg)
        except finetune.ConfigError as err:
            raise SetupError(f"stage {stage} ({config.name}): {err}") from err
        if cfg["deepspeed"] and importlib.util.find_spec("deepspeed") is None:
            raise SetupError(f"stage {stage} ({config.name}): deepspeed: {cfg['deepspeed']} needs DeepSpeed, "
                             f"which is not installed; fine-tune on the GPUs in the environment of "
                             f"requirements-train.txt (`{TRAIN_REQUIREMENTS}`)")
        if launcher and launcher_path(launcher[0]) is None:
            raise SetupError(f"--launcher {' '.join(launcher)!r}: {launcher[0]} is not installed (not on PATH nor "
                             f"beside {sys.executable}); `{TRAIN_REQUIREMENTS}`, or pass --launcher none to "
                             "fine-tune in this process")

    return check


def average_checkpoints(adapter_dir: Path, out: Path, steps: Sequence[int] | None) -> Callable[[bool], object]:
    def run(overwrite: bool):
        from training.average_adapters import main as average_main

        chosen = pick_checkpoints(adapter_dir, steps)
        log.info("averaging %s", ", ".join(p.name for p in chosen))
        return average_main([*map(str, chosen), "--out", str(out), *(["--overwrite"] if overwrite else [])])

    return run


def weights_stages(work: Path, sources: Path, track: int, *, round1_config: Path, round2_config: Path,
                   average_steps: Sequence[int] | None = None, data_limit: int | None = None,
                   base_model: str | None = None, merge_dtypes: tuple[str, str] = ("bfloat16", "float16"),
                   tp: int = TP, group: int = GROUP, quantize_tp: int = TP, finetune_sets: Sequence[str] = (),
                   launcher: Sequence[str] | None = None) -> list[Stage]:
    """The stages of one track's weights, from the sources to the AWQ folder ``work/round2/awq``.

    ``average_steps``: the checkpoints of round 2 to average (None: the last and the one nearest
    150/192 of it). ``launcher``: run fine-tuning as ``LAUNCHER -m training.finetune ...`` (e.g.
    accelerate launch over the GPUs) instead of in this process.
    """
    t = get_track(track)
    r1, r2 = work / "round1", work / "round2"
    data1, data2 = work / "data" / t.round1_blend, work / "data" / t.blend
    blend1, blend2 = data1 / f"blend-{t.round1_blend}.jsonl", data2 / f"blend-{t.blend}.jsonl"
    base = [f"base_model={base_model}"] if base_model else []

    def finetune(stage: str, config: Path, sets: list[str]) -> tuple[Callable[[bool], object], str, Callable[[], None]]:
        argv = [str(config), "--quiet", "--set", *sets]
        shown = " ".join([*launcher, "-m", "training.finetune", *argv]) if launcher else \
            " ".join([PROGS["training.finetune"], *argv])
        run = launched(launcher, "finetune", argv) if launcher else step("finetune", argv)
        return run, shown, finetune_check(stage, config, sets, launcher)

    run1, shown1, check1 = finetune("finetune-round1", round1_config, [
        f"output_dir={r1 / 'adapter'}", f"datasets.0.path={blend1}", *base, *finetune_sets])
    run2, shown2, check2 = finetune("finetune-round2", round2_config, [
        f"output_dir={r2 / 'adapter'}", f"datasets.0.path={blend2}", f"base_model={r1 / 'merged'}", *finetune_sets])
    stages = [
        Stage("data-round1", blend1, [sources], build_data(sources, data1, t.round1_blend, data_limit, DATA_SEEDS[0]),
              {"blend": t.round1_blend, "limit": data_limit, "seed": DATA_SEEDS[0]}),
        Stage("finetune-round1", r1 / "adapter", [blend1, round1_config], run1,
              {"sets": list(finetune_sets)}, shown1, check=check1),
        Stage("wise-ft-round1", r1 / "wise", [r1 / "adapter"],
              step("wise_ft", ["--adapter", str(r1 / "adapter"), "--out", str(r1 / "wise"),
                               "--alpha", str(t.round1_alpha)]), {"alpha": t.round1_alpha}),
        Stage("merge-round1", r1 / "merged", [r1 / "wise"],
              step("merge", ["--base", _base_of(r1 / "wise", base_model), "--adapter", str(r1 / "wise"),
                             "--out", str(r1 / "merged"), "--dtype", merge_dtypes[0]]),
              {"dtype": merge_dtypes[0]}),
        Stage("data-round2", blend2, [sources], build_data(sources, data2, t.blend, data_limit, DATA_SEEDS[1]),
              {"blend": t.blend, "limit": data_limit, "seed": DATA_SEEDS[1]}),
        Stage("finetune-round2", r2 / "adapter", [blend2, round2_config, r1 / "merged"], run2,
              {"sets": list(finetune_sets)}, shown2, check=check2),
        Stage("average", r2 / "average", [r2 / "adapter"],
              average_checkpoints(r2 / "adapter", r2 / "average", average_steps),
              {"steps": list(average_steps) if average_steps else "last, and the one nearest 150/192 of it"},
              "checkpoints " + (", ".join(map(str, average_steps)) if average_steps else
                                f"(the last, and the saved one nearest {AVERAGE_FRACTION:.3f} x the last)")),
        Stage("wise-ft-round2", r2 / "wise", [r2 / "average"],
              step("wise_ft", ["--adapter", str(r2 / "average"), "--out", str(r2 / "wise"),
                               "--alpha", str(t.wise_ft_alpha)]), {"alpha": t.wise_ft_alpha}),
        Stage("merge-round2", r2 / "merged", [r2 / "wise", r1 / "merged"],
              step("merge", ["--base", str(r1 / "merged"), "--adapter", str(r2 / "wise"), "--out",
                             str(r2 / "merged"), "--dtype", merge_dtypes[1]]), {"dtype": merge_dtypes[1]}),
        Stage("pad", r2 / "padded", [r2 / "merged"],
              step("pad_mlp", [str(r2 / "merged"), "--out", str(r2 / "padded"), "--tp", str(tp),
                               "--group-size", str(group)]), {"tp": tp, "group": group}),
        Stage("quantize", r2 / "awq", [r2 / "padded", DEV_FILE],
              step("quantize_awq", [str(r2 / "padded"), "--out", str(r2 / "awq"), "--tp", str(quantize_tp),
                                    "--group-size", str(group)]),
              {"tp": quantize_tp, "group": group}, needs=("awq",)),
    ]
    return stages


def _base_of(adapter: Path, base_model: str | None) -> str:
    """The base model a round-1 adapter was trained on (the config's base_model unless overridden)."""
    if base_model:
        return base_model
    import yaml

    return str(yaml.safe_load((CONFIGS / "qlora_qwen2_72b.yaml").read_text())["base_model"])


def install(awq: Path, checkpoint: Path) -> Callable[[bool], object]:
    """Copy the AWQ weights, their index and config into the track's checkpoint folder (git-lfs)."""

    def run(overwrite: bool):
        checkpoint.mkdir(parents=True, exist_ok=True)
        for old in checkpoint.glob("*.safetensors"):
            old.unlink()
        for f in awq.iterdir():
            if f.is_file() and f.name != "manifest.json":
                shutil.copy2(f, checkpoint / f.name)
        return checkpoint

    return run


# ---- tiny ---------------------------------------------------------------------------------------

TINY_TRACK = 3  # alphas 0.56 then 0.25: both rounds' wise-ft change the weights
# checkpoints 2 and 4, which the default rule averages (the last, and the saved one nearest 150/192 of it)
TINY_STEPS = ("max_steps=4", "save_steps=2", "gradient_accumulation_steps=2")


def tiny(out: Path) -> dict:
    """Every stage on a tiny model on the CPU, then answer the dev questions with the result.

    What the stages need is checked first (:func:`preflight`: AutoAWQ for the quantize stage), before
    anything is written; vLLM is optional (:func:`vllm_note`)."""
    base = out / "base"
    stages = weights_stages(
        out, FIXTURE_SOURCES, TINY_TRACK, round1_config=CONFIGS / "tiny_cpu.yaml",
        round2_config=CONFIGS / "tiny_cpu.yaml", average_steps=None, data_limit=4, base_model=str(base),
        merge_dtypes=("float32", "float16"), finetune_sets=TINY_STEPS,
        quantize_tp=1,  # the tiny model's 128-wide o_proj cannot split into whole 128-groups over 4 GPUs
    )
    preflight(stages)  # AutoAWQ (the quantize stage, and reading its output back) before anything is written
    note = vllm_note()
    if note:
        say(note)
    out.mkdir(parents=True, exist_ok=True)
    if not (base / "config.json").is_file():
        from models.tiny import build_tiny_qwen2

        build_tiny_qwen2(base)
    state = run_stages(stages, out, checked=True)
    checks = tiny_checks(out)
    # in a process of its own: a vLLM engine binds this process's threads for good
    answers_file = out / "answers.json"
    subprocess.run([sys.executable, "-m", "training.pipeline", "answer", str(out / "round2" / "awq"),
                    "--out", str(answers_file)], check=True, cwd=REPO)
    answers = json.loads(answers_file.read_text())
    report = {"checks": checks, "answers": answers, "stages": state["stages"]}
    (out / "tiny_report.json").write_text(json.dumps(report, indent=1, default=str) + "\n")
    print(json.dumps({"checks": checks, "answers": {k: v for k, v in answers.items() if k != "rows"}}, indent=1))
    return report


def tiny_checks(out: Path) -> dict:
    """The padded model, reloaded on its own, against the unpadded one; its size against TP x group."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    merged, padded = out / "round2" / "merged", out / "round2" / "padded"
    size = AutoConfig.from_pretrained(padded).intermediate_size
    ids = torch.tensor([[151644, 872, 198, 9707, 1879, 151645, 198]])  # "<|im_start|>user\nHello world<|im_end|>\n"
    logits = []
    for folder in (merged, padded):
        model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()
        with torch.inference_mode():
            logits.append(model(ids).logits)
    return {
        "unpadded_intermediate_size": AutoConfig.from_pretrained(merged).intermediate_size,
        "padded_intermediate_size": size,
        "divides_by_tp_x_group": size % (TP * GROUP) == 0,
        "padded_vs_unpadded_max_abs_logit_diff": float((logits[0] - logits[1]).abs().max()),
    }


def answer_dev_questions(awq: Path, out: Path) -> dict:  # out: a work folder for a dequantized copy
    """The dev questions answered by ShopBenchModel on the AWQ model; each answer parsed officially."""
    from models.shopbench_model import ShopBenchModel
    from utilities.grader import MAX_BATCH_SIZE, answer_questions, read_dev_rows
    from utilities.parsers import parse, unusable

    engine = _awq_engine(awq, out)
    model = ShopBenchModel(engine=engine)
    rows = read_dev_rows(DEV_FILE)
    answered, failures = [], []
    for batch in answer_questions(model, rows, MAX_BATCH_SIZE):
        for i, answer in zip(batch.indices, batch.answers):
            row = rows[i]
            parsed = parse(batch.task_type, answer)
            if unusable(batch.task_type, parsed):
                failures.append(row["task_name"])
            answered.append({"task_name": row["task_name"], "answer": answer, "parsed": parsed})
    return {"engine": type(engine).__name__, "questions": len(answered), "unparseable": len(failures), "rows": answered}


def vllm_note() -> str | None:
    """Why the dev questions will not be answered by vLLM, when it is not installed (None when it is;
    whether this CPU can run its AWQ kernel is found out when answering)."""
    if importlib.util.find_spec("vllm") is not None:
        return None
    return ("vLLM is not installed: skipped; the dev questions will be answered by the transformers engine on "
            "the dequantized AWQ weights (`make vllm` adds vLLM)")


def _awq_engine(awq: Path, out: Path):
    """vLLM's CPU build on the AWQ folder where vLLM imports and has its int4 kernel (AVX-512 CPUs);
    else the transformers engine on the dequantized weights (transformers cannot run AWQ kernels on
    a CPU)."""
    try:
        import vllm  # noqa: F401

        from models.engines import vllm_cpu_awq_error

        problem = vllm_cpu_awq_error()
    except Exception as err:  # noqa: BLE001
        problem = f"vLLM does not import ({err})"
    if problem:
        log.warning("%s; answering with the dequantized AWQ weights", problem)
        from models.engines import TransformersEngine
        from training.quantize_awq import load_dequantized

        folder = out / "awq-dequantized"
        if not folder.exists():
            model = load_dequantized(awq)
            model.save_pretrained(folder)
            from utilities.artifacts import copy_tokenizer_files

            copy_tokenizer_files(awq, folder)
        return TransformersEngine(folder)
    import os

    from models.engines import VLLMEngine
    from models.settings import EngineSettings

    os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
    return VLLMEngine(awq, EngineSettings.from_env(tensor_parallel_size=1, dtype="float16",
                                                   gpu_memory_utilization=0.1, distributed_executor_backend=None))


# ---- the command --------------------------------------------------------------------------------

def main(argv: list[str] | None = None):
    argv = list(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if argv[:1] == ["tiny"]:
        parser = argparse.ArgumentParser(
            prog=f"{PROG} tiny", description="every stage on a tiny model, on a CPU, then the dev questions "
            "answered with the result; needs AutoAWQ (`make awq`), and vLLM (`make vllm`) where it is there")
        parser.add_argument("tiny")
        parser.add_argument("--out", type=Path, required=True,
                            help="work folder for every stage's output (a rerun skips the finished stages)")
        add_flag(parser)
        args = parser.parse_args(argv)
        apply_flag(args)
        return tiny(args.out)
    if argv[:1] == ["answer"]:
        parser = argparse.ArgumentParser(prog=f"{PROG} answer",
                                         description="answer the dev questions with an AWQ model folder")
        parser.add_argument("answer")
        parser.add_argument("awq", type=Path)
        parser.add_argument("--out", type=Path, required=True, help="JSON file for the answers")
        args = parser.parse_args(argv)
        need_folder(args.awq, "AWQ_DIR", "an AWQ model folder", holds=("config.json",),
                    hint=f"`{PROGS['training.quantize_awq']}` writes one")
        result = answer_dev_questions(args.awq, args.out.parent)
        args.out.write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n")
        return result
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--track", type=int, required=True, choices=range(1, 6))
    parser.add_argument("--sources", type=Path, required=True, help="the training sources (training/data/sources.py)")
    parser.add_argument("--work", type=Path, default=REPO / "runs" / "weights", help="work folder (default %(default)s)")
    parser.add_argument("--average-steps", type=int, nargs=2, default=None, metavar=("STEP", "STEP"),
                        help="round-2 checkpoints to average (default: the last and the saved one nearest "
                             f"{AVERAGE_STEPS[0]}/{AVERAGE_STEPS[1]} of it; the winners' run: "
                             f"{AVERAGE_STEPS[0]} {AVERAGE_STEPS[1]})")
    parser.add_argument("--base-model", default=None,
                        help="round 1's base: a model folder or a hub id (default: the config's base_model)")
    parser.add_argument("--launcher", default=" ".join(ACCELERATE),
                        help="how fine-tuning runs, '-m training.finetune ...' appended (default: %(default)s); "
                             "'none' runs it in this process")
    parser.add_argument("--dry-run", action="store_true", help="list the stages and their files, run nothing")
    add_flag(parser)
    args = parser.parse_args(argv)
    apply_flag(args)
    need_folder(args.sources, "--sources", "the folder that holds one subfolder per source",
                hint="esci/, amazon_m2/, mmlu/, ...: training/data/sources.py")
    t = get_track(args.track)
    work = args.work / f"track{args.track}"
    stages = weights_stages(work, args.sources, args.track, round1_config=CONFIGS / "qlora_qwen2_72b.yaml",
                            round2_config=CONFIGS / "qlora_round2.yaml", average_steps=args.average_steps,
                            base_model=args.base_model,
                            launcher=None if args.launcher.lower() == "none" else args.launcher.split())
    stages.append(Stage("install", REPO / t.checkpoint, [work / "round2" / "awq"],
                        install(work / "round2" / "awq", REPO / t.checkpoint)))
    return run_stages(stages, work, dry_run=args.dry_run)


if __name__ == "__main__":
    run_command(main, prog=PROG)
