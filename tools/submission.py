"""Submit to a ShopBench track: build the commit to tag, check it, tag ``submission-<name>``, push it.

A submission is a git tag whose name starts with ``submission-``, pushed to the grader's git
remote; the grader reads ``aicrowd.json`` at that tag (``challenge_id`` picks the track, ``"gpu":
true`` gets the 4 x T4), installs ``requirements.txt``, fetches the git-lfs weights and calls
``UserModel`` (docs/reference.md section 1). The command first builds the commit it will tag (HEAD with
the track's aicrowd.json, without touching the working tree), checks THAT commit, and tags and
pushes exactly it; nothing is written, committed, tagged or pushed before every check passes:

1. git: a repository, the remote exists, the tag is new (locally and on the remote), and no
   tracked file other than aicrowd.json has uncommitted changes;
2. git-lfs in the working tree: every weight file under ``models/`` (tracked, or untracked and not
   ignored) is covered by a ``filter=lfs`` rule and committed as an LFS pointer;
3. blobs of the tagged commit: every file above ``MAX_PLAIN_BLOB`` (1 MiB), wherever it lies and
   whatever its suffix, must be an LFS pointer, unless it is text (UTF-8 without NUL bytes) of at
   most ``MAX_PLAIN_TEXT`` (10 MiB): a plain binary blob above 1 MiB is refused, and so is one
   above ``MAX_PUSHED_BLOB`` (10 MiB) in an earlier commit that the push would upload. Every LFS
   pointer (any path, any size) must parse, be covered by a ``filter=lfs`` rule of the tagged
   ``.gitattributes``, and have its object in this repository's LFS store (``.git/lfs/objects``)
   with the stated size. None of this needs git-lfs installed;
4. the tagged ``requirements.txt`` is pinned: each requirement is ``name==version`` (``-r`` followed);
5. the track's checkpoint folder (``utilities/tracks.py``) holds a committed config.json and weights;
6. the model: the tagged commit is exported to a temporary folder (LFS pointers linked to their
   local objects) and a subprocess (``sys.executable``, working directory that folder) imports the
   TAGGED ``models.user_config``, builds ``UserModel()`` with ``SHOPBENCH_MODEL`` set to the track's
   checkpoint folder in that export (``--model-dir`` names a stand-in instead, and says so), and runs
   one ``batch_predict`` per task type; this tool's official parser must accept every answer.

Then aicrowd.json is written, the branch moves to the checked commit (a one-file commit of
aicrowd.json where it changed), the tag is created on it, and the branch and the tag are pushed.
Every refusal is one line on stderr and exit status 1 (bad arguments: exit status 2).

Examples::

    shopbench submit --track 5 --name v1 --remote aicrowd --dry-run
    shopbench submit --track 2 --name t2-alpha0.5 --remote aicrowd
    shopbench submit --track 1 --name smoke --remote origin --model-dir /path/to/small-model
    shopbench submit --track 3 --name code-only --remote aicrowd --no-checkpoint-check --no-model-check

``SHOPBENCH_MODEL`` in this shell is ignored by the model check (it would check some other model
than the one tagged); ``SHOPBENCH_ENGINE`` and the other engine settings pass through.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from utilities.errors import run_command
from utilities.grader import DEV_FILE, MAX_BATCH_SIZE, REPO, grader_batches, is_multiple_choice
from utilities.tracks import TRACKS, get_track

CODE_REPO = REPO  # this tool's own checkout (the tagged one may differ)
TAG_PREFIX = "submission-"  # the grader starts an evaluation for tags with this prefix
AICROWD_JSON = "aicrowd.json"  # at the repo root, where the grader reads it
REQUIREMENTS = "requirements.txt"  # the GPU runtime the grader installs
MODELS_DIR = "models"  # where checkpoints live; the .gitattributes rules below cover weight files there
# Checkpoint weight files: safetensors / PyTorch pickles / GGUF. Each can be tens of GB, so each
# must go through git-lfs (the grader's repo limit is 200 GB, and plain git objects that size fail).
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".gguf")
# The largest file the commit may hold as a plain git blob, whatever its path or suffix. Weights come
# in every format (.ckpt, .onnx, .npz, ...) and folder, so the rule is by size, not by name: git hosts
# slow down and then reject large blobs (GitHub warns at 50 MB and refuses 100 MB), every clone of the
# grader's repo downloads every plain blob ever pushed, and the grader fetches weights with
# `git lfs pull`. 1 MiB is above any source file here and below any weights worth the name.
# Text is the one exception, up to MAX_PLAIN_TEXT: a blob that is UTF-8 without NUL bytes (the
# tokenizer's vocab.json 2.8 MB and merges.txt 1.7 MB, the EC-Guide suite 1.8 MB) is no weights file
# (weights are binary: safetensors, pickles, ONNX protobufs and GGUF never decode as UTF-8), git
# delta-compresses it, and the tests need it in a clone without git-lfs.
MAX_PLAIN_BLOB = 1024 * 1024
MAX_PLAIN_TEXT = 10 * 1024 * 1024
# A plain blob in an EARLIER commit (not in the tagged tree, so the grader never reads it) is still
# uploaded by the push and downloaded by every clone of the grader's repo. Above this size that is
# weights (the smallest useful checkpoint or LoRA adapter is hundreds of MB), so the push is refused;
# below it, old tokenizer or data files from before they moved to git-lfs may stay in the history.
MAX_PUSHED_BLOB = 10 * 1024 * 1024
LFS_POINTER_PREFIX = b"version https://git-lfs"  # first line of every git-lfs pointer file
LFS_SPEC = "https://git-lfs.github.com/spec/v1"  # the pointer format git-lfs writes (and reads)
LFS_POINTER_MAX_BYTES = 1024  # the git-lfs spec: pointer files are smaller than 1024 bytes
DEFAULT_QUESTIONS = 5  # one per task type: enough to show every task's answers parse, in seconds
# The model check's subprocess may take this long: vLLM loading 41.6 GB of AWQ weights over 4 x T4
# takes minutes; a check that hangs must still end with a reason.
MODEL_CHECK_TIMEOUT_S = 3600
MODEL_ENV = "SHOPBENCH_MODEL"  # the model folder UserModel loads (models/settings.py CHECKPOINT_ENV)
DEFAULT_DESCRIPTION = (
    "ShopBench agent: task-type routing, constrained decoding and tidy answers on an AWQ, MLP-padded "
    "Qwen2-72B-Instruct fine-tune, served by vLLM across 4 x T4."
)


class SubmissionError(Exception):
    """A check failed or a git step went wrong; the message is the one-line reason."""


# --- git ------------------------------------------------------------------------------------------
def git(repo: Path, *args: str, stdin: str | None = None, check: bool = True,
        env: dict | None = None) -> subprocess.CompletedProcess:
    """``git -C repo args``; on failure (with ``check``) a SubmissionError with git's own message."""
    try:
        proc = subprocess.run(["git", "-C", str(repo), *args], input=stdin, capture_output=True, text=True, env=env)
    except FileNotFoundError:
        raise SubmissionError("git is not installed (it is needed to tag and push a submission)") from None
    if check and proc.returncode != 0:
        detail = " ".join((proc.stderr or proc.stdout).split()) or f"exit status {proc.returncode}"
        raise SubmissionError(f"`git {' '.join(args)}` failed: {detail}")
    return proc


def git_bytes(repo: Path, *args: str, stdin: bytes = b"", env: dict | None = None) -> bytes:
    """``git -C repo args`` with bytes in and out (blob contents); a SubmissionError on failure."""
    proc = subprocess.run(["git", "-C", str(repo), *args], input=stdin, capture_output=True, env=env)
    if proc.returncode != 0:
        detail = " ".join(proc.stderr.decode("utf-8", "replace").split()) or f"exit status {proc.returncode}"
        raise SubmissionError(f"`git {' '.join(args)}` failed: {detail}")
    return proc.stdout


def git_lfs_installed(repo: Path) -> bool:
    return git(repo, "lfs", "version", check=False).returncode == 0


def _nul_list(text: str) -> list[str]:
    return [item for item in text.split("\0") if item]


def _few(items: list[str], n: int = 3) -> str:
    return ", ".join(items[:n]) + (f", ... ({len(items)} in all)" if len(items) > n else "")


def _shown(path: Path, root: Path) -> str:
    """``path`` relative to ``root`` where it lies inside it (shorter in a one-line reason)."""
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)


def _size(n: int) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} B"


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


@dataclass(frozen=True)
class Tagged:
    """The commit the submission will tag and push, built before any check and never changed after."""

    commit: str
    tree: str
    head: str  # HEAD when it was built: the branch moves from here to ``commit``
    index: Path  # a temporary index holding ``tree`` (for reading its .gitattributes)

    @property
    def is_new(self) -> bool:
        return self.commit != self.head


def build_tagged_commit(root: Path, config_bytes: bytes, message: str, index: Path) -> Tagged:
    """HEAD's tree with aicrowd.json = ``config_bytes``, committed as an object (no ref, index or file moves)."""
    head = git(root, "rev-parse", "--verify", "HEAD^{commit}").stdout.strip()
    env = {**os.environ, "GIT_INDEX_FILE": str(index)}
    git(root, "read-tree", head, env=env)
    blob = git_bytes(root, "hash-object", "-w", "--no-filters", "--stdin", stdin=config_bytes).decode().strip()
    git(root, "update-index", "--add", "--cacheinfo", f"100644,{blob},{AICROWD_JSON}", env=env)
    tree = git(root, "write-tree", env=env).stdout.strip()
    if tree == git(root, "rev-parse", f"{head}^{{tree}}").stdout.strip():
        return Tagged(head, tree, head, index)
    commit = git(root, "commit-tree", tree, "-p", head, "-m", message).stdout.strip()
    return Tagged(commit, tree, head, index)


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


# --- git-lfs in the working tree --------------------------------------------------------------------
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
    return _is_pointer(git_bytes(root, "cat-file", "blob", blob))


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


# --- the blobs of the tagged commit -----------------------------------------------------------------
@dataclass(frozen=True)
class Entry:
    """One file of a git tree (``git ls-tree -r -l``)."""

    mode: str
    kind: str  # blob, or commit (a submodule)
    oid: str
    size: int  # 0 for a submodule
    path: str


@dataclass(frozen=True)
class Pointer:
    """A git-lfs pointer file: the sha256 and size of the object it stands for."""

    oid: str
    size: int


def tree_entries(root: Path, commit: str) -> list[Entry]:
    entries = []
    for line in _nul_list(git(root, "ls-tree", "-r", "-l", "-z", "--full-tree", commit).stdout):
        meta, path = line.split("\t", 1)
        mode, kind, oid, size = meta.split()
        entries.append(Entry(mode, kind, oid, 0 if size == "-" else int(size), path))
    return entries


def read_blobs(root: Path, oids: list[str]) -> dict[str, bytes]:
    """The contents of many blobs with one ``git cat-file --batch``."""
    oids = list(dict.fromkeys(oids))
    if not oids:
        return {}
    out = git_bytes(root, "cat-file", "--batch", stdin="".join(f"{o}\n" for o in oids).encode())
    blobs, at = {}, 0
    for oid in oids:
        end = out.index(b"\n", at)
        header = out[at:end].split()
        if len(header) != 3:
            raise SubmissionError(f"git cat-file could not read object {oid}: {out[at:end].decode(errors='replace')}")
        size = int(header[2])
        blobs[oid] = out[end + 1:end + 1 + size]
        at = end + 1 + size + 1
    return blobs


def parse_pointer(path: str, data: bytes) -> Pointer:
    """The object a pointer file names; a SubmissionError naming ``path`` if it is not a valid pointer."""
    try:
        lines = data.decode("utf-8").splitlines()
        fields = dict(line.split(" ", 1) for line in lines if line)
    except ValueError:
        fields = {}
    oid, size = fields.get("oid", ""), fields.get("size", "")
    if (fields.get("version") != LFS_SPEC or not re.fullmatch(r"sha256:[0-9a-f]{64}", oid)
            or not re.fullmatch(r"[0-9]+", size)):
        raise SubmissionError(
            f"{path} starts like a git-lfs pointer but is not one (want the lines `version {LFS_SPEC}`, "
            "`oid sha256:<64 hex>`, `size <bytes>`): the grader's `git lfs pull` cannot resolve it; commit the real file with git-lfs"
        )
    return Pointer(oid.split(":", 1)[1], int(size))


def lfs_objects_dir(root: Path) -> Path:
    """Where git-lfs keeps this repository's objects: <git common dir>/lfs/objects (or lfs.storage)."""
    common = Path(git(root, "rev-parse", "--git-common-dir").stdout.strip())
    common = common if common.is_absolute() else root / common
    storage = git(root, "config", "lfs.storage", check=False).stdout.strip()
    return (common / storage if storage else common / "lfs") / "objects"


def lfs_object(store: Path, pointer: Pointer) -> Path:
    return store / pointer.oid[:2] / pointer.oid[2:4] / pointer.oid


def _pushed_blobs(root: Path, remote: str, commit: str) -> list[tuple[str, int, str]]:
    """(oid, size, path) of each blob reachable from ``commit`` that the remote lacks: what a push uploads."""
    remote_tips = {line.split()[0] for line in git(root, "ls-remote", remote).stdout.splitlines() if line.strip()}
    known = []
    if remote_tips:  # only tips we have can be excluded; the rest the remote has and we don't
        checked = git(root, "cat-file", "--batch-check=%(objectname) %(objecttype)",
                      stdin="".join(f"{t}\n" for t in sorted(remote_tips))).stdout.split("\n")
        known = [line.split()[0] for line in checked if line.endswith(" commit") or line.endswith(" tag")]
    listed = git(root, "rev-list", "--objects", "--stdin", stdin="".join(f"{x}\n" for x in [commit, *(f"^{k}" for k in known)]))
    paths = {}
    for line in listed.stdout.splitlines():
        oid, _, path = line.partition(" ")
        if path:
            paths.setdefault(oid, path)
    if not paths:
        return []
    sizes = git(root, "cat-file", "--batch-check=%(objectname) %(objecttype) %(objectsize)",
                stdin="".join(f"{o}\n" for o in paths)).stdout.splitlines()
    return [(oid, int(size), paths[oid]) for oid, kind, size in (s.split() for s in sizes) if kind == "blob"]


def _is_text(data: bytes | None) -> bool:
    """UTF-8 without NUL bytes: text, never a weights file (MAX_PLAIN_TEXT)."""
    if data is None or b"\0" in data:
        return False
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def check_blobs(root: Path, tagged: Tagged, remote: str) -> tuple[str, dict[str, Pointer]]:
    """The tagged tree's blob rules (MAX_PLAIN_BLOB, LFS pointers and their local objects); its pointers."""
    entries = [e for e in tree_entries(root, tagged.commit) if e.kind == "blob"]
    limit = f"{MAX_PLAIN_BLOB / 2**20:g} MiB"
    big = sorted((e for e in entries if e.size > MAX_PLAIN_BLOB), key=lambda e: -e.size)
    texts = read_blobs(root, [e.oid for e in big if e.size <= MAX_PLAIN_TEXT])
    big = [e for e in big if not _is_text(texts.get(e.oid))]
    if big:
        raise SubmissionError(
            f"{len(big)} file(s) above {limit} are plain git blobs, not LFS pointers: "
            f"{_few([f'{e.path} ({_size(e.size)})' for e in big])}; every file above MAX_PLAIN_BLOB, whatever its "
            f"folder or suffix (text up to {MAX_PLAIN_TEXT / 2**20:g} MiB excepted), must go through git-lfs: "
            "`git lfs track <path>`, commit .gitattributes, `git rm --cached` + `git add` the file, commit"
        )
    small = [e for e in entries if e.size < LFS_POINTER_MAX_BYTES and e.mode != "120000"]
    contents = read_blobs(root, [e.oid for e in small])
    pointers = {e.path: parse_pointer(e.path, contents[e.oid]) for e in small if contents[e.oid].startswith(LFS_POINTER_PREFIX)}
    if pointers:
        paths = sorted(pointers)
        env = {**os.environ, "GIT_INDEX_FILE": str(tagged.index)}
        out = _nul_list(git(root, "-c", f"core.attributesFile={os.devnull}", "check-attr", "--cached", "-z", "--stdin",
                            "filter", stdin="\0".join(paths) + "\0", env=env).stdout)
        filters = {out[i]: out[i + 2] for i in range(0, len(out) - 2, 3)}
        uncovered = [p for p in paths if filters.get(p) != "lfs"]
        if uncovered:
            raise SubmissionError(
                f"{len(uncovered)} LFS pointer(s) not covered by a filter=lfs rule of the tagged .gitattributes: "
                f"{_few(uncovered)}; the grader's checkout would keep the pointer text instead of the file: "
                "`git lfs track <path>` and commit .gitattributes"
            )
        store = lfs_objects_dir(root)
        missing, wrong = [], []
        for path in paths:
            obj = lfs_object(store, pointers[path])
            if not obj.is_file():
                missing.append(f"{path} (sha256:{pointers[path].oid[:12]}..., {_size(pointers[path].size)})")
            elif obj.stat().st_size != pointers[path].size:
                wrong.append(f"{path} (pointer says {pointers[path].size} bytes, the local object has {obj.stat().st_size})")
        if missing:
            raise SubmissionError(
                f"{len(missing)} LFS pointer(s) whose object is not in this repository's LFS store ({_shown(store, root)}): "
                f"{_few(missing)}; the tag would name files nobody can fetch: `git lfs fetch` them, "
                "or commit the real files with git-lfs installed"
            )
        if wrong:
            raise SubmissionError(
                f"{len(wrong)} LFS object(s) in {_shown(store, root)} do not match their pointer: {_few(wrong)}; "
                "`git lfs fsck` and fetch or re-add them"
            )
    tree_oids = {e.oid for e in entries}
    old = sorted((b for b in _pushed_blobs(root, remote, tagged.commit) if b[1] > MAX_PUSHED_BLOB and b[0] not in tree_oids),
                 key=lambda b: -b[1])
    if old:
        raise SubmissionError(
            f"{len(old)} plain blob(s) above {MAX_PUSHED_BLOB / 2**20:g} MiB (MAX_PUSHED_BLOB) in earlier commits "
            "would be uploaded by this push: "
            f"{_few([f'{path} ({_size(size)}, blob {oid[:10]})' for oid, size, path in old])}; "
            "rewrite them out of the branch's history (`git lfs migrate import --include=<path>`) or submit from a branch without them"
        )
    total = sum(p.size for p in pointers.values())
    return (f"{len(entries)} file(s) in the tagged commit, none a plain blob above {limit}; "
            f"{len(pointers)} LFS pointer(s), each covered by filter=lfs and its object in the local LFS store "
            f"({_size(total)})"), pointers


# --- the checkpoint ---------------------------------------------------------------------------------
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


# --- the tagged checkout ----------------------------------------------------------------------------
def export_commit(root: Path, commit: str, dest: Path, pointers: dict[str, Pointer]) -> Path:
    """The files of ``commit`` under ``dest``, as committed (no filters); LFS pointers become links to
    their objects in the local LFS store (check_blobs found each one there)."""
    entries = tree_entries(root, commit)
    store = lfs_objects_dir(root) if pointers else None
    contents = read_blobs(root, [e.oid for e in entries if e.kind == "blob" and e.path not in pointers])
    dest.mkdir(parents=True)
    for e in entries:
        path = dest / e.path
        path.parent.mkdir(parents=True, exist_ok=True)
        if e.kind != "blob":  # a submodule: the grader's checkout has an empty folder there too
            path.mkdir(exist_ok=True)
        elif e.path in pointers:
            os.symlink(lfs_object(store, pointers[e.path]).resolve(), path)
        elif e.mode == "120000":
            os.symlink(contents[e.oid].decode("utf-8", "surrogateescape"), path)
        else:
            path.write_bytes(contents[e.oid])
            if e.mode == "100755":
                path.chmod(0o755)
    return dest


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


# Run by ``sys.executable -c`` with the tagged checkout as working directory: it imports that checkout's
# models.user_config as the grader does and reports what UserModel answered (the answers are judged by
# this tool's own parser, in the parent). It imports nothing of this tool, and drops this tool's folder
# from sys.path so that a module missing from the tagged commit is missing here too.
_MODEL_CHECK_CHILD = r'''
import json, os, sys, time
spec_path, result_path = sys.argv[1], sys.argv[2]
with open(spec_path, encoding="utf-8") as f:
    spec = json.load(f)
here, tool = os.path.realpath(os.getcwd()), os.path.realpath(spec["tool_repo"])
sys.path[:] = [p for p in sys.path if os.path.realpath(p or ".") != tool or os.path.realpath(p or ".") == here]


def reason(e):
    return type(e).__name__ + ": " + " ".join(str(e).split())[:300]


def check():
    started = time.perf_counter()
    try:
        import models.user_config as user_config
        UserModel = user_config.UserModel
    except (Exception, SystemExit) as e:
        return {"error": "importing the tagged models.user_config failed: " + reason(e)}
    source = os.path.realpath(getattr(user_config, "__file__", None) or "?")
    try:
        model = UserModel()
    except (Exception, SystemExit) as e:
        return {"error": "UserModel() failed: " + reason(e), "user_config": source}
    engine = getattr(model, "engine", None)
    batches = []
    for batch in spec["batches"]:
        try:
            answers = model.batch_predict({"prompt": batch["prompts"]}, batch["is_multiple_choice"])
        except (Exception, SystemExit) as e:
            return {"error": "batch_predict on " + batch["task_type"] + " raised " + reason(e), "user_config": source}
        if isinstance(answers, list):
            answers = [a if isinstance(a, str) else {"type": type(a).__name__} for a in answers]
        else:
            answers = {"type": type(answers).__name__}
        batches.append(answers)
    return {"user_config": source, "engine": getattr(engine, "name", None),
            "model_dir": str(getattr(engine, "model_dir", "") or ""), "batches": batches,
            "seconds": time.perf_counter() - started}


result = check()
with open(result_path, "w", encoding="utf-8") as f:
    json.dump(result, f)
'''


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return " ".join(lines[-1].split())[:300] if lines else ""


def run_model_check(checkout: Path, model_dir: Path, questions: list[dict], work: Path,
                    timeout_s: float | None = None) -> tuple[dict, list[tuple[str, list[dict]]]]:
    """Run the tagged checkout's UserModel on ``questions`` in a subprocess; (its report, rows by task type)."""
    timeout_s = timeout_s or MODEL_CHECK_TIMEOUT_S
    batches = grader_batches([row["task_type"] for row in questions], MAX_BATCH_SIZE)
    asked = [(t, [questions[i] for i in indices]) for t, indices in batches]  # (task type, rows) per batch
    spec, result = work / "model-check.json", work / "model-check-result.json"
    spec.write_text(json.dumps({"tool_repo": str(CODE_REPO), "batches": [
        {"task_type": t, "prompts": [questions[i]["input_field"] for i in indices], "is_multiple_choice": is_multiple_choice(t)}
        for t, indices in batches]}), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONSAFEPATH", "PYTHONPATH")}
    env.update({MODEL_ENV: str(model_dir), "PYTHONPATH": str(checkout)})
    log = work / "model-check.log"  # a file, not a pipe: engine workers that outlive the check hold no pipe open
    with open(log, "wb") as out:
        # its own process group, so that a timeout, or workers left behind, end with it
        proc = subprocess.Popen([sys.executable, "-c", _MODEL_CHECK_CHILD, str(spec), str(result)], cwd=checkout,
                                env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        timed_out = False
        try:
            proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            timed_out = True
        finally:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):  # the group is gone: nothing was left behind
                pass
            proc.wait()
    if timed_out:
        raise SubmissionError(f"model check: no answers within {timeout_s:g} s (MODEL_CHECK_TIMEOUT_S)")
    if not result.is_file():
        last = _last_line(log.read_text(encoding="utf-8", errors="replace")) or "no output"
        raise SubmissionError(f"model check: the check process (tagged code) exited with status {proc.returncode}: {last}")
    try:
        report = json.loads(result.read_text(encoding="utf-8"))
    except ValueError:
        report = {"error": f"the check process (tagged code) exited with status {proc.returncode} mid-report"}
    if "error" in report:
        raise SubmissionError(f"model check: {report['error']}")
    source = Path(report["user_config"])
    if checkout.resolve() not in source.parents:
        raise SubmissionError(f"model check: models.user_config was imported from {source}, not from the tagged checkout")
    return report, asked


def check_answers(report: dict, asked: list[tuple[str, list[dict]]]) -> None:
    """Each batch gave one string per prompt that the official parser reads as a usable answer."""
    from utilities.parsers import parse, unusable

    for (task_type, rows), answers in zip(asked, report["batches"]):
        if not isinstance(answers, list) or len(answers) != len(rows):
            got = len(answers) if isinstance(answers, list) else answers["type"]
            raise SubmissionError(
                f"model check: batch_predict on {len(rows)} {task_type} prompt(s) returned {got}, not one answer per prompt")
        for row, answer in zip(rows, answers):
            if not isinstance(answer, str):
                raise SubmissionError(f"model check: {row['task_name']} ({task_type}) answer is {answer['type']}, not str")
            try:
                parsed = parse(task_type, answer)
            except Exception as e:  # noqa: BLE001
                raise SubmissionError(f"model check: {row['task_name']} ({task_type}) answer {answer!r:.60} fails to parse: {e}") from None
            if unusable(task_type, parsed):
                raise SubmissionError(
                    f"model check: {row['task_name']} ({task_type}) answer {answer!r:.60} parses to "
                    f"{parsed!r}, the parser's failure value (it scores 0)"
                )


def check_model(checkout: Path, model_dir: Path, questions: list[dict], work: Path, shown: str) -> str:
    """The tagged UserModel, built as the grader builds it, answers ``questions`` parseably."""
    report, asked = run_model_check(checkout, model_dir, questions, work)
    check_answers(report, asked)
    counts: dict[str, int] = defaultdict(int)
    for t, rows in asked:
        counts[t] += len(rows)
    loaded = report.get("model_dir")
    note = f"; note: its engine loaded {loaded}" if loaded and Path(loaded).resolve() != model_dir.resolve() else ""
    return (f"{len(questions)} dev question(s) ({', '.join(f'{t} {n}' for t, n in counts.items())}) answered "
            f"and parsed in {report['seconds']:.1f} s by the tagged {Path(report['user_config']).relative_to(checkout.resolve())} "
            f"on {report['engine'] or '?'} {shown}{note}")


# --- the command ----------------------------------------------------------------------------------
def tag_name(name: str) -> str:
    name = name.strip()
    if not name:
        raise SubmissionError("--name is empty: the tag is submission-<name>")
    return name if name.startswith(TAG_PREFIX) else TAG_PREFIX + name


def submit(args: argparse.Namespace, say=print) -> str:
    """Build the commit to tag, run every check on it, then commit aicrowd.json, tag and push; returns the tag."""
    track = get_track(args.track)
    tag = tag_name(args.name)
    model_dir = Path(args.model_dir).resolve() if args.model_dir else None
    if model_dir is not None and not model_dir.is_dir():
        raise SubmissionError(f"--model-dir {model_dir} is not a folder")
    root = check_git(Path(args.repo), args.remote, tag)
    say(f"[git] {root}: remote {args.remote!r}, new tag {tag}, no uncommitted changes to tracked files")
    say(f"[lfs] {check_lfs(root)}")

    config_path = root / AICROWD_JSON
    config = aicrowd_config(root, track.challenge_id)
    # compared as JSON, not as text: a file that already says the same is left as its author wrote it
    changed = not config_path.is_file() or json.loads(config_path.read_text(encoding="utf-8")) != config
    config_bytes = render_config(config).encode("utf-8") if changed else config_path.read_bytes()
    message = f"Submit track {track.number} ({track.challenge_id}): aicrowd.json for {tag}"

    with tempfile.TemporaryDirectory(prefix="shopbench-submission-") as tmp:
        work = Path(tmp)
        tagged = build_tagged_commit(root, config_bytes, message, work / "index")
        blobs, pointers = check_blobs(root, tagged, args.remote)
        say(f"[blobs] {blobs}")
        checkout = export_commit(root, tagged.commit, work / "checkout", pointers)
        if not (checkout / REQUIREMENTS).is_file():
            raise SubmissionError(f"{REQUIREMENTS} is not in the commit to tag: the grader installs the runtime from it")
        say(f"[requirements] {REQUIREMENTS}: {check_requirements(checkout / REQUIREMENTS)} requirement(s), all pinned with ==")
        if args.no_checkpoint_check:
            say(f"[checkpoint] skipped (--no-checkpoint-check): {track.checkpoint} is not checked")
        else:
            say(f"[checkpoint] {check_checkpoint(root, track.checkpoint)}")
        say(f"[aicrowd.json] {'to be written' if changed else 'unchanged'}: challenge_id {track.challenge_id}, gpu true")

        if args.no_model_check:
            say("[model] skipped (--no-model-check)")
        else:
            if model_dir is not None:
                folder, shown = model_dir, f"{model_dir} (--model-dir: a stand-in, not the tagged {track.checkpoint})"
            else:
                folder, shown = checkout / track.checkpoint, f"{track.checkpoint} (the tagged checkpoint)"
                if not folder.is_dir():
                    raise SubmissionError(
                        f"model check: the commit to tag has no {track.checkpoint} (the track's checkpoint) to load: "
                        "commit it, pass --model-dir <folder> to run the tagged code on another model, or --no-model-check")
            rows = [json.loads(line) for line in DEV_FILE.read_text(encoding="utf-8").splitlines() if line.strip()]
            questions = pick_questions(rows, args.questions, track.challenge_id)
            say(f"[model] {check_model(checkout, folder, questions, work, shown)}")

    branch = git(root, "symbolic-ref", "-q", "--short", "HEAD", check=False).stdout.strip()
    refspecs = ([f"refs/heads/{branch}"] if branch else []) + [f"refs/tags/{tag}"]
    if args.dry_run:
        what = f"commit aicrowd.json ({tagged.commit[:7]}), tag it" if tagged.is_new else "tag HEAD"
        say(f"[dry run] would {what} as {tag} and push {' '.join(refspecs)} to {args.remote}")
        return tag
    if tagged.is_new:  # the very commit that was checked: HEAD moves to it only if nothing moved HEAD meanwhile
        git(root, "update-ref", "-m", f"commit: {message}", "HEAD", tagged.commit, tagged.head)
    if changed:
        config_path.write_bytes(config_bytes)
    if tagged.is_new:
        git(root, "reset", "-q", "--", AICROWD_JSON)  # the index entry follows the file, which holds the committed bytes
        say(f"[commit] {tagged.commit[:7]} {message}")
    git(root, "tag", "-a", tag, "-m", f"ShopBench submission to track {track.number}: {track.challenge_id}", tagged.commit)
    say(f"[tag] {tag} -> {tagged.commit[:7]}")
    for refspec in refspecs:
        source = f"{tagged.commit}:{refspec}" if refspec.startswith("refs/heads/") else refspec
        pushed = git(root, "push", "-q", args.remote, source, check=False)
        if pushed.returncode != 0:
            git(root, "tag", "-d", tag, check=False)  # so that a retry with the same --name works
            detail = " ".join(pushed.stderr.split())
            raise SubmissionError(f"`git push {args.remote} {refspec}` failed ({detail}); local tag {tag} removed, fix and retry")
        say(f"[push] {refspec} -> {args.remote}")
    return tag


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="shopbench submit", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--track", type=int, required=True, choices=sorted(TRACKS),
                        help="track 1-5 (5 = all-around): sets aicrowd.json's challenge_id and the checkpoint folder")
    parser.add_argument("--name", required=True, help="the tag is submission-<name> (a name already starting with submission- is kept)")
    parser.add_argument("--remote", required=True, help="the git remote to push to (the grader's), e.g. aicrowd")
    parser.add_argument("--repo", default=".", help="the repository to submit (default: the current folder)")
    parser.add_argument("--questions", type=_positive, default=DEFAULT_QUESTIONS, metavar="K",
                        help=f"dev questions the model must answer, spread over the task types (default {DEFAULT_QUESTIONS})")
    parser.add_argument("--model-dir", metavar="FOLDER",
                        help="run the tagged code's model check on this model folder instead of the track's checkpoint in "
                             "the tagged commit (e.g. a small model where the real one cannot run); the output says so")
    parser.add_argument("--no-model-check", action="store_true",
                        help="do not run the tagged UserModel on dev questions (e.g. no machine here can load it)")
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
    except OSError as e:  # a temporary folder, a file that cannot be read or written: still one line, nothing pushed
        print(f"submission: error: {type(e).__name__}: {' '.join(str(e).split())}", file=sys.stderr)
        raise SystemExit(1) from None
    print(f"submission: {tag} {'checked (dry run)' if args.dry_run else 'pushed to ' + args.remote}")
    return 0


if __name__ == "__main__":
    sys.exit(run_command(main))
