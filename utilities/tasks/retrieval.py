"""retrieval: three distinct numbers of listed candidates (metric: hit rate@3).

Routing signal: a numbered list of at least two candidates and an instruction that asks to pick
some of them: a count smaller than the list ("select three", "top 3", "which 3", "3 つ選んで"), a
selection verb aimed at the list ("choose ... from the list"), or an answer made of numbers
("output the indices", "comma-separated numbers"). The official parser reads the first three
integers; tidy makes them three distinct listed numbers, filled in the listed order when the
model gives fewer.
"""
from __future__ import annotations

from utilities.decoding import DecodeSpec, TokenTable, none_penalty
from utilities.parsers import parse
from utilities.tasks.base import LIST_NOUNS, NO, STRONG, WEAK, Cue, PromptInfo, Task, any_match, indices_in_order

NAME = "retrieval"
LABEL = "retrieval"
ANSWER_SIZE = 3  # hit rate@3 reads the first three numbers
DEFAULT_CANDIDATES = tuple(range(1, 11))  # the dev retrieval tasks list 10 or 15 candidates

SELECT = [
    Cue(r"\b(?:select|choose|pick|recommend|retrieve)\b[^.?!]{0,100}"
        r"\b(?:from|in|among|of|out of|on)\b (?:the|this|these|those|a|your) ?(?:following|given|above|below|numbered|candidate)?\b", ("select", "choose", "pick", "recommend", "retrieve")),
    Cue(r"\b(?:select|choose|pick)\b[^.?!]{0,60}\b(?:products|items|candidates|options|queries|aspects|snippets|reviews|"
        r"ones|answers)\b", ("select", "choose", "pick")),
    # "retrieve the products that fit", "mark the relevant items" (not "find the total cost of both items")
    Cue(r"\b(?:retrieve|find|identify|mark|flag)\b(?: (?:all|every|each|any|the|those|only))* (?:[\w-]+ ){0,2}?"
        + LIST_NOUNS + r"\b(?: \((?:above|below|listed)\))?", ("retrieve", "find", "identify", "mark", "flag")),
    # "select the screws that are at least 1 inch long": the listed items that meet a condition
    Cue(r"\b(?:select|choose|pick|retrieve)\b(?: (?:all|every|each|any|the|those|only))* (?:[\w-]+ ){0,3}?(?:that|which|whose)\b", ("select", "choose", "pick", "retrieve")),
    Cue(r"\bwhich (?:of (?:the|these) )?(?:products|items|candidates|queries|aspects|snippets|ones)\b[^.?!]{0,80}\b(?:most|likely|best|relevant)\b", ("which ",)),
    # "which reviews help answer the question?", "which of the listings below are the same product?":
    # listed things asked for in the plural
    Cue(r"\bwhich\s+(?:of\s+(?:the|these|those)\s+)?(?:following\s+|listed\s+|numbered\s+|above\s+|below\s+)?"
        r"(?:[\w-]+\s+)?" + LIST_NOUNS + r"\b", ("which ",)),
    # "which of the 20 appliances above ...", "among these coffee maker reviews, which ..."
    Cue(r"\bwhich\s+of\s+(?:the|these|those)\s+(?:[\w-]+\s+){0,3}?(?:above|below|listed|following|numbered)\b",
        ("which of",)),
    Cue(r"\bamong\s+(?:these|those|the(?: following| listed)?)\s+(?:[\w-]+\s+){0,3}?" + LIST_NOUNS + r"\b", ("among",)),
    Cue(r"\b(?:selecciona|seleccione|elige|elija|escoge|s[ée]lectionne|choisi|w[äa]hle|ausw[äa]hl|seleziona|scegli|selecione|escolha|pilih)\w*\b", ("selec", "selez", "elig", "elij", "escog", "lection", "choisi", "hle", "ausw", "scegli", "escolh", "pilih")),
    Cue(r"選んで|選択|選び|选择|选出|挑选|골라|고르|선택", ("選んで", "選択", "選び", "选择", "选出", "挑选", "골라", "고르", "선택")),
    Cue(r"\b(?:v[äa]lj\w*|se[çc]in\w*|se[çc]iniz)\b|اختر|اختاري", ("välj", "valj", "seçin", "secin", "اختر", "اختاري")),  # sv / tr / ar
]
NUMBER_ANSWER = [
    Cue(r"\b(?:output|answer|respond|reply|return|give|generate|write|provide|list|mark|indicate|name|tell|state|"
        r"select|choose|pick|identify)\b[^.?!]{0,60}(?<!without )(?<!no )\b(?:numbers|indices|indexes|index numbers|ids|"
        r"serial numbers)\b", ("number", "indic", "index", "ids")),
    # "select every index that applies", "output each matching number"
    Cue(r"\b(?:every|each|all|any)\s+(?:\w+\s+)?(?:index|number|id|indices|numbers|ids)\b", ("ind", "number", "id")),
    # an answer cue that names them: "Indices:", "A (indices only):"
    Cue(r"\b(?:indices|indexes|ids|numbers)(?:\s+only)?\s*[:：)]|\b(?:indices|indexes|ids)\s+only\b", ("ind", "ids", "numbers")),
    # "numbers of all cordless items", "the indices of those that apply"
    Cue(r"\b(?:numbers|indices|indexes|ids)\s+of\s+(?:all|every|each|those|the ones)\b", ("number", "ind", "ids")),
    # "Indiquez les numéros", "gib die Nummern", "indica i numeri", "indique os números"
    Cue(r"\b(?:les|des|leurs|die|den|ihre|los|sus|i|gli|os|seus|de)\s+(?:\w+\s+)?(?:numéros|nummern|números|numeri|nummers|indices|índices)\b", ("numéro", "nummer", "número", "numeri", "indices", "índices")),
    Cue(r"\b(?:numbers|indices|indexes|ids)\b[^.?!]{0,40}\b(?:separated|comma)", ("number", "indic", "index", "ids")),
    Cue(r"\bcomma[- ]separated (?:list of )?(?:numbers|indices|indexes|ids)\b", ("comma",)),
    Cue(r"\bgenerate only ind(?:ices|exes)\b", ("generate only",)),
    Cue(r"\b(?:reply|answer|respond|output|return|give)\b[^.?!]{0,30}\b(?:its|the|their) (?:number|index|id)s?\b", ("number", "index", "id")),
]


def asks_for(info: PromptInfo) -> int:
    """Strong: a count below the list size or a pick from the list; weak: an answer made of numbers."""
    if info.n_candidates < 2:
        return NO
    if any_match(SELECT, info.instruction):
        return STRONG
    k = info.requested_count
    if k is not None and k < info.n_candidates:
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


def read(text: str, info: PromptInfo) -> str:
    """Three distinct listed numbers: the model's picks first, then the list's order; '' when the
    reply names no listed candidate."""
    pool = candidates(info)
    picked = indices_in_order(text, pool)[:ANSWER_SIZE]
    if not picked:
        return ""
    picked += [c for c in pool if c not in picked][: max(0, ANSWER_SIZE - len(picked))]
    return ", ".join(map(str, picked))


def fallback(info: PromptInfo) -> str:
    """The first three candidates in the listed order, with the list's own numbers (0-based too)."""
    return ", ".join(map(str, candidates(info)[:ANSWER_SIZE]))


def answer_of(numbers) -> str:
    """The picked candidate numbers: [3, 8, 9] -> "3, 8, 9"."""
    return ", ".join(str(int(n)) for n in numbers)


def problem(answer: str, info: PromptInfo) -> str | None:
    parsed = parse(NAME, answer)
    if not parsed or len(set(parsed)) != len(parsed) or not set(parsed) <= set(candidates(info)):
        return "the answer is not distinct listed numbers"
    return None


def simulated_reply(truth, info: PromptInfo, rng, metric: str = "") -> str:
    pool = list(info.options) or list(range(1, 11))
    right = [t for t in truth if t in pool]
    wrong = [c for c in pool if c not in right]
    k = rng.randint(0, min(3, len(right)))
    picks = rng.sample(right, k) + rng.sample(wrong, min(len(wrong), 3 - k))
    rng.shuffle(picks)
    if rng.random() < 0.15:
        picks = picks[:2]
    if rng.random() < 0.1:
        picks.append(picks[0])
    return ", ".join(map(str, picks))


TASK = Task(name=NAME, label=LABEL, asks_for=asks_for, decode_spec=decode_spec, read=read, fallback=fallback,
            answer_of=answer_of, problem=problem, answer_format="a few listed numbers, separated by commas",
            simulated_reply=simulated_reply)
