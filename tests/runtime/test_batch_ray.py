"""clf_runtime.ray and clf-batch --engine ray on a real local Ray cluster (num_cpus=2, one per module)."""

from __future__ import annotations

from pathlib import Path

import pytest

ray = pytest.importorskip("ray")
pytest.importorskip("ray.data")

import pyarrow as pa  # noqa: E402
from click.testing import CliRunner  # noqa: E402

import clf_runtime.ray as clf_ray  # noqa: E402
from clf_runtime.cli.batch import main  # noqa: E402
from clf_runtime.errors import ArtifactError, InputError  # noqa: E402

from .batch_helpers import assert_matches, read_output, table, write  # noqa: E402
from .conftest import fixture_path  # noqa: E402


@pytest.fixture(scope="module", autouse=True)
def cluster():  # type: ignore[no-untyped-def]
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="warning")
    ray.data.DataContext.get_current().enable_progress_bars = False
    yield
    ray.shutdown()


def collect(ds) -> pa.Table:  # type: ignore[no-untyped-def]
    return pa.concat_tables(ray.get(ds.to_arrow_refs())).sort_by("id")


def test_classify_dataset_single_and_multi_label() -> None:
    single = table("tiny-bert", n=40, null_at=5)
    got = collect(clf_ray.classify(ray.data.from_arrow(single), fixture_path("tiny-bert"), precision="fp32"))
    assert got.column_names == [*single.column_names, "label", "score"]
    assert_matches("tiny-bert", got, single)

    multi = table("tiny-multi", n=20)
    ds = clf_ray.classify(
        ray.data.from_arrow(multi), fixture_path("tiny-multi"), precision="fp32", scores=True, concurrency=1
    )
    got = collect(ds)
    assert got.column_names[-6:] == [
        "labels",
        "score",
        "score_billing",
        "score_delivery",
        "score_bug",
        "score_praise",
    ]
    assert_matches("tiny-multi", got, multi)


def test_checks_before_running() -> None:
    ds = ray.data.from_arrow(table("tiny-bert", n=4))
    with pytest.raises(InputError, match="no column 'body'"):
        clf_ray.classify(ds, fixture_path("tiny-bert"), text_column="body")
    with pytest.raises(InputError, match="does not hold text"):
        clf_ray.classify(ds, fixture_path("tiny-bert"), text_column="id")
    with pytest.raises(InputError, match="need 4 CPUs, Ray has 2"):
        clf_ray.classify(ds, fixture_path("tiny-bert"), concurrency=2, threads_per_worker=2)
    with pytest.raises(InputError, match="--pair-column"):
        clf_ray.classify(ds, fixture_path("tiny-pair"))
    assert clf_ray.plan_workers(2, None, None) == (2, 1)
    assert clf_ray.plan_workers(8, 2, None) == (2, 4)
    assert clf_ray.plan_workers(8, None, 3) == (2, 3)


def test_damaged_model_is_refused_by_the_driver(artifact_copy) -> None:  # type: ignore[no-untyped-def]
    folder = artifact_copy("tiny-bert")
    with open(folder / "model.int8.onnx", "r+b") as f:
        f.seek(100)
        f.write(b"\x00\x01\x02")
    with pytest.raises(ArtifactError, match="sha256"):
        clf_ray.classify(ray.data.from_arrow(table(n=4)), folder)


def test_clf_batch_engine_ray_pair_model(tmp_path: Path) -> None:
    given = table("tiny-pair", n=30)
    write(given.slice(0, 15), tmp_path / "a.parquet")
    write(given.slice(15), tmp_path / "b.jsonl")
    out = tmp_path / "out"
    args = [tmp_path / "a.parquet", tmp_path / "b.jsonl", "-o", out, "-m", fixture_path("tiny-pair")]
    result = CliRunner().invoke(
        main, [str(a) for a in args] + ["--engine", "ray", "--pair-column", "other", "--precision", "fp32"]
    )
    assert result.exit_code == 0, result.output
    assert_matches("tiny-pair", read_output(out), given)


def test_clf_batch_engine_ray_errors_are_one_line(tmp_path: Path) -> None:
    def run(*args: object) -> list[str]:
        model = str(fixture_path("tiny-bert"))
        cli = [*(str(a) for a in args), "-o", str(tmp_path / "out"), "-m", model, "--engine", "ray"]
        result = CliRunner().invoke(main, cli)
        assert result.exit_code == 1
        assert not (tmp_path / "out").exists()
        return result.output.strip().splitlines()

    src = write(table(n=4), tmp_path / "a.parquet")
    assert run(src, "--text-column", "id") == [
        "Error: column 'id' of the dataset does not hold text; name the text column with --text-column"
    ]
    # A file that fails on a worker, not on the driver: the failure still comes back as one line.
    bad = tmp_path / "b.jsonl"
    bad.write_text('{"id": 9, "text": "fine"}\n{"id": 10, "text": oops}\n')
    (line,) = run(src, bad)
    assert line.startswith("Error: a Ray task failed: JSONDecodeError"), line
