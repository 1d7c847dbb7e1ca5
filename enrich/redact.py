"""Keeping personal data out of texts that leave the pipeline's tables: log lines and error messages.

A client address is personal data. Messages about registry lookups name
URLs that contain one (``…/ip/185.213.44.10``), so every such text passes
through :func:`mask_addresses` before it is logged or raised.
"""

from __future__ import annotations

import re

# Glued to letters, slashes or ports too ("ip/1.2.3.4", "x1.2.3.4:80"); digits around an
# IPv4 address would make it another token, so those are left alone.
_V4 = re.compile(r"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?![\d.]*\d)")
# An IPv6 address: hex groups and colons with a "::" or at least five colons (times such as
# 10:00:00 have two), possibly ending in an embedded IPv4 address ("::ffff:1.2.3.4").
_V6 = re.compile(r"(?<![0-9A-Fa-f:])[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){1,7}(?::(?:\d{1,3}\.){3}\d{1,3})?"
                 r"(?![0-9A-Fa-f:]|\.\d)")
MASK_V4 = "x.x.x.x"
MASK_V6 = "x:x::x"


def mask_addresses(text: str) -> str:
    """``"…/ip/185.213.44.10 timed out"`` → ``"…/ip/x.x.x.x timed out"``; IPv6 likewise."""
    def v6(match: re.Match[str]) -> str:
        token = match.group(0)
        return MASK_V6 if "::" in token or token.count(":") >= 5 else token

    return _V4.sub(MASK_V4, _V6.sub(v6, text))
