"""The ESCI builders (docs/datasets.md rows 5, 8, 23-29, 31, 32, 34-37) on an in-memory ESCI index.

The index is generated in the real ``sources.EsciIndex`` / ``EsciProduct`` shapes with labels that
follow ESCI's definitions: a query "<brand> <type>" judges that brand's products of the type Exact,
other brands' Substitute, accessories of the type Complement, other categories Irrelevant; three
locales (us, es, jp). Some products lack a description or bullet points, share a boilerplate
bullet, have a non-brand ("Generic") or a title that does not name the brand, or have very long
texts, so that every skip path and every truncation runs. Each built row is checked against the
index: the answer points at the true item, distractors are real items of the same locale and
never the answer.
"""
from __future__ import annotations

import json
import random
import re
from collections import Counter
from pathlib import Path

import pytest

from training.data import build as build_module
from training.data.build import build
from training.data.builders import esci
from training.data.registry import Question, Skip, load_builders
from training.data.rows import check
from training.data.sources import ESCI_RELEVANCE, EsciIndex, EsciProduct, EsciQuery, ReadStats, SourceData
from utilities.parsers import parse
from utilities.tasks.base import analyse

NAMES = {  # docs/datasets.md row: name, task type, seed size
    5: ("esci_query_product_ranking", "ranking", 16_728),
    8: ("esci_keyword_set", "multiple-choice", 10_000),
    23: ("esci_query_for_description", "multiple-choice", 10_000),
    24: ("esci_query_for_features", "multiple-choice", 10_000),
    25: ("esci_query_for_title", "multiple-choice", 10_000),
    26: ("esci_title_for_description", "multiple-choice", 10_000),
    27: ("esci_title_for_features", "multiple-choice", 10_000),
    28: ("esci_title_for_query", "multiple-choice", 10_000),
    29: ("esci_bullet_point_retrieval", "retrieval", 10_000),
    31: ("esci_product_for_query", "multiple-choice", 5_435),
    32: ("esci_queries_for_product_ranking", "ranking", 5_000),
    34: ("esci_brand_for_title", "multiple-choice", 10_000),
    35: ("esci_relation_label", "multiple-choice", 10_000),
    36: ("esci_pair_relevance_ranking", "ranking", 10_000),
    37: ("esci_exact_matches_retrieval", "retrieval", 10_000),
}
ALL = [name for name, _, _ in NAMES.values()]
ROWS_PER_DATASET = 80


# ---- an ESCI index in the real shapes ---------------------------------------------------------

CATALOG = {
    "us": {
        "categories": [
            ("shampoo", "shower cap", ["Aveda", "Joico", "Redken"]),
            ("lift kit", "lug nut set", ["Rough Country", "TeraFlex", "Supreme Suspensions"]),
            ("usb c cable", "wall charger", ["Anker", "Ugreen", "Belkin"]),
            ("yoga mat", "yoga strap", ["Gaiam", "Manduka", "Liforme"]),
            ("coffee grinder", "coffee filter", ["Baratza", "Krups", "Bodum"]),
            ("dog leash", "poop bag holder", ["Ruffwear", "Kurgo", "Petsafe"]),
        ],
        "colors": ["Black", "Blue", "Red"],
        "words": ("for", "made for everyday use", "comes in", "Size"),
    },
    "es": {
        "categories": [
            ("champú", "gorro de ducha", ["Pantene", "Garnier", "Elvive"]),
            ("cable usb c", "cargador de pared", ["Anker", "Ugreen", "Aukey"]),
            ("esterilla de yoga", "bloque de yoga", ["Domyos", "Gaiam", "Tapis"]),
            ("molinillo de café", "filtro de café", ["Cecotec", "Krups", "Bodum"]),
            ("correa para perro", "dispensador de bolsas", ["Trixie", "Kurgo", "Ferplast"]),
        ],
        "colors": ["Negro", "Azul", "Rojo"],
        "words": ("para", "pensado para el uso diario", "disponible en", "Tamaño"),
    },
    "jp": {
        "categories": [
            ("シャンプー", "シャワーキャップ", ["花王", "資生堂", "ライオン"]),
            ("USBケーブル", "急速充電器", ["エレコム", "バッファロー", "サンワ"]),
            ("ヨガマット", "ヨガブロック", ["ティゴラ", "ヨガワークス", "リーボック"]),
            ("コーヒーミル", "コーヒーフィルター", ["カリタ", "ハリオ", "メリタ"]),
        ],
        "colors": ["ブラック", "ブルー", "レッド"],
        "words": ("用", "毎日使える", "カラー", "サイズ"),
    },
}
BOILERPLATE = {"us": "100% satisfaction guaranteed", "es": "Garantía de satisfacción del 100%",
               "jp": "安心の1年保証付き"}


def make_esci(seed: int = 0) -> tuple[EsciIndex, dict[tuple[str, str], EsciProduct]]:
    rng = random.Random(seed)
    products: dict[tuple[str, str], EsciProduct] = {}
    queries: list[EsciQuery] = []
    meta: dict[tuple[str, str], dict] = {}  # key -> category, type, brand, color, kind
    n = 0
    for locale, spec in CATALOG.items():
        for_, everyday, comes_in, size_word = spec["words"]
        for ci, (kind, accessory, brands) in enumerate(spec["categories"]):
            for bi, brand in enumerate(brands):
                for colour in spec["colors"][:2]:
                    n += 1
                    pid = f"B0{locale.upper()}{n:05d}"
                    model = f"{brand[:2].upper()}-{100 + n}"
                    shown_brand = brand
                    title = f"{brand} {kind} {model} - {colour}"
                    if n % 11 == 0:
                        title = f"{kind} {model} - {colour}"  # a title that does not name its brand
                    if n % 13 == 0:
                        shown_brand = "Generic"
                    description = f"<p>The {kind} {model} by {brand} is {everyday}.</p><br>It {comes_in} {colour}."
                    if n % 4 == 0:
                        description = ""
                    if n % 17 == 0:
                        description = " ".join([f"{kind} {model} detail {i}." for i in range(400)])  # very long
                    bullets = (f"{brand} {kind}: {model} {colour}", f"{size_word} {10 + n} cm, {model}",
                               f"{colour} {kind} {for_} home {model}")
                    if n % 2 == 0:
                        bullets += (BOILERPLATE[locale],)
                    if n % 5 == 0:
                        bullets = ()
                    products[(locale, pid)] = EsciProduct(pid, locale, title, description, bullets, shown_brand, colour)
                    meta[(locale, pid)] = dict(category=ci, kind="main", brand=brand, color=colour)
            for bi, brand in enumerate(brands[:2]):
                n += 1
                pid = f"B0{locale.upper()}{n:05d}"
                title = f"{brand} {accessory} {for_} {kind} A{n}"
                products[(locale, pid)] = EsciProduct(
                    pid, locale, title, f"{brand} {accessory} {for_} {kind}, {everyday}.",
                    (f"{accessory} A{n}", f"{for_} {kind} A{n}", f"{size_word} {n} mm"), brand, "")
                meta[(locale, pid)] = dict(category=ci, kind="accessory", brand=brand, color="")
        keys = [k for k in products if k[0] == locale]

        def label(key, category, brand=None, colour=None):
            m = meta[key]
            if m["category"] != category:
                return "I"
            if m["kind"] == "accessory":
                return "C"
            if (brand and m["brand"] != brand) or (colour and m["color"] != colour):
                return "S"
            return "E"

        for ci, (kind, accessory, brands) in enumerate(spec["categories"]):
            asks = [(f"{b} {kind}", dict(brand=b)) for b in brands]
            asks += [(f"{c.lower()} {kind}", dict(colour=c)) for c in spec["colors"][:2]]
            asks += [(f"  {kind}", {})]  # a leading space, as some real ESCI queries have
            for text, want in asks:
                judged = [(k, label(k, ci, **want)) for k in keys]
                by = {lab: [k for k, l in judged if l == lab] for lab in "ESCI"}
                items = by["E"][:5] + rng.sample(by["S"], min(3, len(by["S"]))) + by["C"][:2] + rng.sample(by["I"], 3)
                rng.shuffle(items)
                queries.append(EsciQuery(len(queries) + 1, text, locale, "train" if len(queries) % 5 else "test",
                                         tuple((k[1], dict(judged)[k]) for k in items)))
    # one query of two items and one of a single label: too small / unmixed for some builders
    us = [k for k in products if k[0] == "us"]
    queries.append(EsciQuery(len(queries) + 1, "tiny query", "us", "train", ((us[0][1], "E"), (us[1][1], "I"))))
    queries.append(EsciQuery(len(queries) + 1, "all exact", "us", "train", tuple((k[1], "E") for k in us[:3])))
    # an id judged in the examples but missing from the products file (a left join gives no text)
    queries.append(EsciQuery(len(queries) + 1, "missing product", "es", "train",
                             (("B0MISSING01", "E"), *((k[1], "I") for k in list(products)[60:64]))))
    by_locale: dict[str, list[str]] = {}
    for q in queries:
        for pid, _ in q.items:
            if pid not in by_locale.setdefault(q.locale, []):
                by_locale[q.locale].append(pid)
    return EsciIndex(queries, by_locale), products


INDEX, PRODUCTS = make_esci()


def source_data(index: EsciIndex = INDEX, products=PRODUCTS) -> SourceData:
    def lookup(keys):
        return {k: products[k] for k in sorted(keys) if k in products}

    return SourceData("esci", index, ReadStats("esci"), lookup)


def build_esci(out: Path, seed: int, names=tuple(ALL)) -> dict:
    original = build_module.open_source
    build_module.open_source = lambda name, folder, s: source_data() if name == "esci" else None
    try:
        manifest = build(out / "sources", out, list(names), {n: ROWS_PER_DATASET for n in names}, seed=seed,
                         progress=False)
    finally:
        build_module.open_source = original
    return manifest


def rows_of(built, name) -> list[dict]:
    out, _ = built
    return [json.loads(line) for line in (out / f"{name}.jsonl").read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="module")
def built_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("esci-built")
    return out, build_esci(out, seed=0)


# ---- reading a built row back against the index -----------------------------------------------

class World:
    """An index with all its product texts, and what a check needs to read a built row back."""

    def __init__(self, index: EsciIndex, products: dict[tuple[str, str], EsciProduct]):
        self.index, self.products = index, products
        self.titles: dict[str, list[tuple[str, str]]] = {}  # shown title -> product keys
        for key, p in products.items():
            for limit in (esci.TITLE_CHARS, esci.LIST_TITLE_CHARS):
                keys = self.titles.setdefault(esci.clean(p.title, limit, key[0]), [])
                if key not in keys:
                    keys.append(key)
        self.labels: dict[tuple[str, str], dict[str, str]] = {}  # (locale, query text) -> product id -> label
        self.query_ids: dict[tuple[str, str], int] = {}
        for q in index.queries:
            judged = self.labels.setdefault((q.locale, esci.one_line(q.query)), {})
            self.query_ids.setdefault((q.locale, esci.one_line(q.query)), q.query_id)
            for pid, lab in q.items:
                judged.setdefault(pid, lab)
        self.queries_by_locale = {loc: {t for (l, t) in self.labels if l == loc} for loc in index.products_by_locale}
        self.brands_by_locale = {loc: {p.brand for (l, _), p in products.items() if l == loc}
                                 for loc in index.products_by_locale}

    def labels_of(self, locale: str, pid: str) -> dict[str, str]:
        """query text -> the label it gave the product."""
        return {text: judged[pid] for (loc, text), judged in self.labels.items() if loc == locale and pid in judged}

    def product(self, title: str, locale: str | None = None) -> tuple[str, str]:
        keys = [k for k in self.titles.get(title, []) if locale is None or k[0] == locale]
        assert keys, f"not a real product title of locale {locale}: {title!r}"
        return keys[0]

    def title_in(self, prompt: str) -> tuple[str, str]:
        for line in prompt.splitlines():
            for prefix in ("Product Title: ", "Title: "):
                if line.startswith(prefix):
                    return self.product(line[len(prefix):])
        found = [t for t in self.titles if any(f"{a}{t}{b}" in prompt for a, b in QUOTES)]
        found = [t for t in found if not any(t != u and t in u for u in found)]  # the longest, not a prefix
        assert len(found) == 1, found
        return self.product(found[0])

    def query_in(self, prompt: str) -> tuple[str, str, dict[str, str]]:
        hits = [(loc, text) for (loc, text) in self.labels if any(f"{a}{text}{b}" in prompt for a, b in QUOTES)]
        assert len(hits) == 1, hits
        return (*hits[0], self.labels[hits[0]])

    def shown(self, prompt: str, view: str) -> list[tuple[str, str]]:
        """The products whose description or features the prompt shows (listings may share one)."""
        found = []
        for key, p in self.products.items():
            if view == "description":
                text = esci.description_of(p)
            else:
                text = esci.features_block(esci.bullets_of(p)[: esci.MAX_BULLETS])
            if text and text in prompt:
                found.append(key)
        assert found
        return found


QUOTES = (("'", "'"), ('"', '"'), ("“", "”"))


def parts(row: dict) -> tuple[str, list[str], str]:
    prompt, answer = row["messages"][1]["content"], row["messages"][2]["content"]
    return prompt, list(analyse(prompt).option_texts), answer


# ---- checks per builder: the answer points at the true item; distractors are real, not it -----

def mc_answer(options: list[str], answer: str) -> str:
    """The option text at the answer digit (4 distinct options, one digit)."""
    assert len(options) == 4 and len({o.casefold() for o in options}) == 4
    assert len(answer) == 1 and answer in "0123"
    return options[int(answer)]


def relevance_order_holds(weights: list[float], answer: str) -> None:
    order = [int(x) for x in answer.split(", ")]
    assert sorted(order) == list(range(1, len(weights) + 1)), "a permutation of the listed numbers"
    ranked = [weights[i - 1] for i in order]
    assert ranked == sorted(weights, reverse=True), (weights, answer)


def check_query_product_ranking(w: World, row):
    prompt, options, answer = parts(row)
    locale, _, judged = w.query_in(prompt)
    weights = []
    for title in options:
        pid = w.product(title, locale)[1]
        assert pid in judged, "every candidate is judged for the query"
        weights.append(ESCI_RELEVANCE[judged[pid]])
    assert len(set(weights)) >= 2 and 3 <= len(options) <= 5
    relevance_order_holds(weights, answer)


def check_keyword_set(w: World, row):
    prompt, options, answer = parts(row)
    locale, pid = w.title_in(prompt)
    judged = w.labels_of(locale, pid)
    keywords = mc_answer(options, answer).split(", ")
    assert len(keywords) >= 2 and all(judged.get(k) == "E" for k in keywords)
    for i, option in enumerate(options):
        if i != int(answer):
            words = option.split(", ")
            assert len(words) == len(keywords), "every set has as many keywords"
            assert all(x in w.queries_by_locale[locale] for x in words), "real queries of the same locale"
            assert all(judged.get(x) in (None, "I") for x in words), "no query that matches the product"


def check_query_for(view):
    def checker(w: World, row):
        prompt, options, answer = parts(row)
        subjects = [w.title_in(prompt)] if view == "title" else w.shown(prompt, view)
        correct = mc_answer(options, answer)
        fits = []
        for locale, pid in subjects:
            judged = w.labels_of(locale, pid)
            fits.append(judged.get(correct) == "E" and all(
                judged.get(o) in (None, "I") for i, o in enumerate(options) if i != int(answer)))
            assert all(o in w.queries_by_locale[locale] for o in options), "queries of the product's locale"
        assert any(fits), "the answer matches the product exactly and no distractor matches it"
    return checker


def check_title_for(view):
    def checker(w: World, row):
        prompt, options, answer = parts(row)
        subjects = w.shown(prompt, view)
        locale = subjects[0][0]
        assert w.product(mc_answer(options, answer), locale) in subjects
        for i, option in enumerate(options):
            key = w.product(option, locale)  # a real title of the same locale
            if i != int(answer):
                assert key not in subjects, "a distractor never shares the shown text"
    return checker


def check_product_for_query(with_extras: bool):
    def checker(w: World, row):
        prompt, options, answer = parts(row)
        locale, _, judged = w.query_in(prompt)
        mc_answer(options, answer)
        for i, option in enumerate(options):
            title, extras = option, ""
            m = re.fullmatch(r"(.+) \(((?:brand|color): .+)\)", option) if with_extras else None
            if m:
                title, extras = m.group(1), m.group(2)
            pid = w.product(title, locale)[1]
            if with_extras:
                p = w.products[(locale, pid)]
                assert ("brand: " + p.brand in extras) == bool(esci.brand_of(p))
                assert ("color: " + p.color in extras) == bool(p.color)
            if i == int(answer):
                assert judged.get(pid) == "E"
            else:
                allowed = ("C", "I", None) if with_extras else ("I", None)
                assert judged.get(pid) in allowed, "no exact match or substitute as a distractor"
    return checker


def check_bullets(w: World, row):
    prompt, options, answer = parts(row)
    locale, pid = w.title_in(prompt)
    own = set(esci.bullets_of(w.products[(locale, pid)], esci.LIST_BULLET_CHARS))
    picked = [int(x) for x in answer.split(", ")]
    assert len(picked) == 3 == len(set(picked)) and picked == sorted(picked) and len(options) in (10, 15)
    for i, text in enumerate(options, start=1):
        if i in picked:
            assert text in own
        else:
            assert text not in own
            owners = [k for k, p in w.products.items() if text in esci.bullets_of(p, esci.LIST_BULLET_CHARS)]
            assert owners and all(k[0] == locale for k in owners), "a real bullet of the same locale"


def check_queries_for_product(w: World, row):
    prompt, options, answer = parts(row)
    locale, pid = w.title_in(prompt)
    judged = w.labels_of(locale, pid)
    assert all(o in w.queries_by_locale[locale] for o in options) and len(options) in (4, 5)
    weights = [ESCI_RELEVANCE[judged.get(o, "I")] for o in options]
    assert max(weights) == 1.0 and min(weights) < 1.0
    relevance_order_holds(weights, answer)


def check_brand(w: World, row):
    prompt, options, answer = parts(row)
    locale, pid = w.title_in(prompt)
    p = w.products[(locale, pid)]
    assert mc_answer(options, answer) == p.brand and esci.compact(p.brand) in esci.compact(p.title)
    for i, option in enumerate(options):
        assert option in w.brands_by_locale[locale], "a real brand of the same locale"
        if i != int(answer):
            assert option.casefold() != p.brand.casefold() and esci.compact(option) not in esci.compact(p.title)


def check_relation(w: World, row):
    prompt, options, answer = parts(row)
    locale, _, judged = w.query_in(prompt)
    correct = mc_answer(options, answer)
    assert sorted(options) == sorted(esci.LABEL_NAMES.values())
    shown = [pid for pid in judged if any(f"{a}{esci.title_of(w.products, locale, pid)}{b}" in prompt
                                          for a, b in QUOTES if esci.title_of(w.products, locale, pid))]
    assert len(shown) == 1 and esci.LABEL_NAMES[judged[shown[0]]] == correct


def check_pairs(w: World, row):
    prompt, options, answer = parts(row)
    weights, queries = [], []
    for option in options:
        m = re.fullmatch(r"Query: (['\"“])(.*?)['\"”] \| Product: (['\"“])(.*?)['\"”]", option)
        assert m, option
        query, title = m.group(2), m.group(4)
        locale, pid = w.product(title)
        weights.append(ESCI_RELEVANCE[w.labels[(locale, query)][pid]])
        queries.append(w.query_ids[(locale, query)])
    assert len(set(queries)) == len(queries), "each pair from a different query"
    relevance_order_holds(weights, answer)


def check_exact_matches(w: World, row):
    prompt, options, answer = parts(row)
    locale, _, judged = w.query_in(prompt)
    picked = [int(x) for x in answer.split(", ")]
    assert len(picked) == 3 == len(set(picked)) and len(options) in (10, 15)
    assert len({o.casefold() for o in options}) == len(options)
    for i, title in enumerate(options, start=1):
        pid = w.product(title, locale)[1]
        assert (judged.get(pid) == "E") == (i in picked)


CHECKERS = {
    "esci_query_product_ranking": check_query_product_ranking,
    "esci_keyword_set": check_keyword_set,
    "esci_query_for_description": check_query_for("description"),
    "esci_query_for_features": check_query_for("features"),
    "esci_query_for_title": check_query_for("title"),
    "esci_title_for_description": check_title_for("description"),
    "esci_title_for_features": check_title_for("features"),
    "esci_title_for_query": check_product_for_query(False),
    "esci_bullet_point_retrieval": check_bullets,
    "esci_product_for_query": check_product_for_query(True),
    "esci_queries_for_product_ranking": check_queries_for_product,
    "esci_brand_for_title": check_brand,
    "esci_relation_label": check_relation,
    "esci_pair_relevance_ranking": check_pairs,
    "esci_exact_matches_retrieval": check_exact_matches,
}
GENERATED = World(INDEX, PRODUCTS)


# ---- tests ------------------------------------------------------------------------------------

def test_the_15_builders_are_registered_with_the_names_types_and_sizes_of_the_datasets_doc():
    registry = load_builders()
    for name, task_type, size in NAMES.values():
        cls = registry[name]
        assert (cls.source, cls.task_type, cls.size) == ("esci", task_type, size)
        assert cls.__doc__ and "Source:" in cls.__doc__ and "Example:" in cls.__doc__


@pytest.mark.parametrize("name", ALL)
def test_answers_point_at_the_true_items_and_distractors_are_real_items_never_the_answer(built_dir, name):
    rows = rows_of(built_dir, name)
    assert len(rows) >= 10, f"{name}: only {len(rows)} rows"
    for row in rows:
        assert row["dataset"] == name and row["source"] == "esci"
        CHECKERS[name](GENERATED, row)


@pytest.mark.parametrize("name", ALL)
def test_every_row_routes_to_its_task_type_and_parses_officially(built_dir, name):
    _, manifest = built_dir
    report = {d["name"]: d for d in manifest["datasets"]}[name]
    assert not [r for r in report["skipped"] if "router" in r or "answer is not" in r], report["skipped"]
    registry = load_builders()
    for row in rows_of(built_dir, name):
        prompt, answer = row["messages"][1]["content"], row["messages"][2]["content"]
        check(registry[name], Question(prompt, answer))  # raises Skip on a misroute or a misread answer
        assert parse(row["task_type"], answer) not in (-1, [], "")


def template_regex(template: str) -> re.Pattern:
    pieces = re.split(r"\{\w+\}", template)
    return re.compile("(?s)" + ".+?".join(re.escape(p) for p in pieces) + r"\Z")


@pytest.mark.parametrize("name", ALL)
def test_at_least_3_wordings_and_every_wording_is_used(built_dir, name):
    cls = load_builders()[name]
    assert len(cls.instructions) >= 3
    patterns = [template_regex(t) for t in cls.instructions]
    used = Counter()
    for row in rows_of(built_dir, name):
        prompt = row["messages"][1]["content"]
        matches = [i for i, p in enumerate(patterns) if p.match(prompt)]
        assert matches, prompt
        used[matches[0]] += 1
    assert len(used) == len(patterns), (name, used)


def test_two_builds_with_the_same_seed_are_identical_and_another_seed_differs(tmp_path):
    for folder, seed in (("a", 0), ("b", 0), ("c", 1)):
        build_esci(tmp_path / folder, seed)
    for name in ALL:
        a, b, c = ((tmp_path / d / f"{name}.jsonl").read_bytes() for d in "abc")
        assert a == b, name
        assert a != c, name


def test_seeds_and_needs_are_deterministic_and_name_only_products_of_the_seed_locale():
    registry = load_builders()
    for name in ALL:
        builder = registry[name]()
        one = builder.seeds(INDEX, random.Random(7), 40)
        two = builder.seeds(INDEX, random.Random(7), 40)
        assert one == two and len(one) <= 40
        for seed in one:
            keys = list(builder.needs(seed))
            assert keys and all(k[0] == seed.locale for k in keys)


def test_every_builder_uses_all_three_locales(built_dir):
    for name in ALL:
        locales = set()
        for row in rows_of(built_dir, name):
            text = row["messages"][1]["content"]
            locales.add("jp" if re.search(r"[\u3040-\u30ff\u4e00-\u9fff]", text) else
                        "es" if re.search(r"[áéíóúñ]|cable usb c|esterilla|correa|molinillo|Negro|Azul", text)
                        else "us")
        assert locales == {"us", "es", "jp"}, (name, locales)


def test_prompts_stay_within_about_1500_tokens(built_dir, qwen_tokenizer):
    longest = 0
    for name in ALL:
        for row in rows_of(built_dir, name):
            longest = max(longest, len(qwen_tokenizer.encode(row["messages"][1]["content"])))
    assert longest <= esci.MAX_PROMPT_TOKENS


def test_html_tags_are_removed_and_long_texts_are_cut():
    assert esci.clean("<p>Soft <b>cotton</b></p><br>tee", 100) == "Soft cotton tee"
    long = " ".join(["word"] * 500)
    cut = esci.clean(long, 100)
    assert len(cut) <= 104 and cut.endswith(" ...")
    assert len(esci.clean("あ" * 500, 100, "jp")) <= 54  # half the characters for Japanese


def test_quotes_never_clash_with_the_quoted_text():
    assert esci.quote("aveda shampoo") == "'aveda shampoo'"
    assert esci.quote("women's shoes") == '"women\'s shoes"'
    assert esci.quote("12\" women's ruler") == "“12\" women's ruler”"


def product_seed(subject: EsciProduct, others: list[EsciProduct]):
    lookup = {(p.locale, p.product_id): p for p in [subject, *others]}
    seed = esci.ProductSeed("us", "q", (subject.product_id,), (), tuple(p.product_id for p in others))
    return seed, lookup


def test_brand_questions_skip_titles_that_do_not_name_the_brand_and_non_brands():
    builder = esci.BrandForTitle()
    others = [EsciProduct(f"o{i}", "us", f"{b} thing", "", (), b, "")
              for i, b in enumerate(["Acme", "Zed", "Orbit", "Nova"])]
    silent = EsciProduct("s", "us", "Blue shampoo 33 oz", "", (), "Aveda", "")
    with pytest.raises(Skip, match="does not name its brand"):
        builder.question(*product_seed(silent, others), random.Random(0))
    generic = EsciProduct("g", "us", "Generic blue shampoo", "", (), "Generic", "")
    with pytest.raises(Skip, match="no product with a brand"):
        builder.question(*product_seed(generic, others), random.Random(0))
    spaced = EsciProduct("a", "us", "AmazonBasics Blue Shampoo", "", (), "Amazon Basics", "")
    seed, lookup = product_seed(spaced, others)
    q = builder.question(seed, lookup, random.Random(0))
    options = list(analyse(q.prompt).option_texts)
    assert options[int(q.answer)] == "Amazon Basics"


def test_a_distractor_brand_never_equals_contains_or_appears_in_the_answer_or_title():
    builder = esci.BrandForTitle()
    subject = EsciProduct("s", "us", "Sony WH-1000XM4 headphones with Bose-style case", "", (), "Sony", "")
    names = ["SONY", "Sony Pictures", "Bose", "Acme", "Zed", "Orbit"]
    others = [EsciProduct(f"o{i}", "us", f"{b} thing", "", (), b, "") for i, b in enumerate(names)]
    for s in range(10):
        q = builder.question(*product_seed(subject, others), random.Random(s))
        options = list(analyse(q.prompt).option_texts)
        assert options[int(q.answer)] == "Sony"
        assert sorted(o for o in options if o != "Sony") == ["Acme", "Orbit", "Zed"]


def test_keyword_sets_need_products_that_are_exact_for_two_queries():
    one_query = EsciIndex([EsciQuery(1, "mug", "us", "train", (("p1", "E"), ("p2", "I"))),
                           EsciQuery(2, "cup", "us", "train", (("p2", "E"),))], {"us": ["p1", "p2"]})
    assert esci.KeywordSet().seeds(one_query, random.Random(0), 10) == []


def test_relation_labels_are_balanced_across_E_S_C_I():
    seeds = esci.RelationLabel().seeds(INDEX, random.Random(0), 80)
    assert Counter(s.label for s in seeds) == {"E": 20, "S": 20, "C": 20, "I": 20}


def test_ranking_prefers_mixed_label_queries_and_never_lists_a_single_label():
    seeds = esci.QueryProductRanking().seeds(INDEX, random.Random(0), 10_000)
    assert seeds and all(len({lab for _, lab in s.items}) >= 2 for s in seeds)
    assert all(s.query != "all exact" for s in seeds)
    sizes = [s.size for s in seeds]
    assert sizes == sorted(sizes, reverse=True), "5-candidate lists come first"


def test_a_missing_product_text_is_a_counted_skip_or_replaced_by_a_spare():
    builder = esci.QueryProductRanking()
    seed = esci.RankedSeed("us", "mug", (("x1", "E"), ("x2", "I"), ("x3", "S")), 3)
    with pytest.raises(Skip, match="too few products"):
        builder.question(seed, {}, random.Random(0))
    lookup = {("us", f"x{i}"): EsciProduct(f"x{i}", "us", f"Mug {i}", "", (), "", "") for i in (1, 3, 4)}
    seed = esci.RankedSeed("us", "mug", (("x1", "E"), ("x2", "I"), ("x3", "S"), ("x4", "I")), 3)
    q = builder.question(seed, lookup, random.Random(0))
    assert sorted(analyse(q.prompt).option_texts) == ["Mug 1", "Mug 3", "Mug 4"]


def test_the_build_reports_skip_reasons_on_the_generated_index(built_dir):
    _, manifest = built_dir
    by_name = {d["name"]: d for d in manifest["datasets"]}
    for name in ALL:
        report = by_name[name]
        assert report["rows"] >= 10 and sum(report["skipped"].values()) <= report["wanted"] // 10, report


# ---- the on-disk fixtures (tests/data/sources/esci: the real parquet schemas) -----------------

FIXTURES = Path(__file__).resolve().parent / "data" / "sources"


@pytest.fixture(scope="module")
def fixture_build(tmp_path_factory):
    from training.data.readers import esci as reader

    data = reader.open_source(FIXTURES / "esci", ReadStats("esci"))
    world = World(data.index, data.lookup({(loc, pid) for loc, pids in data.index.products_by_locale.items()
                                           for pid in pids}))
    out = tmp_path_factory.mktemp("esci-fixtures")
    return world, out, build(FIXTURES, out, ALL, progress=False)


@pytest.mark.parametrize("name", ALL)
def test_every_builder_builds_valid_rows_from_the_on_disk_fixtures(fixture_build, name):
    world, out, manifest = fixture_build
    report = {d["name"]: d for d in manifest["datasets"]}[name]
    assert report["rows"] > 0, report
    assert not [r for r in report["skipped"] if "router" in r or "answer is not" in r], report["skipped"]
    rows = [json.loads(line) for line in (out / f"{name}.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(rows) == report["rows"]
    for row in rows:
        CHECKERS[name](world, row)


def test_fixture_prompts_stay_within_about_1500_tokens(fixture_build, qwen_tokenizer):
    _, out, _ = fixture_build
    for name in ALL:
        for line in (out / f"{name}.jsonl").read_text(encoding="utf-8").splitlines():
            prompt = json.loads(line)["messages"][1]["content"]
            assert len(qwen_tokenizer.encode(prompt)) <= esci.MAX_PROMPT_TOKENS, name
