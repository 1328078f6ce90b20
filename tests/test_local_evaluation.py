"""local_evaluation.py end to end on the tiny model, re-scored independently."""
from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

import local_evaluation
from utilities.tracks import TRACKS

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def report(tiny_model_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("eval")
    mp = pytest.MonkeyPatch()
    mp.setenv("SHOPBENCH_MODEL", str(tiny_model_dir))
    mp.setenv("SHOPBENCH_ENGINE", "transformers")
    try:
        local_evaluation.main(["--out", str(out)])
    finally:
        mp.undo()
    return out, json.loads((out / "report.json").read_text())


def test_help_shows_examples():
    text = subprocess.run([sys.executable, "local_evaluation.py", "--help"], cwd=REPO,
                          capture_output=True, text=True, check=True).stdout
    assert "Examples:" in text and "--track" in text and "--limit" in text and "--out" in text


def _refuse(argv, capsys) -> str:
    with pytest.raises(SystemExit) as stop:
        local_evaluation.main(argv)
    assert stop.value.code == 2
    return capsys.readouterr().err


@pytest.fixture(autouse=True)
def runs_root(tmp_path, monkeypatch):
    """Run folders made without --out go to <tmp_path>/runs, never into the repository's runs/."""
    root = tmp_path / "runs"
    monkeypatch.setenv("SHOPBENCH_RUNS", str(root))
    return root


@pytest.fixture
def no_model(monkeypatch):
    """Loading the model fails the test: these runs must stop before it."""
    import models.user_config

    def refuse():
        raise AssertionError("the model was loaded before the input was checked")

    monkeypatch.setattr(models.user_config, "UserModel", refuse)


def test_a_row_with_a_truth_but_without_the_scoring_fields_is_refused_with_its_line(tmp_path, capsys, no_model):
    data = tmp_path / "test.json"
    data.write_text(json.dumps({"input_field": "Which? 0. a 1. b", "is_multiple_choice": True, "output_field": 1}) + "\n")
    err = _refuse(["--data", str(data), "--out", str(tmp_path / "o")], capsys)
    assert f"{data}:1: no task_name, task_type, metric, track. Scoring needs" in err
    assert "a file whose rows have no output_field is answered without scores" in err  # what the tool does
    data.write_text("{not json\n")
    assert f"{data}:1: not a JSON object" in _refuse(["--data", str(data)], capsys)


def test_a_missing_multilingual_model_stops_the_run_before_any_question(dev_rows, tmp_path, capsys, monkeypatch,
                                                                       no_model):
    from utilities import metrics

    monkeypatch.delenv(metrics.MULTILINGUAL_ENV, raising=False)
    monkeypatch.setattr(metrics, "MULTILINGUAL_MODEL_PATH", None)
    row = dict(next(r for r in dev_rows if r["metric"] == "sent-transformer"), metric="multilingual-sent-transformer",
               task_name="task99")
    data = tmp_path / "ml.json"
    data.write_text(json.dumps(row) + "\n")
    err = _refuse(["--data", str(data), "--out", str(tmp_path / "o")], capsys)
    assert "1 selected questions (task99) are scored with multilingual-sent-transformer" in err
    assert "--multilingual-model FOLDER" in err and not (tmp_path / "o").exists()


@pytest.mark.parametrize("argv, message", [
    (["--limit", "0"], "must be at least 1"), (["--limit", "-5"], "must be at least 1"),
    (["--batch-size", "0"], "1 to 16"), (["--batch-size", "40"], "1 to 16"),
])
def test_limits_the_grader_would_not_send_are_refused(argv, message, capsys, no_model):
    assert message in _refuse(argv, capsys)


@pytest.mark.parametrize("argv, line", [
    (["--limit", "abc"], "--limit: 'abc' is not a whole number (give N >= 1)"),
    (["--limit", "0"], "--limit: must be at least 1, got 0 (give N >= 1)"),
    (["--per-task", "2.5"], "--per-task: '2.5' is not a whole number (give N >= 1)"),
    (["--batch-size", "many"], "--batch-size: 'many' is not a whole number (give 1 to 16, as the grader's batches hold)"),
    (["--batch-size", "40"], "--batch-size: the grader's batches hold 1 to 16 questions, got 40"),
    (["--track", "two"], "--track: 'two' is not a whole number (give 1-4, or 5 for all)"),
    (["--track", "9"], "--track: there is no track 9 (give 1-4, or 5 for all)"),
])
def test_limit_that_is_not_a_number_is_one_clear_line(argv, line, capsys, no_model):
    """The rule: a bad number is one line naming the flag, what was given and what to give (after a
    one-line usage that points at --help); no argparse type-function name ("invalid _at_least_one value")."""
    prog = local_evaluation.build_parser().prog
    assert _refuse(argv, capsys).splitlines() == [f"usage: {prog} [options] (--help lists them)",
                                                  f"{prog}: error: {line}"]


def test_a_run_writes_the_json_and_markdown_reports_and_a_chart_that_opens(report):
    out, data = report
    import matplotlib.image

    assert data["questions"] == 96 and len(data["records"]) == 96
    assert "| task1 |" in (out / "report.md").read_text()
    image = matplotlib.image.imread(out / "scores.png")
    assert image.shape[0] > 300 and image.shape[1] > 600


def test_every_record_has_the_fields_of_the_report(report):
    _, data = report
    keys = {"input_field", "task_name", "task_type", "metric", "track", "model_output", "parsed", "score"}
    assert all(keys <= set(r) for r in data["records"])


# --- an independent re-scoring of the records ----------------------------------------------

def _ndcg(pred, truth):
    pred = list(pred)[: len(truth)]
    dcg = sum((2 ** (truth[p - 1] if p - 1 < len(truth) else 0) - 1) / math.log2(i + 2) for i, p in enumerate(pred))
    ideal = sorted(truth, reverse=True)
    idcg = sum((2 ** r - 1) / math.log2(i + 2) for i, r in enumerate(ideal))
    return dcg / idcg if idcg else 0.0


def _text_scores(metric, preds, truths):
    if metric == "rougel":
        from rouge_score import rouge_scorer

        scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)
        return [scorer.score(p, t)["rougeL"].fmeasure for p, t in zip(preds, truths)]
    if metric in ("bleu", "jp-bleu"):
        import sacrebleu

        tok = "ja-mecab" if metric == "jp-bleu" else "13a"
        first = [p.lstrip("\n").rstrip("\n").split("\n")[0] for p in preds]
        return [sacrebleu.corpus_bleu([p], [[t]], smooth_method="exp", lowercase=True, tokenize=tok).score / 100
                for p, t in zip(first, truths)]
    if metric == "sent-transformer":
        import numpy as np
        from sentence_transformers import SentenceTransformer

        from utilities.metrics import minilm_folder

        model = SentenceTransformer(str(minilm_folder()), device="cpu")
        out = []
        for p, t in zip(preds, truths):
            u, v = model.encode([p, t])
            out.append(max(float(u @ v / (np.linalg.norm(u) * np.linalg.norm(v))), 0.0))
        return out
    raise AssertionError(metric)


def test_scores_agree_with_an_independent_rescoring(report):
    _, data = report
    by_task = defaultdict(list)
    for r in data["records"]:
        by_task[r["task_name"]].append(r)
    tasks = {}
    for name, recs in by_task.items():
        metric = recs[0]["metric"]
        if metric == "micro f1":
            tp = fp = fn = 0
            for r in recs:
                pred = [p.strip().lower() for p in r["parsed"]]
                truth = [t.lower() for t in r["truth"]]
                hit = len(set(pred) & set(truth))
                tp, fp, fn = tp + hit, fp + len(pred) - hit, fn + len(truth) - hit
            p = tp / (tp + fp) if tp + fp else 0.0
            rc = tp / (tp + fn) if tp + fn else 0.0
            tasks[name] = 2 * p * rc / (p + rc) if p + rc else 0.0
            continue
        scores = []
        for r in recs:
            if r["metric"] == "accuracy":
                scores.append(float(r["parsed"] == r["truth"]))
            elif r["metric"] == "hit rate@3":
                scores.append(len(set(r["truth"]) & set(r["parsed"][:3])) / len(r["truth"]))
            elif r["metric"] == "ndcg":
                scores.append(_ndcg(r["parsed"], r["truth"]))
            else:
                scores.extend(_text_scores(r["metric"], [r["parsed"]], [r["truth"]]))
        tasks[name] = sum(scores) / len(scores)
    for name, value in tasks.items():
        assert data["tasks"][name]["score"] == pytest.approx(value, abs=1e-6), name
    tracks = {}
    for number in (1, 2, 3, 4):
        mine = [v for n, v in tasks.items() if by_task[n][0]["track"] == TRACKS[number].challenge_id]
        tracks[number] = sum(mine) / len(mine)
        assert data["tracks"][str(number)] == pytest.approx(tracks[number], abs=1e-6)
    assert data["tracks"]["5"] == pytest.approx(sum(tracks.values()) / 4, abs=1e-6)
    assert data["overall"] == pytest.approx(sum(tasks.values()) / len(tasks), abs=1e-6)


def test_every_batch_is_timed_against_ten_seconds_per_question(report):
    _, data = report
    batches = data["timing"]["batches"]
    assert sum(b["size"] for b in batches) == 96
    for b in batches:
        assert b["limit_s"] == 10 * b["size"] and b["within_limit"] == (b["seconds"] <= b["limit_s"])
        assert len(b["questions"]) == b["size"]
    assert set(data["timing"]["per_track_s"]) == {"1", "2", "3", "4", "5"}


# --- data sources: suites, EC-Guide's published files, task names ----------------------------

FAST_METRICS = {"accuracy", "hit rate@3", "ndcg", "micro f1", "rougel"}  # scored without an embedding model


class RuleModel:
    """A stand-in model without ``last_notes`` (like a user's own): a fixed answer per prompt.

    ``truths`` (prompt -> multiple-choice answer) makes it answer those questions right."""

    def __init__(self, batch_size=4, truths=None, interrupt_after=None):
        self.batch_size, self.truths, self.interrupt_after = batch_size, truths or {}, interrupt_after
        self.asked: list[str] = []
        self.calls = 0

    def get_batch_size(self):
        return self.batch_size

    def batch_predict(self, batch, is_multiple_choice):
        if self.interrupt_after is not None and self.calls >= self.interrupt_after:
            raise KeyboardInterrupt  # what Ctrl-C raises in the main thread
        self.calls += 1
        self.asked += batch["prompt"]
        return [str(self.truths.get(p, len(p) % 3)) if is_multiple_choice else "1, 2, 3" for p in batch["prompt"]]


def _use(monkeypatch, *instances):
    """UserModel() returns the given models in turn."""
    import models.user_config

    queue = list(instances)
    monkeypatch.setattr(models.user_config, "UserModel", lambda: queue.pop(0))


def _fast_rows(dev_rows, per_task=2):
    seen = defaultdict(int)
    out = []
    for r in dev_rows:
        if r["metric"] in FAST_METRICS and seen[r["task_name"]] < per_task:
            seen[r["task_name"]] += 1
            out.append(r)
    return out


def _write(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _without_timing(report):
    """A report's content that must not depend on how the run was split in sessions."""
    return {k: v for k, v in report.items() if k not in ("timing", "run")}


def test_task_names_mixing_forms_sort_in_natural_order_instead_of_crashing(dev_rows, tmp_path, monkeypatch):
    mc = [r for r in dev_rows if r["task_type"] == "multiple-choice"][:6]
    rows = [dict(r, task_name=name) for r, name in zip(mc, ["task2", "MCQ_SA", "task10", "task2", "MCQ_SA", "task10"])]
    _use(monkeypatch, RuleModel())
    data = _write(tmp_path / "mixed.jsonl", rows)
    report = local_evaluation.main(["--data", str(data), "--out", str(tmp_path / "o")])
    assert list(report["tasks"]) == ["MCQ_SA", "task2", "task10"]
    md = (tmp_path / "o" / "report.md").read_text()
    assert md.index("| MCQ_SA |") < md.index("| task2 |") < md.index("| task10 |")


def test_a_suite_names_its_data_file_and_excludes_data(tmp_path, monkeypatch, capsys):
    from utilities.suites import SUITES

    assert "not allowed with argument" in _refuse(["--suite", "dev", "--data", "x.json"], capsys)
    assert "invalid choice" in _refuse(["--suite", "no-such-suite"], capsys)
    _use(monkeypatch, RuleModel())
    report = local_evaluation.main(["--suite", "dev", "--limit", "3", "--out", str(tmp_path / "o")])
    assert report["suite"] == "dev" and report["data"] == str(SUITES["dev"].resolve()) and report["questions"] == 3


ECGUIDE_ROWS = [  # hand-made in EC-Guide's published format (no task_name, track or is_multiple_choice)
    {"input_field": "Compare the two products below and answer yes if they are the same product, otherwise no.\n"
                    "product 1: {title: \"steel water bottle 750 ml\"}\n"
                    "product 2: {title: \"750ml stainless bottle\"}\n"
                    "Output: ", "output_field": "yes", "task_type": "multiple-choice", "metric": "bool"},
    {"input_field": "Which material is a cast iron pan made of?\n0. aluminium\n1. iron\n2. copper\n3. glass\nAnswer: ",
     "output_field": 1, "task_type": "multiple-choice", "metric": "accuracy"},
]


def test_an_ecguide_published_file_loads_with_its_stem_as_task_name_and_bool_rows_accepted(tmp_path, monkeypatch):
    path = tmp_path / "MCQ_PRP.json"
    path.write_text(json.dumps(ECGUIDE_ROWS))
    rows = local_evaluation.load_rows(path)
    assert len(rows) == 2 and {r["task_name"] for r in rows} == {"MCQ_PRP"}
    from utilities.metrics import METRICS

    assert all(r["metric"] in METRICS and r["is_multiple_choice"] for r in rows)  # "bool" became a scored metric
    _use(monkeypatch, RuleModel())
    report = local_evaluation.main(["--data", str(path), "--out", str(tmp_path / "o")])
    assert set(report["tasks"]) == {"MCQ_PRP"} and report["tasks"]["MCQ_PRP"]["questions"] == 2


def test_an_ecguide_row_the_converter_refuses_is_left_out_and_counted_by_reason(tmp_path, caplog):
    path = tmp_path / "Generation_PQA.json"
    good = {"input_field": "Answer the question: is it waterproof?\nOutput: ", "output_field": "yes",
            "task_type": "generation", "metric": "rougel"}
    path.write_text(json.dumps([good, {"output_field": "x", "task_type": "generation", "metric": "rougel"},
                                dict(good, output_field="")]))
    with caplog.at_level("WARNING", logger="shopbench.evaluation"):
        rows = local_evaluation.load_rows(path)
    assert [r["input_field"] for r in rows] == [good["input_field"]]
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 2 and all(f"{path}: 1 EC-Guide row(s) left out" in w for w in warnings)
    assert any("(rows 2, 1-based)" in w for w in warnings) and any("(rows 3, 1-based)" in w for w in warnings)


def test_an_ecguide_file_without_one_usable_row_is_refused_naming_it(tmp_path, capsys, no_model):
    path = tmp_path / "Generation_PQA.json"
    path.write_text(json.dumps([{"output_field": "x", "task_type": "generation", "metric": "rougel"}]))
    err = _refuse(["--data", str(path), "--out", str(tmp_path / "o")], capsys)
    assert f"{path}: none of its 1 rows can be used" in err and not (tmp_path / "o").exists()


def test_project_format_rows_with_metric_bool_are_still_refused(dev_rows, tmp_path, capsys, no_model):
    row = dict(next(r for r in dev_rows if r["task_type"] == "multiple-choice"), metric="bool")
    err = _refuse(["--data", str(_write(tmp_path / "b.jsonl", [row]))], capsys)
    assert "unknown metric 'bool'" in err


# --- intervals and per-task counts ---------------------------------------------------------------

def test_every_score_has_a_95_percent_interval_in_the_json_and_markdown(report):
    from utilities import evaluation_stats as es

    out, data = report
    again = es.bootstrap(es.task_rows(data["records"]))  # the report's own records, the module's constants
    for name, task in data["tasks"].items():
        lo, hi = task["ci95"]
        assert 0.0 <= lo <= hi <= 1.0 and [lo, hi] == list(again.tasks[name]), name
    assert {int(n): v for n, v in data["tracks_ci95"].items()} == {n: list(v) for n, v in again.tracks.items()}
    assert set(data["tracks_ci95"]) == set(data["tracks"]) and data["overall_ci95"] == list(again.overall)
    assert data["bootstrap"]["resamples"] == es.N_RESAMPLES and data["bootstrap"]["seed"] == es.SEED
    md = (out / "report.md").read_text()
    lo, hi = data["overall_ci95"]
    assert "| 95 % CI |" in md and f"(95 % CI {100 * lo:.2f}-{100 * hi:.2f})" in md


def test_every_task_counts_fallbacks_empty_replies_shortened_prompts_and_misroutes(report):
    from utilities.routing import route_task

    _, data = report
    by_task = defaultdict(list)
    for r in data["records"]:
        by_task[r["task_name"]].append(r)
    for name, recs in by_task.items():
        task = data["tasks"][name]
        assert task["fallbacks"] == sum(r["notes"]["fallback"] for r in recs), name
        assert task["raw_empty"] == sum(r["notes"]["raw_empty"] for r in recs), name
        assert task["shortened"] == sum(r["notes"]["shortened"] for r in recs), name
        routed = [route_task(r["input_field"], r["task_type"] == "multiple-choice") for r in recs]
        assert [r["notes"]["task_type"] for r in recs] == routed, name  # ShopBenchModel's note = the router
        assert task["misrouted"] == sum(t != r["task_type"] for t, r in zip(routed, recs)), name
    # the tiny random model leaves many replies empty: the counts must see them
    assert sum(t["raw_empty"] for t in data["tasks"].values()) > 0
    assert sum(t["fallbacks"] for t in data["tasks"].values()) >= sum(t["raw_empty"] for t in data["tasks"].values())


def test_a_model_without_notes_gets_the_routers_types_and_unknown_counts(dev_rows, tmp_path, monkeypatch):
    rows = _fast_rows(dev_rows, 1)
    mislabelled = dict(next(r for r in rows if r["task_type"] == "retrieval"), task_name="taskX", task_type="ranking",
                       metric="ndcg", output_field=[1, 0, 0, 0])
    _use(monkeypatch, RuleModel())
    report = local_evaluation.main(["--data", str(_write(tmp_path / "d.jsonl", rows + [mislabelled])),
                                    "--out", str(tmp_path / "o")])
    for name, task in report["tasks"].items():
        assert (task["fallbacks"], task["raw_empty"], task["shortened"]) == (None, None, None)
        assert task["misrouted"] == (1 if name == "taskX" else 0), name
    assert "| ? | ? | ? |" in (tmp_path / "o" / "report.md").read_text()


# --- records on disk, resume, interruption -------------------------------------------------------

def test_each_batch_is_on_disk_before_the_next_batch_starts(dev_rows, tmp_path, monkeypatch):
    out = tmp_path / "o"
    seen = []

    class Watching(RuleModel):
        def batch_predict(self, batch, is_multiple_choice):
            lines = (out / "records.jsonl").read_text().splitlines()
            seen.append((len(lines), len(self.asked)))
            return super().batch_predict(batch, is_multiple_choice)

    _use(monkeypatch, Watching(batch_size=3))
    report = local_evaluation.main(["--data", str(_write(tmp_path / "d.jsonl", _fast_rows(dev_rows))),
                                    "--out", str(out)])
    assert len(seen) > 3 and all(on_disk == answered for on_disk, answered in seen)
    records = [json.loads(line) for line in (out / "records.jsonl").read_text().splitlines()]
    assert sorted(r["key"] for r in records) == sorted(r["key"] for r in report["records"])
    assert all({"key", "answer", "notes", "batch", "batch_s"} <= set(r) for r in records)


def test_an_interrupted_run_resumed_reports_exactly_what_an_uninterrupted_run_reports(dev_rows, tiny_model_dir,
                                                                                        tmp_path, monkeypatch, capsys):
    """The tiny model; Ctrl-C (KeyboardInterrupt) after 3 batches; --resume finishes without asking again."""
    from models.user_config import UserModel

    monkeypatch.setenv("SHOPBENCH_MODEL", str(tiny_model_dir))
    monkeypatch.setenv("SHOPBENCH_ENGINE", "transformers")
    seen = defaultdict(int)
    rows = []
    for r in dev_rows:  # two questions of every task: every task type and metric, 37 questions
        if seen[r["task_name"]] < 2 or r["metric"] == "jp-bleu":
            seen[r["task_name"]] += 1
            rows.append(r)
    data = _write(tmp_path / "d.jsonl", rows)
    argv = ["--data", str(data), "--batch-size", "4", "--limit", "30"]

    class Counting:
        """The real model, counting the prompts it is asked; raises KeyboardInterrupt on call `stop`."""

        def __init__(self, stop=None):
            self.inner, self.stop, self.asked = UserModel(), stop, []

        def batch_predict(self, batch, is_multiple_choice):
            if self.stop is not None and len(self.asked) >= 4 * self.stop:
                raise KeyboardInterrupt
            self.asked += batch["prompt"]
            return self.inner.batch_predict(batch, is_multiple_choice)

        def __getattr__(self, name):  # engine, last_notes, get_batch_size: the real model's
            return getattr(self.inner, name)

    whole, first, second = Counting(), Counting(stop=3), Counting()
    _use(monkeypatch, whole, first, second)
    uninterrupted = local_evaluation.main(argv + ["--out", str(tmp_path / "whole")])
    with pytest.raises(SystemExit) as stop:
        local_evaluation.main(argv + ["--out", str(tmp_path / "split")])
    assert stop.value.code == local_evaluation.INTERRUPTED
    err = capsys.readouterr().err
    assert "12 of 30 questions are recorded" in err and f"--resume {tmp_path / 'split'}" in err and "--limit 30" in err
    assert not (tmp_path / "split" / "report.json").exists()
    resumed = local_evaluation.main(["--resume", str(tmp_path / "split"), "--data", str(data), "--limit", "30"])
    from collections import Counter

    assert len(first.asked) == 12 and len(second.asked) == 30 - 12  # nothing recorded was asked again
    assert Counter(first.asked + second.asked) == Counter(r["input_field"] for r in rows[:30])
    assert _without_timing(resumed) == _without_timing(uninterrupted)
    assert resumed["run"]["answered_before_resume"] == 12 and len(resumed["timing"]["batches"]) == len(
        uninterrupted["timing"]["batches"])


def test_per_task_takes_the_first_rows_of_every_task_in_file_order(dev_rows):
    picked = local_evaluation.select_indices(dev_rows, 5, None, per_task=2)
    tasks = [dev_rows[i]["task_name"] for i in picked]
    assert len(picked) == 2 * len({r["task_name"] for r in dev_rows}) and all(tasks.count(t) == 2 for t in tasks)
    assert picked == sorted(picked)
    first_two = {t: [i for i, r in enumerate(dev_rows) if r["task_name"] == t][:2] for t in set(tasks)}
    assert sorted(picked) == sorted(i for ix in first_two.values() for i in ix)
    assert local_evaluation.select_indices(dev_rows, 5, 3, per_task=2) == picked[:3]


def test_resume_refuses_another_track_limit_data_or_batch_size(dev_rows, tmp_path, monkeypatch, capsys):
    data = _write(tmp_path / "d.jsonl", _fast_rows(dev_rows))
    run = tmp_path / "run"
    _use(monkeypatch, RuleModel(interrupt_after=2))
    with pytest.raises(SystemExit):
        local_evaluation.main(["--data", str(data), "--out", str(run)])
    capsys.readouterr()
    base = ["--resume", str(run), "--data", str(data)]
    assert "track: the run has 5, this command 2" in _refuse(base + ["--track", "2"], capsys)
    assert "limit: the run has None, this command 5" in _refuse(base + ["--limit", "5"], capsys)
    assert "per_task: the run has None, this command 2" in _refuse(base + ["--per-task", "2"], capsys)
    other = _write(tmp_path / "other.jsonl", _fast_rows(dev_rows))
    assert "data: the run has" in _refuse(["--resume", str(run), "--data", str(other)], capsys)
    assert "suite: the run has None, this command 'dev'" in _refuse(["--resume", str(run)], capsys)
    assert "--batch-size 4" in _refuse(base + ["--batch-size", "2"], capsys)
    assert "drop --out" in _refuse(base + ["--out", str(tmp_path / "elsewhere")], capsys)
    assert "no run.json" in _refuse(["--resume", str(tmp_path), "--data", str(data)], capsys)
    _write(data, _fast_rows(dev_rows)[1:])  # the file changed under the run
    assert "changed since the run began" in _refuse(base, capsys)


def test_a_batch_cut_short_by_a_kill_is_answered_again_on_resume(dev_rows, tmp_path, monkeypatch):
    data = _write(tmp_path / "d.jsonl", _fast_rows(dev_rows))
    _use(monkeypatch, RuleModel(), RuleModel(interrupt_after=4), RuleModel())
    whole = local_evaluation.main(["--data", str(data), "--out", str(tmp_path / "whole")])
    run = tmp_path / "run"
    with pytest.raises(SystemExit):
        local_evaluation.main(["--data", str(data), "--out", str(run)])
    lines = (run / "records.jsonl").read_text().splitlines(keepends=True)
    assert len(lines) == 16  # 4 batches of 4
    # a kill in the middle of writing the 4th batch: two whole lines of it and half a third one
    (run / "records.jsonl").write_text("".join(lines[:14]) + lines[14][:20])
    resumed = local_evaluation.main(["--resume", str(run), "--data", str(data)])
    assert resumed["run"]["answered_before_resume"] == 12
    assert _without_timing(resumed) == _without_timing(whole)


_DRIVER = """
import json, sys, time, types
sys.path.insert(0, {repo!r})
import local_evaluation


class Model:
    calls = 0

    def get_batch_size(self):
        return 4

    def batch_predict(self, batch, is_multiple_choice):
        Model.calls += 1
        if Model.calls > {stop}:
            open({marker!r}, "w").close()
            time.sleep(120)
        return ["1" if is_multiple_choice else "1, 2, 3" for _ in batch["prompt"]]


module = types.ModuleType("models.user_config")
module.UserModel = Model
sys.modules["models.user_config"] = module
local_evaluation.main(sys.argv[1:])
"""


@pytest.mark.parametrize("sig", ["SIGINT", "SIGKILL"])
def test_a_signal_leaves_every_finished_batch_on_disk_and_the_run_resumes(sig, dev_rows, tmp_path, monkeypatch):
    import signal
    import time

    rows = _fast_rows(dev_rows)
    data, run, marker = _write(tmp_path / "d.jsonl", rows), tmp_path / "run", tmp_path / "blocked"
    driver = tmp_path / "driver.py"
    driver.write_text(_DRIVER.format(repo=str(REPO), stop=3, marker=str(marker)))
    proc = subprocess.Popen([sys.executable, str(driver), "--data", str(data), "--out", str(run)], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not marker.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert marker.exists(), proc.communicate(timeout=5)
        proc.send_signal(getattr(signal, sig))
        _, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    planned = local_evaluation.plan_batches(rows, 4)
    on_disk = [json.loads(line) for line in (run / "records.jsonl").read_text().splitlines()]
    assert sorted(r["index"] for r in on_disk) == sorted(i for _, chunk in planned[:3] for i in chunk)
    if sig == "SIGINT":
        assert proc.returncode == local_evaluation.INTERRUPTED
        assert "interrupted: 12 of" in err and f"--resume {run}" in err
    else:
        assert proc.returncode == -signal.SIGKILL
    constant = RuleModel()
    constant.batch_predict = lambda batch, mc: ["1" if mc else "1, 2, 3" for _ in batch["prompt"]]
    again = RuleModel()
    again.batch_predict = constant.batch_predict
    _use(monkeypatch, constant, again)
    resumed = local_evaluation.main(["--resume", str(run), "--data", str(data)])
    whole = local_evaluation.main(["--data", str(data), "--out", str(tmp_path / "whole")])
    assert _without_timing(resumed) == _without_timing(whole)


# --- comparing two runs --------------------------------------------------------------------------

def test_compare_gives_paired_differences_per_task_and_overall_and_writes_them(dev_rows, tmp_path, monkeypatch,
                                                                             capsys):
    rows = _fast_rows(dev_rows, 4)
    data = _write(tmp_path / "d.jsonl", rows)
    truths = {r["input_field"]: r["output_field"] for r in rows if r["task_type"] == "multiple-choice"}
    _use(monkeypatch, RuleModel(), RuleModel(truths=truths))
    local_evaluation.main(["--data", str(data), "--out", str(tmp_path / "a")])
    local_evaluation.main(["--data", str(data), "--out", str(tmp_path / "b"), "--limit", "20"])
    capsys.readouterr()
    result = local_evaluation.main(["--compare", str(tmp_path / "a"), str(tmp_path / "b")])
    printed = capsys.readouterr().out
    assert result["matched"] == 20 and result["only_a"] == len(rows) - 20 and result["only_b"] == 0
    assert "20 questions matched (A alone: %d, B alone: 0)" % (len(rows) - 20) in printed
    assert (tmp_path / "b" / "compare.md").read_text().count("| task") >= 1
    saved = json.loads((tmp_path / "b" / "compare.json").read_text())
    assert saved["overall"]["diff"] == pytest.approx(saved["overall"]["b"] - saved["overall"]["a"])
    mc_tasks = {r["task_name"] for r in rows[:20] if r["task_type"] == "multiple-choice"}
    for name in mc_tasks:  # B answers every multiple-choice question right: never worse than A
        assert saved["tasks"][name]["b"] == 1.0 and saved["tasks"][name]["low"] >= 0.0
    others = {r["task_name"] for r in rows[:20]} - mc_tasks
    for name in others:  # the same answers in both runs
        assert (saved["tasks"][name]["diff"], saved["tasks"][name]["low"], saved["tasks"][name]["high"]) == (0, 0, 0)


def test_compare_refuses_runs_without_shared_questions_or_without_a_report(dev_rows, tmp_path, monkeypatch, capsys):
    rows = _fast_rows(dev_rows)
    _use(monkeypatch, RuleModel(), RuleModel(interrupt_after=1), RuleModel())
    local_evaluation.main(["--data", str(_write(tmp_path / "a.jsonl", rows[:6])), "--out", str(tmp_path / "a")])
    with pytest.raises(SystemExit):
        local_evaluation.main(["--data", str(_write(tmp_path / "c.jsonl", rows)), "--out", str(tmp_path / "c")])
    local_evaluation.main(["--data", str(_write(tmp_path / "b.jsonl", rows[6:12])), "--out", str(tmp_path / "b")])
    capsys.readouterr()
    assert "share no question" in _refuse(["--compare", str(tmp_path / "a"), str(tmp_path / "b")], capsys)
    assert "finish it with --resume" in _refuse(["--compare", str(tmp_path / "a"), str(tmp_path / "c")], capsys)


def test_the_track_chart_draws_each_interval_as_an_error_bar(tmp_path, monkeypatch):
    from matplotlib.axes import Axes

    drawn = []
    original = Axes.bar

    def bar(self, *args, **kwargs):
        drawn.append(kwargs.get("yerr"))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Axes, "bar", bar)
    tracks = {1: 0.40, 2: 0.25, 5: 0.325}
    intervals = {1: [0.30, 0.55], 2: [0.10, 0.35], 5: [0.25, 0.40]}
    local_evaluation.write_chart(tracks, tmp_path / "c.png", "t", intervals)
    low, high = drawn[0]  # the run's bars; the leaderboard's have none
    # tracks 1, 2, 3, 4, 5 in percent: score - low end, high end - score; no interval, no bar
    assert low == pytest.approx([10, 15, 0, 0, 7.5]) and high == pytest.approx([15, 10, 0, 0, 7.5])
    assert drawn[1] is None


def test_the_report_shows_how_often_each_option_is_answered_and_true():
    records = [{"task_name": "MCQ_SA", "task_type": "multiple-choice", "parsed": p, "truth": t}
               for p, t in [(1, 1), (1, 3), (1, 5), (2, 3)]]
    records.append({"task_name": "task4", "task_type": "named_entity_recognition", "parsed": ["a"], "truth": ["a"]})
    shares = local_evaluation.choice_shares(records)
    assert shares == {"MCQ_SA": {"answered": {1: 3, 2: 1}, "truth": {1: 1, 3: 2, 5: 1}}}
    assert "| MCQ_SA | 1: 75 %, 2: 25 % | 1: 25 %, 3: 50 %, 5: 25 % |" in local_evaluation.render_choices(shares)


# --- run folders: kept, runs/latest, --out ------------------------------------------------------

@pytest.fixture
def named_model(monkeypatch, tmp_path):
    """SHOPBENCH_MODEL and SHOPBENCH_ENGINE set, so a run folder's name needs no CUDA probe."""
    monkeypatch.setenv("SHOPBENCH_MODEL", str(tmp_path / "my-model"))
    monkeypatch.setenv("SHOPBENCH_ENGINE", "transformers")


def _runs(root):
    return sorted(p for p in root.iterdir() if not p.is_symlink())


def test_two_evaluations_in_a_row_leave_two_reports(dev_rows, tmp_path, monkeypatch, runs_root, named_model, capsys):
    data = _write(tmp_path / "d.jsonl", _fast_rows(dev_rows))
    _use(monkeypatch, RuleModel(), RuleModel())
    first = local_evaluation.main(["--data", str(data), "--limit", "4"])
    second = local_evaluation.main(["--data", str(data), "--limit", "4", "--track", "1"])
    runs = _runs(runs_root)
    assert len(runs) == 2 and all((r / "report.json").is_file() and (r / "report.md").is_file() for r in runs)
    assert [first["run"]["folder"], second["run"]["folder"]] == [str(r) for r in runs]
    assert re.fullmatch(r"\d{8}-\d{6}-my-model-transformers-d-n4(-2)?", runs[0].name), runs[0].name
    assert re.fullmatch(r"\d{8}-\d{6}-my-model-transformers-d-t1-n4(-2)?", runs[1].name), runs[1].name
    printed = capsys.readouterr().out
    assert printed.count(f"run folder: {runs[1]}") == 2  # at the start and at the end


def test_runs_latest_points_at_the_newest_run(dev_rows, tmp_path, monkeypatch, runs_root, named_model, capsys):
    data = _write(tmp_path / "d.jsonl", _fast_rows(dev_rows))
    _use(monkeypatch, RuleModel(), RuleModel(interrupt_after=2), RuleModel())
    local_evaluation.main(["--data", str(data)])
    with pytest.raises(SystemExit):  # the newest run, interrupted after 2 batches
        local_evaluation.main(["--data", str(data), "--limit", "20"])
    latest = runs_root / "latest"
    newest = _runs(runs_root)[-1]
    assert latest.is_symlink() and os.readlink(latest) == newest.name  # relative: the runs folder can move
    assert f"--resume {newest}" in capsys.readouterr().err  # the real folder, not the link that moves
    resumed = local_evaluation.main(["--resume", str(latest), "--data", str(data), "--limit", "20"])
    assert resumed["run"]["folder"] == str(newest) and resumed["run"]["answered_before_resume"] == 8
    assert (newest / "report.json").is_file() and len(_runs(runs_root)) == 2 and os.readlink(latest) == newest.name


def test_out_writes_exactly_that_folder_and_leaves_runs_latest_alone(dev_rows, tmp_path, monkeypatch, runs_root,
                                                                    named_model, capsys):
    data = _write(tmp_path / "d.jsonl", _fast_rows(dev_rows))
    _use(monkeypatch, RuleModel(), RuleModel())
    local_evaluation.main(["--data", str(data), "--limit", "4"])
    before = os.readlink(runs_root / "latest")
    local_evaluation.main(["--data", str(data), "--limit", "4", "--out", str(tmp_path / "mine")])
    assert (tmp_path / "mine" / "report.json").is_file() and os.readlink(runs_root / "latest") == before
    assert len(_runs(runs_root)) == 1
    # the old habit, --out runs/latest, would overwrite the newest run through the link
    err = _refuse(["--data", str(data), "--out", str(runs_root / "latest")], capsys)
    assert "is the link to the newest run" in err and (runs_root / before / "report.json").is_file()


def test_a_run_folder_is_named_after_the_model_the_engine_would_pick(monkeypatch):
    from models import engines, settings

    monkeypatch.delenv("SHOPBENCH_MODEL", raising=False)
    monkeypatch.delenv("SHOPBENCH_ENGINE", raising=False)
    monkeypatch.setattr(engines, "cuda_available", lambda: False)
    assert local_evaluation.model_label() == ["smollm2-135m-instruct", "transformers"]
    monkeypatch.setattr(engines, "cuda_available", lambda: True)
    assert local_evaluation.model_label() == [settings.configured_checkpoint().name, "vllm"]
    monkeypatch.setenv("SHOPBENCH_MODEL", "/somewhere/qwen-ft/")
    monkeypatch.setenv("SHOPBENCH_ENGINE", "Transformers")
    assert local_evaluation.model_label() == ["qwen-ft", "transformers"]


# --- a subset's report says so and shows only its tracks ----------------------------------------

def test_track_subset_report_shows_only_its_tracks(dev_rows, tmp_path, monkeypatch):
    rows = _fast_rows(dev_rows)
    data, out = _write(tmp_path / "d.jsonl", rows), tmp_path / "o"
    _use(monkeypatch, RuleModel())
    report = local_evaluation.main(["--data", str(data), "--track", "2", "--out", str(out)])
    in_track = sum(r["track"] == TRACKS[2].challenge_id for r in rows)
    note = (f"subset: {in_track} of the {len(rows)} questions (track 2 only); not comparable with the "
            "leaderboard's full-track scores")
    assert report["subset"] == {"questions": in_track, "of": len(rows), "track": 2, "per_task": None, "limit": None,
                                "note": note}
    saved = json.loads((out / "report.json").read_text())
    assert set(saved["tracks"]) == set(saved["tracks_ci95"]) == set(saved["timing"]["per_track_s"]) == {"2"}
    assert saved["all_around"] is None and saved["subset"]["note"] == note
    md = (out / "report.md").read_text()
    assert md.splitlines()[2] == note and "| 2 shopping knowledge reasoning |" in md and "all-around" not in md


def test_the_all_around_row_appears_only_for_track_5_and_says_what_it_averages(dev_rows, tmp_path, monkeypatch):
    rows = _fast_rows(dev_rows)
    data, out = _write(tmp_path / "d.jsonl", rows), tmp_path / "o"
    _use(monkeypatch, RuleModel())
    report = local_evaluation.main(["--data", str(data), "--limit", "14", "--out", str(out)])
    covered = sorted({local_evaluation._track_number(r) for r in rows[:14]})
    assert report["subset"]["note"].startswith(f"subset: 14 of the {len(rows)} questions (the first 14); not comparable")
    assert sorted(int(n) for n in report["tracks"]) == covered + [5]
    label = f"5 all-around (mean of tracks {', '.join(map(str, covered))}, over the selected questions)"
    assert report["all_around"] == label and f"| {label} |" in (out / "report.md").read_text()
    # the all-around row is still the mean of the tracks above it: the scoring is unchanged
    assert report["tracks"][5] == pytest.approx(sum(report["tracks"][n] for n in covered) / len(covered))


def test_a_whole_run_is_no_subset_and_its_all_around_row_averages_the_four_tracks(report):
    _, data = report
    assert data["subset"] is None
    assert data["all_around"] == "5 all-around (mean of tracks 1, 2, 3, 4, over the selected questions)"


# --- answer-only: data without truths -----------------------------------------------------------

def _questions(dev_rows):
    """Rows as a test file holds them: input_field and is_multiple_choice; some with their task_type."""
    rows = _fast_rows(dev_rows, 1)[:6]
    return [{"input_field": r["input_field"], "is_multiple_choice": r["task_type"] == "multiple-choice"}
            | ({"task_type": r["task_type"]} if i % 2 else {}) for i, r in enumerate(rows)]


def test_answer_only_mode_writes_answers_without_scores(dev_rows, tmp_path, monkeypatch, runs_root, named_model,
                                                        capsys):
    from utilities.routing import route_task

    questions = _questions(dev_rows)
    data = _write(tmp_path / "test.jsonl", questions)
    model = RuleModel(batch_size=2)
    _use(monkeypatch, model)
    report = local_evaluation.main(["--data", str(data)])
    run = _runs(runs_root)[0]
    assert run.name.endswith("-my-model-transformers-test-answers") and os.readlink(runs_root / "latest") == run.name
    answers = [json.loads(line) for line in (run / "answers.jsonl").read_text().splitlines()]
    assert [a["line"] for a in answers] == list(range(1, len(questions) + 1))
    for q, a in zip(questions, answers):
        assert a["task_type"] == q.get("task_type", route_task(q["input_field"], q["is_multiple_choice"]))
        assert a["task_type_from"] == ("row" if "task_type" in q else "router")
        assert a["answer"] == ("1, 2, 3" if not q["is_multiple_choice"] else str(len(q["input_field"]) % 3))
    assert sorted(model.asked) == sorted(q["input_field"] for q in questions)
    assert len((run / "records.jsonl").read_text().splitlines()) == len(questions)
    md = (run / "report.md").read_text()
    assert "answer only, no scores: no row of the data has a truth (output_field)" in md and "answers.jsonl" in md
    assert report["answer_only"] and report["overall"] is None and not (run / "scores.png").exists()
    assert "answer only, no scores" in capsys.readouterr().out
    assert "has no scores to compare" in _refuse(["--compare", str(run), str(run)], capsys)


def test_answer_only_flag_skips_scoring_on_data_with_truths(dev_rows, tmp_path, monkeypatch, capsys):
    rows = _fast_rows(dev_rows)
    data, out = _write(tmp_path / "d.jsonl", rows), tmp_path / "o"
    monkeypatch.setattr(local_evaluation, "score", lambda *a, **k: pytest.fail("an answer-only run was scored"))
    _use(monkeypatch, RuleModel(interrupt_after=2), RuleModel())
    with pytest.raises(SystemExit):
        local_evaluation.main(["--data", str(data), "--answer-only", "--limit", "12", "--out", str(out)])
    assert "--answer-only" in capsys.readouterr().err  # the resume command gives it again
    assert "give --answer-only again" in _refuse(["--resume", str(out), "--data", str(data), "--limit", "12"], capsys)
    report = local_evaluation.main(["--resume", str(out), "--data", str(data), "--limit", "12", "--answer-only"])
    assert report["answer_only"] and report["reason"] == "--answer-only was given"
    assert [a["task_type"] for a in report["records"]] == [r["task_type"] for r in rows[:12]]
    assert report["subset"]["note"] == f"subset: 12 of the {len(rows)} questions (the first 12)"
    assert len((out / "answers.jsonl").read_text().splitlines()) == 12


def test_a_file_mixing_rows_with_and_without_truths_is_refused_naming_each_row_without(dev_rows, tmp_path, capsys,
                                                                                        no_model):
    rows = _fast_rows(dev_rows, 1)[:3]
    data = _write(tmp_path / "d.jsonl", [rows[0], _questions(dev_rows)[0], rows[1], _questions(dev_rows)[2]])
    err = _refuse(["--data", str(data)], capsys)
    assert f"{data}:2: no output_field (the truth), while 2 other row(s) have one: give every row its truth, or " \
           "pass --answer-only to answer every row without scores" in err and f"{data}:4: no output_field" in err


def test_an_answer_only_row_is_checked_for_what_answering_needs(dev_rows, tmp_path, capsys, no_model):
    rows = [{"input_field": "Rate it", "is_multiple_choice": "yes"}, {"input_field": "Rank these"},
            {"input_field": "Which? 0. a 1. b", "is_multiple_choice": True, "task_type": "generation"}]
    data = _write(tmp_path / "d.jsonl", rows)
    err = _refuse(["--data", str(data)], capsys)
    assert f"{data}:1: is_multiple_choice must be true or false, got 'yes'" in err
    assert f"{data}:2: no is_multiple_choice. Answering needs input_field (the prompt) and is_multiple_choice" in err
    assert f"{data}:3: task_type generation with is_multiple_choice true" in err
    assert f"{data}: 3 rows cannot be answered; nothing was answered" in err


# --- a mistake in the setup while loading: one line, exit 2 -------------------------------------

def _failing_load(monkeypatch, message="SHOPBENCH_BATCH_SIZE='x': not a whole number; give 1 to 16"):
    import models.user_config
    from utilities.errors import SetupError

    def load():
        raise SetupError(message)

    monkeypatch.setattr(models.user_config, "UserModel", load)


def test_setup_error_while_loading_is_one_line_exit_2(dev_rows, tmp_path, monkeypatch, runs_root, named_model,
                                                      capsys):
    from utilities.errors import run_command

    data = _write(tmp_path / "d.jsonl", _fast_rows(dev_rows))
    _use(monkeypatch, RuleModel())
    local_evaluation.main(["--data", str(data), "--limit", "4"])
    before = os.readlink(runs_root / "latest")
    _failing_load(monkeypatch)
    capsys.readouterr()
    with pytest.raises(SystemExit) as stop:
        run_command(local_evaluation.main, ["--data", str(data)], prog="local_evaluation.py")
    assert stop.value.code == 2
    err = capsys.readouterr().err
    [line] = err.splitlines()
    assert re.fullmatch(r"local_evaluation\.py: error: SHOPBENCH_BATCH_SIZE='x': not a whole number; give 1 to 16 "
                        r"\(nothing was answered; the new run folder \S+ is removed\)", line), line
    assert len(_runs(runs_root)) == 1 and os.readlink(runs_root / "latest") == before  # nothing half-written
    with pytest.raises(SystemExit) as stop:  # --out: the folder stays, an unstarted run
        run_command(local_evaluation.main, ["--data", str(data), "--out", str(tmp_path / "o")], prog="e")
    assert stop.value.code == 2 and capsys.readouterr().err.endswith("(nothing was answered)\n")
    assert (tmp_path / "o" / "records.jsonl").read_text() == "" and not (tmp_path / "o" / "report.json").exists()


def test_setup_error_after_some_batches_says_what_is_recorded_and_how_to_continue(dev_rows, tmp_path, monkeypatch,
                                                                                 capsys):
    from utilities.errors import SetupError

    class Failing(RuleModel):
        def batch_predict(self, batch, is_multiple_choice):
            if self.calls == 2:
                raise SetupError("SHOPBENCH_BUDGET_SHARE='2': give a share in (0, 1]")
            return super().batch_predict(batch, is_multiple_choice)

    data, out = _write(tmp_path / "d.jsonl", _fast_rows(dev_rows)), tmp_path / "o"
    _use(monkeypatch, Failing())
    with pytest.raises(SetupError) as stop:
        local_evaluation.main(["--data", str(data), "--out", str(out)])
    assert str(stop.value) == (f"SHOPBENCH_BUDGET_SHARE='2': give a share in (0, 1] (8 of 32 questions are recorded "
                               f"in {out}; after the fix, continue with: python local_evaluation.py --resume {out} "
                               f"--data {data})")


def test_a_setup_error_in_the_first_batch_keeps_the_folder_runs_latest_names(dev_rows, tmp_path, monkeypatch,
                                                                             runs_root, named_model):
    from utilities.errors import SetupError

    class Failing(RuleModel):
        def batch_predict(self, batch, is_multiple_choice):
            raise SetupError("SHOPBENCH_BUDGET_SHARE='2': give a share in (0, 1]")

    data = _write(tmp_path / "d.jsonl", _fast_rows(dev_rows))
    _use(monkeypatch, Failing())
    with pytest.raises(SetupError, match=r"\(nothing was answered\)$"):
        local_evaluation.main(["--data", str(data)])
    [run] = _runs(runs_root)  # runs/latest was moved to it when the model loaded: it stays, unstarted
    assert os.readlink(runs_root / "latest") == run.name and (run / "run.json").is_file()


def test_the_script_turns_a_setup_error_into_one_line_without_a_traceback(dev_rows, tmp_path):
    data = _write(tmp_path / "d.jsonl", _fast_rows(dev_rows, 1)[:2])
    code = ("import runpy, sys, types\n"
            "from utilities.errors import SetupError\n"
            "def load():\n    raise SetupError('SHOPBENCH_ENGINE=\\'vlm\\': choose vllm or transformers')\n"
            "sys.modules['models.user_config'] = types.SimpleNamespace(UserModel=load)\n"
            "sys.argv = ['local_evaluation.py', *sys.argv[1:]]\n"
            "runpy.run_path('local_evaluation.py', run_name='__main__')\n")
    done = subprocess.run([sys.executable, "-c", code, "--data", str(data), "--out", str(tmp_path / "o")], cwd=REPO,
                          capture_output=True, text=True, timeout=120, env=os.environ | {"PYTHONPATH": str(REPO)})
    assert done.returncode == 2, done.stderr[-2000:]
    assert done.stderr.splitlines() == ["local_evaluation.py: error: SHOPBENCH_ENGINE='vlm': choose vllm or "
                                        "transformers (nothing was answered)"]


# --- progress: a bar on a terminal, plain lines elsewhere ---------------------------------------

def test_off_a_terminal_progress_is_plain_lines_not_bar_redraws(dev_rows, tmp_path, monkeypatch, capsys):
    from utilities import progress

    monkeypatch.setenv(progress.PROGRESS_ENV, "")  # unset: bars only on a terminal (capsys is none)
    rows = _fast_rows(dev_rows)
    data = _write(tmp_path / "d.jsonl", rows)
    _use(monkeypatch, RuleModel(), RuleModel())
    local_evaluation.main(["--data", str(data), "--out", str(tmp_path / "a")])
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("answering:")]
    assert "\r" not in err and "it/s" not in err and "q/s" not in err
    assert lines[-1].startswith(f"answering: {len(rows)} of {len(rows)} questions (100 %)")
    for task_type in {r["task_type"] for r in rows}:
        assert sum(line.endswith(f"; {task_type} done") for line in lines) == 1, task_type
    assert 5 <= len(lines) <= 10 + 5  # every 10 % and every task type, no more
    local_evaluation.main(["--data", str(data), "--out", str(tmp_path / "b"), "--progress"])  # a bar, forced
    err = capsys.readouterr().err
    assert "answering: 100%" in err and "answering: 32 of" not in err
