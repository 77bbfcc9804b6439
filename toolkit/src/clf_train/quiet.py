"""What clf-train keeps off the screen, in one place: library warnings and logs a user cannot act on.

Warnings are selected by category and by the module they are attributed to (`warnings.filterwarnings
(module=...)`, a regular expression matched at the start of the module name), never by file name.
clf_train itself is in the list: a library's FutureWarning about a call clf_train makes is attributed
to clf_train's module (stacklevel), and only a clf developer can act on it.

- `command()`: for the clf-train CLI commands (set once, before anything heavy is imported).
- `tokenizers()`: before tokenizing in a process that may fork (the Trainer's data loading).
- `new_head_notice()`: before loading a base model with a fresh classification head.
"""

from __future__ import annotations

import logging
import os
import warnings

LIBRARIES = r"(clf_train|torch|transformers|peft|accelerate|sklearn|pandas)(\.|$)"


def tokenizers() -> None:
    """The tokenizers library warns (once per fork) that it disables its parallelism; say so up front."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def command() -> None:
    """Silence deprecation notices and the libraries' info logs for a clf-train command."""
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    tokenizers()
    warnings.filterwarnings("ignore", category=FutureWarning, module=LIBRARIES)
    warnings.filterwarnings("ignore", category=UserWarning, module=r"(torch|transformers|peft|accelerate)")
    logging.getLogger("transformers").setLevel(logging.ERROR)


def new_head_notice() -> None:
    """transformers' "some weights were newly initialized": expected, since clf trains a new head.

    (Sets transformers' verbosity to errors for the rest of the process, as the CLI does anyway.)
    """
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
