"""Tagging on Ray: `tagger.ray.tag_dataset` and `tagger tag --engine ray`, against one local Ray instance
this module starts (2 CPUs, no dashboard) and shuts down; never `ray stop`, which would end every Ray
process on the machine. Expected values come from the shipped English model tagging in this process,
or from the local command, never from Ray's own earlier output."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pyarrow.parquet as pq
import pytest
import ray

from tagger import Tagger
from tagger.ray import tag_dataset

REPO = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
TEXTS = ["Dogs bark. I don't know why.", "The cat sat on the mat.\n\nIt was warm.", "Stay with me now: it's fine."]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A local Ray instance whose every worker process notes each `Tagger.load` it makes (its pid, a line)."""
    loads = tmp_path_factory.mktemp("ray") / "model_loads.txt"

    def count_model_loads() -> None:  # runs in each worker as it starts (pickled by value: a local function)
        from tagger.inference.tagger import Tagger as WorkerTagger

        load = WorkerTagger.load.__func__

        def counted(cls, *args, **kwargs):
            with open(loads, "a") as stream:
                stream.write(f"{os.getpid()}\n")
            return load(cls, *args, **kwargs)

        WorkerTagger.load = classmethod(counted)

    # Ray's workers start in the directory Ray was started from: there, relative paths mean the same to both sides
    workdir, started_in = tmp_path_factory.mktemp("ray_workdir"), os.getcwd()
    os.chdir(workdir)
    try:
        ray.init(num_cpus=2, num_gpus=0, include_dashboard=False, log_to_driver=False,
                 _node_ip_address="127.0.0.1",  # loopback only: a test sends no traffic off this host's lo
                 runtime_env={"worker_process_setup_hook": count_model_loads})
    finally:
        os.chdir(started_in)
    yield SimpleNamespace(address=ray.get_runtime_context().gcs_address, loads=loads, workdir=workdir)
    ray.shutdown()


@pytest.fixture(scope="module")
def english() -> Tagger:
    return Tagger.load("en_ewt", precision="float32", threads=1)


def tagger_cli(*args: str, cwd: Path, python: tuple[str, ...] = ("-m", "tagger.cli"), token: bool = True
               ) -> subprocess.CompletedProcess:
    """`tagger ARGS`; with `token`, ready to show a Ray instance started by ray.init() the token it asks of drivers
    that name its address (the one it saved in ~/.ray/auth_token)."""
    # without it, two tries at Ray's connection instead of twenty, a second apart
    env = {**ENV, "RAY_AUTH_MODE": "token"} if token else {**ENV, "RAY_gcs_server_port_wait_time_s": "2"}
    return subprocess.run([sys.executable, *python, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def test_each_actor_loads_the_model_once_for_all_its_batches(cluster, english):
    cluster.loads.write_text("")
    texts = [f"{text} Number {i}." for i in range(4) for text in TEXTS]  # 12 documents, a batch each
    dataset = ray.data.from_items([{"id": i, "text": text} for i, text in enumerate(texts)])
    rows = tag_dataset(dataset, batch_size=1, concurrency=2, device="cpu", precision="float32").take_all()
    loads = cluster.loads.read_text().split()
    assert 1 <= len(loads) <= 2 and len(set(loads)) == len(loads)  # 12 batches, one load in each actor
    expected = [[sentence.to_dict() for sentence in document] for document in english.pipe(texts)]
    assert sorted(row["id"] for row in rows) == list(range(12))
    for row in rows:
        assert row["error"] is None and row["text"] == texts[row["id"]]
        assert _without_nulls(row["sentences"]) == expected[row["id"]]


def _without_nulls(value):
    """A value read from an Arrow column less the keys it holds as null: in Arrow every row of a column has the
    same fields, so a sentence without multiword tokens reads back with `multiword_tokens` null."""
    if isinstance(value, dict):
        return {key: _without_nulls(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [_without_nulls(item) for item in value]
    return value


def test_a_text_that_fails_is_an_error_row_and_the_others_are_tagged(cluster, english):
    documents = [{"id": "a", "text": TEXTS[0].encode()}, {"id": "bad", "text": b"caf\xe9 is not UTF-8"},
                 {"id": "none", "text": None}, {"id": "b", "text": TEXTS[1].encode()}]
    dataset = ray.data.from_items(documents)
    rows = tag_dataset(dataset, id_column="id", output="tokens", concurrency=1, device="cpu", precision="float32").take_all()
    errors = {row["document"]: row["error"] for row in rows if row["error"] is not None}
    assert errors == {"bad": "the bytes are not UTF-8 (byte 0xe9 at index 3)",
                      "none": "NoneType is not a string (or UTF-8 bytes) of text or a list of token lists"}
    words = [_without_nulls({key: value for key, value in row.items() if key != "error"}) for row in rows if row["error"] is None]
    expected = [{"document": name, "sentence": index, **token}
                for name, document in zip("ab", english.pipe(TEXTS[:2]))
                for index, sentence in enumerate(document, start=1) for token in sentence.to_dict()["tokens"]]
    assert sorted(words, key=_word_order) == sorted(expected, key=_word_order) and len(expected) > 10


def _word_order(word: dict) -> tuple:
    return word["document"], word["sentence"], word["id"]


def test_the_ray_command_writes_the_local_commands_files_byte_for_byte(cluster, tmp_path):
    for index, text in enumerate(TEXTS * 6):  # 19 files with the CoNLL-U one: the Ray run puts several in a block
        (tmp_path / f"doc{index}.txt").write_text(text + "\n")
    (tmp_path / "gold.conllu").write_text((REPO / "tagger" / "samples" / "en_sample_dev.conllu").read_text()[:20_000].rsplit("\n\n", 1)[0] + "\n\n")
    files = sorted(path.name for path in tmp_path.iterdir())
    (tmp_path / "broken.txt").write_bytes(b"fine\n\xff\xfe\n")  # the Ray run only: no output, one line, the rest written
    local = tagger_cli("tag", "--precision", "float32", *files, "--output-dir", "local", cwd=tmp_path)
    assert local.returncode == 0, local.stderr
    on_ray = tagger_cli("tag", "--engine", "ray", "--address", cluster.address, "--precision", "float32", *files,
                        "broken.txt", "--output-dir", "ray", cwd=tmp_path)
    assert on_ray.returncode == 2
    assert on_ray.stderr.splitlines()[-1] == ("tagger tag: error: broken.txt:2: not valid UTF-8 (byte 0xff at column 1) "
                                              "(no output for it; the other 19 files are written)")
    written = sorted(path.name for path in (tmp_path / "local").iterdir())
    assert sorted(path.name for path in (tmp_path / "ray").iterdir()) == written and len(written) == 19
    for name in written:
        assert (tmp_path / "ray" / name).read_bytes() == (tmp_path / "local" / name).read_bytes(), name
    assert "# newdoc id = doc5.txt\n# newpar\n# sent_id = 1\n" in (tmp_path / "ray" / "doc5.conllu").read_text()


def test_the_docs_python_example_runs_against_a_local_instance(cluster, english, monkeypatch):
    page = (REPO / "docs" / "cluster.md").read_text()
    examples = re.findall(r"```python[^\n]*\n(.*?)```", page, re.S)
    assert len(examples) == 1  # the page's one Python example, run as written
    corpus = [{"id": 10 + i, "text": text} for i, text in enumerate(TEXTS)]
    (cluster.workdir / "corpus.jsonl").write_text("".join(json.dumps(document) + "\n" for document in corpus))
    monkeypatch.chdir(cluster.workdir)
    exec(compile(examples[0], "docs/cluster.md", "exec"), {})
    rows = [row for path in sorted((cluster.workdir / "tagged").iterdir()) for row in pq.read_table(path).to_pylist()]
    words = {(row["document"], row["sentence"], row["id"]): (row["form"], row["upos"], row["lemma"]) for row in rows}
    expected = {(document["id"], index, token.id): (token.form, token.upos, token.lemma)
                for document, tagged in zip(corpus, english.pipe(TEXTS))
                for index, sentence in enumerate(tagged, start=1) for token in sentence}
    assert words == expected and len(rows) == len(expected)


@pytest.mark.parametrize(
    ("arguments", "python", "expected"),
    [
        (["--engine", "ray", "a.txt", "--output-dir", "out"], ("-c", "import sys; sys.modules['ray'] = None; "
         "from tagger.cli import main; sys.exit(main(sys.argv[1:]))"),
         'tagger tag: error: Ray is not installed (--engine ray runs on it): pip install "tagger[ray]"'),
        (["--engine", "ray", "--address", "127.0.0.1:1", "a.txt", "--output-dir", "out"], ("-m", "tagger.cli"),
         "tagger tag: error: --address 127.0.0.1:1: no Ray cluster answers there (Connection refused); start its head "
         "with `ray start --head`, or leave out --address to start Ray on this machine"),
        (["--engine", "ray", "a.txt"], ("-m", "tagger.cli"),
         "tagger tag: error: --engine ray tags each file on its own: name files and give --output-dir DIR for their outputs"),
    ],
    ids=["no-ray", "unreachable", "no-output-dir"],
)
def test_a_missing_ray_or_cluster_is_one_line_naming_the_fix(tmp_path, arguments, python, expected):
    (tmp_path / "a.txt").write_text("Some text.\n")
    result = tagger_cli("tag", *arguments, cwd=tmp_path, python=python)
    assert result.returncode == 2 and result.stderr == expected + "\n"
    assert not (tmp_path / "out").exists()


def test_a_cluster_asking_for_its_token_is_one_line_naming_the_fix(cluster, tmp_path):
    (tmp_path / "a.txt").write_text("Some text.\n")
    result = tagger_cli("tag", "--engine", "ray", "--address", cluster.address, "a.txt", "--output-dir", "out",
                        cwd=tmp_path, token=False)
    assert result.returncode == 2 and result.stderr == (
        f"tagger tag: error: --address {cluster.address}: the cluster asks for its authentication token; set "
        "RAY_AUTH_MODE=token and give the token in ~/.ray/auth_token or RAY_AUTH_TOKEN (docs/cluster.md)\n")


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"output": "tokens"}, "output='tokens' names each word's document: give id_column="),
        ({"output": "words"}, "output='words': give 'sentences' or 'tokens'"),
        ({"text_column": "body"}, "text_column='body': the dataset has no such column (it has id, text, error)"),
        ({"text_column": "text"}, "the dataset has a column 'error', which output='sentences' adds: rename it first"),
        ({"text_column": "text", "output": "tokens", "id_column": "id", "device": "cuda:1"},
         "device=cuda:1: with Ray give cpu, cuda (each actor gets a GPU of its own) or auto"),
        ({"text_column": "text", "output": "tokens", "id_column": "id", "device": "cuda"},
         "device=cuda: the Ray cluster has no GPU"),
    ],
)
def test_a_bad_argument_is_a_one_line_error_before_any_tagging(cluster, options, expected):
    from tagger.errors import TaggerError

    dataset = ray.data.from_items([{"id": 1, "text": "Some text.", "error": None}])
    with pytest.raises(TaggerError) as raised:
        tag_dataset(dataset, **options)
    assert str(raised.value).startswith(expected)
