"""Run the model on ShopBench questions, score them as the official evaluator does, time each batch.

The model is loaded as the grader loads it (``UserModel()`` from ``models/user_config.py``, set up by
``SHOPBENCH_MODEL`` / ``SHOPBENCH_ENGINE``; on a CPU machine the default is SmolLM2-135M-Instruct on
the transformers engine). Questions are batched per task type, as the grader does, answers are
parsed with the official parsers and scored with the official metrics (offline), and every batch
is checked against the 10-seconds-per-question rule.

Examples:
    python local_evaluation.py                          # the 96 dev questions, default model
    python local_evaluation.py --track 2 --limit 8      # Track 2 only, 8 questions
    python -m models.tiny runs/tiny-model && \
    SHOPBENCH_MODEL=runs/tiny-model SHOPBENCH_ENGINE=transformers python local_evaluation.py --out runs/tiny-eval
    python local_evaluation.py --multilingual-model ~/models/paraphrase-multilingual-MiniLM-L12-v2 --data my.json

The data file is JSON Lines (or one JSON array) of ShopBench rows: input_field, is_multiple_choice,
and, to score them, task_name, task_type, metric, track and output_field.
"""
from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import textwrap
import time
from collections import defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path

from tqdm.auto import tqdm

REPO = Path(__file__).resolve().parent
sys.path.insert(0, str(REPO))

from utilities.metrics import METRICS, MissingModelError, load_multilingual_model, score_task  # noqa: E402
from utilities.parsers import parse  # noqa: E402
from utilities.tasks import TASK_TYPES  # noqa: E402
from utilities.tracks import ALL_AROUND, PER_SAMPLE_LIMIT_S, TRACKS, get_track, track_of  # noqa: E402

DEFAULT_DATA = REPO / "data" / "development.json"
DEFAULT_OUT = REPO / "runs" / "latest"


@dataclass
class BatchTiming:
    task_type: str
    size: int
    seconds: float
    tracks: list[int]  # the track number of each question in the batch
    questions: list[int]  # their indices in the report's records (the cost model refits on them)

    @property
    def limit_s(self) -> float:
        return PER_SAMPLE_LIMIT_S * self.size

    @property
    def within_limit(self) -> bool:
        return self.seconds <= self.limit_s


REQUIRED_FIELDS = ("input_field", "is_multiple_choice", "task_name", "task_type", "metric", "track", "output_field")


class DataError(ValueError):
    """A data file that cannot be evaluated; the message names the file, the line and the fix."""


def load_rows(path: Path) -> list[dict]:
    """The rows of a JSON Lines file (or a JSON array), each checked for what scoring needs."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as err:
        raise DataError(f"{path}: cannot be read ({err.strerror or err})") from None
    numbered: list[tuple[int, object]] = []
    if text.lstrip().startswith("["):
        try:
            numbered = list(enumerate(json.loads(text), start=1))
        except json.JSONDecodeError as err:
            raise DataError(f"{path}: not a JSON array ({err.msg}, line {err.lineno})") from None
    else:
        for number, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                try:
                    numbered.append((number, json.loads(line)))
                except json.JSONDecodeError as err:
                    raise DataError(f"{path}:{number}: not a JSON object ({err.msg})") from None
    rows = []
    for number, row in numbered:
        where = f"{path}:{number}"
        if not isinstance(row, dict):
            raise DataError(f"{where}: a row must be a JSON object, got {type(row).__name__}")
        missing = [k for k in REQUIRED_FIELDS if k not in row]
        if missing:
            raise DataError(f"{where}: no {', '.join(missing)}. Scoring needs {', '.join(REQUIRED_FIELDS)} "
                            "(a test file with only input_field and is_multiple_choice can be answered, not scored)")
        if row["task_type"] not in TASK_TYPES:
            raise DataError(f"{where}: unknown task_type {row['task_type']!r}; one of {', '.join(TASK_TYPES)}")
        if row["metric"] not in METRICS:
            raise DataError(f"{where}: unknown metric {row['metric']!r}; one of {', '.join(METRICS)}")
        try:
            track_of(row["track"])
        except KeyError as err:
            raise DataError(f"{where}: {err.args[0]}") from None
        rows.append(row)
    return rows


def multilingual_model_for(rows: list[dict], folder: Path | None):
    """The multilingual scoring model, loaded before any question is answered, when a row needs it."""
    needing = [r for r in rows if r["metric"] == "multilingual-sent-transformer"]
    if not needing:
        return None
    try:
        return load_multilingual_model(folder)
    except MissingModelError as err:
        tasks = ", ".join(sorted({r["task_name"] for r in needing}))
        raise DataError(f"{len(needing)} selected questions ({tasks}) are scored with multilingual-sent-transformer. "
                        f"{err} Here: pass --multilingual-model FOLDER, or leave those questions out "
                        "(--track, --data).") from None


def select_rows(rows: list[dict], track: int, limit: int | None) -> list[dict]:
    if track != ALL_AROUND:
        rows = [r for r in rows if r["track"] == get_track(track).challenge_id]
    return rows[:limit] if limit else rows


def generate(model, rows: list[dict], batch_size: int | None = None) -> tuple[list[str], list[BatchTiming]]:
    """The model's answer to every row, batched per task type as the grader does."""
    outputs: list[str | None] = [None] * len(rows)
    timings: list[BatchTiming] = []
    by_type: dict[str, list[int]] = defaultdict(list)
    for i, row in enumerate(rows):
        by_type[row["task_type"]].append(i)
    with tqdm(total=len(rows), desc="answering", unit="q") as bar:
        for task_type, indices in by_type.items():
            size = batch_size or model.get_batch_size()
            for start in range(0, len(indices), size):
                chunk = indices[start:start + size]
                t0 = time.perf_counter()
                answers = model.batch_predict(
                    {"prompt": [rows[i]["input_field"] for i in chunk]}, task_type == "multiple-choice"
                )
                timings.append(BatchTiming(task_type, len(chunk), time.perf_counter() - t0,
                                           [track_of(rows[i]["track"]).number for i in chunk], list(chunk)))
                if len(answers) != len(chunk):
                    raise RuntimeError(f"batch_predict returned {len(answers)} answers for {len(chunk)} prompts")
                for i, answer in zip(chunk, answers):
                    outputs[i] = answer
                bar.update(len(chunk))
    return outputs, timings


def score(rows: list[dict], outputs: list[str], multilingual_model=None) -> dict:
    """Per-question records, per-task, per-track and overall scores, as the official evaluator computes them."""
    records = []
    for row, output in zip(rows, outputs):
        records.append({
            "input_field": row["input_field"],
            "task_name": row["task_name"],
            "task_type": row["task_type"],
            "metric": row["metric"],
            "track": row["track"],
            "model_output": output,
            "parsed": parse(row["task_type"], output),
            "truth": row["output_field"],
        })
    by_task: dict[str, list[dict]] = defaultdict(list)
    for record in records:
        by_task[record["task_name"]].append(record)
    tasks = {}
    for task_name, task_records in by_task.items():
        by_metric: dict[str, list[dict]] = defaultdict(list)
        for record in task_records:
            by_metric[record["metric"]].append(record)
        row_scores = []
        pooled = None
        for metric, group in by_metric.items():
            result = score_task(metric, [r["parsed"] for r in group], [r["truth"] for r in group],
                                multilingual_model=multilingual_model)
            for record, value in zip(group, result.per_row):
                record["score"] = value
            row_scores.extend(result.per_row)
            if metric == "micro f1":
                pooled = result.score
        tasks[task_name] = {
            "task_type": task_records[0]["task_type"],
            "metrics": sorted(by_metric),
            "track": task_records[0]["track"],
            "questions": len(task_records),
            # the official evaluator: mean of the rows, except micro f1, pooled over the task
            "score": pooled if pooled is not None and len(by_metric) == 1 else statistics.fmean(row_scores),
        }
    tracks = {}
    for number, track in TRACKS.items():
        if number == ALL_AROUND:
            continue
        scores = [t["score"] for t in tasks.values() if t["track"] == track.challenge_id]
        if scores:
            tracks[number] = statistics.fmean(scores)
    if tracks:
        tracks[ALL_AROUND] = statistics.fmean(tracks.values())  # Track 5: the mean of Tracks 1-4
    overall = statistics.fmean(t["score"] for t in tasks.values()) if tasks else 0.0
    return {"records": records, "tasks": tasks, "tracks": tracks, "overall": overall}


def timing_summary(rows: list[dict], timings: list[BatchTiming]) -> dict:
    """Seconds in all, per question, per batch against the 10-s-per-question rule, and per track."""
    total = sum(t.seconds for t in timings)
    per_track = defaultdict(float)
    for t in timings:  # a batch holds one task type, possibly from several tracks: share its time
        for number in t.tracks:
            per_track[number] += t.seconds / t.size
    per_track[ALL_AROUND] = total
    return {
        "total_s": total,
        "per_question_s": total / max(1, len(rows)),
        "batches": [asdict(t) | {"limit_s": t.limit_s, "within_limit": t.within_limit} for t in timings],
        "batches_over_limit": sum(not t.within_limit for t in timings),
        "per_track_s": {n: per_track[n] for n in sorted(per_track)},
    }


def render_tables(result: dict, timing: dict) -> str:
    lines = ["| task | type | metric | n | score |", "|---|---|---|---|---|"]
    for name in sorted(result["tasks"], key=lambda n: int(n[4:]) if n[4:].isdigit() else n):
        t = result["tasks"][name]
        lines.append(f"| {name} | {t['task_type']} | {', '.join(t['metrics'])} | {t['questions']} | {t['score']:.4f} |")
    lines += ["", "| track | score | 1st place | measured s | limit s |", "|---|---|---|---|---|"]
    for number, value in result["tracks"].items():
        track = TRACKS[number]
        lines.append(
            f"| {number} {track.name} | {100 * value:.1f} | {track.leaderboard} | "
            f"{timing['per_track_s'].get(number, 0.0):.1f} | {track.time_limit_s} |"
        )
    lines += [
        "",
        f"overall (mean over {len(result['tasks'])} tasks): {100 * result['overall']:.2f}",
        f"time: {timing['total_s']:.1f} s, {timing['per_question_s']:.2f} s per question; "
        f"{timing['batches_over_limit']} of {len(timing['batches'])} batches over the "
        f"{PER_SAMPLE_LIMIT_S} s-per-question limit",
    ]
    return "\n".join(lines)


def write_chart(tracks: dict[int, float], path: Path, title: str) -> Path:
    """Per-track scores beside the 1st-place leaderboard, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    numbers = sorted(TRACKS)
    ours = [100 * tracks.get(n, float("nan")) for n in numbers]
    first = [TRACKS[n].leaderboard for n in numbers]
    x = range(len(numbers))
    fig, ax = plt.subplots(figsize=(8, 4.2), dpi=120)
    bars = ax.bar([i - 0.2 for i in x], ours, width=0.4, label="this run", color="#2b6cb0")
    ax.bar([i + 0.2 for i in x], first, width=0.4, label="1st place (Team NVIDIA)", color="#b7b7b7")
    for bar, value in zip(bars, ours):
        if value == value:  # not NaN
            ax.annotate(f"{value:.1f}", (bar.get_x() + bar.get_width() / 2, value), ha="center", va="bottom", fontsize=8)
    ax.set_xticks(list(x), [f"Track {n}\n" + textwrap.fill(TRACKS[n].name, 16) for n in numbers], fontsize=7)
    ax.set_ylabel("score (x100)")
    ax.set_ylim(0, 100)
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def _at_least_one(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _grader_batch_size(text: str) -> int:
    value = int(text)
    if not 1 <= value <= 16:
        raise argparse.ArgumentTypeError(f"the grader's batches hold 1 to 16 questions, got {value}")
    return value


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="JSON Lines questions (default: the 96 dev questions)")
    parser.add_argument("--track", type=int, default=ALL_AROUND, choices=sorted(TRACKS), help="1-4, or 5 for all (default)")
    parser.add_argument("--limit", type=_at_least_one, default=None, help="answer only the first N selected questions")
    parser.add_argument("--batch-size", type=_grader_batch_size, default=None,
                        help="override the model's get_batch_size() (1-16, as the grader allows)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="folder for report.json and report.md")
    parser.add_argument("--multilingual-model", type=Path, default=None,
                        help="local folder of paraphrase-multilingual-MiniLM-L12-v2 (for that metric)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    try:
        rows = select_rows(load_rows(args.data), args.track, args.limit)
        if not rows:
            parser.error(f"no questions selected from {args.data} for track {args.track}")
        multilingual = multilingual_model_for(rows, args.multilingual_model)
    except DataError as err:
        parser.error(str(err))
    from models.user_config import UserModel

    t0 = time.perf_counter()
    model = UserModel()
    load_s = time.perf_counter() - t0
    outputs, timings = generate(model, rows, args.batch_size)
    result = score(rows, outputs, multilingual_model=multilingual)
    timing = timing_summary(rows, timings) | {"model_load_s": load_s}
    tables = render_tables(result, timing)
    print(tables)

    args.out.mkdir(parents=True, exist_ok=True)
    report = {
        "data": str(args.data), "track": args.track, "questions": len(rows),
        "engine": type(getattr(model, "engine", None)).__name__,
        "model_dir": str(getattr(getattr(model, "engine", None), "model_dir", "")),
        "overall": result["overall"], "tracks": result["tracks"], "tasks": result["tasks"],
        "timing": timing, "records": result["records"],
    }
    (args.out / "report.json").write_text(json.dumps(report, indent=1, ensure_ascii=False, default=str))
    chart = write_chart(result["tracks"], args.out / "scores.png",
                        f"{report['engine']} on {Path(report['model_dir']).name}: {len(rows)} questions")
    (args.out / "report.md").write_text(f"# ShopBench local evaluation\n\n{tables}\n\n![per-track scores]({chart.name})\n")
    print(f"report: {args.out / 'report.json'}, {args.out / 'report.md'}, {chart}")
    return report


if __name__ == "__main__":
    main()
