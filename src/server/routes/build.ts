/**
 * `POST /build`: unpack the context into `<root>/tmp`, queue for a build slot, run the builder with the client's
 * disconnect wired to its AbortSignal, stream Docker's JSON messages, and remove the context whatever happens.
 */
import { randomBytes } from 'node:crypto';
import { KilnError } from '../../errors.js';
import { readFileInRoot } from '../../builder/fileops/read-in-root.js';
import type { Handler } from '../context.js';
import { parseBuildQuery, withCacheDefaults } from '../build-params.js';
import { createBuildStream, type JsonMessage } from '../build-stream.js';
import { readRegistryConfig } from '../registry-auth.js';
import { startJsonStream } from '../json-stream.js';

/** How much of a refused build's upload is read before answering, and for how long at most. */
const REFUSAL_DRAIN_BYTES = 64 * 1024 * 1024;
const REFUSAL_DRAIN_MS = 10_000;

/** Reads and drops `req`'s body until its end, `maxBytes`, or `ms`, whichever comes first. */
function discardBody(req: import('node:http').IncomingMessage, maxBytes: number, ms: number): Promise<void> {
  return new Promise((resolve) => {
    if (req.complete || req.readableEnded) return resolve();
    let seen = 0;
    const done = () => {
      clearTimeout(timer);
      req.off('data', onData);
      req.off('end', done);
      req.off('error', done);
      req.off('close', done);
      resolve();
    };
    const onData = (chunk: Buffer) => {
      seen += chunk.length;
      if (seen > maxBytes) {
        req.pause();
        done();
      }
    };
    const timer = setTimeout(() => {
      req.pause();
      done();
    }, ms);
    req.on('data', onData);
    req.once('end', done);
    req.once('error', done);
    req.once('close', done);
  });
}

export const postBuild: Handler = async ({ req, res, query, state, signal, id }) => {
  if (state.draining) throw new KilnError('SERVER_BUSY', 'the server is shutting down; not accepting builds');
  let request: ReturnType<typeof parseBuildQuery>;
  try {
    request = parseBuildQuery(query, state.allow);
  } catch (err) {
    // The client is still sending its context: answering before reading it makes the docker CLI see a broken
    // pipe instead of the reason. Read (and drop) a bounded amount first, so the refusal reaches it.
    await discardBody(req, Math.min(state.limits.maxContextBytes, REFUSAL_DRAIN_BYTES), REFUSAL_DRAIN_MS);
    throw err;
  }
  const registryAuth = readRegistryConfig(req);
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > state.limits.maxContextBytes)
    throw new KilnError('PAYLOAD_TOO_LARGE', `build context (${declared} bytes) exceeds the server's limit of ${state.limits.maxContextBytes} bytes`);

  const started = Date.now();
  const ctx = await state.contexts.acquire(req, { maxBytes: state.limits.maxContextBytes, maxEntries: state.limits.maxContextEntries }, { signal });
  const dir = ctx.dir;
  let out: ReturnType<typeof startJsonStream> | undefined;
  const contextBytes = ctx.bytes;
  try {
    // Read inside the context, no-follow: a stranger's tar may hold `Dockerfile -> /etc/passwd` or `sub -> /`.
    const text = await readFileInRoot(dir, request.dockerfile, request.dockerfile).catch((err: unknown) => {
      throw new KilnError('DOCKERFILE_NOT_FOUND', `Cannot locate specified Dockerfile: ${request.dockerfile}`, { cause: err });
    });
    if (text === undefined) throw new KilnError('DOCKERFILE_NOT_FOUND', `Cannot locate specified Dockerfile: ${request.dockerfile}`);
    // A Dockerfile from outside the context arrives under a random name (`.dockerfile.3f2a…`); messages should
    // say `Dockerfile:4`, as dockerd's do, so the builder gets its text under that name.
    const contextDockerfile = /^\.dockerfile\.[0-9a-f]{8,}$/.test(request.dockerfile) ? 'Dockerfile' : request.dockerfile;
    const dockerfileText = text.toString('utf8');

    out = startJsonStream(res);
    const json = out;
    const stream = createBuildStream((m: JsonMessage) => json.write(m), { quiet: request.quiet, events: request.events, explain: request.options.explain });
    for (const w of request.warnings) stream.note(`[WARNING]: ${w}`);
    let queuedAt = 0;
    let queuedMs = 0;
    try {
      const result = await state.builds.run(
        async (buildSignal) => {
          if (queuedAt) queuedMs = Date.now() - queuedAt;
          if (queuedAt) stream.note(`Build slot free after ${((Date.now() - queuedAt) / 1000).toFixed(1)}s`);
          return state.backend.build({
            ...withCacheDefaults(request.options, state.cache),
            contextDir: dir,
            ...(ctx.digest ? { contextDigest: ctx.digest } : {}),
            contextDockerfile,
            dockerfileText,
            registryAuth,
            signal: buildSignal,
            onEvent: (e) => stream.event(e),
            // The build record says who asked: the client's address (a Unix socket's peer has none).
            origin: {
              kind: 'server',
              address: req.socket.remoteAddress ? `${req.socket.remoteAddress}:${req.socket.remotePort}` : 'unix',
              ...(req.headers.authorization ? { identity: 'bearer token' } : {}),
            },
          });
        },
        {
          signal,
          onQueued: (ahead) => {
            queuedAt = Date.now();
            stream.note(`Waiting for a build slot (${ahead} build${ahead === 1 ? '' : 's'} queued, ${state.builds.running} running)…`);
          },
        },
      );
      stream.done(result);
      state.log.info('build', {
        id,
        outcome: 'ok',
        durationMs: Date.now() - started,
        tags: result.tags,
        imageId: result.imageId,
        stepsExecuted: result.stepsExecuted,
        stepsCached: result.stepsCached,
        contextBytes,
        queuedMs,
        reason: ctx.reused ? 'context-reused' : undefined,
      });
    } catch (err) {
      // A client that left gets nothing more; a build cancelled by the drain tells its client why.
      if (!signal.aborted) stream.fail(err);
      state.log.info('build', {
        id,
        outcome: signal.aborted ? 'cancelled' : 'failed',
        durationMs: Date.now() - started,
        tags: request.tags,
        error: (err as KilnError)?.code ?? 'INTERNAL',
        contextBytes,
      });
    }
  } finally {
    // Release (and, when not kept, remove) the context before the response ends: a client that sees the end
    // sees a clean server.
    await ctx.release();
    out?.end();
  }
};

/** A random build id for logs. */
export function newId(): string {
  return randomBytes(6).toString('hex');
}
