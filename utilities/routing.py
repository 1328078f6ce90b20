"""Route a prompt to its official task type from the text and the ``is_multiple_choice`` flag alone.

The grader gives no task type. ``is_multiple_choice`` settles multiple choice; otherwise every task
module rates how strongly the prompt asks for its type (``asks_for``: no, weak, strong, explicit),
the strongest wins, ties go to the earlier type in ``ROUTING_ORDER`` (ranking, retrieval, named
entity recognition), and generation takes every prompt that asks for none of them. Signals are read from what the prompt asks for (its instruction,
outside the numbered list), not from strings of the 96 dev questions.

    >>> route_task("Rank the 3 products by relevance to 'usb hub'.\\n1. a\\n2. b\\n3. c", False)
    'ranking'
"""
from __future__ import annotations

from dataclasses import dataclass

from utilities.tasks import ROUTING_ORDER, TASKS, PromptInfo, Task, analyse
from utilities.tasks.base import EXPLICIT, NO


@dataclass(frozen=True)
class Route:
    task: Task
    info: PromptInfo

    @property
    def task_type(self) -> str:
        return self.task.name

    @property
    def n_candidates(self) -> int:
        return self.info.n_candidates


def route(prompt: str, is_multiple_choice: bool) -> Route:
    """The task (with the prompt read once) that should answer ``prompt``."""
    info = analyse(prompt if isinstance(prompt, str) else "")
    if is_multiple_choice:
        return Route(TASKS["multiple-choice"], info)
    best, chosen = NO, TASKS["generation"]
    for task in ROUTING_ORDER:  # the strongest ask wins; a tie goes to the earlier type
        strength = task.asks_for(info)
        if strength > best:
            best, chosen = strength, task
            if best == EXPLICIT:  # no later type can outbid it
                break
    return Route(chosen, info)


def route_task(prompt: str, is_multiple_choice: bool) -> str:
    """One of: multiple-choice, ranking, retrieval, named_entity_recognition, generation."""
    return route(prompt, is_multiple_choice).task_type
