"""TransformersEngine on a tiny random Qwen2: every row's spec is honoured in one batched call."""
from __future__ import annotations

import pytest
import torch

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


def test_a_batch_gives_the_same_answers_as_one_prompt_at_a_time(tiny_engine, tiny_model_dir):
    """Left padding must not change what a row decodes (greedy, float32: on a GPU the engine runs
    fp16, where padding changes the rounding of a random model's near-tied logits)."""
    if tiny_engine.model.dtype != torch.float32:
        from models.engines import TransformersEngine

        tiny_engine = TransformersEngine(tiny_model_dir, dtype="float32")
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


def test_a_stop_string_ends_the_answer_only_once_the_answer_has_started():
    from models.engines import cut_at_stop

    assert cut_at_stop("\nnike, adidas", ("\n",)) == "\nnike, adidas"  # was '': the whole answer lost
    assert cut_at_stop("\n\n nike\nadidas", ("\n",)) == "\n\n nike"
    assert cut_at_stop("\n\nnike\n\nadidas", ("\n\n",)) == "\n\nnike"
    assert cut_at_stop("nike\nadidas", ("\n",)) == "nike"
    assert cut_at_stop("  a, b", (",",)) == "  a"
    assert cut_at_stop("a, b\nc", ("\n", ",")) == "a"  # the earliest stop
    assert cut_at_stop("\n\n", ("\n",)) == "\n\n"  # nothing started: nothing to cut (tidy reads it as empty)
    assert cut_at_stop("abc", ()) == "abc" and cut_at_stop("abc", ("",)) == "abc"


def newline_then_word(engine, prompt_ids, word: str) -> tuple[DecodeSpec, str]:
    """A spec under which the greedy reply opens with a newline and then says ``word``, and that reply.

    Only a newline and ``word`` are allowed; the tiny random model's greedy reply is all newlines, so
    a logit bias on ``word`` is raised by bisection to the middle of the range in which the newline
    still comes first but the word comes second (a margin that float noise cannot cross).
    """
    (newline,) = new_ids(engine, "\n")
    (token,) = new_ids(engine, word)

    def reply(bias):
        spec = DecodeSpec(max_new_tokens=4, allowed_token_ids=(newline, token), logit_bias={token: bias})
        return engine.generate([prompt_ids], [spec])[0]

    def boundary(lo, hi, past):  # the least bias in [lo, hi] at which ``past`` holds (it holds at hi)
        for _ in range(25):  # 20 / 2**25 < 1e-6
            mid = (lo + hi) / 2
            lo, hi = (lo, mid) if past(reply(mid)) else (mid, hi)
        return hi

    assert reply(0.0).startswith("\n\n") and reply(20.0).startswith(word)
    word_first = boundary(0.0, 20.0, lambda text: text.startswith(word))
    word_second = boundary(0.0, word_first, lambda text: not text.startswith("\n\n"))
    bias = (word_second + word_first) / 2
    assert reply(bias).startswith("\n" + word), reply(bias)
    return DecodeSpec(max_new_tokens=4, allowed_token_ids=(newline, token), logit_bias={token: bias}, stop=("\n",)), reply(bias)


def test_a_reply_that_opens_with_a_newline_keeps_its_answer_under_a_newline_stop(tiny_engine):
    from models.engines import cut_at_stop

    prompt = ids_of(tiny_engine, "which brand?")
    spec, raw = newline_then_word(tiny_engine, prompt, " shopping")
    (text,) = tiny_engine.generate([prompt], [spec])
    assert text == cut_at_stop(raw, ("\n",)) and text.strip().startswith("shopping") and "\n" not in text.strip()
