"""Usage mistakes on the command line as one line that says what to type instead.

argparse reports an unknown option from the top-level parser (`tagger: error: unrecognized
arguments`) with no suggestion, and Hydra answers an option given to `tagger train` with its
whole usage text; a user needs the command's name and the spelling that works.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Iterator


def unrecognized_message(extras: list[str], options: Iterable[str]) -> str:
    """`unrecognized arguments: ...`, with the closest of `options` to the first unknown option (difflib)."""
    message = f"unrecognized arguments: {' '.join(extras)}"
    long_options = [option for option in options if option.startswith("--")]
    for extra in extras:
        if extra.startswith("-"):
            close = difflib.get_close_matches(extra.split("=", 1)[0], long_options, n=1, cutoff=0.75)
            if close:
                return f"{message}; did you mean {close[0]}?"
    return message


def train_option_error(argv: list[str]) -> str | None:
    """The message for the first option of `tagger train ARGV` that Hydra does not take (None if there is
    none): train takes overrides, so `--max-epochs 2` is answered with `trainer.max_epochs=2`."""
    from hydra._internal.utils import get_args_parser  # the parser Hydra's own entry point uses

    unknown = [arg for arg in get_args_parser().parse_known_args(argv)[1] if arg.startswith("-")]
    if not unknown:
        return None
    option = unknown[0]
    name, _, value = option.lstrip("-").partition("=")
    following = argv[argv.index(option) + 1:argv.index(option) + 2]
    if not value and following and "=" not in following[0] and not following[0].startswith("-"):
        value = following[0]
    key = _closest_config_key(name.replace("-", "_"))
    example = f"{key}={value or 'VALUE'}" if key else "trainer.max_epochs=2"
    return (f"{option.split('=', 1)[0]}: tagger train takes Hydra overrides (key=value), not options: "
            f"{'write' if key else 'such as'} {example} (tagger train --help lists the keys)")


def _closest_config_key(name: str) -> str | None:
    """The key of the training config (dotted, a group's name too) whose last part is `name` or closest to it."""
    from hydra import compose, initialize_config_module
    from omegaconf import OmegaConf

    with initialize_config_module("tagger.conf", version_base="1.3"):
        config = OmegaConf.to_container(compose("train"), resolve=False)
    keys = [key for key in _dotted_keys(config) if not key.endswith("_")]  # not _target_, _partial_
    by_last_part: dict[str, str] = {}
    for key in keys:  # the shortest key wins a shared last part: trainer.max_epochs before a deeper one
        last = key.rpartition(".")[2]
        if last not in by_last_part or len(key) < len(by_last_part[last]):
            by_last_part[last] = key
    close = difflib.get_close_matches(name, list(by_last_part), n=1)
    return by_last_part[close[0]] if close else None


def _dotted_keys(node: dict, prefix: str = "") -> Iterator[str]:
    for key, value in node.items():
        yield f"{prefix}{key}"
        if isinstance(value, dict):
            yield from _dotted_keys(value, f"{prefix}{key}.")
