"""One test per official parsing rule (utilities/parsers.py); expected values worked out by hand."""
import pytest

from utilities.parsers import (
    MAX_RESPONSE_CHARS,
    PARSERS,
    parse,
    parse_generation,
    parse_multiple_choice,
    parse_ner,
    parse_ranking,
    parse_retrieval,
)


# ---- multiple-choice --------------------------------------------------------------------------

def test_multiple_choice_reads_only_the_first_non_space_character():
    assert parse_multiple_choice("2 because the band fits") == 2
    assert parse_multiple_choice(" \n 3") == 3
    assert parse_multiple_choice("10") == 1  # only "1" is read


def test_multiple_choice_answer_not_starting_with_a_digit_parses_as_minus_one():
    assert parse_multiple_choice("Answer: 2") == -1
    assert parse_multiple_choice("a") == -1


def test_multiple_choice_blank_answer_parses_as_minus_one():
    assert parse_multiple_choice("") == -1
    assert parse_multiple_choice("\n ") == -1


# ---- ranking ----------------------------------------------------------------------------------

def test_ranking_keeps_comma_separated_numbers_and_ignores_other_characters():
    assert parse_ranking("1, 2, 3, 4, 5") == [1, 2, 3, 4, 5]
    assert parse_ranking("[1, 2, 3, 4, 5]") == [1, 2, 3, 4, 5]  # brackets are deleted
    assert parse_ranking("The answer is: 1, 2, 3, 4, 5") == [1, 2, 3, 4, 5]
    assert parse_ranking("1, 2, 4, aicrowd, 5") == [1, 2, 4, 5]  # " aicrowd" -> " ", no int
    assert parse_ranking(",1,2,3,4,5") == [1, 2, 3, 4, 5]


def test_ranking_numbers_without_commas_do_not_parse():
    assert parse_ranking("1 2") == []  # one piece "1 2", int() fails
    assert parse_ranking("1 2 3 4 5") == []


def test_ranking_deletes_newlines_so_numbers_on_separate_lines_merge():
    # "1\n2, 3" -> "12, 3" -> [12, 3] -> 12 > 5 is dropped
    assert parse_ranking("1\n2, 3") == [3]


def test_ranking_reads_unicode_digits():
    # str.isnumeric keeps the full-width "２" and int() reads it as 2; "½" is kept but int() fails
    assert parse_ranking("1, ２, ½, 3") == [1, 2, 3]


def test_ranking_drops_numbers_above_five_before_taking_the_first_five():
    # [1, 9, 2, 3, 4, 5] -> 9 dropped -> [1, 2, 3, 4, 5]
    assert parse_ranking("1, 9, 2, 3, 4, 5") == [1, 2, 3, 4, 5]
    assert parse_ranking("0, 1") == [0, 1]  # 0 <= 5 is kept


def test_ranking_keeps_only_the_first_five_numbers():
    # [1, 2, 3, 4, 5, 1][:5] = [1, 2, 3, 4, 5]: the repeat comes after the cut
    assert parse_ranking("1, 2, 3, 4, 5, 1") == [1, 2, 3, 4, 5]


def test_ranking_answer_with_a_repeat_parses_as_empty():
    assert parse_ranking("1, 2, 2, 3") == []
    assert parse_ranking("5, 4, 3, 2, 5") == []


# ---- retrieval --------------------------------------------------------------------------------

def test_retrieval_uses_the_comma_separated_number_cleaning():
    assert parse_retrieval("100,           200, \n\n\n 300") == [100, 200, 300]
    assert parse_retrieval("100, 200, jjhg") == [100, 200]
    assert parse_retrieval("1 2, 3") == [3]
    assert parse_retrieval("\n \n \n") == []


def test_retrieval_keeps_the_first_three_numbers_of_any_size():
    assert parse_retrieval("100, 200, 300, 400") == [100, 200, 300]


def test_retrieval_keeps_repeats():
    assert parse_retrieval("2, 2, 7") == [2, 2, 7]


# ---- named entity recognition -----------------------------------------------------------------

def test_ner_reads_a_python_list_of_strings_as_is():
    assert parse_ner("['New York', ' ShopBench ']") == ["New York", " ShopBench "]  # not stripped
    assert parse_ner("[]") == []


def test_ner_falls_back_to_comma_splitting_with_stripping():
    assert parse_ner("New York, ShopBench , Amazon") == ["New York", "ShopBench", "Amazon"]
    assert parse_ner("[New York, ShopBench]") == ["[New York", "ShopBench]"]  # not a literal


def test_ner_literal_that_is_not_a_list_of_strings_falls_back_to_comma_splitting():
    assert parse_ner("[4, 1, 2]") == ["[4", "1", "2]"]
    assert parse_ner("'tablette'") == ["'tablette'"]  # a str literal, not a list


def test_ner_drops_empty_items():
    assert parse_ner("\n, New York,, ShopBench,") == ["New York", "ShopBench"]
    assert parse_ner(" ") == []


# ---- generation -------------------------------------------------------------------------------

def test_generation_strips_surrounding_whitespace():
    assert parse_generation("\nThe answer is \n\n good.\n\n\n") == "The answer is \n\n good."
    assert parse_generation("\n \n") == ""


# ---- parse() ----------------------------------------------------------------------------------

def test_parse_cuts_the_answer_to_5000_characters():
    assert MAX_RESPONSE_CHARS == 5000
    assert parse("generation", "a" * 6000) == "a" * 5000
    answer = "x" * 4999 + "7, 8, 9"  # character 5000 is the "7"
    assert parse("retrieval", answer) == [7]
    assert parse_retrieval(answer) == [7, 8, 9]  # the rule alone does not cut


def test_parse_dispatches_on_the_official_task_types():
    assert set(PARSERS) == {"multiple-choice", "ranking", "retrieval", "named_entity_recognition", "generation"}
    assert parse("multiple-choice", " 3") == 3
    assert parse("ranking", "2, 1") == [2, 1]
    assert parse("retrieval", "9, 9") == [9, 9]
    assert parse("named_entity_recognition", "a, b") == ["a", "b"]
    assert parse("generation", " hi ") == "hi"


def test_parse_rejects_a_non_string_answer_with_a_type_error():
    with pytest.raises(TypeError, match="NoneType"):
        parse("generation", None)
    with pytest.raises(TypeError, match="list"):
        parse("ranking", [1, 2])


def test_parse_rejects_an_unknown_task_type_naming_the_known_ones():
    with pytest.raises(KeyError, match="multiple-choice.*named_entity_recognition"):
        parse("multichoice", "1")


def test_unusable_names_each_parsers_failure_value_and_nothing_else():
    from utilities.parsers import FAILURES, unusable

    for task_type in FAILURES:
        assert unusable(task_type, parse(task_type, "no numbers here"))
    assert not unusable("multiple-choice", parse("multiple-choice", "2"))
    assert not unusable("ranking", parse("ranking", "2, 1"))
    assert not unusable("named_entity_recognition", parse("named_entity_recognition", ""))  # [] is read as given
