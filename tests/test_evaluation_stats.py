"""Bootstrap intervals and paired run comparisons (utilities/evaluation_stats.py), on hand-made records."""
from __future__ import annotations

import math
import random
import time

import numpy as np
import pytest

import local_evaluation
from utilities import evaluation_stats as es
from utilities.metrics import f1_from_counts
from utilities.tracks import TRACKS

T = {n: TRACKS[n].challenge_id for n in (1, 2, 3, 4, 5)}


def _acc(task, track, hits, key_prefix=None):
    """Accuracy records of one task: 1.0 for each True in `hits`."""
    return [{"task_name": task, "track": T[track], "metric": "accuracy", "score": float(h),
             "parsed": int(h), "truth": 1, **({"key": f"{key_prefix or task}-{i}"} if key_prefix is not False else {})}
            for i, h in enumerate(hits)]


def _ner(task, track, rows):
    """Micro f1 records: rows of (predicted entities, true entities)."""
    return [{"task_name": task, "track": T[track], "metric": "micro f1", "score": 0.0, "parsed": p, "truth": t,
             "key": f"{task}-{i}"} for i, (p, t) in enumerate(rows)]


# ---- names and keys ----------------------------------------------------------------------------

def test_natural_order_puts_task2_before_task10_and_sorts_any_mix_of_names_without_error():
    names = ["task10", "MCQ_SA", "task2", "3", "", "Task2", "task1", "NER_NER", 7]
    ordered = sorted(names, key=es.natural_key)
    assert ordered.index("task2") < ordered.index("task10") and ordered.index("task1") < ordered.index("task2")
    assert ordered.index("MCQ_SA") < ordered.index("NER_NER") < ordered.index("task1")
    with pytest.raises(TypeError):  # the old key: int for "taskN", the name otherwise
        sorted(["task2", "MCQ_SA"], key=lambda n: int(n[4:]) if n[4:].isdigit() else n)


def test_question_key_is_stable_and_keeps_exact_duplicates_apart():
    rows = [{"task_name": "task1", "input_field": "a"}, {"task_name": "task1", "input_field": "b"},
            {"task_name": "task1", "input_field": "a"}, {"task_name": "task2", "input_field": "a"}]
    keys = es.question_keys(rows)
    assert len(set(keys)) == 4  # the duplicate "a" of task1 gets its own key; task2's "a" differs
    assert es.question_keys(rows) == keys  # stable
    other = {"task_name": "task9", "input_field": "z"}
    assert es.question_keys([other] + rows)[1:] == keys  # another question before them changes nothing
    assert es.question_keys([rows[0], rows[3]]) == [keys[0], keys[3]]  # a selection keeps its keys


# ---- one run --------------------------------------------------------------------------------------

def test_the_identity_resample_gives_the_official_scores():
    """Resample = every row once: task, track and overall scores equal local_evaluation.score's."""
    from utilities.tasks import TASK_TYPES  # noqa: F401 - local_evaluation.score needs the registry

    rows = [  # (task, track, task_type, metric, truth, output)
        ("task1", 1, "multiple-choice", "accuracy", 2, "2"), ("task1", 1, "multiple-choice", "accuracy", 1, "3"),
        ("task1", 1, "multiple-choice", "accuracy", 0, "0"),
        ("task4", 1, "named_entity_recognition", "micro f1", ["nike", "red"], "nike, blue, shoes"),
        ("task4", 1, "named_entity_recognition", "micro f1", ["apple"], "apple"),
        ("task4", 1, "named_entity_recognition", "micro f1", ["a", "b", "c"], "x"),
        ("task7", 2, "retrieval", "hit rate@3", [1, 2], "1, 5, 6"), ("task7", 2, "retrieval", "hit rate@3", [3], "3"),
        ("task12", 3, "ranking", "ndcg", [3, 2, 1, 0], "1, 2, 3, 4"),
        ("task12", 3, "ranking", "ndcg", [0, 1, 2, 3], "1, 2, 3, 4"),
    ]
    data = [{"task_name": t, "track": T[k], "task_type": tt, "metric": m, "output_field": truth, "input_field": f"q{i}"}
            for i, (t, k, tt, m, truth, _) in enumerate(rows)]
    result = local_evaluation.score(data, [r[-1] for r in rows])
    tasks = es.task_rows(result["records"])
    assert tasks["task4"].pooled and not tasks["task1"].pooled
    identity = {name: t.score(np.arange(t.size)[None, :])[0] for name, t in tasks.items()}
    for name, value in identity.items():
        assert value == pytest.approx(result["tasks"][name]["score"], abs=1e-12), name
        assert tasks[name].score() == pytest.approx(result["tasks"][name]["score"], abs=1e-12), name
    tracks, overall = es.aggregate(identity, {n: t.track for n, t in tasks.items()})
    assert {n: float(v) for n, v in tracks.items()} == pytest.approx(result["tracks"], abs=1e-12)
    assert float(overall) == pytest.approx(result["overall"], abs=1e-12)


def test_micro_f1_replicates_pool_the_resampled_rows_counts_not_their_own_f1():
    # row 0: tp 1 fp 0 fn 0 (F1 1); row 1: tp 0 fp 1 fn 3 (F1 0). Two rows -> three possible resamples.
    tasks = es.task_rows(_ner("task4", 1, [(["a"], ["a"]), (["x"], ["b", "c", "d"])]))
    reps = es.bootstrap(tasks, n_resamples=400).replicates["tasks"]["task4"]
    pooled = {f1_from_counts(2, 0, 0), f1_from_counts(1, 1, 3), f1_from_counts(0, 2, 6)}  # 1.0, 1/3, 0.0
    assert set(np.round(reps, 12)) == set(np.round(sorted(pooled), 12))
    assert not np.any(np.isclose(reps, 0.5))  # the mean of the rows' own F1 for {row 0, row 1}


def test_a_task_of_one_question_has_a_point_interval_whatever_the_others_do():
    """Stratified: every resample holds each task at its own size, so a 1-question task never varies."""
    records = _acc("task1", 1, [True]) + _acc("task2", 1, [True, False] * 20)
    intervals = es.bootstrap(es.task_rows(records))
    assert intervals.tasks["task1"] == (1.0, 1.0)
    lo, hi = intervals.tasks["task2"]
    assert lo < 0.5 < hi


def test_track_and_overall_replicates_average_as_the_official_evaluator():
    records = (_acc("task1", 1, [True, False, True]) + _acc("task2", 1, [False] * 3 + [True])
               + _acc("task3", 2, [True, True, False]) + _acc("task5", 3, [False, True]))
    r = es.bootstrap(es.task_rows(records), n_resamples=300).replicates
    t = r["tasks"]
    np.testing.assert_allclose(r["tracks"][1], (t["task1"] + t["task2"]) / 2)
    np.testing.assert_allclose(r["tracks"][2], t["task3"])
    np.testing.assert_allclose(r["tracks"][5], (r["tracks"][1] + r["tracks"][2] + r["tracks"][3]) / 3)
    np.testing.assert_allclose(r["overall"], (t["task1"] + t["task2"] + t["task3"] + t["task5"]) / 4)
    assert 4 not in r["tracks"]  # no task of Track 4: Track 5 averages the tracks present


def test_same_records_give_the_same_intervals_in_any_order():
    rng = random.Random(3)
    records = _acc("task1", 1, [rng.random() < 0.6 for _ in range(30)]) + _acc("task2", 2, [rng.random() < 0.3
                                                                                          for _ in range(20)])
    first = es.bootstrap(es.task_rows(records))
    shuffled = records[:]
    rng.shuffle(shuffled)
    again = es.bootstrap(es.task_rows(shuffled))
    assert (again.tasks, again.tracks, again.overall) == (first.tasks, first.tracks, first.overall)
    other_seed = es.bootstrap(es.task_rows(records), seed=es.SEED + 1)
    assert other_seed.tasks != first.tasks  # the seed, not luck, makes them equal


def test_an_accuracy_interval_agrees_with_the_normal_approximation_on_a_large_task():
    # 400 questions, 200 right: standard error sqrt(0.25 / 400) = 0.025; 95 %: 0.5 +- 1.96 x 0.025 = 0.451..0.549
    intervals = es.bootstrap(es.task_rows(_acc("task1", 1, [True, False] * 200)))
    lo, hi = intervals.tasks["task1"]
    assert lo == pytest.approx(0.451, abs=0.008) and hi == pytest.approx(0.549, abs=0.008)


def test_a_task_without_rows_or_a_zero_resample_count_is_refused():
    with pytest.raises(ValueError, match="at least 1"):
        es.bootstrap(es.task_rows(_acc("task1", 1, [True])), n_resamples=0)
    empty = es.TaskRows("task9", T[1], False, np.zeros(0))
    with pytest.raises(ValueError, match="task9"):
        es.bootstrap({"task9": empty})


def test_intervals_of_a_few_thousand_questions_take_well_under_a_second():
    rng = random.Random(0)
    records = []
    for t in range(40):  # 40 tasks x 100 questions, every fifth task micro f1
        if t % 5 == 0:
            records += _ner(f"task{t}", 1 + t % 4, [(["a", "b"][:rng.randint(0, 2)], ["a", "c"]) for _ in range(100)])
        else:
            records += _acc(f"task{t}", 1 + t % 4, [rng.random() < 0.5 for _ in range(100)])
    t0 = time.perf_counter()
    es.bootstrap(es.task_rows(records))
    assert time.perf_counter() - t0 < 1.0  # measured ~0.15 s on 2 shared cores


# ---- two runs ------------------------------------------------------------------------------------

def test_a_run_compared_with_itself_differs_by_exactly_zero():
    records = _acc("task1", 1, [True, False, True, True]) + _ner("task4", 1, [(["a"], ["a", "b"]), (["c"], ["d"])])
    cmp = es.paired_bootstrap(records, records)
    assert cmp.matched == 6 and cmp.only_a == cmp.only_b == 0
    for d in [*cmp.tasks.values(), *cmp.tracks.values(), cmp.overall]:
        assert (d.diff, d.low, d.high) == (0.0, 0.0, 0.0)


def test_the_difference_is_b_minus_a_on_the_matched_questions_only():
    a = _acc("task1", 1, [False, False, True, False]) + _acc("task2", 2, [True, True])
    b = _acc("task1", 1, [True, True, True])  # answered the first three task1 questions only (same keys)
    cmp = es.paired_bootstrap(a, b)
    assert (cmp.matched, cmp.only_a, cmp.only_b) == (3, 3, 0)
    d = cmp.tasks["task1"]
    assert (d.questions, d.a, d.b) == (3, pytest.approx(1 / 3), 1.0)
    assert d.diff == pytest.approx(2 / 3) and set(cmp.tasks) == {"task1"}
    assert cmp.overall.diff == pytest.approx(2 / 3)


def test_questions_are_matched_by_key_not_by_position():
    a = _acc("task1", 1, [True, False, False, True, False, True])
    b = [dict(r, score=1.0 - r["score"]) for r in a]  # every answer flipped
    forward = es.paired_bootstrap(a, b)
    backward = es.paired_bootstrap(a, list(reversed(b)))
    assert (forward.overall.diff, forward.overall.low, forward.overall.high) == \
        (backward.overall.diff, backward.overall.low, backward.overall.high)


def test_the_paired_interval_is_narrower_than_either_runs_own_interval():
    rng = random.Random(5)
    a = _acc("task1", 1, [rng.random() < 0.5 for _ in range(200)])
    b = [dict(r, score=1.0) if i % 10 == 0 else dict(r) for i, r in enumerate(a)]  # B fixes one question in ten
    cmp = es.paired_bootstrap(a, b)
    own = es.bootstrap(es.task_rows(a)).tasks["task1"]
    assert cmp.overall.excludes_zero and cmp.overall.low > 0
    assert cmp.overall.high - cmp.overall.low < (own[1] - own[0]) / 2


def test_runs_that_share_no_question_are_refused_clearly():
    with pytest.raises(es.NoSharedQuestions, match="share no question"):
        es.paired_bootstrap(_acc("task1", 1, [True], key_prefix="x"), _acc("task1", 1, [True], key_prefix="y"))


def test_matched_questions_scored_against_different_truths_are_refused():
    a = _acc("task1", 1, [True, False])
    b = [dict(r, truth=2) for r in a]
    with pytest.raises(ValueError, match="different data"):
        es.paired_bootstrap(a, b)


def test_records_without_keys_are_matched_by_task_and_prompt():
    a = [dict(r, input_field=f"q{i}") for i, r in enumerate(_acc("task1", 1, [True, False, True], key_prefix=False))]
    assert "key" not in a[0]
    cmp = es.paired_bootstrap(a, [dict(r) for r in reversed(a)])
    assert cmp.matched == 3 and math.isclose(cmp.overall.diff, 0.0, abs_tol=0.0)
