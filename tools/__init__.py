"""Command-line tools built on the library (``utilities/``) and the model (``models/``):
``python -m tools.cost_model`` (each track's time on 4 x T4) and ``python -m tools.submission``
(check, tag and push a submission). The library never imports them."""
