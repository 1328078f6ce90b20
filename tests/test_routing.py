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
# entity lists asked for one per line or as a Python list), set 7 137/160 (misses: one named attribute
# taken from a title, in six languages; "Avis 1 :" lists; "1.15.6-inch" items; "all at once" and
# "ascending order" read as rankings), set 8 184/200 (on the router after set 7: NER asked as slot
# filling, "which word in the query is the color", "tag the product type in this shopping query";
# "which reviews help"; "all such numbers"; Indonesian), set 9 191/200 (on the router after set 8:
# "Indices:" answer cues, "which of the 20 appliances above", "among these reviews, which",
# "Attribute: X" in a field beside a title, "give a short summary", "sort from the cheapest price per
# pod to the most expensive"), set 10 189/200 (on the router after set 9: attribute values asked as
# "Extract MATERIAL from: ...", "extract the switch type from the product title", "the value for SCREEN
# RESOLUTION"; its two remaining misses are labels other authors gave the other way: a single "what is
# the X? reply with the value only" (sets 1 and 5 call it generation) and "list the opinion phrases
# about temperature in the review" (sets 4 and 5 call such lists NER)).
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


# --- rules added for prompts written by another team (EC-Guide) and blind set 7 (issue #9) ---------

@pytest.mark.parametrize("prompt", [
    "Identify the 'Color' in the product title 'Nike Air Zoom Pegasus 38 Black Running Shoe'.",
    "Locate the 'Style' in the following product title: 'Levi's 505 Regular Fit Jeans, Dark Stonewash'.",
    "Determine the 'Material' mentioned in the product title 'Lodge Cast Iron Skillet 10.25 Inch'.",
    "Can you find the element that is identified as 'Size' in the title 'Carhartt Pocket T-Shirt, X-Large'?",
    "Considering the product title 'Hydro Flask Wide Mouth Bottle, Pacific Blue', select the appropriate 'Brand'.",
    "Your task is to identify and list the attribute value corresponding to 'product type' mentioned in the "
    "query. Do not give explanations.\nQuery: waterproof hiking boots men\nOutput: ",
    "Identify the brand in the product title 'Cecotec Conga 2290 Ultra Robot Vacuum'.",
    "Locate the material of this product in the title above and return it verbatim.\nProduct title: Lodge Skillet, Cast Iron",
    "In the title 'Flannel Shirt, Red Buffalo Plaid, Medium', which span is the 'Pattern'?\nAnswer:",
])
def test_one_named_attribute_taken_from_a_text_is_ner(prompt):
    """An attribute or entity type named in the instruction, its value a span of a title or query:
    entity recognition, even when one value is expected."""
    assert route_task(prompt, False) == "named_entity_recognition"


@pytest.mark.parametrize("prompt", [
    "Welche Farbe wird im folgenden Produkttitel genannt? Gib nur das Wort aus dem Titel zurück.\n"
    "Titel: Tefal Pfannenset 3-teilig, schwarz",
    "¿Cuál es la marca en el título 'Cecotec Robot Aspirador Conga 2290'? Responde solo con la marca tal como aparece.",
    "Identifiez la marque dans le titre de produit suivant et renvoyez-la telle quelle : « Moulinex Easy Fry XXL »",
    "请从下面的商品标题中找出表示“颜色”的词语，只输出标题原文中的词语。\n标题：小米 电动牙刷 T300 白色\n答案：",
])
def test_an_attribute_value_asked_for_in_another_language_is_ner(prompt):
    assert route_task(prompt, False) == "named_entity_recognition"


@pytest.mark.parametrize("prompt", [
    "Devise a brief and catchy title that mirrors the core message or opinion of the review.\nReview: My dog "
    "loves it! I give her the treats every night, as recommended, and list of benefits is long.\nOutput: ",
    "Instruction: Referencing the product \"Organic Granola\", generate an answer to the specified question.\n"
    "Input: Does anyone have a complete list of ingredients?\nOutput: ",
    "Instruction: Summarise the review in a short headline.\nReview: Extract all the juice, rank it first among "
    "juicers, sort of amazing, entity type of appliance I love.\nOutput:",
])
def test_words_inside_the_users_data_fields_never_steer_the_router(prompt):
    """A labelled field of the user's data ("Review: ...", "Input: ...") is text to work on, not the ask."""
    assert route_task(prompt, False) == "generation"


def test_review_text_cannot_override_an_explicit_count():
    aspects = "\n".join(f"{i}. {a}" for i, a in enumerate(
        ["taste", "price", "size", "smell", "texture", "packaging", "delivery", "freshness", "colour", "value"], 1))
    prompt = ("You are given a review and a numbered list of ten aspects. Choose three aspects from the list that "
              f"the review covers. ONLY output three numbers.\nReview: The dog ate the whole bag all at once, every "
              f"single treat exactly once, and it smelled fine.\n{aspects}\nOutput:")
    r = route(prompt, False)
    assert (r.task_type, r.info.requested_count) == ("retrieval", 3)


def test_a_measure_like_1_5_16_inch_is_no_range_of_candidates():
    items = "\n".join(f"{i}. spade bit {i}" for i in range(1, 6))
    prompt = f"Which bits drill a 1-5/16-Inch hole? Give their numbers, comma-separated.\n{items}"
    assert route_task(prompt, False) == "retrieval"


def test_numbered_directions_inside_a_description_are_no_candidates():
    inline = ("Identify four key terms that describe the product.\nDescription: Fluffy pancake mix. Directions: "
              "1) Pour the mix 2) Add milk 3) Whisk 4) Rest 5) Fry\nOutput:")
    r = route(inline, False)
    assert (r.task_type, r.n_candidates) == ("generation", 0)
    lines = ("Identify four key terms that describe the product.\nDescription: Fluffy pancake mix.\nDirections:\n"
             "1) Pour the mix\n2) Add milk\n3) Whisk\n4) Rest\n5) Fry\nOutput:")
    assert route_task(lines, False) == "generation"


@pytest.mark.parametrize("prompt", [
    "Ali's class wants to order 35 English textbooks and 35 geography textbooks. A geography book costs $10.50 "
    "and an English book $7.50. What is the amount of this order?\n0. 7\n1. 630\n2. 262\n3. 5\nAnswer: ",
    "Crabs live in what sort of environment?\n0. maritime\n1. bodies of water\n2. saltwater\n3. galapagos\n"
    "4. fish market\nAnswer: ",
    "Jason bought 4 dozen cupcakes. He plans to give 3 cupcakes each to his cousins. How many cousins does Jason "
    "have?\n0. 12\n1. 3\n2. 4\n3. 16\nAnswer: Let's think step by step.",
    "For what entity should the government work?\n0. country\n1. democracy\n2. canada\n3. civilization\n"
    "4. tax office\nAnswer: Let's think step by step.",
    "Mark has two dozen eggs to split with his three siblings. How many eggs does each get?\n0. 24\n1. 6\n2. 12\n"
    "3. 2\nAnswer:",
    "On a quiz, Martin answered three fewer questions correctly than Kelsey. Kelsey answered 43. How many did "
    "Martin answer?\n0. 40\n1. 46\n2. 3\n3. 43\nAnswer: Let's think step by step.",
])
def test_ordering_counting_and_entity_words_inside_a_word_problem_do_not_route_it(prompt):
    """A word problem with answer values listed (not flagged multiple choice) asks for a worked answer:
    "order" as a purchase, "what sort of", "give 3 cupcakes", "for what entity" are not asks."""
    assert route_task(prompt, False) == "generation"


def test_a_worked_answer_cue_does_not_override_an_explicit_ranking_or_pick():
    items = "\n".join(f"{i}. earbuds {i}" for i in range(1, 6))
    assert route_task(f"Rank the alternatives from best to worst.\n{items}\nAnswer: Let's think step by step.",
                      False) == "ranking"
    assert route_task(f"Which three of the products fit best? Give the three numbers.\n{items}\n"
                      "Answer: Let's think step by step.", False) == "retrieval"


@pytest.mark.parametrize("prompt", [
    "Instruction: Identify and summary the primary attributes of dress given in this description.\n"
    "Description: A silk slip dress with a cowl neck and thin straps.\nOutput:",
    "Title: Crystal Chandelier\nDescription: Handcrafted statement piece.\nInstruction: From the given product "
    "title and description, summarize the content into four keywords.\nOutput: ",
    "You are given a user review of a shirt and an aspect. Please extract the keyphrase from the review that "
    "mentions the aspect.\nReview: fits well, runs a bit long\nAspect: size\nOutput:",
])
def test_keyphrase_and_keyword_extraction_is_generation(prompt):
    """One rule: key phrases and keywords of a text are scored as text (ROUGE-L, BLEU, sentence
    similarity), so they get generation's decoding, not NER's 15 tokens."""
    assert route_task(prompt, False) == "generation"


def test_an_entity_type_named_as_such_outweighs_the_words_key_phrase():
    prompt = ("Extract the key phrase mentioned in the query in terms of the entity type 'connectivity'. Do not "
              "give explanations.\nQuery: wireless bluetooth game controller\nOutput: ")
    assert route_task(prompt, False) == "named_entity_recognition"


def test_keywords_picked_from_a_list_stay_retrieval():
    items = "\n".join(f"{i}. keyword set {i}" for i in range(1, 9))
    prompt = f"Select the three keywords from the list below that best describe 'trail shoes'.\n{items}"
    assert route_task(prompt, False) == "retrieval"


@pytest.mark.parametrize("prompt", [
    "Voici des avis clients sur une cafetière. Indiquez les numéros de tous les avis qui parlent du bruit.\n"
    "Avis 1 : Le café est excellent.\nAvis 2 : Très bruyante le matin.\nAvis 3 : Joli design.\nAvis 4 : Bruit "
    "supportable.\nRéponse :",
    "Which of the following products suit a newborn baby? Select every index that applies.\n0. swaddle\n"
    "1. bike helmet\n2. teether\n3. football\n4. baby monitor",
    "Mark the indices of the drill bits that fit a hex-shank driver.\n0. hex spade bit\n1. SDS bit\n2. hex "
    "twist bit\n3. masonry bit",
    "The list below is numbered from 0. Select the screws that are at least 1-1/4 inches long and give their "
    "indices in ascending order.\n0) #8 x 1-5/16-Inch\n1) #6 x 1/2-Inch\n2) #10 x 2-Inch\n3) #8 x 3/4-Inch",
])
def test_picking_the_listed_items_that_meet_a_condition_is_retrieval(prompt):
    assert route_task(prompt, False) == "retrieval"


def test_evaluate_every_ecguide_validation_row_to_its_label():
    """The EC-Guide validation suite (data/ecguide/validation.jsonl, written by another team): at least
    98 % of every subtask's rows go to their label's type; keyphrase subtasks may go to generation or NER."""
    path = Path(__file__).resolve().parent.parent / "data" / "ecguide" / "validation.jsonl"
    rows = _rows(path)
    keyphrase_tasks = {"Generation_EPK", "Generation_PKS"}
    by_task: dict[str, list[bool]] = {}
    wrong = []
    for r in rows:
        got = route_task(r["input_field"], r["is_multiple_choice"])
        ok = got == r["task_type"] or (r["task_name"] in keyphrase_tasks and got == "named_entity_recognition")
        by_task.setdefault(r["task_name"], []).append(ok)
        if not ok:
            wrong.append((r["task_name"], r["task_type"], got, r["input_field"][:100]))
    assert len(by_task) >= 14
    low = {t: sum(v) / len(v) for t, v in by_task.items() if sum(v) / len(v) < 0.98}
    assert not low, "\n".join(map(str, wrong[:30]))


def _cues():
    from utilities.tasks import base, generation, named_entity_recognition, ranking, retrieval
    from utilities.tasks.base import Cue

    for module in (base, generation, named_entity_recognition, ranking, retrieval):
        for name, value in vars(module).items():
            for k, cue in enumerate(value if isinstance(value, list) else [value]):
                if isinstance(cue, Cue):
                    yield f"{module.__name__.rsplit('.', 1)[-1]}.{name}[{k}]", cue


def test_every_cue_match_holds_one_of_its_hints(dev_rows):
    """The hints only skip a pattern where it cannot match: on every prompt the repo holds (dev, the
    held-out sets, the EC-Guide suite), read as an instruction and as whole text, a cue finds what its
    regex finds."""
    from utilities.tasks.base import analyse, normalise

    prompts = [r["input_field"] for r in dev_rows]
    for path in HELD_OUT:
        prompts += [r["prompt"] for r in _rows(path)]
    prompts += [r["input_field"] for r in _rows(Path(__file__).resolve().parent.parent / "data" / "ecguide" / "validation.jsonl")]
    texts = {analyse(p).instruction for p in prompts} | {normalise(p) for p in prompts[:1200]}
    cues = list(_cues())
    assert len(cues) >= 40
    missed = [(name, t[:80]) for name, cue in cues for t in texts
              if (cue.search(t) is None) != (cue.regex.search(t) is None)]
    assert not missed, missed[:10]


# --- rules added after blind set 8 (first sight 184/200) --------------------------------------------

@pytest.mark.parametrize("prompt", [
    "Which word in the query is the color? Query: 'vestido largo verde esmeralda para boda'\nColor: ",
    "Which substring of the title tells the voltage?\nTitle: DEWALT 20V MAX Cordless Drill Kit\nAnswer: ",
    "Given the product title, find the phrase that states the number of items in the pack.\n"
    "Product title: Duracell AA Batteries, 24 Count Pack\nAnswer:",
    "Instruction: Which character is named in this title? Copy it from the title.\nInput: Disney Frozen Elsa Costume",
])
def test_a_span_of_a_title_or_query_asked_for_without_naming_its_type_is_ner(prompt):
    assert route_task(prompt, False) == "named_entity_recognition"


@pytest.mark.parametrize("prompt", [
    "Which phrase in this review talks about the price? Quote that one phrase only.\nReview: A steal at this "
    "price, and the lid seals tight.\nOutput:",
    "Review of a jacket: \"Warm, but the zipper snags constantly.\"\nAspect: zipper\nReturn the one phrase from "
    "the review that talks about this aspect. Copy it from the review.\nOutput:",
])
def test_the_same_span_ask_of_a_review_is_keyphrase_extraction_so_generation(prompt):
    """A phrase of a review about an aspect is a keyphrase (dev task6, ROUGE-L), not an entity."""
    assert route_task(prompt, False) == "generation"


@pytest.mark.parametrize("prompt", [
    "Slot filling task. Slot: screen_size\nUtterance: i need a 15.6 inch laptop sleeve\nSlot value: ",
    "Instruction: Return the value for the aspect 'storage capacity'.\nInput: SanDisk 256GB Extreme microSDXC",
    "Query: replacement filter for shark navigator nv352\nInstruction: tag the brand, the product line and the "
    "model number in the query. Output them comma-separated.",
    "Temukan merek (brand) pada judul produk berikut.\nJudul: Wardah Lightening Day Cream 30 g\nJawaban: ",
])
def test_an_attribute_value_asked_of_a_text_given_in_a_field_is_ner(prompt):
    assert route_task(prompt, False) == "named_entity_recognition"


def test_listed_things_asked_for_in_the_plural_is_retrieval():
    reviews = "\n".join(f"{i}. review text {i}" for i in range(6))
    assert route_task("Question: does it fit a 15 inch laptop?\nWhich reviews help answer the question?\n"
                      + reviews, False) == "retrieval"
    items = "\n".join(f"Item {i}: drill {i}" for i in range(1, 6))
    assert route_task("Which of the items are cordless? Numbers of all cordless items, please.\n" + items,
                      False) == "retrieval"


def test_all_such_numbers_is_a_subset_not_a_permutation():
    items = "\n".join(f"{i}. bottle {i}" for i in range(1, 7))
    prompt = f"Which of the listings below are the same product? List all such numbers.\n{items}\nOutput: "
    assert route_task(prompt, False) == "retrieval"
    assert route_task(f"Put these in order of price. Give all six numbers.\n{items}", False) == "ranking"


def test_an_indonesian_ranking_instruction_is_ranking():
    items = "\n".join(f"{i}. Sepatu {i}" for i in range(1, 6))
    prompt = f"Kueri: 'sepatu lari wanita'. Urutkan semua produk berikut dari yang paling relevan.\n{items}"
    assert route_task(prompt, False) == "ranking"


# --- rules added after blind set 9 (first sight 191/200) --------------------------------------------

@pytest.mark.parametrize("prompt", [
    "Catalog:\n" + "\n".join(f"{i}. appliance {i}" for i in range(12)) + "\nWhich of the 12 appliances above can air "
    "fry food? Indices:",
    "Q: Among these coffee maker reviews, which express a mixed opinion?\n" + "\n".join(
        f"{i}. review {i}" for i in range(8)) + "\nA (indices only): ",
    "\n".join(f"{i}. question {i}" for i in range(6)) + "\nReview: \"Three HDMI inputs.\"\nInstruction: identify "
    "the questions (above) that this review addresses.\nIndices: ",
    "Instruction: Return the indices of products whose MATERIAL is 100% cotton.\nInput:\n" + "\n".join(
        f"{i}. shirt {i}" for i in range(6)) + "\nOutput: ",
])
def test_an_answer_of_indices_of_listed_things_is_retrieval(prompt):
    assert route_task(prompt, False) == "retrieval"


def test_sorting_from_the_cheapest_per_unit_to_the_dearest_is_ranking():
    items = "\n".join(f"{i}. Tide Pods, {n} count - ${p}" for i, (n, p) in enumerate([(81, 22.99), (42, 13.49),
                                                                                      (112, 29.97), (16, 6.49)], 1))
    prompt = f"{items}\nSort these offers from the cheapest price per pod to the most expensive per pod. Give the indices in order."
    assert route_task(prompt, False) == "ranking"


def test_an_attribute_named_in_a_field_beside_a_title_is_ner():
    prompt = "Title: Apple iPhone 15 Pro (256 GB) - Natural Titanium\nAttribute: STORAGE CAPACITY\nValue: "
    assert route_task(prompt, False) == "named_entity_recognition"


@pytest.mark.parametrize("prompt", [
    "Title: Cordless Vacuum 25000Pa\nReview text: Suction is strong, but the BATTERY dies after 15 minutes.\n"
    "Instruction: Pull out the exact words that describe the battery.\nOutput: ",
    "Instruction: Give a short summary (under 30 words) of this review.\nInput: I bought these for my daughter, "
    "a nurse on her feet all day; she loves them.\nOutput: ",
])
def test_a_phrase_of_a_review_and_a_summary_in_so_many_words_are_generation(prompt):
    assert route_task(prompt, False) == "generation"


def test_an_attribute_taken_from_bullet_points_is_ner():
    prompt = ("Bullet points:\n- Compatible with iPhone 15\n- Made of tempered glass, 9H hardness\n\n"
              "Extract the MATERIAL from the bullet points above.\nAnswer: ")
    assert route_task(prompt, False) == "named_entity_recognition"


# --- rules added after blind set 10 (first sight 189/200) -------------------------------------------

@pytest.mark.parametrize("prompt", [
    "Extract MATERIAL from: stainless steel water bottle 40 oz with straw lid\nOutput: ",
    "Instruction: Extract the switch type from the product title.\nInput: Keychron K2 Keyboard, Gateron Brown Switch",
    "Instruction: From the description, extract the BATTERY LIFE.\nInput: Fitbit Charge 6, up to 7 days battery life",
    "From the bullet points below, extract the value for SCREEN RESOLUTION.\n- 27-inch curved panel\n- QHD 2560 x "
    "1440 resolution",
    "Extract the following attribute from the product information.\nATTRIBUTE: CONNECTIVITY\nPRODUCT: Logitech MX "
    "Master 3S Wireless Mouse",
    "Product title (Spanish): Aceite de Oliva Virgen Extra Carbonell 1 Litro\nWhat is the capacidad (capacity)? Give "
    "only the value as written.\nAnswer: ",
])
def test_a_named_attribute_extracted_from_a_product_text_is_ner(prompt):
    """A verb and a short name (not a keyphrase, summary or listed thing) taken from a title, query,
    description or the product's bullet points: an attribute value."""
    assert route_task(prompt, False) == "named_entity_recognition"


@pytest.mark.parametrize("prompt", [
    "Title: Bathroom Mat 80x50cm\nDescription: Soft, quick drying, non slip.\nInstruction: Extract four key "
    "descriptors from the title and description of the product provided.\nOutput: ",
    "Given a review of a phone case and the aspect 'grip', extract the phrase in the review that refers to the "
    "aspect.\nReview: Slim but slippery as a bar of soap.\nPhrase: ",
    "Instruction: With reference to the product \"PowerBot PB6000 Power Bank with 1A Output and Built-in LED\", "
    "answer the question.\nQuestion: does it charge an iPad?\nOutput: ",
])
def test_keyphrases_a_review_phrase_and_a_product_question_stay_generation(prompt):
    assert route_task(prompt, False) == "generation"


def test_a_text_field_ends_at_a_line_that_asks_something():
    from utilities.tasks import analyse

    info = analyse("Description: Heavy-duty 1000A jump starter.\nWhat is the PEAK CURRENT? Reply briefly.\nAnswer: ")
    assert info.instruction == "what is the peak current? reply briefly. answer:"


LONG_PROMPTS = {
    "repeated '1.' lines (Markdown auto-numbering)": "Rank the items by price.\n" + "1. item\n" * 17_000,
    "inline items": "Rank: " + " ".join(f"{i % 99 + 1}. a" for i in range(20_000)),
    "inline '1.' items": "Rank: " + " ".join("1. ab" for _ in range(20_000)),
    "one line": "Describe this: " + "x" * 100_000,
    "fields": "Review: good\n" * 8_000,
}


@pytest.mark.parametrize("prompt", LONG_PROMPTS.values(), ids=LONG_PROMPTS.keys())
def test_a_100_kb_prompt_routes_in_well_under_a_second(prompt):
    import time

    assert len(prompt) >= 100_000
    for is_mc in (False, True):
        start = time.perf_counter()
        r = route(prompt, is_mc)
        r.info.instruction, r.info.requested_count, r.info.scale  # what the answer path may read
        assert time.perf_counter() - start < 1.0  # ~0.05 s on one core; quadratic code took minutes


def test_routing_reads_at_most_what_the_answer_path_can_use():
    from utilities.tasks.base import READ_MAX_CHARS

    head = "Rank the 5 products by relevance to 'usb hub'.\n"
    tail = "\n".join(f"{i}. hub {i}" for i in range(1, 6)) + "\nOutput:"
    prompt = head + "filler words " * 200_000 + "\n" + tail
    r = route(prompt, False)
    assert r.task_type == "ranking" and r.info.options == (1, 2, 3, 4, 5)
    assert sum(len(line) + 1 for line in r.info.lines) <= READ_MAX_CHARS + 8
