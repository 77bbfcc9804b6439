"""Where each step of the pipeline writes and reads by default.

`clf-train`, `clf-export` and `clf-run`, typed one after the other in an empty folder, must find each
other's output. The conventions live here, in the smallest package, so that all three agree.
"""

from __future__ import annotations

import os
from pathlib import Path

#: Folder `clf-train` writes (a Hugging Face model folder) and `clf-export` reads.
TRAINED_DIR = Path("clf-trained")
#: Folder `clf-export` writes (the runtime artifact) and `clf-run` reads.
MODEL_DIR = Path("clf-model")
#: Environment variable that overrides MODEL_DIR for `clf-run` and `clf-bench`.
MODEL_ENV = "CLF_MODEL"


def default_model_dir() -> Path:
    """The artifact folder to use when none is given: $CLF_MODEL, else ./clf-model."""
    return Path(os.environ.get(MODEL_ENV) or MODEL_DIR)
