"""The one shell builder: argv lists become POSIX sh text here, and nowhere else.

Every value that came from a user's file reaches a shell through `shlex.quote` in
`sh()`; text of our own (a variable like "$D/env") is marked `Raw`.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence


class Raw(str):
    """Shell text of our own (a variable like "$D/env"), passed through unquoted."""


def sh(argv: Sequence[str]) -> str:
    """The one place argv becomes shell text: every item quoted, but our own `Raw` ones."""
    return " ".join(a if isinstance(a, Raw) else shlex.quote(a) for a in argv)
