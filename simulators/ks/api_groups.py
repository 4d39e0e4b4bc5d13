"""Connect endpoints for access groups, their locks, members and time schedules
(notes §3.1 #14-19). Members are PLATFORM user ids, in and out.

``$expand`` on the list of groups is documented nowhere (§3.3 [U]): the simulator refuses
it (400/1102) unless the ``access_group_expand`` knob says ``ignored`` (plain groups) or
``served`` (each group with ``users``, ``locks``, ``time_schedules`` as the sub-resource
lists show them, whole).
"""

from typing import TYPE_CHECKING, Any

from simulators.ks import groups, odata
from simulators.ks.errors import invalid_odata
from simulators.ks.model import (
    AccessGroup,
    SiteUser,
    group_json,
    lock_json,
    platform_user_json,
    schedule_json,
)
from simulators.ks.wire import Call, Response

if TYPE_CHECKING:
    from simulators.ks.cloud import KsCloud

GROUP_FILTER: odata.Allowed = {"customer_reference": ("text", odata.EQ)}
EXPANDABLE = ("users", "locks", "time_schedules")
NO_CONTENT = 204
People = dict[str, SiteUser]  # platform id -> user: one look-up per member, not a scan


def _group(call: Call) -> AccessGroup:
    return call.cloud.get_group(call.params["group"])


def _locks(cloud: "KsCloud", group: AccessGroup) -> list[dict[str, Any]]:
    return [lock_json(cloud.locks[lock_id], cloud.iqs[cloud.locks[lock_id].iq_id])
            for lock_id in group.locks]


def _members(group: AccessGroup, people: People) -> list[dict[str, Any]]:
    return [platform_user_json(people[user_id]) for user_id in group.members
            if user_id in people]


def _schedules(group: AccessGroup) -> list[dict[str, Any]]:
    return [schedule_json(schedule, group.id) for schedule in group.schedules.values()]


def _expansion(call: Call) -> tuple[str, ...]:
    """The parts ``$expand`` asks for, as the knob allows; 400/1102 for anything else."""
    text = call.request.query.get("$expand")
    mode = call.cloud.knobs.access_group_expand
    if text is None or mode == "ignored":
        return ()
    parts = tuple(part.strip() for part in text.split(","))
    if mode != "served" or not set(parts) <= set(EXPANDABLE):
        raise invalid_odata("The query option $expand is not allowed")
    return parts


def _expanded(cloud: "KsCloud", group: AccessGroup, parts: tuple[str, ...],
              people: People) -> dict[str, Any]:
    shown = group_json(group)
    if "users" in parts:
        shown["users"] = _members(group, people)
    if "locks" in parts:
        shown["locks"] = _locks(cloud, group)
    if "time_schedules" in parts:
        shown["time_schedules"] = _schedules(group)
    return shown


def list_groups(call: Call) -> Response:
    cloud, parts = call.cloud, _expansion(call)
    people = {user.user_id: user for user in cloud.users.values()} if "users" in parts else {}
    return call.page(list(cloud.groups.values()), GROUP_FILTER,
                     lambda group: _expanded(cloud, group, parts, people),
                     expands=True)  # _expansion has judged it


def create_group(call: Call) -> Response:
    """200 ``{id, customer_reference}``; the same name twice makes two groups."""
    return call.ok(group_json(groups.create_group(call.cloud, call.body())))


def get_group(call: Call) -> Response:
    return call.ok(group_json(_group(call)))


def delete_group(call: Call) -> Response:
    groups.delete_group(call.cloud, _group(call))
    return Response(NO_CONTENT)


def list_group_locks(call: Call) -> Response:
    return call.page(_locks(call.cloud, _group(call)))


def add_group_lock(call: Call) -> Response:
    cloud = call.cloud
    lock = cloud.locks[groups.add_lock(cloud, _group(call), call.body())]
    return call.ok(lock_json(lock, cloud.iqs[lock.iq_id]))


def patch_group_locks(call: Call) -> Response:
    groups.patch_locks(call.cloud, _group(call), call.body())
    return Response(NO_CONTENT)


def remove_group_lock(call: Call) -> Response:
    groups.remove_lock(_group(call), call.params["lock"])
    return Response(NO_CONTENT)


def list_group_users(call: Call) -> Response:
    cloud, group = call.cloud, _group(call)
    people = {user_id: user for user_id in group.members
              if (user := cloud.user_by_platform(user_id)) is not None}
    return call.page(_members(group, people))


def add_group_user(call: Call) -> Response:
    cloud = call.cloud
    user = cloud.user_by_platform(groups.add_member(cloud, _group(call), call.body()))
    assert user is not None
    return call.ok(platform_user_json(user))


def patch_group_users(call: Call) -> Response:
    groups.patch_members(call.cloud, _group(call), call.body())
    return Response(NO_CONTENT)


def remove_group_user(call: Call) -> Response:
    groups.remove_member(_group(call), call.params["user"])
    return Response(NO_CONTENT)


def list_schedules(call: Call) -> Response:
    return call.page(_schedules(_group(call)))


def add_schedule(call: Call) -> Response:
    group = _group(call)
    return call.ok(schedule_json(groups.add_schedule(call.cloud, group, call.body()),
                                  group.id))


def get_schedule(call: Call) -> Response:
    group = _group(call)
    return call.ok(schedule_json(groups.get_schedule(group, call.params["schedule"]),
                                  group.id))


def patch_schedule(call: Call) -> Response:
    group = _group(call)
    schedule = groups.get_schedule(group, call.params["schedule"])
    groups.patch_schedule(call.cloud, schedule, call.body())
    return call.ok(schedule_json(schedule, group.id))


def delete_schedule(call: Call) -> Response:
    groups.delete_schedule(_group(call), call.params["schedule"])
    return Response(NO_CONTENT)


_G = "sites/{site}/access_groups/{group}"
ROUTES = [
    ("GET", "sites/{site}/access_groups", list_groups),
    ("POST", "sites/{site}/access_groups", create_group),
    ("GET", _G, get_group),
    ("DELETE", _G, delete_group),
    ("GET", _G + "/locks", list_group_locks),
    ("POST", _G + "/locks", add_group_lock),
    ("PATCH", _G + "/locks", patch_group_locks),
    ("DELETE", _G + "/locks/{lock}", remove_group_lock),
    ("GET", _G + "/users", list_group_users),
    ("POST", _G + "/users", add_group_user),
    ("PATCH", _G + "/users", patch_group_users),
    ("DELETE", _G + "/users/{user}", remove_group_user),
    ("GET", _G + "/time_schedules", list_schedules),
    ("POST", _G + "/time_schedules", add_schedule),
    ("GET", _G + "/time_schedules/{schedule}", get_schedule),
    ("PATCH", _G + "/time_schedules/{schedule}", patch_schedule),
    ("DELETE", _G + "/time_schedules/{schedule}", delete_schedule),
]
