"""ModuleInput: the dict a callback receives, copying shared windows only when they are read.

A station's run hands its callback every field window of every topic; most of them are cached
from earlier runs (`TopicInputCache`) and shared with the next ones. Copying them all for every
run would cost time in proportion to the windows' total length, whatever the model reads, and
most models read a handful. A ModuleInput copies a shared list or dict the first time it is read,
so what a callback changes never reaches the cache or another run. Every way of reading values
gives copies (`m[k]`, `get`, `pop`, `items()`, `values()`, `dict(m)`, `{**m}`, `m.copy()`,
`m | other`, pickling); only C-level readers that cannot change anything, such as `==` or
`orjson.dumps`, see the shared values themselves.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

__all__ = ["ModuleInput"]

_MISSING = object()
_COPIED = (list, dict)  # the containers a read copies (numpy arrays in inputs are read-only)


class ModuleInput(dict):
    """A module input; the values under `shared` keys are copied (shallowly) when first read.

    A read from a model's thread and the copies the cache gives an input before it extends a list
    take the input's lock, so the copy is always made before the list changes."""

    __slots__ = ("__weakref__", "_lock", "_shared")

    def __init__(self, values: Mapping[str, Any] = (), shared: Iterable[str] = ()) -> None:
        super().__init__(values)
        self._shared: set[Any] = set(shared)
        self._lock = threading.Lock()  # a model's thread may read while the cache hands out copies

    def share(self, keys: Iterable[Any]) -> None:
        """Mark the values of `keys` as held by others too: a list or dict among them is copied
        when it is first read (other values are left as they are)."""
        self._shared.update(keys)

    def own_values(self, values: Iterable[Any]) -> None:
        """Copy now the shared values among `values` (their holder is about to change them)."""
        changing = {id(value) for value in values}
        with self._lock:
            for key in [k for k in self._shared if id(dict.__getitem__(self, k)) in changing]:
                self._own_unlocked(key)

    def _own(self, key: Any) -> Any:
        with self._lock:
            return self._own_unlocked(key)

    def _own_unlocked(self, key: Any) -> Any:
        value = dict.__getitem__(self, key)
        if key in self._shared:
            self._shared.discard(key)
            if type(value) in _COPIED:
                value = value.copy()
                dict.__setitem__(self, key, value)
        return value

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
