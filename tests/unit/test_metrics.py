"""/health and /ready as probes see them: alive while the windows are restored, ready after."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from d_a.metrics import HealthCheck, MetricsServer, ServiceMetrics

RESTORING = {
    "main_loop_alive": False,
    "restoring": True,
    "ready": False,
    "consumer_alive": False,
    "state": {"restore_progress": {"files_loaded": 120, "files": 1001}},
}
RUNNING = {
    "main_loop_alive": True,
    "restoring": False,
    "ready": True,
    "consumer_alive": True,
    "producer_alive": True,
    "state": {"restore_seconds": 1.5, "restored_stations": 40, "rounds": 3, "failed_rounds": 1},
}
STOPPED = {"main_loop_alive": False, "consumer_alive": False}


def _get(url: str) -> tuple[int, dict | str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            body = response.read()
            return response.status, json.loads(body) if "json" in response.headers["Content-Type"] else body.decode()
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_a_restoring_service_is_alive_but_not_ready() -> None:
    status = dict(RESTORING)
    server = MetricsServer(ServiceMetrics(lambda: status), HealthCheck(lambda: status), 0, "127.0.0.1").start()
    base = f"http://127.0.0.1:{server.port}"
    try:
        code, body = _get(f"{base}/health")
        assert code == 200 and body["healthy"] and body["restoring"] and not body["ready"]
        assert body["restore_progress"] == {"files_loaded": 120, "files": 1001}
        assert _get(f"{base}/ready")[0] == 503
        status.clear()
        status.update(RUNNING)
        assert _get(f"{base}/ready")[0] == 200
        status.clear()
        status.update(STOPPED)
        assert _get(f"{base}/health")[0] == 503 and _get(f"{base}/ready")[0] == 503
    finally:
        server.stop()


def test_restore_and_checkpoint_figures_are_metrics() -> None:
    metrics = ServiceMetrics(lambda: RUNNING)
    families = {f.name: f for f in text_string_to_metric_families(metrics.exposition().decode())}
    value = {name: families[name].samples[0].value for name in families if families[name].samples}
    assert value["d_a_restore_seconds"] == 1.5
    assert value["d_a_restored_stations"] == 40
    assert value["d_a_checkpoint_rounds"] == 3
    assert value["d_a_checkpoint_failures"] == 1
