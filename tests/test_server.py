"""`tagger serve` as a client meets it: a real server in a subprocess on a free loopback port, its
endpoints, UDPipe 2's request format, bad requests, limits, many clients at once and SIGTERM.

The server runs the shipped English model in float32, so its answers are compared for equality
with `tagger tag -f json` on the same text (batching never changes a float32 tag).
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tagger.data.conllu_io import parse_conllu_text
from tagger.errors import TaggerError

REPO = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}
TEXT = "I can't believe it's already June. The cats didn't sleep; Dr. Smith waved at them in Paris."
TEXTS = [
    "The quick brown fox jumps over the lazy dog.",
    "Prices rose 5% in 2024, and analysts were surprised.",
    "She'll e-mail you at noon.\n\nNew paragraph here.",
    "Zyqwert flibbed the grommets quixotically.",
    "",
]
LIMITS = ["--max-body-bytes", "100000", "--max-text-chars", "20000"]


class Server:
    """`tagger serve --port 0 ...` in a subprocess; `url` is read from the line it prints when listening."""

    def __init__(self, *args: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tagger.cli", "serve", "--port", "0", "--threads", "1", "--precision", "float32", *args],
            cwd=REPO, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.log: list[str] = []
        for line in self.process.stderr:
            self.log.append(line)
            if match := re.search(r"listening on (http://\S+)", line):
                self.url = match.group(1)
                break
        else:
            raise AssertionError(f"the server did not start: {''.join(self.log)}")
        self._drain = threading.Thread(target=lambda: self.log.extend(self.process.stderr), daemon=True)
        self._drain.start()

    def get(self, path: str, **options) -> httpx.Response:
        return httpx.get(self.url + path, timeout=120, **options)

    def post(self, path: str, **options) -> httpx.Response:
        return httpx.post(self.url + path, timeout=120, **options)

    def terminate(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout=120)
        self._drain.join(timeout=10)
        return code


@pytest.fixture(scope="module")
def server():
    running = Server(*LIMITS)
    yield running
    assert running.terminate() == 0
    assert "Traceback" not in "".join(running.log)


def cli_json(text: str, *options: str) -> list[dict]:
    """What `tagger tag -f json` prints for `text`: one sentence a line."""
    done = subprocess.run([sys.executable, "-m", "tagger.cli", "tag", "-f", "json", "--precision", "float32", "--threads",
                           "1", *options, "--text", text], cwd=REPO, env=ENV, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


def words(sentences: list[dict]) -> list[tuple[str, str]]:
    return [(token["form"], token["upos"]) for sentence in sentences for token in sentence["tokens"]]


def test_health_and_models(server):
    health = server.get("/health")
    assert health.status_code == 200 and health.json()["status"] == "ok"
    models = server.get("/models").json()
    assert models["default_model"] == "en_ewt"
    assert {"en", "english"} <= set(models["models"]["en_ewt"]["aliases"])
    assert models["models"]["en_ewt"]["precision"] == "float32"
    assert server.get("/udpipe/models").json() == {"models": {"en_ewt": ["tokenizer", "tagger"]}, "default_model": "en_ewt"}


def test_a_text_is_answered_as_tagger_tag_json_tags_it(server):
    answer = server.post("/tag", json={"text": TEXT})
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/json"
    expected = cli_json(TEXT)
    assert answer.json() == {"sentences": expected}
    assert ("ca", "AUX") in words(expected) and len(expected) == 2


def test_options_are_the_commands(server):
    answer = server.post("/tag", json={"text": TEXT, "probabilities": True, "top_k": 3, "model": "en"})
    assert answer.json()["sentences"] == cli_json(TEXT, "--probabilities", "--top-k", "3")
    tokenized = server.post("/tag", json={"text": "I like New-York .\nOK", "input_format": "tokenized"}).json()
    assert [[t["form"] for t in s["tokens"]] for s in tokenized["sentences"]] == [["I", "like", "New-York", "."], ["OK"]]
    conllu = "# sent_id = a\n1\tDogs\t_\t_\t_\t_\t_\t_\t_\t_\n2\tbark\tx\t_\t_\t_\t0\troot\t_\t_\n\n"
    assert server.post("/tag", json={"text": conllu}).json()["sentences"] == cli_json(conllu, "--input-format", "conllu")


def test_texts_come_back_as_documents_in_order(server):
    answer = server.post("/tag", json={"texts": TEXTS}).json()
    singles = [server.post("/tag", json={"text": text}).json() for text in TEXTS]
    assert answer == {"documents": singles}
    assert singles[-1] == {"sentences": []} and len(singles[2]["sentences"]) == 2
    assert server.post("/tag", json={"texts": []}).json() == {"documents": []}


def test_many_clients_at_once_are_tagged_together_and_each_gets_its_own_answer(server):
    texts = [f"{text} Item {i} was sent by client {i}." for i, text in enumerate(TEXTS * 8)]
    expected = [server.post("/tag", json={"text": text}).json() for text in texts]  # one at a time
    before = server.get("/health").json()
    start = threading.Barrier(len(texts))

    def request(text: str) -> dict:
        start.wait()
        with httpx.Client(timeout=120) as client:
            return client.post(server.url + "/tag", json={"text": text}).json()

    with ThreadPoolExecutor(len(texts)) as pool:
        answers = list(pool.map(request, texts))
    after = server.get("/health").json()
    assert answers == expected
    assert after["served"] - before["served"] == len(texts)  # tagging requests (not /health)
    assert after["batches"] - before["batches"] < len(texts)  # requests that arrived together were tagged together


BAD_REQUESTS = [
    # (method, path, request options, status, what the reason says)
    ("POST", "/tag", {"content": b'{"text": "unclosed'}, 400, "not JSON"),
    ("POST", "/tag", {"content": b"\xff\xfe"}, 400, "not JSON"),
    ("POST", "/tag", {"json": ["a list"]}, 400, "JSON object"),
    ("POST", "/tag", {"json": {"text": 42}}, 400, "text: input should be a valid string"),
    ("POST", "/tag", {"json": {"texts": "one string"}}, 400, "texts: input should be a valid"),
    ("POST", "/tag", {"json": {"texts": ["a", None]}}, 400, "texts.1"),
    ("POST", "/tag", {"json": {"text": "a", "texts": ["b"]}}, 400, 'give "text"'),
    ("POST", "/tag", {"json": {}}, 400, 'give "text"'),
    ("POST", "/tag", {"json": {"text": "a", "colour": "red"}}, 400, "unknown option 'colour'"),
    ("POST", "/tag", {"json": {"text": "a", "top_k": -1}}, 400, "top_k"),
    ("POST", "/tag", {"json": {"text": "a", "top_k": "3"}}, 400, "top_k"),
    ("POST", "/tag", {"json": {"text": "a", "probabilities": "yes"}}, 400, "probabilities"),
    ("POST", "/tag", {"json": {"text": "a", "input_format": "xml"}}, 400, "input_format"),
    ("POST", "/tag", {"json": {"text": "a", "model": "klingon"}}, 404, "unknown model 'klingon'"),
    ("POST", "/tag", {"json": {"text": "1\tHi\n\n", "input_format": "conllu"}}, 400, "expected 10 tab-separated columns"),
    ("POST", "/tag", {"json": {"text": "x" * 20_001}}, 413, "--max-text-chars"),
    ("POST", "/tag", {"json": {"texts": ["ok", "y" * 20_001]}}, 413, "text 1 has 20,001 characters"),
    ("POST", "/tag", {"content": b"{" + b" " * 100_001 + b"}"}, 413, "--max-body-bytes"),
    ("POST", "/tag", {"content": iter([b'{"text": "', b"z" * 60_000, b"z" * 60_000, b'"}'])}, 413, "--max-body-bytes"),  # chunked
    ("GET", "/tag", {}, 405, "GET is not allowed"),
    ("GET", "/nowhere", {}, 404, "no such path"),
    ("POST", "/udpipe/process", {"data": {"model": "en"}}, 400, "'data' is required"),
    ("POST", "/udpipe/process", {"data": {"data": "Hi.", "model": "klingon", "tokenizer": ""}}, 400, "unknown model"),
    ("POST", "/udpipe/process", {"data": {"data": "Hi.", "tokenizer": "ranges"}}, 400, "tokenizer option 'ranges'"),
    ("POST", "/udpipe/process", {"data": {"data": "Hi.", "input": "matxin"}}, 400, "Unknown input format"),
    ("POST", "/udpipe/process", {"data": {"data": "Hi.", "tokenizer": "", "output": "matxin"}}, 400, "Unknown output format"),
    ("POST", "/udpipe/process", {"json": {"data": "Hi."}}, 400, "Unsupported payload Content-Type"),
    ("POST", "/udpipe/process", {"files": {"data": ("a.txt", b"\xffbad")}}, 400, "not UTF-8"),
    ("GET", "/udpipe/process?data=1%09Hi%0A%0A", {}, 400, "expected 10 tab-separated columns"),
]


@pytest.mark.parametrize(("method", "path", "options", "status", "reason"), BAD_REQUESTS)
def test_a_bad_request_gets_a_json_reason_and_the_server_goes_on(server, method, path, options, status, reason):
    answer = httpx.request(method, server.url + path, timeout=120, **options)
    assert answer.status_code == status
    assert answer.headers["content-type"] == "application/json"
    assert reason in answer.json()["error"] and "Traceback" not in answer.text
    assert server.get("/health").status_code == 200
    assert words(server.post("/tag", json={"text": "Still here."}).json()["sentences"]) == [
        ("Still", "ADV"), ("here", "ADV"), (".", "PUNCT")]


def udpipe_multipart(params: dict[str, str]) -> tuple[dict[str, str], bytes]:
    """A request body as UDPipe 2's client (`udpipe2_client.py`, perform_request) builds it, byte for byte:
    a quoted boundary and, in each part, a Content-Transfer-Encoding and a text/plain type."""
    boundary = "{:x}".format(random.getrandbits(50 * 4))
    lines = []
    for name, value in params.items():
        lines += ["--" + boundary, f'Content-Disposition: form-data; name="{name}"', "Content-Transfer-Encoding: 8bit",
                  "Content-Type: text/plain; charset=utf-8", "", value]
    lines += ["--" + boundary + "--", ""]
    return {"Content-Type": f'multipart/form-data; boundary="{boundary}"'}, "\r\n".join(lines).encode("utf-8")


def conllu_words(result: str) -> list[tuple[str, str]]:
    return [pair for sentence in parse_conllu_text(result) for pair in zip(sentence.forms, sentence.column("upos"))]


def test_udpipe_process_in_udpipes_request_format(server):
    headers, body = udpipe_multipart({"input": "conllu", "output": "conllu", "data": TEXT, "model": "english-ewt-ud-2.12-230717",
                                      "tokenizer": "", "tagger": "", "parser": ""})
    answer = server.post("/udpipe/process", headers=headers, content=body)
    assert answer.status_code == 200
    reply = answer.json()
    assert reply["model"] == "en_ewt" and isinstance(reply["acknowledgements"], list)
    assert conllu_words(reply["result"]) == words(cli_json(TEXT))
    assert "# text = I can't believe it's already June." in reply["result"]
    assert "2-3\tcan't\t" in reply["result"]  # the multiword token's range line, as tagger tag writes it
    # the same as form fields, as a query, and with the text as an uploaded file (curl -F data=@file)
    fields = {"data": TEXT, "tokenizer": "", "tagger": ""}
    assert server.post("/udpipe/process", data=fields).json()["result"] == reply["result"]
    assert server.get("/udpipe/process?" + urllib.parse.urlencode(fields)).json()["result"] == reply["result"]
    uploaded = server.post("/udpipe/process", data={"tokenizer": "", "tagger": ""}, files={"data": ("a.txt", TEXT.encode())})
    assert uploaded.json()["result"] == reply["result"]


def test_udpipe_input_formats_and_untagged_output(server):
    def result(**params: str) -> str:
        headers, body = udpipe_multipart(params)
        answer = server.post("/udpipe/process", headers=headers, content=body)
        assert answer.status_code == 200, answer.text
        return answer.json()["result"]

    horizontal = conllu_words(result(data="The dog barked .\nIt ran away .\n", input="horizontal", tagger=""))
    assert horizontal == [("The", "DET"), ("dog", "NOUN"), ("barked", "VERB"), (".", "PUNCT"),
                          ("It", "PRON"), ("ran", "VERB"), ("away", "ADV"), (".", "PUNCT")]
    vertical = result(data="New York\nis\nbig\n\nYes\n", input="vertical", tagger="")
    assert [s.forms for s in parse_conllu_text(vertical)] == [["New York", "is", "big"], ["Yes"]]
    tagged_conllu = result(data=result(data="The dog barked.", tokenizer=""), tagger="")  # input conllu by default
    assert conllu_words(tagged_conllu) == horizontal[:4]
    presegmented = result(data="Hello there Mr. Smith went home\nYes.", tokenizer="presegmented", tagger="")
    assert [len(s) for s in parse_conllu_text(presegmented)] == [6, 2]  # one sentence a line, never split
    untagged = result(data="Dogs bark. Cats meow.", tokenizer="")
    assert conllu_words(untagged) == [("Dogs", "_"), ("bark", "_"), (".", "_"), ("Cats", "_"), ("meow", "_"), (".", "_")]


def test_sigterm_answers_the_request_in_flight_refuses_more_and_exits_cleanly():
    from tagger.data.conllu_io import read_conllu
    from tagger.data.raw_text import sentence_text

    gold = read_conllu(REPO / "tagger" / "samples" / "en_sample_dev.conllu")
    text = " ".join([sentence_text(sentence) for sentence in gold] * 3)  # seconds of tagging on one thread
    running = Server("--max-in-flight", "1")
    answers: dict[str, httpx.Response] = {}
    long_request = threading.Thread(target=lambda: answers.setdefault("long", running.post("/tag", json={"text": text})))
    long_request.start()
    deadline = time.monotonic() + 60
    while running.get("/health").json()["in_flight"] == 0:
        assert time.monotonic() < deadline and long_request.is_alive()
        time.sleep(0.005)
    refused = running.post("/tag", json={"text": "One more."})
    assert refused.status_code == 429 and "--max-in-flight 1" in refused.json()["error"]
    running.process.send_signal(signal.SIGTERM)
    long_request.join(timeout=120)
    assert running.process.wait(timeout=120) == 0
    answer = answers["long"]
    assert answer.status_code == 200
    tokens = [token for sentence in answer.json()["sentences"] for token in sentence["tokens"]]
    assert tokens[-1]["end"] == len(text) and all(text[t["start"]:t["end"]] == t["form"] for t in tokens[:50])  # all of it
    with pytest.raises(httpx.ConnectError):
        running.get("/health")
    assert "Traceback" not in "".join(running.log)


def test_a_port_in_use_is_one_line_before_any_model_loads():
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        done = subprocess.run([sys.executable, "-m", "tagger.cli", "serve", "--port", str(port)], cwd=REPO, env=ENV,
                              capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr.startswith(f"tagger serve: error: cannot listen on 127.0.0.1:{port}: ") and done.stderr.count("\n") == 1


@pytest.mark.parametrize(("flag", "value"), [("--max-in-flight", "0"), ("--max-body-bytes", "-1"), ("--batch-tokens", "0"),
                                           ("--batch-wait-ms", "-2")])
def test_a_limit_below_one_is_one_line(flag, value):
    done = subprocess.run([sys.executable, "-m", "tagger.cli", "serve", flag, value], cwd=REPO, env=ENV,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and done.stderr == f"tagger serve: error: {flag} {value}: give {'0' if 'wait' in flag else '1'} or more\n"


# -- in process: the batching thread, and an error inside the server -------------------------------------------


@pytest.fixture(scope="module")
def tagger():
    from tagger import Tagger

    return Tagger.load("en_ewt", precision="float32")


def test_jobs_waiting_together_are_predicted_together_and_one_bad_job_fails_alone(tagger, monkeypatch):
    from tagger.serving.batcher import Batcher, Job

    calls: list[int] = []  # sentences in each call of the network's stream
    original = tagger.tag_stream

    def counted(sentences, *args, **options):
        sentences = list(sentences)
        calls.append(len(sentences))
        return original(sentences, *args, **options)

    monkeypatch.setattr(tagger, "tag_stream", counted)
    batcher = Batcher({"en_ewt": tagger}, wait=0.5)
    render = lambda documents: [[(t.form, t.upos) for s in d for t in s] for d in documents]  # noqa: E731
    good = [batcher.submit(Job("en_ewt", [text], render)) for text in TEXTS]
    bad = batcher.submit(Job("en_ewt", ["1\tHi\n\n"], render, input_format="conllu"))
    also_good = batcher.submit(Job("en_ewt", ["1\tHi\t_\t_\t_\t_\t_\t_\t_\t_\n\n"], render, input_format="conllu"))
    batcher.start()  # every job is queued: the first batch takes them all
    results = [future.result(timeout=120) for future in good]
    assert results == [render([tagger.tag(text)]) for text in TEXTS]
    with pytest.raises(TaggerError, match="expected 10 tab-separated columns"):
        bad.result(timeout=120)
    assert also_good.result(timeout=120) == [[("Hi", "INTJ")]]
    batcher.stop()
    # the raw texts in one call; the two CoNLL-U jobs fail together in reading, then the good one alone
    assert calls == [sum(len(tagger.tag(text)) for text in TEXTS), 1]


def test_tagging_threads_run_batches_at_once_and_stop_after_every_job(tagger, monkeypatch):
    from tagger.serving.batcher import Batcher, Job

    both_inside = threading.Barrier(2, timeout=30)  # passed only while two batches are being tagged at once
    calls = iter(range(1_000))
    original = tagger.tag_stream

    def meeting(sentences, *args, **options):
        if next(calls) < 2:  # the first two batches wait for each other: one thread alone would time out
            both_inside.wait()
        return original(sentences, *args, **options)

    monkeypatch.setattr(tagger, "tag_stream", meeting)
    render = lambda documents: [[(t.form, t.upos) for s in d for t in s] for d in documents]  # noqa: E731
    batcher = Batcher({"en_ewt": tagger}, wait=0, workers=2)
    batcher.start()
    first = batcher.submit(Job("en_ewt", [TEXTS[0]], render))
    time.sleep(0.5)  # the first thread is inside its batch, waiting at the barrier; the second takes the next job
    second = batcher.submit(Job("en_ewt", [TEXTS[1]], render))
    rest = [batcher.submit(Job("en_ewt", [text], render)) for text in TEXTS[2:]]
    batcher.stop()  # returns once every job submitted before it is answered
    assert [future.result(timeout=0) for future in [first, second, *rest]] == [render([tagger.tag(t)]) for t in TEXTS]
    assert not both_inside.broken


def test_an_error_inside_the_server_is_a_json_500_and_the_next_request_is_served(tagger, monkeypatch):
    import uvicorn

    from tagger.serving.app import create_app
    from tagger.serving.batcher import Batcher
    from tagger.serving.models import ServedModels

    app = create_app(ServedModels({"en_ewt": tagger}), Batcher({"en_ewt": tagger}))
    listener = socket.create_server(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    running = uvicorn.Server(uvicorn.Config(app, log_config=None))
    thread = threading.Thread(target=running.run, kwargs={"sockets": [listener]})
    thread.start()
    try:
        while not running.started:
            assert thread.is_alive()
            time.sleep(0.01)
        original = tagger.tag_stream
        monkeypatch.setattr(tagger, "tag_stream", lambda *args, **options: 1 / 0)
        broken = httpx.post(url + "/tag", json={"text": "Hello."})
        assert broken.status_code == 500 and broken.json()["error"].startswith("internal error")
        assert "ZeroDivisionError" not in broken.text
        monkeypatch.setattr(tagger, "tag_stream", original)
        answer = httpx.post(url + "/tag", json={"text": "Hello."}, timeout=120)
        assert words(answer.json()["sentences"]) == [("Hello", "INTJ"), (".", "PUNCT")]
    finally:
        running.should_exit = True
        thread.join(timeout=60)
