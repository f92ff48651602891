"""Configuration mistakes as one line: Hydra's (unknown keys, missing config files, bad override
syntax) and those found while objects are built from the config (a Trainer option Lightning
does not know, an unknown encoder type).

Hydra reports the former as multi-line messages meant for developers; a user needs the key and
what would have been valid.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

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
        known = ""
        if isinstance(cause.parent_node, DictConfig):
            keys = [str(key) for key in cause.parent_node.keys() if key != "hydra"]
            known = f" (known keys there: {', '.join(keys)})"
        return f"unknown config key '{cause.full_key}'{known}"
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


def check_types(function: Callable, options: dict[str, Any], section: str) -> None:
    """Refuse a value its parameter's type hint rules out (`trainer.max_epochs=ten`) before it fails deep inside."""
    try:
        hints = typing.get_type_hints(function)
    except (NameError, TypeError):  # hints that cannot be evaluated check nothing
        return
    for key, value in options.items():
        if key in hints and not _fits(value, hints[key]):
            hint = hints[key]
            expected = hint.__name__ if isinstance(hint, type) else str(hint).replace("typing.", "").replace("NoneType", "None")
            raise TaggerError(f"invalid configuration: {section}.{key}={value!r} is not {expected}")


def _fits(value: Any, hint: Any) -> bool:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_fits(value, option) for option in typing.get_args(hint))
    if origin is typing.Literal:
        return value in typing.get_args(hint)
    if isinstance(origin, type):  # list[int], dict[str, int], Sequence[str]: the container is enough
        return isinstance(value, origin)
    if hint is type(None):
        return value is None
    if hint in (int, float):  # a YAML integer is a fine float, a bool is not a number
        return isinstance(value, (int, float) if hint is float else int) and not isinstance(value, bool)
    if hint is str:  # Hydra reads `data.name=2024` as a number, yet it is a fine name
        return isinstance(value, (str, int, float))
    return isinstance(value, hint) if isinstance(hint, type) else True
