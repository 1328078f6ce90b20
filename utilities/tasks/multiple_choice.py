"""multiple-choice: one digit that is one of the offered options (metric: accuracy).

Routing signal: the grader's ``is_multiple_choice`` flag, which is true for exactly these tasks.
Options are the last numbered list that starts at 0, else the last numbered list (see offered); a
stated scale ("on a scale of 1 to 5": task15's star rating) adds its range; with neither, 0-5 (the
range of the dev answers).
The official parser reads only the first non-space character, so only options 0-9 can be answered.
"""
from __future__ import annotations

import re

from utilities.decoding import DecodeSpec, TokenTable, none_penalty
from utilities.parsers import parse
from utilities.tasks.base import NO, PromptInfo, Task

NAME = "multiple-choice"
LABEL = "multiple-choice question answering"
DEFAULT_OPTIONS = tuple(range(6))  # no list, no scale: the dev answers span 0..5
MAX_NEW_TOKENS = 1  # one digit is the whole answer


def asks_for(info: PromptInfo) -> int:
    """Never chosen from the text: the ``is_multiple_choice`` flag decides (see routing.route)."""
    return NO


def offered(info: PromptInfo) -> tuple[int, ...]:
    """The option numbers the answer may take (single digits only: the parser reads one character).

    The options are the last numbered list that starts at 0 (ShopBench numbers its options from 0),
    else the last numbered list: a list after the options ("Rules: 1. ... 2. ...") or inside a
    review ("Pros: 1. ... 2. ...") must not hide them. A stated scale ("1 to 5") adds its range,
    so a rating whose review holds a short numbered list can still get every star.
    """
    from_zero = [numbers for numbers in info.lists if numbers and numbers[0] == 0]
    chosen = from_zero[-1] if from_zero else (info.lists[-1] if info.lists else ())
    listed = {o for o in chosen if o <= 9}
    if info.scale is not None:
        lo, hi = info.scale
        listed |= set(range(lo, hi + 1))
    return tuple(sorted(listed)) if len(listed) >= 2 else DEFAULT_OPTIONS


def decode_spec(info: PromptInfo, table: TokenTable) -> DecodeSpec:
    allowed = tuple(i for d in offered(info) for i in table.digit_ids[str(d)])
    return DecodeSpec(
        max_new_tokens=MAX_NEW_TOKENS, allowed_token_ids=allowed, logit_bias=none_penalty(table)
    )


def read(text: str, info: PromptInfo) -> str:
    """The first offered digit in the reply (its first character when that is one); '' if none."""
    options = offered(info)
    for d in re.findall(r"\d", text if isinstance(text, str) else ""):
        if int(d) in options:
            return d
    return ""


def fallback(info: PromptInfo) -> str:
    """The first offered option."""
    return str(offered(info)[0])


def answer_of(truth) -> str:
    """The option number: 2 -> "2"."""
    return str(int(truth))


def problem(answer: str, info: PromptInfo) -> str | None:
    """One offered option digit, as the model is to write it ("10" would read as 1)."""
    if len(answer.strip()) != 1 or parse(NAME, answer) not in offered(info):
        return "the answer is not one offered option digit"
    return None


def simulated_reply(truth, info: PromptInfo, rng, metric: str = "") -> str:
    options = list(offered(info))
    pick = truth if truth in options and rng.random() < 0.6 else rng.choice(options)
    text = info.option_texts[info.options.index(pick)] if pick in info.options else ""
    return rng.choice(("{d}", " {d}", "{d}.", "Answer: {d}", "{d}. {text}")).format(d=pick, text=text)


TASK = Task(name=NAME, label=LABEL, asks_for=asks_for, decode_spec=decode_spec, read=read, fallback=fallback,
            answer_of=answer_of, problem=problem, answer_format="the number of one option",
            simulated_reply=simulated_reply)
