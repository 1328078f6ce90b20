"""Amazon-M2 (KDD Cup 2023 multilingual sessions): docs/datasets.md rows 1, 9, 10, 22 and 33.

Source: ``amazon_m2/products_train.csv`` (one row per (id, locale): title, price, brand, color,
size, model, material, author, desc) and ``sessions_train.csv`` (prev_items, next_item, locale),
read by ``training/data/readers/amazon_m2.py`` into ``sources.M2Index`` (sessions, product ids per
locale, the locales each id is listed in) and a lookup of ``M2Product`` records keyed
``(locale, id)``. Licence: released for the KDD Cup 2023 under the AIcrowd challenge rules; check
the AIcrowd dataset page before redistributing built rows.

Shared conventions: every text that goes into a prompt is put on one line and clipped to a token
budget (``clip``: ~1 token per CJK character, ~3.5 characters per token otherwise) so that a
prompt stays well under 1,500 tokens even with Japanese titles; locales are named by their
language (DE German, JP Japanese, UK English, ES Spanish, FR French, IT Italian); an empty
attribute is "", "nan", "none", "null", "n/a" or "-". Rows 1, 9, 10 and 22 give each seed up to 3
alternative products (``ALTERNATIVES``, all looked up in the one pass) and ask about the first that
makes a good question, so that products without the needed field (no description, no asked
attribute, the same title in both locales) do not cost rows; a seed is skipped, with its first
alternative's reason, only when none of them does.
"""
from __future__ import annotations

import random
import re
from typing import Iterable, Mapping, Sequence

from training.data.registry import Builder, Question, Skip, register
from training.data.rows import choose, numbered, numbers_answer, one_line, sample_distinct, shuffled_options
from training.data.sources import M2Index, M2Product, M2Session

LANGUAGE = {"DE": "German", "JP": "Japanese", "UK": "English", "ES": "Spanish", "FR": "French", "IT": "Italian"}
EMPTY = {"", "nan", "none", "null", "n/a", "na", "-", "--"}


# ---- shared helpers ---------------------------------------------------------------------------

def _is_cjk(ch: str) -> bool:
    return ("\u2e80" <= ch <= "\u9fff" or "\uac00" <= ch <= "\ud7af" or "\uf900" <= ch <= "\ufaff"
            or "\uff00" <= ch <= "\uffef")


def approx_tokens(text: str) -> float:
    """A tokenizer-free estimate: 1 token per CJK character, 3.5 other characters per token."""
    cjk = sum(1 for ch in text if _is_cjk(ch))
    return cjk + (len(text) - cjk) / 3.5


def clip(text: str, budget: float) -> str:
    """``text`` on one line, cut to about ``budget`` tokens at a word boundary where there is one."""
    text = one_line(text)
    if approx_tokens(text) <= budget:
        return text
    used, cut = 0.0, len(text)
    for i, ch in enumerate(text):
        used += 1.0 if _is_cjk(ch) else 1 / 3.5
        if used > budget:
            cut = i
            break
    head = text[:cut]
    space = head.rfind(" ")
    if space > 0.6 * cut:  # a CJK text has no spaces: keep the character cut
        head = head[:space]
    return head.rstrip(" ,;:-–—(/[【")


def filled(value: str | None) -> bool:
    return value is not None and str(value).strip().lower() not in EMPTY


def norm(text: str) -> str:
    """For comparing texts: lower case, whitespace collapsed."""
    return one_line(text).lower()


def sample_ids(pool: Sequence[str], k: int, rng: random.Random, exclude: Iterable[str] = ()) -> list[str]:
    """Up to ``k`` distinct ids of ``pool`` not in ``exclude``."""
    return sample_distinct(pool, k, rng, exclude)


def locales_by_size(index: M2Index, minimum: int = 1) -> tuple[list[str], list[int]]:
    """Locales (sorted, for determinism) holding at least ``minimum`` products, with their sizes."""
    locales = [loc for loc in sorted(index.products_by_locale) if len(index.products_by_locale[loc]) >= minimum]
    return locales, [len(index.products_by_locale[loc]) for loc in locales]


def random_product(index: M2Index, rng: random.Random, locales: list[str], weights: list[int]) -> tuple[str, str]:
    """A (locale, id) drawn uniformly over all products of ``locales``."""
    locale = rng.choices(locales, weights=weights)[0]
    pool = index.products_by_locale[locale]
    return locale, pool[rng.randrange(len(pool))]


def record(lookup: Mapping, locale: str, pid: str) -> M2Product | None:
    p = lookup.get((locale, pid))
    return p if isinstance(p, M2Product) else None


def multi_locale_ids(index: M2Index) -> list[str]:
    """Ids listed in two or more locales, in the index's (file) order."""
    return [pid for pid, locs in index.locales_of.items() if len(set(locs)) >= 2]


def language(locale: str) -> str:
    return LANGUAGE.get(locale.upper(), locale)


ALTERNATIVES = 3  # products a seed carries: the first that makes a good question is used


def grouped(items: list, n: int, k: int) -> list[tuple]:
    """``items`` dealt into at most ``n`` tuples of at most ``k`` (the alternatives of one seed)."""
    count = min(n, len(items))
    return [tuple(items[i::count][:k]) for i in range(count)]


def first_question(alternatives: Sequence, ask) -> Question:
    """``ask(alternative)`` for the first alternative that makes a question; else Skip with the first
    alternative's reason (so the build's reasons stay those of a one-product seed)."""
    reasons = []
    for alternative in alternatives:
        try:
            return ask(alternative)
        except Skip as why:
            reasons.append(str(why))
    raise Skip(reasons[0] if reasons else "no product to ask about")


# ---- row 1: attributes -> products (dev task2) ------------------------------------------------

# Asked attributes, rarer ones more often. Not "color" (nearly every product has one, so a record
# without it makes no true distractor) nor "brand" (likewise).
ATTRIBUTE_WEIGHTS = {"author": 4, "material": 3, "model": 2, "size": 2}
DOCUMENTED = ("brand", "color", "size", "model", "material", "author")


@register("m2_attribute_category", source="amazon_m2", task_type="multiple-choice", size=2_350)
class M2AttributeCategory(Builder):
    """Select the product that may have an attribute (dev task2's shape, with products for categories).

    Source: Amazon-M2 products_train.csv (AIcrowd KDD Cup 2023 rules). Example:
    "Which of the following products may have the attribute author?\\n0. Ravensburger Puzzle 1000
    Teile ...\\n1. Der Herr der Ringe: Die Gefährten ...\\n2. ...\\n3. ...\\nAnswer: " -> "1".
    With an enrichment file (``build --enrichment``: the LLM's product type per product, synthetic/enrich.py
    method 2) the options are product categories, as in dev task2: "Which of the following product
    categories may have the attribute author?\n0. jigsaw puzzle\n1. novel\n2. ...\nAnswer: " -> "1";
    the answer is the product's type, each distractor the type of a distractor product (chosen as
    below), distinct, and never the type of any looked-up product that fills the attribute.
    Without one: M2 has no category field, so the options are product titles of one locale. The
    answer is a product whose record fills the attribute (author, material, model or size; rarer
    attributes are chosen more often; never color or brand, which nearly every product has); each
    distractor is a product of the same locale whose record leaves it empty but fills at least two
    of the other attributes (brand, color, size, model, material, author), so that the empty field
    is more likely a true absence than a gap in the data, and whose title does not contain a value
    of that attribute seen in the answer's or the other candidates' records (a yoga mat titled
    "... TPE ..." without a material entry is no distractor for "material"). Limits: a missing
    value is still sometimes only missing (a shirt without a material entry), which makes a few
    distractors plausible answers; "size" and "material" apply to many product types, so those
    questions are weaker than "author" or "model".
    """

    instructions = (
        "Which of the following products may have the attribute {attribute}?\n{options}\nAnswer: ",
        "Select the product that can have the attribute {attribute}.\n{options}\nAnswer: ",
        "On an online shopping website, only one of the following products lists a value for the attribute "
        "'{attribute}'. Which product is it?\n{options}\nAnswer: ",
        "{options}\nWhich of the products above is most likely to have the attribute {attribute}?\nAnswer: ",
    )
    category_instructions = (
        "Which of the following product categories may have the attribute {attribute}?\n{options}\nAnswer: ",
        "Select the product category that can have the attribute {attribute}.\n{options}\nAnswer: ",
        "On an online shopping website, products of only one of the following categories list a value for the "
        "attribute '{attribute}'. Which category is it?\n{options}\nAnswer: ",
        "{options}\nWhich of the product categories above is most likely to have the attribute {attribute}?\nAnswer: ",
    )
    n_candidates = 15  # same-locale products looked up per seed, to find 3 that lack the attribute

    def seeds(self, index: M2Index, rng: random.Random, n: int) -> list:
        """(locale, answer alternatives, distractor candidates): the first alternative whose record
        fills an asked attribute (and finds 3 distractors) is the answer."""
        locales, weights = locales_by_size(index, minimum=4)
        if not locales:
            return []
        out = []
        for _ in range(min(n, sum(weights))):
            locale = rng.choices(locales, weights=weights)[0]
            pool = index.products_by_locale[locale]
            pids = sample_ids(pool, ALTERNATIVES, rng)
            candidates = sample_ids(pool, self.n_candidates, rng, exclude=pids)
            out.append((locale, tuple(pids), tuple(candidates)))
        return out

    def needs(self, seed) -> list:
        locale, pids, candidates = seed
        return [(locale, pid) for pid in (*pids, *candidates)]

    def question(self, seed, lookup: Mapping, rng: random.Random) -> Question:
        locale, pids, candidates = seed
        return first_question(pids, lambda pid: self.ask(locale, pid, candidates, lookup, rng))

    def ask(self, locale: str, pid: str, candidates: Sequence[str], lookup: Mapping, rng: random.Random) -> Question:
        p = record(lookup, locale, pid)
        if p is None or not filled(p.title):
            raise Skip("the product has no record or no title")
        present = [a for a in ATTRIBUTE_WEIGHTS if filled(getattr(p, a))]
        if not present:
            raise Skip("the product fills none of author, material, model, size")
        attribute = rng.choices(present, weights=[ATTRIBUTE_WEIGHTS[a] for a in present])[0]
        titles = {norm(clip(p.title, 60))}  # options are clipped: compare what is shown
        records = [q for q in (record(lookup, locale, c) for c in candidates) if q is not None and filled(q.title)]
        values = {norm(getattr(q, attribute)) for q in (p, *records) if filled(getattr(q, attribute))}
        patterns = [re.compile(r"(?<!\w)" + re.escape(v) + r"(?!\w)") for v in sorted(values)]
        distractors = []
        for q in records:
            if filled(getattr(q, attribute)) or norm(clip(q.title, 60)) in titles:
                continue
            if any(pat.search(norm(q.title)) for pat in patterns):
                continue  # the title names a value of the attribute: the record only misses it
            if sum(filled(getattr(q, a)) for a in DOCUMENTED if a != attribute) < 2:
                continue  # a sparse record: the empty attribute may only be missing
            titles.add(norm(clip(q.title, 60)))
            distractors.append(clip(q.title, 60))
            if len(distractors) == 3:
                break
        if self.product_types:
            return self.ask_categories(locale, pid, candidates, attribute, lookup, rng)
        if len(distractors) < 3:
            raise Skip("fewer than 3 same-locale products that lack the attribute")
        options, answer = shuffled_options(clip(p.title, 60), distractors, rng)
        prompt = choose(rng, self.instructions, attribute=attribute, options=numbered(options, start=0))
        return Question(prompt, str(answer))

    def ask_categories(self, locale: str, pid: str, candidates: Sequence[str], attribute: str, lookup: Mapping,
                       rng: random.Random) -> Question:
        """The same question over product types (from the enrichment): dev task2's own shape."""
        answer_type = norm(self.product_types.get((locale, pid), ""))
        if not answer_type:
            raise Skip("the product has no type in the enrichment")
        records = [(c, q) for c, q in ((c, record(lookup, locale, c)) for c in candidates) if q is not None]
        # a type any looked-up product with the attribute has can be no distractor
        with_attribute = {answer_type} | {norm(self.product_types.get((locale, c), "")) for c, q in records
                                          if filled(getattr(q, attribute))}
        distractors: list[str] = []
        for c, q in records:
            kind = norm(self.product_types.get((locale, c), ""))
            if not kind or kind in with_attribute or kind in distractors or filled(getattr(q, attribute)):
                continue
            if sum(filled(getattr(q, a)) for a in DOCUMENTED if a != attribute) < 2:
                continue  # a sparse record: the empty attribute may only be missing
            distractors.append(kind)
            if len(distractors) == 3:
                break
        if len(distractors) < 3:
            raise Skip("fewer than 3 product types of same-locale products that lack the attribute")
        options, answer = shuffled_options(answer_type, distractors, rng)
        prompt = choose(rng, self.category_instructions, attribute=attribute, options=numbered(options, start=0))
        return Question(prompt, str(answer))


# ---- row 9: a title for another locale (dev task17) ---------------------------------------------

@register("m2_title_for_locale", source="amazon_m2", task_type="generation", size=10_000)
class M2TitleForLocale(Builder):
    """Write (or translate) a product title for another locale's website (dev task17).

    Source: Amazon-M2 products_train.csv (AIcrowd KDD Cup 2023 rules): ids listed in two or more
    locales. Example: "A product entitled 'Electric Toothbrush, Sonic ... Black' exists on an online
    shopping website. Generate an adequate title for the product when it appears on a(n) Spanish
    online shopping website.\\nOutput: " -> "Cepillo de dientes eléctrico, ... negro" (the same id's
    real title in the other locale).
    Quirks: the target is the seller's own title in that locale, not a literal translation (as in
    task17's references); pairs whose two titles are identical are skipped (nothing to learn but
    copying); the source title is clipped to ~150 tokens, the target is kept whole.
    """

    instructions = (
        "A product entitled '{title}' exists on an online shopping website. Generate an adequate title for the "
        "product when it appears on a(n) {language} online shopping website.\nOutput: ",
        "A user found a product with title '{title}' on an online shopping website. Please translate the product "
        "title into {language}.\nOutput: ",
        "Translate the product title '{title}' into {language}. \nOutput: ",
        "The product '{title}' is sold on a(n) {source_language} online shopping website. Write the title that the "
        "same product would have on a(n) {language} online shopping website.\nOutput: ",
    )

    def seeds(self, index: M2Index, rng: random.Random, n: int) -> list:
        """Up to ``ALTERNATIVES`` (id, source locale, target locale) per seed; the first whose two
        titles differ is asked."""
        ids = multi_locale_ids(index)
        picked = [(pid, *rng.sample(sorted(set(index.locales_of[pid])), 2))
                  for pid in rng.sample(ids, min(n * ALTERNATIVES, len(ids)))]
        return grouped(picked, n, ALTERNATIVES)

    def needs(self, seed) -> list:
        return [key for pid, src, tgt in seed for key in ((src, pid), (tgt, pid))]

    def question(self, seed, lookup: Mapping, rng: random.Random) -> Question:
        return first_question(seed, lambda alternative: self.ask(*alternative, lookup, rng))

    def ask(self, pid: str, src: str, tgt: str, lookup: Mapping, rng: random.Random) -> Question:
        a, b = record(lookup, src, pid), record(lookup, tgt, pid)
        if a is None or b is None or not filled(a.title) or not filled(b.title):
            raise Skip("a locale's record or title is missing")
        if norm(a.title) == norm(b.title):
            raise Skip("the same title in both locales")
        prompt = choose(rng, self.instructions, title=clip(a.title, 150), language=language(tgt),
                        source_language=language(src))
        return Question(prompt, one_line(b.title))


# ---- row 10: the same product in another language (dev task18) ---------------------------------

@register("m2_same_product_other_language", source="amazon_m2", task_type="multiple-choice", size=10_000)
class M2SameProductOtherLanguage(Builder):
    """Pick the description of the same product in another language (dev task18).

    Source: Amazon-M2 products_train.csv (AIcrowd KDD Cup 2023 rules). Example: "A product with
    description 'Charging time: 3 hours full charge' exists on an online shopping website. Which of
    the following descriptions may describe the same product in a different language?\\n0. <JP desc of
    the same id>\\n1. <EN desc of another product>\\n2. <DE desc ...>\\n3. ...\\nAnswer: " -> "0".
    Quirks: the answer is the same id's description in another locale; the 3 distractors are real
    descriptions of other products from locales other than the question's, at least one of them
    from the answer's locale when the data allows, so that the answer's language alone does not
    give it away. Texts are clipped (~150 tokens for the question, ~110 per option). Pairs with
    identical descriptions in both locales, and empty or very short (< 15 characters)
    descriptions, are skipped.
    """

    instructions = (
        "A product with description '{desc}' exists on an online shopping website. Which of the following "
        "descriptions may describe the same product in a different language?\n{options}\nAnswer: ",
        "A user found a product with description '{desc}' on an online shopping website. If the product appears "
        "on another shopping website in a different language, which of the following may be its descriptions?"
        "\n{options}\nAnswer: ",
        "The following is the description of a product on a(n) {source_language} online shopping website: '{desc}'. "
        "Which of the following is the description of the same product on a(n) {language} online shopping website?"
        "\n{options}\nAnswer: ",
        "{options}\nOne of the descriptions above describes, in another language, the same product as the "
        "description '{desc}'. Which one?\nAnswer: ",
    )
    min_chars = 15

    def seeds(self, index: M2Index, rng: random.Random, n: int) -> list:
        """Up to ``ALTERNATIVES`` (id, source locale, target locale, distractor candidates) per seed;
        the first with usable descriptions is asked."""
        ids = multi_locale_ids(index)
        out = []
        for pid in rng.sample(ids, min(n * ALTERNATIVES, len(ids))):
            src, tgt = rng.sample(sorted(set(index.locales_of[pid])), 2)
            others = [loc for loc in sorted(index.products_by_locale) if loc != src and index.products_by_locale[loc]]
            others = others or [tgt]
            candidates = []
            # the answer's locale first (so that a distractor shares its language), then any other locale
            for loc in [tgt, tgt, *(rng.choice(others) for _ in range(6))]:
                for c in sample_ids(index.products_by_locale.get(loc, []), 1, rng, exclude=(pid,)):
                    candidates.append((loc, c))
            order = candidates[:1] + rng.sample(candidates[1:], len(candidates) - 1)
            out.append((pid, src, tgt, tuple(order)))
        return grouped(out, n, ALTERNATIVES)

    def needs(self, seed) -> list:
        return [key for pid, src, tgt, candidates in seed for key in ((src, pid), (tgt, pid), *candidates)]

    def usable(self, p: M2Product | None) -> bool:
        return p is not None and filled(p.desc) and len(one_line(p.desc)) >= self.min_chars

    def question(self, seed, lookup: Mapping, rng: random.Random) -> Question:
        return first_question(seed, lambda alternative: self.ask(*alternative, lookup, rng))

    def ask(self, pid: str, src: str, tgt: str, candidates: Sequence, lookup: Mapping, rng: random.Random) -> Question:
        a, b = record(lookup, src, pid), record(lookup, tgt, pid)
        if not self.usable(a) or not self.usable(b):
            raise Skip("a locale's record has no usable description")
        if norm(a.desc) == norm(b.desc):
            raise Skip("the same description in both locales")
        answer_text = clip(b.desc, 110)
        seen = {norm(a.desc), norm(b.desc), norm(answer_text)}
        distractors = []
        for loc, c in candidates:
            q = record(lookup, loc, c)
            if not self.usable(q) or q.id == pid:
                continue
            text = clip(q.desc, 110)
            if norm(q.desc) in seen or norm(text) in seen:
                continue
            seen.update((norm(q.desc), norm(text)))
            distractors.append(text)
            if len(distractors) == 3:
                break
        if len(distractors) < 3:
            raise Skip("fewer than 3 distractor descriptions from other locales")
        options, answer = shuffled_options(answer_text, distractors, rng)
        prompt = choose(rng, self.instructions, desc=clip(a.desc, 150), options=numbered(options, start=0),
                        source_language=language(src), language=language(tgt))
        return Question(prompt, str(answer))


# ---- row 22: explain the product (own idea) -------------------------------------------------------

_TAGS = re.compile(r"<[^>]+>")
_LEAD = re.compile(r"^[^\w【\[(]+")  # leading stars, ticks, bullets and dashes
_HEADER = re.compile(r"^[【\[]([^】\]]{1,60})[】\]]\s*[:：\-–]?\s*")  # "【Auto sleep】 text" -> "Auto sleep: text"
_SENTENCE = re.compile(r"(?<=[.!?])\s+|(?<=[。！？])")
_HEAD_CUT = re.compile(r"\s[-–—|]\s|[,(\[|/:;，、（【]")


def word_size(text: str) -> float:
    """Words, with ~2.5 CJK characters counted as one word."""
    cjk = sum(1 for ch in text if _is_cjk(ch))
    return len(text.split()) if cjk * 2 < len(text) else cjk / 2.5


def opening(desc: str, least: float = 6, most: float = 45) -> tuple[str, str] | None:
    """The description's first sentence(s) (at least ``least`` words, at most ``most``) and the rest."""
    text = one_line(_TAGS.sub(" ", desc))
    text = _LEAD.sub("", text)
    text = _HEADER.sub(lambda m: m.group(1).strip() + ": ", text)
    parts = [s for s in _SENTENCE.split(text) if s.strip()]
    head: list[str] = []
    while parts and word_size(" ".join(head)) < least:
        head.append(parts.pop(0).strip())
    first = " ".join(head).strip()
    if not (least <= word_size(first) <= most):
        return None
    return first, " ".join(p.strip() for p in parts)


def product_type(title: str, brand: str) -> str | None:
    """A short product-type phrase from the title's head, or None when the head does not look like one.

    The head is the title up to its first separator (comma, bracket, dash, bar, slash, colon), the
    brand dropped from its front; it counts as a type when it has 1-5 words (2-15 characters for
    CJK), no digit and some letters: "Electric Toothbrush, Sonic ..." -> "Electric Toothbrush";
    "JETech Case for iPad (9.7-Inch ...)" -> "Case for iPad"; "Corsair HS60 PRO Gaming Headset" -> None.
    """
    head = _HEAD_CUT.split(one_line(title), maxsplit=1)[0].strip()
    if filled(brand) and head.lower().startswith(brand.strip().lower()):
        head = head[len(brand.strip()):].strip(" -–:")
    if not head or any(ch.isdigit() for ch in head) or not any(ch.isalpha() for ch in head):
        return None
    cjk = sum(1 for ch in head if _is_cjk(ch))
    if cjk * 2 >= len(head):
        return head if 2 <= len(head) <= 15 and " " not in head else None
    words = head.split()
    if not 1 <= len(words) <= 5 or norm(head) == norm(title):
        return None
    return head


@register("m2_explain_product_type", source="amazon_m2", task_type="generation", size=10_000)
class M2ExplainProductType(Builder):
    """Explain what a product is from its title (and type, and the rest of its description).

    Source: Amazon-M2 products_train.csv (AIcrowd KDD Cup 2023 rules). Example: "Instructions:
    Explain what the following product is.\\nInput: Electric Toothbrush, Sonic Toothbrushes with 8
    Brush Heads ...\\nOutput:" -> "Sonic electric toothbrush with 40000 VPM and 5 cleaning modes
    for a gentle and thorough clean." (the opening of the product's own description).
    Approach (no LLM): the target is extractive and real, the seller's description opening - its
    first sentence(s), 6 to 45 words, leading bullets and "【...】" headers tidied; the prompt gives the
    title, sometimes the brand, a product-type phrase taken from the title's head (``product_type``;
    only when that head looks like a type) and, in one wording, the rest of the description as
    details. Limits: a description opening is often a marketing line ("HIGH QUALITY: made of ...")
    rather than a definition of the product type, and the type phrase is a title heuristic, not a
    taxonomy; the synthetic-data module may replace these targets with LLM explanations. Skipped:
    no description, an opening shorter than 6 or longer than 45 words, an opening that only
    repeats the title, an opening mostly in capital letters.
    """

    instructions = (
        "Instructions: Explain what the following product is.\nInput: {title}\nOutput:",
        "A product entitled '{title}' is sold on an online shopping website. In one or two sentences, explain to a "
        "customer what this product is.\nOutput: ",
        "Product title: {title}\nProduct type: {ptype}\nExplain this product to a customer in one or two sentences."
        "\nOutput: ",
        "Instructions: Explain the product type of the product below and what the product offers, in one sentence."
        "\nInput: {title} (product type: {ptype})\nOutput:",
        "Product title: {title}\nDetails: {rest}\nUsing the title and the details, explain in one sentence what this "
        "product is.\nOutput: ",
    )
    needs_type = (2, 3)
    needs_rest = (4,)

    def seeds(self, index: M2Index, rng: random.Random, n: int) -> list:
        """``ALTERNATIVES`` (locale, id) keys per seed; the first with a usable description is asked."""
        locales, weights = locales_by_size(index)
        if not locales:
            return []
        return [tuple(random_product(index, rng, locales, weights) for _ in range(ALTERNATIVES))
                for _ in range(min(n, sum(weights)))]

    def needs(self, seed) -> list:
        return list(seed)

    def question(self, seed, lookup: Mapping, rng: random.Random) -> Question:
        return first_question(seed, lambda key: self.ask(key, lookup, rng))

    def ask(self, key: tuple[str, str], lookup: Mapping, rng: random.Random) -> Question:
        p = record(lookup, *key)
        if p is None or not filled(p.title):
            raise Skip("the product has no record or no title")
        if not filled(p.desc):
            raise Skip("no description")
        found = opening(p.desc)
        if found is None:
            raise Skip("the description does not open with a sentence of 6-45 words")
        target, rest = found
        t, title = norm(target).strip(" .!"), norm(p.title)
        if t in title or (t.startswith(title) and word_size(t) - word_size(title) < 4):
            raise Skip("the description's opening repeats the title")
        letters = [ch for ch in target if ch.isalpha() and not _is_cjk(ch)]
        if letters and sum(ch.isupper() for ch in letters) > 0.6 * len(letters):
            raise Skip("the description's opening is mostly capital letters")
        ptype = product_type(p.title, p.brand)
        usable = [i for i in range(len(self.instructions))
                  if (i not in self.needs_type or ptype) and (i not in self.needs_rest or word_size(rest) >= 8)]
        wording = self.instructions[rng.choice(usable)]
        prompt = wording.format(title=clip(p.title, 120), ptype=ptype or "", rest=clip(rest, 250))
        return Question(prompt, target)


# ---- row 33: previous clicks of a purchase (own idea, like task14) ------------------------------

@register("m2_previous_clicks_retrieval", source="amazon_m2", task_type="retrieval", size=10_000)
class M2PreviousClicksRetrieval(Builder):
    """Given a session's purchase, select 3 products the user clicked before it (like dev task14).

    Source: KDD Cup 2023 (Amazon-M2) sessions_train.csv + products_train.csv (AIcrowd rules).
    Example: "A user on an online shopping website has just purchased a product '<next_item
    title>'. The following numbered list contains 15 products. Please select 3 products from the
    list that the user clicked on before making the purchase.\\nProduct List: \\n1. ...\\n15. ...\\nYou
    should output 3 numbers ...\\nOutput: " -> "12, 3, 7".
    Quirks: the answer is the session's 3 most recent distinct previous clicks (other than the
    purchased id), most recent first; the other 7 or 12 candidates are random products of the
    session's locale that are not in the session. Sessions with fewer than 3 distinct previous
    clicks, or without a next item (test sessions), are not sampled. Items whose titles repeat
    another candidate's (variants of one product) make the seed skip, as the list would hold two
    indistinguishable lines. Titles are clipped to ~45 tokens.
    """

    output_rule = ("You should output 3 numbers that correspond to the selected products. There should be a comma "
                   "separating every two numbers. Only respond with the results. Do not say any word or explanations.")
    instructions = (
        "A user on an online shopping website has just purchased a product '{purchase}'. The following numbered "
        "list contains {n} products. Please select 3 products from the list that the user clicked on before making "
        "the purchase.\nProduct List: \n{candidates}\n{rule}\nOutput: ",
        "You are a helpful shop assistant. A user bought the product '{purchase}' at the end of a browsing session. "
        "Please select the products that the user viewed earlier in the same session from the following numbered "
        "list.\nProduct List: \n{candidates}\n{rule}\nOutput: ",
        "Product List: \n{candidates}\nA shopper browsed some of the products above and then purchased "
        "'{purchase}'. Which 3 products did the shopper click on before the purchase? Output only the 3 numbers, "
        "separated by commas.\nOutput: ",
    )
    answer_size = 3
    spare = 6  # extra distractor ids looked up, in case some have no record or repeat a title

    @staticmethod
    def recent_clicks(session: M2Session, k: int) -> list[str]:
        """The ``k`` most recent distinct previous clicks other than the purchase, most recent first."""
        out: list[str] = []
        for pid in reversed(session.prev_items):
            if pid != session.next_item and pid not in out:
                out.append(pid)
                if len(out) == k:
                    break
        return out

    def seeds(self, index: M2Index, rng: random.Random, n: int) -> list:
        eligible = [s for s in index.sessions
                    if s.next_item and len(self.recent_clicks(s, self.answer_size)) == self.answer_size
                    and index.products_by_locale.get(s.locale)]
        out = []
        for s in rng.sample(eligible, min(n, len(eligible))):
            size = rng.choice((10, 15))
            session_ids = {*s.prev_items, s.next_item}
            candidates = sample_ids(index.products_by_locale[s.locale], size - self.answer_size + self.spare, rng,
                                    exclude=sorted(session_ids))
            out.append((s, tuple(self.recent_clicks(s, self.answer_size)), tuple(candidates), size))
        return out

    def needs(self, seed) -> list:
        session, clicks, candidates, _ = seed
        return [(session.locale, pid) for pid in (session.next_item, *clicks, *candidates)]

    def question(self, seed, lookup: Mapping, rng: random.Random) -> Question:
        session, clicks, candidates, size = seed
        purchase = record(lookup, session.locale, session.next_item)
        if purchase is None or not filled(purchase.title):
            raise Skip("the purchased product has no record or no title")
        answers = []
        for pid in clicks:
            p = record(lookup, session.locale, pid)
            if p is None or not filled(p.title):
                raise Skip("a previous click has no record or no title")
            answers.append(clip(p.title, 45))
        seen = {norm(a) for a in answers}
        if len(seen) < len(answers):
            raise Skip("previous clicks share a title")
        distractors = []
        for pid in candidates:
            q = record(lookup, session.locale, pid)
            if q is None or not filled(q.title) or norm(clip(q.title, 45)) in seen:
                continue
            seen.add(norm(clip(q.title, 45)))
            distractors.append(clip(q.title, 45))
            if len(distractors) == size - self.answer_size:
                break
        if len(distractors) < size - self.answer_size:
            raise Skip(f"fewer than {size - self.answer_size} distractor products with a title")
        items = answers + distractors
        order = list(range(len(items)))
        rng.shuffle(order)
        listed = [items[i] for i in order]
        numbers = [order.index(i) + 1 for i in range(len(answers))]  # most recent click first
        prompt = choose(rng, self.instructions, purchase=clip(purchase.title, 60), n=len(listed),
                        candidates=numbered(listed), rule=self.output_rule)
        return Question(prompt, numbers_answer(numbers))
