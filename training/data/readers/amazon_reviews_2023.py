"""Amazon Reviews 2023 (McAuley Lab, amazon-reviews-2023.github.io; research use, no licence stated).

Files, JSON Lines, plain or gzipped (the site serves ``.jsonl.gz``; the HF repo ``raw/`` has ``.jsonl``):

- reviews ``<Category>.jsonl[.gz]`` (``raw/review_categories/``), one review per line: ``rating``
  (float 1-5), ``title``, ``text``, ``images``, ``asin``, ``parent_asin``, ``user_id``,
  ``timestamp`` (int, **milliseconds**), ``helpful_vote`` (int), ``verified_purchase`` (bool).
- item metadata ``meta_<Category>.jsonl[.gz]`` (``raw/meta_categories/``): ``main_category``,
  ``title``, ``average_rating``, ``rating_number``, ``features`` (list), ``description`` (list),
  ``price``, ``images``, ``videos``, ``store``, ``categories`` (list, often empty), ``details``
  (dict), ``parent_asin``, ``bought_together``. No ``asin``: reviews join metadata on ``parent_asin``
  (a review's ``asin`` is the variant bought). Some items have no metadata.

The index holds, per review file, a seeded reservoir sample of at most ``REVIEWS_PER_CATEGORY``
valid reviews (Algorithm R, ``random.Random(f"{seed}:{category}")``, kept in file order), so the
same seed gives the same sample, from a plain or a gzipped copy alike. A file is read once; only
the lines the sample draws are parsed as JSON: every line of a file shorter than the cap (so its
malformed lines are all counted), ~cap * ln(lines / cap) lines of a larger one (malformed lines
are counted among those; ``stats.rows`` counts every line read).
The lookup (keys: ``parent_asin``) streams the meta files once: a line's ``parent_asin`` is found
with a regular expression and only the requested lines are parsed as JSON.

Quirks: review ``text`` and ``title`` contain HTML line breaks (``<br />``) and entities
(``&#34;``): breaks become new lines, entities are unescaped. Ratings are floats (5.0).
``categories`` is empty for most items of some categories (All_Beauty); ``price`` may be null or a
string; ``store`` may be null. Files are large (Home_and_Kitchen reviews: 67M lines, ~25 GB).

Counted as malformed (``stats.skip``), never fatal: a line that is not JSON or not an object, a
rating missing or outside 1-5, a missing ``parent_asin``, a review with neither title nor text, a
bad ``timestamp``; in the lookup a requested item whose metadata line is broken or has no title,
a meta line without ``parent_asin`` that is not JSON, and a requested item without metadata.
Recorded as lost (``stats.lost``, the file named; ``readers.files``): a file that is empty, not
gzip or truncated (the lines before the fault are kept), and lines that are not UTF-8 (dropped).
"""
from __future__ import annotations

import html
import json
import random
import re
from pathlib import Path

from training.data.readers.files import reading
from training.data.sources import ItemMeta, ReadStats, Review, ReviewsIndex, SourceData

# Reviews kept per category file. The four reviews builders emit ~37k rows over all categories
# together, each drawing a handful of reviews per row; 50k per category gives ample distinct seeds
# while a category costs ~50 MB in memory however large its file (tens of millions of lines).
REVIEWS_PER_CATEGORY = 50_000
SUFFIXES = (".jsonl.gz", ".jsonl", ".json.gz", ".json")

_BREAK = re.compile(r"<br\s*/?>", re.IGNORECASE)
_PARENT = re.compile(r'"parent_asin"\s*:\s*"([^"\\]*)"')


def category_of(path: Path) -> tuple[str, bool] | None:
    """(category, is_meta) from ``All_Beauty.jsonl.gz`` / ``meta_All_Beauty.jsonl``; None for other files."""
    name = path.name
    for suffix in SUFFIXES:
        if name.endswith(suffix):
            stem = name[: -len(suffix)]
            if stem.startswith("meta_"):
                return stem[len("meta_"):], True
            return stem, False
    return None


def clean_text(value) -> str:
    if not isinstance(value, str):
        return ""
    if "<" in value:
        value = _BREAK.sub("\n", value)
    if "&" in value:
        value = html.unescape(value)
    return "\n".join(" ".join(part.split()) for part in value.strip().splitlines()).strip()


def _number(value) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _int(value, default=None):
    n = _number(value)
    return int(n) if n is not None and n == n else default


def parse_review(line: str, category: str, stats: ReadStats) -> Review | None:
    try:
        obj = json.loads(line)
    except ValueError:
        stats.skip("non-JSON line")
        return None
    if not isinstance(obj, dict):
        stats.skip("not a JSON object")
        return None
    rating = _number(obj.get("rating"))
    parent = obj.get("parent_asin")
    parent = parent.strip() if isinstance(parent, str) else ""
    title, text = clean_text(obj.get("title")), clean_text(obj.get("text"))
    timestamp = _int(obj.get("timestamp"))
    if rating is None or not 1.0 <= rating <= 5.0:
        stats.skip("rating missing or outside 1-5")
    elif not parent:
        stats.skip("missing parent_asin")
    elif not title and not text:
        stats.skip("review with neither title nor text")
    elif timestamp is None or timestamp < 0:
        stats.skip("bad timestamp")
    else:
        asin = obj.get("asin")
        user = obj.get("user_id")
        return Review(category=category, rating=rating, title=title, text=text,
                      asin=asin.strip() if isinstance(asin, str) and asin.strip() else parent, parent_asin=parent,
                      user_id=user.strip() if isinstance(user, str) else "", timestamp=timestamp,
                      helpful_vote=max(0, _int(obj.get("helpful_vote"), 0)),
                      verified_purchase=obj.get("verified_purchase") is True)
    return None


def sample_reviews(path: Path, category: str, stats: ReadStats, seed: int, cap: int | None = None) -> list[Review]:
    """A reservoir sample of at most ``cap`` (default ``REVIEWS_PER_CATEGORY``) valid reviews of one file, in
    file order; deterministic for ``seed``.

    Algorithm R over the lines: the first ``cap`` valid reviews fill the sample, then line ``i`` replaces a
    random slot with probability ``cap / (i + 1)``. Only the lines the sample takes are parsed (every line
    of a file shorter than the cap), so a 60M-line file costs a read, not 60M ``json.loads``; a drawn line
    that is malformed is counted and leaves its slot as it was."""
    cap = REVIEWS_PER_CATEGORY if cap is None else cap
    rng = random.Random(f"{seed}:{category}")
    kept: list[tuple[int, Review]] = []
    with reading(path, stats) as f:  # a fault (truncated gzip) keeps the sample of the lines before it
        for number, line in enumerate(f.lines()):
            stats.rows += 1
            if len(kept) < cap:
                review = parse_review(line, category, stats)
                if review is not None:
                    kept.append((number, review))
                continue
            j = rng.randrange(number + 1)
            if j < cap:
                review = parse_review(line, category, stats)
                if review is not None:
                    kept[j] = (number, review)
    kept.sort(key=lambda pair: pair[0])
    return [review for _, review in kept]


def _strings(value) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        return ()
    return tuple(s for s in (clean_text(v) for v in value if isinstance(v, str)) if s)


def parse_meta(obj: dict, category: str) -> ItemMeta | None:
    title = clean_text(obj.get("title"))
    if not title:
        return None
    store, main = obj.get("store"), obj.get("main_category")
    rating_number = _int(obj.get("rating_number"))
    return ItemMeta(parent_asin=obj["parent_asin"].strip(), category=category,
                    main_category=main.strip() if isinstance(main, str) else "", title=title,
                    features=_strings(obj.get("features")), description=_strings(obj.get("description")),
                    categories=_strings(obj.get("categories")),
                    store=store.strip() if isinstance(store, str) else "",
                    average_rating=_number(obj.get("average_rating")), rating_number=rating_number)


def read_meta(paths: list[tuple[Path, str]], keys: set, stats: ReadStats) -> dict[str, ItemMeta]:
    """Metadata of the requested ``parent_asin`` keys, in one pass over the meta files."""
    wanted = {k for k in keys if isinstance(k, str)}
    out: dict[str, ItemMeta] = {}
    done: set[str] = set()
    for path, category in paths:
        if len(done) == len(wanted):
            break
        with reading(path, stats) as f:
            for line in f.lines():
                stats.rows += 1
                found = _PARENT.search(line)
                key = found.group(1) if found else None
                if key is not None and (key not in wanted or key in done):
                    continue
                try:
                    obj = json.loads(line)
                except ValueError:
                    stats.skip("broken meta line of a requested item" if key else "meta line neither JSON nor with parent_asin")
                    if key:
                        done.add(key)
                    continue
                parent = obj.get("parent_asin") if isinstance(obj, dict) else None
                if not isinstance(parent, str) or not parent.strip():
                    stats.skip("meta line without parent_asin")
                    continue
                if parent.strip() not in wanted or parent.strip() in done:
                    continue
                done.add(parent.strip())
                meta = parse_meta(obj, category)
                if meta is None:
                    stats.skip("meta without title")
                else:
                    out[meta.parent_asin] = meta
    missing = "requested item without metadata (a meta file is lost)" \
        if any(stats.has_lost(path) for path, _ in paths) else "requested item without metadata"
    for _ in wanted - done:
        stats.skip(missing)
    return out


def open_source(folder: Path, stats: ReadStats, seed: int = 0) -> SourceData:
    reviews: list[Review] = []
    metas: list[tuple[Path, str]] = []
    for path in sorted(p for p in Path(folder).rglob("*") if p.is_file()):
        kind = category_of(path)
        if kind is None:
            continue
        category, is_meta = kind
        if is_meta:
            metas.append((path, category))
        else:
            reviews += sample_reviews(path, category, stats, seed)
    if not reviews:
        stats.skip("no review files (<Category>.jsonl[.gz])")
    return SourceData("amazon_reviews_2023", ReviewsIndex(reviews), stats, lambda keys: read_meta(metas, keys, stats))
