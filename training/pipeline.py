"""The weights pipeline: every step of the 1st-place recipe, in order, resumable, with manifests.

    python -m training.pipeline --track 3 --sources DIR [--work runs/weights] [--dry-run]
    python -m training.pipeline tiny --out DIR        # every stage on a tiny model, on a CPU, in minutes
    python -m training.pipeline answer AWQ_DIR --out answers.json   # the dev questions through ShopBenchModel

Stages of ``--track N`` (docs/reference.md section 5; tracks, blends and alphas in utilities/tracks.py):

    round 1: data (blend v8 or v7) -> finetune (QLoRA, qlora_qwen2_72b.yaml, under accelerate launch
             with DeepSpeed ZeRO-2) -> wise-ft (alpha 0.56 or 1) -> merge (bfloat16, the base of round 2)
    round 2: data (blend v9b or v7b, another build seed) -> finetune (qlora_round2.yaml, from round 1's
             merged weights) -> average (the last checkpoint and the saved one nearest 150/192 of
             it: the winners averaged steps 150 and 192 of a 192-step run) -> wise-ft (the track's alpha)
             -> merge (float16) -> pad the MLP (TP 4 x AWQ group 128) -> AWQ (calibrated on the dev
             questions) -> install into the track's checkpoint folder

Each stage runs one step script (``training/<step>.py``, ``main(argv)``), which writes its output
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
import json
import logging
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

from tqdm.auto import tqdm

from utilities.artifacts import checkpoint_steps
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

log = logging.getLogger("shopbench.pipeline")


@dataclass
class Stage:
    name: str
    output: Path  # a folder (or a file) the stage creates
    inputs: list[Path]
    run: Callable[[bool], object]  # run(overwrite)
    params: dict = field(default_factory=dict)
    command: str = ""  # how the stage runs, for --dry-run


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


def run_stages(stages: list[Stage], work: Path, dry_run: bool = False) -> dict:
    """Run the stages whose output is missing or whose inputs changed; record each in the state."""
    state = load_state(work)
    for stage in tqdm(stages, desc="pipeline", unit="stage"):
        print_ = tqdm.write
        done = state["stages"].get(stage.name, {})
        if any(not Path(p).exists() for p in stage.inputs) and not dry_run:
            missing = [str(p) for p in stage.inputs if not Path(p).exists()]
            raise FileNotFoundError(f"stage {stage.name}: missing input {missing}")
        key = fingerprint(stage.inputs, stage.params) if not dry_run else None
        if not dry_run and stage.output.exists() and done.get("fingerprint") == key:
            print_(f"[{stage.name}] up to date: {stage.output}")
            done["status"] = "skipped"
            continue
        if dry_run:
            print_(f"[{stage.name}] would write {stage.output} from {', '.join(map(str, stage.inputs))}"
                   + (f"\n    {stage.command}" if stage.command else ""))
            continue
        print_(f"[{stage.name}] -> {stage.output}")
        started = time.time()
        stage.run(stage.output.exists())
        state["stages"][stage.name] = {"fingerprint": key, "output": str(stage.output), "status": "ran",
                                       "seconds": round(time.time() - started, 1), "params": stage.params}
        save_state(work, state)
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
            from training.data.build import render_losses

            raise RuntimeError(f"the data build lost source files; mend them and run again:\n{render_losses(manifest)}")
        return manifest

    return run


def step(module: str, argv: list[str], overwrite_flag: str = "--overwrite") -> Callable[[bool], object]:
    def run(overwrite: bool):
        import importlib

        return importlib.import_module(f"training.{module}").main(argv + ([overwrite_flag] if overwrite else []))

    return run


def launched(launcher: Sequence[str], module: str, argv: list[str],
             overwrite_flag: str = "--overwrite") -> Callable[[bool], object]:
    """``step`` in processes of their own: ``LAUNCHER -m training.MODULE ARGV`` (e.g. accelerate launch)."""
    def run(overwrite: bool):
        command = [*launcher, "-m", f"training.{module}", *argv, *([overwrite_flag] if overwrite else [])]
        log.info("running %s", " ".join(command))
        subprocess.run(command, check=True, cwd=REPO)

    return run


def pick_checkpoints(adapter_dir: Path, steps: Sequence[int] | None) -> list[Path]:
    """The checkpoints to average: the given steps, or (None) the last one and the saved one nearest
    ``AVERAGE_FRACTION`` of it (150 and 192 for a 192-step run)."""
    found = checkpoint_steps(adapter_dir)
    saved = ", ".join(map(str, sorted(found))) or "none"
    if steps:
        missing = [s for s in steps if s not in found]
        if missing:
            raise FileNotFoundError(f"{adapter_dir}: no checkpoint for steps {missing} (saved: {saved}); "
                                    "pass saved steps with --average-steps, or leave it out to average the "
                                    "last checkpoint with the one nearest 150/192 of the run")
        return [found[s] for s in steps]
    if len(found) < 2:
        raise FileNotFoundError(f"{adapter_dir}: averaging needs two checkpoints, the run saved: {saved}; "
                                "lower save_steps in the fine-tuning config")
    last = max(found)
    partner = min((s for s in found if s < last), key=lambda s: (abs(s - AVERAGE_FRACTION * last), -s))
    return [found[partner], found[last]]


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

    def finetune(argv: list[str]) -> tuple[Callable[[bool], object], str]:
        shown = " ".join([*(launcher or ["python"]), "-m", "training.finetune", *argv])
        return (launched(launcher, "finetune", argv) if launcher else step("finetune", argv)), shown

    run1, shown1 = finetune([str(round1_config), "--quiet", "--set", f"output_dir={r1 / 'adapter'}",
                             f"datasets.0.path={blend1}", *base, *finetune_sets])
    run2, shown2 = finetune([str(round2_config), "--quiet", "--set", f"output_dir={r2 / 'adapter'}",
                             f"datasets.0.path={blend2}", f"base_model={r1 / 'merged'}", *finetune_sets])
    stages = [
        Stage("data-round1", blend1, [sources], build_data(sources, data1, t.round1_blend, data_limit, DATA_SEEDS[0]),
              {"blend": t.round1_blend, "limit": data_limit, "seed": DATA_SEEDS[0]}),
        Stage("finetune-round1", r1 / "adapter", [blend1, round1_config], run1,
              {"sets": list(finetune_sets)}, shown1),
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
              {"sets": list(finetune_sets)}, shown2),
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
              {"tp": quantize_tp, "group": group}),
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
    """Every stage on a tiny model on the CPU, then answer the dev questions with the result."""
    from models.tiny import build_tiny_qwen2

    out.mkdir(parents=True, exist_ok=True)
    base = out / "base"
    if not (base / "config.json").is_file():
        build_tiny_qwen2(base)
    stages = weights_stages(
        out, FIXTURE_SOURCES, TINY_TRACK, round1_config=CONFIGS / "tiny_cpu.yaml",
        round2_config=CONFIGS / "tiny_cpu.yaml", average_steps=None, data_limit=4, base_model=str(base),
        merge_dtypes=("float32", "float16"), finetune_sets=TINY_STEPS,
        quantize_tp=1,  # the tiny model's 128-wide o_proj cannot split into whole 128-groups over 4 GPUs
    )
    state = run_stages(stages, out)
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
        parser = argparse.ArgumentParser(prog="python -m training.pipeline tiny")
        parser.add_argument("tiny")
        parser.add_argument("--out", type=Path, required=True, help="work folder for every stage's output")
        return tiny(parser.parse_args(argv).out)
    if argv[:1] == ["answer"]:
        parser = argparse.ArgumentParser(prog="python -m training.pipeline answer",
                                         description="answer the dev questions with an AWQ model folder")
        parser.add_argument("answer")
        parser.add_argument("awq", type=Path)
        parser.add_argument("--out", type=Path, required=True, help="JSON file for the answers")
        args = parser.parse_args(argv)
        result = answer_dev_questions(args.awq, args.out.parent)
        args.out.write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n")
        return result
    parser = argparse.ArgumentParser(prog="python -m training.pipeline", description=__doc__,
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
    args = parser.parse_args(argv)
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
    main()
