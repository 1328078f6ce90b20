"""The project's one front door: the ``shopbench`` console command (``shopbench/cli.py``)."""
