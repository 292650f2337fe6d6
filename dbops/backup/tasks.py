"""Structured concurrency helpers shared by the pipeline and the part uploader.

:func:`task_group` is :class:`asyncio.TaskGroup` with one difference that matters to users: when a task fails, the
group still cancels all the others, but what propagates is **the first error itself**, not an
``ExceptionGroup`` — backup.md 2: "the first error in any stage cancels every stage; that error is the one reported".
An error raised while the others were being cancelled is a consequence, not a cause, and is dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

__all__ = ["task_group"]


@contextlib.asynccontextmanager
async def task_group() -> AsyncIterator[asyncio.TaskGroup]:
    """An :class:`asyncio.TaskGroup` that re-raises its first failure unwrapped."""
    try:
        async with asyncio.TaskGroup() as group:
            yield group
    except BaseExceptionGroup as failures:
        raise failures.exceptions[0] from None
