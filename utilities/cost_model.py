"""How long each track would take on 4 x T4: real token counts x stated, refittable constants.

Every question is routed, rendered with the real Qwen2 tokenizer and given its decode spec, exactly
as the model does, which gives its prompt tokens and the most decode steps its spec allows. The
grader's batching (one task type per batch, up to 16) then gives batches, and each batch costs

    batch_overhead_s + prompt_tokens / prefill_tokens_per_s + max_decode_tokens * decode_step_s

(decode steps are paid by the whole batch until its longest row stops: an upper bound, since
greedy rows often end early). A track costs ``startup_s`` plus its batches. The constants below
are estimates from the hardware; ``--refit report.json`` fits them to one measured GPU run of
``local_evaluation.py`` (least squares over its batches) and prints the fitted values.

    python -m utilities.cost_model                              # 20,000 questions split like the dev set
    python -m utilities.cost_model --questions 1=8000,2=3000,3=5000,4=2500
    python -m utilities.cost_model --refit runs/gpu/report.json --save runs/gpu/constants.json
    python -m utilities.cost_model --constants runs/gpu/constants.json
"""
from __future__ import annotations

import argparse
import json
import math
from collections import defaultdict
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

from utilities.tracks import ALL_AROUND, TRACKS, track_of

REPO = Path(__file__).resolve().parent.parent
DEV_FILE = REPO / "data" / "development.json"
HIDDEN_TEST_QUESTIONS = 20_000  # the hidden test set holds about 20,000 questions (57 tasks)


@dataclass(frozen=True)
class Constants:
    # 144 GFLOP per token (2 x 72e9 parameters) at ~70 of the 4 x 65 = 260 peak fp16 TFLOPS
    # that AWQ GEMM kernels reach on T4s: ~500 prompt tokens per second.
    prefill_tokens_per_s: float = 500.0
    # A decode step reads 10.4 GB of weights per T4 (41.6 GB / 4) at ~250 of its 320 GB/s (42 ms),
    # plus 160 all-reduces over PCIe (2 per layer x 80 layers, ~80 us each: 13 ms), plus kernels.
    decode_step_s: float = 0.07
    batch_overhead_s: float = 0.2  # scheduling, detokenising, routing and tidy of one batch
    startup_s: float = 300.0  # loading 41.6 GB onto 4 GPUs and starting vLLM, once per run
    batch_size: int = 16  # the grader's largest batch

    @classmethod
    def load(cls, path: Path) -> "Constants":
        values = json.loads(Path(path).read_text())
        unknown = set(values) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"{path}: unknown constants {sorted(unknown)}")
        return cls(**values)


@dataclass(frozen=True)
class QuestionCost:
    task_type: str
    track: int  # 1-4
    prompt_tokens: int
    decode_tokens: int  # the most new tokens its decode spec allows


def question_costs(rows: list[dict], tokenizer=None, max_model_len: int = 3072) -> list[QuestionCost]:
    """Prompt tokens and decode budget of each row, as the model would render and constrain it."""
    from models.tiny import load_tokenizer
    from utilities.decoding import TokenTable
    from utilities.prompting import fit_prompt
    from utilities.routing import route

    tokenizer = tokenizer or load_tokenizer()
    table = TokenTable(tokenizer)
    out = []
    for row in rows:
        r = route(row["input_field"], row["is_multiple_choice"])
        spec = r.task.decode_spec(r.info, table)
        fitted = fit_prompt(tokenizer, row["input_field"], r.task_type, max_model_len - spec.max_new_tokens)
        out.append(QuestionCost(r.task_type, track_of(row["track"]).number, len(fitted.ids), spec.max_new_tokens))
    return out


def grader_batches(questions: list[QuestionCost], batch_size: int) -> list[list[QuestionCost]]:
    """One task type per batch, at most ``batch_size`` questions, as the grader batches."""
    by_type: dict[str, list[QuestionCost]] = defaultdict(list)
    for q in questions:
        by_type[q.task_type].append(q)
    return [group[i:i + batch_size] for group in by_type.values() for i in range(0, len(group), batch_size)]


def batch_features(batch: list[QuestionCost]) -> tuple[float, float, float]:
    """(1, prompt tokens, decode steps): the terms the constants multiply."""
    return 1.0, float(sum(q.prompt_tokens for q in batch)), float(max(q.decode_tokens for q in batch))


def batch_seconds(batch: list[QuestionCost], c: Constants) -> float:
    one, prompt, steps = batch_features(batch)
    return one * c.batch_overhead_s + prompt / c.prefill_tokens_per_s + steps * c.decode_step_s


def scaled(questions: list[QuestionCost], n: int) -> list[QuestionCost]:
    """``n`` questions with the mix of ``questions`` (repeated in order; deterministic)."""
    return [questions[i % len(questions)] for i in range(n)] if questions else []


def estimate(questions: list[QuestionCost], counts: dict[int, int], c: Constants) -> dict[int, dict]:
    """Per track: estimated seconds for ``counts[track]`` questions against the time limit."""
    out = {}
    for number in sorted(counts):
        if number == ALL_AROUND:
            pool = questions
        else:
            pool = [q for q in questions if q.track == number]
        if not pool:
            continue
        batches = grader_batches(scaled(pool, counts[number]), c.batch_size)
        seconds = run_seconds(batches, c)
        limit = TRACKS[number].time_limit_s
        out[number] = {"questions": counts[number], "batches": len(batches), "estimate_s": seconds,
                       "limit_s": limit, "share_of_limit": seconds / limit,
                       "questions_that_fit": questions_that_fit(pool, limit, c),
                       "prefill_needed_tokens_per_s": prefill_needed(batches, limit, c)}
    return out


def run_seconds(batches: list[list[QuestionCost]], c: Constants) -> float:
    """Start-up plus every batch: one run of a track."""
    return c.startup_s + sum(batch_seconds(b, c) for b in batches)


def track_seconds(pool: list[QuestionCost], n: int, c: Constants) -> float:
    """One run of ``n`` questions with ``pool``'s mix, batched as the grader batches."""
    return run_seconds(grader_batches(scaled(pool, n), c.batch_size), c)


def questions_that_fit(pool: list[QuestionCost], limit_s: float, c: Constants) -> int:
    """The most questions with ``pool``'s mix whose estimate stays within ``limit_s`` (bisection).

    The test set's size per track is not public, so this is the figure to compare with a guess.
    """
    if not pool or track_seconds(pool, 1, c) > limit_s:
        return 0
    low, high = 1, 2
    while track_seconds(pool, high, c) <= limit_s:  # the cost grows with n: find a bracket
        low, high = high, high * 2
        if high > 10_000_000:
            return high
    while high - low > 1:
        mid = (low + high) // 2
        low, high = (mid, high) if track_seconds(pool, mid, c) <= limit_s else (low, mid)
    return low


def prefill_needed(batches: list[list[QuestionCost]], limit_s: float, c: Constants) -> float:
    """The prefill rate (tokens/s) at which these batches just fit, the other constants kept.

    ``limit = startup + batches x overhead + tokens / rate + steps x decode_step`` solved for the
    rate; ``inf`` when the time without any prefill already exceeds the limit.
    """
    features = [batch_features(b) for b in batches]
    tokens = sum(f[1] for f in features)
    rest = c.startup_s + sum(f[0] * c.batch_overhead_s + f[2] * c.decode_step_s for f in features)
    room = limit_s - rest
    return tokens / room if room > 0 else math.inf


def refit(report_path: Path, tokenizer=None, base: Constants = Constants()) -> Constants:
    """Fit overhead, prefill rate and decode step to the batches of a measured run (report.json)."""
    import numpy as np

    report = json.loads(Path(report_path).read_text())
    records = report["records"]
    batches = report["timing"]["batches"]
    missing = [i for i, b in enumerate(batches) if "questions" not in b]
    if missing:
        raise ValueError(f"{report_path}: batches {missing[:5]} do not list their questions; rerun local_evaluation.py")
    rows = [{"input_field": r["input_field"], "is_multiple_choice": r["task_type"] == "multiple-choice",
             "track": r["track"]} for r in records]
    costs = question_costs(rows, tokenizer)
    x = np.array([batch_features([costs[i] for i in b["questions"]]) for b in batches])
    y = np.array([b["seconds"] for b in batches])
    if len(batches) < 3 or np.linalg.matrix_rank(x) < 3:
        raise ValueError(f"{report_path}: {len(batches)} batches cannot fit 3 constants; run more task types")
    (overhead, per_token, per_step), *_ = np.linalg.lstsq(x, y, rcond=None)
    return replace(
        base,
        batch_overhead_s=max(float(overhead), 0.0),
        prefill_tokens_per_s=1.0 / per_token if per_token > 0 else math.inf,
        decode_step_s=max(float(per_step), 0.0),
        startup_s=float(report["timing"].get("model_load_s", base.startup_s)),
    )


def parse_counts(text: str | None, questions: list[QuestionCost]) -> dict[int, int]:
    """"1=8000,2=3000" or one number for Track 5; default: 20,000 split like the given questions."""
    if text and "=" in text:
        counts = {int(k): int(v) for k, v in (part.split("=") for part in text.split(","))}
        if set(counts) - set(TRACKS):
            raise ValueError(f"tracks are 1-5, got {sorted(counts)}")
    else:
        total = int(text) if text else HIDDEN_TEST_QUESTIONS
        per_track = defaultdict(int)
        for q in questions:
            per_track[q.track] += 1
        counts = {t: round(total * n / len(questions)) for t, n in sorted(per_track.items())}
    if ALL_AROUND not in counts:
        counts[ALL_AROUND] = sum(v for t, v in counts.items() if t != ALL_AROUND)
    return counts


def render(result: dict[int, dict], c: Constants) -> str:
    lines = [
        f"constants: {json.dumps(asdict(c))}",
        "| track | questions | batches | estimate min | limit min | verdict | questions that fit | "
        "prefill tokens/s needed |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for number, r in result.items():
        verdict = "fits" if r["share_of_limit"] <= 1 else f"OVER by {100 * (r['share_of_limit'] - 1):.0f}%"
        needed = r["prefill_needed_tokens_per_s"]
        lines.append(f"| {number} {TRACKS[number].name} | {r['questions']} | {r['batches']} | "
                     f"{r['estimate_s'] / 60:.1f} | {r['limit_s'] / 60:.0f} | {verdict} | "
                     f"{r['questions_that_fit']} | {'never' if math.isinf(needed) else f'{needed:,.0f}'} |")
    lines += [
        "",
        "questions that fit: the most questions of that track's mix within its limit (the test set's",
        "per-track sizes are not public; ~20,000 in all). prefill tokens/s needed: the rate at which the",
        f"given count just fits, the other constants kept (assumed: {c.prefill_tokens_per_s:,.0f}).",
    ]
    if ALL_AROUND in result and result[ALL_AROUND]["share_of_limit"] > 1:
        lines.append("The winning system answered the whole test set within Track 5's limit on this hardware, so "
                     "an OVER there means the constants are pessimistic: refit them from a GPU run (--refit).")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[int, dict]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEV_FILE, help="questions whose mix and lengths to use")
    parser.add_argument("--questions", default=None,
                        help="per track '1=8000,2=3000,...' or a total split like --data (default 20000)")
    parser.add_argument("--constants", type=Path, default=None, help="JSON of constants (e.g. from --save)")
    parser.add_argument("--refit", type=Path, default=None, help="report.json of a measured GPU run to fit")
    parser.add_argument("--save", type=Path, default=None, help="write the constants used to this JSON")
    args = parser.parse_args(argv)

    constants = Constants.load(args.constants) if args.constants else Constants()
    if args.refit:
        constants = refit(args.refit, base=constants)
        print(f"refitted from {args.refit}")
    with open(args.data, encoding="utf-8") as f:
        rows = [json.loads(line) for line in f if line.strip()]
    questions = question_costs(rows)
    result = estimate(questions, parse_counts(args.questions, questions), constants)
    print(render(result, constants))
    if args.save:
        args.save.parent.mkdir(parents=True, exist_ok=True)
        args.save.write_text(json.dumps(asdict(constants), indent=1))
    return result


if __name__ == "__main__":
    main()
