"""The teacher's prompts and their wording: the system prompt, the three methods' request templates
(``str.format`` fields in braces; literal braces doubled), the instruction templates that wrap an
LLM-written question into the emitted ShopBench prompt, the entity types ``enrich`` asks for, and
the budgets: new tokens per method and caps on the seed text put into a prompt.
"""

METHODS = ("enrich", "reword", "build_task")


TEACHER_SYSTEM_PROMPT = (
    "You are a careful data writer for an online shopping assistant. "
    "Follow the requested output format exactly and output nothing else."
)

ENRICH_PROMPT = """Read the product below and describe it as JSON.

Product title: {title}
Product text:
{details}

Return one JSON object with exactly these keys:
"product_type": what kind of product it is, in 1 to 4 lower-case words (e.g. "running shoes", "phone case"),
"category": the broad shopping category (e.g. "Clothing, Shoes & Jewelry", "Electronics"),
"entities": an object that maps an attribute name to the list of values the title or text mention for it, copied as written. Use only these names: {entity_types}. Leave out attributes that are not mentioned.
Output only the JSON object."""

REWORD_PROMPT = """The template below is the instruction of an online-shopping exam question ({task}; the answer is {answer_format}). Words in curly braces, such as {example}, are placeholders that a program fills in later.

Template (as a JSON string):
{template}

Write {n} new templates that ask for exactly the same thing in different words. Rules:
- Keep each of these placeholders exactly once, spelled exactly the same: {placeholders}.
- Add no other curly braces.
- A placeholder that stands alone on its line in the template must stand alone on its line in yours too.
- Keep the answer format and the answer cue at the end (such as "Answer: ").
Output a JSON list of {n} strings and nothing else."""

BUILD_ATTRIBUTE_PROMPT = """You write exam questions for an online shopping assistant.

Product:
{product}

Target attribute: {attribute}
Correct answer: {value}

Write one multiple-choice question that asks for this product's {attribute}, with four options: the correct answer "{value}" and three plausible but wrong values of the same kind. Do not give the answer away in the question.
Output one JSON object and nothing else:
{{"question": "...", "options": ["...", "...", "...", "..."], "answer": <the index 0-3 of the correct option>}}"""

BUILD_QUERY_PRODUCTS_PROMPT = """A shopper searched an online store for "{query}". These products were listed:
{products}

Write one new question a shopper could ask, in natural words and different from the search text, that exactly three of the listed products answer well. Give the numbers of those three products, best first.
Output one JSON object and nothing else:
{{"question": "...", "answer": [<number>, <number>, <number>]}}"""

BUILD_DOCUMENTS_PROMPT = """Here is information about the product "{title}":
{documents}

Write one question a shopper might ask about this product that the information answers, and its answer in one or two sentences (at most 40 words), using only facts stated in the information.
Output one JSON object and nothing else:
{{"question": "...", "answer": "..."}}"""

# The instruction templates that wrap an LLM-written question into the emitted ShopBench prompt
# (several wordings per kind, one picked per question with the seeded generator).
ATTRIBUTE_QUESTION_TEMPLATES = (
    "{product}\n{question}\n{options}\nAnswer: ",
    "Read the product information below and answer the question with the number of the correct option.\n"
    "{product}\nQuestion: {question}\n{options}\nAnswer: ",
    "Product information:\n{product}\n\nQuestion: {question}\nOptions:\n{options}\nAnswer: ",
)
QUERY_QUESTION_TEMPLATES = (
    'A shopper asks: "{question}"\nSelect the three products from the list below that best answer this, '
    "and output their numbers separated by commas.\n{products}\nAnswer: ",
    'Given the shopping question "{question}", which three of the following products fit it best? '
    "Answer with three numbers separated by commas.\n{products}\nAnswer: ",
    "Here is a numbered list of {count} products:\n{products}\n"
    'A customer is looking for the following: "{question}". Choose the 3 products that suit the customer '
    "best and output their numbers, separated by commas.\nAnswer: ",
)
DOCUMENT_QUESTION_TEMPLATES = (
    "Answer the question about the product using the information below.\nProduct: {title}\n{documents}\n"
    "Question: {question}\nAnswer:",
    '{documents}\nBased on the information above about "{title}", answer the following question in one or '
    "two sentences.\n{question}",
    "Product: {title}\nDetails:\n{documents}\n\nQuestion: {question}\nAnswer:",
)

ENTITY_TYPES = (
    "brand", "color", "material", "size", "model", "flavor", "scent", "style", "pattern", "quantity",
    "target_audience", "compatibility",
)

# Default output budgets (new tokens) and caps on the seed text put into a prompt, so that a
# prompt stays well inside a 3,072-token context.
MAX_NEW_TOKENS = {"enrich": 256, "reword": 480, "build_task": 256}
MAX_DETAILS_CHARS = 1500  # product text in an enrich / attribute prompt
MAX_DOC_CHARS = 500  # one document (a bullet point, a review) in a documents prompt
MAX_DOCS = 5
MAX_TITLE_CHARS = 200
QUERY_LIST_SIZE = 8  # products listed in a query_products question (> 5: a retrieval list)
QUERY_MIN_LIST = 6
