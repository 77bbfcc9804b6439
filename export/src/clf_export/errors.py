"""Errors of the export step (all are clf_runtime.ClfError, so every CLI shows them on one line)."""

from __future__ import annotations

from clf_runtime.errors import ClfError


class ExportError(ClfError):
    """The model cannot be exported as asked (not a model folder, unsupported architecture, ...)."""


class GateError(ExportError):
    """An exported variant failed the validation gate; no artifact was written."""
