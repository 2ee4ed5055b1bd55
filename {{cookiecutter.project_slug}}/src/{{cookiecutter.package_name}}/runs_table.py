"""A table of training runs: one row per run, the hyper-parameters that differ, and the metrics.

    {{ cookiecutter.package_name }}-runs                          # every run under runs/
    {{ cookiecutter.package_name }}-runs runs/lenet5-digits --sort=-best_val_accuracy
    {{ cookiecutter.package_name }}-runs --format csv > runs.csv  # or --format json, for scripts

A run is a folder holding config.yaml. Columns: run (its path below ROOT), date, model, data, the
hyper-parameters that differ between the runs (--all: every one), epochs, best_<train.monitor>,
test_accuracy and macro_f1 (after eval), exports, and a note when a file cannot be read.
`--sort KEY` takes any column or a unique part of one (learning_rate); `--sort=-KEY` descends;
missing values ('-', an empty CSV field, JSON null) sort last. TensorFlow is not imported.
"""

import argparse
import csv
import json
import math
import os
import re
import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf
from tabulate import tabulate

from .config import flatten

CONFIG_FILE, RESULT_FILE, METRICS_FILE = "config.yaml", "result.json", "metrics.json"
BEST_FILE = Path("checkpoints") / "best" / "best.json"
DEFAULT_ROOT = "runs"
# Where files go and how often something is logged or saved: never a hyper-parameter column
# (nor are their children).
BOOKKEEPING_KEYS = (
    *("run_dir", "runs_root", "checkpoint", "hydra", "distribute", "export", "logger"),
    *("callbacks", "model.name", "data.name", "data.path", "data.test_path"),
    *("data.download_dir", "data.records_dir", "data.cache", "data.num_shards"),
    *("data.shard_policy", "train.resume", "train.keep_checkpoints", "train.validation_steps"),
    *("train.checkpoint_every_steps", "train.validate_every_steps", "train.log_every_steps"),
    "train.histogram_every_steps",
)
SECTION_ORDER = ("model", "train", "data")  # of the hyper-parameter columns
LEADING, TRAILING = ("run", "date", "model", "data"), ("test_accuracy", "macro_f1", "exports")
DATE_FOLDER = re.compile(r"^\d{4}-\d{2}-\d{2}_\d{2}-\d{2}-\d{2}$")


def find_runs(root: Path) -> list[Path]:
    """Every folder below `root` (root included) that holds config.yaml, by path; hidden
    folders and the inside of a run are not searched."""
    found = []
    for folder, subfolders, files in os.walk(root):
        if CONFIG_FILE in files:
            found.append(Path(folder))
            subfolders.clear()
        subfolders[:] = [name for name in subfolders if not name.startswith(".")]
    return sorted(found)


def first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__


def read_file(path: Path, notes: list[str]) -> dict:
    """The mapping in a YAML or JSON file (config.yaml resolved where it can be); {} when it
    is absent, and a note when it cannot be read."""
    if not path.is_file():
        return {}
    try:
        content = OmegaConf.load(path) if path.suffix == ".yaml" else json.loads(path.read_text())
        if OmegaConf.is_dict(content):
            try:
                content = OmegaConf.to_container(content, resolve=True)
            except Exception:  # an interpolation that needs Hydra: as written
                content = OmegaConf.to_container(content)
    except Exception as error:  # YAML and JSON errors come in many classes
        notes.append(f"{path.name} unreadable ({first_line(error)})")
        return {}
    if not isinstance(content, dict):
        notes.append(f"{path.name} holds no mapping")
        return {}
    return content


def run_date(run_dir: Path, result: dict) -> str | None:
    """When the run started: result.json's `started`, else a <date>_<time> folder name (a
    sweep job's is its parent's), as YYYY-MM-DD HH:MM:SS in local time."""
    try:
        moment = datetime.fromisoformat(str(result["started"]).replace("Z", "+00:00"))
        if moment.tzinfo is not None:
            moment = moment.astimezone().replace(tzinfo=None)
        return moment.strftime("%Y-%m-%d %H:%M:%S")
    except (KeyError, ValueError):
        pass
    for name in reversed(run_dir.resolve().parts):
        if DATE_FOLDER.match(name):
            return datetime.strptime(name, "%Y-%m-%d_%H-%M-%S").strftime("%Y-%m-%d %H:%M:%S")
    return None


def read_run(run_dir: Path, name: str) -> dict:
    """One run's facts: name, date, hyper-parameters, results, and a note on what failed."""
    notes: list[str] = []
    flat = flatten(read_file(run_dir / CONFIG_FILE, notes))
    result = read_file(run_dir / RESULT_FILE, notes)
    metrics = read_file(run_dir / METRICS_FILE, notes)
    monitor = result.get("monitor") or flat.get("train.monitor")
    best = result.get("best_value", result.get(f"best_{monitor}"))
    if best is None:  # a run still training: the best checkpoint so far
        saved = read_file(run_dir / BEST_FILE, notes)
        monitor = monitor or saved.get("metric")
        best = saved.get("value") if saved.get("metric", monitor) == monitor else None
    exports = [p.name for p in (run_dir / "export").glob("[!.]*") if p.is_dir()]
    exports.sort(key=lambda name: (not name.isdigit(), int(name) if name.isdigit() else 0, name))
    rank = {section: index for index, section in enumerate(SECTION_ORDER)}
    hparams = [
        key
        for key in flat
        if not any(key == skip or key.startswith(skip + ".") for skip in BOOKKEEPING_KEYS)
    ]
    hparams.sort(key=lambda key: rank.get(key.split(".")[0], len(rank)))  # stable
    return {
        "run": name,
        "date": run_date(run_dir, result),
        "model": flat.get("model.name"),
        "data": flat.get("data.name"),
        "hparams": {key: flat[key] for key in hparams},
        "epochs": result.get("epochs"),
        "monitor": monitor,
        "best": None if isinstance(best, float) and math.isnan(best) else best,
        "test_accuracy": metrics.get("accuracy"),
        "macro_f1": metrics.get("macro_f1"),
        "exports": ",".join(exports) or None,
        "note": "; ".join(notes) or None,
    }


def differs(key: str, runs: Sequence[dict]) -> bool:
    """True when `runs` hold more than one value of the hyper-parameter `key`."""
    values = {json.dumps(run["hparams"].get(key, "<absent>"), sort_keys=True) for run in runs}
    return len(values) > 1


def build_rows(runs: Sequence[dict], show_all: bool = False) -> tuple[list[str], list[dict]]:
    """(columns, one dict per run keyed by column, None where a value is missing). The
    hyper-parameter columns: those whose values differ between runs with a readable config."""
    readable = [run for run in runs if run["hparams"]]
    keys = list(dict.fromkeys(key for run in readable for key in run["hparams"]))
    if not show_all:
        keys = [key for key in keys if differs(key, readable)]
    monitors = list(dict.fromkeys(run["monitor"] for run in runs if run["monitor"]))
    best_columns = [f"best_{monitor}" for monitor in monitors] or ["best"]
    columns = [*LEADING, *keys, "epochs", *best_columns, *TRAILING]
    if any(run["note"] for run in runs):
        columns.append("note")
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
        choices = ", ".join(matches or columns)
        which = "several" if matches else "no"
        raise ValueError(f"--sort {name!r} names {which} column; use one of: {choices}")
    (column,) = matches

    def order(row: dict) -> tuple:
        value = row[column]
        number = isinstance(value, int | float)
        return (0, value, "") if number else (1, 0, str(value))

    present = [row for row in rows if row[column] is not None]
    missing = [row for row in rows if row[column] is None]
    return sorted(present, key=order, reverse=key.startswith("-")) + missing


def cell(value: Any) -> Any:
    """A value as the table and CSV show it: lists and mappings as JSON."""
    return json.dumps(value) if isinstance(value, list | dict) else value


def write_output(columns: Sequence[str], rows: Sequence[dict], output_format: str) -> None:
    """The rows on stdout: an aligned table (tabulate), CSV, or a JSON list of row dicts."""
    if output_format == "json":
        print(json.dumps(list(rows), indent=2, default=str))
    elif output_format == "csv":
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows([cell(row[column]) for column in columns] for row in rows)
    elif rows:
        cells = [[cell(row[column]) for column in columns] for row in rows]
        print(tabulate(cells, columns, floatfmt=".4g", numalign="right", missingval="-"))


def collect_runs(roots: Sequence[str]) -> list[dict]:
    """Every run below each root, named by its path below the root (with the root when
    several are given; by its folder name when the root is a run)."""
    runs = []
    for root in map(Path, roots):
        if not root.is_dir():
            raise FileNotFoundError(
                f"{root} is not a folder. Expected a folder of runs such as {DEFAULT_ROOT}/, "
                "made by training: {{ cookiecutter.package_name }}-train"
            )
        for run_dir in find_runs(root):
            name = run_dir.relative_to(root)
            if len(roots) > 1:
                name = root / name
            elif name == Path("."):
                name = Path(root.resolve().name)
            runs.append(read_run(run_dir, name.as_posix()))
    return runs


def main(argv: Sequence[str] | None = None) -> int:
    """Prints the table of runs; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="{{ cookiecutter.package_name }}-runs",
        description="A table of the training runs below ROOT: the hyper-parameters that "
        "differ between them and their metrics.",
    )
    parser.add_argument("roots", nargs="*", metavar="ROOT", default=[DEFAULT_ROOT])
    parser.add_argument("--sort", metavar="KEY", default="run", help="--sort=-KEY descends")
    parser.add_argument("--format", choices=("table", "csv", "json"), default="table")
    parser.add_argument("--all", action="store_true", help="also hyper-parameters all share")
    arguments = list(sys.argv[1:] if argv is None else argv)
    for index, argument in enumerate(arguments[1:], 1):  # "--sort -KEY" is not an option
        if arguments[index - 1] == "--sort" and argument.startswith("-"):
            arguments[index - 1 : index + 1] = [f"--sort={argument}", ""]
    args = parser.parse_args([argument for argument in arguments if argument])
    try:
        runs = collect_runs(args.roots)
        columns, rows = build_rows(runs, args.all)
        rows = sort_rows(rows, args.sort, columns)
    except (FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    if not runs:
        print(
            f"No runs under {', '.join(args.roots)} (a run is a folder holding {CONFIG_FILE}; "
            "train one with: {{ cookiecutter.package_name }}-train)",
            file=sys.stderr,
        )
    write_output(columns, rows, args.format)
    return 0


if __name__ == "__main__":
    sys.exit(main())
