"""The submission command against REAL git: a temporary project repo and a local bare remote.

Each test builds a small project in tmp_path (aicrowd.json, requirements.txt, .gitattributes, a
checkpoint folder whose weights are a git-lfs pointer file, committed normally: git-lfs need not
be installed), runs ``main([...])`` and reads the outcome back from the bare repository.
"""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from utilities.submission import SubmissionError, check_requirements, main, pick_questions
from utilities.tracks import get_track

TRACK = 2  # its checkpoint folder (alpha 0.5) differs from the track 5 one the project starts with
POINTER = (  # what git-lfs commits in place of a weight file
    "version https://git-lfs.github.com/spec/v1\n"
    "oid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\n"
    "size 41600000000\n"
)
LFS_RULE = "models/**/*.safetensors filter=lfs diff=lfs merge=lfs -text\n"
PINNED = "# runtime\nvllm==0.32.0\ntorch==2.13.0   # pinned by vllm\n\nnumpy==2.3.5 ; python_version >= '3.10'\n"


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture(autouse=True)
def hermetic_git(tmp_path, monkeypatch):
    """No user or system git config (signing, hooks, default branch) leaks into the tests."""
    empty = tmp_path / "gitconfig"
    empty.write_text("")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(empty))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")


def make_project(tmp_path: Path, *, track: int = TRACK, requirements: str = PINNED, gitattributes: str | None = LFS_RULE,
                 weights: bytes | str | None = POINTER) -> tuple[Path, Path]:
    """(project repo, bare remote "grader"): everything committed on branch main."""
    repo, bare = tmp_path / "project", tmp_path / "grader.git"
    repo.mkdir()
    subprocess.run(["git", "init", "-q", "--bare", str(bare)], check=True)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "config", "user.name", "Test Submitter")
    git(repo, "config", "user.email", "submitter@example.com")
    (repo / "aicrowd.json").write_text(json.dumps({
        "challenge_id": get_track(5).challenge_id, "authors": ["alice", "bob"], "gpu": False,
        "description": "a test submission", "license": "MIT",
    }, indent=2) + "\n")
    (repo / "requirements.txt").write_text(requirements)
    if gitattributes is not None:
        (repo / ".gitattributes").write_text(gitattributes)
    checkpoint = repo / get_track(track).checkpoint
    checkpoint.mkdir(parents=True)
    (checkpoint / "config.json").write_text('{"model_type": "qwen2"}\n')
    if weights is not None:
        data = weights.encode() if isinstance(weights, str) else weights
        (checkpoint / "model-00001-of-00001.safetensors").write_bytes(data)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "project")
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


# --- the whole command ---------------------------------------------------------------------------
def test_submission_tags_and_pushes_to_the_named_remote(tmp_path, capsys):
    repo, bare = make_project(tmp_path)
    run(repo, "--no-model-check")
    out = capsys.readouterr().out
    for step in ("[git]", "[requirements]", "[lfs]", "[checkpoint]", "[aicrowd.json]", "[commit]", "[tag]", "[push]"):
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
    assert "would commit aicrowd.json, tag HEAD as submission-v1 and push refs/heads/main refs/tags/submission-v1" in out
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
    for text in ("--no-model-check", "--no-checkpoint-check", "--dry-run", "--questions", "python -m utilities.submission --track"):
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


# --- the model -------------------------------------------------------------------------------------
def test_dev_questions_cover_the_task_types(dev_rows):
    picked = pick_questions(dev_rows, 5, get_track(TRACK).challenge_id)
    assert sorted(r["task_type"] for r in picked) == sorted(
        ["multiple-choice", "generation", "retrieval", "named_entity_recognition", "ranking"])
    assert picked[0]["track"] == get_track(TRACK).challenge_id  # the track's own rows come first
    assert len(pick_questions(dev_rows, 12, get_track(5).challenge_id)) == 12


def test_model_check_runs_the_real_tiny_model_on_dev_questions(tmp_path, capsys, monkeypatch, tiny_model_dir):
    monkeypatch.setenv("SHOPBENCH_MODEL", str(tiny_model_dir))
    monkeypatch.setenv("SHOPBENCH_ENGINE", "transformers")
    repo, bare = make_project(tmp_path)
    run(repo)  # the default: 5 questions, one per task type
    out = capsys.readouterr().out
    model_line = next(line for line in out.splitlines() if line.startswith("[model]"))
    assert "5 dev question(s)" in model_line and "transformers" in model_line and str(tiny_model_dir) in model_line
    for task_type in ("multiple-choice", "generation", "retrieval", "named_entity_recognition", "ranking"):
        assert task_type in model_line
    assert git(bare, "tag") == "submission-v1"


def test_model_without_weights_stops_it(tmp_path, capsys, monkeypatch, tiny_model_dir):
    weightless = tmp_path / "weightless"
    weightless.mkdir()
    shutil.copy(tiny_model_dir / "config.json", weightless)
    monkeypatch.setenv("SHOPBENCH_MODEL", str(weightless))
    monkeypatch.setenv("SHOPBENCH_ENGINE", "transformers")
    repo, bare = make_project(tmp_path)
    err = fails(capsys, repo)
    assert "model check: UserModel() failed: FileNotFoundError" in err and "no weight files" in err
    assert remote_refs(bare) == "" and git(repo, "tag") == ""


class _Model:
    """A stand-in UserModel whose answers break one rule each (the real model cannot be made to)."""

    answer = "0"

    def __init__(self):
        pass

    def batch_predict(self, batch, is_multiple_choice):
        return [self.answer for _ in batch["prompt"]]


class _Raises(_Model):
    def batch_predict(self, batch, is_multiple_choice):
        raise RuntimeError("CUDA out of memory")


class _Unparseable(_Model):
    answer = "Answer: 2"  # the multiple-choice parser reads "A": -1


class _NotAString(_Model):
    answer = 3


class _Short(_Model):
    def batch_predict(self, batch, is_multiple_choice):
        return ["0"]


@pytest.mark.parametrize("model, message", [
    (_Raises, "batch_predict on multiple-choice raised RuntimeError: CUDA out of memory"),
    (_Unparseable, "answer 'Answer: 2' parses to -1, the parser's failure value"),
    (_NotAString, "answer is int, not str"),
    (_Short, "not one answer per prompt"),
])
def test_model_that_raises_or_answers_unparseably_stops_it(tmp_path, capsys, monkeypatch, model, message):
    import models.user_config

    monkeypatch.setattr(models.user_config, "UserModel", model)
    repo, bare = make_project(tmp_path)
    err = fails(capsys, repo, "--questions", "7")  # 7: two multiple-choice questions in one batch
    assert message in err
    assert remote_refs(bare) == "" and git(repo, "tag") == ""


def test_the_repository_sends_every_weight_suffix_through_lfs():
    from utilities.submission import WEIGHT_SUFFIXES

    rules = (Path(__file__).resolve().parent.parent / ".gitattributes").read_text().splitlines()
    lfs = {line.split()[0] for line in rules if "filter=lfs" in line}
    assert {f"models/**/*{suffix}" for suffix in WEIGHT_SUFFIXES} <= lfs
