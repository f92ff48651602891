"""`tagger tag --engine ray FILE... --output-dir DIR`: each file a document, tagged in Ray actors, written here.

The files are read on this machine, each put in Ray's object store on its own (so this process
holds one at a time), and handed to a pool of actors that each load the model once. An actor runs
the local command's own reading, segmenting and formatting (`tagger.cli_tag.output_text`), so an
output holds the bytes `tagger tag FILE... --output-dir DIR` writes for that file (in float32; in
bfloat16 a tag can depend on its batch neighbours). The outputs come back here and are written as
the local command writes them, each whole or not at all. A file that cannot be tagged (bytes that
are not UTF-8, broken CoNLL-U) gets no output and a line on stderr; the others are written.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import logging
import os
import socket
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from tagger.cli_tag import Input, open_output
from tagger.errors import TaggerError
from tagger.ray import actor_resources, import_ray

NEEDED_BY = " (--engine ray runs on it)"


def tag_on_ray(args: argparse.Namespace, jobs: list[tuple[Path, list[Input]]]) -> int:
    """Tag the inputs of `jobs` (an output path and its one input file each) in Ray actors and write the outputs."""
    ray = import_ray(NEEDED_BY)
    start_ray(args.address)
    written = 0
    try:
        threads = args.threads or 1
        resources = actor_resources(args.device, threads, option="--device ")
        actor_args = argparse.Namespace(**{**vars(args), "workers": None, "threads": threads,
                                           "device": "cuda" if resources["num_gpus"] else "cpu"})
        # the column of object references travels pickled, as meant (Ray warns unless told so)
        ray.data.DataContext.get_current().enable_fallback_to_arrow_object_ext_type = True
        actors = args.workers or pool_size(resources)
        files = ray.data.from_items([{"index": index, "name": sources[0].name, "data": _put(ray, sources[0])}
                                     for index, (_, sources) in enumerate(jobs)],
                                    override_num_blocks=_blocks([sources[0].size or 0 for _, sources in jobs], actors))
        # a Ray task takes a block; at most two wait at an actor, so blocks go to whichever actor is free
        pool = ray.data.ActorPoolStrategy(size=actors, max_tasks_in_flight_per_actor=2)
        tagged = files.map_batches(_TagFiles, batch_size=1, fn_constructor_kwargs={"args": actor_args}, compute=pool,
                                   **resources)
        failed, written = {}, 0
        for row in tagged.iter_rows():  # as the actors finish them, whatever the order
            if row["error"] is not None:
                failed[row["index"]] = row["error"]
                continue
            with open_output(jobs[row["index"]][0]) as output:
                output.write(row["text"])
            written += 1
    except KeyboardInterrupt:
        raise KeyboardInterrupt(f"interrupted after {written} of {len(jobs)} outputs; the others are as they were "
                                "(output files appear whole or not at all)") from None
    finally:
        ray.shutdown()
    _report(failed, len(jobs))
    return 0


def start_ray(address: str | None) -> None:
    """Connect to the Ray cluster at `address` ("auto": the one this machine belongs to), or with None
    start a Ray instance for this command, sized to this machine. Where no cluster answers, or it asks
    for a token this command does not show, a TaggerError names the fix."""
    ray = import_ray(NEEDED_BY)
    quiet = {"log_to_driver": False, "logging_level": logging.WARNING}  # the actors' errors come back in the rows
    if address is None:
        # an instance of this command's own serves no other machine: it listens on loopback only
        ray.init(include_dashboard=False, _node_ip_address="127.0.0.1", **quiet)
        return
    if address != "auto":
        _check_reachable(address)
    with tempfile.TemporaryFile() as held:
        with _stderr_to(held):  # Ray's client logs each retry there, a line a second, while it fails
            try:
                ray.init(address=address, **quiet)
                failure = None
            except ConnectionError as error:
                failure = error
        if failure is None:
            held.seek(0)
            os.write(2, held.read())
            return
    if _refused_for_want_of_a_token(failure):
        raise TaggerError(f"--address {address}: the cluster asks for its authentication token; set RAY_AUTH_MODE=token "
                          "and give the token in ~/.ray/auth_token or RAY_AUTH_TOKEN (docs/cluster.md)")
    raise TaggerError(f"--address {address}: {str(failure).splitlines()[0]} (start one with `ray start --head`, "
                      "or leave out --address to start Ray on this machine)")


@contextlib.contextmanager
def _stderr_to(stream: BinaryIO) -> Iterator[None]:
    """Everything written to file descriptor 2 (Python's and C++'s alike) goes to `stream` meanwhile."""
    sys.stderr.flush()
    saved = os.dup(2)
    os.dup2(stream.fileno(), 2)
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)


def _refused_for_want_of_a_token(error: BaseException | None) -> bool:
    """Whether Ray's connection error comes from its token authentication (a cause of a cause, in Ray 2.5x)."""
    while error is not None:
        if "InvalidAuthToken" in str(error) or type(error).__name__ == "AuthenticationError":
            return True
        error = error.__cause__ or error.__context__
    return False


def _check_reachable(address: str) -> None:
    """A one-line error, in seconds, for an address nothing listens at (Ray itself retries for a minute)."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        raise TaggerError(f"--address {address}: give auto or HOST:PORT (what `ray start --head` prints)")
    try:
        socket.create_connection((host, int(port)), timeout=10).close()
    except OSError as error:
        raise TaggerError(f"--address {address}: no Ray cluster answers there ({error.strerror or error}); start its "
                          "head with `ray start --head`, or leave out --address to start Ray on this machine") from None


def pool_size(resources: dict[str, float]) -> int:
    """How many actors asking for `resources` the cluster runs at once: its GPUs, or its CPUs, shared out."""
    import ray

    total = ray.cluster_resources()
    kind, each = ("GPU", resources["num_gpus"]) if resources["num_gpus"] else ("CPU", resources["num_cpus"])
    return max(1, int(total.get(kind, 0) // each))


BLOCK_BYTES = 64 * 1024  # of text: a second or two of an actor's work, against Ray's milliseconds for each task


def _blocks(sizes: list[int], actors: int) -> int:
    """How many blocks (Ray tasks) the files go in: eight an actor at least, so the work shares out evenly to
    the end; more where the text is large, none under BLOCK_BYTES unless a file is; never more than a file each."""
    return max(1, min(len(sizes), max(8 * actors, sum(sizes) // BLOCK_BYTES)))


def _put(ray, source: Input):
    """The file's bytes in Ray's object store, where an actor on any machine can fetch them."""
    with source.open() as stream:
        return ray.put(stream.read())


def _report(failed: dict[int, str], files: int) -> None:
    """Nothing when every file was tagged; else a line per failed file, and a TaggerError saying what was written."""
    if not failed:
        return
    if len(failed) == 1:
        raise TaggerError(f"{next(iter(failed.values()))} (no output for it; the other {files - 1} files are written)")
    for index in sorted(failed):
        print(f"tagger tag: {failed[index]}", file=sys.stderr)
    raise TaggerError(f"{len(failed)} of {files} files could not be tagged (above) and have no output; the others are written")


class _TagFiles:
    """An actor of the pool: loads the model once, then turns each file it is given into its output's text."""

    def __init__(self, args: argparse.Namespace) -> None:
        from tagger.cli_tag import tagging_function

        self.args = args
        self.tagger, self.tag = tagging_function(args)

    def __call__(self, batch: dict) -> dict:
        import ray

        from tagger.cli_tag import output_text

        texts, errors = [], []
        for name, reference in zip(batch["name"], batch["data"]):
            data = ray.get(reference)
            source = Input(str(name), lambda data=data: contextlib.nullcontext(io.BytesIO(data)), len(data), is_file=True)
            try:
                texts.append("".join(output_text(self.args, self.tagger, self.tag, [source])))
                errors.append(None)
            except TaggerError as error:
                texts.append(None)
                errors.append(str(error))
        return {"index": batch["index"], "text": texts, "error": errors}
