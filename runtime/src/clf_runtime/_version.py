"""The version of clf: clf-runtime, clf-export and clf-train are released together under it.

The one place it is written. runtime/pyproject.toml reads it (setuptools `attr`), and export/setup.py
and train/setup.py read this file for their own version and their exact pins on each other.
"""

__version__ = "0.1.0"
