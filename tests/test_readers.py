"""Source readers (training/data/readers) on the fixtures of tests/data/sources (see SOURCE.md there).

Real rows where ../shared/data/samples has them (Amazon-M2 sessions, MMLU, Alpaca), hand-made files in
the real schemas elsewhere; every deliberately malformed row is listed in SOURCE.md and counted here.
"""
from __future__ import annotations

import gzip
import json
import shutil
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest

from training.data import readers
from training.data.readers import amazon_m2, amazon_reviews_2023, ecinstruct, esci
from training.data.sources import ESCI_RELEVANCE, ReadStats

SOURCES = Path(__file__).parent / "data" / "sources"
SAMPLES = Path(__file__).parent / "data" / "samples"


def open_source(name: str, folder: Path | None = None, seed: int = 0):
    stats = ReadStats(name)
    return readers.OPENERS[name](folder or SOURCES / name, stats, seed=seed), stats


# ---- ESCI -------------------------------------------------------------------------------------

def test_esci_examples_join_products_on_locale_and_id():
    data, _ = open_source("esci")
    shared = set(data.index.products_by_locale["us"]) & set(data.index.products_by_locale["es"])
    assert shared, "the fixture lists some ASINs in two locales"
    pid = sorted(shared)[0]
    found = data.lookup({("us", pid), ("es", pid)})
    assert set(found) == {("us", pid), ("es", pid)}
    us, es = found[("us", pid)], found[("es", pid)]
    assert (us.locale, es.locale) == ("us", "es") and us.product_id == es.product_id == pid
    assert us.title != es.title and "Auriculares" in es.title and "Earbuds" in us.title


def test_esci_index_groups_examples_by_query_in_file_order():
    data, _ = open_source("esci")
    table = pq.read_table(SOURCES / "esci" / esci.EXAMPLES).to_pylist()
    query = data.index.queries[0]
    rows = [(r["product_id"], r["esci_label"]) for r in table if r["query_id"] == query.query_id]
    assert query.query == "wireless earbuds" and ("B0ZYQ5V31W", "X") in rows  # an unknown label: counted, left out
    assert query.items == tuple(row for row in rows if row[1] != "X")
    assert len(data.index.queries) == 40 and {q.locale for q in data.index.queries} == {"us", "es", "jp"}
    assert all(5 <= len(q.items) <= 16 for q in data.index.queries)
    assert all(label in ESCI_RELEVANCE for q in data.index.queries for _, label in q.items)
    assert {q.split for q in data.index.queries} == {"train", "test"}
    for locale, ids in data.index.products_by_locale.items():
        judged = {p for q in data.index.queries if q.locale == locale for p, _ in q.items}
        assert set(ids) == judged and len(ids) == len(set(ids))


def test_esci_queries_are_stripped_and_texts_cleaned():
    data, _ = open_source("esci")
    queries = {q.query for q in data.index.queries}
    assert "revent 80 cfm" in queries and " revent 80 cfm" not in queries  # real quirk: a leading space
    products = data.lookup({(q.locale, p) for q in data.index.queries for p, _ in q.items})
    assert not any("<" in p.description or "&amp;" in p.description for p in products.values())
    assert any("&" in p.description for p in products.values())  # "&amp;" unescaped
    with_bullets = [p for p in products.values() if p.bullet_points]
    assert with_bullets and all(b and b == b.strip() and "\n" not in b for p in with_bullets for b in p.bullet_points)
    raw = {(r["product_locale"], r["product_id"]): r["product_bullet_point"]
           for r in pq.read_table(SOURCES / "esci" / esci.PRODUCTS).to_pylist()}
    blank = next(k for k, v in raw.items() if v and "\n\n" in v and k in products)
    assert len(products[blank].bullet_points) == len([b for b in raw[blank].splitlines() if b.strip()])
    assert any(not p.brand for p in products.values()) and any(not p.description for p in products.values())


# ---- Amazon-M2 -----------------------------------------------------------------------------------

def test_m2_prev_items_numpy_repr_with_wrapped_lines_is_parsed():
    text = "['B09YM11D4T' 'B0B12QWP5G' 'B08YMT6Q4X' 'B09V1LJLGH' 'B092VKLKNT'\n 'B09V1NBZ47' 'B09V1LJLGH']"
    items, reason = amazon_m2.parse_prev_items(text)
    assert reason == "" and items == ("B09YM11D4T", "B0B12QWP5G", "B08YMT6Q4X", "B09V1LJLGH", "B092VKLKNT",
                                      "B09V1NBZ47", "B09V1LJLGH")
    assert amazon_m2.parse_prev_items("['B07GTS7SWK', '4087210723']") == (("B07GTS7SWK", "4087210723"), "")
    assert amazon_m2.parse_prev_items("B07GTS7SWK B07GTS7SWK")[0] is None
    assert amazon_m2.parse_prev_items("['B07GTS7SWK' ... 'B07GTS7SWK']")[0] is None
    data, _ = open_source("amazon_m2")
    csv_sessions = [s for s in data.index.sessions if s.next_item]
    assert len(csv_sessions) == 309 + 1  # the real rows and one valid hand-made row
    longest = max(csv_sessions, key=lambda s: len(s.prev_items))
    assert len(longest.prev_items) == 42  # a quoted cell wrapped over many lines


def test_m2_test_parquets_with_ground_truth_read_like_sessions_train_csv(tmp_path):
    folder = tmp_path / "amazon_m2"
    (folder / "task2" / "public_test").mkdir(parents=True)
    shutil.copy(SAMPLES / "amazon_m2" / "task2_sessions_test_sample.parquet", folder / "task2" / "public_test" / "sessions_test.parquet")
    shutil.copy(SAMPLES / "amazon_m2" / "task2_gt_test_sample.parquet", folder / "task2" / "public_test" / "DONT_SHARE_gt_test.parquet")
    shutil.copy(SOURCES / "amazon_m2" / "products_train.csv", folder)
    from_parquet, stats = open_source("amazon_m2", folder)
    csv_folder = tmp_path / "csv"
    csv_folder.mkdir()
    shutil.copy(SOURCES / "amazon_m2" / "sessions_train.csv", csv_folder)
    from_csv, _ = open_source("amazon_m2", csv_folder)
    assert from_parquet.index.sessions == from_csv.index.sessions and len(from_csv.index.sessions) == 309
    assert "ground-truth parquet without a matching sessions parquet" not in stats.skipped
    # a ground truth whose rows do not line up with any sessions file is counted, not guessed
    shutil.copy(SAMPLES / "amazon_m2" / "task2_gt_test_sample.parquet", folder / "DONT_SHARE_gt_test.parquet")
    _, stats = open_source("amazon_m2", folder)
    assert stats.skipped["ground-truth parquet without a matching sessions parquet"] == 1


def test_m2_products_cover_every_session_id_and_list_ids_in_several_locales():
    data, _ = open_source("amazon_m2")
    index = data.index
    listed = {(loc, pid) for loc, ids in index.products_by_locale.items() for pid in ids}
    needed = {(s.locale, i) for s in index.sessions for i in s.prev_items + ((s.next_item,) if s.next_item else ())}
    assert needed <= listed
    assert set(index.products_by_locale) == set(amazon_m2.LOCALES)
    multi = sorted(pid for pid, locs in index.locales_of.items() if len(locs) >= 2)
    assert len(multi) > 100 and all(pid in index.products_by_locale[loc] for pid in multi for loc in index.locales_of[pid])
    pid = next(p for p in multi if {"DE", "FR"} <= set(index.locales_of[p]) or {"JP", "IT"} <= set(index.locales_of[p]))
    locs = [loc for loc in ("DE", "FR", "JP", "IT") if loc in index.locales_of[pid]][:2]
    found = data.lookup({(loc, pid) for loc in locs})
    assert len({found[(loc, pid)].title for loc in locs}) == 2  # one product, a title in each locale's language
    found = data.lookup({(loc, pid) for loc, ids in index.products_by_locale.items() for pid in ids if pid.isdigit()})
    assert found and all(p.author for p in found.values())  # ISBN ids are books with an author


def test_m2_price_placeholder_and_newlines_in_cells():
    data, _ = open_source("amazon_m2")
    keys = {(loc, pid) for loc, ids in data.index.products_by_locale.items() for pid in ids}
    found = data.lookup(keys)
    assert len(found) == len(keys)
    raw = pcsv.read_csv(SOURCES / "amazon_m2" / "products_train.csv",
                        parse_options=pcsv.ParseOptions(newlines_in_values=True, invalid_row_handler=lambda r: "skip"),
                        convert_options=pcsv.ConvertOptions(column_types={"price": pa.string()}))
    placeholders = {(r["locale"], r["id"]) for r in raw.to_pylist() if r["price"] == amazon_m2.PRICE_PLACEHOLDER}
    assert placeholders and all(found[k].price == "" for k in placeholders if k in found)
    assert all("\n" not in p.desc for p in found.values())
    assert any(p.locale == "JP" and p.price.endswith(".0") for p in found.values())


def is_subsequence(part: list, whole: list) -> bool:
    rest = iter(whole)
    return all(any(x == y for y in rest) for x in part)


def test_m2_session_sample_is_capped_and_deterministic(monkeypatch):
    every = open_source("amazon_m2")[0].index.sessions
    monkeypatch.setattr(amazon_m2, "SESSION_CAP", 50)
    a, _ = open_source("amazon_m2", seed=1)
    b, _ = open_source("amazon_m2", seed=1)
    c, _ = open_source("amazon_m2", seed=2)
    assert len(a.index.sessions) == 50 and a.index.sessions == b.index.sessions != c.index.sessions
    assert is_subsequence(a.index.sessions, every)  # a sample, kept in file order


# ---- Amazon Reviews 2023 -----------------------------------------------------------------------

def test_reviews_gzipped_and_plain_files_read_alike(tmp_path):
    plain, zipped = tmp_path / "plain", tmp_path / "zipped"
    plain.mkdir()
    zipped.mkdir()
    for name in ("All_Beauty.jsonl", "meta_All_Beauty.jsonl"):
        body = (SOURCES / "amazon_reviews_2023" / name).read_bytes()
        (plain / name).write_bytes(body)
        with gzip.open(zipped / (name + ".gz"), "wb") as f:
            f.write(body)
    a, stats_a = open_source("amazon_reviews_2023", plain)
    b, stats_b = open_source("amazon_reviews_2023", zipped)
    assert a.index.reviews == b.index.reviews and len(a.index.reviews) == 83
    keys = {r.parent_asin for r in a.index.reviews}
    assert a.lookup(keys) == b.lookup(keys) and stats_a.as_dict() == stats_b.as_dict()
    # the fixture itself has one gzipped review file and one gzipped meta file
    data, _ = open_source("amazon_reviews_2023")
    assert {r.category for r in data.index.reviews} == {"All_Beauty", "Cell_Phones_and_Accessories", "Home_and_Kitchen"}
    metas = data.lookup({r.parent_asin for r in data.index.reviews})
    assert {m.category for m in metas.values()} == {"All_Beauty", "Cell_Phones_and_Accessories", "Home_and_Kitchen"}


def test_reviews_sample_is_deterministic_for_a_seed(monkeypatch):
    path = SOURCES / "amazon_reviews_2023" / "Home_and_Kitchen.jsonl"
    one = amazon_reviews_2023.sample_reviews(path, "Home_and_Kitchen", ReadStats("r"), seed=3, cap=20)
    two = amazon_reviews_2023.sample_reviews(path, "Home_and_Kitchen", ReadStats("r"), seed=3, cap=20)
    other = amazon_reviews_2023.sample_reviews(path, "Home_and_Kitchen", ReadStats("r"), seed=4, cap=20)
    every = amazon_reviews_2023.sample_reviews(path, "Home_and_Kitchen", ReadStats("r"), seed=3, cap=10_000)
    assert len(one) == 20 and one == two and one != other
    assert is_subsequence(one, every)  # kept in file order
    monkeypatch.setattr(amazon_reviews_2023, "REVIEWS_PER_CATEGORY", 25)
    data, stats = open_source("amazon_reviews_2023", seed=3)
    assert Counter(r.category for r in data.index.reviews) == {"All_Beauty": 25, "Cell_Phones_and_Accessories": 25,
                                                              "Home_and_Kitchen": 25}
    assert stats.rows == 249  # every line is read, though only the lines the sample draws are parsed


def test_reviews_fields_are_typed_and_texts_cleaned():
    data, _ = open_source("amazon_reviews_2023")
    reviews = data.index.reviews
    assert all(1.0 <= r.rating <= 5.0 and r.timestamp > 10**12 for r in reviews)  # timestamps in milliseconds
    assert {int(r.rating) for r in reviews} == {1, 2, 3, 4, 5}
    assert not any("<br" in r.text or "&#34;" in r.text for r in reviews)
    assert any("\n" in r.text for r in reviews) and any('"' in r.text for r in reviews)
    assert any(r.asin != r.parent_asin for r in reviews) and len({r.helpful_vote for r in reviews}) > 10
    per_user = Counter(r.user_id for r in reviews)
    assert sum(1 for n in per_user.values() if n >= 5) >= 5
    metas = data.lookup({r.parent_asin for r in reviews})
    assert all(m.title and m.main_category for m in metas.values())
    assert any(m.categories for m in metas.values()) and any(not m.categories for m in metas.values())
    assert any(m.average_rating and m.rating_number for m in metas.values())


# ---- ECInstruct ------------------------------------------------------------------------------------

def test_ecinstruct_array_and_json_lines_read_alike(tmp_path):
    raw = [json.loads(line) for line in (SOURCES / "ecinstruct" / "train.jsonl").read_text().splitlines()
           if line.startswith("{") and line.endswith("}")]
    array, lines = tmp_path / "array", tmp_path / "lines"
    array.mkdir()
    lines.mkdir()
    (array / "train.json").write_text(json.dumps(raw, indent=4))
    (lines / "train.json").write_text("\n".join(json.dumps(r) for r in raw) + "\n")
    a, stats_a = open_source("ecinstruct", array)
    b, stats_b = open_source("ecinstruct", lines)
    assert a.index.rows_by_task == b.index.rows_by_task and stats_a.as_dict() == stats_b.as_dict()
    assert sum(map(len, a.index.rows_by_task.values())) == 50  # 5 per task in the JSON Lines fixture


def test_ecinstruct_json_strings_are_decoded():
    data, _ = open_source("ecinstruct")
    rows = data.index.rows_by_task
    assert set(rows) == set(ecinstruct.TASKS) and all(len(v) == 12 for v in rows.values())
    assert "Product_Relation_Predicition" in rows and "Product_Substitue_Identification" in rows  # the typos
    ave = rows["Attribute_Value_Extraction"][0]
    assert isinstance(ave.input, dict) and "target attributes" in ave.input and ave.options is None
    assert all(set(x) == {"attribute", "value", "source"} for x in json.loads(ave.output))
    mpc = rows["Multiclass_Product_Classification"][0]
    assert mpc.options and len(mpc.options) == 4 and mpc.options[0].startswith("A: ") and mpc.output[0] in "ABCD"
    assert set(mpc.input) == {"query", "product title"}
    for sr in rows["Sequential_Recommendation"]:  # Python list reprs (str(list)) and JSON both decode
        assert isinstance(sr.input, list) and sr.input[0].startswith("1st: ")
        assert len(sr.options) == 20 and sr.options[-1].startswith("T: ") and sr.output in "ABCDEFGHIJKLMNOPQRST"
    sa = rows["Sentiment_Analysis"][0]
    assert isinstance(sa.input, str) and sa.options[0] == "A: very positive" and sa.output in sa.options
    assert all(r.output in ("yes", "no") and r.options is None for t in
               ("Answerability_Prediction", "Product_Matching", "Product_Substitue_Identification") for r in rows[t])
    assert all(set(r.output.split(",")) <= set("ABCD") for r in rows["Query_Product_Ranking"])
    assert all(r.split == "train" and r.setting.startswith("IND_") for v in rows.values() for r in v)
    qa = rows["Answerability_Prediction"][0].input
    assert isinstance(qa["document"], list) and qa["question"].endswith("?")


def test_ecinstruct_split_comes_from_the_row_or_the_file_name(tmp_path):
    row = {"task": "Product_Matching", "instruction": "Same product? Only output yes or no.",
           "input": json.dumps({"product 1": {"title": "a"}, "product 2": {"title": "b"}}), "output": "no"}
    (tmp_path / "test_OOD.json").write_text(json.dumps([row]))
    (tmp_path / "train_part.jsonl").write_text(json.dumps(row) + "\n" + json.dumps({**row, "split": "val"}) + "\n")
    (tmp_path / "extra.json").write_text(json.dumps(row) + "\n")
    data, stats = open_source("ecinstruct", tmp_path)
    assert [r.split for r in data.index.rows_by_task["Product_Matching"]] == ["train"]
    assert stats.skipped == Counter({"not the train split": 2, "no split in the row or the file name": 1})


def test_ecinstruct_broken_array_keeps_the_rows_before_the_break_and_counts_the_rest_as_lost(tmp_path):
    row = {"task": "Answer_Generation", "instruction": "Answer it.", "input": "{}", "output": "Yes.", "split": "train"}
    text = json.dumps([row, row, row], indent=2)
    kept = text[: text.rindex("{")]
    (tmp_path / "train.json").write_text(kept + '{"task": "Answ')
    data, stats = open_source("ecinstruct", tmp_path)
    assert len(data.index.rows_by_task["Answer_Generation"]) == 2
    assert stats.skipped == Counter()
    (lost,) = stats.lost
    assert lost["file"].endswith("train.json") and lost["lost"] == "rest" and lost["rows_read"] == 2
    assert lost["error"].startswith("broken JSON array") and lost["line"] == kept.count("\n") + 1
    after_second_row = kept.rstrip()[:-1].rstrip().rindex("}") + 1  # the bytes after the 2nd row's closing brace
    assert lost["unread_bytes"] == len((kept + '{"task": "Answ').encode()) - after_second_row


# ---- every source: counting, streaming ---------------------------------------------------------------

MALFORMED = {  # reason -> count, for the deliberately malformed rows of the fixtures (SOURCE.md)
    "esci": {"unknown esci_label": 1, "missing product_id": 1, "unknown product_locale": 1,
             "query-product pair judged twice": 1, "empty query": 2,
             # found by the lookup of every judged product:
             "product without title": 1, "duplicate product row": 1, "requested product not in the products file": 2},
    "amazon_m2": {"prev_items not a bracketed list": 1, "prev_items shortened by numpy (...)": 1, "unknown locale": 2,
                  "missing or bad next_item": 1, "prev_items empty": 1, "prev_items holds a non-id": 1,
                  "a CSV row with 2 fields, not 3": 1, "a CSV row with 8 fields, not 11": 1, "product without id": 1,
                  "duplicate (id, locale) row": 1, "product without title": 1},
    "amazon_reviews_2023": {"non-JSON line": 1, "rating missing or outside 1-5": 2, "missing parent_asin": 1,
                            "review with neither title nor text": 1, "not a JSON object": 1,
                            "meta line neither JSON nor with parent_asin": 1, "broken meta line of a requested item": 1,
                            "meta without title": 1, "requested item without metadata": 6},
    "ecinstruct": {"not the train split": 6, "not a JSON object": 1, "options are not valid JSON": 1, "missing task": 1,
                   "empty output": 1, "non-JSON line": 1, "options are not a list of strings": 1,
                   "input looks like JSON but does not parse": 1},
    "mmlu": {},
    "alpaca_cleaned": {},
}


def every_key(name: str, index) -> set:
    if name == "esci":
        return {(q.locale, p) for q in index.queries for p, _ in q.items}
    if name == "amazon_m2":
        return {(loc, p) for loc, ids in index.products_by_locale.items() for p in ids}
    if name == "amazon_reviews_2023":
        return {r.parent_asin for r in index.reviews}
    return set()


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_malformed_rows_are_counted_with_a_reason_per_source(name):
    data, stats = open_source(name)
    keys = every_key(name, data.index)
    if keys:
        data.lookup(keys)
    assert dict(stats.skipped) == MALFORMED[name]
    assert stats.rows > sum(stats.skipped.values())


def test_lookup_reads_only_the_requested_products(monkeypatch):
    batches = []
    real_iter = pq.ParquetFile.iter_batches

    def counting_iter(self, *args, **kwargs):
        for batch in real_iter(self, *args, **kwargs):
            batches.append((batch.num_rows, tuple(batch.schema.names)))
            yield batch

    def no_read_table(*args, **kwargs):
        raise AssertionError("a whole-file read")

    monkeypatch.setattr(esci, "BATCH_SIZE", 16)
    monkeypatch.setattr(pq.ParquetFile, "iter_batches", counting_iter)
    monkeypatch.setattr(pq, "read_table", no_read_table)
    data, _ = open_source("esci")
    wanted = {(q.locale, q.items[0][0]) for q in data.index.queries[:3]}
    batches.clear()
    found = data.lookup(wanted)
    assert set(found) == wanted and all(found[k].locale == k[0] and found[k].product_id == k[1] for k in wanted)
    rows = pq.ParquetFile(SOURCES / "esci" / esci.PRODUCTS).metadata.num_rows
    assert len(batches) >= rows // 16 and all(n <= 16 for n, _ in batches) and sum(n for n, _ in batches) == rows
    assert data.lookup(set()) == {}

    blocks = []
    real_open = pcsv.open_csv

    def counting_open(*args, **kwargs):
        for batch in real_open(*args, **kwargs):
            blocks.append(batch.num_rows)
            yield batch

    monkeypatch.setattr(amazon_m2, "BLOCK_SIZE", 16_384)
    monkeypatch.setattr(pcsv, "open_csv", counting_open)
    data, _ = open_source("amazon_m2")
    wanted = {(s.locale, s.prev_items[0]) for s in data.index.sessions[:5]}
    blocks.clear()
    found = data.lookup(wanted)
    assert set(found) == wanted and len(blocks) > 10  # 580 KB in 16 KB blocks, not one read

    data, _ = open_source("amazon_reviews_2023")
    wanted = {r.parent_asin for r in data.index.reviews[:4]}
    assert set(data.lookup(wanted)) <= wanted and data.lookup(wanted)


# ---- MMLU, Alpaca and the fixture folder -------------------------------------------------------------

def test_mmlu_csv_and_cais_parquet_read_alike(tmp_path):
    from_csv, _ = open_source("mmlu")
    assert len(from_csv.index.questions) == 249
    assert {q.subject for q in from_csv.index.questions} == {"marketing", "management", "business_ethics"}
    rows = [json.loads(line) for line in (SAMPLES / "mmlu" / "cais_mmlu_format_DERIVED.jsonl").read_text().splitlines()]
    for split in ("dev", "test"):
        part = [{k: r[k] for k in ("question", "subject", "choices", "answer")} for r in rows if r["_split"] == split]
        pq.write_table(pa.Table.from_pylist(part), tmp_path / f"{split}-00000-of-00001.parquet")
    from_parquet, _ = open_source("mmlu", tmp_path)
    key = lambda q: (q.subject, q.question, q.split)  # noqa: E731
    assert sorted(from_parquet.index.questions, key=key) == sorted(from_csv.index.questions, key=key)


def test_a_whole_cais_mmlu_snapshot_gives_each_question_once(tmp_path):
    rows = [json.loads(line) for line in (SAMPLES / "mmlu" / "cais_mmlu_format_DERIVED.jsonl").read_text().splitlines()]
    test = [{k: r[k] for k in ("question", "subject", "choices", "answer")} for r in rows if r["_split"] == "test"]
    marketing = [r for r in test if r["subject"] == "marketing"]
    aux = [{"question": f"aux question {i}?", "subject": "", "choices": ["a", "b", "c", "d"], "answer": i % 4}
           for i in range(5)]
    # the repository's layout: all/ holds every subject and the auxiliary set; each subject and
    # auxiliary_train/ hold them again (the latter wrapped in one struct column named "train")
    for folder, name, part in (("all", "test-00000-of-00001", test), ("marketing", "test-00000-of-00001", marketing),
                               ("all", "auxiliary_train-00000-of-00001", aux)):
        (tmp_path / folder).mkdir(exist_ok=True)
        pq.write_table(pa.Table.from_pylist(part), tmp_path / folder / f"{name}.parquet")
    (tmp_path / "auxiliary_train").mkdir()
    pq.write_table(pa.Table.from_pylist([{"train": r} for r in aux]),
                   tmp_path / "auxiliary_train" / "train-00000-of-00001.parquet")
    data, stats = open_source("mmlu", tmp_path)
    questions = data.index.questions
    assert len(questions) == len(test) + len(aux)
    assert len({(q.question, q.choices) for q in questions}) == len(questions)
    assert stats.skipped["duplicate question (read from another file already)"] == len(marketing) + len(aux)
    assert {q.split for q in questions if not q.subject} == {"auxiliary_train"}


def test_alpaca_fixture_is_the_real_first_rows():
    data, stats = open_source("alpaca_cleaned")
    assert len(data.index.rows) == 102 and stats.rows == 102
    assert data.index.rows[0].instruction == "Give three tips for staying healthy."


def test_fixture_folder_is_small_and_laid_out_like_the_downloads():
    size = sum(p.stat().st_size for p in SOURCES.rglob("*") if p.is_file())
    assert size < 3_000_000
    for name in ("esci/shopping_queries_dataset_examples.parquet", "esci/shopping_queries_dataset_products.parquet",
                 "amazon_m2/sessions_train.csv", "amazon_m2/products_train.csv",
                 "amazon_reviews_2023/Cell_Phones_and_Accessories.jsonl.gz",
                 "amazon_reviews_2023/meta_Home_and_Kitchen.jsonl.gz", "ecinstruct/train.json", "ecinstruct/train.jsonl",
                 "alpaca_cleaned/alpaca_data_cleaned.json", "mmlu/marketing_test.csv", "SOURCE.md"):
        assert (SOURCES / name).is_file(), name
