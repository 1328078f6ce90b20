"""Named blends (``blends.yaml``): how many rows of each dataset, mixed in a seeded order.

``sizes(name)`` turns a blend into per-dataset row counts for the build; ``write_blend`` joins the
built files into ``blend-<name>.jsonl``, shuffled with the build seed: same inputs, same bytes.
A blend's ``"*"`` sets the 38 seed datasets it does not name; an extra dataset (EC-Guide's,
``registry.EXTRA_DATASETS``) joins a blend only where the blend names it.
"""
from __future__ import annotations

import random
from pathlib import Path

import yaml

from training.data.registry import load_builders

BLENDS_FILE = Path(__file__).with_name("blends.yaml")


def blends() -> dict[str, dict]:
    return yaml.safe_load(BLENDS_FILE.read_text())


def sizes(name: str) -> dict[str, int]:
    """Rows per dataset of blend ``name``; datasets at 0 are left out."""
    all_blends = blends()
    if name not in all_blends:
        raise KeyError(f"unknown blend {name!r}; known: {', '.join(all_blends)}")
    spec = dict(all_blends[name])
    registry = load_builders(extra=True)
    unknown = sorted(set(spec) - set(registry) - {"*"})
    if unknown:
        raise KeyError(f"blend {name!r} names unknown datasets {unknown}")
    default = spec.pop("*", 0)
    out = {}
    for dataset, cls in registry.items():
        n = spec.get(dataset, default if cls.seed_set else 0)
        n = cls.size if n == "seed" else int(n)
        if n > 0:
            out[dataset] = n
    return out


def write_blend(name: str, built_dir: Path, seed: int = 0) -> Path:
    """``blend-<name>.jsonl``: the blend's datasets from ``built_dir``, in a seeded random order."""
    rows = []
    for dataset in sizes(name):
        path = Path(built_dir) / f"{dataset}.jsonl"
        if path.exists():
            rows.extend(path.read_text(encoding="utf-8").splitlines())
    random.Random(f"{seed}:blend:{name}").shuffle(rows)
    out = Path(built_dir) / f"blend-{name}.jsonl"
    out.write_text("".join(line + "\n" for line in rows), encoding="utf-8")
    return out

