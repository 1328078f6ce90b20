"""generation: free text (metrics: ROUGE-L, BLEU on the first line, sentence-embedding cosine).

Routing signal: the default, for every prompt that asks for no list of numbers and no entities:
explanations, titles, translations, answers, one keyphrase ("extract the keyphrase ... ONLY ONE"),
also when the prompt holds a numbered list (features, actions, reviews) but asks for text.
Decoding is free with a length cap; tidy keeps the first non-empty line (BLEU reads only the first
line), drops an echoed "Output:"/"Answer:" label, and cuts after the first sentence that brings the
answer past 15 words, as the winners did.
"""
from __future__ import annotations

import re

from utilities.decoding import DecodeSpec, TokenTable, none_penalty
from utilities.tasks.base import EXPLICIT, NO, PromptInfo, Task, any_match

NAME = "generation"
LABEL = "generation"
MAX_NEW_TOKENS = 50  # the winners' cap: dev references are 1-45 words
CUT_AFTER_WORDS = 15  # the winners' cut: stop at the sentence end that passes 15 words

_LABEL_ECHO = re.compile(r"^\s*(?:output|answer|response|assistant)\s*[:：]\s*", re.IGNORECASE)
_SENTENCE_END = re.compile(r"[.!?]+(?=\s)|[。！？]+")


# An imperative ask for text: at the start of a sentence or clause, or after "please"/"you should".
_IMPERATIVE = r"(?:^|[.!?:;,]\s+|\bplease\s+|\byou (?:should|must|need to|have to)\s+|\bthen\s+|\bnow\s+)"
FREE_TEXT = [re.compile(p) for p in (
    # "write one search query", "generate a title", "compose a short summary"
    _IMPERATIVE + r"(?:write|generate|compose|create|draft|produce|come up with|rewrite|paraphrase)\b"
    r"[^.!?:]{0,30}?\b(?:query|queries|title|sentence|summary|description|explanation|paragraph|headline|"
    r"slogan|tagline|caption|answer|response|text|review|question|message|blurb|name)\b",
    _IMPERATIVE + r"(?:explain|summari[sz]e)\b",
    r"\bin (?:one|a single|two|three|\d) (?:short )?(?:sentences?|paragraphs?)\b",
)]


# Words every FREE_TEXT match contains: a cheap test that skips the patterns for most prompts.
_HINT = re.compile(r"writ|generat|compos|creat|draft|produce|come up|paraphras|explain|summar|sentence|paragraph")


def asks_for(info: PromptInfo) -> int:
    """Explicit when the prompt asks for text ("write a query", "explain", "in one sentence"); the
    router also falls back to generation when no type is asked for at all."""
    if not _HINT.search(info.instruction):
        return NO
    return EXPLICIT if any_match(FREE_TEXT, info.instruction) else NO


def decode_spec(info: PromptInfo, table: TokenTable) -> DecodeSpec:
    return DecodeSpec(max_new_tokens=MAX_NEW_TOKENS, logit_bias=none_penalty(table))


def tidy(text: str, info: PromptInfo) -> str:
    text = text if isinstance(text, str) else ""
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    first = _LABEL_ECHO.sub("", first).strip()
    for end in _SENTENCE_END.finditer(first):
        if len(first[: end.end()].split()) > CUT_AFTER_WORDS:
            return first[: end.end()].strip()
    return first


TASK = Task(name=NAME, label=LABEL, asks_for=asks_for, decode_spec=decode_spec, tidy=tidy)
