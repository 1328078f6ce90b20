"""Progress bars on a terminal, plain lines elsewhere.

A tqdm bar redraws itself with carriage returns; in a log file or CI output every redraw becomes
text (``pipeline:   0%|`` before every stage line). So bars are drawn only when stderr is a
terminal, unless forced: ``SHOPBENCH_PROGRESS=1`` (or a command's ``--progress`` flag, which sets
it) draws them anywhere, ``SHOPBENCH_PROGRESS=0`` never. Off a terminal, long work says what it is
doing with :func:`say`, one plain line per stage.
"""
from __future__ import annotations

import os
import sys

PROGRESS_ENV = "SHOPBENCH_PROGRESS"  # 1: always draw bars, 0: never, unset: only on a terminal


def enabled() -> bool:
    """Whether progress bars are drawn now (read each time: tests and flags may change it)."""
    value = os.environ.get(PROGRESS_ENV, "").strip().lower()
    if value in ("1", "true", "yes", "on", "always"):
        return True
    if value in ("0", "false", "no", "off", "never"):
        return False
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):  # a closed or replaced stderr
        return False


def bar(iterable=None, **kwargs):
    """A tqdm bar on stderr, drawn only when :func:`enabled` (``disable=`` in kwargs still wins)."""
    from tqdm.auto import tqdm

    kwargs.setdefault("disable", not enabled())
    kwargs.setdefault("file", sys.stderr)
    return tqdm(iterable, **kwargs)


def say(message: str) -> None:
    """One plain line on stderr that does not tear a bar drawn at the same time."""
    from tqdm.auto import tqdm

    tqdm.write(message, file=sys.stderr)


def add_flag(parser) -> None:
    """``--progress``: draw bars even when stderr is not a terminal (sets SHOPBENCH_PROGRESS=1)."""
    parser.add_argument("--progress", action="store_true",
                        help=f"draw progress bars even off a terminal (default: only on one; {PROGRESS_ENV}=0|1)")


def apply_flag(args) -> None:
    """``--progress`` given: bars everywhere. And the libraries' own bars (transformers' "Loading
    weights", the hub's) follow ours: off when ours are off, so a log holds no redraws."""
    if getattr(args, "progress", False):
        os.environ[PROGRESS_ENV] = "1"
    if not enabled():
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")  # read when huggingface_hub is imported
