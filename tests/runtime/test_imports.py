"""The runtime stays light: importing it loads no deep-learning framework or heavy clf part."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ["torch", "transformers", "optimum", "peft", "clf_train", "clf_export"]
# The serve extra: only a running clf-serve imports these.
SERVE_EXTRA = ["starlette", "uvicorn", "prometheus_client"]


def loaded_after(code: str) -> list[str]:
    probe = f"import sys, json\n{code}\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    modules = json.loads(out.stdout.strip().splitlines()[-1])
    return [m for m in modules if m.split(".")[0] in HEAVY + SERVE_EXTRA]


def test_clf_serve_without_the_extra_says_how_to_install_it() -> None:
    from .conftest import fixture_path

    # Hide the extra (the slim-wheel run does not have it anyway).
    code = (
        "import sys\n"
        "for name in ('starlette', 'uvicorn', 'prometheus_client'): sys.modules[name] = None\n"
        "from clf_runtime.cli.serve import main\n"
        f"main(['--model', {str(fixture_path('tiny-bert'))!r}, '--port', '0'])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 1
    assert "pip install 'clf-runtime[serve]'" in out.stderr
    assert "Traceback" not in out.stderr


def test_import_clf_runtime_is_light() -> None:
    assert loaded_after("import clf_runtime") == []


def test_loading_a_model_and_the_cli_stay_light() -> None:
    from .conftest import fixture_path

    code = (
        "from clf_runtime import TextClassifier\n"
        "import clf_runtime.cli.run, clf_runtime.cli, clf_runtime.cli.serve\n"
        "import clf_runtime.serve, clf_runtime.serve.config, clf_runtime.serve.schema\n"
        "import clf_runtime.serve.tokens, clf_runtime.serve.api\n"
        f"TextClassifier.load({str(fixture_path('tiny-bert'))!r}).predict(['hi'])"
    )
    assert loaded_after(code) == []


ENGINES = ["ray", "pyspark", "pyarrow", "pandas", "py4j"]


def test_import_clf_runtime_loads_no_batch_engine() -> None:
    probe = (
        "import sys, json\nimport clf_runtime, clf_runtime.cli.batch, clf_runtime.columns\n"
        "print(json.dumps(sorted(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    modules = json.loads(out.stdout.strip().splitlines()[-1])
    assert [m for m in modules if m.split(".")[0] in ENGINES] == []


# The report extra (plots) and the Parquet reader: only `clf-eval --report DIR` and a .parquet test
# file import them.
EVAL_EXTRAS = ["matplotlib", "pyarrow", "pandas", "PIL", "sklearn", "scipy"]


def test_clf_eval_imports_no_extra_until_a_report_is_drawn() -> None:
    from .conftest import fixture_path

    code = (
        "import sys, json\n"
        "import clf_runtime.cli.eval, clf_runtime.evaluate, clf_runtime.eval_report, clf_runtime.metrics\n"
        "import clf_runtime.datafile\n"
        "from clf_runtime import TextClassifier\n"
        "from clf_runtime.evaluate import EvalConfig, evaluate\n"
        "from clf_runtime.eval_report import render_text, render_markdown\n"
        "import tempfile, pathlib\n"
        "p = pathlib.Path(tempfile.mkdtemp()) / 't.csv'\n"
        "p.write_text('text,label\\nhi,negative\\nbad,positive\\n')\n"
        f"r = evaluate(p, TextClassifier.load({str(fixture_path('tiny-bert'))!r}), EvalConfig(slowest=1))\n"
        "render_text(r); render_markdown(r)\n"
        "print(json.dumps(sorted(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    modules = json.loads(out.stdout.strip().splitlines()[-1])
    assert [m for m in modules if m.split(".")[0] in HEAVY + SERVE_EXTRA + EVAL_EXTRAS] == []
