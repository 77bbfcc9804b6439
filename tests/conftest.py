from __future__ import annotations

import os
import sys
from pathlib import Path

# Tests are offline: a model id that is not a local folder must fail at once, not wait on a hub.
os.environ["HF_HUB_OFFLINE"] = "1"

# tests/tiny.py is a helper module shared by the test files.
sys.path.insert(0, str(Path(__file__).parent))
