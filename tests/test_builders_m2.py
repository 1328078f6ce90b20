"""The Amazon-M2 builders (docs/datasets.md rows 1, 9, 10, 22, 33) on a small index in the real types.

Each builder is checked for answer validity (the option at the answer digit / number is the true
item), real distractors that never equal the answer, determinism (same seed -> same rows, another
seed -> other rows), routing (no "router" skips) and prompt size (real Qwen2 tokenizer).
"""
from __future__ import annotations

import random
import re
from collections import Counter

import pytest

from training.data.builders.amazon_m2 import (
    LANGUAGE,
    M2AttributeCategory,
    M2ExplainProductType,
    M2PreviousClicksRetrieval,
    M2SameProductOtherLanguage,
    M2TitleForLocale,
    clip,
    filled,
    norm,
    opening,
    product_type,
)
from training.data.registry import Skip, load_builders
from training.data.rows import check, to_row
from training.data.sources import M2Index, M2Product, M2Session
from utilities.tasks.base import analyse

BUILDERS = (M2AttributeCategory, M2TitleForLocale, M2SameProductOtherLanguage, M2ExplainProductType,
            M2PreviousClicksRetrieval)

# ---- a small catalogue in the real schema -------------------------------------------------------

# Products listed in several locales: (id, {locale: (title, desc)}, brand, color, size, model, material, author)
SHARED = [
    ("B07TOOTH01", {
        "UK": ("Electric Toothbrush, Sonic Toothbrush with 8 Brush Heads, Rechargeable, Black",
               "Sonic electric toothbrush with 40000 VPM and 5 cleaning modes for a gentle and thorough clean. "
               "A fast charge of 4 hours lasts for 30 days of brushing."),
        "DE": ("Elektrische Zahnbürste, Schallzahnbürste mit 8 Bürstenköpfen, wiederaufladbar, Schwarz",
               "Elektrische Schallzahnbürste mit 40000 Schwingungen pro Minute und 5 Putzmodi für eine sanfte und "
               "gründliche Reinigung. 4 Stunden Ladezeit reichen für 30 Tage."),
        "JP": ("電動歯ブラシ 音波歯ブラシ 替えブラシ8本 充電式 ブラック",
               "音波電動歯ブラシ、毎分40000回の振動と5つのモードで優しく徹底的に磨けます。4時間の急速充電で30日間使用できます。"),
        "FR": ("Brosse à dents électrique, brosse à dents sonique avec 8 têtes, rechargeable, noir",
               "Brosse à dents électrique sonique avec 40000 vibrations par minute et 5 modes pour un nettoyage doux "
               "et complet. Une charge de 4 heures dure 30 jours."),
    }, "Fairywill", "Black", "", "FW-507", "", ""),
    ("B08CASE002", {
        "UK": ("JETech Case for iPad 9.7-Inch 2018/2017 Model, Smart Cover Auto Wake/Sleep, Light Purple",
               "Designed for the iPad 9.7-inch 2018 and 2017 models only. The smart cover wakes the tablet when "
               "opened and puts it to sleep when closed."),
        "JP": ("JEDirect iPad 9.7インチ 2018/2017 第6/5世代用 ケース PUレザー 三つ折スタンド オートスリープ機能 ライトパープル",
               "iPad 9.7インチ 2018年と2017年モデル専用に設計されています。カバーを開くと自動で起動し、閉じるとスリープします。"),
        "IT": ("Custodia JETech per iPad 9,7 pollici modello 2018/2017, cover smart con sveglia automatica, viola",
               "Progettata solo per iPad da 9,7 pollici modelli 2018 e 2017. La cover smart riattiva il tablet "
               "quando viene aperta e lo mette in stop quando viene chiusa."),
    }, "JETech", "Light Purple", "9.7 inch", "0876", "PU leather", ""),
    ("B01HDMI003", {
        "UK": ("Twozoh HDMI Cable 2 m, High Speed HDMI 2.0 Cable, Braided Nylon",
               "Flexible and Durable: Withstand over 10,000 bend lifespans. No more worrying about the connector "
               "bending or coming out of the housing."),
        "JP": ("Twozoh HDMIケーブル 2m ハイスピード HDMI 2.0 ナイロン編み",
               "HDMIケーブル: Twozoh高速HDMIケーブルは、4Kビデオ@60Hz、1080P、オーディオリターンチャンネルとイーサネットをサポートします。"),
        "DE": ("Twozoh HDMI Kabel 2 m, High Speed HDMI 2.0 Kabel, Nylon geflochten",
               "Flexibel und langlebig: hält über 10.000 Biegungen stand. Keine Sorgen mehr um einen verbogenen "
               "Stecker oder ein gelöstes Gehäuse."),
    }, "Twozoh", "Grey", "2 m", "HD-20", "Nylon", ""),
    ("B00BOOK004", {
        "UK": ("The Lord of the Rings: The Fellowship of the Ring, Paperback Edition",
               "The first volume of the epic fantasy novel by J. R. R. Tolkien follows Frodo and the fellowship on "
               "their quest to destroy the One Ring."),
        "DE": ("Der Herr der Ringe: Die Gefährten, Taschenbuch",
               "Der erste Band des großen Fantasy-Romans von J. R. R. Tolkien begleitet Frodo und die Gefährten auf "
               "ihrer Reise, den Einen Ring zu zerstören."),
        "FR": ("Le Seigneur des Anneaux : La Communauté de l'Anneau, livre de poche",
               "Le premier tome du grand roman de fantasy de J. R. R. Tolkien suit Frodon et la communauté dans leur "
               "quête pour détruire l'Anneau unique."),
    }, "Klett-Cotta", "", "", "", "", "J. R. R. Tolkien"),
    ("B09LAMP005", {
        "UK": ("Bedside Lamp, Dimmable Touch Table Lamp with USB Charging Port, Warm White",
               "Touch control with three brightness levels lets you dim the light for reading or sleeping. The "
               "built-in USB port charges your phone overnight."),
        "FR": ("Lampe de chevet, lampe de table tactile à intensité variable avec port USB, blanc chaud",
               "La commande tactile à trois niveaux de luminosité permet de tamiser la lumière pour lire ou dormir. "
               "Le port USB intégré recharge votre téléphone pendant la nuit."),
        "ES": ("Lámpara de mesita, lámpara de mesa táctil regulable con puerto USB, blanco cálido",
               "El control táctil con tres niveles de brillo permite atenuar la luz para leer o dormir. El puerto USB "
               "integrado carga tu teléfono durante la noche."),
    }, "Aooshine", "White", "", "AL-01", "Fabric", ""),
    ("B07SAME006", {  # the same title in two locales: m2_title_for_locale must skip it
        "UK": ("Fimo Soft Starter Pack 12 x 57 g Multicolour Blocks",
               "Twelve blocks of soft modelling clay in bright colours, hardened in the oven at 110 degrees."),
        "DE": ("Fimo Soft Starter Pack 12 x 57 g Multicolour Blocks",
               "Zwölf Blöcke weiche Modelliermasse in leuchtenden Farben, die im Ofen bei 110 Grad härten."),
    }, "Staedtler", "Multicolour", "", "8023", "Clay", ""),
]

NOUNS = {
    "UK": ["Garden Hose", "Yoga Mat", "Coffee Grinder", "Phone Stand", "Desk Organiser", "Dog Lead", "Rain Jacket",
           "Water Bottle", "Cutting Board", "Backpack", "Wall Clock", "Shower Curtain"],
    "DE": ["Gartenschlauch", "Yogamatte", "Kaffeemühle", "Handyhalter", "Schreibtisch Organizer", "Hundeleine",
           "Regenjacke", "Trinkflasche", "Schneidebrett", "Rucksack", "Wanduhr", "Duschvorhang"],
    "JP": ["ガーデンホース", "ヨガマット", "コーヒーミル", "スマホスタンド", "デスクオーガナイザー", "犬用リード", "レインジャケット",
           "水筒", "まな板", "リュックサック", "掛け時計", "シャワーカーテン"],
    "FR": ["Tuyau d'arrosage", "Tapis de yoga", "Moulin à café", "Support de téléphone", "Organiseur de bureau",
           "Laisse pour chien", "Veste de pluie", "Gourde", "Planche à découper", "Sac à dos", "Horloge murale",
           "Rideau de douche"],
    "ES": ["Manguera de jardín", "Esterilla de yoga", "Molinillo de café", "Soporte para móvil", "Organizador",
           "Correa para perro", "Chaqueta impermeable", "Botella de agua", "Tabla de cortar", "Mochila", "Reloj",
           "Cortina de ducha"],
    "IT": ["Tubo da giardino", "Tappetino yoga", "Macinacaffè", "Supporto telefono", "Organizer da scrivania",
           "Guinzaglio", "Giacca impermeabile", "Borraccia", "Tagliere", "Zaino", "Orologio da parete",
           "Tenda doccia"],
}
BRANDS = ["Amazon Basics", "Relaxdays", "Umi", "Navaris", "Hama", "Tchibo", "Kärcher", "Leitz"]
COLORS = ["Black", "Blue", "Green", "Red", "Grey", ""]
MATERIALS = ["Plastic", "Stainless Steel", "Cotton", "", "", "Wood"]
DESCS = {
    "UK": "This {noun} is made for everyday use at home and on the go. It is easy to clean and comes with a "
          "two-year warranty from {brand}.",
    "DE": "Dieser Artikel ({noun}) ist für den täglichen Gebrauch zu Hause und unterwegs gemacht. Er ist leicht zu "
          "reinigen und hat zwei Jahre Garantie von {brand}.",
    "JP": "この{noun}は毎日の使用のために作られています。お手入れが簡単で、{brand}の2年保証が付いています。",
    "FR": "Cet article ({noun}) est conçu pour un usage quotidien à la maison et en déplacement. Il se nettoie "
          "facilement et bénéficie d'une garantie de deux ans de {brand}.",
    "ES": "Este artículo ({noun}) está pensado para el uso diario en casa y fuera de ella. Se limpia fácilmente y "
          "tiene dos años de garantía de {brand}.",
    "IT": "Questo articolo ({noun}) è pensato per l'uso quotidiano a casa e in viaggio. Si pulisce facilmente e ha "
          "due anni di garanzia di {brand}.",
}
BOOKS = [("The Hobbit", "J. R. R. Tolkien"), ("Pride and Prejudice", "Jane Austen"), ("Dune", "Frank Herbert"),
         ("Emma", "Jane Austen"), ("Middlemarch", "George Eliot")]


def catalogue() -> tuple[M2Index, dict]:
    lookup: dict = {}
    by_locale: dict[str, list[str]] = {loc: [] for loc in NOUNS}
    locales_of: dict[str, list[str]] = {}

    def add(p: M2Product) -> None:
        lookup[(p.locale, p.id)] = p
        by_locale[p.locale].append(p.id)
        locales_of.setdefault(p.id, []).append(p.locale)

    for pid, texts, brand, color, size, model, material, author in SHARED:
        for loc, (title, desc) in texts.items():
            add(M2Product(pid, loc, title, "19.99", brand, color, size, model, material, author, desc))
    for loc, nouns in NOUNS.items():
        for i in range(36):
            noun, brand = nouns[i % len(nouns)], BRANDS[(i * 3 + len(loc)) % len(BRANDS)]
            color, material = COLORS[i % len(COLORS)], MATERIALS[(i + 1) % len(MATERIALS)]
            size = f"{10 + i} cm" if i % 3 else ""
            model = f"M-{100 + i}" if i % 4 else ""
            title = f"{brand} {noun} {['Classic', 'Pro', 'Mini', 'Plus', 'Eco', 'Max'][i % 6]} {color} {i}".strip()
            desc = DESCS[loc].format(noun=noun, brand=brand) if i % 5 else ""
            add(M2Product(f"B0{loc}{i:05d}", loc, title, f"{5 + i}.99", brand, color, size, model, material, "", desc))
        for j, (book, author) in enumerate(BOOKS):
            add(M2Product(f"B0BK{loc}{j:03d}", loc, f"{book} ({loc} edition)", "9.99", "", "", "", "", "", author,
                          f"A novel by {author}, first published long ago and read by many ever since."))
    sessions = []
    for loc in ("UK", "DE", "JP", "FR"):
        ids = by_locale[loc]
        for s in range(12):
            prev = tuple(ids[(s * 5 + k) % len(ids)] for k in range(2 + s % 4))
            prev = prev + (prev[0],) if s % 3 == 0 else prev  # a repeated click
            sessions.append(M2Session(prev, ids[(s * 5 + 7) % len(ids)], loc))
        sessions.append(M2Session((ids[0], ids[1], ids[2]), None, loc))  # a test session: no next item
    index = M2Index(sessions=sessions, products_by_locale=by_locale,
                    locales_of={k: tuple(v) for k, v in locales_of.items()})
    return index, lookup


INDEX, LOOKUP = catalogue()


def run(cls, seed: int = 0, n: int = 60, index: M2Index = INDEX, lookup: dict = LOOKUP, product_types=None):
    """What build.py does for one builder: seeds, needs, a lookup of only those keys, question, check."""
    builder = cls()
    builder.product_types = product_types or {}
    rng = random.Random(f"{seed}:{cls.name}")
    seeds = builder.seeds(index, rng, n)
    keys = {k for s in seeds for k in builder.needs(s)}
    sub = {k: lookup[k] for k in sorted(keys) if k in lookup}
    out, skipped = [], Counter()
    for s in seeds:
        try:
            q = builder.question(s, sub, rng)
            check(builder, q)
        except Skip as why:
            skipped[str(why)] += 1
            continue
        out.append((s, q))
    return out, skipped


def options_of(prompt: str) -> tuple:
    info = analyse(prompt)
    return info.options, info.option_texts


# ---- registry --------------------------------------------------------------------------------------

def test_registry_names_sources_types_sizes():
    registry = load_builders()
    expected = {
        "m2_attribute_category": ("multiple-choice", 2_350),
        "m2_title_for_locale": ("generation", 10_000),
        "m2_same_product_other_language": ("multiple-choice", 10_000),
        "m2_explain_product_type": ("generation", 10_000),
        "m2_previous_clicks_retrieval": ("retrieval", 10_000),
    }
    for name, (task_type, size) in expected.items():
        cls = registry[name]
        assert (cls.source, cls.task_type, cls.size) == ("amazon_m2", task_type, size)
        assert len(cls.instructions) >= 3


# ---- answer validity ---------------------------------------------------------------------------

def test_attribute_category_answer_is_the_product_with_the_attribute():
    rows, skipped = run(M2AttributeCategory, n=80)
    assert len(rows) >= 20, skipped
    for (locale, pids, _), q in rows:
        attribute = re.search(r"attribute '?([a-z]+)'?", q.prompt).group(1)
        assert attribute in ("author", "material", "model", "size")
        numbers, texts = options_of(q.prompt)
        assert numbers == (0, 1, 2, 3)
        truth = next(LOOKUP[(locale, pid)] for pid in pids
                     if clip(LOOKUP[(locale, pid)].title, 60) == texts[int(q.answer)])
        assert filled(getattr(truth, attribute))
        # distractors: real same-locale products whose record lacks the attribute, never the answer's title
        titles = {clip(p.title, 60): p for (loc, _), p in LOOKUP.items() if loc == locale}
        for i, text in enumerate(texts):
            if i != int(q.answer):
                assert text in titles and not filled(getattr(titles[text], attribute))
                assert norm(text) != norm(texts[int(q.answer)])


def _type_of(p: M2Product) -> str:
    """A product type as an enrichment would give it: the noun the title was built from, or "novel"."""
    if p.author:
        return "novel"
    nouns = [noun for noun in NOUNS.get(p.locale, ()) if noun in p.title]
    return nouns[0].lower() if nouns else " ".join(p.title.lower().split()[:2])


def test_attribute_category_with_product_types_asks_about_categories():
    types = {key: _type_of(p) for key, p in LOOKUP.items()}
    rows, skipped = run(M2AttributeCategory, n=80, product_types=types)
    assert len(rows) >= 10, skipped
    for (locale, pids, candidates), q in rows:
        assert "categor" in q.prompt
        attribute = re.search(r"attribute '?([a-z]+)'?", q.prompt).group(1)
        numbers, texts = options_of(q.prompt)
        assert numbers == (0, 1, 2, 3) and len(set(texts)) == 4
        answer = texts[int(q.answer)]
        assert any(types[(locale, p)] == answer and filled(getattr(LOOKUP[(locale, p)], attribute)) for p in pids)
        looked_up = [LOOKUP[(locale, c)] for c in candidates if (locale, c) in LOOKUP]
        for i, text in enumerate(texts):
            if i == int(q.answer):
                continue
            of_type = [p for p in looked_up if types[(locale, p.id)] == text]
            assert of_type and not any(filled(getattr(p, attribute)) for p in of_type)


def test_attribute_category_without_product_types_of_its_products_is_skipped():
    rows, skipped = run(M2AttributeCategory, n=20, product_types={("XX", "none"): "lamp"})
    assert rows == [] and skipped["the product has no type in the enrichment"] > 0


def test_attribute_category_distractor_title_never_names_a_value_of_the_attribute():
    """A record without "material" whose title says "TPE" (the answer's material) is no distractor."""
    def product(pid, title, material="", **kw):
        fields = dict(brand="B", color="Red", size="M", model="", author="")
        fields.update(kw)
        return M2Product(pid, "UK", title, "1", fields["brand"], fields["color"], fields["size"], fields["model"],
                         material, fields["author"], "")
    lookup = {("UK", p.id): p for p in [
        product("A0", "Liforme Yoga Mat", material="TPE", size=""),  # material is the only asked attribute
        product("D1", "Gaiam Yoga Mat TPE Non Slip"),  # names the material: not a distractor
        product("D2", "Bamboo Cutting Board"), product("D3", "USB Desk Lamp"), product("D4", "Phone Stand"),
        product("D5", "Running Socks, M, Grey"),
    ]}
    builder = M2AttributeCategory()
    for seed in range(20):
        q = builder.question(("UK", ("A0",), ("D1", "D2", "D3", "D4", "D5")), lookup, random.Random(seed))
        texts = options_of(q.prompt)[1]
        assert "Gaiam Yoga Mat TPE Non Slip" not in texts
        assert texts[int(q.answer)] == "Liforme Yoga Mat"
    # a one-letter size ("M") counts as a value too
    lookup[("UK", "A0")] = product("A0", "Liforme Yoga Mat", size="M")
    q = builder.question(("UK", ("A0",), ("D1", "D2", "D3", "D4", "D5")), {
        **lookup, **{("UK", d): product(d, t, size="") for d, t in
                     (("D2", "Bamboo Cutting Board"), ("D3", "USB Desk Lamp"), ("D4", "Phone Stand"),
                      ("D5", "Running Socks, M, Grey"))}}, random.Random(0))
    assert "Running Socks, M, Grey" not in options_of(q.prompt)[1]


def test_title_for_locale_answer_is_the_same_id_in_the_target_locale():
    rows, skipped = run(M2TitleForLocale, n=40)
    assert rows, skipped
    assert skipped.get("the same title in both locales", 0) >= 0
    for alternatives, q in rows:
        pid, src, tgt = next(a for a in alternatives if LOOKUP[(a[2], a[0])].title == q.answer)
        assert clip(LOOKUP[(src, pid)].title, 150) in q.prompt
        assert LANGUAGE[tgt] in q.prompt
        assert norm(q.answer) != norm(LOOKUP[(src, pid)].title)


def test_title_for_locale_skips_identical_titles():
    builder = M2TitleForLocale()
    with pytest.raises(Skip, match="same title"):
        builder.question((("B07SAME006", "UK", "DE"),), LOOKUP, random.Random(0))
    # with an alternative, the seed still makes a question
    q = builder.question((("B07SAME006", "UK", "DE"), ("B07TOOTH01", "UK", "JP")), LOOKUP, random.Random(0))
    assert q.answer == LOOKUP[("JP", "B07TOOTH01")].title


def test_same_product_answer_is_the_same_id_in_another_language():
    rows, skipped = run(M2SameProductOtherLanguage, n=40)
    assert len(rows) == 6, skipped  # the 6 multi-locale ids, one seed each
    for alternatives, q in rows:
        numbers, texts = options_of(q.prompt)
        assert numbers == (0, 1, 2, 3)
        pid, src, tgt, _ = next(a for a in alternatives if clip(LOOKUP[(a[2], a[0])].desc, 110) == texts[int(q.answer)])
        assert clip(LOOKUP[(src, pid)].desc, 150) in q.prompt
        others = {clip(p.desc, 110): p for p in LOOKUP.values() if p.id != pid and p.locale != src and p.desc}
        for i, text in enumerate(texts):
            if i != int(q.answer):
                assert text in others  # a real description of another product, from another locale
                assert norm(text) != norm(texts[int(q.answer)])


def test_explain_product_type_answer_is_the_description_opening():
    rows, skipped = run(M2ExplainProductType, n=80)
    assert len(rows) >= 20, skipped
    for seed, q in rows:
        p = next(LOOKUP[key] for key in seed if LOOKUP[key].desc and opening(LOOKUP[key].desc)[0] == q.answer)
        assert 6 <= len(q.answer.split()) <= 45 or any("\u3040" <= ch <= "\u9fff" for ch in q.answer)
        assert clip(p.title, 120) in q.prompt
        assert q.answer not in q.prompt  # the target is never shown


def test_product_type_heuristic():
    assert product_type("Electric Toothbrush, Sonic Toothbrush, 8 Heads", "Fairywill") == "Electric Toothbrush"
    assert product_type("JETech Case for iPad 9.7-Inch (2018)", "JETech") is None  # a digit: no type
    assert product_type("JETech Case for iPad (2018)", "JETech") == "Case for iPad"
    assert product_type("Corsair HS60 PRO Gaming Headset", "Corsair") is None
    assert product_type("Fimo Soft Starter Pack 12 x 57 g", "Staedtler") is None


def test_previous_clicks_answer_points_at_the_session_clicks():
    rows, skipped = run(M2PreviousClicksRetrieval, n=60)
    assert len(rows) >= 10, skipped
    for (session, clicks, _, size), q in rows:
        numbers, texts = options_of(q.prompt)
        assert numbers == tuple(range(1, size + 1))
        picked = [int(x) for x in q.answer.split(", ")]
        assert len(picked) == 3 == len(set(picked))
        assert clicks == tuple(M2PreviousClicksRetrieval.recent_clicks(session, 3))
        for number, pid in zip(picked, clicks):  # most recent click first
            assert texts[number - 1] == clip(LOOKUP[(session.locale, pid)].title, 45)
        session_titles = {norm(clip(LOOKUP[(session.locale, p)].title, 45))
                          for p in (*session.prev_items, session.next_item)}
        real = {clip(p.title, 45) for (loc, _), p in LOOKUP.items() if loc == session.locale}
        for i, text in enumerate(texts, start=1):
            assert text in real
            if i not in picked:
                assert norm(text) not in session_titles  # a distractor is never from the session


def test_previous_clicks_never_samples_test_sessions_or_short_ones():
    builder = M2PreviousClicksRetrieval()
    seeds = builder.seeds(INDEX, random.Random(1), 1000)
    assert seeds and all(s[0].next_item for s in seeds)
    assert all(len(s[1]) == 3 and s[0].next_item not in s[1] for s in seeds)


# ---- determinism, routing, size --------------------------------------------------------------------

@pytest.mark.parametrize("cls", BUILDERS, ids=lambda c: c.name)
def test_same_seed_same_rows_other_seed_other_rows(cls):
    a = [to_row(cls, q) for _, q in run(cls, seed=0)[0]]
    b = [to_row(cls, q) for _, q in run(cls, seed=0)[0]]
    c = [to_row(cls, q) for _, q in run(cls, seed=1)[0]]
    assert a and a == b
    assert a != c


@pytest.mark.parametrize("cls", BUILDERS, ids=lambda c: c.name)
def test_prompts_route_to_the_builders_task_type(cls):
    rows, skipped = run(cls, n=200)
    assert rows
    assert not [r for r in skipped if "router" in r or "answer is not" in r or "answer has no" in r], skipped


@pytest.mark.parametrize("cls", BUILDERS, ids=lambda c: c.name)
def test_several_wordings_are_used(cls):
    rows, _ = run(cls, n=200)
    heads = {q.prompt[:30] for _, q in rows}
    assert len(heads) >= 3


def test_prompts_stay_within_1500_tokens(qwen_tokenizer):
    """Very long Japanese titles and descriptions are clipped: every prompt stays under 1,500 tokens."""
    long_jp = "高品質なステンレス製の電動歯ブラシ、毎日の歯磨きを快適にする多機能モデル。" * 40
    long_en = "Premium stainless steel bottle, double wall vacuum insulated, keeps drinks cold for 24 hours. " * 40
    lookup, by_locale, locales_of = {}, {"JP": [], "UK": []}, {}
    for i in range(30):
        for loc, text in (("JP", long_jp), ("UK", long_en)):
            p = M2Product(f"X{i:04d}", loc, f"{i} {text}"[:600], "1", "Brand", "Red", "L", "M1", "Steel",
                          "Author" if i % 2 else "", f"{i} {text}")
            lookup[(loc, p.id)] = p
            by_locale[loc].append(p.id)
            locales_of.setdefault(p.id, []).append(loc)
    sessions = [M2Session(tuple(f"X{(s + k) % 30:04d}" for k in range(4)), f"X{(s + 9) % 30:04d}", loc)
                for s in range(10) for loc in ("JP", "UK")]
    index = M2Index(sessions, by_locale, {k: tuple(v) for k, v in locales_of.items()})
    longest = 0
    for cls in BUILDERS:
        rows, _ = run(cls, n=30, index=index, lookup=lookup)
        for _, q in rows:
            longest = max(longest, len(qwen_tokenizer.encode(q.prompt)))
    assert 0 < longest <= 1500


def test_a_seed_asks_about_its_first_usable_alternative():
    """A product without a description does not cost a row when the seed's next alternative has one."""
    no_desc = next(k for k, p in LOOKUP.items() if not p.desc)
    with_desc = ("UK", "B07TOOTH01")
    builder = M2ExplainProductType()
    q = builder.question((no_desc, with_desc), LOOKUP, random.Random(0))
    assert q.answer == opening(LOOKUP[with_desc].desc)[0]
    with pytest.raises(Skip, match="^no description$"):  # the first alternative's reason
        builder.question((no_desc, no_desc), LOOKUP, random.Random(0))


def test_grouped_deals_alternatives_without_repeats():
    from training.data.builders.amazon_m2 import grouped

    assert grouped(list(range(7)), 3, 3) == [(0, 3, 6), (1, 4), (2, 5)]
    assert grouped(list(range(2)), 5, 3) == [(0,), (1,)]
