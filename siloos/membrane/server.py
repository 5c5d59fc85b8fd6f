"""The membrane: the host-side server a cell talks to over one unix socket (design §5).

`Membrane.handle_line(bytes) -> bytes` is the whole request path (parse, check pipeline,
answer, audit) as one synchronous call that never raises; the asyncio server around it
only moves lines. Each connection is served on its own: requests answered in order, an
over-long line drained to its newline and answered 413, garbage answered 400, and any
failure confined to the connection it happened on. At most `MAX_CONNECTIONS` are served
at once (more get one 429 line and are closed), and a frame must be completed within
`LINE_SECONDS` of its first byte (else 400 and the connection is closed), so one cell
cannot pin host memory with many parked half-frames. Every request and every refusal is
audited in the state store with its reason; arguments are audited tokenized.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import stat
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from siloos.exits import ExitServices
from siloos.membrane.checks import Refusal
from siloos.membrane.gcpolicy import raise_young_threshold
from siloos.membrane.lines import LineReader, LineTimedOut, Oversize
from siloos.membrane.pipelines import Wiring, build_pipelines
from siloos.membrane.ports import KeyVerifierPort, StatePort, TokenizerPort
from siloos.membrane.protocol import (
    MAX_FRAME,
    FrameError,
    Request,
    RequestId,
    encode_error,
    encode_ok,
    encode_ok_json,
    parse_request,
)
from siloos.membrane.session import CellSession, Exchange, HopCounters
from siloos.privacy.tokens import is_token
from siloos.store import AuditRecord
from siloos.store.journal import IDLE_FLUSH_SECONDS

#: The socket is world-connectable; the folder holding it decides who can reach it.
SOCKET_MODE = 0o666
#: Connections one membrane serves at once. A cell needs one (the SDK shares a single
#: connection); each may hold up to a frame of partial line in host memory.
MAX_CONNECTIONS = 16
#: How long a frame may stay incomplete once its first byte arrived (slowloris bound).
LINE_SECONDS = 30.0
#: The stream reader's own buffer limit; lines are assembled by `LineReader`.
_READER_LIMIT = 256 * 1024
#: Remembered audit scans: at most this many strings, each at most this long.
_SCAN_MEMO_SIZE = 1024
_SCAN_MEMO_TEXT = 4096


class Membrane:
    """One hop's membrane. Build it, `await start(path)`, wait for `finished`, `await stop()`.

    After a valid `finish`, `finish_record` holds `{status, summary, output, redirect}`
    (tokenized), the task key is revoked in the store and every further request gets 409.
    `services` are what the hop's exits may use (None: none at all); the membrane gives
    them an attempt ledger of its own, so what a cell tried lives as long as this hop.
    """

    def __init__(self, session: CellSession, *, verifier: KeyVerifierPort, registry: Any,
                 store: StatePort, tokenizer: TokenizerPort,
                 services: ExitServices | None = None,
                 effective_caps: Callable[[Any, Any], Mapping[str, Mapping[str, Any]]]
                 | None = None, max_connections: int = MAX_CONNECTIONS,
                 line_seconds: float = LINE_SECONDS) -> None:
        if max_connections < 1 or line_seconds <= 0:
            raise ValueError("max_connections and line_seconds must be positive")
        self.session = session
        self.max_connections = max_connections
        self.line_seconds = line_seconds
        self.store = store
        self.tokenizer = tokenizer
        self.counters = HopCounters()
        self.finish_record: dict[str, Any] | None = None
        self.finished = asyncio.Event()
        if effective_caps is None:
            from siloos.keys.scope import effective_caps as caps_of

            def effective_caps(base: Any, task: Any) -> Mapping[str, Mapping[str, Any]]:
                return caps_of(base, task, registry)

        if not services:  # None, or the empty mapping older callers passed: no services
            services = ExitServices()
        if not isinstance(services, ExitServices):
            raise TypeError("services must be an ExitServices")
        services = replace(services, attempts={})
        # Every audit row and exit result of this hop goes through the journal: durable
        # with one append before each reply, folded into state.db in batches.
        self.journal = store.open_journal(session.task_id, session.hop)
        self._pipelines = build_pipelines(Wiring(
            verifier=verifier, registry=registry, store=store, journal=self.journal,
            tokenizer=tokenizer,
            services=services, counters=self.counters,
            effective_caps=effective_caps, is_finished=lambda: self.finish_record is not None,
            on_finish=self._on_finish, audit_row=self._success_record))
        self._server: asyncio.AbstractServer | None = None
        self._socket_path: Path | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._flush_timer: asyncio.TimerHandle | None = None
        self._scan_memo: dict[str, str] = {}
        self._scan_version: Any = None
        #: The step `_handle` reports for a call that passes (the call pipeline's last).
        self._call_last_step = self._pipelines["call"].steps[-1].name

    # -- the request path --------------------------------------------------------------

    def handle_line(self, line: bytes) -> bytes:
        """Answer one request line; the reply line ends with a newline. Never raises.

        Whatever fails after the frame was read, the reply still carries the request's id,
        so the cell can tell which of its requests failed."""
        request_id: RequestId = None
        try:
            try:
                request = parse_request(line)
            except FrameError as err:
                return self._refuse_frame(err, len(line))
            request_id = request.id
            return self._handle(request)
        except Exception as err:  # the membrane never dies on input
            self._audit("internal", None, ok=False, code=500,
                        reason=f"internal error: {type(err).__name__}",
                        detail={"id": request_id})
            return encode_error(request_id, 500, "internal error", "internal_error")

    def _handle(self, request: Request) -> bytes:
        ex = Exchange(request=request, session=self.session)
        verdict, step = self._pipelines[request.op].run(ex)
        if isinstance(verdict, Refusal):
            self._audit_request(ex, step, ok=False, code=verdict.code, reason=verdict.reason)
            return encode_error(request.id, verdict.code, verdict.reason, verdict.type)
        try:
            if ex.reply_json is not None:  # the recorded text, sent as it was stored
                reply = encode_ok_json(request.id, ex.reply_json)
            else:
                reply = encode_ok(request.id, ex.result)
        except (TypeError, ValueError):
            self._audit_request(ex, step, ok=False, code=500, reason="result not serializable")
            return encode_error(request.id, 500, f"{request.op}: exit failed", "exit_failed")
        # A call's row was written with its result; any other success is answered only
        # once its row is written (fail closed: an unaudited action is not confirmed).
        if not ex.audited and not self._audit_request(ex, step, ok=True, code=200,
                                                       reason="ok"):
            return encode_error(request.id, 500, "audit unavailable", "internal_error")
        return reply

    def refuse_oversize(self, size: int | None = None) -> bytes:
        """The 413 answer (and its audit row) for a line the reader had to drain."""
        shown = f"{size} bytes" if size is not None else "frame"
        err = FrameError(413, f"{shown} exceeds the {MAX_FRAME}-byte frame limit")
        return self._refuse_frame(err, size)

    def _refuse_frame(self, err: FrameError, size: int | None) -> bytes:
        self._audit(err.op or "frame", None, ok=False, code=err.code, reason=err.message,
                    detail={"bytes": size, "id": err.request_id})
        return encode_error(err.request_id, err.code, err.message, err.type)

    def _on_finish(self, record: Mapping[str, Any]) -> None:
        self.finish_record = dict(record)
        self.finished.set()

    # -- audit -------------------------------------------------------------------------

    def _audit_request(self, ex: Exchange, step: str, *, ok: bool, code: int,
                       reason: str) -> bool:
        row = self._request_record(ex, step, ok=ok, code=code, reason=reason)
        return self._audit(row.op, row.tool, ok=ok, code=code, reason=reason,
                           detail=row.detail)

    def _request_record(self, ex: Exchange, step: str, *, ok: bool, code: int,
                        reason: str) -> AuditRecord:
        req: Request = ex.request
        detail: dict[str, Any] = {"id": req.id, "step": step}
        if req.op == "call":
            # Read as sent (not copied): `_tokenized` builds a new value of its own.
            detail["args"] = self._tokenized(req.fields.get("args") or {}, ex.known_version)
        elif req.op == "llm":
            detail["messages"] = len(req.fields.get("messages") or [])
        if ex.call_seq is not None:
            detail["seq"] = ex.call_seq
        for key, value in ex.notes.items():
            detail[key] = value
        s = self.session
        return AuditRecord(s.task_id, s.hop, req.op, ex.tool or req.tool, ok=ok, code=code,
                           reason=reason[:500], detail=detail)

    def _success_record(self, ex: Exchange) -> AuditRecord:
        """The row `_handle` would write for this call's success, for `RecordResult` to
        write with the call's result. It names the last step of the call pipeline, which
        is the step `_handle` reports for a call that passes."""
        return self._request_record(ex, self._call_last_step, ok=True, code=200, reason="ok")

    def _tokenized(self, value: Any, version: Any = None) -> Any:
        """`value` as it may be written down: every string scanned, except whole tokens
        (already safe, and the common case, so the scan is skipped for them).

        Agents repeat the same argument strings; a scan's answer is remembered for as long
        as the scope's known values stay the same (the vault's version says so), since
        only a new known value could change it. `version` is that fingerprint when this
        request has just read it (after tokenizing its result); else the vault is asked,
        and only once some string actually needs a scan."""
        scope = self.session.scope
        memo_checked = False

        def scan(text: str) -> str:
            nonlocal memo_checked
            if is_token(text):
                return text
            if len(text) > _SCAN_MEMO_TEXT:
                return self.tokenizer.tokenize_text(text, scope, mint=False)
            if not memo_checked:
                self._check_scan_memo(version)
                memo_checked = True
            done = self._scan_memo.get(text)
            if done is None:
                done = self._scan_memo[text] = self.tokenizer.tokenize_text(
                    text, scope, mint=False)
            return done

        def walk(item: Any) -> Any:
            if isinstance(item, str):
                return scan(item)
            if isinstance(item, dict):
                # Keys too: a cell may put a value where a field name goes.
                out: dict[Any, Any] = {}
                for k, v in item.items():
                    key = scan(k) if isinstance(k, str) else k
                    n = 1
                    while key in out:  # two keys that read as one token: keep both
                        n += 1
                        key = f"{scan(k)}#{n}"
                    out[key] = walk(v)
                return out
            if isinstance(item, list):
                return [walk(v) for v in item]
            return item

        try:
            return walk(value)
        except Exception:  # what cannot be tokenized is not written
            return "<not tokenizable>"

    def _check_scan_memo(self, version: Any) -> None:
        """Forget remembered scans made under another version of the scope's known values."""
        if version is None:
            version = self.tokenizer.vault.known_version(self.session.scope)
        if version != self._scan_version or len(self._scan_memo) > _SCAN_MEMO_SIZE:
            self._scan_memo.clear()
            self._scan_version = version

    def _audit(self, op: str, tool: str | None, *, ok: bool, code: int, reason: str,
               detail: Any = None) -> bool:
        """Write one audit row (without its detail if the detail is refused); whether a
        row was written."""
        s = self.session
        try:
            self.journal.audit(AuditRecord(s.task_id, s.hop, op, tool, ok=ok, code=code,
                                           reason=reason[:500], detail=detail))
            return True
        except Exception as err:  # e.g. the plaintext guard refused the detail
            fallback = f"{reason[:300]} (audit detail dropped: {type(err).__name__})"
        try:
            self.journal.audit(AuditRecord(s.task_id, s.hop, op, None, ok=ok, code=code,
                                           reason=fallback))
        except Exception:  # the journal cannot be written: the caller fails closed
            return False
        return True

    # -- the socket server -------------------------------------------------------------

    async def start(self, socket_path: Path | str) -> None:
        """Listen on `socket_path` (an old socket there is replaced; any other file is not).

        Also raises the process's young-generation GC threshold (`gcpolicy`): with the
        default, a collection landed on one request in about forty."""
        raise_young_threshold()
        path = Path(socket_path)
        try:
            st = path.lstat()
        except FileNotFoundError:
            pass
        else:
            if not stat.S_ISSOCK(st.st_mode):
                raise FileExistsError(f"{path} exists and is not a socket")
            path.unlink()
        self._server = await asyncio.start_unix_server(self._serve, path=str(path),
                                                       limit=_READER_LIMIT)
        os.chmod(path, SOCKET_MODE)
        self._socket_path = path

    async def stop(self) -> None:
        """Stop listening, close open connections, remove the socket file."""
        if self._server is not None:
            self._server.close()
            for writer in list(self._writers):
                writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), timeout=5)
            self._server = None
        if self._socket_path is not None:
            with contextlib.suppress(FileNotFoundError):
                self._socket_path.unlink()
            self._socket_path = None
        if self._flush_timer is not None:
            self._flush_timer.cancel()
            self._flush_timer = None
        self.close_journal()
        # A quiet moment: fold the hop's WAL pages into the database now, so that the
        # automatic checkpoint (two fsyncs) rarely lands inside a later request.
        with contextlib.suppress(Exception):
            self.store.checkpoint()

    def close_journal(self) -> None:
        """Fold the hop's journal into state.db and remove it (`stop()` does this). If the
        database refuses, the journal stays on disk for the next `StateStore.open`."""
        with contextlib.suppress(Exception):
            self.journal.close()

    def _arm_flush(self) -> None:
        """After a reply: make sure pending journal rows reach state.db once the cell has
        been idle for `IDLE_FLUSH_SECONDS` (one timer, re-armed while requests continue)."""
        if self._flush_timer is None and self.journal.pending:
            self._flush_timer = asyncio.get_running_loop().call_later(
                IDLE_FLUSH_SECONDS, self._idle_flush)

    def _idle_flush(self) -> None:
        self._flush_timer = None
        idle = time.monotonic() - self.journal.last_append
        if idle < IDLE_FLUSH_SECONDS:
            self._flush_timer = asyncio.get_running_loop().call_later(
                IDLE_FLUSH_SECONDS - idle, self._idle_flush)
            return
        with contextlib.suppress(Exception):  # left pending (and on disk): retried later
            self.journal.flush()
        self._arm_flush()

    async def wait_finished(self, timeout: float | None = None) -> dict[str, Any] | None:
        """The finish record once the cell finishes (None on timeout)."""
        try:
            await asyncio.wait_for(self.finished.wait(), timeout)
        except TimeoutError:
            return None
        return self.finish_record

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if len(self._writers) >= self.max_connections:
            await self._turn_away(writer)
            return
        self._writers.add(writer)
        try:
            await self._serve_lines(LineReader(reader, max_line=MAX_FRAME,
                                               line_seconds=self.line_seconds), writer)
        except (ConnectionError, OSError):
            pass  # the cell went away; nothing to answer
        except Exception as err:  # one connection's failure stays its own
            self._audit("connection", None, ok=False, code=500,
                        reason=f"connection failed: {type(err).__name__}")
        finally:
            self._writers.discard(writer)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _serve_lines(self, lines: LineReader, writer: asyncio.StreamWriter) -> None:
        while True:
            try:
                item = await lines.next()
            except LineTimedOut:
                writer.write(self._refuse_stalled())
                await writer.drain()
                return
            if item is None:
                return  # closed, perhaps mid-line: a partial request is never acted on
            if isinstance(item, Oversize):
                writer.write(self.refuse_oversize(item.size))
                await writer.drain()
                if not item.complete:
                    return
                continue
            writer.write(self.handle_line(item))
            await writer.drain()
            if self._flush_timer is None:
                self._arm_flush()

    async def _turn_away(self, writer: asyncio.StreamWriter) -> None:
        """One 429 line for a connection over the limit, then close it. Each connection
        may pin up to a frame of host memory; a cell needs one (the SDK's)."""
        reason = f"too many connections to this membrane (at most {self.max_connections})"
        self._audit("connection", None, ok=False, code=429, reason=reason)
        with contextlib.suppress(Exception):
            writer.write(encode_error(None, 429, reason, "too_many_connections"))
            await asyncio.wait_for(writer.drain(), 1)
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()

    def _refuse_stalled(self) -> bytes:
        """The answer (and audit row) for a line left incomplete past the deadline; the
        connection is then closed, and the partial line is never acted on."""
        reason = f"frame not completed within {self.line_seconds:g} s; connection closed"
        self._audit("frame", None, ok=False, code=400, reason=reason)
        return encode_error(None, 400, reason, "frame_timeout")
