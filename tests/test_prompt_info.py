"""Reading a prompt: its numbered list, the instruction outside it, the count asked for, a scale."""
from __future__ import annotations

import pytest

from utilities.tasks import analyse


@pytest.mark.parametrize("fmt", ["{i}. item {i}", "{i}) item {i}", "({i}) item {i}", "[{i}] item {i}",
                                 "{i}.item{i}", "{i} - item {i}", "{i}: item {i}", "  {i}. item {i}"])
def test_numbered_list_formats_are_read(fmt):
    info = analyse("Pick three.\n" + "\n".join(fmt.format(i=i) for i in range(1, 7)) + "\nOutput:")
    assert info.options == (1, 2, 3, 4, 5, 6)
    assert info.option_texts[0].replace(" ", "") == "item1"


def test_the_last_numbered_list_is_the_one_the_answer_refers_to():
    prompt = ("Actions:\n1. search 'tent'\n2. click 'tent A'\n3. search 'stakes'\n"
              "Candidates:\n1. tent pegs\n2. sleeping bag\n3. kayak\n4. lantern\nSelect three.")
    info = analyse(prompt)
    assert info.options == (1, 2, 3, 4)
    assert info.option_texts == ("tent pegs", "sleeping bag", "kayak", "lantern")


def test_instruction_excludes_the_list_items_but_keeps_text_after_them():
    info = analyse("Query: lamp\n1. Rank lamp\n2. Rank bulb\nOutput a permutation of 1 to 2.")
    assert "rank lamp" not in info.instruction
    assert "output a permutation of 1 to 2." in info.instruction


def test_windows_line_endings_are_read_like_unix_ones():
    info = analyse("Choose one.\r\n0. yes\r\n1. no\r\nAnswer: ")
    assert info.options == (0, 1) and info.option_texts == ("yes", "no")


def test_options_inside_one_line_are_read_when_no_line_holds_an_item():
    info = analyse("Is the mug dishwasher safe? Options: 0. yes 1. no 2. cannot be inferred Answer:")
    assert info.options == (0, 1, 2)


def test_a_decimal_number_at_the_start_of_a_line_is_not_an_item():
    info = analyse("Specs:\n3.5 mm jack\n1.5 m cable\nExplain the product.")
    assert info.options == ()


@pytest.mark.parametrize("text,k", [
    ("Please select 3 snippets from the list.", 3),
    ("Choose the three most likely queries.", 3),
    ("Return the top-5 products.", 5),
    ("Which two products complement it?", 2),
    ("You should output 3 numbers that correspond to the selected products.", 3),
    ("リストから3つ選んでください。", 3),
    ("Selecciona tres productos.", 3),
])
def test_requested_count_is_read_from_the_instruction(text, k):
    items = "\n".join(f"{i}. x{i}" for i in range(1, 11))
    assert analyse(f"{text}\n{items}").requested_count == k


def test_list_size_and_answer_format_are_not_read_as_a_requested_count():
    items = "\n".join(f"{i}. x{i}" for i in range(1, 6))
    prompt = (f"The following numbered list contains 5 products.\n{items}\nYou should output a permutation "
              "of 1 to 5. There should be a comma separating two numbers.")
    assert analyse(prompt).requested_count is None


@pytest.mark.parametrize("text,scale", [
    ("Evaluate the review on a scale of 1 to 5, with 1 being very negative.", (1, 5)),
    ("Rate the product from 0 to 4.", (0, 4)),
    ("Bewerten Sie die Rezension auf einer Skala von 1 bis 5.", (1, 5)),
    ("レビューを1から5で評価してください。", (1, 5)),
    ("Which option fits? My 6 and 7 year olds love it.", None),
    ("Rate this review using a 1 to 5 scale.", (1, 5)),
    ("Give the product a 1-5 star rating.", (1, 5)),
])
def test_rating_scale_is_read(text, scale):
    assert analyse(text).scale == scale


def test_full_width_parenthesised_numbers_are_options():
    assert analyse("どれ？\n0）赤\n1）青\n2）緑\n答え：").options == (0, 1, 2)


def test_candidate_zero_on_the_list_label_line_is_read():
    info = analyse("Mark the indices of relevant products.\nProducts: 0. Peg board\n1. Hook\n2. Rail\n3. Shelf")
    assert info.options == (0, 1, 2, 3) and info.option_texts[0] == "Peg board"


def test_a_label_with_a_space_before_its_colon_numbers_an_item():
    info = analyse("Indiquez les numéros.\nAvis 1 : bon café\nAvis 2 : bruyante\nAvis 3 : joli\nRéponse :")
    assert info.options == (1, 2, 3)


def test_list_items_whose_text_starts_with_a_digit_are_read_as_a_run_of_three_or_more():
    info = analyse("Arrange the screen sizes from most to least sold.\n1.15.6-inch\n2.13.3-inch\n3.17.3-inch\n4.14-inch")
    assert info.options == (1, 2, 3, 4) and info.option_texts[0] == "15.6-inch"
    assert analyse("Specs:\n1.5 m cable\n2.4 GHz wifi\nExplain.").options == ()  # two lines: measures


def test_the_users_data_fields_are_not_the_instruction():
    info = analyse("Instruction: Write a headline for the review.\nReview: I rank it first, select it always,\n"
                   "and the entity type is great.\n\nOutput:")
    assert info.instruction == "instruction: write a headline for the review. output:"


def test_a_prompt_whose_ask_sits_in_a_data_field_keeps_it_as_the_instruction():
    info = analyse("Question: Rank the five lamps by brightness.\n1. a\n2. b\n3. c\n4. d\n5. e")
    assert info.instruction == "question: rank the five lamps by brightness."


def test_numbered_items_inside_a_data_field_line_are_no_options():
    info = analyse("Identify four key terms.\nDescription: Pancake mix. Directions: 1) pour 2) stir 3) fry\nOutput:")
    assert info.options == ()


def test_short_quoted_names_and_quoted_text_are_told_apart():
    info = analyse("Identify the 'Color' in the product title 'Nike Air Zoom Pegasus 38 Black Running Shoe'.")
    assert info.instruction == "identify the 'x' in the product title '' ."


@pytest.mark.parametrize("text", [
    "He plans to give 3 cupcakes each to his cousins.",
    "Mark hires a singer for 3 hours.",
    "If you were lost, the best place to find one is a gas station.",
    "A basket has 25 oranges; which 1 is bad?",
    "Martin answered three fewer questions than Kelsey.",
])
def test_a_number_of_things_that_are_not_listed_items_is_no_requested_count(text):
    items = "\n".join(f"{i}. {i * 7}" for i in range(4))
    assert analyse(f"{text}\n{items}\nAnswer:").requested_count is None


def test_inline_items_are_read_in_one_pass_even_when_numbering_restarts_many_times():
    """Markdown auto-numbering ("1. a 1. b 1. c ...") once made the inline reader quadratic."""
    text = "Options: " + " ".join(f"1. item{i}" for i in range(5000)) + " 2. last"
    info = analyse(text)
    assert info.options == (1, 2) and info.option_texts == ("item4999", "last")
