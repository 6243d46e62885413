"""Stage configuration: frozen dataclasses loaded from YAML, with ``--set key=value`` overrides.

Each stage defines ``@dataclass(frozen=True) class XConfig(StageConfig)`` and checks its values in
``__post_init__``. ``PRESETS`` maps a preset name (``tiny``) to overrides that run on a laptop CPU.
"""

from __future__ import annotations

import dataclasses
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


def from_mapping(cls: type[T], data: Mapping[str, Any]) -> T:
    """Build ``cls`` from a mapping, refusing unknown keys with the list of valid ones."""
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ConfigError(f"{cls.__name__}: unknown key(s) {unknown}; valid keys: {sorted(names)}")
    hints = get_type_hints(cls)
    kwargs = {}
    for k, v in data.items():
        t = hints.get(k)
        if t is tuple or getattr(t, "__origin__", None) is tuple:
            v = tuple(v) if isinstance(v, (list, tuple)) else (v,)
        elif t is float and isinstance(v, int) and not isinstance(v, bool):
            v = float(v)
        kwargs[k] = v
    return cls(**kwargs)


def load(
    cls: type[T],
    path: str | os.PathLike | None = None,
    sets: Iterable[str] = (),
    *,
    preset: str | None = None,
    section: str | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> T:
    """Defaults ← preset ← YAML file (optionally one ``section`` of it) ← overrides ← ``--set``."""
    data: dict[str, Any] = {}
    if preset:
        if preset not in cls.PRESETS:
            raise ConfigError(
                f"{cls.__name__}: unknown preset {preset!r}; choose from {sorted(cls.PRESETS) or 'none'}"
            )
        data = deep_merge(data, cls.PRESETS[preset])
    if path:
        file_data = load_yaml(path)
        if section is not None:
            file_data = file_data.get(section) or {}
        data = deep_merge(data, file_data)
    if overrides:
        data = deep_merge(data, overrides)
    data = deep_merge(data, parse_sets(sets))
    return from_mapping(cls, data)
