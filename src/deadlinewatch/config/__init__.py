"""The configuration: every key declared once with its type, default and help (schema.py, its value checks in
checks.py), the file read and validated all at once (loading.py), and the starter file `init` writes
(starter.py). What most callers need is here: `load(path)` → `Config`, or a `ConfigError` naming every problem."""

from deadlinewatch.config.loading import load
from deadlinewatch.config.schema import Config
from deadlinewatch.errors import ConfigError

__all__ = ["Config", "ConfigError", "load"]
