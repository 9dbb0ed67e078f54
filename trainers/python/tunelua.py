"""tunelua trainer client for Python (stdlib only, Python >= 3.9).

A training script run by the ``tunelua`` engine imports this module, reads its
configuration and reports results; the engine answers each report with a
decision (continue, stop, pause, or reset) and may ask for a checkpoint.

Function API (the script drives)::

    import tunelua as tune

    config = tune.params()                 # this trial's hyperparameters (dict)
    start = load(tune.restore_dir()) if tune.restore_dir() else 0
    for epoch in range(start, 100):
        acc, loss = train_one_epoch(config)
        tune.report(accuracy=acc, loss=loss)   # raises tune.TrialStopped on stop/pause
        if tune.should_checkpoint():
            d = tune.checkpoint_dir()          # fresh tmp- directory in the trial dir
            save(model, d)
            tune.record_checkpoint(d)          # the engine renames it; returns the path

Class API (the engine drives)::

    class Model(tune.Trainable):
        def setup(self, config): ...
        def step(self): return {"accuracy": ...}
        def save_checkpoint(self, dir): ...
        def load_checkpoint(self, dir): ...
        def reset_config(self, new_config): return True   # optional (PBT reuse)
    if __name__ == "__main__":
        tune.run(Model)

The engine starts the script with the environment variables ``TUNELUA_CONNECT``
(``unix:/path/to/socket`` or ``tcp:HOST:PORT``), ``TUNELUA_TOKEN``,
``TUNELUA_TRIAL_ID`` and ``TUNELUA_TRIAL_DIR``. The module connects lazily, on
the first call that needs the engine, and speaks protocol version 1 over one
blocking socket: newline-delimited JSON, one message per line. The messages are
described in ``docs/protocol.md``; the user guide is ``docs/trainers.md``.

Stop and pause: without a checkpoint request, ``report()`` raises
``TrialStopped`` at once. When the decision also asks for a checkpoint,
``report()`` returns normally and ``should_checkpoint()`` is true, so the
script saves as usual; ``record_checkpoint()`` then raises ``TrialStopped``
once the engine has recorded the checkpoint, and so does the next ``report()``
(which sends nothing) if the script does not checkpoint.

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
``report()`` prints each result as a JSON line on stdout and returns. Optional
``TUNELUA_RESTORE`` (a checkpoint directory) and ``TUNELUA_SHARED`` (a JSON
object name -> path) stand in for the engine's ``restore`` and ``shared``::

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
    "Trainable",
    "params",
    "report",
    "trial_id",
    "trial_dir",
    "restore_dir",
    "should_checkpoint",
    "checkpoint_dir",
    "record_checkpoint",
    "iteration",
    "shared",
    "run",
]

PROTOCOL_VERSION = 1

# Largest message either side may send, in bytes, counting the final newline.
MAX_MESSAGE_BYTES = 1 << 20

# Longest error text sent to the engine; keeps an error message far below the limit.
_MAX_ERROR_CHARS = 16 * 1024

_ACTIONS = ("continue", "stop", "pause", "reset")

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
    """The engine's decision was ``stop`` or ``pause``: the trainer should end.

    Raised by ``report()`` at once when the decision asks for no checkpoint;
    when it does, by ``record_checkpoint()`` after the engine recorded it, or
    by the next ``report()``. Letting it propagate ends the process with exit
    status 0 and no traceback. ``action`` is ``"stop"`` or ``"pause"``,
    ``iteration`` the ``training_iteration`` of the result that was answered,
    and ``checkpoint`` whether the engine asked for a checkpoint with it."""

    def __init__(self, action="stop", iteration=None, checkpoint=False):
        super().__init__("trial %s by the tunelua engine (iteration %s)"
                         % ("paused" if action == "pause" else "stopped", iteration))
        self.action = action
        self.iteration = iteration
        self.checkpoint = checkpoint


class Decision:
    """The engine's answer to one report. ``config`` and ``restore`` are set for
    a ``reset`` decision only."""

    __slots__ = ("action", "checkpoint", "iteration", "config", "restore")

    def __init__(self, action, checkpoint, iteration, config=None, restore=None):
        self.action = action
        self.checkpoint = checkpoint
        self.iteration = iteration
        self.config = config
        self.restore = restore

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

def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def _check_checkpoint_path(path, trial_dir):
    """The absolute path of a checkpoint directory about to be recorded."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError("tunelua.record_checkpoint() takes a directory path, not %s"
                        % type(path).__name__)
    path = os.path.abspath(os.fspath(path))
    if not os.path.isdir(path):
        raise ValueError("tunelua: checkpoint %s is not an existing directory" % path)
    if trial_dir:
        root = os.path.realpath(trial_dir)
        real = os.path.realpath(path)
        if os.path.commonpath([root, real]) != root or real == root:
            raise ValueError("tunelua: checkpoint %s is not inside the trial directory %s "
                             "(make it with tunelua.checkpoint_dir())" % (path, trial_dir))
    return path


def _early_welcome(raw):
    """The welcome in TUNELUA_WELCOME (a dict), or None when there is none to trust."""
    try:
        msg = json.loads(raw) if raw else None
    except ValueError:
        return None
    ok = isinstance(msg, dict) and msg.get("type") == "welcome"
    return msg if ok and isinstance(msg.get("config"), dict) else None


class Session:
    """A trial run by the engine: hello/welcome, then reports and decisions.

    All protocol traffic of the process goes through one Session, guarded by a
    lock so that at most one request is outstanding even with several threads.
    States: "new" -> "ready" -> "stopping" (a stop/pause that asked for a
    checkpoint: the connection stays open for it) -> "stopped" | "done" |
    "failed" | "closed"."""

    def __init__(self, environ):
        self.address = environ["TUNELUA_CONNECT"]
        self.token = environ.get("TUNELUA_TOKEN", "")
        self.trial_id = environ.get("TUNELUA_TRIAL_ID", "")
        self.trial_dir = environ.get("TUNELUA_TRIAL_DIR") or None
        self.api = "function"
        self.reuse = False
        self.config = None
        self.restore = None
        self.shared = {}
        self.iteration = 0
        self.last_decision = None
        self.checkpoint_pending = False  # a decision asked, nothing recorded since
        self.state = "new"
        self.conn = None
        self.lock = threading.RLock()
        self.pid = os.getpid()  # a forked child must not speak for the trainer
        self.failure = None     # why start() failed, repeated on later calls
        self.welcome_env = environ.get("TUNELUA_WELCOME")
        self.owed = False       # the welcome taken from TUNELUA_WELCOME is still on the socket

    # Sets what hello says about the client; only before it is sent.
    def configure(self, api, reuse):
        with self.lock:
            if self.state == "new":
                self.api, self.reuse = api, bool(reuse)
            elif (self.api, self.reuse) != (api, bool(reuse)):
                raise RuntimeError("tunelua.run() must come before any other tunelua call "
                                   "(the connection was opened for the %s API)" % self.api)

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
        hello = {"type": "hello", "protocol": PROTOCOL_VERSION, "trial": self.trial_id,
                 "token": self.token, "pid": os.getpid(), "api": self.api}
        if self.api == "class":
            hello["reuse"] = self.reuse
        # the engine put the welcome it is about to send in TUNELUA_WELCOME: the process it
        # started (a session leader; not a child of it, which may come after other reports)
        # starts on that copy, and reads and checks the one on the socket before its first
        # decision
        msg = _early_welcome(self.welcome_env) if os.getsid(0) == os.getpid() else None
        if msg is None:
            msg = self._exchange(hello)
        else:
            self._send(hello)
            self.owed = True
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
        self.iteration = it if _is_int(it) else 0
        if not self.trial_dir and isinstance(msg.get("trial_dir"), str):
            self.trial_dir = msg["trial_dir"] or None
        shared = msg.get("shared")
        if isinstance(shared, dict):
            self.shared = {str(k): v for k, v in shared.items() if isinstance(v, str)}
        self.state = "ready"

    def _stopped(self):
        d = self.last_decision
        return TrialStopped(d.action, d.iteration, d.checkpoint)

    # Sends one report and waits for its decision. On stop/pause: with
    # raise_stop, raises TrialStopped unless a checkpoint was asked for;
    # without, returns the decision in every case (the class adapter).
    def report(self, metrics, raise_stop=True):
        metrics = to_json_metrics(metrics)
        with self.lock:
            self.start()
            if self.state == "stopping":  # the script went on without checkpointing
                self.state = "stopped"
                self._close()
            if self.state == "stopped":
                raise self._stopped()
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
            if not _is_int(it):
                it = self.iteration + 1
            self.iteration = it
            decision = Decision(action, msg.get("checkpoint") is True, it)
            if action == "reset":
                if not self.reuse:
                    self._close()
                    raise ProtocolError("the engine sent a reset decision to a trainer that "
                                        "did not offer reuse (only tunelua.run() with a "
                                        "Trainable that defines reset_config can take one)")
                config, restore = msg.get("config"), msg.get("restore")
                if not isinstance(config, dict) or not (restore is None
                                                        or isinstance(restore, str)):
                    self._close()
                    raise ProtocolError("reset decision without a config object "
                                        "and a restore path or null")
                decision.config, decision.restore = config, restore or None
            self.last_decision = decision
            self.checkpoint_pending = decision.checkpoint
            if action in ("stop", "pause"):
                if decision.checkpoint:
                    self.state = "stopping"
                else:
                    self.state = "stopped"
                    self._close()
                    if raise_stop:
                        raise self._stopped()
            return decision

    # Records a checkpoint directory; returns the engine's final path. After a
    # stop/pause that asked for it, closes and (with raise_stop) raises TrialStopped.
    def record(self, path, raise_stop=True):
        with self.lock:
            self.start()
            path = _check_checkpoint_path(path, self.trial_dir)
            if self.state == "stopped":
                raise self._stopped()
            if self.state not in ("ready", "stopping"):
                raise ProtocolError("tunelua: cannot record a checkpoint, the session is %s"
                                    % self.state)
            msg = self._exchange({"type": "checkpoint", "path": path})
            if msg["type"] != "checkpoint_ok":
                self._close()
                raise ProtocolError("expected checkpoint_ok from the engine, got %r"
                                    % msg["type"])
            final = msg.get("path")
            if not isinstance(final, str) or not final:
                self._close()
                raise ProtocolError("checkpoint_ok carries no path")
            self.checkpoint_pending = False
            if self.state == "stopping":
                self.state = "stopped"
                self._close()
                if raise_stop:
                    raise self._stopped()
            return final

    # Answers a reset decision; after ok=False the trainer ends.
    def reset_done(self, ok):
        with self.lock:
            self._send({"type": "reset_done", "ok": bool(ok)})
            if not ok:
                self.state = "stopped"
                self._close()

    # The trainer ended by itself: done if connected, else just close.
    def finish(self):
        with self.lock:
            if self.state == "ready":
                self.done()
            elif self.state == "stopping":
                self.state = "stopped"
                self._close()

    # Tells the engine the trainer finished by itself; no reply.
    def done(self):
        with self.lock:
            if os.getpid() != self.pid:
                return
            if self.state == "ready":
                self.state = "done"
                try:
                    self._send({"type": "done"})
                except ProtocolError:
                    pass
                self._close()
            elif self.state == "stopping":  # stopped; the checkpoint never came
                self.state = "stopped"
                self._close()

    # Tells the engine the training code failed; best effort, never raises.
    def fail(self, message):
        with self.lock:
            if self.state in ("ready", "stopping", "new") and os.getpid() == self.pid:
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
        if self.conn is None:
            raise ProtocolError("tunelua: the connection to the engine is closed")
        try:
            self.conn.send(line)
        except OSError as e:
            why = "lost the connection to the tunelua engine: %s" % e
            if self.owed:  # the engine may have refused the hello: its error says why
                try:
                    msg = self.conn.recv()
                    if msg.get("type") == "error":
                        why = str(msg.get("message") or why)
                except (OSError, ProtocolError):
                    pass
            self._close()
            raise ProtocolError(why) from None

    # The next message; an engine "error" message becomes ProtocolError(its text).
    def _recv(self):
        if self.owed:
            self.owed = False
            # its config and restore must be those this process started on; its iteration
            # is taken (another process of the trial may have reported in between)
            msg = self._recv()
            if (msg["type"] != "welcome" or msg.get("config") != self.config
                    or (msg.get("restore") or None) != self.restore):
                self._close()
                raise ProtocolError("the engine's welcome differs from TUNELUA_WELCOME, which "
                                    "this process started on: %.200s" % json.dumps(msg))
            if _is_int(msg.get("iteration")):
                self.iteration = msg["iteration"]
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
        if self.state in ("new", "ready", "stopping"):
            self.state = "closed"
        if self.conn is not None:
            self.conn.close()
            self.conn = None


class StandaloneSession:
    """A script run by hand with TUNELUA_PARAMS: reports are printed, never
    stopped; checkpoints are renamed as the engine would."""

    def __init__(self, environ):
        self.config = self._json_object(environ, "TUNELUA_PARAMS")
        self.shared = {str(k): str(v) for k, v in
                       self._json_object(environ, "TUNELUA_SHARED", {}).items()}
        self.trial_id = environ.get("TUNELUA_TRIAL_ID") or "standalone"
        self.trial_dir = environ.get("TUNELUA_TRIAL_DIR") or os.getcwd()
        self.restore = environ.get("TUNELUA_RESTORE") or None
        self.iteration = 0
        self.last_decision = None
        self.checkpoint_pending = False
        self.lock = threading.RLock()

    @staticmethod
    def _json_object(environ, name, default=None):
        raw = environ.get(name)
        if raw is None:
            return default
        try:
            value = json.loads(raw)
        except ValueError as e:
            raise RuntimeError("tunelua: %s is not valid JSON: %s" % (name, e)) from None
        if not isinstance(value, dict):
            raise RuntimeError("tunelua: %s must be a JSON object" % name)
        return value

    def configure(self, api, reuse):
        pass

    def start(self):
        pass

    def report(self, metrics, raise_stop=True):
        metrics = to_json_metrics(metrics)
        with self.lock:
            self.iteration += 1
            line = json.dumps(dict(metrics, training_iteration=self.iteration),
                              allow_nan=False, ensure_ascii=False)
            print("[tunelua] report %s" % line, flush=True)
            self.last_decision = Decision("continue", False, self.iteration)
            return self.last_decision

    def record(self, path, raise_stop=True):
        with self.lock:
            path = _check_checkpoint_path(path, self.trial_dir)
            base = os.path.join(self.trial_dir, "checkpoints",
                                "checkpoint_%06d" % self.iteration)
            final, n = base, 1
            while os.path.exists(final):
                n += 1
                final = "%s-%d" % (base, n)
            os.rename(path, final)
            print("[tunelua] checkpoint %s" % final, flush=True)
            return final

    def reset_done(self, ok):
        pass

    def finish(self):
        pass

    def done(self):
        pass

    def fail(self, message):
        pass


_session = None
_session_lock = threading.Lock()
_ckpt_counter = [0]


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
    when the trial continues. On ``stop`` or ``pause`` it raises TrialStopped,
    unless the decision also asked for a checkpoint: then it returns, and
    ``record_checkpoint()`` (or the next ``report()``) raises TrialStopped.
    Raises ProtocolError when the engine answers with an error."""
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
    s = _get_session()
    return s.trial_dir or _started_session().trial_dir


def restore_dir():
    """The checkpoint directory this run should restore from, or None for a fresh start."""
    return _started_session().restore


def iteration():
    """How many results this trial has reported so far, over all its runs."""
    return _started_session().iteration


def should_checkpoint():
    """Whether the last decision asked for a checkpoint that has not been
    recorded yet; False before any report."""
    s = _session
    return bool(s is not None and s.checkpoint_pending)


def checkpoint_dir():
    """Makes and returns a fresh, empty directory for a checkpoint:
    ``TUNELUA_TRIAL_DIR/checkpoints/tmp-<iteration>-<pid>-<n>``. Write the
    checkpoint's files into it, then pass it to ``record_checkpoint()``."""
    s = _started_session()
    base = s.trial_dir
    if not base:
        raise RuntimeError("tunelua: no trial directory (TUNELUA_TRIAL_DIR is not set)")
    root = os.path.join(os.path.abspath(base), "checkpoints")
    os.makedirs(root, exist_ok=True)
    with s.lock:
        while True:
            _ckpt_counter[0] += 1
            path = os.path.join(root, "tmp-%d-%d-%d"
                                % (s.iteration, os.getpid(), _ckpt_counter[0]))
            try:
                os.mkdir(path)
            except FileExistsError:
                continue
            return path


def record_checkpoint(path):
    """Records a saved checkpoint directory (made by ``checkpoint_dir()``) with the
    engine, which renames it to ``checkpoints/checkpoint_<iteration>``; returns
    that final path. After a stop or pause that asked for this checkpoint, it
    raises TrialStopped once the checkpoint is recorded."""
    return _get_session().record(path)


def shared(name):
    """The read-only path of the experiment's shared object `name` (``tune.share``
    in the experiment file). KeyError, naming those that exist, when there is none."""
    s = _started_session()
    try:
        return s.shared[name]
    except KeyError:
        names = ", ".join(sorted(s.shared)) or "none"
        raise KeyError("tunelua: no shared object %r (this experiment shares: %s)"
                       % (name, names)) from None


# --------------------------------------------------------------------------
# Class API

class Trainable:
    """Base class of an engine-driven trainer; run it with ``tunelua.run(Cls)``.

    Override ``setup`` and ``step``; for checkpoints ``save_checkpoint`` and
    ``load_checkpoint``; for PBT without a new process ``reset_config``. The
    adapter sets ``config``, ``iteration`` (results reported so far),
    ``trial_id`` and ``trial_dir`` before ``setup`` and keeps them current."""

    config = None
    iteration = 0
    trial_id = None
    trial_dir = None

    def setup(self, config):
        """Called once with the trial's config, before any step."""

    def step(self):
        """One unit of training; returns the result to report (a dict). A result
        with ``"done": True`` ends the trial after it is reported (``done`` itself
        is not sent as a metric)."""
        raise NotImplementedError("%s.step() is not defined" % type(self).__name__)

    def save_checkpoint(self, checkpoint_dir):
        """Writes the state into the existing, empty directory `checkpoint_dir`.
        Not overridden: the engine's checkpoint requests are ignored."""

    def load_checkpoint(self, checkpoint_dir):
        """Restores the state that save_checkpoint wrote into `checkpoint_dir`."""

    def reset_config(self, new_config):
        """Applies a new config in place (a PBT exploit); True on success. The
        base class returns False: the engine then starts a new process."""
        return False

    def cleanup(self):
        """Called once when the trial ends (stopped, paused, done, or failed)."""


def _overrides(cls, name):
    return getattr(cls, name, None) is not getattr(Trainable, name)


def _save(obj, s):
    if not _overrides(type(obj), "save_checkpoint"):
        return None
    d = checkpoint_dir()
    obj.save_checkpoint(d)
    return s.record(d, raise_stop=False)


def _run_class(cls):
    s = _get_session()
    s.configure("class", _overrides(cls, "reset_config"))
    s.start()
    obj = cls()
    obj.config, obj.iteration = s.config, s.iteration
    obj.trial_id, obj.trial_dir = s.trial_id, s.trial_dir
    try:
        obj.setup(s.config)
        if s.restore:
            obj.load_checkpoint(s.restore)
        while True:
            result = obj.step()
            if not isinstance(result, dict):
                raise TypeError("%s.step() must return a dict of metrics, not %s"
                                % (cls.__name__, type(result).__name__))
            metrics = dict(result)
            finished = bool(metrics.pop("done", False))
            d = s.report(metrics, raise_stop=False)
            obj.iteration = d.iteration
            if d.checkpoint:
                _save(obj, s)
            if d.action in ("stop", "pause"):
                s.finish()
                break
            if d.action == "reset":
                if obj.reset_config(d.config):
                    obj.config = s.config = d.config
                    s.restore = d.restore
                    if d.restore:
                        obj.load_checkpoint(d.restore)
                    s.reset_done(True)
                    continue
                s.reset_done(False)
                break
            if finished:
                s.finish()
                break
    except BaseException:
        try:
            obj.cleanup()
        except Exception:
            pass
        raise
    obj.cleanup()


def _run_function(fn):
    s = _get_session()
    s.configure("function", False)
    config = params()
    try:
        value = fn(config)
    except TrialStopped:
        return None
    s.finish()
    return value


def run(trainable):
    """Runs a trainer and returns when the trial ends (the script should then exit).

    ``run(Cls)`` with a Trainable subclass: the engine drives setup, step,
    save_checkpoint/load_checkpoint, reset_config and cleanup. ``run(fn)``
    with a function ``fn(config)``: calls it as a function-API trainer (it
    reports with ``tunelua.report``) and returns its value, or None when the
    trial was stopped or paused."""
    if isinstance(trainable, type):
        if not issubclass(trainable, Trainable):
            raise TypeError("tunelua.run() takes a tunelua.Trainable subclass or a "
                            "function, not the class %s" % trainable.__name__)
        return _run_class(trainable)
    if callable(trainable):
        return _run_function(trainable)
    raise TypeError("tunelua.run() takes a tunelua.Trainable subclass or a function, not %s"
                    % type(trainable).__name__)


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
