"""Scale-out benchmark (issue 27): 1 and 2 worker processes of one scaled-out consumer group on the
embedded broker, at 1,000 and 2,000 stations, with a trivial and a heavy (~2 ms of CPU) sync callback.

    python benchmarks/bench_scale_out.py [--quick] [--callback trivial,heavy] [--workers 1,2]
                                         [--stations 1000,2000] [--runs backlog,live] [--partitions 12]
                                         [--backlog-per-1000 200000] [--warm-up 20] [--measure 15]
                                         [--repeat 1] [--backlog-runs newest|every_batch]
    PYTHONPATH=build/compiled python benchmarks/bench_scale_out.py    # on the mypyc build of d_a

Each run has an embedded broker of its own (nothing of an earlier run is left), its topics created
with `--partitions` partitions each (so the keyed topics are co-partitioned: the slots), and a new
consumer group. The benchmark starts the worker processes itself (multiprocessing, "spawn"): each
runs one AsyncDataAnalysisService of module operation_optimization with `service.scale_out`, every
single-station simulator topic `keyed_by_station: true` (the simulator keys those messages by station
id and aiokafka's default partitioner is murmur2), so REALTIME-DATA and PARAM (many stations per
message) go through the workers' splitters. Workers report to the parent over a pipe every 50 ms:
owned slots, counters, idle, splitter counts and the engine's latency samples; the parent reads the
CPU time of every process (workers, broker, feeder) from /proc.

Backlog: `--backlog-per-1000` simulator messages per 1,000 stations are loaded before the workers
start; the workers hold their fetches (a gate in the worker process, around the consumer client's
`getmany`) until the group has settled (their owned slots cover every slot once, and the splitter
group's partitions likewise), so that the timed part starts with the whole backlog unread and no
rebalance inside it. Timed from the release until every message (the keyed ones, the splitters'
pieces and each worker's copy of the global calendar) is consumed and every worker is idle.

Live: a feeder process (`service_bench.feeders.ProcessFeeder`) publishes the simulator's stations in
real time once the group has settled; after a warm-up, the engine's latency samples (triggering
message's timestamp -> callback) of every worker over the measurement, the messages fed and consumed,
the CPU of each process, each worker's resident memory and stations, and the share of the time the
workers' runs were deferred as if catching up a backlog (`backlog_runs: newest`; `--backlog-runs
every_batch` turns that off to compare).

Per-station costs: from the live runs, CPU per station-second of the workers, the broker and the
feeder, and memory per station; a cost model fitted on the 1-worker runs (CPU per station-second =
a + b x runs per station-second) and from it a plan for 10,000 stations (instances, partitions,
memory per instance).

Pairs of 1- and 2-worker runs of one setting run one after the other (the order alternating from
pair to pair): this VM's speed changes from minute to minute, so only runs made close together are
compared. The machine's speed (a fixed Python workload) is printed at the start and the end, and the
load average with every run. Prints figures only (no assertions); records nothing.

Modules: `layout` (topics, the service's configuration, the backlog), `worker` (the worker process),
`group` (the parent's handle on the workers), `procs` (CPU and memory of processes), `runs` (the
backlog and live runs), `report` (tables, per-station costs, the 10,000-station plan) and `cli`.
"""
