"""generation: free text (metrics: ROUGE-L, BLEU on the first line, sentence-embedding cosine).

Routing signal: the default, for every prompt that asks for no list of numbers and no entities:
explanations, titles, translations, answers, also when the prompt holds a numbered list (features,
actions, reviews) but asks for text. Explicit for an imperative ask for text ("write a title",
"explain", "give a short summary") and for keyphrases and keywords of a text (``KEYPHRASES``: one
rule for dev task6, EC-Guide's EPK and PKS; benchmarks/keyphrase_decoding.py measures why); weak for
a worked-answer cue ("Answer: Let's think step by step.").
Decoding is free with a length cap; tidy keeps the first line that holds a word (BLEU reads only
the first line), drops an echoed "Output:"/"Answer:" label, and cuts after the first sentence that
brings the answer past 15 words, as the winners did. A reply without a word gets the fallback: the
text the instruction works on (``subject_text``), at most 15 words, never ''.
"""
from __future__ import annotations

import re
from functools import lru_cache

from utilities.decoding import DecodeSpec, TokenTable, none_penalty
from utilities.tasks.base import EXPLICIT, NO, STRONG, WEAK, Cue, PromptInfo, Task, any_match
from utilities.tasks.base import BLANK_PROMPT_ANSWER, first_words, subject_text

NAME = "generation"
LABEL = "generation"
MAX_NEW_TOKENS = 50  # the winners' cap: dev references are 1-45 words
CUT_AFTER_WORDS = 15  # the winners' cut: stop at the sentence end that passes 15 words

_LABEL_ECHO = re.compile(r"^\s*(?:output|answer|response|assistant)\s*[:：]\s*", re.IGNORECASE)
_SENTENCE_END = re.compile(r"[.!?]+(?=\s)|[。！？]+")


# An imperative ask for text: at the start of a sentence or clause, or after "please"/"you should".
_IMPERATIVE = r"(?:^|[.!?:;,]\s+|\bplease\s+|\byou (?:should|must|need to|have to)\s+|\bthen\s+|\bnow\s+)"
FREE_TEXT = [
    # "write one search query", "generate a title", "compose a short summary"
    Cue(_IMPERATIVE + r"(?:write|generate|compose|create|draft|produce|come up with|rewrite|paraphrase)\b"
        r"[^.!?:]{0,30}?\b(?:query|queries|title|sentence|summary|description|explanation|paragraph|headline|"
        r"slogan|tagline|caption|answer|response|text|review|question|message|blurb|name)\b",
        ("write", "generate", "compose", "create", "draft", "produce", "come up", "rewrite", "paraphrase")),
    Cue(_IMPERATIVE + r"(?:explain|summari[sz]e|translate|locali[sz]e)\b", ("explain", "summari", "translate", "locali")),
    Cue(r"\bin (?:one|a single|two|three|\d) (?:short )?(?:sentences?|paragraphs?)\b", ("sentence", "paragraph")),
    # "give a short summary of this review", "provide a brief explanation"
    Cue(r"\b(?:give|provide|offer|produce|write)\s+(?:me\s+|us\s+)?(?:a|an|one)\s+(?:[\w-]+\s+){0,2}?(?:summary|explanation|"
        r"description|headline|title|paraphrase|translation|reply|response)\b",
        ("give", "provide", "offer", "produce", "write")),
]

# An answer cue that asks for a worked answer ("Answer: Let's think step by step."): free text is
# asked for, but only weakly: a ranking or a pick of listed numbers may be asked to be reasoned too.
WORKED_ANSWER = Cue(
    r"\bstep[- ]by[- ]step\b|\b(?:show|explain) (?:your|the) (?:work|reasoning|steps|calculation)\b|"
    r"\bpaso a paso\b|\bétape par étape\b|\bschritt für schritt\b|\bschrittweise\b|\bpasso (?:dopo|a) passo\b|"
    r"\bstap voor stap\b|\bkrok po kroku\b|ステップバイステップ|段階的に考|一步一步|逐步|单步|차근차근|단계별로",
    ("step", "show", "explain", "paso", "étape", "schritt", "passo", "stap", "krok", "ステップ", "段階", "一步", "逐步",
     "单步", "차근", "단계"),
)
# Keyphrase and keyword extraction ("extract four keywords", "the main characteristics of the dress",
# "the keyphrase that mentions the aspect") is generation, not entity recognition: the answer is
# scored as text (ROUGE-L, BLEU, sentence similarity: dev task6, EC-Guide's EPK and PKS), and
# generation's decoding has room for several multi-word phrases where NER's 15 tokens cut them.
KEYPHRASES = Cue(
    r"\bkey ?(?:[\w-]+ ){0,2}?(?:phrases?|words?|terms?|points?|features?|traits?|descriptors?|attributes?|characteristics?|aspects?|themes?|"
    r"elements?|details?|selling points?|concepts?|properties|qualities)\b"
    r"|\b(?:main|primary|principal|core|essential|important|salient|prominent|major|notable|defining|"
    r"distinctive|central|crucial|vital|relevant|pertinent|significant|top)\s(?:\w+\s)?(?:points?|"
    r"characteristics?|attributes?|features?|aspects?|themes?|elements?|details?|qualities|properties|"
    r"keywords?|terms?|phrases?|highlights?|ideas?|selling points?)\b"
    r"|\bkeyphrases?\b|\bkeywords?\b|\bpalabras? clave\b|\bmots?[- ]clés?\b|\bschlüssel(?:wörter|wort|begriffe?)\b|"
    r"\bschlagw(?:ö|o)rt\w*\b|\bparole chiave\b|\bpalavras?[- ]chave\b|\btrefwoord\w*\b|\bsłow\w* kluczow\w*\b|"
    r"キーワード|キーフレーズ|关键词|關鍵詞|关键短语|키워드|핵심어",
    ("key", "main", "primary", "principal", "core", "essential", "important", "salient", "prominent", "major",
     "notable", "defining", "distinctive", "central", "crucial", "vital", "relevant", "pertinent", "significant",
     "top", "palabra", "mot", "schlüssel", "schlagw", "parole", "palavra", "trefwoord", "kluczow", "キー", "关键",
     "關鍵", "키워드", "핵심어"),
)


@lru_cache(maxsize=256)  # the NER module asks the same question of the same instruction
def asks_for_keyphrases(instruction: str) -> bool:
    """The prompt asks for key phrases or keywords of a text (one rule, shared with the NER module)."""
    return KEYPHRASES.search(instruction) is not None


def asks_for(info: PromptInfo) -> int:
    """Explicit when the prompt asks for text ("write a query",
    "explain", "in one sentence") or for the key phrases of a text (strong when it lists candidates,
    so that picking or ranking listed keywords stays retrieval or ranking); the router also falls back
    to generation when no type is asked for at all. A worked-answer cue is weak."""
    text = info.instruction
    if asks_for_keyphrases(text):
        return EXPLICIT if info.n_candidates < 2 else STRONG
    if any_match(FREE_TEXT, text):
        return EXPLICIT
    return WEAK if WORKED_ANSWER.search(text) else NO


def decode_spec(info: PromptInfo, table: TokenTable) -> DecodeSpec:
    return DecodeSpec(max_new_tokens=MAX_NEW_TOKENS, logit_bias=none_penalty(table))


def cut(line: str) -> str:
    """``line`` up to the end of the sentence that brings it past 15 words (all of it if none does)."""
    for end in _SENTENCE_END.finditer(line):
        if len(line[: end.end()].split()) > CUT_AFTER_WORDS:
            return line[: end.end()].strip()
    return line.strip()


def read(text: str, info: PromptInfo) -> str:
    """The reply's first line that holds a word once an echoed label is dropped, cut; '' if none."""
    for line in (text if isinstance(text, str) else "").splitlines():
        line = _LABEL_ECHO.sub("", line.strip()).strip()
        if re.search(r"[^\W_]", line):  # a letter or digit: not only labels, punctuation or emoji
            return cut(line)
    return ""


def fallback(info: PromptInfo) -> str:
    """The text the instruction works on (the field it takes text from, a quoted title, else its own
    first words; see ``subject_text``), one line of at most 15 words: up to its last sentence end
    within them, else the first 15 (quoted text need not end where an answer would). The prompt's
    words are a better answer than '' (which always scores 0)."""
    subject = subject_text(info)
    if len(subject.split()) <= CUT_AFTER_WORDS:
        return subject or BLANK_PROMPT_ANSWER
    head = first_words(subject, CUT_AFTER_WORDS)
    ends = [m.end() for m in _SENTENCE_END.finditer(head + " ")]  # the space lets a final "." count
    return head[: ends[-1]].strip() if ends else head


def answer_of(text) -> str:
    return str(text).strip()


def problem(answer: str, info: PromptInfo) -> str | None:
    return None if answer.strip() else "the answer is empty"


def simulated_reply(truth, info: PromptInfo, rng, metric: str = "") -> str:
    """A truncated (sometimes gappy) reference, sometimes labelled or followed by a second line."""
    text = str(truth)
    if " " not in text.strip() or metric == "jp-bleu":
        text = text[: rng.randint(max(1, len(text) // 2), len(text))]
    else:
        words = text.split()
        words = words[: rng.randint(max(1, len(words) // 2), len(words))]
        if len(words) > 3 and rng.random() < 0.3:
            del words[rng.randrange(len(words))]
        text = " ".join(words)
    if rng.random() < 0.2:
        text = "Answer: " + text
    if rng.random() < 0.2:
        text += "\nI hope this helps."
    return text


TASK = Task(name=NAME, label=LABEL, asks_for=asks_for, decode_spec=decode_spec, read=read, fallback=fallback,
            answer_of=answer_of, problem=problem, answer_format="free text",
            simulated_reply=simulated_reply)
