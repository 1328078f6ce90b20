"""The training-data command line.

    shopbench data list [--all]
    shopbench data build --sources DIR --out DIR [--overwrite] [--blend NAME] [--only NAME ...] [--limit N] [--seed S] [--enrichment FILE] [--progress]

It needs the core environment only (``make eval``). The build writes into a fresh folder beside
--out and renames it into place when done; a --out that is not empty is refused without
--overwrite. Exit status: 0 built and nothing lost; 3 built, but a source file (or the rest of
one), a source or a dataset was lost: a summary naming each is printed to stderr and recorded in
the manifest ("complete": false, "lost"); 2 refused (bad arguments, a --sources folder that does
not exist, a --out that is not empty: one line naming the flag); 1 a crash (nothing written to --out).

Off a terminal the build says one plain line per dataset; a progress bar per dataset is drawn on a
terminal, or anywhere with --progress.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from training.cli import PROGS, UnknownName, need_folder
from training.data.blends import blends, sizes, write_blend
from training.data.build import build, render_losses, render_report
from training.data.registry import load_builders, summary
from utilities.errors import SetupError, one_line, run_command
from utilities.progress import add_flag, apply_flag

PROG = PROGS["training.data"]
EXIT_LOST = 3  # built, but something was lost (manifest "complete": false)
EXIT_REFUSED = 2  # argparse's status for bad arguments; also a SetupError (a --out that is not empty, ...)


def cmd_list(show_extra: bool = False) -> None:
    """The 38 seed datasets; with ``show_extra`` also the extra ones (EC-Guide), marked "extra"."""
    registry = load_builders(extra=True)
    for name, cls in registry.items():
        if cls.seed_set or show_extra:
            mark = "" if cls.seed_set else "extra: "
            print(f"{name:42s} {cls.source:20s} {cls.task_type:26s} {cls.size:>7,d}  {mark}{summary(cls)}")
    extras = sum(not cls.seed_set for cls in registry.values())
    if extras and not show_extra:
        print(f"(+ {extras} extra datasets, built only by name: `{PROG} list --all`)", file=sys.stderr)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    ls = sub.add_parser("list", help="one line per dataset: name, source, task type, seed size")
    ls.add_argument("--all", action="store_true", help="also the extra datasets (EC-Guide), marked 'extra'")
    b = sub.add_parser("build", help="build datasets (JSON Lines, one file per dataset) and a manifest")
    b.add_argument("--sources", type=Path, required=True, help="folder with one subfolder per source (esci/, mmlu/, ...)")
    b.add_argument("--out", type=Path, required=True,
                   help="output folder: must not exist or be empty (see --overwrite); written whole or not at all")
    b.add_argument("--overwrite", action="store_true",
                   help="replace a --out that is not empty (when the new build is complete)")
    b.add_argument("--blend", choices=sorted(blends()), default=None, help="build a named blend's datasets and sizes")
    b.add_argument("--only", nargs="+", default=None, metavar="NAME",
                   help="build only these datasets (seed or extra); without --only/--blend: the 38 seed datasets")
    b.add_argument("--limit", type=int, default=None, help="at most N rows per dataset (quick builds)")
    b.add_argument("--seed", type=int, default=0)
    b.add_argument("--enrichment", type=Path, default=None,
                   help=f"product types from `{PROGS['training.data.synthetic']} enrich` (a file or folder): "
                        "m2_attribute_category then asks about product categories, as dev task2 does")
    add_flag(b)
    return p


def main(argv: list[str] | None = None) -> dict | None:
    """``list`` (None) or ``build`` (its manifest; :func:`exit_status` says the command's status)."""
    args = parser().parse_args(argv)
    if args.command == "list":
        cmd_list(args.all)
        return None
    apply_flag(args)
    need_folder(args.sources, "--sources", "the folder that holds one subfolder per source",
                hint="esci/, amazon_m2/, mmlu/, ...: training/data/sources.py; the repo's fixtures: tests/data/sources")
    registry = load_builders(extra=True)
    unknown = [n for n in args.only or () if n not in registry]
    if unknown:
        raise UnknownName(f"--only {' '.join(unknown)}: no such dataset; `{PROG} list --all` shows them")
    wanted = sizes(args.blend) if args.blend else {n: c.size for n, c in registry.items() if c.seed_set}
    if args.only:
        wanted = {n: wanted.get(n, registry[n].size) for n in args.only}
    if args.limit:
        wanted = {n: min(v, args.limit) for n, v in wanted.items()}
    finish = (lambda folder: write_blend(args.blend, folder, seed=args.seed)) if args.blend else None
    manifest = build(args.sources, args.out, list(wanted), wanted, seed=args.seed, enrichment=args.enrichment,
                     overwrite=args.overwrite, finish=finish)
    if args.blend:
        print(f"blend: {args.out / f'blend-{args.blend}.jsonl'}")
    print(render_report(manifest))
    losses = render_losses(manifest)
    if losses:
        print(losses, file=sys.stderr)
    return manifest


def exit_status(result: dict | None) -> int:
    """The command's exit status for what :func:`main` returned: 3 when the build lost something, else 0."""
    return EXIT_LOST if result is not None and not result["complete"] else 0


def run(argv: list[str] | None = None) -> int:
    """``main`` as a command: its exit status (module docstring); a SetupError is one line and 2."""
    try:
        return exit_status(main(argv))
    except SetupError as err:  # a --out that is not empty, a --sources that does not exist, ...
        print(f"{PROG}: error: {one_line(err)}", file=sys.stderr)
        return EXIT_REFUSED


if __name__ == "__main__":
    sys.exit(run_command(run, prog=PROG))
