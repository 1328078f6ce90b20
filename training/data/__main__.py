"""The training-data command line.

    python -m training.data list [--all]
    python -m training.data build --sources DIR --out DIR [--blend NAME] [--only NAME ...] [--limit N] [--seed S] [--enrichment FILE]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from training.data.blends import blends, sizes, write_blend
from training.data.build import build, render_report
from training.data.registry import load_builders, summary


def cmd_list(show_extra: bool = False) -> None:
    """The 38 seed datasets; with ``show_extra`` also the extra ones (EC-Guide), marked "extra"."""
    registry = load_builders(extra=True)
    for name, cls in registry.items():
        if cls.seed_set or show_extra:
            mark = "" if cls.seed_set else "extra: "
            print(f"{name:42s} {cls.source:20s} {cls.task_type:26s} {cls.size:>7,d}  {mark}{summary(cls)}")
    extras = sum(not cls.seed_set for cls in registry.values())
    if extras and not show_extra:
        print(f"(+ {extras} extra datasets, built only by name: `list --all`)", file=sys.stderr)


def main(argv: list[str] | None = None) -> dict | None:
    parser = argparse.ArgumentParser(prog="python -m training.data", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    ls = sub.add_parser("list", help="one line per dataset: name, source, task type, seed size")
    ls.add_argument("--all", action="store_true", help="also the extra datasets (EC-Guide), marked 'extra'")
    b = sub.add_parser("build", help="build datasets (JSON Lines, one file per dataset) and a manifest")
    b.add_argument("--sources", type=Path, required=True, help="folder with one subfolder per source (esci/, mmlu/, ...)")
    b.add_argument("--out", type=Path, required=True, help="output folder")
    b.add_argument("--blend", choices=sorted(blends()), default=None, help="build a named blend's datasets and sizes")
    b.add_argument("--only", nargs="+", default=None, metavar="NAME",
                   help="build only these datasets (seed or extra); without --only/--blend: the 38 seed datasets")
    b.add_argument("--limit", type=int, default=None, help="at most N rows per dataset (quick builds)")
    b.add_argument("--seed", type=int, default=0)
    b.add_argument("--enrichment", type=Path, default=None,
                   help="product types from `python -m training.data.synthetic enrich` (a file or folder): "
                        "m2_attribute_category then asks about product categories, as dev task2 does")
    args = parser.parse_args(argv)
    if args.command == "list":
        cmd_list(args.all)
        return None
    registry = load_builders(extra=True)
    wanted = sizes(args.blend) if args.blend else {n: c.size for n, c in registry.items() if c.seed_set}
    if args.only:
        wanted = {n: wanted.get(n, registry[n].size if n in registry else 0) for n in args.only}
    if args.limit:
        wanted = {n: min(v, args.limit) for n, v in wanted.items()}
    manifest = build(args.sources, args.out, list(wanted), wanted, seed=args.seed, enrichment=args.enrichment)
    if args.blend:
        print(f"blend: {write_blend(args.blend, args.out, seed=args.seed)}")
    print(render_report(manifest))
    return manifest


if __name__ == "__main__":
    main()
