"""Make the test gallery importable as ``gallery`` (also for ``multidraft check gallery:...``)."""

import sys
from pathlib import Path

HERE = str(Path(__file__).parent)
if HERE not in sys.path:
    sys.path.insert(0, HERE)
