"""What OpenAI-compatible servers accept, as data: the ways to ask for JSON, the known
servers, and the request parameters some of them refuse.

The client never branches on a server's name: preflight tries the `FORMATS` in order (a
known server's row only says which to skip, to spare a request it is known to refuse) and
keeps the first that works; an error that names a parameter is answered by `PARAMS` (swap or
drop it), never retried as transient. Every server here was tried or read about; the docs page
(docs/llm.md) lists what each negotiated.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Format:
    """One way to ask for JSON. `constrains`: the server guarantees schema-valid JSON."""

    name: str
    constrains: bool
    note: str

    def fields(self, task: str, schema: dict[str, Any]) -> dict[str, Any]:
        """The request fields that ask for this format."""
        if self.name == "json_schema":
            return {"response_format": {"type": "json_schema", "json_schema": {
                "name": task, "schema": schema, "strict": False}}}
        if self.name == "json_object_schema":
            return {"response_format": {"type": "json_object", "schema": schema}}
        if self.name == "json_object":
            return {"response_format": {"type": "json_object"}}
        return {}  # prompt: the prompt's own words ask for JSON


# Tried in this order; the first a server accepts is used for the whole run.
FORMATS = (
    Format("json_schema", True, "OpenAI, vLLM, Ollama >= 0.5, llama.cpp llama-server"),
    Format("json_object_schema", True, "llama-cpp-python's server (grammar from the schema), "
                                       "llama.cpp llama-server"),
    Format("json_object", False, "JSON mode: valid JSON, any shape"),
    Format("prompt", False, "no response_format: JSON asked for in words, then parsed"),
)
FORMAT_NAMES = tuple(f.name for f in FORMATS)


def format_named(name: str) -> Format:
    return next(f for f in FORMATS if f.name == name)


@dataclass(frozen=True)
class Server:
    """A known server: how `GET /models` gives it away, and what it is known to refuse."""

    name: str
    owned_by: tuple[str, ...]  # substrings of a listed model's `owned_by`
    skip: tuple[str, ...]  # formats it refuses (not tried)
    note: str


SERVERS = (
    Server("openai", ("openai", "system"), (), "max_completion_tokens and no temperature on "
           "reasoning models (o1, o3, gpt-5): found by the error, not by name"),
    Server("vllm", ("vllm",), (), "json_schema (also its own `guided_json`)"),
    Server("ollama", ("library", "ollama"), (), "json_schema on /v1 from 0.5 (natively, "
           "`format` with a schema)"),
    Server("llama.cpp", ("llamacpp",), (), "llama-server: json_schema or json_object + schema"),
    Server("llama-cpp-python", ("me",), ("json_schema",), "answers json_schema with HTTP 500 "
           "(a validation error); json_object + schema constrains decoding; one model lock, "
           "so one request at a time (measured at preflight, like every server's); a "
           "streamed reply is ended when another request arrives unless the server runs with "
           "--interrupt_requests False"),
    Server("spiral-offline", ("spiral-offline",), (), "the project's stand-in "
           "(pipeline/testing/offline_server.py); takes the item spec beside the prompt"),
)


def server_from_models(models: list[dict[str, Any]]) -> str:
    """The known server a `GET /models` listing gives away ('' when none)."""
    owners = [str(m.get("owned_by", "")).lower() for m in models]
    for server in SERVERS:
        if any(o == key or (len(key) > 2 and key in o) for o in owners for key in server.owned_by):
            return server.name
    return ""


def formats_for(server: str) -> tuple[Format, ...]:
    skip = next((s.skip for s in SERVERS if s.name == server), ())
    return tuple(f for f in FORMATS if f.name not in skip)


def takes_sidecar(server: str) -> bool:
    """Whether the request may carry the item spec outside the messages (the stand-in only:
    it writes as the offline writer would, and a model never sees it)."""
    return server == "spiral-offline"


# A parameter a server may refuse, and what to do instead: send it under another name, or
# drop it (the server's default applies).
PARAMS: dict[str, str | None] = {
    "max_tokens": "max_completion_tokens",
    "temperature": None,
    "seed": None,
    "top_p": None,
    "stream": None,  # not streamed: one limit for the whole request
    "stream_options": None,
}
_REFUSAL = re.compile(
    r"unsupported|not supported|unrecognized|unrecognised|unexpected|not permitted|"
    r"not allowed|extra (?:fields|inputs)|input should be|does not support|unknown (?:field|"
    r"parameter)|is not valid|invalid value|literal_error|only the default|but not both",
    re.I)


def refused_parameter(status: int, message: str, request: dict[str, Any]) -> str | None:
    """The request parameter an error names as refused (None: not such an error).

    Servers disagree on the status (OpenAI 400, vLLM 400, llama-cpp-python 500 for its
    validation errors), so the body decides: it must name a parameter this request sent and
    say it is not accepted. Such an error is the same on every retry.
    """
    if status in (408, 429) or not _REFUSAL.search(message):
        return None
    sent = [k for k in request if k not in ("model", "messages")]
    for key in sorted(sent, key=len, reverse=True):
        if re.search(rf"(?<![a-z_]){re.escape(key)}(?![a-z_])", message):
            return key
    # A format named by its type (llama-server: 'Either "json_schema" or "grammar" can be
    # specified, but not both') is a refusal of the response_format that asked for it.
    kind = (request.get("response_format") or {}).get("type")
    if kind and re.search(rf"(?<![a-z_]){re.escape(kind)}(?![a-z_])", message):
        return "response_format"
    return None


_FENCE = re.compile(r"```[A-Za-z0-9_-]*[ \t]*\n?(.*?)```", re.S)


def extract_json(text: str) -> Any:
    """The JSON value a reply carries: as is, else inside a ``` fence, else the outermost
    {...} or [...] once prose before and after it is cut. Raw line breaks and tabs inside
    strings are taken as they are (llama.cpp's JSON grammar lets a model write them). Raises
    json.JSONDecodeError (of the whole text) when none parses."""
    try:
        return json.loads(text, strict=False)
    except json.JSONDecodeError as exc:
        first = exc
    candidates = [m.group(1) for m in _FENCE.finditer(text)]
    for open_, close in (("{", "}"), ("[", "]")):
        i, j = text.find(open_), text.rfind(close)
        if 0 <= i < j:
            candidates.append(text[i:j + 1])
    for cand in candidates:
        try:
            return json.loads(cand, strict=False)
        except json.JSONDecodeError:
            continue
    raise first
