"""UDPipe 2's REST API under `/udpipe/`, so UDPipe's own client (`udpipe2_client.py --service
http://HOST:PORT/udpipe`) and scripts written for its service work unchanged.

As UDPipe 2's server (`udpipe2_server.py` in ufal/udpipe, branch udpipe-2) reads them, parameters come
from the URL's query and, for POST, from the body's fields (multipart/form-data or
application/x-www-form-urlencoded), a field winning over the same name in the query.

`/udpipe/process`:

- `data` (required): the text, NFC-normalised first as UDPipe does;
- `model`: a served name or alias (`tagger.serving.models`), by default the server's default model;
- `tokenizer`: present (any value, even empty) means `data` is raw text to split into sentences and
  tokens; its options, separated by `;`, may be `presegmented` (one sentence a line); others are refused;
- `input` (without `tokenizer`): `conllu` (the default), `horizontal` (a sentence a line, tokens
  separated by spaces) or `vertical` (a token a line, a blank line after each sentence);
- `tagger`: present means tag (its value is ignored); absent, the answer is the sentences as read or segmented;
- `parser`: accepted, but this server has no parser: HEAD and DEPREL stay as read (`_` for raw text);
- `output`: `conllu`, the only one.

The answer is UDPipe's: `{"model": NAME, "acknowledgements": [...], "result": CONLLU}`. `/udpipe/models`
answers `{"models": {NAME: ["tokenizer", "tagger"], ...}, "default_model": NAME}`.

Errors differ in one way, on purpose: UDPipe answers 400 with a plain-text message, this server
`{"error": REASON}` (as everywhere in this server) with 400, or 413/429 for its limits. UDPipe's
client prints the body of an error whatever it holds, so it shows the reason either way.
"""

from __future__ import annotations

import unicodedata

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tagger import __version__
from tagger.inference.documents import TaggedDocument
from tagger.serving.app import RequestError, Service, check_lengths
from tagger.serving.batcher import Job
from tagger.serving.models import UnknownModel

INPUT_FORMATS = {"conllu": "conllu", "horizontal": "tokenized", "vertical": "conllu"}  # vertical becomes CoNLL-U
TOKENIZER_OPTIONS = {"presegmented"}
FORM_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded")


def udpipe_routes(service: Service) -> list[Route]:
    async def models(request: Request) -> JSONResponse:
        await parameters(request, service)  # a malformed body is refused here as in /process
        return JSONResponse({"models": {name: ["tokenizer", "tagger"] for name in service.models.taggers},
                             "default_model": service.models.default})

    async def process(request: Request) -> JSONResponse:
        async with service.in_flight:
            params = await parameters(request, service)
            if "data" not in params:
                raise RequestError(400, "The parameter 'data' is required.")
            data = unicodedata.normalize("NFC", params["data"])
            check_lengths([data], service.limits.max_text_chars)
            try:
                model = service.models.resolve(params.get("model"))
            except UnknownModel as error:
                raise RequestError(400, str(error)) from None  # 400, as UDPipe answers an unknown model
            if params.get("output", "conllu") != "conllu":
                raise RequestError(400, f"Unknown output format {params['output']!r}: this server writes conllu only.")
            input_format, data = reading(params, data)
            result = await service.run(Job(model, [data], render_conllu, input_format, tag="tagger" in params))
            return JSONResponse({"model": model, "acknowledgements": acknowledgements(service, model), "result": result})

    return [Route("/models", models, methods=["GET", "POST"]), Route("/process", process, methods=["GET", "POST"])]


async def parameters(request: Request, service: Service) -> dict[str, str]:
    """The query's parameters, then a POST body's fields over them, each a string."""
    params = dict(request.query_params)
    if request.method != "POST":
        return params
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith(FORM_TYPES):
        if await request.body():
            raise RequestError(400, f"Unsupported payload Content-Type {content_type or '<none>'!r}: send "
                                    "multipart/form-data or application/x-www-form-urlencoded fields.")
        return params
    limit = service.limits.max_body_bytes
    async with request.form(max_part_size=limit) as form:
        for name, value in form.multi_items():
            if isinstance(value, UploadFile):  # curl -F data=@file.txt
                content = await value.read()
                try:
                    value = content.decode("utf-8-sig")
                except UnicodeDecodeError as error:
                    raise RequestError(400, f"field {name!r} is not UTF-8 (byte 0x{content[error.start]:02x} at "
                                            f"{error.start})") from None
            params[name] = value
    return params


def reading(params: dict[str, str], data: str) -> tuple[str, str]:
    """How to read `data` (an input format of `Tagger.tag`), and `data` in it."""
    if "tokenizer" in params:
        options = {option.strip() for option in params["tokenizer"].split(";") if option.strip()}
        if unknown := options - TOKENIZER_OPTIONS:
            raise RequestError(400, f"tokenizer option {sorted(unknown)[0]!r} is not supported: this server takes "
                                    f"{', '.join(sorted(TOKENIZER_OPTIONS))} (or none)")
        return ("lines" if "presegmented" in options else "raw"), data
    given = params.get("input", "conllu")
    if given not in INPUT_FORMATS:
        raise RequestError(400, f"Unknown input format {given!r}: use {', '.join(INPUT_FORMATS)}, or the "
                                "tokenizer parameter for raw text.")
    return INPUT_FORMATS[given], vertical_as_conllu(data) if given == "vertical" else data


def vertical_as_conllu(data: str) -> str:
    """UDPipe's vertical format (a token a line, its first tab-separated field; a blank line ends a
    sentence) as CoNLL-U rows, so tokens keep any spaces they hold."""
    sentences, words = [], []
    for line in [*data.splitlines(), ""]:
        form = line.split("\t", 1)[0].strip()
        if form:
            words.append(form)
        elif words:
            sentences.append("".join(f"{i}\t{word}\t_\t_\t_\t_\t_\t_\t_\t_\n" for i, word in enumerate(words, 1)) + "\n")
            words = []
    return "".join(sentences)


def render_conllu(documents: list[TaggedDocument]) -> str:
    (document,) = documents
    return document.to_conllu()


def acknowledgements(service: Service, model: str) -> list[str]:
    data = service.models.taggers[model].bundle.provenance.get("data")
    return [f"tagger {__version__}", f"model {model}" + (f", trained on {data}" if data else "")]
