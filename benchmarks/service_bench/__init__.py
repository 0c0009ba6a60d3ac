"""Service benchmark: end-to-end messages/s and message-to-callback latency through
AsyncDataAnalysisService (decode -> window -> module input -> callback -> upload), module
operation_optimization, on the in-memory transport and on the embedded Kafka broker.

    python benchmarks/bench_service.py [--quick] [--broker memory|embedded|both] [--single-consumer] [--profile]
                                       [--latency-only] [--stations 100,1000] [--order-follow-seconds 2]
                                       [--record [--results FILE]]
    make bench    # the same on the mypyc build of d_a (setup.py), as the image installs it
    python -m benchmarks.service_bench.tables --write docs/PERFORMANCE.md   # its tables from the results file

Throughput: simulator messages (1,000 stations) are loaded into the transport before the service
starts; timed until every message is consumed and the scheduler is idle, from the start in memory,
and on Kafka from the first poll in which every loaded topic has been read (the group joins and
the messages read until then are left out). CPU seconds are this process's (the embedded broker
is another process).

Work per tick (in memory): the latency run's ticks published one after another, each once the
service has served the one before: CPU per station-second, and the wall time to serve a tick,
which is the floor of the latency at that many stations (a tick's last station waits for all of
the tick's work). It is steadier than the latency on a busy machine.

Latency: a feeder publishes a StationSimulator run in real time (generated beforehand), each
station's messages of a simulated second in one of ten 0.1 s ticks (its phase), each message
stamped when it is sent; in memory the feeder is a task of the service's process, on Kafka a
process of its own (as producers are); the engine's samples are taken after a warm-up (the runs of
messages sent during the measurement count even when they come after it, as after a stall): latency
(timestamp of the message that triggered a run -> its callback) and staleness (oldest message no
callback had seen -> the callback that saw it; it includes data that waits for its trigger by
design, such as a car order of a second still in progress). In memory also the age of a car order
when a callback first has it in `car_orders`, from its publication: the orders published during the
measurement (the feed goes on for `--order-follow-seconds` after it, 2 by default, so that stopping
the feed is no session end for them; 0 makes it one for every station), and how many of them no
callback ever had in `car_orders` (a second of orders is complete when a newer one begins, or by the
clock a second and a grace after it arrived). `--latency-only` and `--stations` run just those runs.
`D_A_BOOTSTRAP` replaces the embedded broker by a Kafka cluster. `--profile` adds a cProfile of the
in-memory throughput run (event-loop thread, top 15 by tottime). The machine's speed (a fixed Python
workload, at the start and the end) is printed with the figures: the same VM class has run this code
at less than half its usual speed. Prints figures only (no assertions).

Recording: `--record` appends one JSON line per result (not the profile) to
`benchmarks/results/service.jsonl` (or `--results FILE`): the run's date (UTC), the commit d_a was
imported from (`+` when its sources differ), the build (compiled or pure), the flags, the cores and
the machine's speed at the start and the end, then the scenario, transport, stations and figures.
Recording is opt-in: a trial run, a `--quick` one or a profile changes no file of the repository;
a run worth keeping is recorded, committed, and docs/PERFORMANCE.md's figures regenerated from it
(`tables`, whose output a test compares with the document).

Modules: `feeders` (the pre-loaded and real-time feeds), `env` (where a run happens, the service and
its settings), `scenarios` (the runs), `results` (what they measured), `report` (the printed
figures), `record` (the results file), `tables` (PERFORMANCE.md's tables), `profiling` (`--profile`)
and `cli`. Run it through `benchmarks/bench_service.py` (as `make bench` does): `python -m` from the
repository's root would import the d_a sources there before a build on PYTHONPATH.
"""
