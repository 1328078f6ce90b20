"""Rendering through the tokenizer's chat template, and shortening prompts that do not fit."""
from __future__ import annotations

import pytest

from utilities.prompting import CUT_MARKER, fit_prompt, render, system_prompt
from utilities.tasks import TASK_TYPES


def test_system_prompt_names_the_task_label():
    assert system_prompt("multiple-choice") == (
        "You are a helpful online shopping assistant. Your task is multiple-choice question answering."
    )
    assert system_prompt("named_entity_recognition").endswith("Your task is named entity recognition.")


def test_render_uses_the_tokenizers_chat_template(qwen_tokenizer):
    text = render(qwen_tokenizer, "Explain the product type Handbag\nOutput:", "generation")
    assert text == (
        "<|im_start|>system\nYou are a helpful online shopping assistant. Your task is generation.<|im_end|>\n"
        "<|im_start|>user\nExplain the product type Handbag\nOutput:<|im_end|>\n<|im_start|>assistant\n"
    )


@pytest.mark.parametrize("task_type", TASK_TYPES)
def test_training_row_and_inference_prompt_are_identical_up_to_the_answer(qwen_tokenizer, task_type):
    prompt, answer = "Which fits?\n0. a\n1. b\nAnswer: ", "1"
    inference = render(qwen_tokenizer, prompt, task_type)
    training = render(qwen_tokenizer, prompt, task_type, answer=answer)
    assert training == inference + answer + "<|im_end|>\n"


def test_a_prompt_that_fits_is_left_alone(qwen_tokenizer):
    fitted = fit_prompt(qwen_tokenizer, "short prompt", "generation", 3000)
    assert not fitted.shortened and fitted.text == render(qwen_tokenizer, "short prompt", "generation")
    assert fitted.ids == qwen_tokenizer.encode(fitted.text, add_special_tokens=False)


def test_an_overlong_prompt_keeps_the_instruction_and_the_end(qwen_tokenizer):
    instruction = "Which of the following descriptions matches the product?"
    middle = " ".join(f"filler{i}" for i in range(20000))
    end = "\n0. red mug\n1. blue mug\n2. green mug\nAnswer: "
    fitted = fit_prompt(qwen_tokenizer, f"{instruction}\n{middle}{end}", "multiple-choice", 3000)
    assert fitted.shortened and len(fitted.ids) <= 3000 and fitted.prompt_tokens > 30000
    assert instruction in fitted.text and end + "<|im_end|>" in fitted.text and CUT_MARKER in fitted.text
    assert fitted.text.startswith("<|im_start|>system\nYou are a helpful online shopping assistant.")


def test_a_prompt_in_any_script_is_shortened_to_fit(qwen_tokenizer):
    prompt = "この商品を説明してください。" + "🙂مرحبا高品質" * 5000 + "\n出力:"
    fitted = fit_prompt(qwen_tokenizer, prompt, "generation", 512)
    assert fitted.shortened and len(fitted.ids) <= 512
    assert fitted.text.endswith("出力:<|im_end|>\n<|im_start|>assistant\n")


def test_a_context_too_small_for_the_template_is_a_clear_error(qwen_tokenizer):
    with pytest.raises(ValueError, match="cannot hold the chat template"):
        fit_prompt(qwen_tokenizer, "x " * 100, "generation", 10)


def test_a_tokenizer_without_a_chat_template_is_a_clear_error(qwen_tokenizer):
    import copy

    bare = copy.copy(qwen_tokenizer)
    bare.chat_template = None
    with pytest.raises(ValueError, match="no chat template"):
        render(bare, "hello", "generation")
