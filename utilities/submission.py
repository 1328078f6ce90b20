"""Submit to a ShopBench track: write aicrowd.json, check the repo, tag ``submission-<name>``, push.

A submission is a git tag whose name starts with ``submission-``, pushed to the grader's git
remote; the grader reads ``aicrowd.json`` at that tag (``challenge_id`` picks the track, ``"gpu":
true`` gets the 4 x T4), installs ``requirements.txt``, fetches the git-lfs weights and calls
``UserModel`` (REFERENCE.md section 1). Every check runs before anything is committed or pushed:

1. git: a repository, the remote exists, the tag is new (locally and on the remote), and no
   tracked file other than aicrowd.json has uncommitted changes (the tag must hold what was checked);
2. ``requirements.txt`` is pinned: each requirement is ``name==version`` (``-r`` files followed);
3. git-lfs: every weight file under ``models/`` (tracked, or untracked and not ignored) is covered
   by a ``filter=lfs`` rule, and is committed as an LFS pointer (a plain blob would be pushed as
   gigabytes of git objects; without git-lfs installed nothing else can be pushed);
4. the track's checkpoint folder (``utilities/tracks.py``) holds a committed config.json and weights;
5. ``aicrowd.json`` is written for the track (existing authors, description and other keys kept),
   before the model check: where CUDA is present, UserModel's default checkpoint is the one it names;
6. the model answers a few dev questions: ``UserModel()`` as the grader builds it, one
   ``batch_predict`` per task type, one string per prompt that the official parser accepts.

Then aicrowd.json is committed if it changed, the tag is created on HEAD, and the current branch
and the tag are pushed. Every failure is one line on stderr and exit status 1.

Examples::

    python -m utilities.submission --track 5 --name v1 --remote aicrowd --dry-run
    python -m utilities.submission --track 2 --name t2-alpha0.5 --remote aicrowd
    SHOPBENCH_MODEL=/path/to/model SHOPBENCH_ENGINE=transformers \\
        python -m utilities.submission --track 1 --name smoke --remote origin --questions 10
    python -m utilities.submission --track 3 --name code-only --remote aicrowd --no-checkpoint-check --no-model-check

The model check imports ``models.user_config`` from this code (not from ``--repo``) and loads the
model the environment selects (``SHOPBENCH_MODEL`` / ``SHOPBENCH_ENGINE``; unset: the track's
checkpoint where CUDA is present, else the SmolLM2 CPU model); it prints which folder it ran.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

from utilities.tracks import TRACKS, get_track

CODE_REPO = Path(__file__).resolve().parent.parent
DEV_FILE = CODE_REPO / "data" / "development.json"  # the 96 public dev questions the model check draws from
TAG_PREFIX = "submission-"  # the grader starts an evaluation for tags with this prefix
AICROWD_JSON = "aicrowd.json"  # at the repo root, where the grader reads it
REQUIREMENTS = "requirements.txt"  # the GPU runtime the grader installs
MODELS_DIR = "models"  # where checkpoints live; weight files elsewhere are not the grader's business
# Checkpoint weight files: safetensors / PyTorch pickles / GGUF. Each can be tens of GB, so each
# must go through git-lfs (the grader's repo limit is 200 GB, and plain git objects that size fail).
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".gguf")
LFS_POINTER_PREFIX = b"version https://git-lfs"  # first line of every git-lfs pointer file
LFS_POINTER_MAX_BYTES = 1024  # the git-lfs spec: pointer files are smaller than 1024 bytes
DEFAULT_QUESTIONS = 5  # one per task type: enough to show every task's answers parse, in seconds
DEFAULT_DESCRIPTION = (
    "ShopBench agent: task-type routing, constrained decoding and tidy answers on an AWQ, MLP-padded "
    "Qwen2-72B-Instruct fine-tune, served by vLLM across 4 x T4."
)
# Answers the official parser "accepts" but that score 0 for sure: it reads -1 (multiple choice)
# or [] (ranking, retrieval) when it cannot use an answer (utilities/parsers.py).
PARSE_FAILURES = {"multiple-choice": -1, "ranking": [], "retrieval": []}


class SubmissionError(Exception):
    """A check failed or a git step went wrong; the message is the one-line reason."""


# --- git ------------------------------------------------------------------------------------------
def git(repo: Path, *args: str, stdin: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
    """``git -C repo args``; on failure (with ``check``) a SubmissionError with git's own message."""
    try:
        proc = subprocess.run(["git", "-C", str(repo), *args], input=stdin, capture_output=True, text=True)
    except FileNotFoundError:
        raise SubmissionError("git is not installed (it is needed to tag and push a submission)") from None
    if check and proc.returncode != 0:
        detail = " ".join((proc.stderr or proc.stdout).split()) or f"exit status {proc.returncode}"
        raise SubmissionError(f"`git {' '.join(args)}` failed: {detail}")
    return proc


def git_lfs_installed(repo: Path) -> bool:
    return git(repo, "lfs", "version", check=False).returncode == 0


def _nul_list(text: str) -> list[str]:
    return [item for item in text.split("\0") if item]


def check_git(repo: Path, remote: str, tag: str) -> Path:
    """The repository's top folder, after checking the remote, the tag and the working tree."""
    top = git(repo, "rev-parse", "--show-toplevel", check=False)
    if top.returncode != 0:
        raise SubmissionError(f"{repo} is not a git repository (submissions are git tags)")
    root = Path(top.stdout.strip())
    if git(root, "rev-parse", "--verify", "-q", "HEAD", check=False).returncode != 0:
        raise SubmissionError(f"{root} has no commit yet: commit the project before submitting it")
    remotes = git(root, "remote").stdout.split()
    if remote not in remotes:
        raise SubmissionError(
            f"no git remote named {remote!r} in {root} (remotes: {', '.join(remotes) or 'none'}); "
            f"add the grader's with `git remote add {remote} <url>`"
        )
    if git(root, "check-ref-format", f"refs/tags/{tag}", check=False).returncode != 0:
        raise SubmissionError(f"{tag!r} is not a valid git tag name: choose a --name without spaces, '..', '~', '^', ':'")
    if git(root, "rev-parse", "--verify", "-q", f"refs/tags/{tag}", check=False).returncode == 0:
        raise SubmissionError(f"tag {tag} already exists locally: each submission needs a new --name")
    if git(root, "ls-remote", "--tags", remote, f"refs/tags/{tag}").stdout.strip():
        raise SubmissionError(f"tag {tag} already exists on remote {remote!r}: each submission needs a new --name")
    dirty = [line[3:] for line in git(root, "status", "--porcelain", "--untracked-files=no").stdout.splitlines()
             if line[3:].strip('"') != AICROWD_JSON]
    if dirty:
        raise SubmissionError(
            f"uncommitted changes to tracked files ({', '.join(dirty[:5])}{', ...' if len(dirty) > 5 else ''}): "
            "commit or stash them, so that the tag holds what was checked"
        )
    return root


# --- requirements ---------------------------------------------------------------------------------
def _logical_lines(path: Path):
    """(line number, text without comment) for each logical line, joining ``\\`` continuations."""
    number, parts = 0, []
    for i, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = re.sub(r"(^|\s)#.*$", "", raw).rstrip()  # pip: "#" at the start or after a space
        number = number or i
        if line.endswith("\\"):
            parts.append(line[:-1])
            continue
        parts.append(line)
        yield number, " ".join(p.strip() for p in parts).strip()
        number, parts = 0, []
    if parts:
        yield number, " ".join(p.strip() for p in parts).strip()


def _is_pinned(requirement: str) -> bool:
    """``name[extras]==version`` (or ``===``), markers after ``;`` and ``--hash`` options allowed."""
    spec = requirement.split(";")[0]
    spec = " ".join(w for w in spec.split() if not w.startswith("--hash"))
    name, sep, version = spec.partition("==")
    version = version.lstrip("=").strip()
    return bool(sep and name.strip() and version and not any(c in version for c in "*,<>!~ ") and "@" not in name)


def check_requirements(path: Path, seen: set[Path] | None = None) -> int:
    """The number of pinned requirements in ``path`` and the files it includes with ``-r``."""
    seen = set() if seen is None else seen
    if not path.is_file():
        raise SubmissionError(f"{path.name} not found at {path}: the grader installs the runtime from it")
    if path.resolve() in seen:
        return 0
    seen.add(path.resolve())
    count = 0
    for number, line in _logical_lines(path):
        if not line:
            continue
        where = f"{path.name}:{number}"
        if line.startswith(("-r", "--requirement")):
            target = line.split("=", 1)[1] if line.startswith("--requirement=") else line.split(None, 1)[-1]
            target = target[2:] if target.startswith("-r") else target  # "-rfile.txt"
            count += check_requirements(path.parent / target.strip(), seen)
        elif line.startswith(("-e", "--editable")):
            raise SubmissionError(f"{where}: {line!r} is an editable install, not a pinned version: write it as name==version")
        elif line.startswith("-"):
            continue  # -c constraints (they install nothing), --index-url, --find-links, --no-binary, ...
        elif _is_pinned(line):
            count += 1
        else:
            raise SubmissionError(
                f"{where}: {line!r} is not pinned: write it as name==version "
                "(the grader installs this file; a range can install a version nobody tested)"
            )
    return count


# --- git-lfs and the checkpoint ---------------------------------------------------------------------
def weight_files(root: Path) -> tuple[dict[str, str], list[str]]:
    """Weight files under models/: {tracked path: index blob id} and untracked, not ignored paths."""
    tracked = {}
    for entry in _nul_list(git(root, "ls-files", "-s", "-z", "--", MODELS_DIR).stdout):
        meta, path = entry.split("\t", 1)
        if path.endswith(WEIGHT_SUFFIXES):
            tracked[path] = meta.split()[1]
    untracked = [p for p in _nul_list(git(root, "ls-files", "-z", "--others", "--exclude-standard", "--", MODELS_DIR).stdout)
                 if p.endswith(WEIGHT_SUFFIXES)]
    return tracked, untracked


def _is_pointer(data: bytes) -> bool:
    return len(data) < LFS_POINTER_MAX_BYTES and data.startswith(LFS_POINTER_PREFIX)


def _blob_is_pointer(root: Path, blob: str) -> bool:
    size = int(git(root, "cat-file", "-s", blob).stdout.strip())
    if size >= LFS_POINTER_MAX_BYTES:
        return False
    data = subprocess.run(["git", "-C", str(root), "cat-file", "blob", blob], capture_output=True, check=True).stdout
    return _is_pointer(data)


def _file_is_pointer(path: Path) -> bool:
    if path.stat().st_size >= LFS_POINTER_MAX_BYTES:
        return False
    return _is_pointer(path.read_bytes())


def check_lfs(root: Path) -> str:
    """Every weight file under models/ is covered by a filter=lfs rule and is (or will be) an LFS pointer."""
    tracked, untracked = weight_files(root)
    paths = sorted(tracked) + sorted(untracked)
    if not paths:
        return "no weight files under models/"
    out = _nul_list(git(root, "check-attr", "-z", "--stdin", "filter", stdin="\0".join(paths) + "\0").stdout)
    filters = {out[i]: out[i + 2] for i in range(0, len(out) - 2, 3)}
    uncovered = [p for p in paths if filters.get(p) != "lfs"]
    if uncovered:
        patterns = " ".join(f'"{MODELS_DIR}/**/*{s}"' for s in sorted({Path(p).suffix for p in uncovered}))
        raise SubmissionError(
            f"{len(uncovered)} weight file(s) not covered by a git-lfs rule in .gitattributes: "
            f"{', '.join(uncovered[:5])}{', ...' if len(uncovered) > 5 else ''}; fix: `git lfs track {patterns}` "
            "then commit .gitattributes (and `git rm --cached` + `git add` the weights so they become LFS pointers)"
        )
    pending = [p for p in _nul_list(git(root, "status", "--porcelain", "-z", "--untracked-files=all").stdout)
               if p[3:].endswith(".gitattributes")]
    if pending:
        raise SubmissionError(
            f"the git-lfs rules are in uncommitted {', '.join(p[3:] for p in pending)}: commit it, "
            "or the grader's checkout will not know the weights are LFS files"
        )
    plain = [p for p, blob in sorted(tracked.items()) if not _blob_is_pointer(root, blob)]
    plain += [p for p in sorted(untracked) if not _file_is_pointer(root / p)]
    lfs = git_lfs_installed(root)
    if plain and not lfs:
        raise SubmissionError(
            f"git-lfs is not installed, and {len(plain)} weight file(s) are real weights, not LFS pointers "
            f"({', '.join(plain[:3])}{', ...' if len(plain) > 3 else ''}): they cannot be pushed as LFS objects; "
            "install git-lfs (`apt-get install git-lfs && git lfs install`), then `git rm --cached` + `git add` them and commit"
        )
    committed_plain = [p for p in plain if p in tracked]
    if committed_plain:
        raise SubmissionError(
            f"{len(committed_plain)} weight file(s) are committed as plain git blobs, not LFS pointers "
            f"({', '.join(committed_plain[:3])}{', ...' if len(committed_plain) > 3 else ''}): "
            "`git lfs install`, then `git rm --cached` + `git add` them and commit (or `git lfs migrate import`)"
        )
    note = "" if lfs else "; git-lfs is not installed, so this push uploads no LFS objects: they must already be on the remote"
    return f"{len(tracked)} committed weight file(s) are LFS pointers covered by filter=lfs ({len(untracked)} untracked){note}"


def check_checkpoint(root: Path, folder: str) -> str:
    """The checkpoint folder exists and holds a committed config.json and committed weights."""
    path = root / folder
    how = ("build the weights into it (training/: fine-tune, wise-ft, merge, pad, AWQ; see the README), "
           "commit them with git-lfs, or pass --no-checkpoint-check to submit without them")
    if not path.is_dir():
        raise SubmissionError(f"checkpoint folder {folder} does not exist: {how}")
    files = _nul_list(git(root, "ls-files", "-z", "--", folder).stdout)
    weights = [f for f in files if f.endswith(WEIGHT_SUFFIXES)]
    if not weights:
        loose = sorted(p.relative_to(root).as_posix() for p in path.rglob("*") if p.name.endswith(WEIGHT_SUFFIXES))
        if loose:
            raise SubmissionError(
                f"checkpoint folder {folder} has weights that are not committed ({', '.join(loose[:3])}): "
                "`git add` them (with git-lfs) and commit"
            )
        raise SubmissionError(f"checkpoint folder {folder} holds no weight files ({', '.join('*' + s for s in WEIGHT_SUFFIXES)}): {how}")
    if f"{folder}/config.json" not in files:
        raise SubmissionError(f"checkpoint folder {folder} has no committed config.json: the grader's engine cannot load it")
    return f"{folder}: config.json and {len(weights)} weight file(s) committed"


# --- aicrowd.json ---------------------------------------------------------------------------------
def aicrowd_config(root: Path, challenge_id: str) -> dict:
    """aicrowd.json for the track: challenge_id and gpu set, authors / description / other keys kept."""
    path = root / AICROWD_JSON
    old = {}
    if path.is_file():
        try:
            old = json.loads(path.read_text(encoding="utf-8"))
        except ValueError as e:
            raise SubmissionError(f"{path} is not valid JSON ({e}): fix or delete it") from None
        if not isinstance(old, dict):
            raise SubmissionError(f"{path} is not a JSON object: fix or delete it")
    authors = old.get("authors")
    if not authors:
        name = git(root, "config", "user.name", check=False).stdout.strip()
        authors = [name] if name else []
    config = {"challenge_id": challenge_id, "authors": authors, "gpu": True,
              "description": old.get("description") or DEFAULT_DESCRIPTION}
    config.update({k: v for k, v in old.items() if k not in config})
    return config


def render_config(config: dict) -> str:
    return json.dumps(config, indent=2, ensure_ascii=False) + "\n"


# --- the model ------------------------------------------------------------------------------------
def pick_questions(rows: list[dict], k: int, challenge_id: str) -> list[dict]:
    """``k`` dev questions, one task type after another (the track's own rows first)."""
    by_type: dict[str, list[dict]] = defaultdict(list)
    for row in sorted(rows, key=lambda r: r.get("track") != challenge_id):  # stable: file order otherwise
        by_type[row["task_type"]].append(row)
    picked, queues = [], list(by_type.values())
    while len(picked) < k and any(queues):
        for queue in queues:
            if queue and len(picked) < k:
                picked.append(queue.pop(0))
    return picked


def check_model(questions: list[dict]) -> str:
    """Build UserModel as the grader does and require parseable answers, one batch per task type."""
    from utilities.parsers import parse

    started = time.perf_counter()
    try:
        from models.user_config import UserModel

        model = UserModel()
    except Exception as e:  # noqa: BLE001 - any failure to build the model stops the submission
        raise SubmissionError(f"model check: UserModel() failed: {type(e).__name__}: {_one_line(e)}") from None
    engine = getattr(model, "engine", None)
    used = getattr(engine, "model_dir", None) or os.environ.get("SHOPBENCH_MODEL") or "?"
    by_type: dict[str, list[dict]] = defaultdict(list)
    for row in questions:
        by_type[row["task_type"]].append(row)
    for task_type, rows in by_type.items():
        prompts = [r["input_field"] for r in rows]
        try:
            answers = model.batch_predict({"prompt": prompts}, bool(rows[0]["is_multiple_choice"]))
        except Exception as e:  # noqa: BLE001
            raise SubmissionError(f"model check: batch_predict on {task_type} raised {type(e).__name__}: {_one_line(e)}") from None
        if not isinstance(answers, list) or len(answers) != len(prompts):
            raise SubmissionError(
                f"model check: batch_predict on {len(prompts)} {task_type} prompt(s) returned "
                f"{len(answers) if isinstance(answers, list) else type(answers).__name__}, not one answer per prompt"
            )
        for row, answer in zip(rows, answers):
            if not isinstance(answer, str):
                raise SubmissionError(f"model check: {row['task_name']} ({task_type}) answer is {type(answer).__name__}, not str")
            try:
                parsed = parse(task_type, answer)
            except Exception as e:  # noqa: BLE001
                raise SubmissionError(f"model check: {row['task_name']} ({task_type}) answer {answer!r:.60} fails to parse: {e}") from None
            if task_type in PARSE_FAILURES and parsed == PARSE_FAILURES[task_type]:
                raise SubmissionError(
                    f"model check: {row['task_name']} ({task_type}) answer {answer!r:.60} parses to "
                    f"{parsed!r}, the parser's failure value (it scores 0)"
                )
    seconds = time.perf_counter() - started
    return (f"{len(questions)} dev question(s) ({', '.join(f'{t} {len(r)}' for t, r in by_type.items())}) answered "
            f"and parsed in {seconds:.1f} s by UserModel on {getattr(engine, 'name', '?')} {used}")


def _one_line(e: Exception) -> str:
    return " ".join(str(e).split())[:300]


# --- the command ----------------------------------------------------------------------------------
def tag_name(name: str) -> str:
    name = name.strip()
    if not name:
        raise SubmissionError("--name is empty: the tag is submission-<name>")
    return name if name.startswith(TAG_PREFIX) else TAG_PREFIX + name


def submit(args: argparse.Namespace, say=print) -> str:
    """Run every check, then commit aicrowd.json, tag and push; returns the tag."""
    track = get_track(args.track)
    tag = tag_name(args.name)
    root = check_git(Path(args.repo), args.remote, tag)
    say(f"[git] {root}: remote {args.remote!r}, new tag {tag}, no uncommitted changes to tracked files")
    say(f"[requirements] {REQUIREMENTS}: {check_requirements(root / REQUIREMENTS)} requirement(s), all pinned with ==")
    say(f"[lfs] {check_lfs(root)}")
    if args.no_checkpoint_check:
        say(f"[checkpoint] skipped (--no-checkpoint-check): {track.checkpoint} is not checked")
    else:
        say(f"[checkpoint] {check_checkpoint(root, track.checkpoint)}")

    config_path = root / AICROWD_JSON
    # Written before the model check, which (on a GPU, SHOPBENCH_MODEL unset) loads the checkpoint it names.
    config = aicrowd_config(root, track.challenge_id)
    # compared as JSON, not as text: a file that already says the same is left as its author wrote it
    changed = not config_path.is_file() or json.loads(config_path.read_text(encoding="utf-8")) != config
    if args.dry_run:
        say(f"[aicrowd.json] would {'write' if changed else 'keep'} challenge_id {track.challenge_id}, gpu true (dry run)")
    else:
        if changed:
            config_path.write_text(render_config(config), encoding="utf-8")
        say(f"[aicrowd.json] {'written' if changed else 'unchanged'}: challenge_id {track.challenge_id}, gpu true")

    if args.no_model_check:
        say("[model] skipped (--no-model-check)")
    else:
        rows = [json.loads(line) for line in DEV_FILE.read_text(encoding="utf-8").splitlines() if line.strip()]
        say(f"[model] {check_model(pick_questions(rows, args.questions, track.challenge_id))}")
        if not os.environ.get("SHOPBENCH_MODEL"):
            say(f"[model] note: the grader (CUDA) loads {track.checkpoint}; SHOPBENCH_MODEL=<folder> checks a given model")

    branch = git(root, "symbolic-ref", "-q", "--short", "HEAD", check=False).stdout.strip()
    refspecs = ([f"refs/heads/{branch}"] if branch else []) + [f"refs/tags/{tag}"]
    to_commit = git(root, "status", "--porcelain", "--", AICROWD_JSON).stdout.strip() != ""
    message = f"Submit track {track.number} ({track.challenge_id}): aicrowd.json for {tag}"
    if args.dry_run:
        say(f"[dry run] would {'commit aicrowd.json, ' if changed or to_commit else ''}tag HEAD as {tag} "
            f"and push {' '.join(refspecs)} to {args.remote}")
        return tag
    if to_commit:
        git(root, "add", "--", AICROWD_JSON)
        git(root, "commit", "-q", "-m", message, "--", AICROWD_JSON)
        say(f"[commit] {git(root, 'rev-parse', '--short', 'HEAD').stdout.strip()} {message}")
    git(root, "tag", "-a", tag, "-m", f"ShopBench submission to track {track.number}: {track.challenge_id}")
    say(f"[tag] {tag} -> {git(root, 'rev-parse', '--short', 'HEAD').stdout.strip()}")
    for refspec in refspecs:
        pushed = git(root, "push", "-q", args.remote, refspec, check=False)
        if pushed.returncode != 0:
            git(root, "tag", "-d", tag, check=False)  # so that a retry with the same --name works
            detail = " ".join(pushed.stderr.split())
            raise SubmissionError(f"`git push {args.remote} {refspec}` failed ({detail}); local tag {tag} removed, fix and retry")
        say(f"[push] {refspec} -> {args.remote}")
    return tag


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m utilities.submission", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--track", type=int, required=True, choices=sorted(TRACKS),
                        help="track 1-5 (5 = all-around): sets aicrowd.json's challenge_id and the checkpoint folder")
    parser.add_argument("--name", required=True, help="the tag is submission-<name> (a name already starting with submission- is kept)")
    parser.add_argument("--remote", required=True, help="the git remote to push to (the grader's), e.g. aicrowd")
    parser.add_argument("--repo", default=".", help="the repository to submit (default: the current folder)")
    parser.add_argument("--questions", type=_positive, default=DEFAULT_QUESTIONS, metavar="K",
                        help=f"dev questions the model must answer, spread over the task types (default {DEFAULT_QUESTIONS})")
    parser.add_argument("--no-model-check", action="store_true",
                        help="do not load the model or answer dev questions (e.g. no machine here can load it)")
    parser.add_argument("--no-checkpoint-check", action="store_true",
                        help="do not require committed weights in the track's checkpoint folder (code-only submission)")
    parser.add_argument("--dry-run", action="store_true",
                        help="run every check and print what would happen; write, commit, tag and push nothing")
    return parser


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value}: need at least 1 question (use --no-model-check to skip the check)")
    return value


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        tag = submit(args)
    except SubmissionError as e:
        print(f"submission: error: {e}", file=sys.stderr)
        raise SystemExit(1) from None
    print(f"submission: {tag} {'checked (dry run)' if args.dry_run else 'pushed to ' + args.remote}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
