"""The five official task types, one module each, in the order the router tries them.

Each module holds everything about its type: routing signal (``asks_for``), system-prompt
label, decode spec and tidy step. ``TASKS`` maps the official name to its :class:`Task`.
"""
from __future__ import annotations

from utilities.tasks import (
    generation,
    multiple_choice,
    named_entity_recognition,
    ranking,
    retrieval,
)
from utilities.tasks.base import PromptInfo, Task, analyse

# Routing order for prompts that are not multiple choice: the most specific ask first;
# generation accepts everything, so it comes last.
ROUTING_ORDER: tuple[Task, ...] = (
    ranking.TASK,
    retrieval.TASK,
    named_entity_recognition.TASK,
    generation.TASK,
)
TASKS: dict[str, Task] = {t.name: t for t in (multiple_choice.TASK, *ROUTING_ORDER)}
TASK_TYPES: tuple[str, ...] = tuple(TASKS)


def get_task(name: str) -> Task:
    try:
        return TASKS[name]
    except KeyError:
        raise KeyError(f"unknown task type {name!r}; known: {', '.join(TASK_TYPES)}") from None


__all__ = ["ROUTING_ORDER", "TASKS", "TASK_TYPES", "PromptInfo", "Task", "analyse", "get_task"]
