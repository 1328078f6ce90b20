"""What every task module shares: the :class:`Task` record and the reading of a prompt.

:func:`analyse` reads a prompt once into a :class:`PromptInfo`: the numbered list the answer refers
to (the last run of consecutively numbered lines, "1. ...", "1) ...", "(1) ...", "1.item", "1 - ..."),
the instruction text outside that list and outside quotes (where the routing signals are looked
for, so that a product title that says "rank", "select" or "entity" cannot steer the router), how
many items the prompt asks for ("select three ..."), and a rating scale ("on a scale of 1 to 5").
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import cached_property
from typing import Callable

from utilities.decoding import DecodeSpec, TokenTable

# A numbered line: optional "(", "[", "（", "#" or "No.", one or two digits, then ")", "]", "）", ".", ":", "、", "．", "："
# or a spaced dash. "3.5 mm" is no item; "Size 8: ..." is item 8, which only matters if 1-7 precede it.
# A label word may come first: "Review 1: ...", "Product 2 - ...", "Option 0. ...".
_ITEM_LINE = re.compile(
    r"^[ \t]*(?:[^\W\d_]{2,12}[ \t]+)?(?:[(\[（]|#|No\.\s?)?(\d{1,2})(?:[)\]）]|[.:：、．](?!\d)|[ \t]+[-–—]|(?<=#\d)[ \t]|(?<=#\d\d)[ \t])[ \t]*(.*)$"
)
# Items inside one line ("Options: 0. red 1. blue 2. green"); used only when no line holds an item.
_INLINE_ITEM = re.compile(r"(?:^|(?<=\s))[(\[]?(\d{1,2})[.)\]](?!\d)\s+")

_NUMBER_WORDS = {
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "a couple of": 2, "a pair of": 2,
    # es / fr / de / it / pt
    "dos": 2, "tres": 3, "cuatro": 4, "cinco": 5, "deux": 2, "trois": 3, "quatre": 4, "cinq": 5,
    "zwei": 2, "drei": 3, "vier": 4, "fünf": 5, "due": 2, "tre": 3, "quattro": 4, "três": 3,
    # nl / pl
    "twee": 2, "drie": 3, "vijf": 5, "dwa": 2, "dwie": 2, "trzy": 3, "cztery": 4, "pięć": 5,
    "dois": 2, "duas": 2,
    # sv / tr
    "två": 2, "fyra": 4, "fem": 5, "iki": 2, "üç": 3, "dört": 4, "beş": 5,
    # ja / zh
    "二つ": 2, "三つ": 3, "五つ": 5, "两个": 2, "三个": 3, "五个": 5, "三項目": 3,
}
_COUNT = r"(\d{1,2}|" + "|".join(sorted(map(re.escape, _NUMBER_WORDS), key=len, reverse=True)) + r")"

# "select three products", "choose the 3 most likely", "top-3", "output three numbers",
# "which three", "3 つ選んで", "选择三个".
_SELECT_VERBS = (
    r"select|choose|pick|identify|find|recommend|suggest|predict|retrieve|return|output|give|"
    r"list|name|determine|provide|mark|indicate|"
    r"selecciona\w*|seleccione\w*|elige|elija|escoge\w*|elegir|s[ée]lectionne\w*|choisi\w*|"
    r"w[äa]hle\w*|ausw[äa]hl\w*|seleziona\w*|scegli\w*|selecione\w*|escolh\w*|selecion\w*|"
    r"kies|selecteer\w*|wybierz\w*|wska[żz]\w*|v[äa]lj\w*|se[çc]\w*|اختر|اختاري|حدد"
)
_REQUESTED_COUNT = [
    re.compile(r"\btop[- ]?" + _COUNT + r"\b"),
    re.compile(r"\b(?:" + _SELECT_VERBS + r")\b(?:\W+\w+){0,4}?\W+(?:the\s+|los\s+|les\s+|die\s+|i\s+)?"
               r"(?:top\s+|best\s+|most\s+\w+\s+)?" + _COUNT
               # not a count: "5 stars", "1 to 5", "2, 1, 3" (an example answer)
               + r"\b(?!\s*(?:%|stars?|years?|-star|to\s+\d|-\s*\d|–\s*\d|~\s*\d|[,、]\s*\d))"),
    # "which three", "welche drei", "cuáles son los tres", "quels sont les trois", "quali sono i tre"
    re.compile(r"\b(?:which|what|welche[nmrs]?|cu[áa]les|qu[ée]|quels|quelles|quali|quais|quale)\s+"
               r"(?:(?:are|son|sont|sono|s[ãa]o|sind)\s+)?(?:(?:the|los|las|les|i|le|os|as|die)\s+)?" + _COUNT + r"\b"),
    re.compile(r"\b" + _COUNT + r"\s+(?:\w+\s+){0,2}?(?:numbers|indices|indexes|ids|options|candidates|"
               r"items|products|queries|aspects|snippets|answers|choices|results|n[úu]meros|"
               r"nombres|zahlen|numeri|numéros|nummers|numery|aspekty|aspecten|produkty|producten|"
               # the same nouns in es / fr / de / it / pt
               r"productos|art[íi]culos|opciones|produits|articles|[ée]l[ée]ments|produkte|artikel|optionen|"
               r"prodotti|articoli|opzioni|elementi|produtos|itens|op[çc][õo]es|"
               # sv / tr / ar
               r"produkter|artiklar|siffror|nummer|[üu]r[üu]n\w*|say[ıi]\w*|منتجات|أرقام|عناصر)\b"),
    re.compile(r"(\d{1,2}|[一二三四五])\s*(?:つ|個|件|項目|个|項|개|가지)"),
]
# "a comma separating (every) two numbers" states the format, not how many items to give
_NOT_A_COUNT = re.compile(
    r"\b(?:separating|separate|between)\s+(?:every\s+|each\s+|any\s+|the\s+)?two\b"
    # "If there is only one, return just that one": a condition, not the number asked for
    r"|\bif (?:there (?:is|are) )?only one\b[^.;\n]*"
)
_CJK_DIGITS = {"一": 1, "二": 2, "三": 3, "四": 4, "五": 5}

# "on a scale of 1 to 5", "rate from 1 to 5", "de 1 a 5", "1から5".
_SCALE = re.compile(
    r"(?:scale|rate|rating|score|stars?|from|between|escala|échelle|echelle|skala|scala|"
    r"bewert\w*|valora\w*|évalue\w*|valuta\w*|評価|评分|打分|星)"
    r"[^\n\d]{0,30}?\b(\d)\s*(?:to|-|–|~|～|through|and|a|à|bis|al|e|y|et|und)\s*(\d)\b"
    r"|(\d)\s*(?:から|到|至|～|~)\s*(\d)"
)


@dataclass(frozen=True)
class PromptInfo:
    """A prompt read once: the text, its instruction and the numbered list its answer refers to."""

    text: str
    instruction: str  # lower-cased, NFKC, whitespace collapsed, without the list's lines and quoted text
    options: tuple[int, ...]  # numbers of the last numbered list, e.g. (0, 1, 2, 3) or (1, ..., 15)
    option_texts: tuple[str, ...]
    lists: tuple[tuple[int, ...], ...] = ()  # the numbers of every numbered list, in order (the last is options)

    @property
    def n_candidates(self) -> int:
        return len(self.options)

    @cached_property
    def requested_count(self) -> int | None:
        """How many items the prompt asks for: "select three ..." -> 3 (read when first asked)."""
        return _requested_count(self.instruction, len(self.options))

    @cached_property
    def scale(self) -> tuple[int, int] | None:
        """A rating scale: "on a scale of 1 to 5" -> (1, 5) (read when first asked)."""
        return _scale(self.instruction)


# How strongly a prompt asks for a task type (``Task.asks_for``); the router takes the strongest,
# ties going to the earlier type in ``ROUTING_ORDER``.
NO, WEAK, STRONG, EXPLICIT = 0, 1, 2, 3


@dataclass(frozen=True)
class Task:
    """Everything about one official task type, in one record per module."""

    name: str  # the official task type, e.g. "named_entity_recognition"
    label: str  # the system prompt's "Your task is {label}."
    asks_for: Callable[[PromptInfo], int]  # routing signal: NO, WEAK, STRONG or EXPLICIT
    decode_spec: Callable[[PromptInfo, TokenTable], DecodeSpec]
    tidy: Callable[[str, PromptInfo], str]  # raw model text -> an answer the official parser accepts


# Quoted spans: product titles, queries, reviews. An apostrophe inside a word ("Women's") opens none.
_QUOTED = re.compile(
    r"(?<![\w'])'[^'\n]{1,400}'(?![\w'])|\"[^\"\n]{1,400}\"|“[^”\n]{1,400}”|«[^»\n]{1,400}»|「[^」\n]{1,400}」"
)


def normalise(text: str) -> str:
    return re.sub(r"\s+", " ", unicodedata.normalize("NFKC", text)).strip().lower()


def unquoted(text: str) -> str:
    """``text`` with every quoted span replaced by an empty pair of quotes."""
    return _QUOTED.sub(" '' ", text)


def _numbered_lines(lines: list[str]) -> list[tuple[int, int, str]]:
    out = []
    for i, line in enumerate(lines):
        m = _ITEM_LINE.match(line)
        if m:
            out.append((i, int(m.group(1)), m.group(2).strip()))
    return out


def _runs(numbered: list[tuple[int, int, str]]) -> list[list[tuple[int, int, str]]]:
    """Runs of consecutively numbered lines starting at 0 or 1 (other lines may sit between)."""
    runs: list[list[tuple[int, int, str]]] = []
    current: list[tuple[int, int, str]] = []
    for item in numbered:
        number = item[1]
        if current and number == current[-1][1] + 1:
            current.append(item)
            continue
        if len(current) >= 2:
            runs.append(current)
        current = [item] if number in (0, 1) else []
    if len(current) >= 2:
        runs.append(current)
    return runs


def _inline_run(text: str) -> list[tuple[int, str]]:
    matches = list(_INLINE_ITEM.finditer(text))
    best: list[tuple[int, str]] = []
    for start in range(len(matches)):
        first = int(matches[start].group(1))
        if first not in (0, 1):
            continue
        run = [start]
        for j in range(start + 1, len(matches)):
            if int(matches[j].group(1)) == first + len(run):
                run.append(j)
        if len(run) >= 2 and len(run) >= len(best):
            items = []
            for k, j in enumerate(run):
                end = matches[run[k + 1]].start() if k + 1 < len(run) else len(text)
                items.append((int(matches[j].group(1)), text[matches[j].end():end].strip()))
            best = items
    return best


def _requested_count(instruction: str, n_options: int) -> int | None:
    instruction = _NOT_A_COUNT.sub(" ", instruction)
    for pattern in _REQUESTED_COUNT:
        for m in pattern.finditer(instruction):
            word = m.group(1)
            if word.isdigit():
                k = int(word)
            elif word in _CJK_DIGITS:
                k = _CJK_DIGITS[word]
            else:
                k = _NUMBER_WORDS.get(word)
            if k is None or k < 1:
                continue
            if n_options and k >= n_options and pattern is not _REQUESTED_COUNT[0]:
                # "a numbered list of 15 products" names the list's size, not the answer's
                continue
            return k
    return None


def _scale(instruction: str) -> tuple[int, int] | None:
    for m in _SCALE.finditer(instruction):
        lo, hi = (m.group(1), m.group(2)) if m.group(1) else (m.group(3), m.group(4))
        lo, hi = int(lo), int(hi)
        if 0 <= lo < hi <= 9:
            return lo, hi
    return None


def analyse(prompt: str) -> PromptInfo:
    """Read a prompt: its numbered list (the last run), instruction text, requested count and scale."""
    text = prompt.replace("\r\n", "\n").replace("\r", "\n")
    lines = text.split("\n")
    runs = _runs(_numbered_lines(lines))
    listed = {i for run in runs for i, _, _ in run}
    if runs:
        options = tuple(number for _, number, _ in runs[-1])
        option_texts = tuple(item for _, _, item in runs[-1])
        instruction = normalise(unquoted("\n".join(line for i, line in enumerate(lines) if i not in listed)))
    else:
        inline = _inline_run(text)
        options = tuple(number for number, _ in inline)
        option_texts = tuple(item for _, item in inline)
        instruction = normalise(unquoted(text))
    return PromptInfo(
        text=prompt,
        instruction=instruction,
        options=options,
        option_texts=option_texts,
        lists=tuple(tuple(number for _, number, _ in run) for run in runs) if runs else ((options,) if options else ()),
    )


def any_match(patterns: list[re.Pattern[str]], text: str) -> bool:
    return any(p.search(text) for p in patterns)


def indices_in_order(text: str, pool: tuple[int, ...]) -> list[int]:
    """The numbers in ``text`` that are in ``pool``, in order of appearance, each once.

    When every listed number is a single digit, a run of digits that is no listed number is read
    digit by digit ("31524" -> 3, 1, 5, 2, 4): the model left out the commas, not the order.
    """
    allowed = set(pool)
    single_digits = bool(allowed) and max(allowed) <= 9
    seen: list[int] = []
    for run in re.findall(r"\d+", text if isinstance(text, str) else ""):
        numbers = [int(d) for d in run] if single_digits and int(run) not in allowed else [int(run)]
        for number in numbers:
            if number in allowed and number not in seen:
                seen.append(number)
    return seen
