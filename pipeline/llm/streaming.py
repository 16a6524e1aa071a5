"""A chat reply read as the server writes it (server-sent events), so that the client's
limits count generation, never the wait before it, and a reply going nowhere is stopped.

Non-streamed, a request's timeout had to cover queueing, prompt reading and a reply of up to
`max_tokens` tokens at once: against a server that answers one request at a time, a
timeout long enough for the slowest reply still let queued requests time out, and a reply
that rambled to the token limit (a tiny model under a JSON grammar) was waited for in full.
Streamed, there are two limits: the first token (the prompt read, at the measured speed) and
the gap between tokens; a reply that keeps coming never times out. Closing the stream ends
the generation on servers that watch for it (llama-cpp-python, vLLM, llama.cpp), so a reply
given up on no longer occupies the server.

`runaway` reads the text so far and says when it has stopped being a reply: a model that
loops (the same stretch again and again) or pads with blanks (llama.cpp's JSON grammar lets
it) would only stop at `max_tokens`, and such a reply is a content failure anyway (cut off).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from typing import Any

import httpx2 as httpx
import openai
from openai.types.chat import ChatCompletion, ChatCompletionChunk

WATCH_EVERY = 16  # chunks between two looks at the text so far
BLANK_RUN = 48  # trailing blank characters: padding, not JSON anyone writes
LOOP_MIN_CHARS = 240  # a tail this long made of one repeated stretch ...
LOOP_MIN_REPEATS = 4  # ... said at least this many times over
LOOP_MAX_PERIOD = 120  # longest stretch looked for (characters)
# Near-repeats: of the last REPEAT_WINDOW word REPEAT_N-grams, this share already said earlier
# in the reply. SmolLM2-135M's script reply under a JSON grammar passed 0.4 by its 205th word
# (0.75 by its 800th, where it went on to the token limit); the offline writer's scripts stay
# under 0.02.
REPEAT_N = 6
REPEAT_WINDOW = 150
REPEAT_SHARE = 0.4
_BLANKS = re.compile(r"\s+$")
_WORD = re.compile(r"[A-Za-z']+|\d+")


class Stalled(Exception):
    """No first token, or no next token, within its limit (a timeout: retried). `started`:
    whether any token came."""

    def __init__(self, message: str, started: bool) -> None:
        super().__init__(message)
        self.started = started


class InFlight:
    """The requests a session has in flight on one event loop, at most `limit` at once, and
    how many of them the server is writing at the same time (`writing`): a
    server that answers one at a time has only ever one reply coming, the others waiting
    for their first token."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.busy = self.writing = 0
        self._cond = asyncio.Condition()

    async def __aenter__(self) -> InFlight:
        async with self._cond:
            await self._cond.wait_for(lambda: self.busy < self.limit)
            self.busy += 1
        return self

    async def __aexit__(self, *exc: object) -> None:
        async with self._cond:
            self.busy -= 1
            self._cond.notify_all()

    def started(self) -> None:
        self.writing += 1

    def ended(self) -> None:
        self.writing -= 1

    def back_off(self) -> int:
        """After a request waited past its first-token limit while others were being
        written: the server's turn-taking, not a fault. The limit becomes at most the number
        being written now, and is returned (0 when none was: a real timeout)."""
        if self.writing == 0:
            return 0
        self.limit = min(self.limit, self.writing)
        return self.limit


class Interrupted(Exception):
    """The stream ended before the reply did, with no finish reason (llama-cpp-python ends
    a streamed reply this way when another request arrives): retried."""


def runaway(text: str) -> str:
    """Why the reply written so far is going nowhere ('' when it is not)."""
    blanks = _BLANKS.search(text[-4 * BLANK_RUN:])
    if blanks and len(blanks.group(0)) >= BLANK_RUN:
        return (f"the reply ran into {len(blanks.group(0))} blank characters in a row (it "
                "was stopped)")
    tail = text[-(LOOP_MIN_CHARS + LOOP_MAX_PERIOD * LOOP_MIN_REPEATS):]
    for period in range(1, LOOP_MAX_PERIOD + 1):
        span = max(LOOP_MIN_CHARS, period * LOOP_MIN_REPEATS)
        if span + period > len(tail):
            break
        if tail[-span:] == tail[-span - period:-period]:
            unit = tail[-period:].strip() or repr(tail[-period:])
            return (f"the reply repeats {unit[:60]!r} over and over ({span // period}+ times; "
                    "it was stopped)")
    share = repeated_share(text)
    if share >= REPEAT_SHARE:
        return (f"the reply keeps saying what it already said ({share:.0%} of its last "
                f"{REPEAT_WINDOW} {REPEAT_N}-word phrases are repeats; it was stopped)")
    return ""


def repeated_share(text: str, n: int = REPEAT_N, window: int = REPEAT_WINDOW) -> float:
    """The share of the last `window` word n-grams of `text` said earlier in it (0 on a text
    shorter than that)."""
    words = [w.lower() for w in _WORD.findall(text)]
    grams = [tuple(words[i:i + n]) for i in range(len(words) - n + 1)]
    if len(grams) < window:
        return 0.0
    first: dict[tuple[str, ...], int] = {}
    for i, g in enumerate(grams):
        first.setdefault(g, i)
    return sum(first[grams[i]] < i for i in range(len(grams) - window, len(grams))) / window


async def read(client: openai.AsyncOpenAI, body: dict[str, Any], first_s: float,
               idle_s: float, flight: InFlight | None = None,
               watch: Callable[[str], str] | None = runaway) -> dict[str, Any]:
    """The reply to `body` (sent with `stream: true`), as the cache keeps it: content,
    finish_reason ('runaway' when `watch` stopped it, with `why`), and token counts (the
    server's usage when it sends one, else chunks and characters)."""
    async def opened() -> Any:
        return await client.post("/chat/completions", body=body, cast_to=ChatCompletion,
                                 stream=True, stream_cls=openai.AsyncStream[ChatCompletionChunk],
                                 options={"timeout": max(first_s, idle_s) + 5})

    try:
        stream = await asyncio.wait_for(opened(), first_s)
    except TimeoutError:
        raise Stalled(f"no reply within {first_s:g} s", False) from None
    parts: list[str] = []
    finish = why = ""
    chunks = 0
    usage: Any = None
    events = stream.__aiter__()
    try:
        while True:
            limit = idle_s if parts else first_s
            try:
                chunk = await asyncio.wait_for(events.__anext__(), limit)
            except StopAsyncIteration:
                break
            except (TimeoutError, httpx.TimeoutException):
                raise Stalled(f"no {'next' if parts else 'first'} token within {limit:g} s"
                              + (f" ({chunks} received)" if parts else ""),
                              bool(parts)) from None
            except httpx.TransportError as exc:  # the server dropped the connection
                raise Interrupted(f"the stream broke after {chunks} tokens "
                                  f"({type(exc).__name__})") from None
            if chunk.usage is not None:
                usage = chunk.usage
            for choice in chunk.choices:
                if choice.delta and choice.delta.content:
                    if not parts and flight is not None:
                        flight.started()
                    parts.append(choice.delta.content)
                    chunks += 1
                    if watch is not None and chunks % WATCH_EVERY == 0:
                        why = watch("".join(parts))
                if choice.finish_reason:
                    finish = choice.finish_reason
            if why:
                finish = "runaway"
                break
    finally:
        if parts and flight is not None:
            flight.ended()
        await stream.close()  # the server stops writing a reply nobody reads
    if not finish:
        raise Interrupted(f"the stream ended after {chunks} tokens with no finish reason")
    content = "".join(parts)
    reply = {"content": content, "finish_reason": finish,
             "prompt_tokens": usage.prompt_tokens if usage else 0,
             "completion_tokens": usage.completion_tokens if usage else chunks}
    if why:
        reply["why"] = why
    return reply
