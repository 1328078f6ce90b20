"""ranking: a permutation of all listed candidates (metric: NDCG).

Routing signal: a numbered list of at least two candidates and an instruction that asks to order
all of them ("rank", "sort ... by relevance", "permutation", "from most to least relevant"; the same
in es/fr/de/it/ja/zh), unless it asks for fewer items than are listed ("rank them and pick the top
3" is retrieval). The official parser drops the whole answer if any number repeats, so tidy never
repeats an item and completes a ranking the model stopped early in the listed order.
"""
from __future__ import annotations

import re

from utilities.decoding import DecodeSpec, TokenTable, none_penalty
from utilities.tasks.base import EXPLICIT, NO, STRONG, PromptInfo, Task, any_match, indices_in_order

NAME = "ranking"
LABEL = "ranking"
DEFAULT_CANDIDATES = tuple(range(1, 6))  # the dev ranking tasks list 5 products

PERMUTATION = [re.compile(p) for p in (
    r"\bpermutation\b",
    r"\b(?:all|each|every) (?:of the |the )?(?:\w+ )?(?:products|items|candidates|results)\b[^.]{0,40}\b(?:order|rank)",
    r"\b(?:best|strongest|most|highest|greatest|top)\b[^.]{0,60}\bto (?:the )?(?:\w+ )?(?:worst|weakest|least|lowest|bottom)\b",
    r"\bfrom (?:the )?most [\w-]+ to (?:the )?most [\w-]+\b",  # "from most positive to most negative"
    r"\bfirst,? second,? (?:and )?third\b",  # "shown first, second, third, fourth and fifth"
    r"\b(?:descending|ascending|decreasing|increasing) order\b",
    r"\b(?:complete|full|entire|whole) (?:order|ordering|sequence|ranking)\b",
    r"\b(?:every|each|all)\b[^.]{0,40}\b(?:exactly )?once\b",
    r"\bdo not (?:drop|omit|skip|leave out) any\b",
    r"\ball \d+ (?:ids|numbers|items|products|results|candidates)\b",
    # "all four review numbers", "todos os números", "alle vijf nummers", "wszystkie numery"
    r"\b(?:all|todos|todas|alle|alla|wszystkie|tous|toutes|tutti|tüm)\b(?: (?:the|os|as|los|las|les|i|de|die))?"
    r"(?: [\w-]+){0,2} (?:numbers|ids|números|nummers|numery|numéros|numeri|nummern|nummer|numara\w*)\b",
)]
ORDER = [re.compile(p) for p in (
    r"\b(?:re-?)?rank(?:s|ed|ing)?\b",
    r"\b(?:re-?order|rearrange|re-?sort)\w*\b",  # reordering a list is ranking it
    # "most relevant first": an order, but of the top few when fewer are asked for ("list the 3 ...")
    r"\b(?:most|highest|best) [\w-]+ (?:first|at the top)\b",
    r"\b(?:highest|most|best|greatest)\b[^.,;]{0,60}\bfirst\b[^.]{0,40}$|\bsorted (?:list|order)\b",
    r"\b(?:sort|order|arrange|put)\b[^.]{0,80}\bfrom (?:the )?(?:most|least|best|worst|highest|lowest|top)\b",
    r"\b(?:sort|order|arrange|rearrange)\b[^.]{0,80}\bfrom (?:the )?[\w-]+(?: [\w-]+)? to (?:the )?[\w-]+",  # "from cheapest to ..."
    r"\b(?:sort|(?<!in )order|re-?order|arrange|rearrange|prioriti[sz]e)\b[^.]{0,80}\b(?:by|according to|based on|in terms of|in order of|with respect to)\b",
    r"\border of (?:relevance|preference|likelihood|importance|similarity)\b",
    r"\b(?:in )?(?:which|what) order\b",
    r"\b(?:best|strongest|closest) (?:match|result|one)\b[^.]{0,40}\bfirst\b",
    r"\b(?:relevance|preference|display) order\b",
    r"\b(?:put|place|list|arrange|return)\b[^.]{0,60}\bin (?:the |an? )?(?:best |correct |right |proper )?(?:[\w-]+ )?order\b",
    # es / fr / de / it / pt
    r"\b(?:ordena|ordene|ordenar|clasifica|clasifique|jerarquiza)\w*\b",
    r"\b(?:classe[rz]?|classez|trie[rz]?|ordonne[rz]?)\b",
    r"\b(?:sortiere|sortieren|ordne|ordnen|rangiere|rangieren|rangfolge|reihenfolge)\w*\b",
    r"\b(?:ordina|ordinare|classifica|classificare)\w*\b|\bmett\w* in ordine\b",
    r"\b(?:ranque\w*|ranquei\w*|classifique\w*)\b",  # pt
    # ja / zh
    # nl / pl / sv / tr
    r"\b(?:volgorde|rangschik\w*|sorteer\w*|uporządkuj\w*|posortuj\w*|uszereguj\w*|kolejno\w*)\b",
    r"\b(?:rangordna\w*|sortera\w*|ordna\w*|sırala\w*)\b",
    r"\bod najbardziej\b",
    # ja / zh
    r"ランク|順位|順番|並べ|並び替え|ランキング|排序|排名|顺序|名次",
    r"정렬|순서대로|순위|랭킹",  # ko
    r"رتب|رتّب|ترتيب",  # ar
)]


def _all_numbers(info: PromptInfo) -> bool:
    """The answer is to hold every listed number: "from 1 to 5", "de 1 a 5", "od 1 do 5"."""
    n = info.options[-1]
    return re.search(rf"\b1\s*(?:to|a|à|do|tot|bis|al|-|–|~)\s*{n}\b(?!\s*stars?)", info.instruction) is not None


def asks_for(info: PromptInfo) -> int:
    if info.n_candidates < 2:
        return NO
    if any_match(PERMUTATION, info.instruction):
        return EXPLICIT
    wants_fewer = info.requested_count is not None and info.requested_count < info.n_candidates
    if not wants_fewer and (any_match(ORDER, info.instruction) or _all_numbers(info)):
        return STRONG
    return NO


def candidates(info: PromptInfo) -> tuple[int, ...]:
    return info.options if info.n_candidates >= 2 else DEFAULT_CANDIDATES


def decode_spec(info: PromptInfo, table: TokenTable) -> DecodeSpec:
    full = ", ".join(str(c) for c in candidates(info))  # "1, 2, 3, 4, 5": the longest tidy answer
    return DecodeSpec(
        max_new_tokens=len(table.encode(full)) + 1,  # + end of text
        allowed_token_ids=(*table.numeric_ids, *table.eos_ids),
        logit_bias=none_penalty(table),
    )


def tidy(text: str, info: PromptInfo) -> str:
    """The model's order without repeats or strangers, completed in the listed order."""
    pool = candidates(info)
    ranked = indices_in_order(text, pool)
    ranked += [c for c in pool if c not in ranked]
    return ", ".join(map(str, ranked))


TASK = Task(name=NAME, label=LABEL, asks_for=asks_for, decode_spec=decode_spec, tidy=tidy)
