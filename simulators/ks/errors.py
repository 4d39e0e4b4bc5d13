"""What the Connect API answers when a request fails: ``{"ErrorCode": n, "Message": "..."}``.

One exception carries the HTTP status, the code and the message (notes §4.1-4.2); the
router turns it into the body. The helpers name the codes the simulator uses, so a reader
does not have to know that 2202 means "not found".
"""


class KsError(Exception):
    """A Connect API error response.

    Args:
        status: the HTTP status.
        code: the ``ErrorCode`` of the body.
        message: the ``Message`` of the body.
    """

    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__("%d/%d %s" % (status, code, message))
        self.status = status
        self.code = code
        self.message = message

    def body(self) -> dict[str, object]:
        return {"ErrorCode": self.code, "Message": self.message}


def invalid_request(message: str = "The request is invalid.") -> KsError:
    """400/1100: e.g. a site_uid where the site UUID belongs, a body that is not JSON."""
    return KsError(400, 1100, message)


def invalid_value(message: str) -> KsError:
    """400/1101: a parameter or field with a value (or a name) the API does not take."""
    return KsError(400, 1101, message)


def invalid_odata(message: str = "The OData filter format is invalid") -> KsError:
    """400/1102: a ``$filter`` or ``$orderby`` outside what the endpoint understands."""
    return KsError(400, 1102, message)


def not_found(what: str = "User") -> KsError:
    """404/2202: "User not found", "Lock not found", ..."""
    return KsError(404, 2202, "%s not found" % what)


def forbidden(message: str = "User does not have permission for this operation on this user"
              ) -> KsError:
    """403/2203: not allowed (also transient right after a guest is created)."""
    return KsError(403, 2203, message)


def no_subscription(message: str = "No valid subscription for this feature") -> KsError:
    """403/2212: the site's subscription does not cover it (no seat, no custom_pin)."""
    return KsError(403, 2212, message)


def internal(message: str = "Internal error") -> KsError:
    """500 or 503 with 2201."""
    return KsError(500, 2201, message)
