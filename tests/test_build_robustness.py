"""Nothing sinks a data build (issue #10): a corrupt source file costs that file (or the rest of it),
named in the manifest and the summary, and the build exits non-zero; the output folder is written
whole or not at all; every altered row is counted.

The corrupt files are made here, in tmp_path, from copies of tests/data/sources."""
from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from training.data import build as build_module
from training.data import readers
from training.data.__main__ import EXIT_LOST, EXIT_REFUSED, run
from training.data.build import build, render_losses
from training.data.readers.files import reading
from training.data.sources import ReadStats

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "tests" / "data" / "sources"
# one or two cheap datasets per source, a few rows each
SMALL = {"esci": ["esci_title_for_query"], "amazon_m2": ["m2_title_for_locale", "m2_previous_clicks_retrieval"],
         "amazon_reviews_2023": ["reviews_rating"], "ecinstruct": ["ecinstruct_sentiment"],
         "mmlu": ["mmlu_general_knowledge"], "alpaca_cleaned": ["alpaca_instruction_following"]}
LIMIT = 5


def copy_sources(tmp_path: Path, *sources: str) -> Path:
    src = tmp_path / "src"
    for source in sources or SMALL:
        shutil.copytree(FIXTURES / source, src / source)
    return src


def small_build(src: Path, out: Path, *sources: str, **kwargs) -> dict:
    names = [n for s in (sources or SMALL) for n in SMALL[s]]
    return build(src, out, names, {n: LIMIT for n in names}, progress=False, **kwargs)


def cli(src: Path, out: Path, *extra: str, sources=tuple(SMALL)) -> list[str]:
    return ["build", "--sources", str(src), "--out", str(out), "--limit", str(LIMIT),
            "--only", *[n for s in sources for n in SMALL[s]], *extra]


def rows(out: Path, name: str) -> list[dict]:
    return [json.loads(line) for line in (out / f"{name}.jsonl").read_text(encoding="utf-8").splitlines()]


def lost_files(manifest: dict) -> dict[str, dict]:
    return {r["file"]: r for r in manifest["lost"]}


def truncate(path: Path, keep: float = 0.5) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


def insert_after_line(path: Path, line: int, junk: bytes) -> None:
    """``junk`` at the start of line ``line + 1`` (1-based lines)."""
    lines = path.read_bytes().split(b"\n")
    lines[line] = junk + lines[line]
    path.write_bytes(b"\n".join(lines))


def by_name(manifest: dict) -> dict[str, dict]:
    return {d["name"]: d for d in manifest["datasets"]}


# ---- a corrupt file costs that file ----------------------------------------------------------------

def test_truncated_parquet_costs_only_its_file(tmp_path):
    src = copy_sources(tmp_path, "esci", "mmlu")
    truncate(src / "esci" / "shopping_queries_dataset_examples.parquet")
    manifest = small_build(src, tmp_path / "out", "esci", "mmlu")
    record = lost_files(manifest)["esci/shopping_queries_dataset_examples.parquet"]
    assert record["lost"] == "file" and "Parquet" in record["error"]
    assert by_name(manifest)["mmlu_general_knowledge"]["rows"] == LIMIT  # the other datasets are still built
    assert by_name(manifest)["esci_title_for_query"]["rows"] == 0
    assert manifest["complete"] is False


def test_truncated_products_parquet_is_named_and_its_products_not_counted_as_absent(tmp_path):
    src = copy_sources(tmp_path, "esci")
    truncate(src / "esci" / "shopping_queries_dataset_products.parquet")
    manifest = small_build(src, tmp_path / "out", "esci")
    assert "esci/shopping_queries_dataset_products.parquet" in lost_files(manifest)
    skipped = manifest["sources"]["esci"]["skipped"]
    assert "requested product not in the products file" not in skipped
    assert skipped["requested product not read (the products file is lost from there)"] > 0


def test_truncated_amazon_m2_parquet_costs_only_its_file(tmp_path):
    src = copy_sources(tmp_path, "amazon_m2")
    truncate(src / "amazon_m2" / "task3_phase1_sessions_test_sample.parquet")
    manifest = small_build(src, tmp_path / "out", "amazon_m2")
    assert lost_files(manifest)["amazon_m2/task3_phase1_sessions_test_sample.parquet"]["lost"] == "file"
    assert all(by_name(manifest)[n]["rows"] == LIMIT for n in SMALL["amazon_m2"])  # sessions_train.csv still read


def test_truncated_jsonl_gz_keeps_the_lines_before_the_fault(tmp_path):
    src = copy_sources(tmp_path, "amazon_reviews_2023")
    path = src / "amazon_reviews_2023" / "Cell_Phones_and_Accessories.jsonl.gz"
    whole = gzip.decompress(path.read_bytes()).count(b"\n")
    truncate(path)
    stats = ReadStats("amazon_reviews_2023")
    data = readers.OPENERS["amazon_reviews_2023"](src / "amazon_reviews_2023", stats)
    (record,) = stats.lost
    assert record["file"].endswith("Cell_Phones_and_Accessories.jsonl.gz") and record["lost"] == "rest"
    assert record["error"].startswith("EOFError") and 0 < record["rows_read"] < whole
    assert record["line"] == record["rows_read"] + 1  # the fault is in the line after the last one read
    categories = {r.category for r in data.index.reviews}
    assert categories == {"All_Beauty", "Home_and_Kitchen", "Cell_Phones_and_Accessories"}  # its first lines kept


def test_a_file_that_is_not_gzip_is_named(tmp_path):
    src = copy_sources(tmp_path, "amazon_reviews_2023")
    (src / "amazon_reviews_2023" / "Cell_Phones_and_Accessories.jsonl.gz").write_bytes(b'{"rating": 5}\n' * 3)
    manifest = small_build(src, tmp_path / "out", "amazon_reviews_2023")
    record = lost_files(manifest)["amazon_reviews_2023/Cell_Phones_and_Accessories.jsonl.gz"]
    assert record["lost"] == "file" and "BadGzipFile" in record["error"]
    assert by_name(manifest)["reviews_rating"]["rows"] == LIMIT


def test_non_utf8_csv_costs_the_rest_of_the_file_from_the_bad_line(tmp_path):
    src = copy_sources(tmp_path, "mmlu")
    path = src / "mmlu" / "marketing_test.csv"
    insert_after_line(path, 100, b"caf\xe9 ")
    manifest = small_build(src, tmp_path / "out", "mmlu")
    record = lost_files(manifest)["mmlu/marketing_test.csv"]
    assert record["lost"] == "rest" and record["line"] == 101 and record["error"].startswith("not UTF-8: byte 0xe9")
    assert record["unread_bytes"] == len(b"\n".join(path.read_bytes().split(b"\n")[100:]))
    assert record["rows_read"] == 99  # lines 2-100: the header and the rows before the bad line
    assert by_name(manifest)["mmlu_general_knowledge"]["rows"] == LIMIT


def test_non_utf8_csv_of_amazon_m2_costs_only_its_file(tmp_path):
    src = copy_sources(tmp_path, "amazon_m2")
    insert_after_line(src / "amazon_m2" / "sessions_train.csv", 50, b"\xff\xfe")
    manifest = small_build(src, tmp_path / "out", "amazon_m2")
    record = lost_files(manifest)["amazon_m2/sessions_train.csv"]
    assert "UTF8" in record["error"] or "UTF-8" in record["error"]
    assert by_name(manifest)["m2_title_for_locale"]["rows"] == LIMIT  # products_train.csv is fine


def test_non_utf8_jsonl_line_is_dropped_counted_and_named(tmp_path):
    src = copy_sources(tmp_path, "ecinstruct")
    path = src / "ecinstruct" / "train.jsonl"
    total = sum(1 for line in path.read_bytes().splitlines() if line.strip())
    insert_after_line(path, 9, b"\xe9")
    stats = ReadStats("ecinstruct")
    readers.OPENERS["ecinstruct"](src / "ecinstruct", stats)
    (record,) = stats.lost
    assert record["file"].endswith("train.jsonl") and record["lost"] == "lines"
    assert (record["line"], record["lines_dropped"]) == (10, 1) and "byte 0xe9" in record["error"]
    before = ReadStats("ecinstruct")
    readers.OPENERS["ecinstruct"](FIXTURES / "ecinstruct", before)
    assert stats.rows == before.rows - 1 and total > 10  # every other line read


@pytest.mark.parametrize("source,name", [
    ("esci", "shopping_queries_dataset_examples.parquet"), ("amazon_m2", "products_train.csv"),
    ("amazon_m2", "sessions_train.csv"), ("amazon_reviews_2023", "Home_and_Kitchen.jsonl"),
    ("ecinstruct", "train.json"), ("mmlu", "marketing_test.csv"), ("alpaca_cleaned", "alpaca_data_cleaned.json"),
])
def test_an_empty_file_is_lost_and_named(tmp_path, source, name):
    src = copy_sources(tmp_path, source)
    (src / source / name).write_bytes(b"")
    stats = ReadStats(source, root=src)
    data = readers.OPENERS[source](src / source, stats)
    data.lookup(set())
    assert [(r["file"], r["error"], r["lost"]) for r in stats.lost] == [(f"{source}/{name}", "empty file (0 bytes)", "file")]


def test_alpaca_non_utf8_is_recorded_not_a_crash(tmp_path):
    src = copy_sources(tmp_path, "alpaca_cleaned")
    path = src / "alpaca_cleaned" / "alpaca_data_cleaned.json"
    insert_after_line(path, 200, b"\xe9")
    stats = ReadStats("alpaca_cleaned")
    data = readers.OPENERS["alpaca_cleaned"](src / "alpaca_cleaned", stats)
    (record,) = stats.lost
    assert record["line"] == 201 and record["error"].startswith("not UTF-8") and record["lost"] == "rest"
    assert 0 < len(data.index.rows) == record["rows_read"] < 102  # the rows before the bad byte are kept


def test_a_broken_json_array_counts_its_remainder_in_bytes(tmp_path):
    src = copy_sources(tmp_path, "alpaca_cleaned")
    path = src / "alpaca_cleaned" / "alpaca_data_cleaned.json"
    text = path.read_bytes()
    cut = text.index(b'"instruction"', len(text) // 2)
    path.write_bytes(text[:cut] + b'"instruction": "Trunc')
    stats = ReadStats("alpaca_cleaned")
    data = readers.OPENERS["alpaca_cleaned"](src / "alpaca_cleaned", stats)
    (record,) = stats.lost
    whole_rows = json.loads(text)
    kept = len(data.index.rows)
    assert record["lost"] == "rest" and record["rows_read"] == kept and 0 < kept < len(whole_rows)
    end_of_last_row = text.rindex(b"}", 0, text.rindex(b"{", 0, cut)) + 1
    assert record["unread_bytes"] == cut + len(b'"instruction": "Trunc') - end_of_last_row
    assert [r.instruction for r in data.index.rows] == [r["instruction"] for r in whole_rows[:kept]]


@pytest.mark.parametrize("chunk", [1, 2, 3, 7, 64])
def test_the_json_array_reader_reads_what_json_reads_at_any_chunk_size(tmp_path, chunk):
    values = [1, -2.5e3, 1e-7, 123456789, "a \"quoted\" \u00e9", [1, [2, {}]], {"k": [True, False, None]}, 0, 77]
    path = tmp_path / "a.json"
    path.write_text(json.dumps(values, ensure_ascii=False, indent=1), encoding="utf-8")
    stats = ReadStats("x")
    with reading(path, stats) as f:
        got = list(f.json_array(chunk=chunk))
    assert got == values and stats.lost == []


@pytest.mark.parametrize("text,error", [
    (b'{"not": "an array"}', "not a JSON array"),
    (b"[1, 2] extra", "text after the JSON array"),
    (b"[1, 2", "truncated JSON array"),
    (b"[1, 2 3]", "broken JSON array"),
])
def test_the_json_array_reader_names_each_fault(tmp_path, text, error):
    path = tmp_path / "a.json"
    path.write_bytes(text)
    stats = ReadStats("x")
    with reading(path, stats) as f:
        list(f.json_array(chunk=2))
    (record,) = stats.lost
    assert record["error"].startswith(error) and record["line"] == 1


def test_ecguide_files_that_cannot_be_read_are_recorded_as_lost(tmp_path):
    src = copy_sources(tmp_path, "ecguide")
    (src / "ecguide" / "MCQ_SA.json").write_bytes(b"")
    manifest = build(src, tmp_path / "out", ["ecguide_mcq_prp"], progress=False)
    lost = lost_files(manifest)
    assert lost["ecguide/MCQ_SA.json"]["error"] == "empty file (0 bytes)"
    assert lost["ecguide/Handmade_Broken.json"]["error"].startswith("not valid JSON")  # the fixture's broken file
    assert not by_name(manifest)["ecguide_mcq_prp"]["error"]  # (the fixture's rows are all held out: 0 rows)


# ---- altered rows --------------------------------------------------------------------------------------

def test_a_nul_byte_is_removed_from_the_row_and_counted(tmp_path):
    src = copy_sources(tmp_path, "mmlu")
    path = src / "mmlu" / "business_ethics_dev.csv"
    path.write_bytes(path.read_bytes().replace(b'"Beyond the business', b'"Bey\x00ond the\x07 business', 1))
    out = tmp_path / "out"
    manifest = build(src, out, ["mmlu_general_knowledge"], {"mmlu_general_knowledge": 1000}, progress=False)
    report = by_name(manifest)["mmlu_general_knowledge"]
    assert report["altered"] == {"control characters removed": 1}
    text = (out / "mmlu_general_knowledge.jsonl").read_text(encoding="utf-8")
    assert "\\u0000" not in text and "\\u0007" not in text and "Beyond the business" in text
    assert manifest["complete"] is True  # altered, nothing lost


# ---- the whole build: exit status, summary, output folder ------------------------------------------------

def test_a_corrupted_copy_builds_what_it_can_names_each_bad_file_and_exits_non_zero(tmp_path, capsys):
    src = copy_sources(tmp_path)
    bad = {
        "esci/shopping_queries_dataset_examples.parquet": lambda p: truncate(p),
        "amazon_m2/products_train.csv": lambda p: insert_after_line(p, 300, b"\xe9"),
        "amazon_reviews_2023/Cell_Phones_and_Accessories.jsonl.gz": lambda p: truncate(p),
        "ecinstruct/train.json": lambda p: truncate(p, 0.6),
        "mmlu/marketing_test.csv": lambda p: p.write_bytes(b""),
        "alpaca_cleaned/alpaca_data_cleaned.json": lambda p: insert_after_line(p, 300, b"\xff"),
    }
    for name, corrupt in bad.items():
        corrupt(src / name)
    out = tmp_path / "out"
    assert run(cli(src, out)) == EXIT_LOST
    err = capsys.readouterr().err
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert set(lost_files(manifest)) == set(bad) and manifest["complete"] is False
    for name in bad:
        assert str(src / name) in err, name  # the summary names each bad file
    built = by_name(manifest)
    for name in ("reviews_rating", "ecinstruct_sentiment", "mmlu_general_knowledge", "alpaca_instruction_following"):
        assert built[name]["rows"] == LIMIT, name  # what the other (and the partly read) files hold is built
    assert sorted(manifest["files"]) == sorted(p.name for p in out.iterdir() if p.name != "manifest.json")


def test_the_command_exits_3_with_a_summary_and_0_when_clean(tmp_path):
    src = copy_sources(tmp_path, "mmlu", "alpaca_cleaned")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "training.data"]
    clean = subprocess.run(command + cli(src, tmp_path / "clean", sources=("mmlu", "alpaca_cleaned")), cwd=REPO,
                           env=env, capture_output=True, text=True)
    assert clean.returncode == 0 and "build incomplete" not in clean.stderr
    (src / "alpaca_cleaned" / "alpaca_data_cleaned.json").write_bytes(b"[{\"instruction\": ")
    broken = subprocess.run(command + cli(src, tmp_path / "broken", sources=("mmlu", "alpaca_cleaned")), cwd=REPO,
                            env=env, capture_output=True, text=True)
    assert broken.returncode == EXIT_LOST == 3
    assert "build incomplete" in broken.stderr and "alpaca_data_cleaned.json:1: truncated JSON array" in broken.stderr
    assert "(the whole file lost)" in broken.stderr


def test_two_clean_builds_stay_byte_identical(tmp_path):
    src = copy_sources(tmp_path)
    for out in ("a", "b"):
        assert run(cli(src, tmp_path / out)) == 0
    a, b = (sorted((tmp_path / d).iterdir()) for d in "ab")
    assert [p.name for p in a] == [p.name for p in b] and len(a) == sum(map(len, SMALL.values())) + 1
    for x, y in zip(a, b):
        assert x.read_bytes() == y.read_bytes(), x.name
    manifest = json.loads((tmp_path / "a" / "manifest.json").read_text())
    assert manifest["complete"] is True and manifest["lost"] == [] and render_losses(manifest) == ""


def test_build_refuses_non_empty_out_without_overwrite(tmp_path, capsys):
    src = copy_sources(tmp_path, "mmlu")
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="not empty"):
        small_build(src, out, "mmlu")
    assert run(cli(src, out, sources=("mmlu",))) == EXIT_REFUSED
    assert "--overwrite" in capsys.readouterr().err
    assert [p.name for p in out.iterdir()] == ["notes.txt"]  # untouched
    assert run(cli(src, out, "--overwrite", sources=("mmlu",))) == 0
    assert sorted(p.name for p in out.iterdir()) == ["manifest.json", "mmlu_general_knowledge.jsonl"]
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no folder left beside it


def test_an_empty_or_missing_out_is_built_into(tmp_path):
    src = copy_sources(tmp_path, "mmlu")
    (tmp_path / "empty").mkdir()
    for out in (tmp_path / "empty", tmp_path / "new" / "deeper"):
        small_build(src, out, "mmlu")
        assert (out / "manifest.json").is_file()


def test_an_overwritten_out_keeps_no_old_manifest_beside_new_files(tmp_path):
    src = copy_sources(tmp_path, "mmlu", "alpaca_cleaned")
    out = tmp_path / "out"
    small_build(src, out, "mmlu", "alpaca_cleaned")
    small_build(src, out, "mmlu", overwrite=True)  # fewer datasets: the old alpaca file must go too
    manifest = json.loads((out / "manifest.json").read_text())
    assert [d["name"] for d in manifest["datasets"]] == ["mmlu_general_knowledge"]
    assert sorted(p.name for p in out.iterdir()) == ["manifest.json", "mmlu_general_knowledge.jsonl"]
    assert manifest["files"]["mmlu_general_knowledge.jsonl"] == build_module.sha256_of(out / "mmlu_general_knowledge.jsonl")


def test_a_crash_mid_build_leaves_no_manifest_describing_files_it_did_not_write(tmp_path, monkeypatch):
    src = copy_sources(tmp_path, "mmlu", "alpaca_cleaned")
    out = tmp_path / "out"
    small_build(src, out, "mmlu", "alpaca_cleaned")
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    real_write = build_module.write_jsonl
    calls = []

    def crash_on_the_second_dataset(path, rows):
        calls.append(path.name)
        if len(calls) == 2:
            raise KeyboardInterrupt  # a crash no reader or builder handles (Ctrl-C, a kill)
        return real_write(path, rows)

    monkeypatch.setattr(build_module, "write_jsonl", crash_on_the_second_dataset)
    with pytest.raises(KeyboardInterrupt):
        small_build(src, out, "mmlu", "alpaca_cleaned", overwrite=True, seed=1)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # the earlier build, whole
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "src"]  # no half-written folder beside it
    calls.clear()
    with pytest.raises(KeyboardInterrupt):
        small_build(src, tmp_path / "fresh", "mmlu", "alpaca_cleaned")
    assert not (tmp_path / "fresh").exists()


def test_a_failing_builder_costs_only_its_dataset(tmp_path, monkeypatch):
    src = copy_sources(tmp_path, "mmlu", "alpaca_cleaned")
    registry = build_module.load_builders(extra=True)

    def broken(self, seed, lookup, rng):
        raise KeyError("a field the builder expected")

    monkeypatch.setattr(registry["alpaca_instruction_following"], "question", broken)
    out = tmp_path / "out"
    manifest = small_build(src, out, "mmlu", "alpaca_cleaned")
    report = by_name(manifest)["alpaca_instruction_following"]
    assert report["rows"] == 0 and report["error"].startswith("KeyError")
    assert not (out / "alpaca_instruction_following.jsonl").exists()
    assert by_name(manifest)["mmlu_general_knowledge"]["rows"] == LIMIT and manifest["complete"] is False
    assert "failed: dataset alpaca_instruction_following: KeyError" in render_losses(manifest)


def test_a_source_whose_reader_fails_costs_only_that_source(tmp_path, monkeypatch):
    src = copy_sources(tmp_path, "mmlu", "alpaca_cleaned")

    def failing(folder, stats, seed=0):
        raise RuntimeError("reader bug")

    monkeypatch.setitem(readers.OPENERS, "mmlu", failing)
    manifest = small_build(src, tmp_path / "out", "mmlu", "alpaca_cleaned")
    (record,) = manifest["lost"]
    assert (record["file"], record["lost"], record["error"]) == ("mmlu", "source", "RuntimeError: reader bug")
    assert by_name(manifest)["alpaca_instruction_following"]["rows"] == LIMIT
