"""``shopbench <command> [options]``: every tool of the project behind one installed command.

Each command is a module's own ``main(argv)`` (the same code that ``python -m <module>`` runs), so
``shopbench eval --track 2`` is ``local_evaluation.main(["--track", "2"])``. The command is
installed into ``.venv/bin`` by ``make eval`` / ``make test`` (``pip install -e .``, pyproject.toml).

Layers: the core environment (``make eval``) runs every command; two commands need an optional
layer at some point, and say so in one line naming its make target when it is missing (nothing is
run before): the pipeline's AWQ stage needs ``make awq``, ``SHOPBENCH_ENGINE=vllm`` needs ``make
vllm``. ``make test`` builds all three.

A mistake the user can fix (a ``SHOPBENCH_*`` variable, a flag, a missing layer: ``SetupError``) is
one line, ``shopbench <command>: error: ...``, and exit status 2; anything else keeps its traceback.
"""
from __future__ import annotations

import importlib
import sys
from dataclasses import dataclass

from utilities.errors import run_command


@dataclass(frozen=True)
class Command:
    module: str  # whose main(argv) runs
    summary: str
    layer: str = "make eval"  # the make target that builds the environment it needs


COMMANDS = {
    "eval": Command("local_evaluation", "answer and score ShopBench questions as the grader does (dev set by default)"),
    "cost": Command("tools.cost_model", "estimate each track's time on 4 x T4; refit to a measured run"),
    "submit": Command("tools.submission", "check the exact commit to tag, then tag and push a submission"),
    "data": Command("training.data.__main__", "list or build the 38 training datasets (list | build)"),
    "synthetic": Command("training.data.synthetic.cli", "LLM-made training data: build a task, enrich, re-word"),
    "pipeline": Command("training.pipeline", "the weights recipe's stages in order; `pipeline tiny` on a CPU",
                        "make eval; its AWQ stage: make awq"),
    "finetune": Command("training.finetune", "QLoRA fine-tuning from an axolotl YAML (GPU: requirements-train.txt)"),
    "average": Command("training.average_adapters", "average LoRA adapters by their deltas into one exact adapter"),
    "wise-ft": Command("training.wise_ft", "scale an adapter's update by alpha"),
    "merge": Command("training.merge", "merge an adapter into fp16 weights"),
    "pad": Command("training.pad_mlp", "pad the MLP for tensor parallel x AWQ groups"),
    "quantize": Command("training.quantize_awq", "AWQ int4 calibrated on the dev questions", "make awq"),
    "tiny-model": Command("models.tiny", "write a tiny random Qwen2 with the real Qwen2 tokenizer to a folder"),
    "bench": Command("benchmarks.run", "the speed ratios (a)-(e); `bench NAME` for the others (see `bench --list`)"),
}

# `shopbench bench NAME ...`: the benchmarks other than benchmarks/run.py
BENCHMARKS = {
    "training-data": Command("benchmarks.training_data", "time and memory of building all 38 datasets at real scale"),
    "keyphrase": Command("benchmarks.keyphrase_decoding", "keyphrase questions with generation's vs NER's decoding"),
    "evaluator-memory": Command("benchmarks.evaluator_memory", "peak memory of the evaluator's checking pass"),
    "gpu-check": Command("benchmarks.gpu_check", "the GPU check (or --device cpu)"),
}


def usage() -> str:
    width = max(map(len, COMMANDS))
    lines = ["usage: shopbench COMMAND [options]: every tool of the project behind one command", "",
             "commands [the make target that builds what each needs; `make test` builds them all]:"]
    for name, c in COMMANDS.items():
        lines.append(f"  {name:<{width}}  {c.summary} [{c.layer}]")
    lines += ["", "`shopbench COMMAND --help` shows a command's options."]
    return "\n".join(lines)


def bench_usage() -> str:
    width = max(map(len, BENCHMARKS))
    lines = ["shopbench bench [NAME] [options]: with no NAME, the speed ratios (benchmarks/run.py)", ""]
    lines += [f"  {name:<{width}}  {c.summary}" for name, c in BENCHMARKS.items()]
    return "\n".join(lines)


def resolve(argv: list[str]) -> tuple[str, Command, list[str]]:
    """(the program name to show, the command, its arguments) for ``shopbench`` argv."""
    name, rest = argv[0], argv[1:]
    command = COMMANDS[name]
    if name == "bench" and rest and rest[0] in BENCHMARKS:
        return f"shopbench bench {rest[0]}", BENCHMARKS[rest[0]], rest[1:]
    return f"shopbench {name}", command, rest


def main(argv: list[str] | None = None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(usage())
        raise SystemExit(0 if argv else 2)
    if argv[0] not in COMMANDS:
        close = [n for n in COMMANDS if n.startswith(argv[0][:2])]
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        print(f"shopbench: error: unknown command {argv[0]!r}{hint}; choose one of {', '.join(COMMANDS)}",
              file=sys.stderr)
        raise SystemExit(2)
    if argv[:2] == ["bench", "--list"]:
        print(bench_usage())
        raise SystemExit(0)
    prog, command, rest = resolve(argv)
    module = importlib.import_module(command.module)
    saved = sys.argv[0]
    sys.argv[0] = prog  # argparse names the command in its usage and error lines
    try:
        result = run_command(module.main, rest, prog=prog)
    finally:
        sys.argv[0] = saved
    # a module that says which status its result means (the data build: 3 when files were lost) ends
    # with that; a main that returns a status (submission, gpu check) with it; the others with 0
    if callable(getattr(module, "exit_status", None)):
        raise SystemExit(module.exit_status(result))
    raise SystemExit(result if isinstance(result, int) and not isinstance(result, bool) else 0)
