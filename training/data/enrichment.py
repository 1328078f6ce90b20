"""Enrichment records: what ``shopbench synthetic enrich`` writes per product (product
type, category, entities found in its text) and how a build reads them back (:func:`load_enrichment`,
:func:`product_types` for ``build --enrichment``). Both ``training.data.build`` and
``training.data.synthetic`` import this module; it imports neither.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Hashable, Mapping


@dataclass(frozen=True)
class Enrichment:
    source: str
    key: Hashable  # the source's lookup key
    title: str
    product_type: str
    category: str
    entities: Mapping[str, tuple[str, ...]]
    dropped: int = 0  # entity values the LLM gave that the product's text does not contain

    def as_dict(self) -> dict:
        return {"source": self.source, "key": list(self.key) if isinstance(self.key, tuple) else self.key,
                "title": self.title, "product_type": self.product_type, "category": self.category,
                "entities": {k: list(v) for k, v in self.entities.items()}, "dropped": self.dropped}

    @classmethod
    def from_dict(cls, d: Mapping) -> "Enrichment":
        key = tuple(d["key"]) if isinstance(d["key"], list) else d["key"]
        return cls(d["source"], key, d.get("title", ""), d["product_type"], d["category"],
                   {k: tuple(v) for k, v in d["entities"].items()}, d.get("dropped", 0))


def load_enrichment(path: str | os.PathLike, source: str | None = None) -> dict[Hashable, Enrichment]:
    """Enrichment records by lookup key, from a file or a folder of ``enrichment_*.jsonl``.

    With ``source``: that source's records keyed by its own lookup key (``(locale, id)`` for esci
    and amazon_m2, ``parent_asin`` for amazon_reviews_2023), ready for a builder's ``lookup``;
    without: every record keyed by ``(source, key)``."""
    path = Path(path)
    files = sorted(path.glob("enrichment_*.jsonl")) if path.is_dir() else [path]
    out: dict[Hashable, Enrichment] = {}
    for f in files:
        with open(f, encoding="utf-8") as handle:
            for line in handle:
                if line.strip():
                    e = Enrichment.from_dict(json.loads(line))
                    if source is None:
                        out[(e.source, e.key)] = e
                    elif e.source == source:
                        out[e.key] = e
    return out


def product_types(path: str | os.PathLike, source: str) -> dict[Hashable, str]:
    """lookup key -> product type (``build --enrichment`` gives it to every builder of ``source``)."""
    return {k: e.product_type for k, e in load_enrichment(path, source).items()}
