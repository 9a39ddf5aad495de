"""The WebSocket protocol's constants, defined once (docs/protocol.md).

The client never hard-codes them: `CLIENT_CONSTANTS` travels in the `hello`
message and in the session metadata.
"""

from __future__ import annotations

from typing import Any

PROTOCOL_VERSION = 1

MAX_COMMAND_BYTES = 4096
# Auto quality keeps rate x speed at or under this many frames per wall second.
MAX_FRAMES_PER_WALL_SECOND = 100

# Commands: a token bucket per connection. Seeks and speeds are coalesced (the last
# wins) while they wait for a token, so a scrubbing slider costs at most one seek per
# token, and the few commands sent while a session loads are kept the same way.
COMMANDS_PER_SECOND = 10.0
COMMAND_BURST = 20

CLOSE_TOO_SLOW = 4008  # the client did not read its messages
CLOSE_FORBIDDEN = 4403  # the page's Origin is not allowed
CLOSE_BAD_PARAMS = 4400
CLOSE_NOT_FOUND = 4404
CLOSE_FAILED = 1011  # the session could not be built
CLOSE_TRY_LATER = 1013  # the server is busy (its build queue is full): retry later
# After these a client must not reconnect by itself: the same request fails the same way.
FINAL_CLOSE_CODES = (CLOSE_FAILED, CLOSE_FORBIDDEN, CLOSE_BAD_PARAMS, CLOSE_NOT_FOUND)

CLIENT_CONSTANTS: dict[str, Any] = {
    "protocol": PROTOCOL_VERSION,
    "max_command_bytes": MAX_COMMAND_BYTES,
    "max_frames_per_wall_second": MAX_FRAMES_PER_WALL_SECOND,
    "commands_per_second": COMMANDS_PER_SECOND,
    "command_burst": COMMAND_BURST,
    "close_codes": {
        "too_slow": CLOSE_TOO_SLOW,
        "forbidden": CLOSE_FORBIDDEN,
        "bad_params": CLOSE_BAD_PARAMS,
        "not_found": CLOSE_NOT_FOUND,
        "failed": CLOSE_FAILED,
        "try_later": CLOSE_TRY_LATER,
    },
    "final_close_codes": list(FINAL_CLOSE_CODES),
}
