"""The requests to one Space server: a queue, one request in flight, when to connect.

``SpaceClient`` owns the queue and its dispatcher. Callers ``await
client.request(msg)`` from anywhere; a single dispatcher task sends one
request at a time (the protocol has no message ids, §3.1), so nothing ever
interleaves on the link. Opening, probing and closing the stream itself is
``appliance.space.connection``'s job.

- Connection per request (closed once idle) or persistent. A lost link is reopened
  for the next request, with exponential backoff and jitter between attempts;
  a request gives up after ``connect_budget_s`` without a link.
- A persistent link is opened at start and kept open: while idle, ENQ probes
  it every ``probe_interval_s``, and a lost one is reopened with backoff.
- An encoder that answers OV (busy) cools down for ``busy_retry_s`` and its
  request is tried again up to ``busy_retries`` times; requests for other
  encoders go first meanwhile. One busy encoder never blocks the others.
- A request that may have run (ACKed, then no reply) is never sent again by
  the client: the caller is told, with ``request_may_have_run``.
- Background requests (the door-event poller's audit walk) are sent only when no desk
  request waits: a guest at the desk never waits for the barrier's history. A walk is one
  request per record, so a desk request queued mid-walk goes next.
"""

import asyncio
import datetime
import logging
import random
from collections.abc import Callable

import protocol
from appliance.space import errors
from appliance.space.connection import SpaceConnection
from appliance.space.settings import PER_REQUEST, SpaceSettings
from appliance.space.transport import Transport
from appliance.space.turns import Job, next_ready
from protocol.driver import LinkDriver

log = logging.getLogger("keybridge.space")

PROBE = object()  # the job that asks ENQ instead of sending a frame
# Per-request mode hangs up once the queue has been empty this long, so a
# walk of requests (an audit trail: WF, WN, WN...) keeps one connection, as
# the production clients do (§3.3).
PER_REQUEST_LINGER_S = 0.2


class SpaceClient:
    """The link to one Space server: its request queue and the dispatcher that drains it.

    Args:
        settings: timeouts, connection mode, backoff.
        transport: how to open the stream; from ``settings.server`` if None.
        rng: jitter source (injected in tests).
        on_health: called with ``(up, reason)`` when the link goes up or down.
    """

    def __init__(self, settings: SpaceSettings, transport: Transport | None = None,
                 rng: random.Random | None = None,
                 on_health: Callable[[bool, str], None] | None = None) -> None:
        self.settings = settings
        self.transport = transport or settings.transport()
        self.connection = SpaceConnection(
            settings, self.transport,
            rng or random.Random(),  # noqa: S311 - jitter, not secrets
            on_health)
        self.requests_sent = 0
        self._queue: list[Job] = []
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._current: Job | None = None

    async def __aenter__(self) -> "SpaceClient":
        self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._dispatch())

    async def close(self) -> None:
        """Stop; queued requests fail with SpaceUnavailable (they never ran)."""
        current = self._current  # the dispatcher forgets it as it is cancelled
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        if current is not None:
            sent = current.sent
            self._settle(current, error=errors.SpaceUnavailable(
                "the Space client was closed during the request"
                + ("; Space may have carried it out" if sent else ""), sent))
        for job in self._queue:
            if not job.future.done():
                job.future.set_exception(errors.SpaceUnavailable(
                    "the Space client was closed before the request was sent", False))
        self._queue.clear()
        await self.connection.disconnect()

    @property
    def queue_depth(self) -> int:
        return len(self._queue)

    @property
    def up(self) -> bool | None:
        """Whether the link is up; None until the first attempt."""
        return self.connection.up

    @property
    def since(self) -> datetime.datetime | None:
        return self.connection.since

    @property
    def last_error(self) -> str:
        return self.connection.last_error

    # The names tests/space look at the link by, from before it had its own class.
    @property
    def _driver(self) -> LinkDriver | None:
        return self.connection.driver

    def _backoff_s(self) -> float:
        return self.connection.backoff_s()

    async def request(self, message: protocol.message.Message,
                      reply_timeout_s: float | None = None,
                      background: bool = False) -> protocol.message.Message:
        """Send one request when its turn comes; return Space's successful reply.

        A ``background`` request's turn comes only when no other request is queued.

        Raises:
            SpaceRequestError, SpaceRefused, SpaceUnavailable, SpaceProtocolError.
        """
        encoder = getattr(message, "encoder", None)
        reply = await self._submit(message, encoder, reply_timeout_s, background)
        assert isinstance(reply, protocol.message.Message)
        return reply

    async def ping(self) -> bool:
        """ENQ: True if Space answered ready (ACK), False if busy (NAK)."""
        return bool(await self._submit(PROBE, None, None))

    async def _submit(self, message: object, encoder: bytes | None,
                      reply_timeout_s: float | None, background: bool = False) -> object:
        if self._task is None or self._task.done():
            raise errors.SpaceUnavailable("the Space client is not started", False)
        future = asyncio.get_running_loop().create_future()
        self._queue.append(Job(message, encoder, future, self.settings.busy_retries,
                                reply_timeout_s, background=background))
        self._wakeup.set()
        return await future

    # -- the dispatcher ----------------------------------------------------------

    async def _dispatch(self) -> None:
        while True:
            try:
                await self._dispatch_one()
            except Exception:  # a bug must not leave every later request hanging
                log.exception("Space dispatcher failed; going on")
                await self.connection.disconnect()
                await asyncio.sleep(self.connection.backoff_s())

    async def _dispatch_one(self) -> None:
        job = await self._next_job()
        if job is None:
            await self.connection.probe_idle()
        elif not job.future.done():  # a caller that gave up is skipped
            self._current = job
            try:
                await self._run(job)
            finally:
                self._current = None

    async def _next_job(self) -> Job | None:
        """The first queued job whose encoder is not cooling down, desk requests before
        background ones; None: time to probe."""
        loop = asyncio.get_running_loop()
        idle_since = loop.time()
        while True:
            self._wakeup.clear()
            now = loop.time()
            job = next_ready(self._queue, now)
            if job is not None:
                self._queue.remove(job)
                return job
            waits = [job.not_before - now for job in self._queue]
            idle_s = now - idle_since
            driver = self.connection.driver
            if driver is not None and self.settings.connection == PER_REQUEST:
                if idle_s >= PER_REQUEST_LINGER_S:
                    await self.connection.disconnect()
                    continue
                waits.append(PER_REQUEST_LINGER_S - idle_s)
            elif self.settings.connection != PER_REQUEST and self.settings.probe_interval_s > 0:
                # Persistent and idle: probe the link, or (re)open it when due.
                due = (self.connection.retry_at if driver is None
                       else idle_since + self.settings.probe_interval_s)
                waits.append(due - now)
                if waits[-1] <= 0:
                    return None
            try:
                async with asyncio.timeout(min(waits) if waits else None):
                    await self._wakeup.wait()
            except TimeoutError:
                pass

    async def _run(self, job: Job) -> None:
        try:
            result = await self._exchange(job)
        except errors.SpaceRefused as refusal:
            if refusal.code == "OV" and job.busy_retries > 0:
                self._cool_down(job)
                return
            self._settle(job, error=refusal)
        except errors.SpaceError as error:
            self._settle(job, error=error)
        except Exception as error:  # a bug must not stop the link for every caller
            log.exception("Space request failed unexpectedly")
            await self.connection.lost("unexpected failure: %r" % error)
            self._settle(job, error=errors.SpaceUnavailable(
                "unexpected failure: %r" % error, request_may_have_run=job.sent))
        else:
            self._settle(job, result=result)

    def _cool_down(self, job: Job) -> None:
        job.busy_retries -= 1
        job.not_before = asyncio.get_running_loop().time() + self.settings.busy_retry_s
        log.info("encoder %s busy (OV); trying again in %.1f s",
                 _name(job.encoder), self.settings.busy_retry_s)
        self._queue.insert(0, job)

    @staticmethod
    def _settle(job: Job, result: object = None, error: Exception | None = None) -> None:
        if job.future.done():
            return
        if error is not None:
            job.future.set_exception(error)
        else:
            job.future.set_result(result)

    async def _exchange(self, job: Job) -> object:
        message = job.message
        fields = None if message is PROBE else _fields(message)
        driver = await self.connection.connect(job.future.done)
        where = self.transport.describe()
        job.sent = True
        try:
            if fields is None:
                return await driver.probe()
            assert isinstance(message, protocol.message.Message)
            return await self._send(driver, message, fields, job.reply_timeout_s)
        except protocol.LinkFailure as err:
            await self.connection.lost(str(err))
            raise errors.unavailable(err, where) from err
        except protocol.RemoteProtocolError as err:
            await self.connection.lost(str(err))
            raise errors.SpaceProtocolError("%s: %s; the link will be reopened" % (where, err)
                                            ) from err

    async def _send(self, driver: LinkDriver, message: protocol.message.Message,
                    fields: list[bytes], reply_timeout_s: float | None
                    ) -> protocol.message.Message:
        wait_s = self.settings.reply_timeout_s if reply_timeout_s is None else reply_timeout_s
        self.requests_sent += 1
        reply_fields = await driver.request(fields, int(wait_s * 1000))
        reply = protocol.decode_reply(reply_fields)
        try:
            return protocol.check_reply(message, reply)
        except protocol.VendorError as err:
            raise errors.refusal(err) from err


def _fields(message: object) -> list[bytes]:
    """The request's fields, or SpaceRequestError naming the field that cannot go."""
    assert isinstance(message, protocol.message.Message)
    try:
        return message.fields()
    except protocol.LocalProtocolError as err:
        raise errors.SpaceRequestError(str(err)) from err


def _name(encoder: bytes | None) -> str:
    return "?" if encoder is None else encoder.decode("ascii", "replace")
