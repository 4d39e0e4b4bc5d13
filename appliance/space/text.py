"""Names and texts made safe for the wire: ASCII, no control or separator bytes.

Guests are called Doé and Jonä; Space wants bytes (§2.4). At this edge every
text is transliterated (Doé → Doe, Straße → Strasse), CR is dropped, the
separator character and other control bytes become spaces or ``|``, and what
has no ASCII form becomes ``?``. ``protocol/`` then only ever sees ASCII.
"""

import unicodedata

# Letters that do not decompose into an ASCII base letter plus accents.
SPECIAL = {
    "ß": "ss", "ẞ": "SS", "æ": "ae", "Æ": "AE", "œ": "oe", "Œ": "OE", "ø": "o", "Ø": "O",
    "đ": "d", "Đ": "D", "ð": "d", "Ð": "D", "þ": "th", "Þ": "Th", "ł": "l", "Ł": "L",
    "ı": "i", "ħ": "h", "Ħ": "H", "ŋ": "ng", "Ŋ": "NG", "ĸ": "k",
    "‘": "'", "’": "'", "‚": ",", "“": '"', "”": '"', "„": '"', "–": "-", "—": "-",
    "…": "...", "€": "EUR", "£": "GBP", "³": "|", "│": "|", "\u00a0": " ",
}


def to_ascii(text: str, allow_lf: bool = False) -> bytes:
    """Transliterate ``text`` to printable ASCII bytes for a protocol field."""
    out = []
    for char in text:
        if char == "\r":
            continue
        if char == "\n" and allow_lf:
            out.append(char)
        elif char in SPECIAL:
            out.append(SPECIAL[char])
        elif " " <= char <= "~":
            out.append(char)
        elif unicodedata.category(char)[0] in "CZ":
            out.append(" ")  # tabs, line breaks, odd spaces
        else:
            out.append(_base_letters(char))
    return "".join(out).encode("ascii")


def _base_letters(char: str) -> str:
    decomposed = unicodedata.normalize("NFKD", char)
    base = "".join(c for c in decomposed if " " <= c <= "~")
    return base or "?"
