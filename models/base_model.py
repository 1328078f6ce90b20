"""The grader's contract (AIcrowd starter kit): the class every submission's ``UserModel`` extends.

The grader imports ``UserModel`` from ``models/user_config.py``, instantiates it once with no
arguments, then calls ``get_batch_size()`` and ``batch_predict(batch, is_multiple_choice)`` with
``batch = {"prompt": [str, ...]}``; the reply is exactly one string per prompt, in order.
At most 10 s per sample (a batch of 16 within 160 s).
"""
from typing import Any, Dict, List


class ShopBenchBaseModel:
    def __init__(self):
        pass

    def get_batch_size(self) -> int:
        """How many prompts the next ``batch_predict`` call may get (1 to 16; may change between calls)."""
        raise NotImplementedError("get_batch_size")

    def batch_predict(self, batch: Dict[str, Any], is_multiple_choice: bool) -> List[str]:
        """One answer string per prompt in ``batch["prompt"]``, in order.

        ``is_multiple_choice`` is true for multiple-choice questions, whose answer is parsed from its
        first non-space character as an integer.
        """
        raise NotImplementedError("batch_predict")
