"""named_entity_recognition: a comma-separated list of phrases taken from the text (metric: micro-F1).

Routing signal: the instruction names entities ("entity type", "named entities", "Entitätstyp",
"エンティティ", "实体"), or asks to extract/identify/list more than one phrase ("all", "every", a
plural, "comma-separated") taken from the text ("in the query", "from this title"). Extracting ONE
keyphrase is generation (task6 is scored by ROUGE-L), so a singular ask is left to generation. Decoding boosts the prompt's own tokens (+1), comma and end of
text, as the winners did. Micro-F1 counts a repeated prediction as a false positive, so tidy
drops repeats.
"""
from __future__ import annotations

import ast
import re

from utilities.decoding import MAX_LOGIT_BIAS_ENTRIES, DecodeSpec, TokenTable, none_penalty
from utilities.tasks.base import NO, STRONG, PromptInfo, Task, any_match

NAME = "named_entity_recognition"
LABEL = "named entity recognition"
MAX_NEW_TOKENS = 15  # the winners' cap: dev entities are 1-3 words, one or two per answer
PROMPT_TOKEN_BOOST = 1.0  # the winners' +1.0 on every token of the prompt, comma and end of text

_VERB = (
    r"(?:extract|identify|find|list|tag|recogni[sz]e|detect|pull out|highlight|mark|locate|return|output|give|copy|"
    r"extrae\w*|extraer|extrai\w*|extrayez|extraire|relev\w*|extrahier\w*|estrai\w*|identifi\w*|liste\w*|"
    r"haal|extraheer\w*|wyodrębnij|wypisz|nenne\w*|elenc\w*|enumer\w*|énum[èé]r\w*|wymień|"
    r"抽出|抜き出|提取|抽取|找出|列出|추출|뽑아)"
)
# more than one phrase: "all", "every", a plural noun, "comma-separated", "a list of"
_MANY = (
    r"(?:\b(?:all|every|each|any)\b|\b(?:phrases|words|terms|spans|mentions|entities|brands|colou?rs|materials|"
    r"values|attributes|names|keywords|tokens|features|ingredients|sizes|aspects|flavou?rs)\b|"
    r"\bcomma|\blist of\b|\b(?:todas|todos|toutes|tous|alle|tutti|tutte|wszystkie)\b|すべて|全て|全部|所有|모두|전부|"
    # "the brand(s)", "if there are several", and the plural nouns in es / fr / de / it / pt
    r"\w\(s\)|\b(?:several|multiple|more than one|varias|varios|plusieurs|mehrere|diversi|diverse|vari|varie|"
    r"várias|vários|marcas|marques|marken|marchi|colores|couleurs|farben|colori|cores|materiales|matériaux|"
    r"materialien|materiali|materiais)\b)"
)
# taken from the text: "in the query", "from this product title", "mentioned in the review"
_SOURCE = re.compile(
    r"\b(?:in|from|within|of)\s+(?:(?:the|this|that|these|each|every|a|an|given|following|below|above|"
    r"search|user|product|customer|its)\s+)*(?:query|queries|title|titles|review|reviews|text|description|"
    r"sentence|input|listing|name|passage|comment|question)s?\b"
    r"|\b(?:mentioned|appear\w*|contained|occur\w*|found) in\b"
    # "given the product title below", "read the product description"
    r"|\b(?:given|following|read) (?:the |this )?(?:product |search |user )?(?:title|query|review|description|text)\b"
    r"|\b(?:title|query|review|description|text) (?:below|above)\b"
    r"|\b(?:consulta|requête|requete|suchanfrage|anfrage|titel|título|titulo|titre|titolo|reseña|avis|"
    r"bewertung|rezension|recensione|zoekopdracht|zapytani\w*|recenzj\w*)\b|クエリ|タイトル|レビュー|查询|标题|评论|"
    r"상품명|제목|리뷰|검색어|쿼리"
)
_PER_LINE = r"on (?:its|their) own line|one per line"
_COMMA = re.compile(  # the answer is a list: commas, one per line, a Python list
    r"\b(?:comma|coma|virgul|virgol|komma|przecink|virg[üu]l)|カンマ|逗号|読点|쉼표|فواصل|فاصلة"
    r"|\b(?:" + _PER_LINE + r"|python list)\b"
)
_PLURAL_ATTRIBUTE = (
    r"(?:brands|colou?rs|materials|sizes|product types|flavou?rs|keywords|attributes|models|styles|audiences)"
)
ENTITY = [re.compile(p) for p in (
    r"\bentit(?:y|ies|ät\w*|é\w*|à|eit\w*|et\w*)|\bentidad\w*|\bentidade\w*|\bvarl[ıi]k tip\w*|الكيان|كيان|"
    r"エンティティ|固有表現|实体",
    r"\b" + _PLURAL_ATTRIBUTE + r" (?:in|from|of|mentioned in) (?:''|(?:the |this )?(?:search )?(?:query|title|review|text)\b)",
    r"\bwhich (?:words|phrases|terms|parts|tokens|expressions)\b",
)]
# "... If there are several, separate them with commas": the answer may hold more than one phrase
SEVERAL = re.compile(
    r"\bif there (?:are|is) (?:several|multiple|more than one|many)\b|\bsi hay (?:varias|varios|m[áa]s de)\b|"
    r"\bs'il y en a plusieurs\b|\bfalls es mehrere\b|\bwenn es mehrere\b|\bse ce ne sono (?:diversi|pi[ùu])\b|"
    r"\bse houver (?:v[áa]ri[oa]s|mais de)\b"
)
_ANY_VERB = re.compile(_VERB)
ONE_PER_LINE = re.compile(r"\b(?:" + _PER_LINE + r"|(?:each|one) on a (?:new|separate) line|line by line)\b")
# "Which phrase in the query is the brand? If there are several, separate them with commas."
WHICH_PHRASE = re.compile(r"\b(?:which|what) (?:word|phrase|term|span|part|expression)s? (?:in|of|from) ")
_WITHIN_A_SENTENCE = r"(?:(?!\. ).){0,160}"
EXTRACTION = re.compile(  # a verb then "all"/a plural; in Japanese/Chinese/Korean "all" comes first ("すべて抜き出して")
    _VERB + r"(?=" + _WITHIN_A_SENTENCE + _MANY + r")|(?:すべて|全て|全部|所有|모두|전부)(?=.{0,40}" + _VERB + r")"
)
_NUMBERS = re.compile(r"(?<!without )(?<!no )\b(?:numbers|indices|indexes|ids)\b")  # "list the numbers of ...": retrieval
# "extract the keyphrase", "only one keyphrase": one phrase is generation, not a list.
SINGLE_PHRASE = re.compile(
    r"\b(?:the|one|a|only one|exactly one)\s+(?:single\s+|short\s+|key\s*)?"
    r"(?:key ?phrase|key ?word|phrase|word|term|sentence|span)\b"
)


def asks_for(info: PromptInfo) -> int:
    text = info.instruction
    if any_match(ENTITY, text):
        return STRONG
    if SINGLE_PHRASE.search(text) or info.requested_count == 1:
        return NO  # one phrase is generation
    if info.n_candidates >= 2 and _NUMBERS.search(text):
        return NO  # the numbers of listed items: retrieval
    if EXTRACTION.search(text) and (_SOURCE.search(text) or _COMMA.search(text)):
        return STRONG
    which = WHICH_PHRASE.search(text) is not None
    if (which or _ANY_VERB.search(text)) and _SOURCE.search(text) and (
            SEVERAL.search(text) or (which and _COMMA.search(text))):
        return STRONG
    return NO


def decode_spec(info: PromptInfo, table: TokenTable) -> DecodeSpec:
    bias = none_penalty(table)
    fixed = {i: PROMPT_TOKEN_BOOST for i in (*table.comma_ids, *table.eos_ids)}
    room = MAX_LOGIT_BIAS_ENTRIES - len(bias) - len(fixed)
    # the entity sits in the query at the end of the prompt: keep the last distinct tokens
    prompt_ids = list(dict.fromkeys(reversed(table.encode(info.text))))
    boost = {i: PROMPT_TOKEN_BOOST for i in prompt_ids[:room] if i not in bias}
    return DecodeSpec(
        max_new_tokens=MAX_NEW_TOKENS, logit_bias={**boost, **fixed, **bias},
        # the list ends with its line, unless the prompt asks for one entity per line
        stop=("\n\n",) if ONE_PER_LINE.search(info.instruction) else ("\n",),
    )


_BULLET = re.compile(r"^\s*(?:[-*•]+|\d{1,2}[.)])\s+")  # "- x", "• x", "1. x"; never the "3" of "3m"


def split_entities(text: str) -> list[str]:
    """The phrases of a reply: a Python list literal, else comma/semicolon/newline separated."""
    text = text.strip() if isinstance(text, str) else ""
    items: list[str] | None = None
    if text.startswith("["):
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            value = None
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            items = value
    if items is None:
        items = re.split(r"[,;\n、，]|\s+\d{1,2}[.)]\s+", text)  # "1. nike 2. adidas": enumerators separate too
    out: list[str] = []
    seen: set[str] = set()
    for item in items:
        item = _BULLET.sub("", item).strip(" \t\"'`[]")
        key = item.lower()
        if item and key not in seen and key not in ("none", "n/a"):
            seen.add(key)
            out.append(item)
    return out


def tidy(text: str, info: PromptInfo) -> str:
    return ", ".join(split_entities(text))


TASK = Task(name=NAME, label=LABEL, asks_for=asks_for, decode_spec=decode_spec, tidy=tidy)
