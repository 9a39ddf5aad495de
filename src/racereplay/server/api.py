"""The REST API (docs/protocol.md, section 1). OpenAPI at /docs."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from typing import Any

import numpy as np
import xxhash
from fastapi import APIRouter, HTTPException, Request, Response
from pydantic import BaseModel, Field

from racereplay.codec import UnknownCodec, event_to_dict, get_codec, jsonable
from racereplay.codec.baseline import column_values
from racereplay.replay.registry import BuildFailed, BuildRefused, BuildState, LoadedSession
from racereplay.server.catalogue import SessionForbidden
from racereplay.server.protocol import PROTOCOL_VERSION
from racereplay.server.state import ServerState, SessionRejected, content_version
from racereplay.sources import SessionNotFound
from racereplay.timeline.minisectors import mini_sectors
from racereplay.timeline.model import DamagedTimeline

router = APIRouter(prefix="/api")

IMMUTABLE = "public, max-age=31536000, immutable"
TELEMETRY_CHANNELS = ("distance", "speed", "throttle", "brake", "gear", "rpm", "drs", "x", "y")


class OpenRequest(BaseModel):
    name: str = Field(..., max_length=500, examples=["demo?cars=6&laps=3"])


def _state(request: Request) -> ServerState:
    return request.app.state.racereplay  # type: ignore[no-any-return]


def _encode(body: Any) -> bytes:
    return json.dumps(body, allow_nan=False, separators=(",", ":")).encode()


def _json(body: Any, status: int = 200) -> Response:
    return Response(_encode(body), status_code=status, media_type="application/json")


def _document(session: LoadedSession, name: str, make: Callable[[], Any]) -> Response:
    """One of the session's documents, which never change while it is loaded: made and
    encoded for the first viewer, the same bytes for every one after (each viewer that
    joins asks for five of them)."""
    body = session.derive(f"json:{name}", lambda: _encode(make()))
    return Response(body, media_type="application/json")


async def _loaded(request: Request, session_id: str) -> LoadedSession:
    """The loaded session of this id. An id this process has not opened yet (another
    replica opened it, or this one before a restart) is opened here when its file is in
    the shared cache folder, or its build is started (409: poll its status)."""
    state = _state(request)
    session = state.registry.loaded(session_id)
    if session is not None:
        return session
    try:
        ref = state.resolve(session_id)
    except SessionRejected:
        raise HTTPException(
            404, f"unknown session id {session_id!r}: open it first with POST /api/sessions"
        ) from None
    status = state.registry.status(ref.key)
    if status is not None and status.state is BuildState.FAILED:
        raise HTTPException(409, f"session {session_id!r} failed to load: {status.error}")
    if status is None and state.is_cached(ref):
        try:
            return await state.get_session(ref, _client(request))
        except (BuildFailed, BuildRefused) as exc:
            raise HTTPException(409, f"session {session_id!r} cannot be opened: {exc}") from None
    if status is None:
        try:
            status = state.registry.open(ref, _client(request))
        except BuildRefused as exc:
            raise HTTPException(
                429, str(exc), headers={"Retry-After": str(exc.retry_after)}
            ) from None
    raise HTTPException(
        409, f"session {session_id!r} is not ready yet ({status.state.value}): poll its status"
    )


def _client(request: Request) -> str:
    return request.client.host if request.client is not None else "unknown"


@router.get("/health")
async def health(
    request: Request, lag_seconds: float | None = None, count_frozen: bool = False
) -> dict[str, Any]:
    """`lag_seconds`: the loop lag of only that many last seconds. `count_frozen` walks
    every frozen object (millions at thousands of viewers, a pause for every one of
    them): for the benchmark, not for a load balancer's polling."""
    state = _state(request)
    return {
        "status": "ok",
        "protocol": PROTOCOL_VERSION,
        "version": state.version,
        "viewers": state.viewers,
        "sessions_loaded": state.registry.sessions_loaded,
        "builds_running": state.registry.builds_running,
        "builds_queued": state.registry.builds_queued,
        "builds_started": state.builds_started,
        # With --redis: whether it answers, the lease, builds waited for on other replicas.
        "redis": None if state.leases is None else state.leases.health(),
        "loop_lag_ms": state.loop_lag.percentiles_ms(lag_seconds),  # this server's, recent
        "gc_pause_ms": state.gc_pauses.worst_ms(),  # longest recent collector pass, by generation
        "gc_full_passes": state.gc_pauses.full_passes(),  # [[ended (Unix s), ms], ...]
        # Objects kept out of the collector's passes (null unless asked for).
        "gc_frozen": state.freezer.frozen() if count_frozen else None,
    }


@router.get("/catalogue")
async def catalogue(request: Request) -> dict[str, Any]:
    # Scanning data folders touches the disk: keep it off the event loop.
    # Offline, which seasons open is read from the FastF1 caches and schedules too.
    catalogue = _state(request).catalogue

    def listing() -> dict[str, Any]:
        return {
            "sessions": catalogue.entries(),  # ordered and grouped for the picker
            "fastf1_seasons": catalogue.fastf1_seasons(),  # see GET /api/fastf1/{year}
        }

    return await asyncio.to_thread(listing)


@router.get("/fastf1/{year}")
async def fastf1_season(request: Request, year: int) -> dict[str, Any]:
    """FastF1's schedule of a season: its events and their sessions, each with the
    session name that opens it. 503 when FastF1 cannot get the schedule here."""
    catalogue = _state(request).catalogue
    if year not in catalogue.fastf1_years():
        raise HTTPException(
            404, f"no FastF1 season {year} here: see fastf1_seasons in the catalogue"
        )
    try:
        events = await asyncio.to_thread(catalogue.fastf1_season, year)
    except SessionForbidden as exc:
        raise HTTPException(403, str(exc)) from None
    except SessionNotFound as exc:
        raise HTTPException(503, str(exc)) from None
    return {"year": year, "events": events}


@router.post("/sessions")
async def open_session(request: Request, body: OpenRequest) -> Response:
    state = _state(request)
    try:
        ref = state.resolve(body.name)
    except SessionRejected as exc:
        raise HTTPException(exc.status, str(exc)) from None
    try:
        status = state.registry.open(ref, _client(request))
    except BuildRefused as exc:
        raise HTTPException(429, str(exc), headers={"Retry-After": str(exc.retry_after)}) from None
    return _json(status.to_json(), 200 if status.state is BuildState.READY else 202)


MAX_STATUS_WAIT_SECONDS = 5.0


@router.get("/sessions/{session_id}")
async def session_status(request: Request, session_id: str, wait: float = 0.0) -> dict[str, Any]:
    """`wait`: while the session builds, answer when the build ends or after this many
    seconds (at most 5), whichever comes first: a client polling with it learns of
    ready at once, not up to a poll's interval later."""
    state = _state(request)
    await state.registry.settled(session_id, min(max(wait, 0.0), MAX_STATUS_WAIT_SECONDS))
    status = state.registry.status(session_id)
    if status is None:
        with contextlib.suppress(HTTPException):  # opened by another replica: open it here
            await _loaded(request, session_id)
        status = state.registry.status(session_id)
    if status is None:
        raise HTTPException(
            404, f"unknown session id {session_id!r}: open it first with POST /api/sessions"
        )
    return status.to_json()


@router.get("/sessions/{session_id}/metadata")
async def metadata(request: Request, session_id: str) -> Response:
    session = await _loaded(request, session_id)
    return _document(session, "metadata", lambda: _state(request).metadata(session))


@router.get("/sessions/{session_id}/laps")
async def laps(request: Request, session_id: str) -> Response:
    session = await _loaded(request, session_id)
    return _document(session, "laps", lambda: {"laps": jsonable(session.timeline.laps)})


@router.get("/sessions/{session_id}/minisectors")
async def minisectors(request: Request, session_id: str) -> Response:
    session = await _loaded(request, session_id)
    if "json:minisectors" not in session.derived:  # computed off the loop, once
        computed = await asyncio.to_thread(mini_sectors, session.timeline)
        return _document(session, "minisectors", computed.to_json)
    return _document(session, "minisectors", dict)  # encoded already: nothing is made


@router.get("/sessions/{session_id}/results")
async def results(request: Request, session_id: str) -> Response:
    session = await _loaded(request, session_id)
    return _document(session, "results", lambda: {"results": jsonable(session.timeline.results)})


@router.get("/sessions/{session_id}/events")
async def events(request: Request, session_id: str) -> Response:
    session = await _loaded(request, session_id)
    return _document(
        session, "events", lambda: {"events": [event_to_dict(e) for e in session.timeline.events]}
    )


@router.get("/sessions/{session_id}/telemetry/{driver}/{lap}")
async def lap_telemetry(request: Request, session_id: str, driver: str, lap: int) -> Response:
    session = await _loaded(request, session_id)
    tl = session.timeline
    codes = [d.code for d in tl.drivers]
    if driver not in codes:
        raise HTTPException(404, f"no driver {driver!r} in this session: use one of {codes}")
    column = codes.index(driver)
    _check_whole(request, session)
    frames = np.flatnonzero(np.asarray(tl.frames["lap"][:, column]) == lap)
    if len(frames) == 0:
        raise HTTPException(404, f"{driver} has no telemetry for lap {lap}")
    body: dict[str, Any] = {
        "driver": driver,
        "lap": lap,
        "time": column_values(tl.t0 + frames / tl.fps),
        "lap_time": column_values(frames.astype(np.float64) / tl.fps - frames[0] / tl.fps),
    }
    for name in TELEMETRY_CHANNELS:
        body[name] = column_values(np.asarray(tl.frames[name][frames, column]))
    return _json(body)


@router.get(
    "/sessions/{session_id}/chunks/{version}/{codec}/{rate}/{index}",
    responses={200: {"content": {"application/octet-stream": {}}}, 304: {}},
)
async def chunk(
    request: Request, session_id: str, version: str, codec: str, rate: int, index: int
) -> Response:
    """An encoded chunk: immutable, strong ETag, cacheable by any HTTP cache.

    `version` is the metadata's content version (in its `chunk_url`)."""
    state = _state(request)
    session = await _loaded(request, session_id)
    if version != content_version():
        raise HTTPException(
            404,
            f"chunk version {version!r} is not served: this server's is {content_version()!r} "
            "(take chunk_url from the session's metadata)",
        )
    try:
        chosen = get_codec(codec)
    except UnknownCodec as exc:
        raise HTTPException(404, str(exc)) from None
    if rate not in chosen.rates:
        raise HTTPException(404, f"rate {rate} not offered by {codec}: use one of {chosen.rates}")
    n_chunks = chosen.n_chunks(session.timeline)
    if not 0 <= index < n_chunks:
        raise HTTPException(
            404, f"chunk {index} out of range: this session has 0 to {n_chunks - 1}"
        )
    try:
        payloads = await asyncio.to_thread(
            state.chunks.get_chunk, session.id, session.timeline, chosen, rate, index
        )
    except DamagedTimeline as exc:
        raise _damaged(state, session, exc) from None
    body, media = chosen.http_body(payloads)
    etag = f'"{xxhash.xxh3_128_hexdigest(body)}"'
    headers = {"ETag": etag, "Cache-Control": IMMUTABLE}
    if _matches(etag, request.headers.get("if-none-match", "")):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type=media, headers=headers)


def _check_whole(request: Request, session: LoadedSession) -> None:
    """Before reading whole columns of a mapped file: is the file still whole?"""
    verify = session.timeline.verify_frames
    if verify is not None:
        try:
            verify(0, 0)
        except DamagedTimeline as exc:
            raise _damaged(_state(request), session, exc) from None


def _damaged(state: ServerState, session: LoadedSession, exc: DamagedTimeline) -> HTTPException:
    state.damaged(session, exc)
    return HTTPException(
        503,
        "this session's cache file was damaged: it is being rebuilt, open it again",
        headers={"Retry-After": "5"},
    )


def _etags(header: str) -> set[str]:
    return {tag.strip().removeprefix("W/") for tag in header.split(",") if tag.strip()}


def _matches(etag: str, header: str) -> bool:
    tags = _etags(header)
    return etag in tags or "*" in tags
