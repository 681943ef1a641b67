"""The Celery application: Redis broker, JSON only, late acks, explicit time limits."""

import os

from celery import Celery, bootsteps, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("shouyin")
# Every option lives in settings under the CELERY_ prefix (see "Celery" in config/settings.py).
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(["config", "tenancy", "terminals", "payments", "dashboards"])


class WorkerHeartbeat(bootsteps.StartStopStep):
    """Record in Redis, every few seconds, that this worker is alive; /readyz reads it."""

    requires = {"celery.worker.components:Timer"}

    def start(self, worker) -> None:
        from django.conf import settings

        from config.health import record_worker_heartbeat

        record_worker_heartbeat(worker.hostname)
        self.tref = worker.timer.call_repeatedly(
            settings.WORKER_HEARTBEAT_SECONDS,
            record_worker_heartbeat,
            (worker.hostname,),
            priority=10,
        )

    def stop(self, worker) -> None:
        if getattr(self, "tref", None):
            self.tref.cancel()


app.steps["worker"].add(WorkerHeartbeat)


@signals.before_task_publish.connect
def _attach_request_id(headers: dict | None = None, **_) -> None:
    from config.request_id import get_request_id

    if headers is not None:
        headers.setdefault("request_id", get_request_id())


@signals.task_prerun.connect
def _restore_request_id(task=None, **_) -> None:
    from config.request_id import set_request_id

    set_request_id(getattr(task.request, "request_id", None) if task else None)
