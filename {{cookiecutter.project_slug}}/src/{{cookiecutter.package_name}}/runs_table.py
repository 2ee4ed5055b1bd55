"""A table of training runs: one row per run, the hyper-parameters that differ, and the metrics.

    {{ cookiecutter.package_name }}-runs                          # every run under runs/
    {{ cookiecutter.package_name }}-runs runs/lenet5-digits --sort=-best_val_accuracy
    {{ cookiecutter.package_name }}-runs --format csv > runs.csv  # or --format json, for scripts

Columns: run (a folder with config.yaml, by its path below ROOT), date, model, data, the
hyper-parameters that differ between runs (--all: every one), epochs, best_<train.monitor>,
test_accuracy and macro_f1 (after eval), exports, a note on unreadable files. `--sort=KEY`
takes any column or a unique part of one; `--sort=-KEY` descends; missing values go last."""

import argparse
import csv
import fnmatch
import json
import math
import re
import sys
from collections.abc import Sequence
from pathlib import Path

from omegaconf import OmegaConf
from tabulate import tabulate

from .config import flatten

CONFIG_FILE, RESULT_FILE, METRICS_FILE = "config.yaml", "result.json", "metrics.json"
BEST_FILE = Path("checkpoints") / "best" / "best.json"
# Where files go and how often something is logged or saved: never a hyper-parameter column.
BOOKKEEPING_KEYS = (
    *("run_dir", "runs_root", "hydra.*", "distribute.*", "logger.*", "callbacks", "model.name"),
    *("data.name", "data.*path", "data.*_dir", "data.cache", "data.num_shards", "train.resume"),
    *("data.shard_policy", "train.keep_checkpoints", "train.validation_steps", "train.*_every_*"),
)
LEADING, TRAILING = ("run", "date", "model", "data"), ("test_accuracy", "macro_f1", "exports")
DATE = re.compile(r"(\d{4}-\d{2}-\d{2})_(\d{2})-(\d{2})-(\d{2})")  # a run folder's name


def read_file(path: Path, notes: list[str]) -> dict:
    """The mapping in a YAML or JSON file; {} when it is absent, and a note when unreadable."""
    if not path.is_file():
        return {}
    try:
        if path.suffix == ".json":
            content = json.loads(path.read_text())
        else:
            content = OmegaConf.to_container(OmegaConf.load(path), resolve=True)
        if not isinstance(content, dict):
            raise ValueError("no mapping")
        return content
    except Exception as error:  # YAML and JSON errors come in many classes
        notes.append(f"{path.name} unreadable ({str(error).strip().splitlines()[0]})")
        return {}


def read_run(run_dir: Path, name: str) -> dict:
    """One run's facts: name, date, hyper-parameters, results, and a note on what failed."""
    notes: list[str] = []
    flat = flatten(read_file(run_dir / CONFIG_FILE, notes))
    result = read_file(run_dir / RESULT_FILE, notes)
    metrics = read_file(run_dir / METRICS_FILE, notes)
    monitor = flat.get("train.monitor")
    best = result.get(f"best_{monitor}")
    if best is None:  # a run still training: the best checkpoint so far
        saved = read_file(run_dir / BEST_FILE, notes)
        best = saved.get("value") if saved.get("metric") == monitor else None
    # When it started: result.json's `started`, else the last dated folder of its path (a
    # sweep job's is its parent's).
    dates = ["{} {}:{}:{}".format(*date) for date in DATE.findall(run_dir.resolve().as_posix())]
    date = str(result.get("started", "")).replace("T", " ") or (dates[-1] if dates else None)
    exports = sorted((p.name for p in (run_dir / "export").glob("[0-9]*") if p.is_dir()), key=int)
    skip = [key for key in flat if any(fnmatch.fnmatchcase(key, p) for p in BOOKKEEPING_KEYS)]
    return {
        "run": name,
        "date": date,
        "model": flat.get("model.name"),
        "data": flat.get("data.name"),
        "hparams": {key: value for key, value in flat.items() if key not in skip},
        "epochs": result.get("epochs"),
        "monitor": monitor,
        "best": None if isinstance(best, float) and math.isnan(best) else best,
        "test_accuracy": metrics.get("accuracy"),
        "macro_f1": metrics.get("macro_f1"),
        "exports": ",".join(exports) or None,
        "note": "; ".join(notes) or None,
    }


def build_rows(runs: Sequence[dict], show_all: bool = False) -> tuple[list[str], list[dict]]:
    """(columns, one dict per run keyed by column, None where a value is missing). The
    hyper-parameter columns: those whose values differ between runs with a readable config."""
    readable = [run for run in runs if run["hparams"]]
    keys = list(dict.fromkeys(key for run in readable for key in run["hparams"]))
    if not show_all:  # the keys with more than one value
        values = {key: {json.dumps(run["hparams"].get(key)) for run in readable} for key in keys}
        keys = [key for key in keys if len(values[key]) > 1]
    monitors = list(dict.fromkeys(run["monitor"] for run in runs if run["monitor"]))
    best_columns = [f"best_{monitor}" for monitor in monitors] or ["best"]
    columns = [*LEADING, *keys, "epochs", *best_columns, *TRAILING]
    columns += ["note"] if any(run["note"] for run in runs) else []
    rows = []
    for run in runs:
        values = {**run, **run["hparams"], f"best_{run['monitor']}": run["best"]}
        rows.append({column: values.get(column) for column in columns})
    return columns, rows


def sort_rows(rows: list[dict], key: str, columns: Sequence[str]) -> list[dict]:
    """`rows` by the column `key` names ('-key': descending), numbers numerically, missing
    values last. A key names a column exactly, by its last part, or as a unique prefix."""
    name = key.lstrip("-")
    matches = [name] if name in columns else [c for c in columns if c.endswith("." + name)]
    matches = matches or [c for c in columns if c.startswith(name)]
    if len(matches) != 1:
        which = "several" if matches else "no"
        raise ValueError(f"--sort {name!r} names {which} column; use one of: {', '.join(columns)}")
    (column,) = matches
    present = [row for row in rows if row[column] is not None]
    missing = [row for row in rows if row[column] is None]
    numbers = all(isinstance(row[column], int | float) for row in present)
    order = (lambda row: row[column]) if numbers else (lambda row: str(row[column]))
    return sorted(present, key=order, reverse=key.startswith("-")) + missing


def write_output(columns: Sequence[str], rows: Sequence[dict], output_format: str) -> None:
    """The rows on stdout: an aligned table (tabulate), CSV, or a JSON list of row dicts; the
    table and the CSV show lists and mappings as JSON."""
    cells = [
        [json.dumps(v) if isinstance(v, list | dict) else v for v in r.values()] for r in rows
    ]
    if output_format == "json":
        print(json.dumps(list(rows), indent=2, default=str))
    elif output_format == "csv":
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerows([columns, *cells])
    elif rows:
        print(tabulate(cells, columns, floatfmt=".4g", numalign="right", missingval="-"))


def collect_runs(roots: Sequence[str]) -> list[dict]:
    """Every run (a folder with config.yaml, outside hidden folders such as a sweep's .hydra/)
    below each root, named by its path below it (with the root when there are several)."""
    runs = []
    for root in map(Path, roots):
        if not root.is_dir():
            raise FileNotFoundError(f"{root} is not a folder of runs (such as runs/).")
        for config in sorted(root.rglob(CONFIG_FILE)):
            name = config.parent.relative_to(root)
            if any(part.startswith(".") for part in name.parts):
                continue
            if len(roots) > 1 or not name.parts:  # several roots, or a run as the root
                name = root / name if len(roots) > 1 else Path(root.resolve().name)
            runs.append(read_run(config.parent, name.as_posix()))
    return runs


def main(argv: Sequence[str] | None = None) -> int:
    """Prints the table of runs; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("roots", nargs="*", metavar="ROOT", default=["runs"])
    parser.add_argument("--sort", metavar="KEY", default="run", help="--sort=-KEY descends")
    parser.add_argument("--format", choices=("table", "csv", "json"), default="table")
    parser.add_argument("--all", action="store_true", help="also hyper-parameters all share")
    args = parser.parse_args(argv)
    try:
        runs = collect_runs(args.roots)
        columns, rows = build_rows(runs, args.all)
        rows = sort_rows(rows, args.sort, columns)
    except (FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    if not runs:
        print(f"No runs under {' '.join(args.roots)}: no {CONFIG_FILE} there.", file=sys.stderr)
    write_output(columns, rows, args.format)
    return 0


if __name__ == "__main__":
    sys.exit(main())
