"""What every benchmark script shares: a report that prints and keeps Markdown, and the machine."""
from __future__ import annotations

import os
import platform
from pathlib import Path


class Report:
    """Prints and keeps every line (tqdm bars go to stderr and are not kept)."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def __call__(self, text: str = "") -> None:
        print(text, flush=True)
        self.lines.extend(str(text).split("\n"))

    def write(self, path: Path) -> Path:
        """Everything printed so far, as a Markdown file (its folder made if needed)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(self.lines).rstrip("\n") + "\n", encoding="utf-8")
        print(f"written: {path}")
        return path

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
