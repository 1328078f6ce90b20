"""``python -m shopbench`` is the ``shopbench`` command."""
from shopbench.cli import main

if __name__ == "__main__":
    main()
