"""Amazon Reviews 2023 (McAuley Lab): six datasets from reviews joined to item metadata on parent_asin
(docs/datasets.md rows 2, 3, 4, 6, 7, 38).

Source: https://amazon-reviews-2023.github.io (Hou et al. 2024, "Bridging Language and Items for
Retrieval and Recommendation"); review files ``<Category>.jsonl`` and item files
``meta_<Category>.jsonl``. Licence: none stated on the site or the dataset card (research use; do
not redistribute the raw text). The builders receive ``sources.ReviewsIndex`` (a seeded sample of
``Review`` records per category file) and look item metadata (``ItemMeta``) up by ``parent_asin``:
each declares in ``needs`` the parent_asins of every review its seed may show or compare.

Shared definitions (used by several builders, documented once here):

- **product type** of an item: the last entry of its metadata ``categories`` (the most specific
  node of the Amazon browse path, e.g. "Dresses", "Golf Bags"), else its ``main_category``
  ("All Beauty", "AMAZON FASHION"; ``categories`` is often empty); an item without metadata or
  with neither has no product type. Types are compared lower-cased with whitespace collapsed.
- **sentiment** of a review: positive for 4-5 stars, negative for 1-2 stars, none for 3 stars.
- **review snippet**: a review's ``title``, when it is a short phrase (1-10 words, at most 80
  characters, some letter) and not one of Amazon's auto-titles ("Five Stars", "One Star").
- **aspect lexicon** (``ASPECTS``): 44 aspect terms, each with the trigger words that mark a review
  as covering it ("battery life" <- battery/charge/charging, "price" <- price/cost/cheap/expensive,
  ...) and a family; aspects of one family ("price"/"value", "size"/"fit"/"portability",
  "quality"/"durability", "color"/"appearance", "installation"/"ease of use") are never offered as
  distractors when a sibling is covered, because a reader could not tell them apart. Triggers are
  whole words, case-insensitive, matched on exactly the text the prompt shows.
- Long texts are clipped at a word boundary (with " ...") so that every prompt stays well within
  ~1,500 tokens (the model's context at inference is 3,072 tokens, the longest dev prompt 1,031).
- Every shown text is put on one line (``one_line``) so that a review holding "1. ..." lines can
  never become the numbered list the answer refers to.
"""
from __future__ import annotations

import random
import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from functools import lru_cache
from typing import Iterable, Mapping, Sequence

from training.data.registry import Builder, Question, Skip, register
from training.data.rows import choose, numbered, numbers_answer, one_line, shuffled_options
from training.data.sources import ItemMeta, Review, ReviewsIndex
from utilities.tasks import analyse

# ---- shared helpers -----------------------------------------------------------------------------


def product_type(meta: ItemMeta | None) -> str:
    """The item's product type: the last ``categories`` entry, else ``main_category``, else ""."""
    if meta is None:
        return ""
    for value in reversed(meta.categories or ()):
        text = one_line(value or "")
        if text:
            return text
    return one_line(meta.main_category or "")


def norm(text: str) -> str:
    return one_line(text).lower()


def type_of(review: Review, lookup: Mapping) -> str:
    """The normalised product type of a review's item ("" when unknown)."""
    return norm(product_type(lookup.get(review.parent_asin)))


def related_types(a: str, b: str) -> bool:
    """The same type, or one names the other ("hair dryers" / "hair dryers & accessories"). An unknown
    type ("") is related to every type: nothing can be ruled out for it."""
    if not a or not b:
        return True
    return a == b or f" {a} " in f" {b} " or f" {b} " in f" {a} "  # whole words: "art" is no part of "party"


def sentiment(review: Review) -> str | None:
    if review.rating >= 4:
        return "positive"
    if 1 <= review.rating <= 2:
        return "negative"
    return None


def stars(review: Review) -> int | None:
    value = int(round(review.rating))
    return value if 1 <= value <= 5 and abs(review.rating - value) < 1e-6 else None


_AUTO_TITLE = re.compile(r"^(?:one|two|three|four|five|1|2|3|4|5)[ -]stars?\.?$", re.I)


def snippet(review: Review) -> str | None:
    """The review's title as a snippet, or None when it is no short phrase (see the module doc)."""
    return _snippet(review.title or "")


@lru_cache(maxsize=1 << 16)
def _snippet(title: str) -> str | None:
    title = one_line(title)
    if not title or len(title) > 80 or not re.search(r"[^\W\d_]", title) or _AUTO_TITLE.match(title):
        return None
    return title if len(title.split()) <= 10 else None


# Words of titles that say nothing about the product ("Great product!", "Love it"). A same-sentiment
# distractor must not be made of these only: "Love it" from another product type is something this
# customer could write too.
_GENERIC_WORDS = frozenset(
    """a an the it its it's this these they them i i'm my me we our is are was were be been so very
    really just totally absolutely simply pretty quite too and but or as for of to with in on at
    great good nice excellent awesome amazing perfect fantastic wonderful love loved loves like liked
    best better happy satisfied product item buy purchase bought recommend recommended highly
    exactly what wanted needed expected described advertised ok okay fine cool super nice! wow yes
    five star stars thanks thank you works worked work well fine must have buyer seller
    bad terrible horrible awful poor worst disappointed disappointing waste money junk garbage don't
    do not didn't no never again return returned returning hate useless""".split()
)


def is_generic(text: str) -> bool:
    words = re.findall(r"[^\W\d_]+(?:'[^\W\d_]+)?", text.lower())
    return all(w in _GENERIC_WORDS for w in words)


def clip(text: str, limit: int) -> str:
    """``text`` on one line, cut at a word boundary to at most ``limit`` characters (+ " ...")."""
    text = one_line(text)
    if len(text) <= limit:
        return text
    cut = text[:limit].rsplit(" ", 1)[0] if " " in text[:limit] else text[:limit]
    return cut.rstrip(" ,;:-") + " ..."


def article(word: str) -> str:
    return "an" if word[:1].lower() in "aeiou" else "a"


def sample(items: Sequence, rng: random.Random, k: int) -> list:
    """``k`` items in a seeded random order (all of them when there are fewer); O(k) on a long list."""
    if k <= 0:
        return []
    return rng.sample(items, k) if len(items) > k else list(items)


def distinct_sample(items: Iterable[str], k: int, rng: random.Random, exclude: Iterable[str] = ()) -> list[str]:
    """``k`` texts that differ from each other and from ``exclude`` (compared normalised); Skip if the
    pool holds fewer. The pool is de-duplicated first, so that a pool of exactly ``k`` texts never fails."""
    seen = {norm(x) for x in exclude}
    pool = []
    for text in items:
        if norm(text) not in seen:
            seen.add(norm(text))
            pool.append(text)
    if len(pool) < k:
        raise Skip(f"fewer than {k} distinct distractors")
    return sample(pool, rng, k)


def shared_pools(groups: Mapping, rng: random.Random, cap: int) -> dict:
    """Each group cut to a seeded sample of at most ``cap`` reviews (kept in index order).

    Seeds draw their distractor candidates from these pools rather than from whole category files,
    so that the item metadata the build must look up (and hold in memory) is bounded by the pools'
    size, not by the number of seeds times the candidates each one draws."""
    out = {}
    for key, group in groups.items():
        chosen = sorted(sample(range(len(group)), rng, cap))
        out[key] = [group[i] for i in chosen]
    return out


def unique(items: Iterable) -> list:
    """Items in first-seen order without repeats (reviews are frozen dataclasses: equal by value)."""
    return list(dict.fromkeys(items))


def items_by_user(reviews: Sequence[Review]) -> dict[str, tuple[Review, ...]]:
    """user_id -> the user's reviews, one per parent_asin (the first in index order), oldest first."""
    by_user: dict[str, dict[str, Review]] = defaultdict(dict)
    for r in reviews:
        if r.user_id and r.parent_asin:
            by_user[r.user_id].setdefault(r.parent_asin, r)
    return {u: tuple(sorted(items.values(), key=lambda r: (r.timestamp, r.parent_asin)))
            for u, items in by_user.items()}


# Distractor candidates come from bounded pools (see ``shared_pools``): per category file (and
# sentiment) and over the whole index. 33 categories x 2 x 1,500 + 3,000 keys at most, ~100k items of
# metadata, whatever the number of seeds.
POOL_PER_FILE = 1_500
POOL_ANYWHERE = 3_000
ANCHORS_PER_USER = 20
NEIGHBOURS = 50  # a user's other items considered on each side of the anchor in time


# ---- the aspect lexicon -------------------------------------------------------------------------

@dataclass(frozen=True)
class Aspect:
    name: str
    family: str
    pattern: re.Pattern
    hints: tuple[str, ...]  # a literal start of every trigger: a text holding none of them has no match

    def found_in(self, text: str) -> bool:
        return self.may_be_in(text.lower()) and self.pattern.search(text) is not None

    def may_be_in(self, lowered: str) -> bool:
        return any(h in lowered for h in self.hints)


def _literal_start(fragment: str) -> str:
    """The literal text every match of a trigger fragment starts with: "batter(?:y|ies)" -> "batter",
    "colou?rs?" -> "colo" (a letter made optional by "?" or "*" is left out)."""
    out = []
    for i, c in enumerate(fragment):
        if not (c.isalnum() or c in " '-"):
            break
        if fragment[i + 1: i + 2] in ("?", "*"):
            break
        out.append(c)
    return "".join(out).lower()


def _aspect(name: str, family: str, *triggers: str) -> Aspect:
    # matching 44 patterns on every review is the slow part of these builders: a substring test on
    # the hints first skips most patterns (3x faster on real-length reviews), with the same result
    hints = tuple(_literal_start(t) for t in triggers)
    return Aspect(name, family, re.compile(r"\b(?:" + "|".join(triggers) + r")\b", re.I),
                  hints if all(hints) else ("",))


# name, family, triggers (regex fragments, whole words). Triggers are chosen to be specific: "light"
# alone (lamps) is no weight trigger, "box" alone (lunch box) no packaging trigger.
ASPECTS: tuple[Aspect, ...] = (
    _aspect("battery life", "power", r"batter(?:y|ies)", r"charg(?:e|es|ed|ing|er|ers)", r"recharg\w*"),
    _aspect("price", "money", r"prices?", r"priced", r"costs?", r"cheap(?:er|est)?", r"expensive",
            r"pricey", r"affordabl[ey]", r"inexpensive", r"bargain"),
    _aspect("value", "money", r"value", r"worth", r"bang for (?:the|your) buck", r"for the money"),
    _aspect("size", "size", r"sizes?", r"sizing", r"small(?:er)?", r"large(?:r)?", r"big(?:ger)?",
            r"tiny", r"huge"),
    _aspect("fit", "size", r"fits?", r"fitting", r"fitted", r"true to size", r"runs? (?:small|large|big)"),
    _aspect("comfort", "comfort", r"comfortable", r"comfortably", r"comfy", r"comfort", r"uncomfortable"),
    _aspect("quality", "quality", r"quality", r"well made", r"well-made", r"cheaply made", r"flimsy",
            r"sturdy", r"solid"),
    _aspect("durability", "quality", r"durable", r"durability", r"held up", r"holds? up",
            r"fell apart", r"falling apart", r"broke", r"broken", r"lasted", r"wore out",
            r"long[- ]lasting", r"(?:will|to|should|would) last", r"lasts? (?:for )?(?:years|months|long)"),
    _aspect("scent", "scent", r"smells?", r"smelled", r"smelling", r"scents?", r"scented",
            r"fragrances?", r"odou?rs?", r"aroma"),
    _aspect("taste", "taste", r"tastes?", r"tasted", r"tasty", r"flavou?rs?", r"flavou?red", r"delicious"),
    _aspect("color", "look", r"colou?rs?", r"colou?red", r"shades?", r"hues?"),
    _aspect("appearance", "look", r"looks? (?:great|good|nice|cheap|beautiful|amazing)", r"beautiful",
            r"pretty", r"cute", r"stylish", r"gorgeous", r"ugly", r"elegant"),
    _aspect("design", "look", r"design", r"designed", r"style"),
    _aspect("weight", "weight", r"weight", r"weighs", r"heavy", r"heavier", r"lightweight",
            r"light weight", r"lighter weight"),
    _aspect("sound", "sound", r"sound", r"sounds", r"audio", r"volume", r"bass", r"speakers?"),
    _aspect("noise", "sound", r"noise", r"noisy", r"quiet", r"quietly", r"loud"),
    _aspect("ease of use", "use", r"easy to use", r"easy to operate", r"user friendly",
            r"user-friendly", r"simple to use", r"intuitive", r"hard to use", r"difficult to use"),
    _aspect("installation", "use", r"install", r"installs", r"installed", r"installing",
            r"installation", r"assembl(?:e|ed|y|ing)", r"set up", r"setup"),
    _aspect("packaging", "shipping", r"packaging", r"packaged", r"package", r"wrapped", r"wrapping"),
    _aspect("delivery", "shipping", r"shipping", r"shipped", r"delivery", r"delivered", r"arrived",
            r"arrival"),
    _aspect("material", "material", r"materials?", r"fabric", r"cotton", r"leather", r"plastic",
            r"metal", r"steel", r"polyester", r"wood(?:en)?", r"silicone", r"nylon"),
    _aspect("softness", "feel", r"soft", r"softer", r"softness", r"silky", r"plush"),
    _aspect("texture", "feel", r"texture", r"textured", r"smooth", r"smoothly", r"greasy", r"sticky"),
    _aspect("stretch", "feel", r"stretch", r"stretchy", r"stretches", r"stretched", r"elastic"),
    _aspect("instructions", "use", r"instructions?", r"manual", r"directions"),
    _aspect("customer service", "service", r"customer service", r"seller", r"refund(?:ed)?",
            r"replacement", r"warranty"),
    _aspect("screen", "display", r"screens?", r"display", r"resolution", r"touchscreen"),
    _aspect("connectivity", "connect", r"bluetooth", r"wi-?fi", r"wireless", r"connect(?:s|ed|ion|ing)?",
            r"pair(?:ed|ing)", r"usb"),
    _aspect("capacity", "capacity", r"capacity", r"storage", r"roomy", r"spacious", r"compartments?"),
    _aspect("cleaning", "clean", r"clean", r"cleans", r"cleaned", r"cleaning", r"wash", r"washed",
            r"washing", r"washable", r"dishwasher"),
    _aspect("effect on skin", "skin", r"skin", r"moisturi[sz](?:e|es|ed|ing|er)", r"hydrat(?:e|es|ed|ing)",
            r"acne", r"breakouts?", r"wrinkles?"),
    _aspect("effect on hair", "hair", r"hair", r"frizz", r"frizzy", r"curls?", r"shampoo", r"conditioner"),
    _aspect("grip", "grip", r"grip", r"grips", r"non-?slip", r"slippery", r"handles?"),
    _aspect("stitching", "quality", r"stitching", r"stitches", r"seams?", r"sewn", r"sewing"),
    _aspect("warmth", "temperature", r"warm", r"warmth", r"warmer", r"cozy", r"insulated"),
    _aspect("temperature", "temperature", r"hot", r"cold", r"cool", r"temperature", r"heat"),
    _aspect("brightness", "light", r"bright", r"brightness", r"brighter", r"dim", r"dimmer"),
    _aspect("length", "length", r"length", r"too long", r"too short", r"longer", r"shorter"),
    _aspect("support", "support", r"support", r"supportive", r"arch support", r"supports"),
    _aspect("safety", "safety", r"safe", r"safety", r"safely", r"dangerous", r"hazard"),
    _aspect("portability", "size", r"portable", r"easy to carry", r"compact", r"travel",
            r"traveling", r"travelling"),
    _aspect("waterproofing", "water", r"waterproof", r"water resistant", r"water-resistant", r"leaks?",
            r"leaked", r"leaking"),
    _aspect("power", "power", r"powerful", r"power", r"suction", r"wattage", r"motor"),
    _aspect("accuracy", "accuracy", r"accurate", r"accuracy", r"accurately", r"inaccurate", r"precise",
            r"precision"),
)
ASPECT_BY_NAME = {a.name: a for a in ASPECTS}


def aspects_in(text: str) -> list[Aspect]:
    """The lexicon's aspects whose triggers occur in ``text``, in lexicon order."""
    lowered = text.lower()
    return [a for a in ASPECTS if a.may_be_in(lowered) and a.pattern.search(text)]


# ---- 2: snippets a customer would write (dev task3) ------------------------------------------------

@dataclass(frozen=True)
class SnippetSeed:
    anchor: Review
    same_kind: tuple[Review, ...]  # the anchor's product and its category file, same sentiment
    opposite: tuple[Review, ...]  # the anchor's category file, the other sentiment
    elsewhere: tuple[Review, ...]  # any review of the index


@register("reviews_snippet_retrieval", source="amazon_reviews_2023", task_type="retrieval", size=7_373)
class ReviewsSnippetRetrieval(Builder):
    """Pick the 3 of 15 review snippets a customer would write for a product type and sentiment (dev task3).

    The prompt also names an aspect when 3 fitting titles share one, as dev task3 always does.

    Source: Amazon Reviews 2023 reviews (title, rating, parent_asin, category) + item metadata
    (categories, main_category) for the product type; no licence stated (research use).
    Example: "A customer has bought a(n) Golf Bags product and wants to write a review to express a
    positive sentiment on the weight aspect. \\nYou are given a numbered list of 15 potential review
    snippets. Please select 3 snippets ... \\nReview Snippet List: \\n1. Too heavy to carry\\n2. Nice
    and light weight\\n...\\n15. ...\\nOutput: " -> "2, 7, 11".
    How: snippets are real review titles (module doc). Answers: titles of reviews of the same product
    type (same item first, then the same category file, typed by metadata) with the anchor review's
    sentiment. When 3 of them name one aspect of the lexicon, the prompt asks for that aspect (as dev
    task3 always does) and the answers are those 3. Distractors: titles of the other sentiment (any
    type), or of the same sentiment from another category file and another known product type that
    are not generic ("Love it") and, with an aspect, do not name it; never equal to a fitting snippet
    or to each other (case-insensitive).
    Quirks: titles stand in for the dev task's extracted snippets, so "Good quality" from another
    type is a distractor though this customer might write it too; 3-star reviews have no sentiment;
    an anchor whose item has no product type is skipped; the answer lists numbers ascending.
    """

    instructions = (
        "A customer has bought a(n) {ptype} product and wants to write a review to express a {sentiment} "
        "sentiment{on_aspect}. \nYou are given a numbered list of 15 potential review snippets. Please select "
        "3 snippets from the list that the customer is most likely to write in his review. \nYou should output "
        "three numbers, separated with comma. Generate only indices. Do not include review snippets in your "
        "answer. Do not give explanations. \nReview Snippet List: \n{snippets}\nOutput: ",
        "Review Snippet List:\n{snippets}\nThe snippets above come from product reviews. A shopper who bought "
        "{a_ptype} product is writing a {sentiment} review{about_aspect}. Which three snippets from the list is "
        "the shopper most likely to use? Answer with three numbers separated by commas and nothing else.\n"
        "Output: ",
        "Pick the 3 review snippets that best fit a {sentiment} review{about_aspect} of {a_ptype} product.\n"
        "{snippets}\nRespond with the three snippet numbers, separated by commas.\nAnswer: ",
        "You are a helpful shopping assistant. A customer who purchased a(n) {ptype} product left a "
        "{sentiment} review{about_aspect}. From the numbered list of 15 review snippets below, choose the "
        "three that the customer most likely wrote.\n{snippets}\nOnly output the three numbers, separated "
        "by commas.\nOutput: ",
    )
    pool_same_kind = 40
    pool_opposite = 15
    pool_elsewhere = 25

    def seeds(self, index: ReviewsIndex, rng: random.Random, n: int) -> list[SnippetSeed]:
        usable = [r for r in index.reviews if sentiment(r) and snippet(r)]
        by_item: dict[tuple, list[Review]] = defaultdict(list)
        by_file: dict[tuple, list[Review]] = defaultdict(list)
        for r in usable:
            by_item[(r.parent_asin, sentiment(r))].append(r)
            by_file[(r.category, sentiment(r))].append(r)
        # anchors whose own item has 3 distinct snippets of its sentiment come first: their product
        # type is certain without metadata for other items
        distinct = {key: len(unique(norm(snippet(x)) for x in group)) for key, group in by_item.items()}
        by_file = shared_pools(by_file, rng, POOL_PER_FILE)
        anywhere = sample(usable, rng, POOL_ANYWHERE)
        rich, other = [], []
        for r in usable:
            (rich if distinct[(r.parent_asin, sentiment(r))] >= 3 else other).append(r)
        rng.shuffle(rich)
        rng.shuffle(other)
        out = []
        for r in (rich + other)[:n]:
            s = sentiment(r)
            flip = "negative" if s == "positive" else "positive"
            same_item = sample(by_item[(r.parent_asin, s)], rng, self.pool_same_kind)
            same_file = sample(by_file[(r.category, s)], rng, self.pool_same_kind)
            out.append(SnippetSeed(
                r, tuple(x for x in unique(same_item + same_file) if x != r),
                tuple(sample(by_file[(r.category, flip)], rng, self.pool_opposite)),
                tuple(sample(anywhere, rng, self.pool_elsewhere)),
            ))
        return out

    def needs(self, seed: SnippetSeed) -> list[str]:
        return unique(r.parent_asin for r in (seed.anchor, *seed.same_kind, *seed.opposite, *seed.elsewhere))

    def question(self, seed: SnippetSeed, lookup: Mapping, rng: random.Random) -> Question:
        ptype = product_type(lookup.get(seed.anchor.parent_asin))
        if not ptype:
            raise Skip("no product type in the item metadata")
        t, s = norm(ptype), sentiment(seed.anchor)
        # answers: same type, same sentiment, distinct snippets; the anchor first
        fitting: dict[str, str] = {}
        for r in (seed.anchor, *seed.same_kind):
            if sentiment(r) == s and (r.parent_asin == seed.anchor.parent_asin or type_of(r, lookup) == t):
                fitting.setdefault(norm(snippet(r)), snippet(r))
        if len(fitting) < 3:
            raise Skip("fewer than 3 snippets of the same product type and sentiment")
        by_aspect: dict[str, list[str]] = defaultdict(list)
        for text in fitting.values():
            for a in aspects_in(text):
                by_aspect[a.name].append(text)
        rich = [name for name, texts in by_aspect.items() if len(texts) >= 3]
        aspect = rng.choice(rich) if rich else None
        if aspect:
            answers = sample(by_aspect[aspect], rng, 3)
        else:
            anchor_text = snippet(seed.anchor)
            rest = [x for x in fitting.values() if x != anchor_text]
            answers = [anchor_text, *sample(rest, rng, 2)]
        # distractors: the other sentiment (any type), or the same sentiment and another known type
        taken = {norm(x) for x in fitting.values()}  # no distractor may equal a fitting snippet
        pool = []
        for r in unique((*seed.opposite, *seed.elsewhere, *seed.same_kind)):
            text = snippet(r)
            if norm(text) in taken:
                continue
            if sentiment(r) != s:
                pool.append(text)
            elif (r.category != seed.anchor.category and not related_types(type_of(r, lookup), t)
                  and not is_generic(text) and not (aspect and ASPECT_BY_NAME[aspect].found_in(text))):
                # same sentiment: only from another category file and a known, unrelated product type
                # ("Survived multiple drops" of a phone case would fit a screen protector too)
                pool.append(text)
        distractors = distinct_sample(pool, 12, rng, exclude=taken)
        listed = [*answers, *distractors]
        rng.shuffle(listed)
        positions = sorted(listed.index(a) + 1 for a in answers)
        on_aspect = f" on the {aspect} aspect" if aspect else ""
        about = f" about the {aspect}" if aspect else ""
        prompt = choose(rng, self.instructions, ptype=ptype, a_ptype=f"{article(ptype)} {ptype}", sentiment=s,
                        on_aspect=on_aspect, about_aspect=about, snippets=numbered(listed))
        return Question(prompt, numbers_answer(positions))


# ---- 3: aspects a review covers (dev task7) ------------------------------------------------------

@dataclass(frozen=True)
class AspectSeed:
    review: Review
    category_aspects: tuple[str, ...]  # aspects found in the category file's reviews, most frequent first


@register("reviews_aspect_retrieval", source="amazon_reviews_2023", task_type="retrieval", size=3_608)
class ReviewsAspectRetrieval(Builder):
    """Given a product type and a review, pick the 3 aspects (of 10) the review covers (dev task7).

    Source: Amazon Reviews 2023 reviews (text, category) + item metadata (categories,
    main_category) for the product type; the aspects come from the module's lexicon (``ASPECTS``);
    no licence stated (research use).
    Example: "\\nYou are given a user review given to a(n) Sports Bras product. You are also given a
    numbered list of ten aspects. \\nPlease choose three aspects from the list that are covered by the
    review. \\n... \\nReview: \\nVery comfortable and supportive, true to size.\\nAspect List: \\n1.stability
    \\n2.comfort\\n...\\n10.fit\\nOutput: " -> "2, 7, 10".
    How: the review text (clipped to 2,000 characters) is matched against the lexicon's triggers;
    reviews with fewer than 3 covered aspects are skipped; with more, 3 are drawn and the others
    are left out of the list. Distractors: 7 aspects whose family is not covered by the review,
    drawn first from the aspects that other reviews of the same category file cover (so they are
    plausible for the product), then from the rest of the lexicon.
    Quirks: trigger words ignore negation and sense ("fits my needs" counts as fit); the aspect
    names are the lexicon's, not the dev task's free-form aspects; answers list numbers ascending;
    an item without a product type is skipped.
    """

    instructions = (
        "\nYou are given a user review given to a(n) {ptype} product. You are also given a numbered list of "
        "ten aspects. \nPlease choose three aspects from the list that are covered by the review. \nYou should "
        "ONLY output three numbers, separated by comma. Do not generate explanations or other texts. \n"
        "Review: \n{review}\nAspect List: \n{aspects_tight}\nOutput: ",
        "Aspect List:\n{aspects}\nReview of {a_ptype} product:\n{review}\nWhich three aspects from the list "
        "above does this review talk about? Reply with their three numbers, separated by commas.\nOutput: ",
        "Read the customer review of {a_ptype} product below and select the 3 aspects it covers from the "
        "list of 10 aspects.\nReview: {review}\nAspects:\n{aspects}\nAnswer with three numbers separated by "
        "commas only.\nAnswer: ",
        "Here is a review someone wrote for a(n) {ptype} product:\n{review}\nFrom the following numbered "
        "aspects, pick the three that the review mentions.\n{aspects_tight}\nOutput only the three numbers, "
        "separated by commas.\nOutput: ",
    )
    max_review_chars = 2_000  # ~500 tokens: keeps the prompt far below 1,500 tokens
    min_scan = 20_000

    def seeds(self, index: ReviewsIndex, rng: random.Random, n: int) -> list[AspectSeed]:
        # Matching 44 patterns on every review of a large index is slow: scan the reviews in a seeded
        # order until n usable ones are found (and at least min_scan, so the per-category aspect counts
        # that give plausible distractors rest on enough reviews).
        order = list(range(len(index.reviews)))
        rng.shuffle(order)
        counts: dict[str, Counter] = defaultdict(Counter)
        usable = []
        for scanned, i in enumerate(order):
            if len(usable) >= n and scanned >= self.min_scan:
                break
            r = index.reviews[i]
            found = aspects_in(clip(r.text or "", self.max_review_chars))
            counts[r.category].update(a.name for a in found)
            if len(found) >= 3 and len(usable) < n:
                usable.append(r)
        frequent = {cat: tuple(name for name, _ in sorted(c.items(), key=lambda kv: (-kv[1], kv[0])))
                    for cat, c in counts.items()}
        return [AspectSeed(r, frequent[r.category]) for r in usable]

    def needs(self, seed: AspectSeed) -> list[str]:
        return [seed.review.parent_asin]

    def question(self, seed: AspectSeed, lookup: Mapping, rng: random.Random) -> Question:
        ptype = product_type(lookup.get(seed.review.parent_asin))
        if not ptype:
            raise Skip("no product type in the item metadata")
        review = clip(seed.review.text or "", self.max_review_chars)
        covered = aspects_in(review)
        if len(covered) < 3:
            raise Skip("the review covers fewer than 3 aspects of the lexicon")
        answers = [a.name for a in sample(covered, rng, 3)]
        families = {a.family for a in covered}
        free = [a.name for a in ASPECTS if a.family not in families]
        plausible = [name for name in seed.category_aspects if ASPECT_BY_NAME[name].family not in families]
        distractors = sample(plausible, rng, 7)
        if len(distractors) < 7:
            rest = [name for name in free if name not in distractors]
            distractors += sample(rest, rng, 7 - len(distractors))
        if len(distractors) < 7:
            raise Skip("fewer than 7 aspects the review does not cover")
        listed = [*answers, *distractors]
        rng.shuffle(listed)
        positions = sorted(listed.index(a) + 1 for a in answers)
        prompt = choose(rng, self.instructions, ptype=ptype, a_ptype=f"{article(ptype)} {ptype}", review=review,
                        aspects=numbered(listed),
                        aspects_tight="\n".join(f"{i}.{name}" for i, name in enumerate(listed, start=1)))
        return Question(prompt, numbers_answer(positions))


# ---- 4: the category that complements a product type (dev task10) ---------------------------------

@dataclass(frozen=True)
class UserSeed:
    anchor: Review
    others: tuple[Review, ...]  # the same user's reviews of other items, the NEIGHBOURS nearest in time each side
    same_file: tuple[Review, ...]  # other users' reviews in the anchor's category file
    elsewhere: tuple[Review, ...]  # any reviews of the index


def user_seeds(index: ReviewsIndex, rng: random.Random, n: int, same_file: int, elsewhere: int) -> list[UserSeed]:
    """Anchors: reviews by users who reviewed at least 2 different items; with pools for distractors."""
    users = items_by_user(index.reviews)
    by_file: dict[str, list[Review]] = defaultdict(list)
    for r in index.reviews:
        by_file[r.category].append(r)
    by_file = shared_pools(by_file, rng, POOL_PER_FILE)
    anywhere = sample(index.reviews, rng, POOL_ANYWHERE)
    # (user, position) of every anchor; a prolific user (thousands of reviews) gives at most
    # ANCHORS_PER_USER anchors, so that no one user's taste fills the dataset
    anchors = [(items, i) for items in users.values() if len(items) >= 2
               for i in sorted(sample(range(len(items)), rng, ANCHORS_PER_USER))]
    out = []
    for items, i in sample(anchors, rng, n):
        r = items[i]
        # the user's other items nearest in time to the anchor (the list is oldest first)
        window = items[max(0, i - NEIGHBOURS): i] + items[i + 1: i + 1 + NEIGHBOURS]
        out.append(UserSeed(
            r, tuple(window),
            tuple(x for x in sample(by_file[r.category], rng, same_file) if x.user_id != r.user_id),
            tuple(x for x in sample(anywhere, rng, elsewhere) if x.user_id != r.user_id),
        ))
    return out


def user_needs(seed: UserSeed) -> list[str]:
    return unique(r.parent_asin for r in (seed.anchor, *seed.others, *seed.same_file, *seed.elsewhere))


@register("reviews_complement_category", source="amazon_reviews_2023", task_type="multiple-choice", size=10_000)
class ReviewsComplementCategory(Builder):
    """Given a product type, pick the product category that complements it best, of 4 (dev task10).

    Source: Amazon Reviews 2023 reviews (user_id, parent_asin, timestamp, category) + item metadata
    (categories, main_category) for product types; no licence stated (research use).
    Example: "Which of the following product categories best complement the product type Golf
    Clubs?\\n0. Sports Bras\\n1. Golf Bags\\n2. Face Serums\\n3. Phone Cases\\nAnswer: " -> "1".
    How (co-purchase heuristic): the answer is another product type reviewed by the same user as the
    anchor's item (a review stands for a purchase); among several, the one in the same category file
    first (same domain: golf clubs -> golf bags), then the nearest in time. Types equal to the
    anchor's or naming it (one contains the other, whole words) are no complements. Distractors: 3
    distinct product types of other users' items, never reviewed by this user (among the user's
    100 reviews nearest in time to the anchor), preferably from category files other than the
    anchor's and the answer's.
    Quirks (limits of the heuristic): one user's two purchases need not be related (a lipstick and
    a dog leash), and a review is no proof of a purchase; a per-category sample of reviews holds few
    users with several reviews, so the dataset may come out short of its size; a prolific user gives
    at most 20 anchors; main_category fallbacks ("All Beauty") are coarse categories; types are
    Amazon browse nodes, often plural ("Golf Bags"), where the dev task says "golf bag".
    """

    instructions = (
        "Which of the following product categories best complement the product type {ptype}?\n{options}\n"
        "Answer: ",
        "Given product type {ptype}, which of the following product categories best complement the given "
        "product type?\n{options}\nAnswer: ",
        "A customer has just bought {a_ptype} product. Which product category below is the customer most "
        "likely to buy together with it as a complement?\n{options}\nAnswer with the option number only.\n"
        "Answer: ",
        "{options}\nWhich of the product categories above goes best with the product type {ptype} (a "
        "complementary purchase)?\nAnswer: ",
    )

    def seeds(self, index: ReviewsIndex, rng: random.Random, n: int) -> list[UserSeed]:
        return user_seeds(index, rng, n, same_file=10, elsewhere=30)

    def needs(self, seed: UserSeed) -> list[str]:
        return user_needs(seed)

    def question(self, seed: UserSeed, lookup: Mapping, rng: random.Random) -> Question:
        ptype = product_type(lookup.get(seed.anchor.parent_asin))
        if not ptype:
            raise Skip("no product type in the item metadata")
        t = norm(ptype)
        mine = [type_of(r, lookup) for r in (seed.anchor, *seed.others)]
        partners = [r for r in seed.others if type_of(r, lookup) and not related_types(type_of(r, lookup), t)]
        if not partners:
            raise Skip("the user reviewed no item of another product type")
        partners.sort(key=lambda r: (r.category != seed.anchor.category, abs(r.timestamp - seed.anchor.timestamp),
                                     r.parent_asin))
        partner = partners[0]
        answer = product_type(lookup.get(partner.parent_asin))
        taken = [x for x in mine if x]

        def allowed(r: Review) -> bool:
            x = type_of(r, lookup)
            return bool(x) and not any(related_types(x, y) for y in taken)

        candidates = [product_type(lookup.get(r.parent_asin)) for r in (*seed.elsewhere, *seed.same_file)
                      if allowed(r)]
        far = [product_type(lookup.get(r.parent_asin)) for r in seed.elsewhere
               if allowed(r) and r.category not in (seed.anchor.category, partner.category)]
        try:
            distractors = distinct_sample(far, 3, rng, exclude=taken)
        except Skip:
            distractors = distinct_sample(candidates, 3, rng, exclude=taken)
        if any(related_types(norm(a), norm(b)) for i, a in enumerate(distractors) for b in distractors[i + 1:]):
            raise Skip("two distractor categories name each other")
        options, index = shuffled_options(answer, distractors, rng)
        prompt = choose(rng, self.instructions, ptype=ptype, a_ptype=f"{article(ptype)} {ptype}",
                        options=numbered(options, start=0))
        return Question(prompt, str(index))


# ---- 6: rank the products a buyer will also buy (dev task14, as ranking) ---------------------------

@register("reviews_also_bought_ranking", source="amazon_reviews_2023", task_type="ranking", size=5_815)
class ReviewsAlsoBoughtRanking(Builder):
    """Rank 5 product titles by how likely the buyer of a given product buys them too (dev task14, ranked).

    Dev task14's question (given a product title a user bought, which others will they buy), answered
    as a full ranking of 5 candidates, as docs/datasets.md row 6 says.

    Source: Amazon Reviews 2023 reviews (user_id, parent_asin, timestamp, category) + item metadata
    (title, categories, main_category, rating_number); no licence stated (research use).
    Example: "A user on an online shopping website has just purchased a product 'Callaway Golf Men's
    Strata Complete Set'. The following numbered list contains 5 products. Please rank the products
    ...\\nProduct List: \\n1. ...\\n5. ...\\nYou should output a permutation of 1 to 5. ...\\nOutput: " ->
    "3, 1, 5, 2, 4".
    Relevance levels, best first: (3) items the same user reviewed (1-3 of them, the nearest in time
    to the anchor's review first); (2) an item of the anchor's product type; (1) an item of the
    anchor's category file but another product type; (0) items of other category files. One item
    each of levels 2 and 1 when available, the rest from level 0 (from level 1 when 0 runs out).
    Ties within a level are broken by popularity (metadata rating_number, higher first), then by
    title, so every answer is a strict order.
    Quirks: a review stands for a purchase; popularity is a weak tie-break; items without a
    metadata title are never shown; the anchor's and candidates' titles are all distinct.
    """

    instructions = (
        "A user on an online shopping website has just purchased a product '{title}'. The following numbered "
        "list contains 5 products. Please rank the products by how likely the user is to also purchase them, "
        "the most likely first.\nProduct List: \n{products}\nYou should output a permutation of 1 to 5. There "
        "should be a comma separating two numbers. Only respond with the ranking results. Do not say any word "
        "or explanations.\nOutput: ",
        "You are a helpful shop assistant. A user would like to buy the product '{title}'. Please rank the "
        "following numbered list of products according to how likely the user is to buy them as well.\n"
        "Product List: \n{products}\nOutput the ranking as numbers separated by commas.\nOutput: ",
        "Product List:\n{products}\nA customer just bought '{title}'. Order all of the products above from the "
        "one the customer is most likely to buy too to the least likely. Answer with the 5 numbers separated "
        "by commas.\nOutput: ",
    )
    max_title_chars = 200

    def seeds(self, index: ReviewsIndex, rng: random.Random, n: int) -> list[UserSeed]:
        return user_seeds(index, rng, n, same_file=20, elsewhere=12)

    def needs(self, seed: UserSeed) -> list[str]:
        return user_needs(seed)

    def question(self, seed: UserSeed, lookup: Mapping, rng: random.Random) -> Question:
        def title(r: Review) -> str:
            meta = lookup.get(r.parent_asin)
            return clip(meta.title, self.max_title_chars) if meta and one_line(meta.title or "") else ""

        def popularity(r: Review) -> tuple:
            meta = lookup.get(r.parent_asin)
            return (-(meta.rating_number or 0), norm(title(r)))

        anchor_title = title(seed.anchor)
        if not anchor_title:
            raise Skip("the bought item has no title in the metadata")
        t = type_of(seed.anchor, lookup)
        seen = {norm(anchor_title)}
        mine_asins = {seed.anchor.parent_asin, *(r.parent_asin for r in seed.others)}

        def fresh(reviews: Iterable[Review]) -> list[Review]:
            out = []
            for r in reviews:
                name = title(r)
                if name and norm(name) not in seen and (r in seed.others or r.parent_asin not in mine_asins):
                    seen.add(norm(name))
                    out.append(r)
            return out

        mine = fresh(sorted(seed.others, key=lambda r: (abs(r.timestamp - seed.anchor.timestamp), r.parent_asin)))
        if not mine:
            raise Skip("the user reviewed no other item with a title")
        mine = mine[: rng.randint(1, min(3, len(mine)))]
        same_file = unique(seed.same_file)
        # an item whose type only names the anchor's ("golf bags & carts" for "golf bags") fits no level
        level2 = fresh(r for r in same_file if t and type_of(r, lookup) == t)
        level1 = fresh(r for r in same_file if not t or not related_types(type_of(r, lookup), t))
        level0 = fresh(r for r in unique(seed.elsewhere)
                       if r.category != seed.anchor.category and (not t or not related_types(type_of(r, lookup), t)))
        others = sample(level2, rng, 1) + sample(level1, rng, 1)
        others += sample(level0, rng, 5 - len(mine) - len(others))
        if len(mine) + len(others) < 5:
            rest = [r for r in level1 if r not in others]
            others += sample(rest, rng, 5 - len(mine) - len(others))
        if len(mine) + len(others) < 5:
            raise Skip("fewer than 5 candidate items with distinct titles")
        level = {r: 2 if r in level2 else 1 if r in level1 else 0 for r in others}
        ordered = mine + sorted(others, key=lambda r: (-level[r], popularity(r)))
        listed = list(ordered)
        rng.shuffle(listed)
        answer = ", ".join(str(listed.index(r) + 1) for r in ordered)
        prompt = choose(rng, self.instructions, title=anchor_title, products=numbered([title(r) for r in listed]))
        return Question(prompt, answer)


# ---- 7: the star rating of a review (dev task15) ---------------------------------------------------

@register("reviews_rating", source="amazon_reviews_2023", task_type="multiple-choice", size=10_000)
class ReviewsRating(Builder):
    """Given a review (title and text) of a product type, answer its star rating 1-5 (dev task15).

    Source: Amazon Reviews 2023 reviews (rating, title, text) + item metadata (categories,
    main_category) for the product type; no licence stated (research use).
    Example: "Instructions: Evaluate the following product review on a scale of 1 to 5, with 1 being
    very negative and 5 being very positive. \\nInput: a review text for a(n) Leotards product\\nRuns
    small\\nThis body shaper is way too small ...\\nOutput:\\nAnswer: " -> "1".
    How: no options are listed; the prompt states the scale "1 to 5", which the router reads as the
    offered digits (a builder check skips a review whose own text would change the scale the
    inference reads). Balance: seeds are drawn round-robin from the 5 star levels (each shuffled),
    so every level gives n/5 seeds until it runs out (real data is ~60% five stars) and the rest
    come from the levels that still have reviews.
    Quirks: the review text is clipped to 2,500 characters; an item without a product type gets
    "a review text for a product"; ratings that are not whole stars are skipped.
    """

    instructions = (
        "Instructions: Evaluate the following product review on a scale of 1 to 5, with 1 being very negative "
        "and 5 being very positive. \nInput: a review text for {a_ptype} product\n{title}{text}\nOutput:\n"
        "Answer: ",
        "Read the review below of {a_ptype_plain} and rate it on a scale of 1 to 5 (1 = very negative, 5 = "
        "very positive).\n{title}{text}\nAnswer: ",
        "{title}{text}\nThe text above is a customer review of {a_ptype_plain}. On a scale from 1 to 5, how "
        "many stars did the customer give? Answer with a single digit.\nAnswer: ",
        "How positive is this review of {a_ptype_plain}, on a scale of 1 to 5 where 1 is very negative and "
        "5 is very positive?\nReview: {title}{text}\nAnswer: ",
    )
    max_text_chars = 2_500  # ~600 tokens: the prompt stays far below 1,500 tokens

    def seeds(self, index: ReviewsIndex, rng: random.Random, n: int) -> list[Review]:
        levels: dict[int, list[Review]] = {k: [] for k in range(1, 6)}
        for r in index.reviews:
            if stars(r) and one_line(r.text or ""):
                levels[stars(r)].append(r)
        for k in range(1, 6):
            rng.shuffle(levels[k])
        out: list[Review] = []
        position = 0
        while len(out) < n and any(len(levels[k]) > position for k in levels):
            for k in range(1, 6):
                if position < len(levels[k]) and len(out) < n:
                    out.append(levels[k][position])
            position += 1
        return out

    def needs(self, seed: Review) -> list[str]:
        return [seed.parent_asin]

    def question(self, seed: Review, lookup: Mapping, rng: random.Random) -> Question:
        rating = stars(seed)
        text = clip(seed.text or "", self.max_text_chars)
        if rating is None or not text:
            raise Skip("no whole-star rating or no review text")
        ptype = product_type(lookup.get(seed.parent_asin))
        title = clip(seed.title or "", 200)
        prompt = choose(rng, self.instructions, text=text, title=f"{title}\n" if title else "",
                        a_ptype=f"a(n) {ptype}" if ptype else "a",
                        a_ptype_plain=f"{article(ptype)} {ptype} product" if ptype else "a product")
        info = analyse(prompt)
        if info.scale != (1, 5) or info.options:
            raise Skip("the review text changes the options the prompt offers")
        return Question(prompt, str(rating))


# ---- 38: rank reviews by helpfulness (the slides' prompt shape 2) ----------------------------------

@register("reviews_helpfulness_ranking", source="amazon_reviews_2023", task_type="ranking", size=10_000)
class ReviewsHelpfulnessRanking(Builder):
    """Rank 5 reviews of a product by helpfulness (helpful votes); own idea, the slides' prompt shape 2.

    Source: Amazon Reviews 2023 reviews (title, text, helpful_vote, timestamp, parent_asin) + item
    metadata (title); no licence stated (research use).
    Example: "The product 'Callaway Golf Men's Strata Complete Set' has multiple product reviews.
    Given the following numbered list of 5 reviews, please rank the reviews according their
    helpfulness to a user. ...\\nReview List:\\n1. Great starter set: ...\\n...\\n5. ...\\nYou should output a
    permutation of 1 to 5. ...\\nOutput:" -> "2, 1, 4, 5, 3".
    How: reviews are grouped by parent_asin; a group needs 5 reviews with text and at least 2
    different helpful_vote counts (groups whose votes are all equal give no seed). The 5 reviews
    take as many different vote counts as the group has (one review per count first, then random
    ones), so that the order rests on votes rather than on ties. A large group gives up to 5 seeds.
    Order: helpful_vote, higher first; ties by longer text (a longer review tells a reader more),
    then the older review (it had longer to collect votes), then parent_asin/user_id.
    Quirks: votes grow with a review's age and the product's traffic, so they are a noisy label;
    each review is shown as "title: text", clipped to 900 characters (5 reviews stay ~1,300 tokens).
    """

    instructions = (
        "The product '{title}' has multiple product reviews. Given the following numbered list of 5 reviews, "
        "please rank the reviews according their helpfulness to a user. The most helpful review should appear "
        "first and the least helpful review should be last.\nReview List:\n{reviews}\nYou should output a "
        "permutation of 1 to 5. There should be a comma separating two numbers. Each review and its number "
        "should appear only once in the output. Only respond with the ranking results. Do not say any word or "
        "explanations.\nOutput:",
        "Review List:\n{reviews}\nThese 5 reviews were written for the product '{title}'. Rank them from the most "
        "helpful to the least helpful for a shopper. Output all five review numbers, separated by commas.\n"
        "Output: ",
        "Sort the following reviews of the product '{title}' by how helpful they are to other customers, the "
        "most helpful first.\n{reviews}\nAnswer with the full ranking of the 5 reviews as numbers separated by "
        "commas.\nAnswer: ",
        "Shoppers voted on which reviews of the product '{title}' helped them. Order the 5 reviews below from "
        "the most helpful to the least helpful.\nReviews:\n{reviews}\nOnly respond with the ranking: a "
        "permutation of 1 to 5, separated by commas.\nOutput: ",
    )
    max_review_chars = 900
    max_seeds_per_item = 5

    @staticmethod
    def shown(r: Review) -> str:
        title, text = one_line(r.title or ""), one_line(r.text or "")
        return clip(f"{title}: {text}" if title else text, ReviewsHelpfulnessRanking.max_review_chars)

    def seeds(self, index: ReviewsIndex, rng: random.Random, n: int) -> list[tuple[Review, ...]]:
        groups: dict[str, list[Review]] = defaultdict(list)
        for r in index.reviews:
            if one_line(r.text or "") and r.parent_asin:
                groups[r.parent_asin].append(r)
        usable = [g for g in groups.values() if len(g) >= 5 and len({r.helpful_vote for r in g}) >= 2]
        rng.shuffle(usable)
        out: list[tuple[Review, ...]] = []
        done: set[tuple] = set()
        for round_ in range(self.max_seeds_per_item):
            for group in usable:
                if len(out) >= n:
                    return out
                if len(group) < 5 * (round_ + 1):
                    continue
                chosen = self._pick(group, rng)
                key = tuple(sorted((r.user_id, r.timestamp, r.asin) for r in chosen))
                if key not in done:
                    done.add(key)
                    out.append(chosen)
        return out

    @staticmethod
    def _pick(group: list[Review], rng: random.Random) -> tuple[Review, ...]:
        """5 reviews of a group, one per different vote count first (at most 5 counts)."""
        by_vote: dict[int, list[Review]] = defaultdict(list)
        for r in group:
            by_vote[r.helpful_vote].append(r)
        votes = sorted(by_vote)
        chosen = [rng.choice(by_vote[v]) for v in sample(votes, rng, 5)]
        rest = [r for r in group if r not in chosen]
        return tuple(chosen + sample(rest, rng, 5 - len(chosen)))

    def needs(self, seed: tuple[Review, ...]) -> list[str]:
        return [seed[0].parent_asin]

    @staticmethod
    def order_key(r: Review) -> tuple:
        return (-r.helpful_vote, -len(one_line(r.text or "")), r.timestamp, r.parent_asin, r.user_id)

    def question(self, seed: tuple[Review, ...], lookup: Mapping, rng: random.Random) -> Question:
        meta = lookup.get(seed[0].parent_asin)
        title = clip(meta.title, 200) if meta and one_line(meta.title or "") else ""
        if not title:
            raise Skip("the item has no title in the metadata")
        if len({r.helpful_vote for r in seed}) < 2:
            raise Skip("all 5 reviews have the same helpful votes")
        if len({norm(self.shown(r)) for r in seed}) < 5:
            raise Skip("two of the reviews read the same")
        ordered = sorted(seed, key=self.order_key)
        listed = list(seed)
        rng.shuffle(listed)
        answer = ", ".join(str(listed.index(r) + 1) for r in ordered)
        prompt = choose(rng, self.instructions, title=title, reviews=numbered([self.shown(r) for r in listed]))
        return Question(prompt, answer)
