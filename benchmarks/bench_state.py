"""Window state across restarts (docs/STATE.md): what each way of restoring the windows costs.

    python benchmarks/bench_state.py [--stations 100] [--hours 24] [--sample 2] [--kafka N]
                                     [--changes-after 60] [--dir DIR]

Simulates `--sample` stations for `--hours` of the feed and copies their windows to `--stations`
stations (checkpoint costs depend on bytes, not on which station they belong to), then measures:
- (b) local checkpoints: a round's capture on the event loop (copies of the windows; taken 50
  stations at a time, so the copies do not double the memory), its write (pickle, CRC-32, fsync),
  and a restore (read, check, load into a new dispatcher, after the first is dropped); and
  rounds of changes on the sample (`Window.copy_changes_since`: copy, bytes, rebuild);
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
from d_a.state.saved import dump_windows, payload_size
from d_a.windows import Window

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


def changes_costs(sample: DataDispatcher, simulator: StationSimulator, seconds: int, rounds: int = 3) -> dict:
    """`rounds` rounds of changes, each after `seconds` more of the feed: the copies made on the
    event loop, their bytes and pickling; then loading them and rebuilding the windows, in turn,
    from restored copies taken before the first."""
    windows = sample.data_cache
    marks = {(s, t): (w.version, w.mark()) for s, ws in windows.items() for t, w in ws.items()}
    bases = {s: {t: w.detached() for t, w in ws.items()} for s, ws in windows.items()}
    for station_bases in bases.values():
        for base in station_bases.values():
            base.make_room()  # as a restore leaves them
    taken, capture, dump_cpu, size, count = [], 0.0, 0.0, 0, 0
    for _ in range(rounds):
        feed(sample, [(m.topic, m.value) for m in simulator.advance(seconds)])
        for station_windows in windows.values():
            for window in station_windows.values():
                window.store_pending()  # the feed's own work, done by the next read anyway
        gc.collect()
        started = time.perf_counter()
        changes: dict[str, dict] = {}
        for station, station_windows in windows.items():
            for topic, window in station_windows.items():
                version, mark = marks.get((station, topic), (None, None))
                if version == window.version:
                    continue
                copied = None if mark is None else window.copy_changes_since(mark)
                changes.setdefault(station, {})[topic] = window.detached() if copied is None else copied
                marks[(station, topic)] = (window.version, window.mark())
        capture += time.perf_counter() - started
        count += sum(map(len, changes.values()))
        cpu = time.process_time()
        buffers: list[pickle.PickleBuffer] = []
        meta = pickle.dumps(changes, protocol=5, buffer_callback=buffers.append)
        dump_cpu += time.process_time() - cpu
        size += len(meta) + sum(buffer.raw().nbytes for buffer in buffers)
        taken.append((meta, buffers))
    applies = []
    for meta, buffers in taken:
        started = time.perf_counter()
        for station, topics in pickle.loads(meta, buffers=buffers).items():
            for topic, entry in topics.items():
                base = bases[station].get(topic)
                bases[station][topic] = entry if base is None or isinstance(entry, Window) else base.applied(entry)
        applies.append(time.perf_counter() - started)
    station = next(iter(windows))
    assert all(bases[station][t].records() == w.records() for t, w in windows[station].items())
    return {
        "windows": count / rounds,
        "bytes": size / rounds,
        "capture_s": capture / rounds,
        "dump_cpu_s": dump_cpu / rounds,
        "first_apply_s": applies[0],
        "apply_s": sum(applies[1:]) / max(1, rounds - 1),
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

    changes = changes_costs(sample, simulator, args.changes_after)
    stations = len(sample.data_cache)
    print(
        f"(b) a round of changes after {args.changes_after} s: {changes['windows'] / stations:.1f} windows and "
        f"{changes['bytes'] / stations / 1e3:,.1f} KB per station; per station: copy on the loop "
        f"{changes['capture_s'] / stations * 1e3:.2f} ms, pickle {changes['dump_cpu_s'] / stations * 1e3:.2f} ms CPU, "
        f"load and rebuild {changes['apply_s'] / stations * 1e3:.2f} ms "
        f"(the first round {changes['first_apply_s'] / stations * 1e3:.2f} ms)"
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
