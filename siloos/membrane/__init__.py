"""siloos.membrane: the host-side server a cell talks to (design §5).

Public names: `Membrane` (the asyncio unix-socket server and its `handle_line` core) and
`CellSession` (the hop it serves). The wire format is `siloos.membrane.protocol`; the
checks of §5 are the named steps of `siloos.membrane.checks` / `actions` / `ops`,
assembled per op in `siloos.membrane.pipelines`.
"""

from siloos.membrane.server import Membrane
from siloos.membrane.session import CellSession

__all__ = ["CellSession", "Membrane"]
