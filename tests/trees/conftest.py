"""Make the shared tree models importable as ``tree_models`` (also for ``multidraft check-tree tree_models:...``)."""

import sys
from pathlib import Path

HERE = str(Path(__file__).parent)
if HERE not in sys.path:
    sys.path.insert(0, HERE)
