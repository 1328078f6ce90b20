"""Command-line tools built on the library (``utilities/``) and the model (``models/``):
``shopbench cost`` (each track's time on 4 x T4) and ``shopbench submit``
(check, tag and push a submission). The library never imports them."""
