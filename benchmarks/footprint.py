"""clf-run's memory and start-up, for two or more runtime source trees or settings side by side.

    python benchmarks/footprint.py --model clf-model --texts texts10k.txt \
        --config before=../main/runtime/src --config new=runtime/src --rounds 3 --cold-runs 9

Each --config is NAME=SRC[::ARG ARG...][::ENV=VALUE,...]: clf-run from the runtime source tree SRC
(put first on PYTHONPATH), with extra clf-run arguments and extra environment variables, e.g.
`b16=runtime/src::--batch-size 16` or `arena1=runtime/src::::MALLOC_ARENA_MAX=1`.

Per configuration, measured in separate processes, the configurations interleaved in rounds so that
the machine's drift (other jobs on shared cores) hits them alike:
- peak RSS (VmHWM, the kernel's high-water mark, read at exit) of `clf-run TEXTS` and its wall time,
  from which throughput in texts/s is computed after subtracting the time to load the model;
- RSS right after `TextClassifier.load` (VmRSS then);
- cold start: wall time of `clf-run` on a one-line file, the whole process (interpreter included),
  with compiled bytecode (kept in a cache folder outside the trees) as an installed wheel has.

Prints medians per configuration and each configuration's ratio to the first one. Not a test:
numbers move with the machine; compare ratios measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

# Runs clf-run's entry point like the installed console script does, and on exit writes VmHWM and
# the times at which the model was loaded and the run ended (perf_counter, same clock as the parent).
_BOOT = r"""
import atexit, json, os, sys, time
_report = os.environ.pop("CLF_FOOTPRINT_REPORT")
_facts = {}

def _status(key):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])  # KiB
    return 0

def _write():
    _facts["end"] = time.perf_counter()
    _facts["hwm_kib"] = _status("VmHWM")
    with open(_report, "w") as f:
        json.dump(_facts, f)

atexit.register(_write)
from clf_runtime.classifier import TextClassifier
_load = TextClassifier.load.__func__

def _timed_load(cls, *args, **kwargs):
    clf = _load(cls, *args, **kwargs)
    _facts["loaded"] = time.perf_counter()
    _facts["rss_after_load_kib"] = _status("VmRSS")
    return clf

TextClassifier.load = classmethod(_timed_load)
from clf_runtime.cli.run import main
sys.argv[0] = "clf-run"
sys.exit(main())
"""

# The console script `clf-run` itself, nothing added: what a user waits for.
_ENTRY = "import sys\nfrom clf_runtime.cli.run import main\nsys.argv[0] = 'clf-run'\nsys.exit(main())"


PYCACHE = os.path.join(tempfile.gettempdir(), "clf-footprint-pycache")


@dataclass
class Config:
    name: str
    src: Path
    args: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, spec: str) -> Config:
        name, _, rest = spec.partition("=")
        parts = rest.split("::")
        args = parts[1].split() if len(parts) > 1 else []
        env = dict(kv.split("=", 1) for kv in parts[2].split(",") if kv) if len(parts) > 2 else {}
        return cls(name, Path(parts[0]).resolve(), args, env)

    def environ(self) -> dict[str, str]:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([str(self.src), env.get("PYTHONPATH", "")]).strip(os.pathsep)
        # Compiled bytecode, as an installed wheel has (pip compiles on install), kept outside the
        # source trees; PYTHONDONTWRITEBYTECODE would compile every module at every start.
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = PYCACHE
        env.update(self.env)
        return env


def run_big(config: Config, model: Path, texts: Path, count: int, python: str) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        env = config.environ()
        env["CLF_FOOTPRINT_REPORT"] = str(report)
        cmd = [python, "-c", _BOOT, str(texts), "--model", str(model), "-o", os.devnull, *config.args]
        start = time.perf_counter()
        done = subprocess.run(cmd, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - start
        if done.returncode != 0:
            raise SystemExit(f"{config.name}: clf-run failed:\n{done.stderr[-2000:]}")
        facts = json.loads(report.read_text())
    run_s = facts["end"] - facts["loaded"]
    return {
        "peak_mib": facts["hwm_kib"] / 1024,
        "after_load_mib": facts["rss_after_load_kib"] / 1024,
        "wall_s": wall,
        "texts_per_s": count / run_s,
    }


def cold_start(config: Config, model: Path, one: Path, python: str) -> float:
    cmd = [python, "-c", _ENTRY, str(one), "--model", str(model), *config.args]
    start = time.perf_counter()
    done = subprocess.run(cmd, env=config.environ(), capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{config.name}: clf-run failed:\n{done.stderr[-2000:]}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, type=Path, help="Artifact folder.")
    parser.add_argument("--texts", required=True, type=Path, help="Text file, one text per line.")
    parser.add_argument("--config", action="append", required=True, help="NAME=SRC[::ARGS][::ENV=V,...]")
    parser.add_argument("--rounds", type=int, default=3, help="Runs over TEXTS per configuration.")
    parser.add_argument("--cold-runs", type=int, default=9, help="One-line runs per configuration.")
    parser.add_argument("--python", default=sys.executable)
    parser.add_argument("--json", type=Path, default=None, help="Also write the results here.")
    args = parser.parse_args()

    configs = [Config.parse(c) for c in args.config]
    if len({c.name for c in configs}) != len(configs):
        raise SystemExit("give each --config a different NAME")
    with open(args.texts, "rb") as f:
        count = sum(1 for _ in f)
        f.seek(0)
        first = f.readline()
    big: dict[str, list[dict[str, float]]] = {c.name: [] for c in configs}
    cold: dict[str, list[float]] = {c.name: [] for c in configs}
    with tempfile.TemporaryDirectory() as tmp:
        one = Path(tmp) / "one.txt"
        one.write_bytes(first)
        for c in configs:  # warm the page cache and compile the bytecode; not counted
            cold_start(c, args.model, one, args.python)
        for r in range(args.cold_runs):
            for c in configs if r % 2 == 0 else reversed(configs):
                cold[c.name].append(cold_start(c, args.model, one, args.python))
        for r in range(args.rounds):
            for c in configs if r % 2 == 0 else reversed(configs):
                big[c.name].append(run_big(c, args.model, args.texts, count, args.python))
                print(f"round {r + 1} {c.name}: {json.dumps(big[c.name][-1])}", file=sys.stderr)

    def med(name: str, key: str) -> float:
        values = [m[key] for m in big[name]]
        return statistics.median(values) if values else float("nan")

    base = configs[0].name
    rows = []
    for c in configs:
        cold_s = statistics.median(cold[c.name]) if cold[c.name] else float("nan")
        row = {
            "config": c.name,
            "src": str(c.src),
            "args": c.args,
            "env": c.env,
            "after_load_mib": med(c.name, "after_load_mib"),
            "peak_mib": med(c.name, "peak_mib"),
            "peak_mib_runs": [round(m["peak_mib"], 1) for m in big[c.name]],
            "texts_per_s": med(c.name, "texts_per_s"),
            "texts_per_s_runs": [round(m["texts_per_s"], 1) for m in big[c.name]],
            "cold_start_s": cold_s,
            "cold_start_runs": [round(x, 3) for x in cold[c.name]],
        }
        rows.append(row)
    first_row = rows[0]
    print(f"{count} texts, {args.rounds} rounds, {args.cold_runs} cold starts; ratios against {base}")
    header = f"{'config':<14}{'after load':>12}{'peak RSS':>10}{'ratio':>7}{'texts/s':>9}{'ratio':>7}"
    print(header + f"{'cold s':>8}{'ratio':>7}")
    for row in rows:

        def ratio(key: str, row: dict = row) -> str:
            return f"{row[key] / first_row[key]:.2f}" if first_row[key] else "-"

        print(
            f"{row['config']:<14}{row['after_load_mib']:>9.1f} Mi{row['peak_mib']:>7.1f} Mi"
            f"{ratio('peak_mib'):>7}{row['texts_per_s']:>9.1f}{ratio('texts_per_s'):>7}"
            f"{row['cold_start_s']:>8.3f}{ratio('cold_start_s'):>7}"
        )
    if args.json is not None:
        args.json.write_text(json.dumps({"texts": count, "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
