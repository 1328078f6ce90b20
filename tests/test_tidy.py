"""Tidy: every answer is accepted by the official parser for its type, whatever the model wrote."""
from __future__ import annotations

import random

import pytest

from utilities.parsers import parse
from utilities.routing import route

MC = "Which one fits?\n0. a\n1. b\n2. c\n3. d\nAnswer: "
RANK = "Rank the products by relevance to 'usb hub'.\n" + "\n".join(f"{i}. hub {i}" for i in range(1, 6)) + "\nOutput:"
RETRIEVE = "Select 3 snippets from the list.\n" + "\n".join(f"{i}. s{i}" for i in range(1, 16)) + "\nOutput:"
NER = ("Extract phrases from the query that correspond to the entity type 'brand'.\n"
       "Query: 3m tape or cadbury, nestle, nike, adidas\nOutput: ")
GEN = "Explain the product type Handbag\nOutput:"


def tidy(prompt, is_mc, text):
    r = route(prompt, is_mc)
    return r.task.tidy(text, r.info)


def test_multiple_choice_answer_is_an_offered_digit():
    assert tidy(MC, True, "2") == "2"
    assert tidy(MC, True, "Answer: 3") == "3"  # the parser would read "A": -1
    assert tidy(MC, True, "9 or 1") == "1"  # 9 is not offered
    assert tidy(MC, True, "no idea") == "0"


def test_rating_answer_is_on_the_stated_scale():
    prompt = "Evaluate the review on a scale of 1 to 5.\nReview: meh\nAnswer: "
    assert tidy(prompt, True, "0") == "1"
    assert tidy(prompt, True, "4") == "4"


def test_ranking_answer_never_repeats_an_item():
    assert tidy(RANK, False, "3, 3, 1, 1, 2") == "3, 1, 2, 4, 5"


def test_ranking_answer_is_completed_in_the_models_order_when_it_stops_early():
    assert tidy(RANK, False, "4, 2") == "4, 2, 1, 3, 5"
    assert tidy(RANK, False, "") == "1, 2, 3, 4, 5"


def test_ranking_answer_drops_numbers_that_are_not_listed():
    assert tidy(RANK, False, "9, 0, 66, 5") == "5, 1, 2, 3, 4"


def test_digits_without_commas_keep_the_models_order_when_every_candidate_is_one_digit():
    assert tidy(RANK, False, "31524") == "3, 1, 5, 2, 4"
    assert tidy(RANK, False, "4 21") == "4, 2, 1, 3, 5"
    # with 15 candidates "1415" could be 14, 15 or 1, 4, 1, 5: it is read as the number it spells, if listed
    assert tidy(RETRIEVE, False, "1415") == "1, 2, 3"
    assert tidy(RETRIEVE, False, "14 15") == "14, 15, 1"


def test_retrieval_answer_is_three_distinct_listed_numbers():
    assert tidy(RETRIEVE, False, "14, 14, 99, 2") == "14, 2, 1"
    assert tidy(RETRIEVE, False, "12,13,14,15") == "12, 13, 14"
    assert tidy(RETRIEVE, False, "") == "1, 2, 3"


def test_ner_answer_drops_repeats_bullets_and_none():
    assert tidy(NER, False, "3m, 3M , tape,, None") == "3m, tape"
    assert tidy(NER, False, "['cadbury', 'nestle']") == "cadbury, nestle"
    assert tidy(NER, False, "- cadbury\n- nestle") == "cadbury, nestle"
    assert tidy(NER, False, "1. nike 2. adidas") == "nike, adidas"


def test_ner_answer_wrapped_in_a_sentence_keeps_only_its_span_of_the_text():
    assert tidy(NER, False, "The brand in this query is Cadbury.") == "Cadbury"
    assert tidy(NER, False, "Nike shoes, ADIDAS") == "Nike, ADIDAS"  # a word the query lacks is dropped


def test_ner_answers_the_text_holds_are_kept_as_written():
    assert tidy(NER, False, "3M Tape, nestle") == "3M Tape, nestle"


def test_ner_answer_that_only_echoes_the_instruction_gets_the_fallback():
    r = route(NER, False)
    assert r.task.answer("The entity type that matches the query is 'brand'.", r.info) == (
        "3m, tape, or, cadbury, nestle", True)


def test_ner_answer_of_a_prompt_without_a_text_to_take_from_is_kept():
    r = route("Name all the named entities you can think of, comma-separated.", False)
    assert r.task.name == "named_entity_recognition"
    assert r.task.answer("Acme Corp, Globex", r.info) == ("Acme Corp, Globex", False)


def test_generation_keeps_the_first_non_empty_line_without_a_label_echo():
    assert tidy(GEN, False, "\n\nOutput: A handbag is a bag.\nSecond line") == "A handbag is a bag."


def test_generation_is_cut_after_the_sentence_that_passes_15_words():
    text = ("A handbag is a bag carried by hand. It holds personal items such as keys, phones and wallets "
            "for daily use. It is often fashionable. More text follows here.")
    # the first sentence has 8 words; the second brings the total to 23 > 15: cut after it
    assert tidy(GEN, False, text) == (
        "A handbag is a bag carried by hand. It holds personal items such as keys, phones and wallets for daily use."
    )


ALPHABET = list("0123456789,, \n-[]'\"abcXYZ") + ["None", "10", "15", "é", "三", "🙂", "\t", "  "]


@pytest.mark.parametrize("seed", range(5))
def test_tidy_of_any_text_parses_under_the_official_rules(seed):
    rng = random.Random(seed)
    for _ in range(200):
        text = "".join(rng.choice(ALPHABET) for _ in range(rng.randint(0, 30)))
        mc = tidy(MC, True, text)
        assert parse("multiple-choice", mc) in (0, 1, 2, 3)
        ranking = parse("ranking", tidy(RANK, False, text))
        assert sorted(ranking) == [1, 2, 3, 4, 5]
        retrieval = parse("retrieval", tidy(RETRIEVE, False, text))
        assert len(set(retrieval)) == 3 and all(1 <= i <= 15 for i in retrieval)
        entities = parse("named_entity_recognition", tidy(NER, False, text))
        assert isinstance(entities, list) and len(entities) == len({e.lower() for e in entities})
        assert "\n" not in parse("generation", tidy(GEN, False, text))


def test_retrieval_answers_may_use_candidate_zero_of_a_list_numbered_from_zero():
    prompt = ("Consider the category 'Pegboards' and the products below. Mark the indices of relevant products "
              "in a comma-separated list.\nProducts: 0. Peg board\n1. Hook set\n2. Pegboard shelf\n3. Lamp\nOutput: ")
    assert tidy(prompt, False, "0, 2") == "0, 2, 1"
    assert parse("retrieval", tidy(prompt, False, "0, 2")) == [0, 2, 1]


def test_a_scale_named_after_its_range_offers_exactly_its_range():
    from utilities.tasks.multiple_choice import offered

    r = route("Rate this review using a 1 to 5 scale.\nReview: arrived late but works.\nAnswer: ", True)
    assert offered(r.info) == (1, 2, 3, 4, 5)
    assert tidy("Rate this review using a 1 to 5 scale.\nReview: ok\nAnswer: ", True, "0") == "1"


def test_an_ner_reply_that_is_an_unhashable_literal_is_read_as_text_not_raised():
    for reply in ("[{['nike']}]", "[{[]: 1}]"):
        answer = tidy(NER, False, reply)
        assert answer.strip() and isinstance(parse("named_entity_recognition", answer), list)


def test_a_reply_of_thousands_of_digits_still_tidies_to_a_valid_ranking_and_retrieval():
    assert tidy(RANK, False, "1" * 5000 + "2") == "1, 2, 3, 4, 5"
    many = "Select 3 snippets from the list.\n" + "\n".join(f"{i}. s{i}" for i in range(1, 16)) + "\nOutput:"
    assert tidy(many, False, "7" * 5000 + ", 12") == "12, 1, 2"


# --- candidates numbered 100 and above; answers hold what the parser scores ---------------------
BIG_RETRIEVE = "Select 3 products that fit the query 'lamp'.\n" + "\n".join(f"{i}. lamp {i}" for i in range(1, 151)) + "\nOutput:"
BIG_RANK = "Rank the products by relevance to 'lamp'.\n" + "\n".join(f"{i}. lamp {i}" for i in range(1, 100)) + "\nOutput:"


def test_candidates_numbered_100_and_above_are_answerable():
    r = route(BIG_RETRIEVE, False)
    assert r.task_type == "retrieval" and r.info.options == tuple(range(1, 151))
    assert tidy(BIG_RETRIEVE, False, "120, 7, 150") == "120, 7, 150"
    assert parse("retrieval", tidy(BIG_RETRIEVE, False, "149,131")) == [149, 131, 1]
    inline = "Pick the 3 best: " + " ".join(f"{i}. lamp{i}" for i in range(1, 121)) + " Output:"
    assert route(inline, False).info.options == tuple(range(1, 121))
    assert tidy(inline, False, "101, 118") == "101, 118, 1"


def test_ranking_answer_holds_only_what_the_parser_scores():
    # the parser keeps numbers up to 5, the first five of them: a list of 99 is answered with those
    answer = tidy(BIG_RANK, False, "37, 4, 88, 2")
    assert answer == "4, 2, 1, 3, 5" and parse("ranking", answer) == [4, 2, 1, 3, 5]
    zero_based = "Rank the products by relevance to 'lamp'.\n" + "\n".join(f"{i}. lamp {i}" for i in range(0, 12))
    assert tidy(zero_based, False, "5, 11, 0") == "5, 0, 1, 2, 3"
    assert tidy(RANK, False, "4, 2") == "4, 2, 1, 3, 5"  # five candidates: the full permutation, as before
