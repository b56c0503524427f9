"""What /metrics and /api/v1/health show: the door process's counters (counters.py) and what
the web process makes of them and of the disk (health.py). Neither loads prometheus_client:
only the web process's /metrics route does (controller/api/routers/metrics.py)."""

from controller.services.metrics.counters import (
    DecisionTimer,
    DoorMetrics,
    DoorParts,
    Gauges,
    Histogram,
)

__all__ = ["DecisionTimer", "DoorMetrics", "DoorParts", "Gauges", "Histogram"]
