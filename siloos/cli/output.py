"""Printing what agents wrote without letting it drive the operator's terminal.

An agent controls its stderr, its summaries and the reasons it gives. Printed raw, escape
sequences in them could rewrite earlier lines (hide a refusal, fake a "done") or set the
clipboard (OSC 52). Everything agent-controlled is passed through `printable` first.
"""

from __future__ import annotations

import re

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def printable(text: object) -> str:
    """`text` with control, bidi-override and line-separator characters shown as escapes."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100
                        else f"\\u{ord(m.group()):04x}", str(text))
