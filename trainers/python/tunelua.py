"""tunelua trainer client for Python (stdlib only, Python >= 3.9).

A training script run by the ``tunelua`` engine imports this module, reads its
configuration and reports results; the engine answers each report with a
decision (continue, stop or pause) and may ask for a checkpoint::

    import tunelua as tune

    config = tune.params()                 # this trial's hyperparameters (dict)
    for epoch in range(1, 101):
        acc, loss = train_one_epoch(config)
        tune.report(accuracy=acc, loss=loss)   # raises tune.TrialStopped on stop/pause

The engine starts the script with the environment variables ``TUNELUA_CONNECT``
(``unix:/path/to/socket`` or ``tcp:HOST:PORT``), ``TUNELUA_TOKEN``,
``TUNELUA_TRIAL_ID`` and ``TUNELUA_TRIAL_DIR``. The module connects lazily, on
the first call that needs the engine, and speaks protocol version 1 over one
blocking socket: newline-delimited JSON, one message per line. The messages are
described in ``docs/protocol.md``.

Process behaviour (installed at import):

* A ``TrialStopped`` that propagates out of the script ends the process quietly
  with exit status 0: the engine asked for it.
* Any other uncaught exception is sent to the engine as
  ``{"type": "error", "message": "<Type>: <message>"}`` (best effort), then the
  previous ``sys.excepthook`` prints the traceback and Python exits non-zero.
* At normal interpreter exit, ``{"type": "done"}`` is sent if the script is
  connected and was neither stopped nor failed.

Metric values: JSON has no NaN or infinity, so a float NaN, +inf or -inf is
sent as ``null``. Objects with an ``.item()`` method (numpy scalars, 0-d numpy
arrays, one-element torch tensors) are converted with it, objects with
``.tolist()`` (numpy arrays) with that; other real numbers (``Decimal``,
``Fraction``) become floats; tuples become lists; dictionary keys become
strings. Any other value raises ``TypeError`` naming the metric.

Debugging by hand: without ``TUNELUA_CONNECT``, set ``TUNELUA_PARAMS`` to a JSON
object and run the script directly; ``params()`` returns that object and
``report()`` prints each result as a JSON line on stdout and returns::

    TUNELUA_PARAMS='{"lr": 0.01}' python3 train.py
"""

import atexit
import json
import math
import numbers
import os
import socket
import sys
import threading

__all__ = [
    "PROTOCOL_VERSION",
    "ProtocolError",
    "TrialStopped",
    "params",
    "report",
    "trial_id",
    "trial_dir",
    "restore_dir",
    "should_checkpoint",
    "iteration",
]

PROTOCOL_VERSION = 1

# Largest message either side may send, in bytes, counting the final newline.
MAX_MESSAGE_BYTES = 1 << 20

# Longest error text sent to the engine; keeps an error message far below the limit.
_MAX_ERROR_CHARS = 16 * 1024

_ACTIONS = ("continue", "stop", "pause")

_OUTSIDE_TUNELUA = (
    "tunelua: this script is meant to be run by the tunelua engine "
    "(`tunelua EXPERIMENT.lua`), which sets TUNELUA_CONNECT; "
    "to run it by hand, give its config as JSON in TUNELUA_PARAMS, "
    "e.g. TUNELUA_PARAMS='{\"lr\": 0.01}' python3 %s"
)


class ProtocolError(Exception):
    """The engine refused the trainer, sent something unexpected, or went away.

    When the engine answers with ``{"type": "error", "message": ...}`` the
    exception's message is the engine's text."""


class TrialStopped(Exception):
    """Raised by ``report()`` when the engine's decision is ``stop`` or ``pause``.

    Letting it propagate ends the process with exit status 0 and no traceback.
    ``action`` is ``"stop"`` or ``"pause"``, ``iteration`` the
    ``training_iteration`` of the result that was answered, and ``checkpoint``
    whether the engine asked for a checkpoint with this decision."""

    def __init__(self, action="stop", iteration=None, checkpoint=False):
        super().__init__("trial %s by the tunelua engine (iteration %s)"
                         % ("paused" if action == "pause" else "stopped", iteration))
        self.action = action
        self.iteration = iteration
        self.checkpoint = checkpoint


class Decision:
    """The engine's answer to one report."""

    __slots__ = ("action", "checkpoint", "iteration")

    def __init__(self, action, checkpoint, iteration):
        self.action = action
        self.checkpoint = checkpoint
        self.iteration = iteration

    def __repr__(self):
        return "Decision(action=%r, checkpoint=%r, iteration=%r)" % (
            self.action, self.checkpoint, self.iteration)


# --------------------------------------------------------------------------
# Encoding

# Turns one metric value into something json can encode without NaN; `path`
# names the value in error messages ("metrics.loss", "metrics.hist[3]").
def _to_json_value(value, path):
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _to_json_value(v, "%s.%s" % (path, k)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_json_value(v, "%s[%d]" % (path, i)) for i, v in enumerate(value)]
    item = getattr(value, "item", None)
    if callable(item):
        try:
            plain = item()
        except (TypeError, ValueError):
            plain = value  # an array of several elements: fall through to tolist()
        if plain is not value:
            return _to_json_value(plain, path)
    tolist = getattr(value, "tolist", None)
    if callable(tolist):
        return _to_json_value(tolist(), path)
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Number) and not isinstance(value, numbers.Complex) \
            or isinstance(value, numbers.Real):
        return _to_json_value(float(value), path)  # Decimal, Fraction
    raise TypeError("tunelua: %s has type %s, which cannot be reported "
                    "(use numbers, strings, booleans, lists or dicts)"
                    % (path, type(value).__name__))


def to_json_metrics(metrics):
    """Returns a copy of `metrics` that encodes as strict JSON (see the module doc)."""
    if not isinstance(metrics, dict):
        raise TypeError("tunelua: metrics must be a dict, not %s" % type(metrics).__name__)
    return {str(k): _to_json_value(v, "metrics.%s" % k) for k, v in metrics.items()}


def encode_message(msg):
    """One protocol line: compact UTF-8 JSON plus a newline, within MAX_MESSAGE_BYTES."""
    line = (json.dumps(msg, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
            + "\n").encode("utf-8")
    if len(line) > MAX_MESSAGE_BYTES:
        raise ValueError("tunelua: %s message is %d bytes, more than the protocol's %d"
                         % (msg.get("type"), len(line), MAX_MESSAGE_BYTES))
    return line


# --------------------------------------------------------------------------
# Transport

def parse_address(address):
    """Splits TUNELUA_CONNECT into (family, sockaddr)."""
    if address.startswith("unix:"):
        path = address[len("unix:"):]
        if not path:
            raise ValueError("tunelua: empty socket path in TUNELUA_CONNECT=%r" % address)
        return socket.AF_UNIX, path
    if address.startswith("tcp:"):
        host, sep, port = address[len("tcp:"):].rpartition(":")
        if not sep or not host or not port.isdigit():
            raise ValueError("tunelua: TUNELUA_CONNECT=%r is not tcp:HOST:PORT" % address)
        if host.startswith("[") and host.endswith("]"):  # tcp:[::1]:7000
            host = host[1:-1]
        return None, (host, int(port))
    raise ValueError("tunelua: TUNELUA_CONNECT=%r must start with unix: or tcp:" % address)


class Connection:
    """One blocking socket to the engine with a buffered line reader."""

    def __init__(self, address, connect_timeout=30.0):
        family, where = parse_address(address)
        if family == socket.AF_UNIX:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                sock.connect(where)
            except OSError:
                sock.close()
                raise
        else:
            sock = socket.create_connection(where, timeout=connect_timeout)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.settimeout(None)
        self.sock = sock
        self.reader = sock.makefile("rb")

    def send(self, line):
        """Sends one encoded message (see encode_message)."""
        self.sock.sendall(line)

    def recv(self):
        """The next message (a dict); ProtocolError on EOF or a malformed line."""
        line = self.reader.readline(MAX_MESSAGE_BYTES + 1)
        if not line:
            raise ProtocolError("the tunelua engine closed the connection")
        if not line.endswith(b"\n"):
            if len(line) > MAX_MESSAGE_BYTES:
                raise ProtocolError("message from the engine is longer than %d bytes"
                                    % MAX_MESSAGE_BYTES)
            raise ProtocolError("the tunelua engine closed the connection mid-message")
        try:
            msg = json.loads(line.decode("utf-8"))
        except ValueError as e:
            raise ProtocolError("malformed message from the engine: %s" % e) from None
        if not isinstance(msg, dict) or not isinstance(msg.get("type"), str):
            raise ProtocolError("message from the engine has no type: %r" % (msg,))
        return msg

    def close(self):
        for f in (self.reader.close, self.sock.close):
            try:
                f()
            except OSError:
                pass


# --------------------------------------------------------------------------
# Sessions: one trial's conversation with the engine

class Session:
    """A trial run by the engine: hello/welcome, then reports and decisions.

    All protocol traffic of the process goes through one Session, guarded by a
    lock so that at most one report is outstanding even with several threads.
    States: "new" -> "ready" -> "stopped" | "done" | "failed" | "closed"."""

    def __init__(self, environ):
        self.address = environ["TUNELUA_CONNECT"]
        self.token = environ.get("TUNELUA_TOKEN", "")
        self.trial_id = environ.get("TUNELUA_TRIAL_ID", "")
        self.trial_dir = environ.get("TUNELUA_TRIAL_DIR") or None
        self.config = None
        self.restore = None
        self.iteration = 0
        self.last_decision = None
        self.state = "new"
        self.conn = None
        self.lock = threading.RLock()
        self.pid = os.getpid()  # a forked child must not speak for the trainer
        self.failure = None     # why start() failed, repeated on later calls

    # Connects and exchanges hello/welcome once; later calls return at once,
    # or repeat the first failure.
    def start(self):
        with self.lock:
            if self.state != "new":
                if self.config is None:
                    raise ProtocolError("tunelua: the connection to the engine failed earlier: %s"
                                        % self.failure)
                return
            self.state = "closed"  # until the welcome arrives
            self.failure = "interrupted"
            try:
                self._hello()
            except ProtocolError as e:
                self.failure = str(e)
                raise

    def _hello(self):
        try:
            self.conn = Connection(self.address)
        except OSError as e:
            raise ProtocolError("cannot connect to the tunelua engine at %s: %s"
                                % (self.address, e)) from None
        msg = self._exchange({"type": "hello", "protocol": PROTOCOL_VERSION,
                              "trial": self.trial_id, "token": self.token,
                              "pid": os.getpid()})
        if msg["type"] != "welcome":
            self._close()
            raise ProtocolError("expected welcome from the engine, got %r" % msg["type"])
        config = msg.get("config")
        if not isinstance(config, dict):
            self._close()
            raise ProtocolError("welcome carries no config object")
        if msg.get("trial") not in (None, self.trial_id) and self.trial_id:
            self._close()
            raise ProtocolError("welcome is for trial %r, this is trial %r"
                                % (msg.get("trial"), self.trial_id))
        self.trial_id = msg.get("trial") or self.trial_id
        self.config = config
        restore = msg.get("restore")
        self.restore = restore if isinstance(restore, str) and restore else None
        it = msg.get("iteration")
        self.iteration = it if isinstance(it, int) and not isinstance(it, bool) else 0
        self.state = "ready"

    # Sends one report and waits for its decision.
    def report(self, metrics):
        metrics = to_json_metrics(metrics)
        with self.lock:
            self.start()
            if self.state == "stopped":
                d = self.last_decision
                raise TrialStopped(d.action, d.iteration, d.checkpoint)
            if self.state != "ready":
                raise ProtocolError("tunelua: cannot report, the session is %s" % self.state)
            msg = self._exchange({"type": "report", "metrics": metrics})
            if msg["type"] != "decision":
                self._close()
                raise ProtocolError("expected a decision from the engine, got %r" % msg["type"])
            action = msg.get("action")
            if action not in _ACTIONS:
                self._close()
                raise ProtocolError("unknown action %r in the engine's decision" % (action,))
            it = msg.get("iteration")
            if not isinstance(it, int) or isinstance(it, bool):
                it = self.iteration + 1
            self.iteration = it
            decision = Decision(action, msg.get("checkpoint") is True, it)
            self.last_decision = decision
            if action != "continue":
                self.state = "stopped"
                self._close()
                raise TrialStopped(action, it, decision.checkpoint)
            return decision

    # Tells the engine the trainer finished by itself; no reply.
    def done(self):
        with self.lock:
            if self.state == "ready" and os.getpid() == self.pid:
                self.state = "done"
                try:
                    self._send({"type": "done"})
                except ProtocolError:
                    pass
                self._close()

    # Tells the engine the training code failed; best effort, never raises.
    def fail(self, message):
        with self.lock:
            if self.state in ("ready", "new") and os.getpid() == self.pid:
                if self.state == "new":  # failed before ever talking to the engine
                    self.state = "failed"
                    return
                self.state = "failed"
                try:
                    self._send({"type": "error", "message": message[:_MAX_ERROR_CHARS]})
                except (ProtocolError, ValueError):
                    pass
                self._close()

    # Sends a request and returns its reply. If anything interrupts the wait
    # (KeyboardInterrupt, a signal handler raising), the reply can no longer be
    # matched to its request, so the connection is closed rather than reused.
    def _exchange(self, msg):
        line = encode_message(msg)  # a message too large fails here, harmlessly
        answered = False
        try:
            self._send_line(line)
            reply = self._recv()
            answered = True
            return reply
        finally:
            if not answered:
                self._close()

    def _send(self, msg):
        self._send_line(encode_message(msg))

    def _send_line(self, line):
        try:
            self.conn.send(line)
        except OSError as e:
            self._close()
            raise ProtocolError("lost the connection to the tunelua engine: %s" % e) from None

    # The next message; an engine "error" message becomes ProtocolError(its text).
    def _recv(self):
        try:
            msg = self.conn.recv()
        except OSError as e:
            self._close()
            raise ProtocolError("lost the connection to the tunelua engine: %s" % e) from None
        except ProtocolError:
            self._close()
            raise
        if msg["type"] == "error":
            self._close()
            raise ProtocolError(str(msg.get("message") or "the tunelua engine reported an error"))
        return msg

    def _close(self):
        if self.state in ("new", "ready"):
            self.state = "closed"
        if self.conn is not None:
            self.conn.close()
            self.conn = None


class StandaloneSession:
    """A script run by hand with TUNELUA_PARAMS: reports are printed, never stopped."""

    def __init__(self, environ):
        raw = environ["TUNELUA_PARAMS"]
        try:
            config = json.loads(raw)
        except ValueError as e:
            raise RuntimeError("tunelua: TUNELUA_PARAMS is not valid JSON: %s" % e) from None
        if not isinstance(config, dict):
            raise RuntimeError("tunelua: TUNELUA_PARAMS must be a JSON object")
        self.config = config
        self.trial_id = environ.get("TUNELUA_TRIAL_ID") or "standalone"
        self.trial_dir = environ.get("TUNELUA_TRIAL_DIR") or os.getcwd()
        self.restore = None
        self.iteration = 0
        self.last_decision = None
        self.lock = threading.RLock()

    def start(self):
        pass

    def report(self, metrics):
        metrics = to_json_metrics(metrics)
        with self.lock:
            self.iteration += 1
            line = json.dumps(dict(metrics, training_iteration=self.iteration),
                              allow_nan=False, ensure_ascii=False)
            print("[tunelua] report %s" % line, flush=True)
            self.last_decision = Decision("continue", False, self.iteration)
            return self.last_decision

    def done(self):
        pass

    def fail(self, message):
        pass


_session = None
_session_lock = threading.Lock()


def _get_session():
    """The process's session, made on first use from the environment."""
    global _session
    with _session_lock:
        if _session is None:
            if os.environ.get("TUNELUA_CONNECT"):
                _session = Session(os.environ)
            elif os.environ.get("TUNELUA_PARAMS") is not None:
                _session = StandaloneSession(os.environ)
            else:
                script = sys.argv[0] if sys.argv and sys.argv[0] else "your_script.py"
                raise RuntimeError(_OUTSIDE_TUNELUA % script)
        return _session


def _started_session():
    s = _get_session()
    s.start()
    return s


# --------------------------------------------------------------------------
# Function API

def params():
    """This trial's configuration (a dict); connects to the engine on first use."""
    return _started_session().config


def report(*args, **metrics):
    """Reports one result and waits for the engine's decision.

    Accepts keyword metrics, ``report(accuracy=0.9, loss=0.3)``, or one dict,
    ``report({"accuracy": 0.9})`` (keywords are merged over it). Returns None
    when the trial continues; raises TrialStopped when the engine stops or
    pauses it, ProtocolError when the engine answers with an error."""
    if len(args) > 1:
        raise TypeError("tunelua.report() takes at most one positional argument (a dict)")
    if args:
        if not isinstance(args[0], dict):
            raise TypeError("tunelua.report() positional argument must be a dict, not %s"
                            % type(args[0]).__name__)
        metrics = dict(args[0], **metrics)
    _get_session().report(metrics)


def trial_id():
    """This trial's id."""
    s = _get_session()
    return s.trial_id or _started_session().trial_id


def trial_dir():
    """This trial's own directory (TUNELUA_TRIAL_DIR); the current directory when run by hand."""
    return _get_session().trial_dir


def restore_dir():
    """The checkpoint directory this run should restore from, or None for a fresh start."""
    return _started_session().restore


def iteration():
    """How many results this trial has reported so far, over all its runs."""
    return _started_session().iteration


def should_checkpoint():
    """Whether the last decision asked for a checkpoint; False before any report."""
    s = _session
    d = s.last_decision if s is not None else None
    return bool(d is not None and d.checkpoint)


# --------------------------------------------------------------------------
# Process integration

def _format_error(exc_type, exc):
    text = str(exc)
    name = getattr(exc_type, "__name__", str(exc_type))
    return "%s: %s" % (name, text) if text else name


_previous_excepthook = sys.excepthook


def _excepthook(exc_type, exc, tb):
    if exc_type is not None and issubclass(exc_type, TrialStopped):
        # Raising SystemExit from the hook makes the interpreter exit with that
        # status after normal finalization (atexit handlers, stdio flush).
        raise SystemExit(0)
    s = _session
    if s is not None:
        try:
            s.fail(_format_error(exc_type, exc))
        except Exception:  # never hide the user's traceback behind ours
            pass
    _previous_excepthook(exc_type, exc, tb)


def _at_exit():
    s = _session
    if s is not None:
        try:
            s.done()
        except Exception:
            pass


sys.excepthook = _excepthook
atexit.register(_at_exit)
