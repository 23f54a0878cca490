"""``python -m train {teacher,student} [--field value ...]``: see train/recipe.py."""

import sys

from .recipe import main

if __name__ == "__main__":
    sys.exit(main())
