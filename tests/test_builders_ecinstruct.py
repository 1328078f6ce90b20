"""The ECInstruct builders (docs/datasets.md rows 11-19, 30) on rows in ECInstruct's real schema.

Rows follow the eCeLLM data-processing notebooks (ninglab/eCeLLM ``data_processing/*.ipynb``): the
input dict keys ("product title", "Product 1:", "product list", ...), the "A: ..." options, and the
outputs (a letter, "A: text", yes/no, "B,A,C", the AVE JSON list). Each builder is checked for
answer validity, real distractors that never equal the answer, determinism, routing and size.
"""
from __future__ import annotations

import json
import math
import random
import re
from collections import Counter

import pytest

from training.data.builders.amazon_m2 import clip
from training.data.builders.ecinstruct import (
    ECInstructAnswerability,
    ECInstructAttributeValueExtraction,
    ECInstructProductClassification,
    ECInstructProductMatching,
    ECInstructProductRelation,
    ECInstructQueryProductRank,
    ECInstructReviewSentimentRanking,
    ECInstructSentiment,
    ECInstructSequentialRecommendation,
    ECInstructSubstituteIdentification,
    lettered_options,
    sentiment_level,
)
from training.data.registry import Skip, load_builders
from training.data.rows import check, to_row
from training.data.sources import ECInstructIndex, ECInstructRow
from utilities.parsers import parse
from utilities.tasks.base import analyse

BUILDERS = (ECInstructAttributeValueExtraction, ECInstructProductClassification, ECInstructProductRelation,
            ECInstructQueryProductRank, ECInstructSequentialRecommendation, ECInstructAnswerability,
            ECInstructProductMatching, ECInstructSubstituteIdentification, ECInstructSentiment,
            ECInstructReviewSentimentRanking)


def row(task: str, input, output: str, options=None, setting: str = "IND_Diverse_Instruction") -> ECInstructRow:
    return ECInstructRow(task=task, instruction="(the dataset's instruction)", input=input,
                         options=tuple(options) if isinstance(options, list) else options, output=output,
                         split="train", setting=setting)


# ---- rows in the real schema ------------------------------------------------------------------------

AVE = [
    row("Attribute_Value_Extraction",
        {"product title": "Nike Men's Air Zoom Pegasus 36 Running Shoe, Black/White",
         "product feature": "Breathable mesh upper, Black rubber outsole, Zoom Air cushioning",
         "product brand": "Nike", "target attributes": "color"},
        json.dumps([{"attribute": "color", "value": "black", "source": "product title"},
                    {"attribute": "color", "value": "white", "source": "product title"},
                    {"attribute": "color", "value": "black", "source": "product feature"}])),
    row("Attribute_Value_Extraction",
        {"product title": "Amazon Essentials Women's Classic-Fit Crewneck T-Shirt, Navy Blue",
         "product description": "A soft 100% cotton tee with a classic fit and a crew neck.",
         "target attributes": "material and color"},
        json.dumps([{"attribute": "material", "value": "cotton", "source": "product description"},
                    {"attribute": "color", "value": "navy blue", "source": "product title"}])),
    row("Attribute_Value_Extraction",  # a MAVE negative
        {"product title": "Stainless Steel Water Bottle 750 ml", "target attributes": "sleeve style"},
        json.dumps([{"attribute": "sleeve style", "value": "None", "source": "None"}])),
    row("Attribute_Value_Extraction",  # a value that is nowhere in the text
        {"product title": "Ceramic Coffee Mug 350 ml", "target attributes": "pattern"},
        json.dumps([{"attribute": "pattern", "value": "floral", "source": "product title"}])),
    row("Attribute_Value_Extraction",  # input and output still JSON strings, as on disk
        json.dumps({"product title": "Levi's 501 Original Fit Jeans, Stonewash",
                    "product feature": "Button fly, straight leg, 100% Cotton denim", "target attributes": "fit"}),
        json.dumps([{"attribute": "fit", "value": "original fit", "source": "product title"},
                    {"attribute": "fit", "value": "straight leg", "source": "product feature"}]),
        setting="IND_Single_Instruction"),
    row("Attribute_Value_Extraction",  # "red" must not match inside "Shredder"
        {"product title": "Fellowes Paper Shredder 8-Sheet, Black", "target attributes": "color"},
        json.dumps([{"attribute": "color", "value": "red", "source": "product title"}])),
]

ESCI_OPTIONS = [
    "A: The product is relevant to the query, and satisfies all the query specifications.",
    "B: The product is somewhat relevant. It fails to fulfill some aspects of the query but the product can be used "
    "as a functional substitute.",
    "C: The product does not fulfill the query, but could be used in combination with a product exactly matching the "
    "query.",
    "D: The product is irrelevant to the query.",
]
MPC = [row("Multiclass_Product_Classification", {"query": q, "product title": t}, out, ESCI_OPTIONS)
       for q, t, out in [
           ("iphone 11 case", "OtterBox Defender Series Case for iPhone 11, Black", ESCI_OPTIONS[0]),
           ("iphone 11 case", "Spigen Tough Armor Case for iPhone XR", "B"),
           ("coffee grinder", "Bodum Chambord French Press Coffee Maker, 8 Cup", "C: The product does not fulfill"),
           ("yoga mat", "Hamilton Beach Electric Kettle 1.7 L", "D"),
           ("usb c hub", "Anker USB C Hub, 7-in-1 Adapter with 4K HDMI", "A"),
       ]]

PRP_OPTIONS = ["A: Users who buy product 1 may also buy product 2.",
               "B: Users who view product 1 may also view product 2.",
               "C: The product 1 is similar with the product 2."]
PRP = [row("Product_Relation_Predicition", {"Product 1:": a, "Product 2:": b}, out, PRP_OPTIONS)
       for a, b, out in [
           ("Cooler Master HAF X - Full Tower Computer Case with USB 3.0 Ports",
            "G.Skill Ripjaws V Series 16GB (2 x 8GB) DDR4 3200 Desktop Memory", "A"),
           ("Cerwin-Vega XED52 Speaker 275 W PMPO 2-Way", "Rockford R169X2 6 x 9 Inches Full Range Coaxial Speaker",
            "C"),
           ("DEWALT Drill/Driver Set, 80-Piece (DW2587)", "DeWalt (2 Pack) Bit Holder for 20V Max DCD980", "B"),
       ]]

QPR_DATA = [
    ("jeep liberty lift", ["Supreme Suspensions Front Leveling Kit for Jeep Liberty KJ",
                           "Rough Country 2.5 Lift Kit for Jeep Wrangler JK", "Motor Trend Rubber Floor Mats"]),
    ("lexus rear bumper lights", ["DSparts Rear Left Side Marker Bumper Light for Lexus RX330",
                                  "Marsauto 194 LED Light Bulb 6000K"]),
    ("bamboo cutting board", ["Totally Bamboo Cutting Board 3 Piece Set", "Epicurean Kitchen Series Board",
                              "OXO Good Grips Carving Knife", "Crayola Washable Markers 10 Count"]),
    ("wireless earbuds", ["SoundPEATS Life Wireless Earbuds with Noise Cancelling", "Sony Over-Ear Headphones",
                          "Earbud Carrying Case Hard Shell"]),
    ("cast iron skillet", ["Lodge Cast Iron Skillet 10.25 Inch", "Victoria Cast Iron Griddle",
                           "Silicone Handle Holder"]),
    ("dog harness large", ["Rabbitgoo Dog Harness No Pull Large", "PetSafe Easy Walk Harness Medium"]),
    ("gaming mouse", ["Logitech G502 HERO Gaming Mouse", "Razer DeathAdder Essential Gaming Mouse",
                      "SteelSeries QcK Gaming Mouse Pad", "Scotch Heavy Duty Packaging Tape"]),
    ("baby bottle", ["Philips Avent Natural Baby Bottle 9oz", "Dr. Brown's Options Baby Bottle",
                     "Munchkin Bottle Drying Rack"]),
    ("hiking boots women", ["Columbia Women's Newton Ridge Hiking Boot", "Merrell Women's Moab 2 Hiking Shoe"]),
    ("espresso machine", ["De'Longhi Dedica Espresso Machine", "Breville Bambino Plus Espresso Maker",
                          "Espresso Tamper 51mm Stainless"]),
    ("led desk lamp", ["TaoTronics LED Desk Lamp with USB Port", "BenQ e-Reading Monitor Light Bar"]),
    ("tennis racket", ["Wilson Pro Staff Tennis Racket", "Head Ti S6 Tennis Racquet",
                       "Penn Championship Tennis Balls"]),
    ("garden hose 50 ft", ["Flexzilla Garden Hose 50 ft", "Gilmour Heavy Duty Hose Nozzle"]),
    ("shower curtain", ["Amazon Basics Fabric Shower Curtain White", "Mrs. Awesome Shower Liner",
                        "Glass Shower Door Squeegee"]),
    ("printer ink hp 63", ["HP 63 Black Ink Cartridge", "HP 63 Tri-color Ink Cartridge", "Canon PG-245 Black Ink"]),
    ("wool socks", ["Darn Tough Merino Wool Hiker Socks", "Smartwool Hike Light Crew Socks"]),
    ("electric toothbrush", ["Oral-B Pro 1000 Electric Toothbrush", "Philips Sonicare ProtectiveClean 4100",
                             "Waterpik Cordless Water Flosser"]),
    ("kindle cover", ["Fintie Slimshell Case for Kindle Paperwhite", "Amazon Kindle Fabric Cover Black"]),
    ("protein powder", ["Optimum Nutrition Gold Standard Whey", "Orgain Organic Plant Based Powder",
                        "BlenderBottle Classic Shaker"]),
    ("car phone mount", ["iOttie Easy One Touch 4 Dash Mount", "Scosche MagicMount Vent"]),
]
QPR = []
for i, (query, titles) in enumerate(QPR_DATA):
    letters = [chr(65 + j) for j in range(len(titles))]
    ranked = letters[:1] + letters[1:][::-1] if i % 2 else letters  # the listed order is not the ranking
    products = [f"{letter}: {title}" for letter, title in zip(letters, titles)]
    QPR.append(row("Query_Product_Ranking", {"query": query, "product list": products}, ",".join(ranked)))

SR_ITEMS = [f"{name}. {cat}. {brand}." for name, cat, brand in [
    ("Case Logic Ultra-Compact Camera Case", "Electronics", "Case Logic"),
    ("JJC Optical Glass Screen Protector for Olympus OM-D", "Electronics", "JJC"),
    ("Olympus Li-92 Rechargeable Battery", "Electronics", "Olympus"),
    ("Nikon Binoc-U-Mount Universal Tripod Adapter", "Electronics", "Nikon"),
    ("Look Cycle Keo Cleat Cover", "Sports & Outdoors", "Look"),
    ("Pyrex Storage Deluxe Oval Dish", "Home & Kitchen", "Pyrex"),
    ("Polar H6 Heart Rate Sensor", "Sports & Outdoors", "Polar"),
    ("Broil King Professional Portable Griddle", "Home & Kitchen", "Broil King"),
    ("Adorama 20-Inch Cable Release", "Electronics", "Adorama"),
    ("Miles Kimball Flannel Sheet Sets", "Home & Kitchen", "Miles Kimball"),
    ("Insten Hot Shoe Cap Cover for Canon", "Electronics", "eForCity"),
    ("Maximal Power 67mm Lens Filter Kit", "Electronics", "MaximalPower"),
    ("MERRITHEW Eco Yoga Mat", "Sports & Outdoors", "Merrithew"),
    ("Home Styles Bordeaux King Headboard", "Home & Kitchen", "Home Styles"),
    ("Noctua NF-S12B 120 mm Fan", "Electronics", "Axpertec"),
    ("CAT EYE Rapid X3 Bike Safety Light", "Sports & Outdoors", "CAT EYE"),
    ("Butter Dish with Lid White Porcelain", "Home & Kitchen", "Chefcaptain"),
    ("LEE PRECISION Pacesetter Dies", "Sports & Outdoors", "LEE PRECISION"),
    ("Generic 5.0 Megapixel USB Webcam", "Electronics", "SANOXY"),
    ("HUJI Under Cabinet Wine Glass Rack", "Home & Kitchen", "Huji"),
    ("Kanex MultiSync Bluetooth Keyboard", "Electronics", "Kanex"),
    ("Vacu Vin Food Saver for Tea", "Home & Kitchen", "Vacu Vin"),
]]


def ordinal(i: int) -> str:
    return f"{i}{'st' if i == 1 else 'nd' if i == 2 else 'rd' if i == 3 else 'th'}"


SR = []
for r in range(6):
    history = [f"{ordinal(i + 1)}: {SR_ITEMS[(r + 3 * i) % len(SR_ITEMS)]}" for i in range(4 + 3 * r)]  # up to 19
    options = [f"{chr(65 + j)}: {SR_ITEMS[(r + j) % len(SR_ITEMS)]}" for j in range(20)]
    SR.append(row("Sequential_Recommendation", history, chr(65 + (r * 7) % 20), options))
SR.append(row("Sequential_Recommendation", str([f"1st: {SR_ITEMS[0]}", f"2nd: {SR_ITEMS[1]}"]), "C",
              str([f"{chr(65 + j)}: {SR_ITEMS[j + 2]}" for j in range(20)])))  # str(list) as the notebook wrote it

AP = [row("Answerability_Prediction", {"question": q, "document": d}, out) for q, d, out in [
    ("Does it fit a 2015 Honda Civic?", ["Fits my 2016 Civic perfectly.", "Easy to install, took ten minutes.",
                                         "The color matches the original trim."], "yes"),
    ("Is the bottle dishwasher safe?", ["Keeps water cold all day.", "The lid leaks a little when tipped over."], "no"),
    ("How long does the battery last?", ["Battery lasts about 8 hours of continuous use.", "Charges quickly."], "yes"),
    ("Can it be used outdoors?", ["Looks great in my living room.", "Assembly instructions were unclear."], "no"),
]]

PM = [row("Product_Matching", {"product 1": a, "product 2": b}, out) for a, b, out in [
    ({"title": "weekly reader preparing for kindergarten", "description": math.nan,
      "manufacturer": "fogware publishing", "price": "19.99"},
     {"title": "mcafee inc total protection 2007 3-user", "description": "mcafee total protection peace of mind for "
      "your entire family", "manufacturer": "nan", "price": "92.51"}, "no"),
    ({"title": "adobe photoshop elements 5.0", "description": "photo editing for everyone", "manufacturer": "adobe",
      "price": "99.99"},
     {"title": "adobe photoshop elements 5", "description": "edit and organize photos", "manufacturer": "adobe",
      "price": "89.0"}, "yes"),
    ({"title": "microsoft office home and student 2007", "description": math.nan, "manufacturer": "microsoft",
      "price": "149.95"},
     {"title": "ms office home & student 2007 (3 pc)", "description": math.nan, "manufacturer": "nan",
      "price": "139.99"}, "yes"),
]]

PSI = [row("Product_Substitue_Identification", {"query": q, "product": p}, out) for q, p, out in [
    ("usb c hub", "Anker USB 3.0 Hub, 4 Port", "yes"),
    ("usb c hub", "Anker USB C Hub, 7-in-1", "no"),
    ("running shoes men", "Nike Women's Revolution 5 Running Shoe", "yes"),
    ("wool socks", "Scotch Heavy Duty Packaging Tape", "no"),
]]

SA_OPTIONS = ["A: very positive", "B: positive", "C: neutral", "D: negative", "E: very negative"]
REVIEWS = {
    "A": ["Absolutely love this blender, it crushes ice in seconds and is easy to clean. Best purchase this year!",
          "Fantastic headphones, the sound is rich and the battery lasts forever. Highly recommend to everyone.",
          "Perfect fit and wonderful quality. My daughter adores this jacket and wears it every day."],
    "B": ["Good kettle, boils quickly. The lid is a little stiff but overall I am happy with it.",
          "Nice shoes, comfortable after a short break-in period, though they run a little narrow.",
          "Works well for the price. Setup took a while but it has been reliable since."],
    "C": ["It is okay. Does what it says, nothing more and nothing less, about what you would expect.",
          "Average backpack. Some pockets are useful, others are too small to be practical.",
          "The lamp is fine. The light is a bit cold for my taste but it works as described."],
    "D": ["Disappointed with this mug, the print started fading after a few washes in the dishwasher.",
          "The charger works but gets very hot and charges slower than my old one. Not great.",
          "Runs small and the fabric does not stretch at all. I will probably return it."],
    "E": ["Terrible product. It broke on the first day and customer service never answered my emails.",
          "Complete waste of money, the zipper fell off and the seams ripped within a week of use.",
          "Awful. The vacuum stopped working after two uses and smells like burning plastic."],
}
SA = [row("Sentiment_Analysis", review, out if i % 2 else SA_OPTIONS["ABCDE".index(out)], SA_OPTIONS)
      for out, reviews in REVIEWS.items() for i, review in enumerate(reviews)]

INDEX = ECInstructIndex(rows_by_task={
    "Attribute_Value_Extraction": AVE, "Multiclass_Product_Classification": MPC, "Product_Relation_Predicition": PRP,
    "Query_Product_Ranking": QPR, "Sequential_Recommendation": SR, "Answerability_Prediction": AP,
    "Product_Matching": PM, "Product_Substitue_Identification": PSI, "Sentiment_Analysis": SA,
    "Answer_Generation": [row("Answer_Generation", {"question": "q", "document": ["d"]}, "an answer")],
})


def run(cls, seed: int = 0, n: int = 200, index: ECInstructIndex = INDEX):
    """What build.py does for one builder (ECInstruct needs no lookup): seeds, question, check."""
    builder = cls()
    rng = random.Random(f"{seed}:{cls.name}")
    out, skipped = [], Counter()
    for s in builder.seeds(index, rng, n):
        try:
            q = builder.question(s, {}, rng)
            check(builder, q)
        except Skip as why:
            skipped[str(why)] += 1
            continue
        out.append((s, q))
    return out, skipped


def option_texts(prompt: str) -> tuple[str, ...]:
    return analyse(prompt).option_texts


def letter_text(r: ECInstructRow, letter: str) -> str:
    return dict(lettered_options(r))[letter]


# ---- registry ---------------------------------------------------------------------------------------

def test_registry_names_sources_types_sizes():
    registry = load_builders()
    expected = {
        "ecinstruct_attribute_value_extraction": ("named_entity_recognition", 19_622),
        "ecinstruct_product_classification": ("multiple-choice", 10_000),
        "ecinstruct_product_relation": ("multiple-choice", 10_000),
        "ecinstruct_query_product_rank": ("retrieval", 10_000),
        "ecinstruct_sequential_recommendation": ("multiple-choice", 10_000),
        "ecinstruct_answerability": ("multiple-choice", 10_000),
        "ecinstruct_product_matching": ("multiple-choice", 4_044),
        "ecinstruct_substitute_identification": ("multiple-choice", 10_000),
        "ecinstruct_sentiment": ("multiple-choice", 10_000),
        "ecinstruct_review_sentiment_ranking": ("ranking", 5_000),
    }
    for name, (task_type, size) in expected.items():
        cls = registry[name]
        assert (cls.source, cls.task_type, cls.size) == ("ecinstruct", task_type, size)
        assert len(cls.instructions) >= 3


# ---- answer validity --------------------------------------------------------------------------------

def test_attribute_values_are_entities_that_occur_in_the_text():
    rows, skipped = run(ECInstructAttributeValueExtraction)
    assert skipped == Counter({"the attribute has no value (a MAVE negative)": 1,
                               "no attribute value occurs in the shown product text": 2})  # "floral"; "red" in Shredder
    assert len(rows) == 3
    for r, q in rows:
        labels = json.loads(r.output) if isinstance(r.output, str) else r.output
        entities = parse("named_entity_recognition", q.answer)
        attributes = {l["attribute"] for l in labels if l["value"].lower() in {e.lower() for e in entities}}
        assert len(attributes) == 1  # one attribute per question, named in the prompt
        attribute = attributes.pop()
        assert attribute in q.prompt
        values = {label["value"] for label in labels if label["attribute"] == attribute}
        assert sorted(e.lower() for e in entities) == sorted(values)
        for e in entities:
            assert re.search(r"(?<!\w)" + re.escape(e) + r"(?!\w)", q.prompt)  # as written in the text
    answers = {q.answer for _, q in rows}
    assert "Black, White" in answers  # title casing kept, "black" from two sources once
    assert "Original Fit, straight leg" in answers  # a JSON-string input and output


@pytest.mark.parametrize("cls, rows_of, budget", [
    (ECInstructProductClassification, MPC, 150),
    (ECInstructProductRelation, PRP, 150),
    (ECInstructSentiment, SA, 150),
    (ECInstructSequentialRecommendation, SR, 45),
], ids=lambda x: getattr(x, "name", ""))
def test_letter_answer_points_at_the_output_option(cls, rows_of, budget):
    rows, skipped = run(cls)
    assert len(rows) == len(rows_of), skipped
    for r, q in rows:
        texts = option_texts(q.prompt)
        letter = re.match(r"\s*([A-Z])", r.output).group(1)
        truth = clip(letter_text(r, letter), budget)
        assert texts[int(q.answer)] == truth
        others = {clip(t, budget) for l, t in lettered_options(r) if l != letter}
        for i, t in enumerate(texts):
            if i != int(q.answer):
                assert t in others and t != truth  # the row's own other options, never the answer's text
        assert len(texts) <= 10 and analyse(q.prompt).options == tuple(range(len(texts)))


def test_sequential_recommendation_keeps_ten_options_and_the_last_ten_purchases():
    rows, _ = run(ECInstructSequentialRecommendation)
    for r, q in rows:
        assert len(option_texts(q.prompt)) == min(10, len(lettered_options(r)))
        history = [line[2:] for line in q.prompt.splitlines() if line.startswith("- ")]
        assert 1 <= len(history) <= 10
        assert not any(re.match(r"\d+(st|nd|rd|th):", h) for h in history)


@pytest.mark.parametrize("cls", [ECInstructAnswerability, ECInstructProductMatching,
                                 ECInstructSubstituteIdentification], ids=lambda c: c.name)
def test_yes_no_answer_points_at_the_right_option(cls):
    rows, skipped = run(cls)
    assert rows and not skipped
    for r, q in rows:
        texts = option_texts(q.prompt)
        assert len(texts) == 2 and texts[0] != texts[1]
        pairs = {yes: True for yes, _ in cls.labels} | {no: False for _, no in cls.labels}
        assert pairs[texts[int(q.answer)]] is (r.output == "yes")
        assert pairs[texts[1 - int(q.answer)]] is (r.output != "yes")


def test_product_matching_drops_nan_fields():
    rows, _ = run(ECInstructProductMatching)
    for _, q in rows:
        assert "nan" not in q.prompt.lower().replace("nance", "")


def test_query_product_rank_answer_is_the_top_of_the_ranking():
    """The answer holds the products ranked above the row's last one (at most 3), most relevant first."""
    rows, skipped = run(ECInstructQueryProductRank)
    assert len(rows) == len(QPR), skipped
    title_query = {t.split(": ", 1)[1]: r.input["query"] for r in QPR for t in r.input["product list"]}
    for (r, _), q in rows:
        texts = option_texts(q.prompt)
        assert len(texts) in (10, 15) and len(set(texts)) == len(texts)
        numbers = [int(x) for x in q.answer.split(", ")]
        own = dict(x.split(": ", 1) for x in r.input["product list"])
        ranked = r.output.split(",")
        top = ranked[:min(3, len(ranked) - 1)]  # the top 3, never the last-ranked product
        assert [texts[n - 1] for n in numbers] == [own[l] for l in top]  # in ranked order
        assert own[ranked[-1]] in texts  # the last-ranked product stays as a hard negative
        for i, t in enumerate(texts, start=1):
            assert t in title_query  # a real title of the source
            if t not in own.values():
                assert title_query[t] != r.input["query"]  # a distractor comes from another query's list


def test_review_ranking_orders_from_most_positive_to_most_negative():
    rows, skipped = run(ECInstructReviewSentimentRanking, n=50)
    assert len(rows) == 15, skipped  # one group per review of the source, at most
    level_of = {r.input: sentiment_level(r) for r in SA}
    for group, q in rows:
        texts = option_texts(q.prompt)
        order = [int(x) for x in q.answer.split(", ")]
        assert sorted(order) == list(range(1, len(texts) + 1)) == list(range(1, 6))
        assert [level_of[texts[n - 1]] for n in order] == [5, 4, 3, 2, 1]


def test_review_ranking_skips_when_the_source_has_fewer_than_three_labels():
    index = ECInstructIndex(rows_by_task={"Sentiment_Analysis": [r for r in SA if sentiment_level(r) in (5, 1)]})
    rows, skipped = run(ECInstructReviewSentimentRanking, index=index)
    assert not rows and skipped == Counter({"fewer than 3 sentiment labels in the source": 6})


# ---- determinism, routing, size ---------------------------------------------------------------------

@pytest.mark.parametrize("cls", BUILDERS, ids=lambda c: c.name)
def test_same_seed_same_rows_other_seed_other_rows(cls):
    a = [to_row(cls, q) for _, q in run(cls, seed=0)[0]]
    b = [to_row(cls, q) for _, q in run(cls, seed=0)[0]]
    c = [to_row(cls, q) for _, q in run(cls, seed=1)[0]]
    assert a and a == b
    assert a != c


@pytest.mark.parametrize("cls", BUILDERS, ids=lambda c: c.name)
def test_prompts_route_to_the_builders_task_type(cls):
    big = ECInstructIndex(rows_by_task={k: v * 30 for k, v in INDEX.rows_by_task.items()})
    rows, skipped = run(cls, index=big, n=300)
    assert rows
    assert not [r for r in skipped if "router" in r or "answer is not" in r or "answer has no" in r], skipped


@pytest.mark.parametrize("cls", BUILDERS, ids=lambda c: c.name)
def test_several_wordings_are_used(cls):
    big = ECInstructIndex(rows_by_task={k: v * 30 for k, v in INDEX.rows_by_task.items()})
    rows, _ = run(cls, index=big, n=300)
    assert len({q.prompt[:25] for _, q in rows}) >= 3


def test_prompts_stay_within_1500_tokens(qwen_tokenizer):
    long = "This is a long product text that goes on and on about features, materials and uses. " * 60
    big = ECInstructIndex(rows_by_task={
        "Attribute_Value_Extraction": [row("Attribute_Value_Extraction",
                                           {"product title": "Red Shirt " + long, "product description": long,
                                            "product feature": long, "target attributes": "color"},
                                           json.dumps([{"attribute": "color", "value": "red", "source": "title"}]))],
        "Multiclass_Product_Classification": [row("Multiclass_Product_Classification",
                                                  {"query": long, "product title": long}, "A", ESCI_OPTIONS)],
        "Product_Relation_Predicition": [row("Product_Relation_Predicition", {"Product 1:": long, "Product 2:": long},
                                             "A", PRP_OPTIONS)],
        "Query_Product_Ranking": [row("Query_Product_Ranking", {"query": f"q{i}",
                                                                "product list": [f"A: {i} {long}", f"B: {i} x {long}"]},
                                      "A,B") for i in range(20)],
        "Sequential_Recommendation": [row("Sequential_Recommendation", [f"{i}th: {long}" for i in range(50)], "A",
                                          [f"{chr(65 + j)}: {j} {long}" for j in range(20)])],
        "Answerability_Prediction": [row("Answerability_Prediction", {"question": long, "document": [long] * 20},
                                         "no")],
        "Product_Matching": [row("Product_Matching", {"product 1": {"title": long, "description": long},
                                                      "product 2": {"title": long, "description": long}}, "yes")],
        "Product_Substitue_Identification": [row("Product_Substitue_Identification", {"query": long, "product": long},
                                                 "yes")],
        "Sentiment_Analysis": [row("Sentiment_Analysis", f"{l} {long}", l, SA_OPTIONS) for l in "ABCDE"],
    })
    longest = 0
    for cls in BUILDERS:
        rows, skipped = run(cls, index=big, n=5)
        assert rows, (cls.name, skipped)
        for _, q in rows:
            longest = max(longest, len(qwen_tokenizer.encode(q.prompt)))
    assert 0 < longest <= 1500


def test_html_tags_and_nan_are_dropped_from_texts():
    from training.data.builders.ecinstruct import text

    cleaned = text("Great mug. <br />Keeps coffee hot.<br>Would buy again</p>")
    assert cleaned == "Great mug. Keeps coffee hot. Would buy again"
    assert text(math.nan) == text("nan") == text(None) == ""
    assert text("Size <5 mm & 3 > 2") == "Size <5 mm & 3 > 2"  # no tag: kept
