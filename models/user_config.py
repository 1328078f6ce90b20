"""What the grader imports: ``UserModel`` (instantiated once, with no arguments)."""
from models.shopbench_model import ShopBenchModel

UserModel = ShopBenchModel
