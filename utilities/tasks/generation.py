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
from utilities.tasks.base import NO, PromptInfo, Task

NAME = "generation"
LABEL = "generation"
MAX_NEW_TOKENS = 50  # the winners' cap: dev references are 1-45 words
CUT_AFTER_WORDS = 15  # the winners' cut: stop at the sentence end that passes 15 words

_LABEL_ECHO = re.compile(r"^\s*(?:output|answer|response|assistant)\s*[:：]\s*", re.IGNORECASE)
_SENTENCE_END = re.compile(r"[.!?]+(?=\s)|[。！？]+")


def asks_for(info: PromptInfo) -> int:
    """No signal of its own: the router falls back to generation when no other type is asked for."""
    return NO


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
