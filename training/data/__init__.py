"""The training set: readers of seven sources (the winners' six public ones and EC-Guide), the 38
registered seed dataset builders (plus 15 extra EC-Guide ones), blends. The datasets: docs/datasets.md.

    shopbench data list
    shopbench data build --sources DIR --out DIR [--overwrite] [--blend NAME] [--only NAME ...]   (make eval)

Layout: ``sources.py`` (what each source's reader yields), ``readers/`` (one module per source's
on-disk format), ``registry.py`` (``@register`` and the ``Builder`` protocol), ``rows.py`` (questions
-> chat rows, rendered by the inference pipeline's own ``utilities.prompting``), ``builders/`` (one
module per source), ``build.py`` (sample, look up, emit, write), ``blends.py`` (named mixtures),
``synthetic/`` (LLM-made data through the project's engines). ``readers/files.py`` is the one
way a source file is read: a corrupt file costs that file (named in the manifest's ``lost``), not
the build; the command exits 3 when anything was lost (``__main__.py``).
"""
