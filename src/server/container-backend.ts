/**
 * Containers for `docker run` through the server, on the executor's `kiln run` machinery: create stores the record,
 * attach registers the client's streams, start supervises the process inside the server (output to the attached
 * streams and to log.json), wait answers when it exits or, with `--rm`, once it is removed.
 */
import { Writable } from 'node:stream';
import { randomBytes } from 'node:crypto';
import { KilnError } from '../errors.js';
import type { StoreRoot } from '../cache/root.js';
import { createContainer, type CreateContainerOptions } from '../containers/create-container.js';
import { createContainerStore } from '../containers/containers.js';
import { superviseContainer } from '../containers/container-runner.js';
import { removeContainer, startContainer, stopContainer } from '../containers/lifecycle.js';
import { hasRestartPolicy } from '../containers/restart-policy.js';
import { execInContainer } from '../containers/exec.js';
import { containerTop } from '../containers/top.js';
import { containerStats } from '../containers/stats.js';
import { pauseContainer, unpauseContainer } from '../containers/pause.js';
import { parseUpdate, updateContainer } from '../containers/update.js';
import { renameContainer } from '../containers/rename.js';
import { killContainer } from '../containers/kill.js';
import { emitContainerEvent } from '../containers/container-events.js';
import { parseVolume } from '../containers/run-config.js';
import { containerFsMembers } from './container-fs-backend.js';
import type { PortMapping } from '../sandbox/types.js';
import type { EndpointOptions } from '../containers/container-networks.js';
import type { ContainerBackend, ContainerCreate, ExecCreate, ExecInspect } from './backend.js';
import { containerPruneFilter, matchContainer } from './filters.js';
import { healthcheckActive } from '../containers/healthcheck.js';
import { createLogReader } from '../containers/log-reader.js';
import { hostOptions } from './host-config.js';
import { containerInspect, containerSummary } from './container-shapes.js';
import { shapeInputs } from './container-sizes.js';

interface Live {
  sinks: { stdout?: Writable; stderr?: Writable };
  /** The attached client's input (`docker run -i`), handed to the process at start. */
  stdin?: NodeJS.ReadableStream;
  /** Resolves when the process has exited (exit code) and, after that, when an auto-removed record is gone. */
  exited: Promise<number>;
  removed: Promise<void>;
  settle: { exit(code: number): void; removed(): void };
  ended: Promise<void>;
  endOutput(): void;
  started: boolean;
  /** Settles once the process runs (start answers then, as dockerd's does) or failed to start. */
  running?: Promise<void>;
  /** Sizes the container's terminal (a `-t` container), and the size asked for before it existed. */
  terminal: TerminalSize;
}

/** A terminal size that may be asked for before the terminal exists (the docker CLI resizes right after start). */
interface TerminalSize {
  resize?: (rows: number, cols: number) => void;
  pending?: [number, number];
}

function setSize(t: TerminalSize, rows: number, cols: number): void {
  if (t.resize) t.resize(rows, cols);
  else t.pending = [rows, cols];
}

function attachTerminal(t: TerminalSize, resize: (rows: number, cols: number) => void): void {
  t.resize = resize;
  if (t.pending) resize(...t.pending);
}

function deferred<T>(): { promise: Promise<T>; resolve: (v: T) => void } {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

/**
 * Docker's NetworkMode (bridge, default, host, none, or a user-defined network's name or id) and the endpoints'
 * `--network-alias` / `--ip` (NetworkingConfig.EndpointsConfig; its other fields are refused by host-config.ts).
 */
function networking(spec: ContainerCreate): NonNullable<CreateContainerOptions['networking']> {
  const mode = spec.HostConfig?.NetworkMode;
  if (mode !== undefined && typeof mode !== 'string') throw new KilnError('INVALID_ARGUMENT', 'HostConfig.NetworkMode must be a string');
  if (mode && /^(container|service):/.test(mode)) throw new KilnError('NOT_IMPLEMENTED', `--network ${mode} is not supported by kiln`);
  const endpoints: Record<string, EndpointOptions> = {};
  for (const [name, ep] of Object.entries(spec.NetworkingConfig?.EndpointsConfig ?? {})) {
    endpoints[name] = { aliases: [...(ep?.Aliases ?? [])], ...(ep?.IPAMConfig?.IPv4Address ? { ipv4Address: ep.IPAMConfig.IPv4Address } : {}) };
  }
  return { mode: mode || undefined, endpoints };
}

/**
 * Docker's PortBindings (`{"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8080"}]}`) → the executor's port
 * mappings. An empty HostPort asks Docker for a random one; kiln's proxy needs a fixed port, so that is refused.
 */
export function portMappings(bindings: NonNullable<ContainerCreate['HostConfig']>['PortBindings']): PortMapping[] {
  const out: PortMapping[] = [];
  for (const [key, list] of Object.entries(bindings ?? {})) {
    const [port, proto = 'tcp'] = key.split('/');
    const containerPort = Number(port);
    if (proto !== 'tcp' && proto !== 'udp') throw new KilnError('INVALID_ARGUMENT', `port ${key}: the protocol must be tcp or udp`);
    if (!Number.isInteger(containerPort) || containerPort < 1 || containerPort > 65535)
      throw new KilnError('INVALID_ARGUMENT', `invalid container port ${JSON.stringify(key)}`);
    for (const b of list ?? []) {
      const hostPort = Number(b?.HostPort);
      if (!b?.HostPort || !Number.isInteger(hostPort) || hostPort < 1 || hostPort > 65535) {
        throw new KilnError('INVALID_ARGUMENT', `port ${key}: a host port is required (got ${JSON.stringify(b?.HostPort ?? '')})`, {
          hint: 'publish with -p HOSTPORT:CONTAINERPORT',
        });
      }
      out.push({ ...(b.HostIp ? { hostIp: b.HostIp } : {}), hostPort, containerPort, protocol: proto });
    }
  }
  return out;
}

interface ExecEntry {
  id: string;
  containerId: string;
  spec: ExecCreate;
  running: boolean;
  exitCode: number | null;
  started: boolean;
  terminal: TerminalSize;
}

/** Docker's Entrypoint (array or string) → kiln run's one-string entrypoint plus the args it prepends to Cmd. */
function splitEntrypoint(ep: ContainerCreate['Entrypoint']): { entrypoint?: string; prefix: string[] } {
  if (ep === undefined || ep === null) return { prefix: [] };
  const list = typeof ep === 'string' ? [ep] : ep;
  if (list.length === 0) return { entrypoint: '', prefix: [] };
  return { entrypoint: list[0], prefix: list.slice(1) };
}

/** Config.Labels as sent: an object of strings (null or absent is none). */
function labelMap(labels: ContainerCreate['Labels']): Record<string, string> {
  if (labels === undefined || labels === null) return {};
  if (typeof labels !== 'object' || Array.isArray(labels)) throw new KilnError('INVALID_ARGUMENT', 'Labels must be an object of strings');
  for (const [k, v] of Object.entries(labels)) {
    if (typeof v !== 'string') throw new KilnError('INVALID_ARGUMENT', `label ${JSON.stringify(k)}: the value must be a string`);
  }
  return { ...labels };
}

export function createContainerBackend(root: StoreRoot): ContainerBackend {
  const store = createContainerStore({ root: root.root });
  /**
   * Resolves once the record says running (runc has exec'd the process: confirmStart); never when the process
   * fails to start, whose error the supervisor's rejection delivers instead.
   */
  const waitRunning = (id: string): Promise<void> =>
    new Promise((resolve) => {
      const poll = async () => {
        for (let i = 0; i < 3000; i++) {
          const r = await store.get(id).catch(() => undefined);
          if (r?.status === 'running') return resolve();
          if (!r || r.status === 'exited') return;
          await new Promise((res) => setTimeout(res, 10));
        }
      };
      void poll(); // cannot reject: every store read is caught
    });
  const live = new Map<string, Live>();
  const execs = new Map<string, ExecEntry>();

  function track(id: string): Live {
    let l = live.get(id);
    if (l) return l;
    const exit = deferred<number>();
    const removed = deferred<void>();
    const ended = deferred<void>();
    l = {
      sinks: {},
      exited: exit.promise,
      removed: removed.promise,
      settle: { exit: exit.resolve, removed: removed.resolve },
      ended: ended.promise,
      endOutput: ended.resolve,
      started: false,
      terminal: {},
    };
    live.set(id, l);
    return l;
  }

  const forward = (l: Live, which: 'stdout' | 'stderr') =>
    new Writable({
      write(chunk: Buffer, _enc, cb) {
        const s = l.sinks[which];
        if (s && !s.destroyed) s.write(chunk, () => cb());
        else cb();
      },
    });

  const backend: ContainerBackend = {
    // diff, cp, export, commit (container-fs-backend.ts).
    ...containerFsMembers(root, (id) => store.get(id)),
    async create(spec, opts) {
      if (!spec?.Image || typeof spec.Image !== 'string') throw new KilnError('INVALID_ARGUMENT', 'Image is required');
      const { entrypoint, prefix } = splitEntrypoint(spec.Entrypoint);
      const cmd = [...prefix, ...(spec.Cmd ?? [])];
      const rec = await createContainer(root, {
        ...hostOptions(spec),
        image: spec.Image,
        cmd,
        entrypoint,
        env: spec.Env ?? undefined,
        workdir: spec.WorkingDir || undefined,
        user: spec.User || undefined,
        networking: networking(spec),
        ports: portMappings(spec.HostConfig?.PortBindings),
        volumes: (spec.HostConfig?.Binds ?? []).map((b) => parseVolume(b, '/')),
        volumesFrom: spec.HostConfig?.VolumesFrom ?? undefined,
        name: opts.name,
        ...(opts.platform ? { platform: opts.platform } : {}),
        labels: labelMap(spec.Labels),
        tty: Boolean(spec.Tty),
        autoRemove: Boolean(spec.HostConfig?.AutoRemove),
        stopSignal: spec.StopSignal || undefined,
        detached: false,
      }).catch((err: unknown) => {
        // The docker CLI reads any 404 from create as "image not found" and pulls: a missing bind source is
        // a 400, as dockerd answers ("invalid mount config").
        if (err instanceof KilnError && err.category === 'not-found' && err.code !== 'IMAGE_NOT_FOUND' && err.code !== 'NETWORK_NOT_FOUND') {
          throw new KilnError('INVALID_ARGUMENT', `invalid mount config: ${err.message}`, { hint: err.hint, cause: err });
        }
        throw err;
      });
      track(rec.id);
      return { id: rec.id, warnings: [] };
    },
    async attach(id, sinks) {
      const rec = await store.get(id);
      const l = track(rec.id);
      l.sinks = { stdout: sinks.stdout, stderr: sinks.stderr };
      l.stdin = sinks.stdin;
      if (rec.status === 'exited' && !l.started) return;
      if (!l.started && (rec.status === 'running' || rec.status === 'restarting')) {
        // Supervised by another process (a detached supervisor): its output, from now on, out of log.json.
        const drop = () => new Writable({ write: (_c, _e, cb) => cb() });
        await backend.logs?.(rec.id, { stdout: sinks.stdout ?? drop(), stderr: sinks.stderr ?? drop() }, { follow: true, tail: 0 });
        return;
      }
      await l.ended;
    },
    async start(id) {
      let rec = await store.get(id);
      if (rec.status === 'running' || rec.status === 'restarting') return;
      const l0 = live.get(rec.id);
      const attached = Boolean(l0 && !l0.started && (l0.sinks.stdout || l0.sinks.stderr || l0.stdin));
      if (hasRestartPolicy(rec.restartPolicy) && !attached) {
        // Nobody attached (`docker run -d`, `docker start`, compose up -d): a detached supervisor runs it, so its
        // restart policy outlives this server. attach, logs and wait follow its record and log.json.
        live.delete(rec.id);
        await startContainer(root.root, rec);
        return;
      }
      if (rec.status === 'exited') {
        // `docker start` of a stopped container runs it again on its writable layer, with fresh waiters.
        if (live.get(rec.id)?.started) live.delete(rec.id);
        rec = await store.update(rec.id, { status: 'created', exitCode: undefined, error: undefined, finishedAt: undefined, pid: 0, manuallyStopped: false });
      }
      const l = track(rec.id);
      if (l.started) return l.running;
      l.started = true;
      const running = deferred<void>();
      let startError: unknown;
      l.running = running.promise;
      // The attached client sees the first run: its output ends and its wait answers at the first exit, as the
      // docker CLI's does; a restart policy (rare when attached) keeps restarting it in this process.
      let settled = false;
      const settleExit = (code: number) => {
        if (settled) return;
        settled = true;
        running.resolve();
        l.endOutput();
        l.settle.exit(code);
      };
      // Supervised inside the server: the record says running until it exits; a server crash leaves it for
      // the next start's clean-up (cleanupStale). confirmStart: `running` once runc has exec'd the process, so a
      // `docker exec` right after `docker run -d` finds it running. Not awaited (start answers once it runs); the
      // chain cannot reject: a failed start becomes an exit code, and the bookkeeping below does not throw.
      void superviseContainer(root.root, rec.id, {
        stdout: forward(l, 'stdout'),
        stderr: forward(l, 'stderr'),
        stdin: l.stdin,
        confirmStart: true,
        onStart: (c) => {
          if (c.resize) attachTerminal(l.terminal, c.resize);
          void waitRunning(rec.id).then(running.resolve); // waitRunning never rejects
        },
        onExit: (code) => settleExit(code),
      })
        .then(
          (r) => r.exitCode ?? 0,
          (err) => {
            startError = err;
            return err instanceof KilnError ? err.exitCode : 125;
          },
        )
        .then((code) => {
          settleExit(code);
          l.settle.removed();
          // Unless a later `docker start` has replaced it with a run of its own.
          setTimeout(() => {
            if (live.get(rec.id) === l) live.delete(rec.id);
          }, 60_000).unref();
        });
      await running.promise;
      // A process that never ran (command not found, port in use) is the start's error, as with dockerd.
      if (startError) throw startError;
    },
    async execCreate(id, spec) {
      const rec = await store.get(id);
      if (rec.status === 'restarting')
        throw new KilnError('CONTAINER_RUNNING', `container ${rec.id.slice(0, 12)} is restarting, wait until the container is running`);
      if (rec.status !== 'running') throw new KilnError('CONTAINER_RUNNING', `container ${rec.id.slice(0, 12)} is not running`);
      if (rec.paused) throw new KilnError('CONTAINER_RUNNING', `Container ${rec.id} is paused, unpause the container before exec`);
      if (!Array.isArray(spec?.Cmd) || spec.Cmd.length === 0 || !spec.Cmd.every((a) => typeof a === 'string')) {
        throw new KilnError('INVALID_ARGUMENT', 'no exec command specified');
      }
      const execId = randomBytes(32).toString('hex');
      execs.set(execId, { id: execId, containerId: rec.id, spec, running: false, exitCode: null, started: false, terminal: {} });
      emitContainerEvent(root.root, rec, `exec_create: ${spec.Cmd.join(' ')}`, { execID: execId });
      return execId;
    },
    async execStart(execId, sinks, opts) {
      const e = execs.get(execId);
      if (!e) throw new KilnError('NOT_FOUND', `No such exec instance: ${execId}`);
      if (e.started) throw new KilnError('CONTAINER_RUNNING', `exec ${execId.slice(0, 12)} has already run`);
      e.started = true;
      e.running = true;
      try {
        e.exitCode = await execInContainer(root.root, e.containerId, {
          args: e.spec.Cmd,
          env: e.spec.Env ?? undefined,
          user: e.spec.User || undefined,
          cwd: e.spec.WorkingDir || undefined,
          tty: Boolean(e.spec.Tty),
          consoleSize: opts?.consoleSize,
          onTerminal: (resize) => attachTerminal(e.terminal, resize),
          streams: { stdout: sinks.stdout, stderr: sinks.stderr, stdin: sinks.stdin },
          signal: opts?.signal,
          execId,
        });
      } catch (err) {
        e.exitCode = err instanceof KilnError ? err.exitCode : 126;
        throw err;
      } finally {
        e.running = false;
        // Kept a while for `GET /exec/{id}/json`, which the docker CLI asks right after the output ends.
        setTimeout(() => execs.delete(execId), 300_000).unref();
      }
      return e.exitCode;
    },
    async resize(id, rows, cols) {
      const rec = await store.get(id);
      setSize(track(rec.id).terminal, rows, cols);
    },
    async execResize(execId, rows, cols) {
      const e = execs.get(execId);
      if (!e) throw new KilnError('NOT_FOUND', `No such exec instance: ${execId}`);
      setSize(e.terminal, rows, cols);
    },
    async execInspect(execId): Promise<ExecInspect> {
      const e = execs.get(execId);
      if (!e) throw new KilnError('NOT_FOUND', `No such exec instance: ${execId}`);
      return {
        ID: e.id,
        ContainerID: e.containerId,
        Running: e.running,
        ExitCode: e.exitCode,
        OpenStdin: Boolean(e.spec.AttachStdin),
        OpenStdout: e.spec.AttachStdout !== false,
        OpenStderr: e.spec.AttachStderr !== false,
        ProcessConfig: { tty: Boolean(e.spec.Tty), entrypoint: e.spec.Cmd[0] ?? '', arguments: e.spec.Cmd.slice(1), user: e.spec.User ?? '' },
        Pid: 0,
      };
    },
    async wait(id, condition, opts) {
      const rec = await store.get(id);
      const l = live.get(rec.id);
      if (!l) {
        // A container waiting to restart still counts as running (dockerd's State.Running stays true).
        if (rec.status !== 'running' && rec.status !== 'restarting' && condition !== 'removed') return { StatusCode: rec.exitCode ?? 0 };
        // Started by another process (a detached supervisor): poll its record.
        for (;;) {
          if (opts?.signal?.aborted) throw new KilnError('CANCELLED', 'wait cancelled');
          const r = await store.get(rec.id).catch(() => undefined);
          if (!r) return { StatusCode: rec.exitCode ?? 0 };
          if (r.status === 'exited' && condition !== 'removed') return { StatusCode: r.exitCode ?? 0 };
          await new Promise((res) => setTimeout(res, 200));
        }
      }
      if (condition === 'not-running' && !l.started && rec.status !== 'running') return { StatusCode: rec.exitCode ?? 0 };
      const code = await l.exited;
      if (condition === 'removed') await l.removed;
      return { StatusCode: code };
    },
    async logs(id, out, opts) {
      const rec = await store.get(id);
      const path = store.logPath(rec.id);
      // log.json holds one record per chunk the process wrote, with the time it was written; a chunk's lines
      // share its time. `tail` counts lines, as docker's json-file does.
      type Line = { stream: string; text: string; time: string };
      const wanted = (l: Line) => {
        const t = Date.parse(l.time);
        if (opts.since !== undefined && !(t >= opts.since)) return false;
        if (opts.until !== undefined && !(t <= opts.until)) return false;
        return (l.stream === 'stderr' ? opts.stderr : opts.stdout) !== false;
      };
      // One write per run of lines from the same stream, each awaited: the sinks write to the response one chunk
      // at a time, and the response ends when this returns.
      const write = async (lines: Line[]) => {
        for (let i = 0; i < lines.length;) {
          const stream = lines[i]!.stream;
          let text = '';
          for (; i < lines.length && lines[i]!.stream === stream; i++) text += opts.timestamps ? `${lines[i]!.time} ${lines[i]!.text}` : lines[i]!.text;
          const sink = stream === 'stderr' ? out.stderr : out.stdout;
          await new Promise<void>((resolve) => sink.write(text, () => resolve()));
        }
      };
      const reader = createLogReader(path);
      const drain = async (): Promise<Line[]> => {
        const got: Line[] = [];
        for (const e of await reader.next()) {
          for (const text of e.log.match(/[^\n]*\n|[^\n]+$/g) ?? []) got.push({ stream: e.stream, text, time: e.time });
        }
        return got.filter(wanted);
      };
      const first = await drain();
      const tail = opts.tail === undefined ? first : opts.tail === 0 ? [] : first.slice(-opts.tail);
      await write(tail);
      // `-f`: follow until the container stops or the client leaves (log.json is appended by the supervisor).
      while (opts.follow && !opts.signal?.aborted) {
        const now = await store.get(rec.id).catch(() => undefined);
        await write(await drain());
        if (!now || (now.status !== 'running' && now.status !== 'restarting')) break;
        await new Promise((r) => setTimeout(r, 200));
      }
    },
    async stop(id, opts) {
      await stopContainer(root.root, await store.get(id), { timeoutSec: opts?.timeoutSeconds });
    },
    async restart(id, opts) {
      await backend.stop(id, opts);
      await backend.start(id);
    },
    async remove(id, opts) {
      // `docker rm -v` (v=1) takes the anonymous volumes too; without it they stay (volume prune takes them), as dockerd.
      await removeContainer(root.root, await store.get(id), { force: opts?.force, volumes: Boolean(opts?.volumes) });
    },
    async list(opts) {
      const all = await store.list();
      const f = opts.filters ?? new Map<string, string[]>();
      let ancestors: Set<string> | undefined;
      if (f.has('ancestor')) {
        ancestors = new Set();
        for (const a of f.get('ancestor') ?? []) {
          const img = await root.images.resolve(a).catch(() => undefined); // an unknown image matches nothing, as dockerd
          if (img) ancestors.add(img.id);
        }
      }
      // before/since name a container (dockerd: an unknown one is an error); the window is their creation time.
      const window: { before?: number; since?: number } = {};
      for (const key of ['before', 'since'] as const) {
        for (const ref of f.get(key) ?? []) window[key] = Date.parse((await store.get(ref)).created);
      }
      const candidates = all.filter((c) => opts.all || c.status === 'running' || c.status === 'restarting');
      const shown: Array<{ c: (typeof candidates)[number]; inputs: Awaited<ReturnType<typeof shapeInputs>> }> = [];
      for (const c of candidates) {
        const inputs = await shapeInputs(root, c, { size: opts.size });
        const networks = Object.entries(inputs.networks ?? {}).flatMap(([name, ep]) => [name, ep.NetworkID]);
        const published = (c.spec.ports ?? []).map((p) => ({ port: p.containerPort, proto: p.protocol ?? 'tcp' }));
        const exposed = [
          ...published,
          ...Object.keys(inputs.imageExposedPorts ?? {}).map((k) => ({ port: Number(k.split('/')[0]), proto: k.split('/')[1] ?? 'tcp' })),
        ];
        const facts = {
          id: c.id,
          name: c.name,
          status: c.paused && c.status === 'running' ? 'paused' : c.status,
          exitCode: c.exitCode,
          labels: c.labels,
          imageId: c.imageId,
          created: Date.parse(c.created),
          networks,
          volumes: [...c.volumes.map((v) => v.name), ...(c.spec.mounts ?? []).map((m) => m.target)],
          health: healthcheckActive(c.healthcheck) ? (c.health?.status ?? 'starting') : 'none',
          published,
          exposed,
        };
        if (matchContainer(f, facts, ancestors, window)) shown.push({ c, inputs });
      }
      return shown.map(({ c, inputs }) => containerSummary(c, inputs));
    },
    async prune(opts) {
      const keep = containerPruneFilter(opts.filters ?? new Map());
      const deleted: string[] = [];
      for (const rec of await store.list()) {
        if (rec.status === 'running' || rec.status === 'restarting' || !keep(rec)) continue;
        // As dockerd's prune: the container goes, its volumes stay (volume prune takes those).
        const ok = await removeContainer(root.root, rec, { force: false }).then(
          () => true,
          () => false, // started or removed meanwhile
        );
        if (ok) deleted.push(rec.id);
      }
      return { ContainersDeleted: deleted, SpaceReclaimed: 0 };
    },
    // docker top / stats / pause / unpause / update / rename / kill: src/containers/{top,stats,pause,update,rename,kill}.ts
    top: async (id, psArgs) => containerTop(root.root, await store.get(id), psArgs),
    stats: async (id, opts, send) => containerStats(root.root, id, opts, send),
    pause: async (id) => void (await pauseContainer(root.root, await store.get(id))),
    unpause: async (id) => void (await unpauseContainer(root.root, await store.get(id))),
    update: async (id, config) => {
      const u = parseUpdate(config);
      await updateContainer(root.root, await store.get(id), u);
      return { Warnings: [] };
    },
    rename: async (id, name) => void (await renameContainer(root.root, await store.get(id), name)),
    kill: async (id, signal) => killContainer(root.root, await store.get(id), signal),
    async inspect(id, opts) {
      const rec = await store.get(id);
      return containerInspect(rec, await shapeInputs(root, rec, { size: opts?.size }));
    },
  };
  return backend;
}
