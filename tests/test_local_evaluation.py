"""local_evaluation.py end to end on the tiny model, re-scored independently."""
from __future__ import annotations

import json
import math
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


@pytest.fixture
def no_model(monkeypatch):
    """Loading the model fails the test: these runs must stop before it."""
    import models.user_config

    def refuse():
        raise AssertionError("the model was loaded before the input was checked")

    monkeypatch.setattr(models.user_config, "UserModel", refuse)


def test_a_data_file_without_the_scoring_fields_is_refused_with_its_line(tmp_path, capsys, no_model):
    data = tmp_path / "test.json"
    data.write_text(json.dumps({"input_field": "Which? 0. a 1. b", "is_multiple_choice": True}) + "\n")
    err = _refuse(["--data", str(data), "--out", str(tmp_path / "o")], capsys)
    assert f"{data}:1: no task_name, task_type, metric, track, output_field" in err
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
