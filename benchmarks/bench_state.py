"""Window state across restarts (docs/STATE.md): what each way of restoring the windows costs.

    python benchmarks/bench_state.py [--stations 100] [--hours 24] [--sample 2] [--kafka N]
                                     [--changes-after 60] [--rounds 16] [--whole-every 8,1] [--dir DIR]

Simulates `--sample` stations for `--hours` of the feed and copies their windows to `--stations`
stations (checkpoint costs depend on bytes, not on which station they belong to), then measures:
- (b) local checkpoints: a round's capture on the event loop (copies of the windows; taken 50
  stations at a time, so the copies do not double the memory), its write (pickle, CRC-32, fsync),
  and a restore (read, check, load into a new dispatcher, after the first is dropped); and the
  service's rounds on the sample (`--rounds` of `--changes-after` seconds each, stations saved
  as their changes, whole every `--whole-every` rounds): capture, write, bytes, a restore
  through the chains;
- (a) replay from Kafka: the rate at which the same messages are ingested (what a replay of the
  horizon costs, reading aside), and routed without writing (a restored tail);
- (c) with `--kafka`: the rate of writing and reading the checkpoint payloads through a topic of
  the embedded broker, in 1 MB messages (a Kafka message is at most 1 MB by default).
Prints figures only (no assertions).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import pickle
import tempfile
import time
from pathlib import Path

import orjson

from d_a import DataDispatcher
from d_a.simulator import StationSimulator
from d_a.state import CheckpointStore
from d_a.state.checkpoints import Round
from d_a.state.rounds import RoundTaker
from d_a.state.saved import dump_windows, payload_size

POLL = 500  # messages per poll batch, as a consumer hands them over
CHUNK = 1_000_000  # bytes per Kafka message in (c)
GROUP = 50  # stations copied and written at a time in (b)


def rss_gb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e9


def simulate(stations: int, hours: float) -> tuple[list[tuple[str, bytes]], StationSimulator]:
    simulator = StationSimulator(stations=stations, seed=3, history_hours=168)
    messages = [(m.topic, m.value) for m in simulator.initial_messages()]
    for _ in range(int(hours * 60)):
        messages += [(m.topic, m.value) for m in simulator.advance(60)]
    return messages, simulator


def feed(dispatcher: DataDispatcher, messages: list[tuple[str, bytes]]) -> None:
    """The messages in poll batches of POLL, each topic's part at once, as a consumer hands them over."""
    for i in range(0, len(messages), POLL):
        by_topic: dict[str, list] = {}
        for topic, value in messages[i : i + POLL]:
            by_topic.setdefault(topic, []).append(orjson.loads(value))
        for topic, values in by_topic.items():
            dispatcher.ingest_batch(topic, values)


def ingest_rate(messages: list[tuple[str, bytes]], *, store: bool) -> float:
    """Messages per second through decode + ingest_batch (store False: routed, nothing written)."""
    dispatcher = DataDispatcher()
    if not store:  # routing needs the stations to exist, as after a restore
        for topic, value in messages[:2000]:
            dispatcher.ingest(topic, orjson.loads(value))
    started = time.process_time()
    for i in range(0, len(messages), POLL):
        batch = messages[i : i + POLL]
        by_topic: dict[str, list] = {}
        for topic, value in batch:
            by_topic.setdefault(topic, []).append(orjson.loads(value))
        for topic, values in by_topic.items():
            dispatcher.ingest_batch(topic, values, store=store)
    return len(messages) / (time.process_time() - started)


def cloned(sample: DataDispatcher, stations: int) -> DataDispatcher:
    """A dispatcher whose `stations` stations each hold a copy of one sample station's windows."""
    payloads = [
        pickle.dumps({t: w.detached() for t, w in windows.items()}, protocol=5)
        for windows in sample.data_cache.values()
    ]
    dispatcher = DataDispatcher()
    dispatcher.restore_windows(
        {f"C{i:05d}": pickle.loads(payloads[i % len(payloads)]) for i in range(stations)},
        {t: w.detached() for t, w in sample.windows.global_windows.items()},
    )
    return dispatcher


def chained_rounds(
    sample: DataDispatcher, simulator: StationSimulator, seconds: int, rounds: int, whole_every: int, directory: Path
) -> dict:
    """The service's rounds on the sample (`RoundTaker` + `CheckpointStore`, as `StateKeeper`
    takes them), each after `seconds` more of the feed: a first whole round, then `rounds` rounds
    of changes with staggered whole saves. Their capture on the loop, write CPU and bytes; then
    restores through the chains and, alternating, from a whole round of the same windows."""
    store, taker = CheckpointStore(directory), RoundTaker(whole_every)
    store.write(taker.take(sample.windows, {}, 1))
    taker.saved()
    capture = write_cpu = 0.0
    written = whole = changed = 0
    for number in range(2, rounds + 2):
        feed(sample, [(m.topic, m.value) for m in simulator.advance(seconds)])
        for station_windows in sample.data_cache.values():
            for window in station_windows.values():
                window.store_pending()  # the feed's own work, done by the next read anyway
        gc.collect()
        started = time.perf_counter()
        taken = taker.take(sample.windows, {}, number)
        capture += time.perf_counter() - started
        cpu = time.process_time()
        report = store.write(taken)
        write_cpu += time.process_time() - cpu
        taker.saved()
        written += report.bytes_written
        whole += report.stations_written
        changed += report.stations_changed
        del taken
    whole_directory = directory / "whole"
    CheckpointStore(whole_directory).write(RoundTaker().take(sample.windows, {}, 1))
    restores: dict[Path, list[tuple[float, float]]] = {directory: [], whole_directory: []}
    for _ in range(3):  # alternating, the best of three: the first pass pays for the page cache
        for path, times in restores.items():
            gc.collect()
            os.system("sync")
            started, cpu = time.perf_counter(), time.process_time()
            restored = CheckpointStore(path).load()
            times.append((time.perf_counter() - started, time.process_time() - cpu))
            assert not restored.problems
            if path == directory:
                station = next(iter(sample.data_cache))
                windows = sample.data_cache[station]
                assert all(restored.stations[station][t].records() == w.records() for t, w in windows.items())
                change_files = sum(restored.changes.values())
            del restored
    return {
        "capture_s": capture / rounds,
        "write_cpu_s": write_cpu / rounds,
        "bytes": written / rounds,
        "whole": whole / rounds,
        "changed": changed / rounds,
        "restore_s": min(restores[directory])[0],
        "restore_cpu_s": min(restores[directory])[1],
        "whole_restore_s": min(restores[whole_directory])[0],
        "change_files": change_files,
    }


def checkpoint_costs(dispatcher: DataDispatcher, directory: Path) -> dict:
    """A full round, taken and written GROUP stations at a time (the same copies and writes as
    one round, without holding a copy of every station at once)."""
    store = CheckpointStore(directory)
    windows = dispatcher.data_cache
    stations = list(windows)
    capture = write = write_cpu = 0.0
    written = 0
    gc.collect()
    for first in range(0, len(stations), GROUP):
        started, cpu = time.perf_counter(), time.process_time()
        changed = {s: {t: w.detached() for t, w in windows[s].items()} for s in stations[first : first + GROUP]}
        global_windows = None if first else {t: w.detached() for t, w in dispatcher.windows.global_windows.items()}
        taken = Round({}, changed, set(stations[:first]), global_windows)
        copied = time.perf_counter() - started
        capture += copied
        started = time.perf_counter()
        written += store.write(taken).bytes_written
        write += time.perf_counter() - started
        write_cpu += time.process_time() - cpu - copied
        del taken, changed
    return {"bytes": written, "capture_s": capture, "write_s": write, "write_cpu_s": write_cpu}


def restore_costs(directory: Path, stations: int) -> dict:
    """A restore of what `checkpoint_costs` wrote, into a fresh dispatcher."""
    gc.collect()
    os.system("sync")
    started, cpu = time.perf_counter(), time.process_time()
    restored = CheckpointStore(directory).load()
    fresh = DataDispatcher()
    fresh.restore_windows(restored.stations, restored.global_windows)
    restore, restore_cpu = time.perf_counter() - started, time.process_time() - cpu
    assert len(fresh.stations()) == stations and not restored.problems
    return {"restore_s": restore, "restore_cpu_s": restore_cpu, "rss_gb": rss_gb()}


async def kafka_costs(dispatcher: DataDispatcher, stations: int) -> dict:
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

    from d_a.kafka.broker import EmbeddedBroker

    windows = dispatcher.data_cache
    names = list(windows)[:stations]
    payloads = [b"".join(dump_windows(s, {t: w.detached() for t, w in windows[s].items()})) for s in names]
    total = sum(map(len, payloads))
    with EmbeddedBroker() as broker:
        producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap, max_request_size=CHUNK + 4096, linger_ms=5)
        await producer.start()
        started = time.perf_counter()
        for station, payload in zip(names, payloads, strict=True):
            for offset in range(0, len(payload), CHUNK):
                await producer.send("d_a-state", payload[offset : offset + CHUNK], key=station.encode())
        await producer.flush()
        produce = time.perf_counter() - started
        await producer.stop()
        consumer = AIOKafkaConsumer(
            "d_a-state",
            bootstrap_servers=broker.bootstrap,
            auto_offset_reset="earliest",
            fetch_max_bytes=64 << 20,
            max_partition_fetch_bytes=8 << 20,
        )
        await consumer.start()
        started, read = time.perf_counter(), 0
        while read < total and time.perf_counter() - started < 600:
            for records in (await consumer.getmany(timeout_ms=1000)).values():
                read += sum(len(r.value) for r in records)
        consume = time.perf_counter() - started
        await consumer.stop()
    return {"bytes": total, "produce_s": produce, "consume_s": consume, "read": read}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stations", type=int, default=100)
    parser.add_argument("--hours", type=float, default=24.0)
    parser.add_argument("--sample", type=int, default=2, help="stations simulated (the others are copies)")
    parser.add_argument("--kafka", type=int, default=0, metavar="N", help="(c): N stations' payloads through Tansu")
    parser.add_argument("--changes-after", type=int, default=60, help="seconds of feed in a round of changes")
    parser.add_argument("--rounds", type=int, default=16, help="rounds of changes taken on the sample")
    parser.add_argument(
        "--whole-every",
        type=lambda text: [int(x) for x in text.split(",")],
        default=[8, 1],
        help="service.checkpoint_whole_every of those rounds, one run per value (comma-separated)",
    )
    parser.add_argument("--dir", help="checkpoint directory (default: a temporary one on /tmp's disk)")
    args = parser.parse_args()

    started = time.perf_counter()
    messages, simulator = simulate(args.sample, args.hours)
    print(
        f"simulated {len(messages):,} messages: {args.sample} stations x {args.hours:g} h "
        f"({time.perf_counter() - started:.0f} s)"
    )
    sample = DataDispatcher()
    feed(sample, messages)
    per_station = len(messages) / args.sample
    rows = {
        t: sum(len(ws[t]) for ws in sample.data_cache.values() if t in ws) / args.sample
        for t in sorted({t for ws in sample.data_cache.values() for t in ws})
    }
    print("rows per station: " + ", ".join(f"{t.removeprefix('SCHEDULE-')} {n:,.0f}" for t, n in rows.items() if n))
    station, windows = next(iter(sample.data_cache.items()))
    sizes = {t: payload_size(dump_windows(station, {t: w.detached()})) for t, w in windows.items()}
    print(
        "checkpoint bytes per station: "
        + ", ".join(f"{t.removeprefix('SCHEDULE-')} {n / 1e6:.1f} MB" for t, n in sizes.items() if n > 100_000)
    )

    write_rate = ingest_rate(messages, store=True)
    route_rate = ingest_rate(messages, store=False)
    print(
        f"(a) replay: ingest {write_rate:,.0f} msg per CPU-s, routing only {route_rate:,.0f} msg per CPU-s; "
        f"{per_station:,.0f} messages per station -> {args.stations} stations' {args.hours:g} h in "
        f"{per_station * args.stations / write_rate:,.0f} CPU-s (reading from Kafka not counted)"
    )
    del messages

    stations = len(sample.data_cache)
    for whole_every in args.whole_every:
        with tempfile.TemporaryDirectory(dir=args.dir) as directory:
            chained = chained_rounds(sample, simulator, args.changes_after, args.rounds, whole_every, Path(directory))
        cpu = (chained["capture_s"] + chained["write_cpu_s"]) / stations
        print(
            f"(b) rounds of {args.changes_after} s with whole saves every {whole_every} rounds "
            f"({args.rounds} rounds, {stations} stations): per round {chained['whole']:.1f} stations whole, "
            f"{chained['changed']:.1f} as changes, {chained['bytes'] / stations / 1e3:,.0f} KB per station; "
            f"per station and round: capture on the loop {chained['capture_s'] / stations * 1e3:.2f} ms, write "
            f"{chained['write_cpu_s'] / stations * 1e3:.2f} ms CPU ({cpu * 1e3:.2f} ms in all: "
            f"{cpu * 1000 / args.changes_after * 1e3:.1f} ms per s at 1,000 stations); restore through "
            f"{chained['change_files']} change files {chained['restore_s'] / stations * 1e3:.1f} ms per station "
            f"({chained['restore_cpu_s'] / stations * 1e3:.1f} ms CPU), from whole files "
            f"{chained['whole_restore_s'] / stations * 1e3:.1f} ms"
        )
    dispatcher = cloned(sample, args.stations)
    print(f"{args.stations} stations' windows in memory: RSS {rss_gb():.1f} GB")
    with tempfile.TemporaryDirectory(dir=args.dir) as directory:
        costs = checkpoint_costs(dispatcher, Path(directory))
        kafka = asyncio.run(kafka_costs(dispatcher, args.kafka)) if args.kafka else None
        del dispatcher  # the restore builds the windows anew
        costs |= restore_costs(Path(directory), args.stations)
    size = costs["bytes"] / 1e9
    print(
        f"(b) checkpoint of {args.stations} stations: {size:.2f} GB ({costs['bytes'] / args.stations / 1e6:.1f} MB "
        f"per station); capture on the loop {costs['capture_s']:.2f} s; write {costs['write_s']:.2f} s "
        f"({costs['write_cpu_s']:.2f} CPU-s, {size / costs['write_s']:.2f} GB/s); restore {costs['restore_s']:.2f} s "
        f"({costs['restore_cpu_s']:.2f} CPU-s, {size / costs['restore_s']:.2f} GB/s)"
    )
    per_round_cpu = costs["capture_s"] + costs["write_cpu_s"]
    print(
        f"    CPU per round {per_round_cpu:.2f} s: {per_round_cpu / 60 * 1000:.1f} ms per s at a 60 s interval, "
        f"{per_round_cpu / 600 * 1000:.1f} ms per s at 600 s"
    )
    print(f"    restored windows in memory: RSS {costs['rss_gb']:.1f} GB")
    if kafka is not None:
        print(
            f"(c) {args.kafka} stations' payloads ({kafka['bytes'] / 1e6:.0f} MB) through Tansu in 1 MB messages: "
            f"produce {kafka['produce_s']:.2f} s ({kafka['bytes'] / kafka['produce_s'] / 1e6:.0f} MB/s), "
            f"read back {kafka['consume_s']:.2f} s ({kafka['read'] / kafka['consume_s'] / 1e6:.0f} MB/s)"
        )


if __name__ == "__main__":
    main()
