"""Any OpenAI-compatible chat endpoint through the official async `openai` SDK.

One `LLMSession` per run holds what outlives a stage: the response cache (keyed by the full
request, so a rerun makes no call and a changed prompt re-sends only the calls it shapes),
token and cost accounting, and the budget. Every task's reply is JSON checked against the
prompt's schema, then against the caller's content rules; a bad reply (not JSON once fences
and prose are cut, cut off, off-schema, breaking a rule) is a content failure, re-asked with
the reason shown to the model, a bounded number of times. Transport faults (429, 5xx,
timeouts, connection errors) are retried with exponential backoff and jitter, honouring
Retry-After; an error that names a refused parameter is not a transport fault and is never
retried: the parameter is swapped or dropped (`dialects.PARAMS`) and the request made again.

What the endpoint accepts (the JSON format, refused parameters, how many requests it answers
at once) is negotiated once at preflight (`negotiate.py`). The first replies of each task
are watched: a model whose first `llm.competence_replies` replies of a task all fail stops
the run (`ModelUnfit`), instead of failing item after item.

The API key comes from OPENAI_API_KEY and is only ever handed to the SDK: requests are
cached without headers, and every failure reason is scrubbed of it.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import openai
from openai.types.chat import ChatCompletion

from pipeline.core.config import Config, ConfigError
from pipeline.core.errors import InfrastructureError, notice
from pipeline.core.store import atomic_write_json, content_hash, read_json
from pipeline.llm import dialects, negotiate, streaming
from pipeline.llm.negotiate import Endpoint, Refused
from pipeline.llm.prompts import PromptFile, load_prompt, schema_error

Check = Callable[[Any], str]  # returns '' when the reply obeys the task's content rules
PLACEHOLDER_KEY = "no-key"  # local servers (vLLM, Ollama, llama.cpp) accept any key
CHARS_PER_TOKEN = 4  # prompt-size estimate for the budget, before the server counts
RETRY_STATUS = (408, 409, 429)  # and every 5xx: the server may answer next time
REACH_TIMEOUT_S = 5.0  # the one check that the endpoint is up, before any call
COMPETENCE_ITEMS = 2  # items that may use up their re-asks before the run stops
RUNAWAY_SHOWN = 600  # characters of a stopped reply shown back to the model in its re-ask
# Replies are streamed where the server takes it (a server that refuses either field has it
# left out, `dialects.PARAMS`); the usage comes in the last chunk where the server sends it.
STREAM = {"stream": True, "stream_options": {"include_usage": True}}


class LLMTaskError(Exception):
    """A task could not get a valid reply; the message is the reason, scrubbed of secrets.
    `usage` is what the task took before it gave up (its re-ask reasons included)."""

    def __init__(self, message: str, usage: Usage | None = None) -> None:
        super().__init__(message)
        self.usage = usage


class LLMUnavailable(LLMTaskError):
    """No usable reply for reasons that are not the content: the endpoint kept failing
    (5xx, timeouts, connection errors after every retry), refused a request that no change
    makes acceptable, or the budget stopped new calls. The item keeps its seed; the next
    run asks again."""


class ModelUnfit(LLMTaskError):
    """The model failed its first replies of a task, every one: the run should stop (the
    items are not the problem, and re-seeding them would not help)."""


@dataclass
class Usage:
    """Tokens from the responses (cached ones included), calls sent, cache hits, and why
    replies were re-asked."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    calls: int = 0
    cached: int = 0
    cost_usd: float = 0.0
    reasks: list[str] = field(default_factory=list)

    def add(self, other: Usage) -> None:
        self.prompt_tokens += other.prompt_tokens
        self.completion_tokens += other.completion_tokens
        self.calls += other.calls
        self.cached += other.cached
        self.cost_usd += other.cost_usd
        self.reasks.extend(other.reasks)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["cost_usd"] = round(self.cost_usd, 6)
        return out


def _retry_after(exc: openai.APIStatusError) -> float | None:
    headers = exc.response.headers if exc.response is not None else {}
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            return max(0.0, float(value) * scale)
        except ValueError:
            continue
    return None


class LLMSession:
    """The run's LLM state. Use `complete` from inside an event loop (one per stage)."""

    def __init__(self, cfg: Config, api_key: str | None = None) -> None:
        self.cfg = cfg
        self.llm = cfg.llm
        key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY")
        if not key and not self.llm.base_url:
            raise ConfigError("llm.backend is 'openai' with llm.base_url null (api.openai.com): "
                              "set OPENAI_API_KEY in the environment, or set llm.base_url")
        self._key = key or PLACEHOLDER_KEY
        self.cache_dir = cfg.cache_root / "llm"
        self.stages: dict[str, Usage] = {}  # this process's usage per stage
        self.spent_usd = 0.0  # cost of calls sent by this process
        self._reserved_usd = 0.0  # worst-case cost of calls in flight
        self.endpoint: Endpoint | None = None  # negotiated at preflight (`negotiate`)
        self.sent = 0  # HTTP requests sent by this process, answered or not
        self.answered = 0
        self._said: set[str] = set()  # parameter changes already said
        self._first: dict[str, Counter[str]] = {}  # task -> errors of its first replies
        self._fit: set[str] = set()  # tasks with a usable reply
        self._unfit = ""  # why the model was found unfit: no more requests
        self._gave_up: dict[str, set[str]] = {}  # task -> items that used up their re-asks
        # (prompt, item) of each task that used up its re-asks before any valid reply at all
        self._hopeless: list[tuple[PromptFile, str]] = []
        self._prompts: dict[str, PromptFile] = {}
        self._clients: dict[int, openai.AsyncOpenAI] = {}
        self._flights: dict[int, streaming.InFlight] = {}  # per event loop
        self._tls: Any = None

    # -- plumbing -------------------------------------------------------------------------

    def prompt(self, name: str) -> PromptFile:
        if name not in self._prompts:
            self._prompts[name] = load_prompt(self.cfg.prompts_dir, name)
        return self._prompts[name]

    def _client(self) -> openai.AsyncOpenAI:
        """One SDK client per event loop: its connection pool belongs to that loop. The TLS
        context (reading the CA bundle costs a fifth of a second) is made once per session."""
        loop = id(asyncio.get_running_loop())
        if loop not in self._clients:
            if self._tls is None:  # the SDK's own default context, made once
                import httpx2

                self._tls = httpx2.create_ssl_context()
            self._clients[loop] = openai.AsyncOpenAI(
                api_key=self._key, base_url=self.llm.base_url, max_retries=0,
                timeout=self.timeout_s(),
                http_client=openai.DefaultAsyncHttpxClient(verify=self._tls))
        return self._clients[loop]

    def _flight(self) -> streaming.InFlight:
        """This loop's requests in flight: at most `parallel()`, fewer once the server was
        seen answering fewer at once."""
        loop = id(asyncio.get_running_loop())
        if loop not in self._flights:
            self._flights[loop] = streaming.InFlight(self.parallel())
        return self._flights[loop]

    def reach(self) -> None:
        """Reach the endpoint once (`GET /models`, a short timeout, no retries) and raise
        `InfrastructureError` in one line when it cannot be had, so a server that is down
        stops the run in seconds instead of failing every item after its retries."""
        timeout = min(self.llm.timeout_s, REACH_TIMEOUT_S)
        client = openai.OpenAI(api_key=self._key, base_url=self.llm.base_url, max_retries=0,
                               timeout=timeout)
        url = str(client.base_url).rstrip("/")
        try:
            client.models.list()
        except (openai.AuthenticationError, openai.PermissionDeniedError) as exc:
            raise InfrastructureError(self.scrub(
                f"llm: {url} refused the API key (http {exc.status_code}): check "
                "OPENAI_API_KEY")) from None
        except openai.APIStatusError as exc:
            if exc.status_code >= 500:
                raise InfrastructureError(self.scrub(
                    f"llm: {url}/models answered http {exc.status_code}: the server is not "
                    "ready; rerun when it is")) from None
            # 404 and the like: a server without /models answered, so it is up
        except openai.APITimeoutError as exc:
            import httpx2 as httpx

            if isinstance(exc.__cause__, httpx.ConnectTimeout):
                raise InfrastructureError(
                    f"llm: {url} did not accept a connection within {timeout:g} s; is the "
                    "server up (llm.base_url)?") from None
            # Connected, then no answer in time: a server busy generating (llama-cpp-python
            # lists its models only between generations) is up.
            notice(f"llm: {url}/models took over {timeout:g} s (a busy server); going on")
        except openai.APIConnectionError as exc:
            cause = exc.__cause__ or exc
            raise InfrastructureError(self.scrub(
                f"llm: cannot connect to {url} ({type(cause).__name__}); start the server "
                "or fix llm.base_url")) from None
        finally:
            client.close()

    def negotiate(self) -> Endpoint:
        """What the endpoint accepts (found once per endpoint and model, then cached), said
        in one line per finding."""
        if self.endpoint is None:
            client = openai.OpenAI(api_key=self._key, base_url=self.llm.base_url,
                                   max_retries=0, timeout=self.llm.timeout_s)
            try:
                self.endpoint = negotiate.negotiate(self.llm, client, self.cache_dir,
                                                    self.scrub)
            finally:
                client.close()
            for line in self.endpoint.describe(self.llm):
                notice(line)
        return self.endpoint

    def timeout_s(self, prompt_tokens: int = 0) -> float:
        """Seconds per request: llm.timeout_s, or what reading the prompt and writing a
        full-length reply need at the server's measured speed when that is longer."""
        return self.endpoint.timeout_s(self.llm, prompt_tokens) if self.endpoint \
            else self.llm.timeout_s

    def parallel(self) -> int:
        """Requests to have in flight: llm.concurrency, or fewer where the server answers
        fewer at once (measured), so that waiting for a turn never counts as a timeout."""
        got = self.endpoint.parallel if self.endpoint else None
        return min(self.llm.concurrency, got or self.llm.concurrency)

    def _known_endpoint(self) -> Endpoint:
        """The negotiated endpoint; else the one a past run found; else a guess from
        llm.response_format, corrected by the server's refusals as they come."""
        if self.endpoint is None:
            self.endpoint = negotiate.load(self.llm, self.cache_dir) or Endpoint(
                format="json_schema" if self.llm.response_format == "auto"
                else self.llm.response_format)
        return self.endpoint

    async def aclose(self) -> None:
        """Close this loop's client (call before the loop ends)."""
        self._flights.pop(id(asyncio.get_running_loop()), None)
        client = self._clients.pop(id(asyncio.get_running_loop()), None)
        if client is not None:
            await client.close()

    def scrub(self, text: str) -> str:
        return text.replace(self._key, "***") if self._key != PLACEHOLDER_KEY else text

    def price(self) -> tuple[float, float]:
        p = self.llm.prices.get(self.llm.model, {})
        return p.get("input", 0.0), p.get("output", 0.0)

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        pin, pout = self.price()
        return (prompt_tokens * pin + completion_tokens * pout) / 1e6

    # -- one request ----------------------------------------------------------------------

    def _request(self, prompt: PromptFile, messages: list[dict[str, str]],
                 sidecar: dict[str, Any] | None = None) -> dict[str, Any]:
        endpoint = self._known_endpoint()
        req = negotiate.request(self.llm, endpoint, messages, prompt.task, prompt.schema,
                                self.llm.max_tokens)
        if sidecar is not None and dialects.takes_sidecar(endpoint.server):
            req["spiral_spec"] = sidecar
        return req

    async def _call(self, prompt: PromptFile, messages: list[dict[str, str]],
                    stage: str, usage: Usage, used: list[Path],
                    sidecar: dict[str, Any] | None = None) -> dict[str, Any]:
        """One reply for these messages: from the cache, else from the server."""
        while True:
            req = self._request(prompt, messages, sidecar)
            try:
                return await self._cached(req, content_hash("llm-call/2", self.llm.base_url,
                                                            prompt.digest, req),
                                          stage, usage, used)
            except Refused as exc:
                self._refused(exc)

    def _refused(self, exc: Refused) -> None:
        """Change what is sent so the refused parameter is not sent again (said once), or
        give up on the request: no change makes it acceptable."""
        endpoint = self._known_endpoint()
        before = endpoint.format
        if not negotiate.adjust(endpoint, exc.param, dialects.FORMATS):
            raise LLMUnavailable(self.scrub(
                f"the server refuses '{exc.param}' and nothing can replace it ({exc})"))
        change = (f"JSON by {endpoint.format} instead of {before}"
                  if exc.param == "response_format" else
                  f"sending '{endpoint.params[exc.param]}' instead"
                  if endpoint.params[exc.param] else "leaving it out")
        negotiate.save(self.llm, self.cache_dir, endpoint)  # the next run starts from it
        line = f"llm: the server refuses '{exc.param}'; {change}"
        if line not in self._said:
            self._said.add(line)
            notice(line)

    async def _cached(self, req: dict[str, Any], key: str, stage: str, usage: Usage,
                      used: list[Path]) -> dict[str, Any]:
        """The reply to `req` from the cache under `key`, else from the server (then cached);
        tokens and cost go to `usage` and to the stage's account."""
        path = self.cache_dir / key[:2] / f"{key}.json"
        reply = _cached_reply(path)
        fresh = reply is None
        if reply is None:
            reply = await self._send(req)
            await asyncio.to_thread(atomic_write_json, path, reply)  # keep the loop free
        used.append(path)
        got = Usage(prompt_tokens=reply["prompt_tokens"],
                    completion_tokens=reply["completion_tokens"],
                    calls=int(fresh), cached=int(not fresh))
        got.cost_usd = self.cost(got.prompt_tokens, got.completion_tokens)
        usage.add(got)
        if fresh:
            self.spent_usd += got.cost_usd
            self.stages.setdefault(stage, Usage()).add(got)
        else:
            self.stages.setdefault(stage, Usage()).cached += 1
        return reply

    async def chat(self, messages: list[dict[str, Any]], stage: str, max_tokens: int,
                   temperature: float = 0.0) -> tuple[str, Usage]:
        """The plain-text reply to `messages` (whose content may be a list of parts, e.g.
        `input_audio`), with no prompt file and no JSON: `spiral eval`'s requests. Cached,
        budgeted and retried like every other call."""
        usage = Usage()
        while True:
            req: dict[str, Any] = {"model": self.llm.model, "messages": messages,
                                   "temperature": temperature, "max_tokens": max_tokens}
            if self.llm.seed is not None:
                req["seed"] = self.llm.seed
            req = negotiate.shape(req, self._known_endpoint())
            try:
                reply = await self._cached(req, content_hash("llm-chat/1", self.llm.base_url,
                                                             req), stage, usage, [])
            except Refused as exc:
                self._refused(exc)
                continue
            return reply["content"], usage

    async def _send(self, req: dict[str, Any]) -> dict[str, Any]:
        if self._unfit:
            raise ModelUnfit(self._unfit)
        chars = sum(_chars(m["content"]) for m in req["messages"])
        worst = self.cost(chars // CHARS_PER_TOKEN + 1, self.llm.max_tokens)
        budget = self.llm.max_cost_usd
        if budget is not None and self.spent_usd + self._reserved_usd + worst > budget:
            raise LLMUnavailable(
                f"budget: llm.max_cost_usd={budget:g} would be exceeded (spent "
                f"{self.spent_usd:.4f}, in flight {self._reserved_usd:.4f}, this call up to "
                f"{worst:.4f}); no new calls")
        self._reserved_usd += worst
        try:
            return await self._send_with_retries(req)
        finally:
            self._reserved_usd -= worst

    async def _send_with_retries(self, req: dict[str, Any]) -> dict[str, Any]:
        """The reply to `req`, streamed where the server takes it (limits on the first token
        and the gap between tokens: a reply that keeps coming never times out, and one that
        loops is stopped, `streaming.runaway`), else in one piece (one limit for the whole
        request, from the measured speed)."""
        client = self._client()
        llm = self.llm
        endpoint = self._known_endpoint()
        prompt_tokens = sum(_chars(m["content"]) for m in req["messages"]) // CHARS_PER_TOKEN
        sent = negotiate.shape({**req, **STREAM}, endpoint)
        streamed = bool(sent.get("stream"))
        if not streamed:
            sent.pop("stream_options", None)
        first_s = endpoint.first_token_s(llm, prompt_tokens)
        timeout = first_s if streamed else self.timeout_s(prompt_tokens)
        flight = self._flight()
        attempt = 0
        while True:
            wait: float | None = None
            self.sent += 1
            try:
                if streamed:
                    async with flight:
                        reply = await streaming.read(client, sent, first_s, llm.timeout_s,
                                                     flight)
                    if not reply["prompt_tokens"]:  # a server that sends no usage
                        reply["prompt_tokens"] = prompt_tokens
                    break
                # The request is already plain JSON: posting it as is skips the SDK's walk of
                # every message through its typed-dict transforms (~25 ms of CPU per call on
                # the event loop, which serialised the calls at high concurrency).
                async with flight:
                    resp = await client.post("/chat/completions", body=sent,
                                             cast_to=ChatCompletion, options={"timeout": timeout})
                choice = resp.choices[0]
                u = resp.usage
                reply = {"content": choice.message.content or "",
                         "finish_reason": choice.finish_reason or "",
                         "prompt_tokens": u.prompt_tokens if u else 0,
                         "completion_tokens": u.completion_tokens if u else 0}
                break
            except openai.APIStatusError as exc:
                code = exc.status_code
                param = dialects.refused_parameter(code, str(exc), sent)
                if param:  # the same answer on every retry, whatever the status
                    raise Refused(param, self.scrub(f"http {code}: {exc.message}")) from None
                if code not in RETRY_STATUS and code < 500:  # 400, 401, 403, 404, 422: final
                    raise LLMUnavailable(self.scrub(f"http {code}: {exc.message}")) from None
                reason, detail, wait = f"http {code}", exc.message, _retry_after(exc)
            except streaming.Stalled as exc:
                if not exc.started and (fewer := flight.back_off()):
                    self._fewer(fewer)  # it waited behind others: not a try
                    continue
                reason, detail = "timeout", str(exc)
            except streaming.Interrupted as exc:
                reason, detail = "interrupted", str(exc)
            except openai.APIConnectionError as exc:  # timeouts included
                reason = ("timeout" if isinstance(exc, openai.APITimeoutError)
                          else "connection error")
                detail = str(exc)
            if attempt == llm.max_retries:
                hint = ""
                if reason == "timeout":
                    hint = (f"; no reply within {timeout:g} s with "
                            f"{self.parallel()} request(s) in flight: raise llm.timeout_s, "
                            "or lower llm.max_tokens or llm.concurrency") if not streamed else (
                        f"; the server kept a reply waiting (first token within {first_s:g} "
                        f"s, then each within llm.timeout_s={llm.timeout_s:g} s) with "
                        f"{self.parallel()} request(s) in flight: raise llm.timeout_s or "
                        "lower llm.concurrency")
                raise LLMUnavailable(self.scrub(
                    f"{reason} after {attempt + 1} tries ({detail}){hint}")) from None
            if wait is None:
                wait = min(llm.backoff_max_s, llm.backoff_s * 2 ** attempt)
                wait *= 0.5 + random.random()  # jitter: retries of many items spread out
            await asyncio.sleep(min(wait, llm.backoff_max_s))
            attempt += 1
        self.answered += 1
        return reply

    def _fewer(self, limit: int) -> None:
        """The server was seen writing only `limit` replies at once while others waited past
        their first-token limit: send that many from now on (this run and the next)."""
        endpoint = self._known_endpoint()
        endpoint.parallel = limit
        negotiate.save(self.llm, self.cache_dir, endpoint)
        line = (f"llm: replies waited past llm.timeout_s={self.llm.timeout_s:g} s for their "
                f"turn: the server writes {limit} at a time; sending {limit} at a time, not "
                f"llm.concurrency={self.llm.concurrency}")
        if line not in self._said:
            self._said.add(line)
            notice(line)

    # -- one task -------------------------------------------------------------------------

    async def complete(self, name: str, variables: dict[str, Any], stage: str,
                       check: Check | None = None, sidecar: dict[str, Any] | None = None
                       ) -> tuple[Any, Usage]:
        """The validated JSON reply of prompt `name`, and what it took.

        A reply that is not JSON (once fences and prose around it are cut), is cut off or
        breaks the schema is re-asked up to `llm.max_repairs` times; one that breaks the
        caller's content rules up to `llm.max_reasks` times; each time the reason is shown to
        the model, so no request is sent twice. `sidecar` (the item spec) goes beside the
        messages to servers that take it (the stand-in), never into the prompt.
        """
        prompt = self.prompt(name)
        if self._unfit:  # another item found it: stop this one too
            raise ModelUnfit(self._unfit)
        self._verdict(prompt)
        messages = prompt.render(variables)
        usage = Usage()
        used: list[Path] = []  # cache entries this task replayed or wrote
        repairs = regenerations = 0
        try:
            while True:
                reply = await self._call(prompt, messages, stage, usage, used, sidecar)
                content = reply["content"]
                rule_broken = False
                cut = reply["finish_reason"] in ("length", "runaway")
                if reply["finish_reason"] == "length":
                    error = (f"the reply was cut off at max_tokens={self.llm.max_tokens}; "
                             "reply with shorter, complete JSON")
                elif cut:
                    error = (f"{reply.get('why') or 'the reply went nowhere'}; reply with "
                             "shorter, complete JSON")
                else:
                    try:
                        data = dialects.extract_json(content)
                    except json.JSONDecodeError as exc:
                        data, error = None, (f"the reply is not valid JSON ({exc.msg} at "
                                             f"char {exc.pos})")
                    else:
                        error = schema_error(prompt.schema, data)
                        if not error and check is not None:
                            error = check(data)
                            rule_broken = bool(error)
                if error:
                    usage.reasks.append(f"{name}: {error}")
                self._watch(prompt, error, "rules" if rule_broken else "runaway"
                            if reply["finish_reason"] == "runaway" else "cut" if cut
                            else "schema")
                if not error:
                    return data, usage
                if rule_broken:
                    regenerations += 1
                    over = regenerations > self.llm.max_reasks
                else:
                    repairs += 1
                    over = repairs > self.llm.max_repairs
                if over:
                    self._watch(prompt, error, "", gave_up=str((sidecar or {}).get("id") or
                                                               content_hash(variables)))
                    # Forget this exchange so the next run asks afresh instead of replaying it.
                    for path in used:
                        path.unlink(missing_ok=True)
                    n = repairs + regenerations
                    raise LLMTaskError(self.scrub(
                        f"{name}: no valid reply in {n} replies ({n - 1} re-asks); last: "
                        f"{error}"), usage)
                if reply["finish_reason"] == "runaway":  # its start, not the loop
                    content = content[:RUNAWAY_SHOWN] + " ..."
                messages = [*messages, {"role": "assistant", "content": content},
                            {"role": "user", "content": f"That reply was rejected: {error}. "
                             "Reply again with the complete JSON, fixing this."}]
        except LLMTaskError as exc:
            if exc.usage is None:
                exc.usage = usage
            raise

    def _verdict_path(self, prompt: PromptFile) -> Path:
        return self.cache_dir / "verdicts" / (content_hash(
            "llm-unfit/1", negotiate.endpoint_key(self.llm), prompt.digest,
            self.llm.max_tokens, self.llm.temperature, self.llm.competence_replies) + ".json")

    def _verdict(self, prompt: PromptFile) -> None:
        """Stop at once when an earlier run found the model unfit for this prompt, with
        these settings: its replies are cached, and would fail the same way."""
        if not self.llm.competence_replies or prompt.task in self._fit:
            return
        path = self._verdict_path(prompt)
        try:
            message = read_json(path)["message"]
        except (FileNotFoundError, ValueError, KeyError, TypeError):
            return
        if prompt.task not in self._said:
            self._said.add(prompt.task)
            notice(f"llm: an earlier run found this (cached in {path}; delete it to try the "
                   "model again)")
        raise ModelUnfit(message)

    def _watch(self, prompt: PromptFile, error: str, kind: str, gave_up: str = "") -> None:
        """Stop the run (`ModelUnfit`) when the model, not the items, is the problem: the
        first `llm.competence_replies` replies of a task all fail its schema (not JSON,
        off-schema, cut off, going nowhere), or `COMPETENCE_ITEMS` different items (`gave_up`:
        the one that just did) used up their re-asks on a task before any valid reply of it,
        or as many tasks did before any valid reply of any task (an item's fact sheet, then
        its script: every reply of the run so far failed). The verdict is kept, so a rerun
        with nothing changed stops before sending anything."""
        task = prompt.task
        k = self.llm.competence_replies
        if not k or task in self._fit:
            return
        if not error:
            self._fit.add(task)
            return
        errors = self._first.setdefault(task, Counter())
        if not gave_up:
            errors[f"{kind}\t{error}"] += 1
        else:
            self._gave_up.setdefault(task, set()).add(gave_up)
            if not self._fit:
                self._hopeless.append((prompt, gave_up))
        n = sum(errors.values())
        kinds: Counter[str] = Counter()
        for e, v in errors.items():
            kinds[e.split("\t", 1)[0]] += v
        schema_only = kinds["rules"] == 0
        prompts = [prompt]
        if schema_only and n >= k:
            where, off = f"in {n} of {n} replies", ""
        elif len(self._gave_up.get(task, ())) >= COMPETENCE_ITEMS:
            where = f"in all {n} replies to the first {COMPETENCE_ITEMS} items"
            off = " (or llm.competence_replies: 0 to go on)"
        elif len(self._hopeless) >= COMPETENCE_ITEMS:
            prompts = list({p.task: p for p, _ in self._hopeless}.values())
            errors = sum((self._first[p.task] for p in prompts), Counter())
            kinds = Counter()
            for e, v in errors.items():
                kinds[e.split("\t", 1)[0]] += v
            n = sum(errors.values())
            task = " and ".join(p.task for p in prompts)
            where = (f"in all {n} replies to its first {len(self._hopeless)} tasks, none "
                     "valid")
            off = " (or llm.competence_replies: 0 to go on)"
        else:
            return
        typical = errors.most_common(1)[0][0].split("\t", 1)[1]
        what = {"schema": f"returned JSON that does not follow the {task} schema",
                "cut": f"wrote {task} replies longer than llm.max_tokens={self.llm.max_tokens}",
                "runaway": f"wrote {task} replies that loop or pad instead of ending",
                "rules": f"broke the {task} rules"}[kinds.most_common(1)[0][0]]
        message = self.scrub(
            f"model '{self.llm.model}' {what} {where} (typical: {typical}); use a larger "
            f"model or llm.backend: offline{off}")
        for p in prompts:  # a rerun stops at the first of them it asks
            atomic_write_json(self._verdict_path(p), {"message": message})
        self._unfit = message
        raise ModelUnfit(message)


def _chars(content: str | list[dict[str, Any]]) -> int:
    """Prompt size in characters for the budget estimate; an audio part counts as the text of
    its tokens at 25 per second of 16-bit 16 kHz audio (base64: 4 characters per 3 bytes)."""
    if isinstance(content, str):
        return len(content)
    total = 0
    for part in content:
        if part.get("type") == "text":
            total += len(part.get("text", ""))
        elif part.get("type") == "input_audio":
            seconds = len(part["input_audio"].get("data", "")) * 3 / 4 / 32000
            total += int(seconds * 25 * CHARS_PER_TOKEN)
    return total


def _cached_reply(path: Path) -> dict[str, Any] | None:
    """The reply cached at `path`, or None when there is none or it is unreadable (a corrupt
    entry is said and then asked again)."""
    try:
        reply = read_json(path)
    except FileNotFoundError:
        return None
    except ValueError:  # not JSON, or not UTF-8
        reply = None
    if isinstance(reply, dict) and isinstance(reply.get("content"), str) and \
            isinstance(reply.get("finish_reason"), str) and \
            all(isinstance(reply.get(k), int) for k in ("prompt_tokens", "completion_tokens")):
        return reply
    notice(f"{path}: corrupt LLM cache entry; asking again")
    return None


def ask(task_name: str, variables: dict[str, Any], cfg: Config,
        check: Check | None = None) -> dict[str, Any]:
    """Sync entry point for one task outside the stages (e.g. validation's judge): the reply
    of `prompts/<task_name>.yaml`, cached like every other call. Not for use inside a
    running event loop."""

    session = LLMSession(cfg)
    session._known_endpoint()  # what a past negotiation found, if any

    async def go() -> Any:
        try:
            data, _ = await session.complete(task_name, variables, stage=task_name,
                                             check=check)
            return data
        finally:
            await session.aclose()

    return asyncio.run(go())
