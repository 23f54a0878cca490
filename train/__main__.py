"""``python -m train {teacher,student,unsharp} ...``: see train/recipe.py and train/unsharp.py.

``torchrun --nproc-per-node N -m train teacher|student ...`` runs the same recipe on N processes
(DistributedDataParallel; train/dist.py).
"""

import sys

from . import recipe, unsharp

if __name__ == "__main__":
    argv = sys.argv[1:]
    sys.exit(unsharp.main(argv[1:]) if argv[:1] == ["unsharp"] else recipe.main(argv))
