"""`tagger serve` under load, as JSON: many clients at once against in-process `Tagger.pipe` on the same texts.

Starts `tagger serve` on a free loopback port (the server inherits this process's CPU affinity: run it
under `taskset` to pin both), then N client threads send UD English-EWT dev as raw text in documents of
10 sentences (each sentence's `# text`, joined by spaces), one document a request, `--requests` in all,
round-robin over the documents. The server runs with its defaults (its tagging threads and their torch
threads: `--serve-option=--workers=1` and the like to change them). Reports requests/s and words/s
beside `Tagger.pipe` in this process on the same documents (`--threads` torch threads, run while the
server is idle: the median of three passes after a warm-up), latency percentiles, errors, the server's RSS after 500 and after all
requests, and how often the server's UPOS equals `tagger tag -f json` on the same documents (the same
precision; every answer is compared, not one per document). Then a set of bad requests and what the
server answered each, with whether `/health` still answered after it.

    python scripts/bench_serve.py [--clients 32] [--requests 5000] [--threads 2] [--precision auto]

The load's clients are the standard library's `http.client` (the lightest there is, since they share the
machine with the server); the bad requests go by httpx. Needs the serve and bench extras
(`pip install -e ".[serve,bench]"`: httpx, and psutil for the server's RSS and CPU time).
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

import httpx
import psutil

from tagger.data.conllu_io import read_conllu
from tagger.data.raw_text import sentence_text

DEFAULT_FILE = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "ud" / "en_ewt" / "dev.conllu"
RSS_MARK = 500


def documents(path: Path, sentences_per_document: int) -> list[str]:
    texts = [sentence_text(sentence) for sentence in read_conllu(path)]
    return [" ".join(texts[i : i + sentences_per_document]) for i in range(0, len(texts), sentences_per_document)]


def start_server(args: argparse.Namespace) -> tuple[subprocess.Popen, str, str]:
    """The server, its URL, and what it said it runs (models, tagging threads, torch threads)."""
    command = [sys.executable, "-m", "tagger.cli", "serve", "--port", "0", "--model", args.model,
               "--precision", args.precision, *args.serve_option]
    server = subprocess.Popen(command, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    for line in server.stderr:
        if match := re.search(r"listening on (http://\S+)", line):
            threading.Thread(target=lambda: [print(line, end="", file=sys.stderr) for line in server.stderr
                                             if "Traceback" in line or "ERROR" in line], daemon=True).start()
            return server, match.group(1), line.split(" with ", 1)[-1].split(" (")[0]
    raise SystemExit(f"the server did not start (exit status {server.wait()})")


def pipe_words_per_second(args: argparse.Namespace, texts: list[str]) -> tuple[float, float]:
    """In-process `Tagger.pipe` on the documents: words/s, the median of three timed passes after a warm-up,
    and CPU seconds a word (of this process, all threads: what the rate would be on an idle machine)."""
    import torch

    from tagger import Tagger

    torch.set_num_threads(args.threads)
    tagger = Tagger.load(args.model, precision=args.precision)
    rates, cpu = [], []
    for attempt in range(4):
        start, start_cpu = time.perf_counter(), time.process_time()
        words = sum(len(sentence) for document in tagger.pipe(texts) for sentence in document)
        if attempt:
            rates.append(words / (time.perf_counter() - start))
            cpu.append((time.process_time() - start_cpu) / words)
    return statistics.median(rates), statistics.median(cpu)


def reference_upos(args: argparse.Namespace, texts: list[str]) -> list[list[tuple[str, str]]]:
    """(form, UPOS) of each document's words as `tagger tag -f json` gives them, one file a document."""
    with tempfile.TemporaryDirectory() as folder:
        files = []
        for i, text in enumerate(texts):
            files.append(Path(folder, f"doc{i:05d}.txt"))
            files[-1].write_text(text, encoding="utf-8")  # exactly the request's text: the learned segmenter's
            # windows depend on the text's length, and a final newline split 4 of 201 documents otherwise
        subprocess.run([sys.executable, "-m", "tagger.cli", "tag", "-f", "json", "--model", args.model, "--precision",
                        args.precision, "--threads", str(args.threads), "--output-dir", str(Path(folder, "out")),
                        *map(str, files)], check=True)
        return [forms_and_upos(json.loads(line) for line in Path(folder, "out", f"{path.stem}.jsonl").open(encoding="utf-8"))
                for path in files]


def forms_and_upos(sentences) -> list[tuple[str, str]]:
    return [(token["form"], token["upos"]) for sentence in sentences for token in sentence["tokens"]]


def load(url: str, texts: list[str], args: argparse.Namespace, server_pid: int) -> dict:
    """`args.clients` threads sending `args.requests` requests; latencies, words, errors, RSS and each answer's UPOS."""
    process = psutil.Process(server_pid)
    host, port = urllib.parse.urlsplit(url).hostname, urllib.parse.urlsplit(url).port
    counter = itertools.count()
    lock = threading.Lock()
    latencies: list[float] = []
    answers: list[tuple[int, list[tuple[str, str]]]] = []
    errors: list[str] = []
    rss: dict[str, float] = {}
    done = 0

    def client() -> None:
        nonlocal done
        connection = http.client.HTTPConnection(host, port, timeout=600)  # the stdlib's: the lightest client
        while (i := next(counter)) < args.requests:
            document = i % len(texts)
            body = json.dumps({"text": texts[document]}).encode("utf-8")
            start = time.perf_counter()
            try:
                connection.request("POST", "/tag", body, {"Content-Type": "application/json"})
                answer = connection.getresponse()
                data = answer.read()
                words = forms_and_upos(json.loads(data)["sentences"]) if answer.status == 200 else None
                error = None if words is not None else f"{answer.status}: {data[:200]!r}"
            except (OSError, http.client.HTTPException, ValueError, KeyError) as failure:
                words, error = None, f"{type(failure).__name__}: {failure}"
                connection.close()  # a fresh connection for the next request
            latency = time.perf_counter() - start
            with lock:
                latencies.append(latency)
                if error:
                    errors.append(error)
                else:
                    answers.append((document, words))
                done += 1
                if done == RSS_MARK:
                    rss[f"after_{RSS_MARK}"] = process.memory_info().rss / 2**20
        connection.close()

    threads = [threading.Thread(target=client) for _ in range(args.clients)]
    start, server_cpu, client_cpu = time.perf_counter(), sum(process.cpu_times()[:2]), time.process_time()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start
    cpu = {"server": sum(process.cpu_times()[:2]) - server_cpu, "clients": time.process_time() - client_cpu}
    rss[f"after_{args.requests}"] = process.memory_info().rss / 2**20
    return {"elapsed": elapsed, "latencies": latencies, "answers": answers, "errors": errors, "rss_mb": rss, "cpu": cpu}


def bad_requests(url: str, max_body_bytes: int, max_text_chars: int) -> list[dict]:
    """Requests a server must refuse; each with the status and reason it got, and whether /health answered after."""
    cases = [
        ("malformed JSON", "POST", "/tag", {"content": b'{"text": "unclosed'}),
        ("not UTF-8", "POST", "/tag", {"content": b"\xff\xfe\x00"}),
        ("a JSON list", "POST", "/tag", {"json": ["text"]}),
        ("text a number", "POST", "/tag", {"json": {"text": 42}}),
        ("texts not a list", "POST", "/tag", {"json": {"texts": "one"}}),
        ("text and texts", "POST", "/tag", {"json": {"text": "a", "texts": ["b"]}}),
        ("neither text nor texts", "POST", "/tag", {"json": {"model": "en_ewt"}}),
        ("unknown option", "POST", "/tag", {"json": {"text": "a", "colour": "red"}}),
        ("unknown model", "POST", "/tag", {"json": {"text": "a", "model": "klingon"}}),
        ("unknown input format", "POST", "/tag", {"json": {"text": "a", "input_format": "xml"}}),
        ("negative top_k", "POST", "/tag", {"json": {"text": "a", "top_k": -1}}),
        ("probabilities a string", "POST", "/tag", {"json": {"text": "a", "probabilities": "yes"}}),
        ("broken CoNLL-U", "POST", "/tag", {"json": {"text": "1\tHi\n\n", "input_format": "conllu"}}),
        ("text over --max-text-chars", "POST", "/tag", {"json": {"text": "x" * (max_text_chars + 1)}}),
        ("body over --max-body-bytes", "POST", "/tag", {"content": b" " * (max_body_bytes + 1)}),
        ("chunked body over --max-body-bytes", "POST", "/tag",
         {"content": iter([b'{"text": "', b"z" * max_body_bytes, b'"}'])}),
        ("GET /tag", "GET", "/tag", {}),
        ("unknown path", "GET", "/tagg", {}),
        ("udpipe: no data", "POST", "/udpipe/process", {"data": {"tokenizer": ""}}),
        ("udpipe: unknown model", "POST", "/udpipe/process", {"data": {"data": "Hi.", "model": "klingon"}}),
        ("udpipe: JSON body", "POST", "/udpipe/process", {"json": {"data": "Hi."}}),
        ("udpipe: output matxin", "GET", "/udpipe/process?data=Hi.&tokenizer=&output=matxin", {}),
    ]
    results = []
    for name, method, path, options in cases:
        try:
            answer = httpx.request(method, url + path, timeout=600, **options)
            status, reason = answer.status_code, answer.json().get("error") if _is_json(answer) else None
        except httpx.HTTPError as failure:
            status, reason = None, f"no answer: {type(failure).__name__}: {failure}"
        health = httpx.get(url + "/health", timeout=60).status_code
        results.append({"request": name, "status": status, "reason": reason, "health_after": health})
    return results


def _is_json(answer: httpx.Response) -> bool:
    return answer.headers.get("content-type", "").startswith("application/json")


def upos_agreement(answers: list[tuple[int, list[tuple[str, str]]]], reference: list[list[tuple[str, str]]]) -> dict:
    """The share of answered words whose UPOS is the command's; a document segmented otherwise counts all its words as differing."""
    words = equal = resegmented = 0
    for document, got in answers:
        expected = reference[document]
        words += len(expected)
        if [form for form, _ in got] != [form for form, _ in expected]:
            resegmented += 1
            continue
        equal += sum(a == b for a, b in zip(got, expected))
    return {"words": words, "equal": equal, "share": equal / words if words else None,
            "answers_segmented_otherwise": resegmented}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--file", type=Path, default=DEFAULT_FILE, help="CoNLL-U with # text (default: en_ewt dev)")
    parser.add_argument("--model", default="en_ewt")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--sentences", type=int, default=10, help="sentences a document (a request)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads of the in-process pipe (the server's: its own defaults)")
    parser.add_argument("--precision", default="auto", choices=["auto", "float32", "bfloat16", "int8"])
    parser.add_argument("--serve-option", action="append", default=[], metavar="ARG",
                        help="an argument for tagger serve, e.g. --serve-option=--batch-wait-ms=10 (repeat for more)")
    args = parser.parse_args()
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as the tagger command (the server) sets it, before torch loads here

    texts = documents(args.file, args.sentences)
    pipe_rate, pipe_cpu = pipe_words_per_second(args, texts)
    reference = reference_upos(args, texts)
    server, url, running = start_server(args)
    try:
        run = load(url, texts, args, server.pid)
        health = httpx.get(url + "/health", timeout=60).json()
        bad = bad_requests(url, max_body_bytes=4 * 1024 * 1024, max_text_chars=1_000_000)  # the server's defaults
    finally:
        server.terminate()
        exit_status = server.wait(timeout=300)
    answered_words = sum(len(words) for _, words in run["answers"])
    quantiles = statistics.quantiles(run["latencies"], n=100)
    rss = run["rss_mb"]
    print(json.dumps({
        "machine": {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
                    "affinity": sorted(os.sched_getaffinity(0))},
        "model": args.model, "precision": args.precision, "serve_options": args.serve_option, "server": running, "pipe_threads": args.threads, "clients": args.clients,
        "requests": args.requests, "documents": len(texts), "sentences_per_document": args.sentences,
        "words_per_request": round(answered_words / max(len(run["answers"]), 1), 1),
        "requests_per_s": round(args.requests / run["elapsed"], 1),
        "words_per_s": round(answered_words / run["elapsed"]),
        "pipe_words_per_s": round(pipe_rate),
        "words_per_s_over_pipe": round(answered_words / run["elapsed"] / pipe_rate, 3),
        # CPU seconds a word: the server's and the clients' beside pipe's (independent of what else runs on the machine)
        "cpu_ms_per_1000_words": {"server": round(1e6 * run["cpu"]["server"] / answered_words, 1),
                                  "clients": round(1e6 * run["cpu"]["clients"] / answered_words, 1),
                                  "pipe": round(1e6 * pipe_cpu, 1)},
        "latency_ms": {name: round(1000 * value, 1) for name, value in
                       (("p50", quantiles[49]), ("p95", quantiles[94]), ("p99", quantiles[98]))},
        "errors": len(run["errors"]), "first_errors": run["errors"][:5],
        "rss_mb": {name: round(value, 1) for name, value in rss.items()},
        "rss_growth": round(rss[f"after_{args.requests}"] / rss[f"after_{RSS_MARK}"], 3) if len(rss) == 2 else None,
        "requests_per_batch": round(health["served"] / max(health["batches"], 1), 2),
        "upos_equal_to_tagger_tag": upos_agreement(run["answers"], reference),
        "bad_requests": bad,
        "bad_requests_all_4xx_json_and_health_after": all(
            case["status"] is not None and 400 <= case["status"] < 500 and case["reason"] and case["health_after"] == 200
            for case in bad),
        "server_exit_status_after_sigterm": exit_status,
    }, indent=1))


if __name__ == "__main__":
    main()
