"""What threads cost the segmenter phase of `tagger train`, alone and beside a busy process. JSON.

Each setting runs in a fresh process (OpenMP reads its wait policy when torch is first imported):
it learns a segmenter for `--steps` steps with the default network and training settings of
conf/train.yaml (one dev evaluation, at the last step) on `--threads` torch threads, as the phase
does, and reports the seconds of the whole and of the dev evaluation alone. `--busy N` runs a
neighbour beside it for the time of each measurement: one process doing float32 matrix products on
N threads, on the same cores (this process's CPU affinity), as a second training would.

    python scripts/bench_segmenter_threads.py [--treebank DIR] [--steps 250] [--threads 1 2] [--busy 0 2]
        [--wait-policy PASSIVE ACTIVE]

The default treebank is $TAGGER_DATA_DIR/ud/fr_sequoia (train.conllu and dev.conllu), else the
English sample shipped in tagger/samples.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

# The measured process: learn a segmenter on `threads` threads for `steps` steps, time it and one dev evaluation.
CHILD = """
import json, sys, time
from dataclasses import replace
import torch
from tagger.data.conllu_io import read_conllu
from tagger.data.raw_text import raw_text
from tagger.segmentation.learned import LearnedSegmenter
from tagger.training.segmenter_training import default_configs, dev_scores, train_segmenter

train_file, dev_file, steps, threads = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
torch.set_num_threads(threads)
network, training = default_configs()
train, dev = read_conllu(train_file), read_conllu(dev_file)
started = time.perf_counter()
segmenter, report = train_segmenter(train, dev, network, replace(training, max_steps=steps, eval_every=steps))
seconds = time.perf_counter() - started
started = time.perf_counter()
dev_scores(LearnedSegmenter(segmenter), dev, raw_text(dev, "dev"))
print(json.dumps({"seconds": seconds, "eval_seconds": time.perf_counter() - started, "dev": report["dev"]}))
"""

# The neighbour: float32 matrix products on N threads until it is killed.
NEIGHBOUR = """
import sys, torch
torch.set_num_threads(int(sys.argv[1]))
a = torch.randn(512, 512)
while True:
    a = torch.tanh(a @ a)
"""


def treebank_files(directory: Path | None) -> tuple[Path, Path]:
    if directory is None:
        data = os.environ.get("TAGGER_DATA_DIR", str(REPO.parent / "shared" / "data"))
        directory = Path(data) / "ud" / "fr_sequoia"
    if (directory / "train.conllu").is_file():
        return directory / "train.conllu", directory / "dev.conllu"
    samples = REPO / "tagger" / "samples"
    return samples / "en_sample_train.conllu", samples / "en_sample_dev.conllu"


def measure(train: Path, dev: Path, steps: int, threads: int, busy: int, wait_policy: str) -> dict:
    env = {**os.environ, "OMP_WAIT_POLICY": wait_policy, "PYTHONPATH": str(REPO)}
    neighbour = None
    if busy:
        neighbour = subprocess.Popen([sys.executable, "-c", NEIGHBOUR, str(busy)], env=env)
        time.sleep(3)  # its start-up (torch's import) is over: it computes when the measurement begins
    try:
        child = subprocess.run([sys.executable, "-c", CHILD, str(train), str(dev), str(steps), str(threads)],
                               env=env, capture_output=True, text=True, check=True)
    finally:
        if neighbour is not None:
            neighbour.kill()
            neighbour.wait()
    result = json.loads(child.stdout.splitlines()[-1])
    training = result["seconds"] - result["eval_seconds"]  # the final evaluation is inside train_segmenter's time
    return {"threads": threads, "busy_neighbour_threads": busy, "omp_wait_policy": wait_policy,
            "seconds": round(result["seconds"], 2), "eval_seconds": round(result["eval_seconds"], 2),
            "steps_per_second": round(steps / training, 1), "dev": result["dev"]}


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--treebank", type=Path, help="a folder with train.conllu and dev.conllu")
    parser.add_argument("--steps", type=int, default=250)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--busy", type=int, nargs="+", default=[0, 2], help="threads of the busy neighbour (0: none)")
    parser.add_argument("--wait-policy", nargs="+", default=["PASSIVE"], help="OMP_WAIT_POLICY (the tagger command sets PASSIVE)")
    args = parser.parse_args()
    train, dev = treebank_files(args.treebank)
    runs = [measure(train, dev, args.steps, threads, busy, policy)
            for busy in args.busy for policy in args.wait_policy for threads in args.threads]
    print(json.dumps({"cpu": cpu_name(), "cores_available": len(os.sched_getaffinity(0)), "train": str(train),
                      "steps": args.steps, "runs": runs}, indent=2))


if __name__ == "__main__":
    main()
