"""ModuleInput: the dict a callback receives, copying shared windows only when they are read.

A station's run hands its callback every field window of every topic; most of them are cached
from earlier runs (`TopicInputCache`) and shared with the next ones. Copying them all for every
run would cost time in proportion to the windows' total length, whatever the model reads, and
most models read a handful. A ModuleInput copies a shared list or dict the first time it is read,
so what a callback changes never reaches the cache or another run. Every way of reading values
gives copies (`m[k]`, `get`, `pop`, `items()`, `values()`, `dict(m)`, `{**m}`, `m.copy()`,
`m | other`, pickling); only C-level readers that cannot change anything, such as `==` or
`orjson.dumps`, see the shared values themselves.

The per-topic views under `_topics` nest the same way. The input holds them as the assembly
does (TopicDicts: each topic's keys as one dict, shared by every run until the topic changes);
reading `_topics` gives this input's TopicViews over them, reading a topic there gives a
ModuleInput over its keys, and reading a value there copies it. A run costs one shared key more,
whatever it reads.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Mapping
from itertools import chain
from typing import Any

__all__ = ["ModuleInput", "TopicDicts", "TopicViews"]

_MISSING = object()
_CONTAINERS = frozenset({list, dict})  # what a read copies (numpy arrays in inputs are read-only)
_LISTS, _DICTS = {list}, {dict}


def fresh(value: Any) -> Any:
    """`value` with every list and dict in it copied, the rest shared: a per-gun table's rows, a
    second's car orders, a dependency's nested output. Windows of numbers and tables of them, the
    usual values, are told apart by the types they hold (one C-level pass) and copied at once."""
    kind = type(value)
    if kind is list:
        kinds = set(map(type, value))
        if kinds.isdisjoint(_CONTAINERS):
            return value.copy()
        if kinds == _LISTS and set(map(type, chain.from_iterable(value))).isdisjoint(_CONTAINERS):
            return list(map(list.copy, value))
        if kinds == _DICTS and set(map(type, chain.from_iterable(map(dict.values, value)))).isdisjoint(_CONTAINERS):
            return list(map(dict.copy, value))
        return [fresh(item) for item in value]
    if kind is dict:
        if set(map(type, value.values())).isdisjoint(_CONTAINERS):
            return value.copy()
        return {key: fresh(item) for key, item in value.items()}
    return value


class ModuleInput(dict):
    """A module input; the values under `shared` keys are copied when first read (`fresh`: the
    lists and dicts in them too).

    A read from a model's thread and the copies the cache gives an input before it extends a list
    take the input's lock, so the copy is always made before the list changes."""

    __slots__ = ("__weakref__", "_lock", "_nested", "_shared")

    def __init__(self, values: Mapping[str, Any] | None = None, shared: Iterable[str] = ()) -> None:
        super().__init__(values or {})
        self._shared: set[Any] = set(shared)
        self._lock = threading.Lock()  # a model's thread may read while the cache hands out copies
        self._nested: tuple[ModuleInput, ...] = ()

    def share(self, keys: Iterable[Any]) -> None:
        """Mark the values of `keys` as held by others too: a list or dict among them is copied
        when it is first read (other values are left as they are)."""
        self._shared.update(keys)

    def own_values(self, values: Iterable[Any]) -> None:
        """Copy now the shared values among `values` (their holder is about to change them)."""
        self._own_changing({id(value) for value in values})

    def _own_changing(self, changing: set[int]) -> None:
        """Copy the shared values that are or hold (per-topic dicts) a changing list, and let the
        inputs made from this one's values (the views it gave out) do the same."""
        with self._lock:
            for key in [k for k in self._shared if self._holds(dict.__getitem__(self, k), changing)]:
                self._own_unlocked(key)
            nested = self._nested
        for inner in nested:
            inner._own_changing(changing)

    @staticmethod
    def _holds(value: Any, changing: set[int]) -> bool:
        if type(value) is TopicDicts:
            return any(id(v) in changing for topic in value.values() for v in topic.values())
        return id(value) in changing

    def _own(self, key: Any) -> Any:
        with self._lock:
            return self._own_unlocked(key)

    def _own_unlocked(self, key: Any) -> Any:
        value = dict.__getitem__(self, key)
        if key in self._shared:
            self._shared.discard(key)
            copied = self._copied(value)
            if copied is not value:
                dict.__setitem__(self, key, copied)
            return copied
        return value

    def _copied(self, value: Any) -> Any:
        """What a read of a shared value gives: this input's views of per-topic dicts, else the
        value with its lists and dicts copied (`fresh`)."""
        if type(value) is TopicDicts:
            views = TopicViews(value)
            self._nested += (views,)
            return views
        return fresh(value)

    def _own_all(self) -> None:
        with self._lock:
            for key in list(self._shared):
                if key in self:
                    self._own_unlocked(key)
            self._shared.clear()

    def __getitem__(self, key: Any) -> Any:
        return self._own(key) if key in self._shared else dict.__getitem__(self, key)

    def __missing__(self, key: Any) -> Any:
        raise KeyError(key)

    def get(self, key: Any, default: Any = None) -> Any:
        return self[key] if key in self else default  # noqa: SIM401 - self.get would recurse

    def setdefault(self, key: Any, default: Any = None) -> Any:
        if key in self:
            return self[key]
        dict.__setitem__(self, key, default)
        return default

    def pop(self, key: Any, default: Any = _MISSING) -> Any:
        if key in self:
            value = self[key]
            dict.__delitem__(self, key)
            return value
        if default is _MISSING:
            raise KeyError(key)
        return default

    def popitem(self) -> tuple[Any, Any]:
        self._own_all()
        return dict.popitem(self)

    def __setitem__(self, key: Any, value: Any) -> None:
        self._shared.discard(key)
        dict.__setitem__(self, key, value)

    def __delitem__(self, key: Any) -> None:
        self._shared.discard(key)
        dict.__delitem__(self, key)

    def update(self, *args: Any, **kwargs: Any) -> None:
        changes = dict(*args, **kwargs)
        self._shared.difference_update(changes)
        dict.update(self, changes)

    def clear(self) -> None:
        self._shared.clear()
        dict.clear(self)

    def items(self):  # type: ignore[override]
        self._own_all()
        return dict.items(self)

    def values(self):  # type: ignore[override]
        self._own_all()
        return dict.values(self)

    def __iter__(self) -> Iterator[Any]:
        """Keys; defined so that `dict(m)` and `{**m}` read values through `__getitem__`."""
        return dict.__iter__(self)

    def copy(self) -> dict[Any, Any]:
        self._own_all()
        return dict(dict.items(self))

    def __or__(self, other: Any) -> Any:
        self._own_all()
        return dict.__or__(self, other)

    def __ror__(self, other: Any) -> Any:
        self._own_all()
        return dict.__ror__(self, other)

    def __ior__(self, other: Any) -> ModuleInput:
        self.update(other)
        return self

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled and copied (`copy.copy`, `copy.deepcopy`) as a plain dict of copies."""
        return (dict, (self.copy(),))


class TopicDicts(dict):
    """`_topics` as an assembly holds it: topic -> that topic's input keys, sharing the cache's
    lists. Never changed once an input holds it (a changed topic gets a new one), so every run
    until then shares it; an input reading it gets TopicViews over it."""

    __slots__ = ()


class TopicViews(ModuleInput):
    """`input["_topics"]`: each topic's own keys (`f`, `f_window`, key orders, records), shadowed
    by another topic's flat name or not, under the topic's name.

    Made when a callback reads `_topics`; reading a topic gives a ModuleInput over its keys, made
    on the first read, that copies a value when it is first read. Nothing is copied for topics or
    values a callback does not read."""

    __slots__ = ()

    def __init__(self, topics: Mapping[str, dict[str, Any]]) -> None:
        super().__init__(topics, topics)

    @staticmethod
    def _holds(value: Any, changing: set[int]) -> bool:
        return any(id(v) in changing for v in value.values()) if type(value) is dict else id(value) in changing

    def _copied(self, value: Any) -> Any:
        if type(value) is not dict:
            return super()._copied(value)
        view = ModuleInput(value, value)
        self._nested += (view,)
        return view
