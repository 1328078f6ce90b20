"""Memory and time of local_evaluation.py's data check on a 100,000-row file, before any model loads.

Writes a synthetic JSON Lines file of ``--rows`` rows (the 96 dev questions repeated, each prompt made
unique, ~86 MB for 100,000) and, in a fresh process per case, runs what ``local_evaluation.main`` does
before it loads the model; prints the peak resident memory of that process (``ru_maxrss``, what
``/usr/bin/time -v`` calls "Maximum resident set size"), the same for a process that only imports the
module (the floor), and the wall and CPU seconds (CPU time is the steadier on a shared machine). Cases:

- ``all rows``: every row selected (a full run holds every selected row: they are answered);
- ``--per-task 2``: a stratified sample (only the selected rows are read back);
- ``bad last line``: the same file whose LAST row has a ranking truth written as text ("0.5"): the
  check must refuse it (exit 2 in main) before any model loads.

``--module PATH`` measures another copy of local_evaluation.py (e.g. ``git show
HEAD:local_evaluation.py > /tmp/old/local_evaluation.py``) the same way, for a before/after table;
a copy without ``read_data`` is driven the old way (``load_rows`` + ``question_keys``).

    shopbench bench evaluator-memory [--rows 100000] [--module /tmp/old/local_evaluation.py]

(``python benchmarks/evaluator_memory.py`` takes the same options.) The table is printed and written
to a new run folder, ``runs/<time>-bench-evaluator-memory/report.md``
(``runs/latest-bench-evaluator-memory`` points at the newest). No file tracked by git holds its
figures, so there is no ``--record``: nothing tracked changes. The synthetic files go to a temporary
folder, removed at the end.
"""
from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks.common import Report, cpu_model, load_average, stage, write_report  # noqa: E402
from utilities import progress  # noqa: E402

NAME = "evaluator-memory"  # runs/<time>-bench-evaluator-memory/, runs/latest-bench-evaluator-memory
CASES = ("import only", "all rows", "--per-task 2", "bad last line")

_CASE = r"""
import importlib.util, json, resource, sys, time
sys.path.insert(0, {repo!r})
spec = importlib.util.spec_from_file_location("local_evaluation", {module!r})
le = importlib.util.module_from_spec(spec)
sys.modules["local_evaluation"] = le
spec.loader.exec_module(le)
floor = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t0, c0 = time.perf_counter(), time.process_time()
outcome = "ok"
try:
    if {case!r} != "import":
        if hasattr(le, "read_data"):
            data = le.read_data({path!r})
            picked = le.select_indices(data.entries, 5, None, {per_task!r})
            rows, keys = data.rows(picked), [data.entries[i].key for i in picked]
        else:
            rows = le.load_rows({path!r})
            keys = le.question_keys(rows)
            picked = le.select_indices(rows, 5, None, {per_task!r})
            rows, keys = [rows[i] for i in picked], [keys[i] for i in picked]
        outcome = f"{{len(rows)}} rows selected"
except le.DataError as err:
    outcome = "refused: " + str(err).splitlines()[0][-90:]
seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
print(json.dumps({{"peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "floor_mb": floor / 1024,
                  "seconds": seconds, "cpu_s": cpu, "outcome": outcome}}))
"""


def write_file(path: Path, rows: int, bad_last: bool = False) -> Path:
    from utilities.grader import DEV_FILE, read_dev_rows

    dev = read_dev_rows(DEV_FILE)
    ranking = next(r for r in dev if r["metric"] == "ndcg")
    with open(path, "w", encoding="utf-8") as f:
        for i in range(rows):
            row = dict(dev[i % len(dev)])
            row["input_field"] = f"{row['input_field']} #{i}"
            if bad_last and i == rows - 1:
                row = dict(ranking, input_field=f"{ranking['input_field']} #{i}", output_field=["1", "0.5", "0"])
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    return path


def measure(module: Path, path: Path, case: str, per_task: int | None = None) -> dict:
    code = _CASE.format(repo=str(REPO), module=str(module), path=str(path), case=case, per_task=per_task)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> list[list]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000, help="rows in the synthetic file (default 100,000)")
    parser.add_argument("--module", type=Path, action="append", default=None,
                        help="a local_evaluation.py to measure (repeatable; default: this repository's)")
    progress.add_flag(parser)
    args = parser.parse_args(argv)
    if args.rows < 1:
        parser.error(f"--rows must be at least 1; got {args.rows}")
    missing = [str(m) for m in args.module or [] if not m.is_file()]
    if missing:
        parser.error(f"--module: no such file: {', '.join(missing)}")
    progress.apply_flag(args)
    modules = args.module or [REPO / "local_evaluation.py"]
    table = []
    with tempfile.TemporaryDirectory() as tmp:
        stage(f"writing two files of {args.rows:,} rows")
        good = write_file(Path(tmp) / "rows.jsonl", args.rows)
        bad = write_file(Path(tmp) / "bad_last.jsonl", args.rows, bad_last=True)
        size_mb = good.stat().st_size / 1e6
        progress.say(f"{args.rows:,} rows, {size_mb:.1f} MB")
        cases = [(module, label, path, case, per_task) for module in modules
                 for label, path, case, per_task in zip(CASES, (good, good, good, bad), ("import", "run", "run", "run"),
                                                        (None, None, 2, None))]
        for module, label, path, case, per_task in progress.bar(cases, desc="cases", unit="case", leave=False):
            stage(f"{label}: {module}")
            m = measure(module, path, case, per_task)
            table.append([str(module), label, f"{m['peak_mb']:.0f}", f"{m['peak_mb'] - m['floor_mb']:.0f}",
                          f"{m['seconds']:.1f}", f"{m['cpu_s']:.1f}", m["outcome"]])
    out = Report()
    out("# local_evaluation.py's data check: peak memory and time")
    out()
    out(f"{time.strftime('%Y-%m-%d %H:%M')}; {cpu_model()}; python {platform.python_version()}; "
        f"load average {load_average()}; `shopbench bench evaluator-memory --rows {args.rows}"
        + "".join(f" --module {m}" for m in args.module or []) + "`")
    out()
    out(f"{args.rows:,} rows ({size_mb:.1f} MB), a fresh process per case; peak RSS is ru_maxrss.")
    out()
    out.table(["module", "case", "peak RSS MB", "above import MB", "wall s", "CPU s", "outcome"], table)
    write_report(out, NAME)
    return table


if __name__ == "__main__":
    from utilities.errors import run_command

    run_command(main)
