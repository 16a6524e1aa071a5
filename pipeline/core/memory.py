"""Keep a long run's resident memory near what it holds, not what it once touched (glibc).

Rendering, loudness and ASR allocate and free tens of megabytes per item on worker threads;
glibc gives each thread its own arena and keeps freed pages, so the resident size of a run
used to creep up with the number of threads and items. Two arenas and a trim after each stage
keep it flat. On other C libraries both calls do nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from functools import lru_cache
from typing import Any

M_ARENA_MAX = -8  # mallopt parameter (malloc.h)


@lru_cache(maxsize=1)
def _libc() -> Any:
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
        return libc if libc is not None and hasattr(libc, "malloc_trim") else None
    except OSError:
        return None


def limit_arenas(count: int = 2) -> None:
    """At most `count` malloc arenas; call before worker threads start."""
    libc = _libc()
    if libc is not None:
        libc.mallopt(M_ARENA_MAX, count)


def trim() -> None:
    """Hand freed heap pages back to the system."""
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)
