"""Fallback answers: no answer is ever empty (an empty answer always scores 0).

When the model's reply holds nothing usable, each task's ``fallback`` answers from the prompt alone;
``ShopBenchModel.last_notes`` records per prompt whether it did, whether the reply was empty and
whether the prompt was shortened.
"""
from __future__ import annotations

import json
import logging
import random
from collections import defaultdict
from pathlib import Path

import pytest

from models.shopbench_model import Note, ShopBenchModel
from utilities.parsers import parse
from utilities.routing import route
from utilities.tasks import TASKS, analyse
from utilities.tasks import generation, multiple_choice, named_entity_recognition, ranking, retrieval
from utilities.tasks.base import BLANK_PROMPT_ANSWER
from utilities.tasks.multiple_choice import offered

ECGUIDE = Path(__file__).resolve().parent.parent / "data" / "ecguide" / "validation.jsonl"

TASK4 = ("You are a helpful online shop assistant and a linguist. A customer on an online shopping platform "
         "has made the following query. Please extract phrases from the query that correspond to the entity "
         "type 'brand'. \nPlease directly output the entity without repeating the entity type. If there are "
         "multiple such entities, separate them with comma. Do not give explanations. \n"
         "Query: chocolate buttons cadbury xmas\nOutput: ")
REVIEW = ("I bought these for hiking in the rain and they kept my feet dry. The laces are a bit short, but the "
          "soles grip well on wet rock.")
TASK6 = ("You are given a user review to a(n) shoes product and an aspect covered in the review. \n"
         "Aspect: grip\n"
         "Please extract the keyphrase from the review that mentions the given aspect. \n"
         f"Review: {REVIEW}\nOutput: \n")


def fallback(task, prompt: str) -> str:
    return task.fallback(analyse(prompt))


def assert_well_formed(task_type: str, prompt: str, answer: str) -> None:
    """``answer`` is non-empty and the official parser reads a usable answer of ``task_type`` from it."""
    assert isinstance(answer, str) and answer.strip(), f"empty {task_type} answer for {prompt[:60]!r}"
    info = analyse(prompt)
    parsed = parse(task_type, answer)
    if task_type == "multiple-choice":
        assert parsed in offered(info), (answer, prompt[:60])
    elif task_type == "ranking":
        assert parsed and set(parsed) <= set(ranking.candidates(info)), answer
        assert sorted(int(x) for x in answer.split(",")) == sorted(ranking.candidates(info))
    elif task_type == "retrieval":
        pool = retrieval.candidates(info)
        assert len(parsed) == min(3, len(pool)) == len(set(parsed)) and set(parsed) <= set(pool), answer
    elif task_type == "named_entity_recognition":
        assert parsed and all(isinstance(e, str) and e.strip() for e in parsed), answer
    else:
        assert parsed and "\n" not in parsed, answer


# --- each fallback rule ------------------------------------------------------------------------------
def test_generation_fallback_is_drawn_from_the_prompt_and_never_empty():
    task1 = "Instructions: Tell me what this product category is about\nInput: Toggle Switch\nOutput:"
    assert fallback(generation, task1) == "Toggle Switch"  # the field, not the instruction or the answer cue
    title = ("A product entitled 'Acme Steel Bottle 1 L, Blue' exists on an online shopping website. Generate an "
             "adequate title for the product when it appears on a(n) German online shopping website.\nOutput: ")
    assert fallback(generation, title) == "Acme Steel Bottle 1 L, Blue"  # the quoted title
    assert fallback(generation, "Input: Explain the product type Handbag\nOutput:") == "Explain the product type Handbag"
    # no field, no quote: the instruction's first words are better than ''
    assert fallback(generation, "Explain what a handbag is used for.\nOutput:") == "Explain what a handbag is used for."
    for blank in ("", "   ", "\n\n", "Output:", "Answer: \n", "🙂🛒"):  # nothing to quote
        assert fallback(generation, blank) == BLANK_PROMPT_ANSWER


def test_generation_fallback_takes_the_field_the_instruction_takes_its_text_from():
    # "Aspect:" comes first and is named too, but the text is taken "from the review"
    answer = fallback(generation, TASK6)
    assert answer == "I bought these for hiking in the rain and they kept my feet dry."
    assert REVIEW.startswith(answer)


def test_generation_fallback_is_one_line_of_at_most_fifteen_words():
    long_review = " ".join(f"word{i}" for i in range(60)) + ".\nsecond line"
    answer = fallback(generation, f"Summarise the review in one sentence.\nReview: {long_review}\nOutput:")
    assert "\n" not in answer and answer.split() == [f"word{i}" for i in range(generation.CUT_AFTER_WORDS)]
    # longer text ends at its last sentence end within the 15 words, if there is one
    text = "Short one. " + " ".join(["long"] * 14) + ". Third sentence here."
    assert fallback(generation, f"Write a title for this text.\nText: {text}") == "Short one."


def test_a_field_whose_text_starts_on_the_next_line_is_read_there():
    prompt = "Write a headline for the review below.\nReview:\nGreat boots, warm and dry.\nOutput:"
    assert fallback(generation, prompt) == "Great boots, warm and dry."


def test_ner_fallback_lists_the_first_words_of_the_span_the_instruction_names():
    assert fallback(named_entity_recognition, TASK4) == "chocolate, buttons, cadbury, xmas"
    quoted = "Identify the 'COLOR' in the product title 'Logitech M90 Optical Mouse (Black, Wired)'."
    assert fallback(named_entity_recognition, quoted) == "Logitech, M90, Optical, Mouse, Black"
    repeats = "Extract all brands from the query.\nQuery: Nike nike NIKE shoes, nike socks\nOutput:"
    answer = fallback(named_entity_recognition, repeats)
    assert answer == "Nike, shoes, socks" and parse("named_entity_recognition", answer) == ["Nike", "shoes", "socks"]
    long_query = "Extract all brands from the query.\nQuery: a b c d e f g h\nOutput:"
    assert len(parse("named_entity_recognition", fallback(named_entity_recognition, long_query))) == (
        named_entity_recognition.FALLBACK_WORDS)
    assert fallback(named_entity_recognition, "  \n ") == BLANK_PROMPT_ANSWER


def test_ranking_fallback_lists_every_candidate_once_zero_based_lists_included():
    items = "\n".join(f"{i}. product {i}" for i in range(1, 6))
    assert fallback(ranking, f"Rank the products by relevance.\n{items}") == "1, 2, 3, 4, 5"
    zero = "\n".join(f"{i}. product {i}" for i in range(0, 5))
    answer = fallback(ranking, f"Rank the products by relevance.\n{zero}")
    assert answer == "0, 1, 2, 3, 4" and parse("ranking", answer) == [0, 1, 2, 3, 4]
    assert fallback(ranking, "Rank these by price.") == ", ".join(map(str, ranking.DEFAULT_CANDIDATES))


def test_retrieval_fallback_is_the_first_three_listed_candidates_zero_based_lists_included():
    zero = "\n".join(f"{i}. product {i}" for i in range(0, 10))
    assert fallback(retrieval, f"Select three products.\n{zero}") == "0, 1, 2"
    fifteen = "\n".join(f"{i}. s{i}" for i in range(1, 16))
    assert fallback(retrieval, f"Select 3 snippets.\n{fifteen}") == "1, 2, 3"
    assert fallback(retrieval, "Select three products.") == "1, 2, 3"


def test_multiple_choice_fallback_is_the_first_offered_option():
    assert fallback(multiple_choice, "Which fits?\n0. a\n1. b\n2. c\nAnswer: ") == "0"
    assert fallback(multiple_choice, "Which fits?\n1. a\n2. b\n3. c\nAnswer: ") == "1"
    assert fallback(multiple_choice, "Rate the review on a scale of 1 to 5.\nReview: ok\nAnswer: ") == "1"
    assert fallback(multiple_choice, "") == str(multiple_choice.DEFAULT_OPTIONS[0])


PIECES = ["Query:", "Review:", "Output:", "Input:", "Instructions:", "'quoted title'", '"a b"', "rank", "select three",
          "\n", "\n\n", " ", "1.", "0.", "2.", "3)", "entity", "🙂", "三つ", "é", ":", "'", "\t", "nike", "3m", "--"]


@pytest.mark.parametrize("seed", range(4))
def test_every_fallback_is_non_empty_and_parses_for_any_prompt(seed):
    rng = random.Random(seed)
    for _ in range(150):
        prompt = "".join(rng.choice(PIECES) for _ in range(rng.randint(0, 25)))
        for task in TASKS.values():
            assert_well_formed(task.name, prompt, task.fallback(analyse(prompt)))


def test_every_dev_prompts_fallback_is_non_empty_and_parses(dev_rows):
    for row in dev_rows:
        r = route(row["input_field"], row["is_multiple_choice"])
        assert r.task_type == row["task_type"]
        assert_well_formed(row["task_type"], row["input_field"], r.task.fallback(r.info))


# --- when a reply gets the fallback ------------------------------------------------------------------
NOTHING_USABLE = ["", "   ", "\n\n", "Output:", "Answer: \n\n", "...", "- , ;", "🙂"]
PROMPTS = {
    "multiple-choice": ("Which fits?\n0. a\n1. b\n2. c\nAnswer: ", True),
    "ranking": ("Rank the products by relevance.\n" + "\n".join(f"{i}. p{i}" for i in range(1, 6)), False),
    "retrieval": ("Select three products.\n" + "\n".join(f"{i}. p{i}" for i in range(1, 11)), False),
    "named_entity_recognition": (TASK4, False),
    "generation": (TASK6, False),
}


@pytest.mark.parametrize("task_type", list(PROMPTS))
def test_a_reply_with_nothing_usable_gets_the_fallback_and_says_so(task_type):
    prompt, is_mc = PROMPTS[task_type]
    r = route(prompt, is_mc)
    assert r.task_type == task_type
    replies = NOTHING_USABLE + (["77, 0, 99"] if task_type in ("ranking", "retrieval") else [])
    for reply in [*replies, None]:
        answer, used = r.task.answer(reply, r.info)
        assert used and answer == r.task.fallback(r.info), (task_type, reply)
        assert r.task.tidy(reply, r.info) == answer


def test_a_usable_reply_is_the_models_answer_not_the_fallback():
    cases = {
        "multiple-choice": ("Answer: 2", "2"),
        "ranking": ("3", "3, 1, 2, 4, 5"),
        "retrieval": ("\n7", "7, 1, 2"),
        "named_entity_recognition": ("\nOutput: cadbury, cadbury", "cadbury"),
        "generation": ("\n\nOutput:\nAnswer: grip well on wet rock\nmore", "grip well on wet rock"),
    }
    for task_type, (reply, expected) in cases.items():
        prompt, is_mc = PROMPTS[task_type]
        r = route(prompt, is_mc)
        assert r.task.answer(reply, r.info) == (expected, False), task_type


# --- ShopBenchModel.last_notes -----------------------------------------------------------------------
class ScriptedEngine:
    """Replies chosen by a marker word in the prompt; the real Qwen2 tokenizer, no model.

    A reply that is an exception is raised (the whole call fails, as an engine error would).
    """

    def __init__(self, tokenizer, table, replies: dict[str, object], max_model_len: int = 512):
        self.tokenizer, self.table, self.max_model_len = tokenizer, table, max_model_len
        self.replies = replies

    def generate(self, prompt_ids, specs):
        out = []
        for ids in prompt_ids:
            text = self.tokenizer.decode(list(ids))
            reply = next(r for marker, r in self.replies.items() if marker in text)
            if isinstance(reply, Exception):
                raise reply
            out.append(reply)
        return out


def test_last_notes_count_fallbacks_empty_replies_and_shortened_prompts(qwen_tokenizer, qwen_table, caplog):
    replies = {"MUGX": "A mug holds coffee.", "CUPX": "", "POTX": "\n\n", "PANX": "Output:", "JARX": "A jar.",
               "BOWLX": RuntimeError("engine died (simulated)")}
    model = ShopBenchModel(engine=ScriptedEngine(qwen_tokenizer, qwen_table, replies))
    prompts = ["Explain the MUGX.", "Explain the CUPX.", "Explain the POTX.", "Explain the PANX.",
               "Explain the JARX. " + "lorem ipsum " * 400, "Explain the BOWLX."]
    with caplog.at_level(logging.WARNING, logger="shopbench"):
        answers = model.batch_predict({"prompt": prompts}, False)
    notes = model.last_notes
    assert [n.task_type for n in notes] == ["generation"] * 6
    assert [n.fallback for n in notes] == [False, True, True, True, False, True]
    assert [n.raw_empty for n in notes] == [False, True, True, False, False, True]  # "Output:" is not empty
    assert [n.shortened for n in notes] == [False, False, False, False, True, False]
    assert answers[0] == "A mug holds coffee." and answers[4] == "A jar."
    assert answers[1:4] == ["Explain the CUPX.", "Explain the POTX.", "Explain the PANX."]
    assert answers[5] == "Explain the BOWLX."
    assert any("4 of 6 answers are their task's fallback" in m for m in caplog.messages)
    with pytest.raises(Exception):  # a note cannot be changed after the fact
        notes[0].fallback = True  # type: ignore[misc]


def test_last_notes_mark_a_prompt_that_could_not_be_prepared(qwen_tokenizer, qwen_table, monkeypatch):
    model = ShopBenchModel(engine=ScriptedEngine(qwen_tokenizer, qwen_table, {"": "1, 2, 3"}))
    real_prepare = model.prepare

    def prepare(prompt, is_mc):
        if "BROKEN" in prompt:
            raise ValueError("cannot prepare (simulated)")
        return real_prepare(prompt, is_mc)

    monkeypatch.setattr(model, "prepare", prepare)
    items = "\n".join(f"{i}. p{i}" for i in range(0, 10))
    prompts = [f"Select three products.\n{items}", f"Select three BROKEN products.\n{items}"]
    answers = model.batch_predict({"prompt": prompts}, False)
    assert answers == ["1, 2, 3", "0, 1, 2"]  # the model's picks; the fallback's first three of a 0-based list
    assert model.last_notes == [Note("retrieval"), Note("retrieval", raw_empty=True, fallback=True)]


def test_last_notes_hold_one_note_per_prompt_of_the_last_batch_only(qwen_tokenizer, qwen_table):
    model = ShopBenchModel(engine=ScriptedEngine(qwen_tokenizer, qwen_table, {"": "\n"}))
    model.batch_predict({"prompt": ["Which?\n0. a\n1. b\nAnswer: "] * 3}, True)
    assert model.last_notes == [Note("multiple-choice", raw_empty=True, fallback=True)] * 3
    assert model.batch_predict({"prompt": []}, True) == [] and model.last_notes == []
    assert model.batch_predict(None, True) == [] and model.last_notes == []  # type: ignore[arg-type]


# --- the tiny random model: no empty answer ----------------------------------------------------------
def answer_rows(model: ShopBenchModel, rows: list[dict]) -> list[tuple[dict, str, Note]]:
    """The rows answered as the grader asks: one task at a time, in batches of the model's size."""
    by_task = defaultdict(list)
    for row in rows:
        by_task[row["task_name"]].append(row)
    out = []
    size = model.get_batch_size()
    for chunk_rows in by_task.values():
        for start in range(0, len(chunk_rows), size):
            chunk = chunk_rows[start:start + size]
            answers = model.batch_predict({"prompt": [r["input_field"] for r in chunk]}, chunk[0]["is_multiple_choice"])
            assert len(answers) == len(model.last_notes) == len(chunk)
            out.extend(zip(chunk, answers, model.last_notes))
    return out


def test_every_dev_answer_of_the_tiny_model_is_non_empty_and_parses(tiny_engine, dev_rows):
    answered = answer_rows(ShopBenchModel(engine=tiny_engine), dev_rows)
    assert len(answered) == 96
    for row, answer, note in answered:
        assert note.task_type == row["task_type"]
        assert_well_formed(row["task_type"], row["input_field"], answer)
    # the tiny random model mostly emits newlines: the fallbacks are what keeps its answers non-empty
    assert any(note.fallback and note.raw_empty for _, _, note in answered)


ECGUIDE_ROWS_PER_TASK = 16  # one grader batch per EC-Guide task: all 2,541 rows take ~4 min on 2 cores


def test_ecguide_shaped_prompts_get_non_empty_answers_that_parse(tiny_engine):
    """A fixed, evenly spread subset: the same 16 rows of each EC-Guide task every run."""
    with open(ECGUIDE, encoding="utf-8") as f:
        rows = [json.loads(line) for line in f if line.strip()]
    by_task = defaultdict(list)
    for row in rows:
        by_task[row["task_name"]].append(row)
    sample = []
    for task_rows in by_task.values():
        step = max(1, len(task_rows) // ECGUIDE_ROWS_PER_TASK)
        sample.extend(task_rows[::step][:ECGUIDE_ROWS_PER_TASK])
    assert len(by_task) >= 5 and len(sample) >= 5 * ECGUIDE_ROWS_PER_TASK
    for row, answer, _ in answer_rows(ShopBenchModel(engine=tiny_engine), sample):
        assert_well_formed(row["task_type"], row["input_field"], answer)


class MiscountingEngine(ScriptedEngine):
    """Returns one text too few for a batch, and a non-string for a single prompt."""

    def generate(self, prompt_ids, specs):
        return ["A mug."] * (len(prompt_ids) - 1) if len(prompt_ids) > 1 else [None]


def test_a_reply_count_that_does_not_match_or_a_non_text_reply_gets_the_fallback(qwen_tokenizer, qwen_table):
    model = ShopBenchModel(engine=MiscountingEngine(qwen_tokenizer, qwen_table, {}))
    answers = model.batch_predict({"prompt": ["Explain the mug.", "Explain the cup."]}, False)
    assert answers == ["Explain the mug.", "Explain the cup."]  # no reply trusted: each its fallback
    assert model.last_notes == [Note("generation", raw_empty=True, fallback=True)] * 2


def test_a_tidy_step_that_fails_gets_the_fallback(qwen_tokenizer, qwen_table, caplog):
    def broken_read(text, info):
        raise RecursionError("tidy bug (simulated)")

    object.__setattr__(TASKS["generation"], "read", broken_read)  # Task is frozen; restored below
    try:
        model = ShopBenchModel(engine=ScriptedEngine(qwen_tokenizer, qwen_table, {"": "A mug holds coffee."}))
        with caplog.at_level(logging.ERROR, logger="shopbench"):
            answers = model.batch_predict({"prompt": ["Explain the mug."]}, False)
    finally:
        object.__setattr__(TASKS["generation"], "read", generation.read)
    assert answers == ["Explain the mug."] and model.last_notes == [Note("generation", fallback=True)]
    assert any("tidying a generation reply failed" in m for m in caplog.messages)
