"""General-purpose data: MMLU (+ auxiliary train) and Alpaca-cleaned (docs/datasets.md rows 20, 21)."""
from __future__ import annotations

import random

from training.data.registry import Builder, Question, Skip, register
from training.data.rows import choose, numbered
from training.data.sources import AlpacaIndex, AlpacaRow, MMLUIndex, MMLUQuestion


def sample(items: list, rng: random.Random, n: int) -> list:
    """``n`` items in a seeded random order (all of them when there are fewer)."""
    return rng.sample(items, min(n, len(items)))


@register("mmlu_general_knowledge", source="mmlu", task_type="multiple-choice", size=115_700)
class MMLUGeneralKnowledge(Builder):
    """General knowledge and reasoning: MMLU questions (and its auxiliary train) as 0-3 multiple choice.

    Source: cais/mmlu (MIT; auxiliary_train gathers ARC, MCTest, OBQA, RACE...) or the original
    hendrycks CSVs. Example: "The following is a question about marketing.\\nWhich of the
    following ...?\\n0. ...\\n1. ...\\n2. ...\\n3. ...\\nAnswer: " -> "2".
    Quirks: options keep MMLU's order (answers like "Both A and B" refer to it), numbered 0-3;
    auxiliary_train rows have no subject, so the subject line is left out for them.
    """

    instructions = (
        "The following is a multiple-choice question about {subject}.\n{question}\n{options}\nAnswer: ",
        "{question}\n{options}\nAnswer: ",
        "Answer the following question about {subject} with the number of the correct option.\n{question}\n{options}\nAnswer: ",
        "Question: {question}\n{options}\nAnswer: ",
    )
    without_subject = (1, 3)  # wordings that need no subject

    def seeds(self, index: MMLUIndex, rng: random.Random, n: int) -> list[MMLUQuestion]:
        return sample(index.questions, rng, n)

    def question(self, seed: MMLUQuestion, lookup, rng: random.Random) -> Question:
        wordings = self.instructions if seed.subject else [self.instructions[i] for i in self.without_subject]
        prompt = choose(rng, wordings, subject=seed.subject.replace("_", " "), question=seed.question,
                        options=numbered(seed.choices, start=0))
        return Question(prompt, str(seed.answer))


@register("alpaca_instruction_following", source="alpaca_cleaned", task_type="generation", size=51_760)
class AlpacaInstructionFollowing(Builder):
    """General instruction following: Alpaca-cleaned instructions with their reference outputs.

    Source: gururise/AlpacaDataCleaned (= HF yahma/alpaca-cleaned; CC BY-NC 4.0 from Stanford
    Alpaca, treat as non-commercial). Example: "Instructions: Give three tips for staying
    healthy.\\nOutput:" -> "1. Eat a balanced diet ...".
    Quirks: outputs are kept whole (several lines), as the winners trained on them; an input, when
    present, becomes an "Input:" line, the dev questions' own shape ("Instructions: ... Input: ...
    Output:"). Rows the router would not read as generation (an Alpaca "rank these ..." with a
    numbered list) are skipped by the build's check and counted.
    """

    instructions = (
        "Instructions: {instruction}\n{input}Output:",
        "{instruction}\n{input}Output:",
        "{instruction}\n{input}",
    )

    def seeds(self, index: AlpacaIndex, rng: random.Random, n: int) -> list[AlpacaRow]:
        return sample(index.rows, rng, n)

    def question(self, seed: AlpacaRow, lookup, rng: random.Random) -> Question:
        if not seed.output.strip():
            raise Skip("empty output")
        extra = f"Input: {seed.input.strip()}\n" if seed.input.strip() else ""
        return Question(choose(rng, self.instructions, instruction=seed.instruction.strip(), input=extra),
                        seed.output.strip())
