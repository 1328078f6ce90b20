"""Synthetic data (training/data/synthetic/): the resumable job on the tiny random Qwen2, the three
methods' parsers on hand-written LLM outputs, and the CLI end to end on an in-memory ESCI source.

The tiny model writes random tokens, so its outputs exercise the job and the rejection paths; a
scripted engine (the real tokenizer, canned valid answers) exercises the accepting paths.
"""
from __future__ import annotations

import json
import random
import re

import pytest

from training.data import synthetic as syn
from training.data.synthetic import cli as syn_cli
from training.data.registry import Builder, Skip
from training.data.rows import check
from training.data.sources import EsciIndex, EsciProduct, EsciQuery, ReadStats, SourceData
from utilities.decoding import DecodeSpec
from utilities.errors import SetupError
from utilities.parsers import parse


# ---- engines around the real one ------------------------------------------------------------------

class Interrupted(RuntimeError):
    pass


class CountingEngine:
    """The real engine, counting its calls; raises instead of the call after ``fail_after`` calls."""

    def __init__(self, engine, fail_after: int | None = None) -> None:
        self.engine = engine
        self.calls = 0
        self.rows = 0
        self.fail_after = fail_after

    def __getattr__(self, name):
        return getattr(self.engine, name)

    def generate(self, prompt_ids, specs):
        if self.fail_after is not None and self.calls >= self.fail_after:
            raise Interrupted(f"stopped after {self.calls} batches")
        self.calls += 1
        self.rows += len(prompt_ids)
        return self.engine.generate(prompt_ids, specs)


class ScriptedEngine(CountingEngine):
    """The real tokenizer and context; answers each teacher prompt with a valid canned output."""

    def generate(self, prompt_ids, specs):
        self.calls += 1
        return [self.answer(self.engine.tokenizer.decode(ids)) for ids in prompt_ids]

    @staticmethod
    def answer(prompt: str) -> str:
        if "describe it as JSON" in prompt:
            return json.dumps({"product_type": "running shoes", "category": "Clothing, Shoes & Jewelry",
                               "entities": {"brand": ["Acme"], "color": ["Blue", "Purple"], "weight": ["1 kg"]}})
        if "Target attribute:" in prompt:
            value = re.search(r"Correct answer: (.*)", prompt).group(1).strip()
            return json.dumps({"question": "Which value fits this product?",
                               "options": ["Zzyzx one", value, "Zzyzx two", "Zzyzx three"], "answer": 1})
        if "searched an online store" in prompt:
            return '```json\n{"question": "Which of these would suit a long walk?", "answer": [3, 1, 6]}\n```'
        if "Here is information about the product" in prompt:
            return json.dumps({"question": "What is the upper made of?", "answer": "Breathable mesh upper."})
        if "new templates" in prompt:
            template = json.loads(re.search(r"Template \(as a JSON string\):\n(.*)\n", prompt).group(1))
            return json.dumps(["Please read carefully.\n" + template, template, "No placeholders at all.",
                               "Kindly answer this.\n" + template])
        return "?"


def requests(n: int, tokens: int = 3) -> list[syn.Request]:
    return [syn.Request(f"r{i}", prompt=f"Name a colour of a shoe number {i}.", max_new_tokens=tokens,
                        meta={"i": i}) for i in range(n)]


def job(engine, path, batch_size=2, method="test", **kw) -> syn.SyntheticJob:
    return syn.SyntheticJob(engine, path, method=method, model_id="tiny", batch_size=batch_size, progress=False, **kw)


# ---- the job ---------------------------------------------------------------------------------------

def test_job_caches_and_a_rerun_makes_no_engine_call(tiny_engine, tmp_path):
    reqs = requests(5)
    first = CountingEngine(tiny_engine)
    result = job(first, tmp_path / "c.jsonl").run(reqs)
    assert first.calls == 3 and first.rows == 5  # batches of 2, 2, 1
    assert result.report.generated == 5 and result.report.cached == 0
    assert all(isinstance(o, str) for o in result.outputs)
    lines = (tmp_path / "c.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    assert [r["id"] for r in records] == [r.id for r in reqs]
    assert {"key", "method", "model", "id", "meta", "decode", "prompt_tokens", "output"} <= set(records[0])
    assert records[0]["decode"]["max_new_tokens"] == 3 and records[0]["meta"] == {"i": 0}

    again = CountingEngine(tiny_engine)
    rerun = job(again, tmp_path / "c.jsonl").run(reqs)
    assert again.calls == 0
    assert rerun.outputs == result.outputs
    assert rerun.report.cached == 5 and rerun.report.generated == 0
    assert rerun.by_id(reqs)["r3"] == result.outputs[3]


def test_an_engine_factory_is_not_called_when_everything_is_cached(tiny_engine, tmp_path):
    reqs = requests(2)
    job(tiny_engine, tmp_path / "c.jsonl").run(reqs)

    def factory():
        raise AssertionError("the engine must not be loaded")

    assert job(factory, tmp_path / "c.jsonl").run(reqs).report.cached == 2
    with pytest.raises(ValueError, match="model_id"):
        syn.SyntheticJob(factory, tmp_path / "x.jsonl", method="test")


def test_an_interrupted_job_resumes_and_ends_like_an_uninterrupted_one(tiny_engine, tmp_path):
    reqs = requests(7)
    job(tiny_engine, tmp_path / "whole.jsonl").run(reqs)  # 4 batches: 2, 2, 2, 1

    crashing = CountingEngine(tiny_engine, fail_after=2)
    with pytest.raises(Interrupted):
        job(crashing, tmp_path / "resumed.jsonl").run(reqs)
    assert len((tmp_path / "resumed.jsonl").read_text().splitlines()) == 4  # two batches were written

    resuming = CountingEngine(tiny_engine)
    result = job(resuming, tmp_path / "resumed.jsonl").run(reqs)
    assert resuming.calls == 2 and resuming.rows == 3  # only the unfinished requests
    assert result.report.cached == 4 and result.report.generated == 3
    assert (tmp_path / "resumed.jsonl").read_bytes() == (tmp_path / "whole.jsonl").read_bytes()


def test_a_truncated_last_line_is_ignored_counted_and_redone(tiny_engine, tmp_path):
    reqs = requests(3)
    path = tmp_path / "c.jsonl"
    job(tiny_engine, path, batch_size=1).run(reqs)
    data = path.read_bytes()
    last = data.rstrip(b"\n").rsplit(b"\n", 1)[1]
    path.write_bytes(data[: len(data) - len(last) // 2 - 1])  # a crash in the middle of the last record

    state = syn.read_cache(path)
    assert len(state.records) == 2 and state.partial_lines == 1
    engine = CountingEngine(tiny_engine)
    result = job(engine, path, batch_size=1).run(reqs)
    assert result.report.partial_lines == 1 and result.report.generated == 1 and engine.rows == 1
    assert "1 partial last line dropped" in result.report.render()
    assert path.read_bytes() == data  # batches of one are batch-independent: the same bytes again
    assert syn.read_cache(path).partial_lines == 0


def test_cache_reading_rules():
    good = {"key": "a", "output": "x"}
    state, intact, newline = syn.parse_cache((json.dumps(good) + "\nnot json\n" + json.dumps(good)).encode())
    # a corrupt complete line is ignored; a complete last record without its newline is kept
    assert state.corrupt_lines == 1 and state.duplicate_lines == 0 and newline and state.partial_lines == 0
    state, intact, newline = syn.parse_cache(b'{"key": "a", "output": "x"}\n{"key": "b", "out')
    assert list(state.records) == ["a"] and state.partial_lines == 1 and intact == 28 and not newline


def test_keys_are_stable_and_cover_method_model_prompt_and_decoding(tmp_path):
    msgs = [{"role": "user", "content": "hi"}]
    spec = DecodeSpec(max_new_tokens=5)
    key = syn.request_key("enrich", "m", msgs, spec)
    assert key == syn.request_key("enrich", "m", [dict(msgs[0])], DecodeSpec(max_new_tokens=5))
    assert len({key, syn.request_key("reword", "m", msgs, spec), syn.request_key("enrich", "m2", msgs, spec),
                syn.request_key("enrich", "m", [{"role": "user", "content": "hi!"}], spec),
                syn.request_key("enrich", "m", msgs, DecodeSpec(max_new_tokens=6)),
                syn.request_key("enrich", "m", msgs, DecodeSpec(max_new_tokens=5, stop=("\n",)))}) == 6
    a, b = tmp_path / "a", tmp_path / "b"
    for folder, n in ((a, 1), (b, 2)):
        folder.mkdir()
        (folder / "config.json").write_text(json.dumps({"n": n}))
    assert syn.model_identity(a) != syn.model_identity(b) and syn.model_identity(a).startswith("a@")
    with pytest.raises(ValueError):
        syn.Request("x")  # neither messages nor prompt


def test_identical_requests_run_once_and_oversize_prompts_are_counted_not_cached(tiny_engine, tmp_path):
    long = syn.Request("long", prompt="shoe " * 4000, max_new_tokens=3)
    reqs = [*requests(2), syn.Request("dup", prompt="Name a colour of a shoe number 0.", max_new_tokens=3,
                                      meta={"i": 0}), long]
    engine = CountingEngine(tiny_engine)
    result = job(engine, tmp_path / "c.jsonl", batch_size=4).run(reqs)
    assert engine.rows == 2 and result.report.unique == 3 and result.report.too_long == 1
    assert result.outputs[2] == result.outputs[0] and result.outputs[3] is None
    assert len(syn.read_cache(tmp_path / "c.jsonl").records) == 2


# ---- parsers: build a task -------------------------------------------------------------------------

PRODUCT = syn.ProductText("esci", ("us", "B001"), "Acme Trail Running Shoe, Men's, Blue",
                          ("Lightweight upper made of breathable mesh, with a rubber outsole.", "Cushioned midsole"),
                          (("brand", "Acme"), ("color", "Blue")))
ATTR = syn.AttributeSeed(PRODUCT, "color", "Blue")
QUERY = syn.QuerySeed("esci", "7", "mens running shoes", tuple(f"Running shoe model {i}" for i in range(1, 9)))
DOCS = syn.DocumentSeed("esci", "us/B001", PRODUCT.title, PRODUCT.details)


def dataset(kind: str) -> syn.SyntheticDataset:
    k = syn.KINDS[kind]
    return syn.SyntheticDataset(k.dataset, "esci", k.task_type)


def test_attribute_parser_accepts_a_valid_question_in_every_wording():
    text = json.dumps({"question": "What colour is this shoe?", "options": ["Red", "blue", "Green", "Black"],
                       "answer": 1})
    prompts = set()
    for i in range(20):
        q = syn.parse_attribute_task(text, ATTR, random.Random(i))
        check(dataset("attribute"), q)
        options = re.findall(r"^(\d)\. (.*)$", q.prompt, re.M)[-4:]
        assert dict(options)[q.answer] == "blue" and parse("multiple-choice", q.answer) == int(q.answer)
        prompts.add(q.prompt.split("Title:")[0])
    assert len(prompts) == len(syn.ATTRIBUTE_QUESTION_TEMPLATES)


OPTIONS = '"options": ["Red", "Blue", "Green", "Black"]'


@pytest.mark.parametrize("text, reason", [
    ("", "empty output"),
    ("Sure! Here it is: {}", "text before the JSON"),
    ("I cannot help.", "no JSON"),
    ('{"question": "What colour?", "options": ["Red", "Blue"', "not valid JSON"),
    ('{"question": "q?", "options": ["a", "Blue", "c", "d"], "answer": 1} Hope this helps', "text after the JSON"),
    ('["What colour?"]', "not a JSON object"),
    ('{"options": ["Red", "Blue", "Green", "Black"], "answer": 1}', "no 'question'"),
    ('{"question": "What colour?", "options": ["Red", "Blue", "Green"], "answer": 1}', "not 4 options"),
    ('{"question": "What colour?", "options": ["Red", "Blue", "red", "Black"], "answer": 1}', "repeated options"),
    ('{"question": "What colour?", %s, "answer": 4}' % OPTIONS, "'answer' is not an index 0-3"),
    ('{"question": "What colour?", %s, "answer": true}' % OPTIONS, "'answer' is not an index 0-3"),
    ('{"question": "What colour?", %s, "answer": 0}' % OPTIONS, "the answer is not the target value"),
    ('{"question": "What colour?", "options": ["Red", "Navy", "Green", "Black"], "answer": 1}',
     "the answer is not the target value"),
    ('{"question": "Is this shoe blue or red?", %s, "answer": 1}' % OPTIONS, "the question gives the answer away"),
    ('{"question": "What\\ncolour?", %s, "answer": 1}' % OPTIONS, "'question' spans several lines"),
])
def test_attribute_parser_rejects_with_a_reason(text, reason):
    with pytest.raises(syn.Invalid) as why:
        syn.parse_attribute_task(text, ATTR, random.Random(0))
    assert str(why.value) == reason


def test_query_products_parser():
    for i in range(20):
        q = syn.parse_query_products_task('{"question": "Which are good for a "trail" run?", "answer": [3, 1, 6]}'
                                          .replace('"trail"', "trail"), QUERY, random.Random(i))
        check(dataset("query_products"), q)
        assert q.answer == "3, 1, 6" and parse("retrieval", q.answer) == [3, 1, 6]
    quoted = syn.parse_query_products_task(json.dumps({"question": 'A "light" shoe?', "answer": [1, 2, 3]}),
                                           QUERY, random.Random(0))
    assert '"light"' not in quoted.prompt and "'light'" in quoted.prompt
    for text, reason in [
        ('{"question": "q?", "answer": [1, 2]}', "not 3 numbers"),
        ('{"question": "q?", "answer": [1, 2, 2]}', "repeated numbers"),
        ('{"question": "q?", "answer": [1, 2, 9]}', "a number is not on the list"),
        ('{"question": "q?", "answer": "1, 2, 3"}', "'answer' is not a list of numbers"),
        ('{"question": "Mens running shoes?", "answer": [1, 2, 3]}', "the question repeats the search query"),
        ('{"question": "", "answer": [1, 2, 3]}', "'question' is empty"),
    ]:
        with pytest.raises(syn.Invalid, match=re.escape(reason)):
            syn.parse_query_products_task(text, QUERY, random.Random(0))


def test_documents_parser():
    for i in range(20):
        q = syn.parse_documents_task(json.dumps({"question": "What is the upper made of?",
                                                 "answer": "It is made of breathable mesh."}), DOCS, random.Random(i))
        check(dataset("documents"), q)
        assert q.answer == "It is made of breathable mesh." and "breathable mesh" in q.prompt
    for text, reason in [
        (json.dumps({"question": "Upper?", "answer": "Genuine Italian leather stitched by hand."}),
         "the answer is not supported by the documents"),
        (json.dumps({"question": "Upper?", "answer": " ".join(["mesh"] * 61)}), "the answer is longer than 60 words"),
        (json.dumps({"question": "Upper?", "answer": ["mesh"]}), "'answer' is not a string"),
        (json.dumps({"question": "Upper?"}), "no 'answer'"),
    ]:
        with pytest.raises(syn.Invalid, match=re.escape(reason)):
            syn.parse_documents_task(text, DOCS, random.Random(0))


def test_a_question_the_router_reads_otherwise_is_rejected_by_the_check():
    text = json.dumps({"question": "Extract the entities of type brand and output the entity list.",
                       "answer": "Acme"})
    q = syn.parse_documents_task(text, DOCS, random.Random(0))
    with pytest.raises(Skip, match="named_entity_recognition"):
        check(dataset("documents"), q)
    rows = syn.build_task_rows(syn.KINDS["documents"], "esci", [DOCS], [text], 0, report := syn.MethodReport("x"))
    assert rows == [] and report.invalid == {"the router reads the prompt as named_entity_recognition": 1}


# ---- parsers: enrich ---------------------------------------------------------------------------------

def test_enrichment_parser_keeps_grounded_entities_of_known_types():
    text = json.dumps({"product_type": "trail running shoes", "category": "Clothing, Shoes & Jewelry",
                       "entities": {"Brand": "Acme", "color": ["blue", "Purple"], "material": ["breathable mesh"],
                                    "weight": ["300 g"]}})
    e = syn.parse_enrichment(text, PRODUCT)
    assert e.product_type == "trail running shoes" and e.key == ("us", "B001") and e.source == "esci"
    assert e.entities == {"brand": ("Acme",), "color": ("blue",), "material": ("breathable mesh",)}
    assert e.dropped == 2  # "Purple" is not in the text, "weight" is no entity type
    assert syn.Enrichment.from_dict(json.loads(json.dumps(e.as_dict()))) == e


def test_an_unusable_entity_value_costs_that_value_not_the_product():
    text = json.dumps({"product_type": "trail running shoes", "category": "Shoes",
                       "entities": {"brand": ["Acme", None, {"x": 1}], "size": [10], "color": ["red", "blue"]}})
    e = syn.parse_enrichment(text, PRODUCT)
    # dropped: None, {"x": 1}, 10 (no phrase of the text) and "red" (not in the text); "blue" is grounded
    assert e.entities == {"brand": ("Acme",), "color": ("blue",)} and e.dropped == 4


def test_an_entity_is_grounded_as_a_whole_phrase_not_inside_a_word():
    product = syn.ProductText("esci", ("us", "B9"), "Paper Shredder, 12 Sheet", ("Cross-cut shredder",), ())
    text = json.dumps({"product_type": "paper shredder", "category": "Office",
                       "entities": {"color": ["red"], "model": ["12 Sheet"]}})
    e = syn.parse_enrichment(text, product)
    assert e.entities == {"model": ("12 Sheet",)} and e.dropped == 1  # "red" sits only inside "shredder"


@pytest.mark.parametrize("obj, reason", [
    ({"category": "Shoes", "entities": {}}, "no 'product_type'"),
    ({"product_type": "a very long product type with many words", "category": "Shoes", "entities": {}},
     "'product_type' has more than 6 words"),
    ({"product_type": "shoes", "category": "", "entities": {}}, "'category' is empty"),
    ({"product_type": "shoes", "category": "Shoes", "entities": ["Acme"]}, "'entities' is not an object"),
    ({"product_type": "shoes", "category": "Shoes", "entities": {"brand": {"name": "Acme"}}},
     "an entity's values are not a list"),
])
def test_enrichment_parser_rejects_with_a_reason(obj, reason):
    with pytest.raises(syn.Invalid) as why:
        syn.parse_enrichment(json.dumps(obj), PRODUCT)
    assert str(why.value) == reason


# ---- parsers: reword -----------------------------------------------------------------------------------

MMLU_TEMPLATE = "The following is a multiple-choice question about {subject}.\n{question}\n{options}\nAnswer: "


def test_reword_keeps_every_placeholder_exactly_once():
    good = "Here is a question on {subject}; reply with the option's number.\n{question}\n{options}\nAnswer: "
    outputs = [
        good,
        "Question about {subject}:\n{question}\n{options}\nAnswer: ",  # accepted: a different wording
        "Answer this question on {subject}.\n{question}\nAnswer: ",  # no {options}
        "About {subject} and {topic}.\n{question}\n{options}\nAnswer: ",  # a new placeholder
        "{subject} {subject}\n{question}\n{options}\nAnswer: ",  # {subject} twice
        "On {subject}: {question}\n{options}\nAnswer: ",  # {question} no longer on its own line
        "A {broken question on {subject}.\n{question}\n{options}",  # malformed braces
        MMLU_TEMPLATE.upper().replace("{SUBJECT}", "{subject}").replace("{QUESTION}", "{question}")
        .replace("{OPTIONS}", "{options}"),  # the original, but for case
        good.replace("Here", "  here"),  # a repeat of an accepted one
        "   ",
        7,
    ]
    accepted, rejected = syn.parse_rewordings(json.dumps(outputs), MMLU_TEMPLATE, [MMLU_TEMPLATE], n=10)
    assert accepted == outputs[:2]
    assert rejected == {"a placeholder is missing": 1, "a new placeholder": 1, "a placeholder is repeated": 1,
                        "a placeholder is no longer alone on its line": 1, "malformed braces": 1,
                        "same as an original or another rewording": 2, "empty": 1, "not a string": 1}
    for wording in accepted:
        assert sorted(syn.placeholders(wording)) == sorted(syn.placeholders(MMLU_TEMPLATE))
        wording.format(subject="s", question="q", options="0. a\n1. b")
    assert syn.parse_rewordings(json.dumps(outputs), MMLU_TEMPLATE, [MMLU_TEMPLATE], n=1)[0] == [good]
    with pytest.raises(syn.Invalid, match="not a JSON list"):
        syn.parse_rewordings('{"a": 1}', MMLU_TEMPLATE, [], n=3)


def test_reword_prompt_names_the_placeholders():
    class Fake(Builder):
        """Rank products for a query."""

        name, task_type = "fake", "ranking"
        instructions = ("Rank the products for {query}.\n{products}\nAnswer: ",)

    req = syn.reword_request(Fake, 0, n=4)
    user = req.messages[-1]["content"]
    assert "{query}, {products}" in user and "Write 4 new templates" in user
    assert json.dumps(Fake.instructions[0]) in user and req.meta == {"dataset": "fake", "template": 0}


# ---- methods end to end with a scripted engine ------------------------------------------------------

def esci_source() -> SourceData:
    colors = ["Blue", "Red", "Black", "Green", "White", "Grey", "Pink", "Navy", "Tan", "Gold", "Teal", "Plum"]
    products = {
        ("us", f"B{i:03d}"): EsciProduct(
            f"B{i:03d}", "us", f"Acme Running Shoe {i}, {colors[i]}",
            f"<p>Lightweight running shoe number {i} with a breathable mesh upper &amp; rubber outsole.</p>",
            ("Cushioned midsole for long runs", "Lace-up closure"), "Acme", colors[i])
        for i in range(12)
    }
    queries = [EsciQuery(1, "running shoes", "us", "train", (("B000", "E"), ("B001", "S"), ("B002", "I"))),
               EsciQuery(2, "trail shoes", "us", "train", (("B003", "E"), ("B004", "C"))),
               EsciQuery(3, "mesh sneakers", "us", "train", tuple((f"B{i:03d}", "S") for i in range(5, 12)))]
    index = EsciIndex(queries, {"us": sorted(pid for _, pid in products)})
    return SourceData("esci", index, ReadStats("esci"), lambda keys: {k: products[k] for k in keys if k in products})


def test_scripted_outputs_become_checked_rows_for_every_kind(tiny_engine, tmp_path):
    engine = ScriptedEngine(tiny_engine)
    j = job(engine, tmp_path / "cache.jsonl", batch_size=8, method="build_task")
    for name, task_type in (("attribute", "multiple-choice"), ("query_products", "retrieval"),
                            ("documents", "generation")):
        rows, report = syn.run_build_task(j, name, {"esci": esci_source()}, 3, tmp_path, seed=1)
        assert len(rows) == report.accepted > 0 and not report.invalid, report.render()
        for row in rows:
            assert row["dataset"] == f"synthetic_build_task_{name}" and row["task_type"] == task_type
            assert row["source"] == "esci" and [m["role"] for m in row["messages"]] == ["system", "user", "assistant"]
        written = (tmp_path / f"synthetic_build_task_{name}.jsonl").read_text().splitlines()
        assert [json.loads(line) for line in written] == rows
    again = syn.run_build_task(job(ScriptedEngine(tiny_engine), tmp_path / "cache.jsonl", method="build_task"),
                               "attribute", {"esci": esci_source()}, 3, seed=1)[0]
    assert again == syn.run_build_task(j, "attribute", {"esci": esci_source()}, 3, seed=1)[0]


def test_enrich_and_its_lookup_for_builders(tiny_engine, tmp_path):
    records, report = syn.run_enrich(job(ScriptedEngine(tiny_engine), tmp_path / "c.jsonl", method="enrich"),
                                     {"esci": esci_source()}, 4, tmp_path)
    assert report.accepted == 4 and not report.invalid
    lookup = syn.load_enrichment(tmp_path, "esci")
    assert set(lookup) == {r.key for r in records} and all(isinstance(k, tuple) for k in lookup)
    assert {e.entities["brand"] for e in lookup.values()} == {("Acme",)}
    assert set(syn.product_types(tmp_path / "enrichment_esci.jsonl", "esci").values()) == {"running shoes"}
    assert set(syn.load_enrichment(tmp_path)) == {("esci", k) for k in lookup}


def test_product_text_cleans_html():
    p = syn.product_text(esci_source().lookup({("us", "B003")})[("us", "B003")])
    assert p.details[0].startswith("Lightweight running shoe number 3 with a breathable mesh upper & rubber")
    assert p.attributes == (("brand", "Acme"), ("color", "Green")) and p.id == "esci:us/B003"
    assert syn.product_text(object()) is None


# ---- the command line -------------------------------------------------------------------------------

def fake_sources(monkeypatch):
    source = esci_source()
    monkeypatch.setattr(syn_cli, "open_source", lambda name, folder, seed: source if name == "esci" else None)


def write_esci(folder) -> None:
    """The in-memory ESCI source as the two real parquet files, for the real reader."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    source = esci_source()
    folder.mkdir(parents=True)
    examples = [{"example_id": n, "query": q.query, "query_id": q.query_id, "product_id": pid,
                 "product_locale": q.locale, "esci_label": label, "small_version": 1, "large_version": 1,
                 "split": q.split}
                for n, (q, (pid, label)) in enumerate((q, item) for q in source.index.queries for item in q.items)]
    products = [{"product_id": p.product_id, "product_title": p.title, "product_description": p.description,
                 "product_bullet_point": "\n".join(p.bullet_points), "product_brand": p.brand,
                 "product_color": p.color, "product_locale": p.locale}
                for p in source.lookup({("us", f"B{i:03d}") for i in range(12)}).values()]
    pq.write_table(pa.Table.from_pylist(examples), folder / "shopping_queries_dataset_examples.parquet")
    pq.write_table(pa.Table.from_pylist(products), folder / "shopping_queries_dataset_products.parquet")


def test_cli_build_task_on_real_esci_files_resumes_from_the_cache(tiny_model_dir, tmp_path, monkeypatch, capsys):
    write_esci(tmp_path / "sources" / "esci")
    argv = ["build-task", "--engine", "transformers", "--model", str(tiny_model_dir), "--sources",
            str(tmp_path / "sources"), "--out", str(tmp_path / "out"), "--limit", "2", "--batch-size", "4",
            "--max-new-tokens", "4", "--no-progress"]
    first = syn.main(argv)
    printed = capsys.readouterr().out
    # 2 seeds for each of the 3 kinds
    assert first["job"]["requests"] == 6 and first["job"]["generated"] == 6 and first["job"]["cached"] == 0
    assert sum(first["invalid"].values()) + first["accepted"] == 6  # random tokens: counted with reasons
    assert "6 requests" in printed and "invalid" in printed
    assert (tmp_path / "out" / "cache" / "build_task.jsonl").is_file()
    for kind in syn.KINDS.values():
        assert (tmp_path / "out" / f"{kind.dataset}.jsonl").is_file()

    import models.engines as sm

    monkeypatch.setattr(sm, "load_engine", lambda *a, **k: pytest.fail("everything is cached"))
    second = syn.main(argv)
    assert second["job"]["cached"] == 6 and second["job"]["generated"] == 0
    assert second["invalid"] == first["invalid"]
    report = json.loads((tmp_path / "out" / "synthetic_build_task_report.json").read_text())
    assert report == second


def test_cli_enrich_and_reword_with_a_given_engine(tiny_engine, tmp_path, monkeypatch, capsys):
    fake_sources(monkeypatch)
    out = tmp_path / "out"
    common = ["--sources", str(tmp_path), "--out", str(out), "--no-progress"]
    summary = syn.main(["enrich", "--limit", "3", *common], engine=ScriptedEngine(tiny_engine))
    assert summary["accepted"] == 3 and len(syn.load_enrichment(out, "esci")) == 3

    summary = syn.main(["reword", "--dataset", "mmlu_general_knowledge", "--n", "2", *common],
                       engine=ScriptedEngine(tiny_engine))
    from training.data.registry import load_builders

    originals = load_builders()["mmlu_general_knowledge"].instructions
    reworded = syn.load_rewordings(out / "rewordings.json")["mmlu_general_knowledge"]
    assert summary["job"]["requests"] == len(originals) and len(reworded) == 2 * len(originals)
    for new in reworded:
        assert new not in originals
        assert any(sorted(syn.placeholders(new)) == sorted(syn.placeholders(o)) for o in originals)
    assert summary["invalid"] == {"same as an original or another rewording": len(originals),
                                  "a placeholder is missing": len(originals)}
    assert "reword" in capsys.readouterr().out

    # a second run for another dataset into the same folder keeps the first one's wordings
    syn.main(["reword", "--dataset", "alpaca_instruction_following", "--n", "2", *common],
             engine=ScriptedEngine(tiny_engine))
    both = syn.load_rewordings(out / "rewordings.json")
    assert both["mmlu_general_knowledge"] == reworded and "alpaca_instruction_following" in both

    monkeypatch.delenv("SHOPBENCH_MODEL", raising=False)
    with pytest.raises(SetupError, match="--model: not given and SHOPBENCH_MODEL is not set"):
        syn.main(["reword", "--out", str(out)])  # no --model and no SHOPBENCH_MODEL


@pytest.mark.parametrize("seeds", [syn.attribute_seeds, syn.query_seeds])
def test_a_larger_limit_asks_the_first_seeds_the_same_questions(seeds):
    """A run with --limit 2 then --limit 3 reuses the cache of the first: the first seeds do not
    depend on how many are drawn."""
    few = seeds(esci_source(), random.Random(7), 2)
    more = seeds(esci_source(), random.Random(7), 3)
    assert few and more[:len(few)] == few
