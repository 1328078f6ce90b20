"""ESCI, the Shopping Queries Dataset (amazon-science/esci-data, KDD Cup 2022; Apache-2.0).

Two parquet files, as downloaded from the repository (Git LFS, under ``shopping_queries_dataset/``):

- ``shopping_queries_dataset_examples.parquet`` (~51 MB, 2.6M rows): ``example_id, query, query_id,
  product_id, product_locale (us|es|jp), esci_label (E|S|C|I), small_version, large_version,
  split (train|test)``. One row per judged (query, product) pair; a query has ~20 rows.
- ``shopping_queries_dataset_products.parquet`` (~1.1 GB): ``product_id, product_title,
  product_description, product_bullet_point, product_brand, product_color, product_locale``.

The two join on ``(product_locale, product_id)``: the same ASIN is listed in several locales with a
title in each locale's language, so the id alone is not a key.

The *index* reads the examples (column projection, streamed in batches) and groups them by
``query_id`` into ``EsciQuery`` rows (queries and their items in file order) plus every judged
product id per locale (in the order the queries list them).
The *lookup* streams the products file once (``iter_batches``, ``BATCH_SIZE`` rows at a time) and
keeps only the requested ``(locale, product_id)`` keys: the 1.1 GB file is never loaded whole.

Quirks:
- queries are real user input: leading/trailing spaces (" revent 80 cfm"), typos
  ("!awnmower tires without rims"), mixed scripts; they are stripped of outer whitespace only.
- ``product_bullet_point`` is one string with the bullets separated by new lines (some empty);
  it is split into a tuple, empty bullets dropped.
- ``product_description`` often holds HTML (``<p>``, ``<br>``, ``&amp;``): tags become spaces,
  entities are unescaped, whitespace is collapsed. Many products have no description, bullets,
  brand or color (null): those become "" / ().
- many judged products are missing from the products file (a left join in the official code);
  the lookup simply has no entry for them (counted as "requested product not in the products file").

A file that cannot be read (empty, truncated, not parquet, without the columns above) is recorded
in ``stats.lost`` (``readers.files``): the rows read before the fault are kept, the build goes on.

Counted as malformed (``stats.skip``), never fatal: unknown ``esci_label`` or ``product_locale``,
missing ``product_id`` or ``query_id``, an empty query, a (query, product) pair judged twice, a
``query_id`` seen with another locale; in the lookup a product without a title and a duplicate
product row.
"""
from __future__ import annotations

import html
import re
from pathlib import Path

from training.data.readers import rows_with_ids
from training.data.readers.files import Fault, SourceFile, reading
from training.data.sources import ESCI_RELEVANCE, EsciIndex, EsciProduct, EsciQuery, ReadStats, SourceData

EXAMPLES = "shopping_queries_dataset_examples.parquet"
PRODUCTS = "shopping_queries_dataset_products.parquet"
LOCALES = ("us", "es", "jp")
EXAMPLE_BATCH_SIZE = 65_536  # example rows per streamed batch (~100 bytes each)
BATCH_SIZE = 16_384  # product rows per streamed batch of the lookup (~2 KB of text each: ~30 MB at a time)
READ_BUFFER = 1 << 20  # bytes: column chunks are read through a buffer, page by page, not loaded whole
EXAMPLE_COLUMNS = ("query_id", "query", "product_id", "product_locale", "esci_label", "split")
PRODUCT_COLUMNS = ("product_id", "product_title", "product_description", "product_bullet_point",
                   "product_brand", "product_color", "product_locale")

# Texts are kept to these lengths in memory: no builder shows more than 900 characters of a
# description or 250 of a bullet, and ~800k looked-up products must fit the build's 4 GB.
KEEP_DESCRIPTION = 2000
KEEP_BULLET = 500
_TAG = re.compile(r"</?[A-Za-z][^<>]*>")
_SPACE = re.compile(r"\s+")


def clean_text(value) -> str:
    """HTML tags to spaces, entities unescaped, whitespace collapsed; None -> ""."""
    if not isinstance(value, str):
        return ""
    if "<" in value:
        value = _TAG.sub(" ", value)
    if "&" in value:
        value = html.unescape(value)
    return _SPACE.sub(" ", value).strip()


def bullet_points(value) -> tuple[str, ...]:
    """``product_bullet_point``: one string, bullets separated by new lines."""
    if not isinstance(value, str):
        return ()
    return tuple(b for b in (clean_text(line) for line in value.splitlines()) if b)


def find_file(folder: Path, name: str) -> Path | None:
    """``name`` directly in the folder, or anywhere below it (the repository keeps the files in a subfolder)."""
    direct = Path(folder) / name
    if direct.is_file():
        return direct
    found = sorted(Path(folder).rglob(name))
    return found[0] if found else None


def _query_id(value):
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


def read_index(path: Path, stats: ReadStats) -> EsciIndex:
    """The queries of the examples file; a fault of the file keeps the queries of the rows before it
    (recorded in ``stats.lost``)."""
    groups: dict[int, list] = {}  # query_id -> [query, locale, split, [(product id, label), ...]]
    with reading(path, stats) as f:
        _read_examples(f, stats, groups)
    return _index(groups, stats)


def _read_examples(f: SourceFile, stats: ReadStats, groups: dict[int, list]) -> None:
    pf = f.parquet(buffer_size=READ_BUFFER)
    names = set(pf.schema_arrow.names)
    missing = set(EXAMPLE_COLUMNS) - {"split"} - names
    if missing:
        raise Fault(f"no column {sorted(missing)}")
    columns = [c for c in EXAMPLE_COLUMNS if c in names]
    for batch in pf.iter_batches(batch_size=EXAMPLE_BATCH_SIZE, columns=columns):
        cols = batch.to_pydict()
        splits = cols.get("split") or ["train"] * batch.num_rows
        for qid, query, pid, locale, label, split in zip(cols["query_id"], cols["query"], cols["product_id"],
                                                          cols["product_locale"], cols["esci_label"], splits):
            stats.rows += 1
            qid = _query_id(qid)
            query = query.strip() if isinstance(query, str) else ""
            pid = pid.strip() if isinstance(pid, str) else ""
            if qid is None:
                stats.skip("missing query_id")
            elif not query:
                stats.skip("empty query")
            elif not pid:
                stats.skip("missing product_id")
            elif locale not in LOCALES:
                stats.skip("unknown product_locale")
            elif label not in ESCI_RELEVANCE:
                stats.skip("unknown esci_label")
            else:
                group = groups.get(qid)
                if group is None:
                    group = groups[qid] = [query, locale, split or "train", []]
                elif group[1] != locale:
                    stats.skip("query_id seen with another locale")
                    continue
                group[3].append((pid, label))


def _index(groups: dict[int, list], stats: ReadStats) -> EsciIndex:
    queries: list[EsciQuery] = []
    by_locale: dict[str, dict[str, None]] = {loc: {} for loc in LOCALES}
    for qid, group in groups.items():
        query, locale, split, items = group
        group[3] = None  # free each query's list as its tuple is made
        seen: set[str] = set()
        kept = []
        for item in items:
            if item[0] in seen:
                stats.skip("query-product pair judged twice")
                continue
            seen.add(item[0])
            kept.append(item)
            by_locale[locale][item[0]] = None
        queries.append(EsciQuery(qid, query, locale, split, tuple(kept)))
    return EsciIndex(queries, {loc: list(pids) for loc, pids in by_locale.items() if pids})


def read_products(path: Path | None, keys: set, stats: ReadStats) -> dict[tuple[str, str], EsciProduct]:
    """The products of ``keys`` ((locale, product_id) pairs), in one streaming pass over the file."""
    wanted = {k for k in keys if isinstance(k, tuple) and len(k) == 2}
    if not wanted:
        return {}
    if path is None:
        stats.skip(f"no {PRODUCTS}")
        return {}
    out: dict[tuple[str, str], EsciProduct] = {}
    seen: set = set()
    with reading(path, stats) as f:  # a fault keeps the products found before it
        _read_products(f, wanted, stats, out, seen)
    missing = "requested product not read (the products file is lost from there)" if stats.has_lost(path) \
        else "requested product not in the products file"
    for _ in wanted - seen:
        stats.skip(missing)
    return out


def _read_products(f: SourceFile, wanted: set, stats: ReadStats, out: dict, seen: set) -> None:
    pf = f.parquet(buffer_size=READ_BUFFER)
    names = set(pf.schema_arrow.names)
    if not {"product_id", "product_locale", "product_title"} <= names:
        raise Fault("no product_id, product_locale or product_title column")
    columns = [c for c in PRODUCT_COLUMNS if c in names]
    ids = {pid for _, pid in wanted}
    for batch in pf.iter_batches(batch_size=BATCH_SIZE, columns=columns):
        stats.rows += batch.num_rows
        for row in rows_with_ids(batch, "product_id", ids):
            key = (row.get("product_locale"), row["product_id"])
            if key not in wanted:
                continue
            if key in seen:
                stats.skip("duplicate product row")
                continue
            seen.add(key)
            title = clean_text(row.get("product_title"))
            if not title:
                stats.skip("product without title")
                continue
            out[key] = EsciProduct(
                product_id=key[1], locale=key[0], title=title,
                description=clean_text(row.get("product_description"))[:KEEP_DESCRIPTION],
                bullet_points=tuple(b[:KEEP_BULLET] for b in bullet_points(row.get("product_bullet_point"))),
                brand=clean_text(row.get("product_brand")), color=clean_text(row.get("product_color")))


def open_source(folder: Path, stats: ReadStats, seed: int = 0) -> SourceData:
    examples = find_file(folder, EXAMPLES)
    if examples is None:
        stats.skip(f"no {EXAMPLES}")
        index = EsciIndex([], {})
    else:
        index = read_index(examples, stats)
    products = find_file(folder, PRODUCTS)
    return SourceData("esci", index, stats, lambda keys: read_products(products, keys, stats))
