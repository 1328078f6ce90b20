"""What the three methods share: a method's report (the job's counts, accepted outputs, invalid
ones by reason, files written), parsing every output with invalid ones counted, writing JSON Lines.
"""
from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Sequence

from training.data.registry import Skip
from training.data.synthetic.extract import Invalid
from training.data.synthetic.jobs import JobReport


@dataclass
class MethodReport:
    method: str
    job: JobReport | None = None
    accepted: int = 0
    invalid: Counter = field(default_factory=Counter)  # reason -> count
    outputs: dict[str, str] = field(default_factory=dict)  # files written -> what
    counts: dict[str, int] = field(default_factory=dict)  # rows per dataset / records per source

    def add_job(self, job: JobReport) -> None:
        if self.job is None:
            self.job = JobReport(job.method, job.model)
        for name, value in job.as_dict().items():
            if isinstance(value, int):
                setattr(self.job, name, getattr(self.job, name) + value)

    def as_dict(self) -> dict:
        return {"method": self.method, "job": self.job.as_dict() if self.job else None, "accepted": self.accepted,
                "invalid": dict(self.invalid.most_common()), "counts": self.counts, "outputs": self.outputs}

    def render(self) -> str:
        lines = [self.job.render() if self.job else f"{self.method}: no requests"]
        total = sum(self.invalid.values())
        reasons = "; ".join(f"{n} {r}" for r, n in self.invalid.most_common())
        lines.append(f"accepted {self.accepted}, invalid {total}" + (f": {reasons}" if reasons else ""))
        lines += [f"  {name}: {n}" for name, n in self.counts.items()]
        lines += [f"wrote {path} ({what})" for path, what in self.outputs.items()]
        return "\n".join(lines)


def _parse_all(seeds: Sequence, outputs: Sequence[str | None], parse: Callable, report: MethodReport) -> list:
    """(seed, parsed) for every valid output; invalid ones counted by reason."""
    out = []
    for seed, text in zip(seeds, outputs):
        if text is None:
            report.invalid["prompt too long for the context"] += 1
            continue
        try:
            out.append((seed, parse(text, seed)))
        except (Invalid, Skip) as why:
            report.invalid[str(why)] += 1
    return out


def _write_jsonl(path: Path, rows: Iterable[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
