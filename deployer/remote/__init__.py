"""The SSH room: connections, commands, tunnels and the Engine API over them.

paramiko imports invoke at its own import (with asyncio and unittest.mock: ~40 ms of CPU
in every run) for one use: running an ssh config's `Match exec` command (`invoke.run`).
Here `invoke` is a stand-in module until then: the first attribute paramiko asks of it
imports the real one. (importlib.util.LazyLoader cannot do it on Python 3.11: the `import`
statement reads the module's `__spec__`, which loads it at once.)
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import threading
import types
from typing import Any

_LOADING = threading.Lock()


class _Later(types.ModuleType):
    """Any attribute it does not hold (a function, `__path__` for a submodule's import,
    `__version__`) loads the real module, once, and is read from it."""

    def __getattr__(self, name: str) -> Any:
        with _LOADING:
            if sys.modules.get("invoke") is self:
                del sys.modules["invoke"]
            real = importlib.import_module("invoke")
        return getattr(real, name)


def _stand_in() -> None:
    if "invoke" in sys.modules:
        return
    spec = importlib.util.find_spec("invoke")
    if spec is None:
        return
    later = _Later("invoke")
    later.__spec__ = spec  # find_spec("invoke") answers as for the real one
    sys.modules["invoke"] = later


_stand_in()
