"""ECInstruct (NingLab, eCeLLM): docs/datasets.md rows 11-19 and 30, converted to ShopBench's formats.

Source: HF ``NingLab/ECInstruct`` (CC BY 4.0), read by ``training/data/readers/ecinstruct.py`` into
``sources.ECInstructIndex.rows_by_task`` (train rows only; ``input``/``options`` decoded from their
JSON strings). Task names keep the dataset's own spelling, typos included.

Conversions: ECInstruct's lettered options ("A: ...") become options numbered from 0, shuffled,
with a one-digit answer; yes/no tasks become two shuffled options ("yes"/"no", or two statements);
the AVE JSON list becomes an entity list; the query-product ranking becomes a retrieval of its top
products; Sentiment_Analysis reviews also make a ranking by sentiment. ECInstruct's instructions are
rephrased in ShopBench's phrasing (several wordings per builder), keeping what they say.

Train rows come once per instruction setting (IND_Diverse_Instruction, IND_Single_Instruction, ...),
so one input can appear twice; rows are not de-duplicated, as the winners' sizes show they were not
(Product_Matching: 4,044 = 2 x 2,022 train pairs): a repeated input gets its own wording and option
order. Robustness: ``input``/``options``/``output`` are also accepted as undecoded strings (JSON or a
Python literal, as the eCeLLM notebooks wrote some of them with ``str(list)``), dict keys are read
case- and punctuation-blind ("Product 1:" = "product 1"), and NaN / "nan" values count as empty.
"""
from __future__ import annotations

import ast
import json
import math
import random
import re
from typing import ClassVar, Mapping

from training.data.builders.amazon_m2 import clip
from training.data.registry import Builder, Question, Skip, register
from training.data.rows import choose, numbered, numbers_answer, one_line, ranking_answer, shuffled_options
from training.data.sources import ECInstructIndex, ECInstructRow

# ---- shared helpers ---------------------------------------------------------------------------


def decoded(value):
    """``value`` decoded when it is still a JSON (or Python literal) string of a dict or list."""
    if isinstance(value, str):
        s = value.strip()
        if s[:1] in ("[", "{"):
            try:
                return json.loads(s)
            except ValueError:
                try:
                    return ast.literal_eval(s)
                except (ValueError, SyntaxError, MemoryError, RecursionError):
                    return value
    return value


_TAG = re.compile(r"<\s*/?\s*[a-zA-Z][a-zA-Z0-9]*\s*/?\s*>")  # "<br />", "<p>", "</b>" (reviews carry them)


def text(value) -> str:
    """A field as one line of text without HTML tags; None, NaN and "nan" are empty; a list is
    joined with "; "."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, (list, tuple)):
        return "; ".join(t for t in (text(v) for v in value) if t)
    s = one_line(_TAG.sub(" ", str(value)))
    return "" if s.lower() in ("nan", "none", "null") else s


def fields(value) -> dict:
    """A dict input with keys normalised: "Product 1:" -> "product 1", "product title" stays."""
    value = decoded(value)
    if not isinstance(value, dict):
        return {}
    return {re.sub(r"[^a-z0-9]+", " ", str(k).lower()).strip(): v for k, v in value.items()}


def need(f: dict, *keys: str) -> list:
    """The values of ``keys`` in ``f``; Skip when one is missing or empty."""
    out = []
    for k in keys:
        v = f.get(k)
        if v is None or (not isinstance(v, dict) and not text(v)):
            raise Skip(f"the input has no {k!r}")
        out.append(v)
    return out


_OPTION = re.compile(r"^\s*\(?([A-Z])\)?\s*[:.)]\s*(.*)$", re.S)
_LETTER = re.compile(r"^\s*\(?([A-Z])\)?(?=$|[\s:.),])")


def lettered_options(row: ECInstructRow) -> list[tuple[str, str]]:
    """[(letter, text), ...] from "A: text" options (position gives the letter when none is written)."""
    raw = decoded(row.options)
    if isinstance(raw, str):
        raw = [raw]
    out = []
    for i, option in enumerate(raw or ()):
        m = _OPTION.match(str(option))
        out.append((m.group(1), one_line(m.group(2))) if m else (chr(65 + i), one_line(str(option))))
    return out


def output_letter(row: ECInstructRow) -> str:
    m = _LETTER.match(row.output or "")
    if not m:
        raise Skip("the output is not an option letter")
    return m.group(1)


def yes_no(row: ECInstructRow) -> bool:
    out = (row.output or "").strip().lower()
    if out.startswith("yes"):
        return True
    if out.startswith("no"):
        return False
    raise Skip("the output is not yes or no")


def sample(items: list, rng: random.Random, n: int) -> list:
    return rng.sample(items, min(n, len(items)))


class _ECInstructBuilder(Builder):
    """Seeds are a seeded sample of the task's train rows."""

    task: ClassVar[str]

    def rows(self, index: ECInstructIndex) -> list[ECInstructRow]:
        return list(index.rows_by_task.get(self.task, []))

    def seeds(self, index: ECInstructIndex, rng: random.Random, n: int) -> list:
        return sample(self.rows(index), rng, n)

    def letter_question(self, row: ECInstructRow, rng: random.Random, keep: int | None = None, budget: float = 150):
        """The row's options (clipped to ``budget`` tokens) in a seeded order and the index of the true
        one; at most ``keep`` options: the true one and ``keep - 1`` of the others, chosen with the rng.
        Options whose text equals the answer's (or another option's) are dropped."""
        options = [(letter, clip(t, budget)) for letter, t in lettered_options(row)]
        letter = output_letter(row)
        truth = [t for l, t in options if l == letter]
        if len(options) < 2 or len(truth) != 1 or not truth[0]:
            raise Skip("the output letter is not exactly one listed option")
        others, seen = [], {truth[0].lower()}
        for l, t in options:
            if l != letter and t and t.lower() not in seen:
                seen.add(t.lower())
                others.append(t)
        if not others:
            raise Skip("no other option differs from the answer")
        if keep is not None and len(others) > keep - 1:
            others = rng.sample(others, keep - 1)
        return shuffled_options(truth[0], others, rng)


def binary_options(rng: random.Random, yes: str, no: str, truth: bool) -> tuple[str, int]:
    options, answer = shuffled_options(yes if truth else no, [no if truth else yes], rng)
    return numbered(options, start=0), answer


# ---- row 11: attribute value extraction -> NER ------------------------------------------------

_AVE_FIELDS = (("product title", "Product title", 80), ("product brand", "Brand", 20),
               ("product feature", "Features", 300), ("product description", "Description", 300),
               ("product price", "Price", 15))


@register("ecinstruct_attribute_value_extraction", source="ecinstruct", task_type="named_entity_recognition",
          size=19_622)
class ECInstructAttributeValueExtraction(_ECInstructBuilder):
    """Extract the values of one attribute from a product's text, as an entity list (dev task4's shape).

    Source: NingLab/ECInstruct Attribute_Value_Extraction (CC BY 4.0; from MAVE). Example: "You are
    a helpful online shop assistant and a linguist. ... Please extract phrases from the product
    information that correspond to the entity type 'color'. ...\\nProduct title: Nike Air Zoom ...
    Black/White\\nFeatures: ...\\nOutput: " -> "Black, White".
    Fields: input "product title/brand/feature/description/price" become labelled lines (clipped to
    ~80/20/300/300/15 tokens; any other "product ..." key, ~60); "target attributes" is not shown
    (one attribute is asked per question); output's {attribute, value, source} list gives the answer: the values of one
    attribute (chosen with the rng among those with a value in the text), each written as it occurs
    in the shown text (ECInstruct lower-cases values; the text keeps its case), found as a whole
    phrase, case-blind, de-duplicated. "source" is not used (the whole text is searched). Skipped:
    MAVE negatives (value None), values that do not occur in the shown text, and values holding a
    comma (the answer is comma-separated).
    """

    task = "Attribute_Value_Extraction"
    instructions = (
        "You are a helpful online shop assistant and a linguist. A customer on an online shopping platform is looking "
        "at the following product. Please extract phrases from the product information that correspond to the "
        "entity type '{attribute}'. \nPlease directly output the entity without repeating the entity type. If there "
        "are multiple such entities, separate them with comma. Do not give explanations. \n{product}\nOutput: ",
        "{product}\nExtract all phrases from the product information above that state the product's {attribute}. "
        "Output them separated by commas, exactly as they appear in the text.\nOutput: ",
        "Find the values of the attribute '{attribute}' in the product listing below. List each value as it is "
        "written in the listing, separated with commas.\n{product}\nOutput: ",
        "Identify every mention of the product's {attribute} in the following product text (entity type: "
        "{attribute}). Separate multiple entities with a comma.\n{product}\nOutput: ",
    )

    def question(self, row: ECInstructRow, lookup: Mapping, rng: random.Random) -> Question:
        f = fields(row.input)
        known = {key for key, _, _ in _AVE_FIELDS}
        extra = [(k, k[len("product "):].capitalize(), 60) for k in f
                 if k.startswith("product ") and k not in known]  # e.g. a "product category" paragraph
        lines = [(label, clip(text(f.get(key)), budget)) for key, label, budget in (*_AVE_FIELDS, *extra)]
        lines = [(label, value) for label, value in lines if value]
        if not lines:
            raise Skip("the input has no product text")
        product = "\n".join(f"{label}: {value}" for label, value in lines)
        body = "\n".join(value for _, value in lines)
        labels = decoded(row.output)
        if not isinstance(labels, list):
            raise Skip("the output is not a list of attribute values")
        by_attribute: dict[str, list[str]] = {}
        any_value = False
        for item in labels:
            if not isinstance(item, dict) or not text(item.get("attribute")):
                continue
            value = text(item.get("value"))
            if not value or "," in value:
                continue
            any_value = True
            m = re.search(r"(?<!\w)" + re.escape(value) + r"(?!\w)", body, re.IGNORECASE)
            if m:
                found = by_attribute.setdefault(text(item["attribute"]), [])
                if m.group(0).lower() not in (v.lower() for v in found):
                    found.append(m.group(0))
        if not any_value:
            raise Skip("the attribute has no value (a MAVE negative)")
        if not by_attribute:
            raise Skip("no attribute value occurs in the shown product text")
        attribute = rng.choice(list(by_attribute))
        prompt = choose(rng, self.instructions, attribute=attribute, product=product)
        return Question(prompt, ", ".join(by_attribute[attribute]))


# ---- row 12: multiclass product classification (query-product ESCI relation) ----------------------

@register("ecinstruct_product_classification", source="ecinstruct", task_type="multiple-choice", size=10_000)
class ECInstructProductClassification(_ECInstructBuilder):
    """How a product relates to a query: the four ESCI classes as multiple choice.

    Source: NingLab/ECInstruct Multiclass_Product_Classification (CC BY 4.0; from ESCI, us).
    Example: "A user has made a query with keyword 'iphone 11 case'. Which of the following
    statements best describes the relation between the query and the product 'OtterBox Defender
    Series Case for iPhone 11'?\\n0. The product is irrelevant to the query.\\n1. The product is
    relevant to the query, and satisfies all the query specifications.\\n2. ...\\n3. ...\\nAnswer: "
    -> "1".
    Fields: input "query" and "product title" go into the question; the four option texts are kept
    word for word (their letters dropped) and shuffled; the output letter gives the answer.
    """

    task = "Multiclass_Product_Classification"
    instructions = (
        "A user has made a query with keyword '{query}'. Which of the following statements best describes the "
        "relation between the query and the product '{title}'?\n{options}\nAnswer: ",
        "Query: {query}\nProduct title: {title}\nWhat is the relevance between the query and the product title "
        "above? Choose one of the following options.\n{options}\nAnswer: ",
        "{options}\nWhich of the statements above best describes how the product '{title}' relates to the search "
        "query '{query}'?\nAnswer: ",
    )

    def question(self, row: ECInstructRow, lookup: Mapping, rng: random.Random) -> Question:
        query, title = need(fields(row.input), "query", "product title")
        options, answer = self.letter_question(row, rng)
        prompt = choose(rng, self.instructions, query=clip(text(query), 40), title=clip(text(title), 100),
                        options=numbered(options, start=0))
        return Question(prompt, str(answer))


# ---- row 13: product relation prediction ------------------------------------------------------

@register("ecinstruct_product_relation", source="ecinstruct", task_type="multiple-choice", size=10_000)
class ECInstructProductRelation(_ECInstructBuilder):
    """Two product titles: bought together, viewed together or similar (multiple choice).

    Source: NingLab/ECInstruct Product_Relation_Predicition (CC BY 4.0; from Amazon Reviews 2018
    also_buy / also_view / similar_item). Example: "Given the titles of two products, which of the
    following statements best describes their relation?\\nProduct 1: Cooler Master HAF X ...\\nProduct
    2: G.Skill Ripjaws V ...\\n0. Users who view product 1 may also view product 2.\\n1. Users who buy
    product 1 may also buy product 2.\\n2. The product 1 is similar with the product 2.\\nAnswer: " -> "1".
    Fields: input "Product 1:" / "Product 2:" titles (clipped to ~100 tokens), the three option
    texts word for word, shuffled; the output letter gives the answer. Options always come last, as
    the "Product 1:" lines would otherwise read as a numbered list.
    """

    task = "Product_Relation_Predicition"
    instructions = (
        "Given the titles of two products, which of the following statements best describes their relation?\n"
        "Product 1: {p1}\nProduct 2: {p2}\n{options}\nAnswer: ",
        "The products '{p1}' (product 1) and '{p2}' (product 2) are sold on an online shopping website. Which of "
        "the following relations between them is most likely?\n{options}\nAnswer: ",
        "Product 1: {p1}\nProduct 2: {p2}\nAre these two products similar, or are they bought or viewed together? "
        "Choose the option that describes their relation.\n{options}\nAnswer: ",
    )

    def question(self, row: ECInstructRow, lookup: Mapping, rng: random.Random) -> Question:
        p1, p2 = need(fields(row.input), "product 1", "product 2")
        options, answer = self.letter_question(row, rng)
        prompt = choose(rng, self.instructions, p1=clip(text(p1), 100), p2=clip(text(p2), 100),
                        options=numbered(options, start=0))
        return Question(prompt, str(answer))


# ---- row 14: query product ranking -> retrieval ---------------------------------------------------

_STOP = {"and", "for", "the", "with", "from", "that", "this", "not", "are", "you", "your", "all", "any", "can",
         "its", "our", "who", "new", "set", "pack", "one", "two", "inch", "size"}


def content_words(s: str) -> set[str]:
    """Words of 3+ letters or digits, without a few function words ("for", "with", ...)."""
    return {w for w in re.findall(r"[a-z0-9]{3,}", s.lower()) if w not in _STOP}


@register("ecinstruct_query_product_rank", source="ecinstruct", task_type="retrieval", size=10_000)
class ECInstructQueryProductRank(_ECInstructBuilder):
    """Select the products most relevant to a query from a list (the top of ECInstruct's ranking).

    Source: NingLab/ECInstruct Query_Product_Ranking (CC BY 4.0; from ESCI, us). Example: "A user
    has made a query with keyword 'jeep liberty lift'. Given the following numbered list of 10
    products, please select the 2 products that are most relevant to the query.\nProduct List:
    \n1. ...\n10. ...\nYou should output 2 numbers ...\nOutput: " -> "4, 9".
    Fields: input "query" and "product list" ("A: title", 2-4 products, one per ESCI label); the
    output's ranked letters ("B,A,C": E before S before C before I) give the answer: the top of the
    ranking, at most 3 products, in ranked order - every product ranked above the row's last one.
    The last-ranked product (its "I", irrelevant, in every 4-product row and in 3 of 4 three-product
    rows; else its weakest label) stays in the list as a hard negative rather than being taught as
    a relevant result (the plain "top 3" would include it whenever a row has 2 or 3 products). The
    list is filled up to 10 or 15 candidates with product titles from other Query_Product_Ranking
    rows (real items of the same source, presumed irrelevant: their query differs and they share no
    content word of 3+ characters with this query). Limits: the answer holds 1-3 numbers (1 when a
    row ranks only 2 products); a product of another query can still be relevant despite the word
    filter.
    """

    task = "Query_Product_Ranking"
    output_rule = ("You should output {m} numbers that correspond to the selected products. There should be a comma "
                   "separating every two numbers. Only respond with the results. Do not say any word or explanations.")
    output_rule_one = ("You should output the number that corresponds to the selected product. Only respond with the "
                       "result. Do not say any word or explanations.")
    instructions = (
        "A user has made a query with keyword '{query}'. Given the following numbered list of {n} products, please "
        "select {the_m_products} that {are} most relevant to the query.\nProduct List: \n{candidates}\n{rule}"
        "\nOutput: ",
        "You are a helpful shop assistant. A user searched for '{query}'. Please select {the_m_products} that best "
        "{match} the query from the following numbered list.\nProduct List: \n{candidates}\n{rule}\nOutput: ",
        "Product List: \n{candidates}\n{which_m_products} from the list above {are} the best {results} for the search "
        "query '{query}'? {output_only}\nOutput: ",
    )

    def seeds(self, index: ECInstructIndex, rng: random.Random, n: int) -> list:
        rows = self.rows(index)
        return [(row, rows) for row in sample(rows, rng, n)]

    @staticmethod
    def products(row: ECInstructRow) -> tuple[str, list[tuple[str, str]]]:
        f = fields(row.input)
        query, listed = need(f, "query", "product list")
        listed = decoded(listed)
        if isinstance(listed, str):
            listed = [listed]
        items = []
        for i, entry in enumerate(listed or ()):
            m = _OPTION.match(str(entry))
            items.append((m.group(1), text(m.group(2))) if m else (chr(65 + i), text(entry)))
        return text(query), items

    @staticmethod
    def phrasing(m: int) -> dict:
        one = m == 1
        return dict(
            the_m_products="the product" if one else f"the {m} products", are="is" if one else "are",
            match="matches" if one else "match", which_m_products="Which product" if one else f"Which {m} products",
            results="result" if one else "results",
            output_only="Output only its number." if one else "Output only their numbers, separated by commas.",
        )

    def question(self, seed, lookup: Mapping, rng: random.Random) -> Question:
        row, pool = seed
        query, items = self.products(row)
        titles = dict(items)
        ranked = [x.strip()[:1] for x in (row.output or "").split(",") if x.strip()]
        if len(ranked) < 2 or len(set(ranked)) != len(ranked) or any(r not in titles or not titles[r] for r in ranked):
            raise Skip("the output is not a ranking of the listed products")
        m = min(3, len(ranked) - 1)  # never the last-ranked product
        ours = [clip(titles[letter], 45) for letter in [*ranked, *(l for l, _ in items if l not in ranked)]]
        if len({t.lower() for t in ours}) < len(ours):
            raise Skip("two listed products share a title")
        size = rng.choice((10, 15))
        words = content_words(query)
        seen = {t.lower() for t in ours}
        distractors: list[str] = []
        for _ in range(20 * size):
            if len(distractors) == size - len(ours) or not pool:
                break
            other = pool[rng.randrange(len(pool))]
            try:
                other_query, other_items = self.products(other)
            except Skip:
                continue
            if other_query.lower() == query.lower() or not other_items:
                continue
            title = clip(rng.choice(other_items)[1], 45)
            if not title or title.lower() in seen or words & content_words(title):
                continue
            seen.add(title.lower())
            distractors.append(title)
        if len(distractors) < size - len(ours):
            raise Skip("fewer distractor products from other queries than needed")
        all_items = ours + distractors
        order = list(range(len(all_items)))
        rng.shuffle(order)
        listed = [all_items[i] for i in order]
        answer = [order.index(i) + 1 for i in range(m)]  # ours[:m] = the top m, in ranked order
        rule = self.output_rule_one if m == 1 else self.output_rule.format(m=m)
        prompt = choose(rng, self.instructions, query=clip(query, 40), n=len(listed), candidates=numbered(listed),
                        rule=rule, **self.phrasing(m))
        return Question(prompt, numbers_answer(answer))


# ---- row 15: sequential recommendation --------------------------------------------------------

_ORDINAL = re.compile(r"^\s*\d+\s*(?:st|nd|rd|th)\s*[:.]\s*", re.IGNORECASE)


@register("ecinstruct_sequential_recommendation", source="ecinstruct", task_type="multiple-choice", size=10_000)
class ECInstructSequentialRecommendation(_ECInstructBuilder):
    """Pick the product a user buys next, given the purchase history (multiple choice, 0-9).

    Source: NingLab/ECInstruct Sequential_Recommendation (CC BY 4.0; from Amazon Reviews 2018).
    Example: "A user on an online shopping website has purchased the following products, in this
    order:\\n- Case Logic ... Camera Case. Electronics. Camera & Photo. Case Logic.\\n- ...\\nWhich of the
    following products is the user most likely to purchase next?\\n0. ...\\n9. ...\\nAnswer: " -> "6".
    Fields: input, the history ("1st: <title. category. brand.>", ...), loses its ordinals and keeps
    its last 10 items (the most recent; older ones would push the prompt past ~1,500 tokens);
    options A-T (20 candidates) are cut to the true one plus 9 others chosen with the rng, since a
    ShopBench answer is ONE digit 0-9, then shuffled and renumbered 0-9; the output letter gives
    the answer. Item texts are clipped to ~45 tokens.
    """

    task = "Sequential_Recommendation"
    history_items = 10
    instructions = (
        "A user on an online shopping website has purchased the following products, in this order:\n{history}\n"
        "Which of the following products is the user most likely to purchase next?\n{options}\nAnswer: ",
        "Given the products the user has purchased in history, which of the following items is the user most likely "
        "to purchase next?\nPurchase history:\n{history}\n{options}\nAnswer: ",
        "Purchase history of a customer (oldest first):\n{history}\nBased on this history, predict the next product "
        "the customer will buy. Choose one of the following options.\n{options}\nAnswer: ",
    )

    def question(self, row: ECInstructRow, lookup: Mapping, rng: random.Random) -> Question:
        history = decoded(row.input)
        if isinstance(history, dict):
            history = next((v for v in history.values() if isinstance(decoded(v), list)), [])
            history = decoded(history)
        if isinstance(history, str):
            history = [history]
        items = [clip(_ORDINAL.sub("", text(h)), 45) for h in history or ()]
        items = [i for i in items if i][-self.history_items:]
        if not items:
            raise Skip("the input has no purchase history")
        options, answer = self.letter_question(row, rng, keep=10, budget=45)
        prompt = choose(rng, self.instructions, history="\n".join(f"- {i}" for i in items),
                        options=numbered(options, start=0))
        return Question(prompt, str(answer))


# ---- rows 16, 17, 18: yes/no tasks as two options ------------------------------------------------

@register("ecinstruct_answerability", source="ecinstruct", task_type="multiple-choice", size=10_000)
class ECInstructAnswerability(_ECInstructBuilder):
    """Can a product question be answered from review snippets? (two options)

    Source: NingLab/ECInstruct Answerability_Prediction (CC BY 4.0; from AmazonQA). Example: "Given a
    question about a product and a document made of review snippets, can the question be answered
    with the information in the document?\\nQuestion: does it fit a 2015 model?\\nDocument:\\n- ...\\n- ...
    \\n0. no\\n1. yes\\nAnswer: " -> "1".
    Fields: input "question" (clipped to ~80 tokens) and "document" (a list of snippets: at most 10,
    each ~80 tokens, as "- " lines); output yes/no picks the option; the two options ("yes"/"no" or
    two statements) are shuffled.
    """

    task = "Answerability_Prediction"
    instructions = (
        "Given a question about a product and a document made of review snippets, can the question be answered with "
        "the information in the document?\nQuestion: {question}\nDocument:\n{document}\n{options}\nAnswer: ",
        "A customer asked the question '{question}' about a product. Based on the following reviews of the product, "
        "is the question answerable?\nReviews:\n{document}\n{options}\nAnswer: ",
        "Document:\n{document}\nQuestion: {question}\nDoes the document above contain the information needed to "
        "answer the question?\n{options}\nAnswer: ",
    )
    labels = (("yes", "no"), ("Yes, the document answers the question.", "No, the document does not answer it."))

    def question(self, row: ECInstructRow, lookup: Mapping, rng: random.Random) -> Question:
        question, document = need(fields(row.input), "question", "document")
        document = decoded(document)
        snippets = document if isinstance(document, (list, tuple)) else [document]
        lines = [clip(text(s), 80) for s in snippets]
        lines = [s for s in lines if s][:10]
        options, answer = binary_options(rng, *rng.choice(self.labels), yes_no(row))
        prompt = choose(rng, self.instructions, question=clip(text(question), 80),
                        document="\n".join(f"- {s}" for s in lines), options=options)
        return Question(prompt, str(answer))


def _product_text(value) -> str:
    """A Product_Matching product dict as "title: ...; description: ...; manufacturer: ...; price: ..."."""
    f = fields(value)
    parts = []
    for key, budget in (("title", 60), ("description", 90), ("manufacturer", 15), ("price", 10)):
        v = clip(text(f.get(key)), budget)
        if v:
            parts.append(f"{key}: {v}")
    return "; ".join(parts) if parts else clip(text(value), 150)


@register("ecinstruct_product_matching", source="ecinstruct", task_type="multiple-choice", size=4_044)
class ECInstructProductMatching(_ECInstructBuilder):
    """Are two product listings the same product? (two options)

    Source: NingLab/ECInstruct Product_Matching (CC BY 4.0; from Amazon-Google Products). Example:
    "Are the following two products the same product?\\nProduct 1: title: weekly reader preparing
    for kindergarten; manufacturer: fogware publishing; price: 19.99\\nProduct 2: title: mcafee inc
    total protection 2007 3-user; ...\\n0. yes\\n1. no\\nAnswer: " -> "1".
    Fields: input "product 1"/"product 2" (title, description ~90 tokens, manufacturer, price; NaN
    and "nan" dropped); output yes/no picks the option; options shuffled. Options come last, as the
    "Product 1:" lines would otherwise read as a numbered list.
    """

    task = "Product_Matching"
    instructions = (
        "Are the following two products the same product?\nProduct 1: {p1}\nProduct 2: {p2}\n{options}\nAnswer: ",
        "Given the title, description, manufacturer, and price of two products, do they refer to the same product?\n"
        "Product 1: {p1}\nProduct 2: {p2}\n{options}\nAnswer: ",
        "Product 1: {p1}\nProduct 2: {p2}\nBased on the product information above, are product 1 and product 2 "
        "identical?\n{options}\nAnswer: ",
    )
    labels = (("yes", "no"), ("They are the same product.", "They are different products."))

    def question(self, row: ECInstructRow, lookup: Mapping, rng: random.Random) -> Question:
        p1, p2 = need(fields(row.input), "product 1", "product 2")
        options, answer = binary_options(rng, *rng.choice(self.labels), yes_no(row))
        prompt = choose(rng, self.instructions, p1=_product_text(p1), p2=_product_text(p2), options=options)
        return Question(prompt, str(answer))


@register("ecinstruct_substitute_identification", source="ecinstruct", task_type="multiple-choice", size=10_000)
class ECInstructSubstituteIdentification(_ECInstructBuilder):
    """Is a product a functional substitute for a query? (two options)

    Source: NingLab/ECInstruct Product_Substitue_Identification (CC BY 4.0; from ESCI, us; "yes" =
    ESCI label S). Example: "A user has made a query with keyword 'usb c hub'. Is the product
    'Anker USB 3.0 Hub, 4 Port' somewhat relevant to it, failing to fulfil some aspects of the query
    but usable as a functional substitute?\\n0. yes\\n1. no\\nAnswer: " -> "0".
    Fields: input "query" and "product" (the title); output yes/no picks the option; options
    shuffled.
    """

    task = "Product_Substitue_Identification"
    instructions = (
        "A user has made a query with keyword '{query}'. Is the product '{product}' somewhat relevant to it, failing "
        "to fulfil some aspects of the query but usable as a functional substitute?\n{options}\nAnswer: ",
        "Query: {query}\nProduct: {product}\nCan the product above be used as a functional substitute for what the "
        "query asks for, although it does not fulfil all of its specifications?\n{options}\nAnswer: ",
        "Given a query and a product, identify whether the product is a substitute for the query (somewhat relevant, "
        "but not meeting every aspect of it).\nQuery: {query}\nProduct: {product}\n{options}\nAnswer: ",
    )
    labels = (("yes", "no"), ("It is a functional substitute.", "It is not a functional substitute."))

    def question(self, row: ECInstructRow, lookup: Mapping, rng: random.Random) -> Question:
        f = fields(row.input)
        query, = need(f, "query")
        product = f.get("product") if text(f.get("product")) else f.get("product title")
        if not text(product):
            raise Skip("the input has no 'product'")
        options, answer = binary_options(rng, *rng.choice(self.labels), yes_no(row))
        prompt = choose(rng, self.instructions, query=clip(text(query), 40), product=clip(text(product), 100),
                        options=options)
        return Question(prompt, str(answer))


# ---- row 19: sentiment ----------------------------------------------------------------------------

def review_text(row: ECInstructRow, budget: float) -> str:
    value = decoded(row.input)
    if isinstance(value, dict):
        f = fields(value)
        value = f.get("review") or f.get("review text") or next(iter(f.values()), "")
    return clip(text(value), budget)


@register("ecinstruct_sentiment", source="ecinstruct", task_type="multiple-choice", size=10_000)
class ECInstructSentiment(_ECInstructBuilder):
    """The sentiment of a product review, from very positive to very negative (multiple choice).

    Source: NingLab/ECInstruct Sentiment_Analysis (CC BY 4.0; from Amazon Reviews 2018). Example:
    "Given the following product review, which of the following best describes the sentiment of the
    reviewer?\\nReview: Runs small and the fabric doesn't stretch ...\\n0. neutral\\n1. very negative\\n2.
    positive\\n3. very positive\\n4. negative\\nAnswer: " -> "1".
    Fields: input, the review text (clipped to ~400 tokens); the five option labels word for word,
    shuffled; the output letter gives the answer.
    """

    task = "Sentiment_Analysis"
    instructions = (
        "Given the following product review, which of the following best describes the sentiment of the reviewer?\n"
        "Review: {review}\n{options}\nAnswer: ",
        "Review: {review}\nWhat is the sentiment expressed in the review above?\n{options}\nAnswer: ",
        "A customer wrote the following review on an online shopping website: \"{review}\" Which of the following "
        "options describes the customer's sentiment?\n{options}\nAnswer: ",
    )

    def question(self, row: ECInstructRow, lookup: Mapping, rng: random.Random) -> Question:
        review = review_text(row, 400)
        if not review:
            raise Skip("the input has no review text")
        options, answer = self.letter_question(row, rng)
        prompt = choose(rng, self.instructions, review=review, options=numbered(options, start=0))
        return Question(prompt, str(answer))


# ---- row 30: rank reviews by sentiment (own idea) -----------------------------------------------

SENTIMENT_LEVEL = {"very positive": 5, "positive": 4, "neutral": 3, "negative": 2, "very negative": 1}
LETTER_LEVEL = {"A": 5, "B": 4, "C": 3, "D": 2, "E": 1}  # ECInstruct's order when a label is unknown


def sentiment_level(row: ECInstructRow) -> int | None:
    """5 (very positive) .. 1 (very negative), from the output's option text, else its letter."""
    try:
        letter = output_letter(row)
    except Skip:
        return None
    label = next((t for l, t in lettered_options(row) if l == letter), "")
    level = SENTIMENT_LEVEL.get(label.strip(" .").lower())
    return level if level is not None else LETTER_LEVEL.get(letter)


@register("ecinstruct_review_sentiment_ranking", source="ecinstruct", task_type="ranking", size=5_000)
class ECInstructReviewSentimentRanking(_ECInstructBuilder):
    """Rank 5 product reviews from the most positive to the most negative.

    Source: NingLab/ECInstruct Sentiment_Analysis (CC BY 4.0; from Amazon Reviews 2018). Example:
    "The following numbered list contains 5 product reviews. Please rank the reviews according to
    their sentiment, from the most positive to the most negative.\\nReview List: \\n1. ...\\n5. ...\\nYou
    should output a permutation of 1 to 5. ...\\nOutput: " -> "3, 1, 5, 2, 4".
    Fields: each group takes one review per sentiment label (very positive, positive, neutral,
    negative, very negative: the output's option text, else its letter A-E), so no two candidates
    tie; reviews are clipped to ~110 tokens and shuffled. With fewer than 5 labels in the data a
    group holds one review per available label (3 at least; else the seed is skipped).
    """

    task = "Sentiment_Analysis"
    permutation_rule = ("You should output a permutation of 1 to {n}. There should be a comma separating two "
                        "numbers. Each review and its number should appear only once in the output. Only respond "
                        "with the ranking results. Do not say any word or explanations.")
    instructions = (
        "The following numbered list contains {n} product reviews. Please rank the reviews according to their "
        "sentiment, from the most positive to the most negative.\nReview List: \n{reviews}\n{rule}\nOutput: ",
        "Given the following numbered list of {n} reviews written by customers of an online shopping website, "
        "please rank the reviews from the most positive to the most negative.\nReview List: \n{reviews}\n{rule}"
        "\nOutput: ",
        "Review List: \n{reviews}\nRank the reviews above by how positive they are: the most positive review first, "
        "the most negative last. Output only the review numbers, separated by commas.\nOutput: ",
    )

    def seeds(self, index: ECInstructIndex, rng: random.Random, n: int) -> list:
        buckets: dict[int, list[ECInstructRow]] = {}
        for row in self.rows(index):
            level = sentiment_level(row)
            if level is not None:
                buckets.setdefault(level, []).append(row)
        levels = sorted(buckets, reverse=True)
        if not levels:
            return []
        out = []
        for _ in range(min(n, sum(len(b) for b in buckets.values()))):
            out.append(tuple((level, rng.choice(buckets[level])) for level in levels))
        return out

    def question(self, group, lookup: Mapping, rng: random.Random) -> Question:
        if len(group) < 3:
            raise Skip("fewer than 3 sentiment labels in the source")
        reviews = [(level, review_text(row, 110)) for level, row in group]
        if any(not r for _, r in reviews):
            raise Skip("a review has no text")
        if len({r.lower() for _, r in reviews}) < len(reviews):
            raise Skip("two reviews of the group are the same text")
        rng.shuffle(reviews)
        n = len(reviews)
        prompt = choose(rng, self.instructions, n=n, reviews=numbered([r for _, r in reviews]),
                        rule=self.permutation_rule.format(n=n))
        return Question(prompt, ranking_answer([level for level, _ in reviews]))
