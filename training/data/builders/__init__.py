"""The 38 dataset builders, one module per source; importing a module registers its builders.

Names (docs/datasets.md row: name, type, seed size):
  1 m2_attribute_category (multiple-choice, 2,350)        20 alpaca_instruction_following (generation, 51,760)
  2 reviews_snippet_retrieval (retrieval, 7,373)          21 mmlu_general_knowledge (multiple-choice, 115,700)
  3 reviews_aspect_retrieval (retrieval, 3,608)           22 m2_explain_product_type (generation, 10,000)
  4 reviews_complement_category (multiple-choice, 10,000) 23 esci_query_for_description (multiple-choice, 10,000)
  5 esci_query_product_ranking (ranking, 16,728)          24 esci_query_for_features (multiple-choice, 10,000)
  6 reviews_also_bought_ranking (ranking, 5,815)          25 esci_query_for_title (multiple-choice, 10,000)
  7 reviews_rating (multiple-choice, 10,000)              26 esci_title_for_description (multiple-choice, 10,000)
  8 esci_keyword_set (multiple-choice, 10,000)            27 esci_title_for_features (multiple-choice, 10,000)
  9 m2_title_for_locale (generation, 10,000)              28 esci_title_for_query (multiple-choice, 10,000)
 10 m2_same_product_other_language (multiple-choice, 10,000)  29 esci_bullet_point_retrieval (retrieval, 10,000)
 11 ecinstruct_attribute_value_extraction (NER, 19,622)   30 ecinstruct_review_sentiment_ranking (ranking, 5,000)
 12 ecinstruct_product_classification (multiple-choice, 10,000)  31 esci_product_for_query (multiple-choice, 5,435)
 13 ecinstruct_product_relation (multiple-choice, 10,000) 32 esci_queries_for_product_ranking (ranking, 5,000)
 14 ecinstruct_query_product_rank (retrieval, 10,000)     33 m2_previous_clicks_retrieval (retrieval, 10,000)
 15 ecinstruct_sequential_recommendation (multiple-choice, 10,000)  34 esci_brand_for_title (multiple-choice, 10,000)
 16 ecinstruct_answerability (multiple-choice, 10,000)    35 esci_relation_label (multiple-choice, 10,000)
 17 ecinstruct_product_matching (multiple-choice, 4,044)  36 esci_pair_relevance_ranking (ranking, 10,000)
 18 ecinstruct_substitute_identification (multiple-choice, 10,000)  37 esci_exact_matches_retrieval (retrieval, 10,000)
 19 ecinstruct_sentiment (multiple-choice, 10,000)        38 reviews_helpfulness_ranking (ranking, 10,000)
"""
