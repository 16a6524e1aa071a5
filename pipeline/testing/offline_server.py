"""`spiral serve-offline-llm`: a real OpenAI-compatible HTTP server answering from the
offline writer, for tests and demos of the LLM path with no model and no network.

It serves `GET /v1/models` and `POST /v1/chat/completions` on 127.0.0.1 only, reads the
item data block (```json ... ```) the pipeline's prompts carry, and answers each task with
what the offline writer would write, so a run through it builds the same items as the
offline backend. It logs one line per request (method, path, status, task; never a header)
and can inject faults: latency, 429 with Retry-After, 500, hangs past the client's timeout,
malformed and truncated JSON, an item whose calls always fail, and no json_schema support.
It can also behave as the real servers we tried do (docs/llm.md): one request at a time
(llama-cpp-python), a slow `/models` while busy, JSON in ```json fences after a sentence,
HTTP 400 for `max_tokens` and `temperature` (OpenAI's reasoning models), HTTP 500 for
json_schema (llama-cpp-python), and a model that ignores the schema (SmolLM2-135M).
The item spec comes beside the messages (`spiral_spec`), which only this server is sent.

It also answers `spiral eval`'s multiple-choice prompts, with the audio as an `input_audio`
part (base64 wav) as OpenAI's audio models and vLLM accept it, through the offline cascade
proxy hearing the first 30 s (`pipeline.baseline.cascade`, Original selector); a prompt with
no audio gets the cascade's blind answer. Replies vary in form ("B", "(B)", "The answer is
B.", "B. <text>", the choice's text) so the client's letter reading is exercised.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TextIO

from pipeline.core.records import LETTERS, ItemSpec
from pipeline.core.resources import load_stem_templates
from pipeline.core.seeds import derive_seed, rng_for
from pipeline.core.store import atomic_write_bytes
from pipeline.core.typed import from_dict
from pipeline.eval.protocol import parse_prompt
from pipeline.text.compare import mentions
from pipeline.writing.bank_sheet import bank_stems, proposed_sheet
from pipeline.writing.discourse import key_sentence, load_discourse_bank
from pipeline.writing.facts import key_fact, stem
from pipeline.writing.offline import write_script, wrong_choices

DATA_BLOCK = re.compile(r"```json\s*\n(.*?)\n```", re.S)
CHARS_PER_CHUNK = 4  # a streamed reply's "token"


@dataclass
class Faults:
    """Injected faults. Counted ones hit the first chat requests (not preflight's probes),
    in this order: 429, 500, hang, malformed, truncated."""

    latency_ms: int = 0
    rate_limit: int = 0  # answer 429 with Retry-After
    retry_after: float = 1.0
    server_error: int = 0  # answer 500
    hang: int = 0  # sleep `hang_s` before answering (past the client's timeout)
    hang_s: float = 10.0
    malformed: int = 0  # content that is not JSON
    truncated: int = 0  # content cut in half, finish_reason "length"
    fail_items: tuple[str, ...] = ()  # every request for these item ids answers 500
    no_json_schema: bool = False  # reject response_format json_schema with 400
    bad_facts: bool = False  # every `facts` reply breaks a rule (fact 2 takes fact 1's value)
    json_schema_500: bool = False  # reject it with llama-cpp-python's 500 validation error
    serial: bool = False  # one request at a time, the others wait (llama-cpp-python)
    slots: int = 0  # with serial: this many at a time instead of one
    models_delay_s: float = 0.0  # GET /models answers after this (a busy server)
    fenced: bool = False  # JSON in a ```json fence after a sentence of prose
    refuse_max_tokens: bool = False  # 400 for max_tokens (OpenAI's reasoning models)
    refuse_temperature: bool = False  # 400 for a temperature other than 1
    off_schema: bool = False  # JSON that ignores the schema (a model too small for the job)
    prose_tasks: tuple[str, ...] = ()  # these tasks are answered in prose, never JSON
    # Streamed replies (`stream: true`) come a few characters (a "token") per chunk:
    token_ms: float = 0.0  # between two chunks (a server writing at a given speed)
    stall_after: int = 0  # the first streamed reply (not a probe) stops after this many chunks,
    # for hang_s
    ramble_tasks: tuple[str, ...] = ()  # these tasks' replies loop up to max_tokens (SmolLM2)
    stray_speakers: bool = False  # script turns by '<speaker id>' (SmolLM2's, a rule broken)

    def take(self, lock: threading.Lock) -> str:
        with lock:
            for name in ("rate_limit", "server_error", "hang", "malformed", "truncated"):
                left = getattr(self, name)
                if left > 0:
                    setattr(self, name, left - 1)
                    return name
        return ""


class BadRequest(Exception):
    pass


@dataclass
class OfflineWriterAnswers:
    """Each task's answer from the offline writer, as the offline backend would write it."""

    prompts_dir: Path
    _cache: dict[str, Any] = field(default_factory=dict)

    def _load(self, name: str) -> Any:
        if name not in self._cache:
            path = self.prompts_dir
            self._cache[name] = {
                "bank": lambda: load_discourse_bank(path / "offline_writer.yaml",
                                                    path / "offline_discourse.yaml",
                                                    path / "offline_talk.yaml"),
                "stems": lambda: load_stem_templates(path / "offline_questions.yaml"),
            }[name]()
        return self._cache[name]

    def answer(self, data: dict[str, Any], attempt: int) -> dict[str, Any]:
        task = data.get("task")
        spec: ItemSpec = from_dict(ItemSpec, data["spec"]) if "spec" in data else None
        if spec is not None and attempt:
            # A re-ask draws afresh, as a sampling model would.
            spec = replace(spec, seed=derive_seed(spec.seed, "reask", attempt))
        if task == "probe":  # preflight's negotiation
            return {"ok": True}
        if task == "script":
            # The client sends the offline writer's own target (words_min == words_max).
            turns = write_script(spec, self._load("bank"), data["words_min"],
                                 data["disfluency_rate"])
            return {"turns": [{"speaker": t.speaker, "sentences": t.text} for t in turns]}
        if task == "plant":
            fact = key_fact(spec.facts, spec.key_fact)
            return {"sentence": key_sentence(spec, self._load("bank")), "answer": fact.value}
        if task == "facts":  # the plan's sheet, as drawn from the fact bank
            return {"facts": proposed_sheet(spec, self.prompts_dir, self._load("stems"))}
        if task == "question":
            fact = key_fact(spec.facts, spec.key_fact)
            stems = {**self._load("stems"), **bank_stems(self.prompts_dir, spec)}
            if fact.frame not in stems and not fact.slots.get("ask"):
                return {"question": f"What {fact.kind} is mentioned about {fact.subject}?"}
            return {"question": stem(fact, stems)}
        if task == "distractors":
            text, question = data["transcript"], data["question"]
            out = wrong_choices(spec, data["answer"], data["kind"],
                                data["slots"].get("unit", ""), rng_for(spec.seed, "question"),
                                lambda c: mentions(text, c) or mentions(question, c))
            return {"distractors": [c for c in out if c not in data.get("confusers", [])]}
        if task == "judge":
            text = data["transcript"] if isinstance(data["transcript"], str) \
                else " ".join(data["transcript"])
            for choice in data["choices"]:
                letter, _, value = choice.partition(". ")
                if mentions(text, value):
                    said = [s for s in re.split(r"(?<=[.!?])\s+", text) if mentions(s, value)]
                    return {"answer": letter, "evidence": said[0] if said else ""}
            return {"answer": "none", "evidence": ""}
        raise BadRequest(f"unknown task {task!r}")


REPLY_FORMS = ("{L}", "{L}. {T}", "The answer is {L}.", "({L})", "{T}")


class CascadeAnswers:
    """`spiral eval` prompts answered by the cascade proxy: the ASR words of the first 30 s
    (cached under `cache_dir` by the audio's hash) read against the choices."""

    def __init__(self, cache_dir: str | Path | None = None) -> None:
        self.cache_dir = Path(cache_dir or tempfile.mkdtemp(prefix="spiral-offline-audio-"))
        self._adapter: Any = None
        self._lock = threading.Lock()  # one ASR at a time: the CPU is the limit anyway

    def answer(self, text: str, audio: bytes | None) -> tuple[str, float]:
        """(reply, audio seconds) for one prompt; BadRequest when it is not one of ours."""
        from pipeline.baseline import speechprune as sp
        from pipeline.baseline.cascade import CascadeAdapter, prior, read_answer

        parsed = parse_prompt(text)
        if parsed is None:
            raise BadRequest("neither an item data block nor a SPIRAL multiple-choice prompt "
                             "(question, A.-D. choices, instruction)")
        question, choices = parsed
        seconds = 0.0
        with self._lock:
            if audio is None:
                letter = read_answer(question, choices, [], prior(question, choices))
            else:
                digest = hashlib.sha256(audio).hexdigest()[:24]
                wav = self.cache_dir / "audio" / f"{digest}.wav"
                if not wav.exists():
                    atomic_write_bytes(wav, audio)
                if self._adapter is None:
                    self._adapter = CascadeAdapter(self.cache_dir)
                rec = {"metadata": {"id": digest}, "test_question": {
                    "question": question,
                    "choices": [f"{x}. {c}" for x, c in zip(LETTERS, choices, strict=True)]}}
                try:
                    tokens, item = self._adapter.prepare(rec, wav)
                except Exception as exc:  # noqa: BLE001 - unreadable audio is the client's
                    raise BadRequest(f"input_audio is not a readable wav: {exc}") from None
                seconds = tokens.n / sp.TOKENS_PER_SECOND
                letter = self._adapter.answer(tokens, item, sp.make_selector("original")(tokens))
        form = REPLY_FORMS[int(hashlib.sha256(text.encode()).hexdigest(), 16) % len(REPLY_FORMS)]
        return form.format(L=letter, T=choices[LETTERS.index(letter)]), seconds


def _parts(content: Any) -> tuple[str, bytes | None] | None:
    """(text, audio bytes or None) of a message whose content is a list of parts."""
    if not isinstance(content, list):
        return None
    text, audio = [], None
    for part in content:
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text":
            text.append(str(part.get("text", "")))
        elif kind == "input_audio":
            spec = part.get("input_audio") or {}
            if spec.get("format", "wav") != "wav":
                raise BadRequest(f"input_audio format {spec.get('format')!r}: only wav")
            try:
                audio = base64.b64decode(spec.get("data", ""), validate=True)
            except ValueError:
                raise BadRequest("input_audio data is not base64") from None
        else:
            raise BadRequest(f"unsupported content part type {kind!r}")
    return "\n".join(text), audio


class OfflineLLMServer:
    """The server, in a background thread: `start()` gives the base URL, `stop()` ends it."""

    def __init__(self, prompts_dir: str | Path = "prompts", port: int = 0,
                 faults: Faults | None = None, model: str = "offline",
                 log: TextIO | None = None, audio_cache: str | Path | None = None) -> None:
        self.answers = OfflineWriterAnswers(Path(prompts_dir))
        self.cascade = CascadeAnswers(audio_cache)
        for bank in ("bank", "stems"):  # fail now on a bad prompts dir, answer fast
            self.answers._load(bank)
        self.faults = faults or Faults()
        self.model = model
        self.log = log if log is not None else sys.stderr
        # method, path, status, task, item, t and end (perf_counter), format (response_format)
        self.requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        # held through a request when faults.serial
        self._serial = threading.BoundedSemaphore(max(1, self.faults.slots))
        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), _handler(self))
        self.httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self.httpd.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def chat_requests(self) -> int:
        with self._lock:
            return sum(1 for r in self.requests if r["path"].endswith("/chat/completions"))

    def start(self) -> str:
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True,
                                        name="offline-llm-server")
        self._thread.start()
        return self.base_url

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> OfflineLLMServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def record(self, method: str, path: str, status: int, task: str, item: str,
               t0: float, fmt: str = "", body: dict[str, Any] | None = None,
               streamed: tuple[int, bool] | None = None) -> None:
        """One request in `requests`; a chat request also with its body (what the model
        would read), for tests of what the client sends, and for a streamed reply the chunks
        sent and whether the client closed the stream before its end."""
        ms = 1000 * (time.perf_counter() - t0)
        with self._lock:
            self.requests.append({"method": method, "path": path, "status": status,
                                  "task": task, "item": item, "t": t0, "end": t0 + ms / 1000,
                                  "format": fmt, "body": body,
                                  "chunks": streamed[0] if streamed else None,
                                  "closed": streamed[1] if streamed else False})
            print(f"{method} {path} {status} task={task or '-'} item={item or '-'} "
                  f"{ms:.0f}ms", file=self.log, flush=True)

    def chat(self, body: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, str], str,
                                                   str]:
        """(status, JSON body, extra headers, task, item) for one chat-completions request."""
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            return _error(400, "'messages' must be a non-empty list") + ("", "")
        users = [m.get("content") or "" for m in messages if m.get("role") == "user"]
        if users and (isinstance(users[0], list) or parse_prompt(users[0]) is not None):
            return _eval_chat(self, body, users[0])
        match = DATA_BLOCK.search(users[0]) if users else None
        if match is None:
            return _error(400, "no item data block: this server answers the pipeline's "
                               "own prompts only") + ("", "")
        data = json.loads(match.group(1))
        if isinstance(body.get("spiral_spec"), dict):
            data["spec"] = body["spiral_spec"]
        task = str(data.get("task", ""))
        item = str(data.get("spec", {}).get("id", ""))
        refused = _refusal(body, self.faults)
        if refused is not None:
            return refused + (task, item)
        if self.faults.latency_ms:
            time.sleep(self.faults.latency_ms / 1000)
        rf = (body.get("response_format") or {}).get("type")
        if rf == "json_schema" and self.faults.no_json_schema:
            return _error(400, "response_format json_schema is not supported by this server; "
                               "use json_object", param="response_format") + (task, item)
        if rf == "json_schema" and self.faults.json_schema_500:
            return _error(500, "[{'type': 'literal_error', 'loc': ('body', 'response_format', "
                               "'type'), 'msg': \"Input should be 'text' or 'json_object'\", "
                               "'input': 'json_schema'}]") + (task, item)
        if item and item in self.faults.fail_items:
            return _error(500, f"injected failure for item {item}") + (task, item)
        fault = self.faults.take(self._lock) if task != "probe" else ""
        if fault == "rate_limit":
            status, payload, _ = _error(429, "injected rate limit")
            return status, payload, {"Retry-After": f"{self.faults.retry_after:g}"}, task, item
        if fault == "server_error":
            return _error(500, "injected server error") + (task, item)
        if fault == "hang":
            time.sleep(self.faults.hang_s)
        attempt = sum(1 for m in messages if m.get("role") == "assistant")
        try:
            reply = self.answers.answer(data, attempt)
            if task == "facts" and self.faults.bad_facts and len(reply["facts"]) > 1:
                reply["facts"][1]["value"] = reply["facts"][0]["value"]
            content = json.dumps(reply, ensure_ascii=False)
        except (BadRequest, KeyError, TypeError, ValueError) as exc:
            return _error(400, f"cannot answer task {task!r}: {exc}") + (task, item)
        finish = "stop"
        if self.faults.off_schema and task != "probe":
            content = json.dumps({"message": "Here is the transcript.", "type": task,
                                  "responseStatusCode": 200})
        if task in self.faults.prose_tasks:
            content = "I think the answer is probably the second one, but I am not sure."
        if task == "script" and self.faults.stray_speakers:
            reply["turns"] = [{**t, "speaker": "<speaker id>"} for t in reply["turns"]]
            content = json.dumps(reply, ensure_ascii=False)
        if task in self.faults.ramble_tasks:  # a tiny model under a JSON grammar
            limit = int(body.get("max_tokens") or body.get("max_completion_tokens") or 2048)
            loop = [f'"{i}. The team met the target because the team met the target." '
                    for i in range(limit)]
            content = ('{"turns": [{"speaker": "spk_1", "sentences": [' +
                       ", ".join(loop))[: limit * CHARS_PER_CHUNK]
            finish = "length"
        if self.faults.fenced:
            content = f"Sure! Here is the JSON:\n```json\n{content}\n```\nHope this helps."
        if fault == "malformed":
            content = "Sure! Here is the JSON you asked for: " + content[: len(content) // 3]
        elif fault == "truncated":
            content, finish = content[: len(content) // 2], "length"
        prompt_tokens = sum(len(str(m.get("content") or "")) for m in messages) // 4
        completion_tokens = max(1, len(content) // CHARS_PER_CHUNK)
        return 200, {
            "id": f"chatcmpl-offline-{len(self.requests)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", self.model),
            "system_fingerprint": "offline-writer",
            "choices": [{"index": 0, "finish_reason": finish, "logprobs": None,
                         "message": {"role": "assistant", "content": content}}],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                      "total_tokens": prompt_tokens + completion_tokens},
        }, {}, task, item


def _reply(body: dict[str, Any], model: str, n: int, content: str, prompt_tokens: int
           ) -> dict[str, Any]:
    completion_tokens = max(1, len(content) // 4)
    return {"id": f"chatcmpl-offline-{n}", "object": "chat.completion",
            "created": int(time.time()), "model": body.get("model", model),
            "system_fingerprint": "offline-writer",
            "choices": [{"index": 0, "finish_reason": "stop", "logprobs": None,
                         "message": {"role": "assistant", "content": content}}],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                      "total_tokens": prompt_tokens + completion_tokens}}


def _refusal(body: dict[str, Any], faults: Faults
             ) -> tuple[int, dict[str, Any], dict[str, str]] | None:
    """OpenAI's answer to parameters its reasoning models refuse (HTTP 400)."""
    if faults.refuse_max_tokens and "max_tokens" in body:
        return _error(400, "Unsupported parameter: 'max_tokens' is not supported with this "
                           "model. Use 'max_completion_tokens' instead.", param="max_tokens")
    if faults.refuse_temperature and body.get("temperature", 1) != 1:
        return _error(400, f"Unsupported value: 'temperature' does not support "
                           f"{body['temperature']} with this model. Only the default (1) value "
                           "is supported.", param="temperature")
    return None


def _error(status: int, message: str, param: str | None = None
           ) -> tuple[int, dict[str, Any], dict[str, str]]:
    kind = {400: "invalid_request_error", 404: "not_found_error", 429: "rate_limit_error"}
    return status, {"error": {"message": message, "type": kind.get(status, "server_error"),
                              "param": param, "code": None}}, {}


def _eval_chat(server: OfflineLLMServer, body: dict[str, Any], content: Any
               ) -> tuple[int, dict[str, Any], dict[str, str], str, str]:
    """An eval prompt (text, maybe with input_audio) answered by the cascade. Faults apply
    as to the writer's tasks: latency, 429, 500."""
    if server.faults.latency_ms:
        time.sleep(server.faults.latency_ms / 1000)
    fault = server.faults.take(server._lock)
    if fault == "rate_limit":
        status, payload, _ = _error(429, "injected rate limit")
        return status, payload, {"Retry-After": f"{server.faults.retry_after:g}"}, "eval", ""
    if fault == "server_error":
        return _error(500, "injected server error") + ("eval", "")
    try:
        text, audio = _parts(content) or (str(content), None)
        reply, seconds = server.cascade.answer(text, audio)
    except BadRequest as exc:
        return _error(400, str(exc)) + ("eval", "")
    # audio billed as 25 tokens per second (Qwen2-Audio's rate), text at 4 characters a token
    tokens = len(text) // 4 + round(25 * seconds)
    return 200, _reply(body, server.model, len(server.requests), reply, tokens), {}, "eval", ""


def _handler(server: OfflineLLMServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass  # one line per request is written by `record`, without headers

        def _send(self, status: int, payload: dict[str, Any],
                  headers: dict[str, str] | None = None) -> None:
            body = json.dumps(payload).encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            try:
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (a timeout): nothing to answer

        def do_GET(self) -> None:  # noqa: N802
            t0 = time.perf_counter()
            if server.faults.models_delay_s:
                time.sleep(server.faults.models_delay_s)
            if self.path.rstrip("/") in ("/v1/models", "/models"):
                status, payload = 200, {"object": "list", "data": [
                    {"id": server.model, "object": "model", "created": 0,
                     "owned_by": "spiral-offline-writer"}]}
            else:
                status, payload, _ = _error(404, f"no route {self.path}")
            self._send(status, payload)
            server.record("GET", self.path, status, "", "", t0)

        def do_POST(self) -> None:  # noqa: N802
            t0 = time.perf_counter()
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            task = item = fmt = ""
            body: Any = None
            headers: dict[str, str] = {}
            if self.path.rstrip("/") not in ("/v1/chat/completions", "/chat/completions"):
                status, payload, _ = _error(404, f"no route {self.path}")
            else:
                try:
                    body = json.loads(raw)
                except json.JSONDecodeError as exc:
                    status, payload, _ = _error(400, f"request body is not JSON: {exc}")
                else:
                    rf = body.get("response_format") or {}
                    fmt = str(rf.get("type", "")) + ("_schema" if "schema" in rf else "")
                    if server.faults.serial:  # generation and streaming, one at a time
                        with server._serial:
                            status, payload, headers, task, item = server.chat(body)
                            chunks = self._answer(status, payload, headers, body, task)
                    else:
                        status, payload, headers, task, item = server.chat(body)
                        chunks = self._answer(status, payload, headers, body, task)
                    server.record("POST", self.path, status, task, item, t0, fmt, body,
                                  chunks)
                    return
            self._send(status, payload, headers)
            server.record("POST", self.path, status, task, item, t0, fmt,
                          body if isinstance(body, dict) else None)

        def _answer(self, status: int, payload: dict[str, Any], headers: dict[str, str],
                    body: dict[str, Any], task: str) -> tuple[int, bool] | None:
            """Send the answer: streamed when asked and not an error. (chunks sent, whether
            the client closed the stream first) for a streamed one."""
            if status != 200 or not body.get("stream"):
                if status == 200 and server.faults.token_ms:  # written at that speed
                    time.sleep(server.faults.token_ms / 1000 *
                               (payload["usage"]["completion_tokens"] - 1))
                self._send(status, payload, headers)
                return None
            return self._stream(payload, bool((body.get("stream_options") or {})
                                              .get("include_usage")), task)

        def _stream(self, payload: dict[str, Any], usage: bool, task: str
                    ) -> tuple[int, bool]:
            """The completion as server-sent events, a "token" per chunk, at
            faults.token_ms apart; the connection is closed at the end."""
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Connection", "close")
            self.end_headers()
            self.close_connection = True
            choice = payload["choices"][0]
            content = choice["message"]["content"]
            base = {k: payload[k] for k in ("id", "created", "model")}
            base["object"] = "chat.completion.chunk"
            pieces = [content[i:i + CHARS_PER_CHUNK]
                      for i in range(0, len(content), CHARS_PER_CHUNK)]
            stall = 0
            if task != "probe":  # like the counted faults, not preflight's
                with server._lock:
                    stall = server.faults.stall_after
                    server.faults.stall_after = 0

            def event(data: Any) -> None:
                text = data if isinstance(data, str) else json.dumps(data)
                self.wfile.write(f"data: {text}\n\n".encode())
                self.wfile.flush()

            sent = 0
            try:
                for i, piece in enumerate(pieces):
                    if stall and i == stall:
                        time.sleep(server.faults.hang_s)
                    if server.faults.token_ms and i:
                        time.sleep(server.faults.token_ms / 1000)
                    delta = {"content": piece} if i else {"role": "assistant", "content": piece}
                    event({**base, "choices": [{"index": 0, "delta": delta,
                                                "finish_reason": None}]})
                    sent += 1
                event({**base, "choices": [{"index": 0, "delta": {},
                                            "finish_reason": choice["finish_reason"]}]})
                if usage:
                    event({**base, "choices": [], "usage": payload["usage"]})
                event("[DONE]")
            except (BrokenPipeError, ConnectionResetError):
                return sent, True  # the client closed the stream: generation ends
            return sent, False

    return Handler


def serve(port: int, prompts_dir: str | Path, faults: Faults, model: str = "offline") -> None:
    """Run in the foreground until interrupted (the `spiral serve-offline-llm` command)."""
    server = OfflineLLMServer(prompts_dir, port, faults, model, log=sys.stdout)
    print(f"offline LLM server on {server.base_url} (model {model!r}); Ctrl-C stops it",
          flush=True)
    try:
        server.httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.httpd.server_close()
