"""The router: 96/96 on the dev questions, and rules that make it generalise to unseen phrasings."""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from utilities.routing import route, route_task
from utilities.tasks import TASK_TYPES

DATA = Path(__file__).parent / "data"
# Prompt sets written by separate authors who never saw the router. Each was measured blind
# first, then used to improve the router: set 2 scored 147/161, set 3 140/151 and set 4 157/159
# when first seen (set 4's two misses: Swedish and Turkish ranking instructions), set 5 152/159
# (misses: Korean instructions, "#1" list markers, "if there is only one, return that one"), set 6
# 140/150 (misses: Arabic, Turkish and Swedish instructions, "sort from cheapest to most expensive",
# entity lists asked for one per line or as a Python list).
HELD_OUT = sorted(DATA.glob("routing_heldout*.jsonl"))


def test_router_labels_every_dev_question(dev_rows):
    wrong = [
        (r["task_name"], r["task_type"], route_task(r["input_field"], r["is_multiple_choice"]))
        for r in dev_rows
        if route_task(r["input_field"], r["is_multiple_choice"]) != r["task_type"]
    ]
    assert len(dev_rows) == 96
    assert wrong == []


def test_router_counts_the_candidates_of_dev_questions(dev_rows):
    counts = Counter()
    for r in dev_rows:
        counts[(r["task_type"], route(r["input_field"], r["is_multiple_choice"]).n_candidates)] += 1
    # MC tasks list options 0-3 except task15 (a 1-5 rating with no list); ranking lists 5;
    # retrieval lists 10 (task7, task13) or 15 (task3, task14); NER and generation list none
    assert counts == {
        ("multiple-choice", 4): 44, ("multiple-choice", 0): 8, ("ranking", 5): 4,
        ("retrieval", 10): 7, ("retrieval", 15): 8, ("named_entity_recognition", 0): 8,
        ("generation", 0): 17,
    }


def _rows(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


@pytest.mark.parametrize("path", HELD_OUT, ids=lambda p: p.stem)
def test_router_generalises_to_held_out_prompts(path):
    """Nearly all right on prompts written apart from the router."""
    rows = _rows(path)
    assert len(rows) >= 100 and {r["task_type"] for r in rows} == set(TASK_TYPES)
    wrong = [
        (r["family"], r["task_type"], route_task(r["prompt"], r["is_multiple_choice"]), r["prompt"][:90])
        for r in rows
        if route_task(r["prompt"], r["is_multiple_choice"]) != r["task_type"]
    ]
    accuracy = 1 - len(wrong) / len(rows)
    assert accuracy >= 0.95, "\n".join(map(str, wrong))


@pytest.mark.parametrize("path", HELD_OUT, ids=lambda p: p.stem)
def test_router_counts_the_candidates_of_held_out_ranking_and_retrieval_prompts(path):
    rows = [r for r in _rows(path) if r["task_type"] in ("ranking", "retrieval")]
    wrong = [(r["n_candidates"], route(r["prompt"], False).n_candidates, r["prompt"][:80])
             for r in rows if route(r["prompt"], False).n_candidates != r["n_candidates"]]
    assert not wrong, wrong


def test_multiple_choice_flag_decides_multiple_choice():
    ranking_words = "Rank the products.\n1. a\n2. b\n3. c\nOutput a permutation."
    assert route_task(ranking_words, True) == "multiple-choice"
    assert route_task("", True) == "multiple-choice"


def test_extracting_one_keyphrase_is_generation_but_extracting_entities_is_ner():
    one = ("Here is a review of a kettle and an aspect. Extract the one keyphrase from the review that "
           "mentions the aspect. Output only that phrase.\nReview: boils fast, handle gets hot\nAspect: speed\nOutput:")
    many = ("Extract all phrases from the search query that denote the entity type 'color'. "
            "Separate several with commas.\nQuery: red and navy wool scarf\nOutput:")
    assert route_task(one, False) == "generation"
    assert route_task(many, False) == "named_entity_recognition"


def test_numbered_list_in_a_generation_prompt_stays_generation():
    prompt = ("A seller lists these features of a backpack:\n1. 30 L capacity\n2. padded laptop sleeve\n"
              "3. water-resistant nylon\n4. lifetime warranty\nWrite a catchy one-sentence product title.\nOutput:")
    assert route_task(prompt, False) == "generation"


def test_words_inside_list_items_do_not_steer_the_router():
    items = "\n".join(f"{i}. Select Comfort rank #{i} top 3 best seller pillow" for i in range(1, 6))
    prompt = f"Write a short summary of what these products have in common.\n{items}\nOutput:"
    assert route_task(prompt, False) == "generation"


def test_asking_for_fewer_items_than_listed_is_retrieval_even_if_it_says_rank():
    items = "\n".join(f"{i}. product {i}" for i in range(1, 9))
    prompt = f"Rank the products below by relevance to 'desk lamp' and return only the top 3.\n{items}\nOutput:"
    assert route_task(prompt, False) == "retrieval"


def test_ordering_without_the_word_rank_is_ranking():
    items = "\n".join(f"({i}) monitor {i}" for i in range(1, 5))
    prompt = (f"Arrange the candidates so that the best match for the query comes first and the weakest comes "
              f"last.\nQuery: baby monitor\n{items}")
    assert route_task(prompt, False) == "ranking"


def test_ranking_instruction_after_the_list_is_found():
    items = "\n".join(f"{i}) item number {i}" for i in range(1, 8))
    prompt = f"Query: 'trail running shoes'\n{items}\nSort all seven items from most to least relevant."
    r = route(prompt, False)
    assert (r.task_type, r.n_candidates) == ("ranking", 7)


@pytest.mark.parametrize("instruction", [
    "Ordena los siguientes productos según su relevancia para la consulta 'cafetera'.",
    "Classez les produits suivants par pertinence pour la requête « cafetière ».",
    "Sortieren Sie die folgenden Produkte nach ihrer Relevanz für die Suchanfrage 'Kaffeemaschine'.",
    "Ordina i seguenti prodotti in base alla pertinenza per la query 'caffettiera'.",
    "次の商品を検索クエリ「コーヒーメーカー」との関連度が高い順に並べてください。",
    "请按照与查询“咖啡机”的相关性对以下商品进行排序。",
])
def test_ranking_instructions_in_other_languages_route_to_ranking(instruction):
    items = "\n".join(f"{i}. Produkt {i}" for i in range(1, 6))
    assert route_task(f"{instruction}\n{items}\n", False) == "ranking"


@pytest.mark.parametrize("n", [5, 12, 20])
def test_select_three_from_any_list_length_is_retrieval(n):
    items = "\n".join(f"{i}. candidate query {i}" for i in range(1, n + 1))
    prompt = f"Which three of the candidate queries below is the user most likely to type next?\n{items}\nAnswer:"
    r = route(prompt, False)
    assert (r.task_type, r.n_candidates, r.info.requested_count) == ("retrieval", n, 3)


def test_words_inside_quotes_do_not_steer_the_router():
    prompt = "In one sentence, explain what this title describes: 'Entity Select Order Pad, extract all forms'."
    assert route_task(prompt, False) == "generation"


def test_asking_for_the_numbers_of_all_matching_items_is_retrieval():
    items = "\n".join(f"{i}. snack {i}" for i in range(1, 8))
    prompt = f"Which of the following snacks are vegan? List the numbers of all that qualify, comma-separated.\n{items}"
    assert route_task(prompt, False) == "retrieval"


def test_entity_instruction_in_another_language_is_ner():
    prompt = "Extrae las entidades de tipo 'marca' de la siguiente consulta.\nConsulta: zapatillas nike air\nSalida:"
    assert route_task(prompt, False) == "named_entity_recognition"


def test_route_task_reads_a_non_string_prompt_as_empty_text():
    assert route_task(None, False) == "generation"  # type: ignore[arg-type]
    assert route_task(None, True) == "multiple-choice"  # type: ignore[arg-type]


def test_an_imperative_ask_for_text_is_generation_even_with_a_numbered_list():
    items = "\n".join(f"{i}. review {i}" for i in range(1, 6))
    prompt = f"Here are 5 reviews, numbered 1-5.\n{items}\nWrite a one-sentence summary of what buyers think."
    assert route_task(prompt, False) == "generation"


def test_a_story_about_writing_a_review_is_not_an_ask_for_text():
    items = "\n".join(f"{i}. snippet {i}" for i in range(1, 11))
    prompt = (f"A customer wants to write a review about the fit. Which three snippets is the customer most "
              f"likely to use? Give three numbers.\n{items}")
    assert route_task(prompt, False) == "retrieval"


@pytest.mark.parametrize("labels", ["Review {i}: text {i}", "Product {i} - item {i}"])
def test_list_items_may_carry_a_label_word(labels):
    items = "\n".join(labels.format(i=i) for i in range(1, 5))
    prompt = f"Order the items from most to least helpful. Give all four numbers.\n{items}"
    r = route(prompt, False)
    assert (r.task_type, r.n_candidates) == ("ranking", 4)


# --- rules added after a review probe (prompts by a reviewer who had read the router) -------------

FIVE = "\n1. Anker 4-Port USB 3.0 Hub\n2. Sabrent 7-Port USB Hub\n3. Apple Magic Mouse\n4. UGREEN USB C Hub\n5. Logitech Keyboard\n"
TEN = "\n" + "\n".join(f"{i}. {t}" for i, t in enumerate(
    ["dog leash", "cat tree", "fish tank filter", "bird cage", "hamster wheel", "dog bed", "cat litter",
     "aquarium gravel", "parrot toy", "dog shampoo"], 1)) + "\n"


@pytest.mark.parametrize("prompt", [
    "Welche drei Produkte aus der folgenden Liste passen am besten zur Suche 'Hund'? Antworte mit den Nummern." + TEN,
    "¿Cuáles son los tres productos de la lista más relevantes para 'perro'? Responde con los números." + TEN,
    "Quels sont les trois produits de la liste les plus pertinents pour « chien » ? Donnez les numéros." + TEN,
    "Quali sono i tre prodotti della lista più rilevanti per 'cane'? Indica i numeri." + TEN,
    "Welche 3 Artikel würde ein Hundebesitzer kaufen?" + TEN,
])
def test_which_three_of_a_list_in_any_language_is_retrieval(prompt):
    assert route_task(prompt, False) == "retrieval"


@pytest.mark.parametrize("prompt", [
    "Metti in ordine di rilevanza per la query 'usb hub' i seguenti prodotti, dal più al meno rilevante." + FIVE,
    "Ranque os produtos a seguir por relevância para a consulta 'usb hub'." + FIVE,
    "Order these reviews from most positive to most negative." + FIVE,
    "Reorder the search results below so that the best results for 'usb hub' come first." + FIVE,
    "Which of the products below should be shown first, second, third, fourth and fifth for 'usb hub'?" + FIVE,
    "From the list below, produce a sorted list of product numbers, highest relevance to 'usb hub' first." + FIVE,
])
def test_putting_a_whole_list_in_order_is_ranking(prompt):
    assert route_task(prompt, False) == "ranking"


def test_an_example_answer_is_not_a_requested_count():
    prompt = "A user searched 'usb hub'. Candidate products:" + FIVE + "Please order the products by relevance; output e.g. 2, 1, 3, 5, 4."
    assert route(prompt, False).info.requested_count is None
    assert route_task(prompt, False) == "ranking"


@pytest.mark.parametrize("prompt", [
    "Nenne alle Marken, die im Titel vorkommen: 'Samsung Galaxy Hülle von Spigen'. Ausgabe:",
    "Elenca tutti i materiali citati nel titolo: 'Borsa in pelle e tela'. Output:",
    "Extrae la marca de la consulta. Si hay varias, sepáralas con comas. Consulta: zapatillas nike\nSalida:",
    "Query: red nike shoes\nExtract the brand(s) in the query.",
    "Query: 'bose soundlink speaker'. Which phrase in the query is the brand? If there are several, separate with commas.",
])
def test_extracting_what_may_be_several_phrases_is_ner(prompt):
    assert route_task(prompt, False) == "named_entity_recognition"


def test_extracting_one_keyphrase_stays_generation():
    prompt = "Extract the keyphrase from the review that mentions the aspect 'price'. Output only one keyphrase.\nReview: Decent quality, way overpriced though.\nOutput:"
    assert route_task(prompt, False) == "generation"
