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
import types
from typing import Any


class _Later(types.ModuleType):
    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        if sys.modules.get("invoke") is self:
            del sys.modules["invoke"]
        return getattr(importlib.import_module("invoke"), name)


if "invoke" not in sys.modules and importlib.util.find_spec("invoke") is not None:
    sys.modules["invoke"] = _Later("invoke")
