"""Which decoding serves keyphrase and keyword extraction better: generation's or NER's?

Issue #9 asks to settle by one rule where prompts such as "extract the keyphrase from the review
that mentions the aspect" (dev task6, ROUGE-L), "extract the main characteristics of the
description" (EC-Guide Generation_EPK, sentence similarity) and "summarise the product into four
keywords" (EC-Guide Generation_PKS, sentence similarity and BLEU) go. Their rows are labelled
generation and scored as text. This script answers the same questions twice with one model, once
with each task's decoding and tidy step (system-prompt label, decode spec, tidy), forced whatever
the router says, scores both as the official evaluator does (by the row's own label and metric),
and reports the paired difference (NER - generation) per task with a 95 % bootstrap interval.

    shopbench bench keyphrase                          # SmolLM2 (the CPU default), 40 rows a task
    shopbench bench keyphrase --model DIR --per-task 150
    shopbench bench keyphrase --record                 # and update the figures kept in git

(``.venv/bin/python -m benchmarks.keyphrase_decoding`` takes the same options.) The report goes to a new run
folder, ``runs/<time>-bench-keyphrase/report.md`` (``runs/latest-bench-keyphrase`` points at the newest);
nothing tracked by git changes. ``--record`` also writes the tracked
``benchmarks/keyphrase_decoding_latest.md``, and is refused for a run of fewer rows than it records
(``--per-task`` below 40): a smaller sample never replaces it. Another ``--model`` may record (the report
names the model). The router's rule (utilities/tasks/generation.py, ``KEYPHRASES``) follows what this
measures: generation.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from benchmarks.common import (Report, add_record_flag, check_record, cpu_model,  # noqa: E402
                               load_average, stage, write_report)
from utilities import progress as progress_bars  # noqa: E402

LATEST = Path(__file__).resolve().parent / "keyphrase_decoding_latest.md"  # tracked: written only with --record
NAME = "keyphrase"  # runs/<time>-bench-keyphrase/, runs/latest-bench-keyphrase
RECORDED_PER_TASK = 40  # the sample the recorded figures use: --record needs at least this many rows a task
KEYPHRASE_TASKS = ("task6", "Generation_EPK", "Generation_PKS")  # dev task6; EC-Guide's two keyphrase subtasks
DECODINGS = ("generation", "named_entity_recognition")
BATCH = 16  # the grader's largest batch


def keyphrase_rows(per_task: int) -> list[dict]:
    """Up to ``per_task`` rows of each keyphrase task and metric, from the dev file and the EC-Guide suite."""
    from utilities.suites import SUITES

    rows: list[dict] = []
    taken: dict[tuple[str, str], int] = defaultdict(int)
    for suite in ("dev", "ecguide"):
        with open(SUITES[suite], encoding="utf-8") as f:
            for line in f:
                row = json.loads(line)
                stratum = (row["task_name"], row["metric"])
                if row["task_name"] in KEYPHRASE_TASKS and taken[stratum] < per_task:
                    taken[stratum] += 1
                    rows.append(row)
    return rows


def answer_with(engine, rows: list[dict], task_type: str, progress: bool = True) -> list[str]:
    """Every row answered with ``task_type``'s system prompt, decode spec and tidy step."""
    from utilities.prompting import fit_prompt
    from utilities.tasks import analyse, get_task

    task = get_task(task_type)
    infos = [analyse(r["input_field"]) for r in rows]
    specs = [task.decode_spec(info, engine.table) for info in infos]
    ids = [fit_prompt(engine.tokenizer, r["input_field"], task_type, engine.max_model_len - spec.max_new_tokens).ids
           for r, spec in zip(rows, specs)]
    answers: list[str] = []
    if progress:
        stage(f"{task_type} decoding: {len(rows)} questions in batches of {BATCH}")
    batches = range(0, len(rows), BATCH)
    for start in progress_bars.bar(batches, desc=task_type, leave=False,
                                   disable=not (progress and progress_bars.enabled())):
        texts = engine.generate(ids[start:start + BATCH], specs[start:start + BATCH])
        answers += [task.tidy(text, info) for text, info in zip(texts, infos[start:start + BATCH])]
    return answers


def compare(engine, rows: list[dict], progress: bool = True) -> dict:
    """Both decodings' records and their paired comparison (B = NER decoding, A = generation's)."""
    import local_evaluation
    from utilities.evaluation_stats import paired_bootstrap, question_keys

    keys = question_keys(rows)
    records, seconds = {}, {}
    for decoding in DECODINGS:
        t0 = time.perf_counter()
        outputs = answer_with(engine, rows, decoding, progress)
        seconds[decoding] = time.perf_counter() - t0
        records[decoding] = local_evaluation.score(rows, outputs)["records"]
        for key, record in zip(keys, records[decoding]):
            record["key"] = key
    result = paired_bootstrap(records["generation"], records["named_entity_recognition"])
    return {"records": records, "comparison": result, "seconds": seconds}


def render(out: Report, rows: list[dict], res: dict, model_dir: str) -> None:
    c = res["comparison"]
    metrics = defaultdict(set)
    for r in rows:
        metrics[r["task_name"]].add(r["metric"])
    out(f"{len(rows)} questions, model `{Path(model_dir).name}`; each answered with generation's decoding "
        f"({res['seconds']['generation']:.0f} s) and with NER's ({res['seconds']['named_entity_recognition']:.0f} s), "
        "scored by the row's own label and metric; B - A = NER - generation, paired 95 % bootstrap interval.")
    out()
    table = []
    for name, d in c.tasks.items():
        table.append([name, ", ".join(sorted(metrics[name])), d.questions, f"{100 * d.a:.1f}", f"{100 * d.b:.1f}",
                      f"{100 * d.diff:+.1f} [{100 * d.low:+.1f}, {100 * d.high:+.1f}]" + (" *" if d.excludes_zero else "")])
    o = c.overall
    table.append(["**all**", "", o.questions, f"{100 * o.a:.1f}", f"{100 * o.b:.1f}",
                  f"{100 * o.diff:+.1f} [{100 * o.low:+.1f}, {100 * o.high:+.1f}]" + (" *" if o.excludes_zero else "")])
    out.table(["task", "metric", "questions", "generation decoding", "NER decoding", "NER - generation [95 % CI]"],
              table)
    out("`*`: the interval excludes 0.")
    out()
    examples = []
    gen, ner = res["records"]["generation"], res["records"]["named_entity_recognition"]
    for g, n in list(zip(gen, ner))[:: max(1, len(gen) // 6)][:6]:
        examples.append([g["task_name"], repr(str(g["truth"])[:60]), repr(g["model_output"][:60]), repr(n["model_output"][:60])])
    out.table(["task", "truth", "generation decoding", "NER decoding"], examples)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=None,
                        help="a Hugging Face model folder (default: the CPU default model, SmolLM2-135M-Instruct)")
    parser.add_argument("--per-task", type=int, default=RECORDED_PER_TASK,
                        help=f"rows per task and metric (default {RECORDED_PER_TASK})")
    add_record_flag(parser, NAME, LATEST, f"refused with --per-task below {RECORDED_PER_TASK} (a smaller sample than "
                                    "the recorded one); any --model may record")
    progress_bars.add_flag(parser)
    args = parser.parse_args(argv)
    if args.per_task < 1:
        parser.error("--per-task must be at least 1")
    check_record(parser, args, LATEST,
                 [f"--per-task {args.per_task} < {RECORDED_PER_TASK}"] if args.per_task < RECORDED_PER_TASK else [])
    progress_bars.apply_flag(args)
    from models.engines import TransformersEngine

    model_dir = args.model
    if model_dir is None:
        from models.default_model import ensure_default_model

        model_dir = ensure_default_model()
    engine = TransformersEngine(model_dir)
    rows = keyphrase_rows(args.per_task)
    out = Report()
    out("# Keyphrase extraction: generation's decoding or NER's?")
    out()
    out(f"{time.strftime('%Y-%m-%d %H:%M')}; {cpu_model()}; load average {load_average()}; "
        f"`shopbench bench keyphrase --per-task {args.per_task}"
        f"{f' --model {model_dir}' if args.model is not None else ''}`")
    out()
    res = compare(engine, rows)
    render(out, rows, res, str(model_dir))
    write_report(out, NAME, LATEST, args.record)
    return res


if __name__ == "__main__":
    from utilities.errors import run_command

    run_command(main)
