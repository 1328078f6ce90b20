"""TransformersEngine on a tiny random Qwen2: every row's spec is honoured in one batched call."""
from __future__ import annotations

import pytest

from utilities.decoding import DecodeSpec
from utilities.prompting import render


def ids_of(engine, prompt):
    return engine.tokenizer.encode(render(engine.tokenizer, prompt, "generation"), add_special_tokens=False)


def new_ids(engine, text):
    return engine.tokenizer.encode(text, add_special_tokens=False)


def test_allowed_token_ids_are_the_only_tokens_generated(tiny_engine):
    digits = tuple(tiny_engine.table.digit_ids[d][0] for d in "357")
    spec = DecodeSpec(max_new_tokens=6, allowed_token_ids=digits)
    (text,) = tiny_engine.generate([ids_of(tiny_engine, "pick a digit")], [spec])
    assert len(text) == 6 and set(text) <= set("357")


def test_logit_bias_steers_greedy_decoding(tiny_engine):
    (target,) = new_ids(tiny_engine, " shopping")  # one Qwen2 token
    spec = DecodeSpec(max_new_tokens=4, logit_bias={target: 100.0})
    (text,) = tiny_engine.generate([ids_of(tiny_engine, "anything")], [spec])
    assert text == " shopping" * 4


def test_each_row_stops_at_its_own_token_limit(tiny_engine):
    seven = tiny_engine.table.digit_ids["7"][0]
    prompts = [ids_of(tiny_engine, "first"), ids_of(tiny_engine, "a second, longer prompt than the first")]
    specs = [DecodeSpec(max_new_tokens=1, allowed_token_ids=(seven,)),
             DecodeSpec(max_new_tokens=9, allowed_token_ids=(seven,))]
    assert tiny_engine.generate(prompts, specs) == ["7", "7" * 9]


def test_end_of_text_ends_a_row_early(tiny_engine):
    eos = tiny_engine.eos_ids[0]
    spec = DecodeSpec(max_new_tokens=8, logit_bias={eos: 100.0})
    assert tiny_engine.generate([ids_of(tiny_engine, "stop now")], [spec]) == [""]


def test_a_batch_gives_the_same_answers_as_one_prompt_at_a_time(tiny_engine):
    """Left padding must not change what a row decodes (greedy, float32)."""
    prompts = [ids_of(tiny_engine, p) for p in ("a", "a much longer prompt about a water cup " * 5, "三つ")]
    specs = [DecodeSpec(max_new_tokens=5)] * 3
    batched = tiny_engine.generate(prompts, specs)
    alone = [tiny_engine.generate([p], [s])[0] for p, s in zip(prompts, specs)]
    assert batched == alone


def test_stop_strings_cut_the_answer(tiny_engine):
    comma = new_ids(tiny_engine, ",")[0]
    a = new_ids(tiny_engine, "a")[0]
    spec = DecodeSpec(max_new_tokens=4, allowed_token_ids=(a, comma), logit_bias={comma: 100.0}, stop=(",",))
    assert tiny_engine.generate([ids_of(tiny_engine, "x")], [spec]) == [""]


def test_a_prompt_longer_than_the_context_is_refused_with_a_clear_error(tiny_engine):
    too_long = [tiny_engine.table.digit_ids["1"][0]] * tiny_engine.max_model_len
    with pytest.raises(ValueError, match="exceeds the context"):
        tiny_engine.generate([too_long], [DecodeSpec(max_new_tokens=1)])


def test_an_empty_batch_generates_nothing(tiny_engine):
    assert tiny_engine.generate([], []) == []


def test_a_folder_without_weights_is_a_clear_error(tmp_path):
    from models.engines import TransformersEngine
    from models.settings import DEFAULT_CHECKPOINT

    with pytest.raises(FileNotFoundError, match="no weight files"):
        TransformersEngine(DEFAULT_CHECKPOINT)
    with pytest.raises(FileNotFoundError, match=str(tmp_path / "nothing")):
        TransformersEngine(tmp_path / "nothing")
