"""The splitter's cut of a message into one piece per slot: every station's records end up in its
slot's piece, in the message's own shape, so the owner's parser reads them as it reads the whole."""

from __future__ import annotations

import orjson
import pytest

from d_a.config import load_config
from d_a.dispatcher import DataDispatcher
from d_a.kafka import KafkaMessage
from d_a.kafka.slots import slot_of
from d_a.service.batching import BATCH_ID_HEADER, BATCH_STATIONS_HEADER, batch_id_for
from d_a.service.splitter import UNPLACED_KEY, split_message
from d_a.simulator import StationSimulator
from d_a.topics.registry import build_parsers
from d_a.topics.routing import StationRouter

REALTIME = "SCHEDULE-STATION-REALTIME-DATA"
PARAM = "SCHEDULE-STATION-PARAM"
GUN = "SCHEDULE-DEVICE-GUN"
SLOTS = 4


@pytest.fixture(scope="module")
def config():
    return load_config(None)


@pytest.fixture
def parsers(config):
    return build_parsers(config.topics, StationRouter())


def simulated(topic: str, stations: int = 10) -> list[KafkaMessage]:
    sim = StationSimulator(stations=stations, seed=5, history_hours=3)
    messages = [m for m in [*sim.initial_messages(), *sim.advance(60)] if m.topic == topic]
    return [
        KafkaMessage(m.topic, 0, n, m.key, orjson.loads(m.value), m.timestamp_ms, raw=m.value)
        for n, m in enumerate(messages)
    ]


def test_a_push_of_many_stations_is_cut_by_slot_and_each_piece_holds_its_slot_s_stations(config, parsers):
    (push,) = simulated(REALTIME)[:1]
    stations = {row["stationId"] for row in push.value["realTimeData"]}
    pieces = split_message(parsers[REALTIME], push, SLOTS, batch=True)
    assert len(pieces) == len({slot_of(s, SLOTS) for s in stations}) > 1
    seen = []
    for piece in pieces:
        rows = orjson.loads(piece.value)["realTimeData"]
        assert {slot_of(row["stationId"], SLOTS) for row in rows} == {piece.slot}
        assert slot_of(piece.key, SLOTS) == piece.slot  # the key puts the piece in its slot's partition
        assert piece.timestamp_ms == push.timestamp_ms  # latencies and horizons count from the push
        seen += rows
    assert sorted(seen, key=orjson.dumps) == sorted(push.value["realTimeData"], key=orjson.dumps)


def test_pieces_give_the_owner_the_windows_the_whole_push_gives(config, parsers):
    (push,) = simulated(REALTIME)[:1]
    whole = DataDispatcher(600, config)
    whole.ingest_batch(REALTIME, [push.value])
    parts = DataDispatcher(600, config)
    for piece in split_message(parsers[REALTIME], push, SLOTS):
        parts.ingest_batch(REALTIME, [orjson.loads(piece.value)])
    assert sorted(parts.stations()) == sorted(whole.stations())
    for station in whole.stations():
        assert parts.get_module_input(station, "load_prediction") == whole.get_module_input(station, "load_prediction")


def test_every_piece_of_a_batch_carries_the_whole_push_s_batch_id_and_station_count(config, parsers):
    (push,) = simulated(REALTIME)[:1]
    report = DataDispatcher(600, config).ingest_batch(REALTIME, [push.value])
    pieces = split_message(parsers[REALTIME], push, SLOTS, batch=True)
    for piece in pieces:
        headers = dict(piece.headers)
        assert headers[BATCH_ID_HEADER].decode() == batch_id_for(REALTIME, report.newest_ts)
        assert int(headers[BATCH_STATIONS_HEADER]) == len(report.touched) == 10


def test_a_message_of_one_station_goes_on_unchanged(parsers):
    for message in simulated(GUN)[:20]:
        (piece,) = split_message(parsers[GUN], message, SLOTS)
        station = message.value["stationId"]
        assert (piece.value, piece.key, piece.slot) == (message.raw, station, slot_of(station, SLOTS))


def test_device_records_are_placed_through_the_station_parameters(parsers):
    gun = simulated(GUN)[0]
    station, host = gun.value["stationId"], gun.value["hostCode"]
    without_id = KafkaMessage(GUN, 0, 1, None, {k: v for k, v in gun.value.items() if k != "stationId"})
    without_id.raw = orjson.dumps(without_id.value)
    assert split_message(parsers[GUN], without_id, SLOTS)[0].key == UNPLACED_KEY  # PARAM not read yet
    for message in simulated(PARAM):
        parser = parsers[PARAM]
        parser.accepted(parser.station_records(message.value, 0.0).records)
    (piece,) = split_message(parsers[GUN], without_id, SLOTS)
    assert (piece.key, piece.slot) == (station, slot_of(station, SLOTS)), host


def test_a_message_that_is_not_json_goes_whole_to_the_slot_of_no_station(parsers):
    bad = KafkaMessage(GUN, 0, 7, None, None, error="not UTF-8 JSON", raw=b'{"stationId": "ST0001", ')
    (piece,) = split_message(parsers[GUN], bad, SLOTS)
    assert (piece.key, piece.value, piece.slot) == (UNPLACED_KEY, bad.raw, slot_of(UNPLACED_KEY, SLOTS))
