"""The submission command against REAL git: a temporary project repo and a local bare remote.

Each test builds a small project in tmp_path (aicrowd.json, requirements.txt, .gitattributes, a
checkpoint folder whose weights are a git-lfs pointer file with its object in the project's own
LFS store, .git/lfs/objects; committed normally: git-lfs need not be installed), runs
``main([...])`` and reads the outcome back from the bare repository. The model check runs the
TAGGED checkout's ``models/user_config.py`` in a subprocess: most tests commit a small stand-in
UserModel (no torch), one commits this repository's own model code and the tiny Qwen2.
"""
from __future__ import annotations

import hashlib
import io
import json
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from tools.submission import MAX_PLAIN_BLOB, MAX_PLAIN_TEXT, MAX_PUSHED_BLOB, SubmissionError, check_requirements, main, pick_questions
from utilities.tracks import get_track

CODE_REPO = Path(__file__).resolve().parent.parent
TRACK = 2  # its checkpoint folder (alpha 0.5) differs from the track 5 one the project starts with
CHECKPOINT = get_track(TRACK).checkpoint
WEIGHTS_NAME = "model-00001-of-00001.safetensors"
# The stand-in "weights": an answer every parser accepts (multiple choice 1, ranking and retrieval
# [1, 2, 3], NER ["1", "2", "3"]). The stand-in UserModel below answers with them, which shows it
# read the tagged checkpoint folder, through the LFS pointer, from the local LFS store.
WEIGHTS = b"1, 2, 3"
LFS_RULE = "models/**/*.safetensors filter=lfs diff=lfs merge=lfs -text\n"
PINNED = "# runtime\nvllm==0.32.0\ntorch==2.13.0   # pinned by vllm\n\nnumpy==2.3.5 ; python_version >= '3.10'\n"

# A UserModel with no dependencies: it loads "weights" from SHOPBENCH_MODEL and answers with them.
FAKE_USER_CONFIG = f"""
import os
from pathlib import Path


class Engine:
    name = "stand-in"

    def __init__(self, folder):
        self.model_dir = folder


class UserModel:
    def __init__(self):
        folder = Path(os.environ["SHOPBENCH_MODEL"])
        self.engine = Engine(folder)
        self.answer = (folder / "{WEIGHTS_NAME}").read_text()

    def batch_predict(self, batch, is_multiple_choice):
        return [self.answer for _ in batch["prompt"]]
"""


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture(autouse=True)
def hermetic_git(tmp_path, monkeypatch):
    """No user or system git config (signing, hooks, default branch) leaks into the tests."""
    empty = tmp_path / "gitconfig"
    empty.write_text("")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(empty))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")


def pointer(data: bytes) -> str:
    """The git-lfs pointer file of ``data``."""
    return f"version https://git-lfs.github.com/spec/v1\noid sha256:{hashlib.sha256(data).hexdigest()}\nsize {len(data)}\n"


POINTER = pointer(WEIGHTS)  # what git-lfs commits in place of the weights file


def lfs_store(repo: Path, data: bytes) -> Path:
    """Put ``data`` in the repo's LFS store, where `git lfs fetch` / `git add` with git-lfs put objects."""
    oid = hashlib.sha256(data).hexdigest()
    path = repo / ".git" / "lfs" / "objects" / oid[:2] / oid[2:4] / oid
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def write(repo: Path, path: str, data: bytes | str) -> None:
    target = repo / path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data.encode() if isinstance(data, str) else data)


def lfs_add(repo: Path, path: str, data: bytes) -> None:
    """What `git add` does with git-lfs installed: the object in the store, the pointer in the tree."""
    lfs_store(repo, data)
    write(repo, path, pointer(data))


def commit(repo: Path, message: str = "more") -> None:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)


def make_project(tmp_path: Path, *, track: int = TRACK, requirements: str = PINNED, gitattributes: str | None = LFS_RULE,
                 weights: bytes | str | None = POINTER, lfs_objects: tuple[bytes, ...] = (WEIGHTS,),
                 user_config: str | None = FAKE_USER_CONFIG) -> tuple[Path, Path]:
    """(project repo, bare remote "grader"): everything committed on branch main."""
    repo, bare = tmp_path / "project", tmp_path / "grader.git"
    repo.mkdir()
    subprocess.run(["git", "init", "-q", "--bare", str(bare)], check=True)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "config", "user.name", "Test Submitter")
    git(repo, "config", "user.email", "submitter@example.com")
    for data in lfs_objects:
        lfs_store(repo, data)
    (repo / "aicrowd.json").write_text(json.dumps({
        "challenge_id": get_track(5).challenge_id, "authors": ["alice", "bob"], "gpu": False,
        "description": "a test submission", "license": "MIT",
    }, indent=2) + "\n")
    (repo / "requirements.txt").write_text(requirements)
    if gitattributes is not None:
        (repo / ".gitattributes").write_text(gitattributes)
    if user_config is not None:
        write(repo, "models/__init__.py", "")
        write(repo, "models/user_config.py", user_config)
    checkpoint = repo / get_track(track).checkpoint
    checkpoint.mkdir(parents=True)
    (checkpoint / "config.json").write_text('{"model_type": "qwen2"}\n')
    if weights is not None:
        write(repo, f"{get_track(track).checkpoint}/{WEIGHTS_NAME}", weights)
    commit(repo, "project")
    git(repo, "remote", "add", "grader", str(bare))
    return repo, bare


def run(repo: Path, *extra: str, name: str = "v1", track: int = TRACK) -> None:
    main(["--track", str(track), "--name", name, "--remote", "grader", "--repo", str(repo), *extra])


def fails(capsys, repo: Path, *extra: str, **kw) -> str:
    """Run the command, require exit status 1, return its one-line error."""
    with pytest.raises(SystemExit) as exit_:
        run(repo, *extra, **kw)
    assert exit_.value.code == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("submission: error: ") and "\n" not in err, err
    return err


def remote_refs(bare: Path) -> str:
    return git(bare, "for-each-ref", "--format=%(refname)")


def nothing_happened(repo: Path, bare: Path, head: str) -> bool:
    """Refused: nothing pushed, tagged, committed or written."""
    return (remote_refs(bare) == "" and git(repo, "tag") == "" and git(repo, "rev-parse", "HEAD") == head
            and json.loads((repo / "aicrowd.json").read_text())["gpu"] is False)


# --- the whole command ---------------------------------------------------------------------------
def test_submission_tags_and_pushes_to_the_named_remote(tmp_path, capsys):
    repo, bare = make_project(tmp_path)
    run(repo, "--no-model-check")
    out = capsys.readouterr().out
    for step in ("[git]", "[lfs]", "[blobs]", "[requirements]", "[checkpoint]", "[aicrowd.json]", "[commit]", "[tag]", "[push]"):
        assert step in out
    assert git(bare, "tag") == "submission-v1"
    assert git(bare, "rev-parse", "submission-v1^{commit}") == git(repo, "rev-parse", "HEAD") == git(bare, "rev-parse", "main")
    config = json.loads(git(bare, "show", "submission-v1:aicrowd.json"))
    assert config["challenge_id"] == get_track(TRACK).challenge_id == "amazon-kdd-cup-24-shopping-knowledge-reasoning"
    assert config["gpu"] is True
    assert config["authors"] == ["alice", "bob"] and config["description"] == "a test submission" and config["license"] == "MIT"
    assert "aicrowd.json" in git(repo, "log", "-1", "--format=%s") and "track 2" in git(repo, "log", "-1", "--format=%s")
    assert git(repo, "status", "--porcelain") == ""
    assert git(bare, "ls-tree", "-r", "--name-only", "submission-v1").count(".safetensors") == 1


def test_dry_run_checks_but_writes_commits_tags_and_pushes_nothing(tmp_path, capsys):
    repo, bare = make_project(tmp_path)
    head, config = git(repo, "rev-parse", "HEAD"), (repo / "aicrowd.json").read_text()
    run(repo, "--no-model-check", "--dry-run")
    out = capsys.readouterr().out
    assert "would commit aicrowd.json (" in out and "), tag it as submission-v1 and push refs/heads/main refs/tags/submission-v1" in out
    assert git(repo, "rev-parse", "HEAD") == head and (repo / "aicrowd.json").read_text() == config
    assert git(repo, "tag") == "" and remote_refs(bare) == ""


def test_unchanged_aicrowd_json_is_not_committed_again(tmp_path, capsys):
    repo, bare = make_project(tmp_path)
    run(repo, "--no-model-check", name="first")
    head = git(repo, "rev-parse", "HEAD")
    run(repo, "--no-model-check", name="submission-second")  # a name with the prefix is kept as is
    assert "[commit]" not in capsys.readouterr().out.split("submission: submission-first")[1]
    assert git(repo, "rev-parse", "HEAD") == head
    assert git(bare, "tag").split() == ["submission-first", "submission-second"]


# --- git-lfs ---------------------------------------------------------------------------------------
def test_missing_lfs_rule_for_a_weights_file_stops_it(tmp_path, capsys):
    repo, bare = make_project(tmp_path, gitattributes="*.bin filter=lfs diff=lfs merge=lfs -text\n")
    err = fails(capsys, repo, "--no-model-check")
    weights = f"{get_track(TRACK).checkpoint}/model-00001-of-00001.safetensors"
    assert "not covered by a git-lfs rule" in err and weights in err
    assert 'git lfs track "models/**/*.safetensors"' in err and ".gitattributes" in err
    assert remote_refs(bare) == "" and git(repo, "tag") == ""
    assert json.loads((repo / "aicrowd.json").read_text())["gpu"] is False  # nothing written before the checks pass


def test_untracked_weights_without_lfs_rule_stop_it(tmp_path, capsys):
    repo, bare = make_project(tmp_path)
    (repo / "models" / "extra").mkdir()
    (repo / "models" / "extra" / "adapter.bin").write_text(POINTER)  # about to be committed, no *.bin rule
    err = fails(capsys, repo, "--no-model-check")
    assert "models/extra/adapter.bin" in err and 'git lfs track "models/**/*.bin"' in err
    assert remote_refs(bare) == ""


@pytest.mark.skipif(shutil.which("git-lfs") is not None, reason="git-lfs is installed: this test needs it absent")
def test_real_weights_without_git_lfs_stop_it(tmp_path, capsys):
    repo, bare = make_project(tmp_path, weights=b"\x08\x00\x00\x00\x00\x00\x00\x00{}" + bytes(2048))
    err = fails(capsys, repo, "--no-model-check")
    assert "git-lfs is not installed" in err and "model-00001-of-00001.safetensors" in err
    assert "cannot be pushed as LFS objects" in err
    assert remote_refs(bare) == ""


# --- the blobs of the tagged commit: size and LFS rules, whatever the path or suffix -----------------
def test_plain_weights_outside_models_are_refused(tmp_path, capsys):
    repo, bare = make_project(tmp_path)
    write(repo, "ckpt/model.safetensors", bytes(3_000_000))  # no LFS rule covers ckpt/: a plain 3 MB blob
    commit(repo)
    head = git(repo, "rev-parse", "HEAD")
    err = fails(capsys, repo, "--no-model-check")
    assert "ckpt/model.safetensors (3.0 MB)" in err and "above 1 MiB are plain git blobs" in err and "git lfs track" in err
    assert nothing_happened(repo, bare, head)


@pytest.mark.parametrize("path", [f"{CHECKPOINT}/model.ckpt", "models/onnx/model.onnx", "data/corpus.jsonl"])
def test_large_files_of_any_suffix_are_refused(tmp_path, capsys, path):
    repo, bare = make_project(tmp_path, gitattributes="models/** filter=lfs diff=lfs merge=lfs -text\n")
    write(repo, path, bytes(MAX_PLAIN_BLOB + 1))  # covered by a rule, but committed without git-lfs: plain
    commit(repo)
    head = git(repo, "rev-parse", "HEAD")
    err = fails(capsys, repo, "--no-model-check")
    assert f"{path} (1.0 MB)" in err and "must go through git-lfs" in err
    assert nothing_happened(repo, bare, head)


def test_a_file_at_the_size_limit_may_be_plain(tmp_path, capsys):
    repo, bare = make_project(tmp_path)
    write(repo, "models/tokenizer/vocab.json", bytes(MAX_PLAIN_BLOB))
    commit(repo)
    run(repo, "--no-model-check")
    assert git(bare, "tag") == "submission-v1"


def test_text_files_up_to_the_text_limit_may_be_plain_but_not_above_it(tmp_path, capsys):
    # a tokenizer's vocab.json (2.8 MB) is text: no weights, and the tests need it without git-lfs
    repo, bare = make_project(tmp_path)
    write(repo, "models/tokenizer/vocab.json", ('{"tok\u00e9n": 1}\n' * 200_000).encode()[:3_000_000])
    commit(repo)
    run(repo, "--no-model-check")
    assert git(bare, "tag") == "submission-v1"
    (tmp_path / "big").mkdir()
    repo, bare = make_project(tmp_path / "big")
    write(repo, "data/huge.jsonl", b'{"a": 1}\n' * (MAX_PLAIN_TEXT // 9 + 1))
    commit(repo)
    head = git(repo, "rev-parse", "HEAD")
    err = fails(capsys, repo, "--no-model-check")
    assert "data/huge.jsonl" in err and "must go through git-lfs" in err
    assert nothing_happened(repo, bare, head)


def test_binary_weights_disguised_as_text_by_their_suffix_are_refused(tmp_path, capsys):
    import random

    repo, bare = make_project(tmp_path)
    write(repo, "models/weights.json", random.Random(0).randbytes(2_000_000))  # float bytes never decode as UTF-8
    commit(repo)
    head = git(repo, "rev-parse", "HEAD")
    err = fails(capsys, repo, "--no-model-check")
    assert "models/weights.json" in err and nothing_happened(repo, bare, head)


def test_plain_blob_in_an_earlier_commit_is_refused_until_the_remote_has_it(tmp_path, capsys):
    repo, bare = make_project(tmp_path)
    write(repo, "ckpt/old.pt", bytes(MAX_PUSHED_BLOB + 1))
    write(repo, "data/old.jsonl", bytes(2 * MAX_PLAIN_BLOB))  # a small old file may stay in the history
    commit(repo, "weights, plain")
    git(repo, "rm", "-q", "ckpt/old.pt", "data/old.jsonl")
    commit(repo, "weights gone from the tree, not from the history")
    head = git(repo, "rev-parse", "HEAD")
    err = fails(capsys, repo, "--no-model-check")
    assert "1 plain blob(s) above 10 MiB (MAX_PUSHED_BLOB) in earlier commits would be uploaded by this push: ckpt/old.pt (10.5 MB" in err
    assert "git lfs migrate" in err
    assert nothing_happened(repo, bare, head)
    git(repo, "push", "-q", "grader", "HEAD~1:refs/heads/main")  # the grader's remote holds that blob already
    run(repo, "--no-model-check")
    assert git(bare, "tag") == "submission-v1"


@pytest.mark.skipif(shutil.which("git-lfs") is not None, reason="git-lfs is installed: this test needs it absent")
@pytest.mark.parametrize("path", [f"{CHECKPOINT}/{WEIGHTS_NAME}", "assets/index.faiss"])
def test_dangling_lfs_pointer_is_refused_without_git_lfs(tmp_path, capsys, path):
    repo, bare = make_project(tmp_path, lfs_objects=())  # the pointer of the checkpoint has no object here
    if not path.startswith(CHECKPOINT):
        lfs_store(repo, WEIGHTS)
        write(repo, ".gitattributes", LFS_RULE + "assets/** filter=lfs diff=lfs merge=lfs -text\n")
        write(repo, path, pointer(b"an index nobody has"))  # a small pointer, anywhere, of any suffix
        commit(repo)
    head = git(repo, "rev-parse", "HEAD")
    err = fails(capsys, repo, "--no-model-check")
    assert "1 LFS pointer(s) whose object is not in this repository's LFS store (.git/lfs/objects)" in err
    assert path in err and "sha256:" in err and "git lfs fetch" in err
    assert nothing_happened(repo, bare, head)


def test_lfs_object_of_another_size_is_refused(tmp_path, capsys):
    repo, bare = make_project(tmp_path, lfs_objects=())
    lfs_store(repo, WEIGHTS).write_bytes(WEIGHTS[:3])  # a truncated download
    head = git(repo, "rev-parse", "HEAD")
    err = fails(capsys, repo, "--no-model-check")
    assert f"{WEIGHTS_NAME} (pointer says 7 bytes, the local object has 3)" in err
    assert nothing_happened(repo, bare, head)


def test_malformed_lfs_pointer_is_refused(tmp_path, capsys):
    repo, bare = make_project(tmp_path, weights="version https://git-lfs.github.com/spec/v1\noid md5:1234\nsize many\n")
    err = fails(capsys, repo, "--no-model-check")
    assert f"{CHECKPOINT}/{WEIGHTS_NAME} starts like a git-lfs pointer but is not one" in err
    assert remote_refs(bare) == ""


def test_lfs_pointer_outside_the_tagged_lfs_rules_is_refused(tmp_path, capsys):
    repo, bare = make_project(tmp_path)
    lfs_add(repo, "ckpt/adapter.ckpt", b"adapter weights")  # its object is here, but no rule covers ckpt/
    commit(repo)
    err = fails(capsys, repo, "--no-model-check")
    assert "LFS pointer(s) not covered by a filter=lfs rule of the tagged .gitattributes: ckpt/adapter.ckpt" in err
    assert remote_refs(bare) == ""


def test_uncommitted_requirements_are_refused(tmp_path, capsys):
    repo, bare = make_project(tmp_path)
    git(repo, "rm", "-q", "--cached", "requirements.txt")  # still in the working tree, no longer in the commit
    git(repo, "commit", "-q", "-m", "untrack requirements")
    err = fails(capsys, repo, "--no-model-check")
    assert "requirements.txt is not in the commit to tag" in err
    assert remote_refs(bare) == ""


# --- requirements ----------------------------------------------------------------------------------
def test_unpinned_requirement_stops_it_naming_the_line(tmp_path, capsys):
    repo, bare = make_project(tmp_path, requirements="# runtime\nvllm==0.32.0\nnumpy>=2.0\n")
    err = fails(capsys, repo, "--no-model-check")
    assert "requirements.txt:3" in err and "'numpy>=2.0' is not pinned" in err and "name==version" in err
    assert remote_refs(bare) == ""


@pytest.mark.parametrize("line, pinned", [
    ("vllm==0.32.0", True),
    ("torch==2.13.0   # a comment", True),
    ("Foo_Bar[extra]==1.0 ; python_version >= '3.10'", True),
    ("pkg==1.0 --hash=sha256:abc", True),
    ("--extra-index-url https://example.com/simple", True),  # options pin nothing and install nothing
    ("-c constraints.txt", True),
    ("numpy", False),
    ("numpy>=2", False),
    ("numpy==2.*", False),
    ("numpy==2.0,<3", False),
    ("numpy ; python_version == '3.11'", False),  # the == of a marker is not a pin
    ("-e .", False),
    ("pkg @ https://example.com/pkg.whl", False),
])
def test_pinned_requirement_rules(tmp_path, line, pinned):
    path = tmp_path / "requirements.txt"
    path.write_text(f"# header\n\n{line}\n")
    if pinned:
        check_requirements(path)
    else:
        with pytest.raises(SubmissionError, match="requirements.txt:3"):
            check_requirements(path)


def test_included_requirements_files_are_checked_too(tmp_path):
    (tmp_path / "requirements.txt").write_text("-r base.txt\nvllm==0.32.0 \\\n    --hash=sha256:abc\n")
    (tmp_path / "base.txt").write_text("torch==2.13.0\nrequests\n")
    with pytest.raises(SubmissionError, match=r"base.txt:2: 'requests' is not pinned"):
        check_requirements(tmp_path / "requirements.txt")
    (tmp_path / "base.txt").write_text("torch==2.13.0\n-r requirements.txt\n")  # a cycle is read once
    assert check_requirements(tmp_path / "requirements.txt") == 2


# --- git state -------------------------------------------------------------------------------------
@pytest.mark.parametrize("where", ["local", "remote"])
def test_existing_tag_is_refused(tmp_path, capsys, where):
    repo, bare = make_project(tmp_path)
    git(repo, "tag", "submission-v1")
    if where == "remote":
        git(repo, "push", "-q", "grader", "submission-v1")
        git(repo, "tag", "-d", "submission-v1")
    head = git(repo, "rev-parse", "HEAD")
    err = fails(capsys, repo, "--no-model-check")
    assert "tag submission-v1 already exists" in err and where in err and "new --name" in err
    assert git(repo, "rev-parse", "HEAD") == head and "refs/heads/main" not in remote_refs(bare)


def test_uncommitted_changes_to_tracked_files_are_refused(tmp_path, capsys):
    repo, bare = make_project(tmp_path)
    (repo / "requirements.txt").write_text(PINNED + "tqdm==4.70.1\n")
    (repo / "aicrowd.json").write_text("{}\n")  # aicrowd.json alone may differ: the command rewrites it
    err = fails(capsys, repo, "--no-model-check")
    assert "uncommitted changes to tracked files (requirements.txt)" in err
    assert remote_refs(bare) == ""


def test_rejected_push_removes_the_local_tag(tmp_path, capsys):
    repo, bare = make_project(tmp_path)
    other = tmp_path / "other"
    git(repo, "push", "-q", "grader", "main")
    subprocess.run(["git", "clone", "-q", "-b", "main", str(bare), str(other)], check=True, capture_output=True)
    git(other, "-c", "user.name=O", "-c", "user.email=o@example.com", "commit", "-q", "--allow-empty", "-m", "elsewhere")
    git(other, "push", "-q", "origin", "main")  # the remote's main moved on: our push is not a fast-forward
    err = fails(capsys, repo, "--no-model-check")
    assert "`git push grader refs/heads/main` failed" in err and "local tag submission-v1 removed" in err
    assert git(repo, "tag") == "" and "submission-v1" not in remote_refs(bare)


def test_help_names_the_flags_and_shows_examples(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for text in ("--no-model-check", "--model-dir", "--no-checkpoint-check", "--dry-run", "--questions",
                 "shopbench submit --track", "MAX_PLAIN_BLOB"):
        assert text in out


def test_unknown_remote_is_refused(tmp_path, capsys):
    repo, _ = make_project(tmp_path)
    git(repo, "remote", "rename", "grader", "origin")
    err = fails(capsys, repo, "--no-model-check")
    assert "no git remote named 'grader'" in err and "origin" in err


# --- the checkpoint folder -------------------------------------------------------------------------
def test_missing_checkpoint_folder_stops_it(tmp_path, capsys):
    repo, bare = make_project(tmp_path, track=5)  # weights for track 5's folder, submitted to track 2
    err = fails(capsys, repo, "--no-model-check")
    assert f"checkpoint folder {get_track(TRACK).checkpoint} does not exist" in err
    assert "training/" in err and "--no-checkpoint-check" in err
    run(repo, "--no-model-check", "--no-checkpoint-check")  # a code-only submission is allowed on request
    assert git(bare, "tag") == "submission-v1"


def test_weightless_checkpoint_folder_stops_it(tmp_path, capsys):
    repo, bare = make_project(tmp_path, weights=None)
    err = fails(capsys, repo, "--no-model-check")
    assert f"checkpoint folder {get_track(TRACK).checkpoint} holds no weight files" in err and "training/" in err
    weights = repo / get_track(TRACK).checkpoint / "model.safetensors"
    weights.write_text(POINTER)  # on disk but never committed: the grader would not get it
    err = fails(capsys, repo, "--no-model-check")
    assert "not committed" in err and "model.safetensors" in err
    assert remote_refs(bare) == ""


# --- the model: the tagged checkout's own code, in a subprocess, on the tagged checkpoint ------------
def test_dev_questions_cover_the_task_types(dev_rows):
    picked = pick_questions(dev_rows, 5, get_track(TRACK).challenge_id)
    assert sorted(r["task_type"] for r in picked) == sorted(
        ["multiple-choice", "generation", "retrieval", "named_entity_recognition", "ranking"])
    assert picked[0]["track"] == get_track(TRACK).challenge_id  # the track's own rows come first
    assert len(pick_questions(dev_rows, 12, get_track(5).challenge_id)) == 12


def model_line(out: str) -> str:
    return next(line for line in out.splitlines() if line.startswith("[model]"))


def test_model_check_runs_the_tagged_checkouts_code(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("SHOPBENCH_MODEL", str(tmp_path / "some-other-model"))  # ignored: the tag's checkpoint is checked
    repo, bare = make_project(tmp_path)  # its UserModel (not this repository's) answers with its weights file
    run(repo)
    line = model_line(capsys.readouterr().out)
    assert "5 dev question(s)" in line and "by the tagged models/user_config.py on stand-in" in line
    assert f"{CHECKPOINT} (the tagged checkpoint)" in line
    assert git(bare, "tag") == "submission-v1"


def test_model_check_sees_only_committed_files(tmp_path, capsys):
    repo, bare = make_project(tmp_path, user_config="from models.helper import UserModel\n")
    write(repo, "models/helper.py", FAKE_USER_CONFIG)  # works here, but is never committed
    head = git(repo, "rev-parse", "HEAD")
    err = fails(capsys, repo)
    assert "model check: importing the tagged models.user_config failed: ModuleNotFoundError" in err and "models.helper" in err
    assert nothing_happened(repo, bare, head)


@pytest.mark.parametrize("source, message", [
    ("def UserModel(:\n", "importing the tagged models.user_config failed: SyntaxError: invalid syntax"),
    ("import os, sys\nsys.stderr.write('loading...\\nFatal: CUDA driver missing\\n')\nos._exit(3)\n",
     "the check process (tagged code) exited with status 3: Fatal: CUDA driver missing"),
    (FAKE_USER_CONFIG + "\nclass Broken(UserModel):\n    def __init__(self):\n        raise SystemExit('no GPU')\n\nUserModel = Broken\n",
     "UserModel() failed: SystemExit: no GPU"),
])
def test_broken_user_config_in_the_tagged_checkout_is_refused(tmp_path, capsys, source, message):
    repo, bare = make_project(tmp_path, user_config=source)
    head = git(repo, "rev-parse", "HEAD")
    err = fails(capsys, repo)
    assert f"model check: {message}" in err
    assert nothing_happened(repo, bare, head)


def test_model_check_that_hangs_is_stopped_with_a_reason(tmp_path, capsys, monkeypatch):
    import tools.submission

    monkeypatch.setattr(tools.submission, "MODEL_CHECK_TIMEOUT_S", 1)
    repo, bare = make_project(tmp_path, user_config="import time\ntime.sleep(60)\n")
    head = git(repo, "rev-parse", "HEAD")
    err = fails(capsys, repo)
    assert "model check: no answers within 1 s (MODEL_CHECK_TIMEOUT_S)" in err
    assert nothing_happened(repo, bare, head)


def test_model_check_needs_the_tracks_checkpoint_in_the_tag_or_an_explicit_stand_in(tmp_path, capsys):
    repo, bare = make_project(tmp_path, track=5)  # no checkpoint for track 2 in the commit
    head = git(repo, "rev-parse", "HEAD")
    err = fails(capsys, repo, "--no-checkpoint-check")
    assert f"the commit to tag has no {CHECKPOINT}" in err and "--model-dir" in err
    assert nothing_happened(repo, bare, head)
    stand_in = tmp_path / "stand-in"
    stand_in.mkdir()
    (stand_in / WEIGHTS_NAME).write_bytes(b"2, 1")
    run(repo, "--no-checkpoint-check", "--model-dir", str(stand_in))
    line = model_line(capsys.readouterr().out)
    assert f"{stand_in} (--model-dir: a stand-in, not the tagged {CHECKPOINT})" in line
    assert git(bare, "tag") == "submission-v1"


_VARIANTS = {  # UserModel subclasses whose answers break one rule each
    "raises": "    def batch_predict(self, batch, is_multiple_choice):\n        raise RuntimeError('CUDA out of memory')\n",
    "unparseable": "    def batch_predict(self, batch, is_multiple_choice):\n        return ['Answer: 2' for _ in batch['prompt']]\n",
    "not a string": "    def batch_predict(self, batch, is_multiple_choice):\n        return [3 for _ in batch['prompt']]\n",
    "short": "    def batch_predict(self, batch, is_multiple_choice):\n        return ['0']\n",
}


@pytest.mark.parametrize("variant, message", [
    ("raises", "batch_predict on multiple-choice raised RuntimeError: CUDA out of memory"),
    ("unparseable", "answer 'Answer: 2' parses to -1, the parser's failure value"),  # the parser reads "A": -1
    ("not a string", "answer is int, not str"),
    ("short", "not one answer per prompt"),
])
def test_model_that_raises_or_answers_unparseably_stops_it(tmp_path, capsys, variant, message):
    source = FAKE_USER_CONFIG + f"\n\nclass Variant(UserModel):\n{_VARIANTS[variant]}\n\nUserModel = Variant\n"
    repo, bare = make_project(tmp_path, user_config=source)
    head = git(repo, "rev-parse", "HEAD")
    err = fails(capsys, repo, "--questions", "7")  # 7: two multiple-choice questions in one batch
    assert "model check: " in err and message in err
    assert nothing_happened(repo, bare, head)


# --- the real model code on the tiny Qwen2 --------------------------------------------------------
@pytest.fixture(scope="module")
def model_code() -> dict[str, bytes]:
    """This repository's committed model code (models/*.py, utilities/), as a project would commit it."""
    tar = subprocess.run(["git", "-C", str(CODE_REPO), "archive", "HEAD", "models", "utilities"],
                         check=True, capture_output=True).stdout
    with tarfile.open(fileobj=io.BytesIO(tar)) as archive:
        return {m.name: archive.extractfile(m).read() for m in archive.getmembers() if m.isfile() and m.name.endswith(".py")}


def real_project(tmp_path: Path, model_code: dict[str, bytes], tiny_model_dir: Path) -> tuple[Path, Path]:
    """A project with the real model code and the tiny Qwen2 as the track's checkpoint (the weights and
    the two tokenizer files above MAX_PLAIN_BLOB through LFS, the rest plain)."""
    rules = LFS_RULE + "models/**/vocab.json filter=lfs diff=lfs merge=lfs -text\nmodels/**/merges.txt filter=lfs diff=lfs merge=lfs -text\n"
    repo, bare = make_project(tmp_path, gitattributes=rules, user_config=None, weights=None)
    for path, data in model_code.items():
        write(repo, path, data)
    for file in tiny_model_dir.iterdir():
        data = file.read_bytes()
        if len(data) > MAX_PLAIN_BLOB:  # into the LFS store as a hard link: 78 MB of weights are not copied
            oid = hashlib.sha256(data).hexdigest()
            stored = repo / ".git" / "lfs" / "objects" / oid[:2] / oid[2:4] / oid
            stored.parent.mkdir(parents=True, exist_ok=True)
            try:
                stored.hardlink_to(file)
            except OSError:
                shutil.copyfile(file, stored)
            write(repo, f"{CHECKPOINT}/{file.name}", pointer(data))
        else:
            write(repo, f"{CHECKPOINT}/{file.name}", data)
    commit(repo, "the model code and the tiny model")
    return repo, bare


def test_model_check_runs_the_real_tiny_model_on_dev_questions(tmp_path, capsys, monkeypatch, model_code, tiny_model_dir):
    monkeypatch.setenv("SHOPBENCH_ENGINE", "transformers")
    monkeypatch.setenv("SHOPBENCH_MODEL", str(tmp_path / "ignored"))
    repo, bare = real_project(tmp_path, model_code, tiny_model_dir)
    run(repo)  # the default: 5 questions, one per task type
    out = capsys.readouterr().out
    assert "3 LFS pointer(s)" in out  # model.safetensors, vocab.json, merges.txt
    line = model_line(out)
    assert "5 dev question(s)" in line and "by the tagged models/user_config.py on transformers" in line
    assert f"{CHECKPOINT} (the tagged checkpoint)" in line
    for task_type in ("multiple-choice", "generation", "retrieval", "named_entity_recognition", "ranking"):
        assert task_type in line
    assert git(bare, "tag") == "submission-v1"


def test_the_repository_sends_every_weight_suffix_through_lfs():
    from tools.submission import WEIGHT_SUFFIXES

    rules = (CODE_REPO / ".gitattributes").read_text().splitlines()
    lfs = {line.split()[0] for line in rules if "filter=lfs" in line}
    assert {f"models/**/*{suffix}" for suffix in WEIGHT_SUFFIXES} <= lfs
