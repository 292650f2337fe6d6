"""The bounded buffer between stages."""

from __future__ import annotations

import asyncio

import pytest

from dbops.backup.channel import Channel


async def test_put_waits_for_room_and_never_exceeds_capacity() -> None:
    channel = Channel(100, max_chunk=40)
    await channel.put(b"a" * 40)
    await channel.put(b"b" * 40)
    blocked = asyncio.create_task(channel.put(b"c" * 40))  # 120 > 100: must wait for a get
    assert await channel.get() == b"a" * 40
    await blocked
    assert channel.held == 80
    assert channel.high_water == 80  # had the third put not waited, 120 bytes would have been held


async def test_large_puts_are_split_into_max_chunk_pieces() -> None:
    channel = Channel(100, max_chunk=40)
    consumer = asyncio.create_task(_drain(channel))
    await channel.put(b"x" * 250)
    await channel.close()
    pieces = await consumer
    assert [len(p) for p in pieces] == [40, 40, 40, 40, 40, 40, 10]
    assert channel.high_water <= 100


async def test_close_ends_the_stream_after_buffered_chunks() -> None:
    channel = Channel(100, max_chunk=40)
    await channel.put(b"one")
    await channel.put(b"")  # empty puts are dropped
    await channel.close()
    assert await channel.get() == b"one"
    assert await channel.get() is None
    assert await channel.get() is None
    with pytest.raises(RuntimeError):
        await channel.put(b"late")


def test_capacity_must_hold_a_chunk() -> None:
    with pytest.raises(ValueError):
        Channel(10, max_chunk=20)


async def _drain(channel: Channel) -> list[bytes]:
    pieces = []
    while (piece := await channel.get()) is not None:
        pieces.append(piece)
    return pieces
