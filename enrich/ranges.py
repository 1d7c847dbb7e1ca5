"""Known ranges: the index that finds the most specific one holding an address, and the
/24 (/48) block and /16 (/32) area arithmetic resolution asks about. Pure, no I/O."""

from __future__ import annotations

import ipaddress
from collections import defaultdict
from dataclasses import dataclass

from enrich.networks import Network, block_number, is_v4_number

#: A range spanning more blocks than this is checked directly instead of through the block index.
_INDEXED_BLOCKS = 4096
def area_of(number: int) -> tuple[bool, int]:
    """The /16 (IPv4) or /32 (IPv6) around an address: where an ISP's customers are likely neighbours."""
    v4 = is_v4_number(number)
    return v4, number >> (16 if v4 else 96)


def area_bounds(area: tuple[bool, int]) -> tuple[int, int]:
    v4, prefix = area
    shift = 16 if v4 else 96
    return prefix << shift, ((prefix + 1) << shift) - 1


@dataclass(frozen=True)
class KnownRange:
    """A stored or fetched network, as far as resolution cares."""

    network_id: str
    start_ip: str
    end_ip: str
    start_num: int
    end_num: int
    final: bool  # a leaf status or an operator's list: nothing hides inside
    search_base: str | None = None
    from_lir: bool = False  # an ISP's assignment from its own range

    @classmethod
    def of(cls, network: Network) -> "KnownRange":
        return cls(network.network_id, network.start_ip, network.end_ip, network.start_num, network.end_num,
                   network.is_leaf, network.search_base, network.from_lir)

    def contains(self, number: int) -> bool:
        return self.start_num <= number <= self.end_num


class RangeIndex:
    """Ranges, found by address through their /24 (/48) blocks: a few candidates per lookup."""

    def __init__(self) -> None:
        self._blocks: dict[int, list[KnownRange]] = defaultdict(list)
        self._wide: list[KnownRange] = []

    def add(self, known: KnownRange) -> None:
        step = 1 << (8 if is_v4_number(known.start_num) else 80)
        first, last = block_number(known.start_num), block_number(known.end_num)
        if (last - first) // step >= _INDEXED_BLOCKS:
            self._wide.append(known)
            return
        for block in range(first, last + 1, step):
            self._blocks[block].append(known)

    def best(self, number: int) -> KnownRange | None:
        """The most specific range holding ``number``."""
        holding = [r for r in (*self._blocks.get(block_number(number), ()), *self._wide) if r.contains(number)]
        return min(holding, key=lambda r: r.end_num - r.start_num, default=None)


def most_specific(*ranges: KnownRange | None) -> KnownRange | None:
    return min((r for r in ranges if r is not None), key=lambda r: r.end_num - r.start_num, default=None)


def block_range(number: int, within: KnownRange) -> tuple[str, str]:
    """The /24 (/48) block holding ``number``, clipped to ``within``, as (start_ip, end_ip)."""
    size = 1 << (8 if is_v4_number(number) else 80)
    first = max(block_number(number), within.start_num)
    last = min(block_number(number) + size - 1, within.end_num)
    return ip_text(first), ip_text(last)


def ip_text(number: int) -> str:
    if is_v4_number(number):
        return str(ipaddress.IPv4Address(number - 0xFFFF_0000_0000))
    return str(ipaddress.IPv6Address(number))
