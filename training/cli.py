"""What the training commands share: their names under ``shopbench``, one-line argument checks, bars.

Every command of this package runs as ``shopbench <name> ...`` (the front door, ``shopbench/cli.py``)
or as ``.venv/bin/python -m <module>``; :data:`PROGS` is the name each shows in its usage and error lines.

A mistake found after parsing (a folder that does not exist, an unknown name; an ``--out`` that
exists without ``--overwrite``: ``utilities.artifacts.refuse_existing``) is a
:class:`~utilities.errors.SetupError`: one line naming the flag, what was found and what to do,
printed by :func:`~utilities.errors.run_command` with exit status 2. The classes below are
SetupErrors that are also the built-in error a Python caller would catch (``FileNotFoundError``,
``KeyError``).

:func:`quiet_library_bars`: off a terminal (``utilities.progress.enabled()`` is False) the bars of
transformers and huggingface_hub are switched off for a block, so that a log gets no ``0%|`` lines.
"""
from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Iterator

from utilities.errors import SetupError
from utilities.progress import enabled

PROGS = {  # module -> how its command is run
    "training.data": "shopbench data",
    "training.data.synthetic": "shopbench synthetic",
    "training.pipeline": "shopbench pipeline",
    "training.finetune": "shopbench finetune",
    "training.average_adapters": "shopbench average",
    "training.wise_ft": "shopbench wise-ft",
    "training.merge": "shopbench merge",
    "training.pad_mlp": "shopbench pad",
    "training.quantize_awq": "shopbench quantize",
}


class MissingInput(SetupError, FileNotFoundError):
    """An input file or folder that does not exist, or is not what the step reads."""


class UnknownName(SetupError, KeyError):
    """A name (a dataset, a blend) that is not registered."""

    def __str__(self) -> str:  # KeyError's own str() quotes the message
        return str(self.args[0]) if self.args else ""


def need_folder(path: str | Path, flag: str, what: str, holds: tuple[str, ...] = (), hint: str = "") -> Path:
    """``path`` if it is a folder holding the files ``holds``, else :class:`MissingInput`: ``flag path:
    what was found; what is needed (what), hint``."""
    path = Path(path)
    todo = f"; pass {what}" + (f" ({hint})" if hint else "")
    if not path.exists():
        raise MissingInput(f"{flag} {path}: no such folder{todo}")
    if not path.is_dir():
        raise MissingInput(f"{flag} {path}: a file, not a folder{todo}")
    missing = [name for name in holds if not (path / name).is_file()]
    if missing:
        raise MissingInput(f"{flag} {path}: holds no {' or '.join(missing)}{todo}")
    return path


def need_file(path: str | Path, flag: str, what: str, hint: str = "") -> Path:
    """``path`` if it is a file, else :class:`MissingInput` naming ``flag``."""
    path = Path(path)
    if not path.is_file():
        found = "a folder, not a file" if path.is_dir() else "no such file"
        raise MissingInput(f"{flag} {path}: {found}; pass {what}" + (f" ({hint})" if hint else ""))
    return path


@contextlib.contextmanager
def quiet_library_bars(quiet: bool | None = None) -> Iterator[None]:
    """Switch off the progress bars of transformers and huggingface_hub for the block, and put them
    back after, when ``quiet`` (by default: when bars are off, ``utilities.progress.enabled()``)."""
    if not (quiet if quiet is not None else not enabled()):
        yield
        return
    from huggingface_hub.utils import are_progress_bars_disabled, disable_progress_bars, enable_progress_bars
    from transformers.utils import logging as hf_logging

    hub_was_off, hf_was_on = are_progress_bars_disabled(), hf_logging.is_progress_bar_enabled()
    disable_progress_bars()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if hf_was_on:
            hf_logging.enable_progress_bar()  # (which switches huggingface_hub's back on too)
        if hub_was_off:
            disable_progress_bars()
        else:
            enable_progress_bars()
