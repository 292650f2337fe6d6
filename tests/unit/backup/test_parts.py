"""Part sizing and the part uploader (backup.md 2)."""

from __future__ import annotations

import asyncio

import pytest

from dbops.backup.channel import Channel
from dbops.backup.parts import MIN_PART_SIZE, MiB, PartUploader, choose_part_size
from tests.unit.backup.fakes import MemoryWriter, random_bytes

GiB = 1 << 30


@pytest.mark.parametrize(
    ("estimate", "configured", "expected"),
    [
        (None, 16 * MiB, 16 * MiB),
        (0, 16 * MiB, 16 * MiB),
        (9000 * 16 * MiB, 16 * MiB, 16 * MiB),  # exactly 9,000 parts: not more than 9,000
        (9000 * 16 * MiB + 1, 16 * MiB, 32 * MiB),
        (1024 * GiB, 16 * MiB, 128 * MiB),  # 1 TiB / 9,000 = 116.5 MiB → 128 MiB
        (300 * GiB, 16 * MiB, 64 * MiB),  # 34.1 MiB → 64 MiB
        (100 * GiB, 5 * MiB, 16 * MiB),  # 11.4 MiB → 16 MiB
        (50 * GiB, 5 * MiB, 8 * MiB),  # 5.7 MiB → 8 MiB
    ],
)
def test_choose_part_size(estimate: int | None, configured: int, expected: int) -> None:
    chosen = choose_part_size(estimate, configured)
    assert chosen == expected
    if estimate:
        assert -(-estimate // chosen) <= 9000


def test_part_size_minimum() -> None:
    with pytest.raises(ValueError, match="at least 5 MiB"):
        choose_part_size(None, MIN_PART_SIZE - 1)


async def upload(data: bytes, part_size: int, writer: MemoryWriter, parts_in_flight: int = 2) -> PartUploader:
    channel = Channel(4096, max_chunk=1024)
    uploader = PartUploader(writer, part_size, parts_in_flight)

    async def feed() -> None:
        for start in range(0, len(data), 1000):
            await channel.put(data[start : start + 1000])
        await channel.close()

    async with asyncio.TaskGroup() as group:
        group.create_task(feed())
        group.create_task(uploader.run(channel))
    return uploader


@pytest.mark.parametrize(
    ("size", "sizes"),
    [(0, [0]), (1, [1]), (5000, [5000]), (5000 * 3, [5000, 5000, 5000]), (5000 * 3 + 7, [5000, 5000, 5000, 7])],
)
async def test_parts_have_the_part_size_and_the_last_is_flagged(size: int, sizes: list[int]) -> None:
    data = random_bytes(size)
    writer = MemoryWriter()
    uploader = await upload(data, 5000, writer)
    assert writer.data == data
    assert [len(writer.parts[n]) for n in sorted(writer.parts)] == sizes
    assert writer.started == list(range(1, len(sizes) + 1))
    assert [writer.last_flags[n] for n in sorted(writer.parts)] == [False] * (len(sizes) - 1) + [True]
    assert uploader.parts == len(sizes)


@pytest.mark.parametrize(("concurrent", "limit", "expected"), [(4, 2, 2), (1, 2, 1), (8, 3, 3)])
async def test_parts_in_flight_are_limited(concurrent: int, limit: int, expected: int) -> None:
    """Each part waits until the uploader has started the following ones (or cannot): the limit is reached, never
    exceeded, and memory stays within the parts in flight plus the one being filled and the one held."""
    data = random_bytes(40 * 1000)
    writer = MemoryWriter(concurrent_parts=concurrent)
    started = asyncio.Condition()

    async def notify_started() -> None:
        async with started:
            started.notify_all()

    def gate(number: int) -> asyncio.Future[None]:
        async def wait() -> None:
            await notify_started()
            async with started:
                await started.wait_for(lambda: writer.in_flight >= expected or len(writer.started) == 20)

        return asyncio.ensure_future(wait())

    writer.gate = gate
    uploader = await upload(data, 2000, writer, parts_in_flight=limit)
    assert writer.data == data
    assert writer.max_in_flight == expected
    assert uploader.held_high_water <= (expected + 1) * 2000 + 1000
