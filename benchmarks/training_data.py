"""Benchmark of issue #4, item 8: build all 38 training datasets at seed size from real-scale inputs.

Two parts:

1. ``generate(out_dir, scale=1.0, seed=0)`` writes synthetic inputs in the REAL on-disk schemas of
   the six sources (``training/data/sources.py``) and, at ``scale=1.0``, at their REAL sizes:

   - ``esci/``: ``shopping_queries_dataset_examples.parquet`` (2.62M judged pairs, 130,652 queries in
     us/es/jp, ~20 per query, labels E/S/C/I at 65/22/3/10 %; queries come in groups of 4 that share
     products, so a product is judged by ~1.5 queries) and ``shopping_queries_dataset_products.parquet``
     (~1.8M products: titles of ~80-150 characters that mostly start with the brand, descriptions of
     0-2,000 characters for ~55 %, some in HTML, 0-5 newline-separated bullets for ~85 %, brand, colour).
   - ``amazon_m2/``: ``sessions_train.csv`` (3.6M sessions; ``prev_items`` is the numpy repr, wrapped
     every 5 ids with "\\n " inside a quoted cell, as in the real file) and ``products_train.csv``
     (1.55M rows over DE/JP/UK/ES/FR/IT at the real per-locale counts; ~25-45 % of the UK/ES/FR/IT ids
     and 5 % of the JP ids are also listed in DE/UK, with the same brand, type, model and adjectives
     in the other language; books with ISBN ids and authors; the 40000000.07 price placeholder).
   - ``amazon_reviews_2023/``: All_Beauty (701,528 reviews), Appliances (2,128,605, gzipped) and
     Health_and_Personal_Care (494,121), the real line counts, with their meta files (one line per
     item, every field of the real files). Item popularity is Zipf-like (a few items with thousands of
     reviews), 30 % of the reviews come from 60k users who review across the three categories (the
     rest from one-off users), helpful votes are mostly 0, titles are short snippets, texts are built
     from aspect sentences that agree with the rating.
   - ``ecinstruct/train.json``: one JSON array of 95.5k train rows (10 tasks, their real input/options/
     output shapes, JSON-encoded strings, SR rows as Python ``str(list)``; half the rows are in a 1-shot
     setting and carry a ``few_shot_example``), 220 MB (the Feb-2024 file was 158 MB, later ones 330 MB).
   - ``mmlu/all/{test,validation,dev,auxiliary_train}-00000-of-00001.parquet`` (cais/mmlu schema,
     14,042 / 1,531 / 285 / 99,842 rows; auxiliary_train questions carry a reading passage).
   - ``alpaca_cleaned/alpaca_data_cleaned.json``: 51,760 rows, a JSON array with indent 4.

   Texts are synthetic (word lists and sentence templates per language, composed with pyarrow), but
   field shapes, lengths and the relationships the builders rely on are those of the real data. The
   inputs go to ``.cache/bench/sources-<scale>/`` and are reused while its ``GENERATED.json`` marker
   holds the same parameters.

2. The benchmark: ``python -m training.data build --sources <generated> --out <tmp>`` (all 38
   datasets at their seed sizes) in a subprocess, with its wall time, CPU time and peak RSS (the
   child's own ``VmHWM`` from /proc, sampled every 0.25 s, cross-checked with ``wait4``'s
   ``ru_maxrss``; the inputs are generated in another subprocess, so that this process stays small),
   then, as a breakdown, one
   instrumented subprocess per source (``--only`` that source's datasets; the same rows, as every
   dataset is seeded by its own name) that times the build's stages without editing the framework:
   reading the index, drawing seeds, the lookup pass, writing questions, the check (route + parse)
   and rendering. Rows built per dataset come from the full build's manifest.json.

    shopbench bench training-data                  # scale 1.0: generate (once), build, breakdown
    shopbench bench training-data --scale 0.05     # a quick run on 5 % inputs
    shopbench bench training-data --only-generate  # write the inputs only
    shopbench bench training-data --keep           # keep the built datasets (.cache/bench/built-<scale>/)
    shopbench bench training-data --record         # and update the figures kept in git

(``.venv/bin/python -m benchmarks.training_data`` takes the same options.) The Markdown summary is printed and
written to a new run folder, ``runs/<time>-bench-training-data/report.md``
(``runs/latest-bench-training-data`` points at the newest); nothing tracked by git changes. The
generated inputs (3.2 GB at scale 1) and the built datasets stay in ``.cache/bench/``. ``--record``
also writes the tracked ``benchmarks/training_data_latest.md``, and only for a full run: it is refused
with ``--scale`` below 1, ``--no-breakdown`` or ``--only-generate`` (which writes no report).
Goals (issue #4, item 8): the full build in <= 10 minutes and <= 4 GB peak RSS on this machine.
"""
from __future__ import annotations

import argparse
import datetime
import gzip
import json
import os
import platform
import random
import shutil
import subprocess
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks.common import (Report, add_record_flag, check_record, cpu_model, stage,  # noqa: E402
                               write_report)
from utilities import progress as progress_bars  # noqa: E402

if TYPE_CHECKING:
    from tqdm import tqdm

BENCH_DIR = REPO / ".cache" / "bench"  # generated inputs and built datasets (large): kept here, not in runs/
LATEST = Path(__file__).resolve().parent / "training_data_latest.md"  # tracked: written only with --record
NAME = "training-data"  # runs/<time>-bench-training-data/, runs/latest-bench-training-data
MARKER = "GENERATED.json"
GENERATOR_VERSION = 4
GOAL_MINUTES = 10.0
GOAL_RSS_GB = 4.0
CHUNK = 100_000  # rows generated and written at a time

# ================================================================================================
# Vocabularies: aligned across the languages (index i is the same word in every language), so the
# same Amazon-M2 product listed in two locales gets the same title in two languages.
# ================================================================================================

LANGS = ("en", "es", "de", "fr", "it", "ja")
LANG_INDEX = {lang: i for i, lang in enumerate(LANGS)}


def _table(text: str) -> list[tuple[str, ...]]:
    rows = [tuple(part.strip() for part in line.split("|")) for line in text.strip().splitlines()]
    assert all(len(r) == len(LANGS) for r in rows), [r for r in rows if len(r) != len(LANGS)]
    return rows


TYPES = _table("""
Wireless Earbuds|Auriculares Inalámbricos|Kabellose Kopfhörer|Écouteurs Sans Fil|Auricolari Wireless|ワイヤレスイヤホン
Running Shoes|Zapatillas de Running|Laufschuhe|Chaussures de Course|Scarpe da Corsa|ランニングシューズ
Water Bottle|Botella de Agua|Trinkflasche|Gourde|Borraccia|水筒
Phone Case|Funda para Móvil|Handyhülle|Coque de Téléphone|Custodia per Telefono|スマホケース
Yoga Mat|Esterilla de Yoga|Yogamatte|Tapis de Yoga|Tappetino Yoga|ヨガマット
Coffee Maker|Cafetera|Kaffeemaschine|Cafetière|Macchina da Caffè|コーヒーメーカー
Desk Lamp|Lámpara de Escritorio|Schreibtischlampe|Lampe de Bureau|Lampada da Scrivania|デスクライト
Backpack|Mochila|Rucksack|Sac à Dos|Zaino|リュックサック
Electric Toothbrush|Cepillo de Dientes Eléctrico|Elektrische Zahnbürste|Brosse à Dents Électrique|Spazzolino Elettrico|電動歯ブラシ
Bluetooth Speaker|Altavoz Bluetooth|Bluetooth Lautsprecher|Enceinte Bluetooth|Altoparlante Bluetooth|Bluetoothスピーカー
USB Cable|Cable USB|USB Kabel|Câble USB|Cavo USB|USBケーブル
Screen Protector|Protector de Pantalla|Displayschutzfolie|Protection d'Écran|Pellicola Protettiva|保護フィルム
Frying Pan|Sartén|Bratpfanne|Poêle|Padella|フライパン
Kitchen Knife|Cuchillo de Cocina|Küchenmesser|Couteau de Cuisine|Coltello da Cucina|包丁
Bath Towel|Toalla de Baño|Badetuch|Serviette de Bain|Asciugamano|バスタオル
Pillow|Almohada|Kopfkissen|Oreiller|Cuscino|枕
Office Chair|Silla de Oficina|Bürostuhl|Chaise de Bureau|Sedia da Ufficio|オフィスチェア
Gaming Mouse|Ratón Gaming|Gaming Maus|Souris Gamer|Mouse da Gaming|ゲーミングマウス
Keyboard|Teclado|Tastatur|Clavier|Tastiera|キーボード
Power Bank|Batería Externa|Powerbank|Batterie Externe|Power Bank|モバイルバッテリー
Smart Watch|Reloj Inteligente|Smartwatch|Montre Connectée|Orologio Smart|スマートウォッチ
Hair Dryer|Secador de Pelo|Haartrockner|Sèche-Cheveux|Asciugacapelli|ヘアドライヤー
Face Cream|Crema Facial|Gesichtscreme|Crème Visage|Crema Viso|フェイスクリーム
Shampoo|Champú|Haarshampoo|Shampooing|Shampoo Capelli|シャンプー
Dog Leash|Correa para Perro|Hundeleine|Laisse pour Chien|Guinzaglio|犬用リード
Cat Litter|Arena para Gatos|Katzenstreu|Litière pour Chat|Lettiera per Gatti|猫砂
Garden Hose|Manguera de Jardín|Gartenschlauch|Tuyau d'Arrosage|Tubo da Giardino|ホース
Cordless Drill|Taladro Inalámbrico|Akku-Bohrschrauber|Perceuse Sans Fil|Trapano a Batteria|電動ドリル
Screwdriver Set|Juego de Destornilladores|Schraubendreher Set|Jeu de Tournevis|Set di Cacciaviti|ドライバーセット
LED Bulb|Bombilla LED|LED Lampe|Ampoule LED|Lampadina LED|LED電球
Winter Jacket|Chaqueta de Invierno|Winterjacke|Veste d'Hiver|Giacca Invernale|冬用ジャケット
T-Shirt|Camiseta|T-Shirt|Tee-Shirt|Maglietta|Tシャツ
Socks|Calcetines|Socken|Chaussettes|Calzini|靴下
Sunglasses|Gafas de Sol|Sonnenbrille|Lunettes de Soleil|Occhiali da Sole|サングラス
Wallet|Cartera|Geldbörse|Portefeuille|Portafoglio|財布
Watch Band|Correa de Reloj|Uhrenarmband|Bracelet de Montre|Cinturino per Orologio|時計バンド
Board Game|Juego de Mesa|Brettspiel|Jeu de Société|Gioco da Tavolo|ボードゲーム
Jigsaw Puzzle|Rompecabezas|Puzzlespiel|Puzzle|Puzzle da Incastro|ジグソーパズル
Baby Bottle|Biberón|Babyflasche|Biberon|Biberon|哺乳瓶
Notebook|Cuaderno|Notizbuch|Carnet|Quaderno|ノート
Pen Set|Set de Bolígrafos|Kugelschreiber Set|Lot de Stylos|Set di Penne|ボールペンセット
Vacuum Cleaner|Aspiradora|Staubsauger|Aspirateur|Aspirapolvere|掃除機
Air Fryer|Freidora de Aire|Heißluftfritteuse|Friteuse à Air|Friggitrice ad Aria|ノンフライヤー
Blender|Batidora de Vaso|Standmixer|Blender|Frullatore|ミキサー
Camping Tent|Tienda de Campaña|Campingzelt|Tente de Camping|Tenda da Campeggio|テント
Bicycle Light|Luz de Bicicleta|Fahrradlicht|Lumière de Vélo|Luce per Bici|自転車ライト
Car Charger|Cargador de Coche|Kfz-Ladegerät|Chargeur de Voiture|Caricabatterie da Auto|カーチャージャー
HDMI Cable|Cable HDMI|HDMI Kabel|Câble HDMI|Cavo HDMI|HDMIケーブル
Storage Box|Caja de Almacenamiento|Aufbewahrungsbox|Boîte de Rangement|Scatola Portaoggetti|収納ボックス
Shower Head|Alcachofa de Ducha|Duschkopf|Pommeau de Douche|Soffione Doccia|シャワーヘッド
""")

ADJS = _table("""
Waterproof|Impermeable|Wasserdicht|Étanche|Impermeabile|防水
Lightweight|Ligero|Leicht|Léger|Leggero|軽量
Portable|Portátil|Tragbar|Portable|Portatile|ポータブル
Rechargeable|Recargable|Wiederaufladbar|Rechargeable|Ricaricabile|充電式
Non-Slip|Antideslizante|Rutschfest|Antidérapant|Antiscivolo|滑り止め
Stainless Steel|Acero Inoxidable|Edelstahl|Acier Inoxydable|Acciaio Inossidabile|ステンレス
Foldable|Plegable|Faltbar|Pliable|Pieghevole|折りたたみ
Adjustable|Ajustable|Verstellbar|Réglable|Regolabile|調節可能
Extra Large|Extra Grande|Extra Groß|Très Grand|Extra Grande|特大
Compact|Compacto|Kompakt|Compact|Compatto|コンパクト
Ergonomic|Ergonómico|Ergonomisch|Ergonomique|Ergonomico|人間工学
Quiet|Silencioso|Leise|Silencieux|Silenzioso|静音
Fast Charging|Carga Rápida|Schnellladen|Charge Rapide|Ricarica Rapida|急速充電
Noise Cancelling|Cancelación de Ruido|Geräuschunterdrückung|Réduction de Bruit|Cancellazione del Rumore|ノイズキャンセリング
Breathable|Transpirable|Atmungsaktiv|Respirant|Traspirante|通気性
Durable|Resistente|Langlebig|Durable|Durevole|耐久性
Eco-Friendly|Ecológico|Umweltfreundlich|Écologique|Ecologico|エコ
Dishwasher Safe|Apto para Lavavajillas|Spülmaschinenfest|Lavable au Lave-Vaisselle|Lavabile in Lavastoviglie|食洗機対応
BPA Free|Sin BPA|BPA-frei|Sans BPA|Senza BPA|BPAフリー
Wireless|Inalámbrico|Kabellos|Sans Fil|Senza Fili|ワイヤレス
Magnetic|Magnético|Magnetisch|Magnétique|Magnetico|マグネット式
Insulated|Aislado|Isoliert|Isotherme|Termico|保温
Heavy Duty|Uso Intensivo|Robust|Robuste|Per Uso Intensivo|頑丈
Soft|Suave|Weich|Doux|Morbido|柔らかい
Premium|Premium|Hochwertig|Haut de Gamme|Di Alta Gamma|高級
Professional|Profesional|Professionell|Professionnel|Professionale|プロ仕様
Shockproof|Antigolpes|Stoßfest|Antichoc|Antiurto|耐衝撃
Universal|Universal|Universell|Universel|Universale|汎用
Anti-Scratch|Antiarañazos|Kratzfest|Anti-Rayures|Antigraffio|傷防止
Long Battery Life|Batería de Larga Duración|Lange Akkulaufzeit|Longue Autonomie|Lunga Durata della Batteria|長時間バッテリー
for Kids|para Niños|für Kinder|pour Enfants|per Bambini|子供用
for Men|para Hombre|für Herren|pour Homme|da Uomo|メンズ
for Women|para Mujer|für Damen|pour Femme|da Donna|レディース
Set of 2|Pack de 2|2er Set|Lot de 2|Set da 2|2個セット
Set of 4|Pack de 4|4er Set|Lot de 4|Set da 4|4個セット
Large Capacity|Gran Capacidad|Große Kapazität|Grande Capacité|Grande Capacità|大容量
Easy to Clean|Fácil de Limpiar|Leicht zu Reinigen|Facile à Nettoyer|Facile da Pulire|お手入れ簡単
Multifunctional|Multifunción|Multifunktional|Multifonction|Multifunzione|多機能
Travel Size|Tamaño de Viaje|Reisegröße|Format Voyage|Formato Viaggio|トラベルサイズ
Outdoor|Exterior|Outdoor-geeignet|Extérieur|da Esterno|アウトドア
Vintage Style|Estilo Vintage|Vintage-Stil|Style Vintage|Stile Vintage|ヴィンテージ風
Smart|Inteligente|Intelligent|Intelligent|Intelligente|スマート
Handmade|Hecho a Mano|Handgemacht|Fait Main|Fatto a Mano|ハンドメイド
Cordless|Sin Cable|Kabellose Bedienung|Sans Cordon|Senza Cavo|コードレス
Organic|Orgánico|Biologisch|Biologique|Biologico|オーガニック
Anti-Fog|Antivaho|Beschlagfrei|Antibuée|Antiappannamento|曇り止め
Heat Resistant|Resistente al Calor|Hitzebeständig|Résistant à la Chaleur|Resistente al Calore|耐熱
Washable|Lavable|Waschbar|Lavable en Machine|Lavabile|洗える
Reusable|Reutilizable|Wiederverwendbar|Réutilisable|Riutilizzabile|再利用可能
Unisex|Unisex|Unisex-Modell|Mixte|Unisex|男女兼用
""")

COLORS = _table("""
Black|Negro|Schwarz|Noir|Nero|ブラック
White|Blanco|Weiß|Blanc|Bianco|ホワイト
Red|Rojo|Rot|Rouge|Rosso|レッド
Blue|Azul|Blau|Bleu|Blu|ブルー
Green|Verde|Grün|Vert|Verde Scuro|グリーン
Grey|Gris|Grau|Gris Clair|Grigio|グレー
Pink|Rosa|Rosa|Rose|Rosa|ピンク
Navy|Azul Marino|Marineblau|Bleu Marine|Blu Navy|ネイビー
Beige|Beige|Beige|Beige|Beige|ベージュ
Brown|Marrón|Braun|Marron|Marrone|ブラウン
Yellow|Amarillo|Gelb|Jaune|Giallo|イエロー
Purple|Morado|Lila|Violet|Viola|パープル
Silver|Plata|Silber|Argent|Argento|シルバー
Gold|Dorado|Gold|Doré|Oro|ゴールド
Orange|Naranja|Orange|Orange|Arancione|オレンジ
Transparent|Transparente|Transparent|Transparent|Trasparente|クリア
""")

MATERIALS = _table("""
Cotton|Algodón|Baumwolle|Coton|Cotone|綿
Polyester|Poliéster|Polyester|Polyester|Poliestere|ポリエステル
Leather|Cuero|Leder|Cuir|Pelle|レザー
Silicone|Silicona|Silikon|Silicone|Silicone|シリコン
Aluminium|Aluminio|Aluminium|Aluminium|Alluminio|アルミ
Wood|Madera|Holz|Bois|Legno|木製
Glass|Vidrio|Glas|Verre|Vetro|ガラス
Plastic|Plástico|Kunststoff|Plastique|Plastica|プラスチック
Bamboo|Bambú|Bambus|Bambou|Bambù|竹
Nylon|Nailon|Nylon|Nylon|Nylon|ナイロン
Ceramic|Cerámica|Keramik|Céramique|Ceramica|セラミック
Wool|Lana|Wolle|Laine|Lana|ウール
""")

USES = _table("""
everyday use|el uso diario|den Alltag|un usage quotidien|l'uso quotidiano|普段使い
travel|los viajes|Reisen|les voyages|i viaggi|旅行
the office|la oficina|das Büro|le bureau|l'ufficio|オフィス
the gym|el gimnasio|das Fitnessstudio|la salle de sport|la palestra|ジム
camping|el camping|Camping|le camping|il campeggio|キャンプ
the kitchen|la cocina|die Küche|la cuisine|la cucina|キッチン
the home|el hogar|das Zuhause|la maison|la casa|家庭
outdoor activities|las actividades al aire libre|Outdoor-Aktivitäten|les activités de plein air|le attività all'aperto|アウトドア
kids|los niños|Kinder|les enfants|i bambini|子供
gifting|regalar|Geschenke|offrir|un regalo|ギフト
school|el colegio|die Schule|l'école|la scuola|学校
the car|el coche|das Auto|la voiture|l'auto|車
""")

SIZES = ("30 ml", "50 ml", "100 ml", "250 ml", "500 ml", "1 L", "1.5 L", "2 L", "S", "M", "L", "XL", "XXL", "10 cm",
         "20 cm", "30 cm", "1 m", "2 m", "3 m", "5 m", "32 oz", "16 oz", "40 oz", "12 inch", "15.6 inch", "6 mm",
         "10 mm", "42 EU", "38 EU", "44 EU", "4 Pack", "6 Pack", "12 Pack", "100 Count", "3 Pieces", "5 kg", "500 g",
         "2 kg", "10000mAh", "20000mAh")

SENTENCES = {
    "en": ("This {type} is {adj} and {adj2}, perfect for {use}.",
           "Made of high quality {material}, it is {adj} and easy to use.",
           "The {adj} design makes it ideal for {use} and {use2}.",
           "Comes with a {n}-year warranty and friendly customer service.",
           "Package includes 1 x {type} and 1 x user manual.",
           "Dimensions: {n} x {m} cm, weight: {w} g.",
           "Please note that colours may vary slightly due to lighting and screen settings.",
           "Upgraded {year} version with {adj} {material} and improved performance for {use}.",
           "Whether for {use} or {use2}, this {type} will not let you down.",
           "Our {type} has been tested over {w} times to make sure it stays {adj}."),
    "es": ("Este {type} es {adj} y {adj2}, perfecto para {use}.",
           "Fabricado con {material} de alta calidad, es {adj} y fácil de usar.",
           "Su diseño {adj} lo hace ideal para {use} y {use2}.",
           "Incluye una garantía de {n} años y un servicio de atención al cliente.",
           "El paquete incluye 1 x {type} y 1 x manual de usuario.",
           "Dimensiones: {n} x {m} cm, peso: {w} g.",
           "Tenga en cuenta que los colores pueden variar ligeramente según la iluminación.",
           "Versión mejorada {year} con {material} {adj} y mayor rendimiento para {use}.",
           "Ya sea para {use} o {use2}, este {type} no te decepcionará.",
           "Nuestro {type} ha sido probado más de {w} veces para garantizar que sigue siendo {adj}."),
    "de": ("Diese {type} ist {adj} und {adj2}, perfekt für {use}.",
           "Aus hochwertigem Material ({material}) gefertigt, {adj} und einfach zu bedienen.",
           "Das Design ({adj}) macht es ideal für {use} und {use2}.",
           "Mit {n} Jahren Garantie und freundlichem Kundenservice.",
           "Lieferumfang: 1 x {type} und 1 x Bedienungsanleitung.",
           "Maße: {n} x {m} cm, Gewicht: {w} g.",
           "Bitte beachten Sie, dass die Farben je nach Beleuchtung leicht abweichen können.",
           "Verbesserte Version {year} aus {material}, {adj} und mit höherer Leistung für {use}.",
           "Ob für {use} oder {use2}, diese {type} wird Sie nicht enttäuschen.",
           "Unsere {type} wurde über {w} Mal getestet, damit sie {adj} bleibt."),
    "fr": ("Ce {type} est {adj} et {adj2}, parfait pour {use}.",
           "Fabriqué en {material} de haute qualité, il est {adj} et facile à utiliser.",
           "Son design {adj} le rend idéal pour {use} et {use2}.",
           "Livré avec une garantie de {n} ans et un service client réactif.",
           "Le colis comprend 1 x {type} et 1 x manuel d'utilisation.",
           "Dimensions : {n} x {m} cm, poids : {w} g.",
           "Veuillez noter que les couleurs peuvent varier légèrement selon l'éclairage.",
           "Version améliorée {year} en {material}, {adj}, avec de meilleures performances pour {use}.",
           "Que ce soit pour {use} ou {use2}, ce {type} ne vous décevra pas.",
           "Notre {type} a été testé plus de {w} fois pour rester {adj}."),
    "it": ("Questo {type} è {adj} e {adj2}, perfetto per {use}.",
           "Realizzato in {material} di alta qualità, è {adj} e facile da usare.",
           "Il design {adj} lo rende ideale per {use} e {use2}.",
           "Include una garanzia di {n} anni e un servizio clienti disponibile.",
           "La confezione include 1 x {type} e 1 x manuale utente.",
           "Dimensioni: {n} x {m} cm, peso: {w} g.",
           "Si prega di notare che i colori possono variare leggermente a causa dell'illuminazione.",
           "Versione migliorata {year} in {material}, {adj}, con prestazioni superiori per {use}.",
           "Che sia per {use} o per {use2}, questo {type} non vi deluderà.",
           "Il nostro {type} è stato testato oltre {w} volte per rimanere {adj}."),
    "ja": ("この{type}は{adj}で{adj2}、{use}に最適です。",
           "高品質な{material}を使用しており、{adj}で使いやすい設計です。",
           "{adj}デザインで、{use}や{use2}にぴったりです。",
           "{n}年保証付きで、安心してお使いいただけます。",
           "セット内容：{type}×1、取扱説明書×1。",
           "サイズ：約{n}×{m}cm、重量：約{w}g。",
           "光の加減により、実際の色と多少異なる場合がございます。",
           "{year}年改良版、{adj}な{material}素材で{use}での性能が向上しました。",
           "{use}にも{use2}にも使える{adj}な{type}です。",
           "{w}回以上のテストを経て、{adj}な品質を実現しました。"),
}

SYLLABLES = ("ka", "lo", "ven", "tra", "zi", "mo", "rex", "ta", "no", "vi", "sa", "ru", "pe", "ko", "lin", "dor", "ex",
             "an", "mi", "zo", "qua", "ar", "bel", "cor", "da", "fi", "gu", "ho", "is", "jo", "nu", "ol", "pra", "sto")
KATAKANA = ("カ", "ロ", "ベン", "トラ", "ジ", "モ", "レックス", "タ", "ノ", "ヴィ", "サ", "ル", "ペ", "コ", "リン", "ドール")
BRAND_SUFFIXES = ("", "", "", "", "tech", "ware", " Home", " Pro", "ify", "lab", " Sports", " Living")

# ---- Amazon Reviews 2023: English review sentences built on aspects ------------------------------

ASPECT_PHRASES = {  # aspect: (positive phrases, negative phrases)
    "battery": (["the battery lasts for days", "the battery life is excellent", "charging is quick and easy"],
                ["the battery dies within an hour", "it stopped charging after a week"]),
    "price": (["the price is very reasonable", "it was cheaper than in stores", "great value for the money"],
              ["it is way too expensive for what it is", "the price is not worth it"]),
    "size": (["the size is just right", "it is small enough to carry in a bag"],
             ["it is much smaller than expected", "the size is way too big"]),
    "fit": (["it fits perfectly", "true to size and fits well"], ["it does not fit at all", "runs small so order a size up"]),
    "comfort": (["it is very comfortable", "comfortable to wear all day"], ["it is uncomfortable after an hour",
                                                                          "not comfortable at all"]),
    "quality": (["the quality is excellent", "it is well made and solid"], ["it is cheaply made and flimsy",
                                                                            "the quality is poor"]),
    "durability": (["it is durable and has held up well", "sturdy enough to last for years"],
                   ["it broke after two uses", "it fell apart within a month"]),
    "scent": (["the scent is light and fresh", "it smells amazing"], ["the smell is way too strong",
                                                                      "it smells like chemicals"]),
    "taste": (["it tastes great", "the flavor is delicious"], ["the taste is awful", "the flavor is bland"]),
    "color": (["the color is exactly as pictured", "the colors are vibrant"], ["the color is nothing like the photo",
                                                                               "the color faded quickly"]),
    "look": (["it looks beautiful", "the design is very stylish"], ["it looks cheap", "it is ugly in person"]),
    "noise": (["it is very quiet", "it barely makes any noise"], ["it is extremely loud", "the noise is unbearable"]),
    "installation": (["it was easy to install in minutes", "installation was simple"],
                     ["installation was a nightmare", "it was hard to install and screws were missing"]),
    "cleaning": (["it is easy to clean", "it cleans up in seconds"], ["it is hard to clean",
                                                                      "it is impossible to clean properly"]),
    "packaging": (["it arrived well packaged", "the packaging was neat and secure"],
                  ["it arrived damaged because of poor packaging", "the box was crushed"]),
    "weight": (["it is lightweight", "it is light enough to carry everywhere"], ["it is too heavy",
                                                                                  "it is heavier than described"]),
    "texture": (["the texture is smooth", "it absorbs quickly into the skin"], ["the texture is greasy",
                                                                                 "it feels sticky"]),
    "shipping": (["shipping was fast", "it arrived two days early"], ["shipping took forever",
                                                                       "it arrived a month late"]),
    "instructions": (["the instructions are clear", "the instructions are easy to follow"],
                     ["the instructions are useless", "no instructions were included"]),
    "power": (["the suction power is strong", "the motor is very powerful"], ["there is not enough power",
                                                                               "the motor is weak"]),
    "accuracy": (["the readings are accurate", "it is very precise"], ["the readings are inaccurate",
                                                                       "it is not accurate at all"]),
}
OPENERS = ("", "", "", "Honestly, ", "So far ", "After a month of use, ", "For the money, ", "I have to say ",
           "Overall ", "To be fair, ", "My wife says ", "As expected, ", "Right out of the box, ", "Surprisingly, ")
POS_CLOSERS = ("", "", " and I use it every day", " which I did not expect", " compared to my old one",
               " so I am happy", " for sure", " and my kids love it")
NEG_CLOSERS = ("", "", " which is disappointing", " so I returned it", " and support never answered",
               " compared to my old one", " after only a few days")
NEUTRAL = ("it is okay for the price", "it does the job but nothing special", "the quality is average",
           "it works as described, no more", "the size is fine but the color is a bit off",
           "it is decent, though the instructions could be clearer", "not bad, not great",
           "it is fine for occasional use")
FILLERS_POS = ("Would definitely buy again.", "Highly recommend.", "I bought this for my daughter and she loves it.",
               "Already ordered a second one.", "Five stars from me.", "Exactly what I was looking for.")
FILLERS_NEG = ("Would not buy again.", "Save your money.", "Very disappointed.", "I want a refund.",
               "Do not recommend.", "Not as advertised.")
TITLE_NOUNS = ("battery life", "price", "size", "fit", "comfort", "quality", "scent", "taste", "color", "look",
               "sound", "value", "design", "texture", "packaging", "weight", "power", "grip", "finish", "material")
POS_TITLES = ("Great {n}", "Love the {n}", "Perfect {n}", "Excellent {n}", "Amazing {n}!", "{N} is great",
              "Best {n} so far", "Good {n} and {n2}", "Very happy with the {n}", "Great {n}, great {n2}",
              "Nice {n}", "Really good {n}", "Impressed by the {n}")
NEG_TITLES = ("Poor {n}", "Terrible {n}", "Bad {n}", "Disappointed with the {n}", "{N} is awful", "Awful {n} and {n2}",
              "Cheap {n}", "Not happy with the {n}", "Worst {n} ever")
FIXED_POS_TITLES = ("Works great", "Love it", "Exactly what I needed", "Highly recommend", "Worth every penny")
FIXED_NEG_TITLES = ("Not worth it", "Broke after a week", "Returned it", "Waste of money", "Stopped working")

REVIEW_CATEGORIES = {  # file: (real review lines, real items, gzipped, main_category, path root, {subcategory: leaves})
    "All_Beauty": (701_528, 112_590, False, "All Beauty", "Beauty & Personal Care", {
        "Skin Care": ["Face Serums", "Facial Cleansers", "Moisturizers", "Sunscreens", "Eye Creams"],
        "Hair Care": ["Shampoos", "Conditioners", "Hair Oils", "Hair Masks"],
        "Makeup": ["Lipsticks", "Mascaras", "Foundations", "Eyeliners"],
        "Fragrance": ["Eau de Parfum", "Body Mists"],
        "Tools & Accessories": ["Makeup Brushes", "Hair Brushes", "Nail Clippers"],
        "Bath & Body": ["Body Washes", "Bath Salts", "Body Lotions"]}),
    "Appliances": (2_128_605, 94_327, True, "Tools & Home Improvement", "Appliances", {
        "Parts & Accessories": ["Refrigerator Parts", "Washer Parts", "Dryer Parts", "Water Filters",
                                "Range Hood Parts", "Dishwasher Racks"],
        "Small Appliances": ["Ice Makers", "Wine Coolers", "Microwave Ovens", "Countertop Blenders"],
        "Laundry Appliances": ["Washers", "Clothes Dryers", "Garment Steamers"],
        "Cooktops": ["Electric Cooktops", "Gas Cooktops"],
        "Heating & Cooling": ["Space Heaters", "Dehumidifiers", "Air Purifiers"]}),
    "Health_and_Personal_Care": (494_121, 60_293, False, "Health & Personal Care", "Health & Household", {
        "Vitamins & Supplements": ["Multivitamins", "Fish Oil", "Probiotics", "Protein Powders"],
        "Medical Supplies": ["Thermometers", "Blood Pressure Monitors", "First Aid Kits", "Knee Braces"],
        "Oral Care": ["Toothpastes", "Dental Floss", "Mouthwashes"],
        "Sleep & Snoring": ["Sleep Masks", "Ear Plugs"],
        "Household Supplies": ["Paper Towels", "Dish Soaps", "Laundry Detergents"]}),
}
REVIEW_REGULAR_USERS = 60_000  # users who review often, across the categories (x scale)
REVIEW_REGULAR_SHARE = 0.30  # share of reviews written by them; the rest come from one-off users
ITEM_ZIPF = (1.3, 200.0)  # item popularity ~ (rank + 200) ** -1.3: the top items have thousands of reviews

# ---- ESCI and Amazon-M2 sizes -------------------------------------------------------------------

ESCI_QUERIES = {"us": 97_345, "es": 15_180, "jp": 18_127}  # the real query counts (130,652)
ESCI_LANG = {"us": "en", "es": "es", "jp": "ja"}
ESCI_LABELS = np.array(["E", "S", "C", "I"])
ESCI_LABEL_P = np.array([0.652, 0.219, 0.029, 0.100])
M2_LOCALES = ("DE", "JP", "UK", "ES", "FR", "IT")
M2_LANG = {"DE": "de", "JP": "ja", "UK": "en", "ES": "es", "FR": "fr", "IT": "it"}
M2_PRODUCTS = {"DE": 518_327, "JP": 395_009, "UK": 500_180, "ES": 41_577, "FR": 44_577, "IT": 50_461}
M2_SESSIONS = {"DE": 1_111_416, "JP": 979_119, "UK": 1_182_181, "ES": 89_047, "FR": 117_561, "IT": 126_925}
M2_SHARED = {"UK": ("DE", 0.25), "ES": ("DE", 0.45), "FR": ("DE", 0.45), "IT": ("DE", 0.45), "JP": ("UK", 0.05)}
M2_PRICE_FACTOR = {"DE": 1.0, "JP": 150.0, "UK": 0.9, "ES": 1.0, "FR": 1.0, "IT": 1.0}

# ================================================================================================
# Vectorised helpers (pyarrow / numpy)
# ================================================================================================

_B36 = np.frombuffer(b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ", np.uint8)
_NULL = pa.scalar(None, pa.string())


def _strings(values) -> pa.Array:
    return pa.array(list(values), pa.string())


def _take(pool: pa.Array, idx) -> pa.Array:
    return pool.take(pa.array(np.asarray(idx, np.int64)))


def _compose(rng: np.random.Generator, pool: pa.Array, counts, sep) -> pa.Array:
    """One string per row: ``counts[i]`` random items of ``pool`` joined with ``sep`` ("" for 0)."""
    counts = np.asarray(counts, np.int64)
    offsets = np.zeros(len(counts) + 1, np.int64)
    np.cumsum(counts, out=offsets[1:])
    values = _take(pool, rng.integers(0, len(pool), int(offsets[-1])))
    lists = pa.LargeListArray.from_arrays(pa.array(offsets), values)
    return pc.binary_join(lists, sep)


def _lists(pool: pa.Array, matrix: np.ndarray, counts: np.ndarray, sep) -> pa.Array:
    """Row i joins ``pool[matrix[i, :counts[i]]]`` with ``sep``."""
    mask = np.arange(matrix.shape[1])[None, :] < counts[:, None]
    offsets = np.zeros(len(counts) + 1, np.int64)
    np.cumsum(counts, out=offsets[1:])
    lists = pa.LargeListArray.from_arrays(pa.array(offsets), _take(pool, matrix[mask]))
    return pc.binary_join(lists, sep)


def _join(*parts, sep: str = "") -> pa.Array:
    """Element-wise concatenation; null parts are left out (with their separator)."""
    return pc.binary_join_element_wise(*parts, sep, null_handling="skip")


def _where(mask, values, other=_NULL) -> pa.Array:
    return pc.if_else(pa.array(np.asarray(mask, bool)), values, other)


def _str(values) -> pa.Array:
    return pc.cast(pa.array(np.asarray(values)), pa.string())


def _codes(rng: np.random.Generator, n: int, width: int, alphabet: np.ndarray, prefix: bytes = b"") -> pa.Array:
    """``n`` random strings of ``width`` characters of ``alphabet`` after ``prefix``."""
    body = alphabet[rng.integers(0, len(alphabet), (n, width))]
    if prefix:
        body = np.concatenate([np.tile(np.frombuffer(prefix, np.uint8), (n, 1)), body], axis=1)
    raw = np.ascontiguousarray(body).view(f"S{body.shape[1]}").ravel()
    return pa.array(raw, pa.binary()).cast(pa.string())


def _asins(ints: np.ndarray, salt: int) -> pa.Array:
    """Distinct ASIN-like ids ("B0" + 8 base-36 characters) for distinct non-negative ints."""
    m = 36 ** 8
    x = (np.asarray(ints, np.uint64) * np.uint64(1_000_000_007) + np.uint64(salt * 7_919_017 + 12_345)) % np.uint64(m)
    digits = np.empty((len(x), 8), np.uint8)
    for j in range(7, -1, -1):
        digits[:, j] = _B36[(x % np.uint64(36)).astype(np.int64)]
        x //= np.uint64(36)
    body = np.concatenate([np.tile(np.frombuffer(b"B0", np.uint8), (len(digits), 1)), digits], axis=1)
    return pa.array(np.ascontiguousarray(body).view("S10").ravel(), pa.binary()).cast(pa.string())


def _isbns(ints: np.ndarray, salt: int) -> pa.Array:
    """Distinct 10-digit ISBN-like ids (books in Amazon-M2)."""
    x = (np.asarray(ints, np.int64) * 7_654_321 + salt * 1_000_003) % 9_000_000_000 + 1_000_000_000
    return _str(x)


def _raw(arr: pa.Array) -> memoryview:
    """The concatenated bytes of a string array without nulls."""
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    large = pa.types.is_large_string(arr.type)
    offsets = np.frombuffer(arr.buffers()[1], np.int64 if large else np.int32)[arr.offset: arr.offset + len(arr) + 1]
    return memoryview(arr.buffers()[2])[int(offsets[0]): int(offsets[-1])]


def _lines(arr: pa.Array) -> memoryview:
    """The rows of ``arr``, each followed by a new line, as bytes."""
    large = pa.large_string()
    return _raw(pc.binary_join_element_wise(arr.cast(large), pa.scalar("\n", large), pa.scalar("", large)))


def _csv_cell(arr: pa.Array) -> pa.Array:
    """A CSV cell as pandas writes it: quoted (quotes doubled) only when it holds , " or a new line."""
    needs = pc.match_substring_regex(arr, '[",\r\n]')
    quoted = _join('"', pc.replace_substring(arr, '"', '""'), '"')
    return pc.if_else(needs, quoted, arr)


def _zipf_weights(n: int, a: float, shift: float = 5.0) -> np.ndarray:
    w = (np.arange(n, dtype=np.float64) + shift) ** -a
    return w / w.sum()


def _geometric(rng: np.random.Generator, mean: float, n: int, low: int, high: int) -> np.ndarray:
    """Integers >= low, geometric with the given mean, clipped at high."""
    extra = rng.geometric(1.0 / max(1.0, mean - low + 1), n) - 1
    return np.clip(low + extra, low, high)


# ================================================================================================
# Per-language text pools
# ================================================================================================

class Lang:
    """Aligned words and sentence pools of one language (pyarrow arrays)."""

    def __init__(self, lang: str, seed: int, n_sentences: int = 8_000):
        i = LANG_INDEX[lang]
        self.lang = lang
        rng = random.Random(f"{seed}:lang:{lang}")
        lower = (lambda s: s) if lang in ("de", "ja") else (lambda s: s.lower())
        types, adjs = [t[i] for t in TYPES], [a[i] for a in ADJS]
        self.types = _strings(types)
        self.adjs = _strings(adjs)
        self.colors = _strings(c[i] for c in COLORS)
        self.materials = _strings(m[i] for m in MATERIALS)
        templates = SENTENCES[lang]
        sentences = set()
        while len(sentences) < n_sentences:
            fields = dict(type=lower(rng.choice(types)), adj=lower(rng.choice(adjs)), adj2=lower(rng.choice(adjs)),
                          use=rng.choice(USES)[i], use2=rng.choice(USES)[i], material=lower(rng.choice(MATERIALS)[i]),
                          n=rng.randint(1, 60), m=rng.randint(1, 60), w=rng.randint(50, 5000),
                          year=rng.randint(2015, 2022))
            sentences.add(rng.choice(templates).format(**fields))
        self.sentences = _strings(sorted(sentences))
        bullets = []  # a feature header and 1-3 sentences (~80-300 characters)
        pool = sorted(sentences)
        for _ in range(n_sentences):
            head = rng.choice(adjs)
            s = ("" if lang == "ja" else " ").join(rng.sample(pool, rng.choice((1, 2, 2, 3))))
            if lang == "ja":
                bullets.append(f"【{head}】{s}")
            elif lang == "en" and rng.random() < 0.7:
                bullets.append(f"{head.upper()}: {s}")
            elif rng.random() < 0.5:
                bullets.append(f"{head}: {s}")
            else:
                bullets.append(s)
        self.bullets = _strings(bullets)

    def title(self, rng: np.random.Generator, type_idx, brand: pa.Array, adj_matrix, n_adj, model: pa.Array,
              size: pa.Array, color: pa.Array) -> pa.Array:
        """Product titles: brand, type, model, adjectives, size, colour (null parts left out)."""
        kind = _take(self.types, type_idx)
        sep = " " if self.lang == "ja" else ", "
        adjs = _lists(self.adjs, adj_matrix, n_adj, sep)
        head = _join(brand, kind, model, sep=" ")
        if self.lang == "ja":
            return _join(head, adjs, size, color, sep=" ")
        return _join(head, adjs, size, color, sep=", ")


def _brand_pool(seed: int, n: int = 20_000) -> list[str]:
    rng = random.Random(f"{seed}:brands")
    out: dict[str, None] = {}
    while len(out) < n:
        name = "".join(rng.choice(SYLLABLES) for _ in range(rng.choice((2, 2, 3)))).capitalize()
        out[name + rng.choice(BRAND_SUFFIXES)] = None
    return list(out)


def _katakana_brands(seed: int, n: int = 3_000) -> list[str]:
    rng = random.Random(f"{seed}:katakana")
    out: dict[str, None] = {}
    while len(out) < n:
        out["".join(rng.choice(KATAKANA) for _ in range(rng.choice((2, 3, 4))))] = None
    return list(out)


# ================================================================================================
# ESCI
# ================================================================================================

def gen_esci(folder: Path, scale: float, seed: int, bar: tqdm) -> dict:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng([seed, 1])
    brands_latin = _strings(_brand_pool(seed))
    brands_kata = _strings(_katakana_brands(seed))
    examples = defaultdict(list)
    product_parts = []  # (locale, global product idx array, type idx array)
    qid_next, pid_next, n_queries = 0, 0, 0
    type_w = _zipf_weights(len(TYPES), 0.6, 3.0)
    for locale in ("us", "es", "jp"):
        lang = ESCI_LANG[locale]
        nq = max(12, round(ESCI_QUERIES[locale] * scale))
        k = np.clip(np.rint(rng.gamma(2.2, 9.1, nq)), 1, 120).astype(np.int64)  # judged products per query (~20)
        group = np.arange(nq) // 4  # 4 queries share a pool of products (one product type)
        n_groups = int(group[-1]) + 1
        pool = np.bincount(group, weights=k).astype(np.int64)  # pool size: the group's judgments
        pool_start = np.zeros(n_groups + 1, np.int64)
        np.cumsum(pool, out=pool_start[1:])
        local = [rng.permutation(int(pool[g]))[: k[q]] for q, g in enumerate(group)]
        flat_local = np.concatenate(local)
        q_of_row = np.repeat(np.arange(nq), k)
        gidx = pool_start[group[q_of_row]] + flat_local
        used, product_row = np.unique(gidx, return_inverse=True)  # judged products, numbered 0..n-1
        group_type = rng.choice(len(TYPES), n_groups, p=type_w)
        product_type = group_type[np.searchsorted(pool_start, used, side="right") - 1]
        # queries: the group's type, some adjectives, sometimes a brand, a colour or a size
        i = LANG_INDEX[lang]
        qrng = random.Random(f"{seed}:esci:queries:{locale}")
        latin = brands_latin.to_pylist()
        texts = []
        for q in range(nq):
            t = TYPES[group_type[group[q]]][i]
            words = [t] if lang == "ja" else [t.lower()]
            for _ in range(qrng.choice((0, 1, 1, 2))):
                a = qrng.choice(ADJS)[i]
                words.append(a if lang == "ja" else a.lower())
            if qrng.random() < 0.2:
                words.insert(0, qrng.choice(latin).lower())
            if qrng.random() < 0.12:
                words.append(qrng.choice(COLORS)[i].lower() if lang != "ja" else qrng.choice(COLORS)[i])
            if qrng.random() < 0.1:
                words.append(qrng.choice(SIZES).lower())
            text = " ".join(words)
            if qrng.random() < 0.002:
                text = " " + text  # a real quirk: leading spaces
            texts.append(text)
        labels = ESCI_LABELS[rng.choice(4, len(q_of_row), p=ESCI_LABEL_P)]
        split = np.where(rng.random(nq) < 0.243, "test", "train")[q_of_row]
        small = (rng.random(nq) < 0.47).astype(np.int64)[q_of_row]
        examples["query"].append(_take(_strings(texts), q_of_row))
        examples["query_id"].append(pa.array(qid_next + q_of_row))
        examples["product_row"].append(pid_next + product_row)
        examples["product_locale"].append(pa.array(np.full(len(q_of_row), locale)))
        examples["esci_label"].append(pa.array(labels))
        examples["small_version"].append(pa.array(small))
        examples["large_version"].append(pa.array(np.ones(len(q_of_row), np.int64)))
        examples["split"].append(pa.array(split))
        product_parts.append((locale, pid_next + np.arange(len(used)), product_type))
        qid_next += nq
        pid_next += len(used)
        n_queries += nq
        bar.update(1)
    ids = _asins(np.arange(pid_next), salt=seed * 10 + 1)
    n_examples = sum(len(a) for a in examples["query"])
    table = pa.table({
        "example_id": pa.array(np.arange(n_examples, dtype=np.int64)),
        "query": pa.concat_arrays(examples["query"]),
        "query_id": pa.concat_arrays(examples["query_id"]).cast(pa.int64()),
        "product_id": _take(ids, np.concatenate(examples["product_row"])),
        "product_locale": pa.concat_arrays(examples["product_locale"]).cast(pa.string()),
        "esci_label": pa.concat_arrays(examples["esci_label"]).cast(pa.string()),
        "small_version": pa.concat_arrays(examples["small_version"]),
        "large_version": pa.concat_arrays(examples["large_version"]),
        "split": pa.concat_arrays(examples["split"]).cast(pa.string()),
    })
    pq.write_table(table, folder / "shopping_queries_dataset_examples.parquet", row_group_size=1 << 20)
    del table, examples
    bar.update(1)
    # products: every judged product but a few (the real file misses some), per locale in chunks
    schema = pa.schema([(c, pa.string()) for c in ("product_id", "product_title", "product_description",
                                                    "product_bullet_point", "product_brand", "product_color",
                                                    "product_locale")])
    n_products = 0
    with pq.ParquetWriter(folder / "shopping_queries_dataset_products.parquet", schema) as writer:
        for locale, rows, types in product_parts:
            L = Lang(ESCI_LANG[locale], seed)
            keep = rng.random(len(rows)) >= 0.003
            rows, types = rows[keep], types[keep]
            for start in range(0, len(rows), CHUNK):
                r, t = rows[start: start + CHUNK], types[start: start + CHUNK]
                writer.write_table(_esci_products(rng, L, locale, _take(ids, r), t, brands_latin, brands_kata),
                                   row_group_size=CHUNK)
                n_products += len(r)
            bar.update(1)
    return {"queries": n_queries, "examples": n_examples, "products": n_products}


def _esci_products(rng, L: Lang, locale: str, ids: pa.Array, types: np.ndarray, latin: pa.Array,
                   kata: pa.Array) -> pa.Table:
    n = len(types)
    brand_idx = rng.choice(len(latin), n, p=_zipf_weights(len(latin), 0.8, 20.0))
    brand = _take(latin, brand_idx)
    if locale == "jp":
        brand = pc.if_else(pa.array(rng.random(n) < 0.35), _take(kata, rng.integers(0, len(kata), n)), brand)
    generic = rng.random(n) < 0.03
    brand = pc.if_else(pa.array(generic), pa.scalar("Generic" if locale != "jp" else "ノーブランド品"), brand)
    has_brand = rng.random(n) < 0.9
    n_adj = rng.integers(3, 9 if locale != "jp" else 7, n)
    adj_matrix = rng.integers(0, len(L.adjs), (n, 8))
    model = _where(rng.random(n) < 0.55, _join(_codes(rng, n, 2, _B36[10:]), "-", _codes(rng, n, 4, _B36[:10])))
    size = _where(rng.random(n) < 0.5, _take(_strings(SIZES), rng.integers(0, len(SIZES), n)))
    color = _take(L.colors, rng.integers(0, len(L.colors), n))
    in_title = _where(has_brand & ~generic & (rng.random(n) < 0.92), brand)
    title = L.title(rng, types, in_title, adj_matrix, n_adj, model, size, _where(rng.random(n) < 0.7, color))
    # descriptions: ~55 % present, 1-25 sentences (0-2,000 characters), some as HTML
    has_desc = rng.random(n) < 0.55
    counts = np.where(has_desc, _geometric(rng, 9.0, n, 1, 25), 0)
    html = rng.random(n) < 0.2
    sep = _where(html, _take(_strings(["<br>", "<br><br>", "</p><p>"]), rng.integers(0, 3, n)),
                 pa.scalar("" if locale == "jp" else " "))
    body = _compose(rng, L.sentences, counts, sep)
    body = pc.if_else(pa.array(html), _join("<p>", body, "</p>"), body)
    body = pc.if_else(pa.array(html & (rng.random(n) < 0.3)), pc.replace_substring(body, " and ", " &amp; ",
                                                                                    max_replacements=1), body)
    description = _where(has_desc, body)
    # bullets: ~85 % present, 1-5 lines (newline separated, a few blank lines)
    has_bullets = rng.random(n) < 0.85
    b_counts = np.where(has_bullets, rng.choice([1, 2, 3, 4, 5], n, p=[0.05, 0.05, 0.1, 0.15, 0.65]), 0)
    b_sep = _where(rng.random(n) < 0.05, pa.scalar("\n\n"), pa.scalar("\n"))
    bullets = _where(has_bullets, _compose(rng, L.bullets, b_counts, b_sep))
    return pa.table({
        "product_id": ids, "product_title": title, "product_description": description,
        "product_bullet_point": bullets, "product_brand": _where(has_brand, brand),
        "product_color": _where(rng.random(n) < 0.62, color),
        "product_locale": pa.array(np.full(n, locale)).cast(pa.string()),
    })


# ================================================================================================
# Amazon-M2
# ================================================================================================

BOOK_WORDS = {
    "en": ("The Quiet", "Orchard", "Lighthouse", "Forgotten", "Garden", "Winter", "Secrets", "Journey", "River",
           "Guide"),
    "de": ("Die Stille", "Wälder", "Uhrmacherin", "Sommer", "Meer", "Erbe", "Reise", "Geheimnis", "Garten", "Roman"),
    "fr": ("Le Jardin", "Hiver", "Phare", "Secrets", "Voyage", "Rivière", "Cuisine", "Mémoire", "Nuit", "Roman"),
    "it": ("La Casa", "Lago", "Giardiniere", "Segreto", "Viaggio", "Ricette", "Notte", "Mare", "Storia", "Romanzo"),
    "es": ("La Sombra", "Faro", "Jardín", "Invierno", "Viaje", "Secreto", "Cocina", "Río", "Noche", "Novela"),
    "ja": ("夜明けの", "図書館", "猫と", "暮らす", "小さな家", "入門", "路地裏", "さんぽ", "物語", "旅"),
}
FIRST_NAMES = ("Anna", "Lukas", "Clara", "Emily", "James", "Sarah", "Giulia", "Marco", "Lucía", "Javier", "Camille",
               "Julien", "Yuki", "Kenji", "Misaki")
LAST_NAMES = ("Weber", "Hoffmann", "Schmitt", "Carter", "Whitfield", "Holt", "Romano", "Bianchi", "Martín", "Ortega",
              "Laurent", "Moreau", "Sato", "Tanaka", "Yamamoto")


def gen_m2(folder: Path, scale: float, seed: int, bar: tqdm) -> dict:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng([seed, 2])
    counts = {loc: max(60, round(n * scale)) for loc, n in M2_PRODUCTS.items()}
    # every locale's rows as product numbers (u); shared ids are the same u in several locales
    rows_of: dict[str, np.ndarray] = {}
    u_next = 0
    for loc in ("DE", "UK", "JP", "ES", "FR", "IT"):
        shared = 0
        parts = []
        if loc in M2_SHARED:
            src, share = M2_SHARED[loc]
            shared = min(round(counts[loc] * share), len(rows_of[src]))
            parts.append(rng.choice(rows_of[src], shared, replace=False))
        fresh = counts[loc] - shared
        parts.append(np.arange(u_next, u_next + fresh))
        u_next += fresh
        order = np.concatenate(parts)
        rows_of[loc] = order[rng.permutation(len(order))] if shared else order
    U = u_next
    # one product's attributes (language independent), numbered by u; a type per block of 40 products
    block_type = rng.choice(len(TYPES), U // 40 + 1, p=_zipf_weights(len(TYPES), 0.5, 3.0))
    attrs = dict(
        type=block_type[np.arange(U) // 40],
        brand=rng.choice(20_000, U, p=_zipf_weights(20_000, 0.8, 20.0)),
        book=rng.random(U) < 0.08,
        adj=rng.integers(0, len(ADJS), (U, 8)), n_adj=rng.integers(2, 7, U),
        color=rng.integers(0, len(COLORS), U), size=rng.integers(0, len(SIZES), U),
        material=rng.integers(0, len(MATERIALS), U), price=rng.lognormal(3.2, 0.8, U),
        has=rng.random((U, 6)),  # brand, color, size, model, material, desc
        author=rng.integers(0, len(FIRST_NAMES) * len(LAST_NAMES), U),
    )
    ids = pc.if_else(pa.array(attrs["book"]), _isbns(np.arange(U), seed), _asins(np.arange(U), salt=seed * 10 + 2))
    models = _join(_codes(rng, U, 2, _B36[10:]), _codes(rng, U, 3, _B36[:10]))
    brands = _strings(_brand_pool(seed))
    authors = _strings(f"{f} {l}" for f in FIRST_NAMES for l in LAST_NAMES)
    columns = ["id", "locale", "title", "price", "brand", "color", "size", "model", "material", "author", "desc"]
    n_rows = 0
    with open(folder / "products_train.csv", "wb") as f:
        f.write((",".join(columns) + "\n").encode())
        for loc in M2_LOCALES:
            L = Lang(M2_LANG[loc], seed)
            rows = rows_of[loc]
            for start in range(0, len(rows), CHUNK):
                u = rows[start: start + CHUNK]
                f.write(_lines(_m2_products_csv(rng, L, loc, u, attrs, ids, models, brands, authors)))
                n_rows += len(u)
            bar.update(1)
    # sessions: a centre product and its neighbours in the locale's list (same type), some repeats
    n_sessions = 0
    with open(folder / "sessions_train.csv", "wb") as f:
        f.write(b"prev_items,next_item,locale\n")
        for loc in M2_LOCALES:
            ns = max(50, round(M2_SESSIONS[loc] * scale))
            rows = rows_of[loc]
            for start in range(0, ns, 500_000):
                m = min(500_000, ns - start)
                f.write(_lines(_m2_sessions_csv(rng, loc, rows, ids, m)))
                n_sessions += m
            bar.update(1)
    return {"products": n_rows, "unique ids": U, "sessions": n_sessions}


def _m2_products_csv(rng, L: Lang, loc: str, u: np.ndarray, attrs: dict, ids, models, brands, authors) -> pa.Array:
    n = len(u)
    has = attrs["has"][u]
    book = attrs["book"][u]
    brand = _where(has[:, 0] < 0.85, _take(brands, attrs["brand"][u]))
    color = _where((has[:, 1] < 0.65) & ~book, _take(L.colors, attrs["color"][u]))
    size = _where((has[:, 2] < 0.45) & ~book, _take(_strings(SIZES), attrs["size"][u]))
    model = _where((has[:, 3] < 0.40) & ~book, _take(models, u))
    material = _where((has[:, 4] < 0.35) & ~book, _take(L.materials, attrs["material"][u]))
    in_title = _where(has[:, 0] < 0.85 * 0.9, _take(brands, attrs["brand"][u]))
    title = L.title(rng, attrs["type"][u], in_title, attrs["adj"][u], attrs["n_adj"][u], model, size, color)
    # books: a title of 2-4 words of the language, an author, no brand/colour/size
    words = _strings(BOOK_WORDS[L.lang])
    book_title = _compose(rng, words, rng.integers(2, 5, n), "" if L.lang == "ja" else " ")
    title = pc.if_else(pa.array(book), book_title, title)
    author = _where(book, _take(authors, attrs["author"][u]))
    brand = pc.if_else(pa.array(book), _NULL, brand)
    # descriptions: ~85 % present, 1-25 sentences; 1 in 12 opens with a capitalised feature header
    has_desc = has[:, 5] < 0.85
    d_counts = np.where(has_desc, _geometric(rng, 7.0, n, 1, 25), 0)
    desc = _compose(rng, L.sentences, d_counts, "" if L.lang == "ja" else " ")
    header = _join(pc.utf8_upper(_take(L.adjs, rng.integers(0, len(L.adjs), n))), ": ")
    desc = pc.if_else(pa.array(rng.random(n) < 0.08), _join(header, desc), desc)
    desc = _where(has_desc, desc, pa.scalar(""))
    price_value = attrs["price"][u] * M2_PRICE_FACTOR[loc]
    price = _str(np.char.mod("%.2f", price_value)) if loc != "JP" else _str(np.char.mod("%.1f", np.round(price_value)))
    price = pc.if_else(pa.array(rng.random(n) < 0.03), pa.scalar("40000000.07"), price)
    cells = [_take(ids, u), pa.array(np.full(n, loc)).cast(pa.string()), title, price, brand, color, size, model,
             material, author, desc]
    cells = [_csv_cell(pc.fill_null(c, "")) for c in cells]
    return pc.binary_join_element_wise(*cells, ",")


def _m2_sessions_csv(rng, loc: str, rows: np.ndarray, ids: pa.Array, m: int) -> pa.Array:
    n_products = len(rows)
    length = _geometric(rng, 4.3, m, 1, 200)  # prev_items per session
    centre = rng.integers(0, n_products, m)
    total = int(length.sum())
    session = np.repeat(np.arange(m), length)
    offsets = np.rint(rng.normal(0, 6, total)).astype(np.int64)
    pos = np.clip(centre[session] + offsets, 0, n_products - 1)
    nxt = np.clip(centre + np.rint(rng.normal(0, 6, m)).astype(np.int64), 0, n_products - 1)
    item_ids = _take(ids, rows[pos])
    # numpy's repr: 'id' separated by a space, a new line and a space after every 5th id
    starts = np.zeros(m + 1, np.int64)
    np.cumsum(length, out=starts[1:])
    k = np.arange(total) - starts[session]
    last = k == length[session] - 1
    sep_idx = np.where(last, 0, np.where((k + 1) % 5 == 0, 2, 1))
    seps = _take(_strings(["", " ", "\n "]), sep_idx)
    quoted = _join("'", item_ids, "'", seps)
    lists = pa.LargeListArray.from_arrays(pa.array(starts), quoted)
    prev = _join("[", pc.binary_join(lists, ""), "]")
    cells = [_csv_cell(prev), _take(ids, rows[nxt]), pa.array(np.full(m, loc)).cast(pa.string())]
    return pc.binary_join_element_wise(*cells, ",")


# ================================================================================================
# Amazon Reviews 2023
# ================================================================================================

def _review_pools(seed: int) -> dict:
    rng = random.Random(f"{seed}:reviews:pools")

    def sentence(phrase: str, closers) -> str:
        text = rng.choice(OPENERS) + phrase + rng.choice(closers)
        return text[0].upper() + text[1:] + "."

    pos, neg, mid = set(), set(), set()
    for _ in range(40_000):
        aspect = rng.choice(list(ASPECT_PHRASES))
        good, bad = ASPECT_PHRASES[aspect]
        pos.add(sentence(rng.choice(good), POS_CLOSERS))
        neg.add(sentence(rng.choice(bad), NEG_CLOSERS))
    for _ in range(4_000):
        mid.add(sentence(rng.choice(NEUTRAL), ("", "", " I guess", " for now")))
        if rng.random() < 0.5:
            mid.add(sentence(rng.choice(rng.choice(list(ASPECT_PHRASES.values()))[rng.randrange(2)]), ("",)))
    pos.update(FILLERS_POS)
    neg.update(FILLERS_NEG)

    def titles(templates, fixed, n):
        out = set(fixed)
        while len(out) < n:
            a, b = rng.sample(TITLE_NOUNS, 2)
            t = rng.choice(templates).format(n=a, n2=b, N=a.capitalize())
            out.add(t)
        return sorted(out)

    return {"pos": _strings(sorted(pos)), "neg": _strings(sorted(neg)), "mid": _strings(sorted(mid)),
            "pos_titles": _strings(titles(POS_TITLES, FIXED_POS_TITLES, 230)),
            "neg_titles": _strings(titles(NEG_TITLES, FIXED_NEG_TITLES, 160))}


def gen_reviews(folder: Path, scale: float, seed: int, bar: tqdm) -> dict:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng([seed, 3])
    pools = _review_pools(seed)
    upper = np.frombuffer(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", np.uint8)
    regular = _codes(rng, max(50, round(REVIEW_REGULAR_USERS * scale)), 27, upper, b"A")
    brands = _strings(_brand_pool(seed))
    en = Lang("en", seed, n_sentences=3_000)
    out = {}
    for c, (category, (n_reviews, n_items, gz, main, root, tree)) in enumerate(REVIEW_CATEGORIES.items()):
        n_reviews, n_items = max(200, round(n_reviews * scale)), max(40, round(n_items * scale))
        items = _asins(np.arange(n_items), salt=seed * 10 + 30 + c)
        leaves = [(sub, leaf) for sub, ls in tree.items() for leaf in ls]
        item_leaf = rng.integers(0, len(leaves), n_items)
        popularity = _zipf_weights(n_items, *ITEM_ZIPF)
        item_of = rng.choice(n_items, n_reviews, p=popularity)
        # users: 30 % of the reviews by regular reviewers (shared across the files), the rest one-off
        is_regular = rng.random(n_reviews) < REVIEW_REGULAR_SHARE
        one_off = _codes(rng, n_reviews, 27, upper, b"A")
        user = pc.if_else(pa.array(is_regular), _take(regular, rng.integers(0, len(regular), n_reviews)), one_off)
        rating = rng.choice(5, n_reviews, p=[0.11, 0.06, 0.08, 0.15, 0.60]) + 1
        path = folder / (f"{category}.jsonl.gz" if gz else f"{category}.jsonl")
        opener = (lambda p: gzip.open(p, "wb", compresslevel=5)) if gz else (lambda p: open(p, "wb"))
        with opener(path) as f:
            for start in range(0, n_reviews, 2 * CHUNK):
                sl = slice(start, min(n_reviews, start + 2 * CHUNK))
                f.write(_lines(_review_lines(rng, pools, items, item_of[sl], user.slice(sl.start, sl.stop - sl.start),
                                            rating[sl], brands)))
        bar.update(1)
        with open(folder / f"meta_{category}.jsonl", "wb") as f:
            counts = np.bincount(item_of, minlength=n_items)
            f.write(_lines(_meta_lines(rng, en, items, item_leaf, leaves, counts, main, root, category, brands)))
        bar.update(1)
        out[category] = {"reviews": n_reviews, "items": n_items}
    return out


def _review_lines(rng, pools: dict, items: pa.Array, item_of: np.ndarray, user: pa.Array, rating: np.ndarray,
                  brands: pa.Array) -> pa.Array:
    n = len(item_of)
    sentiment = np.where(rating >= 4, 0, np.where(rating <= 2, 1, 2))
    # text: 1-25 sentences of the rating's sentiment (3 stars: neutral and mixed), some <br /> and &#34;
    n_sent = _geometric(rng, 4.2, n, 1, 25)
    texts = []
    for s, pool in enumerate((pools["pos"], pools["neg"], pools["mid"])):
        texts.append(_compose(rng, pool, np.where(sentiment == s, n_sent, 0), " "))
    text = pc.if_else(pa.array(sentiment == 0), texts[0], pc.if_else(pa.array(sentiment == 1), texts[1], texts[2]))
    text = pc.if_else(pa.array(rng.random(n) < 0.08), pc.replace_substring(text, ". ", ". <br />", max_replacements=2),
                      text)
    quoted = _join("I bought the &#34;", _take(brands, rng.integers(0, len(brands), n)), "&#34; one. ")
    text = pc.if_else(pa.array(rng.random(n) < 0.05), _join(quoted, text), text)
    # title: a short snippet (most), an auto title ("Five Stars"), or a long sentence
    neg_titles, pos_titles = pools["neg_titles"], pools["pos_titles"]
    snippet = pc.if_else(pa.array(sentiment == 1), _take(neg_titles, rng.integers(0, len(neg_titles), n)),
                         _take(pos_titles, rng.integers(0, len(pos_titles), n)))
    auto = _take(_strings(["One Star", "Two Stars", "Three Stars", "Four Stars", "Five Stars"]), rating - 1)
    long = _take(pools["mid"], rng.integers(0, len(pools["mid"]), n))
    kind = rng.random(n)
    title = pc.if_else(pa.array(kind < 0.08), auto, pc.if_else(pa.array(kind < 0.14), long, snippet))
    parent = _take(items, item_of)
    variant = _asins(rng.integers(0, 36 ** 7, n), salt=77)
    asin = pc.if_else(pa.array(rng.random(n) < 0.8), parent, variant)
    image = _join('[{"small_image_url": "https://m.media-amazon.com/images/I/', variant,
                  '._SL256_.jpg", "medium_image_url": "https://m.media-amazon.com/images/I/', variant,
                  '._SL800_.jpg", "large_image_url": "https://m.media-amazon.com/images/I/', variant,
                  '._SL1600_.jpg", "attachment_type": "IMAGE"}]')
    images = pc.if_else(pa.array(rng.random(n) < 0.08), image, pa.scalar("[]"))
    votes = np.where(rng.random(n) < 0.62, 0, rng.geometric(0.25, n))
    votes = np.where(rng.random(n) < 0.01, rng.integers(30, 2000, n), votes)
    timestamp = rng.integers(1_200_000_000_000, 1_694_000_000_000, n)
    verified = _take(_strings(["false", "true"]), (rng.random(n) < 0.88).astype(np.int64))
    stars = _take(_strings(["1.0", "2.0", "3.0", "4.0", "5.0"]), rating - 1)
    return _join('{"rating": ', stars, ', "title": "', title, '", "text": "', text, '", "images": ', images,
                 ', "asin": "', asin, '", "parent_asin": "', parent, '", "user_id": "', user, '", "timestamp": ',
                 _str(timestamp), ', "helpful_vote": ', _str(votes), ', "verified_purchase": ', verified, '}')


def _json_list(items: pa.Array, counts: np.ndarray, rng) -> pa.Array:
    """JSON arrays of ``counts[i]`` random strings of ``items`` (no character needs escaping)."""
    body = _compose(rng, items, counts, '", "')
    return pc.if_else(pa.array(counts > 0), _join('["', body, '"]'), pa.scalar("[]"))


def _meta_lines(rng, en: Lang, items: pa.Array, item_leaf: np.ndarray, leaves: list, counts: np.ndarray, main: str,
                root: str, category: str, brands: pa.Array) -> pa.Array:
    n = len(items)
    keep = rng.random(n) >= 0.02  # some reviewed items have no metadata
    order = rng.permutation(np.flatnonzero(keep))
    items, item_leaf, counts = _take(items, order), item_leaf[order], counts[order]
    m = len(order)
    leaf_names = _strings(leaf for _, leaf in leaves)
    paths = _strings(f'["{root}", "{sub}", "{leaf}"]' for sub, leaf in leaves)
    empty_categories = rng.random(m) < (0.85 if category == "All_Beauty" else 0.1)
    categories = pc.if_else(pa.array(empty_categories), pa.scalar("[]"), _take(paths, item_leaf))
    brand = _take(brands, rng.choice(len(brands), m, p=_zipf_weights(len(brands), 0.8, 20.0)))
    adjs = _lists(en.adjs, rng.integers(0, len(en.adjs), (m, 6)), rng.integers(1, 6, m), " ")
    size = _where(rng.random(m) < 0.6, _take(_strings(SIZES), rng.integers(0, len(SIZES), m)))
    title = _join(_join(brand, adjs, _take(leaf_names, item_leaf), sep=" "), size, sep=", ")
    title = pc.if_else(pa.array(rng.random(m) < 0.003), pa.scalar(""), title)  # a few without a title
    features = _json_list(en.bullets, rng.choice(7, m, p=[0.2, 0.05, 0.1, 0.15, 0.15, 0.2, 0.15]), rng)
    description = _json_list(en.sentences, rng.choice(4, m, p=[0.35, 0.4, 0.15, 0.1]), rng)
    price = pc.if_else(pa.array(rng.random(m) < 0.4), pa.scalar("null"),
                       _str(np.char.mod("%.2f", rng.lognormal(3, 0.7, m))))
    code = _codes(rng, m, 11, _B36)
    image = _join('{"thumb": "https://m.media-amazon.com/images/I/', code, '._SS40_.jpg", "large": '
                  '"https://m.media-amazon.com/images/I/', code, '.jpg", "variant": "MAIN", "hi_res": '
                  '"https://m.media-amazon.com/images/I/', code, '._SL1500_.jpg"}')
    n_images = rng.integers(1, 7, m)
    images = _join("[", pc.binary_join(pa.LargeListArray.from_arrays(
        pa.array(np.concatenate([[0], np.cumsum(n_images)])), _take(image, np.repeat(np.arange(m), n_images))), ", "),
        "]")
    store = pc.if_else(pa.array(rng.random(m) < 0.9), _join('"', brand, '"'), pa.scalar("null"))
    rating_number = counts + rng.integers(0, 50, m)
    average = _str(np.char.mod("%.1f", np.clip(rng.normal(4.2, 0.5, m), 1.0, 5.0)))
    details = _join('{"Brand": "', brand, '", "Item Weight": "', _str(rng.integers(1, 90, m)),
                    ' ounces", "Date First Available": "', _str(rng.integers(2005, 2023, m)), '"}')
    return _join('{"main_category": "', pa.scalar(main), '", "title": "', title, '", "average_rating": ', average,
                 ', "rating_number": ', _str(rating_number), ', "features": ', features, ', "description": ',
                 description, ', "price": ', price, ', "images": ', images, ', "videos": [], "store": ', store,
                 ', "categories": ', categories, ', "details": ', details, ', "parent_asin": "', items,
                 '", "bought_together": null}')


# ================================================================================================
# ECInstruct (plain Python: ~95k rows)
# ================================================================================================

EC_COUNTS = {  # train rows per task; the builders want 10,000 of most (AVE 19,622, PM 4,044)
    "Attribute_Value_Extraction": 20_300, "Multiclass_Product_Classification": 10_000,
    "Product_Relation_Predicition": 10_000, "Query_Product_Ranking": 10_000, "Sequential_Recommendation": 10_000,
    "Answerability_Prediction": 10_000, "Answer_Generation": 1_200, "Product_Matching": 4_044,
    "Product_Substitue_Identification": 10_000, "Sentiment_Analysis": 10_000,
}
EC_SETTINGS = ("IND_Diverse_Instruction", "IND_Diverse_Instruction_1-shot", "IND_Single_Instruction",
               "OOD_Diverse_Instruction_1-shot")  # 1-shot rows carry a whole demonstration row
EC_INSTRUCTION = {
    "Attribute_Value_Extraction": "Given the title, description, feature, price, and brand of a product and a set of "
                                  "target attributes, extract the value of each target attribute from the product "
                                  "information. Output the extracted value and the corresponding source (e.g., title "
                                  "or feature) denoting where the value is extracted.",
    "Multiclass_Product_Classification": "What is the relevance between the query and the product title below? "
                                         "Answer from one of the options.",
    "Product_Relation_Predicition": "Given the title of two products, predict if the two products are similar, if "
                                    "the two products will be purchased or viewed together. Answer only from the "
                                    "options.",
    "Query_Product_Ranking": "Given a query and a list of products denoted as A, B, C, ... with their titles, rank "
                             "the products according to their relevance to the query. Output only a ranked list in "
                             "which the most relevant product is at the top of the list.",
    "Sequential_Recommendation": "Given the products the user has purchased in history, rank the items in the listed "
                                 "options and output the item that the user is most likely to purchase next. Answer "
                                 "from one of the options.",
    "Answerability_Prediction": "Given a question and the related document, predict if the question is answerable "
                                "based on the information provided in the document. Output only yes or no.",
    "Answer_Generation": "Given a question and the related document, and generate the answer to the question based "
                         "on the information provided in the document.",
    "Product_Matching": "Given the title, description, manufacturer, and price of two products, identify if they are "
                        "the same product. Only output yes or no.",
    "Product_Substitue_Identification": "Given a query and a product, identify if the product is somewhat relevant "
                                        "to the query. It fails to fulfill some aspects of the query but the product "
                                        "can be used as a functional substitute. Only output yes or no.",
    "Sentiment_Analysis": "Given the user's review, identify the user's sentiment from the listed options. Answer "
                          "using one of the options.",
}
MPC_OPTIONS = ["A: The product is relevant to the query, and satisfies all the query specifications.",
               "B: The product is somewhat relevant. It fails to fulfill some aspects of the query but the product can "
               "be used as a functional substitute.",
               "C: The product does not fulfill the query, but could be used in combination with a product exactly "
               "matching the query.",
               "D: The product is irrelevant to the query."]
PRP_OPTIONS = ["A: Users who buy product 1 may also buy product 2.",
               "B: Users who view product 1 may also view product 2.",
               "C: The product 1 is similar with the product 2."]
SA_OPTIONS = ["A: very positive", "B: positive", "C: neutral", "D: negative", "E: very negative"]
EC_QUESTIONS = {"battery": "How long does the battery last?", "price": "Is it worth the price?",
                "size": "Is it true to size?", "fit": "Does it fit well?", "comfort": "Is it comfortable?",
                "quality": "Is it well made?", "durability": "Does it hold up over time?",
                "scent": "How does it smell?",
                "taste": "How does it taste?", "color": "Is the color true to the picture?",
                "noise": "Is it loud?", "installation": "Is it easy to install?", "cleaning": "Is it easy to clean?",
                "weight": "Is it heavy?", "power": "Is it powerful enough?"}
SOFTWARE = ("photoshop elements", "office home and student", "norton antivirus", "quickbooks pro", "easy media creator",
            "rosetta stone spanish", "turbotax deluxe", "nero ultra edition", "acrobat standard", "visual studio",
            "paint shop pro", "family tree maker", "print shop deluxe", "dragon naturallyspeaking", "partition magic")
VENDORS = ("adobe", "microsoft", "symantec", "intuit", "roxio", "rosetta stone", "nero", "corel", "broderbund",
           "nuance")


def _ordinal(i: int) -> str:
    return f"{i}{'th' if 10 <= i % 100 <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(i % 10, 'th')}"


def gen_ecinstruct(folder: Path, scale: float, seed: int, bar: tqdm) -> dict:
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(f"{seed}:ecinstruct")
    en = Lang("en", seed, n_sentences=4_000)
    sentences, bullets = en.sentences.to_pylist(), en.bullets.to_pylist()
    brands = _brand_pool(seed, 4_000)
    pools = _review_pools(seed)
    pos, neg, mid = pools["pos"].to_pylist(), pools["neg"].to_pylist(), pools["mid"].to_pylist()
    categories = [leaf for spec in REVIEW_CATEGORIES.values() for ls in spec[5].values() for leaf in ls]

    def title(color=None, material=None, type_=None) -> str:
        parts = [rng.choice(brands), (type_ or rng.choice(TYPES)[0])]
        parts += [rng.choice(ADJS)[0] for _ in range(rng.randint(2, 6))]
        if material:
            parts.insert(2, material)
        if color:
            parts.append(color)
        if rng.random() < 0.5:
            parts.append(rng.choice(SIZES))
        return " ".join(parts[:2]) + ", " + ", ".join(parts[2:])

    def query(type_: str) -> str:
        return " ".join([type_.lower()] + [rng.choice(ADJS)[0].lower() for _ in range(rng.randint(0, 2))])

    def review(kind: int, k: int) -> str:
        pool = (pos, neg, mid)[kind]
        return " ".join(rng.choice(pool) for _ in range(k))

    demo: dict[str, dict] = {}  # the task's previous row: the demonstration of a 1-shot row

    def row(task: str, i: int, inp, output: str, options=None, encode=json.dumps) -> dict:
        setting = EC_SETTINGS[i % len(EC_SETTINGS)]
        out = dict(task=task, instruction=EC_INSTRUCTION[task], input=inp,
                   options=None if options is None else encode(options), output=output, split="train",
                   setting=setting, few_shot_example=None)
        if setting.endswith("1-shot") and demo.get(task):
            out["few_shot_example"] = json.dumps(demo[task])
        demo[task] = {k: out[k] for k in ("instruction", "input", "options", "output")}
        return out

    def rows_of(task: str, n: int):
        for i in range(n):
            if task == "Attribute_Value_Extraction":
                color, material = rng.choice(COLORS)[0], rng.choice(MATERIALS)[0]
                info = {"product title": title(color, material)}
                if rng.random() < 0.6:
                    info["product description"] = " ".join(rng.choice(sentences) for _ in range(rng.randint(2, 16)))
                if rng.random() < 0.7:
                    info["product feature"] = " ".join(rng.choice(bullets) for _ in range(rng.randint(2, 8)))
                info["product brand"] = info["product title"].split(" ")[0]
                attrs = [("color", color.lower(), "product title"), ("material", material.lower(), "product title")]
                if rng.random() < 0.02:  # a MAVE negative: no value
                    attrs = [("closure type", "None", "None")]
                info["target attributes"] = " and ".join(a for a, _, _ in attrs)
                yield row(task, i, json.dumps(info), json.dumps(
                    [{"attribute": a, "value": v, "source": s} for a, v, s in attrs]))
            elif task == "Multiclass_Product_Classification":
                label = rng.choices(range(4), [0.65, 0.22, 0.03, 0.10])[0]
                t = rng.choice(TYPES)[0]
                inp = {"query": query(t), "product title": title(type_=t if label < 2 else None)}
                yield row(task, i, json.dumps(inp), MPC_OPTIONS[label], MPC_OPTIONS)
            elif task == "Product_Relation_Predicition":
                yield row(task, i, json.dumps({"Product 1:": title(), "Product 2:": title()}), rng.choice("ABC"),
                          PRP_OPTIONS)
            elif task == "Query_Product_Ranking":
                t = rng.choice(TYPES)[0]
                k = rng.randint(2, 4)
                labels = rng.sample("ESCI", k)
                titles = [title(type_=t if lab in "ES" else None) for lab in labels]
                ranked = sorted(range(k), key=lambda j: "ESCI".index(labels[j]))
                yield row(task, i, json.dumps({"query": query(t), "product list": [
                    f"{'ABCD'[j]}: {titles[j]}" for j in range(k)]}), ",".join("ABCD"[j] for j in ranked))
            elif task == "Sequential_Recommendation":
                def item() -> str:
                    return f"{title()}. {rng.choice(categories)}. {rng.choice(brands)}."
                history = [f"{_ordinal(j + 1)}: {item()}" for j in range(rng.randint(5, 20))]
                options = [f"{chr(65 + j)}: {item()}" for j in range(20)]
                encode = str if i % 4 else json.dumps  # the notebook writes str(list)
                yield row(task, i, encode(history), chr(65 + rng.randrange(20)), options, encode=encode)
            elif task in ("Answerability_Prediction", "Answer_Generation"):
                aspect = rng.choice(list(EC_QUESTIONS))
                doc = [review(rng.randrange(3), rng.randint(2, 10)) for _ in range(rng.randint(4, 12))]
                answer = "yes" if rng.random() < 0.5 else "no"
                output = answer if task == "Answerability_Prediction" else rng.choice(
                    ASPECT_PHRASES.get(aspect, ASPECT_PHRASES["quality"])[0]).capitalize() + "."
                yield row(task, i, json.dumps({"question": EC_QUESTIONS[aspect], "document": doc}), output)
            elif task == "Product_Matching":
                name, vendor = rng.choice(SOFTWARE), rng.choice(VENDORS)
                same = rng.random() < 0.12
                other = name if same else rng.choice(SOFTWARE)
                version = rng.randint(1, 12)
                p1 = {"title": f"{name} {version}",
                      "description": " ".join(rng.choice(sentences) for _ in range(2)).lower(),
                      "manufacturer": vendor, "price": f"{rng.uniform(9, 300):.2f}"}
                p2 = {"title": f"{vendor} {other} {version if same else rng.randint(1, 12)} windows",
                      "description": " ".join(rng.choice(sentences) for _ in range(2)).lower() if rng.random() < 0.7
                      else float("nan"), "manufacturer": vendor if rng.random() < 0.6 else "nan",
                      "price": f"{rng.uniform(9, 300):.2f}"}
                yield row(task, i, json.dumps({"product 1": p1, "product 2": p2}), "yes" if same else "no")
            elif task == "Product_Substitue_Identification":
                t = rng.choice(TYPES)[0]
                yield row(task, i, json.dumps({"query": query(t), "product": title(type_=t)}),
                          "yes" if rng.random() < 0.4 else "no")
            elif task == "Sentiment_Analysis":
                label = rng.choices(range(5), [0.35, 0.25, 0.15, 0.1, 0.15])[0]
                yield row(task, i, review((0, 0, 2, 1, 1)[label], rng.randint(2, 12)), SA_OPTIONS[label], SA_OPTIONS)

    counts = {t: max(20, round(n * scale)) for t, n in EC_COUNTS.items()}
    all_rows = []
    for task, n in counts.items():
        all_rows.extend(rows_of(task, n))
        bar.update(1)
    rng.shuffle(all_rows)
    with open(folder / "train.json", "w", encoding="utf-8") as f:
        f.write("[\n")
        for i, r in enumerate(all_rows):
            f.write(("" if i == 0 else ",\n") + json.dumps(r, indent=4))
        f.write("\n]\n")
    return {"rows": len(all_rows), **{t: n for t, n in counts.items()}}


# ================================================================================================
# MMLU and Alpaca
# ================================================================================================

MMLU_SUBJECTS = (
    "abstract_algebra anatomy astronomy business_ethics clinical_knowledge college_biology college_chemistry "
    "college_computer_science college_mathematics college_medicine college_physics computer_security "
    "conceptual_physics econometrics electrical_engineering elementary_mathematics formal_logic global_facts "
    "high_school_biology high_school_chemistry high_school_computer_science high_school_european_history "
    "high_school_geography high_school_government_and_politics high_school_macroeconomics high_school_mathematics "
    "high_school_microeconomics high_school_physics high_school_psychology high_school_statistics "
    "high_school_us_history high_school_world_history human_aging human_sexuality international_law jurisprudence "
    "logical_fallacies machine_learning management marketing medical_genetics miscellaneous moral_disputes "
    "moral_scenarios nutrition philosophy prehistory professional_accounting professional_law professional_medicine "
    "professional_psychology public_relations security_studies sociology us_foreign_policy virology world_religions"
).split()
MMLU_SPLITS = {"test": 14_042, "validation": 1_531, "dev": 285, "auxiliary_train": 99_842}
QUESTION_HEADS = ("Which of the following best describes", "What is the main reason for", "Which statement about",
                  "According to the passage, what happened to", "Why does the author mention", "What is the effect of",
                  "Which of the following is true of", "How would an economist explain")
TOPICS = ("the market price of coffee", "a firm's marginal cost", "the mitochondria of a cell", "the first amendment",
          "a binary search tree", "the industrial revolution", "photosynthesis", "a monopoly's output",
          "the speed of sound in water", "a contract without consideration", "the Krebs cycle", "inflation targeting",
          "the author's grandmother", "the school trip", "the new library", "the village festival")


def gen_mmlu(folder: Path, scale: float, seed: int, bar: tqdm) -> dict:
    rng = np.random.default_rng([seed, 5])
    en = Lang("en", seed, n_sentences=4_000)
    heads, topics = _strings(QUESTION_HEADS), _strings(TOPICS)
    (folder / "all").mkdir(parents=True, exist_ok=True)
    out = {}
    for split, n in MMLU_SPLITS.items():
        n = max(20, round(n * scale))
        aux = split == "auxiliary_train"
        question = _join(_take(heads, rng.integers(0, len(heads), n)), " ",
                         _take(topics, rng.integers(0, len(topics), n)), "?")
        stem = _compose(rng, en.sentences, rng.integers(0, 3, n) if not aux else _geometric(rng, 14, n, 3, 40), " ")
        question = pc.if_else(pc.equal(pc.utf8_length(stem), 0), question,
                              _join(stem, question, sep="\n" if aux else " "))
        choice = _compose(rng, en.adjs, np.full(4 * n, 2), " ")
        choice = _join(choice, " ", _take(topics, rng.integers(0, len(topics), 4 * n)))
        choices = pa.ListArray.from_arrays(pa.array(np.arange(0, 4 * n + 1, 4, dtype=np.int32)), choice)
        subject = _take(_strings(MMLU_SUBJECTS), rng.integers(0, len(MMLU_SUBJECTS), n)) if not aux else \
            pa.array([""] * n, pa.string())
        table = pa.table({"question": question, "subject": subject, "choices": choices,
                          "answer": pa.array(rng.integers(0, 4, n), pa.int64())})
        pq.write_table(table, folder / "all" / f"{split}-00000-of-00001.parquet")
        out[split] = n
        bar.update(1)
    return out


ALPACA_TEMPLATES = (
    ("Write a short product description for a {adj} {type}.", False),
    ("Explain why a {type} should be {adj}.", False),
    ("Give three tips for choosing a {type}.", False),
    ("Describe the benefits of using a {adj} {type} for {use}.", False),
    ("Summarize the following text.", True),
    ("Rewrite the following sentence in a more formal tone.", True),
    ("Generate a catchy slogan for the following product.", True),
    ("Translate the following sentence into Spanish.", True),
    ("What are the advantages of {material} over {material2}?", False),
    ("Create a short story about a {type} that is {adj}.", False),
    ("Classify the sentiment of the following review as positive or negative.", True),
    ("Suggest a name for a company that sells {type}s.", False),
)


def gen_alpaca(folder: Path, scale: float, seed: int, bar: tqdm) -> dict:
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(f"{seed}:alpaca")
    en = Lang("en", seed, n_sentences=4_000)
    sentences = en.sentences.to_pylist()
    n = max(30, round(51_760 * scale))
    rows = []
    for _ in range(n):
        template, with_input = rng.choice(ALPACA_TEMPLATES)
        instruction = template.format(adj=rng.choice(ADJS)[0].lower(), type=rng.choice(TYPES)[0].lower(),
                                      use=rng.choice(USES)[0], material=rng.choice(MATERIALS)[0].lower(),
                                      material2=rng.choice(MATERIALS)[0].lower())
        inp = " ".join(rng.choice(sentences) for _ in range(rng.randint(1, 4))) if with_input else ""
        k = rng.randint(1, 9)
        if rng.random() < 0.2:
            output = " \n".join(f"{j + 1}. {rng.choice(sentences)}" for j in range(min(k, 5)))
        else:
            output = " ".join(rng.choice(sentences) for _ in range(k))
        rows.append({"instruction": instruction, "input": inp, "output": output})
    (folder / "alpaca_data_cleaned.json").write_text(json.dumps(rows, indent=4, ensure_ascii=False) + "\n",
                                                      encoding="utf-8")
    bar.update(1)
    return {"rows": n}


# ================================================================================================
# generate()
# ================================================================================================

GENERATORS = (  # source folder, function, progress steps
    ("esci", gen_esci, 7),
    ("amazon_m2", gen_m2, 12),
    ("amazon_reviews_2023", gen_reviews, 2 * len(REVIEW_CATEGORIES)),
    ("ecinstruct", gen_ecinstruct, len(EC_COUNTS)),
    ("mmlu", gen_mmlu, len(MMLU_SPLITS)),
    ("alpaca_cleaned", gen_alpaca, 1),
)


def sources_dir(scale: float, seed: int = 0) -> Path:
    return BENCH_DIR / (f"sources-{scale:g}" + (f"-seed{seed}" if seed else ""))


def _folder_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def is_generated(out_dir: Path, scale: float, seed: int) -> bool:
    """``out_dir`` holds complete inputs of this generator version for these parameters."""
    marker = Path(out_dir) / MARKER
    if not marker.is_file():
        return False
    done = json.loads(marker.read_text())
    params = {"version": GENERATOR_VERSION, "scale": scale, "seed": seed}
    return {k: done.get(k) for k in params} == params


def generate(out_dir: Path | None = None, scale: float = 1.0, seed: int = 0, progress: bool = True) -> Path:
    """Write the six sources' synthetic inputs to ``out_dir`` (default ``.cache/bench/sources-<scale>``),
    or reuse them when its marker holds the same parameters. Returns the folder."""
    out_dir = Path(out_dir) if out_dir else sources_dir(scale, seed)
    params = {"version": GENERATOR_VERSION, "scale": scale, "seed": seed}
    marker = out_dir / MARKER
    if is_generated(out_dir, scale, seed):
        return out_dir
    if out_dir.exists():  # an older or interrupted generation; never a folder this generator did not make
        if any(out_dir.iterdir()) and not (marker.exists() or out_dir.resolve().is_relative_to(BENCH_DIR.resolve())):
            raise SystemExit(f"{out_dir} is not empty and holds no {MARKER}: not overwriting it")
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    stats: dict = {}
    t0 = time.perf_counter()
    for name, fn, steps in GENERATORS:
        start = time.perf_counter()
        if progress:
            stage(f"generate {name}: {steps} step(s)")
        with progress_bars.bar(total=steps, desc=f"generate {name}", unit="step",
                               disable=not (progress and progress_bars.enabled())) as bar:
            stats[name] = fn(out_dir / name, scale, seed, bar)
        stats[name]["seconds"] = round(time.perf_counter() - start, 1)
        stats[name]["bytes"] = _folder_size(out_dir / name)
    files = {str(p.relative_to(out_dir)): p.stat().st_size for p in sorted(out_dir.rglob("*")) if p.is_file()}
    marker.write_text(json.dumps({**params, "seconds": round(time.perf_counter() - t0, 1), "sources": stats,
                                  "files": files}, indent=1) + "\n")
    return out_dir


# ================================================================================================
# The benchmark: the build in a subprocess, its wall time and peak RSS
# ================================================================================================

def _rss_kb(pid: int, field: str = "VmRSS") -> int | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def run_measured(cmd: list[str], log: Path, env: dict | None = None, interval: float = 0.25) -> dict:
    """Run ``cmd`` (cwd: the repo) with stdout+stderr to ``log``: its wall time, CPU time, exit code,
    RSS sampled every ``interval`` s and peak RSS.

    The peak is the child's own high-water mark (``VmHWM`` in /proc/<pid>/status, sampled: it only
    grows, so the last sample misses at most the final ``interval``). ``wait4``'s ``ru_maxrss`` is
    kept as a cross-check: Linux carries the parent's high-water mark into it at exec, so it is
    max(this process's peak, the child's peak)."""
    samples: list[tuple[float, int]] = []
    hwm = [0]
    with open(log, "wb") as out:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=REPO, stdout=out, stderr=subprocess.STDOUT, env=env)
        done = threading.Event()

        def sample() -> None:
            while not done.wait(interval):
                kb = _rss_kb(proc.pid)
                if kb is not None:
                    samples.append((time.perf_counter() - t0, kb))
                hwm[0] = max(hwm[0], _rss_kb(proc.pid, "VmHWM") or 0)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        done.set()
        sampler.join()
        proc.returncode = os.waitstatus_to_exitcode(status)
    peak = max([hwm[0]] + [kb for _, kb in samples])
    return {"wall_s": wall, "returncode": proc.returncode, "peak_rss_kb": peak or usage.ru_maxrss,
            "ru_maxrss_kb": usage.ru_maxrss, "user_s": usage.ru_utime, "sys_s": usage.ru_stime, "samples": samples}


# ---- the instrumented child (per-source breakdown) -----------------------------------------------

def _instrumented_build(stages_path: Path, build_argv: list[str]) -> None:
    """Run ``python -m training.data`` with ``build_argv`` after wrapping the build's stages with
    timers (the framework is not edited: module attributes and builder methods are wrapped here).
    Writes the stage timings, and the RSS / peak RSS at each stage's end, to ``stages_path``."""
    import training.data.build as build_module
    from training.data import readers
    from training.data.__main__ import main as cli
    from training.data.registry import load_builders

    clock = time.perf_counter
    t0 = clock()
    totals: dict[str, float] = defaultdict(float)
    per_dataset: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    events: list[dict] = []
    lookups: dict[str, dict] = {}
    pid = os.getpid()

    def event(label: str, start: float) -> None:
        events.append({"label": label, "start_s": round(start - t0, 2), "end_s": round(clock() - t0, 2),
                       "rss_gb": round((_rss_kb(pid) or 0) / 2 ** 20, 3),
                       "peak_gb": round((_rss_kb(pid, "VmHWM") or 0) / 2 ** 20, 3)})

    def since_last_event() -> float:
        return t0 + events[-1]["end_s"] if events else t0

    def timed(key: str, fn, dataset: str | None = None, mark: str | None = None):
        def wrapper(*args, **kwargs):
            start = clock()
            try:
                return fn(*args, **kwargs)
            finally:
                spent = clock() - start
                totals[key] += spent
                if dataset:
                    per_dataset[dataset][key] += spent
                if mark:
                    event(mark, start)
        wrapper.__wrapped__ = fn
        return wrapper

    for name, opener in list(readers.OPENERS.items()):
        def open_source(folder, stats, seed=0, _opener=opener, _name=name):
            start = clock()
            data = _opener(folder, stats, seed=seed)
            totals["read index"] += clock() - start
            event(f"{_name}: read index", start)
            lookup = timed("lookup", data.lookup, mark=f"{_name}: lookup")

            def counted(keys, _lookup=lookup):
                found = _lookup(keys)
                lookups[_name] = {"keys": len(keys), "found": len(found)}
                return found
            data.lookup = counted
            return data
        readers.OPENERS[name] = open_source
    build_module.check = timed("check (route + parse)", build_module.check)
    build_module.to_row = timed("render (chat messages)", build_module.to_row)
    writes = build_module.write_jsonl

    def write_jsonl(path, rows):
        # rows stream from the builder while they are written: the write's own time is what the
        # call took beyond the questions, checks and rendering it drove
        start = clock()
        driven = sum(totals[k] for k in ("question", "check (route + parse)", "render (chat messages)"))
        questions_start = since_last_event()  # the previous stage ended where this dataset's questions began
        n = writes(path, rows)
        driven = sum(totals[k] for k in ("question", "check (route + parse)", "render (chat messages)")) - driven
        totals["write"] += clock() - start - driven
        event(f"{Path(path).stem}: questions + write", questions_start)
        return n
    build_module.write_jsonl = write_jsonl
    for cls in load_builders().values():
        for method, key in (("seeds", "seeds"), ("needs", "needs"), ("question", "question")):
            fn = getattr(cls, method)
            fn = getattr(fn, "__wrapped__", fn)
            mark = f"{cls.name}: seeds" if key == "seeds" else None
            setattr(cls, method, timed(key, fn, dataset=cls.name, mark=mark))
    cli(build_argv)
    stages_path.write_text(json.dumps({"totals": totals, "per_dataset": per_dataset, "events": events,
                                       "lookups": lookups, "wall_s": clock() - t0}, indent=1) + "\n")


# ---- report ---------------------------------------------------------------------------------------

def _gb(kb: float) -> str:
    return f"{kb / 2 ** 20:.2f} GB"


def _mmss(seconds: float) -> str:
    return f"{int(seconds // 60)}:{seconds % 60:04.1f}"


def _machine() -> str:
    mem = (_rss_kb_total() or 0) / 2 ** 20
    return (f"cpu: {cpu_model()}; cores: {os.cpu_count()}; usable cores: {len(os.sched_getaffinity(0))}; RAM: {mem:.0f} GB; "
            f"python: {platform.python_version()}; pyarrow: {pa.__version__}; numpy: {np.__version__}")


def _rss_kb_total() -> int | None:
    try:
        with open("/proc/meminfo") as f:
            return int(f.readline().split()[1])
    except OSError:
        return None


def _datasets_by_source() -> dict[str, list[str]]:
    from training.data.registry import load_builders

    out: dict[str, list[str]] = defaultdict(list)
    for name, cls in load_builders().items():
        out[cls.source].append(name)
    return out


def _peak_at(samples: list[tuple[float, int]]) -> tuple[float, int]:
    return max(samples, key=lambda s: s[1]) if samples else (0.0, 0)


def _timeline(samples: list[tuple[float, int]], points: int = 12) -> str:
    if not samples:
        return "(no samples)"
    step = max(1, len(samples) // points)
    picked = samples[::step] + ([samples[-1]] if (len(samples) - 1) % step else [])
    return ", ".join(f"{t:.0f}s {kb / 2 ** 20:.2f}" for t, kb in picked)


def main(argv: list[str] | None = None) -> dict | None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=1.0, help="input size relative to the real sources (1.0)")
    parser.add_argument("--seed", type=int, default=0, help="generator seed (the build's seed stays 0)")
    parser.add_argument("--keep", action="store_true", help="keep the built datasets (.cache/bench/built-<scale>/)")
    parser.add_argument("--only-generate", action="store_true", help="write the inputs and stop")
    parser.add_argument("--no-breakdown", action="store_true", help="skip the per-source instrumented builds")
    parser.add_argument("--regenerate", action="store_true", help="write the inputs again even if cached")
    add_record_flag(parser, NAME, LATEST, "only for a full run: refused with --scale below 1, --no-breakdown or "
                                    "--only-generate")
    progress_bars.add_flag(parser)
    parser.add_argument("--child-stages", type=Path, help=argparse.SUPPRESS)  # internal: the instrumented child
    args, rest = parser.parse_known_args(argv)
    if args.child_stages:
        _instrumented_build(args.child_stages, [a for a in rest if a != "--"])
        return None
    if rest:
        parser.error(f"unrecognised arguments: {' '.join(rest)}")
    if not args.scale > 0:
        parser.error(f"--scale must be above 0; got {args.scale:g}")
    partial = ([f"--scale {args.scale:g} < 1"] if args.scale < 1 else []) + (
        ["--no-breakdown"] if args.no_breakdown else []) + (
        ["--only-generate: no report to record"] if args.only_generate else [])
    check_record(parser, args, LATEST, partial)
    progress_bars.apply_flag(args)

    report = Report()
    started = datetime.datetime.now(datetime.timezone.utc)
    load = os.getloadavg()
    src = sources_dir(args.scale, args.seed)
    if args.regenerate and (src / MARKER).exists():
        (src / MARKER).unlink()
    t0 = time.perf_counter()
    cached = is_generated(src, args.scale, args.seed)
    if args.only_generate:
        generate(src, args.scale, args.seed)
    else:  # in a subprocess: this process stays small (its memory would count in the build's ru_maxrss)
        subprocess.run([sys.executable, "-m", "benchmarks.training_data", "--only-generate", "--scale",
                        f"{args.scale:g}", "--seed", str(args.seed)], cwd=REPO, check=True)
    gen_wall = time.perf_counter() - t0
    marker = json.loads((src / MARKER).read_text())
    if args.only_generate:
        print(f"inputs in {src} ({marker['seconds']} s to generate, {_folder_size(src) / 1e9:.2f} GB)")
        return marker

    built = BENCH_DIR / f"built-{args.scale:g}"
    if built.exists():
        shutil.rmtree(built)
    built.mkdir(parents=True)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, "-m", "training.data", "build", "--sources", str(src), "--out", str(built / "all")]
    print(f"build: {' '.join(cmd)}", flush=True)
    full = run_measured(cmd, built / "build.log", env)
    if full["returncode"] != 0:
        print((built / "build.log").read_text()[-4000:])
        raise SystemExit(f"the build failed (exit code {full['returncode']}); log: {built / 'build.log'}")
    manifest = json.loads((built / "all" / "manifest.json").read_text())

    breakdown: dict[str, dict] = {}
    if not args.no_breakdown:
        for source, names in _datasets_by_source().items():
            stages = built / f"stages-{source}.json"
            child = [sys.executable, "-m", "benchmarks.training_data", "--child-stages", str(stages), "--",
                     "build", "--sources", str(src), "--out", str(built / source), "--only", *names]
            print(f"breakdown: {source} ({len(names)} datasets)", flush=True)
            result = run_measured(child, built / f"build-{source}.log", env)
            result["stages"] = json.loads(stages.read_text()) if stages.exists() else {}
            breakdown[source] = result

    # ---- summary --------------------------------------------------------------------------------------
    rows = sum(d["rows"] for d in manifest["datasets"])
    wanted = sum(d["wanted"] for d in manifest["datasets"])
    minutes = full["wall_s"] / 60
    peak_gb = full["peak_rss_kb"] / 2 ** 20
    report("# Training-data build benchmark (issue #4, item 8)")
    report()
    report(f"{started:%Y-%m-%d %H:%M} UTC; {_machine()}")
    report(f"load average at the start: {load[0]:.2f}, {load[1]:.2f}, {load[2]:.2f}")
    report(f"`shopbench bench training-data --scale {args.scale:g}"
           f"{f' --seed {args.seed}' if args.seed else ''}`")
    report()
    report("## Summary")
    report()
    report(f"`python -m training.data build` of all 38 datasets at their seed sizes, in a subprocess, on inputs "
           f"at {args.scale:g} x the real sources' sizes ({_folder_size(src) / 1e9:.2f} GB on disk).")
    report()
    report.table(["measure", "measured", "goal", "met"], [
        ["rows built", f"{rows:,} of {wanted:,} wanted ({rows / max(1, wanted):.1%})", "", ""],
        ["wall time", f"{_mmss(full['wall_s'])} ({minutes:.1f} min; CPU {full['user_s'] + full['sys_s']:.0f} s)",
         f"<= {GOAL_MINUTES:g} min", "yes" if minutes <= GOAL_MINUTES else "no"],
        ["peak RSS", f"{peak_gb:.2f} GB (wait4 ru_maxrss: {full['ru_maxrss_kb'] / 2 ** 20:.2f} GB)",
         f"<= {GOAL_RSS_GB:g} GB", "yes" if peak_gb <= GOAL_RSS_GB else "no"],
    ])
    t_peak, _ = _peak_at(full["samples"])
    report(f"RSS over the build (GB, sampled every 0.25 s; the highest sample at {t_peak:.0f} s): "
           f"{_timeline(full['samples'])}")
    report()

    if breakdown:
        report("## Per source (one instrumented subprocess each: `--only` its datasets)")
        report()
        header = ["source", "datasets", "rows / wanted", "wall", "CPU", "peak RSS", "read index", "seeds", "lookup",
                  "questions", "check (route + parse)", "render", "write"]
        table = []
        by_source = defaultdict(list)
        for d in manifest["datasets"]:
            by_source[d["source"]].append(d)
        for source, result in breakdown.items():
            tot = result["stages"].get("totals", {})
            ds = by_source[source]
            table.append([source, len(ds), f"{sum(d['rows'] for d in ds):,} / {sum(d['wanted'] for d in ds):,}",
                          f"{result['wall_s']:.0f} s", f"{result['user_s'] + result['sys_s']:.0f} s",
                          _gb(result["peak_rss_kb"]),
                          *(f"{tot.get(k, 0):.1f} s" for k in ("read index", "seeds", "lookup", "question",
                                                              "check (route + parse)", "render (chat messages)",
                                                              "write"))])
        report.table(header, table)
        stage_times = sorted(((v, f"{source} {k}") for source, r in breakdown.items()
                              for k, v in r["stages"].get("totals", {}).items()), reverse=True)
        report("Largest stages: " + ", ".join(f"{name} {v:.0f} s".replace(" question ", " questions ")
                                              for v, name in stage_times[:6]) + ".")
        report()
        for source, r in breakdown.items():
            for name, n in r["stages"].get("lookups", {}).items():
                report(f"- {name} lookup: {n['keys']:,} keys requested by the builders' seeds, {n['found']:,} found "
                       f"(held in memory while the questions are written)")
        report()
        sum_wall = sum(r["wall_s"] for r in breakdown.values())
        report(f"Sum of the per-source walls: {sum_wall:.0f} s (the full build: {full['wall_s']:.0f} s; each "
               f"subprocess also pays the imports, ~2 s). \"questions\" is the builders' own code per seed; "
               f"\"check\" routes every prompt and parses its answer with the official rules.")
        report()
        report("### Where the memory grows (the child's RSS after each stage; peak so far in brackets)")
        report()
        ev_rows = []
        for source, result in breakdown.items():
            events = result["stages"].get("events", [])
            index = next((e for e in events if e["label"].endswith(": read index")), None)
            lookup = next((e for e in events if e["label"].endswith(": lookup")), None)
            written = [e for e in events if e["label"].endswith("questions + write")]
            slowest = max(written, key=lambda e: e["end_s"] - e["start_s"], default=None)

            def cell(e) -> str:
                return f"{e['rss_gb']:.2f} GB ({e['peak_gb']:.2f})" if e else ""
            ev_rows.append([source, cell(index), cell(lookup), cell(written[-1] if written else None),
                            _gb(result["peak_rss_kb"]),
                            f"{slowest['label'].split(':')[0]} {slowest['end_s'] - slowest['start_s']:.1f} s"
                            if slowest else ""])
        report.table(["source", "after read index", "after lookup", "after the last dataset", "peak",
                      "slowest dataset (questions + check + write)"], ev_rows)

    report("## Per dataset (rows from the full build's manifest.json)")
    report()
    per_dataset = {}
    for result in breakdown.values():
        per_dataset.update(result["stages"].get("per_dataset", {}))
    ds_rows = []
    for d in manifest["datasets"]:
        reasons = "; ".join(f"{n} {r}" for r, n in sorted(d["skipped"].items(), key=lambda kv: -kv[1])[:3])
        extra = "; ".join(x for x in (reasons, d["note"]) if x)
        t = per_dataset.get(d["name"], {})
        ds_rows.append([d["name"], d["source"], f"{d['wanted']:,}", f"{d['rows']:,}",
                        "" if d["rows"] >= d["wanted"] else f"{d['wanted'] - d['rows']:,}",
                        f"{t.get('seeds', 0):.1f}" if t else "", f"{t.get('question', 0):.1f}" if t else "", extra])
    report.table(["dataset", "source", "wanted", "rows", "short by", "seeds s", "questions s", "skipped / note"],
                 ds_rows)
    short = [d for d in manifest["datasets"] if d["rows"] < d["wanted"]]
    report(f"{len(short)} of {len(manifest['datasets'])} datasets fell short of their seed size.")
    report()
    report("## Inputs")
    report()
    report(f"`{src.relative_to(REPO) if src.is_relative_to(REPO) else src}`, generator version {marker['version']}, "
           f"seed {marker['seed']}: {marker['seconds']} s to generate"
           + (" (reused from an earlier run)" if cached else f" (this run: {gen_wall:.0f} s)") + ".")
    report()
    gen_rows = []
    for name, stats in marker["sources"].items():
        facts = ", ".join(f"{k} {v:,}" if isinstance(v, int) else f"{k} {v}" for k, v in stats.items()
                          if k not in ("seconds", "bytes") and not isinstance(v, dict))
        nested = ", ".join(f"{k}: {v['reviews']:,} reviews / {v['items']:,} items" for k, v in stats.items()
                           if isinstance(v, dict))
        gen_rows.append([name, f"{stats['bytes'] / 1e6:,.0f} MB", f"{stats['seconds']} s", facts or nested])
    report.table(["source", "size", "generated in", "contents"], gen_rows)
    for source, stats in manifest["sources"].items():
        bad = ", ".join(f"{n} {r}" for r, n in stats["skipped"].items()) or "none"
        report(f"- {source}: {stats['rows']:,} rows read; malformed or unusable: {bad}")
    report()
    write_report(report, NAME, LATEST, args.record)
    if not args.keep:
        shutil.rmtree(built, ignore_errors=True)
    else:
        print(f"kept: {built}")
    return {"full": {k: v for k, v in full.items() if k != "samples"}, "manifest": manifest,
            "breakdown": {k: {kk: vv for kk, vv in v.items() if kk != "samples"} for k, v in breakdown.items()}}


if __name__ == "__main__":
    from utilities.errors import run_command

    run_command(main)
