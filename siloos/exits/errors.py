"""The errors an exit raises to decline a call, and what the membrane makes of them.

Every exit — built-in or an operator's own — speaks to the membrane in these two words
only, whatever system it fronts; translating a system's own failures into them is the
exit's job, so the membrane never needs to know which system of record is behind it.
"""

from __future__ import annotations


class ExitRefused(Exception):
    """An exit declines a call for a reason the caller may see.

    The membrane answers 403 with the message (tokenized first), so the message must name
    no real value the cell was not shown.
    """


class NotInScope(Exception):
    """What the call names does not exist for this task, or is not the task's to touch.

    The membrane answers 403 "not in this task's scope" and never the message: "no such
    row" must read the same as "not yours", so a cell cannot learn whether someone else's
    order exists.
    """
