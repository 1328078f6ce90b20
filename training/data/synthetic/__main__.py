"""``shopbench synthetic ...`` (or ``.venv/bin/python -m training.data.synthetic``): the command line
(:func:`training.data.synthetic.cli.main`)."""
from training.data.synthetic.cli import PROG, main
from utilities.errors import run_command

if __name__ == "__main__":
    run_command(main, prog=PROG)
