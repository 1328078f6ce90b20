"""The six Amazon Reviews 2023 builders (docs/datasets.md rows 2, 3, 4, 6, 7, 38).

Hermetic: a small corpus in the readers' types (``Review``, ``ItemMeta``) is written here, in the
shapes of the real data (browse-path categories, empty categories with a main_category, an item
without metadata, users with several reviews across category files, items with many reviews and
varied helpful votes). Every question is built the way ``build.py`` builds it: seeds from the
index, the lookup restricted to the keys the builder declares in ``needs`` (so an undeclared key
would show), then ``question`` and ``rows.check``.
"""
from __future__ import annotations

import random
import re
from collections import Counter
from pathlib import Path

import pytest

from training.data.builders import amazon_reviews_2023 as mod
from training.data.registry import Skip, load_builders
from training.data.rows import check, to_row
from training.data.sources import ItemMeta, Review, ReviewsIndex
from utilities.parsers import parse
from utilities.routing import route
from utilities.tasks import analyse

REPO = Path(__file__).resolve().parent.parent
NAMES = {
    "reviews_snippet_retrieval": ("retrieval", 7_373),
    "reviews_aspect_retrieval": ("retrieval", 3_608),
    "reviews_complement_category": ("multiple-choice", 10_000),
    "reviews_also_bought_ranking": ("ranking", 5_815),
    "reviews_rating": ("multiple-choice", 10_000),
    "reviews_helpfulness_ranking": ("ranking", 10_000),
}

# ---- the corpus -----------------------------------------------------------------------------------

# (parent_asin, file category, categories path, main_category, title, rating_number)
ITEMS = [
    ("G1", "Sports_and_Outdoors", ("Sports & Outdoors", "Golf", "Golf Club Sets"), "Sports & Outdoors",
     "Callaway Golf Men's Strata Complete Set", 812),
    ("G2", "Sports_and_Outdoors", ("Sports & Outdoors", "Golf", "Golf Bags"), "Sports & Outdoors",
     "Sunday Golf Lightweight Stand Bag", 455),
    ("G3", "Sports_and_Outdoors", ("Sports & Outdoors", "Golf", "Golf Bags"), "Sports & Outdoors",
     "Titleist Players 4 Stand Bag", 1290),
    ("G4", "Sports_and_Outdoors", ("Sports & Outdoors", "Golf", "Golf Balls"), "Sports & Outdoors",
     "Srixon Soft Feel Golf Balls, 12 Pack", 3021),
    ("Y1", "Sports_and_Outdoors", ("Sports & Outdoors", "Exercise & Fitness", "Yoga", "Yoga Mats"),
     "Sports & Outdoors", "Gaiam Essentials Thick Yoga Mat with Carrier Strap", 20991),
    ("B1", "Beauty_and_Personal_Care", ("Beauty & Personal Care", "Skin Care", "Face", "Serums"), "All Beauty",
     "TruSkin Vitamin C Serum for Face", 88017),
    ("B2", "Beauty_and_Personal_Care", ("Beauty & Personal Care", "Hair Care", "Shampoo & Conditioner",
                                         "Shampoos"), "All Beauty", "OGX Argan Oil of Morocco Shampoo", 4102),
    ("B3", "Beauty_and_Personal_Care", (), "All Beauty", "Rose Water Facial Toner Spray 4 oz", 77),
    ("B4", "Beauty_and_Personal_Care", ("Beauty & Personal Care", "Hair Care", "Styling Tools", "Hair Dryers"),
     "All Beauty", "REVLON One-Step Volumizer Hair Dryer", 51234),
    ("C1", "Clothing_Shoes_and_Jewelry", ("Clothing, Shoes & Jewelry", "Women", "Clothing", "Active", "Sports Bras"),
     "AMAZON FASHION", "CRZ YOGA Women's Longline Sports Bra", 6543),
    ("C2", "Clothing_Shoes_and_Jewelry", ("Clothing, Shoes & Jewelry", "Men", "Shoes", "Athletic", "Running Shoes"),
     "AMAZON FASHION", "ASICS Men's Gel-Venture 8 Running Shoes", 9876),
    ("C3", "Clothing_Shoes_and_Jewelry", ("Clothing, Shoes & Jewelry", "Women", "Clothing", "Leotards"),
     "AMAZON FASHION", "Capezio Women's Classic Camisole Leotard", 321),
    ("E1", "Electronics", ("Electronics", "Headphones", "Over-Ear Headphones"), "All Electronics",
     "Sony WH-1000XM4 Wireless Noise Canceling Headphones", 60123),
    ("E2", "Electronics", ("Electronics", "Accessories", "Chargers"), "All Electronics",
     "Anker 20W USB C Fast Charger", 15000),
    ("E3", "Electronics", ("Electronics", "Portable Audio", "Portable Bluetooth Speakers"), "All Electronics",
     "JBL Flip 5 Waterproof Portable Bluetooth Speaker", 42000),
    ("E4", "Electronics", ("Electronics", "Cell Phones", "Cases", "Basic Cases"), "All Electronics",
     "Spigen Tough Armor Case for iPhone 13", 7000),
]
NO_META = "X1"  # reviewed, but the meta file has no line for it

# Review titles per product type: positive, negative (type-specific so that they are no generic phrases)
TITLES = {
    "Golf Club Sets": (["Great starter golf set", "Clubs hit straight and long", "Forgiving irons for beginners",
                        "Nice driver in this set"],
                       ["Driver head came loose", "Irons feel cheap", "Putter grip peeled off", "Set missing a club"]),
    "Golf Bags": (["Nice and light weight bag", "Lightweight and roomy", "Great weight for walking the course",
                   "Stand legs work perfectly", "Plenty of pockets for balls"],
                  ["Strap broke after a month", "Stand legs collapse", "Zippers jam constantly", "Too heavy to carry"]),
    "Golf Balls": (["Soft feel off the putter", "Balls fly far", "Good spin around the greens"],
                   ["Balls scuff easily", "Cover cut after one round", "Not the balls pictured"]),
    "Yoga Mats": (["Thick cushioned yoga mat", "Mat does not slip during poses", "Carrier strap is handy"],
                  ["Mat smells like chemicals", "Mat tears at the edges", "Too thin for my knees"]),
    "Serums": (["Skin looks brighter", "Fades my dark spots", "Absorbs quickly into skin"],
               ["Broke me out badly", "Serum turned orange", "Stings my face"]),
    "Shampoos": (["Hair feels silky", "Smells like a salon", "Tames my frizz"],
                 ["Made my scalp itch", "Left my hair greasy", "Scent is overpowering"]),
    "All Beauty": (["Refreshing toner mist", "Rose scent is lovely", "Calms my red skin"],
                   ["Spray nozzle clogs", "Toner smells like vinegar", "Bottle leaked in the box"]),
    "Hair Dryers": (["Blowouts in minutes", "Volume like a salon", "Dries thick hair fast"],
                    ["Dryer overheats and shuts off", "Burnt smell from the motor", "Tangles long hair"]),
    "Sports Bras": (["Supportive for running", "Comfortable for yoga class", "Fits true to size"],
                    ["Straps dig into shoulders", "Padding bunches up", "Runs two sizes small"]),
    "Running Shoes": (["Great cushion for long runs", "Light running shoes", "Good grip on trails"],
                      ["Soles wore out fast", "Heel rubs blisters", "Laces too short"]),
    "Leotards": (["Perfect for ballet class", "Camisole straps stay put", "Fabric holds its shape"],
                 ["Leotard runs small", "Seams itch", "Color faded in the wash"]),
    "Over-Ear Headphones": (["Noise canceling is magic", "Great sound for flights", "Battery lasts all week"],
                            ["Ear cups crack", "Bluetooth drops constantly", "Headband snapped"]),
    "Chargers": (["Charges my phone fast", "Tiny fast charger", "Perfect travel charger"],
                 ["Charger gets very hot", "Stopped charging in a week", "Cable not included"]),
    "Portable Bluetooth Speakers": (["Loud speaker for its size", "Survived the pool", "Deep bass for camping"],
                                    ["Speaker crackles at volume", "Stopped pairing", "Battery dies fast"]),
    "Basic Cases": (["Case survived many drops", "Slim case with good grip", "Buttons easy to press"],
                    ["Case yellowed in weeks", "Kickstand snapped", "Case is bulky"]),
}
# Review texts: each covers at least 3 aspects of the lexicon (or, for the last ones, fewer)
TEXTS = [
    "Very comfortable and supportive, as a 38D it is hard to find a good one. True to size.",
    "The quality is great for the price. It arrived quickly and the packaging was nice.",
    "Battery life is long and the sound is clear. The design looks great on my desk.",
    "Lightweight, sturdy and the color is exactly as pictured. Worth every penny.",
    "Smells amazing and my skin feels soft after using it. The bottle is a nice size.",
    "Instructions were clear and installation took five minutes. Customer service answered fast.",
    "I used it for a week.",
    "It is fine. Nothing special.",
]
USERS = [f"U{i:02d}" for i in range(30)]


def _meta() -> dict[str, ItemMeta]:
    return {
        asin: ItemMeta(parent_asin=asin, category=file, main_category=main, title=title, features=("f",),
                       description=("d",), categories=cats, store="Store", average_rating=4.2, rating_number=n)
        for asin, file, cats, main, title, n in ITEMS
    }


def _reviews() -> list[Review]:
    reviews = []
    items = [(asin, file, mod.product_type(_meta()[asin])) for asin, file, *_ in ITEMS]
    items.append((NO_META, "Electronics", "Chargers"))
    ratings = [5, 4, 1, 5, 2, 3, 5, 4, 1, 2, 5, 4]
    for i, (asin, file, ptype) in enumerate(items):
        good, bad = TITLES[ptype]
        for k, rating in enumerate(ratings):
            bank = good if rating >= 4 else bad
            title = bank[k % len(bank)] if rating != 3 else f"It is ok for a {ptype.lower()}"
            reviews.append(Review(
                category=file, rating=float(rating), title=title, text=TEXTS[(i + k) % len(TEXTS)],
                asin=f"{asin}-{k % 2}", parent_asin=asin, user_id=USERS[(7 * i + k) % len(USERS)],
                timestamp=1_600_000_000_000 + 86_400_000 * ((5 * i + 11 * k) % 97),
                helpful_vote=(3 * i + 5 * k) % 7 if asin != "G4" else 2, verified_purchase=k % 3 != 0))
    return reviews


REVIEWS = _reviews()
META = _meta()


def index() -> ReviewsIndex:
    return ReviewsIndex(list(REVIEWS))


def builder(name):
    return load_builders()[name]()


def run(name: str, seed: int = 0, n: int = 60, idx: ReviewsIndex | None = None, meta=None):
    """Build like build.py: (seed object, question) pairs that pass ``check``, and the skip reasons."""
    b = builder(name)
    rng = random.Random(f"{seed}:{name}")
    seeds = b.seeds(idx or index(), rng, n)
    keys = set()
    for s in seeds:
        keys.update(b.needs(s))
    meta = META if meta is None else meta
    lookup = {k: meta[k] for k in keys if k in meta}  # only what the builder declared
    built, skipped = [], Counter()
    for s in seeds:
        try:
            q = b.question(s, lookup, rng)
            check(b, q)
        except Skip as why:
            skipped[str(why)] += 1
            continue
        built.append((s, q))
    return b, built, skipped, lookup


def listed(prompt: str) -> list[str]:
    return list(analyse(prompt).option_texts)


def picked(q, start: int = 1) -> list[int]:
    return [int(x) - start for x in q.answer.split(", ")]


TITLES_IN_INDEX = {r.title for r in REVIEWS}
TYPES_IN_META = {mod.product_type(m) for m in META.values()}
META_TITLES = {m.title for m in META.values()}


# ---- registry ------------------------------------------------------------------------------------

def test_registry_names_sources_types_and_sizes():
    registry = load_builders()
    for name, (task_type, size) in NAMES.items():
        cls = registry[name]
        assert (cls.source, cls.task_type, cls.size) == ("amazon_reviews_2023", task_type, size)
        assert cls.__module__ == mod.__name__


@pytest.mark.parametrize("name", NAMES)
def test_each_builder_has_a_docstring_and_at_least_three_wordings(name):
    cls = load_builders()[name]
    doc = cls.__doc__
    assert "Source:" in doc and "Example:" in doc and "licence" in doc.lower() and "Quirks" in doc
    assert len(cls.instructions) >= 3 and len(set(cls.instructions)) == len(cls.instructions)
    # the instruction sits in more than one place: some wordings start with the list or the text
    starts = {w.lstrip("\n").split("{", 1)[0] == "" or w.lstrip("\n").startswith(("Review List", "Product List",
                                                                                    "Aspect List", "Review Snippet"))
              for w in cls.instructions}
    assert len(starts) == 2, "wordings should put the instruction both before and after the list/text"


# ---- routing, validity and size of every builder ---------------------------------------------------

@pytest.mark.parametrize("name", NAMES)
def test_prompts_route_to_the_builders_task_type(name):
    b, built, skipped, _ = run(name)
    assert len(built) >= 10, skipped
    assert not [r for r in skipped if "router" in r], skipped
    for _, q in built:
        assert route(q.prompt, b.is_multiple_choice).task_type == b.task_type
        assert parse(b.task_type, q.answer) not in (-1, [])


@pytest.mark.parametrize("name", NAMES)
def test_every_wording_is_used_and_routes(name):
    b, built, skipped, _ = run(name, n=400)
    patterns = [re.compile("".join(".*?" if part.startswith("{") else re.escape(part)
                                   for part in re.split(r"(\{\w+\})", w)), re.S) for w in b.instructions]
    used = Counter()
    for _, q in built:
        matching = [i for i, p in enumerate(patterns) if p.fullmatch(q.prompt)]
        assert matching, q.prompt
        used[matching[0]] += 1
    assert set(used) == set(range(len(b.instructions))), used


@pytest.mark.parametrize("name", NAMES)
def test_prompts_stay_within_about_1500_tokens(name):
    long_text = "The strap is comfortable and the quality is fine for the price. " * 200
    idx = ReviewsIndex([Review(**{**r.__dict__, "text": long_text + r.text}) for r in REVIEWS])
    _, built, _, _ = run(name, idx=idx)
    assert built
    for _, q in built:
        assert len(q.prompt) < 6_000  # ~4 characters a token


@pytest.mark.parametrize("name", NAMES)
def test_same_seed_gives_identical_rows_and_another_seed_differs(name):
    b = builder(name)
    rows = lambda seed: [to_row(b, q) for _, q in run(name, seed=seed)[1]]  # noqa: E731
    assert rows(0) == rows(0)
    assert rows(0) != rows(1)


# ---- 2: snippets ---------------------------------------------------------------------------------

def test_snippet_answers_point_at_snippets_of_the_same_type_and_sentiment():
    _, built, skipped, lookup = run("reviews_snippet_retrieval", n=200)
    assert len(built) >= 50, skipped
    with_aspect = 0
    for seed, q in built:
        texts = listed(q.prompt)
        assert len(texts) == 15
        t, s = mod.type_of(seed.anchor, lookup), mod.sentiment(seed.anchor)
        assert f" {s} " in q.prompt
        names = "|".join(map(re.escape, mod.ASPECT_BY_NAME))
        m = re.search(rf"(?:on|about) the ({names})\b", analyse(q.prompt).instruction)  # outside the list
        aspect = mod.ASPECT_BY_NAME[m.group(1)] if m else None
        with_aspect += aspect is not None
        # every listed snippet is a real title of the index, all distinct
        assert set(texts) <= TITLES_IN_INDEX and len({x.lower() for x in texts}) == 15
        answers = [texts[i] for i in picked(q)]
        same = {r.title for r in REVIEWS if mod.sentiment(r) == s and mod.type_of(r, lookup) == t}
        same |= {r.title for r in REVIEWS if r.parent_asin == seed.anchor.parent_asin and mod.sentiment(r) == s}
        for text in answers:
            assert text in same
            if aspect:
                assert aspect.found_in(text)
        for i, text in enumerate(texts):
            if i in picked(q):
                continue
            assert text not in same  # never the answer's kind, never equal to an answer
            assert text.lower() not in {a.lower() for a in answers}
            sources = [r for r in REVIEWS if r.title == text]
            if aspect and aspect.found_in(text):
                assert any(mod.sentiment(r) != s for r in sources)
            if not any(mod.sentiment(r) != s for r in sources):  # a same-sentiment distractor:
                assert all(r.category != seed.anchor.category for r in sources)  # from another file
    assert with_aspect >= 3  # golf bags: "light weight" x3 gives the aspect wording


def test_snippet_skips_an_item_without_product_type():
    b = builder("reviews_snippet_retrieval")
    anchor = next(r for r in REVIEWS if r.parent_asin == NO_META and mod.sentiment(r))
    seed = mod.SnippetSeed(anchor, (), (), ())
    with pytest.raises(Skip, match="no product type"):
        b.question(seed, {}, random.Random(0))


# ---- 3: aspects ------------------------------------------------------------------------------------

def test_aspect_answers_are_covered_and_distractors_are_not():
    _, built, skipped, _ = run("reviews_aspect_retrieval", n=200)
    assert len(built) >= 50, skipped
    for seed, q in built:
        names = [re.sub(r"^\s+", "", x) for x in listed(q.prompt)]
        assert len(names) == 10 and len(set(names)) == 10
        assert set(names) <= set(mod.ASPECT_BY_NAME)
        review = mod.clip(seed.review.text, 2_000)
        assert review in q.prompt
        chosen = picked(q)
        assert len(chosen) == 3 and chosen == sorted(chosen)
        covered_families = {a.family for a in mod.aspects_in(review)}
        for i, name in enumerate(names):
            if i in chosen:
                assert mod.ASPECT_BY_NAME[name].found_in(review)
            else:
                assert mod.ASPECT_BY_NAME[name].family not in covered_families


def test_aspect_seeds_skip_reviews_with_fewer_than_three_aspects():
    b = builder("reviews_aspect_retrieval")
    seeds = b.seeds(index(), random.Random(0), 10_000)
    assert seeds and all(len(mod.aspects_in(s.review.text)) >= 3 for s in seeds)
    few = next(r for r in REVIEWS if len(mod.aspects_in(r.text)) < 3)
    with pytest.raises(Skip, match="fewer than 3 aspects"):
        b.question(mod.AspectSeed(few, ()), META, random.Random(0))


def test_aspect_lexicon_reads_the_dev_examples(dev_rows):
    text = "Very comfortable and supportive, as a 38D it’s hard to find a good bra. True to size"
    assert {"comfort", "support", "fit"} <= {a.name for a in mod.aspects_in(text)}
    assert len({a.name for a in mod.ASPECTS}) == len(mod.ASPECTS) >= 40


def test_aspect_hints_never_change_what_the_triggers_find(dev_rows):
    texts = [r.text for r in REVIEWS] + [r.title for r in REVIEWS] + [row["input_field"] for row in dev_rows]
    texts += ["Colour is off, the odour fades; Wi-Fi and wifi pair; non-slip, NON SLIP; runs big", "BATTERY"]
    for text in texts:
        assert mod.aspects_in(text) == [a for a in mod.ASPECTS if a.pattern.search(text)], text


# ---- 4: complements --------------------------------------------------------------------------------

def test_complement_answer_is_another_type_the_user_reviewed():
    _, built, skipped, lookup = run("reviews_complement_category", n=200)
    assert len(built) >= 50, skipped
    for seed, q in built:
        options = listed(q.prompt)
        assert len(options) == 4 and set(options) <= TYPES_IN_META
        answer = options[int(q.answer)]
        user_types = {mod.product_type(lookup.get(r.parent_asin)) for r in REVIEWS if r.user_id == seed.anchor.user_id}
        anchor_type = mod.product_type(lookup[seed.anchor.parent_asin])
        assert answer in user_types and answer != anchor_type and anchor_type in q.prompt
        for i, option in enumerate(options):
            if i != int(q.answer):
                assert option not in user_types and option.lower() != answer.lower()


def test_complement_prefers_the_same_category_file_then_the_nearest_in_time():
    b = builder("reviews_complement_category")
    anchor = Review("Sports_and_Outdoors", 5.0, "t", "x", "G1", "G1", "UX", 1_000, 0, True)
    far_same_file = Review("Sports_and_Outdoors", 5.0, "t", "x", "G2", "G2", "UX", 900_000, 0, True)
    near_other_file = Review("Electronics", 5.0, "t", "x", "E1", "E1", "UX", 1_001, 0, True)
    pool = tuple(r for r in REVIEWS if r.user_id != "UX")
    q = b.question(mod.UserSeed(anchor, (near_other_file, far_same_file), pool, pool), META, random.Random(0))
    assert listed(q.prompt)[int(q.answer)] == "Golf Bags"


# ---- 6: also bought ----------------------------------------------------------------------------------

def test_also_bought_ranking_is_a_permutation_in_the_documented_order():
    _, built, skipped, lookup = run("reviews_also_bought_ranking", n=200)
    assert len(built) >= 50, skipped
    for seed, q in built:
        titles = listed(q.prompt)
        assert len(titles) == 5 and set(titles) <= META_TITLES and len(set(titles)) == 5
        order = picked(q)
        assert sorted(order) == list(range(5))
        anchor_title = lookup[seed.anchor.parent_asin].title
        assert anchor_title in q.prompt and anchor_title not in titles
        by_title = {m.title: m for m in META.values()}
        mine = {lookup[r.parent_asin].title: abs(r.timestamp - seed.anchor.timestamp) for r in seed.others
                if r.parent_asin in lookup}
        ranked = [titles[i] for i in order]
        k = sum(t in mine for t in ranked)
        assert k >= 1 and all(t in mine for t in ranked[:k])  # the user's items first
        assert [mine[t] for t in ranked[:k]] == sorted(mine[t] for t in ranked[:k])  # nearest in time first
        t = mod.norm(mod.product_type(lookup[seed.anchor.parent_asin]))

        def level(title):
            m = by_title[title]
            if mod.norm(mod.product_type(m)) == t:
                return 2
            return 1 if m.category == seed.anchor.category else 0

        levels = [level(x) for x in ranked[k:]]
        assert levels == sorted(levels, reverse=True)
        for a, b_ in zip(ranked[k:], ranked[k + 1:]):
            if level(a) == level(b_):
                assert by_title[a].rating_number >= by_title[b_].rating_number


# ---- 7: rating -----------------------------------------------------------------------------------

def test_rating_answer_is_the_star_rating_and_the_scale_is_read():
    _, built, skipped, _ = run("reviews_rating", n=200)
    assert len(built) >= 100, skipped
    for seed, q in built:
        assert q.answer == str(int(seed.rating))
        info = route(q.prompt, True).info
        assert info.scale == (1, 5) and info.options == ()
        assert mod.clip(seed.text, 2_500) in q.prompt


def test_rating_seeds_are_balanced_over_the_stars():
    b = builder("reviews_rating")
    counts = Counter(int(r.rating) for r in b.seeds(index(), random.Random(0), 50))
    assert set(counts) == {1, 2, 3, 4, 5} and max(counts.values()) - min(counts.values()) <= 1
    # with fewer 3-star reviews than a fifth, the other levels fill up
    total = Counter(int(r.rating) for r in REVIEWS)
    counts = Counter(int(r.rating) for r in b.seeds(index(), random.Random(0), 5 * total[3] + 10))
    assert counts[3] == total[3] and sum(counts.values()) == 5 * total[3] + 10


def test_rating_without_product_type_says_a_product():
    b = builder("reviews_rating")
    r = next(x for x in REVIEWS if x.parent_asin == NO_META)
    q = b.question(r, {}, random.Random(0))
    assert "a product" in q.prompt or "for a product" in q.prompt


def test_rating_skips_a_review_that_states_another_scale():
    b = builder("reviews_rating")
    r = Review("Electronics", 4.0, "ok", "I would rate it 3 to 4 out of ten.\n1. cheap\n2. light", "E1", "E1",
               "U", 1, 0, True)
    for seed in range(8):  # whichever wording: a numbered list or another scale changes the offered digits
        try:
            q = b.question(r, META, random.Random(seed))
        except Skip:
            continue
        assert route(q.prompt, True).info.scale == (1, 5) and not route(q.prompt, True).info.options


# ---- 38: helpfulness ------------------------------------------------------------------------------

def test_helpfulness_ranking_orders_by_votes_then_length():
    _, built, skipped, lookup = run("reviews_helpfulness_ranking", n=200)
    assert len(built) >= 20, skipped
    for seed, q in built:
        shown = listed(q.prompt)
        assert len(shown) == 5
        by_text = {mod.ReviewsHelpfulnessRanking.shown(r): r for r in seed}
        assert set(shown) == set(by_text)  # the 5 reviews of the seed, all of one product
        assert len({r.parent_asin for r in seed}) == 1
        assert lookup[seed[0].parent_asin].title in q.prompt
        ranked = [by_text[shown[i]] for i in picked(q)]
        assert sorted(picked(q)) == list(range(5))
        keys = [(-r.helpful_vote, -len(mod.one_line(r.text))) for r in ranked]
        assert keys == sorted(keys)
        assert len({r.helpful_vote for r in seed}) >= 2


def test_helpfulness_gives_no_seed_for_items_whose_votes_are_all_equal():
    b = builder("reviews_helpfulness_ranking")
    seeds = b.seeds(index(), random.Random(0), 10_000)
    assert seeds and not [s for s in seeds if s[0].parent_asin == "G4"]  # G4: every review has 2 votes
    equal = tuple(r for r in REVIEWS if r.parent_asin == "G4")[:5]
    with pytest.raises(Skip, match="same helpful votes"):
        b.question(equal, META, random.Random(0))


def test_helpfulness_seeds_use_different_vote_counts_first():
    b = builder("reviews_helpfulness_ranking")
    for s in b.seeds(index(), random.Random(3), 100):
        votes = {r.helpful_vote for r in REVIEWS if r.parent_asin == s[0].parent_asin}
        assert len({r.helpful_vote for r in s}) == min(5, len(votes))


# ---- shared definitions ---------------------------------------------------------------------------

def test_related_types_compare_whole_words():
    assert mod.related_types("golf bags", "golf bags & carts") and mod.related_types("bags", "golf bags")
    assert not mod.related_types("art", "party supplies") and not mod.related_types("golf bags", "golf balls")
    assert mod.related_types("", "golf bags")  # an unknown type rules nothing out


def test_product_type_is_the_last_category_else_main_category():
    assert mod.product_type(META["G2"]) == "Golf Bags"
    assert mod.product_type(META["B3"]) == "All Beauty"
    assert mod.product_type(None) == ""


def test_snippets_are_short_titles_without_amazons_auto_titles():
    r = REVIEWS[0]
    assert mod.snippet(Review(**{**r.__dict__, "title": "Five Stars"})) is None
    assert mod.snippet(Review(**{**r.__dict__, "title": " ".join(["word"] * 11)})) is None
    assert mod.snippet(Review(**{**r.__dict__, "title": "Lightweight  and roomy"})) == "Lightweight and roomy"


# ---- end to end on the reader's fixtures ----------------------------------------------------------

FIXTURES = REPO / "tests" / "data" / "sources"


@pytest.mark.skipif(not (FIXTURES / "amazon_reviews_2023").is_dir(), reason="no amazon_reviews_2023 fixture yet")
def test_build_from_the_fixture_files(tmp_path):
    from training.data.build import build

    manifest = build(FIXTURES, tmp_path, list(NAMES), {n: 50 for n in NAMES}, progress=False)
    for d in manifest["datasets"]:
        assert d["rows"] > 0 and not [r for r in d["skipped"] if "router" in r], d
