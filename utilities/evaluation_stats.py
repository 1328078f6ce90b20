"""How sure is a score? Seeded bootstrap intervals for a run's scores, and paired run-to-run differences.

A local run answers a few hundred questions; the hidden test set has ~20,000. A score of 0.62 on 8
questions of a task says little, and a change of two points between two runs may be noise. This
module puts a 95 % interval on every task, track and overall score of one run
(:func:`bootstrap`), and on the difference between two runs answered on the same questions
(:func:`paired_bootstrap`).

The statistic on each resample is recomputed exactly as the official evaluator computes it
(``utilities/metrics.py``, ``local_evaluation.score``):

- a task scored only by micro f1: tp / fp / fn summed over the task's resampled rows (each row's
  counts from :func:`utilities.metrics.tp_fp_fn`), then F1 (:func:`utilities.metrics.f1_from_counts`);
- any other task (including one mixing metrics, e.g. dev task17's bleu and jp-bleu rows): the mean
  of its rows' scores;
- a track: the mean of its tasks; Track 5: the mean of the Tracks 1-4 present; overall: the mean of
  all tasks.

Resampling is stratified by task (Davison & Hinkley, *Bootstrap Methods and their Application*,
1997, section 3.2, several samples): each resample draws, within
each task, as many questions as the task has, with replacement. How many questions each task has is
fixed by the data set's design, not sampled, so every task appears in every resample at its own size
and the track/overall averages keep their meaning. The interval is the percentile interval (the
2.5th and 97.5th percentiles of the replicates, numpy's default linear interpolation; Efron &
Tibshirani, *An Introduction to the Bootstrap*, 1993, chapter 13).

What the interval covers: which questions were asked (the question sample), with the model and its
answers held fixed. It says nothing about other models, other seeds or hidden-set tasks absent here.
Tasks with one or two questions get narrow or point intervals that understate their uncertainty: a
bootstrap cannot see variation a sample does not contain.

Paired comparison: the two runs are matched question by question (:func:`question_key`), and each
resample draws the SAME questions for both runs, so the difference's interval excludes the spread of
question difficulty that both runs share; it is much narrower than two separate intervals suggest.
"""
from __future__ import annotations

import hashlib
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Iterable, Mapping, Sequence

import numpy as np

from utilities.metrics import f1_from_counts, tp_fp_fn
from utilities.tracks import ALL_AROUND, TRACKS, track_of

# 2000 resamples: each percentile end point rests on the 50 most extreme replicates, and its Monte
# Carlo error is sqrt(0.025 * 0.975 / 2000) / phi(1.96) = 0.0035 / 0.058 = 0.06 standard errors, about
# 3 % of the interval's half-width (1.96 standard errors). The usual advice (Efron & Tibshirani
# 1993) is at least 1000 for percentile intervals. Cost: 2000 x 3,000 questions = 6M index draws,
# ~0.1 s with numpy.
N_RESAMPLES = 2000
# Any fixed value: the same records always give the same intervals, so a resumed run's report equals
# an uninterrupted one's and two reports' intervals are comparable. 2024: the challenge's year.
SEED = 2024
CONFIDENCE = 0.95  # the 2.5th and 97.5th percentiles
# Index draws per chunk: a task of 20,000 questions x 2000 resamples would be 40M int64 indices
# (320 MB, and as much again for the gathered scores) at once; at most 4M (32 MB) per call keeps
# memory flat. Fixed, so results do not depend on the machine.
MAX_DRAWS_PER_CHUNK = 4_000_000
MICRO_F1 = "micro f1"


# ---- names and keys ---------------------------------------------------------------------------

def natural_key(name) -> tuple:
    """Sort key in natural order: "task2" < "task10", and any mix of forms ("task2", "MCQ_SA",
    "3", "") compares without error.

    ``re.split`` with a capturing group alternates text and digits, always starting with text (""
    when the name starts with a digit), so position i holds a str when i is even and an int when i
    is odd in EVERY key: two keys never compare a str with an int. Text compares case-folded; the
    name itself breaks ties ("Task2" vs "task2").
    """
    text = str(name)
    parts = re.split(r"(\d+)", text)
    return tuple(int(p) if i % 2 else p.casefold() for i, p in enumerate(parts)), text


def question_key(task_name, input_field, occurrence: int) -> str:
    """A stable key of one question: sha256 of its task name, its prompt and how many earlier rows of
    the file have the same two (0 for the first), 16 hex digits (64 bits: a collision among a
    million questions has odds of about 1e6^2 / 2^65 = 3e-8).

    The occurrence count keeps exact duplicates apart without depending on the row's position, so a
    question keeps its key under ``--track`` / ``--limit`` and when a file gains or loses other rows.
    """
    text = f"{task_name}\x00{input_field}\x00{occurrence}"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def question_keys(rows: Iterable[Mapping]) -> list[str]:
    """The key of every row, in order (duplicates numbered by their occurrence)."""
    seen: Counter = Counter()
    keys = []
    for row in rows:
        pair = (str(row.get("task_name")), str(row.get("input_field")))
        keys.append(question_key(pair[0], pair[1], seen[pair]))
        seen[pair] += 1
    return keys


# ---- one task's rows as arrays ----------------------------------------------------------------

@dataclass(frozen=True)
class TaskRows:
    """One task's rows, ready to be resampled: per-row scores, or per-row (tp, fp, fn) when pooled."""

    name: str
    track: str  # the rows' challenge id
    pooled: bool  # True: micro f1 only, F1 of the summed counts; False: mean of `values`
    values: np.ndarray  # shape (n,) of scores, or (n, 3) of tp, fp, fn

    @property
    def size(self) -> int:
        return int(self.values.shape[0])

    def score(self, idx: np.ndarray | None = None) -> np.ndarray | float:
        """The task's score on the rows `idx` (shape (B, n): one resample per line), or on all rows."""
        if idx is None:
            if self.pooled:
                return f1_from_counts(*(int(v) for v in self.values.sum(axis=0)))
            return float(self.values.mean())
        if not self.pooled:
            return self.values[idx].mean(axis=1)
        tp, fp, fn = (self.values[:, k][idx].sum(axis=1).astype(np.float64) for k in range(3))
        return _f1(tp, fp, fn)


def _f1(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> np.ndarray:
    """`utilities.metrics.f1_from_counts` on arrays, the same operations in the same order."""
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(tp + fp > 0, tp / (tp + fp), 0.0)
        recall = np.where(tp + fn > 0, tp / (tp + fn), 0.0)
        f1 = np.where(precision + recall == 0, 0.0, 2 * precision * recall / (precision + recall))
    return f1


def group_by_task(records: Iterable[Mapping]) -> dict[str, list]:
    """Records grouped by ``task_name``, tasks in natural order (task2 before task10), records in order."""
    by_task: dict[str, list] = defaultdict(list)
    for r in records:
        by_task[r["task_name"]].append(r)
    return {name: by_task[name] for name in sorted(by_task, key=natural_key)}


def task_rows(records: Sequence[Mapping]) -> dict[str, TaskRows]:
    """Scored records (``local_evaluation.score``'s: task_name, track, metric, score, parsed, truth)
    grouped into :class:`TaskRows`, in natural order of task name. Records that carry a ``key`` are
    ordered by it within their task, so the intervals do not depend on the order questions were
    answered or listed in."""
    by_task = group_by_task(records)
    out = {}
    for name, group in by_task.items():
        if all(r.get("key") is not None for r in group):
            group = sorted(group, key=lambda r: r["key"])
        pooled = {r["metric"] for r in group} == {MICRO_F1}  # as score(): pooled only when micro f1 alone
        if pooled:
            values = np.array([tp_fp_fn(r["parsed"], r["truth"]) for r in group], dtype=np.int64).reshape(-1, 3)
        else:
            values = np.array([float(r["score"]) for r in group], dtype=np.float64)
        out[name] = TaskRows(name, group[0]["track"], pooled, values)
    return out


# ---- averaging, as the official evaluator ----------------------------------------------------

def aggregate(task_scores: Mapping[str, np.ndarray | float], task_track: Mapping[str, str]):
    """(tracks, overall) from task scores (floats, or arrays of replicates): a track is the mean of its
    tasks, Track 5 the mean of the Tracks 1-4 present, overall the mean of all tasks."""
    def mean(values):
        return np.mean(np.stack([np.asarray(v, dtype=np.float64) for v in values]), axis=0)

    tracks = {}
    for number, track in TRACKS.items():
        if number == ALL_AROUND:
            continue
        members = [v for name, v in task_scores.items() if task_track[name] == track.challenge_id]
        if members:
            tracks[number] = mean(members)
    if tracks:
        tracks[ALL_AROUND] = mean(tracks.values())
    overall = mean(task_scores.values()) if task_scores else np.float64(0.0)
    return tracks, overall


def _interval(replicates: np.ndarray) -> tuple[float, float]:
    tail = 100 * (1 - CONFIDENCE) / 2  # 2.5
    lo, hi = np.percentile(replicates, [tail, 100 - tail])
    return float(lo), float(hi)


def _draws(rng: np.random.Generator, n: int, n_resamples: int) -> Iterable[np.ndarray]:
    """Index arrays (rows of resamples) covering `n_resamples` resamples of `n` rows, in fixed chunks."""
    per_chunk = max(1, MAX_DRAWS_PER_CHUNK // max(n, 1))
    for start in range(0, n_resamples, per_chunk):
        yield rng.integers(0, n, size=(min(per_chunk, n_resamples - start), n), dtype=np.int64)


def _replicates(tasks: Sequence[TaskRows], rng: np.random.Generator, n_resamples: int) -> list[np.ndarray]:
    return [np.concatenate([t.score(idx) for idx in _draws(rng, t.size, n_resamples)]) for t in tasks]


# ---- one run ------------------------------------------------------------------------------------

@dataclass
class Intervals:
    """95 % percentile intervals of one run's scores, and the replicates they come from."""

    tasks: dict[str, tuple[float, float]]
    tracks: dict[int, tuple[float, float]]
    overall: tuple[float, float]
    resamples: int
    seed: int
    replicates: dict = field(default_factory=dict, repr=False)  # "tasks" / "tracks" / "overall" arrays

    def describe(self) -> dict:
        return {"confidence": CONFIDENCE, "resamples": self.resamples, "seed": self.seed,
                "method": "percentile bootstrap over questions, stratified by task; scores recomputed "
                          "per resample as the official evaluator does"}


def bootstrap(tasks: Mapping[str, TaskRows], n_resamples: int = N_RESAMPLES, seed: int = SEED) -> Intervals:
    """Intervals for every task, track and overall score of one run (tasks from :func:`task_rows`).

    One generator, seeded, draws the tasks' resamples in natural order of task name, so the same
    records give the same intervals whatever order they were answered in.
    """
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be at least 1, got {n_resamples}")
    ordered = [tasks[name] for name in sorted(tasks, key=natural_key)]
    empty = [t.name for t in ordered if t.size == 0]
    if empty:
        raise ValueError(f"tasks without questions cannot be resampled: {', '.join(empty)}")
    rng = np.random.default_rng(seed)
    reps = dict(zip((t.name for t in ordered), _replicates(ordered, rng, n_resamples)))
    track_reps, overall_reps = aggregate(reps, {t.name: t.track for t in ordered})
    return Intervals(
        tasks={name: _interval(r) for name, r in reps.items()},
        tracks={number: _interval(r) for number, r in track_reps.items()},
        overall=_interval(overall_reps),
        resamples=n_resamples, seed=seed,
        replicates={"tasks": reps, "tracks": track_reps, "overall": overall_reps},
    )


# ---- two runs, paired -------------------------------------------------------------------------

class NoSharedQuestions(ValueError):
    """Two runs to compare have no question in common."""


@dataclass
class Difference:
    questions: int
    a: float  # run A's score on the matched questions
    b: float
    diff: float  # b - a
    low: float
    high: float

    @property
    def excludes_zero(self) -> bool:
        return self.low > 0 or self.high < 0


@dataclass
class Comparison:
    matched: int
    only_a: int
    only_b: int
    tasks: dict[str, Difference]
    tracks: dict[int, Difference]
    overall: Difference
    resamples: int
    seed: int


def _keyed(records: Sequence[Mapping], run: str) -> dict[str, Mapping]:
    keys = [r.get("key") for r in records]
    if any(k is None for k in keys):  # a report written before keys existed: derive them the same way
        keys = question_keys(records)
    out: dict[str, Mapping] = {}
    for key, r in zip(keys, records):
        if key in out:
            raise ValueError(f"run {run}: question key {key} appears twice ({r.get('task_name')})")
        out[key] = r
    return out


def paired_bootstrap(records_a: Sequence[Mapping], records_b: Sequence[Mapping],
                     n_resamples: int = N_RESAMPLES, seed: int = SEED) -> Comparison:
    """B - A per task, track and overall, with 95 % intervals, on the questions both runs answered.

    Records are scored per-question records (``report.json``'s ``records``) carrying a ``key``
    (:func:`question_key`). Each resample draws the same questions, within each task, for both runs.
    Matched questions must agree on task, track, metric and truth; otherwise the runs were scored
    against different data and are refused.
    """
    a, b = _keyed(records_a, "A"), _keyed(records_b, "B")
    shared = sorted(set(a) & set(b))
    if not shared:
        raise NoSharedQuestions(
            f"the runs share no question (A: {len(a)}, B: {len(b)} questions; questions are matched by task "
            "name and prompt): compare runs of the same data")
    same = ("task_name", "track", "metric", "truth")
    differing = [k for k in shared if any(a[k].get(f) != b[k].get(f) for f in same)]
    if differing:
        raise ValueError(f"{len(differing)} of {len(shared)} matched questions differ in task, track, metric or truth "
                         f"between the runs (first: {a[differing[0]].get('task_name')}): they were scored against "
                         "different data")
    tasks_a, tasks_b = task_rows([a[k] for k in shared]), task_rows([b[k] for k in shared])
    names = list(tasks_a)  # natural order; the same tasks in both (same keys, same task names)
    rng = np.random.default_rng(seed)
    reps_a, reps_b = {}, {}
    for name in names:
        ta, tb = tasks_a[name], tasks_b[name]
        parts_a, parts_b = [], []
        for idx in _draws(rng, ta.size, n_resamples):
            parts_a.append(ta.score(idx))
            parts_b.append(tb.score(idx))
        reps_a[name], reps_b[name] = np.concatenate(parts_a), np.concatenate(parts_b)
    track_of_task = {name: tasks_a[name].track for name in names}
    tracks_a, overall_a = aggregate(reps_a, track_of_task)
    tracks_b, overall_b = aggregate(reps_b, track_of_task)
    point_a = {name: tasks_a[name].score() for name in names}
    point_b = {name: tasks_b[name].score() for name in names}
    ptracks_a, poverall_a = aggregate(point_a, track_of_task)
    ptracks_b, poverall_b = aggregate(point_b, track_of_task)

    def difference(n, pa, pb, ra, rb) -> Difference:
        lo, hi = _interval(np.asarray(rb) - np.asarray(ra))
        pa, pb = float(pa), float(pb)
        return Difference(n, pa, pb, pb - pa, lo, hi)

    questions_of_track = Counter()
    for name in names:
        number = track_of(track_of_task[name]).number
        questions_of_track[number] += tasks_a[name].size
    questions_of_track[ALL_AROUND] = len(shared)
    return Comparison(
        matched=len(shared), only_a=len(a) - len(shared), only_b=len(b) - len(shared),
        tasks={n: difference(tasks_a[n].size, point_a[n], point_b[n], reps_a[n], reps_b[n]) for n in names},
        tracks={t: difference(questions_of_track[t], ptracks_a[t], ptracks_b[t], tracks_a[t], tracks_b[t])
                for t in tracks_a},
        overall=difference(len(shared), poverall_a, poverall_b, overall_a, overall_b),
        resamples=n_resamples, seed=seed,
    )
