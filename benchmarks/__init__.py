"""Benchmarks of the ShopBench pipeline (issue #3, item 7): ``shopbench bench``."""
