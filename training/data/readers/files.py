"""The one way readers open a source file: a fault costs that file (or the rest of it), never the build.

Every reader reads its files inside ``reading(path, stats)``::

    with reading(path, stats) as f:
        for line in f.lines():  # or f.open(), f.text(), f.json_array(), f.parquet()
            ...

Any error while the body runs ends the reading of that file and is recorded in ``stats.lost``
(``ReadStats.lose``), naming the file, the error and, where known, the line: a truncated parquet,
gzip or JSON file, bytes that are not UTF-8, an empty file (0 bytes: a download that failed), a CSV
that does not parse, a file that cannot be opened, or a reader's own error on a value it did not
expect. The rows read before the fault are kept (and counted in ``stats.rows``); the record says
whether the whole file was lost ("file") or only its rest ("rest", with the bytes left unread where
they are known). Line-oriented files lose only their lines that are not UTF-8 ("lines", counted).
Only ``MemoryError``, ``AssertionError`` and non-``Exception`` interrupts (Ctrl-C) go through.
"""
from __future__ import annotations

import codecs
import gzip
import json
import re
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Iterator

from training.data.sources import ReadStats

JSON_CHUNK = 1 << 20  # bytes read at a time from a JSON array file
PASS_THROUGH = (MemoryError, AssertionError)  # not faults of a file: the build (or a test) must stop

_WS = re.compile(r"[ \t\n\r]*")


class Fault(Exception):
    """A fault the readers detect themselves (an empty file, a broken JSON array), with where it is."""

    def __init__(self, message: str, line: int | None = None, unread_bytes: int | None = None):
        super().__init__(message)
        self.line, self.unread_bytes = line, unread_bytes


def not_utf8(err: UnicodeDecodeError, offset: int | None = None) -> str:
    """Where a file stops being UTF-8 (``offset``: the bad byte's offset in the file, where known)."""
    bad = err.object[err.start:err.start + 1].hex()
    where = f" at byte {offset:,}" if offset is not None else ""
    return f"not UTF-8: byte 0x{bad}{where} ({err.reason})"


def describe(err: BaseException) -> str:
    """"ExceptionType: message" (just the message for a ``Fault``), on one line."""
    text = " ".join(str(err).split())
    return text if isinstance(err, Fault) else f"{type(err).__name__}: {text}" if text else type(err).__name__


class SourceFile:
    """One source file being read: where reading is (line, bytes), and a fault kept until the end."""

    def __init__(self, path: Path, stats: ReadStats):
        self.path, self.stats = Path(path), stats
        self.size: int | None = None
        self.line: int | None = None  # lines read so far (line-oriented reads)
        self.offset: int | None = None  # bytes of the file consumed so far, where exactly known
        self.rows_before = stats.rows
        self.fault: dict | None = None  # a fault after which what was read is still usable (text())
        self.bad_lines: list[tuple[int, str]] = []  # (line, error) of the lines that are not UTF-8

    @property
    def gzipped(self) -> bool:
        return self.path.name.endswith(".gz")

    def open(self) -> BinaryIO:
        """The file's bytes (decompressed for ``.gz``); an empty file is a fault."""
        self.size = self.path.stat().st_size
        if self.size == 0:
            raise Fault("empty file (0 bytes)")
        if self.gzipped:
            return gzip.open(self.path, "rb")
        return open(self.path, "rb")

    def lines(self) -> Iterator[str]:
        """The non-blank lines, decoded as UTF-8 (plain or gzipped). A line that is not UTF-8 is
        dropped and counted (one "lines" record per file); a fault of the file itself (truncated
        gzip) ends it at the line being read."""
        with self.open() as f:
            self.line, self.offset = 0, (None if self.gzipped else 0)
            it = iter(f)
            while True:
                try:
                    raw = next(it)
                except StopIteration:
                    return
                except Exception:
                    self.line += 1  # the fault is in the line being read
                    raise
                self.line += 1
                if self.offset is not None:
                    self.offset += len(raw)
                try:
                    text = raw.decode("utf-8")
                except UnicodeDecodeError as err:
                    at = None if self.offset is None else self.offset - len(raw) + err.start
                    self.bad_lines.append((self.line, not_utf8(err, at)))
                    continue
                if text.strip():
                    yield text

    def text(self) -> str:
        """The whole file as text. At the first byte that is not UTF-8 the text stops at the end of
        the line before it, and the rest of the file is recorded as lost."""
        with self.open() as f:
            data = f.read()
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as err:
            cut = data.rfind(b"\n", 0, err.start) + 1
            self.fault = {"error": not_utf8(err, None if self.gzipped else err.start),
                          "line": data.count(b"\n", 0, err.start) + 1,
                          "unread_bytes": None if self.gzipped else len(data) - cut}
            return data[:cut].decode("utf-8")

    def parquet(self, **kwargs):
        """A ``pyarrow.parquet.ParquetFile`` of the file (a truncated file fails here, when its footer is read)."""
        import pyarrow.parquet as pq

        self.open().close()  # the empty-file check, and an unreadable file fails here
        return pq.ParquetFile(self.path, **kwargs)

    def json_array(self, chunk: int = JSON_CHUNK) -> Iterator[object]:
        """The elements of a file holding one JSON array, streamed ``chunk`` bytes at a time (never
        loaded whole). A fault (a truncated or broken array, bytes that are not UTF-8, text after the
        array) ends the file after the last whole element: the elements before it are yielded, and
        the fault records its line and the bytes after that element (exact for a plain file)."""
        decoder = json.JSONDecoder()
        utf8 = codecs.getincrementaldecoder("utf-8")()
        with self.open() as f:
            buf, pos, eof, stop = "", 0, False, None  # stop: a decoding fault, raised once buf is used up
            done_bytes = done_lines = 0  # bytes and lines of the text before buf[0]
            read_bytes = 0

            def fill(n: int) -> bool:
                """Read more text into buf; False at the end of the file (or at bytes that are not UTF-8)."""
                nonlocal buf, eof, stop, read_bytes
                if eof:
                    return False
                data = f.read(n)
                pending = len(utf8.getstate()[0])
                try:
                    text = utf8.decode(data, final=not data)
                except UnicodeDecodeError as err:  # keep the text before the bad byte; stop there
                    text = err.object[:err.start].decode("utf-8", errors="ignore")
                    stop = Fault(not_utf8(err, None if self.gzipped else read_bytes - pending + err.start),
                                 done_lines + buf.count("\n") + text.count("\n") + 1)
                    buf += text
                    eof = True
                    return bool(text)
                buf += text
                read_bytes += len(data)
                eof = not data
                return bool(data)

            def peek() -> str:
                """The next non-blank character ("" at the end), buf filled as needed."""
                nonlocal pos
                while True:
                    pos = _WS.match(buf, pos).end()
                    if pos < len(buf):
                        return buf[pos]
                    if not fill(chunk):
                        return ""

            def broken(message: str, at: int) -> Fault:
                if stop is not None:  # the text ended at bytes that are not UTF-8: that is the fault
                    message, line = str(stop), stop.line
                else:
                    line = done_lines + buf.count("\n", 0, at) + 1
                unread = None if self.gzipped or self.size is None else \
                    self.size - done_bytes - len(buf[:good].encode("utf-8"))
                return Fault(message, line, unread)

            good = 0  # index in buf after the last whole element (or the opening bracket)
            if peek() != "[":
                raise broken("not a JSON array", pos)
            pos += 1
            good, first = pos, True
            while True:
                c = peek()
                if c == "]":
                    pos += 1
                    good = pos
                    if peek() != "":
                        raise broken("text after the JSON array", pos)
                    if stop is not None:  # bytes that are not UTF-8 after the array
                        raise broken("", pos)
                    return
                if not first:
                    if c != ",":
                        raise broken("broken JSON array: no ',' or ']' after an element" if c else
                                     "truncated JSON array: the file ends before its closing ']'", pos)
                    pos += 1
                    c = peek()
                if c == "":
                    raise broken("truncated JSON array: the file ends before its closing ']'", pos)
                first = False
                while True:
                    try:
                        item, end = decoder.raw_decode(buf, pos)
                        # a number that ends where buf does (or before ".", "e") may go on in the next chunk
                        may_go_on = type(item) in (int, float) and (end == len(buf) or buf[end] in ".eE+-")
                        if not may_go_on or not fill(chunk):
                            break
                    except json.JSONDecodeError as err:
                        if not fill(max(chunk, len(buf) - pos)):  # an element longer than buf: read on
                            ends_inside = err.pos >= len(buf.rstrip()) or err.msg.startswith("Unterminated string")
                            raise broken("truncated JSON array: the file ends inside an element" if ends_inside
                                         else f"broken JSON array: {err.msg}", err.pos) from None
                yield item
                pos = good = end
                if pos > chunk:  # drop the text already read
                    done_bytes += len(buf[:pos].encode("utf-8"))
                    done_lines += buf.count("\n", 0, pos)
                    buf, pos, good = buf[pos:], 0, 0

    def record(self, err: BaseException | None) -> None:
        """Add this file's faults to ``stats.lost``: ``err`` (what ended the reading), a kept fault, bad lines."""
        rows = self.stats.rows - self.rows_before
        if self.bad_lines:
            line, first = self.bad_lines[0]
            self.stats.lose(self.path, first, "lines", line, rows, None, len(self.bad_lines))
        if self.fault is not None:  # the first fault (text() stopped early) explains what followed it
            self.stats.lose(self.path, self.fault["error"], "rest" if rows else "file", self.fault["line"], rows,
                            self.fault["unread_bytes"])
        elif err is not None:
            line = getattr(err, "line", None) or self.line
            unread = getattr(err, "unread_bytes", None)
            if unread is None and self.offset is not None and self.size is not None:
                unread = self.size - self.offset
            self.stats.lose(self.path, describe(err), "rest" if rows else "file", line, rows, unread)


@contextmanager
def reading(path: Path, stats: ReadStats) -> Iterator[SourceFile]:
    """Read one source file in the body; any fault is recorded in ``stats.lost`` and ends only this file."""
    source_file = SourceFile(path, stats)
    try:
        yield source_file
    except PASS_THROUGH:
        raise
    except Exception as err:  # noqa: BLE001 - every fault of a file costs that file, named (module docstring)
        source_file.record(err)
    else:
        source_file.record(None)
