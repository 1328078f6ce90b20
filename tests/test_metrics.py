"""One test per official metric rule (utilities/metrics.py).

Expected values are worked out by hand (arithmetic in the comments); BLEU, ROUGE and the
embedding cosine are also checked against direct library calls with the documented settings.
The embedding tests load the real all-MiniLM-L6-v2 from the installed package, offline.
"""
import json
import math
import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from utilities import metrics  # noqa: E402
from utilities.metrics import METRICS, MissingModelError, cosine_score, list_metrics, score_task  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
WATCH_BAND = "A watch band is a bracelet that straps a wristwatch onto the wrist."
TAX = "tax returns 2019"  # all-MiniLM-L6-v2 puts this at a NEGATIVE cosine (about -0.116) to WATCH_BAND


def score(metric, prediction, truth):
    return score_task(metric, [prediction], [truth]).score


@pytest.fixture(scope="session")
def minilm():
    """The packaged model loaded straight with sentence-transformers, for reference cosines."""
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(metrics.minilm_folder()), device="cpu")


def library_cosine(model, a, b):
    u, v = model.encode([a, b])
    return float(u @ v / (np.linalg.norm(u) * np.linalg.norm(v)))


# ---- registry ---------------------------------------------------------------------------------

def test_registry_holds_the_nine_official_metric_names():
    with open(REPO / "data" / "development.json", encoding="utf-8") as f:
        dev_metrics = {json.loads(line)["metric"] for line in f if line.strip()}
    assert set(METRICS) == dev_metrics | {"multilingual-sent-transformer"}
    assert len(METRICS) == 9
    assert [name for name, _ in list_metrics()] == list(METRICS)
    assert all(description for _, description in list_metrics())


def test_score_task_rejects_an_unknown_metric_naming_the_known_ones():
    with pytest.raises(KeyError, match="hit rate@3"):
        score_task("hit_rate", [[1]], [[1]])


def test_score_task_rejects_predictions_and_truths_of_different_lengths():
    with pytest.raises(ValueError, match="2 predictions but 1 truths"):
        score_task("accuracy", [1, 2], [1])


@pytest.mark.parametrize(
    "metric, prediction, truth",
    [
        ("accuracy", -1, 2),
        ("hit rate@3", [], [1, 2]),
        ("hit rate@3", [1], []),
        ("ndcg", [], [1, 0.01, 0.1, 1, 0]),
        ("ndcg", None, [1, 0]),
        ("micro f1", [], ["tablette"]),
        ("rougel", "", "Bordeaux red wine"),
        ("bleu", "", "a b c d"),
        ("jp-bleu", "", "日本語のテキスト"),
        ("sent-transformer", None, WATCH_BAND),
    ],
)
def test_unusable_predictions_score_zero(metric, prediction, truth):
    assert score_task(metric, [prediction], [truth]) == metrics.TaskScore(per_row=[0.0], score=0.0)


# ---- accuracy, hit rate@3 ---------------------------------------------------------------------

def test_accuracy_scores_one_for_the_right_option_and_the_task_takes_the_mean():
    result = score_task("accuracy", [2, 3, -1], [2, 2, 2])
    assert result.per_row == [1.0, 0.0, 0.0]
    assert result.score == pytest.approx(1 / 3)  # (1 + 0 + 0) / 3


def test_hit_rate_counts_true_items_among_the_first_three():
    # set([1, 4, 2]) & {2, 3} = {2}; the 3 in 4th place does not count -> 1 / 2
    assert score("hit rate@3", [1, 4, 2, 3], [2, 3]) == 0.5


def test_hit_rate_counts_a_repeated_prediction_once():
    # set([2, 2, 2]) & {2, 5} = {2} -> 1 / 2
    assert score("hit rate@3", [2, 2, 2], [2, 5]) == 0.5


# ---- ndcg -------------------------------------------------------------------------------------

def test_ndcg_follows_the_official_dcg_formula():
    # truth weights [1, 0, 0.5], ranking [2, 3, 1] -> relevances 0, 0.5, 1
    dcg = (2**0 - 1) / math.log2(2) + (2**0.5 - 1) / math.log2(3) + (2**1 - 1) / math.log2(4)  # 0.76134
    idcg = (2**1 - 1) / math.log2(2) + (2**0.5 - 1) / math.log2(3) + (2**0 - 1) / math.log2(4)  # 1.26134
    assert score("ndcg", [2, 3, 1], [1, 0, 0.5]) == pytest.approx(dcg / idcg)  # 0.60360
    assert score("ndcg", [2, 3, 1], [1, 0, 0.5]) == pytest.approx(0.603596, abs=1e-6)


def test_ndcg_of_the_ideal_ranking_is_one():
    # weights [1, 0.01, 0.1, 1, 0]: ranking 1, 4, 3, 2, 5 reads 1, 1, 0.1, 0.01, 0 = sorted weights
    assert score("ndcg", [1, 4, 3, 2, 5], [1, 0.01, 0.1, 1, 0]) == pytest.approx(1.0)


def test_ndcg_reads_index_zero_as_the_last_candidate():
    # weights [0, 0, 1]: candidate "0" reads weights[-1] = 1 -> dcg = (2**1 - 1) / log2(2) = 1 = idcg
    assert score("ndcg", [0], [0, 0, 1]) == pytest.approx(1.0)
    assert score("ndcg", [1], [0, 0, 1]) == 0.0  # weights[0] = 0


def test_ndcg_gives_nothing_for_a_number_past_the_end():
    # weights [1, 0, 0], ranking [7, 1]: 7 adds 0, then 1 at position 2 adds 1 / log2(3); idcg = 1
    assert score("ndcg", [7, 1], [1, 0, 0]) == pytest.approx(1 / math.log2(3))  # 0.63093


def test_ndcg_cuts_the_ranking_to_the_number_of_candidates():
    # weights [0, 1], ranking [1, 3, 2] -> [1, 3]: 0 + 0 (3 is past the end); the 2 is cut off
    assert score("ndcg", [1, 3, 2], [0, 1]) == 0.0


def test_ndcg_is_zero_when_no_candidate_is_relevant():
    assert score("ndcg", [1, 2, 3], [0, 0, 0]) == 0.0  # idcg = 0


# ---- micro f1 ---------------------------------------------------------------------------------

def test_micro_f1_pools_counts_over_the_task():
    # row 1: ['a', 'b'] vs ['a'] -> tp 1, fp 1, fn 0 (own F1: P 1/2, R 1 -> 2/3)
    # row 2: ['c'] vs ['d']      -> tp 0, fp 1, fn 1 (own F1: 0)
    # task: tp 1, fp 2, fn 1 -> P 1/3, R 1/2 -> F1 = 2 * (1/6) / (5/6) = 0.4 (not the row mean 1/3)
    result = score_task("micro f1", [["a", "b"], ["c"]], [["a"], ["d"]])
    assert result.per_row == pytest.approx([2 / 3, 0.0])
    assert result.score == pytest.approx(0.4)


def test_micro_f1_lowercases_and_strips_predictions():
    assert score("micro f1", [" Cadbury \n"], ["cadbury"]) == 1.0


def test_micro_f1_lowercases_but_does_not_strip_the_truth():
    assert score("micro f1", ["NESTLE"], ["Nestle"]) == 1.0
    assert score("micro f1", ["nestle"], [" nestle"]) == 0.0  # tp 0, fp 1, fn 1


def test_micro_f1_counts_duplicate_predictions_as_false_positives():
    # ['mens', 'Mens'] vs ['mens']: tp 1, fp 2 - 1 = 1, fn 0 -> P 1/2, R 1 -> F1 = 2/3
    assert score("micro f1", ["mens", "Mens"], ["mens"]) == pytest.approx(2 / 3)


def test_micro_f1_is_zero_when_precision_and_recall_have_nothing_to_count():
    assert score_task("micro f1", [[], []], [[], []]).score == 0.0  # tp = fp = fn = 0


# ---- rougel -----------------------------------------------------------------------------------

def test_rougel_is_the_longest_common_subsequence_f_measure():
    # [the cat sat on the mat] vs [the cat on a mat]: LCS "the cat on mat" = 4
    # P = 4/6, R = 4/5 -> F = 2 * (4/6) * (4/5) / (4/6 + 4/5) = 16/22
    assert score("rougel", "the cat sat on the mat", "the cat on a mat") == pytest.approx(16 / 22)


def test_rougel_stems_words_before_matching():
    assert score("rougel", "running dogs", "run dog") == pytest.approx(1.0)  # Porter stems


def test_rougel_matches_the_rouge_score_library():
    from rouge_score import rouge_scorer

    answer, truth = "waterproof hiking boots for men, leather", "men's leather hiking boots waterproof"
    expected = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True).score(answer, truth)["rougeL"].fmeasure
    assert score("rougel", answer, truth) == pytest.approx(expected)


# ---- bleu, jp-bleu ----------------------------------------------------------------------------

def test_bleu_of_identical_text_is_one_and_of_unrelated_text_zero():
    text = "Fimo Soft Starter Pack 12 x 56g Multicolour Blocks"
    assert score("bleu", text, text) == pytest.approx(1.0)
    assert score("bleu", "completely different words here", text) == 0.0


def test_bleu_is_the_geometric_mean_of_ngram_precisions():
    # [a b c d e] vs [a b c d f]: p1 = 4/5, p2 = 3/4, p3 = 2/3, p4 = 1/2, brevity penalty 1
    # BLEU = (4/5 * 3/4 * 2/3 * 1/2) ** (1/4) = 0.2 ** 0.25 = 0.66874
    assert score("bleu", "a b c d e", "a b c d f") == pytest.approx(0.2**0.25)


def test_bleu_applies_the_brevity_penalty():
    # 5 hypothesis tokens vs 6 reference tokens, every n-gram matches: BP = exp(1 - 6/5) = 0.81873
    assert score("bleu", "a b c d e", "a b c d e f") == pytest.approx(math.exp(1 - 6 / 5))


def test_bleu_ignores_case():
    assert score("bleu", "CEPILLO de Dientes eléctrico", "cepillo de dientes Eléctrico") == pytest.approx(1.0)


def test_bleu_reads_only_the_first_line():
    # outer newlines go first, then everything after the first line break is ignored
    assert score("bleu", "\n\na b c d e\nand an explanation nobody asked for", "a b c d e") == pytest.approx(1.0)


def test_bleu_gives_zero_to_answers_shorter_than_four_tokens():
    # corpus BLEU without effective order: no 3- or 4-grams -> 0, even for an exact match
    # (sacrebleu.sentence_bleu, which uses the effective order, would give 1.0)
    assert score("bleu", "the cat", "the cat") == 0.0


def test_bleu_matches_sacrebleu_with_the_evaluate_settings():
    import sacrebleu

    answer = "Corsair HS60 PRO casque de gaming son surround 7.1 avec microphone"
    truth = "Corsair HS60 PRO Surround Casque de Gaming Son surround 7.1, Microphone"
    expected = sacrebleu.corpus_bleu([answer], [[truth]], smooth_method="exp", lowercase=True,
                                     use_effective_order=False).score / 100
    assert score("bleu", answer, truth) == pytest.approx(expected)


def test_jp_bleu_uses_the_mecab_tokenizer():
    # MeCab: "iPad ケース 三 つ折 スタンド" (5 tokens) vs the same + "黒" (6): every n-gram matches,
    # BP = exp(1 - 6/5) = 0.81873. The 13a tokenizer sees one different token each -> 0.
    answer, truth = "iPadケース三つ折スタンド", "iPadケース三つ折スタンド黒"
    assert score("jp-bleu", answer, truth) == pytest.approx(math.exp(1 - 6 / 5))
    assert score("bleu", answer, truth) == 0.0


def test_jp_bleu_matches_sacrebleu_with_ja_mecab():
    import sacrebleu

    answer = "JEDirect iPad 9.7インチ ケース PUレザー 三つ折スタンド"
    truth = "JEDirect iPad 9.7インチ (2018/2017 第6/5世代用) ケース PUレザー 三つ折スタンド オートスリープ機能"
    expected = sacrebleu.corpus_bleu([answer], [[truth]], lowercase=True, tokenize="ja-mecab").score / 100
    assert score("jp-bleu", answer, truth) == pytest.approx(expected)


# ---- sent-transformer, multilingual-sent-transformer ------------------------------------------

def test_an_empty_generation_is_embedded_as_the_official_code_does(minilm):
    # the official code embeds "" like any answer: its cosine to the reference, not a flat 0
    expected = max(library_cosine(minilm, "", WATCH_BAND), 0.0)
    assert expected > 0
    assert score("sent-transformer", "", WATCH_BAND) == pytest.approx(expected, abs=1e-6)


def test_sentence_similarity_of_identical_text_is_one():
    assert score("sent-transformer", WATCH_BAND, WATCH_BAND) == pytest.approx(1.0, abs=1e-5)


def test_sentence_similarity_is_the_cosine_of_minilm_embeddings():
    # the published all-MiniLM-L6-v2 example (sentence-transformers quickstart): 0.6660
    assert score("sent-transformer", "The weather is lovely today.", "It's so sunny outside!") == pytest.approx(
        0.6660, abs=1e-4
    )


def test_sentence_similarity_is_clipped_at_zero(minilm):
    assert library_cosine(minilm, TAX, WATCH_BAND) < -0.05  # the raw cosine is negative
    assert score("sent-transformer", TAX, WATCH_BAND) == 0.0


def test_sentence_similarity_clips_the_mean_of_the_references_not_each_one():
    g = np.array([1.0, 0.0])
    # cosines 1, -1, -1 -> mean -1/3 -> clipped to 0 (clipping each first would give 1/3)
    assert cosine_score(g, np.array([[1.0, 0.0], [-1.0, 0.0], [-1.0, 0.0]])) == 0.0
    # cosines 1 and 0 (vectors need not be unit length) -> 0.5
    assert cosine_score(g, np.array([[2.0, 0.0], [0.0, 3.0]])) == pytest.approx(0.5)
    # one reference: cos([1, 0], [3, 4]) = 3 / 5
    assert cosine_score(g, np.array([3.0, 4.0])) == pytest.approx(0.6)


def test_sentence_similarity_averages_several_references(minilm):
    c = library_cosine(minilm, TAX, WATCH_BAND)  # about -0.116
    # mean of cos(TAX, WATCH_BAND) and cos(TAX, TAX) = (c + 1) / 2, about 0.442 (max would be 1,
    # clipping before the mean would give 0.5)
    assert score("sent-transformer", TAX, [WATCH_BAND, TAX]) == pytest.approx((c + 1) / 2, abs=1e-5)


def test_multilingual_metric_without_a_local_model_fails_with_a_clear_message(monkeypatch):
    monkeypatch.delenv(metrics.MULTILINGUAL_ENV, raising=False)
    monkeypatch.setattr(metrics, "MULTILINGUAL_MODEL_PATH", None)
    with pytest.raises(MissingModelError) as error:
        score("multilingual-sent-transformer", "Hola", "Hola")
    message = str(error.value)
    for needed in ("multilingual-sent-transformer", "SHOPBENCH_MULTILINGUAL_ST", "paraphrase-multilingual-MiniLM-L12-v2"):
        assert needed in message


def test_multilingual_metric_rejects_a_folder_that_is_not_a_model(monkeypatch):
    monkeypatch.setattr(metrics, "MULTILINGUAL_MODEL_PATH", None)
    monkeypatch.setenv(metrics.MULTILINGUAL_ENV, str(REPO / "no-such-model-folder"))
    with pytest.raises(MissingModelError, match="modules.json"):
        score("multilingual-sent-transformer", "Hola", "Hola")


def test_multilingual_metric_uses_the_model_it_is_given(minilm):
    # any loaded SentenceTransformer can be passed; MiniLM stands in to check the plumbing
    result = score_task("multilingual-sent-transformer", [WATCH_BAND], [WATCH_BAND], multilingual_model=minilm)
    assert result.score == pytest.approx(1.0, abs=1e-5)


# ---- truths: one check per metric, one rule for numbers written as strings --------------------

def test_every_metric_registers_a_check_of_its_truth_and_the_task_types_it_scores():
    from utilities.tasks import TASK_TYPES

    for metric in METRICS.values():
        assert metric.truth is not None and metric.task_types, metric.name
        assert set(metric.task_types) <= set(TASK_TYPES), metric.name
    assert METRICS["accuracy"].task_types == ("multiple-choice",)
    assert METRICS["micro f1"].task_types == ("named_entity_recognition",)


@pytest.mark.parametrize("metric, truth, expected, conversions", [
    ("accuracy", 3, 3, []),
    ("accuracy", "3", 3, [metrics.DIGIT_STRING]),  # the rule: a digit string is that whole number
    ("accuracy", " 0 ", 0, [metrics.DIGIT_STRING]),
    ("accuracy", 3.0, 3, [metrics.WHOLE_FLOAT]),
    ("hit rate@3", ["12", 4, 7.0], [12, 4, 7], [metrics.DIGIT_STRING, metrics.WHOLE_FLOAT]),
    ("hit rate@3", [0], [0], []),  # 0-based candidate lists are valid
    ("ndcg", [1, 0.01, "0", 1.0], [1, 0.01, 0, 1.0], [metrics.DIGIT_STRING]),  # a relevance may be a float
    ("micro f1", [], [], []),
    ("micro f1", ["Nike", " red "], ["Nike", " red "], []),  # kept as written: the metric normalises
    ("rougel", "a reference", "a reference", []),
    ("sent-transformer", ["one", "two"], ["one", "two"], []),
])
def test_a_truth_of_its_metrics_type_passes_and_numbers_as_strings_follow_one_rule(metric, truth, expected,
                                                                                      conversions):
    value, applied = metrics.check_truth(metric, truth)
    assert value == expected and applied == conversions
    assert all(type(v) is type(e) for v, e in zip(value, expected)) if isinstance(expected, list) else \
        type(value) is type(expected)


@pytest.mark.parametrize("metric, truth, says", [
    ("accuracy", "3.0", "the string '3.0'"), ("accuracy", "-1", "the string '-1'"), ("accuracy", "٣", "the string"),
    ("accuracy", False, "a boolean"), ("accuracy", 2.5, "not a whole number"), ("accuracy", 10, "0-9"),
    ("accuracy", "9" * 40, "the string"),
    ("hit rate@3", [1, -2], ">= 0"), ("hit rate@3", 3, "must be a non-empty list"),
    ("ndcg", [math.nan], "is nan"), ("ndcg", [True, 0], "a boolean"), ("ndcg", ["1", "high"], "the string 'high'"),
    ("micro f1", [["a"]], "entities are strings"),
    ("jp-bleu", None, "must be the reference text"), ("sent-transformer", ["ok", ""], "is empty"),
])
def test_a_truth_its_metric_cannot_score_is_refused_saying_what_is_wanted(metric, truth, says):
    with pytest.raises(metrics.TruthError, match=metric.replace("@", ".")) as error:
        metrics.check_truth(metric, truth)
    assert says in str(error.value)


def test_the_shipped_data_passes_the_truth_checks_unchanged():
    for name in ("development.json", "ecguide/validation.jsonl"):
        with open(REPO / "data" / name, encoding="utf-8") as f:
            for line in f:
                row = json.loads(line)
                assert metrics.check_truth(row["metric"], row["output_field"]) == (row["output_field"], []), name
                assert row["task_type"] in METRICS[row["metric"]].task_types, name


def test_check_available_says_when_a_metric_cannot_be_computed(monkeypatch):
    for name in ("accuracy", "hit rate@3", "ndcg", "micro f1", "rougel", "bleu", "sent-transformer"):
        metrics.check_available(name)

    def no_mecab(tokenize):
        raise ImportError("No module named 'MeCab'")

    monkeypatch.setattr(metrics, "_bleu", no_mecab)
    with pytest.raises(MissingModelError, match="metric 'jp-bleu' cannot be computed here: No module named 'MeCab'"):
        metrics.check_available("jp-bleu")


def test_an_answer_holding_a_lone_surrogate_is_embedded_not_crashed_on(minilm):
    broken = "A watch band is a bracelet\udc80 that straps a wristwatch onto the wrist."
    assert score("sent-transformer", broken, WATCH_BAND) == pytest.approx(
        library_cosine(minilm, broken.replace("\udc80", "?"), WATCH_BAND), abs=1e-5)
