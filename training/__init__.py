"""Reproducing the submitted weights (issues #4 and #5; not built yet).

The steps, one script each, as the folder will hold them: build the training set from the seven
public sources (38 dataset builders and the blends), fine-tune Qwen2-72B-Instruct with QLoRA,
average adapters, wise-ft per track, merge, pad the MLP for 4-way tensor parallelism and quantize
with AWQ. Training rows are rendered with ``utilities.prompting.render``, the function inference
uses, so both see byte-identical chat text up to the answer.
"""
