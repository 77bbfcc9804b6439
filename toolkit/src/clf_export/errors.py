"""Errors and warnings of the export step (errors are clf_runtime.ClfError, so every CLI shows them
on one line; warnings are ExportWarning, the only ones clf-export's CLI prints)."""

from __future__ import annotations

from clf_runtime.errors import ClfError


class ExportError(ClfError):
    """The model cannot be exported as asked (not a model folder, unsupported architecture, ...)."""


class GateError(ExportError):
    """An exported variant failed the validation gate; no artifact was written."""


class ExportWarning(UserWarning):
    """Something the user of clf-export should know (e.g. the gate has no labelled data)."""
