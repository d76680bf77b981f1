/**
 * `kiln build [flags] CONTEXT`: builds an image from a Dockerfile with the local builder, rendering its events
 * (`--progress`), and prints the image ID. CONTEXT `-` reads a tar of the context from stdin. Ctrl-C cancels the
 * build cleanly (running steps are killed, nothing is tagged, finished steps stay cached).
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { KilnError } from '../../errors.js';
import type { BuildOptions, BuildResult, OutputSpec, SecretSource, SshSource } from '../../builder/types.js';
import { parseEntitlements } from '../../builder/entitlements.js';
import { parseCacheExport, parseCacheImport } from '../../remote-cache/spec.js';
import { globalOptions } from '../context.js';
import { perInvocationBuilders, resolveArg } from '../io.js';
import { localOrigin } from '../../builder/history-recorder.js';
import { retentionPolicy } from '../../history/retention.js';
import { createRenderer, type ProgressMode } from '../progress/index.js';

const collect = (v: string, acc: string[]) => [...acc, v];

/** `K=V` pairs; a bare `K` takes its value from the environment (as `docker build --build-arg K`). */
export function parseKeyValues(list: string[], what: string, fromEnv: boolean, env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of list) {
    const i = item.indexOf('=');
    if (i === 0) throw new KilnError('INVALID_ARGUMENT', `invalid ${what} "${item}"`, { hint: `use ${what} KEY=VALUE` });
    if (i < 0) {
      if (!fromEnv) throw new KilnError('INVALID_ARGUMENT', `invalid ${what} "${item}"`, { hint: `use ${what} KEY=VALUE` });
      const v = env[item];
      if (v !== undefined) out[item] = v;
      continue;
    }
    out[item.slice(0, i)] = item.slice(i + 1);
  }
  return out;
}

function csv(spec: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of spec.split(',')) {
    const i = part.indexOf('=');
    if (i < 0) out[part.trim()] = '';
    else out[part.slice(0, i).trim()] = part.slice(i + 1);
  }
  return out;
}

/** `--output` as BuildKit takes it: `type=…,dest=…`, or a bare path meaning `type=local,dest=PATH` (`cwd` resolves it). */
function parseOutput(spec: string, cwd = process.cwd()): OutputSpec {
  if (!spec.includes('=')) return spec === '-' ? { type: 'tar', dest: '-' } : { type: 'local', dest: resolve(cwd, spec) };
  const o = csv(spec);
  const type = o.type ?? 'local';
  switch (type) {
    case 'image':
    case 'registry': {
      const push = type === 'registry' || o.push === 'true';
      if (o.store !== undefined && o.store !== 'true' && o.store !== 'false')
        throw new KilnError('INVALID_ARGUMENT', `--output type=${type}: store=${o.store} must be true or false`);
      const store = o.store !== 'false';
      // Without the local store the image must go somewhere: BuildKit's store=false is for pushes.
      if (!store && !push)
        throw new KilnError('INVALID_ARGUMENT', `--output type=${type},store=false needs push=true (or type=registry)`, { hint: 'the image would go nowhere' });
      return { type: 'image', push, names: o.name ? o.name.split(/[,\s]+/).filter(Boolean) : undefined, ...(store ? {} : { store: false }) };
    }
    case 'oci':
    case 'docker':
    case 'tar':
    case 'local':
      if (!o.dest) throw new KilnError('INVALID_ARGUMENT', `--output type=${type} needs dest=PATH`);
      return { type, dest: o.dest === '-' ? '-' : resolve(cwd, o.dest) };
    default:
      throw new KilnError('INVALID_ARGUMENT', `unknown output type "${type}"`, { hint: 'use type=image|oci|docker|tar|local' });
  }
}

/**
 * `--secret id=NAME,src=FILE` or `id=NAME,env=VAR` (`source=` and `type=` accepted as BuildKit does). An env
 * secret is read here, from the caller's `env`: a daemon-served build's environment is its client's, not the daemon's.
 */
function parseSecret(spec: string, env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): SecretSource {
  const o = csv(spec);
  const id = o.id;
  if (!id) throw new KilnError('INVALID_ARGUMENT', `--secret "${spec}" has no id=`);
  const src = o.src ?? o.source;
  if (o.env !== undefined || o.type === 'env') {
    const name = o.env || src || id;
    return { id, env: name, value: env[name] };
  }
  return { id, src: resolve(cwd, src ?? id) };
}

/**
 * `--ssh default|ID[=SOCKET]` as BuildKit's `--ssh`: an agent socket for `RUN --mount=type=ssh,id=ID`; without
 * `=SOCKET` the agent of SSH_AUTH_SOCK. (BuildKit also takes key files; kiln asks for an agent holding them.)
 */
export function parseSsh(spec: string, env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): SshSource {
  const eq = spec.indexOf('=');
  const id = (eq < 0 ? spec : spec.slice(0, eq)).trim();
  if (!id) throw new KilnError('INVALID_ARGUMENT', `--ssh "${spec}" has no id`, { hint: 'use --ssh default or --ssh ID=AGENT_SOCKET' });
  const paths =
    eq < 0
      ? []
      : spec
          .slice(eq + 1)
          .split(',')
          .filter(Boolean);
  if (paths.length > 1)
    throw new KilnError('NOT_IMPLEMENTED', `--ssh ${id}: key files are not supported, only one agent socket`, {
      hint: 'add the keys to an agent (ssh-add KEY) and pass --ssh default',
    });
  const socket = paths[0] ?? env.SSH_AUTH_SOCK;
  if (!socket)
    throw new KilnError('INVALID_ARGUMENT', `--ssh ${id}: SSH_AUTH_SOCK is not set`, {
      hint: 'start an agent (eval $(ssh-agent)) or pass --ssh ID=AGENT_SOCKET',
    });
  return { id, socket: resolve(cwd, socket) };
}

async function readStdin(stdin: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** Unpacks a context tar from stdin into a new temp dir (GNU tar refuses `..` members and absolute names). */
async function contextFromStdin(stdin: NodeJS.ReadableStream, tmpParent: string): Promise<string> {
  const dir = await mkdtemp(join(tmpParent, 'context-'));
  await new Promise<void>((ok, fail) => {
    const child = spawn('tar', ['-x', '-f', '-', '-C', dir, '--no-same-owner', '--no-overwrite-dir'], { stdio: ['pipe', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d) => (err += d));
    stdin.pipe(child.stdin);
    child.on('error', fail);
    child.on('close', (code) => (code === 0 ? ok() : fail(new KilnError('ARCHIVE_INVALID', `context from stdin: ${err.trim() || `tar exited ${code}`}`))));
  });
  return dir;
}

/** `kiln build`'s parsed flags (commander's camelCase names); the remote path takes the same object. */
export interface BuildFlags {
  tag: string[];
  file?: string;
  buildArg: string[];
  target?: string;
  cache: boolean;
  pull?: boolean;
  label: string[];
  iidfile?: string;
  metadataFile?: string;
  progress: string;
  compression: string;
  format: string;
  output: string[];
  secret: string[];
  ssh: string[];
  explain?: boolean;
  platform?: string;
  network?: string;
  addHost: string[];
  quiet?: boolean;
  push?: boolean;
  allow: string[];
  /** `--cache-from` / `--cache-to` specs as typed (parsed by src/remote-cache/spec.ts). */
  cacheFrom: string[];
  cacheTo: string[];
  daemon: boolean;
}
type Flags = BuildFlags;

/** The checks of flag values that need no builder; shared by a local build and one sent to a server (--host). */
export function checkBuildFlags(context: string, f: BuildFlags): void {
  if (!['auto', 'tty', 'plain', 'json'].includes(f.progress))
    throw new KilnError('INVALID_ARGUMENT', `--progress must be auto, tty, plain or json, not "${f.progress}"`);
  if (!['gzip', 'zstd', 'none'].includes(f.compression))
    throw new KilnError('INVALID_ARGUMENT', `--compression must be gzip, zstd or none, not "${f.compression}"`);
  if (!['oci', 'docker'].includes(f.format)) throw new KilnError('INVALID_ARGUMENT', `--format must be oci or docker, not "${f.format}"`);
  if (f.network && !['default', 'none', 'host'].includes(f.network))
    throw new KilnError('INVALID_ARGUMENT', `--network must be default, none or host, not "${f.network}"`);
  if (context === '-' && f.file === '-') throw new KilnError('INVALID_ARGUMENT', 'the context and the Dockerfile cannot both come from stdin');
  parseKeyValues(f.buildArg, '--build-arg', true, {});
  parseKeyValues(f.label, '--label', false);
  parseEntitlements(f.allow);
  // Paths stay as typed here: a malformed spec is refused whichever side resolves them.
  for (const c of f.cacheFrom) parseCacheImport(c);
  for (const c of f.cacheTo) parseCacheExport(c);
  for (const h of f.addHost) {
    if (!/^[^:\s]+:\S+$/.test(h)) throw new KilnError('INVALID_ARGUMENT', `invalid --add-host ${JSON.stringify(h)}: use NAME:IP`);
  }
}

/** `--metadata-file`'s JSON (buildx's keys for the config and manifest digests and the names). */
export function buildMetadata(result: BuildResult): string {
  const meta = {
    'containerimage.config.digest': result.imageId,
    'containerimage.digest': result.manifestDigest,
    'image.name': result.tags.join(','),
    'kiln.steps': { executed: result.stepsExecuted, cached: result.stepsCached, shared: result.stepsShared },
  };
  return `${JSON.stringify(meta, null, 2)}\n`;
}

export function register(program: Command): void {
  program
    .command('build')
    .description('build an image from a Dockerfile')
    .argument('<context>', 'build context directory, or - for a tar on stdin')
    .option('-t, --tag <ref>', 'name the image (repeatable)', collect, [] as string[])
    .option('-f, --file <path>', 'the Dockerfile (default: CONTEXT/Dockerfile; - reads it from stdin)')
    .option('--build-arg <k=v>', 'set a build-time variable (repeatable)', collect, [] as string[])
    .option('--target <stage>', 'build this stage')
    .option('--no-cache', 'do not use the build cache')
    .option('--pull', 'always pull FROM images')
    .option('--label <k=v>', 'set an image label (repeatable)', collect, [] as string[])
    .option('--iidfile <file>', 'write the image ID to this file')
    .option('--metadata-file <file>', 'write build results as JSON to this file')
    .option('--progress <mode>', 'auto, tty, plain or json', 'auto')
    .option('--compression <kind>', 'layer compression: gzip, zstd or none', 'gzip')
    .option('--format <format>', 'image format: oci or docker', 'oci')
    .option('-o, --output <spec>', 'type=image|oci|docker|tar|local,dest=PATH (repeatable)', collect, [] as string[])
    .option('--secret <spec>', 'id=NAME,src=FILE or id=NAME,env=VAR (repeatable)', collect, [] as string[])
    .option('--ssh <spec>', 'default|ID[=AGENT_SOCKET]: an SSH agent for RUN --mount=type=ssh (repeatable)', collect, [] as string[])
    .option('--explain', 'say why each step missed the cache')
    .option('--platform <os/arch,…>', 'target platforms (comma-separated: linux/amd64,linux/arm64 builds an image index; default this host)')
    .option('--network <mode>', 'network for RUN steps: default (isolated, with outbound NAT), none or host')
    .option('--add-host <host:ip>', 'add a line to /etc/hosts of RUN steps (repeatable)', collect, [] as string[])
    .option(
      '--allow <entitlement>',
      'grant an entitlement: network.host (RUN --network=host), security.insecure (RUN --security=insecure) (repeatable)',
      collect,
      [] as string[],
    )
    .option(
      '--cache-from <spec>',
      'external cache source, e.g. user/app:cache, type=registry,ref=REF or type=local,src=DIR (repeatable)',
      collect,
      [] as string[],
    )
    .option(
      '--cache-to <spec>',
      'cache export destination, e.g. type=registry,ref=REF[,mode=max], type=local,dest=DIR or type=inline (repeatable)',
      collect,
      [] as string[],
    )
    .option('--push', 'push the image after building (needs -t)')
    .option('-q, --quiet', 'print only the image ID')
    .option('--no-daemon', "build in this process, not in the root's resident builder (also KILN_DAEMON=0)")
    .action(async (context: string, f: Flags, cmd: Command) => {
      const g = globalOptions(cmd);
      const { io } = g;
      // One validation for both paths: a flag a local build rejects is rejected with --host too.
      checkBuildFlags(context, f);
      if (g.host) return (await import('../remote/entry.js')).remoteBuildCommand(g, context, f);
      const stdin = io.stdin;
      if ((context === '-' || f.file === '-') && !stdin)
        throw new KilnError('INVALID_ARGUMENT', 'this kiln process cannot read stdin', {
          hint: 'build with --no-daemon to read a context or Dockerfile from stdin',
        });
      const outputs = f.output.map((o) => parseOutput(o, io.cwd));
      if (f.push) {
        if (f.tag.length === 0 && !outputs.some((o) => o.type === 'image' && o.names?.length))
          throw new KilnError('INVALID_ARGUMENT', '--push needs a tag (-t)');
        const img = outputs.find((o) => o.type === 'image');
        if (img && img.type === 'image') img.push = true;
        else outputs.push({ type: 'image', push: true });
      }
      const lease = await (io.builders ?? perInvocationBuilders).acquire(g.root);
      const { builder } = lease;
      const interrupt = io.interruptions();
      const renderer = createRenderer(f.quiet ? 'quiet' : (f.progress as ProgressMode), io.stderr, { explain: f.explain, env: io.env });
      let tmpContext: string | undefined;
      try {
        const buildArgs = parseKeyValues(f.buildArg, '--build-arg', true, io.env);
        let contextDir = resolveArg(io, context);
        if (context === '-') contextDir = tmpContext = await contextFromStdin(stdin!, builder.root.tmpDir);
        const opts: BuildOptions = {
          contextDir,
          dockerfile: f.file && f.file !== '-' ? resolveArg(io, f.file) : undefined,
          dockerfileText: f.file === '-' ? (await readStdin(stdin!)).toString('utf8') : undefined,
          tags: f.tag,
          buildArgs,
          target: f.target,
          noCache: !f.cache,
          pull: f.pull,
          labels: parseKeyValues(f.label, '--label', false),
          compression: f.compression as BuildOptions['compression'],
          format: f.format as BuildOptions['format'],
          outputs,
          secrets: f.secret.map((s) => parseSecret(s, io.env, io.cwd)),
          ssh: f.ssh.map((s) => parseSsh(s, io.env, io.cwd)),
          platform: f.platform,
          networkMode: f.network as BuildOptions['networkMode'],
          extraHosts: f.addHost.map((h) => h.replace(/^([^:]+):(.*)$/, '$2 $1')),
          // As buildx: `--network host` asks for host networking itself, so it grants network.host.
          allow: parseEntitlements([...f.allow, ...(f.network === 'host' ? ['network.host'] : [])]),
          explain: f.explain || f.progress === 'plain',
          // A local cache directory is the caller's: resolved against its cwd (a daemon-served build's is forwarded).
          cacheFrom: f.cacheFrom.length ? f.cacheFrom.map((c) => parseCacheImport(c, (p) => resolveArg(io, p))) : undefined,
          cacheTo: f.cacheTo.length ? f.cacheTo.map((c) => parseCacheExport(c, (p) => resolveArg(io, p))) : undefined,
          sourceDateEpoch: buildArgs.SOURCE_DATE_EPOCH ?? io.env.SOURCE_DATE_EPOCH,
          signal: interrupt.signal,
          stdout: io.stdout,
          // The record's origin and retention are the caller's: a resident builder serves its local client.
          ...(io.builders ? { origin: { ...localOrigin(), kind: 'daemon' as const, ...(io.env.USER ? { user: io.env.USER } : {}) } } : {}),
          historyRetention: retentionPolicy(io.env),
          onEvent: (e) => renderer.onEvent(e),
        };
        let result;
        try {
          result = await builder.build(opts);
        } catch (err) {
          renderer.close(err);
          if (err instanceof KilnError && err.code === 'BUILD_STEP_FAILED') printFailure(err, io.stderr);
          throw err;
        }
        renderer.close();
        if (outputs.some((o) => o.type === 'image' && o.push && o.store !== false)) {
          const { pushImage } = await import('../../registry/push.js');
          for (const t of result.tags) await pushImage(builder.root, t, { signal: interrupt.signal });
        }
        if (f.iidfile) await writeFile(resolveArg(io, f.iidfile), result.imageId);
        if (f.metadataFile) await writeFile(resolveArg(io, f.metadataFile), buildMetadata(result));
        // stdout carries the image ID, unless an output streams there (`-o -`, `type=tar,dest=-`).
        if (!outputs.some((o) => 'dest' in o && o.dest === '-')) io.stdout.write(`${result.imageId}\n`);
      } finally {
        interrupt.dispose();
        if (tmpContext) await rm(tmpContext, { recursive: true, force: true });
        await lease.release();
      }
    });
}

/** The failed step's context, as buildx prints it before the error line: the instruction and its output tail. */
function printFailure(err: KilnError, stderr: NodeJS.WritableStream): void {
  const d = err.details ?? {};
  const out = (d.output as string[] | undefined) ?? [];
  // Only a step that reported its context (a RUN) has a box to print; the error line says the rest.
  if (d.step === undefined || !d.instruction) return;
  const pos = d.total ? `${d.step}/${d.total}` : `${d.step}`;
  const label = d.stage ? `[${d.stage} ${pos}]` : `[${pos}]`;
  stderr.write(`------\n > ${label} ${d.instruction}:\n`);
  for (const l of out) stderr.write(`${l}\n`);
  stderr.write('------\n');
}
