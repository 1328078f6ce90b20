"""What every benchmark script shares: a report that prints and keeps Markdown, where it is written,
and the machine.

Where: every benchmark writes its report to a new run folder ``runs/<time>-bench-<name>/`` (``runs/``
is ignored by git; ``$SHOPBENCH_RUNS`` moves it) and points ``runs/latest-bench-<name>`` at it. The
tracked ``benchmarks/*_latest.md`` (the figures the README quotes) is written only with ``--record``,
which a run of part of a benchmark (``--only``, ``--quick``, ...) refuses: a partial run never replaces
the full recorded figures, and no benchmark run dirties the git tree by default.
"""
from __future__ import annotations

import argparse
import os
import platform
from pathlib import Path
from typing import Sequence

REPO = Path(__file__).resolve().parent.parent


class Report:
    """Prints and keeps every line (progress bars go to stderr and are not kept)."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def __call__(self, text: str = "") -> None:
        print(text, flush=True)
        self.lines.extend(str(text).split("\n"))

    def text(self) -> str:
        """Everything printed so far, as Markdown (one final newline)."""
        return "\n".join(self.lines).rstrip("\n") + "\n"

    def table(self, header: list[str], rows: list[list]) -> None:
        self("| " + " | ".join(header) + " |")
        self("|" + "|".join("---" for _ in header) + "|")
        for row in rows:
            self("| " + " | ".join(str(c) for c in row) + " |")
        self()


def load_average() -> str:
    try:
        return ", ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "?"


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (else what platform knows)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


# ---- where a report goes: a run folder under runs/, the tracked file only with --record ---------------

def _shown(path: Path) -> str:
    """``path`` relative to the repository when inside it (what a person would type), else absolute."""
    path = Path(os.path.abspath(path))  # not resolve(): a latest-bench link is shown as the link
    return str(path.relative_to(REPO)) if path.is_relative_to(REPO) else str(path)


def add_record_flag(parser, name: str, tracked: Path, rule: str) -> None:
    """``--record``: also write the tracked ``tracked`` (the figures kept in git) besides the run folder of
    benchmark ``name``. ``rule`` says which runs may (shown in --help); :func:`check_record` enforces it."""
    parser.add_argument("--record", action="store_true",
                        help=f"also write the tracked {_shown(tracked)} (the figures kept in git; without it the "
                             f"report goes only to a new runs/<time>-bench-{name}/ folder); {rule}")
    parser.add_argument("--out", dest="gone_out", default=None, help=argparse.SUPPRESS)  # said by check_record


def check_record(parser, args, tracked: Path, partial: Sequence[str]) -> None:
    """Argparse errors, before any work: ``--record`` asked of a run that is only part of the benchmark
    (``partial``: what makes it so, e.g. "--quick"), since such a run never replaces the recorded figures;
    and the former ``--out FILE``."""
    if getattr(args, "gone_out", None) is not None:  # the scripts' former --out FILE (default: the tracked file)
        parser.error(f"--out is gone: the report goes to a new folder under runs/ (SHOPBENCH_RUNS moves it), "
                     f"and --record also writes the tracked {_shown(tracked)}")
    if getattr(args, "record", False) and partial:
        parser.error(f"--record replaces the recorded figures in {_shown(tracked)} and needs a full run; this one "
                     f"is partial ({', '.join(partial)}): drop --record (without it nothing tracked is written)")


def run_folder(name: str) -> Path:
    """A new ``runs/<time>-bench-<name>/`` (under ``$SHOPBENCH_RUNS`` where set), with ``runs/latest-bench-<name>``
    pointing at it."""
    from utilities.runs import new_run_dir, point_latest

    run = new_run_dir("bench", name)
    point_latest(run, latest_name(name))
    return run


def latest_name(name: str) -> str:
    return f"latest-bench-{name}"


def write_report(report: Report | str, name: str, tracked: Path | None = None, record: bool = False,
                 filename: str = "report.md") -> Path:
    """Write a benchmark's Markdown report into a new run folder (:func:`run_folder`) and, with ``record``,
    also over the tracked file ``tracked``; print where. Returns the run folder's report file.

    Nothing tracked by git is written without ``record``: a benchmark run never dirties the tree."""
    text = report if isinstance(report, str) else report.text()
    path = run_folder(name) / filename
    path.write_text(text, encoding="utf-8")
    print(f"report: {_shown(path)} ({_shown(path.parent.parent / latest_name(name))} points at its folder)", flush=True)
    if record:
        if tracked is None:
            raise ValueError(f"{name}: nothing to record (no tracked file)")
        tracked.parent.mkdir(parents=True, exist_ok=True)
        tracked.write_text(text, encoding="utf-8")
        print(f"recorded: {_shown(tracked)}", flush=True)
    return path


def stage(message: str) -> None:
    """One plain line on stderr saying what a long stage is doing, printed only when progress bars are
    off (not a terminal): a log then shows what is running; on a terminal the bar says it."""
    from utilities import progress

    if not progress.enabled():
        progress.say(message)
