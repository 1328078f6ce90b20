"""Run folders that are kept: ``runs/<time>-<label>.../``, with ``runs/latest`` pointing at the newest.

Every evaluation (and every benchmark run) gets a folder of its own, so a second run never
replaces the first one's report; ``runs/latest`` is a relative symbolic link to the newest
evaluation, replaced atomically. ``runs/`` is ignored by git, so nothing here dirties the tree.
"""
from __future__ import annotations

import os
import re
import time
from pathlib import Path

from utilities.grader import REPO

RUNS_ENV = "SHOPBENCH_RUNS"  # where run folders go (default <repo>/runs)
LATEST = "latest"


def runs_root() -> Path:
    return Path(os.environ.get(RUNS_ENV) or REPO / "runs")


def slug(text: str) -> str:
    """A folder-name-safe form of a label: letters, digits, '.', '_' and '-'; at most 40 characters."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "-", str(text)).strip("-.") or "x"
    return cleaned[:40]


def new_run_dir(*labels: str, root: Path | None = None, now: float | None = None) -> Path:
    """A new, empty folder ``<root>/<YYYYmmdd-HHMMSS>-<label>-<label>...``, made now; a name already
    taken (two runs in one second) gets ``-2``, ``-3``, ... ."""
    root = Path(root) if root is not None else runs_root()
    root.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now))
    base = "-".join([stamp, *(slug(label) for label in labels if label)])
    for n in range(1, 10_000):
        path = root / (base if n == 1 else f"{base}-{n}")
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue
    raise RuntimeError(f"no free run folder name under {root} for {base}")


def point_latest(run: Path, name: str = LATEST) -> Path:
    """Make ``<run's parent>/<name>`` a relative link to ``run`` (replaced atomically); returns it."""
    run = Path(run)
    link = run.parent / name
    if link.exists() and not link.is_symlink():  # earlier versions wrote every run into runs/latest/
        stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(link.stat().st_mtime))
        os.replace(link, run.parent / f"{stamp}-earlier-{name}")  # kept under a name of its own
    tmp = run.parent / f".{name}.{os.getpid()}"
    if tmp.is_symlink() or tmp.exists():
        tmp.unlink()
    os.symlink(run.name, tmp)
    os.replace(tmp, link)
    return link
