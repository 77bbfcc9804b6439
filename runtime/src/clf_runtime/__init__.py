"""clf_runtime: classify text with an exported clf model, without PyTorch.

    from clf_runtime import TextClassifier
    clf = TextClassifier.load("clf-model")
    clf.predict(["where is my parcel?"])[0].label

This package imports only numpy at import time; onnxruntime and tokenizers load with the model.
It never imports torch, transformers, optimum, peft, clf_train or clf_export.
"""

from __future__ import annotations

from clf_runtime._version import __version__
from clf_runtime.artifact import FORMAT_VERSION, Manifest, Variant
from clf_runtime.classifier import TextClassifier
from clf_runtime.errors import ArtifactError, ClfError, InferenceError, InputError, ProviderError
from clf_runtime.prediction import Prediction

__all__ = [
    "FORMAT_VERSION",
    "ArtifactError",
    "ClfError",
    "InferenceError",
    "InputError",
    "Manifest",
    "Prediction",
    "ProviderError",
    "TextClassifier",
    "Variant",
    "__version__",
]
