"""The Salto KS Connect API resources we use: sites, site users, access groups, schedules, events.

Resources are returned as KS sends them (snake_case dicts and lists), with
the two ids of a site user kept apart: ``id`` (the site user: ``/users/{id}``,
PIN, keys, delete) and ``user.id`` (the platform user: access-group
membership, entries) (§2.2). ``site_id`` is always the site UUID; see
``resolve_site``. Sending, authorising, rate limiting, paging and the
translation of failures are ``appliance.ks.connection``'s job.
"""

import asyncio
import datetime
import logging
import re
import time
import urllib.parse
from collections.abc import Awaitable, Callable
from typing import Any

import httpx2

from appliance.ks import errors
from appliance.ks.connection import KsConnection
from appliance.ks.ratelimit import TokenBucket
from appliance.ks.settings import KsSettings

log = logging.getLogger("keybridge.ks")

SCHEDULES = "v1.1"  # time schedules are used on v1.1 (§3.1 #18-19)
EVENTS = "v1.1"  # entries exist only on v1.1 (§3.1 #20)
CONTINUATION_HEADER = "CLP-Continuation-Token"
SUBSCRIPTION_STATES = ("subscribed", "suspended")
PIN = re.compile(r"\d{4,12}")


class KsClient:
    """The Connect API for one account; an async context manager.

    Args:
        settings: hosts, credentials, timeouts, bucket and page size.
        transport: the HTTP transport (tests inject one); httpx2's default if None.
        clock: monotonic seconds, for the token's lifetime and the bucket.
        sleep: awaited by the bucket when it makes a caller wait.
        bucket: shared with other clients of the same account, or built from settings.
    """

    def __init__(self, settings: KsSettings, *,
                 transport: httpx2.AsyncBaseTransport | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
                 bucket: TokenBucket | None = None) -> None:
        self.settings = settings
        self.api = KsConnection(settings, transport=transport, clock=clock, sleep=sleep,
                                bucket=bucket)
        self.auth = self.api.auth
        self.bucket = self.api.bucket
        self._request = self.api.request  # the name the transport tests send bare requests by
        self._filter_works = True  # until KS refuses an OData $filter on users (§3.3 [U])

    async def __aenter__(self) -> "KsClient":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self.api.close()

    # -- sites ----------------------------------------------------------------------

    async def sites(self) -> list[dict[str, Any]]:
        """The sites the system user can see."""
        return await self.api.pages("sites")

    async def resolve_site(self) -> dict[str, Any]:
        """The configured site (``settings.site``: its UUID, site_uid or customer_reference).

        Raises:
            KsNotFound: the account sees no such site; the message lists the ones it sees.
            KsInvalid: the name fits several sites.
        """
        wanted = self.settings.site.strip()
        sites = await self.sites()
        by_id = [s for s in sites if str(s.get("id", "")).lower() == wanted.lower()]
        matches = by_id or [s for s in sites
                            if wanted in (s.get("site_uid"), s.get("customer_reference"))]
        if len(matches) == 1:
            return matches[0]
        seen = ", ".join(_site_name(s) for s in sites) or "none"
        cls = errors.KsInvalid if matches else errors.KsNotFound
        problem = "fits %d sites" % len(matches) if matches else "is not a site of this account"
        raise cls(None, None, "site %r %s; the account sees: %s" % (wanted, problem, seen),
                  method="GET", path="/v1.2/sites",
                  hint="set the KS site to one of these (UUID, site_uid or "
                       "customer_reference), or give the system user a role on the site")

    async def site(self, site_id: str) -> dict[str, Any]:
        return await self.api.request_object("GET", _path("sites", site_id), "site")

    async def locks(self, site_id: str) -> list[dict[str, Any]]:
        return await self.api.pages(_path("sites", site_id, "locks"))

    # -- site users -----------------------------------------------------------------

    async def users(self, site_id: str) -> list[dict[str, Any]]:
        return await self.api.pages(_path("sites", site_id, "users"))

    async def user(self, site_id: str, su: str) -> dict[str, Any] | None:
        """The site user ``su`` (site-user id), or None if there is none."""
        try:
            return await self.api.request_object("GET", _path("sites", site_id, "users", su),
                                                 "site user")
        except errors.KsNotFound:
            return None

    async def find_guest(self, site_id: str, alias: str) -> dict[str, Any] | None:
        """The first site user whose alias is exactly ``alias`` (look up before creating).

        Asks KS to filter (``$filter=alias eq '...'``); if KS refuses the
        filter (400), pages every user instead, from then on.
        """
        path = _path("sites", site_id, "users")
        if not self._filter_works:
            users = await self.api.pages(path)
        else:
            try:
                users = await self.api.pages(path, params={"$filter": _odata_eq("alias", alias)})
            except errors.KsInvalid:
                users = await self.api.pages(path)
                log.info("KS refused $filter on users; paging them from now on")
                self._filter_works = False
        return next((u for u in users if isinstance(u, dict) and u.get("alias") == alias), None)

    async def create_guest(self, site_id: str, alias: str,
                           expires_at: datetime.datetime | None) -> dict[str, Any]:
        """A new guest (role site_guest, no PIN yet: ``use_pin`` is false).

        Check ``subscription_state == "subscribed"``: with no seat left KS
        still answers 201, with a suspended user (§2.6).
        """
        body: dict[str, Any] = {"alias": alias}
        if expires_at is not None:
            body["expires_at"] = _utc(expires_at)
        return await self.api.request_object("POST", _path("sites", site_id, "guests"), "guest",
                                             json=body)

    async def patch_user(self, site_id: str, su: str, fields: dict[str, Any]) -> dict[str, Any]:
        return await self.api.request_object("PATCH", _path("sites", site_id, "users", su),
                                             "site user", json=fields)

    async def set_subscription(self, site_id: str, su: str, state: str) -> None:
        """``subscribed`` or ``suspended`` (frees the seat, keeps the user)."""
        if state not in SUBSCRIPTION_STATES:
            raise ValueError("subscription state must be one of %s" % (SUBSCRIPTION_STATES,))
        await self.api.request("PATCH", _path("sites", site_id, "users", su, "subscription"),
                               json={"state": state})

    async def delete_user(self, site_id: str, su: str) -> bool:
        """Delete the site user (frees the seat); False if it was already gone."""
        return await self.api.delete(_path("sites", site_id, "users", su))

    async def put_pin(self, site_id: str, su: str) -> str:
        """A new PIN for the site user; a second call rotates it. Not idempotent (§3.4)."""
        path = _path("sites", site_id, "users", su, "pin")
        answer = await self.api.request("PUT", path, json={})
        if not isinstance(answer, str) or not PIN.fullmatch(answer):  # never show the value
            raise errors.KsProtocolError("the PIN answer is not a string of digits (%s)"
                                         % type(answer).__name__, method="PUT",
                                         path="/v1.2/" + path)
        return answer

    async def keys(self, site_id: str, su: str) -> list[dict[str, Any]]:
        """The site user's keys (type, expiry; never the PIN itself)."""
        return await self.api.pages(_path("sites", site_id, "users", su, "keys"))

    # -- access groups ----------------------------------------------------------------

    async def access_groups(self, site_id: str, *,
                            expand: tuple[str, ...] = ()) -> list[dict[str, Any]]:
        """``expand``: parts to nest in each group (OData ``$expand``; no source documents it
        for KS, §3.3 [U]): KS may refuse it (KsInvalid) or leave a group without them."""
        if not expand:
            return await self.api.pages(_path("sites", site_id, "access_groups"))
        return await self.api.pages(_path("sites", site_id, "access_groups"), version=SCHEDULES,
                                    params={"$expand": ",".join(expand)})

    async def find_access_group(self, site_id: str, reference: str) -> dict[str, Any] | None:
        """The first access group whose customer_reference is exactly ``reference``."""
        groups = await self.access_groups(site_id)
        return next((g for g in groups
                     if isinstance(g, dict) and g.get("customer_reference") == reference), None)

    async def create_access_group(self, site_id: str, reference: str) -> dict[str, Any]:
        return await self.api.request_object("POST", _path("sites", site_id, "access_groups"),
                                             "access group",
                                             json={"customer_reference": reference})

    async def delete_access_group(self, site_id: str, ag: str) -> bool:
        return await self.api.delete(_path("sites", site_id, "access_groups", ag))

    async def group_locks(self, site_id: str, ag: str) -> list[dict[str, Any]]:
        return await self.api.pages(_path("sites", site_id, "access_groups", ag, "locks"))

    async def add_group_lock(self, site_id: str, ag: str, lock_id: str) -> None:
        await self.api.request("POST", _path("sites", site_id, "access_groups", ag, "locks"),
                               json={"lock_id": lock_id})

    async def remove_group_lock(self, site_id: str, ag: str, lock_id: str) -> bool:
        return await self.api.delete(_path("sites", site_id, "access_groups", ag, "locks",
                                           lock_id))

    async def group_users(self, site_id: str, ag: str) -> list[dict[str, Any]]:
        """The group's members, by platform user id."""
        return await self.api.pages(_path("sites", site_id, "access_groups", ag, "users"))

    async def add_group_user(self, site_id: str, ag: str, platform_user_id: str) -> None:
        """Add a member: the platform user id (``user.id``), not the site-user id."""
        await self.api.request("POST", _path("sites", site_id, "access_groups", ag, "users"),
                               json={"user_id": platform_user_id})

    async def remove_group_user(self, site_id: str, ag: str, platform_user_id: str) -> bool:
        return await self.api.delete(_path("sites", site_id, "access_groups", ag, "users",
                                           platform_user_id))

    # -- time schedules (v1.1) ------------------------------------------------------

    async def schedules(self, site_id: str, ag: str) -> list[dict[str, Any]]:
        return await self.api.pages(_schedules(site_id, ag), version=SCHEDULES)

    async def create_schedule(self, site_id: str, ag: str,
                              body: dict[str, Any]) -> dict[str, Any]:
        """``body``: monday..sunday booleans, start/end_time "HH:MM:SS", start/end_date
        as naive site-local datetimes (§2.9)."""
        return await self.api.request_object("POST", _schedules(site_id, ag), "time schedule",
                                             version=SCHEDULES, json=body)

    async def patch_schedule(self, site_id: str, ag: str, ts: str,
                             body: dict[str, Any]) -> dict[str, Any]:
        return await self.api.request_object("PATCH", _schedules(site_id, ag, ts),
                                             "time schedule", version=SCHEDULES, json=body)

    async def delete_schedule(self, site_id: str, ag: str, ts: str) -> bool:
        return await self.api.delete(_schedules(site_id, ag, ts), version=SCHEDULES)

    # -- events (v1.1) ----------------------------------------------------------------

    async def entries(self, site_id: str, *, since: datetime.datetime | None = None,
                      continuation: str | None = None,
                      top: int = 100) -> tuple[list[dict[str, Any]], str | None]:
        """One page of access events, newest first, and the token for the next page."""
        return await self._events(_path("sites", site_id, "entries"), since, continuation, top)

    async def incidents(self, site_id: str, *, since: datetime.datetime | None = None,
                        continuation: str | None = None,
                        top: int = 100) -> tuple[list[dict[str, Any]], str | None]:
        """Like ``entries`` for alarms (door left open, low battery...); [U] on Connect."""
        return await self._events(_path("sites", site_id, "incidents"), since, continuation,
                                  top)

    async def _events(self, path: str, since: datetime.datetime | None,
                      continuation: str | None,
                      top: int) -> tuple[list[dict[str, Any]], str | None]:
        params = {"$top": str(top), "$orderby": "utc_date_time desc"}
        if since is not None:
            params["$filter"] = "utc_date_time ge DateTime'%s'" % _utc(since)
        headers = {CONTINUATION_HEADER: continuation} if continuation else None
        body = await self.api.request("GET", path, version=EVENTS, params=params, headers=headers)
        if isinstance(body, list):
            return body, None
        items = body.get("items") if isinstance(body, dict) else None
        token = body.get("continuation_token") if isinstance(body, dict) else None
        if not isinstance(items, list) or not (token is None or isinstance(token, str)):
            raise errors.KsProtocolError("not a page of events", method="GET", path=path)
        return items, token or None


# -- helpers ---------------------------------------------------------------------------

def _path(*segments: str) -> str:
    """A relative path; every segment quoted, so an id can never reach another resource."""
    return "/".join(urllib.parse.quote(str(segment), safe="") for segment in segments)


def _schedules(site_id: str, ag: str, *ts: str) -> str:
    return _path("sites", site_id, "access_groups", ag, "time_schedules", *ts)


def _utc(when: datetime.datetime) -> str:
    if when.tzinfo is None:
        raise ValueError("a KS timestamp needs a time zone (naive datetime given)")
    return when.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _odata_eq(field: str, value: str) -> str:
    return "%s eq '%s'" % (field, value.replace("'", "''"))


def _site_name(site: dict[str, Any]) -> str:
    return "%r (site_uid %s, id %s)" % (site.get("customer_reference"), site.get("site_uid"),
                                        site.get("id"))
