"""Synthetic training data made by an LLM through the project's own engines (the slides' three methods).

    shopbench synthetic enrich     --model DIR --sources DIR --out DIR [--source NAME ...]
    shopbench synthetic reword     --model DIR --out DIR [--dataset NAME ...] [--n 3]
    shopbench synthetic build-task --model DIR --sources DIR --out DIR [--dataset NAME ...]
        common: [--engine transformers|vllm] [--limit N] [--batch-size N] [--max-new-tokens N]
                [--cache FILE] [--model-id ID] [--seed S] [--no-progress | --progress]

The transformers engine runs in the core environment (``make eval``); ``--engine vllm`` needs vLLM
(``make vllm`` on a CPU, requirements.txt on GPUs), checked before anything is read.

The three methods (docs/reference.md section 5), each a preparer of requests from seed data, a module-level
prompt template, and a strict parser of the LLM's answer:

1. **build a task** (:func:`run_build_task`, kinds in :data:`KINDS`): from seed data the LLM writes a
   new ShopBench-style question and its answer, which we wrap in one of our instruction templates:
   ``attribute`` (a product's attributes + a target attribute -> a multiple-choice question,
   :data:`BUILD_ATTRIBUTE_PROMPT`), ``query_products`` (an ESCI query + 8 listed products -> a
   shopper's question and the 3 products that answer it, retrieval, :data:`BUILD_QUERY_PRODUCTS_PROMPT`),
   ``documents`` (a product's description/bullets or its reviews -> a question they answer and
   the answer, generation, :data:`BUILD_DOCUMENTS_PROMPT`). Every question is checked by
   :func:`training.data.rows.check` for its task type and written as a :func:`training.data.rows.to_row`
   row (dataset ``synthetic_build_task_<kind>``, source = the seed's source). Invalid outputs are
   counted with their reason and never written.
2. **enrich seed data** (:func:`run_enrich`, :data:`ENRICH_PROMPT`): per product (ESCI, Amazon-M2 or
   Amazon Reviews 2023 metadata) the LLM names the product type, a broad category and the entities
   (brand, color, material, ...) the title and description mention; values not found in the
   product's text are dropped. :func:`load_enrichment` gives builders a lookup by the source's own
   key (``(locale, id)`` or ``parent_asin``); ``shopbench data build --enrichment FILE`` hands the
   product types to the builders (``m2_attribute_category`` then asks about product categories).
3. **re-word instructions** (:func:`run_reword`, :data:`REWORD_PROMPT`): per instruction template of
   a registered builder, N paraphrases that keep every ``{field}`` exactly once; accepted ones
   (same placeholders, non-empty, distinct, not an original, a placeholder alone on its line stays
   alone on its line) are saved; :func:`load_rewordings` reads them back.

Chat format (a decision): the teacher prompts are not ShopBench questions, so each request carries
its own messages with :data:`TEACHER_SYSTEM_PROMPT`, rendered by the tokenizer's own chat template
(``apply_chat_template(..., add_generation_prompt=True)``), never by a hand-written template. A
request given as plain prompt text instead gets the ShopBench "generation" system prompt
(:func:`utilities.prompting.messages`). The *rows* we emit are rendered by ``rows.to_row``, i.e.
exactly like every other training row.

The job (:class:`SyntheticJob`): requests run through an engine (``generate(prompt_ids, specs)``,
greedy) in fixed slices of ``batch_size`` of the request list, with a bar on a terminal (or with
``--progress``) and a plain line per method off one; each finished batch
is appended to the cache (flush + fsync) before the next starts. The cache is JSON Lines, one
record per request::

    {"key": sha256 hex of (method, model id, messages, decoding params), "method": "enrich",
     "model": "qwen2-72b@1a2b...", "id": "enrich:esci:us/B0001", "meta": {...},
     "decode": {"max_new_tokens": 256, ...}, "prompt_tokens": 312, "output": "{...}"}

It is the single source of truth: a re-run skips every request whose key it holds (the engine is
not even loaded when nothing is left), so an interrupted job resumes where it stopped; because
batches are fixed slices, a resumed job decodes the same batches as an uninterrupted one and ends
with the same file. A partial last line (a crash mid-write) is detected, cut off and counted.
One job writes a cache at a time (an exclusive ``flock``). The model id is the folder's name plus a
hash of its config, tokenizer config, chat template and weight file sizes (:func:`model_identity`);
pass ``--model-id`` to share a cache between copies of one checkpoint, or to tell apart two
checkpoints that differ only in their weights' values.

Layout (one module per responsibility; every public name is re-exported here):

- ``prompts.py``: the teacher's prompts and their wording, the entity types, the token and text budgets.
- ``cache.py``: the resumable JSON Lines cache (reading it, appending under a lock).
- ``jobs.py``: requests, cache keys, the model's identity, chat rendering, :class:`SyntheticJob`.
- ``extract.py``: reading the teacher's outputs (JSON, fields, :class:`Invalid`) and the seeds' texts.
- ``seeds.py``: products, queries and documents drawn from the sources.
- ``results.py``: what the methods share (:class:`MethodReport`, counting invalid outputs, JSON Lines).
- ``build_task.py``, ``enrich.py``, ``reword.py``: the three methods.
- ``cli.py`` (run by ``__main__.py``): the command line.
- ``training/data/enrichment.py`` (outside this package, so that ``training.data.build`` can import it
  without importing this package): the enrichment records and how a build reads them back.
"""
from training.data.synthetic.prompts import (
    ATTRIBUTE_QUESTION_TEMPLATES,
    BUILD_ATTRIBUTE_PROMPT,
    BUILD_DOCUMENTS_PROMPT,
    BUILD_QUERY_PRODUCTS_PROMPT,
    DOCUMENT_QUESTION_TEMPLATES,
    ENRICH_PROMPT,
    ENTITY_TYPES,
    MAX_DETAILS_CHARS,
    MAX_DOCS,
    MAX_DOC_CHARS,
    MAX_NEW_TOKENS,
    MAX_TITLE_CHARS,
    METHODS,
    QUERY_LIST_SIZE,
    QUERY_MIN_LIST,
    QUERY_QUESTION_TEMPLATES,
    REWORD_PROMPT,
    TEACHER_SYSTEM_PROMPT,
)
from training.data.synthetic.cache import (
    CacheState,
    parse_cache,
    read_cache,
)
from training.data.synthetic.jobs import (
    IDENTITY_FILES,
    JobReport,
    JobResult,
    Request,
    SyntheticJob,
    model_identity,
    render_chat,
    request_key,
    spec_params,
    teacher_request,
)
from training.data.synthetic.extract import (
    JUNK_VALUES,
    Invalid,
    cap,
    clean,
    norm,
    parse_json,
)
from training.data.synthetic.seeds import (
    PRODUCT_SOURCES,
    AttributeSeed,
    DocumentSeed,
    ProductText,
    QuerySeed,
    attribute_seeds,
    document_seeds,
    product_text,
    query_seeds,
    sample_products,
)
from training.data.synthetic.results import (
    MethodReport,
)
from training.data.synthetic.build_task import (
    KINDS,
    SUPPORT_SHARE,
    Kind,
    SyntheticDataset,
    attribute_request,
    build_task_rows,
    documents_request,
    kind_of,
    parse_attribute_task,
    parse_documents_task,
    parse_query_products_task,
    product_block,
    query_products_request,
    run_build_task,
)
from training.data.synthetic.enrich import (
    enrich_request,
    parse_enrichment,
    run_enrich,
)
from training.data.synthetic.reword import (
    check_rewording,
    load_rewordings,
    parse_rewordings,
    placeholders,
    reword_request,
    run_reword,
)
from training.data.enrichment import (
    Enrichment,
    load_enrichment,
    product_types,
)
from training.data.synthetic.cli import (
    main,
    parser,
)

__all__ = [
    "ATTRIBUTE_QUESTION_TEMPLATES",
    "BUILD_ATTRIBUTE_PROMPT",
    "BUILD_DOCUMENTS_PROMPT",
    "BUILD_QUERY_PRODUCTS_PROMPT",
    "DOCUMENT_QUESTION_TEMPLATES",
    "ENRICH_PROMPT",
    "ENTITY_TYPES",
    "MAX_DETAILS_CHARS",
    "MAX_DOCS",
    "MAX_DOC_CHARS",
    "MAX_NEW_TOKENS",
    "MAX_TITLE_CHARS",
    "METHODS",
    "QUERY_LIST_SIZE",
    "QUERY_MIN_LIST",
    "QUERY_QUESTION_TEMPLATES",
    "REWORD_PROMPT",
    "TEACHER_SYSTEM_PROMPT",
    "CacheState",
    "parse_cache",
    "read_cache",
    "IDENTITY_FILES",
    "JobReport",
    "JobResult",
    "Request",
    "SyntheticJob",
    "model_identity",
    "render_chat",
    "request_key",
    "spec_params",
    "teacher_request",
    "JUNK_VALUES",
    "Invalid",
    "cap",
    "clean",
    "norm",
    "parse_json",
    "PRODUCT_SOURCES",
    "AttributeSeed",
    "DocumentSeed",
    "ProductText",
    "QuerySeed",
    "attribute_seeds",
    "document_seeds",
    "product_text",
    "query_seeds",
    "sample_products",
    "MethodReport",
    "KINDS",
    "SUPPORT_SHARE",
    "Kind",
    "SyntheticDataset",
    "attribute_request",
    "build_task_rows",
    "documents_request",
    "kind_of",
    "parse_attribute_task",
    "parse_documents_task",
    "parse_query_products_task",
    "product_block",
    "query_products_request",
    "run_build_task",
    "enrich_request",
    "parse_enrichment",
    "run_enrich",
    "check_rewording",
    "load_rewordings",
    "parse_rewordings",
    "placeholders",
    "reword_request",
    "run_reword",
    "Enrichment",
    "load_enrichment",
    "product_types",
    "main",
    "parser",
]
