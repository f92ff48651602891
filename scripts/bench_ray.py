"""Tagging on Ray against one machine's two engines, as JSON: whole `tagger tag` commands on the en_ewt train text.

The text (`tagger.data.raw_text.raw_text` of UD English-EWT train, 204,577 words) is cut at paragraph
ends into `--documents` files of about equal size, and each arm tags them all with `--output-dir`:

- ray:     `--engine ray --workers 2 --threads 1`: 2 actors of 1 thread, in a Ray instance the command
           starts (Ray's start-up, the actors' start and their model loads included, as a user waits for them);
- workers: `--workers 2`: this machine's process pool, 2 workers of 1 thread, the command's process reading;
- threads: one process, `--threads 2`.

Each command is timed whole; the arms take turns for `--repeats` rounds and each reports its median
seconds, words per second (the words of the outputs over those seconds) and peak memory: the most its
whole process tree held at once, the sum of each process's PSS sampled every 0.2 s (shared pages,
such as Ray's object store, counted once across the processes sharing them). The outputs of the
arms are compared byte for byte (`--precision float32`, the default here).

    python scripts/bench_ray.py [--documents 1000] [--arms ray workers threads] [--repeats 3]
    python scripts/bench_ray.py --documents 20 --arms ray workers   # the 1.33x bar of issue 29
"""

from __future__ import annotations

import argparse
import filecmp
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

TRAIN = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "ud" / "en_ewt" / "train.conllu"
ARMS = {
    "ray": ["--engine", "ray", "--workers", "2", "--threads", "1"],
    "workers": ["--workers", "2"],
    "threads": ["--threads", "2"],
}


def write_documents(folder: Path, count: int) -> list[str]:
    """The train text's paragraphs in `count` files of about equal length, in order; their names."""
    from tagger.data.conllu_io import read_conllu
    from tagger.data.raw_text import PARAGRAPH_SEPARATOR, paragraphs

    texts = [paragraph.text for paragraph in paragraphs(read_conllu(TRAIN), str(TRAIN))]
    total, done = sum(map(len, texts)), 0
    groups: list[list[str]] = [[] for _ in range(count)]
    for text in texts:
        groups[min(count - 1, done * count // total)].append(text)
        done += len(text)
    names = [f"doc{index:04d}.txt" for index in range(count)]
    for name, group in zip(names, groups):
        (folder / name).write_text(PARAGRAPH_SEPARATOR.join(group) + "\n", encoding="utf-8")
    return names


def peak_tree_mb(process: subprocess.Popen) -> float:
    """Wait for `process`; the most memory (MB, summed PSS) it and its descendants held at one sample."""
    root, peak = psutil.Process(process.pid), 0
    while process.poll() is None:
        total = 0
        try:
            members = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            break
        for member in members:
            try:
                total += member.memory_full_info().pss
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                pass
        peak = max(peak, total)
        time.sleep(0.2)
    return peak / 2**20


def run_arm(arm: str, names: list[str], folder: Path, output: Path, args: argparse.Namespace) -> dict:
    shutil.rmtree(output, ignore_errors=True)
    command = [sys.executable, "-m", "tagger.cli", "tag", "--model", args.model, "--precision", args.precision,
               *ARMS[arm], *names, "--output-dir", str(output)]
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=folder, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    errors: list[bytes] = []
    reader = threading.Thread(target=lambda: errors.append(process.stderr.read()))
    reader.start()
    peak = peak_tree_mb(process)
    seconds = time.perf_counter() - started
    reader.join()
    if process.returncode != 0:
        raise SystemExit(f"{arm} failed: {errors[0].decode(errors='replace')[-2000:]}")
    return {"seconds": seconds, "peak_mb": peak}


def words_in(output: Path) -> int:
    """Syntactic words in the CoNLL-U outputs: token lines with a plain number as ID."""
    return sum(line.split("\t", 1)[0].isdigit() for path in output.iterdir() for line in path.open(encoding="utf-8"))


def processor() -> str:
    """The CPU's model name (Linux), else what the platform says."""
    cpuinfo = Path("/proc/cpuinfo")
    names = [line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines()
             if line.startswith("model name")] if cpuinfo.exists() else []
    return names[0] if names else platform.processor() or platform.machine()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--documents", type=int, default=1000)
    parser.add_argument("--arms", nargs="+", choices=list(ARMS), default=list(ARMS))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--model", default="en_ewt")
    parser.add_argument("--precision", default="float32")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench_ray_") as temporary:
        folder = Path(temporary)
        names = write_documents(folder, args.documents)
        runs: dict[str, list[dict]] = {arm: [] for arm in args.arms}
        load = [os.getloadavg()[0]]
        for _ in range(args.repeats):
            for arm in args.arms:
                runs[arm].append(run_arm(arm, names, folder, folder / f"out_{arm}", args))
        load.append(os.getloadavg()[0])
        words = words_in(folder / f"out_{args.arms[0]}")
        same = all(filecmp.cmp(folder / f"out_{args.arms[0]}" / path.name, path, shallow=False)
                   for arm in args.arms[1:] for path in (folder / f"out_{arm}").iterdir())
    results = {}
    for arm, timings in runs.items():
        seconds = statistics.median(run["seconds"] for run in timings)
        results[arm] = {"command": " ".join(["tagger tag", *ARMS[arm]]), "median_s": round(seconds, 2),
                        "seconds": [round(run["seconds"], 2) for run in timings], "words_per_s": round(words / seconds),
                        "peak_mb": round(max(run["peak_mb"] for run in timings))}
    report = {"documents": args.documents, "words": words, "precision": args.precision, "same_outputs": same,
              "cpus": len(os.sched_getaffinity(0)), "processor": processor(),
              "load_average_before_after": load, "arms": results}
    if "ray" in results and "workers" in results:
        report["ray_over_workers"] = round(results["ray"]["median_s"] / results["workers"]["median_s"], 2)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
