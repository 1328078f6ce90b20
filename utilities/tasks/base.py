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
from typing import Any, Callable

from utilities.decoding import DecodeSpec, TokenTable


class Cue:
    """A routing pattern that can only match where one of its hints (plain substrings) occurs.

    The hints are tested first with ``in`` (C speed), the regex only when one of them is there: a
    pattern of many word-boundary alternatives costs ~20 ns per alternative and character of the
    instruction, and most instructions hold none of its words. Every match of the regex must contain
    a hint (tests/test_routing.py checks it on every prompt the repo holds).
    """

    __slots__ = ("regex", "hints")

    def __init__(self, pattern: str | re.Pattern[str], hints: tuple[str, ...]) -> None:
        self.regex = re.compile(pattern) if isinstance(pattern, str) else pattern
        self.hints = hints

    def search(self, text: str) -> re.Match[str] | None:
        for hint in self.hints:
            if hint in text:
                return self.regex.search(text)
        return None

    def finditer(self, text: str):
        return self.regex.finditer(text) if any(hint in text for hint in self.hints) else iter(())

    def __repr__(self) -> str:
        return f"Cue({self.regex.pattern[:40]!r}..., hints={self.hints[:4]}...)"


# A numbered line: optional "(", "[", "（", "#" or "No.", one to three digits (items 0-999), then ")", "]", "）", ".", ":", "、", "．", "："
# or a spaced dash. "3.5 mm" is no item; "Size 8: ..." is item 8, which only matters if 1-7 precede it.
# A label word may come first: "Review 1: ...", "Product 2 - ...", "Option 0. ...".
_ITEM_LINE = re.compile(
    r"^[ \t]*(?:[^\W\d_]{2,12}[ \t]+|(?!(?:answer|output|result|response)\b)[^\W\d_]{2,12}(?:[ \t]+[^\W\d_]{1,12}){0,2}[ \t]*[:：][ \t]*)?"
    r"(?:[(\[（]|#|No\.\s?)?(\d{1,3})(?:[)\]）]|[.:：、．](?!\d)|[ \t]+[-–—:：]|(?<=#\d)[ \t]|(?<=#\d\d)[ \t]|(?<=#\d\d\d)[ \t])[ \t]*(.*)$"
)
# "1.15.6-inch": an item whose text starts with a digit. Read only when no list was found otherwise,
# and only as a run of at least three ("3.5 mm" on one line is a measure, not item 3).
_ITEM_LINE_DIGIT = re.compile(r"^[ \t]*(\d{1,3})\.(\d.*)$")
_MIN_DIGIT_RUN = 3
# Items inside one line ("Options: 0. red 1. blue 2. green"); used only when no line holds an item.
_INLINE_ITEM = re.compile(r"(?:^|(?<=\s))[(\[]?(\d{1,3})[.)\]](?!\d)\s+")

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
# What listed things are called: a count followed by one of these is a number of items to give.
LIST_NOUNS = (
    r"(?:numbers|indices|indexes|ids|options|candidates|items|products|queries|aspects|snippets|answers|"
    r"choices|results|reviews|phrases|sentences|categories|titles|ones|entries|suggestions|recommendations|"
    r"alternatives|substitutes|complements|accessories|attributes|features|labels|tags|statements|"
    r"questions|responses|documents|passages|listings|searches|descriptions|comments|opinions|"
    r"n[úu]meros|nombres|zahlen|numeri|numéros|nummers|numery|aspekty|aspecten|produkty|producten|"
    # the same nouns in es / fr / de / it / pt / nl / pl
    r"productos|art[íi]culos|opciones|frases|rese[ñn]as|produits|articles|[ée]l[ée]ments|phrases|avis|"
    r"produkte|artikel|optionen|formulierungen|phrasen|s[äa]tze|bewertungen|prodotti|articoli|opzioni|"
    r"elementi|recensioni|produtos|itens|op[çc][õo]es|avalia[çc][õo]es|zinnen|beoordelingen|zdania|opinie|"
    # sv / tr / ar
    r"produkter|artiklar|siffror|nummer|[üu]r[üu]n\w*|say[ıi]\w*|منتجات|أرقام|عناصر)"
)
# After a count of items: a list noun within three words, "of them", "from the list", or the end of
# the clause ("select three."). "give 3 cupcakes to his cousins", "for 3 hours": no count.
_COUNTED = (
    r"(?=\s*(?:$|[.,;:!?)\]]|(?:of|from|among|out of|that|which|who|most|best|top|least|you|le|la|les|de|"
    r"aus|dall\w*|del|della|do|da)\b|(?:[\w-]+\s+){0,3}?" + LIST_NOUNS + r"\b))"
)
_COUNT_HINTS = (*"0123456789", *(w.split()[-1] for w in _NUMBER_WORDS), *"一二三四五")  # a part of every count
_REQUESTED_COUNT = [
    Cue(r"\btop[- ]?" + _COUNT + r"\b", ("top",)),
    Cue(r"\b(?:" + _SELECT_VERBS + r")\b(?:\W+\w+){0,4}?\W+(?:the\s+|los\s+|les\s+|die\s+|i\s+)?"
        r"(?:top\s+|best\s+|most\s+\w+\s+)?" + _COUNT
        # not a count: "5 stars", "1 to 5", "2, 1, 3" (an example answer)
        + r"\b(?!\s*(?:%|stars?|years?|-star|to\s+\d|-\s*\d|–\s*\d|~\s*\d|[,、]\s*\d))" + _COUNTED,
        _COUNT_HINTS),
    # "which three", "welche drei", "cuáles son los tres", "quels sont les trois", "quali sono i tre";
    # not "which 1 is bad" (a question about one thing)
    Cue(r"\b(?:which|what|welche[nmrs]?|cu[áa]les|qu[ée]|quels|quelles|quali|quais|quale)\s+"
        r"(?:(?:are|son|sont|sono|s[ãa]o|sind)\s+)?(?:(?:the|los|las|les|i|le|os|as|die)\s+)?" + _COUNT
        + r"\b(?=\s*(?:$|[.,;:!?)]|(?:are|would|will|should|could|might|of|do|does)\b|(?:[\w-]+\s+){0,3}?"
        + LIST_NOUNS + r"\b))",
        ("which", "what", "welche", "cu", "qu")),
    # "three numbers", "the 3 most relevant products"; not "three fewer questions" (a quantity)
    Cue(r"\b" + _COUNT + r"\s+(?!(?:fewer|more|less|extra|additional|other|times)\b)(?:\w+\s+){0,2}?"
        + LIST_NOUNS + r"\b", _COUNT_HINTS),
    Cue(r"(\d{1,2}|[一二三四五])\s*(?:つ|個|件|項目|个|項|개|가지)", ("つ", "個", "件", "項", "个", "개", "가지")),
]
# "a comma separating (every) two numbers" states the format, not how many items to give
_NOT_A_COUNT = re.compile(
    r"\b(?:separating|separate|between)\s+(?:every\s+|each\s+|any\s+|the\s+)?two\b"
    # "If there is only one, return just that one": a condition, not the number asked for
    r"|\bif (?:there (?:is|are) )?only one\b[^.;\n]*"
)
_CJK_DIGITS = {"一": 1, "二": 2, "三": 3, "四": 4, "五": 5}
_CJK_COUNT_CHARS = frozenset("一二三四五0123456789") | frozenset(c for w in _NUMBER_WORDS if not w.isascii() for c in w)

# "on a scale of 1 to 5", "rate from 1 to 5", "de 1 a 5", "1から5".
_SCALE = re.compile(
    r"(?:scale|rate|rating|score|stars?|from|between|escala|échelle|echelle|skala|scala|"
    r"bewert\w*|valora\w*|évalue\w*|valuta\w*|評価|评分|打分|星)"
    r"[^\n\d]{0,30}?\b(\d)\s*(?:to|-|–|~|～|through|and|a|à|bis|al|e|y|et|und)\s*(\d)\b"
    r"|(\d)\s*(?:から|到|至|～|~)\s*(\d)"
    # the scale named after its range: "using a 1 to 5 scale", "a 1-5 star rating"
    r"|\b(\d)\s*(?:to|-|–)\s*(\d)(?:[\s-]*(?:point|star))?[\s-]*(?:scale|rating|stars?)\b"
)


@dataclass(frozen=True)
class PromptInfo:
    """A prompt read once: the text, its instruction and the numbered list its answer refers to."""

    text: str
    options: tuple[int, ...]  # numbers of the last numbered list, e.g. (0, 1, 2, 3) or (1, ..., 15)
    option_texts: tuple[str, ...]
    lists: tuple[tuple[int, ...], ...] = ()  # the numbers of every numbered list, in order (the last is options)
    lines: tuple[str, ...] = ()  # the prompt's lines (any line ending)
    listed: frozenset[int] = frozenset()  # the lines of its numbered lists
    read_fields: tuple[frozenset[int], tuple[str, ...]] | None = None  # (data lines, labels) when already read

    @property
    def n_candidates(self) -> int:
        return len(self.options)

    @cached_property
    def _fields(self) -> tuple[frozenset[int], tuple[str, ...]]:
        return self.read_fields if self.read_fields is not None else _fields(self.lines, self.listed)

    @property
    def data_labels(self) -> tuple[str, ...]:
        """Labels of the user's data fields, e.g. ("query",), ("title", "description")."""
        return self._fields[1]

    @cached_property
    def outside(self) -> str:
        """The prompt's lines outside its numbered lists and the user's data fields; when fewer than
        three words are left, the data fields too (the instruction may sit in a "Question:" field)."""
        data = self._fields[0]
        outside = [line for i, line in enumerate(self.lines) if i not in self.listed and i not in data]
        if data and len(" ".join(outside).split()) < _MIN_INSTRUCTION_WORDS:
            outside = [line for i, line in enumerate(self.lines) if i not in self.listed]
        return "\n".join(outside)

    @cached_property
    def instruction(self) -> str:
        """``outside`` lower-cased, NFKC, whitespace collapsed, quoted text blanked (read when first asked:
        a multiple-choice prompt is routed by its flag and needs it only for a stated scale)."""
        return normalise(unquoted(self.outside))

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
    # raw model text -> the answer it holds, tidied so that the official parser accepts it; '' when
    # the reply holds nothing usable (blank, only labels or punctuation, no listed number, ...)
    read: Callable[[str, PromptInfo], str]
    # the prompt alone -> a non-empty answer the official parser accepts, drawn from the prompt
    fallback: Callable[[PromptInfo], str]
    # an official truth (a row's output_field) -> the answer the model should write for it
    answer_of: Callable[[Any], str]
    # why an answer is not well formed for this prompt (None when it is): what the official parser
    # reads of it is usable and fits the prompt (an offered option, listed candidates, no repeat)
    problem: Callable[[str, PromptInfo], str | None]
    # the answer's shape in a few words, for prompts that ask a teacher model for questions of this type
    answer_format: str
    # (truth, prompt, rng, metric) -> a reply a model might give: the truth, sometimes right, sometimes
    # wrong, in a model's words (the benchmarks' stand-in for a model)
    simulated_reply: Callable[[Any, PromptInfo, Any, str], str]

    def answer(self, text: str | None, info: PromptInfo) -> tuple[str, bool]:
        """(answer, whether the fallback gave it): the reply's own answer, else the fallback."""
        read = self.read(text if isinstance(text, str) else "", info)
        return (read, False) if read.strip() else (self.fallback(info), True)

    def tidy(self, text: str | None, info: PromptInfo) -> str:
        """Raw model text -> a non-empty answer the official parser accepts."""
        return self.answer(text, info)[0]


# Quoted spans: product titles, queries, reviews. An apostrophe inside a word ("Women's") opens none.
_QUOTED = re.compile(
    r"(?<![\w'])'[^'\n]{1,1000}'(?![\w'])|\"[^\"\n]{1,1000}\"|“[^”\n]{1,1000}”|«[^»\n]{1,1000}»|「[^」\n]{1,1000}」"
)


def normalise(text: str) -> str:
    if not text.isascii():  # NFKC leaves ASCII text as it is
        text = unicodedata.normalize("NFKC", text)
    return " ".join(text.split()).lower()  # whitespace runs collapsed (str.split splits on what \s matches)


# A quoted span this short that holds a letter is a name (an attribute or entity type: 'Brand',
# 'product type'); longer ones are the user's text (a title, a query, a review).
_NAME_MAX_WORDS = 4  # 'Special features', 'screen size in inches': attribute names run to 4 words
_NAME_MAX_CHARS = 40
QUOTED_NAME = "'x'"  # what a quoted name becomes in the instruction; other quoted text becomes ''


def _placeholder(m: re.Match) -> str:
    inner = m.group(0)[1:-1]
    is_name = (len(inner) <= _NAME_MAX_CHARS and len(inner.split()) <= _NAME_MAX_WORDS
               and any(c.isalpha() for c in inner))
    return f" {QUOTED_NAME} " if is_name else " '' "


_QUOTE_MARKS = ("'", '"', "“", "«", "「")  # what opens a _QUOTED span


def unquoted(text: str) -> str:
    """``text`` with every quoted span replaced: a short name by ``'x'``, other text by ``''``."""
    if not any(mark in text for mark in _QUOTE_MARKS):
        return text
    return _QUOTED.sub(_placeholder, text)


_EARLY_DIGIT = 48  # an item's number comes this soon after the indent: a label of up to 3 x 12 letters, a marker
_DIGIT = re.compile(r"\d")


def _numbered_lines(lines: list[str]) -> tuple[list[tuple[int, int, str]], list[tuple[int, int, str]]]:
    """(line, number, text) of the numbered lines, and of the lines "1.15.6-inch" (number, a dot, a
    digit: read only if the first list holds no run), in one pass."""
    items, digit_items = [], []
    for i, line in enumerate(lines):
        indent = len(line) - len(line.lstrip()) if line[:1] in " \t" else 0
        if not _DIGIT.search(line, 0, indent + _EARLY_DIGIT):
            continue
        m = _ITEM_LINE.match(line)
        if m:
            items.append((i, int(m.group(1)), m.group(2).strip()))
        m = _ITEM_LINE_DIGIT.match(line)
        if m:
            digit_items.append((i, int(m.group(1)), m.group(2).strip()))
    return items, digit_items


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
    """The longest run of inline items numbered from 0 or 1 ("0. red 1. blue 2. green"), in one
    pass: each item extends the runs waiting for its number; a later run of equal length wins."""
    if "0" not in text and "1" not in text:  # a run starts at item 0 or 1
        return []
    matches = list(_INLINE_ITEM.finditer(text))
    waiting: dict[tuple[int, int], list[int]] = {}  # (first number, next number wanted) -> match indices
    best: list[int] = []

    def wait(key: tuple[int, int], run: list[int]) -> None:  # two runs wanting the same: the later start
        if key not in waiting or run[0] >= waiting[key][0]:
            waiting[key] = run

    for j, m in enumerate(matches):
        number = int(m.group(1))
        for first in (0, 1):
            run = waiting.pop((first, number), None)
            if run is not None:
                run.append(j)
                wait((first, number + 1), run)
                if (len(run), run[0]) >= (len(best), best[0] if best else -1):
                    best = run
        if number in (0, 1):
            wait((number, number + 1), [j])
    if len(best) < 2:
        return []
    items = []
    for k, j in enumerate(best):
        end = matches[best[k + 1]].start() if k + 1 < len(best) else len(text)
        items.append((int(matches[j].group(1)), text[matches[j].end():end].strip()))
    return items


_WORD = re.compile(r"[^\W_]+")
_COUNT_WORDS = frozenset(w for phrase in _NUMBER_WORDS for w in phrase.split() if w not in ("a", "of"))


def _names_a_count(instruction: str) -> bool:
    """Whether a count can be read at all: a number of one or two digits, a number word, or a CJK
    numeral (which has no word boundary). One scan of the words instead of every count pattern."""
    for word in _WORD.findall(instruction):
        if (word.isdigit() and len(word) <= 2) or word in _COUNT_WORDS:
            return True
        if not word.isascii() and any(c in _CJK_COUNT_CHARS for c in word):
            return True
    return False


def _requested_count(instruction: str, n_options: int) -> int | None:
    if not _names_a_count(instruction):
        return None
    if "separat" in instruction or "between" in instruction or "only one" in instruction:
        instruction = _NOT_A_COUNT.sub(" ", instruction)  # every _NOT_A_COUNT match holds one of these
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
        lo, hi = next((a, b) for a, b in zip(m.groups()[::2], m.groups()[1::2]) if a is not None)
        lo, hi = int(lo), int(hi)
        if 0 <= lo < hi <= 9:
            return lo, hi
    return None


# A line that opens a field of the user's data ("Review: ...", "Query: ...", "Product A: ..."): what
# the field holds is text to work on, not the instruction, so its words never steer the router
# ("I give her the treats every night" in a review, "order" in a word problem's text).
_FIELD = re.compile(r"^[ \t]*(?:[*#]+[ \t]*)?([^\W\d_][^\n:：]{0,30}?)[ \t]*\**[ \t]*[:：](.*)$")
_FIELD_ID = re.compile(r"\s+(?:\d{1,2}|[a-z])$")  # "Product A", "Review 2": the label without its id
# Fields of running text: they go on over the next lines, up to a blank, labelled or numbered line.
_TEXT_FIELDS = frozenset((
    "input", "text", "review", "reviews", "review text", "user review", "customer review", "description",
    "product description", "question", "customer question", "user question", "context", "passage",
    "document", "comment", "content", "body", "sentence", "paragraph", "article", "dialogue", "conversation",
    "utterance", "ulasan", "deskripsi", "pertanyaan", "bullet points", "features", "specs", "specifications",
    "about this item",
    # es / fr / de / it / pt / nl / pl / ja / zh / ko
    "entrada", "texto", "reseña", "opinión", "descripción", "pregunta", "entrée", "texte", "avis",
    "description du produit", "eingabe", "bewertung", "rezension", "beschreibung", "frage", "testo",
    "recensione", "descrizione", "domanda", "avaliação", "resenha", "descrição", "pergunta", "recensie",
    "beschrijving", "vraag", "opis", "recenzja", "opinia", "pytanie", "レビュー", "説明", "質問", "本文",
    "入力", "评论", "描述", "问题", "输入", "리뷰", "설명", "질문",
))
# Fields of one line: a query, a title, a product.
_LINE_FIELDS = frozenset((
    "query", "search query", "user query", "search", "keyword", "keywords", "title", "product title",
    "product name", "product", "item", "review title", "headline", "name", "brand", "category",
    "product category", "session", "history", "purchase history", "judul", "kueri", "produk",
    "consulta", "título", "producto", "requête", "titre", "produit", "suchanfrage", "anfrage", "titel",
    "produkt", "titolo", "prodotto", "zoekopdracht", "zapytanie", "tytuł", "クエリ", "検索", "検索クエリ",
    "タイトル", "商品名", "商品タイトル", "商品", "搜索词", "查询", "标题", "商品标题", "검색어", "제목", "상품명",
))
_MIN_INSTRUCTION_WORDS = 3  # fewer words outside the data fields: the prompt's instruction is in them
# A line that opens an ask ("What is the peak current?", "Extract the brand ..."): it ends a text field
# that would otherwise run on over it.
_ASK_LINE = re.compile(
    r"^\s*(?:what|which|how|who|where|why|when|please|extract|identify|find|list|give|write|generate|rank|sort|"
    r"order|select|choose|pick|rate|classify|determine|summari[sz]e|translate|reply|answer|respond|output|return|"
    r"explain|describe|tell|name|tag|locate|mark)\b", re.IGNORECASE)
_PARENTHESES = re.compile(r"\s*\([^)]*\)")  # "Product title (Spanish)": the label without its note


def _fields(lines, listed) -> tuple[frozenset[int], tuple[str, ...]]:
    """(the lines that hold the user's data, the labels of its fields): labelled fields and the
    lines a text field runs on to."""
    data: set[int] = set()
    labels: list[str] = []
    running = False
    for i, line in enumerate(lines):
        if i in listed or not line.strip():
            running = False
            continue
        m = _FIELD.match(line) if ":" in line or "：" in line else None
        if m:
            label = m.group(1)
            if "(" in label:
                label = _PARENTHESES.sub("", label)
            label = label.strip().lower()
            if label[-2:-1] == " " or label[-1:].isdigit():  # "product a", "review 2", "review 12"
                label = _FIELD_ID.sub("", label)
            running = label in _TEXT_FIELDS
            if running or label in _LINE_FIELDS:
                data.add(i)
                labels.append(label)
        elif running and not _ASK_LINE.match(line):
            data.add(i)
        else:
            running = False
    return frozenset(data), tuple(labels)


# The router reads at most this much of a prompt, as the answer path does: the model sees at most
# 3,072 tokens (settings.max_model_len), and the densest of the 2,637 dev and EC-Guide prompts holds
# 6.2 characters a token (median 4.0): 3,072 x 6.2 = 19,046 characters, so a prompt the model can
# see whole is read whole. A longer one is read as fit_prompt cuts it: its head and its end.
READ_MAX_CHARS = 32_768
READ_HEAD_CHARS = READ_MAX_CHARS // 4  # the instruction; the rest is the end (the list and the answer cue)


def readable(prompt: str) -> str:
    """The part of ``prompt`` the router reads: all of it, or its head and end (``READ_MAX_CHARS``)."""
    if len(prompt) <= READ_MAX_CHARS:
        return prompt
    return prompt[:READ_HEAD_CHARS] + "\n...\n" + prompt[len(prompt) - (READ_MAX_CHARS - READ_HEAD_CHARS):]


def analyse(prompt: str) -> PromptInfo:
    """Read a prompt: its numbered list (the last run), instruction text, requested count and scale.

    The instruction is what is left outside the numbered list, outside the user's data fields
    ("Review: ...", "Query: ...") and with quoted text blanked; when fewer than three words are
    left, the data fields are read too (the instruction itself may sit in a "Question:" field).
    The fields and the instruction are read when first asked for: a multiple-choice prompt, routed
    by its flag, needs only its list.
    """
    prompt = readable(prompt)
    text = prompt.replace("\r\n", "\n").replace("\r", "\n")
    lines = text.split("\n")
    items, digit_items = _numbered_lines(lines)
    runs = _runs(items)
    if not runs:
        runs = [run for run in _runs(digit_items) if len(run) >= _MIN_DIGIT_RUN]
    listed = frozenset(i for run in runs for i, _, _ in run)
    fields = None
    if runs:
        options = tuple(number for _, number, _ in runs[-1])
        option_texts = tuple(item for _, _, item in runs[-1])
    else:
        # items inside one line; never inside the user's data ("Directions: 1) ... 5)" in a description)
        fields = _fields(lines, listed)
        inline = _inline_run("\n".join(line for i, line in enumerate(lines) if i not in fields[0]))
        options = tuple(number for number, _ in inline)
        option_texts = tuple(item for _, item in inline)
    return PromptInfo(
        text=prompt,
        options=options,
        option_texts=option_texts,
        lists=tuple(tuple(number for _, number, _ in run) for run in runs) if runs else ((options,) if options else ()),
        lines=tuple(lines),
        listed=listed,
        read_fields=fields,
    )


def any_match(patterns, text: str) -> bool:
    """Whether any of ``patterns`` (compiled regexes or :class:`Cue`) matches ``text``."""
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
        # a listed number has at most 3 digits (items 0-999); a longer run is never one (and int() of
        # over 4,300 digits raises): read it digit by digit when the list is of single digits, else skip it
        value = int(run) if len(run) <= 3 else None
        if single_digits and value not in allowed:
            numbers = [int(d) for d in run]
        else:
            numbers = [] if value is None else [value]
        for number in numbers:
            if number in allowed and number not in seen:
                seen.append(number)
    return seen


# --- what a fallback answer is drawn from --------------------------------------------------------
# When the model's reply holds nothing usable, a text answer (generation, NER) quotes the text the
# instruction works on: a general reading of the prompt's layout, never strings of a data set.

# "Label: value": a label of one to three words in any script (a sentence holding a colon is no
# field), optionally in Markdown bold or after a heading mark ("**Review:**", "## Query:").
_LABELLED = re.compile(r"^[ \t]*[*#]*[ \t]*([^\W\d_]+(?:[ \t]+[^\W\d_]+){0,2})[ \t]*\**[ \t]*[:：][ \t]*(.*)$")
# Labels under which the answer is to be written or the task is stated: never the text worked on.
_NOT_SUBJECT = frozenset((
    "output", "answer", "response", "assistant", "result", "a", "your answer", "final answer",
    "instruction", "instructions", "task", "note", "notes", "format", "output format", "system", "rules",
    "example", "examples",
    # es / fr / de / it / pt / nl / pl / ja / zh / ko
    "respuesta", "salida", "réponse", "sortie", "antwort", "ausgabe", "risposta", "resposta", "saída",
    "antwoord", "odpowiedź", "instrucciones", "consigne", "anweisung", "istruzioni", "instruções",
    "回答", "出力", "答え", "答案", "输出", "指示", "答", "답변", "출력", "답",
))
# "extract ... from the review", "in the query", "within the title": the field the text comes from
_TAKEN_FROM = r"\b(?:from|in|within|inside)\s+(?:[\w()-]+\s+){0,3}?"
BLANK_PROMPT_ANSWER = "unknown"  # a prompt without a single word to quote still gets an answer


def _has_words(text: str) -> bool:
    return re.search(r"[^\W_]", text) is not None


def _named(label: str, rest: str) -> int:
    """2: the rest of the prompt takes text from this field; 1: it names the field; 0: neither."""
    if not label.isascii():  # CJK has no word boundaries
        return 1 if label in rest else 0
    word = r"\b" + re.escape(label).replace(r"\ ", r"\s+") + r"(?:e?s)?\b"  # "review" also names "reviews"
    if re.search(_TAKEN_FROM + word, rest):
        return 2
    return 1 if re.search(word, rest) else 0


def subject_text(info: PromptInfo, or_instruction: bool = True) -> str:
    """The text the prompt's instruction works on, as one stripped line; '' when it has no words.

    In order: the labelled field the rest of the prompt takes its text from ("extract the keyphrase
    from the review" -> the "Review:" field) or else names; the longest quoted span (a product
    title in quotes); the first labelled field; the prompt's first line with words (its
    instruction, without an "Instructions:" label; what follows its last colon when that holds
    words: "Tag this: nike shoes").
    Answer cues ("Output:") and instruction labels ("Instructions:") are never a subject. With
    ``or_instruction=False``, a prompt that gives no field and quotes nothing has no subject ('').
    """
    lines = info.lines  # split once, by analyse
    fields: list[tuple[str, str]] = []  # (label, value) of data fields, in prompt order
    data_lines: set[int] = set()
    for i, line in enumerate(lines):
        m = _LABELLED.match(line)
        if not m:
            continue
        label = normalise(m.group(1))
        if label in _NOT_SUBJECT:
            continue
        value, at = m.group(2), i
        if not _has_words(value):  # "Review:" with its text on the next line
            at = next((j for j in range(i + 1, len(lines)) if lines[j].strip()), i)
            value = lines[at] if at != i and not _LABELLED.match(lines[at]) else ""
        data_lines.update((i, at))
        if _has_words(value):
            fields.append((label, value))
    rest = normalise(" ".join(line for i, line in enumerate(lines) if i not in data_lines))
    ranked = sorted(((_named(label, rest), -k) for k, (label, _) in enumerate(fields)), reverse=True)
    if ranked and ranked[0][0] > 0:
        return _clean(fields[-ranked[0][1]][1])
    quoted = [q[1:-1] for q in _QUOTED.findall(info.text) if _has_words(q)]
    if quoted:
        return _clean(max(quoted, key=len))  # the first of the longest
    if fields:
        return _clean(fields[0][1])
    if not or_instruction:  # only a text the prompt gives: a field or a quoted span
        return ""
    for line in lines:
        m = _LABELLED.match(line)
        if m and normalise(m.group(1)) in _NOT_SUBJECT:  # "Instructions: Tell me ...", "Output:"
            line = m.group(2)
        if _has_words(line):
            after = re.split(r"[:：]", line)[-1]
            return _clean(after if _has_words(after) else line)
    return ""


def _clean(text: str) -> str:
    return text.strip().strip("\"'“”«»「」`*").strip()


def first_words(text: str, n: int) -> str:
    """The first ``n`` whitespace-separated words of ``text``, joined by single spaces."""
    return " ".join(text.split()[:n])
