"""flint's managed runtime client for Python (python3.9 .. python3.14 runtime ids).

This is flint's own implementation of what AWS's `awslambdaric` does inside the
managed Python runtimes: load the handler named by `_HANDLER`, then loop on the
Lambda Runtime API (`GET /runtime/invocation/next`, `POST .../response|error`).
It uses the standard library only, so it runs on whatever Python 3.9+ the host
provides, and it reproduces the observable behaviour of the real runtime: error
bodies, error types and messages, the context object, log line formats and the
quirks functions have come to rely on. Comments marked "Lambda quirk" point at
behaviour that looks odd but is what the real runtime does.

The runtime starts as `python -u /var/runtime/bootstrap.py`, a two-line
script that imports this module: Python compiles a script from source on every
start (~12 ms for this file) but loads an imported module's bytecode from
`__pycache__`, which flint writes when it materialises the runtime dir (it is
read-only inside the sandbox). Stack traces drop the leading frames that come
from either file, exactly like awslambdaric drops its own, so users see their
own frames only.
"""

# Imports are kept to what the warm path needs: every module imported here
# is paid for on each cold start (secrets, urllib.parse and decimal are
# deliberately avoided).
import json
import logging
import os
import socket
import sys
import time
import traceback

# --------------------------------------------------------------------------
# Constants
# --------------------------------------------------------------------------

_RUNTIME_API_PREFIX = "/2018-06-01/runtime"
# The runtime's own source files (see the module docstring).
_OWN_FILES = ("/bootstrap.py", "/_flint_bootstrap.py")
_ERROR_TYPE_HEADER = "Lambda-Runtime-Function-Error-Type"
_XRAY_CAUSE_HEADER = "Lambda-Runtime-Function-XRay-Error-Cause"
_USER_AGENT = "aws-lambda-python/%d.%d.%d-flint" % sys.version_info[:3]

# Lambda quirk: error logs written to stdout join their lines with '\r' so
# that the line-oriented log capture keeps a whole traceback in one record,
# and traceback indentation uses NO-BREAK SPACE (U+00A0) so that log viewers
# do not strip it.
_ERROR_LOG_LINE_TERMINATE = "\r"
_ERROR_LOG_IDENT = "\u00a0"

_LAMBDA_WARNING = (
    "LAMBDA_WARNING: "
    "Unhandled exception. "
    "The most likely cause is an issue in the function code. "
    "However, in rare cases, a Lambda runtime update can cause unexpected function behavior. "
    "For functions using managed runtimes, runtime updates can be triggered by a function change, "
    "or can be applied automatically. "
    "To determine if the runtime has been updated, check the runtime version in the INIT_START log entry. "
    "If this error correlates with a change in the runtime version, you may be able to mitigate this "
    "error by temporarily rolling back to the previous runtime version. "
    "For more information, see https://docs.aws.amazon.com/lambda/latest/dg/runtimes-update.html"
)

_DATETIME_FORMAT = "%Y-%m-%dT%H:%M:%S"
_JSON_DATETIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"

# Frame types of the telemetry log fd (facts §3.7).
_TEXT_FRAME_TYPES = {
    logging.NOTSET: 0xA55A0003,
    logging.DEBUG: 0xA55A000B,
    logging.INFO: 0xA55A000F,
    logging.WARNING: 0xA55A0013,
    logging.ERROR: 0xA55A0017,
    logging.CRITICAL: 0xA55A001B,
}
_JSON_FRAME_TYPES = {
    logging.NOTSET: 0xA55A0002,
    logging.DEBUG: 0xA55A000A,
    logging.INFO: 0xA55A000E,
    logging.WARNING: 0xA55A0012,
    logging.ERROR: 0xA55A0016,
    logging.CRITICAL: 0xA55A001A,
}



def _log_settings():
    """(JSON format?, application log level) from the environment."""
    level = os.environ.get("AWS_LAMBDA_LOG_LEVEL")
    # Lambda quirk: TRACE does not exist in Python logging; the runtime maps it to DEBUG.
    level = {None: "", "TRACE": "DEBUG"}.get(level, level or "").upper()
    return os.environ.get("AWS_LAMBDA_LOG_FORMAT", "").upper() == "JSON", level


# Set again by main() once the function's environment is known (see _receive_function).
_LOG_FORMAT_JSON, _LOG_LEVEL = _log_settings()

_GLOBAL_AWS_REQUEST_ID = None
_GLOBAL_TENANT_ID = None


class FaultException(Exception):
    """A failure the runtime reports with a `Runtime.*` error type."""

    MARSHAL_ERROR = "Runtime.MarshalError"
    UNMARSHAL_ERROR = "Runtime.UnmarshalError"
    USER_CODE_SYNTAX_ERROR = "Runtime.UserCodeSyntaxError"
    HANDLER_NOT_FOUND = "Runtime.HandlerNotFound"
    IMPORT_MODULE_ERROR = "Runtime.ImportModuleError"
    BUILT_IN_MODULE_CONFLICT = "Runtime.BuiltInModuleConflict"
    MALFORMED_HANDLER_NAME = "Runtime.MalformedHandlerName"
    LAMBDA_CONTEXT_UNMARSHAL_ERROR = "Runtime.LambdaContextUnmarshalError"

    def __init__(self, exception_type, msg, trace=None):
        super().__init__(msg)
        self.msg = msg
        self.exception_type = exception_type
        self.trace = trace


# --------------------------------------------------------------------------
# JSON marshalling
# --------------------------------------------------------------------------


def _ensure_ascii():
    # Lambda quirk: awslambdaric turns off ensure_ascii (emitting raw UTF-8
    # instead of \uXXXX escapes) only for python3.12; flint applies it to
    # 3.12 and every later runtime id, older ids keep the escapes.
    env = os.environ.get("AWS_EXECUTION_ENV", "")
    prefix = "AWS_Lambda_python3."
    if env.startswith(prefix):
        try:
            return int(env[len(prefix):]) < 12
        except ValueError:
            return True
    return True


# Set by main() once the function's environment is known.
_ENSURE_ASCII = True


class _Encoder(json.JSONEncoder):
    """JSON encoder that writes `decimal.Decimal` as an exact JSON number.

    awslambdaric uses simplejson with RawJSON(str(decimal)) so that values read
    from DynamoDB through boto3 (which are Decimals) serialise losslessly. The
    standard library has no raw-JSON hook, so each Decimal is encoded as a
    unique placeholder string which is replaced by its digits afterwards.
    """

    def __init__(self):
        super().__init__(ensure_ascii=_ENSURE_ASCII)
        self._raw = {}
        self._nonce = None

    def default(self, o):
        # A Decimal can only exist if something imported the module, so
        # there is no need to import it (and pay for it) here.
        decimal = sys.modules.get("decimal")
        if decimal is not None and isinstance(o, decimal.Decimal):
            if o.is_nan():
                return float("nan")
            if self._nonce is None:
                self._nonce = os.urandom(8).hex()
            token = "\x00flint-decimal-%s-%d\x00" % (self._nonce, len(self._raw))
            self._raw[json.dumps(token)] = str(o)
            return token
        return super().default(o)

    def encode(self, o):
        self._raw = {}
        out = super().encode(o)
        for quoted, digits in self._raw.items():
            out = out.replace(quoted, digits)
        return out


def to_json(obj):
    return _Encoder().encode(obj)


def unmarshal_request(body, content_type):
    # The real runtime passes the raw bytes through when the invoke was not
    # JSON. A missing Content-Type is treated as JSON (the platform default).
    if content_type not in (None, "", "application/json"):
        return body
    try:
        return json.loads(body)
    except Exception as e:
        raise FaultException(
            FaultException.UNMARSHAL_ERROR,
            "Unable to unmarshal input: {}".format(str(e)),
            None,
        )


def marshal_response(response):
    # Lambda quirk: bytes are sent unchanged with this odd content type.
    if isinstance(response, bytes):
        return response, "application/unknown"
    try:
        return to_json(response).encode("utf-8"), "application/json"
    except Exception as e:
        raise FaultException(
            FaultException.MARSHAL_ERROR,
            "Unable to marshal response: {}".format(str(e)),
            None,
        )


# --------------------------------------------------------------------------
# Runtime API client: one persistent HTTP/1.1 connection
# --------------------------------------------------------------------------


_UNRESERVED = frozenset(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~"
)


def _quote(value):
    """Percent-encode a request id for a URL path segment."""
    if _UNRESERVED.issuperset(value):
        return value
    return "".join(
        c if c in _UNRESERVED else "".join("%%%02X" % b for b in c.encode("utf-8"))
        for c in value
    )


class RuntimeApiError(Exception):
    pass


class InvocationRequest(object):
    __slots__ = (
        "invoke_id",
        "x_amzn_trace_id",
        "invoked_function_arn",
        "deadline_time_in_ms",
        "client_context",
        "cognito_identity",
        "tenant_id",
        "content_type",
        "event_body",
    )


class _HttpConnection(object):
    """A minimal HTTP/1.1 keep-alive client for the Runtime API.

    http.client costs noticeably per request on the warm path (it parses
    headers with the email package and sends a POST's head and body in two
    writes). This client writes each request with one sendall() on a
    TCP_NODELAY socket and parses just what the Runtime API returns:
    Content-Length or chunked bodies.
    """

    def __init__(self, address):
        host, sep, port = address.rpartition(":")
        if not sep or not port.isdigit():
            host, port = address, "80"
        self.host = host.strip("[]")
        self.port = int(port)
        self.host_header = address
        self.sock = None
        self.rfile = None

    def connect(self):
        # No timeout: GET /next long-polls for as long as the environment is idle.
        if _is_ipv4(self.host):
            # A numeric address (flint's is 127.0.0.1:9001) needs no resolver, and
            # create_connection's getaddrinfo would import the idna codec on the way
            # (~1.5 ms of every cold start).
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                sock.connect((self.host, self.port))
            except OSError:
                sock.close()
                raise
            self.sock = sock
        else:
            self.sock = socket.create_connection((self.host, self.port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.rfile = self.sock.makefile("rb")

    def close(self):
        for closable in (self.rfile, self.sock):
            try:
                if closable is not None:
                    closable.close()
            except OSError:
                pass
        self.sock = None
        self.rfile = None

    def request(self, method, path, body, headers):
        if self.sock is None:
            self.connect()
        lines = [
            "%s %s HTTP/1.1" % (method, path),
            "Host: " + self.host_header,
            "User-Agent: " + _USER_AGENT,
        ]
        for key, value in headers.items():
            # Header values can carry user-controlled text (an exception
            # class name): keep them to printable ASCII so they cannot break
            # the request framing or the latin-1 encoding below.
            value = str(value)
            if not (value.isascii() and value.isprintable()):
                value = "".join(c for c in value if " " <= c <= "~")
            lines.append("%s: %s" % (key, value))
        if body is not None:
            lines.append("Content-Length: %d" % len(body))
        data = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        if body:
            data += body
        self.sock.sendall(data)
        return self._read_response()

    def _read_head(self):
        """Status line and header lines of the next response (without CRLFs)."""
        rf = self.rfile
        # Fast path: the whole head is already buffered (it arrives in one segment).
        buffered = rf.peek(65536)
        end = buffered.find(b"\r\n\r\n")
        if end >= 0:
            return rf.read(end + 4)[:end].split(b"\r\n")
        lines = []
        while True:
            line = rf.readline(65537)
            if not line:
                if not lines:
                    raise ConnectionResetError("the Runtime API closed the connection")
                return lines
            if lines and line in (b"\r\n", b"\n"):
                return lines
            lines.append(line.rstrip(b"\r\n"))

    def _read_response(self):
        rf = self.rfile
        head = self._read_head()
        line = head[0]
        parts = line.split(None, 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/"):
            raise ConnectionResetError("malformed status line from the Runtime API: %r" % line)
        status = int(parts[1])
        headers = {}
        for h in head[1:]:
            key, _, value = h.partition(b":")
            # Raw bytes: only the few headers a caller reads get decoded.
            headers[key.strip().lower()] = value.strip()
        if b"chunked" in headers.get(b"transfer-encoding", b"").lower():
            chunks = []
            while True:
                size = int(rf.readline(65537).split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while rf.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    break
                chunks.append(rf.read(size))
                rf.readline(65537)
            body = b"".join(chunks)
        elif b"content-length" in headers:
            length = int(headers[b"content-length"])
            body = rf.read(length) if length else b""
            if len(body) != length:
                raise ConnectionResetError("truncated body from the Runtime API")
        elif status in (204, 304) or 100 <= status < 200:
            body = b""
        else:
            # No framing: the body ends when the server closes the connection.
            body = rf.read()
            self.close()
        if self.sock is not None and headers.get(b"connection", b"").lower() == b"close":
            self.close()
        return status, headers, body


def _is_ipv4(host):
    parts = host.split(".")
    return len(parts) == 4 and all(p.isdigit() and len(p) <= 3 and int(p) < 256 for p in parts)


def _header(headers, name):
    raw = headers.get(name)
    return None if raw is None else _decode_header(raw)


def _decode_header(raw):
    # Client context and Cognito identity are JSON that may carry UTF-8.
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


class LambdaRuntimeClient(object):
    """Talks to the Runtime API over a single keep-alive connection.

    The official client uses libcurl from C++; flint keeps one connection open
    for the life of the process, so a warm invoke costs two small writes and
    no TCP handshake.
    """

    def __init__(self, address):
        self.conn = _HttpConnection(address)

    def _request(self, method, path, body=None, headers=None):
        for attempt in (0, 1):
            try:
                return self.conn.request(method, path, body, headers or {})
            except (ConnectionResetError, BrokenPipeError, ConnectionAbortedError):
                # The server closed the idle keep-alive connection: reconnect
                # once. A second failure is fatal for the runtime.
                self.conn.close()
                if attempt == 1:
                    raise
        raise RuntimeApiError("unreachable")

    def wait_next_invocation(self):
        status, h, body = self._request("GET", _RUNTIME_API_PREFIX + "/invocation/next")
        if status != 200:
            raise RuntimeApiError(
                "Request to Lambda Runtime 'next' endpoint failed. Reason: '%d'. Response body: '%s'"
                % (status, body.decode("utf-8", "replace"))
            )
        req = InvocationRequest()
        req.invoke_id = _header(h, b"lambda-runtime-aws-request-id")
        req.x_amzn_trace_id = _header(h, b"lambda-runtime-trace-id")
        req.invoked_function_arn = _header(h, b"lambda-runtime-invoked-function-arn")
        try:
            req.deadline_time_in_ms = int(h.get(b"lambda-runtime-deadline-ms") or 0)
        except ValueError:
            req.deadline_time_in_ms = 0
        req.client_context = _header(h, b"lambda-runtime-client-context")
        req.cognito_identity = _header(h, b"lambda-runtime-cognito-identity")
        req.tenant_id = _header(h, b"lambda-runtime-aws-tenant-id")
        req.content_type = _header(h, b"content-type")
        req.event_body = body
        return req

    def _post(self, path, body, headers):
        status, _headers, data = self._request("POST", path, body=body, headers=headers)
        if status >= 500:
            # Runtime API contract: a 500 means the runtime must exit.
            raise RuntimeApiError(
                "Request to Lambda Runtime '%s' endpoint failed. Reason: '%d'. Response body: '%s'"
                % (path, status, data.decode("utf-8", "replace"))
            )
        if status != 202:
            # 4xx (unknown id, payload too large, ...): the platform has
            # already decided the outcome of the invoke; keep serving.
            sys.stderr.write(
                "flint runtime: POST %s answered %d: %s\n"
                % (path, status, data.decode("utf-8", "replace"))
            )

    def post_invocation_result(self, invoke_id, result, content_type):
        path = "%s/invocation/%s/response" % (
            _RUNTIME_API_PREFIX,
            _quote(invoke_id),
        )
        self._post(path, result, {"Content-Type": content_type})

    def post_invocation_error(self, invoke_id, error_json, xray_fault_json):
        path = "%s/invocation/%s/error" % (
            _RUNTIME_API_PREFIX,
            _quote(invoke_id),
        )
        # Like awslambdaric (checked against 4.2.2): no error-type header on
        # invoke errors, only the body and the X-Ray cause.
        headers = {"Content-Type": "application/json"}
        if xray_fault_json and len(xray_fault_json) < 1024 * 1024:
            headers[_XRAY_CAUSE_HEADER] = xray_fault_json
        self._post(path, error_json.encode("utf-8"), headers)

    def post_init_error(self, error_result):
        # awslambdaric posts init errors with the type header and no
        # Content-Type (http.client with a str body).
        headers = {_ERROR_TYPE_HEADER: error_result["errorType"]}
        self._post(
            _RUNTIME_API_PREFIX + "/init/error",
            to_json(error_result).encode("utf-8"),
            headers,
        )


# --------------------------------------------------------------------------
# Context object
# --------------------------------------------------------------------------


class CognitoIdentity(object):
    __slots__ = ["cognito_identity_id", "cognito_identity_pool_id"]

    def __repr__(self):
        return "CognitoIdentity([cognito_identity_id=%s,cognito_identity_pool_id=%s])" % (
            self.cognito_identity_id,
            self.cognito_identity_pool_id,
        )


class Client(object):
    __slots__ = [
        "installation_id",
        "app_title",
        "app_version_name",
        "app_version_code",
        "app_package_name",
    ]

    def __repr__(self):
        return "Client([%s])" % ",".join(
            "%s=%s" % (f, getattr(self, f)) for f in self.__slots__
        )


class ClientContext(object):
    __slots__ = ["custom", "env", "client"]

    def __repr__(self):
        return "ClientContext([custom=%s,env=%s,client=%s])" % (
            self.custom,
            self.env,
            self.client,
        )


def _make_obj_from_dict(cls, d):
    if d is None:
        return None
    obj = cls()
    for field in cls.__slots__:
        setattr(obj, field, d.get(field, None))
    return obj


_W3C_ALLOWED_FIELDS = ("traceparent", "tracestate", "baggage")


class LambdaContext(object):
    """The `context` argument, with every field of the real Python runtime."""

    def __init__(
        self,
        invoke_id,
        client_context,
        cognito_identity,
        epoch_deadline_time_in_ms,
        invoked_function_arn=None,
        tenant_id=None,
    ):
        self.aws_request_id = invoke_id
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME")
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME")
        # Lambda quirk: memory_limit_in_mb is the env string, not an int.
        self.memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION")
        self.invoked_function_arn = invoked_function_arn
        self.tenant_id = tenant_id

        # W3C trace context travels inside the client context; it is exposed
        # through w3c() and removed from client_context.
        self._w3c_fields = {}
        if isinstance(client_context, dict) and "w3c" in client_context:
            raw = client_context.pop("w3c")
            if isinstance(raw, dict):
                for key in _W3C_ALLOWED_FIELDS:
                    if isinstance(raw.get(key), str):
                        self._w3c_fields[key] = raw[key]

        self.client_context = _make_obj_from_dict(ClientContext, client_context)
        if self.client_context is not None:
            self.client_context.client = _make_obj_from_dict(
                Client, self.client_context.client
            )

        # Lambda quirk: identity is always an object, with None fields when
        # the invoke carried no Cognito identity.
        self.identity = _make_obj_from_dict(CognitoIdentity, {})
        if cognito_identity is not None:
            self.identity.cognito_identity_id = cognito_identity.get("cognitoIdentityId")
            self.identity.cognito_identity_pool_id = cognito_identity.get(
                "cognitoIdentityPoolId"
            )

        self._epoch_deadline_time_in_ms = epoch_deadline_time_in_ms

    def get_remaining_time_in_millis(self):
        delta_ms = self._epoch_deadline_time_in_ms - int(time.time() * 1000)
        return delta_ms if delta_ms > 0 else 0

    def w3c(self):
        return dict(self._w3c_fields)

    def log(self, msg):
        for handler in logging.getLogger().handlers:
            if hasattr(handler, "log_sink"):
                handler.log_sink.log(str(msg))
                return
        sys.stdout.write(str(msg))

    def __repr__(self):
        return (
            "LambdaContext([aws_request_id=%s,log_group_name=%s,log_stream_name=%s,"
            "function_name=%s,memory_limit_in_mb=%s,function_version=%s,"
            "invoked_function_arn=%s,client_context=%s,identity=%s,tenant_id=%s])"
            % (
                self.aws_request_id,
                self.log_group_name,
                self.log_stream_name,
                self.function_name,
                self.memory_limit_in_mb,
                self.function_version,
                self.invoked_function_arn,
                self.client_context,
                self.identity,
                self.tenant_id,
            )
        )


def _parse_json_header(header, name):
    try:
        return json.loads(header)
    except Exception as e:
        raise FaultException(
            FaultException.LAMBDA_CONTEXT_UNMARSHAL_ERROR,
            "Unable to parse {} JSON: {}".format(name, str(e)),
            None,
        )


def create_lambda_context(req):
    client_context = None
    if req.client_context:
        client_context = _parse_json_header(req.client_context, "Client Context")
    cognito_identity = None
    if req.cognito_identity:
        cognito_identity = _parse_json_header(req.cognito_identity, "Cognito Identity")
    return LambdaContext(
        req.invoke_id,
        client_context,
        cognito_identity,
        req.deadline_time_in_ms,
        req.invoked_function_arn,
        req.tenant_id,
    )


# --------------------------------------------------------------------------
# Logging
# --------------------------------------------------------------------------


class Unbuffered(object):
    """Flushes after every write, so output is not lost when the process is
    frozen or killed between invokes."""

    def __init__(self, stream):
        self.stream = stream

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc_value, exc_tb):
        pass

    def __getattr__(self, attr):
        return getattr(self.stream, attr)

    def write(self, msg):
        n = self.stream.write(msg)
        self.stream.flush()
        return n

    def writelines(self, msgs):
        self.stream.writelines(msgs)
        self.stream.flush()


class StandardLogSink(object):
    """Logs to stdout; the platform captures it line by line."""

    def log(self, msg, frame_type=None):
        sys.stdout.write(msg)

    def log_error(self, message_lines):
        sys.stdout.write(_ERROR_LOG_LINE_TERMINATE.join(message_lines) + "\n")


class FramedTelemetryLogSink(object):
    """Writes framed records to the telemetry fd (facts §3.7):
    type (4 bytes BE) | length (4 bytes BE) | timestamp µs (8 bytes BE) | message."""

    def __init__(self, fd):
        self.file = os.fdopen(int(fd), "wb", 0)

    def log(self, msg, frame_type=None):
        encoded = msg.encode("utf-8")
        if frame_type is None:
            # Lambda quirk: the default is the text type even in JSON mode
            # (context.log() output, for instance).
            frame_type = _TEXT_FRAME_TYPES[logging.NOTSET]
        timestamp = time.time_ns() // 1000
        self.file.write(
            frame_type.to_bytes(4, "big")
            + len(encoded).to_bytes(4, "big")
            + timestamp.to_bytes(8, "big")
            + encoded
        )

    def log_error(self, message_lines):
        types = _JSON_FRAME_TYPES if _LOG_FORMAT_JSON else _TEXT_FRAME_TYPES
        self.log("\n".join(message_lines), frame_type=types[logging.ERROR])


def create_log_sink():
    # Like the real runtime, take the fd out of the environment so that the
    # function's own child processes do not inherit the variable.
    fd = os.environ.pop("_LAMBDA_TELEMETRY_LOG_FD", None)
    if fd is not None:
        try:
            return FramedTelemetryLogSink(fd)
        except (OSError, ValueError):
            pass
    return StandardLogSink()


def _level_bucket(record):
    return min(50, max(0, record.levelno)) // 10 * 10


class LambdaLoggerHandler(logging.Handler):
    """Routes `logging` records to the log sink.

    Lambda quirk: on the telemetry fd, records carry a per-level frame type
    only with the JSON format or an explicit AWS_LAMBDA_LOG_LEVEL; in the
    default text setup every record uses the plain text frame type.
    """

    def __init__(self, log_sink, json_format, per_level_frames):
        logging.Handler.__init__(self)
        self.log_sink = log_sink
        self.frame_types = None
        if per_level_frames:
            self.frame_types = _JSON_FRAME_TYPES if json_format else _TEXT_FRAME_TYPES

    def emit(self, record):
        try:
            msg = self.format(record)
            frame_type = None
            if self.frame_types is not None:
                frame_type = self.frame_types.get(_level_bucket(record))
            self.log_sink.log(msg, frame_type=frame_type)
        except Exception:
            self.handleError(record)


class LambdaLoggerFilter(logging.Filter):
    def filter(self, record):
        record.aws_request_id = _GLOBAL_AWS_REQUEST_ID or ""
        record.tenant_id = _GLOBAL_TENANT_ID
        return True


_RESERVED_RECORD_FIELDS = {
    "name", "msg", "args", "levelname", "levelno", "pathname", "filename",
    "module", "exc_info", "exc_text", "stack_info", "lineno", "funcName",
    "created", "msecs", "relativeCreated", "thread", "threadName",
    "processName", "process", "aws_request_id", "tenant_id", "taskName",
}


class JsonFormatter(logging.Formatter):
    """The record shape of Lambda's JSON log format for Python (facts §4.3)."""

    # Lambda quirk: JSON records carry second-resolution timestamps
    # ("2024-01-01T12:00:00Z"), unlike the text format's milliseconds; this
    # is what awslambdaric 4.2 writes.
    def formatTime(self, record, datefmt=None):
        return time.strftime(_JSON_DATETIME_FORMAT, time.gmtime(record.created))

    def format(self, record):
        level = _level_bucket(record)
        exc = record.exc_info
        result = {
            "timestamp": self.formatTime(record),
            "level": logging.getLevelName(level),
            "message": record.getMessage(),
            "logger": record.name,
            "stackTrace": traceback.format_tb(exc[2]) if exc else None,
            "errorType": exc[0].__name__ if exc else None,
            "errorMessage": str(exc[1]) if exc else None,
            "requestId": getattr(record, "aws_request_id", None),
            "location": "%s:%s:%s" % (record.pathname, record.funcName, record.lineno)
            if exc
            else None,
        }
        if getattr(record, "tenant_id", None) is not None:
            result["tenantId"] = record.tenant_id
        for key, value in record.__dict__.items():
            if key not in _RESERVED_RECORD_FIELDS and key not in result:
                result[key] = value
        result = {k: v for k, v in result.items() if v is not None}
        return json.dumps(result, ensure_ascii=False, default=str) + "\n"


def setup_logging(log_sink):
    logging.Formatter.converter = time.gmtime
    logger = logging.getLogger()
    handler = LambdaLoggerHandler(
        log_sink, _LOG_FORMAT_JSON, _LOG_FORMAT_JSON or bool(_LOG_LEVEL)
    )
    if _LOG_FORMAT_JSON:
        handler.setFormatter(JsonFormatter())
    else:
        # Lambda's text format: [LEVEL]\t<UTC timestamp>\t<request id>\t<message>
        handler.setFormatter(
            logging.Formatter(
                "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s\n",
                _DATETIME_FORMAT,
            )
        )
    # Lambda quirk: without AWS_LAMBDA_LOG_LEVEL the root logger keeps
    # Python's default level (WARNING), so logging.info() is dropped unless
    # the function raises the level itself. And because the root logger now
    # has a handler, logging.basicConfig() in user code is a no-op.
    if _LOG_LEVEL in logging._nameToLevel:
        logger.setLevel(_LOG_LEVEL)
    handler.addFilter(LambdaLoggerFilter())
    logger.addHandler(handler)


def _replace_line_indentation(line, indent_char, new_indent_char):
    count = 0
    for c in line:
        if c != indent_char:
            break
        count += 1
    return new_indent_char * count + line[count:]


def log_error(error_result, log_sink):
    if _LOG_FORMAT_JSON:
        record = {
            "timestamp": time.strftime(_JSON_DATETIME_FORMAT, time.gmtime()),
            "level": "ERROR",
        }
        record.update(error_result)
        log_sink.log_error([to_json(record)])
        return
    description = "[ERROR]"
    etype = error_result.get("errorType")
    if etype:
        description += " " + etype
    emsg = error_result.get("errorMessage")
    if emsg:
        if etype:
            description += ":"
        description += " " + emsg
    lines = [description]
    stack_trace = error_result.get("stackTrace")
    if stack_trace is not None:
        lines.append("Traceback (most recent call last):")
        for element in stack_trace:
            if element == "":
                lines.append("")
            else:
                for trace_line in element.splitlines():
                    lines.append(_replace_line_indentation(trace_line, " ", _ERROR_LOG_IDENT))
    log_sink.log_error(lines)


# --------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------


def make_error(error_message, error_type, stack_trace, invoke_id=None):
    # Key order and defaults as awslambdaric; init errors carry requestId "".
    return {
        "errorMessage": error_message if error_message else "",
        "errorType": error_type if error_type else "",
        "requestId": invoke_id if invoke_id is not None else "",
        "stackTrace": stack_trace if stack_trace else [],
    }


def _extract_traceback(tb):
    # Plain 4-tuples (not FrameSummary objects) so that Python 3.11+ does not
    # add its ^^^^ position markers: the real runtime's traces have none.
    tuples = [(f.filename, f.lineno, f.name, f.line) for f in traceback.extract_tb(tb)]
    for i in range(len(tuples)):
        if not any(own in tuples[i][0] for own in _OWN_FILES):
            return tuples[i:]
    return tuples


def make_xray_fault(ex_type, ex_msg, working_dir, tb_tuples):
    stack = []
    files = []
    for tb_file, tb_line, tb_method, _code in tb_tuples:
        stack.append({"label": tb_method, "path": tb_file, "line": tb_line})
        if tb_file not in files:
            files.append(tb_file)
    return {
        "working_directory": working_dir,
        "exceptions": [{"message": ex_msg, "type": ex_type, "stack": stack}],
        "paths": files,
    }


def build_fault_result(exc_info, invoke_id=None):
    etype, value, tb = exc_info
    tb_tuples = _extract_traceback(tb)
    return (
        make_error(str(value), etype.__name__, traceback.format_list(tb_tuples), invoke_id),
        make_xray_fault(etype.__name__, str(value), os.getcwd(), tb_tuples),
    )


# --------------------------------------------------------------------------
# Handler loading
# --------------------------------------------------------------------------


def get_handler(handler):
    """Resolve `module.function`, `pkg.sub.mod.function` or `pkg/sub/mod.function`."""
    try:
        modname, fname = handler.rsplit(".", 1)
    except ValueError as e:
        raise FaultException(
            FaultException.MALFORMED_HANDLER_NAME,
            "Bad handler '{}': {}".format(handler, str(e)),
        )

    try:
        if modname.split(".")[0] in sys.builtin_module_names:
            raise FaultException(
                FaultException.BUILT_IN_MODULE_CONFLICT,
                "Cannot use built-in module {} as a handler module".format(modname),
            )
        import importlib

        module = importlib.import_module(modname.replace("/", "."))
    except ImportError as e:
        # Lambda quirk: the message names the module as written in _HANDLER,
        # and an ImportError raised *inside* the user's module (a missing
        # dependency) is reported the same way.
        raise FaultException(
            FaultException.IMPORT_MODULE_ERROR,
            "Unable to import module '{}': {}".format(modname, str(e)),
        )
    except SyntaxError as e:
        trace = ['  File "%s" Line %s\n    %s' % (e.filename, e.lineno, e.text)]
        raise FaultException(
            FaultException.USER_CODE_SYNTAX_ERROR,
            "Syntax error in module '{}': {}".format(modname, str(e)),
            trace,
        )

    try:
        return getattr(module, fname)
    except AttributeError:
        raise FaultException(
            FaultException.HANDLER_NOT_FOUND,
            "Handler '{}' missing on module '{}'".format(fname, modname),
            None,
        )


def _setup_sys_path():
    # Function code first, then Python layers (/opt), then the runtime's AWS SDK
    # (boto3, when flint has it), then everything else (the runtime dir and the
    # interpreter's own paths), as on Lambda: a function's own boto3 wins.
    task_root = os.environ.get("LAMBDA_TASK_ROOT", "/var/task")
    # /opt, except in flint's unisolated development mode, which says where the layers are
    # on the host (and only there: the function does not see the variable).
    opt = os.environ.pop("_FLINT_OPT_DIR", "/opt")
    version = "python%d.%d" % sys.version_info[:2]
    front = [task_root, "%s/python/lib/%s/site-packages" % (opt, version), "%s/python" % opt]
    sdk = os.path.join(os.environ.get("LAMBDA_RUNTIME_DIR", "/var/runtime"), "sdk", "python")
    if os.path.isdir(sdk):
        front.append(sdk)
    rest = [p for p in sys.path if p not in front]
    sys.path[:] = front + rest


# --------------------------------------------------------------------------
# Main loop
# --------------------------------------------------------------------------


def handle_event_request(client, request_handler, req, log_sink):
    error_result = None
    xray_fault = None
    try:
        context = create_lambda_context(req)
        event = unmarshal_request(req.event_body, req.content_type)
        response = request_handler(event, context)
        result, content_type = marshal_response(response)
    except FaultException as e:
        xray_fault = make_xray_fault("LambdaValidationError", e.msg, os.getcwd(), [])
        error_result = make_error(e.msg, e.exception_type, e.trace, req.invoke_id)
    except Exception:
        error_result, xray_fault = build_fault_result(sys.exc_info(), req.invoke_id)

    if error_result is not None:
        log_error(error_result, log_sink)
        client.post_invocation_error(
            req.invoke_id, to_json(error_result), json.dumps(xray_fault)
        )
    else:
        client.post_invocation_result(req.invoke_id, result, content_type)


def _update_xray_env(trace_id):
    if trace_id is not None:
        os.environ["_X_AMZN_TRACE_ID"] = trace_id
    else:
        os.environ.pop("_X_AMZN_TRACE_ID", None)


def _receive_function():
    """Wait for the function if this runtime was started ahead of it.

    flint can start the runtime in a pre-spawned environment before any function
    is assigned to it (flint-sandbox, prespawn.rs): interpreter start and the
    imports above are then paid before the cold start instead of during it. Such a
    runtime is started with `_FLINT_PRESTART_FD` and only the variables a process
    reads as it starts (PYTHON*, LANG, LD_*, TZ, ...; they are already the
    function's). It reports ready with one byte on that descriptor; at the claim
    flint writes the function's working directory and
    its whole environment to that descriptor, NUL-terminated, then closes it; from
    then on nothing tells this runtime from one started with them (but the NUL
    padding at the end of /proc/self/environ).
    """
    fd = os.environ.get("_FLINT_PRESTART_FD")
    if fd is None:
        _undo_locale_coercion()
        return
    # What get_handler needs, imported while there is nothing else to do.
    import importlib  # noqa: F401

    fd = int(fd)
    # Ready: flint offers this environment to a cold start from now on.
    os.write(fd, b"R")
    chunks = []
    while True:
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        chunks.append(chunk)
    os.close(fd)
    fields = b"".join(chunks).split(b"\0")
    if len(fields) < 2 or fields[-1] != b"":
        # flint went away before handing over a function.
        sys.exit(1)
    entries = [e for e in fields[1:-1] if e.partition(b"=")[1] and not e.startswith(b"=")]
    os.environ.clear()
    for entry in entries:
        key, _, value = entry.partition(b"=")
        os.environb[key] = value
    _rewrite_initial_environment(entries)
    os.chdir(fields[0])
    # The code (/var/task) and layers (/opt) were attached just now: forget what the
    # import system may have cached about those paths while they were empty.
    for path, finder in list(sys.path_importer_cache.items()):
        if finder is None or path.startswith(("/var/task", "/opt")):
            del sys.path_importer_cache[path]
    # The time module read TZ when it was imported.
    time.tzset()


def _undo_locale_coercion():
    """Python coerces a C locale to C.UTF-8 and says so in LC_CTYPE (PEP 538). Lambda's
    Python 3.9-3.11 (Amazon Linux 2) has the en_US.UTF-8 locale LANG names, so its functions
    see no LC_CTYPE; a host without that locale would show one Lambda does not set. Only a
    variable this process added is removed: one it was started with (the function's own)
    stays. (From 3.12 flint sets LC_CTYPE=C.UTF-8 itself, as Lambda's environment has it.)"""
    if sys.version_info >= (3, 12) or os.environ.get("LC_CTYPE") != "C.UTF-8":
        return
    try:
        with open("/proc/self/environ", "rb") as f:
            started_with = f.read().split(b"\0")
    except OSError:
        return
    if not any(e.startswith(b"LC_CTYPE=") for e in started_with):
        del os.environ["LC_CTYPE"]


def _rewrite_initial_environment(entries):
    """Make /proc/self/environ show the function's environment.

    That file reads the block the kernel laid out at execve, which flint started
    with room to spare (_FLINT_PRESTART_ROOM). Once os.environ has been replaced
    nothing refers to the block (glibc's setenv copies), except perhaps a library
    that kept a pointer to a start-up variable it read while starting: those come
    first and are left as they are (the function has the same values, or it would
    not have been given this runtime). The rest is rewritten, NULs pad it.
    """
    try:
        with open("/proc/self/stat", "rb") as f:
            stat = f.read()
        # Fields 50 and 51 (env_start, env_end); field 3 follows the ")" of the name.
        fields = stat[stat.rindex(b")") + 2:].split()
        start, end = int(fields[47]), int(fields[48])
        fd = os.open("/proc/self/mem", os.O_RDWR)
    except (OSError, ValueError, IndexError):
        return
    try:
        block = os.pread(fd, end - start, start)
        # The start-up variables end where the first _FLINT_PRESTART_ entry begins.
        kept = block.find(b"_FLINT_PRESTART_")
        while kept > 0 and block[kept - 1] != 0:
            kept = block.find(b"_FLINT_PRESTART_", kept + 1)
        if kept < 0:
            return
        kept_keys = {e.partition(b"=")[0] for e in block[:kept].split(b"\0")}
        tail = bytearray()
        for entry in entries:
            if entry.partition(b"=")[0] in kept_keys:
                continue
            if kept + len(tail) + len(entry) + 1 > len(block):
                break
            tail += entry + b"\0"
        tail += bytes(len(block) - kept - len(tail))
        os.pwrite(fd, bytes(tail), start + kept)
    except OSError:
        pass  # cosmetic: /proc/self/environ keeps showing the start-up variables
    finally:
        os.close(fd)


def main():
    global _GLOBAL_AWS_REQUEST_ID, _GLOBAL_TENANT_ID, _LOG_FORMAT_JSON, _LOG_LEVEL, _ENSURE_ASCII

    _receive_function()
    _LOG_FORMAT_JSON, _LOG_LEVEL = _log_settings()
    _ENSURE_ASCII = _ensure_ascii()
    sys.stdout = Unbuffered(sys.stdout)
    sys.stderr = Unbuffered(sys.stderr)

    handler_name = os.environ.get("_HANDLER") or (sys.argv[1] if len(sys.argv) > 1 else "")
    client = LambdaRuntimeClient(os.environ.get("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9001"))
    log_sink = create_log_sink()
    _setup_sys_path()

    try:
        setup_logging(log_sink)
        request_handler = get_handler(handler_name)
    except Exception as e:
        if isinstance(e, FaultException):
            error_result = make_error(e.msg, e.exception_type, e.trace)
        else:
            error_result, _ = build_fault_result(sys.exc_info())
        logging.warning(_LAMBDA_WARNING)
        log_error(error_result, log_sink)
        client.post_init_error(error_result)
        sys.exit(1)

    while True:
        req = client.wait_next_invocation()
        _GLOBAL_AWS_REQUEST_ID = req.invoke_id
        _GLOBAL_TENANT_ID = req.tenant_id
        _update_xray_env(req.x_amzn_trace_id)
        handle_event_request(client, request_handler, req, log_sink)

