"""Alpaca-cleaned (gururise/AlpacaDataCleaned = HF yahma/alpaca-cleaned): one JSON array of
``{"instruction", "input", "output"}`` objects (``input`` may be ""), ~51.8k rows, 40 MB.

The array is streamed (``readers.files``): a file that breaks partway (truncated, not UTF-8) keeps
the rows before the break and its rest is recorded as lost (``stats.lost``), as is a file that is
empty or not a JSON array. Rows that are not objects with three strings and a non-empty instruction
and output are counted as malformed.
"""
from __future__ import annotations

from pathlib import Path

from training.data.readers.files import reading
from training.data.sources import AlpacaIndex, AlpacaRow, ReadStats, SourceData

FILE_GLOB = "*.json"  # alpaca_data_cleaned.json (any name: the folder holds this one source)


def read_rows(folder: Path, stats: ReadStats) -> list[AlpacaRow]:
    rows = []
    for path in sorted(Path(folder).glob(FILE_GLOB)):
        with reading(path, stats) as f:
            for item in f.json_array():
                stats.rows += 1
                if not isinstance(item, dict) or not all(isinstance(item.get(k, ""), str)
                                                         for k in ("instruction", "input", "output")):
                    stats.skip("not an object of strings")
                elif not item.get("instruction", "").strip() or not item.get("output", "").strip():
                    stats.skip("empty instruction or output")
                else:
                    rows.append(AlpacaRow(item["instruction"], item.get("input", ""), item["output"]))
    return rows


def open_source(folder: Path, stats: ReadStats, seed: int = 0) -> SourceData:
    return SourceData("alpaca_cleaned", AlpacaIndex(read_rows(folder, stats)), stats)
