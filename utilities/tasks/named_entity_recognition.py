"""named_entity_recognition: a comma-separated list of phrases taken from the text (metric: micro-F1).

Routing signal (``asks_for``): the instruction names entities ("entity type", "named entities",
"slot filling", "Entitätstyp", "エンティティ", "实体"); or asks for the value of a named attribute of a
text the prompt names or gives in a field ("Identify the 'Color' in the product title '...'",
"Extract MATERIAL from: ...", "Attribute: STORAGE CAPACITY"); or for a span of a title, query or
description ("which word in the query is the color", "return it verbatim"); or to extract/list
more than one phrase ("all", "every", a plural, "comma-separated") of a text it names. Keyphrases
and keywords, and a phrase of a review about an aspect, are generation (dev task6 is scored by
ROUGE-L; see ``generation.KEYPHRASES``). Decoding boosts the prompt's own tokens (+1), comma and end of
text, as the winners did. Micro-F1 counts a repeated prediction as a false positive, so tidy
drops repeats. A reply that names no entity gets the fallback: the first words of the text the
instruction takes entities from (``subject_text``), one entity each.
"""
from __future__ import annotations

import ast
import re

from utilities.decoding import MAX_LOGIT_BIAS_ENTRIES, DecodeSpec, TokenTable, none_penalty
from utilities.parsers import parse
from utilities.tasks.base import EXPLICIT, NO, QUOTED_NAME, STRONG, Cue, PromptInfo, Task, any_match
from utilities.tasks.base import BLANK_PROMPT_ANSWER, subject_text
from utilities.tasks.generation import asks_for_keyphrases

NAME = "named_entity_recognition"
LABEL = "named entity recognition"
MAX_NEW_TOKENS = 15  # the winners' cap: dev entities are 1-3 words, one or two per answer
PROMPT_TOKEN_BOOST = 1.0  # the winners' +1.0 on every token of the prompt, comma and end of text

_VERB = (
    r"(?:extract|identify|find|list|tag|recogni[sz]e|detect|pull out|highlight|mark|locate|return|output|give|copy|"
    r"extrae\w*|extraer|extrai\w*|extrayez|extraire|relev\w*|extrahier\w*|estrai\w*|identifi\w*|liste\w*|"
    r"haal|extraheer\w*|wyodrębnij|wypisz|nenne\w*|elenc\w*|enumer\w*|énum[èé]r\w*|wymień|"
    r"抽出|抜き出|提取|抽取|找出|列出|추출|뽑아)"
)
_VERB_HINTS = (
    "extra", "identif", "find", "list", "tag", "recogni", "detect", "pull out", "highlight", "mark", "locate", "return",
    "output", "give", "copy", "relev", "estrai", "haal", "wyodr", "wypisz", "nenne", "elenc", "enumer", "énum", "wymie",
    "抽出", "抜き出", "提取", "抽取", "找出", "列出", "추출", "뽑아",
)  # a word of every _VERB alternative
# more than one phrase: "all", "every", a plural noun, "comma-separated", "a list of"
_MANY = (
    # (not a length: "under 30 words")
    r"(?:\b(?:all|every|each|any)\b|(?<!\d )\b(?:phrases|words|terms|spans|mentions|entities|brands|colou?rs|materials|"
    r"values|attributes|names|keywords|tokens|features|ingredients|sizes|aspects|flavou?rs)\b|"
    r"\bcomma|\blist of\b|\b(?:todas|todos|toutes|tous|alle|tutti|tutte|wszystkie)\b|すべて|全て|全部|所有|모두|전부|"
    # "the brand(s)", "if there are several", and the plural nouns in es / fr / de / it / pt
    r"\w\(s\)|\b(?:several|multiple|more than one|varias|varios|plusieurs|mehrere|diversi|diverse|vari|varie|"
    r"várias|vários|marcas|marques|marken|marchi|colores|couleurs|farben|colori|cores|materiales|matériaux|"
    r"materialien|materiali|materiais)\b)"
)
# taken from the text: "in the query", "from this product title", "mentioned in the review"
_SOURCE_NOUN = re.compile(
    r"\b(?:query|queries|title|titles|review|reviews|text|description|sentence|input|listing|name|passage|comment|"
    r"question|bullet points?|bullets|specs|specifications)s?\b"
)
_SOURCE_LEAD = re.compile(  # what stands right before the noun; matched back from it ("$" is the noun's start)
    r"\b(?:in|from|within|of)\s+(?:(?:the|this|that|these|each|every|a|an|given|following|below|above|"
    r"search|user|product|customer|its)\s+)*(?:[\w'’-]+\s+){0,2}$"
)
_SOURCE_VERB_LEAD = re.compile(  # "given the product title", "read the product description"
    r"\b(?:given|following|read|considering|regarding|about|for|using|with|based on|look(?:ing)? at|analy[sz]e|"
    r"analy[sz]ing|examine|examining|check|checking) (?:the |this |a |an )?(?:product |search |user |customer )?$"
)
_SOURCE_SHORT_NOUNS = frozenset(("title", "query", "review", "description", "text"))
_SOURCE_OTHER = Cue(
    r"\b(?:mentioned|appear\w*|contained|occur\w*|found) in\b|\b(?:from|in|within)\s*[:：]"
    r"|\b(?:consulta|requête|requete|suchanfrage|anfrage|(?:produkt)?titel|judul|kueri|ulasan|título|titulo|titre|"
    r"titolo|reseña|avis|bewertung|rezension|recensione|zoekopdracht|zapytani\w*|recenzj\w*)\b|クエリ|タイトル|レビュー|"
    r"查询|标题|评论|상품명|제목|리뷰|검색어|쿼리",
    ("mention", "appear", "contain", "occur", "found", "from:", "in:", "within:", "from：", "in：", "within：",
     "consulta", "requ", "anfrage", "titel", "judul", "kueri", "ulasan", "títul", "titul", "titre", "titolo", "reseña",
     "avis", "bewertung", "rezension", "recensione", "zoekopdracht", "zapytani", "recenzj", "クエリ", "タイトル",
     "レビュー", "查询", "标题", "评论", "상품명", "제목", "리뷰", "검색어", "쿼리"),
)
_LEAD_REACH = 80  # characters before a source noun where its lead-in ("in the search user ...") is read


class _Source:
    """Taken from a text the instruction names: "in the query", "from this product title", "mentioned
    in the review", "given the product title below", "extract MATERIAL from: ...", "the title above",
    "en el título". Read from the nouns back (each noun, then what stands right before or after it),
    not by trying every "in"/"of" of the instruction."""

    def search(self, text: str) -> bool | None:
        for noun in _SOURCE_NOUN.finditer(text):
            start = noun.start()
            if _SOURCE_LEAD.search(text, max(0, start - _LEAD_REACH), start):
                return True
            if noun.group(0) in _SOURCE_SHORT_NOUNS and (
                    _SOURCE_VERB_LEAD.search(text, max(0, start - _LEAD_REACH), start)
                    or text.startswith((" below", " above"), noun.end())):
                return True
        return True if _SOURCE_OTHER.search(text) else None


_SOURCE = _Source()
_PER_LINE = r"on (?:its|their) own line|one per line"
_COMMA = Cue(  # the answer is a list: commas, one per line, a Python list
    r"\b(?:comma|coma|virgul|virgol|komma|przecink|virg[üu]l)|カンマ|逗号|読点|쉼표|فواصل|فاصلة"
    r"|\b(?:" + _PER_LINE + r"|python list)\b",
    ("comma", "coma", "virgul", "virgol", "komma", "przecink", "virg", "カンマ", "逗号", "読点", "쉼표", "فواصل", "فاصلة",
     "own line", "per line", "python list"),
)
_PLURAL_ATTRIBUTE = (
    r"(?:brands|colou?rs|materials|sizes|product types|flavou?rs|keywords|attributes|models|styles|audiences)"
)
# An entity type named as such: "entity type", "named entities", "extract the entity"; not the word
# "entity" in a question ("for what entity should the government work?").
ENTITY_TYPE = Cue(
    r"\bentit(?:y|ies)[ -]types?\b|\bnamed[ -]entit(?:y|ies)\b|\bentities\b|\btype of entity\b|\bslot[ -]?(?:filling|tagging|values?)\b"
    r"|\b(?:extract|identify|find|list|tag|recogni[sz]e|detect|output|return|give|copy|locate|label|mark)\b"
    r"[^.?!]{0,40}\bentity\b"
    r"|\bentit(?:ät\w*|é\w*|à|eit\w*|et\w*)|\bentidad\w*|\bentidade\w*|\bvarl[ıi]k tip\w*|الكيان|كيان|"
    r"エンティティ|固有表現|实体",
    ("entit", "entidad", "varl", "كيان", "エンティティ", "固有表現", "实体", "slot"),
)
ENTITY = [
    Cue(r"\b" + _PLURAL_ATTRIBUTE + r" (?:in|from|of|mentioned in) (?:'x?'|(?:the |this )?(?:search )?(?:query|title|review|text)\b)",
        ("brands", "colors", "colours", "materials", "sizes", "types", "flavo", "keywords", "attributes", "models",
         "styles", "audiences")),
    Cue(r"\bwhich (?:words|phrases|terms|parts|tokens|expressions)\b", ("which ",)),
]
# The value of one NAMED attribute or entity type (a short quoted name, ``QUOTED_NAME`` in the instruction),
# taken from a text the prompt names: "Identify the 'Color' in the product title '...'", "Locate the
# 'Style' in the following product title", "the element identified as 'Size' in the title", "the
# attribute value corresponding to 'product type' mentioned in the query", "Considering the product
# title '...', select the appropriate 'Material'". One value or several, it is entity recognition.
_TEXT_NOUN = (r"(?:title|titles|query|queries|name|description|text|review|listing|sentence|input|passage|search|"
              r"utterance|judul|kueri|ulasan|deskripsi)")
_IN_TEXT = (
    r"(?:(?:that is |which is |as )?(?:mentioned|contained|found|present|appearing|stated|given|described|listed|"
    r"written|specified|included|shown|used|expressed|indicated)\s+)?(?:in|within|from|inside|pada|dari)\s+"
    r"(?:(?:the|this|that|a|an|its|following|given|above|below|provided)\s+)?(?:[\w'’-]+\s+){0,2}?" + _TEXT_NOUN + r"\b"
)
# attribute names a prompt may give without quotes: "Identify the brand in the product title"
_ATTRIBUTE = (
    r"(?:brand|brand name|colou?r|material|size|style|flavou?r|scent|model|model number|product type|pattern|"
    r"shape|gender|capacity|weight|dimensions?|quantity|theme|length|width|volume|power|voltage|age range|"
    r"target audience|occasion|fit|neckline|finish|fabric|category)"
)
_ATTRIBUTE_HINTS = (
    "brand", "colo", "material", "size", "style", "flavo", "scent", "model", "type", "pattern", "shape", "gender",
    "capacity", "weight", "dimension", "quantity", "theme", "length", "width", "volume", "power", "voltage", "age range",
    "audience", "occasion", "fit", "neckline", "finish", "fabric", "category",
)  # a word of every _ATTRIBUTE alternative
NAMED_VALUE = [
    Cue(QUOTED_NAME + r"\s*(?:attribute|value|entity|type|aspect|field)?\s*" + _IN_TEXT,
        (QUOTED_NAME,)),
    Cue(r"\b(?:identified|labell?ed|tagged|classified|categori[sz]ed|annotated|marked|described|defined|known)\s+as\s+"
        r"(?:an?\s+|the\s+)?(?:entity\s+|attribute\s+)?(?:type\s+)?" + QUOTED_NAME,
        (QUOTED_NAME,)),
    Cue(r"\b(?:values?|spans?|phrases?|words?|parts?|tokens?|terms?|elements?|text|mentions?)\s+(?:that\s+|which\s+)?"
        r"(?:corresponds?|corresponding|refers?|referring|belongs?|belonging|matching|matches|relat(?:ed|es|ing)|"
        r"pertain\w*|associated|fits?|fitting)\s+(?:to|with)\s+(?:the\s+)?(?:attribute\s+|entity\s+type\s+|type\s+|"
        r"aspect\s+|category\s+)?" + QUOTED_NAME,
        (QUOTED_NAME,)),
    Cue(r"\bvalues?\s+(?:of|for)\s+(?:the\s+)?(?:attribute\s+|field\s+|property\s+|aspect\s+|slot\s+|entity(?:\s+type)?\s+)?"
        r"(?:" + QUOTED_NAME + r"|[\w'’-]+(?:\s+[\w'’-]+){0,2}\s*(?:[.?!:;,]|$))",
        ("value",)),
    Cue(r"\b(?:appropriate|correct|right|relevant|corresponding|matching|proper|suitable|applicable)\s+" + QUOTED_NAME,
        (QUOTED_NAME,)),
    Cue(r"\b(?:identify|extract|find|locate|determine|tag|detect|pull out|output|return|name|what is|what's|which is|"
        r"what are|which are)\s+(?:the\s+|its\s+|all\s+|any\s+)?" + _ATTRIBUTE
        + r"(?:\s+(?:names?|values?|attributes?|mentions?))?(?:\s+(?:of|for)\s+(?:the|this|that|each)\s+(?:product|item|listing))?"
        r"\s+" + _IN_TEXT,
        _ATTRIBUTE_HINTS),
    # "find the value of the attribute in the title" (the attribute given in its own field)
    Cue(r"\bvalues?\s+of\s+(?:the|this|that|each)\s+(?:given\s+|specified\s+|named\s+|following\s+|above\s+)?"
        r"(?:attribute|aspect|property|field|entity type)\b",
        ("value",)),
    # the same in other languages: "identifiez la marque", "welche Farbe", "¿cuál es la marca", "找出表示“颜色”"
    Cue(r"(?:\b(?:identifi\w*|individu\w*|trouve\w*|encuentr\w*|finde\w*|bestimm\w*|localiz\w*|estrai\w*|extra\w*|"
        r"welke|welche[rs]?|cu[áa]l|quel(?:le)?|qual|quale|wskaż|znajdź|jak[aiey])\b|找出|找到|提取|抽出|特定)[^.?!。？]{0,30}?"
        r"(?:\b(?:marca|marque|marke|merk(?:naam)?|marchio|marka|couleur|farbe|colore|cor|kleur|kolor|matériau|materiale|"
        r"materiaal|materiał|material|taille|größe|taglia|tamanho|talla|maat|rozmiar|modèle|modell|modello|modelo)\b|"
        r"ブランド|颜色|顏色|品牌|素材|材质|材料|サイズ|尺寸|尺码|브랜드|색상|소재|사이즈|" + QUOTED_NAME + r")",
        ("identifi", "individu", "trouve", "encuentr", "finde", "bestimm", "localiz", "estrai", "extra", "welke", "welche",
         "cu", "quel", "qual", "wskaż", "znajdź", "jak", "找出", "找到", "提取", "抽出", "特定")),
    # an extraction verb and an attribute named in one sentence: "tag the brand, the product line and
    # the model number in the query", "pick out the MATERIAL from this title", "temukan merek ..."
    Cue(r"\b(?:identify|extract|find|locate|determine|tag|detect|pick out|pull out|get|output|return|state|copy|"
        r"highlight|label|mark|temukan|cari|sebutkan|ekstrak|identifikasi|tentukan)\b[^.?!\n]{0,60}?"
        r"\b(?:brand|brand name|colou?r|material|size|style|flavou?r|scent|model|model number|product type|pattern|"
        r"shape|gender|capacity|weight|dimensions?|quantity|theme|length|width|volume|power|voltage|fabric|"
        r"product line|merek|warna|bahan|ukuran)s?\b",
        _VERB_HINTS + ("determine", "tag", "pick", "get", "state", "label", "temukan", "cari", "sebutkan", "ekstrak",
                       "tentukan")),
]
# "Extract MATERIAL from: ...", "extract the switch type from the product title", "From the description,
# extract the BATTERY LIFE.", "extract the value for SCREEN RESOLUTION": a verb and a short name (of up
# to three words, not a keyphrase, summary, answer or listed thing) taken from a text: an attribute.
EXTRACT_NAMED = Cue(
    r"\b(?:extract|identify|locate|determine|tag|pick out|pull out)\s+"
    r"(?:the\s+|its\s+)?(?:values?\s+(?:of|for)\s+(?:the\s+)?)?"
    r"(?!(?:the|its|a|an|this|that|these|main|key|primary|important|overall|general|sentiment|summary|gist|answer|"
    r"reason|meaning|purpose|topic|opinions?|keyphrases?|keywords?|phrases?|words?|sentences?|information|details?|"
    r"text|content|best|most|top|numbers?|indices|index|ids?|products?|items?|reviews?|all|every|each|any|relevant|"
    r"total|cost|price|one|two|three|four|five|six|several|some|\d+)\b)"
    r"(?:'x'|[\w'’-]+(?:\s+[\w'’-]+){0,2})\s*(?:\bfrom\b|\bin\b|\bwithin\b|\bof the\b|[.:;!?]|$)",
    ("extract", "identify", "locate", "determine", "tag", "pick out", "pull out"),
)
# A span of a title or query asked for without naming its type ("which word in the query is the color",
# "find the phrase that states the pack size", "copy it from the title"): an entity. The same ask of a
# review or description is keyphrase extraction (a phrase about an aspect: dev task6), i.e. generation.
_ENTITY_TEXT = r"(?:title|titles|query|queries|name|listing|utterance|search|input|judul|kueri)"
_ENTITY_FIELDS = frozenset((
    "query", "search query", "user query", "search", "keyword", "keywords", "title", "product title", "product name",
    "name", "input", "utterance", "judul", "kueri", "consulta", "requête", "suchanfrage", "titel", "título", "titre",
    "product", "product information", "product info", "item", "description", "product description", "bullet points",
    "features", "specs", "specifications", "about this item", "deskripsi", "produk",
    "titolo", "クエリ", "タイトル", "商品名", "商品タイトル", "标题", "商品标题", "查询", "搜索词", "검색어", "제목", "상품명",
))
_ENTITY_SOURCE = Cue(
    r"\b(?:title|titles|query|queries|product name|listing|utterance|search terms?|judul|kueri|consulta|requête|"
    r"suchanfrage|(?:produkt)?titel|título|titulo|titre|titolo|zoekopdracht)\b|クエリ|タイトル|商品名|标题|查询|搜索词|검색어|제목|상품명",
    ("title", "quer", "name", "listing", "utterance", "search", "judul", "kueri", "consulta", "requ", "anfrage",
     "titel", "títul", "titul", "titre", "titolo", "zoekopdracht", "クエリ", "タイトル", "商品名", "标题", "查询",
     "搜索词", "검색어", "제목", "상품명"),
)
_OPINION_FIELDS = frozenset((
    "review", "reviews", "review text", "user review", "customer review", "comment", "comments", "opinion",
    "ulasan", "reseña", "avis", "bewertung", "rezension",
    "recensione", "レビュー", "评论", "리뷰",
))
# "Title: ...\nAttribute: Storage capacity\nValue:": a template that names the attribute in a field
ATTRIBUTE_FIELD = Cue(r"(?:^|[\s.])(?:attribute|attribute name|entity type|entity|slot|property|field)\s*[:：]",
                      ("attribute", "entity", "slot", "property", "field"))
SPAN_RULES = [
    # "find the phrase that states the pack size", "pull out the attribute that describes the material"
    Cue(r"\b(?:phrases?|words?|spans?|parts?|substrings?|tokens?|terms?|expressions?|attributes?|values?|mentions?)\s+"
        r"(?:that|which)\s+(?:states?|describes?|refers?\s+to|indicates?|expresses?|gives?|tells?|names?|mentions?|"
        r"specif(?:y|ies)|denotes?|represents?|shows?)\b",
        ("that ", "which ")),
    # "which word in the query is the color", "which substring of the title tells the voltage"
    Cue(r"\b(?:which|what)\s+(?:words?|phrases?|terms?|spans?|parts?|expressions?|substrings?|tokens?)\s+"
        r"(?:in|of|from|within)\s+(?:the\s+|this\s+)?(?:[\w'’-]+\s+){0,2}?" + _ENTITY_TEXT + r"\b",
        ("which ", "what ")),
    # "which character or theme is named in this title"
    Cue(r"\b(?:which|what)\s+(?:[\w'’-]+\s+){1,3}?(?:is|are)\s+(?:named|mentioned|given|stated|written|listed|"
        r"specified|used|indicated)\s+in\s+(?:the\s+|this\s+)?(?:[\w'’-]+\s+){0,2}?" + _ENTITY_TEXT + r"\b",
        ("which ", "what ")),
]
# The answer is a span copied from the text: "return it verbatim", "which span", "the part of the title
# that is the brand", "tal como aparece", "telle quelle", "原文", "を表す部分".
SPAN = Cue(
    r"\bspans?\b|\bverbatim\b|\bexactly as (?:it|they) appears?\b|\bas (?:it|they) appears? in\b|"
    r"\bcopy (?:it |them )?(?:exactly|verbatim|as is)\b|\bcop(?:y|ied) (?:it |them |that |this )?(?:from|out of)\b|"
    r"\bas (?:it is )?written\b|"
    r"\b(?:which|what) part of\b|\bpart of (?:the|this) (?:\w+ )?"
    r"(?:title|query|name|text)\b|\btal (?:como|y como) aparece|\btelle? quelle?\b|\btels? quels?\b|"
    r"\bwie (?:es|sie|er) im\b|\bzoals (?:die|het|ze|hij) in\b|\bcos[ìi] come (?:appare|compare)\b|"
    r"\bcomo aparece\b|原文|そのまま|を表す部分|的词语|的詞語",
    ("span", "verbatim", "appear", "copy", "copied", "written", "part of", "aparece", "quel", "wie ", "zoals", "come ", "原文", "そのまま",
     "を表す部分", "的词语", "的詞語"),
)
# "... If there are several, separate them with commas": the answer may hold more than one phrase
SEVERAL = Cue(
    r"\bif there (?:are|is) (?:several|multiple|more than one|many)\b|\bsi hay (?:varias|varios|m[áa]s de)\b|"
    r"\bs'il y en a plusieurs\b|\bfalls es mehrere\b|\bwenn es mehrere\b|\bse ce ne sono (?:diversi|pi[ùu])\b|"
    r"\bse houver (?:v[áa]ri[oa]s|mais de)\b",
    ("if there", "si hay", "plusieurs", "mehrere", "se ce ne", "se houver"),
)
_ANY_VERB = Cue(_VERB, _VERB_HINTS)
ONE_PER_LINE = re.compile(r"\b(?:" + _PER_LINE + r"|(?:each|one) on a (?:new|separate) line|line by line)\b")
# "Which phrase in the query is the brand? If there are several, separate them with commas."
WHICH_PHRASE = Cue(r"\b(?:which|what) (?:word|phrase|term|span|part|expression)s? (?:in|of|from) ", ("which ", "what "))
_WITHIN_A_SENTENCE = r"(?:(?!\. ).){0,160}"
EXTRACTION = Cue(  # a verb then "all"/a plural; in Japanese/Chinese/Korean "all" comes first ("すべて抜き出して")
    _VERB + r"(?=" + _WITHIN_A_SENTENCE + _MANY + r")|(?:すべて|全て|全部|所有|모두|전부)(?=.{0,40}" + _VERB + r")",
    _VERB_HINTS + ("すべて", "全て", "全部", "所有", "모두", "전부"),
)
_NUMBERS = Cue(r"(?<!without )(?<!no )(?<!model )\b(?:numbers?|indices|indexes|index|ids)\b", ("number", "ind", "ids"))  # "list the numbers of ...": retrieval
# "extract the keyphrase", "only one keyphrase": one phrase is generation, not a list.
SINGLE_PHRASE = Cue(
    r"\b(?:the|one|a|only one|exactly one)\s+(?:single\s+|short\s+|key\s*)?"
    r"(?:key ?phrase|key ?word|phrase|word|term|sentence|span)\b",
    ("phrase", "word", "term", "sentence", "span"),
)


def asks_for(info: PromptInfo) -> int:
    text = info.instruction
    if ENTITY_TYPE.search(text):
        return EXPLICIT  # an entity type named as such outweighs "the key phrase" of the same sentence
    if asks_for_keyphrases(text):
        return NO  # keyphrases and keywords are generation (see utilities/tasks/generation.py)
    if any_match(ENTITY, text):
        return STRONG
    if info.n_candidates >= 2 and _NUMBERS.search(text):
        return NO  # the numbers of listed items: retrieval ("the indices of products whose material is cotton")
    named = _SOURCE.search(text) is not None  # the instruction names the text ("in the query")
    given = bool(info.data_labels)  # or the prompt gives it in a field ("Query: ...")
    listed = _COMMA.search(text) is not None  # the answer is to be a list ("separated by commas")
    if not (named or given or listed):
        return NO  # every rule below takes its phrases from a text the prompt names, or asks for a list
    if (named or given) and (any_match(NAMED_VALUE, text) or (info.n_candidates < 2 and EXTRACT_NAMED.search(text))):
        return STRONG
    # the prompt's text is a title, query or product description: named by the instruction, or given
    # without a review beside it (whose phrases about an aspect are keyphrases)
    entity_text = _ENTITY_SOURCE.search(text) is not None or (
        not _ENTITY_FIELDS.isdisjoint(info.data_labels) and _OPINION_FIELDS.isdisjoint(info.data_labels))
    if entity_text and (SPAN.search(text) or any_match(SPAN_RULES, text) or ATTRIBUTE_FIELD.search(text)):
        return STRONG
    if SINGLE_PHRASE.search(text):
        return NO  # one phrase is generation
    if not (named or listed):
        return NO  # a verb and a plural ask for a list of phrases only of a text the instruction names
    if info.requested_count == 1:
        return NO  # one phrase is generation
    if EXTRACTION.search(text):
        return STRONG
    if not named:
        return NO
    which = WHICH_PHRASE.search(text) is not None
    if (which or _ANY_VERB.search(text)) and (SEVERAL.search(text) or (which and listed)):
        return STRONG
    return NO


def decode_spec(info: PromptInfo, table: TokenTable) -> DecodeSpec:
    bias = none_penalty(table)
    fixed = {i: PROMPT_TOKEN_BOOST for i in (*table.comma_ids, *table.eos_ids)}
    room = MAX_LOGIT_BIAS_ENTRIES - len(bias) - len(fixed)
    # the entity sits in the query at the end of the prompt: keep the last distinct tokens
    prompt_ids = list(dict.fromkeys(reversed(table.encode(info.text))))
    boost = {i: PROMPT_TOKEN_BOOST for i in prompt_ids[:room] if i not in bias}
    return DecodeSpec(
        max_new_tokens=MAX_NEW_TOKENS, logit_bias={**boost, **fixed, **bias},
        # the list ends with its line, unless the prompt asks for one entity per line
        stop=("\n\n",) if ONE_PER_LINE.search(info.instruction) else ("\n",),
    )


_BULLET = re.compile(r"^\s*(?:[-*•]+|\d{1,2}[.)])\s+")  # "- x", "• x", "1. x"; never the "3" of "3m"
_LABEL_ECHO = re.compile(r"^\s*(?:output|answer|response|assistant|entit(?:y|ies))\s*[:：]\s*", re.IGNORECASE)
_WORDLIKE = re.compile(r"[^\W_]")  # an entity holds a letter or digit: "-", "..." or "🙂" is none
# A fallback lists the subject's first words, each as one entity. Where the entity sits among the
# n words is unknown; listing k of them scores micro-F1 2k / (n (k + 1)) on a one-word entity, which
# grows with k, so a whole query (dev queries: 2-5 words) is listed; 5 bounds the false positives
# that a long subject (a title, a review) would add.
FALLBACK_WORDS = 5
_EDGE_PUNCTUATION = "".join(chr(c) for c in range(0x21, 0x7F) if not chr(c).isalnum()) + "“”‘’«»「」（）【】、，。：；！？"


def split_entities(text: str) -> list[str]:
    """The phrases of a reply: a Python list literal, else comma/semicolon/newline separated."""
    text = text.strip() if isinstance(text, str) else ""
    items: list[str] | None = None
    if text.startswith("["):
        try:
            value = ast.literal_eval(text)
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):  # "[{['nike']}]": unhashable
            value = None
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            items = value
    if items is None:
        items = re.split(r"[,;\n、，]|\s+\d{1,2}[.)]\s+", text)  # "1. nike 2. adidas": enumerators separate too
    out: list[str] = []
    seen: set[str] = set()
    for item in items:
        item = _BULLET.sub("", _LABEL_ECHO.sub("", item)).strip(" \t\"'`[]")
        key = item.lower()
        if _WORDLIKE.search(item) and key not in seen and key not in ("none", "n/a"):
            seen.add(key)
            out.append(item)
    return out


# Words that never make an entity on their own ("The brand is Nike": "the", "is" are in most titles).
_FUNCTION_WORDS = frozenset((
    "a", "an", "the", "is", "are", "was", "be", "of", "in", "on", "at", "to", "for", "from", "by", "with", "and",
    "or", "it", "its", "this", "that", "these", "those", "as", "no", "not", "none", "entity", "type", "query",
    "title", "product", "brand", "answer", "output",
))


def ground(item: str, source: str) -> str:
    """``item`` as a span of ``source``: itself when the source holds it (any case); else its longest
    run of whole words that the source holds, unless that run is only function words; else ''.

    Entities are taken from the text ("extract phrases from the query"): a reply that wraps one in
    a sentence ("The brand in this title is Nike.") keeps the span ("Nike"), and one that only
    echoes the instruction keeps nothing (the task's fallback then answers)."""
    low = source.lower()

    def holds(phrase: str) -> bool:
        return re.search(r"(?<!\w)" + re.escape(phrase.lower()) + r"(?!\w)", low) is not None

    if holds(item):
        return item
    words = [w.strip(_EDGE_PUNCTUATION) for w in item.split()]
    best: list[str] = []
    for i in range(len(words)):
        for j in range(len(words), i + len(best), -1):  # longest first; only runs longer than the best
            run = [w for w in words[i:j] if w]
            if run and holds(" ".join(run)) and any(w.lower() not in _FUNCTION_WORDS for w in run):
                best = run
                break
    return " ".join(best)


def read(text: str, info: PromptInfo) -> str:
    """The reply's entities, comma-separated, without repeats, each grounded in the text the
    instruction takes them from (``ground``; a prompt without such a text keeps them as written);
    '' when it names none."""
    entities = split_entities(text)
    source = subject_text(info, or_instruction=False) if entities else ""
    if _WORDLIKE.search(source):
        grounded = (ground(e, source) for e in entities)
        entities = list(dict.fromkeys(e for e in grounded if e))
    return ", ".join(entities)


def fallback(info: PromptInfo) -> str:
    """The first words of the text the instruction takes entities from (the field it names, e.g.
    "Query: ...", a quoted title, else the prompt's first words: see ``subject_text``), each word
    one entity, stripped of edge punctuation, without repeats."""
    words: list[str] = []
    for word in re.split(r"[\s,;、，]+", subject_text(info)):
        word = word.strip(_EDGE_PUNCTUATION)
        if _WORDLIKE.search(word) and word.lower() not in {w.lower() for w in words}:
            words.append(word)
    return ", ".join(words[:FALLBACK_WORDS]) or BLANK_PROMPT_ANSWER


def answer_of(entities) -> str:
    """The entities, comma-separated: ["cadbury", "nestle"] -> "cadbury, nestle"."""
    return ", ".join(str(e).strip() for e in entities)


def problem(answer: str, info: PromptInfo) -> str | None:
    parsed = parse(NAME, answer)
    if not parsed or not all(isinstance(e, str) and e.strip() for e in parsed):
        return "the answer has no entity"
    return None


def simulated_reply(truth, info: PromptInfo, rng, metric: str = "") -> str:
    entities = [e for e in truth if rng.random() < 0.7]  # partly right
    words = re.findall(r"[^\W\d_]{3,}", info.text[-120:])
    if words and rng.random() < 0.4:  # and partly wrong
        entities.append(rng.choice(words))
    entities = [e.title() if rng.random() < 0.3 else e for e in entities]
    if entities and rng.random() < 0.1:
        entities.append(entities[0])
    return str(entities) if rng.random() < 0.2 else ", ".join(entities)


TASK = Task(name=NAME, label=LABEL, asks_for=asks_for, decode_spec=decode_spec, read=read, fallback=fallback,
            answer_of=answer_of, problem=problem, answer_format="a list of entities",
            simulated_reply=simulated_reply)
