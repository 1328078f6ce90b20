"""``python -m training.data.synthetic ...``: the command line (:func:`training.data.synthetic.cli.main`)."""
import sys

from training.data.synthetic.cli import main

if __name__ == "__main__":
    main(sys.argv[1:])
