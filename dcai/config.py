"""Stage configuration: frozen dataclasses loaded from YAML, with ``--set key=value`` overrides.

Each stage defines ``@dataclass(frozen=True) class XConfig(StageConfig)`` and checks its values in
``__post_init__``. ``PRESETS`` maps a preset name (``tiny``) to overrides that run on a laptop CPU.
"""

from __future__ import annotations

import dataclasses
import difflib
import numbers
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, ClassVar, TypeVar, get_type_hints

import yaml

from dcai.errors import InputError

T = TypeVar("T", bound="StageConfig")


class ConfigError(InputError):
    """A configuration value that is not allowed; the message says what is."""


@dataclasses.dataclass(frozen=True)
class StageConfig:
    """Base class: presets, conversion to a plain dict, and checks shared by every stage."""

    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {}

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def replace(self: T, **changes: Any) -> T:
        return from_mapping(type(self), {**self.to_dict(), **changes})

    def _check(self, ok: bool, message: str) -> None:
        if not ok:
            raise ConfigError(f"{type(self).__name__}: {message}")


def parse_sets(sets: Iterable[str]) -> dict[str, Any]:
    """``["a=1", "b.c=x"]`` → ``{"a": 1, "b": {"c": "x"}}``; values parsed as YAML scalars/lists."""
    out: dict[str, Any] = {}
    for item in sets:
        if "=" not in item:
            raise ConfigError(f"--set expects key=value, got {item!r}")
        key, raw = item.split("=", 1)
        value = yaml.safe_load(raw) if raw != "" else ""
        node = out
        parts = key.strip().split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return out


def deep_merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        out[k] = deep_merge(out[k], v) if isinstance(v, Mapping) and isinstance(out.get(k), Mapping) else v
    return out


def load_yaml(path: str | os.PathLike) -> dict[str, Any]:
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{path}: config file not found")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML ({e})") from e
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level, got {type(data).__name__}")
    return data


def stage_label(cls: type) -> str:
    """``VoteConfig`` → ``vote``: how messages name a stage's config."""
    return cls.__name__.removesuffix("Config").lower()


def unknown_message(what: str, name: str, valid: Iterable[str]) -> str:
    """``unknown key 'epoch' (did you mean 'epochs'?); valid: ...``: the error for any misspelt name."""
    valid = sorted(valid)
    close = difflib.get_close_matches(name, valid, n=1, cutoff=0.6)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"unknown {what} {name!r}{hint}; valid: {', '.join(valid)}"


_KINDS = {int: "an integer", float: "a number", bool: "true or false", str: "a string"}


def _is_bool(v: Any) -> bool:
    return isinstance(v, bool) or type(v).__name__ == "bool_"  # numpy's bool too (a Tune sample)


def _scalar(label: str, key: str, t: Any, v: Any) -> Any:
    """``v`` as the scalar type ``t`` (an int is a fine float; numpy scalars count as their kind), or a
    ConfigError naming the key."""
    if t is Any or t not in _KINDS:
        return v
    if t is bool:
        ok = _is_bool(v)
    elif t is int:
        ok = isinstance(v, numbers.Integral) and not _is_bool(v)
    elif t is float:
        ok = isinstance(v, numbers.Real) and not _is_bool(v)
    else:
        ok = isinstance(v, str)
    if not ok:
        raise ConfigError(f"{label}: {key} must be {_KINDS[t]}, got {v!r}")
    return t(v)


def check_value(label: str, key: str, t: Any, v: Any) -> Any:
    """``v`` checked (and converted: a list to a tuple, an int to a float) against the field type ``t``."""
    origin, args = getattr(t, "__origin__", None), tuple(getattr(t, "__args__", ()))
    if t is tuple or origin is tuple:
        items = list(v) if isinstance(v, (list, tuple)) else [v]
        item_t = args[0] if args else Any
        return tuple(_scalar(label, f"{key}[{i}]", item_t, x) for i, x in enumerate(items))
    if t is dict or origin is dict:
        if not isinstance(v, Mapping):
            raise ConfigError(f"{label}: {key} must be a mapping (key: value, ...), got {v!r}")
        value_t = args[-1] if len(args) == 2 else Any
        if value_t in _KINDS:
            return {k: _scalar(label, f"{key}.{k}", value_t, x) for k, x in v.items()}
        return dict(v)
    return _scalar(label, key, t, v)


def from_mapping(cls: type[T], data: Mapping[str, Any]) -> T:
    """Build ``cls`` from a mapping: unknown keys refused with a close match and the valid ones, each
    value checked against its field's type with the key named (``vote: epochs must be an integer``)."""
    label = stage_label(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    for k in data:
        if k not in names:
            raise ConfigError(f"{label}: {unknown_message('key', str(k), names)}")
    hints = get_type_hints(cls)
    kwargs = {k: check_value(label, k, hints.get(k, Any), v) for k, v in data.items()}
    return cls(**kwargs)


def load(
    cls: type[T],
    path: str | os.PathLike | None = None,
    sets: Iterable[str] = (),
    *,
    preset: str | None = None,
    section: str | None = None,
    base: Mapping[str, Any] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> T:
    """Defaults ← YAML file (optionally one ``section`` of it) or ``base`` ← preset ← overrides ← ``--set``.

    The preset comes after the file, so ``--preset tiny`` is tiny whatever the file's sections say;
    a verb's own flags (``overrides``) and ``--set`` come after the preset, as they are typed for this run.
    """
    data: dict[str, Any] = dict(base or {})
    if path:
        file_data = load_yaml(path)
        if section is not None:
            file_data = file_data.get(section) or {}
        data = deep_merge(data, file_data)
    if preset:
        if preset not in cls.PRESETS:
            raise ConfigError(
                f"{stage_label(cls)}: unknown preset {preset!r}; choose from {sorted(cls.PRESETS) or 'none'}"
            )
        data = deep_merge(data, cls.PRESETS[preset])
    if overrides:
        data = deep_merge(data, overrides)
    data = deep_merge(data, parse_sets(sets))
    return from_mapping(cls, data)
