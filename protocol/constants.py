"""Byte values, limits and timing of the Salto PMS Industry Standard link.

Names follow the vendor (§2.1 of the protocol notes); times carry their unit.
Plain module-level ints so the file runs unchanged on MicroPython.
"""

# Control bytes (§2.1).
STX = 0x02  # start of a frame
ETX = 0x03  # end of a frame; the LRC byte follows
ENQ = 0x05  # "is the PC interface ready to receive a new message?"
ACK = 0x06  # positive acknowledgement of a frame or of an ENQ
NAK = 0x15  # negative acknowledgement: not ready, or bad LRC
SEP = 0xB3  # field separator: one before every field and one before ETX
LRC_SKIP = 0x0D  # sent in the LRC position: "do not verify the LRC"

CONTROL_BYTES = (ENQ, ACK, NAK)

# Bytes no field may contain: they would end or split the frame.
FORBIDDEN_BYTES = (STX, ETX, SEP)

# Largest frame the decoder buffers, STX through LRC. The notes (§2.5) find no
# documented maximum; the largest realistic frame (CNM with four rooms, a
# 256-byte text and a 64-byte auth code) is about 500 bytes. 2048 leaves four
# times that as headroom, and is still small enough for a microcontroller
# bridge to hold one frame in RAM. Anything longer is line noise or a
# misbehaving peer, so it is reported and dropped instead of buffered.
MAX_FRAME_BYTES = 2048

# Link timing, client policy of the production clients (§3.2), in milliseconds.
ACK_TIMEOUT_MS = 5000  # a live PC interface ACKs at once; 5 s covers 9600 baud
# The reply waits for a person to place a card on the encoder: 30 s as the
# production clients use, plus a margin for Space's own processing.
REPLY_TIMEOUT_MS = 35000
ENQ_INTERVAL_MS = 200  # pause between ENQ polls after a NAK
MAX_ENQ_POLLS = 3  # ENQ polls after a NAK before giving up
MAX_SENDS = 3  # sends of one frame in total, the first included

# Space makes at most ten copies of a guest key (peers §1.1); on the wire the
# count is one digit appended to CN/CC/CA (§5.2), so nine per request.
MAX_KEYS_PER_REQUEST = 9
# Taken in a request: CN10 and more are sent by clients in the field (two digits).
MAX_KEYS_ACCEPTED = 99
AUTHORIZATION_COUNT = 62  # Space's fixed list of PMS authorizations (§4.2)
