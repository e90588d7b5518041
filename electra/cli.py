"""One binder from the nested config dataclasses to the command line and to recipe files.

Every leaf field of a config is a dotted flag (``--optimizer.learning_rate``) with the help text of its ``knob``;
its aliases are the flag names NVIDIA's and google-research's ELECTRA scripts give the same setting
(``--learning_rate``, ``--num_train_steps``), so their command lines carry over. A knob may instead be positional,
required, or a list (``tuple[str, ...]``: several values after one flag). ``--config=recipe.json`` loads a recipe
(nested JSON objects, or dotted keys) first; flags given on the command line win over it. A number's ``Range`` (and
finiteness) and a text's ``choices`` are checked in one place, ``_convert``, for flags, recipes and ``build`` alike,
the error naming where the value came from; a setting given twice in one place (an alias and the dotted name,
``--x --nox``, a recipe key both dotted and nested) must be given the same value. ``--verbose`` (every tool; not a
config field, so never part of a run's saved config) turns the libraries' logs back on. Adding a hyperparameter is
one ``knob`` line in ``electra.configs``: the flag, its help, its range, recipe files and the resume check follow
from it.
"""
from __future__ import annotations

import argparse
import copy
import difflib
import dataclasses
import json
import math
import re
import typing
from typing import Any, Iterator, Mapping

from electra.configs import ConfigError, Range, parse_bool

RESERVED = ("config", "help", "verbose")


@dataclasses.dataclass(frozen=True)
class Flag:
    name: str                 # dotted: "optimizer.learning_rate"
    kind: type                # int, float, str or bool
    optional: bool            # None allowed
    default: Any
    help: str
    aliases: tuple[str, ...]
    choices: tuple
    resume: bool
    valid: Range | None = None
    per_run: bool = False
    many: bool = False        # tuple[kind, ...]: one or more values
    positional: bool = False
    required: bool = False


def _leaf_type(hint) -> tuple[type, bool, bool]:
    """``(element kind, None allowed, several values)`` of a field's type hint."""
    if typing.get_origin(hint) is tuple:
        return typing.get_args(hint)[0], False, True
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    if args:
        return _leaf_type(args[0])[0], True, typing.get_origin(args[0]) is tuple
    return hint, False, False


def flags_of(cls, prefix: str = "", instance: Any = None) -> Iterator[Flag]:
    """The leaf fields of config class ``cls`` (defaults taken from ``instance`` when given), depth first."""
    hints = typing.get_type_hints(cls)
    for field in dataclasses.fields(cls):
        hint = hints[field.name]
        default = getattr(instance, field.name) if instance is not None else (
            field.default_factory() if field.default_factory is not dataclasses.MISSING else field.default)
        if dataclasses.is_dataclass(hint):
            yield from flags_of(hint, f"{prefix}{field.name}.", default)
            continue
        kind, optional, many = _leaf_type(hint)
        meta = field.metadata
        yield Flag(prefix + field.name, kind, optional, default, meta.get("help", ""), tuple(meta.get("aliases", ())),
                   tuple(meta.get("choices", ())), bool(meta.get("resume", True)), meta.get("valid"),
                   bool(meta.get("per_run", False)), many, bool(meta.get("positional", False)),
                   bool(meta.get("required", False)))


def flag_table(cls, leaf_names: bool = False) -> dict[str, Flag]:
    """``{accepted name: Flag}``: dotted names, plus each alias that names exactly one field. ``leaf_names``: also
    a field's own name (``total_steps``) when no other field has it: Python keywords cannot hold dots (``build``)."""
    flags = list(flags_of(cls))
    table = {f.name: f for f in flags}
    owners: dict[str, set[str]] = {}
    for flag in flags:
        for alias in flag.aliases + ((flag.name.rsplit(".", 1)[-1],) if leaf_names else ()):
            owners.setdefault(alias, set()).add(flag.name)
    for alias, names in owners.items():
        if len(names) == 1 and alias not in table and alias not in RESERVED:
            table[alias] = table[next(iter(names))]
    return table


def _convert(flag: Flag, value: Any, where: str) -> Any:
    if flag.many and value is not None:
        values = [value] if isinstance(value, str) else value
        if not isinstance(values, (list, tuple)):
            raise ConfigError(f"{where}: {flag.name} expects a list of {flag.kind.__name__}, got {value!r}")
        single = dataclasses.replace(flag, many=False, optional=False)
        return tuple(_convert(single, v, where) for v in values)
    if value is None:
        if flag.optional:
            return None
        raise ConfigError(f"{where}: {flag.name} cannot be null")
    try:
        if flag.kind is bool:
            value = parse_bool(value) if isinstance(value, str) else value
            if not isinstance(value, bool):
                raise TypeError
        elif flag.kind is int:
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise TypeError
            value = int(value)
        elif flag.kind is float:
            if isinstance(value, bool):
                raise TypeError
            value = float(value)
        elif flag.kind is str:
            if not isinstance(value, str):
                raise TypeError
        else:
            raise TypeError
    except (TypeError, ValueError, argparse.ArgumentTypeError):
        raise ConfigError(f"{where}: {flag.name} expects {flag.kind.__name__}"
                          f"{' or null' if flag.optional else ''}, got {value!r}") from None
    if flag.choices and value not in flag.choices:
        raise ConfigError(f"{where}: {flag.name}={value!r}; choose one of {list(flag.choices)}")
    if flag.kind is float and not math.isfinite(value):
        raise ConfigError(f"{where}: --{flag.name}={value} must be a finite number"
                          + (f" {flag.valid}" if flag.valid and flag.valid.text != "finite" else ""))
    if flag.valid and value not in flag.valid:
        raise ConfigError(f"{where}: --{flag.name}={value} must be {flag.valid}")
    return value


def _leaves(values: Mapping[str, Any], path: tuple[str, ...] = ()) -> Iterator[tuple[str, Any, tuple[str, ...]]]:
    """``(dotted name, value, keys as written)`` of each leaf: ``{"optimizer": {"learning_rate": 1e-3}}`` and
    ``{"optimizer.learning_rate": 1e-3}`` both give the name ``optimizer.learning_rate``."""
    for key, value in values.items():
        if isinstance(value, Mapping):
            yield from _leaves(value, path + (key,))
        else:
            yield ".".join(path + (key,)), value, path + (key,)


def flatten(values: Mapping[str, Any]) -> dict[str, Any]:
    """Nested ``{"optimizer": {"learning_rate": 1e-3}}`` (and dotted keys) → ``{"optimizer.learning_rate": 1e-3}``."""
    return {name: value for name, value, _ in _leaves(values)}


def _same(a: Any, b: Any) -> bool:
    return a == b or repr(a) == repr(b)


def _written(keys: tuple[str, ...], value: Any) -> str:
    """A setting as its recipe holds it: ``{"optimizer": {"learning_rate": 0.002}}``."""
    for key in reversed(keys):
        value = {key: value}
    return json.dumps(value, default=str)


def _nest(flat: Mapping[str, Any]) -> dict[str, Any]:
    nested: dict[str, Any] = {}
    for name, value in flat.items():
        *parents, leaf = name.split(".")
        node = nested
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return nested


def _build(cls, nested: Mapping[str, Any], base: Any, top: bool = True) -> Any:
    """``base`` with ``nested`` changes. Groups validate their own fields at once; the top level's cross-field
    checks wait for ``finish`` (a recipe may leave ``output_dir`` to the command line)."""
    changes = {}
    hints = typing.get_type_hints(cls)
    for key, value in nested.items():
        current = getattr(base, key)
        changes[key] = _build(hints[key], value, current, False) if dataclasses.is_dataclass(hints[key]) else value
    if not changes:
        return base
    if not top:
        return dataclasses.replace(base, **changes)
    result = copy.copy(base)
    for key, value in changes.items():
        object.__setattr__(result, key, value)
    return result


def override(config: Any, values: Mapping[str, Any], where: str = "overrides", leaf_names: bool = False) -> Any:
    """``config`` with ``values`` applied: dotted names, aliases or nested objects. Unknown names, wrong types and
    invalid results raise ``ConfigError`` naming ``where`` (a file, or "command line") and the field; so does one
    field given twice (an alias and its dotted name, a dotted and a nested key) with different values."""
    table = flag_table(type(config), leaf_names)
    resolved: dict[str, tuple[Any, str]] = {}
    for key, value, keys in _leaves(values):
        if key.startswith("_"):          # "_comment" and friends in recipe files
            continue
        flag = table.get(key)
        if flag is None:
            close = difflib.get_close_matches(key, list(table), n=1)
            raise ConfigError(f"{where}: unknown setting {key!r}" + (f" (did you mean {close[0]}?)" if close else ""))
        converted, written = _convert(flag, value, where), _written(keys, value)
        if flag.name in resolved and not _same(resolved[flag.name][0], converted):
            raise ConfigError(f"{where}: {resolved[flag.name][1]} and {written} set {flag.name} to different values")
        resolved[flag.name] = converted, written
    try:
        return _build(type(config), _nest({name: value for name, (value, _) in resolved.items()}), config)
    except ConfigError as e:
        raise ConfigError(f"{where}: {e}") from None


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object whose keys are unique, or whose repeated keys agree."""
    values: dict[str, Any] = {}
    for key, value in pairs:
        if key in values and not _same(values[key], value):
            raise ConfigError(f"{json.dumps(key)} given twice in one object ({values[key]!r} and {value!r})")
        values[key] = value
    return values


def load_recipe(path: str) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as f:
            values = json.load(f, object_pairs_hook=_object)
    except FileNotFoundError:
        raise ConfigError(f"--config={path}: no such file") from None
    except json.JSONDecodeError as e:
        raise ConfigError(f"--config={path}: not valid JSON (line {e.lineno}: {e.msg})") from None
    except ConfigError as e:
        raise ConfigError(f"--config={path}: {e}") from None
    if not isinstance(values, dict):
        raise ConfigError(f"--config={path}: expected a JSON object of settings")
    return values


def to_dict(config: Any) -> dict[str, Any]:
    return dataclasses.asdict(config)


def from_dict(cls, values: Mapping[str, Any], where: str = "config") -> Any:
    """A config from its ``to_dict`` (missing fields take their defaults)."""
    return override(_defaults(cls), values, where)


def _defaults(cls) -> Any:
    values = {}
    for field in dataclasses.fields(cls):
        if field.default is not dataclasses.MISSING:
            values[field.name] = field.default
        elif field.default_factory is not dataclasses.MISSING:
            values[field.name] = field.default_factory()
    # __post_init__ checks run on the final config, not on these defaults (an empty output_dir is allowed here)
    instance = object.__new__(cls)
    for name, value in values.items():
        object.__setattr__(instance, name, value)
    return instance


def finish(config: Any) -> Any:
    """Run the config's cross-field checks (``__post_init__``) on a config assembled field by field."""
    missing = [f"--{f.name}" for f in flags_of(type(config), instance=config)
               if f.required and f.default in (None, "", ())]
    if missing:
        raise ConfigError(f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} required")
    return dataclasses.replace(config)


def differences(saved: Mapping[str, Any], current: Any) -> list[tuple[str, Any, Any, bool]]:
    """``(dotted name, saved value, current value, may change on resume)`` for each field that differs, leaving
    out the per-invocation ones (``steps_this_run``, ``restore``)."""
    table = {f.name: f for f in flags_of(type(current))}
    old, new = flatten(saved), flatten(to_dict(current))
    return [(name, old.get(name), new[name], table[name].resume) for name in new
            if name in old and old[name] != new[name] and not table[name].per_run]


class _Given(argparse.Action):
    """Stores a flag's value and records how it was written (``parser.given``: ``{dotted name: [(value, as
    written)]}``), so that ``parse_command`` can refuse a setting given twice with different values instead of
    letting the last one win."""

    def __call__(self, parser, namespace, value, option_string=None):
        shown = " ".join(map(str, value)) if isinstance(value, list) else value
        self.store(parser, namespace, value, f"{option_string}={shown}")

    def store(self, parser, namespace, value, written: str) -> None:
        vars(parser).setdefault("given", {}).setdefault(self.dest, []).append((value, written))
        setattr(namespace, self.dest, value)


class _Bool(_Given):
    def __init__(self, option_strings, dest, **kwargs):
        kwargs.update(nargs="?", const=True)
        super().__init__(option_strings, dest, **kwargs)

    def __call__(self, parser, namespace, value, option_string=None):
        written = option_string if value is None or value is True else f"{option_string}={value}"
        if option_string and option_string.startswith("--no") and option_string[4:] in self._positive:
            if value is not None and value is not True:
                parser.error(f"{option_string} takes no value")
            value = False
        else:
            try:
                value = parse_bool(value) if isinstance(value, str) else value
            except argparse.ArgumentTypeError as e:
                parser.error(f"{option_string}: {e}")
        self.store(parser, namespace, value, written)


def _names_for(flag: Flag, table: dict[str, Flag]) -> list[str]:
    return [flag.name] + [a for a in flag.aliases if a in table and table[a].name == flag.name and a != flag.name]


def _sections(cls, prefix: str = "") -> Iterator[tuple[str, str]]:
    """``(dotted group name, help)`` of the nested config groups, in field order."""
    hints = typing.get_type_hints(cls)
    for field in dataclasses.fields(cls):
        if dataclasses.is_dataclass(hints[field.name]):
            yield prefix + field.name, field.metadata.get("help", "")
            yield from _sections(hints[field.name], f"{prefix}{field.name}.")


def build_parser(cls, description: str, defaults: Any = None, prog: str | None = None) -> argparse.ArgumentParser:
    """Argparse over every field of ``cls``, grouped by config section: ``--config``, ``--verbose``, then one option
    per field (dotted name first, then its aliases); booleans accept ``--x``, ``--x=false`` and ``--nox``. Only
    flags given end up in the namespace."""
    flags = list(flags_of(cls, instance=defaults if defaults is not None else _defaults(cls)))
    usage = " ".join(["%(prog)s [-h] [--verbose] [--config RECIPE.json] [--FLAG VALUE ...]",
                      *(f.name.upper() + (" ..." if f.many else "") for f in flags if f.positional)])
    parser = _Parser(prog=prog, description=description, usage=usage,
                                     argument_default=argparse.SUPPRESS,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    general = parser.add_argument_group("general")
    general.add_argument("--config", metavar="RECIPE.json",
                         help="recipe file (JSON, nested or dotted keys) applied before the flags below")
    general.add_argument("--verbose", action="store_true",
                         help="show TensorFlow's and the libraries' own log lines too (default: the tool's own)")
    groups = {"general": general}
    for name, help_text in _sections(cls):
        groups[name] = parser.add_argument_group(name, help_text or None)
    table = flag_table(cls)
    for flag in flags:
        group = groups[flag.name.rsplit(".", 1)[0] if "." in flag.name else "general"]
        kind = flag.kind if not flag.optional else _optional(flag.kind)
        shown = "required" if flag.required else f"default: {flag.default}"
        help_text = flag.help if flag.positional else f"{flag.help} ({shown}{f'; {flag.valid}' if flag.valid else ''})"
        if flag.positional:
            group.add_argument(flag.name, type=kind, help=help_text, choices=flag.choices or None,
                               metavar=flag.name.upper(), nargs="+" if flag.many else None)
            continue
        names = _names_for(flag, table)
        options = [f"--{n}" for n in names]
        if flag.kind is bool:
            options += [f"--no{n}" for n in names]
            action = group.add_argument(*options, dest=flag.name, action=_Bool, help=help_text, metavar="BOOL")
            action._positive = set(names)
        else:
            group.add_argument(*options, dest=flag.name, action=_Given, type=kind, help=help_text,
                               choices=flag.choices or None, nargs="+" if flag.many else None,
                               metavar=None if flag.choices else flag.kind.__name__.upper())
    return parser


class _Parser(argparse.ArgumentParser):
    """Argparse whose errors (an unknown flag, a bad value) are ``ConfigError``s: one line, exit 2, like every other
    bad setting, instead of a usage dump."""

    def error(self, message: str):
        raise ConfigError(f"command line: {message} (see --help)")


def _optional(kind):
    """``none``/``null`` (and, for numbers and booleans, an empty value) → None; text keeps an empty value as given,
    so ``--question=""`` is reported as empty, not as missing."""
    def convert(text: str):
        return None if text.lower() in ("none", "null") or (text == "" and kind is not str) else kind(text)
    convert.__name__ = kind.__name__
    return convert


def parse_command(cls, argv: list[str] | None, description: str, base: Any = None, check: bool = True,
                  prog: str | None = None) -> tuple[Any, bool]:
    """``argv`` → ``(config, verbose)``: a checked config of class ``cls`` (defaults or ``base``, then ``--config``,
    then the flags) and whether ``--verbose`` was given. ``check=False`` leaves out the required-field and
    cross-field checks (e.g. that input files exist)."""
    parser = build_parser(cls, description, base, prog)
    namespace = vars(parser.parse_args(argv))
    for name, given in getattr(parser, "given", {}).items():
        for value, written in given[1:]:
            if not _same(value, given[0][0]):
                raise ConfigError(f"command line: {given[0][1]} and {written} set {name} to different values")
    verbose = bool(namespace.pop("verbose", False))
    config = base if base is not None else _defaults(cls)
    recipe, from_recipe = namespace.pop("config", None), set()
    if recipe:
        values, table = load_recipe(recipe), flag_table(cls)
        config = override(config, values, f"--config={recipe}")
        from_recipe = {table[key].name for key in flatten(values) if key in table} - set(namespace)
    config = override(config, namespace, "command line")
    try:
        return (finish(config) if check else config), verbose
    except ConfigError as e:        # a cross-field check: say which of its values the recipe gave
        named = [name for name in dict.fromkeys(re.findall(r"--([\w.]+)=", str(e))) if name in from_recipe]
        if not named:
            raise
        raise ConfigError(f"{e} (--{', --'.join(named)} from --config={recipe})") from None


def parse(cls, argv: list[str] | None, description: str, base: Any = None, check: bool = True) -> Any:
    """``parse_command`` without the ``--verbose`` switch: the config alone."""
    return parse_command(cls, argv, description, base, check)[0]


def build(cls, values: Mapping[str, Any] | None = None, **names: Any) -> Any:
    """A checked config from keyword or dotted settings: ``build(PretrainConfig, output_dir="run",
    learning_rate=1e-3)`` (a field's own name when it is unique) or ``build(PretrainConfig,
    {"optimizer.learning_rate": 1e-3, "output_dir": "run"})``. The keywords win over ``values`` (a loaded recipe),
    as flags win over ``--config``."""
    config = override(_defaults(cls), values or {}, "arguments", leaf_names=True)
    return finish(override(config, names, "arguments", leaf_names=True))
