"""How fast, and in how much memory, does preprocess write the records of a data set?

Runs `{{ cookiecutter.package_name }}-preprocess` in a fresh process (new records folder each
time, so nothing is reused) and prints the whole command's wall time, {{ "images" if cookiecutter.model_type == "cnn" else "examples" }}/s and peak
resident memory (the process' own ru_maxrss, from os.wait4) and CPU time (user + system;
steadier than the wall time on a busy machine):

{%- if cookiecutter.model_type == "cnn" %}
    python scripts/benchmark_preprocess.py --make-photos /tmp/photos --count 2000  # 1024x768 JPEGs
    python scripts/benchmark_preprocess.py data=image_folder data.path=/tmp/photos --repeat 3
{%- else %}
    python scripts/benchmark_preprocess.py --make-csv /tmp/big.csv --count 500000
    python scripts/benchmark_preprocess.py data=csv data.path=/tmp/big.csv --repeat 3
{%- endif %}

`--src` measures another checkout's package (e.g. an older bake) with the same command.
"""

import argparse
{%- if cookiecutter.model_type == "rnn" %}
import csv
{%- endif %}
import json
import os
import subprocess
import sys
import tempfile
import time
{%- if cookiecutter.model_type == "cnn" %}
from concurrent.futures import ThreadPoolExecutor
{%- endif %}
from pathlib import Path

import numpy as np
{%- if cookiecutter.model_type == "cnn" %}
import tensorflow as tf

PHOTO_CLASSES = ("warm", "cool")
{%- else %}

SPAM_WORDS = ["free", "cash", "prize", "call", "now", "win", "text"]
HAM_WORDS = ["see", "you", "at", "lunch", "when", "home", "thanks", "ok"]
{%- endif %}

PACKAGE = "{{ cookiecutter.package_name }}"
SOURCE_DIR = Path(__file__).resolve().parents[1] / "src"

{% if cookiecutter.model_type == "cnn" %}
def photo(rng: np.random.Generator, grain: np.ndarray, label: int) -> np.ndarray:
    """A 768x1024 colour "photo": a tinted gradient, blotches and sensor-like grain.

    The grain makes the JPEG as large as a phone photo of that size (about 290 KB).
    """
    height, width = 768, 1024
    rows = np.linspace(0.5, 1.0, height, dtype=np.float32)[:, None, None]
    columns = np.linspace(0.7, 1.0, width, dtype=np.float32)[None, :, None]
    tint = np.array([[200, 120, 60], [60, 120, 200]][label], np.float32)
    blotches = rng.normal(0, 40, (height // 32, width // 32, 3)).astype(np.float32)
    blotches = np.repeat(np.repeat(blotches, 32, axis=0), 32, axis=1)
    top, left = rng.integers(0, grain.shape[0] - height), rng.integers(0, grain.shape[1] - width)
    image = tint * rows * columns + blotches + grain[top : top + height, left : left + width]
    return np.clip(image, 0, 255).astype(np.uint8)


def make_photos(folder: Path, count: int, seed: int = 0) -> None:
    """Writes `count` JPEG photos (quality 90) into folder/warm/ and folder/cool/."""
    rng = np.random.default_rng(seed)
    grain = rng.normal(0, 13, (1536, 2048, 3)).astype(np.float32)
    for name in PHOTO_CLASSES:
        (folder / name).mkdir(parents=True, exist_ok=True)

    def write(index: int) -> None:
        label = index % len(PHOTO_CLASSES)
        image = photo(np.random.default_rng([seed, index]), grain, label)
        path = folder / PHOTO_CLASSES[label] / f"{index:06d}.jpg"
        path.write_bytes(tf.io.encode_jpeg(image, quality=90).numpy())

    with ThreadPoolExecutor(os.cpu_count()) as pool:
        list(pool.map(write, range(count)))
    size = sum(path.stat().st_size for path in folder.rglob("*.jpg"))
    print(f"Wrote {count} 1024x768 JPEGs ({size / 1e6:.0f} MB) to {folder}")
{%- else %}
def make_csv(path: Path, count: int, seed: int = 0) -> None:
    """Writes a CSV of `count` short messages, `ham` or `spam`, with a text,label header."""
    rng = np.random.default_rng(seed)
    with open(path, "w", newline="", encoding="utf-8") as csv_file:
        writer = csv.writer(csv_file)
        writer.writerow(["text", "label"])
        for index in range(count):
            words = rng.choice(SPAM_WORDS if index % 2 else HAM_WORDS, size=rng.integers(4, 30))
            writer.writerow([" ".join(words), "spam" if index % 2 else "ham"])
    print(f"Wrote {count} rows ({path.stat().st_size / 1e6:.0f} MB) to {path}")
{%- endif %}


def run_preprocess(source_dir: Path, overrides: list[str], records_dir: str) -> dict:
    """Runs preprocess in a child process; returns its wall time, peak memory and counts."""
    command = [
        sys.executable,
        "-m",
        f"{PACKAGE}.data.preprocess_data",
        *overrides,
        f"data.records_dir={records_dir}",
    ]
    env = {**os.environ, "PYTHONPATH": str(source_dir), "TF_CPP_MIN_LOG_LEVEL": "2"}
    start = time.perf_counter()
    process = subprocess.Popen(command, env=env)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status):
        sys.exit(f"preprocess failed: {' '.join(command)}")
    (metadata_path,) = Path(records_dir).glob("*/metadata.json")
    metadata = json.loads(metadata_path.read_text())
    examples = sum(count["total"] for count in metadata["counts"].values())
    cpu = usage.ru_utime + usage.ru_stime
    return {"wall": wall, "cpu": cpu, "peak_gb": usage.ru_maxrss / 2**20, "examples": examples}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
{%- if cookiecutter.model_type == "cnn" %}
    parser.add_argument("--make-photos", type=Path, help="write synthetic JPEGs here and stop")
{%- else %}
    parser.add_argument("--make-csv", type=Path, help="write a synthetic CSV here and stop")
{%- endif %}
    parser.add_argument("--count", type=int, default=2000, help="how many to generate")
    parser.add_argument("--repeat", type=int, default=1, help="measurements to take")
    parser.add_argument("--src", type=Path, default=SOURCE_DIR, help="the package's src folder")
    parser.add_argument("overrides", nargs="*", help="preprocess' key=value overrides")
    args = parser.parse_args()
{%- if cookiecutter.model_type == "cnn" %}
    if args.make_photos:
        return make_photos(args.make_photos, args.count)
{%- else %}
    if args.make_csv:
        return make_csv(args.make_csv, args.count)
{%- endif %}
    rows = []
    for _ in range(args.repeat):
        with tempfile.TemporaryDirectory() as records_dir:
            rows.append(run_preprocess(args.src, args.overrides, records_dir))
    for row in rows:
        print(
            f"{row['examples']} examples in {row['wall']:.1f} s: "
            f"{row['examples'] / row['wall']:.0f} examples/s, peak {row['peak_gb']:.2f} GB, "
            f"{row['cpu']:.1f} CPU-s"
        )
    walls = sorted(row["wall"] for row in rows)
    print(
        f"wall min / median / max: {walls[0]:.1f} / {walls[len(walls) // 2]:.1f} / {walls[-1]:.1f} s"
    )


if __name__ == "__main__":
    main()
