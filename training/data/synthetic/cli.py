"""Synthetic training data made by an LLM through the project's own engines (the slides' three methods).

This module is its command line, ``shopbench synthetic enrich|reword|build-task ...``
(:func:`parser`, :func:`main`; the usage is in the package docstring). The first paragraph above
is the ``--help`` description. A mistake in the arguments (no --model, a --sources folder that does
not exist or holds none of the sources, an unknown dataset, ``--engine vllm`` without vLLM) is a
SetupError: one line, exit status 2, before any engine is loaded.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
from pathlib import Path
from typing import Sequence

from models.engines import engine_name
from training.cli import PROGS, MissingInput, UnknownName, need_folder
from training.data.build import open_source
from training.data.registry import load_builders
from training.data.sources import SourceData
from training.data.synthetic.build_task import KINDS, kind_of, run_build_task
from training.data.synthetic.enrich import run_enrich
from training.data.synthetic.jobs import SyntheticJob, model_identity
from training.data.synthetic.prompts import MAX_NEW_TOKENS
from training.data.synthetic.results import MethodReport
from training.data.synthetic.reword import run_reword
from training.data.synthetic.seeds import PRODUCT_SOURCES
from utilities.errors import SetupError, require
from utilities.progress import add_flag, apply_flag

PROG = PROGS["training.data.synthetic"]
SOURCES_HINT = "one subfolder per source: esci/, amazon_m2/, amazon_reviews_2023/, ...; training/data/sources.py"


def check_sources(method: str, sources_dir: Path | None) -> Path:
    """``--sources``, which enrich and build-task read: given, and a folder (else a SetupError)."""
    if sources_dir is None:
        raise MissingInput(f"--sources: not given; {method} reads seed data from the sources: pass --sources DIR "
                           f"({SOURCES_HINT})")
    return need_folder(sources_dir, "--sources", "the folder that holds the sources", hint=SOURCES_HINT)


def _open_sources(names: Sequence[str], sources_dir: Path, seed: int) -> dict[str, SourceData]:
    opened = {}
    for name in names:
        data = open_source(name, sources_dir, seed)
        if data is not None:
            opened[name] = data
    if not opened:
        raise MissingInput(f"--sources {sources_dir}: holds none of the sources this needs ({', '.join(names)}); "
                           f"pass the folder that holds them ({SOURCES_HINT})")
    return opened


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    for name, help_ in (("enrich", "product type, category and entities per product"),
                        ("reword", "new wordings of the builders' instructions"),
                        ("build-task", "new questions written from seed data")):
        s = sub.add_parser(name, help=help_)
        s.add_argument("--engine", choices=("transformers", "vllm"), default=None,
                       help="default: SHOPBENCH_ENGINE, else vllm where CUDA is present, else transformers")
        s.add_argument("--model", type=Path, default=None, help="the teacher's model folder (default: SHOPBENCH_MODEL)")
        s.add_argument("--model-id", default=None,
                       help="the model's name in the cache keys (default: folder name + config hash)")
        s.add_argument("--sources", type=Path, default=None, help="folder with one subfolder per source")
        s.add_argument("--out", type=Path, required=True, help="output folder")
        s.add_argument("--cache", type=Path, default=None, help="cache file (default: OUT/cache/<method>.jsonl)")
        s.add_argument("--limit", type=int, default=None,
                       help="at most N seeds per source and dataset (reword: N templates); default 1000 (reword: all)")
        s.add_argument("--batch-size", type=int, default=None,
                       help="requests per engine call and per cache write (default: 256 on vLLM, 8 on transformers)")
        s.add_argument("--max-new-tokens", type=int, default=None)
        s.add_argument("--seed", type=int, default=0)
        s.add_argument("--no-progress", action="store_true", help="no progress line or bar")
        add_flag(s)
        if name == "reword":
            s.add_argument("--dataset", nargs="+", default=None, metavar="NAME",
                           help="registered datasets whose instructions to reword (default: all)")
            s.add_argument("--n", type=int, default=3, help="new wordings asked per template")
        elif name == "build-task":
            s.add_argument("--dataset", nargs="+", default=None, metavar="NAME",
                           help=f"default: all of {', '.join(k.dataset for k in KINDS.values())}")
            s.add_argument("--source", nargs="+", default=None, choices=PRODUCT_SOURCES)
        else:
            s.add_argument("--source", nargs="+", default=None, choices=PRODUCT_SOURCES)
    return p


def main(argv: list[str] | None = None, engine=None) -> dict:
    """Run one method and print its report; ``engine`` (an engine object) skips loading one."""
    args = parser().parse_args(argv)
    apply_flag(args)
    method = args.command.replace("-", "_")
    from models.settings import CHECKPOINT_ENV

    model_dir = args.model or (Path(os.environ[CHECKPOINT_ENV]) if os.environ.get(CHECKPOINT_ENV) else None)
    if engine is None and model_dir is None:
        raise SetupError(f"--model: not given and {CHECKPOINT_ENV} is not set; synthetic data needs a strong "
                         "instruct model, not the CPU default: pass --model DIR (its folder)")
    if engine is None:
        flag = "--model" if args.model else CHECKPOINT_ENV
        need_folder(model_dir, flag, "the teacher model's folder", holds=("config.json",))
    if method != "reword":
        check_sources(args.command, args.sources)
    if method == "reword":
        registry = load_builders()
        unknown = [n for n in args.dataset or () if n not in registry]
        if unknown:
            raise UnknownName(f"--dataset {' '.join(unknown)}: no such dataset; "
                              f"`{PROGS['training.data']} list` shows them")
    elif method == "build_task":
        unknown = [n for n in args.dataset or () if n.removeprefix("synthetic_build_task_") not in KINDS]
        if unknown:
            raise UnknownName(f"--dataset {' '.join(unknown)}: no such build-task dataset; choose from "
                              f"{', '.join(k.dataset for k in KINDS.values())}")
    model_id = args.model_id or model_identity(model_dir if model_dir is not None else engine.model_dir)
    try:
        name = getattr(engine, "name", None) or engine_name(args.engine)
    except ValueError as err:  # SHOPBENCH_ENGINE names no engine
        raise SetupError(str(err)) from err
    if engine is None and name == "vllm" and importlib.util.find_spec("vllm") is None:
        require("vllm", f"{PROG} --engine vllm")  # not installed: one line naming `make vllm`
    batch = args.batch_size or (256 if name == "vllm" else 8)
    if engine is None:
        from models.engines import load_engine

        engine = lambda: load_engine(name, model_dir)  # noqa: E731 - loaded only if something is not cached
    job = SyntheticJob(engine, args.cache or args.out / "cache" / f"{method}.jsonl", method=method,
                       model_id=model_id, batch_size=batch, progress=not args.no_progress)
    tokens = {"max_new_tokens": args.max_new_tokens or MAX_NEW_TOKENS[method]}
    limit = args.limit if args.limit is not None else 1000
    args.out.mkdir(parents=True, exist_ok=True)
    if method == "reword":
        names = args.dataset or list(registry)
        _, report = run_reword(job, [registry[n] for n in names], args.n, args.out, limit=args.limit, **tokens)
    elif method == "enrich":
        sources = _open_sources(args.source or PRODUCT_SOURCES, args.sources, args.seed)
        _, report = run_enrich(job, sources, limit, args.out, seed=args.seed, **tokens)
    else:
        kinds = [kind_of(n) for n in (args.dataset or list(KINDS))]
        wanted = args.source or sorted({s for k in kinds for s in k.sources}, key=PRODUCT_SOURCES.index)
        sources = _open_sources(wanted, args.sources, args.seed)
        report = MethodReport("build_task")
        for kind in kinds:
            run_build_task(job, kind, sources, limit, args.out, seed=args.seed, report=report, **tokens)
    summary = report.as_dict()
    (args.out / f"synthetic_{method}_report.json").write_text(json.dumps(summary, indent=1, ensure_ascii=False) + "\n")
    print(report.render())
    return summary
