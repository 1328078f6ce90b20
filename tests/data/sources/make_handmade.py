"""Write the hand-made fixtures of ``tests/data/sources`` (see SOURCE.md there). Deterministic.

    .venv/bin/python tests/data/sources/make_handmade.py

Writes, in the real schemas of the downloads: ``esci/*.parquet``, ``amazon_m2/products_train.csv``
and ``amazon_m2/sessions_train_handmade_malformed.csv``, ``amazon_reviews_2023/*.jsonl[.gz]`` and
``ecinstruct/*.json[l]``. It reads the real M2 sessions copied beside it (``sessions_train.csv``, the
task3 parquet) to give every id in them a ``products_train.csv`` row. The texts come from the small
vocabularies below; every deliberately malformed row is marked with a comment.
"""
from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import random
import re
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

HERE = Path(__file__).resolve().parent

# ---- shared vocabulary ------------------------------------------------------------------------

COLORS = {
    "en": ["Black", "White", "Blue", "Red", "Gray", "Green", "Pink"],
    "es": ["Negro", "Blanco", "Azul", "Rojo", "Gris", "Verde", "Rosa"],
    "ja": ["ブラック", "ホワイト", "ブルー", "レッド", "グレー", "グリーン", "ピンク"],
    "de": ["Schwarz", "Weiß", "Blau", "Rot", "Grau", "Grün", "Rosa"],
    "fr": ["Noir", "Blanc", "Bleu", "Rouge", "Gris", "Vert", "Rose"],
    "it": ["Nero", "Bianco", "Blu", "Rosso", "Grigio", "Verde", "Rosa"],
}
MATERIALS = {  # key -> per language
    "plastic": dict(en="Plastic", es="Plástico", ja="プラスチック", de="Kunststoff", fr="Plastique", it="Plastica"),
    "silicone": dict(en="Silicone", es="Silicona", ja="シリコン", de="Silikon", fr="Silicone", it="Silicone"),
    "leather": dict(en="Leather", es="Cuero", ja="レザー", de="Leder", fr="Cuir", it="Pelle"),
    "steel": dict(en="Stainless Steel", es="Acero Inoxidable", ja="ステンレス", de="Edelstahl", fr="Acier Inoxydable",
                  it="Acciaio Inossidabile"),
    "tpe": dict(en="TPE", es="TPE", ja="TPE", de="TPE", fr="TPE", it="TPE"),
    "rubber": dict(en="Natural Rubber", es="Caucho Natural", ja="天然ゴム", de="Naturkautschuk", fr="Caoutchouc Naturel",
                   it="Gomma Naturale"),
    "cotton": dict(en="Cotton", es="Algodón", ja="綿", de="Baumwolle", fr="Coton", it="Cotone"),
    "polyester": dict(en="Polyester", es="Poliéster", ja="ポリエステル", de="Polyester", fr="Polyester", it="Poliestere"),
    "mesh": dict(en="Mesh", es="Malla", ja="メッシュ", de="Mesh", fr="Maille", it="Rete"),
    "eva": dict(en="EVA Foam", es="Espuma EVA", ja="EVAフォーム", de="EVA-Schaum", fr="Mousse EVA", it="Schiuma EVA"),
    "cork": dict(en="Cork", es="Corcho", ja="コルク", de="Kork", fr="Liège", it="Sughero"),
    "glass": dict(en="Tempered Glass", es="Vidrio Templado", ja="強化ガラス", de="Gehärtetes Glas", fr="Verre Trempé",
                  it="Vetro Temperato"),
    "tpu": dict(en="TPU", es="TPU", ja="TPU", de="TPU", fr="TPU", it="TPU"),
}

# A family: per language (type name, features). en/es/ja features are (short, sentence) pairs (ESCI
# bullets and descriptions); de/fr/it only short features (M2 titles). brands/models per family,
# "brands_ja" where Japanese listings write the brand in katakana; sizes per size group.
F: dict[str, dict] = {}


def family(key, *, brands, models=None, brands_ja=None, brands_es=None, sizes=None, materials=("plastic",),
           colors=tuple(range(7)), **langs):
    F[key] = dict(brands=brands, models=models, brands_ja=brands_ja, brands_es=brands_es, sizes=sizes,
                  materials=materials, colors=colors, **langs)


family("earbuds", brands=["Sony", "JBL", "Anker Soundcore", "Jabra", "Skullcandy"],
       brands_ja=["ソニー(SONY)", "JBL", "Anker", "Jabra", "オーディオテクニカ(audio-technica)"],
       models=["WF-C700N", "Tune Beam", "Liberty 4 NC", "Elite 4", "Dime 3"],
       en=("Wireless Earbuds", [
           ("Active Noise Cancelling", "cuts out traffic, engine and office noise so you can focus on your music"),
           ("30H Playtime", "up to 8 hours per charge and 30 hours in total with the compact charging case"),
           ("IPX4 Water Resistant", "sweat and splash resistant for workouts and rainy commutes"),
           ("Bluetooth 5.3", "stable connection and one-step pairing with iPhone and Android"),
           ("Built-in Mic", "four microphones pick up your voice clearly on calls")]),
       es=("Auriculares Inalámbricos", [
           ("Cancelación Activa de Ruido", "reduce el ruido del tráfico y de la oficina para que disfrutes de tu música"),
           ("30 Horas de Autonomía", "hasta 8 horas por carga y 30 horas en total con el estuche de carga"),
           ("Resistentes al Agua IPX4", "resisten el sudor y las salpicaduras durante el entrenamiento"),
           ("Bluetooth 5.3", "conexión estable y emparejamiento rápido con iPhone y Android"),
           ("Micrófono Integrado", "cuatro micrófonos captan tu voz con claridad en las llamadas")]),
       ja=("ワイヤレスイヤホン", [
           ("ノイズキャンセリング", "電車やカフェの騒音を抑えて音楽に集中できます"),
           ("最大30時間再生", "本体のみで8時間、充電ケース併用で最大30時間再生"),
           ("IPX4防水", "汗や雨に強くスポーツにも安心"),
           ("Bluetooth5.3", "iPhone・Androidと安定して接続できます"),
           ("マイク内蔵", "クリアな音声でハンズフリー通話が可能")]),
       de=("Bluetooth Kopfhörer In Ear", ["Aktive Geräuschunterdrückung", "30 Std. Akkulaufzeit", "IPX4 Wasserdicht",
                                          "Bluetooth 5.3", "Integriertes Mikrofon"]),
       fr=("Écouteurs Sans Fil Bluetooth", ["Réduction de Bruit Active", "30H d'Autonomie", "Étanche IPX4",
                                            "Bluetooth 5.3", "Micro Intégré"]),
       it=("Auricolari Wireless", ["Cancellazione Attiva del Rumore", "30 Ore di Autonomia", "Impermeabili IPX4",
                                   "Bluetooth 5.3", "Microfono Integrato"]))
family("headphones", brands=["Sony", "Bose", "Beats", "Sennheiser"],
       brands_ja=["ソニー(SONY)", "ボーズ(Bose)", "Beats", "ゼンハイザー(Sennheiser)"],
       models=["WH-CH720N", "QuietComfort 45", "Solo 4", "Momentum 4"], materials=("plastic", "leather"),
       en=("Over-Ear Headphones", [
           ("Foldable Design", "folds flat to fit in the included travel case"),
           ("40mm Drivers", "deep bass and clear highs from large 40mm drivers"),
           ("50H Battery", "up to 50 hours of wireless listening on a single charge")]),
       es=("Auriculares de Diadema", [
           ("Diseño Plegable", "se pliegan para guardarlos en el estuche de viaje"),
           ("Drivers de 40 mm", "graves profundos y agudos nítidos"),
           ("50 Horas de Batería", "hasta 50 horas de música inalámbrica con una carga")]),
       ja=("ワイヤレスヘッドホン", [
           ("折りたたみ式", "コンパクトに折りたためて持ち運びに便利"),
           ("40mmドライバー", "迫力の低音とクリアな高音"),
           ("最大50時間再生", "1回の充電で最大50時間使用可能")]),
       de=("Over-Ear Kopfhörer Kabellos", ["Faltbares Design", "40-mm-Treiber", "50 Std. Akku"]),
       fr=("Casque Audio Sans Fil", ["Pliable", "Haut-Parleurs 40 mm", "50H d'Autonomie"]),
       it=("Cuffie Over-Ear Bluetooth", ["Pieghevoli", "Driver da 40 mm", "50 Ore di Batteria"]))
family("earbud_case", brands=["Spigen", "ESR", "elago"], materials=("silicone",),
       en=("Silicone Case Cover for Earbuds Charging Case", [
           ("Shockproof", "soft silicone absorbs bumps and drops"),
           ("Keychain Included", "clip it to your bag or keys"),
           ("Front LED Visible", "the charging light stays visible")]),
       es=("Funda de Silicona para Estuche de Auriculares", [
           ("A Prueba de Golpes", "la silicona suave absorbe golpes y caídas"),
           ("Con Mosquetón", "engánchala a la mochila o a las llaves"),
           ("LED Frontal Visible", "el indicador de carga sigue a la vista")]),
       ja=("イヤホンケース カバー シリコン", [
           ("耐衝撃", "柔らかいシリコンが落下の衝撃を吸収"),
           ("カラビナ付き", "バッグや鍵に取り付けられます"),
           ("LEDが見える", "充電ランプを確認できます")]))
family("running_shoes", brands=["Nike", "ASICS", "Brooks", "New Balance", "adidas"],
       brands_ja=["ナイキ(NIKE)", "アシックス(ASICS)", "Brooks", "ニューバランス(New Balance)", "アディダス(adidas)"],
       models=["Revolution 7", "GEL-Contend 8", "Ghost 15", "Fresh Foam 680", "Duramo SL"], materials=("mesh",),
       sizes=dict(us=["Size 9", "Size 10", "Size 11"], uk=["8 UK", "9 UK", "10 UK"], eu=["42 EU", "43 EU", "44 EU"],
                  ja=["26.5cm", "27.0cm", "27.5cm"]),
       en=("Men's Running Shoes", [
           ("Breathable Mesh Upper", "engineered mesh keeps feet cool on long runs"),
           ("Cushioned Midsole", "responsive foam absorbs impact mile after mile"),
           ("Rubber Outsole", "durable rubber gives grip on road and track"),
           ("Lightweight", "weighs just 9.5 oz in a men's size 9")]),
       es=("Zapatillas de Running para Hombre", [
           ("Malla Transpirable", "mantiene los pies frescos en carreras largas"),
           ("Mediasuela Amortiguada", "la espuma absorbe el impacto en cada zancada"),
           ("Suela de Goma", "agarre duradero en asfalto y pista"),
           ("Ligeras", "solo 270 g en la talla 42")]),
       ja=("ランニングシューズ メンズ", [
           ("通気性メッシュ", "長距離でもムレにくいメッシュアッパー"),
           ("クッション性", "衝撃を吸収する軽量ミッドソール"),
           ("ラバーアウトソール", "路面をしっかりグリップ"),
           ("軽量", "片足約270g（26.5cm）")]),
       de=("Laufschuhe Herren", ["Atmungsaktives Mesh", "Gedämpfte Zwischensohle", "Gummi-Außensohle", "Leicht"]),
       fr=("Chaussures de Running Homme", ["Tige en Mesh Respirant", "Semelle Amortissante", "Semelle Caoutchouc",
                                           "Légères"]),
       it=("Scarpe da Corsa Uomo", ["Tomaia in Mesh Traspirante", "Intersuola Ammortizzata", "Suola in Gomma",
                                    "Leggere"]))
family("walking_shoes", brands=["Skechers", "Clarks", "Hush Puppies"], materials=("mesh", "leather"),
       sizes=dict(us=["Size 9", "Size 10", "Size 11"], eu=["42 EU", "43 EU", "44 EU"], ja=["26.5cm", "27.0cm", "27.5cm"]),
       en=("Men's Walking Shoes", [
           ("Slip-On", "easy on and off with elastic laces"),
           ("Memory Foam Insole", "soft insole for all-day comfort"),
           ("Non-Slip Sole", "stable on wet floors")]),
       es=("Zapatillas para Caminar Hombre", [
           ("Sin Cordones", "se ponen y se quitan en segundos"),
           ("Plantilla Memory Foam", "comodidad durante todo el día"),
           ("Suela Antideslizante", "estables sobre suelo mojado")]),
       ja=("ウォーキングシューズ メンズ", [
           ("スリッポン", "脱ぎ履きが簡単"),
           ("低反発インソール", "一日中快適な履き心地"),
           ("滑りにくいソール", "濡れた床でも安心")]))
family("running_socks", brands=["Bombas", "Balega", "Under Armour"], materials=("cotton", "polyester"),
       sizes=dict(all=["M", "L", "XL"]),
       en=("Athletic Running Socks, 6 Pairs", [
           ("Moisture Wicking", "pulls sweat away to keep feet dry"),
           ("Arch Support", "a snug band hugs the arch"),
           ("Cushioned Heel", "extra padding where you land")]),
       es=("Calcetines de Running (6 Pares)", [
           ("Transpirables", "absorben el sudor y mantienen los pies secos"),
           ("Soporte de Arco", "banda elástica que sujeta el arco"),
           ("Talón Acolchado", "acolchado extra en el talón")]),
       ja=("ランニングソックス 6足組", [
           ("吸汗速乾", "汗を吸ってすばやく乾く"),
           ("アーチサポート", "土踏まずをしっかりサポート"),
           ("かかとクッション", "着地の衝撃をやわらげる")]),
       de=("Laufsocken 6 Paar", ["Feuchtigkeitsableitend", "Fußgewölbestütze", "Gepolsterte Ferse"]),
       fr=("Chaussettes de Running Lot de 6", ["Anti-Transpiration", "Maintien de la Voûte", "Talon Rembourré"]),
       it=("Calze da Running 6 Paia", ["Traspiranti", "Supporto dell'Arco", "Tallone Imbottito"]))
family("water_bottle", brands=["Hydro Flask", "Owala", "Simple Modern", "Thermos", "Stanley"],
       brands_ja=["Hydro Flask", "Owala", "Simple Modern", "サーモス(THERMOS)", "スタンレー(STANLEY)"],
       models=["Wide Mouth", "FreeSip", "Summit", "FFR-1004", "IceFlow"], materials=("steel",),
       sizes=dict(us=["24 oz", "32 oz", "40 oz"], uk=["500 ml", "750 ml", "1 L"], eu=["500 ml", "750 ml", "1 L"],
                  ja=["500ml", "750ml", "1L"]),
       en=("Insulated Stainless Steel Water Bottle with Straw Lid", [
           ("Keeps Drinks Cold 24 Hours", "double-wall vacuum insulation keeps water cold for 24 hours and hot for 12"),
           ("Leak-Proof Lid", "the locking lid won't spill in your bag"),
           ("BPA Free", "food-grade 18/8 stainless steel with no metallic taste"),
           ("Dishwasher Safe", "the lid and straw go in the top rack")]),
       es=("Botella de Agua Térmica de Acero Inoxidable", [
           ("Mantiene el Frío 24 Horas", "doble pared al vacío: frío 24 horas y caliente 12 horas"),
           ("Tapa Antigoteo", "no se derrama en la mochila"),
           ("Sin BPA", "acero inoxidable 18/8 sin sabor metálico"),
           ("Apta para Lavavajillas", "la tapa y la pajita se lavan en el lavavajillas")]),
       ja=("水筒 ステンレスボトル 真空断熱", [
           ("保冷24時間", "真空断熱構造で保冷24時間・保温12時間"),
           ("漏れ防止", "ロック付きでカバンの中でも安心"),
           ("BPAフリー", "18-8ステンレス製で金属臭が少ない"),
           ("食洗機対応", "フタとストローは食洗機で洗えます")]),
       de=("Trinkflasche Edelstahl Isoliert", ["24 Std. Kalt", "Auslaufsicher", "BPA-frei", "Spülmaschinenfest"]),
       fr=("Gourde Isotherme en Inox", ["Garde au Frais 24h", "Anti-Fuite", "Sans BPA", "Lavable au Lave-Vaisselle"]),
       it=("Borraccia Termica in Acciaio Inox", ["Mantiene Freddo 24 Ore", "A Prova di Perdite", "Senza BPA",
                                                 "Lavabile in Lavastoviglie"]))
family("tumbler", brands=["Stanley", "YETI", "Simple Modern"], materials=("steel",),
       sizes=dict(us=["20 oz", "30 oz", "40 oz"], eu=["600 ml", "900 ml", "1.2 L"], ja=["600ml", "900ml", "1.2L"]),
       en=("Insulated Tumbler with Lid and Straw", [
           ("Fits Cup Holders", "the tapered base fits most car cup holders"),
           ("Comfort Handle", "an ergonomic handle for easy carrying"),
           ("Sweat-Free", "no condensation on the outside")]),
       es=("Vaso Térmico con Tapa y Pajita", [
           ("Cabe en Portavasos", "base estrecha que cabe en el portavasos del coche"),
           ("Asa Ergonómica", "fácil de transportar"),
           ("Sin Condensación", "no gotea por fuera")]),
       ja=("タンブラー 蓋付き ストロー付き 保冷", [
           ("ドリンクホルダー対応", "車のドリンクホルダーに入るスリム底"),
           ("持ち手付き", "持ち運びしやすいハンドル"),
           ("結露しない", "外側に水滴がつきにくい")]))
family("bottle_brush", brands=["OXO", "Holikme", "MR.SIGA"], materials=("plastic",),
       en=("Bottle Cleaning Brush Set, 5 Pack", [
           ("Long Handle", "reaches the bottom of tall bottles"),
           ("Straw Brushes Included", "two thin brushes for straws and lids"),
           ("Soft Bristles", "won't scratch stainless steel")]),
       es=("Set de Cepillos para Limpiar Botellas (5 Piezas)", [
           ("Mango Largo", "llega al fondo de las botellas altas"),
           ("Incluye Cepillos para Pajitas", "dos cepillos finos para pajitas y tapas"),
           ("Cerdas Suaves", "no rayan el acero")]),
       ja=("ボトル洗いブラシ 5本セット", [
           ("ロングハンドル", "水筒の底まで届く"),
           ("ストローブラシ付き", "ストローやフタの細部も洗える"),
           ("やわらか毛", "ステンレスを傷つけない")]))
family("phone_case", brands=["OtterBox", "Spigen", "ESR", "Smartish", "Caseology"],
       models=["Symmetry", "Ultra Hybrid", "Classic Hybrid", "Gripmunk", "Parallax"],
       materials=("tpu", "silicone", "leather"),
       en=("Case for iPhone 14", [
           ("Military Grade Drop Protection", "tested to survive drops from 10 feet"),
           ("Raised Edges", "a raised bezel protects the screen and camera"),
           ("MagSafe Compatible", "built-in magnets work with MagSafe chargers"),
           ("Slim Fit", "adds minimal bulk and slips into pockets")]),
       es=("Funda para iPhone 14", [
           ("Protección Militar Anticaídas", "soporta caídas de hasta 3 metros"),
           ("Bordes Elevados", "protegen la pantalla y la cámara"),
           ("Compatible con MagSafe", "imanes integrados para cargadores MagSafe"),
           ("Diseño Delgado", "apenas añade grosor")]),
       ja=("iPhone 14 ケース", [
           ("米軍MIL規格", "3mの落下試験をクリア"),
           ("レンズ保護", "カメラと画面を守るフチ高設計"),
           ("MagSafe対応", "マグネット内蔵でMagSafe充電に対応"),
           ("薄型", "ポケットにすっきり収まる")]),
       de=("Hülle für iPhone 14", ["Militärischer Fallschutz", "Erhöhte Ränder", "MagSafe Kompatibel", "Dünn"]),
       fr=("Coque pour iPhone 14", ["Protection Anti-Chute Militaire", "Bords Surélevés", "Compatible MagSafe",
                                    "Fine"]),
       it=("Cover per iPhone 14", ["Protezione Militare Anti-Caduta", "Bordi Rialzati", "Compatibile MagSafe",
                                   "Sottile"]))
family("phone13_case", brands=["Spigen", "ESR", "Caseology"], materials=("tpu",),
       en=("Case for iPhone 13", [
           ("Shockproof", "absorbs shocks at the corners"),
           ("Clear Back", "shows off the phone's color"),
           ("Anti-Yellowing", "stays clear over time")]),
       es=("Funda para iPhone 13", [
           ("Antigolpes", "absorbe los golpes en las esquinas"),
           ("Trasera Transparente", "deja ver el color del móvil"),
           ("No Amarillea", "se mantiene transparente")]),
       ja=("iPhone 13 ケース", [
           ("耐衝撃", "四隅で衝撃を吸収"),
           ("クリア", "本体の色を活かせる透明背面"),
           ("黄ばみにくい", "長く透明を保つ")]))
family("screen_protector", brands=["amFilm", "Spigen", "ESR", "JETech"], materials=("glass",),
       en=("Tempered Glass Screen Protector for iPhone 14, 3 Pack", [
           ("9H Hardness", "resists scratches from keys and coins"),
           ("Easy Installation Frame", "an alignment frame gives a bubble-free fit"),
           ("Case Friendly", "leaves room for most cases")]),
       es=("Protector de Pantalla de Cristal Templado para iPhone 14 (3 Unidades)", [
           ("Dureza 9H", "resiste arañazos de llaves y monedas"),
           ("Marco de Instalación", "colocación fácil y sin burbujas"),
           ("Compatible con Fundas", "deja espacio para la mayoría de fundas")]),
       ja=("iPhone 14 ガラスフィルム 3枚入り", [
           ("硬度9H", "鍵や硬貨による傷を防ぐ"),
           ("ガイド枠付き", "気泡なしで簡単に貼れる"),
           ("ケース干渉なし", "ほとんどのケースと併用可能")]),
       de=("Panzerglas Schutzfolie für iPhone 14, 3 Stück", ["9H Härte", "Einfache Montage", "Hüllenfreundlich"]),
       fr=("Verre Trempé pour iPhone 14, Lot de 3", ["Dureté 9H", "Installation Facile", "Compatible avec Coque"]),
       it=("Vetro Temperato per iPhone 14, 3 Pezzi", ["Durezza 9H", "Installazione Facile", "Compatibile con Cover"]))
family("yoga_mat", brands=["Gaiam", "Manduka", "BalanceFrom", "Liforme", "JadeYoga"], materials=("tpe", "rubber"),
       models=["Essentials", "PRO", "GoYoga", "Travel", "Harmony"],
       sizes=dict(all=["6 mm", "8 mm", "10 mm"]),
       en=("Yoga Mat Non Slip, 72 x 24 inches", [
           ("Extra Thick", "cushions knees and spine on hard floors"),
           ("Non-Slip Texture", "grippy texture on both sides"),
           ("Carrying Strap", "comes with a strap for the studio"),
           ("Eco-Friendly TPE", "free of latex and PVC")]),
       es=("Esterilla de Yoga Antideslizante 183 x 61 cm", [
           ("Extra Gruesa", "protege rodillas y columna en suelos duros"),
           ("Textura Antideslizante", "agarre en ambas caras"),
           ("Correa de Transporte", "incluye correa para llevarla al gimnasio"),
           ("TPE Ecológico", "sin látex ni PVC")]),
       ja=("ヨガマット 183cm×61cm", [
           ("厚手", "硬い床でも膝や背中が痛くなりにくい"),
           ("滑り止め", "両面の凹凸でしっかりグリップ"),
           ("収納ストラップ付き", "持ち運びに便利なストラップ付き"),
           ("TPE素材", "ラテックス・PVC不使用")]),
       de=("Yogamatte Rutschfest", ["Extra Dick", "Rutschfeste Oberfläche", "Mit Tragegurt", "Umweltfreundliches TPE"]),
       fr=("Tapis de Yoga Antidérapant", ["Extra Épais", "Texture Antidérapante", "Sangle de Transport",
                                          "TPE Écologique"]),
       it=("Tappetino Yoga Antiscivolo", ["Extra Spesso", "Superficie Antiscivolo", "Cinghia per il Trasporto",
                                          "TPE Ecologico"]))
family("exercise_mat", brands=["Amazon Basics", "ProsourceFit", "Gaiam"], materials=("eva",),
       sizes=dict(all=["10 mm", "15 mm"]),
       en=("Exercise Mat for Home Workout", [
           ("Large Size", "room for stretching and floor exercises"),
           ("High-Density Foam", "firm support for planks and push-ups"),
           ("Easy to Clean", "wipes clean with a damp cloth")]),
       es=("Colchoneta de Ejercicio para Casa", [
           ("Tamaño Grande", "espacio para estiramientos y ejercicios de suelo"),
           ("Espuma de Alta Densidad", "soporte firme para planchas y flexiones"),
           ("Fácil de Limpiar", "se limpia con un paño húmedo")]),
       ja=("トレーニングマット 大判", [
           ("大判サイズ", "ストレッチや筋トレに十分な広さ"),
           ("高密度フォーム", "腕立てやプランクでも沈みにくい"),
           ("お手入れ簡単", "水拭きでお手入れできる")]))
family("yoga_block", brands=["Gaiam", "Manduka", "Reehut"], materials=("eva", "cork"),
       en=("Yoga Blocks 2 Pack, 9 x 6 x 4 inches", [
           ("Lightweight EVA Foam", "light but firm support"),
           ("Beveled Edges", "a comfortable grip"),
           ("Non-Slip Surface", "stays put on the mat")]),
       es=("Bloques de Yoga (2 Unidades)", [
           ("Espuma EVA Ligera", "ligeros pero firmes"),
           ("Bordes Biselados", "agarre cómodo"),
           ("Superficie Antideslizante", "no se mueven sobre la esterilla")]),
       ja=("ヨガブロック 2個セット", [
           ("軽量EVA", "軽くて安定したサポート"),
           ("角が丸い", "握りやすい面取り加工"),
           ("滑り止め", "マットの上でずれにくい")]),
       de=("Yoga Block 2er Set", ["Leichter EVA-Schaum", "Abgerundete Kanten", "Rutschfest"]),
       fr=("Briques de Yoga Lot de 2", ["Mousse EVA Légère", "Bords Biseautés", "Antidérapantes"]),
       it=("Mattoncini Yoga Set da 2", ["Schiuma EVA Leggera", "Bordi Smussati", "Antiscivolo"]))
family("coffee_maker", brands=["Cuisinart", "Mr. Coffee", "Hamilton Beach", "Melitta", "Philips"],
       brands_ja=["象印(ZOJIRUSHI)", "メリタ(Melitta)", "パナソニック(Panasonic)", "Cuisinart", "デロンギ(De'Longhi)"],
       brands_es=["Cecotec", "Taurus", "Moulinex", "Melitta", "Philips"],
       models=["DCC-3200", "5-Cup Mini", "49980A", "Look V", "HD7462"], materials=("steel", "plastic"),
       en=("12-Cup Programmable Coffee Maker", [
           ("24-Hour Programmable", "wake up to freshly brewed coffee"),
           ("Brew Strength Control", "choose regular or bold flavor"),
           ("Keep Warm Plate", "keeps coffee hot for up to 4 hours"),
           ("Glass Carafe", "a 12-cup carafe with a drip-free spout")]),
       es=("Cafetera de Goteo Programable 12 Tazas", [
           ("Programable 24 Horas", "despiértate con el café recién hecho"),
           ("Control de Intensidad", "elige sabor normal o intenso"),
           ("Placa Calefactora", "mantiene el café caliente hasta 4 horas"),
           ("Jarra de Cristal", "jarra de 12 tazas antigoteo")]),
       ja=("コーヒーメーカー ドリップ式", [
           ("タイマー予約", "朝起きたら淹れたてのコーヒー"),
           ("濃さ調節", "マイルドとストロングを選べる"),
           ("保温機能", "最大4時間保温"),
           ("ガラスサーバー", "液だれしにくいガラスサーバー")]),
       de=("Filterkaffeemaschine Programmierbar", ["Timer-Funktion", "Aromawahl", "Warmhalteplatte", "Glaskanne"]),
       fr=("Cafetière Filtre Programmable", ["Programmable 24h", "Intensité Réglable", "Maintien au Chaud",
                                             "Verseuse en Verre"]),
       it=("Macchina da Caffè Americano Programmabile", ["Programmabile 24 Ore", "Intensità Regolabile",
                                                         "Piastra Scaldante", "Caraffa in Vetro"]))
family("capsule_coffee", brands=["Keurig", "Nespresso", "Dolce Gusto"], materials=("plastic",),
       en=("Single Serve Coffee Maker for K-Cup Pods", [
           ("Brews in Minutes", "a cup of coffee in under 3 minutes"),
           ("Compact Design", "fits small kitchens and dorms"),
           ("Reusable Filter Included", "use your own ground coffee")]),
       es=("Cafetera de Cápsulas Monodosis", [
           ("Café en Minutos", "una taza en menos de 3 minutos"),
           ("Diseño Compacto", "cabe en cocinas pequeñas"),
           ("Filtro Reutilizable", "usa tu propio café molido")]),
       ja=("カプセル式コーヒーメーカー", [
           ("すぐに抽出", "3分以内に1杯"),
           ("コンパクト", "狭いキッチンにも置ける"),
           ("リユースフィルター付き", "お好みの粉でも淹れられる")]))
family("coffee_filters", colors=(1,), brands=["Melitta", "Bunn", "If You Care"], materials=("plastic",),
       en=("Basket Coffee Filters, 8-12 Cup, 200 Count", [
           ("Fits Most Coffee Makers", "the standard 8-12 cup basket size"),
           ("Unbleached Paper", "natural brown paper"),
           ("No Paper Taste", "clean tasting coffee")]),
       es=("Filtros de Café de Papel, 200 Unidades", [
           ("Compatibles con la Mayoría de Cafeteras", "tamaño estándar de cesta"),
           ("Papel sin Blanquear", "papel natural"),
           ("Sin Sabor a Papel", "café de sabor limpio")]),
       ja=("コーヒーフィルター 100枚入り", [
           ("多くの機種に対応", "一般的なサイズ"),
           ("無漂白", "ナチュラルブラウンの紙"),
           ("紙の臭いなし", "すっきりした味わい")]))
family("bathroom_fan", colors=(1,), brands=["Broan-NuTone", "Panasonic", "Delta BreezSignature", "ReVent", "Hon&Guan"],
       brands_es=["S&P", "Cata", "Orbegozo", "Soler & Palau", "Bricobrand"],
       models=["AE80B", "FV-0511VQ1", "SIG80", "RHF0801", "HG-S40"], materials=("plastic",),
       sizes=dict(us=["50 CFM", "80 CFM", "110 CFM"], eu=["100 m³/h", "120 m³/h", "180 m³/h"]),
       en=("Bathroom Exhaust Fan", [
           ("Quiet 0.8 Sones", "runs quietly enough for a bedroom bath"),
           ("Easy Ceiling Installation", "fits standard 2x8 ceiling joists"),
           ("Energy Star Certified", "uses less power than standard fans"),
           ("4 Inch Duct", "connects to a 4-inch round duct")]),
       es=("Extractor de Baño", [
           ("Silencioso", "funcionamiento silencioso de 26 dB"),
           ("Fácil Instalación", "se monta en techo o pared"),
           ("Bajo Consumo", "motor eficiente de 15 W"),
           ("Salida de 100 mm", "para tubo de 100 mm")]))
family("fan_light", colors=(1,), brands=["Broan-NuTone", "Homewerks", "Cata"], materials=("plastic",),
       en=("Bathroom Fan with LED Light", [
           ("Integrated LED", "a bright 1100 lumen light"),
           ("Night Light", "a low-power night light mode"),
           ("70 CFM", "clears steam from small bathrooms")]),
       es=("Extractor de Baño con Luz LED", [
           ("LED Integrado", "luz brillante de 1100 lúmenes"),
           ("Luz Nocturna", "modo nocturno de bajo consumo"),
           ("Caudal 90 m³/h", "elimina el vapor en baños pequeños")]))
family("flex_duct", colors=(4,), brands=["iPower", "Dundas Jafine", "Tecnotub"], materials=("plastic",),
       en=("4 Inch Flexible Aluminum Vent Duct, 8 Feet", [
           ("Includes 2 Clamps", "two stainless clamps are included"),
           ("Stretches to 8 ft", "compresses for storage"),
           ("Heat Resistant", "the aluminum foil withstands high temperatures")]),
       es=("Tubo Flexible de Aluminio 100 mm, 3 Metros", [
           ("Incluye 2 Abrazaderas", "dos abrazaderas de acero incluidas"),
           ("Extensible hasta 3 m", "se comprime para guardarlo"),
           ("Resistente al Calor", "aluminio resistente a altas temperaturas")]))
family("lawn_tire", colors=(0,), brands=["Carlisle", "MaxAuto", "Kenda", "Arnold", "Deestone"],
       models=["Turf Saver", "Turf Tire", "K358", "Lawn Tractor", "D265"], materials=("rubber",),
       sizes=dict(us=["11x4.00-5", "13x5.00-6", "15x6.00-6"]),
       en=("Lawn Mower Tire, Tire Only (Rim Not Included)", [
           ("Turf Friendly Tread", "won't tear up the grass"),
           ("2-Ply Rating", "tough sidewalls for rough yards"),
           ("Tubeless", "no inner tube needed"),
           ("Fits Riding Mowers", "a front tire for most riding mowers")]))
family("wheel_assembly", colors=(0,), brands=["MaxAuto", "Arnold"], materials=("rubber",),
       sizes=dict(us=["11x4.00-5", "13x5.00-6", "15x6.00-6"]),
       en=("Lawn Mower Tire and Wheel Assembly", [
           ("Pre-Mounted on Steel Rim", "ready to bolt on"),
           ("3/4 Inch Bushing", "fits most front axles"),
           ("Pneumatic", "air-filled for a smooth ride")]))
family("inner_tube", colors=(0,), brands=["MARASTAR", "Kenda"], materials=("rubber",),
       en=("Lawn Mower Inner Tube 11x4.00-5, 2 Pack", [
           ("Straight Valve Stem", "a TR-13 straight valve"),
           ("Thick Butyl Rubber", "holds air longer"),
           ("Fixes Slow Leaks", "use inside worn tires")]))

# main family -> (substitute family, complementary family)
RELATED = {
    "earbuds": ("headphones", "earbud_case"), "running_shoes": ("walking_shoes", "running_socks"),
    "water_bottle": ("tumbler", "bottle_brush"), "phone_case": ("phone13_case", "screen_protector"),
    "yoga_mat": ("exercise_mat", "yoga_block"), "coffee_maker": ("capsule_coffee", "coffee_filters"),
    "bathroom_fan": ("fan_light", "flex_duct"), "lawn_tire": ("wheel_assembly", "inner_tube"),
}
GLOBAL_IDS = {"earbuds", "headphones"}  # the same ASIN in us, es and jp (one product, three listings)


def h(*parts) -> int:
    return int(hashlib.sha1(":".join(map(str, parts)).encode()).hexdigest(), 16)


def asin(*parts) -> str:
    n, chars = h(*parts), "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    out = ""
    for _ in range(8):
        n, r = divmod(n, 36)
        out += chars[r]
    return "B0" + out


def cap(s: str) -> str:
    return s[:1].upper() + s[1:]


# ---- ESCI ---------------------------------------------------------------------------------------

ESCI_LANG = {"us": "en", "es": "es", "jp": "ja"}
ESCI_SIZE_GROUP = {"us": "us", "es": "eu", "jp": "ja"}
ESCI_MAIN = {
    "us": ["earbuds", "running_shoes", "water_bottle", "phone_case", "yoga_mat", "coffee_maker", "bathroom_fan", "lawn_tire"],
    "es": ["earbuds", "running_shoes", "water_bottle", "phone_case", "yoga_mat", "coffee_maker", "bathroom_fan"],
    "jp": ["earbuds", "running_shoes", "water_bottle", "phone_case", "yoga_mat", "coffee_maker"],
}
# (locale, main family, constraint, query text): a constraint makes only matching products Exact
ESCI_QUERIES = [
    ("us", "earbuds", None, "wireless earbuds"),
    ("us", "earbuds", ("brand", "Sony"), "sony earbuds noise cancelling"),
    ("us", "earbuds", ("color", "White"), "earbuds bluetooth white"),
    ("us", "running_shoes", None, "mens running shoes"),
    ("us", "running_shoes", ("brand", "ASICS"), "asics running shoes men size 10"),
    ("us", "water_bottle", None, "insulated water bottle with straw"),
    ("us", "water_bottle", ("brand", "Hydro Flask"), "hydro flask 32 oz"),
    ("us", "water_bottle", ("size", "40 oz"), "stainless steel water bottle 40 oz"),
    ("us", "phone_case", None, "iphone 14 case"),
    ("us", "phone_case", ("brand", "OtterBox"), "otterbox iphone 14 case black"),
    ("us", "yoga_mat", None, "yoga mat thick non slip"),
    ("us", "yoga_mat", ("brand", "Manduka"), "manduka yoga mat"),
    ("us", "coffee_maker", None, "programmable coffee maker 12 cup"),
    ("us", "coffee_maker", ("brand", "Cuisinart"), "cuisinart coffee maker"),
    ("us", "bathroom_fan", ("brand", "ReVent"), " revent 80 cfm"),  # real ESCI quirk: a leading space
    ("us", "bathroom_fan", None, "quiet bathroom exhaust fan"),
    ("us", "lawn_tire", None, "!awnmower tires without rims"),  # real ESCI quirk: a typo
    ("us", "lawn_tire", ("brand", "Carlisle"), "carlisle lawn mower tire 13x5.00-6"),
    ("es", "earbuds", None, "auriculares inalambricos"),
    ("es", "earbuds", ("brand", "JBL"), "auriculares bluetooth jbl"),
    ("es", "running_shoes", None, "zapatillas running hombre"),
    ("es", "running_shoes", ("brand", "Nike"), "zapatillas nike hombre 43"),
    ("es", "water_bottle", None, "botella agua acero inoxidable"),
    ("es", "water_bottle", ("size", "1 L"), "botella termica 1 litro"),
    ("es", "phone_case", None, "funda iphone 14"),
    ("es", "yoga_mat", None, "esterilla yoga antideslizante"),
    ("es", "coffee_maker", None, "cafetera goteo programable"),
    ("es", "coffee_maker", ("brand", "Melitta"), "cafetera melitta"),
    ("es", "bathroom_fan", None, "extractor baño silencioso"),
    ("jp", "earbuds", None, "ワイヤレスイヤホン ノイズキャンセリング"),
    ("jp", "earbuds", ("brand", "ソニー(SONY)"), "ソニー イヤホン"),
    ("jp", "running_shoes", None, "ランニングシューズ メンズ"),
    ("jp", "running_shoes", ("brand", "アシックス(ASICS)"), "アシックス ランニングシューズ 27cm"),
    ("jp", "water_bottle", ("size", "1L"), "水筒 1リットル"),
    ("jp", "water_bottle", ("brand", "サーモス(THERMOS)"), "サーモス 水筒"),
    ("jp", "phone_case", None, "iphone14 ケース 耐衝撃"),
    ("jp", "phone_case", ("color", "ブラック"), "iphone 14 ケース ブラック"),
    ("jp", "yoga_mat", ("size", "10 mm"), "ヨガマット 10mm"),
    ("jp", "coffee_maker", None, "コーヒーメーカー"),
    ("jp", "coffee_maker", ("brand", "象印(ZOJIRUSHI)"), "象印 コーヒーメーカー"),
]


def brands_for(fam: str, lang: str) -> list[str]:
    spec = F[fam]
    if lang == "ja" and spec["brands_ja"]:
        return spec["brands_ja"]
    if lang == "es" and spec["brands_es"]:
        return spec["brands_es"]
    return spec["brands"]


def sizes_for(fam: str, group: str) -> list[str] | None:
    sizes = F[fam]["sizes"] or {}
    return sizes.get(group) or sizes.get("all")


class Item:
    """One product's attributes (language independent): rendered per language on demand."""

    def __init__(self, fam: str, key: tuple, n_brands: int, rng: random.Random):
        self.fam, self.key = fam, key
        spec = F[fam]
        self.brand = rng.randrange(n_brands)
        self.model = self.brand if spec["models"] else None
        self.color = rng.choice(spec["colors"])
        self.size = rng.randrange(3)
        self.material = rng.choice(spec["materials"])
        n_feats = len(spec["en"][1]) if "en" in spec else len(spec["de"][1])
        self.feats = rng.sample(range(n_feats), min(3, n_feats))
        self.has = {k: rng.random() < p for k, p in
                    (("brand", 0.9), ("color", 0.8), ("desc", 0.7), ("html", 0.4), ("bullets", 0.85),
                     ("size", 0.75), ("model", 0.6), ("material", 0.6), ("m2desc", 0.85))}
        self.intro = rng.randrange(4)

    def names(self, lang: str, group: str) -> dict:
        spec = F[self.fam]
        name, feats = spec[lang]
        shorts = [f if isinstance(f, str) else f[0] for f in feats]
        sizes = sizes_for(self.fam, group)
        return dict(name=name, feats=feats, shorts=[shorts[i] for i in self.feats if i < len(shorts)],
                    brand=brands_for(self.fam, lang)[self.brand % len(brands_for(self.fam, lang))],
                    model=spec["models"][self.model] if self.model is not None else None,
                    color=COLORS[lang][self.color], size=sizes[self.size % len(sizes)] if sizes else None,
                    material=MATERIALS[self.material][lang])


def title_of(it: Item, lang: str, group: str, with_brand=True) -> str:
    n = it.names(lang, group)
    head = " ".join(x for x in (n["brand"] if with_brand else None, n["model"]) if x)
    f1, f2 = (n["shorts"] + ["", ""])[:2]
    size, color = n["size"], n["color"]
    if lang == "ja":
        parts = [" ".join(x for x in (n["brand"] if with_brand else None, n["name"], n["model"]) if x),
                 f"【{f1}】" if f1 else "", f2, size or "", color]
        return " ".join(p for p in parts if p)
    if lang in ("es", "fr"):
        first = f"{head} - {n['name']}" if head else n["name"]
        tail = [f1, f2, size, (("Color " if lang == "es" else "Couleur ") + color)]
        return ", ".join([first + (" " + tail[0] if tail[0] else "")] + [t for t in tail[1:] if t])
    first = f"{head} {n['name']}" if head else n["name"]
    return ", ".join([first] + [t for t in (f1, f2, size, color) if t])


INTROS = {
    "en": ["Meet the {brand} {model}.", "From {brand}:", "Designed by {brand} for everyday use.", ""],
    "es": ["Presentamos {brand} {model}.", "De {brand}:", "Diseñado por {brand} para el día a día.", ""],
    "ja": ["{brand}の{model}。", "{brand}から新登場。", "", ""],
}
WHAT_YOU_GET = {"en": "WHAT YOU GET: {x}.", "es": "CONTENIDO: {x}.", "ja": "【セット内容】{x}"}


def esci_texts(it: Item, locale: str) -> dict:
    lang, group = ESCI_LANG[locale], ESCI_SIZE_GROUP[locale]
    n = it.names(lang, group)
    feats = [n["feats"][i] for i in it.feats]
    if lang == "ja":
        sentences = [f"{s}。" for _, s in feats]
        desc_body = "".join(sentences)
        bullets = [f"【{short}】{s}。" for short, s in feats]
    else:
        sentences = [cap(s) + "." for _, s in feats]
        desc_body = " ".join(sentences)
        bullets = [(short.upper() if lang == "en" else short) + ": " + cap(s) + "." for short, s in feats]
    intro = INTROS[lang][it.intro].format(brand=n["brand"], model=n["model"] or n["name"]).strip()
    if it.has["html"]:
        description = f"<p>{intro}</p><p>{'<br>'.join(sentences)}</p>" if intro else f"<p>{'<br>'.join(sentences)}</p>"
        if lang == "en":
            description = description.replace(" and ", " &amp; ", 1)
    else:
        description = (intro + (" " if lang != "ja" else "") + desc_body).strip()
    sep = "、" if lang == "ja" else ", "
    bullets.append(WHAT_YOU_GET[lang].format(x=sep.join(x for x in (f"{n['brand']} {n['model'] or ''}".strip(), n["name"],
                                                                         n["size"], n["color"]) if x)))
    bullet_text = "\n".join(bullets)
    if it.intro == 1:
        bullet_text = bullet_text.replace("\n", "\n\n", 1) + "\n"  # real quirk: blank lines between bullets
    return dict(product_title=title_of(it, lang, group),
                product_description=description if it.has["desc"] else None,
                product_bullet_point=bullet_text if it.has["bullets"] else None,
                product_brand=n["brand"] if it.has["brand"] else None,
                product_color=n["color"] if it.has["color"] else None)


def make_esci(out: Path) -> dict:
    rng = random.Random(22)
    items: dict[tuple, list] = {}  # (locale, family) -> [(product id, Item)]
    for locale, mains in ESCI_MAIN.items():
        for main in mains:
            for fam in (main, *RELATED[main]):
                n = 5 if fam == main else 3
                rows = []
                for i in range(n):
                    if fam in GLOBAL_IDS:
                        pid, irng = asin("esci", fam, i), random.Random(h("esci", fam, i))
                    else:
                        pid, irng = asin("esci", locale, fam, i), random.Random(h("esci", locale, fam, i))
                    it = Item(fam, (locale, fam, i), n, irng)
                    it.brand = i % len(brands_for(fam, ESCI_LANG[locale]))
                    it.model = it.brand if F[fam]["models"] else None
                    rows.append((pid, it))
                items[(locale, fam)] = rows
    # make every constrained query have an Exact product
    for locale, fam, constraint, _ in ESCI_QUERIES:
        if constraint and constraint[0] in ("color", "size"):
            kind, value = constraint
            lang, group = ESCI_LANG[locale], ESCI_SIZE_GROUP[locale]
            values = COLORS[lang] if kind == "color" else sizes_for(fam, group)
            idx = values.index(value)
            if not any(getattr(it, kind) == idx for _, it in items[(locale, fam)]):
                setattr(items[(locale, fam)][2][1], kind, idx)
            for _, it in items[(locale, fam)]:
                it.has[kind] = True
    products, done = [], set()
    for (locale, fam), rows in items.items():
        for pid, it in rows:
            if (locale, pid) in done:
                continue
            done.add((locale, pid))
            products.append(dict(product_id=pid, **esci_texts(it, locale), product_locale=locale))

    def matches(it: Item, locale: str, constraint) -> bool:
        if constraint is None:
            return True
        kind, value = constraint
        n = it.names(ESCI_LANG[locale], ESCI_SIZE_GROUP[locale])
        return n[kind] == value

    examples, qid = [], 1000
    for qi, (locale, main, constraint, text) in enumerate(ESCI_QUERIES):
        qid += rng.randint(1, 60)
        sub, comp = RELATED[main]
        labelled = [(pid, "E" if matches(it, locale, constraint) else "S") for pid, it in items[(locale, main)]]
        labelled += [(pid, "S") for pid, _ in items[(locale, sub)]]
        labelled += [(pid, "C") for pid, _ in rng.sample(items[(locale, comp)], rng.randint(2, 3))]
        others = [pid for m in ESCI_MAIN[locale] if m != main for pid, _ in items[(locale, m)]]
        labelled += [(pid, "I") for pid in rng.sample(others, rng.randint(2, 4))]
        labelled = [x for x in labelled if x[1] == "E" or rng.random() > 0.15]
        rng.shuffle(labelled)
        split = "test" if qi % 5 == 4 else "train"
        small = 1 if rng.random() < 0.7 else 0
        rows = [dict(query=text, query_id=qid, product_id=pid, product_locale=locale, esci_label=label,
                     small_version=small, large_version=1, split=split) for pid, label in labelled]
        # ---- deliberately malformed rows (see SOURCE.md) ----
        if text == "wireless earbuds":
            rows.append({**rows[0], "product_id": items[("us", "yoga_mat")][0][0], "esci_label": "X"})  # unknown label
        if text == "mens running shoes":
            rows.append({**rows[0], "product_id": None, "esci_label": "I"})  # missing product id
        if text == "auriculares inalambricos":
            rows.append({**rows[0], "product_locale": "de"})  # unknown locale
            rows.append({**rows[0], "product_id": asin("esci", "absent", 2), "esci_label": "I"})  # not in products
        if text == "ワイヤレスイヤホン ノイズキャンセリング":
            rows.append(dict(rows[1]))  # the same (query, product) judged twice
        if text == "!awnmower tires without rims":
            rows.append({**rows[0], "product_id": asin("esci", "absent", 1), "esci_label": "I"})  # not in products
        examples += rows
    qid += 17
    for pid, _ in items[("us", "water_bottle")][:2]:  # a query that is only spaces: "empty query" x2
        examples.append(dict(query="   ", query_id=qid, product_id=pid, product_locale="us", esci_label="I",
                             small_version=0, large_version=1, split="train"))
    for i, row in enumerate(examples):
        row["example_id"] = 100_000 + i
    # products: one without a title, one listed twice
    no_title = items[("us", "yoga_mat")][3][0]
    for p in products:
        if p["product_locale"] == "us" and p["product_id"] == no_title:
            p["product_title"] = None
    twice = items[("us", "water_bottle")][1][0]
    dup = next(p for p in products if p["product_locale"] == "us" and p["product_id"] == twice)
    products.append({**dup, "product_title": dup["product_title"] + " (Renewed)"})
    rng.shuffle(products)

    ex_schema = pa.schema([("example_id", pa.int64()), ("query", pa.string()), ("query_id", pa.int64()),
                           ("product_id", pa.string()), ("product_locale", pa.string()), ("esci_label", pa.string()),
                           ("small_version", pa.int64()), ("large_version", pa.int64()), ("split", pa.string())])
    pr_schema = pa.schema([(c, pa.string()) for c in ("product_id", "product_title", "product_description",
                                                      "product_bullet_point", "product_brand", "product_color",
                                                      "product_locale")])
    pq.write_table(pa.Table.from_pylist([{k: r.get(k) for k in ex_schema.names} for r in examples], ex_schema),
                   out / "shopping_queries_dataset_examples.parquet", row_group_size=100)
    pq.write_table(pa.Table.from_pylist(products, pr_schema), out / "shopping_queries_dataset_products.parquet",
                   row_group_size=50)
    return dict(items=items, examples=examples, products=products)


# ---- Amazon-M2 products_train.csv -----------------------------------------------------------------

M2_LANG = {"DE": "de", "JP": "ja", "UK": "en", "ES": "es", "FR": "fr", "IT": "it"}
M2_GROUP = {"DE": "eu", "JP": "ja", "UK": "uk", "ES": "eu", "FR": "eu", "IT": "eu"}
M2_LOCALES = ("DE", "JP", "UK", "ES", "FR", "IT")
M2_FAMILIES = ["earbuds", "headphones", "running_shoes", "running_socks", "water_bottle", "phone_case",
               "screen_protector", "yoga_mat", "yoga_block", "coffee_maker"]
PRICE_FACTOR = {"DE": 1.0, "UK": 0.9, "ES": 1.0, "FR": 1.0, "IT": 1.0, "JP": 150}
BASE_PRICE = {"earbuds": 59, "headphones": 119, "running_shoes": 79, "running_socks": 15, "water_bottle": 29,
              "phone_case": 19, "screen_protector": 9, "yoga_mat": 35, "yoga_block": 14, "coffee_maker": 69, "book": 14}
AND = {"en": "and", "de": "und", "fr": "et", "it": "e", "es": "y"}
CLOSINGS = {
    "en": ["Ideal for everyday use, sport and travel.", "Backed by a 2-year warranty.", "Delivered in recyclable packaging."],
    "de": ["Ideal für Alltag, Sport und Reisen.", "Mit 2 Jahren Garantie.", "Lieferung in recycelbarer Verpackung."],
    "fr": ["Idéal pour le quotidien, le sport et les voyages.", "Garantie 2 ans.", "Livré dans un emballage recyclable."],
    "it": ["Ideale per l'uso quotidiano, lo sport e i viaggi.", "Garanzia di 2 anni.",
           "Consegnato in una confezione riciclabile."],
    "es": ["Ideal para el día a día, el deporte y los viajes.", "Con 2 años de garantía.",
           "Se entrega en un embalaje reciclable."],
    "ja": ["毎日の通勤や運動、旅行に最適です。", "2年保証付き。", "環境に配慮したパッケージでお届けします。"],
}
BOOKS = {
    "de": ["Die Stille der Wälder: Roman", "Das Erbe der Uhrmacherin", "Kochen für Berufstätige: 100 schnelle Rezepte",
           "Ein Sommer am Meer: Roman", "Grundkurs Buchhaltung"],
    "ja": ["夜明けの図書館", "猫と暮らす小さな家", "はじめてのPython入門", "京都 路地裏さんぽ", "英単語ターゲット1900"],
    "it": ["La casa sul lago", "Il segreto del giardiniere", "Le ricette della nonna", "Storia d'Italia in 100 mappe",
           "Il quaderno delle vacanze 3"],
    "en": ["The Quiet Orchard: A Novel", "A Beginner's Guide to Sourdough", "The Lighthouse Keeper's Daughter",
           "Atlas of Forgotten Places", "Mindful Running"],
    "es": ["La sombra del faro", "Cocina mediterránea en 30 minutos", "El jardín de invierno",
           "Historia de España para niños", "Cuaderno de caligrafía"],
    "fr": ["Le jardin d'hiver", "La cuisine de ma grand-mère", "Les secrets du phare", "Cahier de vacances CE2",
           "Petit traité de randonnée"],
}
AUTHORS = {"de": ["Anna Weber", "Lukas Hoffmann", "Clara Schmitt"], "ja": ["佐藤 美咲", "田中 健一", "山本 由紀"],
           "it": ["Giulia Romano", "Marco Bianchi", "Francesca Ricci"], "en": ["Emily Carter", "James Whitfield", "Sarah Holt"],
           "es": ["Lucía Martín", "Javier Ortega", "Carmen Ruiz"], "fr": ["Camille Laurent", "Julien Moreau", "Claire Dubois"]}
BLURBS = {"de": "Ein bewegendes Buch von {a}. Taschenbuch, {p} Seiten.", "ja": "{a}による話題の一冊。文庫、{p}ページ。",
          "it": "Il nuovo libro di {a}. Copertina flessibile, {p} pagine.", "en": "The acclaimed book by {a}. Paperback, {p} pages.",
          "es": "El nuevo libro de {a}. Tapa blanda, {p} páginas.", "fr": "Le nouveau livre de {a}. Broché, {p} pages."}
M2_COLUMNS = ["id", "locale", "title", "price", "brand", "color", "size", "model", "material", "author", "desc"]


def real_m2_sessions() -> list[tuple[list[str], str | None, str]]:
    """The real sessions copied into amazon_m2/ (the CSV and the task3 parquet)."""
    out = []
    with open(HERE / "amazon_m2" / "sessions_train.csv", newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            ids = re.findall(r"'([^']*)'", row["prev_items"])
            out.append((ids, row["next_item"], row["locale"]))
    for row in pq.read_table(HERE / "amazon_m2" / "task3_phase1_sessions_test_sample.parquet").to_pylist():
        out.append((row["prev_items"], None, row["locale"]))
    return out


def m2_price(fam: str, pid: str, locale: str) -> str:
    if h("price", pid) % 33 == 0:
        return "40000000.07"  # the real file's "no price" placeholder
    value = BASE_PRICE[fam] * (0.6 + (h("p", pid) % 100) / 100) * PRICE_FACTOR[locale]
    return f"{round(value / 10) * 10 - 20:.1f}" if locale == "JP" else f"{value - 0.01:.2f}"


def m2_row(pid: str, fam: str, locale: str) -> dict:
    lang, group = M2_LANG[locale], M2_GROUP[locale]
    row = dict.fromkeys(M2_COLUMNS, "")
    row.update(id=pid, locale=locale, price=m2_price(fam, pid, locale))
    if fam == "book":
        k = h("book", pid)
        author = AUTHORS[lang][k % 3]
        row.update(title=BOOKS[lang][k % 5], author=author)
        if k % 5:
            row["desc"] = BLURBS[lang].format(a=author, p=160 + k % 300)
        return row
    it = Item(fam, ("m2", pid), len(F[fam]["brands"]), random.Random(h("m2", pid)))
    n = it.names(lang, group)
    row["title"] = title_of(it, lang, group, with_brand=it.has["brand"] or h("t", pid) % 3 == 0)
    row.update(brand=n["brand"] if it.has["brand"] else "", color=n["color"] if it.has["color"] else "",
               size=(n["size"] or "") if it.has["size"] else "", model=(n["model"] or "") if it.has["model"] else "",
               material=n["material"] if it.has["material"] else "")
    if it.has["m2desc"]:
        a, b, c = (n["shorts"] + ["", "", ""])[:3]
        closing = CLOSINGS[lang][h("c", pid) % 3]
        if lang == "ja":
            row["desc"] = f"{n['brand']} {n['name']}。{'、'.join(x for x in (a, b, c) if x)}。{closing}"
        else:
            row["desc"] = f"{n['brand']} {n['name']}: {a}, {b} {AND[lang]} {c}. {closing}"
        if h("nl", pid) % 17 == 0:
            row["desc"] = row["desc"].replace(". ", ".\n", 1)  # a new line inside a quoted cell
    return row


def make_m2_products(out: Path) -> dict:
    family_of: dict[str, str] = {}
    listed: dict[str, list[str]] = {}
    for prev, nxt, locale in real_m2_sessions():
        ids = list(prev) + ([nxt] if nxt else [])
        fam = M2_FAMILIES[h("fam", ids[0]) % len(M2_FAMILIES)]  # a session browses one kind of product
        for pid in ids:
            family_of.setdefault(pid, "book" if pid.isdigit() or pid[:-1].isdigit() else fam)
            if locale not in listed.setdefault(pid, []):
                listed[pid].append(locale)
    for pid in sorted(listed):  # ~1 id in 6 is also listed in one or two more locales
        k = h("more", pid)
        if k % 6 == 0:
            others = [loc for loc in M2_LOCALES if loc not in listed[pid]]
            listed[pid] += [others[k % len(others)]] + ([others[(k // 7) % len(others)]] if k % 4 == 0 else [])
            listed[pid] = list(dict.fromkeys(listed[pid]))
    rows = [m2_row(pid, family_of[pid], loc) for pid in sorted(listed, key=lambda p: h("order", p)) for loc in listed[pid]]
    rows.sort(key=lambda r: M2_LOCALES.index(r["locale"]))
    # ---- deliberately malformed rows (see SOURCE.md) ----
    sample = rows[10]
    bad = [
        {**sample, "locale": "US"},  # unknown locale
        {**rows[20], "id": ""},  # no id
        {**rows[30]},  # the same (id, locale) twice
        {**rows[40], "id": "B0FIXTURE1", "title": ""},  # no title
    ]
    for i, row in enumerate(bad):
        rows.insert(100 + 150 * i, row)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=M2_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    text = buf.getvalue().splitlines(keepends=True)
    # a row with 8 fields instead of 11 (a broken export)
    i = next(k for k in range(700, len(text)) if text[k].count('"') == 0)
    text.insert(i, "B0FIXTURE2,DE,Kaputte Zeile,9.99,,,,\n")
    (out / "products_train.csv").write_text("".join(text), encoding="utf-8")
    (out / "sessions_train_handmade_malformed.csv").write_text(
        "prev_items,next_item,locale\n"
        "B07GTS7SWK B087DJQ8ST,B0B461V1RB,ES\n"  # not a bracketed list
        "\"['B07GTS7SWK' 'B087DJQ8ST' 'B01N3MGBG2' ... 'B07JJSVFK9' 'B075MND4SV'\n 'B0B461V1RB']\",B08FMPXDTJ,ES\n"  # numpy "..."
        "['B07GTS7SWK' 'B087DJQ8ST'],B0B461V1RB,US\n"  # unknown locale
        "['B07GTS7SWK' 'B087DJQ8ST'],,ES\n"  # no next_item
        "[],B0B461V1RB,ES\n"  # empty list
        "['B07GTS7SWK' 'not-an-id'],B0B461V1RB,ES\n"  # an item that is not an id
        "['B07GTS7SWK'],ES\n"  # two fields instead of three
        "\"['B07GTS7SWK', 'B087DJQ8ST']\",B0B461V1RB,ES\n",  # valid: a Python list repr (commas) is accepted
        encoding="utf-8")
    return dict(family_of=family_of, listed=listed, rows=rows)


# ---- Amazon Reviews 2023 ------------------------------------------------------------------------

# aspect -> (positive sentences, negative sentences, mixed sentences, positive titles, negative titles)
ASPECTS = {
    "scent": (["The scent is light and fresh and lingers for hours.", "It smells amazing, like a spa day."],
              ["The fragrance is way too strong and gave me a headache.", "It smells like chemicals, not vanilla at all."],
              ["The scent is nice at first but fades within an hour."], ["Smells amazing", "Love the scent"],
              ["Scent is way too strong", "Smells like chemicals"]),
    "texture": (["The texture is lightweight and absorbs quickly without feeling greasy.", "It lathers well and rinses out clean."],
                ["It feels sticky and leaves a greasy film.", "Way too thick and hard to spread."],
                ["A bit heavier than I expected but it sinks in eventually."], ["Lightweight and not greasy", "Lovely texture"],
                ["Sticky and greasy", "Too thick"]),
    "results": (["After two weeks my hair is noticeably softer and shinier.", "My skin looks brighter and more even."],
                ["I saw no difference after a month of daily use.", "It dried out my hair and made it frizzy."],
                ["Results are subtle; my skin is a little smoother but nothing dramatic."],
                ["Visible results in two weeks", "My hair has never been softer"], ["No results at all", "Dried out my hair"]),
    "value": (["Great value for the price; it lasts for months.", "Half the price of the brand name and works just as well."],
              ["Way overpriced for what you get.", "Not worth the money."],
              ["A little pricey, but a little goes a long way."], ["Great value", "Worth every penny"],
              ["Overpriced", "Not worth the money"]),
    "packaging": (["The pump bottle is sturdy and easy to use in the shower.", "Arrived well packaged with a safety seal."],
                  ["The cap broke the first week and it leaked everywhere.", "Arrived half empty with the seal broken."],
                  ["The packaging is cute but the pump sometimes sticks."], ["Nice packaging", "Arrived sealed and safe"],
                  ["Arrived leaking", "Cap broke"]),
    "longevity": (["It lasts all day, even through lunch and coffee.", "Still going strong after 8 hours."],
                  ["It wore off within two hours.", "Chipped after a single day."],
                  ["Lasts most of the day but needs a touch-up after meals."], ["Lasts all day", "Stays put"],
                  ["Wears off quickly", "Chipped in a day"]),
    "irritation": (["Gentle on my sensitive skin, no redness or breakouts.", "No irritation at all, even around my eyes."],
                   ["It broke me out in a rash after one use.", "Burned my eyes and left my skin red."],
                   ["A slight tingle at first, but no breakouts."], ["Gentle on sensitive skin", "No irritation"],
                   ["Caused a rash", "Burned my skin"]),
    "color": (["The color is rich and exactly like the pictures.", "The shade is a gorgeous everyday rosy nude."],
              ["The color looks nothing like the photo.", "The color faded quickly."],
              ["Pretty color, but darker than I expected."], ["Beautiful color", "Gorgeous shade"],
              ["Color is nothing like the picture", "Color faded"]),
    "ease_of_use": (["Easy to use, even for a beginner.", "Takes two minutes in the morning."],
                    ["Hard to use; it pinched my lashes every time.", "The applicator is flimsy and messy."],
                    ["Takes a little practice to get the hang of it."], ["So easy to use", "Simple and quick"],
                    ["Hard to use", "Messy applicator"]),
    "fit": (["Fits my phone perfectly and all the buttons line up.", "Snug fit with precise cutouts for the camera and ports."],
            ["Doesn't fit; the buttons are hard to press through it.", "Too loose, the phone slides out."],
            ["Fits well, though the buttons are a little stiff."], ["Perfect fit", "Fits like a glove"],
            ["Doesn't fit my phone", "Too loose"]),
    "protection": (["Dropped my phone on concrete twice and not a scratch.", "The raised edges saved my screen when it fell face down."],
                   ["Cracked the first time I dropped it.", "My screen shattered even with this on."],
                   ["Protects well but adds a lot of bulk."], ["Survived multiple drops", "Great protection"],
                   ["Cracked after one drop", "Did not protect my screen"]),
    "charging": (["Charges my phone from 0 to 50% in about 30 minutes.", "Fast charging works with both my Samsung and my iPhone."],
                 ["Charges painfully slowly, slower than the original cable.", "Stopped charging after two weeks."],
                 ["Charging is decent but it gets warm."], ["Charges fast", "Fast charging works"],
                 ["Stopped working after two weeks", "Very slow charging"]),
    "grip": (["Nice grippy texture; it doesn't slide off the couch anymore.", "Easy to hold with one hand."],
             ["Slippery and attracts lint in my pocket.", "The grip peeled off after a month."],
             ["Grip is fine but it collects dust."], ["Great grip", "Easy to hold"], ["Too slippery", "Grip peeled off"]),
    "battery": (["Holds enough charge for two full phone charges.", "The battery lasted a whole weekend camping trip."],
                ["Only charged my phone once before dying.", "It takes forever to recharge the power bank itself."],
                ["Capacity is as advertised but it's heavy."], ["Reliable battery", "Lasts all weekend"],
                ["Dies too fast", "Takes forever to recharge"]),
    "installation": (["Installation took a minute with the alignment frame, no bubbles.", "Super easy to install on the dashboard."],
                     ["Impossible to install without bubbles.", "The adhesive wouldn't stick to my dash."],
                     ["A bit fiddly to install but holds well once on."], ["Easy to install", "No bubbles"],
                     ["Full of bubbles", "Adhesive won't stick"]),
    "build_quality": (["Feels solid and well made.", "The braided cable feels very durable."],
                      ["Feels cheap and flimsy.", "The connector bent after a week."],
                      ["Decent build for the price."], ["Well made", "Solid build"], ["Cheaply made", "Broke in a week"]),
    "magnet": (["The magnet is strong and holds my phone over bumpy roads.", "Snaps on securely with MagSafe."],
               ["The magnet is too weak; my phone fell off on the first turn.", "Doesn't stay attached to the charger."],
               ["The magnet holds, but not on rough roads."], ["Strong magnet", "Holds on bumpy roads"],
               ["Magnet too weak", "Phone keeps falling"]),
    "size": (["The size is perfect, exactly as described.", "Fits my cabinet perfectly."],
             ["Much smaller than the picture suggests.", "Too big to fit in my sink."],
             ["A little smaller than expected but still usable."], ["Perfect size", "Exactly as described"],
             ["Smaller than expected", "Too big"]),
    "cleaning": (["Cleans up with just a quick rinse.", "Dishwasher safe and comes out spotless."],
                 ["Stains easily and is hard to clean.", "Food gets stuck in the grooves."],
                 ["Easy to clean, but hand washing is recommended."], ["Easy to clean", "Cleans up in seconds"],
                 ["Hard to clean", "Stains easily"]),
    "sturdiness": (["Very sturdy; it doesn't wobble at all.", "Solid and heavy, feels like it will last for years."],
                   ["Flimsy; it bent the first time I used it.", "Fell apart after a month."],
                   ["Sturdy enough for light use."], ["Sturdy and well made", "Built to last"], ["Flimsy", "Fell apart"]),
    "material": (["The fabric is soft and breathable, like hotel sheets.", "Thick, high quality material."],
                 ["The material feels thin and scratchy.", "Pilled after the first wash."],
                 ["Soft, but wrinkles easily."], ["So soft", "High quality material"], ["Thin and scratchy", "Pilled after one wash"]),
    "smell": (["No chemical smell out of the package."], ["Strong plastic smell that won't go away.",
                                                          "Smelled like chemicals for a week."],
              ["A slight smell at first that faded after airing out."], ["No odor"], ["Strong chemical smell"]),
    "nonstick": (["Eggs slide right off without any oil.", "The nonstick coating works like a dream."],
                 ["The coating started peeling after a month.", "Food sticks even with oil."],
                 ["Nonstick works well, but only on medium heat."], ["Eggs slide right off", "Truly nonstick"],
                 ["Coating peeled", "Food sticks"]),
    "sharpness": (["Razor sharp out of the box; slices tomatoes paper thin.", "Still sharp after months of daily use."],
                  ["Dull after a few weeks.", "Arrived dull and rusted after washing."],
                  ["Sharp enough for everyday cooking."], ["Razor sharp", "Still sharp after months"], ["Dull and rusty", "Went dull fast"]),
    "comfort": (["So comfortable, I sleep cooler now.", "Soft and fluffy, and absorbs water quickly."],
                ["Uncomfortable and too stiff.", "Scratchy and not absorbent."],
                ["Comfortable, though not as fluffy as I hoped."], ["Super comfortable", "Soft and fluffy"],
                ["Uncomfortable", "Scratchy"]),
}
CLOSERS = {"pos": ["Would definitely buy again.", "Highly recommend.", "Already ordered a second one.", ""],
           "neg": ["Returning it.", "Save your money.", "Very disappointed.", ""],
           "mix": ["It's okay for the price.", "Not bad, not great.", "Might try a different brand next time.", ""]}
GENERIC_TITLES = {"pos": ["Five Stars", "Love it!", "Exactly what I needed", "Highly recommend"],
                  "neg": ["Disappointed", "Returned it", "Don't waste your money", "One Star"],
                  "mix": ["It's okay", "Decent but not great", "Mixed feelings", "Three Stars"]}
# category -> (main_category, [(title, brands, aspects, features, description, categories)])
REVIEW_CATEGORIES = {
    "All_Beauty": ("All Beauty", [
        ("Argan Oil Shampoo for Dry Damaged Hair, Sulfate Free, 16 fl oz", ["Maple Holistics", "OGX"],
         ["scent", "results", "texture", "value"], ["Sulfate free formula gentle on color treated hair",
                                                    "Argan oil and keratin for smooth, shiny hair", "Fresh citrus scent"],
         "A gentle daily shampoo that cleanses without stripping natural oils.",
         ["Beauty & Personal Care", "Hair Care", "Shampoo & Conditioner", "Shampoos"]),
        ("Coconut Milk Conditioner, Moisturizing, 13 fl oz", ["OGX", "Mielle"], ["scent", "results", "texture"],
         ["Coconut milk and egg white proteins", "Detangles and softens", "Paraben free"],
         "Rich conditioner that leaves hair soft and easy to comb.", []),
        ("Daily Face Moisturizer with Hyaluronic Acid, Fragrance Free, 1.7 oz", ["CeraVe", "Neutrogena"],
         ["texture", "irritation", "results", "value"], ["Hyaluronic acid and ceramides", "Non-comedogenic",
                                                         "Fragrance free for sensitive skin"],
         "Lightweight, oil-free lotion for all-day hydration.", []),
        ("Matte Liquid Lipstick, Long Lasting, Rosewood", ["Maybelline New York", "NYX Professional Makeup"],
         ["color", "longevity", "texture"], ["Up to 16 hour wear", "Transfer resistant matte finish", "Precise applicator"],
         "A highly pigmented liquid lipstick with a velvety matte finish.", []),
        ("Quick Dry Nail Polish Set, 6 Colors", ["essie", "Sally Hansen"], ["color", "longevity", "ease_of_use"],
         ["Dries in 60 seconds", "Chip resistant formula", "6 spring shades"], "", []),
        ("Vanilla Body Mist, 8 fl oz", ["Sol de Janeiro", "Bath & Body Works"], ["scent", "longevity", "value"],
         ["Warm vanilla and salted caramel notes", "Light, refreshing mist", "For body and hair"], "", []),
        ("Mineral Sunscreen SPF 50, Reef Safe, 3 oz", ["Blue Lizard", "Neutrogena"], ["irritation", "texture", "value"],
         ["Zinc oxide broad spectrum protection", "Water resistant 80 minutes", "Reef friendly formula"],
         "Mineral sunscreen for sensitive skin, free of oxybenzone.",
         ["Beauty & Personal Care", "Skin Care", "Sunscreens & Tanning Products", "Sunscreens"]),
        ("Vitamin C Face Serum with Vitamin E, 1 fl oz", ["TruSkin", "CeraVe"], ["results", "irritation", "scent"],
         ["Vitamin C, vitamin E and hyaluronic acid", "Brightens dull skin", "Dropper bottle"],
         "An antioxidant serum that targets dark spots and fine lines.", []),
        ("Dry Shampoo Spray for Oily Hair, 5 oz", ["Batiste", "Not Your Mother's"], ["scent", "results", "value"],
         ["Absorbs oil between washes", "Adds volume", "No white residue"], "", []),
        ("Makeup Blender Sponge Set, 5 Pieces, Latex Free", ["Beauty Blender", "Real Techniques"],
         ["ease_of_use", "value", "texture"], ["Latex free", "Use wet or dry", "Streak-free finish"], "", []),
        ("Rosemary Mint Scalp and Hair Strengthening Oil, 2 fl oz", ["Mielle", "Maple Holistics"],
         ["scent", "results", "packaging"], ["Infused with biotin", "Nourishes dry scalp", "For all hair types"],
         "A lightweight oil for the scalp and split ends.",
         ["Beauty & Personal Care", "Hair Care", "Hair Treatment Oils"]),
        ("Eyelash Curler with 5 Refill Pads", ["Tweezerman", "Shiseido"], ["ease_of_use", "value", "irritation"],
         ["Curls lashes in seconds", "Fits most eye shapes", "Includes refill pads"], "", []),
        ("Hydrating Facial Cleanser, 16 fl oz", ["CeraVe", "Neutrogena"], ["texture", "irritation", "packaging"],
         ["Removes makeup and dirt", "Ceramides and hyaluronic acid", "Pump bottle"],
         "A gentle foaming cleanser that does not leave skin tight.", []),
    ]),
    "Cell_Phones_and_Accessories": ("Cell Phones & Accessories", [
        ("Case for iPhone 14, Military Grade Drop Protection, Clear", ["OtterBox", "Spigen"],
         ["fit", "protection", "grip", "value"], ["Military grade drop protection", "Raised edges for screen and camera",
                                                  "Wireless charging compatible"],
         "A slim protective case that keeps the phone's design visible.",
         ["Cell Phones & Accessories", "Cases, Holsters & Sleeves", "Basic Cases"]),
        ("Tempered Glass Screen Protector for iPhone 14, 3 Pack", ["amFilm", "JETech"], ["installation", "protection", "value"],
         ["9H hardness", "Easy installation frame", "Case friendly"], "",
         ["Cell Phones & Accessories", "Accessories", "Screen Protectors"]),
        ("USB C Cable 6 ft, 2 Pack, Braided Fast Charging Cord", ["Anker", "UGREEN"], ["charging", "build_quality", "value"],
         ["Nylon braided", "60W fast charging", "Works with Samsung Galaxy and Pixel"], "",
         ["Cell Phones & Accessories", "Accessories", "Cables"]),
        ("15W Fast Wireless Charging Pad", ["Belkin", "Anker"], ["charging", "build_quality", "value"],
         ["Qi certified", "LED charging indicator", "Case friendly up to 5 mm"],
         "Place your phone on the pad to charge, no cables needed.",
         ["Cell Phones & Accessories", "Accessories", "Chargers & Power Adapters", "Wireless Chargers"]),
        ("Magnetic Car Phone Mount for Dashboard", ["iOttie", "Lamicall"], ["magnet", "installation", "build_quality"],
         ["Strong N52 magnets", "360 degree rotation", "One-hand operation"], "",
         ["Cell Phones & Accessories", "Accessories", "Car Accessories", "Car Cradles & Mounts"]),
        ("Portable Charger 10000mAh Power Bank, USB C", ["INIU", "Anker"], ["battery", "charging", "value"],
         ["10000mAh capacity", "USB C input and output", "Slim and light"],
         "Charge your phone twice on the go.",
         ["Cell Phones & Accessories", "Accessories", "Portable Power Banks"]),
        ("Phone Grip and Stand, Swappable Top", ["PopSockets", "Lamicall"], ["grip", "build_quality", "value"],
         ["Expands into a stand", "Swappable top", "Reusable adhesive"], "",
         ["Cell Phones & Accessories", "Accessories", "Phone Grips"]),
        ("Case for Samsung Galaxy S23, Slim Shockproof", ["Spigen", "Caseology"], ["fit", "protection", "grip"],
         ["Air cushion corners", "Slim profile", "Precise cutouts"], "",
         ["Cell Phones & Accessories", "Cases, Holsters & Sleeves", "Basic Cases"]),
        ("Sport Band Compatible with Apple Watch 41mm 40mm 38mm", ["Marge Plus", "Smartish"], ["fit", "build_quality", "value"],
         ["Soft silicone", "Pin-and-tuck closure", "Fits 5.1 to 7.1 inch wrists"], "",
         ["Cell Phones & Accessories", "Smartwatch Accessories", "Smartwatch Bands"]),
        ("Lightning Cable 3 ft, MFi Certified", ["Amazon Basics", "Belkin"], ["charging", "build_quality"],
         ["Apple MFi certified", "Durable connector", "Charge and sync"], "",
         ["Cell Phones & Accessories", "Accessories", "Cables", "Lightning Cables"]),
        ("Adjustable Cell Phone Stand for Desk", ["Lamicall", "UGREEN"], ["build_quality", "grip", "value"],
         ["Aluminum alloy", "Adjustable angle", "Fits 4 to 10 inch devices"], "",
         ["Cell Phones & Accessories", "Accessories", "Stands"]),
        ("Dual USB C Car Charger, 40W", ["Anker", "Ainope"], ["charging", "build_quality", "value"],
         ["Two USB C ports", "Power Delivery 20W each", "Flush fit"], "",
         ["Cell Phones & Accessories", "Accessories", "Car Accessories", "Car Chargers"]),
        ("Selfie Stick Tripod with Bluetooth Remote", ["ATUMTEK", "Mpow"], ["build_quality", "grip", "value"],
         ["Extends to 40 inches", "Detachable remote", "Tripod legs"], "", []),
    ]),
    "Home_and_Kitchen": ("Amazon Home", [
        ("15-Piece Kitchen Knife Set with Block, High Carbon Stainless Steel", ["Cuisinart", "Farberware"],
         ["sharpness", "sturdiness", "cleaning", "value"], ["High carbon stainless steel blades", "Ergonomic handles",
                                                            "Wood block with sharpener"],
         "Everything you need to slice, dice and carve.",
         ["Home & Kitchen", "Kitchen & Dining", "Cutlery & Knife Accessories", "Knife Block Sets"]),
        ("Nonstick Frying Pan, 12 Inch, Induction Compatible", ["T-fal", "Cuisinart"], ["nonstick", "cleaning", "sturdiness"],
         ["Titanium nonstick coating", "Heat indicator", "Oven safe to 400F"], "",
         ["Home & Kitchen", "Kitchen & Dining", "Cookware", "Pots & Pans", "Skillets"]),
        ("Queen Sheet Set, 4 Piece, Brushed Microfiber, Deep Pocket", ["Mellanni", "Utopia Bedding"],
         ["material", "size", "comfort", "color"], ["Brushed microfiber", "Fits mattresses up to 16 inches",
                                                    "Wrinkle and fade resistant"],
         "Hotel luxury sheets at home.",
         ["Home & Kitchen", "Bedding", "Sheets & Pillowcases", "Sheet & Pillowcase Sets"]),
        ("Shower Curtain Liner, 72 x 72, Waterproof, Weighted Hem", ["Amazer", "mDesign"], ["smell", "size", "material"],
         ["PEVA, no PVC", "Three weighted magnets", "Rust-proof grommets"], "",
         ["Home & Kitchen", "Bath", "Bathroom Accessories", "Shower Curtains & Liners"]),
        ("Fabric Storage Bins with Handles, 6 Pack, Foldable", ["Amazon Basics", "mDesign"], ["size", "sturdiness", "color"],
         ["Fits cube shelves", "Folds flat", "Dual handles"], "",
         ["Home & Kitchen", "Storage & Organization", "Baskets, Bins & Containers"]),
        ("Ceramic Coffee Mugs Set of 6, 16 oz", ["Sweese", "Bormioli Rocco"], ["size", "color", "cleaning"],
         ["Lead free ceramic", "Microwave and dishwasher safe", "Large handle"], "",
         ["Home & Kitchen", "Kitchen & Dining", "Dining & Entertaining", "Cups, Mugs & Saucers"]),
        ("Throw Pillow Covers 18 x 18, Set of 4, Velvet", ["MIULEE", "Home Brilliant"], ["material", "color", "size"],
         ["Soft velvet", "Invisible zipper", "Inserts not included"], "",
         ["Home & Kitchen", "Home Décor Products", "Decorative Pillows, Inserts & Covers", "Throw Pillow Covers"]),
        ("Bamboo Cutting Board Set of 3 with Juice Groove", ["Greener Chef", "Totally Bamboo"],
         ["sturdiness", "cleaning", "size"], ["Organic bamboo", "Deep juice groove", "Three sizes"],
         "Knife-friendly boards for meat, cheese and vegetables.",
         ["Home & Kitchen", "Kitchen & Dining", "Kitchen Utensils & Gadgets", "Cutting Boards"]),
        ("Silicone Air Fryer Liners, Reusable, 2 Pack", ["Katbite", "W&P"], ["cleaning", "smell", "size"],
         ["Food grade silicone", "Fits 4 to 7 qt baskets", "Dishwasher safe"], "",
         ["Home & Kitchen", "Kitchen & Dining", "Small Appliance Parts & Accessories", "Air Fryer Accessories"]),
        ("Silicone Ice Cube Trays with Lids, 2 Pack", ["W&P", "Doqaus"], ["cleaning", "smell", "sturdiness"],
         ["Easy release", "Spill-resistant lids", "BPA free"], "",
         ["Home & Kitchen", "Kitchen & Dining", "Kitchen Utensils & Gadgets", "Ice Cube Molds & Trays"]),
        ("Dish Drying Rack with Drainboard, Stainless Steel", ["Simplehuman", "Kitsure"], ["sturdiness", "size", "cleaning"],
         ["Rust resistant", "Swivel spout drainboard", "Utensil holder"], "",
         ["Home & Kitchen", "Kitchen & Dining", "Storage & Organization", "Dish Racks"]),
        ("Bath Towels Set of 4, 100% Cotton, 27 x 54", ["Utopia Towels", "Amazon Basics"], ["comfort", "material", "color"],
         ["Ring spun cotton", "Highly absorbent", "Machine washable"], "Plush towels for everyday use.",
         ["Home & Kitchen", "Bath", "Towels", "Bath Towels"]),
        ("Spice Rack Organizer for Cabinet, 4 Tier", ["SimpleHouseware", "mDesign"], ["sturdiness", "size", "value"],
         ["Holds 24 jars", "Expandable", "No assembly needed"], "",
         ["Home & Kitchen", "Storage & Organization", "Kitchen Storage & Organization", "Spice Racks"]),
    ]),
}


def user_ids(n: int) -> list[str]:
    chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    out = []
    for i in range(n):
        k = h("user", i)
        s = "A"
        for _ in range(27):
            k, r = divmod(k, 36)
            s += chars[r]
        out.append(s)
    return out


def make_reviews(out: Path) -> dict:
    rng = random.Random(2023)
    users = user_ids(45)
    weights = [6] * 8 + [1] * 37  # eight heavy reviewers
    made = {}
    for category, (main, types) in REVIEW_CATEGORIES.items():
        items = []
        for t, (title, brands, aspects, features, description, categories) in enumerate(types):
            for b, brand in enumerate(brands):
                items.append(dict(parent_asin=asin("reviews", category, t, b), title=f"{brand} {title}", brand=brand,
                                  aspects=aspects, features=features, description=description, categories=categories,
                                  quality=rng.choice([0.85, 0.6, 0.3])))
        rng.shuffle(items)
        counts = [7, 6, 6, 6, 5, 5, 5, 5] + [rng.randint(1, 3) for _ in items[8:]]
        reviews, notes = [], []
        for item, n in zip(items, counts):
            votes = rng.sample(range(0, 60), n) if n >= 5 else [rng.choice([0, 0, 0, 1, 2, 3, 5, 12]) for _ in range(n)]
            reviewers = []
            while len(reviewers) < n:
                u = rng.choices(users, weights)[0]
                if u not in reviewers:
                    reviewers.append(u)
            for user, vote in zip(reviewers, votes):
                draw = rng.random()
                rating = rng.choice([4.0, 5.0, 5.0]) if draw < item["quality"] else (
                    3.0 if draw < item["quality"] + 0.2 else rng.choice([1.0, 1.0, 2.0]))
                pol = "pos" if rating >= 4 else "neg" if rating <= 2 else "mix"
                aspects = rng.sample(item["aspects"], rng.randint(1, min(3, len(item["aspects"]))))
                sentences = []
                for i, a in enumerate(aspects):
                    pos, neg, mix, _, _ = ASPECTS[a]
                    pool = {"pos": pos, "neg": neg, "mix": mix if i == 0 else pos + neg}[pol]
                    sentences.append(rng.choice(pool))
                closer = rng.choice(CLOSERS[pol])
                text = (" <br />" if rng.random() < 0.15 else " ").join(sentences + ([closer] if closer else []))
                if rng.random() < 0.06:
                    text = f"I bought the &#34;{item['brand']}&#34; one. " + text  # HTML entities, as in the dump
                if pol != "mix" and rng.random() < 0.6:
                    _, _, _, pos_titles, neg_titles = ASPECTS[aspects[0]]
                    rtitle = rng.choice(pos_titles if pol == "pos" else neg_titles)
                else:
                    rtitle = rng.choice(GENERIC_TITLES[pol])
                variant = rng.random() < 0.2
                images = [] if rng.random() > 0.08 else [{
                    "small_image_url": f"https://m.media-amazon.com/images/I/{asin('img', user, item['parent_asin'])[2:]}._SL256_.jpg",
                    "medium_image_url": f"https://m.media-amazon.com/images/I/{asin('img', user, item['parent_asin'])[2:]}._SL800_.jpg",
                    "large_image_url": f"https://m.media-amazon.com/images/I/{asin('img', user, item['parent_asin'])[2:]}._SL1600_.jpg",
                    "attachment_type": "IMAGE"}]
                notes.append((aspects, sentences))
                reviews.append(dict(rating=rating, title=rtitle, text=text, images=images,
                                    asin=asin("variant", item["parent_asin"], user) if variant else item["parent_asin"],
                                    parent_asin=item["parent_asin"], user_id=user,
                                    timestamp=1451606400000 + rng.randrange(0, 236_000_000) * 1000 + rng.randrange(1000),
                                    helpful_vote=vote, verified_purchase=rng.random() < 0.88))
        order = list(range(len(reviews)))
        rng.shuffle(order)
        reviews, notes = [reviews[i] for i in order], [notes[i] for i in order]
        lines = [json.dumps(r) for r in reviews]
        # ---- deliberately malformed lines (see SOURCE.md) ----
        if category == "All_Beauty":
            lines.insert(5, lines[4][: len(lines[4]) * 3 // 5])  # a truncated line: not JSON
            lines.insert(20, json.dumps({**reviews[19], "rating": 0.0}))  # rating outside 1-5
        elif category == "Cell_Phones_and_Accessories":
            lines.insert(7, json.dumps({k: v for k, v in reviews[6].items() if k != "parent_asin"}))  # no parent_asin
            lines.insert(30, json.dumps({**reviews[29], "rating": 6.0}))  # rating outside 1-5
        else:
            lines.insert(11, json.dumps({**reviews[10], "title": "", "text": ""}))  # neither title nor text
            lines.insert(40, json.dumps([5.0, "Great pan"]))  # not a JSON object
        body = ("\n".join(lines) + "\n").encode("utf-8")
        if category == "Cell_Phones_and_Accessories":
            with open(out / f"{category}.jsonl.gz", "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz:
                gz.write(body)
        else:
            (out / f"{category}.jsonl").write_bytes(body)
        metas = []
        for i, item in enumerate(items):
            if i in (9, 17):  # two items have no metadata
                continue
            ratings = [r["rating"] for r in reviews if r["parent_asin"] == item["parent_asin"]]
            metas.append(dict(
                main_category=main, title=item["title"] if i != 12 or category != "Home_and_Kitchen" else "",
                average_rating=round(min(5.0, max(1.0, sum(ratings) / len(ratings) + rng.uniform(-0.3, 0.3))), 1),
                rating_number=rng.randint(12, 48000), features=item["features"],
                description=[item["description"]] if item["description"] else [],
                price=None if rng.random() < 0.2 else round(rng.uniform(6, 60) - 0.01, 2),
                images=[{"thumb": f"https://m.media-amazon.com/images/I/{item['parent_asin'][2:]}._SS40_.jpg",
                         "large": f"https://m.media-amazon.com/images/I/{item['parent_asin'][2:]}.jpg",
                         "variant": "MAIN",
                         "hi_res": f"https://m.media-amazon.com/images/I/{item['parent_asin'][2:]}._SL1500_.jpg"}],
                videos=[], store=item["brand"] if rng.random() < 0.9 else None,
                categories=item["categories"] if category != "All_Beauty" or rng.random() < 0.5 else [],
                details={"Brand": item["brand"], "Date First Available": f"{rng.choice(['March', 'June', 'October'])} "
                                                                         f"{rng.randint(1, 28)}, {rng.randint(2015, 2022)}"},
                parent_asin=item["parent_asin"], bought_together=None))
        lines = [json.dumps(m) for m in metas]
        # ---- deliberately malformed meta lines (see SOURCE.md) ----
        if category == "All_Beauty":
            lines.insert(1, '{"main_category": "All Beauty", "title": "Lavender Bath Salts, 32 oz", "average_rat')  # cut
        elif category == "Cell_Phones_and_Accessories":
            broken = lines[3]  # a requested item's line with a stray comma: its parent_asin is found, the JSON fails
            lines[3] = broken.replace('"videos": []', '"videos": [],,', 1)
        body = ("\n".join(lines) + "\n").encode("utf-8")
        if category == "Home_and_Kitchen":
            with open(out / f"meta_{category}.jsonl.gz", "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz:
                gz.write(body)
        else:
            (out / f"meta_{category}.jsonl").write_bytes(body)
        made[category] = dict(items=items, reviews=reviews, notes=notes, metas=metas)
    return made


# ---- ECInstruct ---------------------------------------------------------------------------------
# Instructions: wordings of the eCeLLM processing notebooks (ninglab/eCeLLM data_processing/*.ipynb).

INSTRUCTIONS = {
    "Attribute_Value_Extraction": [
        "Given the title, description, feature, price, and brand of a product and a set of target attributes, extract "
        "the value of each target attribute from the product information. Output the extracted value and the "
        "corresponding source (e.g., title or feature) denoting where the value is extracted.",
        "Extract the value of the target attribute from the given product information and output it along with the "
        "corresponding source."],
    "Multiclass_Product_Classification": [
        "What is the relevance between the query and the product title below? Answer from one of the options.",
        "Analyze the query and product title to determine the relevance between the query and product, and select "
        "the appropriate option from the provided options."],
    "Product_Relation_Predicition": [
        "Given the title of two products, predict if the two products are similar, if the two products will be "
        "purchased or viewed together. Answer only from the options.",
        "Analyze the titles of Product 1 and Product 2 and select the option that indicates the relation of the two "
        "products."],
    "Query_Product_Ranking": [
        "Given a query and a list of products denoted as A, B, C, ... with their titles, rank the products according "
        "to their relevance to the query. Output only a ranked list in which the most relevant product is at the top "
        "of the list.",
        "Evaluate each product title in the given list, and rank them according to their relevance to the query. "
        "Output the ranked list, with the most relevant product at the top."],
    "Sequential_Recommendation": [
        "Given the products the user has purchased in history, rank the items in the listed options and output the "
        "item that the user is most likely to purchase next. Answer from one of the options.",
        "Estimate the user's intent based on the user's purchase history, and predict the next product that the user "
        "is most likely to purchase from the given options."],
    "Answerability_Prediction": [
        "Given a question and the related document, predict if the question is answerable based on the information "
        "provided in the document. Output only yes or no.",
        "Output yes if the supporting document can answer the given question. Otherwise, output no."],
    "Product_Matching": [
        "Given the title, description, manufacturer, and price of two products, identify if they are the same "
        "product. Only output yes or no.",
        "Check the details of the two products to see if they refer to the same product. Output only yes or no."],
    "Product_Substitue_Identification": [
        "Given a query and a product, identify if the product is somewhat relevant to the query. It fails to fulfill "
        "some aspects of the query but the product can be used as a functional substitute. Only output yes or no.",
        "Assess whether the product can serve as a functional substitute for the query, even though it does not "
        "fulfill every aspect of it. Answer yes or no."],
    "Sentiment_Analysis": [
        "Given the user's review, identify the user's sentiment from the listed options. Answer using one of the "
        "options.",
        "Analyze the user's review and determine the sentiment based on the listed options."],
    "Answer_Generation": [
        "Given a question and the related document, and generate the answer to the question based on the "
        "information provided in the document.",
        "Answer the given question using the supporting document."],
}
MPC_OPTIONS = {
    "E": "A: The product is relevant to the query, and satisfies all the query specifications.",
    "S": "B: The product is somewhat relevant. It fails to fulfill some aspects of the query but the product can be "
         "used as a functional substitute.",
    "C": "C: The product does not fulfill the query, but could be used in combination with a product exactly matching "
         "the query.",
    "I": "D: The product is irrelevant to the query.",
}
PRP_OPTIONS = ["A: Users who buy product 1 may also buy product 2.", "B: Users who view product 1 may also view product 2.",
               "C: The product 1 is similar with the product 2."]
SA_OPTIONS = ["A: very positive", "B: positive", "C: neutral", "D: negative", "E: very negative"]
AVE_PRODUCTS = [  # title, description, feature, brand, [(attribute, value, source)]
    ("Hanes Men's ComfortSoft Cotton T-Shirt, Crew Neck, Navy, Large", "", "Ring spun cotton, tag-free neck", "Hanes",
     [("color", "navy", "title"), ("material", "cotton", "title"), ("neck style", "crew neck", "title")]),
    ("Levi's Women's 311 Shaping Skinny Jeans, Soft Black, 28 Regular", "Shaping skinny jeans that hold you in.",
     "Mid rise, stretch denim", "Levi's", [("fit type", "skinny", "title"), ("color", "soft black", "title"),
                                           ("rise style", "mid rise", "feature")]),
    ("KitchenAid KSM150PSER Artisan Stand Mixer, 5 Quart, Empire Red", "Tilt-head design with 10 speeds.", "",
     "KitchenAid", [("capacity", "5 quart", "title"), ("color", "empire red", "title"),
                    ("number of speeds", "10", "description")]),
    ("Crocs Unisex Classic Clog, Lightweight Water Shoes, Pepper, Men 9", "", "Ventilation ports, pivoting heel strap",
     "Crocs", [("color", "pepper", "title"), ("shoe size", "men 9", "title"), ("closure type", "None", "None")]),
    ("Samsonite Freeform Hardside Expandable Spinner, Carry-On 21-Inch, Navy", "",
     "Made of polypropylene, four spinner wheels", "Samsonite",
     [("material", "polypropylene", "feature"), ("size", "21-inch", "title"), ("color", "navy", "title")]),
    ("Burt's Bees Baby Organic Cotton Sleep and Play Pajamas, Zip Front, Heather Grey, 3-6 Months", "", "",
     "Burt's Bees Baby", [("material", "organic cotton", "title"), ("closure type", "zip", "title"),
                          ("age range", "3-6 months", "title")]),
    ("Carhartt Men's Knit Cuffed Beanie, Brown, One Size", "A warm watch hat for cold job sites.", "Rib-knit acrylic fabric",
     "Carhartt", [("material", "acrylic", "feature"), ("color", "brown", "title"), ("size", "one size", "title")]),
    ("Lodge 10.25 Inch Cast Iron Skillet, Pre-Seasoned", "Oven safe and induction compatible.", "Pre-seasoned with oil",
     "Lodge", [("material", "cast iron", "title"), ("diameter", "10.25 inch", "title"),
               ("compatible devices", "induction", "description")]),
    ("Columbia Women's Arcadia II Rain Jacket, Waterproof, Dark Nocturnal, Medium", "", "Hood stows in the collar",
     "Columbia", [("color", "dark nocturnal", "title"), ("water resistance level", "waterproof", "title"),
                  ("size", "medium", "title")]),
    ("Fitbit Charge 5 Fitness Tracker, Black/Graphite", "", "Built-in GPS, up to 7 days battery life", "Fitbit",
     [("battery life", "7 days", "feature"), ("color", "black/graphite", "title"), ("connectivity", "None", "None")]),
    ("Osprey Daylite Plus Daypack, 20 Liters, Black", "", "Made of recycled nylon", "Osprey",
     [("capacity", "20 liters", "title"), ("material", "recycled nylon", "feature"), ("color", "black", "title")]),
    ("Ray-Ban RB2132 New Wayfarer Sunglasses, Polarized, Black Frame, 55 mm", "", "", "Ray-Ban",
     [("lens type", "polarized", "title"), ("frame color", "black", "title"), ("lens width", "55 mm", "title")]),
    ("Anker USB C Hub, 7-in-1, 4K HDMI, 100W Power Delivery, Gray", "", "Aluminum body", "Anker",
     [("number of ports", "7", "title"), ("color", "gray", "title"), ("material", "aluminum", "feature")]),
]
PM_PRODUCTS = [  # amazon title, google title, manufacturer, amazon price, google price, description
    ("adobe photoshop elements 4.0", "adobe photoshop elements 4.0 windows", "adobe", "89.99", "79.95",
     "edit and enhance your digital photos"),
    ("microsoft office home and student 2007", "microsoft office home & student 2007 (pc)", "microsoft", "149.95",
     "139.99", "word excel powerpoint and onenote for home use"),
    ("norton antivirus 2007", "symantec norton antivirus 2007 1-user", "symantec", "39.99", "36.99",
     "protects against viruses spyware and worms"),
    ("quickbooks pro 2007", "intuit quickbooks pro 2007 software", "intuit", "199.95", "179.99",
     "manage invoices payroll and expenses"),
    ("roxio easy media creator 9", "roxio easy media creator 9 suite", "roxio", "79.99", "74.95",
     "burn copy and edit cds and dvds"),
    ("rosetta stone spanish level 1", "rosetta stone v3 spanish (latin america) level 1", "rosetta stone", "209.0",
     "199.0", "learn spanish the natural way"),
    ("turbotax deluxe 2006", "intuit turbotax deluxe federal + state 2006", "intuit", "59.99", "54.95",
     "maximize your deductions"),
    ("nero 7 ultra edition", "nero 7 ultra edition enhanced", "nero", "69.99", "79.99", "the all-in-one digital media suite"),
]
QUESTIONS = {
    "scent": "How does it smell?", "texture": "Does it feel greasy on the skin?", "results": "Does it actually work?",
    "value": "Is it worth the price?", "packaging": "Does the bottle leak?", "longevity": "How long does it last?",
    "irritation": "Is it okay for sensitive skin?", "color": "Is the color true to the picture?",
    "ease_of_use": "Is it easy to use?", "fit": "Does it fit well?", "protection": "Does it protect the phone when dropped?",
    "charging": "How fast does it charge?", "grip": "Is it slippery?", "battery": "How many charges do you get from it?",
    "installation": "Is it easy to install?", "build_quality": "Is it well made?", "magnet": "Is the magnet strong enough?",
    "size": "Is it true to size?", "cleaning": "Is it easy to clean?", "sturdiness": "Is it sturdy?",
    "material": "Is the material soft?", "smell": "Does it have a chemical smell?", "nonstick": "Does food stick to it?",
    "sharpness": "Do the knives stay sharp?", "comfort": "Is it comfortable?",
}


def ordinal(i: int) -> str:
    return f"{i}{'th' if 10 <= i % 100 <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(i % 10, 'th')}"


def make_ecinstruct(out: Path, esci: dict, reviews: dict) -> None:
    rng = random.Random(7)
    rows: dict[str, list[dict]] = {t: [] for t in INSTRUCTIONS}

    def add(task, inp, output, options=None, encode=json.dumps):
        k = len(rows[task])
        rows[task].append(dict(task=task, instruction=INSTRUCTIONS[task][k % 2], input=inp,
                               options=None if options is None else encode(options), output=output, split="train",
                               setting="IND_Diverse_Instruction" if k % 2 else "IND_Single_Instruction",
                               few_shot_example=None))

    for title, desc, feature, brand, attrs in AVE_PRODUCTS[:12]:
        info = {"product title": title}
        if desc:
            info["product description"] = desc
        if feature:
            info["product feature"] = feature
        info["product brand"] = brand
        info["target attributes"] = " and ".join(a for a, _, _ in attrs)
        add("Attribute_Value_Extraction", json.dumps(info), json.dumps(
            [{"attribute": a, "value": v, "source": s if s == "None" else f"product {s}"} for a, v, s in attrs]))
    title_of_us = {p["product_id"]: p["product_title"] for p in esci["products"]
                   if p["product_locale"] == "us" and p["product_title"]}
    us = [r for r in esci["examples"] if r["product_locale"] == "us" and r["query"].strip()
          and r["esci_label"] in MPC_OPTIONS and r["product_id"] in title_of_us]
    by_label = {lab: [r for r in us if r["esci_label"] == lab] for lab in "ESCI"}
    for k in range(12):
        r = rng.choice(by_label["ESCI"[k % 4]])
        add("Multiclass_Product_Classification", json.dumps({"query": r["query"].strip(),
                                                             "product title": title_of_us[r["product_id"]]}),
            MPC_OPTIONS[r["esci_label"]], list(MPC_OPTIONS.values()))
    for k in range(12):
        r = rng.choice(by_label["S" if k % 2 == 0 else rng.choice("ECI")])
        add("Product_Substitue_Identification", json.dumps({"query": r["query"].strip(),
                                                            "product": title_of_us[r["product_id"]]}),
            "yes" if r["esci_label"] == "S" else "no")
    queries: dict[int, list] = {}
    for r in us:
        queries.setdefault(r["query_id"], []).append(r)
    for qid in sorted(queries)[:12]:
        group = queries[qid]
        labels = rng.sample(sorted({r["esci_label"] for r in group}), min(4, len({r["esci_label"] for r in group})))
        picked = [rng.choice([r for r in group if r["esci_label"] == lab]) for lab in labels[: rng.randint(2, 4)]]
        rng.shuffle(picked)
        letters = "ABCD"
        ranked = sorted(range(len(picked)), key=lambda i: "ESCI".index(picked[i]["esci_label"]))
        add("Query_Product_Ranking", json.dumps({"query": picked[0]["query"].strip(), "product list": [
            f"{letters[i]}: {title_of_us[r['product_id']]}" for i, r in enumerate(picked)]}),
            ",".join(letters[i] for i in ranked))
    cell, home = reviews["Cell_Phones_and_Accessories"]["items"], reviews["Home_and_Kitchen"]["items"]
    for k in range(12):
        pool = cell if k % 2 else home
        a, b = rng.sample(pool, 2)
        label = "B" if a["features"] == b["features"] else rng.choice("AC")  # the same product type: viewed together
        add("Product_Relation_Predicition", json.dumps({"Product 1:": a["title"], "Product 2:": b["title"]}), label,
            PRP_OPTIONS)
    all_items = {i["parent_asin"]: (c, i) for c, v in reviews.items() for i in v["items"]}
    by_user: dict[str, list] = {}
    for cat, v in reviews.items():
        for r in v["reviews"]:
            by_user.setdefault(r["user_id"], []).append(r)
    users = [u for u in sorted(by_user) if len(by_user[u]) >= 4]
    for k, user in enumerate(users[:12]):
        history = sorted(by_user[user], key=lambda r: r["timestamp"])[-6:]
        target = history[-1]["parent_asin"]

        def text(pid):
            cat, item = all_items[pid]
            return f"{item['title']}. {cat.replace('_', ' ')}. {item['brand']}."
        seen = {r["parent_asin"] for r in by_user[user]}
        candidates = rng.sample([p for p in sorted(all_items) if p not in seen], 19) + [target]
        rng.shuffle(candidates)
        inp = [f"{ordinal(i + 1)}: {text(r['parent_asin'])}" for i, r in enumerate(history[:-1])]
        options = [f"{chr(65 + i)}: {text(p)}" for i, p in enumerate(candidates)]
        encode = str if k % 4 else json.dumps  # the notebook writes str(list); some rows as JSON
        add("Sequential_Recommendation", encode(inp), chr(65 + candidates.index(target)), options, encode=encode)
    docs = []
    for cat, v in reviews.items():
        by_item: dict[str, list] = {}
        for r, (aspects, sentences) in zip(v["reviews"], v["notes"]):
            by_item.setdefault(r["parent_asin"], []).append((r, aspects, sentences))
        docs += [(cat, pid, revs) for pid, revs in by_item.items() if len(revs) >= 3]
    for k in range(12):
        cat, pid, revs = docs[k % len(docs)] if k % 2 == 0 else rng.choice(docs)
        covered = [a for _, aspects, _ in revs[:3] for a in aspects]
        item_aspects = all_items[pid][1]["aspects"]
        if k % 2 == 0:
            aspect = covered[0]
        else:
            missing = [a for a in QUESTIONS if a not in covered and a not in item_aspects]
            aspect = rng.choice(missing)
        add("Answerability_Prediction", json.dumps({"question": QUESTIONS[aspect],
                                                    "document": [r["text"] for r, _, _ in revs[:3]]}),
            "yes" if aspect in covered else "no")
    for k in range(12):
        cat, pid, revs = docs[(3 * k + 1) % len(docs)]
        r, aspects, sentences = revs[0]
        add("Answer_Generation", json.dumps({"question": QUESTIONS[aspects[0]], "document": [x["text"] for x, _, _ in revs[:3]]}),
            sentences[0])
    for k in range(12):
        a, g = PM_PRODUCTS[k % 8], PM_PRODUCTS[(k % 8 + 1 + k // 8) % 8]
        other = a if k % 2 == 0 else g
        p1 = {"title": a[0], "description": a[5], "manufacturer": a[2], "price": a[3]}
        p2 = {"title": other[1], "description": float("nan") if k == 5 else other[5], "manufacturer": other[2] if k % 3 else "nan",
              "price": other[4]}
        add("Product_Matching", json.dumps({"product 1": p1, "product 2": p2}), "yes" if other is a else "no")
    sa = [r for v in reviews.values() for r in v["reviews"] if len(r["text"].split()) >= 10]
    for k in range(12):
        r = rng.choice([x for x in sa if int(x["rating"]) == 5 - k % 5])
        add("Sentiment_Analysis", r["text"], SA_OPTIONS[5 - int(r["rating"])], SA_OPTIONS)

    array_rows, line_rows = [], []
    for task, task_rows in rows.items():
        array_rows += task_rows[:7]
        line_rows += [{k: v for k, v in r.items() if k not in ("split", "few_shot_example")} for r in task_rows[7:12]]
    # ---- other splits and deliberately malformed rows (see SOURCE.md) ----
    array_rows += [
        {**rows["Sentiment_Analysis"][0], "split": "test"}, {**rows["Product_Matching"][0], "split": "test"},
        {**rows["Answer_Generation"][0], "split": "val"},  # not the train split
        "not a row",  # not a JSON object
        {**rows["Multiclass_Product_Classification"][0], "options": '["A: The product is relevant", "B: The prod'},  # cut
        {**rows["Product_Matching"][1], "task": ""},  # no task
        {**rows["Answer_Generation"][1], "output": ""},  # no output
    ]
    rng.shuffle(array_rows)
    (out / "train.json").write_text(json.dumps(array_rows, indent=4) + "\n", encoding="utf-8")
    lines = [json.dumps(r) for r in line_rows]
    rng.shuffle(lines)
    lines.insert(9, json.dumps(line_rows[0])[:70])  # a truncated line: not JSON
    lines.insert(20, json.dumps({**line_rows[1], "options": json.dumps({"A": "yes", "B": "no"})}))  # not a list
    lines.insert(31, json.dumps({**line_rows[2], "input": '{"query": "usb c hub" "product": "Anker 7-in-1 USB C Hub"}'}))
    (out / "train.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    val = [{k: v for k, v in rows[t][12 % len(rows[t]) - 1].items() if k != "split"} for t in
           ("Sentiment_Analysis", "Product_Matching", "Query_Product_Ranking")]
    (out / "validation.json").write_text("\n".join(json.dumps(r) for r in val) + "\n", encoding="utf-8")


def main() -> None:
    esci = make_esci(HERE / "esci")
    make_m2_products(HERE / "amazon_m2")
    reviews = make_reviews(HERE / "amazon_reviews_2023")
    make_ecinstruct(HERE / "ecinstruct", esci, reviews)


if __name__ == "__main__":
    main()
