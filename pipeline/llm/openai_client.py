"""Any OpenAI-compatible chat endpoint through the official async `openai` SDK.

One `LLMSession` per run holds what outlives a stage: the response cache (keyed by the full
request, so a rerun makes no call and a changed prompt re-sends only the calls it shapes),
token and cost accounting, and the budget. Every task's reply is JSON checked against the
prompt's schema, then against the caller's content rules; a bad reply is re-asked with the
reason shown to the model, a bounded number of times. Transport faults (429, 5xx, timeouts,
connection errors) are retried with exponential backoff and jitter, honouring Retry-After.

The API key comes from OPENAI_API_KEY and is only ever handed to the SDK: requests are
cached without headers, and every failure reason is scrubbed of it.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import openai
from openai.types.chat import ChatCompletion

from pipeline.core.config import Config, ConfigError
from pipeline.core.store import atomic_write_json, content_hash, read_json
from pipeline.llm.prompts import PromptFile, load_prompt, schema_error

Check = Callable[[Any], str]  # returns '' when the reply obeys the task's content rules
PLACEHOLDER_KEY = "no-key"  # local servers (vLLM, Ollama, llama.cpp) accept any key
CHARS_PER_TOKEN = 4  # prompt-size estimate for the budget, before the server counts
RETRY_STATUS = (408, 409, 429)  # and every 5xx: the server may answer next time


class LLMTaskError(Exception):
    """A task could not get a valid reply; the message is the reason, scrubbed of secrets."""


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
        self.cache_dir = Path(cfg.output_root) / "_cache" / "llm"
        self.stages: dict[str, Usage] = {}  # this process's usage per stage
        self.spent_usd = 0.0  # cost of calls sent by this process
        self._reserved_usd = 0.0  # worst-case cost of calls in flight
        self._json_schema = self.llm.response_format != "json_object"
        self._prompts: dict[str, PromptFile] = {}
        self._clients: dict[int, openai.AsyncOpenAI] = {}
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
                timeout=self.llm.timeout_s,
                http_client=openai.DefaultAsyncHttpxClient(verify=self._tls))
        return self._clients[loop]

    async def aclose(self) -> None:
        """Close this loop's client (call before the loop ends)."""
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

    def _request(self, prompt: PromptFile, messages: list[dict[str, str]]) -> dict[str, Any]:
        req: dict[str, Any] = {"model": self.llm.model, "messages": messages,
                               "temperature": self.llm.temperature,
                               "max_tokens": self.llm.max_tokens}
        if self.llm.seed is not None:
            req["seed"] = self.llm.seed
        if self._json_schema:
            req["response_format"] = {"type": "json_schema", "json_schema": {
                "name": prompt.task, "schema": prompt.schema, "strict": False}}
        else:
            req["response_format"] = {"type": "json_object"}
        return req

    async def _call(self, prompt: PromptFile, messages: list[dict[str, str]],
                    stage: str, usage: Usage, used: list[Path]) -> dict[str, Any]:
        """One reply for these messages: from the cache, else from the server."""
        req = self._request(prompt, messages)
        key = content_hash("llm-call/1", self.llm.base_url, prompt.digest, req)
        path = self.cache_dir / key[:2] / f"{key}.json"
        used.append(path)
        try:
            reply = read_json(path)
            fresh = False
        except (FileNotFoundError, json.JSONDecodeError):
            try:
                reply = await self._send(req)
            except _SchemaUnsupported:
                self._json_schema = False  # json_object plus our own validation from now on
                used.pop()
                return await self._call(prompt, messages, stage, usage, used)
            await asyncio.to_thread(atomic_write_json, path, reply)  # keep the loop free
            fresh = True
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

    async def _send(self, req: dict[str, Any]) -> dict[str, Any]:
        chars = sum(len(m["content"]) for m in req["messages"])
        worst = self.cost(chars // CHARS_PER_TOKEN + 1, self.llm.max_tokens)
        budget = self.llm.max_cost_usd
        if budget is not None and self.spent_usd + self._reserved_usd + worst > budget:
            raise LLMTaskError(
                f"budget: llm.max_cost_usd={budget:g} would be exceeded (spent "
                f"{self.spent_usd:.4f}, in flight {self._reserved_usd:.4f}, this call up to "
                f"{worst:.4f}); no new calls")
        self._reserved_usd += worst
        try:
            return await self._send_with_retries(req)
        finally:
            self._reserved_usd -= worst

    async def _send_with_retries(self, req: dict[str, Any]) -> dict[str, Any]:
        client = self._client()
        llm = self.llm
        for attempt in range(llm.max_retries + 1):
            wait: float | None = None
            try:
                # The request is already plain JSON: posting it as is skips the SDK's walk of
                # every message through its typed-dict transforms (~25 ms of CPU per call on
                # the event loop, which serialised the calls at high concurrency).
                resp = await client.post("/chat/completions", body=req, cast_to=ChatCompletion)
                break
            except openai.APIStatusError as exc:
                code = exc.status_code
                if code == 400 and req["response_format"]["type"] == "json_schema" and \
                        llm.response_format == "auto" and "response_format" in str(exc):
                    raise _SchemaUnsupported from None
                if code not in RETRY_STATUS and code < 500:  # 400, 401, 403, 404, 422: final
                    raise LLMTaskError(self.scrub(f"http {code}: {exc.message}")) from None
                reason, detail, wait = f"http {code}", exc.message, _retry_after(exc)
            except openai.APIConnectionError as exc:  # timeouts included
                reason = ("timeout" if isinstance(exc, openai.APITimeoutError)
                          else "connection error")
                detail = str(exc)
            if attempt == llm.max_retries:
                raise LLMTaskError(self.scrub(
                    f"{reason} after {attempt + 1} tries ({detail})")) from None
            if wait is None:
                wait = min(llm.backoff_max_s, llm.backoff_s * 2 ** attempt)
                wait *= 0.5 + random.random()  # jitter: retries of many items spread out
            await asyncio.sleep(min(wait, llm.backoff_max_s))
        choice = resp.choices[0]
        u = resp.usage
        return {"content": choice.message.content or "",
                "finish_reason": choice.finish_reason or "",
                "prompt_tokens": u.prompt_tokens if u else 0,
                "completion_tokens": u.completion_tokens if u else 0}

    # -- one task -------------------------------------------------------------------------

    async def complete(self, name: str, variables: dict[str, Any], stage: str,
                       check: Check | None = None) -> tuple[Any, Usage]:
        """The validated JSON reply of prompt `name`, and what it took.

        A reply that is not JSON, is cut off or breaks the schema is re-asked up to
        `llm.max_repairs` times; one that breaks the caller's content rules up to
        `llm.max_regenerations` times; each time the reason is shown to the model.
        """
        prompt = self.prompt(name)
        messages = prompt.render(variables)
        usage = Usage()
        used: list[Path] = []  # cache entries this task replayed or wrote
        repairs = regenerations = 0
        while True:
            reply = await self._call(prompt, messages, stage, usage, used)
            content = reply["content"]
            rule_broken = False
            if reply["finish_reason"] == "length":
                error = (f"the reply was cut off at max_tokens={self.llm.max_tokens}; "
                         "reply with shorter, complete JSON")
            else:
                try:
                    data = json.loads(content)
                except json.JSONDecodeError as exc:
                    data, error = None, f"the reply is not valid JSON ({exc.msg} at char {exc.pos})"
                else:
                    error = schema_error(prompt.schema, data)
                    if not error and check is not None:
                        error = check(data)
                        rule_broken = bool(error)
            if not error:
                return data, usage
            usage.reasks.append(f"{name}: {error}")
            if rule_broken:
                regenerations += 1
                over = regenerations > self.llm.max_regenerations
            else:
                repairs += 1
                over = repairs > self.llm.max_repairs
            if over:
                # Forget this exchange so the next run asks afresh instead of replaying it.
                for path in used:
                    path.unlink(missing_ok=True)
                raise LLMTaskError(self.scrub(
                    f"{name}: no valid reply after {repairs + regenerations} re-asks; "
                    f"last: {error}"))
            messages = [*messages, {"role": "assistant", "content": content},
                        {"role": "user", "content": f"That reply was rejected: {error}. "
                         "Reply again with the complete JSON, fixing this."}]


class _SchemaUnsupported(Exception):
    """The server rejected response_format json_schema (llm.response_format: auto)."""


def ask(task_name: str, variables: dict[str, Any], cfg: Config,
        check: Check | None = None) -> dict[str, Any]:
    """Sync entry point for one task outside the stages (e.g. validation's judge): the reply
    of `prompts/<task_name>.yaml`, cached like every other call. Not for use inside a
    running event loop."""

    async def go() -> Any:
        session = LLMSession(cfg)
        try:
            data, _ = await session.complete(task_name, variables, stage=task_name,
                                             check=check)
            return data
        finally:
            await session.aclose()

    return asyncio.run(go())
