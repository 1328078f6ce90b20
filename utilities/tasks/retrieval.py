"""retrieval: three distinct numbers of listed candidates (metric: hit rate@3).

Routing signal: a numbered list of at least two candidates and an instruction that asks to pick
some of them: a count smaller than the list ("select three", "top 3", "which 3", "3 つ選んで"), a
selection verb aimed at the list ("choose ... from the list"), or an answer made of numbers
("output the indices", "comma-separated numbers"). The official parser reads the first three
integers; tidy makes them three distinct listed numbers, filled in the listed order when the
model gives fewer.
"""
from __future__ import annotations

import re

from utilities.decoding import DecodeSpec, TokenTable, none_penalty
from utilities.tasks.base import NO, STRONG, WEAK, PromptInfo, Task, any_match, indices_in_order

NAME = "retrieval"
LABEL = "retrieval"
ANSWER_SIZE = 3  # hit rate@3 reads the first three numbers
DEFAULT_CANDIDATES = tuple(range(1, 11))  # the dev retrieval tasks list 10 or 15 candidates

SELECT = [re.compile(p) for p in (
    r"\b(?:select|choose|pick|recommend|retrieve)\b[^.?!]{0,100}"
    r"\b(?:from|in|among|of|out of|on)\b (?:the|this|these|those|a|your) ?(?:following|given|above|below|numbered|candidate)?\b",
    r"\b(?:select|choose|pick)\b[^.?!]{0,60}\b(?:products|items|candidates|options|queries|aspects|snippets|reviews|ones|answers)\b",
    r"\bwhich (?:of (?:the|these) )?(?:products|items|candidates|queries|aspects|snippets|ones)\b[^.?!]{0,80}\b(?:most|likely|best|relevant)\b",
    r"\b(?:selecciona|seleccione|elige|elija|escoge|s[ée]lectionne|choisi|w[äa]hle|ausw[äa]hl|seleziona|scegli|selecione|escolha)\w*\b",
    r"選んで|選択|選び|选择|选出|挑选|골라|고르|선택",
    r"\b(?:v[äa]lj\w*|se[çc]in\w*|se[çc]iniz)\b|اختر|اختاري",  # sv / tr / ar
)]
NUMBER_ANSWER = [re.compile(p) for p in (
    r"\b(?:output|answer|respond|reply|return|give|generate|write|provide|list)\b[^.?!]{0,60}(?<!without )(?<!no )\b(?:numbers|indices|indexes|index numbers|ids|serial numbers)\b",
    r"\b(?:numbers|indices|indexes|ids)\b[^.?!]{0,40}\b(?:separated|comma)",
    r"\bcomma[- ]separated (?:list of )?(?:numbers|indices|indexes|ids)\b",
    r"\bgenerate only ind(?:ices|exes)\b",
    r"\b(?:reply|answer|respond|output|return|give)\b[^.?!]{0,30}\b(?:its|the|their) (?:number|index|id)s?\b",
)]


def asks_for(info: PromptInfo) -> int:
    """Strong: a count below the list size or a pick from the list; weak: an answer made of numbers."""
    if info.n_candidates < 2:
        return NO
    k = info.requested_count
    if (k is not None and k < info.n_candidates) or any_match(SELECT, info.instruction):
        return STRONG
    return WEAK if any_match(NUMBER_ANSWER, info.instruction) else NO


def candidates(info: PromptInfo) -> tuple[int, ...]:
    return info.options if info.n_candidates >= 2 else DEFAULT_CANDIDATES


def decode_spec(info: PromptInfo, table: TokenTable) -> DecodeSpec:
    largest = sorted(candidates(info))[-ANSWER_SIZE:]
    longest = ", ".join(map(str, largest))  # "13, 14, 15": the longest three-number answer
    return DecodeSpec(
        max_new_tokens=len(table.encode(longest)) + 1,  # + end of text
        allowed_token_ids=(*table.numeric_ids, *table.eos_ids),
        logit_bias=none_penalty(table),
    )


def tidy(text: str, info: PromptInfo) -> str:
    """Three distinct listed numbers: the model's picks first, then the list's order."""
    pool = candidates(info)
    picked = indices_in_order(text, pool)[:ANSWER_SIZE]
    picked += [c for c in pool if c not in picked][: max(0, ANSWER_SIZE - len(picked))]
    return ", ".join(map(str, picked))


TASK = Task(name=NAME, label=LABEL, asks_for=asks_for, decode_spec=decode_spec, tidy=tidy)
