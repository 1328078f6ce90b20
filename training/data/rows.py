"""From a question to a training row, and the helpers builders share to write questions.

A row is the chat the model trains on, made by ``utilities.prompting.messages``: the same system
prompt per task type and the same user text as at inference, so rendering a row with the
tokenizer's chat template gives the inference prompt byte for byte, followed by the answer::

    {"messages": [system, user, assistant], "dataset": ..., "task_type": ..., "source": ...}

Every row is checked before it is written: the official parser reads its answer, the answer is
well formed for its type (an offered option, a permutation of the listed candidates, distinct
listed numbers), and the router sends its prompt to the builder's task type, so that inference
gives it the system prompt it was trained with.
"""
from __future__ import annotations

import random
from typing import Hashable, Iterable, Sequence, TypeVar

from training.data.registry import Builder, Question, Skip
from utilities.prompting import messages
from utilities.grader import is_multiple_choice
from utilities.routing import route
from utilities.tasks import ranking, retrieval

T = TypeVar("T")


# ---- writing questions --------------------------------------------------------------------------

def numbered(items: Sequence[str], start: int = 1) -> str:
    """"1. a\\n2. b" (``start=0`` for multiple-choice options)."""
    return "\n".join(f"{i}. {one_line(item)}" for i, item in enumerate(items, start=start))


def one_line(text: str) -> str:
    """Whitespace collapsed, so that an item never spans lines of a numbered list."""
    return " ".join(str(text).split())


def shuffled_options(correct: T, distractors: Sequence[T], rng: random.Random) -> tuple[list[T], int]:
    """The options in a seeded random order, and the index of the correct one."""
    options = [correct, *distractors]
    order = list(range(len(options)))
    rng.shuffle(order)
    return [options[i] for i in order], order.index(0)


def sample_distinct(pool: Sequence[T], k: int, rng: random.Random, exclude: Iterable[Hashable] = (),
                    key=lambda x: x) -> list[T]:
    """Up to ``k`` items of ``pool`` with distinct keys, none in ``exclude``, drawn at random (never a
    shuffle of the pool: pools hold up to millions of ids); fewer when the draws come up short."""
    out: list[T] = []
    seen = set(exclude)  # keys
    for _ in range(20 * k + 20):
        if len(out) == k or not pool:
            break
        item = pool[rng.randrange(len(pool))]
        if key(item) not in seen:
            seen.add(key(item))
            out.append(item)
    return out


def pick_distinct(pool: Sequence[T], k: int, rng: random.Random, exclude: Iterable[Hashable] = (),
                  key=lambda x: x) -> list[T]:
    """Exactly ``k`` items of ``pool`` with distinct keys, none in ``exclude``; Skip if the pool does
    not hold that many."""
    exclude = set(exclude)
    out = sample_distinct(pool, k, rng, exclude, key)
    if len(out) < k:  # unlucky draws or a small pool: pick from the distinct remainder, exactly
        taken = exclude | {key(x) for x in out}
        rest = list({key(x): x for x in pool if key(x) not in taken}.values())
        if len(out) + len(rest) < k:
            raise Skip(f"fewer than {k} distinct distractors")
        out += rng.sample(rest, k - len(out))
    return out


def choose(rng: random.Random, wordings: Sequence[str], **fields) -> str:
    """One of a builder's instruction wordings, filled in."""
    return rng.choice(wordings).format(**fields)


# how an answer is written is its task's rule (``Task.answer_of``); the builders' names for two of them
ranking_answer = ranking.answer_of  # relevances -> "1, 4, 3, 2, 5": most relevant first, ties in listed order
numbers_answer = retrieval.answer_of  # [3, 8, 9] -> "3, 8, 9"


# ---- checking and writing rows ------------------------------------------------------------------

def check(builder: type[Builder] | Builder, q: Question) -> None:
    """Skip a question whose answer the official rules would not read as intended."""
    task_type = builder.task_type
    r = route(q.prompt, is_multiple_choice(task_type))
    if r.task_type != task_type:
        raise Skip(f"the router reads the prompt as {r.task_type}")
    why = r.task.problem(q.answer, r.info)
    if why:
        raise Skip(why)


def to_row(builder: type[Builder] | Builder, q: Question) -> dict:
    return {
        "messages": messages(q.prompt, builder.task_type, q.answer),
        "dataset": builder.name,
        "task_type": builder.task_type,
        "source": builder.source,
    }
