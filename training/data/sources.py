"""What each source's reader yields: a light in-memory *index* to sample from, and a *lookup* of
heavy records (product texts, review metadata) streamed once for the keys the builders need.

Builders sample seeds from ``SourceData.index``, say which keys they need, and the build reads
those records in one pass over the large file (``SourceData.lookup``): a 1 GB products file is
never loaded whole. Readers count malformed rows per source in ``ReadStats`` instead of dropping
them silently or failing, and read every file through ``readers.files.reading``: a file that cannot
be read (or read to its end) is recorded in ``ReadStats.lost``, named, and costs only itself.

Folder layout under ``--sources DIR`` (the names of the public downloads):

    esci/shopping_queries_dataset_examples.parquet, esci/shopping_queries_dataset_products.parquet
    amazon_m2/sessions_train.csv, amazon_m2/products_train.csv
    amazon_reviews_2023/<Category>.jsonl[.gz], amazon_reviews_2023/meta_<Category>.jsonl[.gz]
    ecinstruct/*.json (a JSON array or JSON Lines of ECInstruct rows)
    mmlu/**/*.parquet (cais/mmlu) or mmlu/**/*.csv (the original hendrycks CSVs)
    alpaca_cleaned/alpaca_data_cleaned.json
    ecguide/<Type>_<Sub>.json (EC-Guide's published files) or ecguide/<Type>/<Sub>.json (its repository)
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Hashable, Iterable, Mapping

SOURCES = ("esci", "amazon_m2", "amazon_reviews_2023", "ecinstruct", "mmlu", "alpaca_cleaned", "ecguide")


@dataclass
class ReadStats:
    """Rows read and rows skipped, with a reason each, for one source; and the files (or the rests of
    files) that could not be read, in ``lost`` (``training/data/readers/files.py`` records them)."""

    source: str
    rows: int = 0
    skipped: Counter = field(default_factory=Counter)  # reason -> count
    lost: list[dict] = field(default_factory=list)  # one record per fault: see ``lose``
    root: Path | None = None  # files are named relative to this folder (the build's --sources)

    def skip(self, reason: str) -> None:
        self.skipped[reason] += 1

    def name(self, path) -> str:
        """``path`` as the manifest names it: relative to ``root`` where it lies below it."""
        path = Path(path)
        if self.root is not None:
            try:
                return path.relative_to(self.root).as_posix()
            except ValueError:
                pass
        return path.as_posix()

    def lose(self, path, error: str, lost: str = "file", line: int | None = None, rows_read: int = 0,
             unread_bytes: int | None = None, lines_dropped: int = 0) -> None:
        """Record a fault of one file: ``lost`` is "file" (nothing of it was read), "rest" (the rows
        before the fault, ``rows_read``, were kept; the rest, ``unread_bytes`` where known, was not
        read), "lines" (``lines_dropped`` lines could not be decoded; the others were read) or
        "source" (the source as a whole failed). ``line``: where the fault is, where known. A file read
        twice (an index pass, a lookup pass) has its fault recorded once: the first."""
        record = {"source": self.source, "file": self.name(path), "error": error, "lost": lost, "line": line,
                  "rows_read": rows_read, "unread_bytes": unread_bytes, "lines_dropped": lines_dropped}
        if not any(r["file"] == record["file"] and (r["lost"] == "lines") == (lost == "lines") for r in self.lost):
            self.lost.append(record)

    def has_lost(self, path) -> bool:
        """Whether a fault of ``path`` (not just lines of it) is recorded."""
        return any(r["file"] == self.name(path) and r["lost"] != "lines" for r in self.lost)

    def as_dict(self) -> dict:
        return {"source": self.source, "rows": self.rows, "skipped": dict(self.skipped)}


@dataclass
class SourceData:
    """A source opened for building: its index, and a one-pass lookup of heavy records by key."""

    name: str
    index: object
    stats: ReadStats
    lookup: Callable[[set], Mapping[Hashable, object]] = lambda keys: {}


# ---- ESCI (Shopping Queries Dataset, KDD Cup 2022) --------------------------------------------

ESCI_RELEVANCE = {"E": 1.0, "S": 0.1, "C": 0.01, "I": 0.0}  # the weights of dev task12's answers


@dataclass(frozen=True)
class EsciQuery:
    query_id: int
    query: str
    locale: str  # us | es | jp
    split: str  # train | test
    items: tuple[tuple[str, str], ...]  # (product_id, esci_label E|S|C|I), in file order


@dataclass
class EsciIndex:
    queries: list[EsciQuery]
    products_by_locale: dict[str, list[str]]  # every product id of the examples, per locale (for distractors)


@dataclass(frozen=True)
class EsciProduct:  # lookup key: (locale, product_id)
    product_id: str
    locale: str
    title: str
    description: str
    bullet_points: tuple[str, ...]  # product_bullet_point split on new lines, empty ones dropped
    brand: str
    color: str


# ---- Amazon-M2 (KDD Cup 2023) -----------------------------------------------------------------

@dataclass(frozen=True)
class M2Session:
    prev_items: tuple[str, ...]  # product ids, oldest first
    next_item: str | None  # None in test sessions
    locale: str  # DE | JP | UK | ES | FR | IT


@dataclass
class M2Index:
    sessions: list[M2Session]
    products_by_locale: dict[str, list[str]]  # every product id of products_train.csv, per locale
    locales_of: dict[str, tuple[str, ...]]  # product id -> the locales it is listed in


@dataclass(frozen=True)
class M2Product:  # lookup key: (locale, id)
    id: str
    locale: str
    title: str
    price: str
    brand: str
    color: str
    size: str
    model: str
    material: str
    author: str
    desc: str


# ---- Amazon Reviews 2023 (McAuley Lab) ----------------------------------------------------------

@dataclass(frozen=True)
class Review:
    category: str  # the file's category, e.g. "All_Beauty"
    rating: float  # 1.0 - 5.0
    title: str
    text: str
    asin: str
    parent_asin: str
    user_id: str
    timestamp: int  # milliseconds
    helpful_vote: int
    verified_purchase: bool


@dataclass
class ReviewsIndex:
    reviews: list[Review]  # a seeded sample of at most ``cap`` reviews per category file


@dataclass(frozen=True)
class ItemMeta:  # lookup key: parent_asin
    parent_asin: str
    category: str
    main_category: str
    title: str
    features: tuple[str, ...]
    description: tuple[str, ...]
    categories: tuple[str, ...]
    store: str
    average_rating: float | None
    rating_number: int | None


# ---- ECInstruct, MMLU, Alpaca -----------------------------------------------------------------

@dataclass(frozen=True)
class ECInstructRow:
    task: str  # e.g. "Attribute_Value_Extraction" (the dataset's own spelling, typos included)
    instruction: str
    input: object  # decoded from its JSON string (a dict, a list or a str)
    options: tuple[str, ...] | None  # decoded from its JSON string, e.g. ("A: ...", "B: ...")
    output: str
    split: str
    setting: str


@dataclass
class ECInstructIndex:
    rows_by_task: dict[str, list[ECInstructRow]]  # train rows only


@dataclass(frozen=True)
class MMLUQuestion:
    question: str
    subject: str  # "" for auxiliary_train
    choices: tuple[str, ...]
    answer: int  # index into choices
    split: str  # dev | validation | test | auxiliary_train


@dataclass
class MMLUIndex:
    questions: list[MMLUQuestion]


@dataclass(frozen=True)
class AlpacaRow:
    instruction: str
    input: str
    output: str


@dataclass
class AlpacaIndex:
    rows: list[AlpacaRow]


# ---- EC-Guide (ZJU-AI4H, KDD Cup 2024; Apache-2.0) ----------------------------------------------

@dataclass
class ECGuideIndex:
    """EC-Guide's rows in the project's data format (``utilities.suites.from_ecguide``), by task_name
    ("MCQ_PRP"), without the rows of the validation suite (``training/data/readers/ecguide.py``)."""

    rows_by_task: dict[str, list[dict]]
    quirks: Counter = field(default_factory=Counter)  # quirks handled (bool rows converted, ...)


def keys_needed(needs: Iterable[Iterable[Hashable]]) -> set:
    out: set = set()
    for keys in needs:
        out.update(keys)
    return out
