"""The training-data framework: chat rows identical to inference, checked answers, determinism,
blends, the CLI; the MMLU and Alpaca readers."""
from __future__ import annotations

import csv
import json
import random
from pathlib import Path

import pytest

from training.data import blends
from training.data.build import build
from training.data.registry import DATASETS, Builder, Question, Skip, load_builders
from training.data.rows import check, pick_distinct, ranking_answer, shuffled_options
from training.data.sources import ReadStats

REPO = Path(__file__).resolve().parent.parent
DATASETS_MD_ROWS = 38


def write_mmlu(folder: Path) -> None:
    folder.mkdir(parents=True)
    rows = [
        ["Which of these is a price strategy?", "Skimming", "Sampling", "Wrapping", "Boxing", "A"],
        ["What does B2B stand for?", "Back to back", "Business to business", "Buy to bid", "Bulk to buyer", "B"],
        ["Which channel is digital?", "Billboard", "Radio", "Email", "Flyer", "C"],
        ["A loyalty card mainly aims to", "cut costs", "raise prices", "hire staff", "retain customers", "D"],
        ["broken row with three fields", "x", "y"],
        ["Answer out of range?", "a", "b", "c", "d", "E"],
    ]
    with open(folder / "marketing_test.csv", "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows(rows)
    with open(folder / "management_dev.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["question", "choice0", "choice1", "choice2", "choice3", "answer"])
        w.writerow(["Who sets a firm's strategy?", "Interns", "Top management", "Suppliers", "Couriers", "1"])


def write_alpaca(folder: Path) -> None:
    folder.mkdir(parents=True)
    rows = [
        {"instruction": "Give three tips for packing a suitcase.", "input": "", "output": "Roll clothes. Use cubes. Pack heavy items first."},
        {"instruction": "Summarize the review.", "input": "The kettle boils fast but the lid sticks.", "output": "Fast kettle with a sticky lid."},
        {"instruction": "", "input": "", "output": "no instruction"},
        "not an object",
    ]
    (folder / "alpaca_data_cleaned.json").write_text(json.dumps(rows))


@pytest.fixture
def sources(tmp_path) -> Path:
    write_mmlu(tmp_path / "src" / "mmlu")
    write_alpaca(tmp_path / "src" / "alpaca_cleaned")
    return tmp_path / "src"


GENERAL = ["mmlu_general_knowledge", "alpaca_instruction_following"]


def test_a_built_row_is_the_inference_prompt_byte_for_byte_followed_by_the_answer(sources, tmp_path, qwen_tokenizer):
    from utilities.prompting import fit_prompt
    from utilities.routing import route_task

    build(sources, tmp_path / "out", GENERAL, progress=False)
    for name in GENERAL:
        for line in (tmp_path / "out" / f"{name}.jsonl").read_text().splitlines():
            row = json.loads(line)
            system, user, assistant = row["messages"]
            task_type = route_task(user["content"], row["task_type"] == "multiple-choice")
            inference = fit_prompt(qwen_tokenizer, user["content"], task_type, 3000).text
            training = qwen_tokenizer.apply_chat_template(row["messages"], tokenize=False)
            assert training == inference + assistant["content"] + "<|im_end|>\n"


def test_two_builds_with_the_same_seed_are_byte_identical_and_another_seed_differs(sources, tmp_path):
    for out, seed in (("a", 0), ("b", 0), ("c", 1)):
        build(sources, tmp_path / out, GENERAL, seed=seed, progress=False)
    for name in GENERAL:
        a, b, c = ((tmp_path / d / f"{name}.jsonl").read_bytes() for d in "abc")
        assert a == b and a != c


def test_the_manifest_counts_rows_and_the_readers_malformed_rows(sources, tmp_path):
    manifest = build(sources, tmp_path / "out", GENERAL, progress=False)
    by_name = {d["name"]: d for d in manifest["datasets"]}
    assert by_name["mmlu_general_knowledge"]["rows"] == 5
    assert by_name["alpaca_instruction_following"]["rows"] == 2
    assert manifest["sources"]["mmlu"]["skipped"] == {"a CSV row without 6 fields": 1, "answer out of range": 1}
    assert manifest["sources"]["alpaca_cleaned"]["skipped"] == {"empty instruction or output": 1,
                                                                "not an object of strings": 1}


def test_a_missing_source_folder_is_reported_not_fatal(tmp_path):
    manifest = build(tmp_path / "nothing", tmp_path / "out", ["mmlu_general_knowledge"], progress=False)
    (report,) = manifest["datasets"]
    assert report["rows"] == 0 and "no input" in report["note"]


def test_mmlu_reads_letter_answers_reheaded_csvs_and_cais_parquet(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from training.data.readers import mmlu

    write_mmlu(tmp_path / "mmlu")
    pq.write_table(pa.table({"question": ["2 + 2 = ?"], "subject": ["elementary_mathematics"],
                             "choices": [["3", "4", "5", "6"]], "answer": [1]}),
                   tmp_path / "mmlu" / "test-00000-of-00001.parquet")
    pq.write_table(pa.table({"train": [{"question": "Sky colour?", "subject": "", "choices": ["red", "blue", "green", "black"],
                                        "answer": 1}]}), tmp_path / "mmlu" / "auxiliary_train-00000-of-00001.parquet")
    index = mmlu.open_source(tmp_path / "mmlu", ReadStats("mmlu")).index
    by_question = {q.question: q for q in index.questions}
    assert by_question["Which channel is digital?"].answer == 2  # letter C
    assert by_question["Who sets a firm's strategy?"].answer == 1  # re-headed copy, int answer
    assert by_question["2 + 2 = ?"].choices[by_question["2 + 2 = ?"].answer] == "4"
    assert by_question["Sky colour?"].split == "auxiliary_train"


def test_check_skips_a_prompt_the_router_reads_as_another_type():
    class Fake(Builder):
        name, source, task_type, size = "fake", "mmlu", "ranking", 1

    with pytest.raises(Skip, match="router reads the prompt as generation"):
        check(Fake, Question("Explain the product type Handbag\nOutput:", "1, 2"))


def test_check_skips_answers_the_official_rules_would_misread():
    class MC(Builder):
        name, source, task_type, size = "mc", "mmlu", "multiple-choice", 1

    class Rank(Builder):
        name, source, task_type, size = "rank", "esci", "ranking", 1

    prompt = "Which one fits?\n0. a\n1. b\n2. c\nAnswer: "
    check(MC, Question(prompt, "2"))
    for bad in ("3", "10", "A"):
        with pytest.raises(Skip):
            check(MC, Question(prompt, bad))
    ranking = "Rank the products by relevance to the query 'mug'.\n1. a\n2. b\n3. c\nOutput:"
    check(Rank, Question(ranking, "2, 3, 1"))
    for bad in ("2, 3", "2, 2, 1", "2, 3, 1, 4"):
        with pytest.raises(Skip):
            check(Rank, Question(ranking, bad))


def test_distractors_are_distinct_and_never_the_excluded_answer():
    rng = random.Random(0)
    pool = ["a", "b", "c", "d", "a", "b"]
    for _ in range(50):
        picked = pick_distinct(pool, 2, rng, exclude={"a"})
        assert len(set(picked)) == 2 and "a" not in picked
    with pytest.raises(Skip):
        pick_distinct(["a", "b"], 2, rng, exclude={"a"})


def test_shuffled_options_point_at_the_correct_item():
    for seed in range(20):
        options, answer = shuffled_options("right", ["w1", "w2", "w3"], random.Random(seed))
        assert options[answer] == "right" and sorted(options) == ["right", "w1", "w2", "w3"]


def test_ranking_answer_puts_the_most_relevant_first_and_keeps_ties_in_listed_order():
    assert ranking_answer([0.01, 1, 0, 1, 0.1]) == "2, 4, 5, 1, 3"


def test_list_shows_the_38_datasets_of_the_datasets_doc(capsys):
    from training.data.__main__ import main

    main(["list"])
    lines = [line for line in capsys.readouterr().out.splitlines() if line.strip()]
    assert len(lines) == DATASETS_MD_ROWS == len(load_builders())
    assert sum(c.size for c in DATASETS.values()) == 502_435  # the sizes of docs/datasets.md: "~500k samples"


def test_blends_name_registered_datasets_and_are_written_deterministically(sources, tmp_path):
    for name in blends.blends():
        assert blends.sizes(name)  # raises on a dataset name that is not registered
    build(sources, tmp_path / "out", GENERAL, progress=False)
    first = blends.write_blend("v7", tmp_path / "out").read_bytes()
    second = blends.write_blend("v7", tmp_path / "out").read_bytes()
    assert first == second and first.count(b"\n") == 7


def test_distractors_are_found_even_when_the_pool_holds_exactly_enough():
    for seed in range(30):
        picked = pick_distinct(["a", "b", "c", "d"] * 3, 3, random.Random(seed), exclude={"a"})
        assert sorted(picked) == ["b", "c", "d"]


def test_check_skips_a_rating_outside_the_stated_scale():
    class Rating(Builder):
        name, source, task_type, size = "rating", "amazon_reviews_2023", "multiple-choice", 1

    prompt = "Evaluate the review on a scale of 1 to 5.\nReview: fine\nAnswer: "
    check(Rating, Question(prompt, "4"))
    with pytest.raises(Skip):
        check(Rating, Question(prompt, "0"))


def test_an_enrichment_file_turns_attribute_questions_into_category_questions(tmp_path):
    """build --enrichment: the product types the synthetic enrich step writes reach m2_attribute_category."""
    from training.data.__main__ import main as data_main
    from training.data.enrichment import Enrichment
    from utilities.tasks import analyse

    fixtures = REPO / "tests" / "data" / "sources"
    with open(fixtures / "amazon_m2" / "products_train.csv", newline="", encoding="utf-8") as f:
        products = list(csv.DictReader(f))
    enrichment = tmp_path / "enrichment_amazon_m2.jsonl"
    with open(enrichment, "w", encoding="utf-8") as f:
        for p in products:  # a stand-in for the LLM's product type: the title's first two words
            kind = " ".join(p["title"].lower().split()[:2])
            f.write(json.dumps(Enrichment("amazon_m2", (p["locale"], p["id"]), p["title"], kind, "home", {}).as_dict()) + "\n")
    types = {" ".join(p["title"].lower().split()[:2]) for p in products}
    out = tmp_path / "out"
    manifest = data_main(["build", "--sources", str(fixtures), "--out", str(out), "--only", "m2_attribute_category",
                          "--enrichment", str(enrichment)])
    rows = [json.loads(line) for line in (out / "m2_attribute_category.jsonl").read_text().splitlines()]
    assert rows and manifest["enrichment"] == str(enrichment)
    for row in rows:
        prompt = row["messages"][1]["content"]
        assert "categor" in prompt
        options = analyse(prompt).option_texts
        assert len(set(options)) == 4 and set(options) <= types
        assert int(row["messages"][2]["content"]) in range(4)
    plain = data_main(["build", "--sources", str(fixtures), "--out", str(tmp_path / "plain"), "--only", "m2_attribute_category"])
    assert plain["enrichment"] is None
    with pytest.raises(FileNotFoundError, match="enrichment .* does not exist"):
        data_main(["build", "--sources", str(fixtures), "--out", str(tmp_path / "x"), "--only", "m2_attribute_category",
                   "--enrichment", str(tmp_path / "missing.jsonl")])
