"""Exception types of clf.

Library code raises these; the command-line tools turn them into a one-line message and a non-zero
exit. Each message names the problem and, where there is one, the fix.
"""

from __future__ import annotations


class ClfError(Exception):
    """Base class of every error clf raises on purpose."""


class ArtifactError(ClfError):
    """A model folder is missing, incomplete, tampered with, or of another format version."""


class ProviderError(ClfError):
    """An execution provider was asked for that this onnxruntime build does not have."""


class InputError(ClfError):
    """User input (a text file, a data set, an option value) cannot be used as given."""


class InferenceError(ClfError):
    """The model or its tokenizer failed at run time on the given inputs."""


class CpuWarning(UserWarning):
    """This CPU computes the loaded int8 variant differently than where it was checked (clf_runtime.cpu)."""
