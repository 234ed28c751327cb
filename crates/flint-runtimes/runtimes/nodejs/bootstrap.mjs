// flint's managed runtime client for Node.js (nodejs18.x .. nodejs24.x runtime ids).
//
// flint's own implementation of what AWS's aws-lambda-nodejs-runtime-interface-client
// does inside the managed Node.js runtimes: load the handler named by `_HANDLER`
// (CommonJS via require, ES modules via import()), then loop on the Lambda Runtime
// API. Node built-ins only. It reproduces the observable behaviour of the real
// runtime: error bodies (`trace`, not `stackTrace`), Runtime.* error types and
// messages, the context object, callback/async/promise handler semantics including
// callbackWaitsForEmptyEventLoop, and the console log line format. Comments marked
// "Lambda quirk" point at behaviour that looks odd but is what the real runtime does.

import http from 'node:http';
import net from 'node:net';
import fs from 'node:fs';
import path from 'node:path';
import util from 'node:util';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';

const require = createRequire(import.meta.url);

const RUNTIME_PREFIX = '/2018-06-01/runtime';
const ERROR_TYPE_HEADER = 'Lambda-Runtime-Function-Error-Type';
const XRAY_CAUSE_HEADER = 'Lambda-Runtime-Function-XRay-Error-Cause';
const USER_AGENT = `aws-lambda-nodejs/${process.version}-flint`;

// ---------------------------------------------------------------------------
// Error types (names as the real runtime: `Runtime.<ClassName>`)
// ---------------------------------------------------------------------------

function runtimeError(name) {
  const cls = class extends Error {};
  cls.prototype.name = `Runtime.${name}`;
  return cls;
}
const ImportModuleError = runtimeError('ImportModuleError');
const HandlerNotFound = runtimeError('HandlerNotFound');
const MalformedHandlerName = runtimeError('MalformedHandlerName');
const UserCodeSyntaxError = runtimeError('UserCodeSyntaxError');
const MalformedStreamingHandler = runtimeError('MalformedStreamingHandler');
const InvalidStreamingOperation = runtimeError('InvalidStreamingOperation');
class UnhandledPromiseRejection extends Error {
  constructor(reason, promise) {
    super(reason);
    this.reason = reason;
    this.promise = promise;
  }
}
UnhandledPromiseRejection.prototype.name = 'Runtime.UnhandledPromiseRejection';
// Reported when an async handler's promise never settles and the event loop
// drains. The message text is not verified against AWS.
const NodeJsExit = runtimeError('NodeJsExit');
const CallbackHandlerDeprecated = runtimeError('CallbackHandlerDeprecated');

function isErrorLike(obj) {
  return (
    obj &&
    typeof obj.name === 'string' &&
    typeof obj.message === 'string' &&
    typeof obj.stack === 'string' &&
    obj.name &&
    obj.message &&
    obj.stack
  );
}

function intoError(err) {
  return err instanceof Error ? err : new Error(err);
}

// The body posted to /error and /init/error.
// Lambda quirk: non-Error values are reported with `typeof` as the type, so
// `callback("boom")` yields {"errorType":"string","errorMessage":"boom","trace":[]}.
function toRapidResponse(error) {
  try {
    if (util.types.isNativeError(error) || isErrorLike(error)) {
      return {
        errorType: error.name,
        errorMessage: error.message,
        trace: error.stack.split('\n'),
      };
    }
    return { errorType: typeof error, errorMessage: error.toString(), trace: [] };
  } catch (_e) {
    return {
      errorType: 'handled',
      errorMessage:
        'callback called with Error argument, but there was a problem while retrieving one or more of its message, name, and stack',
    };
  }
}

// Error name, message, code and stack are not enumerable, so JSON.stringify
// would drop them; the log line shows them plus any user-defined fields.
function withEnumerableProperties(value) {
  if (value instanceof Error) {
    const ret = Object.assign(
      { errorType: value.name, errorMessage: value.message, code: value.code },
      value,
    );
    if (typeof value.stack === 'string') ret.stack = value.stack.split('\n');
    return ret;
  }
  return value;
}

// Lambda quirk: the formatted error always starts with a tab, which gives the
// familiar "Invoke Error \t{...}" in the logs.
function toFormatted(error) {
  try {
    return '\t' + JSON.stringify(error, (_k, v) => withEnumerableProperties(v));
  } catch (_e) {
    return '\t' + JSON.stringify(toRapidResponse(error));
  }
}

// The X-Ray cause header, in the official client's shape:
// {"working_directory","exceptions":[{"type","message","stack":[{"path","line","label"}]}],"paths"}.
// Each "    at label (path:line:col)" stack line becomes one entry.
function xrayCause(err) {
  try {
    const stack = [];
    if (err && err.stack) {
      for (const raw of String(err.stack).split('\n').slice(1)) {
        let line = raw.trim().replace(/[()]/g, '');
        line = line.substring(line.indexOf(' ') + 1);
        const sp = line.lastIndexOf(' ');
        const label = sp >= 0 ? line.slice(0, sp) : null;
        const location = (label ? line.slice(sp + 1) : line).split(':');
        stack.push({ path: location[0], line: parseInt(location[1], 10), label: label || 'anonymous' });
      }
    }
    const cause = JSON.stringify({
      working_directory: process.cwd(),
      exceptions: [{ type: err?.name, message: err?.message, stack }],
      paths: [...new Set(stack.map((e) => e.path))],
    });
    // Header values must stay ASCII and below 1 MiB.
    return /^[\x20-\x7e]*$/.test(cause) && cause.length < 1024 * 1024 ? cause : undefined;
  } catch (_e) {
    return undefined;
  }
}

// ---------------------------------------------------------------------------
// Console patching (log format)
// ---------------------------------------------------------------------------

const REQUEST_ID_SYMBOL = Symbol.for('aws.lambda.runtime.requestId');
const TENANT_ID_SYMBOL = Symbol.for('aws.lambda.runtime.tenantId');
const LEVELS = Object.freeze({
  TRACE: { name: 'TRACE', priority: 1, tlvMask: 0b00100 },
  DEBUG: { name: 'DEBUG', priority: 2, tlvMask: 0b01000 },
  INFO: { name: 'INFO', priority: 3, tlvMask: 0b01100 },
  WARN: { name: 'WARN', priority: 4, tlvMask: 0b10000 },
  ERROR: { name: 'ERROR', priority: 5, tlvMask: 0b10100 },
  FATAL: { name: 'FATAL', priority: 6, tlvMask: 0b11000 },
});
// Set by main() once the function's environment is known (see receiveFunction).
let LOG_FORMAT_JSON = false;

function jsonErrorReplacer(_k, value) {
  if (value instanceof Error) {
    return Object.assign(
      {
        errorType: value?.constructor?.name ?? 'UnknownError',
        errorMessage: value.message,
        stackTrace: typeof value.stack === 'string' ? value.stack.split('\n') : value.stack,
      },
      value,
    );
  }
  return value;
}

function formatJson(requestId, timestamp, level, params) {
  const result = { timestamp, level: level.name, requestId };
  const tenantId = globalThis[TENANT_ID_SYMBOL];
  if (tenantId !== undefined && tenantId !== null) result.tenantId = tenantId;
  if (params.length === 1) {
    result.message = params[0];
    try {
      return JSON.stringify(result, jsonErrorReplacer);
    } catch (_e) {
      result.message = util.format(result.message);
      return JSON.stringify(result);
    }
  }
  result.message = util.format(...params);
  for (const p of params) {
    if (p instanceof Error) {
      result.errorType = p?.constructor?.name ?? 'UnknownError';
      result.errorMessage = p.message;
      result.stackTrace = typeof p.stack === 'string' ? p.stack.split('\n') : [];
      break;
    }
  }
  return JSON.stringify(result);
}

function formatLine(level, params, date) {
  // Lambda quirk: before the first invoke the request id is printed as the
  // literal "undefined".
  const requestId = globalThis[REQUEST_ID_SYMBOL];
  const time = date.toISOString();
  if (LOG_FORMAT_JSON) return formatJson(requestId, time, level, params);
  return `${time}\t${requestId}\t${level.name}\t${util.format(...params)}`;
}

function makeLogger() {
  const fdVar = process.env._LAMBDA_TELEMETRY_LOG_FD;
  if (fdVar !== undefined && fdVar !== null) {
    // Framed records on the telemetry fd (facts §3.7). The variable is
    // removed so the function's child processes do not inherit it.
    const fd = parseInt(fdVar, 10);
    delete process.env._LAMBDA_TELEMETRY_LOG_FD;
    const header = Buffer.alloc(16);
    const base = LOG_FORMAT_JSON ? 0xa55a0002 : 0xa55a0003;
    return (level, params) => {
      const date = new Date();
      const line = formatLine(level, params, date) + (LOG_FORMAT_JSON ? '' : '\n');
      const bytes = Buffer.from(line, 'utf8');
      header.writeUInt32BE((base | level.tlvMask) >>> 0, 0);
      header.writeInt32BE(bytes.length, 4);
      header.writeBigInt64BE(BigInt(date.valueOf()) * 1000n, 8);
      fs.writeSync(fd, header);
      fs.writeSync(fd, bytes);
    };
  }
  return (level, params) => {
    // Lambda quirk: newlines inside one console call become '\r' so the whole
    // message stays one record in line-oriented log capture.
    const line = formatLine(level, params, new Date()).replace(/\n/g, '\r');
    process.stdout.write(line + '\n');
  };
}

function patchConsole() {
  const log = makeLogger();
  const threshold = LEVELS[(process.env.AWS_LAMBDA_LOG_LEVEL || '').toUpperCase()] ?? LEVELS.TRACE;
  const nop = () => {};
  const bind = (level) =>
    level.priority >= threshold.priority ? (...params) => log(level, params) : nop;
  console.trace = bind(LEVELS.TRACE);
  console.debug = bind(LEVELS.DEBUG);
  console.info = bind(LEVELS.INFO);
  console.log = console.info;
  console.warn = bind(LEVELS.WARN);
  console.error = bind(LEVELS.ERROR);
  console.fatal = (...params) => log(LEVELS.FATAL, params);
}

function logError(label, err) {
  if (LOG_FORMAT_JSON) console.error(intoError(err));
  else console.error(label, toFormatted(intoError(err)));
}

// ---------------------------------------------------------------------------
// Runtime API client: keep-alive agent with a single socket
// ---------------------------------------------------------------------------

// A minimal HTTP/1.1 keep-alive client on one TCP socket. Node's http module
// costs a few hundred microseconds of CPU per request (ClientRequest, agent
// bookkeeping, stream plumbing); the Runtime API needs one request at a time
// with Content-Length or chunked bodies, which this handles directly.
class RawHttpConnection {
  constructor(hostname, port, hostHeader) {
    this.hostname = hostname;
    this.port = port;
    this.hostHeader = hostHeader;
    this.socket = null;
    this.buffer = Buffer.alloc(0);
    this.pending = null;
  }

  connect() {
    const socket = net.connect({ host: this.hostname, port: this.port });
    socket.setNoDelay(true);
    socket.on('data', (chunk) => {
      this.buffer = this.buffer.length ? Buffer.concat([this.buffer, chunk]) : chunk;
      this.tryParse();
    });
    const onGone = (err) => {
      if (this.socket !== socket) return;
      this.socket = null;
      this.buffer = Buffer.alloc(0);
      const pending = this.pending;
      this.pending = null;
      if (pending) pending.fail(err || new Error('the Runtime API closed the connection'));
    };
    socket.on('error', onGone);
    socket.on('close', () => onGone());
    this.socket = socket;
  }

  request(method, urlPath, headers, body) {
    return new Promise((resolve, reject) => {
      let retried = false;
      const send = () => {
        if (!this.socket) this.connect();
        let head = `${method} ${urlPath} HTTP/1.1\r\nHost: ${this.hostHeader}\r\nUser-Agent: ${USER_AGENT}\r\n`;
        // Header values can carry user-controlled text (an error's name):
        // keep them to printable ASCII so they cannot break the framing.
        for (const [k, v] of Object.entries(headers || {})) {
          head += `${k}: ${String(v).replace(/[^\x20-\x7e]/g, '')}\r\n`;
        }
        if (body !== undefined) head += `Content-Length: ${body.length}\r\n`;
        head += '\r\n';
        this.pending = {
          resolve: (res) => {
            // Idle between requests: the socket must not keep the event loop
            // alive, or beforeExit (callbackWaitsForEmptyEventLoop, unsettled
            // promises) would never fire.
            if (this.socket) this.socket.unref();
            resolve(res);
          },
          fail: (err) => {
            // A kept-alive connection the server closed while idle: one retry
            // on a fresh connection, as long as nothing of a response arrived.
            if (!retried) {
              retried = true;
              send();
            } else {
              reject(err);
            }
          },
        };
        this.socket.ref();
        this.socket.write(body && body.length ? Buffer.concat([Buffer.from(head, 'latin1'), body]) : head, 'latin1');
      };
      send();
    });
  }

  tryParse() {
    if (!this.pending) return;
    const buf = this.buffer;
    const headEnd = buf.indexOf('\r\n\r\n');
    if (headEnd < 0) return;
    const lines = buf.toString('utf8', 0, headEnd).split('\r\n');
    const status = parseInt(lines[0].split(' ')[1], 10);
    const headers = {};
    for (let i = 1; i < lines.length; i++) {
      const idx = lines[i].indexOf(':');
      if (idx > 0) headers[lines[i].slice(0, idx).trim().toLowerCase()] = lines[i].slice(idx + 1).trim();
    }
    let pos = headEnd + 4;
    let body;
    if ((headers['transfer-encoding'] || '').toLowerCase().includes('chunked')) {
      const chunks = [];
      for (;;) {
        const lineEnd = buf.indexOf('\r\n', pos);
        if (lineEnd < 0) return;
        const size = parseInt(buf.toString('latin1', pos, lineEnd).split(';')[0], 16) || 0;
        if (size === 0) {
          // Skip trailers up to the empty line.
          let p = lineEnd + 2;
          for (;;) {
            const e = buf.indexOf('\r\n', p);
            if (e < 0) return;
            if (e === p) {
              pos = e + 2;
              break;
            }
            p = e + 2;
          }
          break;
        }
        if (buf.length < lineEnd + 2 + size + 2) return;
        chunks.push(buf.subarray(lineEnd + 2, lineEnd + 2 + size));
        pos = lineEnd + 2 + size + 2;
      }
      body = Buffer.concat(chunks);
    } else {
      const length = parseInt(headers['content-length'] || '0', 10);
      if (buf.length < pos + length) return;
      body = buf.subarray(pos, pos + length);
      pos += length;
    }
    this.buffer = buf.subarray(pos);
    const pending = this.pending;
    this.pending = null;
    if ((headers.connection || '').toLowerCase() === 'close' && this.socket) {
      const socket = this.socket;
      this.socket = null;
      socket.destroy();
    }
    pending.resolve({ status, headers, body: Buffer.from(body) });
  }
}

class RuntimeClient {
  constructor(hostPort) {
    const idx = hostPort.lastIndexOf(':');
    this.hostname = idx > 0 ? hostPort.slice(0, idx) : hostPort;
    this.port = idx > 0 ? parseInt(hostPort.slice(idx + 1), 10) : 80;
    this.conn = new RawHttpConnection(this.hostname.replace(/^\[|\]$/g, ''), this.port, hostPort);
    // Streaming responses go through Node's http module on their own
    // keep-alive agent (it unrefs idle sockets).
    this.agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  }

  request(method, urlPath, headers, body) {
    return this.conn.request(method, urlPath, headers, body);
  }

  async nextInvocation() {
    const res = await this.request('GET', `${RUNTIME_PREFIX}/invocation/next`);
    if (res.status !== 200) {
      throw new Error(`Runtime API /next answered ${res.status}: ${res.body.toString()}`);
    }
    return { bodyJson: res.body.toString('utf8'), headers: res.headers };
  }

  async post(urlPath, bodyString, headers) {
    const body = Buffer.from(bodyString, 'utf8');
    const res = await this.request(
      'POST',
      urlPath,
      Object.assign({ 'Content-Type': 'application/json' }, headers),
      body,
    );
    if (res.status >= 500) {
      // Runtime API contract: a 500 means the runtime must exit.
      process.stderr.write(`flint runtime: POST ${urlPath} answered ${res.status}; exiting\n`);
      process.exit(1);
    }
    if (res.status !== 202) {
      // The platform has already decided this invoke (unknown id, too large, ...).
      process.stderr.write(
        `flint runtime: POST ${urlPath} answered ${res.status}: ${res.body.toString()}\n`,
      );
    }
  }

  postInvocationResponse(response, id) {
    return this.post(
      `${RUNTIME_PREFIX}/invocation/${encodeURIComponent(id)}/response`,
      serializeResponse(response),
    );
  }

  postInvocationError(error, id) {
    // Like the official client (whose native aws-lambda-cpp client posts
    // invoke errors without an error-type header): body and X-Ray cause only.
    const headers = {};
    const cause = xrayCause(error);
    if (cause) headers[XRAY_CAUSE_HEADER] = cause;
    return this.post(
      `${RUNTIME_PREFIX}/invocation/${encodeURIComponent(id)}/error`,
      JSON.stringify(toRapidResponse(error)),
      headers,
    );
  }

  postInitError(error) {
    const response = toRapidResponse(error);
    return this.post(`${RUNTIME_PREFIX}/init/error`, JSON.stringify(response), {
      [ERROR_TYPE_HEADER]: response.errorType,
    });
  }
}

// Lambda quirk: `undefined` is sent as `null`.
function serializeResponse(body) {
  try {
    return JSON.stringify(body === undefined ? null : body);
  } catch (_e) {
    throw new Error('Unable to stringify response body');
  }
}

// ---------------------------------------------------------------------------
// Handler loading
// ---------------------------------------------------------------------------

const HANDLER_STREAMING = Symbol.for('aws.lambda.runtime.handler.streaming');
const HANDLER_HIGHWATERMARK = Symbol.for('aws.lambda.runtime.handler.streaming.highWaterMark');
const STREAM_RESPONSE = 'response';

function fileExists(p) {
  try {
    return fs.statSync(p).isFile();
  } catch (_e) {
    return false;
  }
}

// Lambda quirk: the extensionless/`.js`/`.cjs` probes use a plain existence
// check, so a handler "lib.handler" with a `lib/` directory loads
// `lib/index.js` through require's directory resolution.
function tryRequire(p) {
  return fs.existsSync(p) ? require(p) : undefined;
}

async function tryImport(p) {
  return fileExists(p) ? await import(pathToFileURL(p).href) : undefined;
}

// Nearest package.json decides whether `.js` is an ES module; the search
// stops at node_modules or the filesystem root, like the real runtime.
function hasPackageJsonTypeModule(folder) {
  if (folder.endsWith('/node_modules')) return false;
  const pj = path.join(folder, 'package.json');
  if (fs.existsSync(pj)) {
    try {
      const pkg = JSON.parse(fs.readFileSync(pj, 'utf8'));
      if (pkg) return pkg.type === 'module';
    } catch (e) {
      console.warn(`${pj} cannot be read, it will be ignored for ES module detection purposes.`, e);
      return false;
    }
  }
  if (folder === '/') return false;
  return hasPackageJsonTypeModule(path.resolve(folder, '..'));
}

async function loadModule(appRoot, moduleRoot, moduleName) {
  const base = path.resolve(appRoot, moduleRoot, moduleName);

  const extensionless = tryRequire(base);
  if (extensionless) return extensionless;

  const typeModule = hasPackageJsonTypeModule(path.dirname(base));
  if (!typeModule) {
    const cjs = tryRequire(base + '.js');
    if (cjs) return cjs;
  }

  const loaded =
    (typeModule && (await tryImport(base + '.js'))) ||
    (await tryImport(base + '.mjs')) ||
    tryRequire(base + '.cjs');
  if (loaded) return loaded;

  // Fall back to Node resolution relative to the task root (covers
  // node_modules packages and directories with an index file).
  const resolved = require.resolve(moduleName, { paths: [appRoot, path.resolve(appRoot, moduleRoot)] });
  return require(resolved);
}

function installGlobalAwsLambda() {
  // Seam for response streaming: the same global the real runtime provides.
  const flag = process.env.AWS_LAMBDA_NODEJS_NO_GLOBAL_AWSLAMBDA;
  if (flag === '1' || flag === 'true') return;
  globalThis.awslambda = {
    streamifyResponse: (handler, options) => {
      handler[HANDLER_STREAMING] = STREAM_RESPONSE;
      if (typeof options?.highWaterMark === 'number') {
        handler[HANDLER_HIGHWATERMARK] = parseInt(options.highWaterMark, 10);
      }
      return handler;
    },
    HttpResponseStream,
  };
}

async function loadHandler(appRoot, fullHandler) {
  if (fullHandler.includes('..')) {
    throw new MalformedHandlerName(
      `'${fullHandler}' is not a valid handler name. Use absolute paths when specifying root directories in handler names.`,
    );
  }
  // "dir/sub/file.obj.fn" -> moduleRoot "dir/sub/", module "file", path "obj.fn"
  const handlerString = path.basename(fullHandler);
  const moduleRoot = fullHandler.substring(0, fullHandler.indexOf(handlerString));
  const match = handlerString.match(/^([^.]*)\.(.*)$/);
  if (!match) throw new MalformedHandlerName('Bad handler');
  const [, moduleName, handlerPath] = match;

  installGlobalAwsLambda();
  let userApp;
  try {
    userApp = await loadModule(appRoot, moduleRoot, moduleName);
  } catch (e) {
    if (e instanceof SyntaxError) {
      throw new UserCodeSyntaxError(String(e));
    }
    // MODULE_NOT_FOUND is what the real runtime maps; flint also maps the ESM
    // equivalent so that a missing package imported by an .mjs handler is
    // reported the same way.
    if (e && (e.code === 'MODULE_NOT_FOUND' || e.code === 'ERR_MODULE_NOT_FOUND')) {
      throw new ImportModuleError(String(e));
    }
    throw e;
  }

  const fn = handlerPath.split('.').reduce((obj, key) => obj && obj[key], userApp);
  if (!fn) throw new HandlerNotFound(`${fullHandler} is undefined or not exported`);
  if (typeof fn !== 'function') throw new HandlerNotFound(`${fullHandler} is not a function`);
  return fn;
}

function handlerMetadata(fn) {
  const streaming = fn[HANDLER_STREAMING];
  if (streaming !== undefined && streaming !== null && streaming !== false && streaming !== STREAM_RESPONSE) {
    throw new MalformedStreamingHandler('Only response streaming is supported.');
  }
  const hwm = parseInt(fn[HANDLER_HIGHWATERMARK], 10);
  return {
    streaming: streaming === STREAM_RESPONSE,
    highWaterMark: Number.isNaN(hwm) ? undefined : hwm,
    isAsync: fn?.constructor?.name === 'AsyncFunction',
  };
}

// ---------------------------------------------------------------------------
// Invoke context
// ---------------------------------------------------------------------------

function parseJsonHeader(value, name) {
  if (value === undefined) return undefined;
  try {
    return JSON.parse(value);
  } catch (err) {
    throw new Error(`Cannot parse ${name} as json: ${err.toString()}`);
  }
}

// `headers` come from Node's http module, so keys are lower-case.
function attachContext(target, headers) {
  const deadline = headers['lambda-runtime-deadline-ms'];
  if (headers['lambda-runtime-trace-id']) {
    process.env._X_AMZN_TRACE_ID = headers['lambda-runtime-trace-id'];
  } else {
    delete process.env._X_AMZN_TRACE_ID;
  }
  return Object.assign(target, {
    // Lambda quirk: memoryLimitInMB is the env string, not a number.
    functionVersion: process.env.AWS_LAMBDA_FUNCTION_VERSION,
    functionName: process.env.AWS_LAMBDA_FUNCTION_NAME,
    memoryLimitInMB: process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
    logGroupName: process.env.AWS_LAMBDA_LOG_GROUP_NAME,
    logStreamName: process.env.AWS_LAMBDA_LOG_STREAM_NAME,
    clientContext: parseJsonHeader(headers['lambda-runtime-client-context'], 'ClientContext'),
    identity: parseJsonHeader(headers['lambda-runtime-cognito-identity'], 'CognitoIdentity'),
    invokedFunctionArn: headers['lambda-runtime-invoked-function-arn'],
    awsRequestId: headers['lambda-runtime-aws-request-id'],
    tenantId: headers['lambda-runtime-aws-tenant-id'],
    // Lambda quirk: not clamped at zero (the Python runtime clamps).
    getRemainingTimeInMillis: () => deadline - Date.now(),
  });
}

// ---------------------------------------------------------------------------
// beforeExit listener: fires when the event loop has drained
// ---------------------------------------------------------------------------

let beforeExitListener = () => {};
const BeforeExit = {
  set: (fn) => {
    beforeExitListener = fn;
  },
  reset: () => {
    beforeExitListener = () => {};
  },
  invoke: () => beforeExitListener(),
};

// ---------------------------------------------------------------------------
// Callback context: callback(err, result), context.succeed/fail/done
// ---------------------------------------------------------------------------

function buildCallbackContext(client, id, scheduleNext) {
  const postError = (err) => {
    logError('Invoke Error', err);
    client.postInvocationError(err, id).then(scheduleNext, fatal);
  };

  let completed = false;
  const complete = (result) => {
    if (completed) {
      console.error(
        'Invocation has already been reported as done. Cannot call complete more than once per invocation.',
      );
      return;
    }
    completed = true;
    let body;
    try {
      body = serializeResponse(result);
    } catch (err) {
      postError(err);
      return;
    }
    client
      .post(`${RUNTIME_PREFIX}/invocation/${encodeURIComponent(id)}/response`, body)
      .then(scheduleNext, fatal);
  };

  let waitForEmptyEventLoop = true;

  const callback = (err, result) => {
    BeforeExit.reset();
    if (err !== undefined && err !== null) {
      postError(err);
    } else if (!waitForEmptyEventLoop) {
      complete(result);
    } else {
      // Lambda quirk: with callbackWaitsForEmptyEventLoop (the default) the
      // result is only sent once timers, sockets etc. started by the
      // function have finished.
      BeforeExit.set(() => setImmediate(() => complete(result)));
    }
  };

  const done = (err, result) => {
    BeforeExit.reset();
    if (err !== undefined && err !== null) postError(err);
    else complete(result);
  };
  const succeed = (result) => done(null, result);
  // Lambda quirk: fail() without an argument reports the string "handled".
  const fail = (err) => (err === undefined || err === null ? done('handled') : done(err, null));

  // Only the first of callback/succeed/fail/done counts.
  let finished = false;
  const once =
    (fn) =>
    (...args) => {
      if (!finished) {
        fn(...args);
        finished = true;
      }
    };

  const ctx = {
    get callbackWaitsForEmptyEventLoop() {
      return waitForEmptyEventLoop;
    },
    set callbackWaitsForEmptyEventLoop(value) {
      waitForEmptyEventLoop = value;
    },
    succeed: once(succeed),
    fail: once(fail),
    done: once(done),
  };
  const markCompleted = () => {
    completed = true;
  };
  return [once(callback), ctx, markCompleted];
}

// ---------------------------------------------------------------------------
// Response streaming (awslambda.streamifyResponse)
// ---------------------------------------------------------------------------

// Content type that tells the platform a JSON prelude + 8 NUL bytes precede the body.
const HTTP_INTEGRATION_CONTENT_TYPE = 'application/vnd.awslambda.http-integration-response';
const STREAM_CONTENT_TYPE = Symbol.for('aws.lambda.runtime.stream.contentType');

class HttpResponseStream {
  static from(underlyingStream, prelude) {
    underlyingStream.setContentType(HTTP_INTEGRATION_CONTENT_TYPE);
    const metadata = JSON.stringify(prelude);
    // NUL bytes are the delimiter, so they may not appear inside the prelude.
    underlyingStream._onBeforeFirstWrite = (write) => {
      write(metadata);
      write(new Uint8Array(8));
    };
    return underlyingStream;
  }
}

function createResponseStream(client, id, highWaterMark) {
  const req = http.request({
    hostname: client.hostname,
    port: client.port,
    path: `${RUNTIME_PREFIX}/invocation/${encodeURIComponent(id)}/response`,
    method: 'POST',
    agent: client.agent,
    highWaterMark,
    headers: {
      'User-Agent': USER_AGENT,
      'Lambda-Runtime-Function-Response-Mode': 'streaming',
      'Transfer-Encoding': 'chunked',
      Trailer: 'Lambda-Runtime-Function-Error-Type, Lambda-Runtime-Function-Error-Body',
    },
  });
  // Each write goes out at once: with Nagle's algorithm a chunk that follows the head
  // would wait for flint's delayed ACK (~40 ms).
  req.on('socket', (socket) => socket.setNoDelay(true));
  let contentType = 'application/octet-stream';
  let started = false;
  const responseDone = new Promise((resolve, reject) => {
    req.on('response', (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode));
    });
    req.on('error', reject);
  });
  const origWrite = req.write.bind(req);
  const origEnd = req.end.bind(req);
  const start = () => {
    if (started) return;
    started = true;
    req.setHeader('Content-Type', contentType);
    if (req._onBeforeFirstWrite) req._onBeforeFirstWrite((chunk) => origWrite(chunk));
  };
  req.setContentType = (ct) => {
    if (started) throw new InvalidStreamingOperation('Cannot set content-type, too late.');
    contentType = ct;
    req[STREAM_CONTENT_TYPE] = ct;
  };
  req.write = (chunk, ...rest) => {
    start();
    return origWrite(chunk, ...rest);
  };
  req.end = (...args) => {
    start();
    return origEnd(...args);
  };
  const fail = (err) => {
    start();
    const body = toRapidResponse(err);
    req.addTrailers({
      'Lambda-Runtime-Function-Error-Type': body.errorType,
      'Lambda-Runtime-Function-Error-Body': Buffer.from(JSON.stringify(body)).toString('base64'),
    });
    origEnd();
  };
  return { stream: req, responseDone, fail };
}

// ---------------------------------------------------------------------------
// Main loop
// ---------------------------------------------------------------------------

function fatal(err) {
  process.stderr.write(`flint runtime: fatal: ${err && err.stack ? err.stack : err}\n`);
  process.exit(1);
}

class Runtime {
  constructor(client, handler, metadata, errorCallbacks) {
    this.client = client;
    this.handler = handler;
    this.metadata = metadata;
    this.errorCallbacks = errorCallbacks;
  }

  scheduleIteration() {
    setImmediate(() => {
      const once = this.metadata.streaming ? this.handleOnceStreaming() : this.handleOnce();
      once.catch((err) => {
        console.log(`Unexpected Top Level Error: ${err.toString()}`);
        this.errorCallbacks.uncaughtException(err);
      });
    });
  }

  setErrorCallbacks(id) {
    // A crash during an invoke is reported as that invoke's error, then the
    // process exits (129 / 128 like the real runtime) and flint re-inits.
    this.errorCallbacks.uncaughtException = (error) => {
      this.client.postInvocationError(error, id).finally(() => process.exit(129));
    };
    this.errorCallbacks.unhandledRejection = (error) => {
      this.client.postInvocationError(error, id).finally(() => process.exit(128));
    };
  }

  async handleOnce() {
    const { bodyJson, headers } = await this.client.nextInvocation();
    const id = headers['lambda-runtime-aws-request-id'];
    globalThis[REQUEST_ID_SYMBOL] = id;
    globalThis[TENANT_ID_SYMBOL] = headers['lambda-runtime-aws-tenant-id'];
    const scheduleNext = () => this.scheduleIteration();
    const [callback, callbackContext, markCompleted] = buildCallbackContext(
      this.client,
      id,
      scheduleNext,
    );
    this.setErrorCallbacks(id);

    // If the loop drains and nobody answered: a sync/callback handler gets a
    // null result (Lambda quirk), an async handler whose promise never
    // settled gets an error.
    const isAsync = this.metadata.isAsync;
    BeforeExit.set(() => {
      markCompleted();
      if (isAsync) {
        const err = new NodeJsExit('Error: Runtime exited without providing a reason');
        logError('Invoke Error', err);
        this.client.postInvocationError(err, id).then(scheduleNext, fatal);
      } else {
        this.client
          .post(`${RUNTIME_PREFIX}/invocation/${encodeURIComponent(id)}/response`, 'null')
          .then(scheduleNext, fatal);
      }
    });

    try {
      const ctx = attachContext(callbackContext, headers);
      const result = this.handler(JSON.parse(bodyJson), ctx, callback);
      if (result && typeof result.then === 'function') {
        result.then(callbackContext.succeed, callbackContext.fail).catch(callbackContext.fail);
      }
    } catch (err) {
      callback(err);
    }
  }

  async handleOnceStreaming() {
    const { bodyJson, headers } = await this.client.nextInvocation();
    const id = headers['lambda-runtime-aws-request-id'];
    globalThis[REQUEST_ID_SYMBOL] = id;
    globalThis[TENANT_ID_SYMBOL] = headers['lambda-runtime-aws-tenant-id'];
    this.setErrorCallbacks(id);
    const scheduleNext = () => this.scheduleIteration();
    BeforeExit.set(scheduleNext);

    const { stream, responseDone, fail } = createResponseStream(
      this.client,
      id,
      this.metadata.highWaterMark,
    );
    try {
      const ctx = attachContext({ callbackWaitsForEmptyEventLoop: false }, headers);
      const result = this.handler(JSON.parse(bodyJson), stream, ctx);
      if (!result || typeof result.then !== 'function') {
        fail(new Error('Streaming does not support non-async handlers.'));
      } else {
        const value = await result;
        if (value !== undefined) console.warn('Streaming handlers ignore return values.');
        if (!stream.writableEnded) fail(new Error('Response stream is not finished.'));
      }
    } catch (err) {
      logError('Invoke Error', err);
      if (!stream.writableEnded) fail(err);
    }
    await responseDone.catch(() => {});
    BeforeExit.reset();
    scheduleNext();
  }
}

// Lambda quirk: the nodejs24.x runtime (and later) refuses handlers that
// declare a third `callback` parameter, at init. Older runtime ids still
// support them, so the check keys on the *requested* runtime id.
function rejectCallbackHandlerOnNode24(handler, metadata) {
  const m = /^AWS_Lambda_nodejs(\d+)\.x$/.exec(process.env.AWS_EXECUTION_ENV || '');
  if (m && Number(m[1]) >= 24 && handler.length >= 3 && !metadata.streaming) {
    throw new CallbackHandlerDeprecated(
      'ERROR: AWS Lambda has removed support for callback-based function handlers starting with Node.js 24. You need to modify this function to use a supported handler signature to use Node.js 24 or later. For more information see https://docs.aws.amazon.com/lambda/latest/dg/nodejs-handler.html.',
    );
  }
}

// A runtime started ahead of its function (flint-sandbox, prespawn.rs): flint can
// start this client in a pre-spawned environment before any function is assigned to
// it, so that Node's start and this module's loading are paid before the cold start
// instead of during it. Such a runtime is started with _FLINT_PRESTART_FD and only
// the variables a process reads as it starts (NODE_*, LANG, LD_*, TZ, ...; already
// the function's). It reports ready with one byte on that descriptor; at the claim
// flint writes the function's working directory and whole environment to it,
// NUL-terminated, then closes it. From then on nothing tells this runtime from one
// started with them (but the NUL padding at the end of /proc/self/environ).
async function receiveFunction() {
  const fdVar = process.env._FLINT_PRESTART_FD;
  if (fdVar === undefined) return;
  const fd = Number(fdVar);
  await warmUp().catch(() => {});
  fs.writeSync(fd, 'R');
  const chunks = [];
  const buf = Buffer.alloc(65536);
  for (;;) {
    const n = fs.readSync(fd, buf, 0, buf.length, null);
    if (n === 0) break;
    chunks.push(Buffer.from(buf.subarray(0, n)));
  }
  fs.closeSync(fd);
  const fields = Buffer.concat(chunks).toString('utf8').split('\0');
  if (fields.length < 2 || fields[fields.length - 1] !== '') {
    // flint went away before handing over a function.
    process.exit(1);
  }
  const entries = fields.slice(1, -1).filter((e) => e.indexOf('=') > 0);
  for (const key of Object.keys(process.env)) delete process.env[key];
  for (const entry of entries) {
    const eq = entry.indexOf('=');
    process.env[entry.slice(0, eq)] = entry.slice(eq + 1);
  }
  rewriteInitialEnvironment(entries);
  process.chdir(fields[0]);
}

// Node compiles most functions on their first call, and the first Runtime API
// exchange otherwise pays for the client's and net's code paths after the claim
// (~3 ms). While there is no function yet, run one exchange through the same client
// against a throwaway server on an ephemeral loopback port inside the environment.
async function warmUp() {
  const event = Buffer.from('{"warm":true}');
  const server = net.createServer((socket) => {
    let seen = Buffer.alloc(0);
    socket.on('data', (chunk) => {
      seen = Buffer.concat([seen, chunk]);
      const text = seen.toString('latin1');
      if (text.startsWith('GET') && text.includes('\r\n\r\n')) {
        seen = Buffer.alloc(0);
        socket.write(
          'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n' +
            'Lambda-Runtime-Aws-Request-Id: warm-up\r\nLambda-Runtime-Deadline-Ms: 0\r\n' +
            `Content-Length: ${event.length}\r\n\r\n`,
        );
        socket.write(event);
      } else if (text.startsWith('POST') && text.endsWith('}')) {
        seen = Buffer.alloc(0);
        socket.end('HTTP/1.1 202 Accepted\r\nContent-Length: 2\r\n\r\n{}');
      }
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const client = new RuntimeClient(`127.0.0.1:${server.address().port}`);
    const { bodyJson, headers } = await client.nextInvocation();
    attachContext({}, headers);
    await client.postInvocationResponse(JSON.parse(bodyJson), 'warm-up');
    if (client.conn.socket) client.conn.socket.destroy();
  } finally {
    server.close();
  }
}

// /proc/self/environ reads the block the kernel laid out at execve, which flint
// started with room to spare (_FLINT_PRESTART_ROOM): write the function's variables
// there, so tools that read it see them. Once process.env has been replaced nothing
// refers to the block, except perhaps a library that kept a pointer to a start-up
// variable it read while starting: those stay first, byte for byte at the same
// addresses (the function has the same values). NULs pad the rest.
function rewriteInitialEnvironment(entries) {
  let start;
  let end;
  try {
    const stat = Buffer.alloc(4096);
    const fd = fs.openSync('/proc/self/stat', 'r');
    let n;
    try {
      n = fs.readSync(fd, stat, 0, stat.length, null);
    } finally {
      fs.closeSync(fd);
    }
    const text = stat.toString('latin1', 0, n);
    // Fields 50 and 51 (env_start, env_end); field 3 follows the ")" of the name.
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    start = Number(fields[47]);
    end = Number(fields[48]);
  } catch {
    return;
  }
  if (!(end > start)) return;
  let mem;
  try {
    mem = fs.openSync('/proc/self/mem', 'r+');
    const block = Buffer.alloc(end - start);
    fs.readSync(mem, block, 0, block.length, start);
    // The start-up variables come first, up to the first _FLINT_PRESTART_ entry.
    let kept = block.indexOf('_FLINT_PRESTART_', 0, 'latin1');
    while (kept > 0 && block[kept - 1] !== 0) {
      kept = block.indexOf('_FLINT_PRESTART_', kept + 1, 'latin1');
    }
    if (kept < 0) return;
    const keptKeys = new Set(
      block
        .toString('latin1', 0, kept)
        .split('\0')
        .map((e) => e.slice(0, e.indexOf('='))),
    );
    block.fill(0, kept);
    let at = kept;
    for (const entry of entries) {
      if (keptKeys.has(entry.slice(0, entry.indexOf('=')))) continue;
      const len = Buffer.byteLength(entry, 'utf8') + 1;
      if (at + len > block.length) break;
      at += block.write(entry, at, 'utf8') + 1;
    }
    fs.writeSync(mem, block, kept, block.length - kept, start + kept);
  } catch {
    // Cosmetic: /proc/self/environ keeps showing the start-up variables.
  } finally {
    if (mem !== undefined) fs.closeSync(mem);
  }
}

async function main() {
  await receiveFunction();
  LOG_FORMAT_JSON = (process.env.AWS_LAMBDA_LOG_FORMAT || '').toUpperCase() === 'JSON';
  patchConsole();
  const client = new RuntimeClient(process.env.AWS_LAMBDA_RUNTIME_API || '127.0.0.1:9001');

  const errorCallbacks = {
    uncaughtException: (error) => {
      client.postInitError(error).finally(() => process.exit(129));
    },
    unhandledRejection: (error) => {
      client.postInitError(error).finally(() => process.exit(128));
    },
  };
  process.on('uncaughtException', (error) => {
    logError('Uncaught Exception', error);
    errorCallbacks.uncaughtException(error);
  });
  process.on('unhandledRejection', (reason, promise) => {
    const error = new UnhandledPromiseRejection(reason, promise);
    logError('Unhandled Promise Rejection', error);
    errorCallbacks.unhandledRejection(error);
  });
  process.on('beforeExit', () => BeforeExit.invoke());

  const appRoot = process.env.LAMBDA_TASK_ROOT || process.cwd();
  const handlerName = process.env._HANDLER || process.argv[2] || '';
  let handler;
  let metadata;
  try {
    handler = await loadHandler(appRoot, handlerName);
    metadata = handlerMetadata(handler);
    rejectCallbackHandlerOnNode24(handler, metadata);
  } catch (err) {
    // Init failure: logged as "Uncaught Exception" and reported through
    // /init/error, as the real runtime does; then exit like it (129).
    logError('Uncaught Exception', err);
    await client.postInitError(err).catch(() => {});
    process.exit(129);
  }
  new Runtime(client, handler, metadata, errorCallbacks).scheduleIteration();
}

main();
