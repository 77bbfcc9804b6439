"""`python -m clf_train.sample_data texts`: print the sample test texts, one per line."""

from __future__ import annotations

import sys

from clf_train.sample_data import __doc__ as doc
from clf_train.sample_data import test_texts

if sys.argv[1:] == ["texts"]:
    print("\n".join(test_texts()))
else:
    print(doc)
