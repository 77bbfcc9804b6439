"""The simple baseline a fine-tuned model must beat: TF-IDF + one-vs-rest logistic regression.

For the multi-label sets of benchmarks/sweep.py, on the same training rows, with the threshold
chosen the same way clf-train chooses its global one (exact micro-F1 optimum on the last 10% of the
training rows) and scored on the same test rows.

    python benchmarks/tfidf_baseline.py --data-root ../shared/data [b77-multi ge-4k ge-2k]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import sweep

from clf_train.thresholds import global_threshold, micro_f1


def score(dataset: str, root: Path) -> float:
    import pandas as pd
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.multiclass import OneVsRestClassifier
    from sklearn.preprocessing import MultiLabelBinarizer

    train_path, test_path, label = sweep.prepare(dataset, root, Path(tempfile.mkdtemp()))
    train, test = pd.read_csv(train_path), pd.read_csv(test_path)
    y_train = [str(v).split(";") for v in train[label]]
    binarizer = MultiLabelBinarizer().fit(y_train)
    known = set(binarizer.classes_)
    y = binarizer.transform(y_train)
    y_test = binarizer.transform([[x for x in str(v).split(";") if x in known] for v in test[label]])
    cut = int(len(train) * 0.9)
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True).fit(train.text[:cut])
    model = OneVsRestClassifier(LogisticRegression(C=10, max_iter=1000))
    model.fit(vectorizer.transform(train.text[:cut]), y[:cut])
    threshold = global_threshold(model.predict_proba(vectorizer.transform(train.text[cut:])), y[cut:])
    return micro_f1(model.predict_proba(vectorizer.transform(test.text)), y_test, threshold)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-root", type=Path, default=Path("../shared/data"))
    ap.add_argument("datasets", nargs="*", default=["b77-multi", "ge-4k", "ge-2k"])
    args = ap.parse_args()
    for dataset in args.datasets:
        print(f"{dataset}: TF-IDF one-vs-rest micro-F1 on the test rows {score(dataset, args.data_root):.3f}")


if __name__ == "__main__":
    main()
