"""Method 2, enrich seed data: per product the LLM names the product type, a broad category and the
entities its title and text mention; values not found in the text are dropped. The records
(:class:`training.data.enrichment.Enrichment`) are read back by ``training.data.enrichment``.
"""
from __future__ import annotations

import os
import random
import re
from pathlib import Path
from typing import Mapping

from training.data.enrichment import Enrichment
from training.data.rows import one_line
from training.data.sources import SourceData
from training.data.synthetic.extract import Invalid, _text_field, norm, parse_json
from training.data.synthetic.jobs import Request, SyntheticJob, teacher_request
from training.data.synthetic.prompts import ENRICH_PROMPT, ENTITY_TYPES, MAX_NEW_TOKENS
from training.data.synthetic.results import MethodReport, _parse_all, _write_jsonl
from training.data.synthetic.seeds import ProductText, sample_products


def enrich_request(product: ProductText, max_new_tokens: int = MAX_NEW_TOKENS["enrich"]) -> Request:
    user = ENRICH_PROMPT.format(title=product.title, details=product.text() or "(none)",
                                entity_types=", ".join(ENTITY_TYPES))
    return teacher_request(f"enrich:{product.id}", user, max_new_tokens, {"source": product.source,
                                                                          "product": product.id})


def parse_enrichment(text: str, product: ProductText) -> Enrichment:
    """{"product_type", "category", "entities": {type: [values]}}; unknown entity types and values
    the title and text do not contain are dropped (counted in ``dropped``)."""
    obj = parse_json(text, dict)
    product_type = _text_field(obj, "product_type", 60)
    if len(product_type.split()) > 6:
        raise Invalid("'product_type' has more than 6 words")
    category = _text_field(obj, "category", 80)
    entities = obj.get("entities")
    if not isinstance(entities, dict):
        raise Invalid("'entities' is not an object")
    haystack = norm(" ".join((product.title, *product.details)))
    kept: dict[str, tuple[str, ...]] = {}
    dropped = 0
    for name, values in entities.items():
        values = [values] if isinstance(values, (str, int, float)) else values
        if not isinstance(values, list):
            raise Invalid("an entity's values are not a list")
        name = norm(name).replace(" ", "_")
        good = []
        for v in values:
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                v = str(v)  # "size": [10] -> "10", grounded like any value
            if not isinstance(v, str):
                dropped += 1  # one unusable value costs that value, not the product
                continue
            v = one_line(v)
            # grounded as a whole phrase of the text ("red" is not in "shredder")
            grounded = bool(v) and re.search(r"(?<!\w)" + re.escape(norm(v)) + r"(?!\w)", haystack) is not None
            if v and name in ENTITY_TYPES and grounded and norm(v) not in map(norm, good):
                good.append(v)
            elif v:
                dropped += 1
        if good:
            kept[name] = kept.get(name, ()) + tuple(good)
    return Enrichment(product.source, product.key, product.title, product_type, category,
                      dict(sorted(kept.items())), dropped)


def run_enrich(job: SyntheticJob, sources: Mapping[str, SourceData], n: int,
               out_dir: str | os.PathLike | None = None, seed: int = 0,
               max_new_tokens: int = MAX_NEW_TOKENS["enrich"]) -> tuple[list[Enrichment], MethodReport]:
    """Up to ``n`` products per source; records written to ``out_dir/enrichment_<source>.jsonl``."""
    report = MethodReport("enrich")
    everything: list[Enrichment] = []
    for source, data in sources.items():
        products = sample_products(data, random.Random(f"{seed}:synthetic:enrich:{source}"), n)
        result = job.run([enrich_request(p, max_new_tokens) for p in products])
        report.add_job(result.report)
        records = [e for _, e in _parse_all(products, result.outputs, parse_enrichment, report)]
        report.counts[f"enrichment_{source}"] = len(records)
        everything += records
        if out_dir is not None:
            path = Path(out_dir) / f"enrichment_{source}.jsonl"
            _write_jsonl(path, [e.as_dict() for e in records])
            report.outputs[str(path)] = f"{len(records)} products"
    report.accepted = len(everything)
    return everything, report
