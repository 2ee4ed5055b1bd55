"""The bad-input sweep of issue 22, run on a CNN and an RNN bake as a user would hit it.

Each case runs the bake's commands (`python -m <package>.<module>`, PYTHONPATH=src) in a fresh
scratch copy of the bake, with a 60-s limit per command (a hang is a failure), then looks for
what was left behind: `*.tmp` and staging files, `lock` files, run folders without a
checkpoint, `runs/latest` naming one, files written outside runs/ and data/records. It prints
a Markdown table; a case is ok when each command ends with an expected exit code, its line
names what was wrong (or, on success, a warning names what was left out), with no traceback, no
hang and nothing left behind. Bake both from the working tree first:

    .venv/bin/cookiecutter --no-input --output-dir /tmp/sweep_cnn . model_type=cnn
    .venv/bin/cookiecutter --no-input --output-dir /tmp/sweep_rnn . model_type=rnn
    .venv/bin/python tools/fault_sweep.py /tmp/sweep_cnn/my_tf_project /tmp/sweep_rnn/my_tf_project

`--only word,...` runs the cases whose name has a word; `--lock FILE` flocks FILE around each
case (a machine whose CPUs others share); `--keep DIR` keeps the copies and each command's log.
"""

import argparse
import contextlib
import fcntl
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import tabulate
from PIL import Image

TIMEOUT = 60  # seconds a command may take (after its signal, for the signal cases)
MOMENT_TIMEOUT = 180  # seconds to wait for the moment a signal is sent at
TRAIN, EVAL, EXPORT, PREDICT = "train", "eval", "export", "predict"
PREPROCESS = "data.preprocess_data"
TINY = ["train.epochs=1", "train.steps_per_epoch=2", "train.batch_size=8", "train.min_steps=0"]
IMG = ["data=image_folder", "data.path=imgs", *TINY]  # the shared trained run's config
SYN = ["data=synthetic", *TINY]
LONG = ["data=synthetic", "train.epochs=1000", "train.steps_per_epoch=2"]
CKPT_EVERY_STEP = ["train.checkpoint_every_steps=1", "train.steps_per_loop=1"]
RUN_FILES = "runs/*/*/"
STARTED = []  # every command started, stopped at the end if still running
TEMPORARY = r"\.tmp$|_temp$|\.tempstate|^\.staging-"  # ours, TF checkpoints', export's


@dataclass
class Step:
    """One command: `module` with `args`; `expect` the exit codes that are right. `says` must be
    printed when it fails, `warns` when it succeeds. `wait_for` (a glob) is the moment `send`
    is sent at, or the moment a `background` command is left running at."""

    module: str
    args: list[str] = field(default_factory=list)
    expect: tuple[int, ...] = (1,)
    says: str = ""
    warns: str = ""
    wait_for: str = ""
    send: int = 0
    background: bool = False
    copies: int = 1


@dataclass
class Case:
    name: str
    steps: list[Step]
    start: str = "fresh"  # a fresh copy of each bake, or "trained": of the shared CNN run
    setup: Callable[[Path], object] | None = None  # prepares the project folder
    bakes: tuple[str, ...] = ("cnn",)  # fresh copies of these bakes


# === Setups: the bad inputs ===


def write_images(folder: Path, classes: int = 3, per_class: int = 40) -> None:
    """Small random gray images, one sub-folder per class."""
    rng = np.random.default_rng(0)
    for label in range(classes):
        (folder / f"c{label}").mkdir(parents=True, exist_ok=True)
        for index in range(per_class):
            pixels = rng.integers(0, 256, (12, 12), dtype=np.uint8) // (label + 1)
            Image.fromarray(pixels).save(folder / f"c{label}" / f"{index:03d}.png")


def damage(project: Path, name: str, size: int = 0) -> None:
    """Cuts a records file of the project to `size` bytes, or overwrites 64 in its middle."""
    path = next((project / "data" / "records").glob(f"*/{name}"))
    if size:
        return os.truncate(path, size)
    with path.open("r+b") as opened:
        opened.seek(path.stat().st_size // 2)
        opened.write(b"\xff" * 64)


def touch(name: str) -> Callable[[Path], None]:
    return lambda project: (project / name).touch()


def predict_inputs(project: Path, folder: str, suffixes: tuple[str, ...]) -> None:
    (project / folder).mkdir()
    for suffix in suffixes:
        image = Image.open(next((project / "imgs" / "c0").glob("*.png")))
        image.save(project / folder / f"input{suffix}")


# === The cases of issue 22 (and a few of their neighbours) ===


# fmt: off
INTERRUPTED, EMOJI = {"expect": (130,), "send": signal.SIGINT}, "\N{SLIGHTLY SMILING FACE}"
BUSY, BOTH = "busy|still|in use|training", ("cnn", "rnn")
CASES = [
    Case("symlink loop in image folder", [Step(PREPROCESS, IMG, (0, 1), "loop", "loop")],
         setup=lambda p: (p / "imgs/c0/loop").symlink_to("loop")),
    Case("symlink to a parent in image folder", [Step(PREPROCESS, IMG, (0, 1), "loop", "loop")],
         setup=lambda p: (p / "imgs/c0/up").symlink_to("..")),
    Case("data.records_dir is a file",
         [Step(PREPROCESS, ["data=synthetic", "data.records_dir=afile"], says="records_dir")],
         setup=touch("afile"), bakes=BOTH),
    Case("data.channels=2", [Step(TRAIN, [*SYN, "data.channels=2"], says="channels")]),
    Case("TFRecord shard corrupted", [Step(TRAIN, IMG, (0, 1), "preprocess", "preprocess")],
         "trained", lambda p: damage(p, "train.tfrecord")),
    Case("TFRecord shard truncated", [Step(TRAIN, IMG, (0, 1), "preprocess", "preprocess")],
         "trained", lambda p: damage(p, "train.tfrecord", 1000)),
    Case("two preprocess at once",
         [Step(PREPROCESS, ["data=synthetic", "data.num_examples=4000"], (0,), copies=2)],
         bakes=BOTH),
    Case("SIGINT during preprocess",
         [Step(PREPROCESS, ["data=synthetic", "data.num_examples=20000"],
               wait_for="data/records/*/*", **INTERRUPTED)], bakes=BOTH),
    Case("SIGINT during a checkpoint save (not the first)",
         [Step(TRAIN, [*LONG, *CKPT_EVERY_STEP], **INTERRUPTED,
               wait_for=RUN_FILES + "checkpoints/ckpt-[2-9]*_temp")], bakes=BOTH),
    Case("SIGINT during export",
         [Step(EXPORT, wait_for=RUN_FILES + "export/.staging-*", **INTERRUPTED)], "trained"),
    Case("SIGTERM during training", [Step(TRAIN, LONG, (143,), send=signal.SIGTERM,
                                          wait_for=RUN_FILES + "checkpoints/checkpoint")],
         bakes=BOTH),
    Case("train.batch_size=100000",
         [Step(TRAIN, [*SYN, "train.batch_size=100000"], (0, 1), "batch_size")], bakes=BOTH),
    Case("a FIFO among the images", [Step(PREPROCESS, IMG, (0, 1), "pipe.png", "pipe.png")],
         setup=lambda p: os.mkfifo(p / "imgs/c0/pipe.png")),
    Case("run_dir inside the data folder",
         [Step(TRAIN, [*IMG, "run_dir=imgs/run1"], says="run_dir")], "trained"),
    Case("test folder a copy of the training data",
         [Step(TRAIN, [*IMG, "data.test_path=imgs_test"], (0, 1), "overlap", "overlap")],
         setup=lambda p: shutil.copytree(p / "imgs", p / "imgs_test")),
    Case("train.learning_rate=-1",
         [Step(TRAIN, [*SYN, "train.learning_rate=-1"], says="learning_rate")], bakes=BOTH),
    Case("eval of a run still training",
         [Step(TRAIN, LONG, wait_for=RUN_FILES + "checkpoints/checkpoint", background=True),
          Step(EVAL, [], (0, 1), BUSY, BUSY)], bakes=BOTH),
    Case("failed start: train.init_from=runs/nosuchrun, then eval",
         [Step(TRAIN, [*IMG, "train.init_from=runs/nosuchrun"], says="init_from"),
          Step(EVAL, [], (0,))], "trained"),
    Case("failed start: model.dropout_rate=1.5, then eval",
         [Step(TRAIN, [*IMG, "model.dropout_rate=1.5"], says="dropout_rate"),
          Step(EVAL, [], (0,))], "trained"),
    Case("predict a .webp", [Step(PREDICT, ["inputs=preds"], (0,), warns=r"input\.webp")],
         "trained", lambda p: predict_inputs(p, "preds", (".png", ".webp"))),
    Case("a FIFO among predict's inputs",
         [Step(PREDICT, ["inputs=preds"], (0,), warns=r"pipe\.png")], "trained",
         lambda p: (predict_inputs(p, "preds", (".png",)), os.mkfifo(p / "preds/pipe.png"))),
    Case("class folder starting with a dot", [Step(PREPROCESS, IMG, (0, 1), ".hidden", ".hidden")],
         setup=lambda p: write_images(p / "imgs" / ".hidden", 1, 3)),
    Case("image directly in data.path", [Step(PREPROCESS, IMG, (0, 1), "stray.png", "stray.png")],
         setup=lambda p: shutil.copy(next(p.glob("imgs/c0/*.png")), p / "imgs/stray.png")),
    Case("data.image_size=[0,0]",
         [Step(TRAIN, [*SYN, "data.image_size=[0,0]"], says="image_size")]),
    Case("data.sequence_length=0",
         [Step(TRAIN, [*SYN, "data.sequence_length=0"], says="sequence_length")], bakes=("rnn",)),
    Case("model.dropout_rate=1.5, then 0.5 into the same run_dir",
         [Step(TRAIN, [*SYN, "model.dropout_rate=1.5", "run_dir=runs/x"], says="dropout_rate"),
          Step(TRAIN, [*SYN, "model.dropout_rate=0.5", "run_dir=runs/x"], (0,))], bakes=BOTH),
    Case("train.learning_rate=nan",
         [Step(TRAIN, [*SYN, "train.learning_rate=nan"], says="learning_rate")], bakes=BOTH),
    Case("runs_root is a file", [Step(TRAIN, [*SYN, "runs_root=afile"], says="runs_root")],
         setup=touch("afile"), bakes=BOTH),
    Case("records metadata.json truncated",
         [Step(TRAIN, IMG, (0, 1), r"metadata\.json", r"metadata\.json")],
         "trained", lambda p: damage(p, "metadata.json", 200)),
    Case("run's assets/metadata.json truncated", [Step(EVAL, [], (0, 1), r"metadata\.json")],
         "trained", lambda p: os.truncate(next(p.glob(RUN_FILES + "assets/metadata.json")), 200)),
    Case("CSV with only a header", [Step(PREPROCESS, ["data=csv", "data.path=header.csv"],
                                         says="no (rows|examples|data)|empty|only a header")],
         setup=lambda p: (p / "header.csv").write_text("text,label\n"), bakes=("rnn",)),
    Case("0-byte CSV", [Step(PREPROCESS, ["data=csv", "data.path=empty.csv"],
                             says="empty|0 bytes|no header|no (rows|data)")],
         setup=touch("empty.csv"), bakes=("rnn",)),
    Case("predict path with spaces and emoji",
         [Step(PREDICT, [f"inputs=my imgs {EMOJI}"], (0, 1), "inputs", r"input\.png")],
         "trained", lambda p: predict_inputs(p, f"my imgs {EMOJI}", (".png",))),
    Case("stale lock file in the run",
         [Step(TRAIN, [*IMG, "train.resume=latest", "train.epochs=2"], (0,))], "trained",
         lambda p: next(p.glob(RUN_FILES + "config.yaml")).with_name("lock").write_text("PID 9")),
    Case("resume with data.path=imgs/ (trailing slash)",
         [Step(TRAIN, [*IMG, "data.path=imgs/", "train.resume=latest", "train.epochs=2"], (0,))],
         "trained"),
]
# fmt: on


# === Running a case ===


def start(project: Path, step: Step, log: Path) -> subprocess.Popen:
    """Starts the step's command in its own process group, its output into `log`."""
    package = next(path.parent.name for path in (project / "src").glob("*/__init__.py"))
    command = [sys.executable, "-m", f"{package}.{step.module}", *step.args]
    env = {**os.environ, "PYTHONPATH": "src", "TF_CPP_MIN_LOG_LEVEL": "2"}
    env["PYTHONDONTWRITEBYTECODE"] = "1"  # no __pycache__ among the files written
    with log.open("wb") as output:
        STARTED.append(subprocess.Popen(
            command, cwd=project, env=env, stdin=subprocess.DEVNULL, stdout=output,
            stderr=subprocess.STDOUT, start_new_session=True,
        ))  # fmt: skip
    return STARTED[-1]


def wait_for(project: Path, pattern: str, process: subprocess.Popen) -> bool:
    """Polls for a file matching `pattern` while `process` runs; True once one is there."""
    deadline = time.monotonic() + MOMENT_TIMEOUT
    while process.poll() is None and time.monotonic() < deadline:
        if next(project.glob(pattern), None) is not None:
            return True
        time.sleep(0.002)
    return False


def finish(process: subprocess.Popen, send: int = 0) -> int | None:
    """Sends `send` to the process group if given; the exit code, None (killed) if it hangs."""
    if send and process.poll() is None:
        os.killpg(process.pid, send)
    try:
        code = process.wait(TIMEOUT)
        return 128 - code if code < 0 else code  # killed by signal N: 128 + N, as a shell says
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        return None


def run_step(project: Path, step: Step, log: Path, background: list) -> tuple[list, list, list]:
    """Runs one step: (exit codes, outputs, notes); a background command joins `background`."""
    logs = [log.with_suffix(f".{copy}.log") for copy in range(step.copies)]
    processes = [start(project, step, path) for path in logs]
    notes = []
    if step.wait_for and not wait_for(project, step.wait_for, processes[0]):
        notes.append(f"never saw {step.wait_for}")
    if step.background:
        background.extend(processes)
        return [], [], notes
    if step.send and processes[0].poll() is not None:
        notes.append("ended before the signal")
    codes = [finish(process, step.send) for process in processes]
    return codes, [path.read_text(errors="replace") for path in logs], notes


def told(step: Step, code: int | None, output: str) -> str:
    """The line a user reads: the last one (Hydra's closing advice aside), or on success the
    first that `warns` matches, INFO log lines aside (a warning or a result row must say it)."""
    lines = [re.sub(r"\x1b\[[0-9;]*m", "", line).strip() for line in re.split("[\r\n]", output)]
    lines = [line for line in lines if line and not line.startswith("Set the environment var")]
    warned = [line for line in lines if " INFO " not in line and re.search(step.warns, line)]
    line = warned[0] if code == 0 and step.warns and warned else (lines or [""])[-1]
    return re.sub(r"^\d{4}-\d\d-\d\d [\d:,]+ ", "", line)  # the log's time stamp


def judge(step: Step, codes: list, outputs: list) -> list[str]:
    """What is wrong with a step's results: exit code, its one line, a traceback, a long line."""
    problems = []
    for code, output in zip(codes, outputs, strict=True):
        if code is None:
            problems.append(f"hang (killed after {TIMEOUT} s)")
        elif code not in step.expect:
            problems.append(f"exit {code}, expected {'/'.join(map(str, step.expect))}")
        wanted = step.says if code else step.warns
        if wanted and not re.search(wanted, told(step, code, output)):
            problems.append(f"its line lacks /{wanted}/")
        if "Traceback" in output:
            problems.append("traceback")
        longest = max(map(len, output.splitlines()), default=0)
        if longest > 1000:
            problems.append(f"a line of {longest} characters")
    return problems


# === What a case left behind ===


def files(project: Path) -> dict[str, list[str]]:
    """The project's files (symlinks not followed), by kind: all, temporary, lock."""
    found = {"all": [], "temporary": [], "lock": []}
    for folder, folders, names in os.walk(project):
        for name in names + folders:
            relative = os.path.relpath(os.path.join(folder, name), project)
            found["all"] += [relative] if name in names else []
            found["temporary"] += [relative] if re.search(TEMPORARY, name) else []
            found["lock"] += [relative] if name == "lock" or name.endswith(".lock") else []
    return found


def leftovers(project: Path, before: set[str]) -> list[str]:
    """Temporary and lock files, run folders without a checkpoint (or named by runs/latest),
    files written outside runs/ and data/records/ (into the data folder, say)."""
    found, runs = files(project), project / "runs"
    found["run without checkpoint"] = [
        str(path.parent.relative_to(project))
        for path in runs.rglob("config.yaml")
        if not (path.parent / "checkpoints" / "checkpoint").is_file()
    ]
    latest = (runs / "latest").read_text().strip() if (runs / "latest").is_file() else ""
    if latest and not (runs / latest / "checkpoints" / "checkpoint").is_file():
        found["runs/latest names a run without checkpoint"] = [latest]
    found["written"] = [
        path
        for path in sorted(set(found.pop("all")) - before)
        if not path.startswith(("runs/", "data/records/"))
    ]
    return [f"{kind}: {', '.join(paths[:2])}" for kind, paths in found.items() if paths]


def run_case(case: Case, project: Path, bake: str) -> dict:
    """Runs a case's steps in `project`; its row of the table."""
    if case.setup:
        case.setup(project)
    before, background = set(files(project)["all"]), []
    codes, problems, outputs, lines, began = [], [], [], [], time.monotonic()
    for index, step in enumerate(case.steps):
        log = project.parent / f"step{index}"
        step_codes, step_outputs, notes = run_step(project, step, log, background)
        problems += notes + judge(step, step_codes, step_outputs)
        codes += ["/".join("hang" if code is None else str(code) for code in step_codes)]
        results = sorted(zip(step_codes, step_outputs, strict=True), key=lambda r: r[0] == 0)
        lines += [(code, told(step, code, output)) for code, output in results[:1]]
        outputs += step_outputs
    line = next((said for code, said in lines if code), lines[-1][1])  # the first failure's
    seconds = time.monotonic() - began
    for process in background:
        finish(process, signal.SIGTERM)
    left = leftovers(project, before)
    return {
        "case": case.name,
        "bake": bake,
        "exit": " → ".join(code for code in codes if code),
        "s": f"{seconds:.0f}",
        "last line": line[:160].replace("|", "\\|"),
        "traceback": "traceback" if any("Traceback" in out for out in outputs) else "",
        "leftovers": "; ".join(left),
        "verdict": "; ".join(problems + left) or "ok",
    }


# === The sweep ===


@contextlib.contextmanager
def locked(path: str | None) -> Iterator[None]:
    """Holds an exclusive flock on `path` (if given): one CPU-heavy job at a time."""
    with open(path) if path else contextlib.nullcontext() as lock:
        if lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def copy_project(source: Path, target: Path, fresh: bool = False) -> Path:
    """A copy of a project folder; `fresh`: without its runs, data and caches."""
    unwanted = {".venv", "runs", "data", ".pytest_cache", ".ruff_cache"} if fresh else set()
    shutil.copytree(
        source, target, symlinks=True,
        ignore=lambda folder, names: unwanted & set(names) if folder == str(source) else (),
    )  # fmt: skip
    return target


def prepare(bakes: dict[str, Path], scratch: Path, trained: bool) -> dict[str, Path]:
    """The starting points: each bake with an image folder, and a CNN run trained and exported."""
    bases = {
        name: copy_project(bake, scratch / name / bake.name, True) for name, bake in bakes.items()
    }
    write_images(bases["cnn"] / "imgs")
    if trained:
        bases["trained"] = copy_project(bases["cnn"], scratch / "trained" / bakes["cnn"].name)
        for step in (Step(TRAIN, IMG), Step(EXPORT)):
            log = scratch / f"trained-{step.module}.log"
            if start(bases["trained"], step, log).wait() != 0:
                sys.exit(f"The shared trained run failed; see {log}")
    return bases


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cnn", type=Path, help="a baked CNN project folder")
    parser.add_argument("rnn", type=Path, help="a baked RNN project folder")
    parser.add_argument("--only", default="", help="comma-separated words: cases naming one")
    parser.add_argument("--lock", help="a file to flock around each case (shared CPUs)")
    parser.add_argument("--keep", type=Path, help="a folder for the scratch copies, kept")
    args = parser.parse_args()
    words = [word for word in args.only.split(",") if word]
    selected = [case for case in CASES if not words or any(w in case.name for w in words)]
    scratch = args.keep or Path(tempfile.mkdtemp(prefix="fault_sweep_"))
    with locked(args.lock):
        bakes = {"cnn": args.cnn.resolve(), "rnn": args.rnn.resolve()}
        bases = prepare(bakes, scratch, any(case.start == "trained" for case in selected))
    rows, runs = [], [(case, bake) for case in selected for bake in case.bakes]
    try:
        for number, (case, bake) in enumerate(runs, 1):
            base = bases["trained" if case.start == "trained" else bake]
            project = copy_project(base, scratch / f"case{number:02d}" / "project")
            with locked(args.lock):
                rows.append(run_case(case, project, bake))
            print(f"{case.name} ({bake}): {rows[-1]['verdict']}", file=sys.stderr, flush=True)
    finally:  # a sweep stopped by Ctrl-C leaves no command of its own running
        for process in STARTED:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
    print(tabulate.tabulate(rows, headers="keys", tablefmt="github"))
    if not args.keep:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
