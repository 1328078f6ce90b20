"""Seeds: products, queries and documents drawn from the sources' index types, in a seeded order
(each seed's own choices from a generator of its own, so a larger ``--limit`` repeats a smaller one).
"""
from __future__ import annotations

import random
from bisect import bisect_right
from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Callable, Hashable, Iterable

from training.data.sources import EsciIndex, EsciProduct, ItemMeta, M2Index, M2Product, ReviewsIndex, SourceData
from training.data.synthetic.extract import JUNK_VALUES, _words, cap, clean
from training.data.synthetic.prompts import (
    MAX_DETAILS_CHARS,
    MAX_DOC_CHARS,
    MAX_DOCS,
    MAX_TITLE_CHARS,
    QUERY_LIST_SIZE,
    QUERY_MIN_LIST,
)


PRODUCT_SOURCES = ("esci", "amazon_m2", "amazon_reviews_2023")


@dataclass(frozen=True)
class ProductText:
    """A product's text for prompts, from an EsciProduct, M2Product or ItemMeta."""

    source: str
    key: Hashable  # the source's lookup key: (locale, id) or parent_asin
    title: str
    details: tuple[str, ...]  # description, bullet points / features (cleaned, non-empty)
    attributes: tuple[tuple[str, str], ...]  # known (name, value) pairs

    @property
    def id(self) -> str:
        return f"{self.source}:{'/'.join(self.key) if isinstance(self.key, tuple) else self.key}"

    def text(self, limit: int = MAX_DETAILS_CHARS) -> str:
        return cap("\n".join(self.details), limit)


def _attrs(pairs: Iterable[tuple[str, Any]]) -> tuple[tuple[str, str], ...]:
    out = []
    for name, value in pairs:
        value = clean(value)
        if value.casefold() not in JUNK_VALUES and len(value) <= 60:
            out.append((name, value))
    return tuple(out)


def product_text(record) -> ProductText | None:
    """The prompt text of a source's product record; None for other records or an empty title."""
    if isinstance(record, EsciProduct):
        pt = ProductText("esci", (record.locale, record.product_id), cap(clean(record.title), MAX_TITLE_CHARS),
                         tuple(t for t in (clean(x) for x in (record.description, *record.bullet_points)) if t),
                         _attrs([("brand", record.brand), ("color", record.color)]))
    elif isinstance(record, M2Product):
        pt = ProductText("amazon_m2", (record.locale, record.id), cap(clean(record.title), MAX_TITLE_CHARS),
                         tuple(t for t in (clean(record.desc),) if t),
                         _attrs([(n, getattr(record, n)) for n in ("brand", "color", "size", "model", "material",
                                                                    "author")]))
    elif isinstance(record, ItemMeta):
        pt = ProductText("amazon_reviews_2023", record.parent_asin, cap(clean(record.title), MAX_TITLE_CHARS),
                         tuple(t for t in (clean(x) for x in (*record.features, *record.description)) if t),
                         _attrs([("store", record.store)]))
    else:
        return None
    return pt if pt.title else None


def _product_keys(index, rng: random.Random, k: int) -> list[Hashable]:
    """``k`` distinct product lookup keys sampled from a source index (fewer if it holds fewer)."""
    if isinstance(index, (EsciIndex, M2Index)):
        pools = [(loc, ids) for loc, ids in sorted(index.products_by_locale.items()) if ids]
        offsets, total = [], 0
        for _, ids in pools:
            offsets.append(total)
            total += len(ids)
        out: dict = {}
        for p in rng.sample(range(total), min(k, total)):
            i = bisect_right(offsets, p) - 1
            loc, ids = pools[i]
            out.setdefault((loc, ids[p - offsets[i]]), None)
        return list(out)
    if isinstance(index, ReviewsIndex):
        asins = sorted({r.parent_asin for r in index.reviews})
        return rng.sample(asins, min(k, len(asins)))
    raise ValueError(f"{type(index).__name__} holds no products (sources with products: {', '.join(PRODUCT_SOURCES)})")


def sample_products(data: SourceData, rng: random.Random, n: int, oversample: int = 1,
                    keep: Callable[[ProductText], bool] = lambda p: True) -> list[ProductText]:
    """Up to ``n`` products of a source, in a seeded order, read in one lookup pass."""
    keys = _product_keys(data.index, rng, n * oversample)
    found = data.lookup(set(keys)) if keys else {}
    out = []
    for key in keys:
        p = product_text(found.get(key))
        if p is not None and keep(p):
            out.append(p)
            if len(out) == n:
                break
    return out


@dataclass(frozen=True)
class AttributeSeed:
    product: ProductText
    attribute: str
    value: str

    @property
    def id(self) -> str:
        return f"{self.product.id}:{self.attribute}"


@dataclass(frozen=True)
class QuerySeed:
    source: str
    query_id: str
    query: str
    titles: tuple[str, ...]  # the listed products, numbered from 1

    @property
    def id(self) -> str:
        return f"{self.source}:{self.query_id}"


@dataclass(frozen=True)
class DocumentSeed:
    source: str
    key: str
    title: str
    documents: tuple[str, ...]

    @property
    def id(self) -> str:
        return f"{self.source}:{self.key}"


def _per_seed(salt: int, seed_id: str) -> random.Random:
    """A generator of one seed's own: what a seed asks does not depend on how many seeds are drawn,
    so a run with a larger --limit repeats the requests (and reuses the cache) of a smaller one."""
    return random.Random(f"{salt}:{seed_id}")


def attribute_seeds(data: SourceData, rng: random.Random, n: int) -> list[AttributeSeed]:
    salt = rng.getrandbits(64)  # drawn before the sample, so the same for every n
    products = sample_products(data, rng, n, oversample=2, keep=lambda p: bool(p.attributes))
    return [AttributeSeed(p, *p.attributes[_per_seed(salt, p.id).randrange(len(p.attributes))]) for p in products]


def query_seeds(data: SourceData, rng: random.Random, n: int) -> list[QuerySeed]:
    """ESCI queries, each with up to 8 products: its own judged products, then random ones of its locale."""
    index = data.index
    if not isinstance(index, EsciIndex):
        raise ValueError("query_products needs the esci source")
    salt = rng.getrandbits(64)  # drawn before the sample, so the same for every n
    queries = rng.sample(index.queries, min(n, len(index.queries)))
    plans = []
    for q in queries:
        rng = _per_seed(salt, f"esci:{q.query_id}")
        own = list(dict.fromkeys(pid for pid, _ in q.items))
        rng.shuffle(own)
        own = own[:QUERY_LIST_SIZE]
        pool = index.products_by_locale.get(q.locale, [])
        others: list[str] = []
        for _ in range(4 * QUERY_LIST_SIZE):
            if len(own) + len(others) >= QUERY_LIST_SIZE or not pool:
                break
            pid = pool[rng.randrange(len(pool))]
            if pid not in own and pid not in others:
                others.append(pid)
        listed = own + others
        rng.shuffle(listed)
        plans.append((q, listed))
    found = data.lookup({(q.locale, pid) for q, listed in plans for pid in listed})
    seeds = []
    for q, listed in plans:
        titles = []
        for pid in listed:
            p = product_text(found.get((q.locale, pid)))
            if p is not None:
                titles.append(p.title)
        if len(titles) >= QUERY_MIN_LIST and clean(q.query):
            seeds.append(QuerySeed("esci", str(q.query_id), clean(q.query), tuple(titles)))
    return seeds


def document_seeds(data: SourceData, rng: random.Random, n: int) -> list[DocumentSeed]:
    """Products with their description / bullet points, or (Amazon Reviews) an item with its reviews."""
    index = data.index
    if isinstance(index, ReviewsIndex):
        by_item: dict[str, list] = defaultdict(list)
        for r in index.reviews:
            if clean(r.text):
                by_item[r.parent_asin].append(r)
        asins = sorted(a for a, rs in by_item.items() if len(rs) >= 2)
        asins = rng.sample(asins, min(n, len(asins)))
        meta = data.lookup(set(asins)) if asins else {}
        seeds = []
        for a in asins:
            item = product_text(meta.get(a))
            docs = tuple(cap(clean(f"{r.title}. {r.text}" if clean(r.title) else r.text), MAX_DOC_CHARS)
                         for r in by_item[a][:MAX_DOCS])
            seeds.append(DocumentSeed("amazon_reviews_2023", a, item.title if item else "this product", docs))
        return seeds
    products = sample_products(data, rng, n, oversample=2,
                               keep=lambda p: len(_words(" ".join(p.details))) >= 15)
    return [DocumentSeed(p.source, p.id.split(":", 1)[1], p.title,
                         tuple(cap(d, MAX_DOC_CHARS) for d in p.details[:MAX_DOCS])) for p in products]
