"""The site's rules where the evidence is thin: what this Space makes of forms the notes are
unsure of (``[rules]`` of the site file, ``site.Rules``).

``protocol`` takes these forms (a print line of 30 characters, CN10, a CA with no room, a
national phone number) so that the simulator can answer them as a real Space plausibly
would; this module is where a site file makes them syntax errors (ES) instead.
"""

import protocol
from simulators.space.encoders import Refused
from simulators.space.site import Rules


def check(rules: Rules, request: protocol.message.Message) -> None:
    """Raise Refused where the site's rules refuse ``request``; else leave it to Space."""
    if isinstance(request, protocol.EncodeCard):
        _card(rules, request)
    elif isinstance(request, protocol.WriteTrack):
        _longest(rules.track_text_max_chars, (request.text,), request.encoder, 3)
    elif isinstance(request, protocol.EncodeMobile | protocol.EncodeMobileBinary) and (
            rules.national_phone == "ES" and not request.phone.startswith((b"+", b"00"))):
        raise Refused(b"ES", request.phone, b"syntax error in field 1")


def _card(rules: Rules, request: protocol.EncodeCard) -> None:
    if request.count is not None and request.count > rules.max_keys_per_request:
        raise Refused(b"ES", request.encoder, b"syntax error in field 0")
    _longest(rules.print_info_max_chars, request.print_info, request.encoder, 12)
    if not request.rooms:
        if rules.card_without_room == "refuse":
            raise Refused(b"ES", request.encoder, b"syntax error in field 3")
        if request.command != b"CA":  # a one-shot card may open shared doors only
            raise Refused(b"TD", request.encoder)


def _longest(limit: int, lines: tuple[bytes, ...], target: bytes, first: int) -> None:
    for number, line in enumerate(lines, first):
        if limit and len(line) > limit:
            raise Refused(b"ES", target, b"syntax error in field %d" % number)
