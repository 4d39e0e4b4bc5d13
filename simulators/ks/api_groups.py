"""Connect endpoints for access groups, their locks, members and time schedules
(notes §3.1 #14-19). Members are PLATFORM user ids, in and out."""

from simulators.ks import groups, odata
from simulators.ks.model import (
    AccessGroup,
    group_json,
    lock_json,
    platform_user_json,
    schedule_json,
)
from simulators.ks.wire import Call, Response

GROUP_FILTER: odata.Allowed = {"customer_reference": ("text", odata.EQ)}
NO_CONTENT = 204


def _group(call: Call) -> AccessGroup:
    return call.cloud.get_group(call.params["group"])


def list_groups(call: Call) -> Response:
    return call.page([group_json(g) for g in call.cloud.groups.values()], GROUP_FILTER)


def create_group(call: Call) -> Response:
    """200 ``{id, customer_reference}``; the same name twice makes two groups."""
    return call.ok(group_json(groups.create_group(call.cloud, call.body())))


def get_group(call: Call) -> Response:
    return call.ok(group_json(_group(call)))


def delete_group(call: Call) -> Response:
    groups.delete_group(call.cloud, _group(call))
    return Response(NO_CONTENT)


def list_group_locks(call: Call) -> Response:
    cloud = call.cloud
    locks = [cloud.locks[lock_id] for lock_id in _group(call).locks]
    return call.page([lock_json(lock, cloud.iqs[lock.iq_id]) for lock in locks])


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
    cloud = call.cloud
    members = [cloud.user_by_platform(user_id) for user_id in _group(call).members]
    return call.page([platform_user_json(user) for user in members if user is not None])


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
    group = _group(call)
    return call.page([schedule_json(s, group.id) for s in group.schedules.values()])


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
