"""`clf-bench`: latency and throughput of an exported model on this machine's providers."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import click

from clf_runtime import providers
from clf_runtime.artifact import PRECISIONS
from clf_runtime.cli import model_option, user_errors
from clf_runtime.defaults import default_model_dir


@dataclass(frozen=True)
class BenchConfig:
    model: Path
    providers: tuple[str, ...] = ("auto",)
    precision: str | None = None
    lengths: tuple[int, ...] = (16, 64, 128, 256)
    runs: int = 300
    throughput_texts: int = 2000
    batch_size: int = 32
    threads: int | None = None


def bench(config: BenchConfig) -> list[dict]:
    from clf_runtime.bench import run_suite
    from clf_runtime.classifier import TextClassifier

    results = []
    for name in config.providers:
        clf = TextClassifier.load(
            config.model, provider=name, precision=config.precision, threads=config.threads
        )
        results.append(
            run_suite(clf, config.lengths, config.runs, config.throughput_texts, config.batch_size)
        )
    return results


def render(results: list[dict]) -> str:
    lines = []
    if results:  # one machine: its CPU once, with the first variant's int8 target
        target = f", int8 target {results[0]['int8_target']}" if results[0].get("int8_target") else ""
        lines.append(f"cpu: {results[0]['cpu']}{target}")
    lines.append(f"{'provider':<8} {'precision':<9} {'input':<12} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8}")
    for r in results:
        for row in r["latency"]:
            lines.append(
                f"{r['provider']:<8} {r['precision']:<9} {row['name']:<12} "
                f"{row['p50_ms']:>8.2f} {row['p95_ms']:>8.2f} {row['p99_ms']:>8.2f}"
            )
        lines.append(
            f"{r['provider']:<8} {r['precision']:<9} throughput: {r['throughput_texts_per_s']:.0f} texts/s "
            f"(short texts, batch {r['throughput_batch_size']})"
        )
    return "\n".join(lines)


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@model_option
@click.option(
    "--provider",
    "provider_names",
    type=click.Choice(providers.CHOICES),
    multiple=True,
    help="Repeat to compare providers (default: auto).",
)
@click.option("--all-providers", is_flag=True, help="Benchmark every available provider.")
@click.option(
    "--precision",
    type=click.Choice(PRECISIONS),
    default=None,
    help="Override the variant the manifest picks for each provider.",
)
@click.option("--runs", type=click.IntRange(min=1), default=300, show_default=True)
@click.option("--lengths", default="16,64,128,256", show_default=True, help="Token lengths to time.")
@click.option("--throughput-texts", type=click.IntRange(min=1), default=2000, show_default=True)
@click.option("--batch-size", type=click.IntRange(min=1), default=32, show_default=True)
@click.option("--threads", type=click.IntRange(min=1), default=None)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def main(
    model: Path | None,
    provider_names: tuple[str, ...],
    all_providers: bool,
    precision: str | None,
    runs: int,
    lengths: str,
    throughput_texts: int,
    batch_size: int,
    threads: int | None,
    as_json: bool,
) -> None:
    """Time batch-1 latency (p50/p95/p99) and throughput of a clf model, per provider."""
    with user_errors():
        from clf_runtime.errors import InputError

        try:
            sizes = tuple(int(x) for x in lengths.split(",") if x.strip())
        except ValueError:
            raise InputError(f"--lengths must be comma-separated integers, got {lengths!r}") from None
        chosen = tuple(providers.available()) if all_providers else (provider_names or ("auto",))
        config = BenchConfig(
            model=model if model is not None else default_model_dir(),
            providers=chosen,
            precision=precision,
            lengths=sizes,
            runs=runs,
            throughput_texts=throughput_texts,
            batch_size=batch_size,
            threads=threads,
        )
        results = bench(config)
        click.echo(json.dumps(results, indent=2) if as_json else render(results))
