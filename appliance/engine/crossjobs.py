"""Jobs of no one backend, run by the appliance's own worker: ``test_connection`` across the
backends asked for, and ``reconcile``."""

from collections.abc import Callable, Mapping
from typing import Any

from appliance.bridge import contract
from appliance.engine.backend import RECONCILE, TEST, Backend, BackendFailure, Outcome
from appliance.engine.reconcile import reconcile
from appliance.store import Job, Store

APPLIANCE = "appliance"
"""The pseudo-backend whose worker runs cross-backend jobs (test_connection, reconcile)."""


class CrossJobs:
    def __init__(self, store: Store, root: str, backends: Mapping[str, Backend],
                 wake: Callable[[], None]) -> None:
        self.store = store
        self.root = root
        self.backends = backends
        self.wake = wake

    async def run(self, job: Job) -> Outcome:
        if job.kind == TEST:
            return await self._test_connection(job)
        if job.kind == RECONCILE:
            args = contract.from_payload(contract.ReconcileArgs, job.payload)
            return await self.reconcile(args.repair, job.request_id or "cmd")
        raise BackendFailure("internal_error", "no %s job for the appliance" % job.kind)

    async def _test_connection(self, job: Job) -> Outcome:
        wanted = contract.from_payload(contract.ConnectionTestArgs, job.payload).backend
        results: dict[str, Any] = {}
        for name, backend in self.backends.items():
            if wanted not in ("all", backend.family):
                continue
            try:
                outcome = await backend.run(job, None)
                results[name] = {"ok": True, "detail": outcome.data}
            except BackendFailure as failure:
                results[name] = {"ok": False, "code": failure.code, "message": failure.message,
                                 "hint": failure.hint}
        if not results:
            raise BackendFailure("backend_not_configured", "no backend is configured")
        return Outcome(data={"backends": results,
                             "ok": all(result["ok"] for result in results.values())})

    async def reconcile(self, repair: bool, trigger: str) -> Outcome:
        """Compare the store with the bookings and with the backends; see reconcile.py."""
        result = await reconcile(self.store, self.root, self.backends, repair, trigger)
        self.wake()
        return Outcome(data=result.summary)
