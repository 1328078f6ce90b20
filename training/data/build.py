"""Build datasets: open each source once, sample seeds, look up what they need in one pass, write rows.

For every selected builder: ``seeds`` from the source's index (seeded by the build seed and the
dataset's name, so a dataset does not change when others are added), ``needs`` collected over
all builders of the source and read in one pass, then ``question`` per seed, checked
(``rows.check``) and written as one JSON Lines file per dataset. The manifest records rows,
skipped seeds with their reasons, and the sources' read statistics. Same inputs, same seed:
byte-identical files.
"""
from __future__ import annotations

import json
import math
import random
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

from tqdm.auto import tqdm

from training.data.registry import Builder, Skip, load_builders
from training.data.rows import check, to_row
from training.data.sources import ReadStats, SourceData


@dataclass
class DatasetReport:
    name: str
    source: str
    task_type: str
    wanted: int
    rows: int = 0
    skipped: Counter = field(default_factory=Counter)
    note: str = ""

    def as_dict(self) -> dict:
        return {"name": self.name, "source": self.source, "task_type": self.task_type, "wanted": self.wanted,
                "rows": self.rows, "skipped": dict(self.skipped), "note": self.note}


def checked_rows(builder: Builder, seeds: list, lookup, rng: random.Random, wanted: int,
                 report: DatasetReport, progress: bool) -> Iterator[dict]:
    """The rows of ``builder``'s seeds that pass the checks, until ``wanted``; skips counted in ``report``."""
    made = 0
    for s in tqdm(seeds, desc=builder.name, unit="q", disable=not progress, leave=False):
        if made == wanted:
            return
        try:
            q = builder.question(s, lookup, rng)
            check(builder, q)
        except Skip as why:
            report.skipped[str(why)] += 1
            continue
        made += 1
        yield to_row(builder, q)


def write_jsonl(path: Path, rows: Iterable[dict]) -> int:
    """Stream ``rows`` into ``path`` as JSON Lines; the number written."""
    n = 0
    with open(path, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
            n += 1
    return n


def spare_seeds(wanted: int) -> int:
    """Seeds drawn beyond ``wanted`` to replace skipped ones: at full scale builders skip up to
    ~11% of their seeds (missing descriptions, brands, metadata; benchmarks/training_data.py)."""
    return max(20, math.ceil(0.15 * wanted))


def open_source(name: str, sources_dir: Path, seed: int) -> SourceData | None:
    """The source's data, or None when ``sources_dir`` has no folder for it."""
    from training.data import readers

    folder = Path(sources_dir) / name
    if not folder.is_dir():
        return None
    return readers.OPENERS[name](folder, ReadStats(name), seed=seed)


def build(sources_dir: Path, out_dir: Path, names: list[str] | None = None, sizes: dict[str, int] | None = None,
          seed: int = 0, progress: bool = True, enrichment: Path | None = None) -> dict:
    """Build the named datasets (default: all) at ``sizes`` (default: their seed sizes) into ``out_dir``.

    ``enrichment``: a file (or folder) written by ``python -m training.data.synthetic enrich``; its
    product types reach the builders of each source (``Builder.product_types``)."""
    registry = load_builders(extra=True)
    if enrichment:
        from training.data.synthetic import product_types  # synthetic imports this module

        if not Path(enrichment).exists():
            raise FileNotFoundError(f"enrichment {enrichment} does not exist (write it with "
                                    "`python -m training.data.synthetic enrich ...`)")
    names = [n for n, c in registry.items() if c.seed_set] if not names else names  # default: the 38 seed datasets
    unknown = [n for n in names if n not in registry]
    if unknown:
        raise KeyError(f"unknown datasets {unknown}; `python -m training.data list` shows them")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    by_source: dict[str, list[type[Builder]]] = defaultdict(list)
    for name in names:
        by_source[registry[name].source].append(registry[name])
    reports: dict[str, DatasetReport] = {}
    source_stats = {}
    for source, classes in by_source.items():
        data = open_source(source, sources_dir, seed)
        if data is None:
            for cls in classes:
                reports[cls.name] = DatasetReport(cls.name, source, cls.task_type, 0,
                                                  note=f"no input: {Path(sources_dir) / source} does not exist")
            continue
        source_stats[source] = data.stats
        planned = []
        types = product_types(enrichment, source) if enrichment else {}
        for cls in classes:
            builder = cls()
            builder.product_types = types
            wanted = (sizes or {}).get(cls.name, cls.size)
            rng = random.Random(f"{seed}:{cls.name}")
            try:  # spare seeds stand in for skipped ones; the question loop stops at ``wanted`` rows
                seeds = builder.seeds(data.index, rng, wanted + spare_seeds(wanted))
            except Skip as why:  # the source holds nothing this builder can use
                seeds, reports[cls.name] = [], DatasetReport(cls.name, source, cls.task_type, wanted, note=str(why))
            planned.append((builder, rng, seeds, wanted))
        keys: set = set()
        for builder, _, seeds, _ in planned:
            for s in seeds:
                keys.update(builder.needs(s))
        lookup = data.lookup(keys) if keys else {}
        for builder, rng, seeds, wanted in planned:
            report = reports.setdefault(builder.name, DatasetReport(builder.name, source, builder.task_type, wanted))
            rows = checked_rows(builder, seeds, lookup, rng, wanted, report, progress)
            report.rows = write_jsonl(out_dir / f"{builder.name}.jsonl", rows)
            if report.rows < wanted and len(seeds) < wanted + spare_seeds(wanted) and not report.note:
                report.note = f"the input holds {len(seeds)} seeds for {wanted} wanted"
    manifest = {
        "seed": seed,
        "sources_dir": str(sources_dir),
        "enrichment": str(enrichment) if enrichment else None,
        "datasets": [reports[n].as_dict() for n in names],
        "sources": {k: v.as_dict() for k, v in source_stats.items()},
    }
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=1, ensure_ascii=False) + "\n")
    return manifest


def render_report(manifest: dict) -> str:
    lines = ["| dataset | source | type | wanted | rows | skipped (reasons) |", "|---|---|---|---|---|---|"]
    for d in manifest["datasets"]:
        reasons = "; ".join(f"{n} {r}" for r, n in sorted(d["skipped"].items(), key=lambda kv: -kv[1]))
        extra = "; ".join(x for x in (reasons, d["note"]) if x)
        lines.append(f"| {d['name']} | {d['source']} | {d['task_type']} | {d['wanted']} | {d['rows']} | {extra} |")
    for name, s in manifest["sources"].items():
        bad = ", ".join(f"{n} {r}" for r, n in s["skipped"].items()) or "none"
        lines.append(f"\n{name}: {s['rows']} rows read; malformed or unusable: {bad}")
    return "\n".join(lines)
