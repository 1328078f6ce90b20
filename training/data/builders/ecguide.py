"""EC-Guide (ZJU-AI4H's KDD Cup 2024 instruction set): extra datasets, one per subtask seen.

Source: github.com/fzp0424/EC-Guide-KDDUP-2024, folder ``EC-Guide/`` (Apache-2.0; keep its LICENSE
and name the source wherever rows are copied; arXiv 2408.02970), read by
``training/data/readers/ecguide.py`` into ``sources.ECGuideIndex.rows_by_task``: rows already in the
project's data format (``utilities.suites.from_ecguide``), the validation suite's rows held out.

These are ``seed_set=False`` datasets (``registry.EXTRA_DATASETS``): not among the winners' 38, so a
build without ``--only``/``--blend`` and a blend's ``"*"`` leave them out; ``--only NAME`` or a blend
that names them brings them in. Sizes: the usable rows of the visible part of EC-Guide (22,678
published rows in 14 files) less the held-out ones, as ``.venv/bin/python -m utilities.suites make-ecguide``
counts them (usable - 150 held out per (subtask, metric) stratum - other answers of a held-out prompt).

The prompt is EC-Guide's own, word for word (after the reader's documented conversions); the answer
is written in the official format: a multiple-choice digit, retrieval numbers "1, 10" as published
(0-based where the prompt numbers from 0), NER entities "a, b", generation text on one line (the
inference tidy keeps an answer's first line only, so a multi-line reference would teach line breaks
that are cut). Every row then passes ``rows.check`` like any training row: a prompt the router sends
to another type is a counted skip.
"""
from __future__ import annotations

import random
from typing import ClassVar, Mapping

from training.data.registry import Builder, Question, Skip, register
from training.data.rows import numbers_answer, one_line
from training.data.sources import ECGuideIndex


def answer_text(row: dict) -> str:
    """A converted EC-Guide row's answer in the official answer format of its task type."""
    task_type, answer = row["task_type"], row["output_field"]
    if task_type == "multiple-choice":
        return str(answer)
    if task_type in ("retrieval", "ranking"):
        return numbers_answer(answer)
    if task_type == "named_entity_recognition":
        if any("," in entity for entity in answer):
            raise Skip("an entity holds a comma, which the official NER answer format splits")
        return ", ".join(one_line(entity) for entity in answer)
    text = one_line(answer)
    if not text:
        raise Skip("the answer is empty")
    return text


class _ECGuideBuilder(Builder):
    """Seeds: a seeded sample of the subtask's training rows of the builder's task type."""

    task_name: ClassVar[str]  # the EC-Guide file: "<Type>_<Sub>"

    def rows(self, index: ECGuideIndex) -> list[dict]:
        return [r for r in index.rows_by_task.get(self.task_name, []) if r["task_type"] == self.task_type]

    def seeds(self, index: ECGuideIndex, rng: random.Random, n: int) -> list:
        rows = self.rows(index)
        return rng.sample(rows, min(n, len(rows)))

    def question(self, row: dict, lookup: Mapping, rng: random.Random) -> Question:
        return Question(row["input_field"], answer_text(row))


def _ecguide(name: str, task_type: str, size: int):
    return register(name, source="ecguide", task_type=task_type, size=size, seed_set=False)


# ---- generation -----------------------------------------------------------------------------------

@_ecguide("ecguide_generation_ebt", "generation", size=996)  # 1,153 usable - 150 held out - 7 other answers
class ECGuideExplainBoughtTogether(_ECGuideBuilder):
    """EC-Guide Generation_EBT (Explaining Bought Together, from IntentionQA): why two products are bought together.

    Source: EC-Guide (Apache-2.0). Example: "Instruction: What motivations do customers have for
    buying these two particular items at the same time?\\nProduct A: 925 Sterling Silver 3D Drum
    Sticks Music Charm Pendant\\nProduct B: Spinningdaisy Silver Plated Crystal Drum Set Necklace\\n
    Output: " -> "Because they both are a type of jewelry."
    Quirks: some prompts come with two reference answers (each its own row; a held-out prompt is
    held out with both); metric sent-transformer.
    """

    task_name = "Generation_EBT"


@_ecguide("ecguide_generation_epf", "generation", size=1_317)  # 1,467 - 150
class ECGuideExplainPairFashion(_ECGuideBuilder):
    """EC-Guide Generation_EPF (Explaining Pair Fashion): does a sentence explain why two clothes go together?

    Source: EC-Guide (Apache-2.0; from PairFashionExplanation). Example: "Instruction: Could you check
    this expression and tell me if it articulates why these clothes pair nicely?\\nInput: The loosely
    draped dresses, jumpsuits, and caftans caressed curves without clinging.\\nOutput: " -> "this
    sentence does not explain why two pieces of clothing look good together as an outfit. ..."
    Quirks: one multi-line reference (written on one line); metric sent-transformer.
    """

    task_name = "Generation_EPF"


@_ecguide("ecguide_generation_epk", "generation", size=1_360)  # 1,510 usable (2 empty answers skipped) - 150
class ECGuideExtractProductKeyphrase(_ECGuideBuilder):
    """EC-Guide Generation_EPK: a product's key features, extracted from a description.

    Source: EC-Guide (Apache-2.0). Example: "Instruction: Clarify the significant aspects of blouse as
    described in the text below.\\nDescription: Day 13: \\"This is a Kaelen blazer ... Tucker blouse,
    and Tory Burch boots and bag.\\nFeature:" -> "Tucker".
    Quirks: labelled generation (metric sent-transformer) though the answers are phrases of the
    prompt; the router sends some of these prompts to NER (counted skips); 2 rows have an empty
    answer (skipped by the reader).
    """

    task_name = "Generation_EPK"


@_ecguide("ecguide_generation_mt", "generation", size=1_349)  # 1,499 - 150
class ECGuideTranslation(_ECGuideBuilder):
    """EC-Guide Generation_MT (Multilingual Translation, from Amazon-M2 and FLORES): translate a title or sentence.

    Source: EC-Guide (Apache-2.0). Example: "Provide the translation into French for the sentence:
    'Turkish Airlines flies to 39 destinations in 30 African countries as of 2014.'\\nOutput: " ->
    "En 2014 la compagnie Turkish Airlines dessert 39 destinations dans 30 pays d'Afrique."
    Quirks: metric bleu; a few multi-line references (written on one line).
    """

    task_name = "Generation_MT"


@_ecguide("ecguide_generation_pks", "generation", size=321)  # 141 + 471 usable - 141 - 150 held out
class ECGuideKeywordSummary(_ECGuideBuilder):
    """EC-Guide Generation_PKS (Product Keyword Summarization): a product summed up in keywords.

    Source: EC-Guide (Apache-2.0; from ESCI, ECInstruct, Amazon Reviews). Example: "Title: GE
    GSC3500DBB Console Dishwasher\\nDescription: 3-piece silverware basket ...\\nInstruction: Extract
    four main keywords from the given product title and description ...\\nOutput: " -> "GE
    GSC3500DBB, Console Dishwasher, 3-piece silverware basket, Steam PreWash".
    Quirks: two metrics in one file (bleu: 141 rows, all held out by the 150-row stratum; and
    sent-transformer); the router reads some prompts as NER or retrieval (counted skips).
    """

    task_name = "Generation_PKS"


@_ecguide("ecguide_generation_pqa", "generation", size=3_249)  # 3,399 - 150
class ECGuideProductQA(_ECGuideBuilder):
    """EC-Guide Generation_PQA (Product Question and Answer, from AmazonQA): answer a customer's question.

    Source: EC-Guide (Apache-2.0). Example: "Instruction: With reference to the product \\"Fein
    63502105012 2-1/2-Inch Diamond Tile Grout Blade\\" please provide an answer to the question
    below.\\nQuestion: Can this blade be used to cut through porcelain tile that's already
    installed?\\nAnswer: " -> "No. It can not cut the tile."
    Quirks: references are real customers' answers, some long and informal; metric sent-transformer.
    """

    task_name = "Generation_PQA"


@_ecguide("ecguide_generation_rts", "generation", size=598)  # 748 - 150
class ECGuideReviewTitle(_ECGuideBuilder):
    """EC-Guide Generation_RTS (Review Title Summarization): a title for a review.

    Source: EC-Guide (Apache-2.0; from Amazon Reviews, Women's Clothing Reviews). Example: "Create a
    headline that succinctly encapsulates the main takeaway or point of focus from the provided
    review text.\\nReview: Great for layering and staying warm in the winter. ...\\nOutput: " ->
    "Great winter tunic".
    Quirks: metric sent-transformer.
    """

    task_name = "Generation_RTS"


@_ecguide("ecguide_mcq_acr_generation", "generation", size=2_279)  # 2,429 usable - 150
class ECGuideReasoningWorked(_ECGuideBuilder):
    """EC-Guide MCQ_ACR's generation rows (GSM8K): a worked arithmetic answer.

    Source: EC-Guide (Apache-2.0; GSM8K, MIT). Example: "A candle melts by 2 centimeters every hour
    that it burns. How many centimeters shorter will a candle be after burning from 1:00 PM to 5:00
    PM?" -> "The candle burns for 5 - 1 = <<5-1=4>>4 hours. Thus, the candle will be 2 * 4 =
    <<2*4=8>>8 centimeters shorter. #### 8".
    Quirks: a generation subtask inside a multiple-choice file (its own builder, since a builder has
    one task type); some prompts carry options and end "Answer: Let's think step by step." with a
    reference ending "Therefore, the answer is 1."; GSM8K's calculator notes "<<5-1=4>>" and "#### 8"
    are kept as published; references are longer than inference's 50-token generation budget;
    many rows are repeated word for word (read once).
    """

    task_name = "MCQ_ACR"


# ---- multiple choice --------------------------------------------------------------------------------

@_ecguide("ecguide_mcq_acr", "multiple-choice", size=427)  # 577 usable - 150
class ECGuideReasoningChoice(_ECGuideBuilder):
    """EC-Guide MCQ_ACR's multiple-choice rows (Arithmetic and Commonsense Reasoning): pick the answer.

    Source: EC-Guide (Apache-2.0; GSM8K, CommonsenseQA). Example: "Matthew had some crackers. If
    Matthew gave 2 crackers to each of his 11 friends How many crackers did Matthew have?\\n0. 11.7\\n
    1. 11.0\\n2. 2.0\\n3. 22.0\\nAnswer: " -> "3".
    Quirks: shares its file with generation rows (``ecguide_mcq_acr_generation``).
    """

    task_name = "MCQ_ACR"


@_ecguide("ecguide_mcq_prp", "multiple-choice", size=450)  # 504 + 246 usable - 150 - 150 held out
class ECGuideProductRelation(_ECGuideBuilder):
    """EC-Guide MCQ_PRP (Product Relation Prediction, from ECInstruct): how two products relate.

    Source: EC-Guide (Apache-2.0). Example: "Analyze the titles of Product 1 and Product 2 to determine
    if they are similar, if they will be purchased or viewed together.\\nProduct 1: \\"Siskiyou NFL
    Hashtag License Plate\\", Product 2: \\"WinCraft MLB Boston Red Sox 86901515 License Plate\\"\\n0.
    Users who buy product 1 may also buy product 2.\\n1. Users who view product 1 may also view product
    2.\\n2. The product 1 is similar with the product 2.\\nAnswer: " -> "0".
    Quirks (handled by the reader): the published options are labelled 0, 1, 3 and the third is
    answered 2, so they are renumbered by position; 246 product-matching rows answer "yes"/"no"
    (metric bool) and get the options "0. yes\\n1. no" before their "Output: " cue.
    """

    task_name = "MCQ_PRP"


@_ecguide("ecguide_mcq_qprp", "multiple-choice", size=942)  # 1,092 - 150
class ECGuideQueryProductRelation(_ECGuideBuilder):
    """EC-Guide MCQ_QPRP (Query Product Relation Prediction, from ESCI): how a product relates to a query.

    Source: EC-Guide (Apache-2.0). Example: "Determine the relevance between the query and the
    product title provided, and select your response from one of the available options.\\n \\"kids sun
    hats boys\\" and \\"Billabong Kids Boy's Boys Tides Sun Hat ...\\"\\n0. narrowing\\n1. complement\\n2.
    irrelevant\\n3. substitute\\n\\nAnswer: " -> "0".
    Quirks: some prompts leave a blank line before the answer cue.
    """

    task_name = "MCQ_QPRP"


@_ecguide("ecguide_mcq_sa", "multiple-choice", size=1_601)  # 1,751 - 150
class ECGuideSentiment(_ECGuideBuilder):
    """EC-Guide MCQ_SA (Sentiment Analysis): a review's rating on a stated 1-5 scale.

    Source: EC-Guide (Apache-2.0; from ECInstruct, Women's Clothing Reviews). Example: "Instructions:
    Evaluate the following product review on a scale of 1 to 5, with 1 being very negative and 5
    being very positive. \\nInput: Decent sound for the price. ...\\nOutput:" -> "4".
    Quirks: no option list (the scale states the options); a few reviews hold their own numbered
    lists ("1. ... 2. ..."), which are not options and are left as they are.
    """

    task_name = "MCQ_SA"


@_ecguide("ecguide_mcq_spa", "multiple-choice", size=107)  # 257 - 150
class ECGuideProductForAttribute(_ECGuideBuilder):
    """EC-Guide MCQ_SPA (Select Product based on Attribute, from ECInstruct): which product has an attribute.

    Source: EC-Guide (Apache-2.0). Example: "Identify the product listed below that might include the
    attribute light type.\\n0. Max Factory Figma Styles: Bikini Armor Makoto Figma Action Figure,
    Multicolor\\n1. Kung Pow\\n2. 5x-80x Trinocular Stereo Zoom Microscope Dual Halogen\\n3. Create
    Basics Tie Dye Kit, 47 Piece\\nAnswer: " -> "2".
    Quirks: none beyond the shared ones.
    """

    task_name = "MCQ_SPA"


# ---- NER and retrieval ------------------------------------------------------------------------------

@_ecguide("ecguide_ner", "named_entity_recognition", size=3_516)  # 3,666 usable (4 empty skipped) - 150
class ECGuideNER(_ECGuideBuilder):
    """EC-Guide NER_NER (Named Entity Recognition): an entity of a given type in a title or query.

    Source: EC-Guide (Apache-2.0; from ECInstruct, Amazon Reviews, product-attribute-extraction).
    Example: "What is the entity type 'TYPE' in product title 'KelinciMadu - Mess Shape Flatshoes -
    Brown'." -> "Flatshoes".
    Quirks: many phrasings, some without an explicit output instruction, which the router sends to
    generation (counted skips); 4 rows answer [""] (skipped by the reader); an entity holding a comma
    cannot be written in the official format "a, b" (skipped here).
    """

    task_name = "NER_NER"


@_ecguide("ecguide_retrieval_pr", "retrieval", size=1_040)  # 1,190 - 150
class ECGuideProductRecognition(_ECGuideBuilder):
    """EC-Guide Retrieval_PR (Product Recognition, from Amazon metadata): the products of a category.

    Source: EC-Guide (Apache-2.0). Example: "Given the category 'Encyclopedias', review the provided
    products. Select those that are relevant and provide their indices, separated by commas.\\n
    Products: 0. Denta Clean Finger Tooth Brush for Dogs\\n1. Palm Britannica Concise Encyclopedia
    ...\\n10. Paul Cezanne: Art Tours Interactive Guides\\n11. Bobcat Puppet\\nOutput:" -> "1, 10".
    Quirks: candidates are numbered from 0 (the first on the "Products:" line) and answers are
    0-based, kept as they are; 1-5 answers per row, all written.
    """

    task_name = "Retrieval_PR"
