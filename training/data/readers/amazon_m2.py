"""Amazon-M2 (KDD Cup 2023 multilingual session recommendation; AIcrowd challenge rules).

Files (AIcrowd "Amazon KDD Cup 2023" resources, and the public test parquets of HaitaoMao/Amazon-M2):

- ``sessions_train.csv`` (3.6M rows): ``prev_items, next_item, locale``. ``prev_items`` is the
  numpy repr of an array of ids, ``str(numpy.array([...]))``: ``['B07GTS7SWK' 'B07GTS7SWK']`` -
  space separated, single quoted, and wrapped with "\\n " after ~75 characters, so long sessions
  are quoted CSV cells that span several lines. ``sessions_test_task{1,2,3}.csv`` have no
  ``next_item``. Any ``sessions*.csv`` is read.
- ``products_train.csv`` (1.5M rows, ~1 GB of text): ``id, locale, title, price, brand, color,
  size, model, material, author, desc``; one row per (id, locale): the same id is listed in
  several locales, each with a title in that locale's language. ``products*.csv`` is read.
- the repository's test parquets (``dataset/task2/public_test/sessions_test.parquet``,
  ``dataset/task3/test/phrase1_sessions_test.parquet``...): ``prev_items`` a list of strings and
  ``locale``; the ground truth ``DONT_SHARE_gt_test.parquet`` holds ``next_item, locale`` row-aligned
  with its sessions file. Any ``*.parquet`` below the folder is read: files with ``prev_items`` are
  sessions, files with ``next_item`` only are ground truth, paired with the sessions file of the
  same folder that has as many rows and the same locale in every row.

Locales: DE, JP, UK, ES, FR, IT. Ids are ASINs (10 characters, digits and capitals); books have
their ISBN-10 (all digits, e.g. "4087210723") and an ``author``.

The index keeps sessions (a seeded reservoir sample of at most ``SESSION_CAP``, in file order) and,
from one streamed pass over ``id, locale, title`` of the products file, the product ids per locale
and the locales of each id. The lookup streams the products file once more (``BLOCK_SIZE`` bytes
at a time) and keeps only the requested ``(locale, id)`` keys.

Quirks: ``price`` is in the locale's currency and some rows carry the placeholder 40000000.07
(read as ""); many attributes are empty; ``desc`` may be empty or repeat the title. Ids are read as
strings (an ISBN may start with 0).

A file that cannot be read (empty, truncated parquet, bytes that are not UTF-8 in a CSV, a CSV
without the columns above) is recorded in ``stats.lost`` (``readers.files``): the rows read before
the fault are kept and the build goes on; a ground truth that cannot be read leaves its sessions
without ``next_item``.

Counted as malformed (``stats.skip``), never fatal: ``prev_items`` that is not a bracketed list
of quoted ids, that numpy shortened with "..." or that holds a non-id, a missing or bad
``next_item`` in a file that has the column, an unknown locale, a CSV row with the wrong number of
fields, a products row without id or title, a duplicate (id, locale) row, a ground-truth file
without a sessions file of the same length and locales beside it.
"""
from __future__ import annotations

import random
import re
from pathlib import Path

from training.data.readers import rows_with_ids
from training.data.readers.files import Fault, SourceFile, reading
from training.data.sources import M2Index, M2Product, M2Session, ReadStats, SourceData

LOCALES = ("DE", "JP", "UK", "ES", "FR", "IT")
SESSION_CAP = 200_000  # sessions kept in the index: builders draw <= 10k; 200k sessions ~ 60 MB
BLOCK_SIZE = 1 << 22  # bytes per streamed CSV block (4 MB; larger than any one row)
BATCH_SIZE = 65_536  # rows per streamed parquet batch
PRICE_PLACEHOLDER = "40000000.07"  # stands for "no price" in products_train.csv
PRODUCT_COLUMNS = ("id", "locale", "title", "price", "brand", "color", "size", "model", "material", "author", "desc")

_ID = re.compile(r"[0-9A-Z]{10}")
_QUOTED = re.compile(r"'([^']*)'|\"([^\"]*)\"")
_ID_LIST = re.compile(r"\[\s*'[0-9A-Z]{10}'(?:[\s,]+'[0-9A-Z]{10}')*\s*\]")  # the usual case, checked in one pass


def parse_prev_items(text) -> tuple[tuple[str, ...] | None, str]:
    """``"['B07GTS7SWK' 'B07GTS7SWK']"`` (numpy repr, possibly wrapped over lines, or a Python list
    repr with commas) -> (ids, "") or (None, reason)."""
    if not isinstance(text, str):
        return None, "prev_items missing"
    s = text.strip()
    if _ID_LIST.fullmatch(s):
        return tuple(s[1:-1].replace("'", " ").replace(",", " ").split()), ""
    if not (s.startswith("[") and s.endswith("]")):
        return None, "prev_items not a bracketed list"
    inner = s[1:-1]
    if "..." in _QUOTED.sub("", inner):
        return None, "prev_items shortened by numpy (...)"
    items = tuple(a or b for a, b in _QUOTED.findall(inner))
    if _QUOTED.sub("", inner).strip(" \t\r\n,"):
        return None, "prev_items has unquoted text"
    if not items:
        return None, "prev_items empty"
    if not all(_ID.fullmatch(i) for i in items):
        return None, "prev_items holds a non-id"
    return items, ""


class _Reservoir:
    """Algorithm R over the valid sessions, seeded; ``items()`` in the order they were read.

    ``slot()`` is asked for every valid session and says where it goes (-1: not kept), so that only
    kept sessions are built."""

    def __init__(self, cap: int, rng: random.Random):
        self.cap, self.rng, self.seen, self.kept = cap, rng, 0, []

    def slot(self) -> int:
        n = self.seen
        self.seen += 1
        if len(self.kept) < self.cap:
            self.kept.append(None)
            return len(self.kept) - 1
        j = self.rng.randrange(n + 1)
        return j if j < self.cap else -1

    def put(self, slot: int, item) -> None:
        self.kept[slot] = (self.seen - 1, item)

    def items(self) -> list:
        return [item for _, item in sorted(self.kept, key=lambda pair: pair[0])]


def _open_csv(path: Path, columns: dict, on_invalid):
    """A streaming pyarrow CSV reader of ``columns`` (all strings; "" stays "")."""
    import pyarrow as pa
    import pyarrow.csv as pcsv

    return pcsv.open_csv(
        path,
        read_options=pcsv.ReadOptions(block_size=BLOCK_SIZE),
        parse_options=pcsv.ParseOptions(newlines_in_values=True, invalid_row_handler=on_invalid),
        convert_options=pcsv.ConvertOptions(include_columns=list(columns), include_missing_columns=True,
                                            column_types={c: pa.string() for c in columns},
                                            strings_can_be_null=False))


def _header(f: SourceFile) -> list[str]:
    """The column names: the CSV's first line (a file that is empty or whose first line is not UTF-8 is a fault)."""
    import csv

    with f.open() as raw:
        first = raw.readline().decode("utf-8-sig")
    return [name.strip() for name in next(csv.reader([first]), [])]


def _counting_handler(stats: ReadStats):
    def on_invalid(row) -> str:
        stats.rows += 1
        stats.skip(f"a CSV row with {row.actual_columns} fields, not {row.expected_columns}")
        return "skip"

    return on_invalid


def _offer(stats: ReadStats, sample: _Reservoir, prev, next_item, locale, has_next: bool) -> None:
    """Check one session row, count it, and build it only if the sample keeps it."""
    stats.rows += 1
    if isinstance(prev, str):
        items, reason = parse_prev_items(prev)
    elif isinstance(prev, (list, tuple)):
        items = tuple(str(i).strip() for i in prev)
        reason = "" if items and all(_ID.fullmatch(i) for i in items) else "prev_items empty or holds a non-id"
    else:
        items, reason = None, "prev_items missing"
    if reason:
        stats.skip(reason)
        return
    if locale not in LOCALES:
        stats.skip("unknown locale")
        return
    if has_next:
        next_item = next_item.strip() if isinstance(next_item, str) else ""
        if not _ID.fullmatch(next_item):
            stats.skip("missing or bad next_item")
            return
    slot = sample.slot()
    if slot >= 0:
        sample.put(slot, M2Session(items, next_item if has_next else None, locale))


def _read_sessions_csv(path: Path, stats: ReadStats, sample: _Reservoir) -> None:
    with reading(path, stats) as f:  # a fault keeps the sessions read before it
        header = _header(f)
        if "prev_items" not in header or "locale" not in header:
            raise Fault("no prev_items or locale column")
        has_next = "next_item" in header
        reader = _open_csv(path, {"prev_items": 0, "next_item": 0, "locale": 0}, _counting_handler(stats))
        for batch in reader:
            cols = batch.to_pydict()
            for prev, nxt, locale in zip(cols["prev_items"], cols["next_item"], cols["locale"]):
                _offer(stats, sample, prev, nxt, locale.strip(), has_next)


def _read_sessions_parquets(folder: Path, stats: ReadStats, sample: _Reservoir) -> None:
    sessions, truths = [], []
    shape: dict[Path, tuple[list[str], int]] = {}  # column names, rows
    for path in sorted(Path(folder).rglob("*.parquet")):
        with reading(path, stats) as f:
            pf = f.parquet()
            names = pf.schema_arrow.names
            shape[path] = (names, pf.metadata.num_rows)
            if "prev_items" in names and "locale" in names:
                sessions.append(path)
            elif "next_item" in names:
                truths.append(path)
            else:
                stats.skip(f"{path.name}: neither sessions nor ground truth")

    def column(path: Path, name: str) -> list | None:
        """One column of a parquet file; None when the file fails (recorded in ``stats.lost``)."""
        values = None
        with reading(path, stats) as f:
            values = f.parquet().read(columns=[name]).column(name).to_pylist()
        return values

    pairs: dict[Path, Path] = {}
    for truth in truths:
        names, n = shape[truth]
        gt_locales = column(truth, "locale") if "locale" in names else None
        if "locale" in names and gt_locales is None:
            continue  # the ground truth could not be read: lost
        match = None
        for s in sessions:
            if s.parent != truth.parent or s in pairs.values() or "next_item" in shape[s][0]:
                continue
            if shape[s][1] != n:
                continue
            if gt_locales is None or column(s, "locale") == gt_locales:
                match = s
                break
        if match is None:
            stats.skip("ground-truth parquet without a matching sessions parquet")
        else:
            pairs[truth] = match
    truth_of = {s: t for t, s in pairs.items()}
    for path in sessions:
        # a ground truth that cannot be read leaves its sessions without next_item, like test sessions
        truth = column(truth_of[path], "next_item") if path in truth_of else None
        with reading(path, stats) as f:  # a fault keeps the sessions read before it
            pf = f.parquet()
            own_next = "next_item" in pf.schema_arrow.names
            columns = ["prev_items", "locale"] + (["next_item"] if own_next else [])
            offset = 0
            for batch in pf.iter_batches(batch_size=BATCH_SIZE, columns=columns):
                cols = batch.to_pydict()
                nexts = truth[offset:offset + batch.num_rows] if truth is not None else cols.get("next_item")
                offset += batch.num_rows
                has_next = nexts is not None
                for prev, nxt, locale in zip(cols["prev_items"], nexts or [None] * batch.num_rows, cols["locale"]):
                    _offer(stats, sample, prev, nxt, locale, has_next)


def read_sessions(folder: Path, stats: ReadStats, seed: int = 0) -> list[M2Session]:
    sample = _Reservoir(SESSION_CAP, random.Random(f"{seed}:amazon_m2:sessions"))
    for path in sorted(Path(folder).rglob("sessions*.csv")):
        _read_sessions_csv(path, stats, sample)
    _read_sessions_parquets(folder, stats, sample)
    return sample.items()


def product_files(folder: Path) -> list[Path]:
    return sorted(Path(folder).rglob("products*.csv"))


def read_product_index(paths: list[Path], stats: ReadStats) -> tuple[dict[str, list[str]], dict[str, tuple[str, ...]]]:
    by_locale: dict[str, list[str]] = {}
    locales_of: dict[str, list[str]] = {}
    for path in paths:
        with reading(path, stats) as f:  # a fault keeps the products read before it
            if not {"id", "locale", "title"} <= set(_header(f)):
                raise Fault("no id, locale or title column")
            for batch in _open_csv(path, {"id": 0, "locale": 0, "title": 0}, _counting_handler(stats)):
                cols = batch.to_pydict()
                for pid, locale, title in zip(cols["id"], cols["locale"], cols["title"]):
                    stats.rows += 1
                    pid, locale = pid.strip(), locale.strip()
                    if not pid:
                        stats.skip("product without id")
                    elif locale not in LOCALES:
                        stats.skip("unknown locale")
                    elif not title.strip():
                        stats.skip("product without title")
                    else:
                        listed = locales_of.setdefault(pid, [])
                        if locale in listed:
                            stats.skip("duplicate (id, locale) row")
                            continue
                        listed.append(locale)
                        by_locale.setdefault(locale, []).append(pid)
    return by_locale, {pid: tuple(locs) for pid, locs in locales_of.items()}


def _clean(value: str) -> str:
    return " ".join(value.split()) if value else ""


def read_products(paths: list[Path], keys: set, stats: ReadStats) -> dict[tuple[str, str], M2Product]:
    """The products of ``keys`` ((locale, id) pairs) in one streaming pass; rows were counted by the index."""
    wanted = {k for k in keys if isinstance(k, tuple) and len(k) == 2}
    if not wanted:
        return {}
    ids = {pid for _, pid in wanted}
    out: dict[tuple[str, str], M2Product] = {}
    for path in paths:
        with reading(path, stats) as f:  # a fault (recorded once per file) keeps the products found before it
            columns = [c for c in PRODUCT_COLUMNS if c in _header(f)]
            if not {"id", "locale", "title"} <= set(columns):
                continue  # recorded by the index
            for batch in _open_csv(path, {c: 0 for c in columns}, lambda row: "skip"):
                for row in rows_with_ids(batch, "id", ids):
                    key = (row["locale"].strip(), row["id"].strip())
                    title = _clean(row["title"])
                    if key not in wanted or key in out or not title:
                        continue  # duplicates and rows without a title were counted by the index
                    price = row.get("price", "").strip()
                    out[key] = M2Product(
                        id=key[1], locale=key[0], title=title, price="" if price == PRICE_PLACEHOLDER else price,
                        **{c: _clean(row.get(c, "")) for c in ("brand", "color", "size", "model", "material", "author")},
                        desc=_clean(row.get("desc", "")))
    missing = "requested product not read (a products file is lost from there)" \
        if any(stats.has_lost(path) for path in paths) else "requested product not in the products file"
    for _ in wanted - out.keys():
        stats.skip(missing)
    return out


def open_source(folder: Path, stats: ReadStats, seed: int = 0) -> SourceData:
    sessions = read_sessions(folder, stats, seed)
    paths = product_files(folder)
    if not paths:
        stats.skip("no products_train.csv")
    by_locale, locales_of = read_product_index(paths, stats)
    return SourceData("amazon_m2", M2Index(sessions, by_locale, locales_of), stats,
                      lambda keys: read_products(paths, keys, stats))
