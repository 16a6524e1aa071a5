"""What one endpoint and model accept, found once at preflight with a few tiny requests, and
kept (`<cache>/llm/endpoints/`) so a rerun asks nothing.

A 16-token JSON request tries each of `dialects.FORMATS` in turn; a refused parameter is
swapped or dropped (`dialects.PARAMS`) and said once; the first format that the server
accepts is used for the run.
Then, when a reply takes long enough to measure, the same request is sent a few times at
once to see how many the server answers side by side: a server that generates one request
at a time gets one at a time, so the client's timeout counts generation, not queueing.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import openai
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from pipeline.core.config import LLMConfig
from pipeline.core.errors import InfrastructureError
from pipeline.core.store import atomic_write_json, content_hash, read_json
from pipeline.llm import dialects
from pipeline.llm.prompts import schema_error

VERSION = "1"
PROBE_SCHEMA = {"type": "object", "additionalProperties": False, "required": ["ok"],
                "properties": {"ok": {"type": "boolean"}}}
PROBE_MESSAGES = [
    {"role": "system", "content": "Reply with JSON only."},
    {"role": "user", "content": 'Reply with exactly this JSON object: {"ok": true}\n\n'
                                'Item data:\n```json\n{"task": "probe"}\n```'},
]
PROBE_TOKENS = 16
MEASURE_MIN_S = 0.05  # a reply faster than this: the server is not the bottleneck
MEASURE_AT_ONCE = 4
SPAN_MIN_S = 0.02  # a probe reply written faster than this cannot show what overlaps


@dataclass
class Endpoint:
    """What the run sends to this endpoint and model."""

    server: str = ""  # a known server of dialects.SERVERS, '' when unknown
    format: str = "json_schema"  # a dialects.FORMATS name
    params: dict[str, str | None] = field(default_factory=dict)  # refused: new name or None
    parallel: int | None = None  # requests answered side by side; None: not limited/measured
    reply_s: float = 0.0  # one probe reply, seconds
    probe_valid: bool = True  # whether the probe's reply followed its schema
    token_s: float | None = None  # seconds per reply token, overheads included (an upper bound)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def describe(self, llm: LLMConfig) -> list[str]:
        """One line per finding, for the run's log."""
        fmt = dialects.format_named(self.format)
        how = "the server constrains decoding to the schema" if fmt.constrains else \
            "replies checked against the schema"
        server = f" ({self.server})" if self.server else ""
        lines = [f"llm: {llm.base_url or 'api.openai.com'}{server}, model '{llm.model}': JSON "
                 f"by {self.format} ({how})"]
        for name, new in sorted(self.params.items()):
            lines.append(f"llm: the server refuses '{name}'; "
                         + (f"sending '{new}' instead" if new else "leaving it out"))
        if self.token_s and "stream" not in self.params:
            lines.append(f"llm: replies come at ~{1 / self.token_s:.0f} tokens/s (measured), "
                         "streamed: a long reply is never cut short (llm.timeout_s limits "
                         "each wait for a token; the first may take longer on a long prompt)")
        elif self.timeout_s(llm) > llm.timeout_s:
            lines.append(f"llm: replies come at ~{1 / (self.token_s or 1):.0f} tokens/s "
                         f"(measured): a {llm.max_tokens}-token reply may take "
                         f"{self.timeout_s(llm):.0f} s, the timeout per request, not "
                         f"llm.timeout_s={llm.timeout_s:g}")
        if self.parallel is not None and self.parallel < llm.concurrency:
            lines.append(f"llm: the server answers {self.parallel} request(s) at a time "
                         f"(measured); sending {self.parallel} at a time, not "
                         f"llm.concurrency={llm.concurrency}")
        return lines


    def first_token_s(self, llm: LLMConfig, prompt_tokens: int = 0) -> float:
        """A streamed reply's limit for its first token: llm.timeout_s, or longer where
        reading the prompt would need longer at the measured speed (a prompt read on a busy
        CPU went as slowly as a reply is written)."""
        if not self.token_s:
            return llm.timeout_s
        return max(llm.timeout_s, round(1.5 * prompt_tokens * self.token_s + 30))

    def timeout_s(self, llm: LLMConfig, prompt_tokens: int = 0) -> float:
        """Per request, from when it is sent: llm.timeout_s, or longer where reading the
        prompt and writing a reply of llm.max_tokens tokens would need longer at the
        measured speed (with room; on a busy CPU, reading a prompt was as slow as writing)."""
        if not self.token_s:
            return llm.timeout_s
        need = 1.5 * (llm.max_tokens + prompt_tokens) * self.token_s + 30
        return max(llm.timeout_s, round(need))


class Refused(Exception):
    """The server refused a parameter of the request (named in `param`)."""

    def __init__(self, param: str, message: str) -> None:
        super().__init__(message)
        self.param = param


def shape(req: dict[str, Any], endpoint: Endpoint) -> dict[str, Any]:
    """The request with refused parameters renamed or left out."""
    out = dict(req)
    for name, new in endpoint.params.items():
        if name in out:
            value = out.pop(name)
            if new:
                out[new] = value
    return out


def adjust(endpoint: Endpoint, param: str, formats: tuple[dialects.Format, ...]) -> bool:
    """Change `endpoint` so that `param` is no longer sent as it was; False when nothing can
    be changed (the request cannot be made acceptable)."""
    if param == "response_format":
        names = [f.name for f in formats]
        if endpoint.format in names and names.index(endpoint.format) + 1 < len(names):
            endpoint.format = names[names.index(endpoint.format) + 1]
            return True
        return False
    if param in dialects.PARAMS and param not in endpoint.params:
        endpoint.params[param] = dialects.PARAMS[param]
        return True
    return False


def endpoint_key(llm: LLMConfig) -> str:
    return content_hash("llm-endpoint", VERSION, llm.base_url, llm.model, llm.response_format,
                        llm.temperature is not None, llm.seed is not None, llm.concurrency)


def load(llm: LLMConfig, cache_dir: Path) -> Endpoint | None:
    try:
        data = read_json(cache_dir / "endpoints" / f"{endpoint_key(llm)}.json")
        return Endpoint(**data)
    except (FileNotFoundError, ValueError, TypeError):
        return None


def negotiate(llm: LLMConfig, client: openai.OpenAI, cache_dir: Path,
              scrub: Any = str) -> Endpoint:
    """The endpoint's capabilities: from the cache, else found now and cached."""
    known = load(llm, cache_dir)
    if known is not None:
        return known
    server = _server(client)
    formats = _formats(llm, server)
    endpoint = Endpoint(server=server, format=formats[0].name)
    while True:
        req = request(llm, endpoint, PROBE_MESSAGES, "probe", PROBE_SCHEMA,
                      PROBE_TOKENS)
        t0 = time.perf_counter()
        try:
            content, tokens = _post(client, req, llm, scrub)
        except Refused as exc:
            if not adjust(endpoint, exc.param, formats):
                raise InfrastructureError(scrub(
                    f"llm: the server refuses every way of asking for JSON (last: {exc})")
                ) from None
            continue
        t_reply = time.perf_counter() - t0
        break
    # Whether the probe's reply was right says little (a tiny model may ramble within 16
    # tokens); recorded for the log, the format is the first the server accepts.
    try:
        endpoint.probe_valid = not schema_error(PROBE_SCHEMA, dialects.extract_json(content))
    except ValueError:
        endpoint.probe_valid = False
    if t_reply >= MEASURE_MIN_S:
        # Timed again, warm: the first request of a freshly loaded model pays for its start.
        req = request(llm, endpoint, PROBE_MESSAGES, "probe", PROBE_SCHEMA, PROBE_TOKENS)
        t0 = time.perf_counter()
        _, tokens = _post(client, req, llm, scrub)
        t_reply = time.perf_counter() - t0
        if tokens:
            endpoint.token_s = round(t_reply / tokens, 4)
        if llm.concurrency > 1:  # measured, whatever the server is known as
            endpoint.parallel = _parallel(llm, client, req, t_reply, scrub)
    endpoint.reply_s = round(t_reply, 3)
    save(llm, cache_dir, endpoint)
    return endpoint


def save(llm: LLMConfig, cache_dir: Path, endpoint: Endpoint) -> None:
    atomic_write_json(cache_dir / "endpoints" / f"{endpoint_key(llm)}.json", endpoint.to_dict())


def request(llm: LLMConfig, endpoint: Endpoint, messages: list[dict[str, Any]], task: str,
            schema: dict[str, Any], max_tokens: int) -> dict[str, Any]:
    """A chat request as this endpoint takes it."""
    req: dict[str, Any] = {"model": llm.model, "messages": messages,
                           "temperature": llm.temperature, "max_tokens": max_tokens}
    if llm.seed is not None:
        req["seed"] = llm.seed
    req.update(dialects.format_named(endpoint.format).fields(task, schema))
    return shape(req, endpoint)


def _formats(llm: LLMConfig, server: str) -> tuple[dialects.Format, ...]:
    """The formats to try, in order: a forced llm.response_format first, then the rest."""
    formats = dialects.formats_for(server)
    if llm.response_format != "auto":
        start = dialects.FORMAT_NAMES.index(llm.response_format)
        formats = tuple(f for f in dialects.FORMATS[start:])
    return formats


def _server(client: openai.OpenAI) -> str:
    try:
        listing = client.get("/models", cast_to=object)
    except (openai.APIError, ValueError):
        return ""
    data = listing.get("data") if isinstance(listing, dict) else None
    return dialects.server_from_models([m for m in data or [] if isinstance(m, dict)])


def _post(client: openai.OpenAI, req: dict[str, Any], llm: LLMConfig, scrub: Any
          ) -> tuple[str, int]:
    """The reply's content and its completion tokens."""
    url = str(client.base_url).rstrip("/")
    for attempt in range(3):
        try:
            resp = client.post("/chat/completions", body=req, cast_to=ChatCompletion)
            tokens = resp.usage.completion_tokens if resp.usage else 0
            return resp.choices[0].message.content or "", tokens
        except openai.APIStatusError as exc:
            param = dialects.refused_parameter(exc.status_code, str(exc), req)
            if param:
                raise Refused(param, scrub(f"http {exc.status_code}: {exc.message}")) from None
            if exc.status_code in (401, 403):
                raise InfrastructureError(scrub(
                    f"llm: {url} refused the API key (http {exc.status_code}): check "
                    "OPENAI_API_KEY")) from None
            if exc.status_code == 404:
                raise InfrastructureError(scrub(
                    f"llm: {url} has no model '{llm.model}' (http 404: {exc.message}); "
                    "set llm.model to one it lists")) from None
            if exc.status_code < 500 and exc.status_code not in (408, 409, 429):
                raise InfrastructureError(scrub(
                    f"llm: {url} refused a 16-token JSON request (http {exc.status_code}: "
                    f"{exc.message})")) from None
            last = f"http {exc.status_code}: {exc.message}"
        except openai.APITimeoutError:
            raise InfrastructureError(
                f"llm: {url} did not answer a {PROBE_TOKENS}-token request within "
                f"{llm.timeout_s:g} s; is it busy with other work? Raise llm.timeout_s "
                "or free the server") from None
        except openai.APIConnectionError as exc:
            last = f"connection error ({type(exc.__cause__ or exc).__name__})"
        time.sleep(min(llm.backoff_max_s, llm.backoff_s * 2 ** attempt))
    raise InfrastructureError(scrub(f"llm: {url}: the first request failed 3 times ({last})"))


def _parallel(llm: LLMConfig, client: openai.OpenAI, req: dict[str, Any], single: float,
              scrub: Any) -> int | None:
    """How many requests the server answers side by side (None: at least as many as sent,
    so llm.concurrency stands): the same request sent a few times at once, streamed, and the
    most replies seen being written at the same time. Order, not speed, decides: a server
    that writes one reply at a time starts the next only after the last token of the one
    before, however slow or busy the machine is (timing the batch against `single`, the
    seconds one request took alone, read a serial llama-cpp-python as 3 at once when the
    lone probe happened to be slow). A server that refuses to stream, or writes a reply too
    fast to tell what overlaps (under SPAN_MIN_S from its first token to its last), is
    timed instead."""
    n = min(llm.concurrency, MEASURE_AT_ONCE)
    queued = client.with_options(timeout=llm.timeout_s * n)  # the last may wait for n-1
    try:
        with ThreadPoolExecutor(n) as pool:
            spans = list(pool.map(lambda _: _written(queued, req), range(n)))
    except (openai.APIError, ValueError):
        spans = []
    if len(spans) == n and all(b - a >= SPAN_MIN_S for a, b in spans):
        most = max(sum(1 for a, b in spans if _overlap((a, b), span) > 0.5) for span in spans)
        return None if most >= n else most
    t0 = time.perf_counter()
    with ThreadPoolExecutor(n) as pool:
        list(pool.map(lambda _: _post(queued, req, llm, scrub), range(n)))
    together = time.perf_counter() - t0
    if together > 0.6 * n * single:  # clearly one after another (timings on a busy machine
        return 1                     # are noisy: a serial server must not look parallel)
    parallel = max(1, min(n, round(n * single / max(together, 1e-6))))
    return None if parallel >= n else parallel


def _written(client: openai.OpenAI, req: dict[str, Any]) -> tuple[float, float]:
    """(first token, last token) of `req`'s reply, streamed, on the monotonic clock."""
    stream = client.post("/chat/completions", body={**req, "stream": True},
                         cast_to=ChatCompletion, stream=True,
                         stream_cls=openai.Stream[ChatCompletionChunk])
    first = last = 0.0
    try:
        for chunk in stream:
            if any(c.delta and c.delta.content for c in chunk.choices):
                last = time.monotonic()
                first = first or last
    finally:
        stream.close()
    return first, last


def _overlap(a: tuple[float, float], b: tuple[float, float]) -> float:
    """How much of the shorter of two spans the other covers (0 to 1): a thread scheduled
    late on a busy machine may stamp a token a little after the next reply began."""
    shared = min(a[1], b[1]) - max(a[0], b[0])
    return max(0.0, shared) / max(1e-9, min(a[1] - a[0], b[1] - b[0]))
