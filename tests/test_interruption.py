"""Training survives SIGKILL (resume=RUN_DIR), repeats itself exactly, and stops cleanly on a NaN loss; Ctrl-C
ends training and tagging with one line that says what was kept."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from tagger.training.checkpoint_io import AtomicCheckpointIO
from training_runs import ENV, REPO, dev_scores, run, train_command

EPOCHS = "trainer.max_epochs=4"


@pytest.fixture(autouse=True)
def ctrl_c_reaches_the_commands_started_here() -> Iterator[None]:
    """A suite started in the background by a script (`pytest ... &`) ignores SIGINT, and an ignored signal stays
    ignored in every command it starts: these tests would send their Ctrl-C to deaf processes. A handled signal
    is reset to its default in a started program, so handle it here while each test runs."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


@pytest.fixture(scope="module")
def reference_run(tmp_path_factory) -> Path:
    """An uninterrupted tiny run: what a killed-and-resumed run and a repeated run must match."""
    run_dir = tmp_path_factory.mktemp("reference") / "run"
    result = run(train_command(run_dir, EPOCHS))
    assert result.returncode == 0, result.stderr[-3000:]
    return run_dir


def _checkpoint(path: Path) -> dict | None:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, EOFError):
        return None


def _wait_for_mid_epoch_checkpoint(run_dir: Path, process: subprocess.Popen, timeout: float = 180) -> dict:
    """Block until the run has finished an epoch (metrics logged) and saved a checkpoint inside the next one."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        if (run_dir / "logs" / "metrics.csv").exists():
            checkpoint = _checkpoint(run_dir / "checkpoints" / "last.ckpt")
            if checkpoint and checkpoint["epoch"] >= 1 and not checkpoint["loops"]["fit_loop"]["epoch_loop.batch_progress"]["is_last_batch"]:
                return checkpoint
        time.sleep(0.01)
    raise AssertionError(f"no mid-epoch checkpoint appeared (exit code {process.poll()})")


@pytest.mark.slow
def test_killed_run_resumes_and_ends_exactly_as_an_uninterrupted_one(tmp_path, reference_run):
    run_dir = tmp_path / "run"
    with open(tmp_path / "killed.log", "w") as log:
        process = subprocess.Popen(train_command(run_dir, EPOCHS), cwd=REPO, env=ENV, stdout=log, stderr=subprocess.STDOUT)
        try:
            checkpoint = _wait_for_mid_epoch_checkpoint(run_dir, process)
        finally:
            process.kill()  # SIGKILL, to the run this test started and nothing else
            process.wait()
    assert process.returncode == -9 and not (run_dir / "model.safetensors").exists()
    assert checkpoint["TaggingDataModule"]["served"] > 0  # resuming must skip the batches already trained on
    written = {path: path.read_bytes() for path in [run_dir / "config.yaml", run_dir / "logs" / "metrics.csv"]}

    result = run([sys.executable, "-m", "tagger.cli", "train", f"resume={run_dir}", f"hydra.run.dir={tmp_path / 'resumed'}"])

    assert result.returncode == 0, result.stderr[-3000:]
    assert (run_dir / "model.safetensors").is_file()
    assert all(path.read_bytes() == content for path, content in written.items()), "resuming rewrote a file of the run"
    assert list((run_dir / "logs").glob("resumed_*/metrics.csv")), "the resumed part logs next to the first part"
    assert dev_scores(run_dir) == dev_scores(reference_run)


@pytest.mark.slow
def test_same_seed_gives_identical_dev_scores(tmp_path, reference_run):
    run_dir = tmp_path / "run"
    result = run(train_command(run_dir, EPOCHS), env={**ENV, "PYTHONHASHSEED": "12345"})  # no set/dict-order luck
    assert result.returncode == 0, result.stderr[-3000:]
    assert dev_scores(run_dir) == dev_scores(reference_run)


@pytest.mark.slow
def test_nan_loss_stops_training_naming_the_step_and_keeps_the_last_good_checkpoint(tmp_path):
    poison_from = 7  # steps 1-7 train normally; the 8th loss is NaN
    python = [
        sys.executable,
        "-c",
        "import sys\n"
        "from tagger.training.module import TaggerModule\n"
        "step = TaggerModule.training_step\n"
        "def poisoned(self, batch, batch_idx):\n"
        "    loss = step(self, batch, batch_idx)\n"
        f"    return loss * float('nan') if self.global_step >= {poison_from} else loss\n"
        "TaggerModule.training_step = poisoned\n"
        "from tagger.cli import main\n"
        "sys.exit(main(sys.argv[1:]))\n",
    ]
    run_dir = tmp_path / "run"
    result = run(train_command(run_dir, EPOCHS, python=python))

    assert result.returncode == 2 and "Traceback" not in result.stderr
    message = result.stderr.strip().splitlines()[-1]
    assert message.startswith("tagger train: error: training stopped at step 8 (epoch 0, batch 7): the loss is nan")
    assert message.endswith("the last good checkpoint is " + str((run_dir / "checkpoints" / "last.ckpt").resolve()))
    checkpoint = torch.load(run_dir / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert checkpoint["global_step"] == 5
    assert all(torch.isfinite(tensor).all() for tensor in checkpoint["state_dict"].values())
    assert not (run_dir / "model.safetensors").exists()
    assert math.isfinite(checkpoint["optimizer_states"][0]["state"][0]["exp_avg_sq"].sum().item())


def test_a_checkpoint_save_cut_short_leaves_the_previous_one_whole(tmp_path, monkeypatch):
    path = tmp_path / "checkpoints" / "last.ckpt"
    AtomicCheckpointIO().save_checkpoint({"global_step": 1}, path)

    def killed_halfway(checkpoint, file):
        Path(file).write_bytes(b"PK\x03\x04half a checkpoint")
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", killed_halfway)
    with pytest.raises(KeyboardInterrupt):
        AtomicCheckpointIO().save_checkpoint({"global_step": 2}, path)
    monkeypatch.undo()
    assert torch.load(path, weights_only=True) == {"global_step": 1}


def _interrupted(command: list[str], log_path: Path, ready) -> tuple[int, str]:
    """Start `command`, press Ctrl-C (SIGINT, to this process only) once `ready(process)` returns, and
    return its exit code and last line of output."""
    with open(log_path, "w") as log:
        process = subprocess.Popen(command, cwd=REPO, env=ENV, stdout=log, stderr=subprocess.STDOUT)
        try:
            ready(process)
            process.send_signal(signal.SIGINT)
            process.wait(timeout=120)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    return process.returncode, log_path.read_text().strip().splitlines()[-1]


def _resume_line(run_dir: Path) -> str:
    return (f"tagger train: interrupted; the run is kept in {run_dir}: "
            f"`tagger train resume={run_dir}` continues it from its last checkpoint")


@pytest.mark.slow
def test_ctrl_c_inside_an_epoch_exits_130_naming_the_run_and_the_resume_command(tmp_path):
    run_dir = tmp_path / "run"
    code, last = _interrupted(train_command(run_dir, "trainer.max_epochs=50"), tmp_path / "run.log",
                              lambda process: _wait_for_mid_epoch_checkpoint(run_dir, process))
    assert code == 130 and last == _resume_line(run_dir)


def _wait_for_the_segmenter_phase(log_path: Path, process: subprocess.Popen, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        if "segmenter step" in log_path.read_text():
            return
        time.sleep(0.05)
    raise AssertionError(f"the segmenter phase did not start (exit code {process.poll()})")


@pytest.mark.slow
def test_ctrl_c_in_the_segmenter_phase_exits_130_keeping_the_tagger_and_naming_the_resume_command(tmp_path):
    run_dir, log_path = tmp_path / "run", tmp_path / "run.log"
    command = [arg for arg in train_command(run_dir, "trainer.max_epochs=1") if arg != "segmenter.learn=false"]
    command += ["segmenter.learn=true", "segmenter.network.hidden_size=16", "segmenter.training.max_steps=100000",
                "segmenter.training.eval_every=5", "segmenter.training.patience=100000"]
    code, last = _interrupted(command, log_path, lambda process: _wait_for_the_segmenter_phase(log_path, process))
    model = run_dir / "model.safetensors"
    assert code == 130 and last == (f"tagger train: interrupted in the segmenter phase: the tagger is saved, without a "
                                    f"segmenter, in {model}; `tagger train resume={run_dir}` learns it")
    assert model.is_file()  # the tagger phase's file is kept


# -- Ctrl-C while `tagger tag` writes to files ---------------------------------------------------


def _long_text(path: Path, sentences: int = 40_000) -> Path:
    """A raw text that the shipped model tags for longer than the test waits before pressing Ctrl-C."""
    path.write_text("".join(f"Sentence number {i} is here, and the dogs bark at night.\n" for i in range(sentences)))
    return path


def _ctrl_c_once_writing(args: list[str], cwd: Path, whole_group: bool = False) -> subprocess.CompletedProcess:
    """Run `tagger tag ARGS`, press Ctrl-C (SIGINT) once an output is being written (a `.part` file is there),
    and return the ended process with its stderr. `whole_group`: to every process of its group, as a terminal does."""
    process = subprocess.Popen([sys.executable, "-m", "tagger.cli", "tag", "--precision", "float32", *args], cwd=cwd,
                               env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                               start_new_session=whole_group)
    try:
        deadline = time.monotonic() + 180
        while not list(cwd.rglob("*.part")) and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(1.0)  # into the tagging (with workers: while they start)
        if whole_group:
            os.killpg(process.pid, signal.SIGINT)  # this test's own process group, made for it
        else:
            process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    return subprocess.CompletedProcess(process.args, process.returncode, "", stderr)


@pytest.mark.parametrize("existing", [False, True], ids=["new-output", "existing-output-with-force"])
def test_ctrl_c_while_tagging_to_a_file_leaves_no_partial_file_and_says_so(tmp_path, existing):
    _long_text(tmp_path / "long.txt")
    if existing:
        (tmp_path / "out.conllu").write_text("precious\n")
    result = _ctrl_c_once_writing(["long.txt", "-o", "out.conllu", "--force"], tmp_path)
    state = "is as it was" if existing else "was not written"
    assert result.returncode == 130 and result.stderr == (
        f"tagger tag: interrupted; out.conllu {state} (output files appear whole or not at all)\n")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["long.txt"] + ["out.conllu"] * existing
    assert not existing or (tmp_path / "out.conllu").read_text() == "precious\n"


def test_ctrl_c_with_output_dir_keeps_the_finished_outputs_and_names_them(tmp_path):
    (tmp_path / "short.txt").write_text("Dogs bark.\n")
    _long_text(tmp_path / "long.txt")
    result = _ctrl_c_once_writing(["short.txt", "long.txt", "--output-dir", "out"], tmp_path)
    assert result.returncode == 130 and result.stderr == (
        "tagger tag: interrupted after 1 of 2 outputs (the last out/short.conllu); out/long.conllu was not written "
        "(output files appear whole or not at all)\n")
    assert [path.name for path in (tmp_path / "out").iterdir()] == ["short.conllu"]
    assert "\tDogs\t" in (tmp_path / "out" / "short.conllu").read_text()


def test_ctrl_c_at_a_terminal_stops_the_workers_with_one_line_and_no_traceback(tmp_path):
    _long_text(tmp_path / "long.txt")
    result = _ctrl_c_once_writing(["long.txt", "-o", "out.conllu", "--workers", "2", "--threads", "1"], tmp_path,
                                  whole_group=True)
    assert result.returncode == 130 and result.stderr == (
        "tagger tag: interrupted; out.conllu was not written (output files appear whole or not at all)\n")
    assert [path.name for path in tmp_path.iterdir()] == ["long.txt"]


def test_ctrl_c_while_tagging_to_stdout_says_the_output_so_far_is_there(tmp_path):
    _long_text(tmp_path / "long.txt")
    stdout = tmp_path / "stdout.conllu"
    with stdout.open("w") as output:
        process = subprocess.Popen([sys.executable, "-m", "tagger.cli", "tag", "--precision", "float32", "long.txt"],
                                   cwd=tmp_path, env=ENV, stdout=output, stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 180
            while stdout.stat().st_size == 0 and process.poll() is None and time.monotonic() < deadline:
                time.sleep(0.05)  # tagging has begun
            process.send_signal(signal.SIGINT)
            _, stderr = process.communicate(timeout=120)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    assert process.returncode == 130 and stderr == "tagger tag: interrupted; the sentences tagged before it are on stdout\n"
    written = stdout.read_text()
    assert written.startswith("# newdoc id = long.txt\n") and written.endswith("\n\n")  # whole sentences
    assert "# text = Sentence number 39999 " not in written  # stopped before the end
