"""Configuration mistakes as one line: Hydra's (unknown keys, missing config files, bad override
syntax) and those found while objects are built from the config (a Trainer option Lightning
does not know). Types and ranges are `tagger.training.config_schema`'s.

Hydra reports the former as multi-line messages meant for developers; a user needs the key and
what would have been valid.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from contextlib import contextmanager

from hydra.errors import HydraException, InstantiationException, MissingConfigException, OverrideParseException
from lightning_fabric.utilities.exceptions import MisconfigurationException
from omegaconf import DictConfig
from omegaconf.errors import ConfigAttributeError, ConfigKeyError, OmegaConfBaseException

from tagger.errors import TaggerError


def config_error_message(error: BaseException) -> str | None:
    """A one-line message if `error` is a Hydra/OmegaConf configuration error, else None."""
    if not isinstance(error, (HydraException, OmegaConfBaseException)):
        return None
    cause = error.__cause__ if isinstance(error.__cause__, OmegaConfBaseException) else error
    if isinstance(cause, (ConfigAttributeError, ConfigKeyError)) and cause.full_key:
        hint = ""
        if isinstance(cause.parent_node, DictConfig):
            keys = sorted(str(key) for key in cause.parent_node.keys() if key != "hydra")  # not in the order configs compose
            parent, _, name = cause.full_key.rpartition(".")
            close = difflib.get_close_matches(name, keys, n=1)
            hint = f" (did you mean '{parent + '.' if parent else ''}{close[0]}'?)" if close else f" (known keys there: {', '.join(keys)})"
        return f"unknown config key '{cause.full_key}'{hint}"
    if isinstance(error, MissingConfigException) and error.missing_cfg_file:
        options = f" (available: {', '.join(error.options)})" if error.options else ""
        return f"no config '{error.missing_cfg_file}'{options}"
    lines = [line.strip() for line in str(error).splitlines()]
    if "Config search path:" in lines:
        lines = lines[: lines.index("Config search path:")]
    message = " ".join(line for line in lines if line and not line.startswith("See https://"))
    if isinstance(error, OverrideParseException):
        message += " (overrides look like key=value, +new_key=value or group=option)"
    return message


@contextmanager
def built_from_config() -> Iterator[None]:
    """Errors raised while objects are built from the config are the config's fault: one line that says so."""
    try:
        yield
    except (InstantiationException, MisconfigurationException, OmegaConfBaseException, TypeError, ValueError) as error:
        message = " ".join(line.strip() for line in str(error).splitlines() if line.strip())
        raise TaggerError(f"invalid configuration: {message}") from error
