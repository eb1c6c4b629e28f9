"""A strict YAML reader for params files: every mistake is one line that starts with the file.

Why each rule exists:

* UTF-8 only, at most 1 MB: a params file is a short hand-written recipe; a Latin-1 ``é`` from
  an old editor would otherwise surface far away as a decoding traceback.
* ``yaml.SafeLoader`` only: it builds plain dicts, lists and scalars, never Python objects.
* No duplicate keys: YAML keeps the last one silently, so a second ``epochs:`` further down
  would quietly override the first.
* No aliases (``*name``): params files never need them, and refusing them defeats "billion
  laughs" alias bombs (1 KB of YAML that expands to gigabytes).
* At most 20 levels of nesting, checked while composing, before PyYAML's recursive composer
  could hit a ``RecursionError`` (``[[[[...`` 5,000 deep).
* ``5e-5`` is a float: PyYAML follows YAML 1.1 and reads ``5e-5``, ``1e3`` or ``1.0e5`` as
  strings, so a learning rate would arrive as ``"5e-5"``. Quoted ``'5e-5'`` stays a string.
* Any other YAML error becomes ``line L, column C: not valid YAML: <problem>``.
"""

import os
import re
import stat

import yaml

__all__ = ["YAMLInputError", "load", "loads", "MAX_BYTES", "MAX_DEPTH"]

MAX_BYTES = 1_000_000  # 1 MB
MAX_DEPTH = 20


class YAMLInputError(ValueError):
    """A params file that cannot be read; the message is one line starting with the file."""


class _Loader(yaml.SafeLoader):
    source = "<string>"
    depth = 0

    def _fail(self, mark, what):
        return YAMLInputError(f"{self.source}: line {mark.line + 1}: {what}")

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise self._fail(event.start_mark, f"YAML aliases (*{event.anchor}) are not allowed in params files")
        if not self.check_event(yaml.SequenceStartEvent, yaml.MappingStartEvent):
            return super().compose_node(parent, index)
        if self.depth >= MAX_DEPTH:
            raise self._fail(self.peek_event().start_mark, f"nested more than {MAX_DEPTH} levels; flatten the params")
        self.depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1

    def construct_mapping(self, node, deep=False):
        first = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                if key in first:
                    raise self._fail(key_node.start_mark, f"key {key!r} appears twice (first on line {first[key]})")
                first[key] = key_node.start_mark.line + 1
            except TypeError:  # an unhashable key: SafeConstructor reports it below
                pass
        return super().construct_mapping(node, deep)

    def construct_object(self, node, deep=False):
        try:
            return super().construct_object(node, deep)
        except (ValueError, OverflowError) as err:  # e.g. 2024-13-01, an int of 5,000 digits
            if isinstance(err, YAMLInputError):
                raise
            text = str(node.value) if len(str(node.value)) <= 40 else f"{str(node.value)[:40]}..."
            raise yaml.constructor.ConstructorError(None, None, f"cannot read {text!r}: {err}", node.start_mark) from None


# Floats with an exponent the way people write them: 5e-5, 5E-5, 1e3, -2.5e-3, .5e-2, 1.0e5.
# Checked after PyYAML's own resolvers, so ints, .inf and .nan are unchanged.
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9][0-9_]*)[eE][-+]?[0-9]+$"),
    list("-+0123456789."),
)


def loads(text: str, source: str = "<string>") -> object:
    """The data of YAML ``text``; ``source`` starts every error message."""
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_BYTES:
        raise YAMLInputError(f"{source}: {size} bytes; a params file is at most 1 MB")
    try:
        loader = _Loader(text)  # its Reader refuses control characters right away
        loader.source = source
        return loader.get_single_data()
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = " ".join(", ".join(part for part in (err.context, err.problem) if part).split())
        raise YAMLInputError(f"{source}: {where}not valid YAML: {problem}") from None
    except yaml.reader.ReaderError as err:  # a control character such as NUL
        raise YAMLInputError(
            f"{source}: not valid YAML: character #x{err.character:04x} at position {err.position}: {err.reason}"
        ) from None


def load(path) -> object:
    """The data of the params file at ``path`` (str or path-like)."""
    source = os.fsdecode(path)
    try:
        info = os.stat(path)
        if stat.S_ISDIR(info.st_mode):
            raise YAMLInputError(f"{source}: is a folder, not a params file")
        if info.st_size > MAX_BYTES:
            raise YAMLInputError(f"{source}: {info.st_size} bytes; a params file is at most 1 MB")
        with open(path, "rb") as f:
            data = f.read(MAX_BYTES + 1)
    except FileNotFoundError:
        raise YAMLInputError(f"{source}: params file not found") from None
    except OSError as err:
        raise YAMLInputError(f"{source}: cannot read: {err.strerror}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise YAMLInputError(
            f"{source}: not UTF-8 text (byte 0x{data[err.start]:02x} at position {err.start}); save it as UTF-8"
        ) from None
    return loads(text, source)
