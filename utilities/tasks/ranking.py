"""ranking: a permutation of all listed candidates (metric: NDCG).

Routing signal: a numbered list of at least two candidates and an instruction that asks to order
all of them ("rank", "sort ... by relevance", "permutation", "from most to least relevant"; the same
in es/fr/de/it/ja/zh), unless it asks for fewer items than are listed ("rank them and pick the top
3" is retrieval). The official parser drops the whole answer if any number repeats, so tidy never
repeats an item and completes a ranking the model stopped early in the listed order.

The answer holds what the parser scores and no more: it keeps only numbers up to 5 and the first
five of them (``parsers.RANKING_MAX_ITEM``, ``RANKING_LENGTH``), so a list of 99 candidates is
answered with the model's order of those it can score, and decoding stops after five numbers.
"""
from __future__ import annotations

import re

from utilities.decoding import DecodeSpec, TokenTable, none_penalty
from utilities.parsers import RANKING_LENGTH, RANKING_MAX_ITEM, parse
from utilities.tasks.base import EXPLICIT, NO, STRONG, Cue, PromptInfo, Task, any_match, indices_in_order

NAME = "ranking"
LABEL = "ranking"
DEFAULT_CANDIDATES = tuple(range(1, 6))  # the dev ranking tasks list 5 products

PERMUTATION = [
    Cue(r"\bpermutation\b", ("permutation",)),
    Cue(r"\b(?:all|each|every) (?:of the |the )?(?:\w+ )?(?:products|items|candidates|results)\b[^.]{0,40}\b(?:order|rank)", ("order", "rank")),
    Cue(r"\b(?:best|strongest|most|highest|greatest|top)\b[^.]{0,60}\bto (?:the )?(?:\w+ )?(?:worst|weakest|least|lowest|bottom)\b", ("worst", "weakest", "least", "lowest", "bottom")),
    Cue(r"\bfrom (?:the )?most [\w-]+ to (?:the )?most [\w-]+\b", ("most",)),  # "from most positive to most negative"
    Cue(r"\bfirst,? second,? (?:and )?third\b", ("second",)),  # "shown first, second, third, fourth and fifth"
    Cue(r"\b(?:descending|ascending|decreasing|increasing) order\b", ("order",)),
    Cue(r"\b(?:complete|full|entire|whole) (?:order|ordering|sequence|ranking)\b", ("order", "sequence", "ranking")),
    Cue(r"\b(?:every|each|all)\b[^.]{0,40}\b(?:exactly )?once\b", ("once",)),
    Cue(r"\bdo not (?:drop|omit|skip|leave out) any\b", ("do not",)),
    Cue(r"\ball \d+ (?:ids|numbers|items|products|results|candidates)\b", ("all ",)),
    # "all four review numbers", "todos os números", "alle vijf nummers", "wszystkie numery"
    # not a subset: "all such numbers", "all matching ids", "the numbers of all that apply"
    Cue(r"\b(?:all|todos|todas|alle|alla|wszystkie|tous|toutes|tutti|tüm)\b(?: (?:the|os|as|los|las|les|i|de|die))?"
        r"(?: (?!such\b|matching\b|relevant\b|qualifying\b|applicable\b|correct\b|suitable\b|selected\b|chosen\b|"
        r"appropriate\b)[\w-]+){0,2} (?:numbers|ids|números|nummers|numery|numéros|numeri|nummern|nummer|numara\w*)\b"
        r"(?! (?:that|which|of (?:the )?(?:\w+ )?(?:that|which)))", ("number", "ids", "númer", "nummer", "numer", "numér", "numara")),
]
ORDER = [
    Cue(r"\b(?:re-?)?rank(?:s|ed|ing)?\b", ("rank",)),
    Cue(r"\b(?:re-?order|rearrange|re-?sort)\w*\b", ("order", "rearrange", "sort")),  # reordering a list is ranking it
    # "most relevant first": an order, but of the top few when fewer are asked for ("list the 3 ...")
    Cue(r"\b(?:most|highest|best) [\w-]+ (?:first|at the top)\b", ("first", "top")),
    Cue(r"\b(?:highest|most|best|greatest)\b[^.,;]{0,60}\bfirst\b[^.]{0,40}$|\bsorted (?:list|order)\b", ("first", "sort")),
    Cue(r"\b(?:sort|order|arrange|put)\b[^.]{0,80}\bfrom (?:the )?(?:most|least|best|worst|highest|lowest|top)\b", ("from",)),
    Cue(r"\b(?:sort|order|arrange|rearrange)\b[^.]{0,80}\bfrom (?:the )?(?:[\w-]+ ){1,4}?to (?:the )?[\w-]+", ("from",)),  # "from cheapest to ..."
    Cue(r"\b(?:sort|(?<!in )order|re-?order|arrange|rearrange|prioriti[sz]e)\b[^.]{0,80}\b(?:by|according to|based on|in terms of|in order of|with respect to)\b", ("sort", "order", "arrange", "prioriti")),
    Cue(r"\border of (?:relevance|preference|likelihood|importance|similarity)\b", ("order",)),
    Cue(r"\b(?:in )?(?:which|what) order\b", ("order",)),
    Cue(r"\b(?:best|strongest|closest) (?:match|result|one)\b[^.]{0,40}\bfirst\b", ("first",)),
    Cue(r"\b(?:relevance|preference|display) order\b", ("order",)),
    Cue(r"\b(?:put|place|list|arrange|return)\b[^.]{0,60}\bin (?:the |an? )?(?:best |correct |right |proper )?(?:[\w-]+ )?order\b", ("order",)),
    # es / fr / de / it / pt
    Cue(r"\b(?:ordena|ordene|ordenar|clasifica|clasifique|jerarquiza)\w*\b", ("orden", "clasific", "jerarquiz")),
    Cue(r"\b(?:classe[rz]?|classez|trie[rz]?|ordonne[rz]?)\b", ("class", "trie", "ordonn")),
    Cue(r"\b(?:sortiere|sortieren|ordne|ordnen|rangiere|rangieren|rangfolge|reihenfolge)\w*\b", ("sortier", "ordne", "rangier", "rangfolge", "reihenfolge")),
    Cue(r"\b(?:ordina|ordinare|classifica|classificare)\w*\b|\bmett\w* in ordine\b", ("ordina", "classific", "ordine")),
    Cue(r"\b(?:ranque\w*|ranquei\w*|classifique\w*)\b", ("ranque", "classifiq")),  # pt
    # ja / zh
    # nl / pl / sv / tr
    Cue(r"\b(?:volgorde|rangschik\w*|sorteer\w*|uporządkuj\w*|posortuj\w*|uszereguj\w*|kolejno\w*)\b", ("volgorde", "rangschik", "sorteer", "uporz", "posortuj", "uszereg", "kolejno")),
    Cue(r"\b(?:rangordna\w*|sortera\w*|ordna\w*|sırala\w*)\b", ("rangordna", "sortera", "ordna", "sırala")),
    Cue(r"\b(?:urutkan|peringkatkan|susunlah)\b", ("urutkan", "peringkatkan", "susunlah")),  # id
    Cue(r"\bod najbardziej\b", ("najbardziej",)),
    # ja / zh
    Cue(r"ランク|順位|順番|並べ|並び替え|ランキング|排序|排名|顺序|名次", ("ランク", "順位", "順番", "並べ", "並び替え", "ランキング", "排序", "排名", "顺序", "名次")),
    Cue(r"정렬|순서대로|순위|랭킹", ("정렬", "순서대로", "순위", "랭킹")),  # ko
    Cue(r"رتب|رتّب|ترتيب", ("رتب", "رتّب", "ترتيب")),  # ar
]


def _all_numbers(info: PromptInfo) -> bool:
    """The answer is to hold every listed number: "from 1 to 5", "de 1 a 5", "od 1 do 5"."""
    n = info.options[-1]
    # not a measure: "1-5/16-Inch", "1-5.5 mm"
    return re.search(rf"\b1\s*(?:to|a|à|do|tot|bis|al|-|–|~)\s*{n}\b(?![/.,]\d)(?!\s*stars?)", info.instruction) is not None


# Words of ordering used in another sense: "what sort of", "kind of", a purchase ("his order cost",
# "order 35 textbooks", "ordered a lamp online"), "step by step", "all at once". They are blanked
# before the ordering patterns are read.
NOT_AN_ORDER = re.compile(
    r"\b(?:sort|kind|type)s? of\b|\bstep[- ]by[- ]step\b|\ball at once\b|"
    # the order of the numbers themselves: "give their indices in ascending order"
    r"\b(?:numbers|indices|indexes|ids)\b[^.?!]{0,20}\bin (?:ascending|descending|increasing|numerical|numeric) order\b|"
    r"(?<!in )\b(?:his|her|my|your|their|our|this|that|an|each|every|per|first|online|purchase|bulk|large|small)\s+orders?\b|"
    r"\border(?:ed|s|ing)?\s+(?=\d|(?:a|an|some|one|two|three|four|five|six|seven|eight|nine|ten|several|more|"
    r"online|from|it|them|this|that|these|those)\b)"
)

_NOT_AN_ORDER_HINTS = ("sort", "kind", "type", "step", "once", "order")  # every NOT_AN_ORDER match holds one


def asks_for(info: PromptInfo) -> int:
    if info.n_candidates < 2:
        return NO
    text = info.instruction
    if any(hint in text for hint in _NOT_AN_ORDER_HINTS):
        text = NOT_AN_ORDER.sub(" ", text)
    if any_match(PERMUTATION, text):
        return EXPLICIT
    if not (any_match(ORDER, text) or _all_numbers(info)):
        return NO
    wants_fewer = info.requested_count is not None and info.requested_count < info.n_candidates
    return NO if wants_fewer else STRONG


def candidates(info: PromptInfo) -> tuple[int, ...]:
    return info.options if info.n_candidates >= 2 else DEFAULT_CANDIDATES


def scored(order) -> list[int]:
    """What the parser scores of an order: the numbers up to 5, the first five of them; the first five
    of the order when none is (a list numbered from 6 up: nothing parses, the answer still reads)."""
    kept = [c for c in order if c <= RANKING_MAX_ITEM]
    return (kept or list(order))[:RANKING_LENGTH]


def decode_spec(info: PromptInfo, table: TokenTable) -> DecodeSpec:
    # "1, 2, 3, 4, 5": the longest answer of as many numbers as the parser reads (5 x 2 digits for 99 candidates)
    longest = ", ".join(str(c) for c in sorted(candidates(info))[-RANKING_LENGTH:])
    return DecodeSpec(
        max_new_tokens=len(table.encode(longest)) + 1,  # + end of text
        allowed_token_ids=(*table.numeric_ids, *table.eos_ids),
        logit_bias=none_penalty(table),
    )


def read(text: str, info: PromptInfo) -> str:
    """The model's order without repeats or strangers, completed in the listed order; '' when the
    reply names no listed candidate."""
    pool = candidates(info)
    ranked = indices_in_order(text, pool)
    if not ranked:
        return ""
    ranked += [c for c in pool if c not in ranked]
    return ", ".join(map(str, scored(ranked)))


def fallback(info: PromptInfo) -> str:
    """Every candidate the parser scores once, in the listed order, with the list's own numbers
    (0-based lists too)."""
    return ", ".join(map(str, scored(candidates(info))))


def answer_of(relevance) -> str:
    """The 1-based candidate numbers from most to least relevant (ties keep the listed order):
    [1, 0.01, 0.1, 1, 0] -> "1, 4, 3, 2, 5"."""
    order = sorted(range(len(relevance)), key=lambda i: -float(relevance[i]))
    return ", ".join(str(i + 1) for i in order)


def problem(answer: str, info: PromptInfo) -> str | None:
    """Listed candidates, none twice, holding every listed candidate the parser scores (all of them
    with five candidates: a permutation)."""
    try:
        numbers = [int(x) for x in answer.split(",")]
    except ValueError:
        return "the answer is not comma-separated candidate numbers"
    pool = candidates(info)
    if (not parse(NAME, answer) or len(set(numbers)) != len(numbers) or not set(numbers) <= set(pool)
            or not set(scored(sorted(pool))) <= set(numbers)):
        return "the answer is not a ranking of the listed candidates"
    return None


def simulated_reply(truth, info: PromptInfo, rng, metric: str = "") -> str:
    n = len(truth)
    order = sorted(range(1, n + 1), key=lambda k: -truth[k - 1])  # the ideal ranking
    r = rng.random()
    if r < 0.4:  # two swapped
        i, j = rng.sample(range(n), 2)
        order[i], order[j] = order[j], order[i]
    elif r < 0.7:  # shuffled
        rng.shuffle(order)
    if rng.random() < 0.2:  # stopped early
        order = order[: rng.randint(1, n - 1)]
    if rng.random() < 0.1:  # a repeat
        order.append(order[0])
    return ", ".join(map(str, order))


TASK = Task(name=NAME, label=LABEL, asks_for=asks_for, decode_spec=decode_spec, read=read, fallback=fallback,
            answer_of=answer_of, problem=problem,
            answer_format="a ranking of the listed numbers, separated by commas", simulated_reply=simulated_reply)
