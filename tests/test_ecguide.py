"""EC-Guide as a data source and a validation suite: the row conversion and its quirks, the track
table, the training reader and builders, the held-out validation rows, the shipped validation file,
and the 38 seed datasets staying as they are.

Fixtures: real EC-Guide rows in tests/data/sources/ecguide/ (Apache-2.0, README there) and two
hand-made files (one not valid JSON, one of malformed and unusual rows). Nothing outside the repo.
"""
from __future__ import annotations

import json
import random
import shutil
from collections import Counter
from pathlib import Path

import pytest

from training.data.build import DatasetReport, checked_rows
from training.data.readers import ecguide as reader
from training.data.readers import OPENERS
from training.data.registry import DATASETS, Question, load_builders
from training.data.rows import check
from training.data.sources import ReadStats
from utilities import suites
from utilities.prompting import messages
from utilities.routing import route
from utilities.suites import (
    FIELDS, UNKNOWN_SUBTASK, Reading, from_ecguide, iter_ecguide, prompt_hash, read_ecguide,
    select_validation, track_for,
)
from utilities.tracks import TRACKS, track_of

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "tests" / "data" / "sources" / "ecguide"
VALIDATION = REPO / "data" / "ecguide" / "validation.jsonl"
REAL_FILES = sorted(p for p in FIXTURES.glob("*.json") if not p.name.startswith("Handmade"))
BOOL_BLOCK = "\n0. yes\n1. no\n"  # what the bool rule inserts


def fixture(name: str) -> list:
    return json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))


def handmade(index: int) -> dict:
    return fixture("Handmade_Malformed")[index]


# ---- one row ------------------------------------------------------------------------------------

def test_bool_rows_get_two_options_before_their_answer_cue_and_the_truth_is_an_index():
    rows = [r for r in fixture("MCQ_PRP") if r["metric"] == "bool"]
    assert {r["output_field"] for r in rows} == {"yes", "no"}
    for raw in rows:
        quirks = Counter()
        row = from_ecguide(raw, "MCQ_PRP", quirks)
        head, cue = raw["input_field"].rsplit("\n", 1)
        assert row["input_field"] == head + BOOL_BLOCK + cue and cue == "Output: "
        assert row["output_field"] == {"yes": 0, "no": 1}[raw["output_field"]]
        assert row["metric"] == "accuracy" and row["is_multiple_choice"] is True
        assert route(row["input_field"], True).info.options == (0, 1)
        assert quirks == {"bool answer -> options '0. yes' / '1. no' before the answer cue": 1}


def test_a_bool_prompt_without_an_answer_cue_gets_the_options_and_an_answer_cue_at_its_end():
    raw = handmade(13)  # "... Product 2: black backpack 30 l" -> "No."
    row = from_ecguide(raw, "Handmade_Malformed")
    assert row["input_field"] == raw["input_field"] + BOOL_BLOCK + "Answer: " and row["output_field"] == 1


def test_a_bool_answer_that_is_neither_yes_nor_no_is_refused_with_its_reason():
    with pytest.raises(ValueError, match="yes or no"):
        from_ecguide(handmade(2), "MCQ_PRP")
    with pytest.raises(ValueError, match="metric bool on a generation row"):
        from_ecguide({**handmade(11), "task_type": "generation"}, "MCQ_PRP")


def test_answers_are_cast_to_the_types_of_their_task():
    quirks = Counter()
    rows = [from_ecguide(handmade(i), "Handmade_Malformed", quirks) for i in (7, 8, 9, 10, 11, 12)]
    assert [r["output_field"] for r in rows] == [1, [0, 2], [0, 2], ["nike", "adidas"], 0, "6"]
    assert quirks["multiple-choice answer cast from str to int"] == 1
    assert quirks["list answer given as text, split on commas"] == 1
    assert quirks["list item cast from str to int"] == 4  # "0", "2" twice
    assert quirks["NER answer given as text, read by the official parser"] == 1
    assert quirks["bool answer given as JSON true/false"] == 1
    assert quirks["generation answer given as a number, written as text"] == 1
    real = [from_ecguide(r, "NER_NER") for r in fixture("NER_NER") if r["output_field"] != [""]]
    assert all(isinstance(r["output_field"], list) and all(isinstance(e, str) for e in r["output_field"]) for r in real)


@pytest.mark.parametrize("index, reason", [
    (0, "JSON object"), (1, "no input_field"), (3, "unknown metric"), (4, "not a whole number"),
    (5, "one digit"), (6, "unknown task_type"), (14, "names no single option"),
])
def test_a_row_that_cannot_be_used_raises_a_value_error_with_its_reason(index, reason):
    with pytest.raises(ValueError, match=reason):
        from_ecguide(handmade(index), "Handmade_Malformed")


def test_option_labels_that_skip_a_number_are_renumbered_by_position_and_the_answer_follows():
    rows = [r for r in fixture("MCQ_PRP") if r["metric"] == "accuracy"]
    assert 2 in {r["output_field"] for r in rows}  # the third option, published with the label "3."
    for raw in rows:
        assert "\n3. The product 1 is similar" in raw["input_field"]
        row = from_ecguide(raw, "MCQ_PRP")
        assert row["input_field"] == raw["input_field"].replace("\n3. The product 1", "\n2. The product 1")
        assert row["output_field"] == raw["output_field"]  # 0, 1 and 2 name the options by position
        assert row["output_field"] in route(row["input_field"], True).info.options


def test_consecutive_options_are_left_as_they_are_and_numbered_reviews_are_no_options():
    for name in ("MCQ_ACR", "MCQ_QPRP", "MCQ_SPA", "MCQ_SA"):
        for raw in fixture(name):
            if raw["task_type"] == "multiple-choice":
                assert from_ecguide(raw, name)["input_field"] == raw["input_field"], name


def test_zero_based_retrieval_answers_are_kept_and_pass_the_training_check():
    rows = [r for r in fixture("Retrieval_PR") if 0 in r["output_field"]]
    assert rows
    for raw in rows:
        quirks = Counter()
        row = from_ecguide(raw, "Retrieval_PR", quirks)
        assert row["output_field"] == raw["output_field"]
        assert quirks["retrieval answer names candidate 0 (0-based list, kept)"] == 1
        builder = ecguide_builders()["ecguide_retrieval_pr"]
        check(builder, Question(row["input_field"], ", ".join(map(str, row["output_field"]))))


def test_task_name_is_the_file_stem_and_the_flag_follows_the_task_type_row_by_row():
    rows, _ = read_ecguide(FIXTURES / "MCQ_ACR.json")
    assert {r["task_name"] for r in rows} == {"MCQ_ACR"}
    assert {(r["task_type"], r["is_multiple_choice"], r["metric"]) for r in rows} == {
        ("multiple-choice", True, "accuracy"), ("generation", False, "sent-transformer")}
    assert {r["track"] for r in rows} == {TRACKS[2].challenge_id}  # reasoning, both kinds of row


def test_every_published_subtask_maps_to_a_skill_a_track_and_a_reason():
    assert {p.stem for p in REAL_FILES} <= set(suites.ECGUIDE_TRACKS)
    for name, skill in suites.ECGUIDE_TRACKS.items():
        assert skill.track in (1, 2, 3, 4) and skill.skill and skill.reason, name
    # the dev set's own placements: review rating Track 3, review keyphrases and review retrieval Track 1
    assert track_for("MCQ_SA").track == 3 and track_for("Generation_ERK").track == 1
    assert track_for("Retrieval_RRA").track == 1 and track_for("Generation_MT").track == 4


def test_an_unknown_subtask_loads_into_track_5_and_is_counted(tmp_path):
    (tmp_path / "MCQ_ZZZ.json").write_text(json.dumps(fixture("MCQ_SPA")[:2]))
    rows, counts = read_ecguide(tmp_path)
    assert len(rows) == 2 and {r["task_name"] for r in rows} == {"MCQ_ZZZ"}
    assert {r["track"] for r in rows} == {TRACKS[5].challenge_id} and track_for("MCQ_ZZZ") is UNKNOWN_SUBTASK
    assert counts["unknown subtask MCQ_ZZZ: Track 5 (all-around)"] == 2
    import local_evaluation

    path = tmp_path / "zzz.jsonl"
    suites.write_jsonl(rows, path)
    assert local_evaluation.load_rows(path) == rows


def test_the_repository_layout_reads_like_the_published_file_names(tmp_path):
    for path in REAL_FILES:
        kind, sub = path.stem.split("_", 1)
        (tmp_path / kind).mkdir(exist_ok=True)
        shutil.copy(path, tmp_path / kind / f"{sub}.json")
    nested, _ = read_ecguide(tmp_path)
    flat = [r for p in REAL_FILES for r in read_ecguide(p)[0]]
    key = lambda r: json.dumps(r, sort_keys=True)  # noqa: E731
    assert sorted(map(key, nested)) == sorted(map(key, flat)) and len(flat) > 50


# ---- reading a folder ----------------------------------------------------------------------------

def test_the_reader_counts_every_row_and_names_a_file_that_is_not_json():
    stats = ReadStats("ecguide")
    index = reader.read_index(FIXTURES, stats, per_stratum=1, shipped=None)
    listed = sum(len(json.loads(p.read_text())) for p in FIXTURES.glob("*.json") if p.name != "Handmade_Broken.json")
    indexed = sum(len(rows) for rows in index.rows_by_task.values())
    rows_skipped = sum(n for reason, n in stats.skipped.items() if not reason.startswith("file "))
    assert stats.rows == listed == indexed + rows_skipped
    assert stats.skipped["file Handmade_Broken.json: not valid JSON (JSONDecodeError)"] == 1
    assert stats.skipped[reader.REPEATED] == 1  # MCQ_ACR's row published twice
    assert stats.skipped["row: a generation answer must be non-empty text, got ''"] == 1  # EPK
    assert stats.skipped["row: the NER answer holds no entity"] == 1  # NER [""]
    malformed = sum(n for reason, n in stats.skipped.items() if reason.startswith("row:"))
    assert malformed == 8 + 2  # the hand-made file's 8 unusable rows, and EPK's and NER's empty answers


def test_read_ecguide_counts_the_quirks_it_handled():
    _, counts = read_ecguide(FIXTURES)
    published = [r for p in REAL_FILES for r in json.loads(p.read_text())]
    assert counts["bool answer -> options '0. yes' / '1. no' before the answer cue"] == \
        sum(r["metric"] == "bool" for r in published) + 1  # + the hand-made `true`
    assert counts["option labels that skip a number renumbered by position"] == \
        sum(r["metric"] == "accuracy" for r in fixture("MCQ_PRP"))
    assert counts["generation row in a MCQ file"] == \
        sum(r["task_type"] == "generation" for r in fixture("MCQ_ACR"))
    assert counts["retrieval answer names candidate 0 (0-based list, kept)"] == \
        sum(0 in r["output_field"] for r in fixture("Retrieval_PR")) + 2  # + the hand-made two
    assert counts["skipped file Handmade_Broken.json: not valid JSON (JSONDecodeError)"] == 1


# ---- training rows --------------------------------------------------------------------------------

def ecguide_builders() -> dict:
    return {n: c for n, c in load_builders(extra=True).items() if c.source == "ecguide"}


def test_every_ecguide_builder_writes_checked_rows_in_the_official_formats():
    index = reader.read_index(FIXTURES, ReadStats("ecguide"), per_stratum=1, shipped=None)
    for name, cls in ecguide_builders().items():
        builder = cls()
        rng = random.Random(f"0:{name}")
        seeds = builder.seeds(index, rng, 50)
        report = DatasetReport(name, "ecguide", cls.task_type, 50)
        rows = list(checked_rows(builder, seeds, {}, rng, 50, report, progress=False))
        assert rows, (name, dict(report.skipped))
        for row in rows:
            assert row["dataset"] == name and row["source"] == "ecguide" and row["task_type"] == cls.task_type
            prompt, answer = row["messages"][1]["content"], row["messages"][2]["content"]
            assert row["messages"] == messages(prompt, cls.task_type, answer)
            if cls.task_type == "multiple-choice":
                assert len(answer) == 1 and answer.isdigit()
            elif cls.task_type == "retrieval":
                assert all(x.strip().isdigit() for x in answer.split(", "))
            else:
                assert answer and "\n" not in answer


def test_a_builder_reads_only_its_own_task_type_from_a_mixed_file():
    index = reader.read_index(FIXTURES, ReadStats("ecguide"), per_stratum=1, shipped=None)
    mc = ecguide_builders()["ecguide_mcq_acr"]().rows(index)
    gen = ecguide_builders()["ecguide_mcq_acr_generation"]().rows(index)
    assert mc and gen and {r["task_type"] for r in mc} == {"multiple-choice"}
    assert {r["task_type"] for r in gen} == {"generation"}


def test_validation_rows_never_become_training_rows():
    converted = list(iter_ecguide(FIXTURES, Reading()))
    every = {c.row["input_field"] for c in converted}
    by_rule = {c.row["input_field"] for c in select_validation(converted, per_stratum=1)}
    shipped = reader.shipped_prompts(VALIDATION)
    assert every & shipped and by_rule  # the fixture holds rows of the shipped validation file

    def training(**options) -> set[str]:
        index = reader.read_index(FIXTURES, ReadStats("ecguide"), **options)
        return {r["input_field"] for rows in index.rows_by_task.values() for r in rows}

    assert training(per_stratum=1, shipped=None) == every - by_rule  # the rule alone
    assert training(per_stratum=0) == every - shipped  # the shipped file alone, whatever the rule picks
    both = training(per_stratum=1)
    assert both and both == every - by_rule - shipped


def test_open_source_holds_out_whole_strata_smaller_than_150_rows():
    stats = ReadStats("ecguide")
    data = OPENERS["ecguide"](FIXTURES, stats)
    assert data.name == "ecguide" and not any(data.index.rows_by_task.values())
    assert stats.skipped[reader.HELD_OUT] == len(list(iter_ecguide(FIXTURES, Reading())))


# ---- the validation file ------------------------------------------------------------------------------

def shipped_rows() -> list[dict]:
    import local_evaluation

    return local_evaluation.load_rows(VALIDATION)


def shipped_stratum(row: dict) -> tuple[str, str]:
    """(task_name, published metric): a bool row is an accuracy row whose options the bool rule wrote."""
    bool_origin = row["task_name"] == "MCQ_PRP" and BOOL_BLOCK in row["input_field"]
    return row["task_name"], "bool" if bool_origin else row["metric"]


def test_the_shipped_validation_file_is_sound():
    rows = shipped_rows()  # every row passes local_evaluation.load_rows
    lines = VALIDATION.read_text(encoding="utf-8").splitlines()
    assert len(rows) == len(lines) and VALIDATION.stat().st_size < 3_000_000
    assert all(list(json.loads(line)) == list(FIELDS) for line in lines)  # the dev file's keys
    strata = Counter(shipped_stratum(r) for r in rows)
    assert max(strata.values()) <= suites.PER_STRATUM and len(strata) == 17
    assert len({r["input_field"] for r in rows}) == len(rows)
    for r in rows:
        assert track_of(r["track"]).number == track_for(r["task_name"]).track
        assert r["is_multiple_choice"] == (r["task_type"] == "multiple-choice")
        answer = r["output_field"]
        if r["task_type"] == "multiple-choice":
            assert isinstance(answer, int) and 0 <= answer <= 9
        elif r["task_type"] in ("retrieval", "ranking"):
            assert answer and all(isinstance(x, int) and x >= 0 for x in answer)
        elif r["task_type"] == "named_entity_recognition":
            assert answer and all(isinstance(x, str) and x for x in answer)
        else:
            assert isinstance(answer, str) and answer.strip()


def test_the_shipped_validation_file_agrees_with_the_hash_rule_on_the_fixture_rows():
    rows = shipped_rows()
    by_stratum: dict[tuple, list[str]] = {}
    for r in rows:
        by_stratum.setdefault(shipped_stratum(r), []).append(prompt_hash(r["input_field"]))
    shipped = {r["input_field"] for r in rows}
    for c in iter_ecguide(FIXTURES, Reading()):
        if c.row["task_name"].startswith("Handmade"):
            continue
        hashes = by_stratum[(c.row["task_name"], c.published_metric)]
        full = len(hashes) == suites.PER_STRATUM
        expected = not full or prompt_hash(c.row["input_field"]) <= max(hashes)
        assert (c.row["input_field"] in shipped) == expected, c.row["task_name"]


def test_make_ecguide_is_deterministic_and_picks_the_smallest_hashes_of_each_stratum(tmp_path):
    out1, out2 = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    suites.main(["make-ecguide", "--sources", str(FIXTURES), "--out", str(out1), "--per-stratum", "2"])
    suites.main(["make-ecguide", "--sources", str(FIXTURES), "--out", str(out2), "--per-stratum", "2"])
    assert out1.read_bytes() == out2.read_bytes()
    written = [json.loads(line) for line in out1.read_text().splitlines()]
    converted = list(iter_ecguide(FIXTURES, Reading()))
    expected = set()
    for key in {(c.row["task_name"], c.published_metric) for c in converted}:
        prompts = {c.row["input_field"] for c in converted if (c.row["task_name"], c.published_metric) == key}
        expected |= set(sorted(prompts, key=prompt_hash)[:2])
    assert {r["input_field"] for r in written} == expected and len(written) == len(expected)
    shuffled = converted[:]
    random.Random(1).shuffle(shuffled)
    assert select_validation(shuffled, 2) == select_validation(converted, 2)


# ---- the 38 seed datasets stay as they are ------------------------------------------------------------

def test_list_shows_the_38_seed_datasets_and_list_all_marks_the_extras(capsys):
    from training.data.__main__ import main

    main(["list"])
    lines = [line for line in capsys.readouterr().out.splitlines() if line.strip()]
    assert len(lines) == 38 and not any(line.startswith("ecguide_") for line in lines)
    main(["list", "--all"])
    lines = [line for line in capsys.readouterr().out.splitlines() if line.strip()]
    extra = [line for line in lines if line.startswith("ecguide_")]
    assert len(lines) == 38 + len(extra) and len(extra) == len(ecguide_builders()) == 15
    assert all("extra: " in line for line in extra)


def test_the_seed_registry_keeps_its_38_datasets_and_sizes():
    seed = load_builders()
    assert len(seed) == 38 and all(c.seed_set for c in seed.values()) and seed is DATASETS
    assert sum(c.size for c in seed.values()) == 502_435
    extra = ecguide_builders()
    assert not set(extra) & set(seed) and not any(c.seed_set for c in extra.values())


def test_a_default_build_builds_exactly_the_38_seed_datasets(tmp_path):
    from training.data.__main__ import main

    sources = tmp_path / "src"
    shutil.copytree(FIXTURES, sources / "ecguide")
    manifest = main(["build", "--sources", str(sources), "--out", str(tmp_path / "out")])
    assert [d["name"] for d in manifest["datasets"]] == list(load_builders())
    assert "ecguide" not in manifest["sources"]


def test_a_blend_takes_an_ecguide_dataset_only_where_it_names_it(tmp_path, monkeypatch):
    from training.data import blends

    for name in blends.blends():
        assert not set(blends.sizes(name)) & set(ecguide_builders())  # "*" covers the seed datasets only
    spec = tmp_path / "blends.yaml"
    spec.write_text('mix:\n  "*": 10\n  ecguide_ner: 7\n')
    monkeypatch.setattr(blends, "BLENDS_FILE", spec)
    sizes = blends.sizes("mix")
    assert sizes["ecguide_ner"] == 7 and len(sizes) == 39
    assert all(sizes[n] == 10 for n in load_builders())


def test_only_builds_an_ecguide_dataset_by_name_without_its_validation_rows(tmp_path):
    from training.data.__main__ import main

    sources = tmp_path / "src"
    shutil.copytree(FIXTURES, sources / "ecguide")
    manifest = main(["build", "--sources", str(sources), "--out", str(tmp_path / "out"), "--only", "ecguide_mcq_prp"])
    assert [d["name"] for d in manifest["datasets"]] == ["ecguide_mcq_prp"]
    assert manifest["sources"]["ecguide"]["skipped"][reader.HELD_OUT] == len(list(iter_ecguide(FIXTURES, Reading())))
