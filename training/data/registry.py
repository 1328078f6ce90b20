"""The dataset registry: ``@register`` a ``Builder`` under its name, source, task type and seed size.

A builder turns seeds sampled from a source's index into ShopBench-style questions::

    @register("esci_query_product_ranking", source="esci", task_type="ranking", size=16_728)
    class QueryProductRanking(Builder):
        '''Rank 5 products for a query (dev task12). Source, licence, one example, quirks.'''
        instructions = ("...{query}...", "...")          # several wordings, picked per question

        def seeds(self, index, rng, n): ...               # n seeds, deterministic for rng
        def needs(self, seed): ...                        # lookup keys (default: none)
        def question(self, seed, lookup, rng): ...        # a Question, or raise Skip("reason")

The build (``training/data/build.py``) calls them in that order; ``rows.py`` has the shared
helpers (numbered lists, shuffled options, answers in the official formats).

Two registries: ``DATASETS`` holds the 38 seed datasets (the winners' set, docs/datasets.md), which a
build without ``--only``/``--blend`` and a blend's ``"*"`` cover; ``EXTRA_DATASETS`` holds datasets
registered with ``seed_set=False`` (EC-Guide's), which join a build only by name (``--only``, or a
blend that names them). ``load_builders()`` returns the seed datasets, ``load_builders(extra=True)``
both.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any, ClassVar, Hashable, Iterable, Mapping

from training.data.sources import SOURCES
from utilities.grader import is_multiple_choice
from utilities.tasks import TASK_TYPES


@dataclass(frozen=True)
class Question:
    prompt: str
    answer: str


class Skip(Exception):
    """This seed gives no question; the message is the reason, counted in the build's report."""


class Builder:
    name: ClassVar[str]
    source: ClassVar[str]
    task_type: ClassVar[str]
    size: ClassVar[int]  # the seed size of the winners' dataset (docs/datasets.md)
    seed_set: ClassVar[bool] = True  # one of the 38 seed datasets; False: an extra, built only by name
    instructions: ClassVar[tuple[str, ...]] = ()
    # lookup key -> product type from an enrichment file (synthetic/enrich.py; build --enrichment);
    # empty without one. Builders that can ask about product types use it when it is there.
    product_types: Mapping[Hashable, str] = {}

    def seeds(self, index: Any, rng: random.Random, n: int) -> list:
        raise NotImplementedError

    def needs(self, seed: Any) -> Iterable[Hashable]:
        return ()

    def question(self, seed: Any, lookup: Mapping, rng: random.Random) -> Question:
        raise NotImplementedError

    @property
    def is_multiple_choice(self) -> bool:
        return is_multiple_choice(self.task_type)


DATASETS: dict[str, type[Builder]] = {}  # the 38 seed datasets
EXTRA_DATASETS: dict[str, type[Builder]] = {}  # registered with seed_set=False


def register(name: str, *, source: str, task_type: str, size: int, seed_set: bool = True):
    """Class decorator: add a builder to ``DATASETS`` (``seed_set=False``: to ``EXTRA_DATASETS``) with
    its name, source, task type and size."""
    if source not in SOURCES:
        raise ValueError(f"{name}: unknown source {source!r}; known: {', '.join(SOURCES)}")
    if task_type not in TASK_TYPES:
        raise ValueError(f"{name}: unknown task type {task_type!r}; known: {', '.join(TASK_TYPES)}")

    def decorate(cls: type[Builder]) -> type[Builder]:
        if name in DATASETS or name in EXTRA_DATASETS:
            raise ValueError(f"dataset {name!r} is registered twice")
        if not (cls.__doc__ or "").strip():
            raise ValueError(f"{name}: a builder's docstring names its source, licence, an example and quirks")
        cls.name, cls.source, cls.task_type, cls.size, cls.seed_set = name, source, task_type, size, seed_set
        (DATASETS if seed_set else EXTRA_DATASETS)[name] = cls
        return cls

    return decorate


def load_builders(extra: bool = False) -> dict[str, type[Builder]]:
    """Import every builder module (which registers its builders) and return the seed datasets;
    with ``extra``, the extra datasets after them."""
    import importlib
    import pkgutil

    import training.data.builders as package

    for module in pkgutil.iter_modules(package.__path__):
        importlib.import_module(f"{package.__name__}.{module.name}")
    return {**DATASETS, **EXTRA_DATASETS} if extra else DATASETS


def summary(cls: type[Builder]) -> str:
    return (cls.__doc__ or "").strip().splitlines()[0]
