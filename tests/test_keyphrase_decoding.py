"""benchmarks/keyphrase_decoding.py: both decodings answer, are scored by the row's label, and compared."""
from __future__ import annotations

from benchmarks import keyphrase_decoding as kd


def test_keyphrase_rows_come_from_the_dev_file_and_the_ecguide_suite_per_task_and_metric():
    rows = kd.keyphrase_rows(2)
    assert {r["task_name"] for r in rows} == set(kd.KEYPHRASE_TASKS)
    assert len(rows) == 2 * 4  # task6 (rougel), EPK (sent-transformer), PKS (sent-transformer and bleu)
    assert all(r["task_type"] == "generation" for r in rows)


def test_each_decoding_answers_every_row_and_the_comparison_pairs_the_same_questions(tiny_engine):
    rows = kd.keyphrase_rows(1)
    res = kd.compare(tiny_engine, rows, progress=False)
    gen, ner = res["records"]["generation"], res["records"]["named_entity_recognition"]
    assert [r["key"] for r in gen] == [r["key"] for r in ner] and len(gen) == len(rows)
    assert all(r["model_output"].strip() for r in gen + ner)  # never an empty answer
    c = res["comparison"]
    assert c.matched == len(rows) and set(c.tasks) == set(kd.KEYPHRASE_TASKS)
    for d in c.tasks.values():
        assert d.low <= d.diff <= d.high and abs(d.diff - (d.b - d.a)) < 1e-12
