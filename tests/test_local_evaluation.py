"""local_evaluation.py end to end on the tiny model, re-scored independently; the 4 x T4 cost model."""
from __future__ import annotations

import json
import math
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

import local_evaluation
from utilities import cost_model
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


# --- the cost model ------------------------------------------------------------------------

def test_batch_cost_is_overhead_plus_prefill_plus_decode_steps():
    c = cost_model.Constants(prefill_tokens_per_s=1000, decode_step_s=0.05, batch_overhead_s=0.2)
    batch = [cost_model.QuestionCost("ranking", 3, 300, 14), cost_model.QuestionCost("ranking", 3, 500, 10)]
    # 0.2 + (300 + 500) / 1000 + max(14, 10) * 0.05 = 0.2 + 0.8 + 0.7 = 1.7
    assert cost_model.batch_seconds(batch, c) == pytest.approx(1.7)


def test_question_costs_are_real_qwen2_token_counts(dev_rows, qwen_tokenizer):
    from utilities.prompting import render

    row = next(r for r in dev_rows if r["task_type"] == "ranking")
    (cost,) = cost_model.question_costs([row], qwen_tokenizer)
    rendered = render(qwen_tokenizer, row["input_field"], "ranking")
    assert cost.prompt_tokens == len(qwen_tokenizer.encode(rendered, add_special_tokens=False))
    assert (cost.task_type, cost.track, cost.decode_tokens) == ("ranking", 3, 14)  # "1, 2, 3, 4, 5" + end


def test_refit_recovers_the_constants_of_a_measured_run(dev_rows, qwen_tokenizer, tmp_path):
    true = cost_model.Constants(prefill_tokens_per_s=800.0, decode_step_s=0.09, batch_overhead_s=0.3)
    costs = cost_model.question_costs(dev_rows, qwen_tokenizer)
    index = defaultdict(list)
    for i, row in enumerate(dev_rows):
        index[row["task_type"]].append(i)
    batches = []
    for indices in index.values():
        for s in range(0, len(indices), 16):
            chunk = indices[s:s + 16]
            batches.append({"questions": chunk, "size": len(chunk),
                            "seconds": cost_model.batch_seconds([costs[i] for i in chunk], true)})
    records = [{"input_field": r["input_field"], "task_type": r["task_type"], "track": r["track"]} for r in dev_rows]
    path = tmp_path / "report.json"
    path.write_text(json.dumps({"records": records, "timing": {"batches": batches, "model_load_s": 42.0}}))
    fitted = cost_model.refit(path, qwen_tokenizer)
    assert fitted.prefill_tokens_per_s == pytest.approx(800.0, rel=1e-6)
    assert fitted.decode_step_s == pytest.approx(0.09, rel=1e-6)
    assert fitted.batch_overhead_s == pytest.approx(0.3, rel=1e-6)
    assert fitted.startup_s == 42.0


def test_the_estimate_prints_every_track_against_its_limit(capsys):
    result = cost_model.main(["--questions", "1=160,2=32,3=48,4=16"])
    printed = capsys.readouterr().out
    assert set(result) == {1, 2, 3, 4, 5} and result[5]["questions"] == 256
    for number in (1, 2, 3, 4, 5):
        assert f"| {number} {TRACKS[number].name} |" in printed
        assert result[number]["limit_s"] == TRACKS[number].time_limit_s


def test_questions_that_fit_is_the_largest_count_within_the_limit(dev_rows, qwen_tokenizer):
    c = cost_model.Constants()
    pool = [q for q in cost_model.question_costs(dev_rows, qwen_tokenizer) if q.track == 3]
    limit = TRACKS[3].time_limit_s
    n = cost_model.questions_that_fit(pool, limit, c)
    assert n > 0
    assert cost_model.track_seconds(pool, n, c) <= limit < cost_model.track_seconds(pool, n + 1, c)
    assert cost_model.questions_that_fit(pool, c.startup_s, c) == 0  # start-up alone fills the limit


def test_the_prefill_rate_needed_makes_the_estimate_meet_the_limit(dev_rows, qwen_tokenizer):
    from dataclasses import replace

    c = cost_model.Constants()
    pool = [q for q in cost_model.question_costs(dev_rows, qwen_tokenizer) if q.track == 1]
    batches = cost_model.grader_batches(cost_model.scaled(pool, 5000), c.batch_size)
    limit = TRACKS[1].time_limit_s
    rate = cost_model.prefill_needed(batches, limit, c)
    assert cost_model.track_seconds(pool, 5000, replace(c, prefill_tokens_per_s=rate)) == pytest.approx(limit)
    assert cost_model.prefill_needed(batches, c.startup_s, c) == float("inf")  # no rate can help
