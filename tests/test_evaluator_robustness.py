"""Nothing sinks a run (issue #10): local_evaluation.py checks truths at load, reports file:line, keeps
every answer, writes strict JSON, and streams large files.

Each test replays one case: the evaluator either refuses the data before the model loads (exit 2,
one line per problem, ``file:line: ...``) or answers and exits 0 with a report; never 1 after answering.
"""
from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

import local_evaluation
from tests.test_local_evaluation import (  # noqa: F401 - fixtures: no_model, runs_root (autouse)
    RuleModel, _fast_rows, _refuse, _use, _write, no_model, runs_root,
)
from utilities import metrics

REPO = Path(__file__).resolve().parent.parent


def _strict(text: str):
    """json.loads that fails on NaN / Infinity, as a strict JSON parser does."""
    def refuse(constant):
        raise AssertionError(f"not strict JSON: {constant}")

    return json.loads(text, parse_constant=refuse)


def _row(dev_rows, of_metric, **changes):
    return dict(next(r for r in dev_rows if r["metric"] == of_metric), **changes)


# ---- truths checked against their metric at load -------------------------------------------------

def test_string_mc_truth_is_converted_not_scored_zero(dev_rows, tmp_path, monkeypatch, caplog):
    """The rule: a digit string where a number is wanted is read as that number, and counted."""
    mc = [r for r in dev_rows if r["metric"] == "accuracy"][:3]
    rows = [dict(mc[0], output_field=str(mc[0]["output_field"])), mc[1], dict(mc[2], output_field=" 2 ")]
    data = _write(tmp_path / "d.jsonl", rows)
    right = {r["input_field"]: int(str(r["output_field"]).strip()) for r in rows}
    _use(monkeypatch, RuleModel(truths=right))
    with caplog.at_level("WARNING", logger="shopbench.evaluation"):
        report = local_evaluation.main(["--data", str(data), "--out", str(tmp_path / "o")])
    assert [r["score"] for r in report["records"]] == [1.0, 1.0, 1.0]  # the right answer scores 1, not 0
    assert [r["truth"] for r in report["records"]] == [int(mc[0]["output_field"]), mc[1]["output_field"], 2]
    assert report["truth_conversions"] == {metrics.DIGIT_STRING: 2}
    assert any(f"{data}: 2 truth value(s) converted" in m and "(lines 1, 3)" in m for m in caplog.messages)


@pytest.mark.parametrize("truth, says", [
    ("3.5", "the string '3.5'"), ("three", "the string 'three'"), (True, "a boolean"), (12, "no option number 0-9"),
    (None, "not a number"), ([1], "not a number"),
])
def test_a_multiple_choice_truth_the_rule_cannot_read_is_refused_with_file_line(truth, says, dev_rows, tmp_path,
                                                                                 capsys, no_model):
    rows = [_row(dev_rows, "accuracy"), _row(dev_rows, "accuracy", output_field=truth)]
    data = _write(tmp_path / "d.jsonl", rows)
    err = _refuse(["--data", str(data), "--out", str(tmp_path / "o")], capsys)
    assert f"{data}:2: output_field: accuracy" in err and says in err and not (tmp_path / "o").exists()


def test_ranking_truth_of_strings_fails_at_load_with_file_line(dev_rows, tmp_path, capsys, no_model):
    ranking = _row(dev_rows, "ndcg")
    rows = [_row(dev_rows, "accuracy"), ranking, dict(ranking, output_field=["1", "0.5", "0", "0", "0"])]
    data = _write(tmp_path / "d.jsonl", rows)
    err = _refuse(["--data", str(data), "--out", str(tmp_path / "o")], capsys)
    assert f"{data}:3: output_field: ndcg: relevance 2 is the string '0.5'" in err
    assert "Traceback" not in err and not (tmp_path / "o").exists()


def test_ranking_truth_of_digit_strings_is_read_as_numbers_and_scores_as_numbers(dev_rows, tmp_path, monkeypatch):
    ranking = _row(dev_rows, "ndcg", output_field=[1, 0, 0, 0, 1])
    as_text = dict(ranking, task_name="task_text", output_field=["1", "0", "0", "0", "1"])
    data = _write(tmp_path / "d.jsonl", [ranking, as_text])
    _use(monkeypatch, RuleModel())
    report = local_evaluation.main(["--data", str(data), "--out", str(tmp_path / "o")])
    scored = {r["task_name"]: r for r in report["records"]}
    assert scored["task_text"]["truth"] == [1, 0, 0, 0, 1]
    assert scored["task_text"]["score"] == scored[ranking["task_name"]]["score"] > 0
    assert report["truth_conversions"] == {metrics.DIGIT_STRING: 5}


@pytest.mark.parametrize("metric, truth, says", [
    ("ndcg", [float("nan"), 1, 0], "relevance 1 is nan"), ("ndcg", [1, float("inf")], "relevance 2 is inf"),
    ("ndcg", [1, -1], "relevances are >= 0"), ("ndcg", [], "got an empty list"),
    ("hit rate@3", [], "hit rate@3 divides by its length"), ("hit rate@3", [2, 2], "repeat"),
    ("hit rate@3", ["2", "x"], "item 2 is the string 'x'"),
    ("micro f1", "nike", "must be a list of entity strings"), ("micro f1", ["nike", 3], "entities are strings"),
    ("rougel", 42, "must be the reference text"), ("bleu", ["a"], "must be the reference text"),
    ("rougel", "  ", "the reference text is empty"), ("sent-transformer", [], "got an empty list"),
])
def test_every_metric_checks_its_truth_type_at_load(metric, truth, says, dev_rows, tmp_path, capsys, no_model):
    data = tmp_path / "d.jsonl"  # written with allow_nan: what an attacker's file holds ("NaN" is read by Python)
    data.write_text(json.dumps(_row(dev_rows, metric, output_field=truth)) + "\n")
    err = _refuse(["--data", str(data), "--out", str(tmp_path / "o")], capsys)
    assert f"{data}:1: output_field: {metric}" in err and says in err


def test_a_metric_that_cannot_score_the_task_types_answers_is_refused(dev_rows, tmp_path, capsys, no_model):
    row = _row(dev_rows, "accuracy", metric="rougel", output_field="2")
    err = _refuse(["--data", str(_write(tmp_path / "d.jsonl", [row]))], capsys)
    assert "d.jsonl:1: metric 'rougel' scores the parsed answers of generation questions, not of multiple-choice" in err


def test_non_string_fields_are_refused_not_crashed_on(dev_rows, tmp_path, capsys, no_model):
    rows = [_row(dev_rows, "accuracy", metric=["accuracy"]), _row(dev_rows, "accuracy", input_field=7)]
    err = _refuse(["--data", str(_write(tmp_path / "d.jsonl", rows))], capsys)
    assert "d.jsonl:1: metric must be a string" in err and "d.jsonl:2: input_field must be the prompt" in err


def test_every_problem_is_one_line_and_a_long_list_is_counted(dev_rows, tmp_path, capsys, no_model):
    bad = _row(dev_rows, "accuracy", output_field="x")
    data = _write(tmp_path / "d.jsonl", [_row(dev_rows, "accuracy")] + [bad] * 30)
    err = _refuse(["--data", str(data)], capsys)
    lines = [line for line in err.splitlines() if line.startswith(f"{data}:")]
    assert len(lines) == local_evaluation.MAX_PROBLEMS_SHOWN and lines[0].startswith(f"{data}:2: output_field")
    assert f"{data}: 30 rows cannot be scored; nothing was answered" in err and "... and 10 more" in err


# ---- encodings ------------------------------------------------------------------------------------

def test_non_utf8_file_is_one_line_error_exit_2(dev_rows, tmp_path):
    data = tmp_path / "latin1.jsonl"
    good = json.dumps(_row(dev_rows, "accuracy")).encode()
    bad = json.dumps(_row(dev_rows, "accuracy", input_field="Caf\u00e9?"), ensure_ascii=False).encode("latin-1")
    data.write_bytes(good + b"\n" + bad + b"\n")
    done = subprocess.run([sys.executable, "local_evaluation.py", "--data", str(data), "--out", str(tmp_path / "o")],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    column = bad.index(b"\xe9") + 1
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"local_evaluation.py: error: {data}:2: not UTF-8 (byte 0xe9 at column {column}); save the file as UTF-8"]
    assert not (tmp_path / "o").exists()


def test_a_json_array_that_is_not_utf8_names_its_line_too(tmp_path, capsys, no_model):
    path = tmp_path / "MCQ_SA.json"
    third = b' {"input_field": "caf\xe9"}'
    path.write_bytes(b'[\n {"input_field": "ok", "output_field": 1},\n' + third + b'\n]\n')
    column = third.index(b"\xe9") + 1
    assert f"{path}:3: not UTF-8 (byte 0xe9 at column {column})" in _refuse(["--data", str(path)], capsys)


def test_a_byte_order_mark_is_skipped_and_a_lone_surrogate_refused(dev_rows, tmp_path, capsys, monkeypatch):
    row = _row(dev_rows, "accuracy")
    data = tmp_path / "bom.jsonl"
    data.write_bytes(local_evaluation.BOM + json.dumps(row).encode() + b"\n")
    assert local_evaluation.load_rows(data) == [row]
    data.write_text(json.dumps(dict(row, input_field="odd \ud800 text")) + "\n")  # json.dumps escapes it
    with pytest.raises(local_evaluation.DataError, match=r"bom.jsonl:1: a string holds a lone surrogate"):
        local_evaluation.load_rows(data)


def test_rows_of_a_json_array_are_named_by_line_and_row(dev_rows, tmp_path, capsys, no_model):
    rows = [_row(dev_rows, "accuracy"), _row(dev_rows, "accuracy", output_field="x")]
    path = tmp_path / "rows.json"
    path.write_text("[\n" + ",\n".join(json.dumps(r, indent=1) for r in rows) + "\n]\n")
    line = 2 + json.dumps(rows[0], indent=1).count("\n") + 1
    assert f"{path}:{line}: row 2: output_field: accuracy" in _refuse(["--data", str(path)], capsys)
    path.write_text("[\n" + json.dumps(rows[0]) + "\n" + json.dumps(rows[0]) + "\n]")  # no comma: found on line 3
    assert f"{path}:3: not a JSON array (expected ',' or ']' after row 1)" in _refuse(["--data", str(path)], capsys)


# ---- large files: streamed, checked whole before the model loads ------------------------------------

def test_bad_last_line_found_before_model_loads(dev_rows, tmp_path, capsys, no_model):
    rows = [dict(r, input_field=f"{r['input_field']} #{i}") for i, r in enumerate(_fast_rows(dev_rows, 99))] * 5
    last = _row(dev_rows, "hit rate@3", output_field=["1", "2", "three"])
    data = _write(tmp_path / "d.jsonl", rows + [last])
    err = _refuse(["--data", str(data), "--limit", "3", "--out", str(tmp_path / "o")], capsys)
    assert f"{data}:{len(rows) + 1}: output_field: hit rate@3: item 3 is the string 'three'" in err
    data.write_text(data.read_text() + '{"input_field": "cut short\n')
    err = _refuse(["--data", str(data), "--limit", "3"], capsys)
    assert f"{data}:{len(rows) + 2}: not a JSON object" in err and not (tmp_path / "o").exists()


def test_json_lines_are_checked_without_holding_the_file(dev_rows, tmp_path):
    import tracemalloc

    base = _row(dev_rows, "accuracy")
    data = tmp_path / "big.jsonl"
    with open(data, "w", encoding="utf-8") as f:
        for i in range(4000):  # 4,000 rows of ~5 KB: a 20 MB file
            f.write(json.dumps(dict(base, input_field=f"{i} " + "x" * 5000)) + "\n")
    size = data.stat().st_size
    tracemalloc.start()
    try:
        checked = local_evaluation.read_data(data)
        _, peak = tracemalloc.get_traced_memory()
        rows = checked.rows([0, 3999])
    finally:
        tracemalloc.stop()
    assert peak < size / 10, f"the check held {peak:,} bytes of a {size:,}-byte file"
    assert checked.held is None and len(checked.entries) == 4000
    assert [r["input_field"][:5] for r in rows] == ["0 xxx", "3999 "]
    assert checked.keys == local_evaluation.question_keys(local_evaluation.load_rows(data))  # the keys of old


def test_a_file_changed_after_the_check_is_refused(dev_rows, tmp_path):
    data = _write(tmp_path / "d.jsonl", _fast_rows(dev_rows, 1))
    checked = local_evaluation.read_data(data)
    _write(data, _fast_rows(dev_rows, 1)[::-1])
    with pytest.raises(local_evaluation.DataError, match="changed after it was checked"):
        checked.rows([0])


def test_a_metric_that_cannot_be_computed_here_stops_the_run_before_the_model(dev_rows, tmp_path, capsys,
                                                                             monkeypatch, no_model):
    def missing(tokenize):
        raise ImportError("No module named 'MeCab'")

    monkeypatch.setattr(metrics, "_bleu", missing)
    data = _write(tmp_path / "d.jsonl", [_row(dev_rows, "jp-bleu")])
    err = _refuse(["--data", str(data), "--out", str(tmp_path / "o")], capsys)
    assert "1 selected questions are scored with jp-bleu, which cannot be computed here" in err and "MeCab" in err
    assert not (tmp_path / "o").exists()


# ---- after answering: records first, a report always, strict JSON ---------------------------------

def _failing(metric_name, error=RuntimeError("the scorer broke")):
    """local_evaluation.score_task, except that ``metric_name`` raises."""
    real = local_evaluation.score_task

    def score_task(metric, predictions, truths, **options):
        if metric == metric_name:
            raise error
        return real(metric, predictions, truths, **options)

    return score_task


def test_scoring_error_after_answering_keeps_records_and_report(dev_rows, tmp_path, monkeypatch, capsys):
    rows = _fast_rows(dev_rows)
    data, run = _write(tmp_path / "d.jsonl", rows), tmp_path / "run"
    monkeypatch.setattr(local_evaluation, "score_task", _failing("hit rate@3"))
    _use(monkeypatch, RuleModel(), RuleModel())
    report = local_evaluation.main(["--data", str(data), "--out", str(run)])  # returns: exit status 0
    assert report["overall"] is None
    recorded = [json.loads(line) for line in (run / "records.jsonl").read_text().splitlines()]
    assert len(recorded) == len(rows) and all(isinstance(r["answer"], str) for r in recorded)
    saved = _strict((run / "report.json").read_text())
    failed = {n for n, t in saved["tasks"].items() if t["score"] is None}
    assert failed == {r["task_name"] for r in rows if r["metric"] == "hit rate@3"} and failed
    for name in failed:
        assert saved["tasks"][name]["error"] == "hit rate@3: RuntimeError: the scorer broke"
        assert saved["scoring_errors"][name] == saved["tasks"][name]["error"] and saved["tasks"][name]["ci95"] is None
    assert all(t["score"] is not None for n, t in saved["tasks"].items() if n not in failed)
    assert saved["overall"] is None and saved["overall_ci95"] is None and len(saved["records"]) == len(rows)
    assert "SCORING FAILED" in (run / "report.md").read_text() and (run / "scores.png").is_file()
    assert f"--resume {run}" in capsys.readouterr().err
    # fixed: --resume re-scores the recorded answers without loading the model
    monkeypatch.undo()
    import models.user_config

    monkeypatch.setattr(models.user_config, "UserModel", lambda: pytest.fail("the model was loaded to re-score"))
    rescored = local_evaluation.main(["--resume", str(run), "--data", str(data)])
    _use(monkeypatch, RuleModel())
    whole = local_evaluation.main(["--data", str(data), "--out", str(tmp_path / "whole")])
    assert rescored["overall"] == whole["overall"] is not None and rescored["scoring_errors"] == {}


def test_a_failed_task_is_left_out_of_a_comparison_not_crashed_on(dev_rows, tmp_path, monkeypatch, capsys):
    data = _write(tmp_path / "d.jsonl", _fast_rows(dev_rows))
    _use(monkeypatch, RuleModel(), RuleModel())
    local_evaluation.main(["--data", str(data), "--out", str(tmp_path / "a")])
    monkeypatch.setattr(local_evaluation, "score_task", _failing("ndcg"))
    local_evaluation.main(["--data", str(data), "--out", str(tmp_path / "b")])
    result = local_evaluation.main(["--compare", str(tmp_path / "a"), str(tmp_path / "b")])
    ndcg = sum(r["metric"] == "ndcg" for r in _fast_rows(dev_rows))
    assert result["only_a"] == ndcg and result["matched"] == len(_fast_rows(dev_rows)) - ndcg
    _strict((tmp_path / "b" / "compare.json").read_text())


def test_an_answer_the_parser_cannot_read_scores_zero_and_is_named(dev_rows, tmp_path, monkeypatch):
    rows = [r for r in _fast_rows(dev_rows) if r["metric"] == "accuracy"][:3]

    class Odd(RuleModel):
        def batch_predict(self, batch, is_multiple_choice):
            return [None, 3, float("nan")][: len(batch["prompt"])]

    _use(monkeypatch, Odd())
    out = tmp_path / "o"
    report = local_evaluation.main(["--data", str(_write(tmp_path / "d.jsonl", rows)), "--out", str(out)])
    assert [r["score"] for r in report["records"]] == [0.0, 0.0, 0.0]
    assert all(r["parse_error"].startswith("TypeError: a model answer must be a str") for r in report["records"])
    assert sum(t["unreadable_answers"] for t in report["tasks"].values()) == 3
    saved = _strict((out / "report.json").read_text())
    assert [r["model_output"] for r in saved["records"]] == [None, 3, None]  # NaN written as null
    [_strict(line) for line in (out / "records.jsonl").read_text().splitlines()]


def test_report_json_is_strict_json(dev_rows, tmp_path, monkeypatch):
    """The rule: NaN and infinities are written as null, never as bare NaN."""
    real = local_evaluation.score_task

    def nan_rougel(metric, predictions, truths, **options):
        result = real(metric, predictions, truths, **options)
        if metric != "rougel":
            return result
        return metrics.TaskScore(per_row=[math.nan] * len(result.per_row), score=math.nan)

    monkeypatch.setattr(local_evaluation, "score_task", nan_rougel)
    _use(monkeypatch, RuleModel())
    out = tmp_path / "o"
    local_evaluation.main(["--data", str(_write(tmp_path / "d.jsonl", _fast_rows(dev_rows))), "--out", str(out)])
    text = (out / "report.json").read_text()
    assert "NaN" not in text and "Infinity" not in text
    saved = _strict(text)
    rougel = [n for n, t in saved["tasks"].items() if t["metrics"] == ["rougel"]]
    assert rougel and all(saved["tasks"][n]["score"] is None for n in rougel)
    assert all(r["score"] is None for r in saved["records"] if r["metric"] == "rougel")
    _strict((out / "run.json").read_text())
    assert local_evaluation.strict_json({"a": [math.inf, -math.inf, 1.5]}) == '{"a": [null, null, 1.5]}'


_DRIVER = """
import sys, types
sys.path.insert(0, {repo!r})
import local_evaluation
from utilities import metrics


class Model:
    def get_batch_size(self):
        return 4

    def batch_predict(self, batch, is_multiple_choice):
        return ["1" if is_multiple_choice else "1, 2, 3" for _ in batch["prompt"]]


def broken(predictions, truths, **_):
    raise TypeError("unsupported operand type(s) for ** or pow(): 'int' and 'str'")


metrics.METRICS["ndcg"] = metrics.Metric("ndcg", "broken", broken)
module = types.ModuleType("models.user_config")
module.UserModel = Model
sys.modules["models.user_config"] = module
local_evaluation.main(sys.argv[1:])
"""


def test_a_run_whose_scoring_fails_exits_0_with_a_report(dev_rows, tmp_path):
    data, out, driver = _write(tmp_path / "d.jsonl", _fast_rows(dev_rows)), tmp_path / "o", tmp_path / "driver.py"
    driver.write_text(_DRIVER.format(repo=str(REPO)))
    done = subprocess.run([sys.executable, str(driver), "--data", str(data), "--out", str(out)], cwd=REPO,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    saved = _strict((out / "report.json").read_text())
    assert any("pow()" in e for e in saved["scoring_errors"].values()) and "Traceback" not in done.stderr


def test_an_unforeseen_failure_after_answering_still_writes_the_answers_and_why(dev_rows, tmp_path, monkeypatch,
                                                                                 caplog):
    rows = _fast_rows(dev_rows)

    def broken(result, answered):
        raise KeyError("a bug in the report")

    monkeypatch.setattr(local_evaluation, "add_counts", broken)
    _use(monkeypatch, RuleModel())
    out = tmp_path / "o"
    report = local_evaluation.main(["--data", str(_write(tmp_path / "d.jsonl", rows)), "--out", str(out)])
    saved = _strict((out / "report.json").read_text())
    assert saved["error"] == report["error"] == "KeyError: 'a bug in the report'" and saved["overall"] is None
    assert len(saved["records"]) == len(rows) and all("answer" in r for r in saved["records"])
    assert f"--resume {out}" in (out / "report.md").read_text()
    assert any("the report could not be built" in m for m in caplog.messages)
