"""Reproducing the submitted weights: the training data, QLoRA fine-tuning in two iterations,
adapter averaging, wise-ft, merge, MLP padding and AWQ, one script per step, chained by
``training/pipeline.py``. Training rows are rendered with ``utilities.prompting``, the function
inference uses, so both see byte-identical chat text up to the answer.
"""
