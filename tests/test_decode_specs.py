"""Decode specs per task type, built from the tokenizer (the real Qwen2 one here)."""
from __future__ import annotations

from utilities.decoding import MAX_ALLOWED_TOKEN_IDS, MAX_LOGIT_BIAS_ENTRIES, NONE_PENALTY, TokenTable
from utilities.routing import route

MC = "Which one fits?\n0. a\n1. b\n2. c\nAnswer: "
RANK = ("Rank the 5 products by relevance to the query 'usb hub'.\n"
        + "\n".join(f"{i}. hub {i}" for i in range(1, 6)) + "\nOutput:")
RETRIEVE = ("Select three products that the user may also buy.\n"
            + "\n".join(f"{i}. thing {i}" for i in range(1, 16)) + "\nOutput:")
NER = ("Extract phrases from the query that correspond to the entity type 'brand'. "
       "Separate them with comma.\nQuery: chocolate buttons cadbury xmas\nOutput: ")
GEN = "Explain the product type Handbag\nOutput:"


def spec_of(prompt, is_mc, table):
    r = route(prompt, is_mc)
    return r.task.decode_spec(r.info, table)


def texts(table: TokenTable, ids):
    return {table.texts[i] for i in ids}


def test_multiple_choice_allows_only_the_offered_option_digits_and_one_token(qwen_table):
    spec = spec_of(MC, True, qwen_table)
    assert spec.max_new_tokens == 1
    assert texts(qwen_table, spec.allowed_token_ids) == {"0", "1", "2"}


def test_multiple_choice_without_listed_options_allows_0_to_5(qwen_table):
    spec = spec_of("Is this review positive? Answer: ", True, qwen_table)
    assert texts(qwen_table, spec.allowed_token_ids) == {"0", "1", "2", "3", "4", "5"}


def test_a_rating_scale_limits_the_multiple_choice_digits(qwen_table):
    spec = spec_of("Evaluate the review on a scale of 1 to 5.\nReview: great\nAnswer: ", True, qwen_table)
    assert texts(qwen_table, spec.allowed_token_ids) == {"1", "2", "3", "4", "5"}


def test_a_numbered_list_after_the_options_does_not_replace_them(qwen_table):
    prompt = "Which?\n0. a\n1. b\n2. c\n3. d\nRules:\n1. answer with one digit\n2. no explanation\nAnswer: "
    spec = spec_of(prompt, True, qwen_table)
    assert texts(qwen_table, spec.allowed_token_ids) == {"0", "1", "2", "3"}


def test_a_numbered_list_inside_a_rated_review_keeps_every_star_of_the_scale(qwen_table):
    prompt = ("Evaluate the following product review on a scale of 1 to 5.\nLove it! Pros:\n1. powerful motor\n"
              "2. easy to clean\nAnswer: ")
    spec = spec_of(prompt, True, qwen_table)
    assert texts(qwen_table, spec.allowed_token_ids) == {"1", "2", "3", "4", "5"}


def test_ranking_and_retrieval_allow_only_digits_comma_space_and_end_of_text(qwen_table):
    for prompt in (RANK, RETRIEVE):
        spec = spec_of(prompt, False, qwen_table)
        allowed = set(spec.allowed_token_ids)
        assert {151645, 151643} <= allowed  # <|im_end|> and <|endoftext|> end the answer
        pieces = texts(qwen_table, allowed - {151645, 151643})
        assert {str(d) for d in range(10)} | {",", " "} <= pieces
        assert all(set(p) <= set("0123456789, ") for p in pieces), pieces
        assert not any("\n" in p or "  " in p for p in pieces)


def test_ranking_token_limit_is_the_full_permutation_plus_end_of_text(qwen_table, qwen_tokenizer):
    spec = spec_of(RANK, False, qwen_table)
    # "1, 2, 3, 4, 5" -> 1 , _ 2 , _ 3 , _ 4 , _ 5 = 13 Qwen2 tokens (digits, commas and spaces apart)
    assert len(qwen_tokenizer.encode("1, 2, 3, 4, 5")) == 13
    assert spec.max_new_tokens == 13 + 1


def test_retrieval_token_limit_is_the_longest_three_numbers_plus_end_of_text(qwen_table):
    spec = spec_of(RETRIEVE, False, qwen_table)
    # "13, 14, 15" -> 1 3 , _ 1 4 , _ 1 5 = 10 tokens
    assert spec.max_new_tokens == 10 + 1


def test_ner_boosts_the_prompt_tokens_comma_and_end_of_text(qwen_table, qwen_tokenizer):
    spec = spec_of(NER, False, qwen_table)
    assert spec.allowed_token_ids is None and spec.stop == ("\n",)
    cadbury = qwen_tokenizer.encode(" cadbury")
    assert all(spec.logit_bias[i] == 1.0 for i in cadbury)
    assert spec.logit_bias[qwen_tokenizer.convert_tokens_to_ids(",")] == 1.0
    assert spec.logit_bias[151645] == 1.0


def test_every_task_penalises_none(qwen_table):
    none_ids = {i for i, s in enumerate(qwen_table.texts) if s.strip() in ("None", "none")}
    assert len(none_ids) >= 4  # "None", " None", "none", " none"
    for prompt, is_mc in ((MC, True), (RANK, False), (RETRIEVE, False), (NER, False), (GEN, False)):
        bias = spec_of(prompt, is_mc, qwen_table).logit_bias
        assert all(bias[i] == NONE_PENALTY for i in none_ids), prompt[:30]


def test_specs_stay_within_vllm_request_limits_for_a_huge_prompt(qwen_table):
    words = " ".join(f"brand{i} item{i * 7} thing{i * 13}" for i in range(3000))
    prompt = f"Extract all entities of type 'brand' from the text.\nText: {words}\nOutput:"
    spec = spec_of(prompt, False, qwen_table)
    assert len(spec.logit_bias) <= MAX_LOGIT_BIAS_ENTRIES
    assert spec.logit_bias[151645] == 1.0 and NONE_PENALTY in spec.logit_bias.values()
    for prompt, is_mc in ((MC, True), (RANK, False), (RETRIEVE, False)):
        assert len(spec_of(prompt, is_mc, qwen_table).allowed_token_ids) <= MAX_ALLOWED_TOKEN_IDS


def test_token_ids_come_from_the_tokenizer_not_from_constants(qwen_tokenizer):
    """A tokenizer whose ids are shifted gives shifted specs: nothing is hard-coded."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {t: i + 7 for i, t in enumerate(["<unk>", "<eos>", *"0123456789", ",", " ", "None", "a", "b"])}
    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Split("", "isolated")
    tok = PreTrainedTokenizerFast(tokenizer_object=backend, eos_token="<eos>", unk_token="<unk>")
    table = TokenTable(tok)
    spec = spec_of(MC, True, table)
    assert sorted(spec.allowed_token_ids) == [vocab["0"], vocab["1"], vocab["2"]]
    assert spec.logit_bias == {vocab["None"]: NONE_PENALTY}


def test_ner_stops_at_the_end_of_its_line_unless_one_entity_per_line_is_asked(qwen_table):
    assert spec_of(NER, False, qwen_table).stop == ("\n",)
    per_line = ("Given the product title below, extract all phrases that express the attribute 'material'. "
                "Output each phrase on its own line and nothing else.\nProduct Title: Bamboo Board with Steel Handles\n")
    assert route(per_line, False).task_type == "named_entity_recognition"
    assert spec_of(per_line, False, qwen_table).stop == ("\n\n",)


def test_ranking_and_retrieval_token_limits_are_bounded_by_what_the_parser_reads(qwen_table, qwen_tokenizer):
    ninety_nine = "Rank the products by relevance to 'lamp'.\n" + "\n".join(f"{i}. lamp {i}" for i in range(1, 100))
    # the parser reads five ranked numbers: "95, 96, 97, 98, 99" is the longest such answer
    assert spec_of(ninety_nine, False, qwen_table).max_new_tokens == len(qwen_tokenizer.encode("95, 96, 97, 98, 99")) + 1
    many = "Select 3 products that fit 'lamp'.\n" + "\n".join(f"{i}. lamp {i}" for i in range(1, 400))
    assert spec_of(many, False, qwen_table).max_new_tokens == len(qwen_tokenizer.encode("397, 398, 399")) + 1
