"""ESCI (Shopping Queries Dataset, KDD Cup 2022) builders: docs/datasets.md rows 5, 8, 23-29, 31, 32, 34-37.

Source: amazon-science/esci-data (Apache-2.0): ``shopping_queries_dataset_examples.parquet`` (query,
product_id, product_locale us|es|jp, esci_label E|S|C|I) joined with the products parquet (title,
description, bullet points, brand, color). The index (``sources.EsciIndex``) holds every query with
its judged ``(product_id, label)`` items and the product ids per locale; product texts come from the
lookup keyed ``(locale, product_id)``, so every builder declares in ``needs`` each product it may show.

Shared rules of this module:
- Distractors are real ESCI items of the same locale: products judged for the same query (hard
  negatives) or drawn from ``products_by_locale``; queries of the same locale. A distractor is never
  the answer, never equal to it in text (case and spacing ignored), and options are distinct.
- Seeds carry a few spare products (more subjects, more distractors) because the lookup may lack a
  product or its text may lack the field a question shows; ``question`` takes the first usable ones.
- Texts: HTML tags are removed (descriptions hold ``<p>``, ``<br>``; the reader removes them too, this
  module does not rely on it), whitespace is collapsed, and long fields are cut (see the
  ``*_CHARS`` limits; Japanese texts get half the characters: about one token per character) so that
  prompts stay within ~1,500 tokens; a prompt still over that is skipped ("prompt over ...").
- Query strings are kept as users typed them (leading spaces trimmed, typos kept).
- The ESCI "test" split is labelled like "train" and is used too.
- Determinism: only the rng given to ``seeds``/``question``; sets are used for membership only.
"""
from __future__ import annotations

import functools
import random
import re
from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

from training.data.registry import Builder, Question, Skip, register
from training.data.rows import (
    choose, numbered, numbers_answer, one_line, ranking_answer, sample_distinct, shuffled_options,
)
from training.data.sources import ESCI_RELEVANCE, EsciIndex, EsciProduct

LABELS = ("E", "S", "C", "I")
LABEL_NAMES = {"E": "Exact", "S": "Substitute", "C": "Complement", "I": "Irrelevant"}

# Field limits (characters) that keep a prompt within ~1,500 tokens: a description of ~900
# characters is ~225 English tokens; the longest lists (15 titles or bullets) stay near 1,000 tokens.
TITLE_CHARS = 300
LIST_TITLE_CHARS = 200  # titles in a numbered list of 10-15 candidates
DESCRIPTION_CHARS = 900
BULLET_CHARS = 250
LIST_BULLET_CHARS = 180  # bullets in a numbered list of 10-15 candidates
MAX_BULLETS = 6  # bullets shown as a product's "features"
MAX_PROMPT_TOKENS = 1500
NEAR_DUPLICATE = 0.6  # character-trigram Jaccard at or above which two titles are one product's variants

# Brand fields that name no brand: such a product gives no brand question and no distractor brand.
NON_BRANDS = frozenset({
    "", "generic", "unbranded", "unknown", "n/a", "na", "none", "no brand", "nobrand", "other", "various",
    "sin marca", "genérico", "generico", "genérica", "ノーブランド品", "ノーブランド", "不明", "ノンブランド",
})

_TAG = re.compile(r"</?[A-Za-z][^<>]{0,300}>")  # a tag, not "size < 5 and > 3"


# ---- text -------------------------------------------------------------------------------------

def clean(text: str | None, limit: int, locale: str = "") -> str:
    """One line without HTML tags, cut at a word boundary to ``limit`` characters (half for jp)."""
    text = one_line(_TAG.sub(" ", text or ""))
    if locale == "jp":
        limit //= 2
    if len(text) <= limit:
        return text
    cut = text[:limit]
    space = cut.rfind(" ")
    if space > limit * 0.6:
        cut = cut[:space]
    return cut.rstrip(" ,;:-|/") + " ..."


def norm(text: str) -> str:
    """The comparison form of a text: case folded, whitespace collapsed."""
    return " ".join(str(text).casefold().split())


def compact(text: str) -> str:
    """Letters and digits only, case folded: "Amazon Basics" and "AmazonBasics" compare equal."""
    return "".join(ch for ch in str(text).casefold() if ch.isalnum())


@functools.lru_cache(maxsize=1 << 12)  # the texts of one question are compared with each other again and again
def _trigrams(text: str) -> frozenset[str]:
    t = norm(text)
    return frozenset(t[i:i + 3] for i in range(max(1, len(t) - 2)))


def similarity(a: str, b: str) -> float:
    """Character-trigram Jaccard similarity (works for spaced and unspaced scripts alike)."""
    ga, gb = _trigrams(a), _trigrams(b)
    return len(ga & gb) / max(1, len(ga | gb))


def quote(text: str) -> str:
    """Quote a query or title as the dev questions do ('...'), with a quote it does not contain, so
    that the router reads it as quoted text."""
    for left, right in (("'", "'"), ('"', '"'), ("“", "”")):
        if left not in text and right not in text:
            return f"{left}{text}{right}"
    return f"'{text}'"


def approx_tokens(text: str) -> float:
    """A cautious token count: one per CJK/fullwidth character, one per 3.5 other characters."""
    wide = sum(1 for ch in text if ord(ch) >= 0x2E80)
    return wide + (len(text) - wide) / 3.5


def fitted(prompt: str) -> str:
    if approx_tokens(prompt) > MAX_PROMPT_TOKENS:
        raise Skip(f"prompt over ~{MAX_PROMPT_TOKENS:,} tokens")
    return prompt


def features_block(bullets: Sequence[str]) -> str:
    """Bullet points as "- ..." lines: a dash, never a number, so they cannot pass for the options."""
    return "\n".join(f"- {b}" for b in bullets)


# ---- products from the lookup -----------------------------------------------------------------

def product(lookup: Mapping, locale: str, pid: str) -> EsciProduct | None:
    return lookup.get((locale, pid))


def title_of(lookup: Mapping, locale: str, pid: str, limit: int = TITLE_CHARS) -> str:
    p = product(lookup, locale, pid)
    return clean(p.title, limit, locale) if p else ""


def description_of(p: EsciProduct | None) -> str:
    return clean(p.description, DESCRIPTION_CHARS, p.locale) if p else ""


def bullets_of(p: EsciProduct | None, limit: int = BULLET_CHARS) -> list[str]:
    """The product's bullet points, cleaned, without empty or repeated ones."""
    if not p:
        return []
    out: list[str] = []
    seen: set[str] = set()
    for b in p.bullet_points:
        text = clean(b, limit, p.locale)
        if text and norm(text) not in seen:
            seen.add(norm(text))
            out.append(text)
    return out


def brand_of(p: EsciProduct | None) -> str:
    brand = one_line(p.brand) if p else ""
    return "" if norm(brand) in NON_BRANDS or len(compact(brand)) < 2 else brand


# ---- the index --------------------------------------------------------------------------------

def shuffled_range(n: int, rng: random.Random) -> list[int]:
    order = list(range(n))
    rng.shuffle(order)
    return order


def query_text(index: EsciIndex, qi: int) -> str:
    return one_line(index.queries[qi].query)


def queries_by_locale(index: EsciIndex) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for qi, q in enumerate(index.queries):
        if norm(q.query):
            out.setdefault(q.locale, []).append(qi)
    return out


def judgments(index: EsciIndex, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], list[tuple[int, str]]]:
    """Every (query index, label) judged for the products ``keys`` (locale, product id): one pass."""
    wanted: dict[str, set[str]] = {}
    for locale, pid in keys:
        wanted.setdefault(locale, set()).add(pid)
    out: dict[tuple[str, str], list[tuple[int, str]]] = {}
    for qi, q in enumerate(index.queries):
        pids = wanted.get(q.locale)
        if not pids:
            continue
        for pid, label in q.items:
            if pid in pids:
                out.setdefault((q.locale, pid), []).append((qi, label))
    return out


def random_products(index: EsciIndex, locale: str, k: int, rng: random.Random,
                    exclude: Iterable[str] = ()) -> list[str]:
    """Up to ``k`` distinct random product ids of ``locale``, none in ``exclude``."""
    return sample_distinct(index.products_by_locale.get(locale) or [], k, rng, exclude)


def random_queries(index: EsciIndex, pool: Sequence[int], k: int, rng: random.Random, avoid: set[str]) -> list[str]:
    """Up to ``k`` query texts drawn from ``pool`` whose normal forms are not in ``avoid`` (which grows)."""
    out: list[str] = []
    for _ in range(10 * k + 20):
        if len(out) == k or not pool:
            break
        text = query_text(index, pool[rng.randrange(len(pool))])
        if norm(text) and norm(text) not in avoid:
            avoid.add(norm(text))
            out.append(text)
    return out


def query_product_seeds(index: EsciIndex, rng: random.Random, n: int, n_subjects: int, n_hard: int,
                        n_easy: int) -> list[ProductSeed]:
    """One seed per query (shuffled): ``n_subjects`` of its judged products (any label) as subjects,
    ``n_hard`` more of them as same-query distractors, ``n_easy`` random products of the locale."""
    seeds: list[ProductSeed] = []
    for qi in shuffled_range(len(index.queries), rng):
        if len(seeds) == n:
            break
        q = index.queries[qi]
        pids = [pid for pid, _ in q.items]
        if not pids:
            continue
        order = rng.sample(pids, len(pids))
        seeds.append(ProductSeed(q.locale, query_text(index, qi), tuple(order[:n_subjects]),
                                 tuple(order[n_subjects: n_subjects + n_hard]),
                                 tuple(random_products(index, q.locale, n_easy, rng, exclude=pids))))
    return seeds


def by_label(items: Sequence[tuple[str, str]]) -> dict[str, list[str]]:
    """Product ids per label, in E, S, C, I order, only labels present."""
    out: dict[str, list[str]] = {}
    for label in LABELS:
        pids = [pid for pid, lab in items if lab == label]
        if pids:
            out[label] = pids
    return out


def take_products(lookup: Mapping, locale: str, pids: Iterable[str], k: int, ok) -> list[tuple[str, EsciProduct]]:
    """The first ``k`` products of ``pids`` found in the lookup for which ``ok(product)`` holds."""
    out = []
    for pid in pids:
        if len(out) == k:
            break
        p = product(lookup, locale, pid)
        if p is not None and ok(p):
            out.append((pid, p))
    return out


def distinct_titles(lookup: Mapping, locale: str, groups: Sequence[Sequence[str]], quotas: Sequence[int],
                    taken: list[str], limit: int = TITLE_CHARS, near: float | None = None,
                    against: Sequence[str] = ()) -> list[str]:
    """Titles of products from ``groups`` (at most ``quotas[i]`` from group i, in order), each distinct
    from ``taken`` and from each other (case and spacing ignored) and, with ``near``, less similar
    than ``near`` to every text in ``against``. ``taken`` grows with the picked titles' normal forms."""
    out: list[str] = []
    for pids, quota in zip(groups, quotas):
        got = 0
        for pid in pids:
            if got == quota:
                break
            title = title_of(lookup, locale, pid, limit)
            if not title or norm(title) in taken:
                continue
            if near is not None and any(similarity(title, a) >= near for a in against):
                continue
            taken.append(norm(title))
            out.append(title)
            got += 1
    return out


# ---- seeds ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ProductSeed:
    """A question about one product (the first usable of ``subjects``), with distractor products:
    ``hard`` ones judged for the same query, ``easy`` ones drawn from the locale."""

    locale: str
    query: str
    subjects: tuple[str, ...]
    hard: tuple[str, ...] = ()
    easy: tuple[str, ...] = ()

    def keys(self) -> list[tuple[str, str]]:
        return [(self.locale, pid) for pid in (*self.subjects, *self.hard, *self.easy)]


@dataclass(frozen=True)
class QueryOptionsSeed:
    """A product and the query options for it, per candidate subject: (product id, exact query,
    distractor queries); the first candidate with the text the question shows is used."""

    locale: str
    candidates: tuple[tuple[str, str, tuple[str, ...]], ...]

    def keys(self) -> list[tuple[str, str]]:
        return [(self.locale, pid) for pid, _, _ in self.candidates]


@dataclass(frozen=True)
class RankedSeed:
    """Candidates with their relevance labels, in preference order (the first usable ones are listed)."""

    locale: str
    query: str
    items: tuple[tuple[str, str], ...]  # (product id, label)
    size: int

    def keys(self) -> list[tuple[str, str]]:
        return [(self.locale, pid) for pid, _ in self.items]


class EsciBuilder(Builder):
    """Shared by this module's builders: needs are the seed's product keys."""

    def needs(self, seed) -> list[tuple[str, str]]:
        return seed.keys()


# ---- wordings shared by several builders ------------------------------------------------------

RANKING_TAIL = ("You should output a permutation of 1 to {n}. There should be a comma separating two numbers. "
                "Each {item} and its number should appear only once in the output. Only respond with the ranking "
                "results. Do not say any word or explanations.\nOutput: ")
RETRIEVAL_TAIL = ("You should output 3 numbers that correspond to the selected {items}. There should be a comma "
                  "separating every two numbers. Only respond with the results. Do not say any word or "
                  "explanations.\nOutput: ")


def mc_question(wordings: Sequence[str], correct: str, distractors: Sequence[str], rng: random.Random,
                **fields) -> Question:
    options, answer = shuffled_options(correct, list(distractors), rng)
    prompt = choose(rng, wordings, options=numbered(options, start=0), **fields)
    return Question(fitted(prompt), str(answer))


# =============================================================================================
# 5. Rank 5 products for a query (dev task12)
# =============================================================================================

@register("esci_query_product_ranking", source="esci", task_type="ranking", size=16_728)
class QueryProductRanking(EsciBuilder):
    """Rank 5 products judged for a query by their relevance to it (dev task12).

    Source: ESCI examples + products (Apache-2.0). Example: "A user has made a query with keyword
    'jeep liberty lift'. Given the following numbered list of 5 products, please rank the products
    according their relevance with the query. \\nProduct List: \\n1. Supreme Suspensions - Front
    Leveling Kit ...\\n...\\n5. TeraFlex 1251000 2.5\\" Lift Kit ...\\nYou should output a permutation
    of 1 to 5. ...\\nOutput: " -> "1, 4, 3, 2, 5" (E, E, S, C, I: weights 1, 0.1, 0.01, 0 of
    ``sources.ESCI_RELEVANCE``, most relevant first, ties in listed order).
    Fields: query text; items' labels (relevance); product titles (the list). Quirks: only queries
    whose items carry at least two different labels (a ranking of ties teaches nothing); one product
    of each label present is taken first, then the rest at random, so the lists mix labels like the
    dev questions do rather than ESCI's 65% Exact; queries with 3-4 judged items give 3-4 candidates
    (5 is preferred: such queries are sampled first). Candidates whose titles repeat are replaced.
    """

    instructions = (
        "A user has made a query with keyword {query}. Given the following numbered list of {n} products, please "
        "rank the products according their relevance with the query. \nProduct List: \n{items}\n" + RANKING_TAIL,
        "You are an intelligent shopping assistant that can rank products based on their relevance to the query. "
        "The following numbered list contains {n} products. Please rank the products according to their relevance "
        "with the query {query}. \nProduct List: \n{items}\n" + RANKING_TAIL,
        "Product List: \n{items}\nA customer searched an online store for {query}. Rank the {n} products above "
        "from the most relevant to the least relevant to this search. Answer with a permutation of 1 to {n}, "
        "with a comma between two numbers, and nothing else.\nOutput: ",
        "Rank the following {n} products by how well they match the search query {query}, the best match first "
        "and the worst match last.\n{items}\nOnly respond with the {n} product numbers separated by commas.\nOutput: ",
    )
    size_wanted = 5
    min_size = 3

    def seeds(self, index: EsciIndex, rng: random.Random, n: int) -> list[RankedSeed]:
        full: list[RankedSeed] = []
        short: list[RankedSeed] = []
        for qi in shuffled_range(len(index.queries), rng):
            if len(full) >= n:
                break
            q = index.queries[qi]
            groups = by_label(q.items)
            if len(q.items) < self.min_size or len(groups) < 2 or not norm(q.query):
                continue
            labels = list(groups)
            rng.shuffle(labels)
            first = [(rng.choice(groups[lab]), lab) for lab in labels]  # one of each label present
            rest = [item for item in q.items if item not in first]
            rng.shuffle(rest)
            items = (first + rest)[: self.size_wanted + 4]  # 4 spares for missing or repeated titles
            seed = RankedSeed(q.locale, query_text(index, qi), tuple(items), min(self.size_wanted, len(q.items)))
            (full if seed.size == self.size_wanted else short).append(seed)
        return (full + short)[:n]

    def question(self, seed: RankedSeed, lookup: Mapping, rng: random.Random) -> Question:
        taken: list[str] = []
        listed: list[tuple[str, str]] = []  # (title, label)
        for pid, label in seed.items:
            if len(listed) == seed.size:
                break
            title = title_of(lookup, seed.locale, pid)
            if title and norm(title) not in taken:
                taken.append(norm(title))
                listed.append((title, label))
        if len(listed) < seed.size:
            raise Skip("too few products with distinct titles")
        if len({label for _, label in listed}) < 2:
            raise Skip("the listed products carry one label only")
        rng.shuffle(listed)
        prompt = choose(rng, self.instructions, query=quote(seed.query), n=len(listed), item="product",
                        items=numbered([t for t, _ in listed]))
        return Question(fitted(prompt), ranking_answer([ESCI_RELEVANCE[lab] for _, lab in listed]))


# =============================================================================================
# 8. The keyword set that fits a product (dev task16)
# =============================================================================================

@dataclass(frozen=True)
class KeywordSeed:
    locale: str
    product: str
    keywords: tuple[str, ...]
    distractors: tuple[tuple[str, ...], ...]

    def keys(self) -> list[tuple[str, str]]:
        return [(self.locale, self.product)]


@register("esci_keyword_set", source="esci", task_type="multiple-choice", size=10_000)
class KeywordSet(EsciBuilder):
    """Pick the keyword set that fits a product (dev task16), in all three ESCI locales.

    Source: ESCI examples + products (Apache-2.0). Example: "Given the following product, which of
    the following keyword sets is most suitable for it?\\nProduct Title: Aveda Blue Malva Shampoo
    ...\\nProduct Description: ...\\n\\n0. laptop stand, monitor riser\\n1. aveda blue shampoo,
    blue malva shampoo\\n2. ...\\n3. ...\\nAnswer: " -> "1".
    Fields: the queries for which the product is an Exact match are its keywords (2-4 of them, in
    random order); each distractor set is the Exact queries of another product of the same locale,
    cut to the same number of keywords (so length gives nothing away) and sharing no keyword with
    the answer; title and description (bullet points when there is no description) describe the
    product. Quirks: only products that are an Exact match for at least two distinct queries
    qualify (a one-query "set" would be task 25); seeds alternate between the locales (us, es, jp)
    so the non-English share is large, as in the multilingual dev task16.
    """

    instructions = (
        "Given the following product, which of the following keyword sets is most suitable for it?\n{product}\n\n"
        "{options}\nAnswer: ",
        "Which of the following sets of phrases best summarizes the following product?\n{product}\n\n{options}\n"
        "Answer: ",
        "{product}\nWhich of the following sets of search keywords would a shopper most likely type to find the "
        "product above?\n{options}\nAnswer: ",
        "Shoppers found the following product on an online shopping website by searching for some keywords.\n"
        "{product}\nWhich keyword set did they search for?\n{options}\nAnswer: ",
    )
    max_keywords = 4
    spare_distractors = 6

    def seeds(self, index: EsciIndex, rng: random.Random, n: int) -> list[KeywordSeed]:
        # The Exact queries of every product (per locale; query strings are shared with the index).
        exact: dict[str, dict[str, list[str]]] = {}
        for q in index.queries:
            text = one_line(q.query)
            if not text:
                continue
            per_locale = exact.setdefault(q.locale, {})
            for pid, label in q.items:
                if label == "E":
                    per_locale.setdefault(pid, []).append(text)
        pools: dict[str, list[tuple[str, tuple[str, ...]]]] = {}
        for locale in sorted(exact):
            for pid, texts in exact[locale].items():
                distinct: list[str] = []
                for t in texts:
                    if norm(t) not in {norm(d) for d in distinct}:
                        distinct.append(t)
                if len(distinct) >= 2:
                    pools.setdefault(locale, []).append((pid, tuple(distinct)))
        del exact
        orders = {loc: shuffled_range(len(pool), rng) for loc, pool in pools.items()}
        seeds: list[KeywordSeed] = []
        position = 0
        while len(seeds) < n and any(position < len(o) for o in orders.values()):
            for locale in sorted(pools):  # round robin over the locales
                if len(seeds) == n or position >= len(orders[locale]):
                    continue
                pool = pools[locale]
                pid, queries = pool[orders[locale][position]]
                k = min(len(queries), self.max_keywords)
                keywords = tuple(rng.sample(queries, k))
                avoid = {norm(t) for t in queries}
                distractors: list[tuple[str, ...]] = []
                for _ in range(40):
                    if len(distractors) == self.spare_distractors or len(pool) < 2:
                        break
                    other_pid, other = pool[rng.randrange(len(pool))]
                    if other_pid == pid or len(other) < k or any(norm(t) in avoid for t in other):
                        continue
                    avoid.update(norm(t) for t in other)
                    distractors.append(tuple(rng.sample(other, k)))
                if len(distractors) >= 3:
                    seeds.append(KeywordSeed(locale, pid, keywords, tuple(distractors)))
            position += 1
        # a distractor set must not hold a query that judged the product Substitute or Complement either
        judged = judgments(index, [(s.locale, s.product) for s in seeds])
        out: list[KeywordSeed] = []
        for s in seeds:
            related = {norm(index.queries[j].query) for j, lab in judged.get((s.locale, s.product), []) if lab != "I"}
            kept = tuple(d for d in s.distractors if not any(norm(t) in related for t in d))
            if len(kept) >= 3:
                out.append(KeywordSeed(s.locale, s.product, s.keywords, kept))
        return out

    def question(self, seed: KeywordSeed, lookup: Mapping, rng: random.Random) -> Question:
        p = product(lookup, seed.locale, seed.product)
        title = clean(p.title, TITLE_CHARS, p.locale) if p else ""
        if not title:
            raise Skip("product without title")
        about = description_of(p) or clean(" ".join(bullets_of(p)), DESCRIPTION_CHARS, p.locale)
        block = f"Product Title: {title}" + (f"\nProduct Description: {about}" if about else "")
        correct = ", ".join(one_line(k) for k in seed.keywords)
        distractors: list[str] = []
        for keywords in seed.distractors:
            text = ", ".join(one_line(k) for k in keywords)
            if norm(text) != norm(correct) and norm(text) not in {norm(d) for d in distractors}:
                distractors.append(text)
        if len(distractors) < 3:
            raise Skip("fewer than 3 distinct distractor keyword sets")
        return mc_question(self.instructions, correct, distractors[:3], rng, product=block)


# =============================================================================================
# 23-25. The user query that matches a product's description / features / title
# =============================================================================================

VIEW_NAMES = {"description": "a description", "features": "bullet points", "title": "a title"}


class QueryForProduct(EsciBuilder):
    """Base: choose the query for which a product is an Exact match among 4 queries of its locale."""

    view = ""  # "description" | "features" | "title"
    spare_subjects = 3
    n_distractors = 3
    max_hard = 2  # at most this many distractors are queries that judged the product Irrelevant

    def seeds(self, index: EsciIndex, rng: random.Random, n: int) -> list[QueryOptionsSeed]:
        picks: list[tuple[int, list[str]]] = []
        for qi in shuffled_range(len(index.queries), rng):
            if len(picks) == n:
                break
            q = index.queries[qi]
            exact = [pid for pid, label in q.items if label == "E"]
            if exact and norm(q.query):
                picks.append((qi, rng.sample(exact, min(len(exact), self.spare_subjects))))
        judged = judgments(index, [(index.queries[qi].locale, p) for qi, ps in picks for p in ps])
        pools = queries_by_locale(index)
        seeds: list[QueryOptionsSeed] = []
        for qi, subjects in picks:
            q = index.queries[qi]
            answer = query_text(index, qi)
            candidates = []
            for pid in subjects:
                js = judged.get((q.locale, pid), [])
                # Queries that judged the product Exact, Substitute or Complement could be answers.
                avoid = {norm(answer)} | {norm(index.queries[j].query) for j, lab in js if lab != "I"}
                hard: list[str] = []
                for j, lab in js:
                    text = query_text(index, j)
                    if lab == "I" and norm(text) and norm(text) not in avoid:
                        avoid.add(norm(text))
                        hard.append(text)
                rng.shuffle(hard)
                distractors = hard[: self.max_hard]
                distractors += random_queries(index, pools.get(q.locale, []), self.n_distractors - len(distractors),
                                              rng, avoid)
                if len(distractors) == self.n_distractors:
                    candidates.append((pid, answer, tuple(distractors)))
            if candidates:
                seeds.append(QueryOptionsSeed(q.locale, tuple(candidates)))
        return seeds

    def shown(self, p: EsciProduct) -> str:
        """The product text the question shows ("" when the product lacks it)."""
        if self.view == "description":
            return description_of(p)
        if self.view == "features":
            return features_block(bullets_of(p)[:MAX_BULLETS])
        return clean(p.title, TITLE_CHARS, p.locale)

    def question(self, seed: QueryOptionsSeed, lookup: Mapping, rng: random.Random) -> Question:
        for pid, answer, distractors in seed.candidates:
            p = product(lookup, seed.locale, pid)
            text = self.shown(p) if p else ""
            if text:
                return mc_question(self.instructions, answer, distractors, rng, **{self.view: text,
                                                                                  "quoted": quote(text)})
        raise Skip(f"no product with {VIEW_NAMES[self.view]}")


@register("esci_query_for_description", source="esci", task_type="multiple-choice", size=10_000)
class QueryForDescription(QueryForProduct):
    """Select the user query that matches a product's description.

    Source: ESCI examples + products (Apache-2.0). Example: "A product on an online shopping website
    has the following description: Juego para practicar palabras de uso frecuente ...\\nWhich of the
    following queries is a user most likely to make to find this product?\\n0. cargador usb c\\n1.
    juegos educativos palabras\\n2. ...\\n3. ...\\nAnswer: " -> "1".
    Fields: product description (tags removed, cut to 900 characters); the answer is a query that
    judged the product Exact; distractors are queries of the same locale: up to 2 that judged this
    product Irrelevant (hard negatives), the rest drawn at random among queries that did not judge
    it Exact, Substitute or Complement. Quirks: many ESCI products have no description: up to 3
    Exact products of the query are carried and the first with a description is used.
    """

    view = "description"
    instructions = (
        "A product on an online shopping website has the following description: {description}\nWhich of the "
        "following queries is a user most likely to make to find this product?\n{options}\nAnswer: ",
        "Product Description: {description}\nWhich of the following search queries does the product described "
        "above match exactly?\n{options}\nAnswer: ",
        "Which of the following user queries best matches the product with the description below?\n"
        "Product Description: {description}\n{options}\nAnswer: ",
    )


@register("esci_query_for_features", source="esci", task_type="multiple-choice", size=10_000)
class QueryForFeatures(QueryForProduct):
    """Select the user query that matches a product's features (bullet points).

    Source: ESCI examples + products (Apache-2.0). Example: "A product on an online shopping website
    has the following features:\\n- 2.5 inch front lift\\n- fits 2008-2012 Jeep Liberty KK\\nWhich of
    the following queries is a user most likely to make to find this product?\\n0. jeep liberty
    lift\\n1. ...\\n2. ...\\n3. ...\\nAnswer: " -> "0".
    Fields: up to 6 bullet points ("- " lines, never numbered, 250 characters each); answer and
    distractor queries as in esci_query_for_description. Quirks: products without bullet points are
    replaced by another Exact product of the query (up to 3 carried).
    """

    view = "features"
    instructions = (
        "A product on an online shopping website has the following features:\n{features}\nWhich of the "
        "following queries is a user most likely to make to find this product?\n{options}\nAnswer: ",
        "Product Features:\n{features}\nWhich of the following search queries does the product with the features "
        "above match exactly?\n{options}\nAnswer: ",
        "Which of the following user queries best matches the product described by these bullet points?\n"
        "{features}\n{options}\nAnswer: ",
    )


@register("esci_query_for_title", source="esci", task_type="multiple-choice", size=10_000)
class QueryForTitle(QueryForProduct):
    """Select the user query that matches a product's title.

    Source: ESCI examples + products (Apache-2.0). Example: "The product 'AVEDA by Aveda: Blue Malva
    Color Shampoo 33.8 OZ' appears on an online shopping website. Which of the following queries is
    a user most likely to make to find this product?\\n0. ...\\n1. blue shampoo aveda\\n2. ...\\n3.
    ...\\nAnswer: " -> "1".
    Fields: product title (quoted, 300 characters at most); answer and distractor queries as in
    esci_query_for_description. Quirks: every product has a title, so one Exact product is carried.
    """

    view = "title"
    spare_subjects = 1
    instructions = (
        "The product {quoted} appears on an online shopping website. Which of the following queries is a user "
        "most likely to make to find this product?\n{options}\nAnswer: ",
        "Product Title: {title}\nWhich of the following search queries does the product above match exactly?\n"
        "{options}\nAnswer: ",
        "Which of the following user queries best matches the product {quoted}?\n{options}\nAnswer: ",
    )


# =============================================================================================
# 26-27. The title for a product's description / features
# =============================================================================================

class TitleForProduct(EsciBuilder):
    """Base: choose a product's title among 4 titles of the same locale, given its description or features."""

    view = ""  # "description" | "features"
    spare_subjects = 3
    n_hard = 3  # other products judged for the same query: similar products
    n_easy = 4  # random products of the locale
    max_hard = 1  # distractors from the same query, the rest random

    def seeds(self, index: EsciIndex, rng: random.Random, n: int) -> list[ProductSeed]:
        return query_product_seeds(index, rng, n, self.spare_subjects, self.n_hard, self.n_easy)

    def shown(self, p: EsciProduct) -> str:
        if self.view == "description":
            return description_of(p)
        return features_block(bullets_of(p)[:MAX_BULLETS])

    def question(self, seed: ProductSeed, lookup: Mapping, rng: random.Random) -> Question:
        found = take_products(lookup, seed.locale, seed.subjects, 1,
                              lambda p: bool(self.shown(p)) and bool(clean(p.title, TITLE_CHARS)))
        if not found:
            raise Skip(f"no product with a title and {VIEW_NAMES[self.view]}")
        pid, p = found[0]
        title = clean(p.title, TITLE_CHARS, p.locale)
        shown = self.shown(p)

        def other_text(x: str) -> bool:  # listings that share the subject's description are no distractors
            q = product(lookup, seed.locale, x)
            return q is not None and norm(self.shown(q)) != norm(shown)

        hard = [x for x in (*seed.hard, *seed.subjects) if x != pid and other_text(x)]
        easy = [x for x in seed.easy if other_text(x)]
        # a same-query product that is a variant of the answer (same name, other size) is no distractor
        distractors = distinct_titles(lookup, seed.locale, [hard, easy], [self.max_hard, 3],
                                      [norm(title)], near=NEAR_DUPLICATE, against=[title])[:3]
        if len(distractors) < 3:
            raise Skip("fewer than 3 distinct distractor titles")
        return mc_question(self.instructions, title, distractors, rng, **{self.view: shown})


@register("esci_title_for_description", source="esci", task_type="multiple-choice", size=10_000)
class TitleForDescription(TitleForProduct):
    """Select a product's title given its description.

    Source: ESCI examples + products (Apache-2.0). Example: "A product on an online shopping website
    has the following description: Vor dem Pi-EzConnect werden ein Flachbandkabel ...\\nWhich of the
    following is the title of this product?\\n0. ...\\n1. Alchemy Power Inc. Pi-EzConnect ...\\n2.
    ...\\n3. ...\\nAnswer: " -> "1".
    Fields: description (900 characters at most); the answer is the product's title; distractors
    are titles of the same locale: at most one from a product judged for the same query (a similar
    product, but never a variant: titles with a character-trigram similarity of 0.6 or more to the
    answer are left out), the rest random. Quirks: the subject is any judged product of a query (any
    label); the first of 3 that has a description is used.
    """

    view = "description"
    instructions = (
        "A product on an online shopping website has the following description: {description}\nWhich of the "
        "following is the title of this product?\n{options}\nAnswer: ",
        "Product Description: {description}\nSelect the title of the product described above.\n{options}\nAnswer: ",
        "Which of the following product titles belongs to the product with the description below?\n"
        "Product Description: {description}\n{options}\nAnswer: ",
    )


@register("esci_title_for_features", source="esci", task_type="multiple-choice", size=10_000)
class TitleForFeatures(TitleForProduct):
    """Select a product's title given its features (bullet points).

    Source: ESCI examples + products (Apache-2.0). Example: "A product on an online shopping website
    has the following features:\\n- Echo Dot is our most compact smart speaker ...\\n- ...\\nWhich of
    the following is the title of this product?\\n0. ...\\n1. ...\\n2. Echo Dot (3rd Gen) - Smart
    speaker with Alexa - Charcoal\\n3. ...\\nAnswer: " -> "2".
    Fields: up to 6 bullet points ("- " lines); answer and distractors as in
    esci_title_for_description. Quirks: the first of 3 products of the query with bullet points is
    used.
    """

    view = "features"
    instructions = (
        "A product on an online shopping website has the following features:\n{features}\nWhich of the following "
        "is the title of this product?\n{options}\nAnswer: ",
        "Product Features:\n{features}\nSelect the title of the product with the features above.\n{options}\n"
        "Answer: ",
        "Which of the following product titles belongs to the product described by these bullet points?\n"
        "{features}\n{options}\nAnswer: ",
    )


# =============================================================================================
# 28, 31. The product for a user query
# =============================================================================================

class ProductForQueryBase(EsciBuilder):
    """Base: choose an Exact product for a query among 4; distractors judged for the query with
    ``hard_labels``, then random products of the locale."""

    hard_labels: tuple[str, ...] = ("I",)
    spare_subjects = 2
    n_hard = 4
    n_easy = 5
    max_hard = 2

    def seeds(self, index: EsciIndex, rng: random.Random, n: int) -> list[ProductSeed]:
        seeds: list[ProductSeed] = []
        for qi in shuffled_range(len(index.queries), rng):
            if len(seeds) == n:
                break
            q = index.queries[qi]
            groups = by_label(q.items)
            if "E" not in groups or not norm(q.query):
                continue
            subjects = tuple(rng.sample(groups["E"], min(len(groups["E"]), self.spare_subjects)))
            hard = [pid for lab in self.hard_labels for pid in groups.get(lab, [])]
            hard = tuple(rng.sample(hard, min(len(hard), self.n_hard)))
            easy = tuple(random_products(index, q.locale, self.n_easy, rng, exclude=[pid for pid, _ in q.items]))
            seeds.append(ProductSeed(q.locale, query_text(index, qi), subjects, hard, easy))
        return seeds

    def option(self, p: EsciProduct) -> str:
        return clean(p.title, TITLE_CHARS, p.locale)

    def question(self, seed: ProductSeed, lookup: Mapping, rng: random.Random) -> Question:
        found = take_products(lookup, seed.locale, seed.subjects, 1, lambda p: bool(self.option(p)))
        if not found:
            raise Skip("no exact product with a title")
        correct = self.option(found[0][1])
        taken = [norm(correct)]
        distractors: list[str] = []
        for pids, quota in ((seed.hard, self.max_hard), (seed.easy, 3)):
            for _, p in take_products(lookup, seed.locale, pids, len(pids), lambda p: bool(self.option(p))):
                if len(distractors) == 3 or quota == 0:
                    break
                text = self.option(p)
                if norm(text) not in taken and norm(p.title) != norm(found[0][1].title):
                    taken.append(norm(text))
                    distractors.append(text)
                    quota -= 1
        if len(distractors) < 3:
            raise Skip("fewer than 3 distinct distractor products")
        return mc_question(self.instructions, correct, distractors, rng, query=quote(seed.query))


@register("esci_title_for_query", source="esci", task_type="multiple-choice", size=10_000)
class TitleForQuery(ProductForQueryBase):
    """Select the product title for a user query.

    Source: ESCI examples + products (Apache-2.0). Example: "A user on an online shopping website has
    made a query with keyword 'blue shampoo aveda'. Which of the following product titles is an exact
    match for the query?\\n0. Organic Blue Mallow Flowers - Color-Changing Blue Herbal Tea ...\\n1.
    AVEDA by Aveda: Blue Malva Color Shampoo 33.8 OZ\\n2. ...\\n3. ...\\nAnswer: " -> "1".
    Fields: query text; the answer is the title of a product the query judged Exact; distractors:
    up to 2 products the query judged Irrelevant (hard negatives), the rest random products of the
    locale that the query did not judge. Substitutes and complements are never options (they half
    match). Quirks: a distractor with the answer's title (a duplicate listing) is left out.
    """

    instructions = (
        "A user on an online shopping website has made a query with keyword {query}. Which of the following "
        "product titles is an exact match for the query?\n{options}\nAnswer: ",
        "Which of the following product titles best matches the search query {query}?\n{options}\nAnswer: ",
        "Query: {query}\nSelect the title of the product that a user searching for the query above is looking "
        "for.\n{options}\nAnswer: ",
    )


@register("esci_product_for_query", source="esci", task_type="multiple-choice", size=5_435)
class ProductForQuery(ProductForQueryBase):
    """Pick the product (title with brand and color) that matches a query.

    Source: ESCI examples + products (Apache-2.0). Example: "A customer searches an online store for
    'lexus rear side bumper lights'. Which of the following products should the store show for this
    search?\\n0. Nilight 2PCS 18W Spot Driving Fog Light ... (brand: Nilight)\\n1. DSparts Rear Left
    Side Marker Bumper Light Fits FOR 2004-2009 Lexus RX330 (brand: DSparts; color: Amber)\\n2.
    ...\\n3. ...\\nAnswer: " -> "1".
    Fields: query text; options are title + "(brand: ..., color: ...)" with whichever of brand and
    color the product has; the answer is an Exact product; distractors: up to 2 products the query
    judged Complement or Irrelevant, the rest random products of the locale. Quirks: unlike
    esci_title_for_query, complements are hard negatives too, and the wordings differ.
    """

    hard_labels = ("C", "I")
    instructions = (
        "A customer searches an online store for {query}. Which of the following products should the store show "
        "for this search?\n{options}\nAnswer: ",
        "Search query: {query}\nThe following products are listed with their brand and color. Which one is the "
        "customer looking for?\n{options}\nAnswer: ",
        "Pick the product that fully satisfies the shopping query {query}.\n{options}\nAnswer: ",
    )

    def option(self, p: EsciProduct) -> str:
        title = clean(p.title, TITLE_CHARS, p.locale)
        if not title:
            return ""
        extra = [f"brand: {brand_of(p)}"] if brand_of(p) else []
        color = clean(p.color, 60, "")
        if color:
            extra.append(f"color: {color}")
        return f"{title} ({'; '.join(extra)})" if extra else title


# =============================================================================================
# 29. The 3 bullet points of a product, among others' bullet points
# =============================================================================================

@register("esci_bullet_point_retrieval", source="esci", task_type="retrieval", size=10_000)
class BulletPointRetrieval(EsciBuilder):
    """Pick the 3 bullet points that belong to a product from a numbered list of 10 or 15.

    Source: ESCI examples + products (Apache-2.0). Example: "The product 'Echo Dot (3rd Gen) - Smart
    speaker with Alexa - Charcoal' is sold on an online shopping website. The following numbered
    list contains 10 bullet points, taken from the listings of several products. Please select the 3
    bullet points from the list that belong to this product.\\nBullet Point List: \\n1. ...\\n10.
    ...\\nYou should output 3 numbers ...\\nOutput: " -> "2, 5, 9" (ascending).
    Fields: title (quoted); 3 of the product's bullet points (at random, 180 characters each);
    the other bullet points come from other products of the same locale: at most 2 per product, at
    most one product judged for the same query (similar, so harder), never a text equal to any of
    the product's own bullets or close to one (trigram similarity 0.8: shared boilerplate). Quirks:
    the product must have at least 3 distinct bullet points (the first of 3 products of the query
    that has is used); Japanese lists hold 10 bullets (longer in tokens).
    """

    instructions = (
        "The product {title} is sold on an online shopping website. The following numbered list contains {n} "
        "bullet points, taken from the listings of several products. Please select the 3 bullet points from the "
        "list that belong to this product.\nBullet Point List: \n{items}\n"
        + RETRIEVAL_TAIL.replace("{items}", "bullet points"),
        "Bullet Point List: \n{items}\nThree of the bullet points above describe the product {title}; the others "
        "describe other products. Which three? Output ONLY three numbers separated with comma. Do not give "
        "explanations.\nOutput: ",
        "You are given a product title and a numbered list of {n} product features. Select three from the list "
        "that were written for the product {title}. \nFeature List: \n{items}\n"
        "Output (answer in three comma-separated numbers): ",
    )
    spare_subjects = 3
    n_hard = 2
    n_easy = 8
    per_product = 2
    similar_bullet = 0.8

    def seeds(self, index: EsciIndex, rng: random.Random, n: int) -> list[ProductSeed]:
        return query_product_seeds(index, rng, n, self.spare_subjects, self.n_hard, self.n_easy)

    def question(self, seed: ProductSeed, lookup: Mapping, rng: random.Random) -> Question:
        found = take_products(lookup, seed.locale, seed.subjects, 1,
                              lambda p: len(bullets_of(p, LIST_BULLET_CHARS)) >= 3 and bool(clean(p.title, 10)))
        if not found:
            raise Skip("no product with 3 bullet points")
        pid, p = found[0]
        own = bullets_of(p, LIST_BULLET_CHARS)
        true = rng.sample(own, 3)
        size = 10 if seed.locale == "jp" else rng.choice((10, 15))
        others = [x for x in seed.subjects if x != pid]
        taken = [norm(b) for b in own]
        pool: list[str] = []
        for pids, max_products in ((seed.hard + tuple(others), 1), (seed.easy, len(seed.easy))):
            used = 0
            for other in pids:
                if used == max_products or len(pool) >= size - 3:
                    break
                theirs = bullets_of(product(lookup, seed.locale, other), LIST_BULLET_CHARS)
                got = 0
                for b in rng.sample(theirs, len(theirs)):
                    if got == self.per_product or len(pool) >= size - 3:
                        break
                    if norm(b) in taken or any(similarity(b, mine) >= self.similar_bullet for mine in own):
                        continue
                    taken.append(norm(b))
                    pool.append(b)
                    got += 1
                used += got > 0
        if len(pool) < size - 3:
            if len(pool) < 7:
                raise Skip("fewer than 7 distractor bullet points")
            size = 10
        listed = true + pool[: size - 3]
        rng.shuffle(listed)
        answer = sorted(listed.index(b) + 1 for b in true)
        prompt = choose(rng, self.instructions, title=quote(clean(p.title, TITLE_CHARS, p.locale)), n=size,
                        items=numbered(listed))
        return Question(fitted(prompt), numbers_answer(answer))


# =============================================================================================
# 32. Rank queries for a product (task 12 backwards)
# =============================================================================================

@dataclass(frozen=True)
class ProductQueriesSeed:
    locale: str
    product: str
    queries: tuple[tuple[str, str], ...]  # (query text, label; unjudged fillers count as "I")

    def keys(self) -> list[tuple[str, str]]:
        return [(self.locale, self.product)]


@register("esci_queries_for_product_ranking", source="esci", task_type="ranking", size=5_000)
class QueriesForProductRanking(EsciBuilder):
    """Rank 4-5 queries by their relevance to a product (task 12 backwards; the slides' prompt shape 3).

    Source: ESCI examples + products (Apache-2.0). Example: "A user is searching for the product
    'Aveda Clove Shampoo, 33.8 Oz'. Given the following numbered list of 4 queries, please rank the
    queries according their relevance with the product. \\nQuery List: \\n1. blue shampoo aveda\\n2.
    aveda clove shampoo\\n3. garden hose\\n4. ...\\nYou should output a permutation of 1 to 4. ...
    \\nOutput: " -> "2, 1, 3, 4".
    Fields: product title (quoted); queries that judged the product (E, S, C or I, weighted as in
    ``sources.ESCI_RELEVANCE``), one per label first, at most 3-4 of them; the list is filled with
    random queries of the locale that did not judge the product, counted Irrelevant (0). Quirks:
    most ESCI products are judged by one query, so products judged by several queries with
    different labels are sampled first (from a pool 4x the wanted size), then by several queries,
    then the rest; each list holds at least one unjudged query, so every ranking has two levels.
    """

    instructions = (
        "A user is searching for the product {title}. Given the following numbered list of {n} queries, please "
        "rank the queries according their relevance with the product. \nQuery List: \n{items}\n" + RANKING_TAIL,
        "The product {title} is sold on an online shopping website. The following numbered list contains {n} "
        "search queries. Please rank the queries according to how well the product matches each of them, the "
        "best-matching query first. \nQuery List: \n{items}\n" + RANKING_TAIL,
        "Query List: \n{items}\nA shopper wants the product {title}. Rank all {n} queries above from the most "
        "relevant to the least relevant for this product. Output a permutation of 1 to {n}, separated by commas, "
        "and nothing else.\nOutput: ",
    )
    pool_factor = 4

    def seeds(self, index: EsciIndex, rng: random.Random, n: int) -> list[ProductQueriesSeed]:
        picks: list[tuple[int, str]] = []
        seen: set[tuple[str, str]] = set()
        for qi in shuffled_range(len(index.queries), rng):
            if len(picks) == self.pool_factor * n:
                break
            q = index.queries[qi]
            exact = [pid for pid, label in q.items if label == "E"]
            if exact and norm(q.query):
                pid = rng.choice(exact)
                if (q.locale, pid) not in seen:
                    seen.add((q.locale, pid))
                    picks.append((qi, pid))
        judged = judgments(index, [(index.queries[qi].locale, pid) for qi, pid in picks])

        def preference(pick: tuple[int, str]) -> int:
            js = judged.get((index.queries[pick[0]].locale, pick[1]), [])
            return -(2 * (len({lab for _, lab in js}) > 1) + (len(js) > 1))

        ranked = sorted(picks, key=preference)  # stable: the shuffled order within each preference level
        pools = queries_by_locale(index)
        seeds: list[ProductQueriesSeed] = []
        for qi, pid in ranked:
            if len(seeds) == n:
                break
            locale = index.queries[qi].locale
            size = rng.choice((4, 4, 5))
            avoid: set[str] = set()  # every query that judged the product: never a filler
            chosen: list[tuple[str, str]] = []  # one query per label first ...
            rest: list[tuple[str, str]] = []  # ... then the others
            for j, lab in [(qi, "E")] + [x for x in judged.get((locale, pid), []) if x[0] != qi]:
                text = query_text(index, j)
                if not norm(text) or norm(text) in avoid:
                    continue
                avoid.add(norm(text))
                (rest if any(lab == c for _, c in chosen) else chosen).append((text, lab))
            rng.shuffle(rest)
            chosen = (chosen + rest)[: size - 1]
            chosen += [(text, "I") for text in random_queries(index, pools.get(locale, []), size - len(chosen), rng,
                                                                avoid)]
            if len(chosen) == size:
                seeds.append(ProductQueriesSeed(locale, pid, tuple(chosen)))
        return seeds

    def question(self, seed: ProductQueriesSeed, lookup: Mapping, rng: random.Random) -> Question:
        title = title_of(lookup, seed.locale, seed.product)
        if not title:
            raise Skip("product without title")
        listed = list(seed.queries)
        rng.shuffle(listed)
        prompt = choose(rng, self.instructions, title=quote(title), n=len(listed), item="query",
                        items=numbered([t for t, _ in listed]))
        return Question(fitted(prompt), ranking_answer([ESCI_RELEVANCE[lab] for _, lab in listed]))


# =============================================================================================
# 34. The brand of a product, given its title
# =============================================================================================

@register("esci_brand_for_title", source="esci", task_type="multiple-choice", size=10_000)
class BrandForTitle(EsciBuilder):
    """Given a product title, pick its brand among 4 brands of the same locale.

    Source: ESCI examples + products (Apache-2.0). Example: "The product 'Joico Color Balance Blue
    Shampoo 10.1 fl oz' appears on an online shopping website. What is the brand of this
    product?\\n0. Aveda\\n1. Redken\\n2. Joico\\n3. Olaplex\\nAnswer: " -> "2".
    Fields: title; the product_brand field is the answer; distractors are brands of other products
    of the same locale: at most 2 from products judged for the same query (competitors in the same
    category), the rest random. Decisions: a title that does not name its brand (letters and digits
    compared, case ignored: "AmazonBasics" matches "Amazon Basics") is skipped ("the title does not
    name its brand"): the question could not be answered from the title. Non-brands ("Generic",
    "Unbranded", "ノーブランド品", ...) are neither answers nor distractors. A distractor brand
    never equals the answer case-insensitively, never contains it or is contained in it ("Sony" /
    "Sony Pictures"), and never occurs in the title itself (which would make it a second answer).
    """

    instructions = (
        "The product {title} appears on an online shopping website. What is the brand of this product?\n"
        "{options}\nAnswer: ",
        "Product Title: {bare}\nWhich of the following brands makes the product above?\n{options}\nAnswer: ",
        "Which of the following is the brand of the product {title}?\n{options}\nAnswer: ",
        "Given the title of a product on an online shopping website, select its brand.\nTitle: {bare}\n{options}\n"
        "Answer: ",
    )
    spare_subjects = 2
    n_hard = 4
    n_easy = 6
    max_hard = 2

    def seeds(self, index: EsciIndex, rng: random.Random, n: int) -> list[ProductSeed]:
        return query_product_seeds(index, rng, n, self.spare_subjects, self.n_hard, self.n_easy)

    def question(self, seed: ProductSeed, lookup: Mapping, rng: random.Random) -> Question:
        def names_brand(p: EsciProduct) -> bool:
            brand = brand_of(p)
            if not brand or compact(brand) not in compact(p.title):
                return False
            if brand.isascii() and len(compact(brand)) <= 3:  # "LG" is no brand of "Bulgarian yogurt"
                return re.search(rf"(?<![a-z0-9]){re.escape(compact(brand))}(?![a-z0-9])", norm(p.title)) is not None
            return True

        candidates = take_products(lookup, seed.locale, seed.subjects, len(seed.subjects),
                                   lambda p: bool(clean(p.title, TITLE_CHARS)))
        if not candidates:
            raise Skip("no product with a title")
        found = [(pid, p) for pid, p in candidates if names_brand(p)]
        if not found:
            raise Skip("the title does not name its brand" if any(brand_of(p) for _, p in candidates)
                       else "no product with a brand")
        pid, p = found[0]
        brand, title = brand_of(p), clean(p.title, TITLE_CHARS, p.locale)
        in_title = compact(p.title)
        taken = [compact(brand)]
        distractors: list[str] = []
        others = [x for x in seed.subjects if x != pid]
        for pids, quota in (((*others, *seed.hard), self.max_hard), (seed.easy, 3)):
            for _, q in take_products(lookup, seed.locale, pids, len(pids), lambda q: bool(brand_of(q))):
                if quota == 0 or len(distractors) == 3:
                    break
                other = brand_of(q)
                c = compact(other)
                if c in in_title or any(c in t or t in c for t in taken):
                    continue
                taken.append(c)
                distractors.append(other)
                quota -= 1
        if len(distractors) < 3:
            raise Skip("fewer than 3 distinct distractor brands")
        return mc_question(self.instructions, brand, distractors, rng, title=quote(title), bare=title)


# =============================================================================================
# 35. The ESCI relation of a query-product pair
# =============================================================================================

@dataclass(frozen=True)
class PairSeed:
    locale: str
    query: str
    product: str
    label: str

    def keys(self) -> list[tuple[str, str]]:
        return [(self.locale, self.product)]


@register("esci_relation_label", source="esci", task_type="multiple-choice", size=10_000)
class RelationLabel(EsciBuilder):
    """Given a query-product pair, pick its relation: Exact, Substitute, Complement or Irrelevant.

    Source: ESCI examples + products (Apache-2.0). Example: "Which of the following statements best
    describes the relation between the query 'jeep liberty lift' and the product 'Rough Country 2.5\\"
    Lift Kit for 2007-2018 Jeep Wrangler JK 4DR - 67930'?\\n0. Complement\\n1. Irrelevant\\n2.
    Exact\\n3. Substitute\\nAnswer: " -> "3".
    Fields: query text, product title, the pair's esci_label (the answer). The four option texts
    are fixed (the ESCI label names), their order is shuffled per question. Quirks: labels are
    balanced (a quarter each, round robin; a label that runs out is filled by the others) instead of
    ESCI's 65/22/3/10% E/S/C/I, so that the rare Complement is learnt; one wording spells out the
    labels' definitions from the ESCI paper (Reddy et al. 2022).
    """

    instructions = (
        "Which of the following statements best describes the relation between the query {query} and the "
        "product {title}?\n{options}\nAnswer: ",
        "A user searched for {query} on an online shopping website and was shown the product {title}. How does "
        "the product relate to the query? Exact: the product is relevant for the query and satisfies all the "
        "query specifications. Substitute: the product is somewhat relevant; it fails to fulfill some aspects of "
        "the query but can be used as a functional substitute. Complement: the product does not fulfill the "
        "query but could be used in combination with an exact item. Irrelevant: the product is irrelevant for "
        "the query or fails to fulfill a central aspect of it.\n{options}\nAnswer: ",
        "Query: {query}\nProduct: {title}\nWhat is the relevance label of this query-product pair?\n{options}\n"
        "Answer: ",
    )

    def seeds(self, index: EsciIndex, rng: random.Random, n: int) -> list[PairSeed]:
        per_label: dict[str, list[PairSeed]] = {label: [] for label in LABELS}
        quota = -(-n // len(LABELS))
        for qi in shuffled_range(len(index.queries), rng):
            if all(len(v) >= quota for v in per_label.values()) and sum(map(len, per_label.values())) >= n:
                break
            q = index.queries[qi]
            if not norm(q.query):
                continue
            for label, pids in by_label(q.items).items():
                if len(per_label[label]) < n:
                    per_label[label].append(PairSeed(q.locale, query_text(index, qi), rng.choice(pids), label))
        seeds: list[PairSeed] = []
        depth = 0
        while len(seeds) < n and any(depth < len(v) for v in per_label.values()):
            for label in LABELS:  # round robin: balanced while every label lasts
                if len(seeds) < n and depth < len(per_label[label]):
                    seeds.append(per_label[label][depth])
            depth += 1
        return seeds

    def question(self, seed: PairSeed, lookup: Mapping, rng: random.Random) -> Question:
        title = title_of(lookup, seed.locale, seed.product)
        if not title:
            raise Skip("product without title")
        correct = LABEL_NAMES[seed.label]
        distractors = [LABEL_NAMES[lab] for lab in LABELS if lab != seed.label]
        return mc_question(self.instructions, correct, distractors, rng, query=quote(seed.query), title=quote(title))


# =============================================================================================
# 36. Rank query-product pairs by relatedness
# =============================================================================================

@dataclass(frozen=True)
class PairsSeed:
    locale: str
    pairs: tuple[tuple[str, str, str], ...]  # (query, product id, label); spares after the first ``size``
    size: int

    def keys(self) -> list[tuple[str, str]]:
        return [(self.locale, pid) for _, pid, _ in self.pairs]


@register("esci_pair_relevance_ranking", source="esci", task_type="ranking", size=10_000)
class PairRelevanceRanking(EsciBuilder):
    """Rank 4-5 query-product pairs (each from a different query) from most to least related.

    Source: ESCI examples + products (Apache-2.0). Example: "The following numbered list contains 4
    pairs of a user's search query and a product from an online shopping website. Please rank the
    pairs according to how relevant the product is to the query, from the most related pair to the
    least related pair. \\nPair List: \\n1. Query: 'kitkat' | Product: 'Oreo Chocolate Sandwich
    Cookies'\\n2. Query: 'echo dot' | Product: 'Echo Dot (3rd Gen) - Smart speaker with Alexa'\\n3.
    ...\\n4. ...\\nYou should output a permutation of 1 to 4. ...\\nOutput: " -> "2, 4, 1, 3".
    Fields: query texts, product titles, labels (relevance, ``sources.ESCI_RELEVANCE``). Quirks:
    pairs of one locale, each from a different query; the labels aimed at are E, S, C and I once
    each (plus one at random for 5 pairs), so most rankings are strict; a label not found in 30
    random queries is replaced by any label; at least two different labels per list.
    """

    instructions = (
        "The following numbered list contains {n} pairs of a user's search query and a product from an online "
        "shopping website. Please rank the pairs according to how relevant the product is to the query, from "
        "the most related pair to the least related pair. \nPair List: \n{items}\n" + RANKING_TAIL,
        "Pair List: \n{items}\nEach line above pairs a search query with a product. Rank the {n} query-product "
        "pairs from the most related to the least related. Answer with a permutation of 1 to {n}, a comma "
        "between two numbers, and no explanation.\nOutput: ",
        "You are an intelligent shopping assistant that can judge whether a product fits a search query. Rank "
        "the following {n} query-product pairs by relevance, the best match first and the worst match last.\n"
        "{items}\n" + RANKING_TAIL,
    )
    tries = 30
    spares = 2

    def seeds(self, index: EsciIndex, rng: random.Random, n: int) -> list[PairsSeed]:
        pools = queries_by_locale(index)
        seeds: list[PairsSeed] = []
        for qi in shuffled_range(len(index.queries), rng):  # the shuffled queries pick the locales
            if len(seeds) == n:
                break
            locale = index.queries[qi].locale
            pool = pools.get(locale, [])
            size = rng.choice((4, 5))
            wanted: list[str | None] = list(LABELS)
            rng.shuffle(wanted)
            wanted += [rng.choice(LABELS)] * (size - len(LABELS)) + [None] * self.spares  # None: any label
            used: list[int] = []
            pairs: list[tuple[str, str, str]] = []
            for label in wanted:
                for _ in range(self.tries):
                    j = pool[rng.randrange(len(pool))] if pool else qi
                    groups = by_label(index.queries[j].items)
                    if j in used or not groups or (label is not None and label not in groups):
                        continue
                    lab = label if label is not None else rng.choice(list(groups))
                    used.append(j)
                    pairs.append((query_text(index, j), rng.choice(groups[lab]), lab))
                    break
            if len(pairs) >= 3 and len({lab for _, _, lab in pairs}) >= 2:
                seeds.append(PairsSeed(locale, tuple(pairs), min(size, len(pairs))))
        return seeds

    def question(self, seed: PairsSeed, lookup: Mapping, rng: random.Random) -> Question:
        listed: list[tuple[str, str, str]] = []
        taken: list[str] = []
        for query, pid, label in seed.pairs:
            if len(listed) == seed.size:
                break
            title = title_of(lookup, seed.locale, pid, LIST_TITLE_CHARS)
            if title and norm(title) not in taken:
                taken.append(norm(title))
                listed.append((query, title, label))
        if len(listed) < 3:
            raise Skip("fewer than 3 pairs with distinct titles")
        if len({lab for _, _, lab in listed}) < 2:
            raise Skip("the listed pairs carry one label only")
        rng.shuffle(listed)
        items = [f"Query: {quote(q)} | Product: {quote(t)}" for q, t, _ in listed]
        prompt = choose(rng, self.instructions, n=len(listed), item="pair", items=numbered(items))
        return Question(fitted(prompt), ranking_answer([ESCI_RELEVANCE[lab] for _, _, lab in listed]))


# =============================================================================================
# 37. The exact matches of a query, from a numbered list
# =============================================================================================

@register("esci_exact_matches_retrieval", source="esci", task_type="retrieval", size=10_000)
class ExactMatchesRetrieval(EsciBuilder):
    """Given a query, select the 3 products that are exact matches (not S, C or I) from 10 or 15.

    Source: ESCI examples + products (Apache-2.0). Example: "A user on an online shopping website has
    made a query with keyword 'aveda shampoo'. The following numbered list contains 10 products.
    Please select the 3 products from the list that are exact matches for the query ...\\nProduct
    List: \\n1. ...\\n10. ...\\nYou should output 3 numbers ...\\nOutput: " -> "3, 7, 8" (ascending).
    Fields: query text; 3 products the query judged Exact (titles, 200 characters each); the other
    candidates are the query's own Substitute, Complement and Irrelevant products first (hard
    negatives), then random products of the locale that the query did not judge. Quirks: the answer
    is always 3 numbers (hit rate@3 reads 3, and inference decodes 3), so the query needs at least 3
    Exact products; titles are distinct across the list (a duplicate listing is replaced); Japanese
    lists hold 10 candidates.
    """

    instructions = (
        "A user on an online shopping website has made a query with keyword {query}. The following numbered list "
        "contains {n} products. Please select the 3 products from the list that are exact matches for the query: "
        "products that satisfy every part of the query, not substitutes, complements or irrelevant products.\n"
        "Product List: \n{items}\n" + RETRIEVAL_TAIL.replace("{items}", "products"),
        "Product List: \n{items}\nA shopper searched for {query}. Exactly three of the products above match the "
        "search exactly. Which three? Output ONLY three numbers separated with comma. Do not give explanations.\n"
        "Output: ",
        "You are given a search query and a numbered list of {n} candidate products. Select three from the list "
        "that are exact matches for the query {query} (not merely similar, complementary or unrelated). \n"
        "Candidate Product List: \n{items}\nOutput (answer in three comma-separated numbers): ",
    )
    spare_exact = 2
    spare_others = 3

    def seeds(self, index: EsciIndex, rng: random.Random, n: int) -> list[ProductSeed]:
        seeds: list[ProductSeed] = []
        for qi in shuffled_range(len(index.queries), rng):
            if len(seeds) == n:
                break
            q = index.queries[qi]
            groups = by_label(q.items)
            if len(groups.get("E", [])) < 3 or not norm(q.query):
                continue
            size = 10 if q.locale == "jp" else rng.choice((10, 15))  # Japanese titles cost more tokens
            exact = rng.sample(groups["E"], min(len(groups["E"]), 3 + self.spare_exact))
            wanted = size - 3 + self.spare_others
            hard = [pid for pid, lab in q.items if lab != "E"]
            hard = rng.sample(hard, min(len(hard), wanted))
            easy = random_products(index, q.locale, wanted - len(hard), rng, exclude=[p for p, _ in q.items])
            seeds.append(ProductSeed(q.locale, query_text(index, qi), tuple(exact), tuple(hard), tuple(easy)))
        return seeds

    def question(self, seed: ProductSeed, lookup: Mapping, rng: random.Random) -> Question:
        # the seed carries size - 3 other products + 3 spares: 10 for a list of 10, 15 for one of 15
        size = 15 if len(seed.hard) + len(seed.easy) >= 15 else 10
        taken: list[str] = []
        true = distinct_titles(lookup, seed.locale, [seed.subjects], [3], taken, LIST_TITLE_CHARS)
        if len(true) < 3:
            raise Skip("fewer than 3 exact products with distinct titles")
        others = distinct_titles(lookup, seed.locale, [seed.hard, seed.easy], [size - 3, size - 3], taken,
                                 LIST_TITLE_CHARS)[: size - 3]
        if len(others) < size - 3:
            if len(others) < 7:
                raise Skip("fewer than 7 other products with distinct titles")
            size, others = 10, others[:7]
        listed = true + others
        rng.shuffle(listed)
        answer = sorted(listed.index(t) + 1 for t in true)
        prompt = choose(rng, self.instructions, query=quote(seed.query), n=size, items=numbered(listed))
        return Question(fitted(prompt), numbers_answer(answer))
