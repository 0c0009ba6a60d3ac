"""Module parsers: one per business module, each adding the keys it documents."""

from __future__ import annotations

import numpy as np
import pytest

from d_a.config import load_config
from d_a.modules import ModuleInput, ModuleParser, module_parser, registered_module_parsers
from d_a.modules.features import finite, number

CAR_ORDERS = [
    {
        "transactionSerialNo": "T1",
        "gunNo": 2,
        "outputPower": 60.5,
        "carProducerCode": "BYD",
        "batteryNominalTotalCapacity": 60.5,
        "beginSOC": 20.0,
        "soc": 35.0,
    },
    {
        "transactionSerialNo": "T2",
        "gunNo": 1,
        "outputPower": 39.5,
        "carProducerCode": "NIO",
        "batteryNominalTotalCapacity": 75.0,
        "beginSOC": 50.0,
        "soc": 51.0,
    },
]
STORAGE = [
    {"storageId": "S1", "storageSOC": 40.0, "storageTempMax": 31.5},
    {"storageId": "S2", "storageSOC": 60.0, "storageTempMax": 35.0},
]


def test_every_configured_module_has_its_own_parser() -> None:
    registered = registered_module_parsers()
    for module in load_config().modules:
        assert module in registered, module
        parser = module_parser(module)
        assert type(parser) is not ModuleParser
        assert parser.provides, f"{module} documents no keys"


@pytest.mark.parametrize(
    ("module", "data", "expected"),
    [
        ("load_prediction", {"car_orders": CAR_ORDERS}, {"active_sessions": 2, "station_power_now": 100.0}),
        ("load_prediction", {"car_orders": []}, {"active_sessions": 0, "station_power_now": None}),
        (
            "pv_prediction",
            {"pv_devices": [{"pvPreDcPower": 3.0}, {"pvPreDcPower": 4.5}]},
            {"pv_power_total": 7.5, "pv_units": 2},
        ),
        (
            "evaluation_model",
            {"car_orders": CAR_ORDERS, "storage_devices": STORAGE},
            {"active_sessions": 2, "storage_soc_mean": 50.0},
        ),
        (
            "SOH_model",
            {
                "hostError_window": [0, 3, 0],
                "acError_window": [0, 0, 0],
                "dcError_window": [0, 0, 1],
                "dcdc_devices": [{"dcWorkStatus": [1, 2, 0, 2]}, {"dcWorkStatus": [2]}],
            },
            {"error_events": 2, "dcdc_fault_modules": 3},
        ),
        ("electricity_price", {"gridPrice_window": [0.3, 1.04, 0.64]}, {"grid_price_min": 0.3, "grid_price_max": 1.04}),
        ("electricity_price", {"gridPrice_window": []}, {"grid_price_min": None, "grid_price_max": None}),
        (
            "operation_optimization",
            {"car_orders": CAR_ORDERS, "gridCapacity": 630, "meterPower": 400.0, "storage_devices": STORAGE},
            {"charging_guns": [1, 2], "station_power_now": 100.0, "grid_headroom": 230.0, "storage_soc_mean": 50.0},
        ),
        ("operation_optimization", {"gridCapacity": None, "meterPower": 400.0}, {"grid_headroom": None}),
        ("station_guidance", {"car_orders": CAR_ORDERS}, {"charging_guns": [1, 2], "active_sessions": 2}),
        (
            "thermal_management",
            {"storage_devices": STORAGE, "dcdc_devices": [{"dcdcPower": [1.0, 2.0]}, {"dcdcPower": [3.0]}]},
            {"storage_temp_max": 35.0, "dcdc_power_total": 6.0},
        ),
        (
            "customer_mining",
            {"car_orders": CAR_ORDERS[:1]},
            {
                "sessions": [
                    {
                        "transactionSerialNo": "T1",
                        "gunNo": 2,
                        "carProducerCode": "BYD",
                        "batteryNominalTotalCapacity": 60.5,
                        "beginSOC": 20.0,
                        "soc": 35.0,
                    }
                ]
            },
        ),
    ],
)
def test_derived_keys(module: str, data: dict, expected: dict) -> None:
    result = module_parser(module).parse(dict(data))
    for key, value in expected.items():
        assert result[key] == value, key
    assert set(expected) <= set(type(module_parser(module)).provides)


def test_unregistered_module_passes_through() -> None:
    data = {"v": 1}
    assert module_parser("no_such_module").parse(data) == {"v": 1}


def test_feature_helpers_keep_only_finite_numbers() -> None:
    values = [1, 2.5, True, None, "7", float("nan"), float("inf"), -float("inf"), np.float64(3.0), np.int64(4)]
    assert finite(values) == [1.0, 2.5, 3.0]
    assert number({"gridCapacity": 630}, "gridCapacity") == 630.0
    assert number({"gridCapacity": float("nan")}, "gridCapacity") is None
    assert number({}, "gridCapacity") is None


def test_derived_keys_leave_the_callbacks_copy_on_read_intact() -> None:
    orders = [dict(order) for order in CAR_ORDERS]
    data = ModuleInput({"car_orders": orders, "gridCapacity": 630, "meterPower": 400.0}, shared=["car_orders"])
    result = module_parser("operation_optimization").parse(data)
    assert result["station_power_now"] == 100.0
    mine = result["car_orders"]
    mine.append({"gunNo": 9})
    assert orders == CAR_ORDERS, "the shared list was handed out without a copy"
