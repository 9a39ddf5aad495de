"""Watch-party rooms: the pure rules (replay/rooms.py) and the embedded hub."""

from __future__ import annotations

import asyncio

import pytest

from racereplay.replay.player import Anchor, ClockError, PlaybackClock
from racereplay.replay.room_hub import EmbeddedRooms
from racereplay.replay.rooms import (
    Member,
    Room,
    RoomError,
    RoomLimits,
    check_room_id,
    control,
    display_name,
    hand_over,
    join,
    leave,
    new_room,
    new_room_id,
    set_policy,
)

FPS = 25
N_FRAMES = 10_000
HOST = Member("host0001", "Ana")
GUEST = Member("guest001", "Ben")


def room_at(frame: float = 100.0, playing: bool = False) -> Room:
    clock = PlaybackClock(N_FRAMES, FPS, start_frame=frame)
    if playing:
        clock.play()
    return new_room("demo-abc", N_FRAMES, FPS, HOST, clock)


def test_room_ids_are_short_url_safe_and_distinct() -> None:
    ids = {new_room_id() for _ in range(2000)}
    assert len(ids) == 2000
    for room_id in list(ids)[:50]:
        assert check_room_id(room_id) == room_id
        assert len(room_id) == 8
    for bad in ("", "short", "toolong123", "bad/char", "a b c de"):
        with pytest.raises(RoomError) as err:
            check_room_id(bad)
        assert err.value.code == "room_not_found"


def test_every_member_computes_the_same_position_from_the_same_state() -> None:
    room = room_at(frame=250.0, playing=True)
    copy = Room.loads(room.dumps())  # what another replica reads from Redis
    assert copy == room
    now = room.clock.wall + 3.0
    # The room took the clock over a moment after it started playing (a busy machine
    # may take a millisecond): its anchor is that moment's frame.
    assert room.clock.frame == pytest.approx(250.0, abs=1.0)
    assert room.position(now) == pytest.approx(room.clock.frame + 3.0 * FPS)
    assert copy.position(now) == room.position(now)
    # A member's own clock (another time base) follows the room's to the same position.
    mono = [1000.0]
    mine = PlaybackClock(N_FRAMES, FPS, now=lambda: mono[0])
    mine.follow(room.playback(now=lambda: now))
    mono[0] += 2.0
    assert mine.position() == pytest.approx(room.position(now + 2.0))


def test_a_new_room_starts_where_the_host_is_and_the_host_is_its_only_member() -> None:
    room = room_at(frame=400.0)
    assert room.members == (HOST,) and room.host == HOST.id
    assert room.policy == "host" and room.version == 1 and room.reason == "create"
    assert room.position() == pytest.approx(400.0)
    assert not room.clock.playing


def test_clock_commands_move_the_room_and_bump_its_version() -> None:
    room = join(room_at(frame=0.0), GUEST, RoomLimits())
    t = 1_000_000.0
    played = control(room, HOST.id, "play", PlaybackClock.play, t)
    assert played.clock == Anchor(0.0, t, True, 1.0)
    assert played.version == room.version + 1 and played.reason == "play"
    seeked = control(played, HOST.id, "seek", lambda c: c.seek(5000), t + 1)
    assert seeked.position(t + 3) == pytest.approx(5000 + 2 * FPS)
    fast = control(seeked, HOST.id, "speed", lambda c: c.set_speed(4), t + 3)
    assert fast.position(t + 4) == pytest.approx(5000 + 2 * FPS + 4 * FPS)
    paused = control(fast, HOST.id, "pause", PlaybackClock.pause, t + 4)
    assert paused.position(t + 100) == pytest.approx(fast.position(t + 4))
    with pytest.raises(ClockError):
        control(paused, HOST.id, "speed", lambda c: c.set_speed(1000), t + 5)


def test_only_the_host_controls_until_it_allows_everyone() -> None:
    room = join(room_at(), GUEST, RoomLimits())
    with pytest.raises(RoomError) as err:
        control(room, GUEST.id, "play", PlaybackClock.play, 1.0)
    assert err.value.code == "not_host"
    with pytest.raises(RoomError) as err:
        set_policy(room, GUEST.id, "everyone")
    assert err.value.code == "not_host"
    open_room = set_policy(room, HOST.id, "everyone")
    assert control(open_room, GUEST.id, "play", PlaybackClock.play, 1.0).clock.playing
    with pytest.raises(RoomError) as err:
        control(open_room, "stranger", "play", PlaybackClock.play, 1.0)
    assert err.value.code == "not_member"
    with pytest.raises(RoomError):
        set_policy(room, HOST.id, "anyone")


def test_hand_over_makes_another_member_the_host() -> None:
    room = hand_over(join(room_at(), GUEST, RoomLimits()), HOST.id, GUEST.id)
    assert room.host == GUEST.id and room.reason == "host"
    assert control(room, GUEST.id, "play", PlaybackClock.play, 1.0).clock.playing
    with pytest.raises(RoomError) as err:
        control(room, HOST.id, "play", PlaybackClock.play, 1.0)
    assert err.value.code == "not_host"
    with pytest.raises(RoomError) as err:
        hand_over(room, GUEST.id, "nobody00")
    assert err.value.code == "bad_value"


def test_rooms_are_bounded_in_size() -> None:
    limits = RoomLimits(room_size=2)
    room = join(room_at(), GUEST, limits)
    with pytest.raises(RoomError) as err:
        join(room, Member("third001", "Cy"), limits)
    assert err.value.code == "room_full" and "full (2 members)" in str(err.value)
    again = join(room, Member(GUEST.id, "Benny"), limits)  # a member joining again
    assert [m.name for m in again.members] == ["Ana", "Benny"]


def test_a_leaving_host_hands_over_and_the_last_member_ends_the_room() -> None:
    room = join(room_at(), GUEST, RoomLimits())
    after = leave(room, HOST.id)
    assert after is not None and after.host == GUEST.id and after.members == (GUEST,)
    assert leave(after, "stranger") is after
    assert leave(after, GUEST.id) is None


def test_display_names_are_printable_and_short() -> None:
    assert display_name("  Ana\n\x00 Lopez ", "abcd1234") == "Ana Lopez"
    assert display_name("x" * 100, "abcd1234") == "x" * 32
    assert display_name("", "abcd1234") == "Viewer abcd"
    assert display_name(None, "abcd1234") == "Viewer abcd"


def test_embedded_hub_tells_listeners_and_bounds_rooms_per_process() -> None:
    async def scenario() -> None:
        hub = EmbeddedRooms(RoomLimits(room_size=5, max_rooms=1))
        seen: list[int] = []
        room = room_at()
        hub.listen(room.id, lambda r: seen.append(r.version))
        await hub.create(room)
        await hub.change(room.id, lambda r: join(r, GUEST, hub.limits))
        assert seen == [1, 2]
        assert (await hub.get(room.id)).members == (HOST, GUEST)
        with pytest.raises(RoomError) as err:
            hub.listen("another1", lambda r: None)
        assert err.value.code == "too_many_rooms"
        assert await hub.change(room.id, lambda r: leave(r, GUEST.id)) is not None
        assert await hub.change(room.id, lambda r: leave(r, HOST.id)) is None
        with pytest.raises(RoomError) as err:
            await hub.get(room.id)
        assert err.value.code == "room_not_found"

    asyncio.run(scenario())
