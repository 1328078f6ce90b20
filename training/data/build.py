"""Build datasets: open each source once, sample seeds, look up what they need in one pass, write rows.

For every selected builder: ``seeds`` from the source's index (seeded by the build seed and the
dataset's name, so a dataset does not change when others are added), ``needs`` collected over
all builders of the source and read in one pass, then ``question`` per seed, checked
(``rows.check``) and written as one JSON Lines file per dataset. The manifest records rows,
skipped seeds with their reasons, and the sources' read statistics. Same inputs, same seed:
byte-identical files.

Nothing sinks a build:
- a source file that cannot be read (truncated, not UTF-8, empty, not parsable) costs that file, or
  the rest of it (``readers/files.py``): it is named in the manifest's ``lost`` list with its fault,
  and the other files and datasets are still built; a source that fails as a whole, or a builder
  that fails on its data, costs that source's or that dataset's rows, also recorded. The manifest
  says ``"complete": false`` then, and the command line exits with ``EXIT_LOST`` after a summary.
- rows are written without control characters (C0 but tab, new line and carriage return; DEL):
  they are removed and every altered row is counted in its dataset's ``altered``.
- the build writes into a fresh folder beside ``out_dir`` and renames it into place when done: a
  crash leaves ``out_dir`` as it was, and a manifest always describes the files beside it (listed
  with their sha256 in ``files``). An ``out_dir`` that is not empty is refused unless ``overwrite``.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import random
import re
import shutil
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator

from training.cli import PROGS, MissingInput, UnknownName
from training.data.enrichment import product_types
from training.data.readers.files import PASS_THROUGH, describe
from training.data.registry import Builder, Question, Skip, load_builders
from training.data.rows import check, to_row
from training.data.sources import ReadStats, SourceData
from utilities.artifacts import OutputExists
from utilities.progress import bar, enabled, say

CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # C0 controls but \t \n \r, and DEL
CONTROL_REMOVED = "control characters removed"
MANIFEST = "manifest.json"


@dataclass
class DatasetReport:
    name: str
    source: str
    task_type: str
    wanted: int
    rows: int = 0
    skipped: Counter = field(default_factory=Counter)
    note: str = ""
    altered: Counter = field(default_factory=Counter)  # rows written altered: reason -> rows
    error: str = ""  # the builder failed: its rows are lost (no file written)

    def as_dict(self) -> dict:
        return {"name": self.name, "source": self.source, "task_type": self.task_type, "wanted": self.wanted,
                "rows": self.rows, "skipped": dict(self.skipped), "altered": dict(self.altered), "note": self.note,
                "error": self.error}


def without_control_characters(q: Question) -> tuple[Question, bool]:
    """``q`` with the control characters of its prompt and answer removed; whether any were."""
    if not (CONTROL.search(q.prompt) or CONTROL.search(q.answer)):
        return q, False
    return dataclasses.replace(q, prompt=CONTROL.sub("", q.prompt), answer=CONTROL.sub("", q.answer)), True


def checked_rows(builder: Builder, seeds: list, lookup, rng: random.Random, wanted: int,
                 report: DatasetReport, progress: bool) -> Iterator[dict]:
    """The rows of ``builder``'s seeds that pass the checks, until ``wanted``; skips counted in ``report``."""
    made = 0
    for s in bar(seeds, desc=builder.name, unit="q", disable=not (progress and enabled()), leave=False):
        if made == wanted:
            return
        try:
            q, altered = without_control_characters(builder.question(s, lookup, rng))
            check(builder, q)
        except Skip as why:
            report.skipped[str(why)] += 1
            continue
        if altered:
            report.altered[CONTROL_REMOVED] += 1
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
    """The source's data, or None when ``sources_dir`` has no folder for it. Its files' faults are in
    ``data.stats.lost``, named relative to ``sources_dir``."""
    from training.data import readers

    folder = Path(sources_dir) / name
    if not folder.is_dir():
        return None
    return readers.OPENERS[name](folder, ReadStats(name, root=Path(sources_dir)), seed=seed)


# ---- the output folder ------------------------------------------------------------------------------

def _holds_files(folder: Path) -> bool:
    return folder.is_dir() and any(folder.iterdir())


def refuse_output(out_dir: Path, overwrite: bool) -> None:
    """:class:`OutputExists` (a FileExistsError) for an ``out_dir`` that is a file, or a folder that is
    not empty without ``overwrite``."""
    if out_dir.exists() and not out_dir.is_dir():
        raise OutputExists(f"--out {out_dir}: a file, not a folder; choose a folder")
    if _holds_files(out_dir) and not overwrite:
        raise OutputExists(f"--out {out_dir}: not empty (an earlier build?); pass --overwrite to replace "
                           "it, or choose another folder")


def staging_folder(out_dir: Path) -> Path:
    """A fresh folder beside ``out_dir`` (same file system: it is renamed into place)."""
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    for attempt in range(100):
        folder = out_dir.parent / f".{out_dir.name}.building-{os.getpid()}-{attempt}"
        try:
            folder.mkdir()
            return folder
        except FileExistsError:
            continue
    raise FileExistsError(f"no fresh folder beside {out_dir} to build in")


def move_into_place(staging: Path, out_dir: Path, overwrite: bool) -> None:
    """Rename ``staging`` to ``out_dir``; an earlier ``out_dir`` (with ``overwrite``) is removed after."""
    refuse_output(out_dir, overwrite)  # again: the folder may have been written to while building
    if not _holds_files(out_dir):
        if out_dir.is_dir():
            out_dir.rmdir()
        os.replace(staging, out_dir)
        return
    old = staging.with_name(staging.name.replace(".building-", ".replaced-"))
    os.replace(out_dir, old)
    try:
        os.replace(staging, out_dir)
    except BaseException:
        os.replace(old, out_dir)
        raise
    shutil.rmtree(old, ignore_errors=True)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# ---- the build --------------------------------------------------------------------------------------

def build(sources_dir: Path, out_dir: Path, names: list[str] | None = None, sizes: dict[str, int] | None = None,
          seed: int = 0, progress: bool = True, enrichment: Path | None = None, *, overwrite: bool = False,
          finish: Callable[[Path], object] | None = None) -> dict:
    """Build the named datasets (default: all) at ``sizes`` (default: their seed sizes) into ``out_dir``.

    ``enrichment``: a file (or folder) written by ``shopbench synthetic enrich``; its product types
    reach the builders of each source (``Builder.product_types``).

    The files are written into a fresh folder beside ``out_dir`` and renamed to ``out_dir`` when all
    are written (``finish(folder)`` runs just before, e.g. to write a blend there): ``out_dir`` must
    not exist or be empty, unless ``overwrite``, when it is replaced (:class:`OutputExists`, a
    FileExistsError, otherwise). ``progress``: a line per dataset on stderr, and a bar per dataset
    where ``utilities.progress.enabled()`` (a terminal, or --progress).
    A crash leaves ``out_dir`` as it was. Returns the manifest; ``manifest["complete"]`` is False
    when a file, a source or a dataset was lost (``manifest["lost"]``, the datasets' ``error``)."""
    registry = load_builders(extra=True)
    if enrichment:
        if not Path(enrichment).exists():
            raise MissingInput(f"--enrichment {enrichment}: does not exist; write it with "
                               f"`{PROGS['training.data.synthetic']} enrich ...`, or leave --enrichment out")
    names = [n for n, c in registry.items() if c.seed_set] if not names else names  # default: the 38 seed datasets
    unknown = [n for n in names if n not in registry]
    if unknown:
        raise UnknownName(f"--only {' '.join(unknown)}: no such dataset; `{PROGS['training.data']} list --all` "
                          "shows them")
    out_dir = Path(out_dir)
    refuse_output(out_dir, overwrite)
    staging = staging_folder(out_dir)
    try:
        manifest = _build_into(staging, Path(sources_dir), names, sizes, seed, progress, enrichment, product_types,
                               registry)
        if finish is not None:
            finish(staging)
        manifest["files"] = {p.name: sha256_of(p) for p in sorted(staging.iterdir()) if p.is_file()}
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        move_into_place(staging, out_dir, overwrite)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return manifest


def _build_into(out_dir: Path, sources_dir: Path, names: list[str], sizes: dict[str, int] | None, seed: int,
                progress: bool, enrichment: Path | None, product_types, registry: dict) -> dict:
    by_source: dict[str, list[type[Builder]]] = defaultdict(list)
    for name in names:
        by_source[registry[name].source].append(registry[name])
    reports: dict[str, DatasetReport] = {}
    source_stats: dict[str, ReadStats] = {}
    said = []

    def tell(report: DatasetReport, started: float | None = None) -> None:  # one plain line per dataset
        said.append(report.name)
        if progress:
            took = f" in {time.time() - started:.1f} s" if started is not None else ""
            why = f" ({report.error or report.note})" if report.error or report.note else ""
            say(f"dataset {len(said)}/{len(names)} {report.name}: {report.rows} rows{took}{why}")

    for source, classes in by_source.items():
        try:
            data = open_source(source, sources_dir, seed)
        except PASS_THROUGH:
            raise
        except Exception as err:  # noqa: BLE001 - a reader's failure costs its source, not the build
            stats = source_stats[source] = ReadStats(source, root=sources_dir)
            stats.lose(sources_dir / source, describe(err), "source")
            for cls in classes:
                reports[cls.name] = DatasetReport(cls.name, source, cls.task_type, 0,
                                                  note=f"no input: the source {source} could not be read")
                tell(reports[cls.name])
            continue
        if data is None:
            for cls in classes:
                reports[cls.name] = DatasetReport(cls.name, source, cls.task_type, 0,
                                                  note=f"no input: {sources_dir / source} does not exist")
                tell(reports[cls.name])
            continue
        source_stats[source] = data.stats
        planned = []
        types = product_types(enrichment, source) if enrichment else {}
        for cls in classes:
            builder = cls()
            builder.product_types = types
            wanted = (sizes or {}).get(cls.name, cls.size)
            rng = random.Random(f"{seed}:{cls.name}")
            report = reports[cls.name] = DatasetReport(cls.name, source, cls.task_type, wanted)
            try:  # spare seeds stand in for skipped ones; the question loop stops at ``wanted`` rows
                seeds = builder.seeds(data.index, rng, wanted + spare_seeds(wanted))
                keys = set()
                for s in seeds:
                    keys.update(builder.needs(s))
            except Skip as why:  # the source holds nothing this builder can use
                seeds, keys, report.note = [], set(), str(why)
            except PASS_THROUGH:
                raise
            except Exception as err:  # noqa: BLE001 - a builder's failure costs its dataset
                report.error = describe(err)
                tell(report)
                continue
            planned.append((builder, rng, seeds, wanted, keys))
        keys = set().union(*(k for *_, k in planned))
        try:
            lookup = data.lookup(keys) if keys else {}
        except PASS_THROUGH:
            raise
        except Exception as err:  # noqa: BLE001 - the rows that needed the lookup are skipped, the fault recorded
            data.stats.lose(sources_dir / source, f"lookup: {describe(err)}", "source")
            lookup = {}
        for builder, rng, seeds, wanted, _ in planned:
            report = reports[builder.name]
            started = time.time()
            rows = checked_rows(builder, seeds, lookup, rng, wanted, report, progress)
            path = out_dir / f"{builder.name}.jsonl"
            try:
                report.rows = write_jsonl(path, rows)
            except PASS_THROUGH:
                raise
            except Exception as err:  # noqa: BLE001 - a builder's failure costs its dataset
                report.rows, report.error = 0, describe(err)
                report.skipped.clear()
                report.altered.clear()
                path.unlink(missing_ok=True)
                tell(report, started)
                continue
            if report.rows < wanted and len(seeds) < wanted + spare_seeds(wanted) and not report.note:
                report.note = f"the input holds {len(seeds)} seeds for {wanted} wanted"
            tell(report, started)
    lost = [record for stats in source_stats.values() for record in stats.lost]
    datasets = [reports[n].as_dict() for n in names]
    return {
        "seed": seed,
        "sources_dir": str(sources_dir),
        "enrichment": str(enrichment) if enrichment else None,
        "complete": not lost and not any(d["error"] for d in datasets),
        "lost": lost,
        "datasets": datasets,
        "sources": {k: v.as_dict() for k, v in source_stats.items()},
    }


def render_report(manifest: dict) -> str:
    lines = ["| dataset | source | type | wanted | rows | skipped (reasons) |", "|---|---|---|---|---|---|"]
    for d in manifest["datasets"]:
        reasons = "; ".join(f"{n} {r}" for r, n in sorted(d["skipped"].items(), key=lambda kv: -kv[1]))
        altered = "; ".join(f"{n} rows altered: {r}" for r, n in sorted(d.get("altered", {}).items()))
        failed = f"FAILED: {d['error']}" if d.get("error") else ""
        extra = "; ".join(x for x in (failed, reasons, altered, d["note"]) if x)
        lines.append(f"| {d['name']} | {d['source']} | {d['task_type']} | {d['wanted']} | {d['rows']} | {extra} |")
    for name, s in manifest["sources"].items():
        bad = ", ".join(f"{n} {r}" for r, n in s["skipped"].items()) or "none"
        lines.append(f"\n{name}: {s['rows']} rows read; malformed or unusable: {bad}")
    return "\n".join(lines)


def describe_loss(record: dict, sources_dir: str | None = None) -> str:
    """One line naming a lost file (under ``sources_dir``), where and what it cost."""
    path = os.path.join(sources_dir, record["file"]) if sources_dir else record["file"]
    where = f":{record['line']}" if record.get("line") else ""
    if record["lost"] == "lines":
        cost = f"{record['lines_dropped']} lines dropped (first here), {record['rows_read']} rows read"
    elif record["lost"] == "rest":
        unread = f", {record['unread_bytes']:,} bytes unread" if record.get("unread_bytes") is not None else ""
        cost = f"the rest of the file lost after {record['rows_read']} rows{unread}"
    elif record["lost"] == "source":
        cost = f"the source {record['source']} lost"
    else:
        cost = "the whole file lost"
    return f"{path}{where}: {record['error']} ({cost})"


def render_losses(manifest: dict) -> str:
    """The summary of what a build lost ("" when it is complete): every file, source and dataset."""
    failed = [d for d in manifest["datasets"] if d.get("error")]
    if not manifest.get("lost") and not failed:
        return ""
    lines = [f"build incomplete: {len(manifest['lost'])} faults in the sources, {len(failed)} datasets failed; "
             "everything else was built (manifest.json: \"lost\", the datasets' \"error\")"]
    lines += [f"  lost: {describe_loss(r, manifest.get('sources_dir'))}" for r in manifest["lost"]]
    lines += [f"  failed: dataset {d['name']}: {d['error']}" for d in failed]
    altered = Counter()
    for d in manifest["datasets"]:
        altered.update(d.get("altered", {}))
    lines += [f"  altered: {n} rows ({reason})" for reason, n in sorted(altered.items())]
    return "\n".join(lines)
