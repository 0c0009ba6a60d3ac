"""The seeds' handler signatures: which form a result handler has, and loud errors for others."""

from __future__ import annotations

import functools

import pytest

from d_a.service.handlers import check_batch_upload_handler, check_callback, resolve_result_handler


def test_both_seed_forms_of_a_result_handler() -> None:
    two = resolve_result_handler(lambda station_id, result: None)
    three = resolve_result_handler(lambda station_id, module_input, result: None)
    assert two.arguments("S1", {"in": 1}, {"out": 2}) == ("S1", {"out": 2})
    assert three.arguments("S1", {"in": 1}, {"out": 2}) == ("S1", {"in": 1}, {"out": 2})


async def test_async_functions_methods_partials_and_varargs() -> None:
    class Sink:
        def handle(self, station_id, module_input, result): ...

    async def two(station_id, result): ...

    assert resolve_result_handler(two).arity == 2
    assert resolve_result_handler(Sink().handle).arity == 3
    assert resolve_result_handler(functools.partial(lambda tag, s, r: None, "x")).arity == 2
    assert resolve_result_handler(lambda *args: None).arity == 3
    assert resolve_result_handler(print).arity == 3  # a builtin's signature: taken as the start form
    assert resolve_result_handler(None) is None


def test_a_batch_handler_given_as_result_handler_names_the_fix() -> None:
    with pytest.raises(TypeError, match=r"looks like a batch handler.*batch_upload_handler="):
        resolve_result_handler(lambda batch_id, batch_results_list: None)


def test_wrong_arities_are_named() -> None:
    with pytest.raises(TypeError, match=r"result_handler .* must take \(station_id, result\)"):
        resolve_result_handler(lambda only_one: None)
    with pytest.raises(TypeError, match="must be callable"):
        resolve_result_handler("print")
    with pytest.raises(TypeError, match=r"callback .* must take \(station_id, module_input\)"):
        check_callback(lambda station_id: None)
    with pytest.raises(TypeError, match=r"batch_upload_handler .* must take \(batch_id, results_list\)"):
        check_batch_upload_handler(lambda a, b, c: None)
    check_callback(lambda station_id, module_input, extra=None: None)
