"""`tagger serve`: the arguments, then the socket bound, the models loaded and warmed up, then uvicorn.

The socket is bound before the models load, so a port in use is one line at once rather than after
the load; `--port 0` takes a free port, and the line `tagger serve: listening on http://HOST:PORT`
on stderr says which (tests and scripts read it). SIGTERM or Ctrl-C stops taking connections,
answers the requests in flight, tags what is queued, and exits (status 0 for SIGTERM).
"""

from __future__ import annotations

import argparse
import signal
import socket
import sys
from typing import NoReturn

from tagger.errors import TaggerError
from tagger.serving.limits import Limits

# A server's batches are the sentences of the requests that arrived together (32 documents of 10 sentences:
# ~4,000 words), not a file's thousands; on them a budget of 1,536 padded words ran 19 % (bfloat16) and 5 %
# (float32) faster than the 4,096 that suits long streams, and whole-file batches no slower (en_ewt dev, 1 thread).
CPU_BATCH_TOKENS = 1536


def add_serve_command(commands: argparse._SubParsersAction, device_help: str) -> None:
    serve = commands.add_parser("serve", help="serve models over HTTP: POST /tag, and UDPipe 2's API under /udpipe/ "
                                              '(needs pip install "tagger[serve]")')
    serve.add_argument("--model", "-m", action="append", metavar="NAME",
                       help="a model to serve (file, installed or shipped name, or language code); give it again for "
                            "more; the first is the default (default: en_ewt)")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1, this machine only)")
    serve.add_argument("--port", type=int, default=8080, help="port to listen on; 0 takes a free one (default: 8080)")
    serve.add_argument("--max-body-bytes", type=int, default=Limits.max_body_bytes, metavar="N",
                       help="a larger request body is answered 413 (default: 4 MiB, as UDPipe's server)")
    serve.add_argument("--max-text-chars", type=int, default=Limits.max_text_chars, metavar="N",
                       help="a longer text in a request is answered 413 (default: 1,000,000)")
    serve.add_argument("--max-in-flight", type=int, default=Limits.max_in_flight, metavar="N",
                       help="tagging requests read, queued or being tagged at once; one more is answered 429 (default: 256)")
    serve.add_argument("--batch-wait-ms", type=float, default=2.0, metavar="MS",
                       help="how long a request waits for others to be tagged with it (default: 2)")
    serve.add_argument("--batch-texts", type=int, default=256, metavar="N",
                       help="the most texts tagged together, from any number of requests (default: 256)")
    serve.add_argument("--batch-tokens", type=int, metavar="N",
                       help="the network's budget of (padded) words a batch (default: 1536 on a CPU, where a few "
                            "requests' sentences ran 5-19 %% faster than with tagger tag's 4096; the tagger's default on a GPU)")
    serve.add_argument("--workers", type=int, metavar="N",
                       help="tagging threads, each running its own batches with one shared copy of the models "
                            "(default: one a core on a CPU, 1 on a GPU)")
    serve.add_argument("--threads", type=int, metavar="N",
                       help="torch CPU threads each tagging thread uses (default: the cores shared among the workers, "
                            "so 1 with the default workers)")
    serve.add_argument("--device", default="auto", help=device_help)
    serve.add_argument("--precision", choices=["auto", "float32", "bfloat16", "int8"], default="auto",
                       help="arithmetic of the network, as in tagger tag (default: auto)")
    serve.add_argument("--access-log", action="store_true", help="log every request on stderr")


def serve_command(args: argparse.Namespace) -> int:
    try:
        import uvicorn
    except ImportError:
        raise TaggerError('tagger serve needs the serve extra: pip install "tagger[serve]"') from None
    from tagger.device import resolve_device
    from tagger.inference.tagger import Tagger
    from tagger.inference.workers import default_threads, usable_cores
    from tagger.serving.app import create_app
    from tagger.serving.batcher import Batcher
    from tagger.serving.models import ServedModels, model_name

    limits = Limits(args.max_body_bytes, args.max_text_chars, args.max_in_flight)
    for option, value in [("--max-body-bytes", limits.max_body_bytes), ("--max-text-chars", limits.max_text_chars),
                          ("--max-in-flight", limits.max_in_flight), ("--batch-texts", args.batch_texts),
                          ("--batch-tokens", args.batch_tokens), ("--workers", args.workers), ("--threads", args.threads)]:
        if value is not None and value < 1:
            raise TaggerError(f"{option} {value}: give 1 or more")
    if args.batch_wait_ms < 0:
        raise TaggerError(f"--batch-wait-ms {args.batch_wait_ms:g}: give 0 or more")
    names = args.model or ["en_ewt"]
    served = [model_name(name) for name in names]
    if len(set(served)) < len(served):
        raise TaggerError(f"--model: {next(n for n in served if served.count(n) > 1)} is given twice")
    listener = listen(args.host, args.port)
    signal.signal(signal.SIGTERM, _exit_quietly)  # until uvicorn's own handler, and after it
    device = resolve_device(args.device, option="--device ")
    batch_tokens = args.batch_tokens if args.batch_tokens is not None else CPU_BATCH_TOKENS if device.type == "cpu" else None
    workers = args.workers or (usable_cores() if device.type == "cpu" else 1)
    threads = args.threads or default_threads(workers)
    taggers = {name: Tagger.load(argument, precision=args.precision, device=device, threads=threads,
                                 batch_tokens=batch_tokens) for name, argument in zip(served, names)}
    for tagger in taggers.values():
        tagger.tag("Warm up the tokenizer and the network.")  # the first request is not the one that waits
    models = ServedModels(taggers)
    app = create_app(models, Batcher(taggers, args.batch_wait_ms / 1000, args.batch_texts, workers), limits)
    host, port = listener.getsockname()[:2]
    url_host = f"[{host}]" if ":" in host else host
    print(f"tagger serve: listening on http://{url_host}:{port} with {', '.join(taggers)}, {workers} tagging "
          f"thread{'s' * (workers > 1)} of {threads} torch thread{'s' * (threads > 1)} (SIGTERM or Ctrl-C stops it)",
          file=sys.stderr, flush=True)
    config = uvicorn.Config(app, log_config=None, access_log=args.access_log, timeout_graceful_shutdown=None,
                            lifespan="on")
    uvicorn.Server(config).run(sockets=[listener])
    return 0


def listen(host: str, port: int) -> socket.socket:
    """A listening TCP socket on `host`:`port`; an address in use or not this machine's is a TaggerError."""
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        return socket.create_server((host, port), family=family, backlog=2048)
    except OSError as error:
        raise TaggerError(f"cannot listen on {host}:{port}: {error.strerror or error}") from None


def _exit_quietly(signum: int, frame: object) -> NoReturn:
    """SIGTERM outside uvicorn's graceful shutdown (loading, or after it re-raises the signal): exit 0."""
    raise SystemExit(0)
