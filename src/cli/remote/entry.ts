/**
 * The `if (remote)` branches of the command modules, taking each command's own parsed flags, so that edits to
 * those modules stay one line: `if (g.host) return (await import('../remote/entry.js')).remoteX(g, …)`.
 */
import { resolve } from 'node:path';
import type { GlobalOptions } from '../context.js';
import { KilnError } from '../../errors.js';
import { parseEntitlements } from '../../builder/entitlements.js';
import { remoteFor, type RemoteClient } from './client.js';
import { remoteBuild, remoteImages, remotePull, remotePush, remoteRmi, remoteTag } from './commands.js';
import type { ProgressMode } from '../progress/index.js';

function client(g: GlobalOptions): RemoteClient {
  const c = remoteFor(g);
  if (!c) throw new KilnError('INTERNAL', 'remote command without a host');
  return c;
}

/** `K=V` list → object; a bare `K` takes the environment's value (as docker build does). */
function keyValues(list: string[] | undefined, fromEnv: boolean): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of list ?? []) {
    const i = item.indexOf('=');
    if (i < 0) {
      if (fromEnv && process.env[item] !== undefined) out[item] = process.env[item]!;
      continue;
    }
    out[item.slice(0, i)] = item.slice(i + 1);
  }
  return out;
}

/** The subset of `kiln build`'s flags that travel to a server. */
export interface RemoteBuildFlags {
  tag: string[]; file?: string; buildArg: string[]; target?: string; cache: boolean; pull?: boolean; label: string[];
  progress: string; explain?: boolean; platform?: string; network?: string; addHost: string[]; quiet?: boolean;
  output?: string[]; secret?: string[]; push?: boolean; iidfile?: string; allow?: string[];
}

export async function remoteBuildCommand(g: GlobalOptions, context: string, f: RemoteBuildFlags): Promise<void> {
  // The Docker Engine API's legacy /build has no session: nothing can carry a secret or bring files back.
  if (f.secret?.length) {
    throw new KilnError('NOT_IMPLEMENTED', '--secret is not supported with --host: the server\'s build API has no way to carry a secret (BuildKit sessions are not served)', {
      hint: 'build locally (without --host) to use --secret, or fetch the secret in a RUN step from a service the server can reach',
    });
  }
  if (f.output?.length) {
    throw new KilnError('NOT_IMPLEMENTED', '--output is not supported with --host: the image is built into the server\'s store and the build API cannot send files back', {
      hint: 'push it from the server (--push, or kiln --host … push), or fetch it with docker save through the server (DOCKER_HOST=… docker save IMAGE)',
    });
  }
  if (context === '-' && f.file === '-') throw new KilnError('INVALID_ARGUMENT', 'the context and the Dockerfile cannot both come from stdin');
  const ctl = new AbortController();
  const stop = () => ctl.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    const c = client(g);
    const stdin = await import('./stdin-context.js');
    // `build -`: stdin is the context archive (or a bare Dockerfile); -f then names a file inside it.
    const fromStdin = context === '-' ? await stdin.contextFromStdin() : undefined;
    const r = await remoteBuild(c, {
      contextDir: context === '-' ? '' : resolve(context),
      contextTar: fromStdin?.stream,
      dockerfile: fromStdin ? (fromStdin.isArchive ? f.file : 'Dockerfile') : f.file && f.file !== '-' ? resolve(f.file) : undefined,
      dockerfileText: f.file === '-' ? await stdin.readStdinText() : undefined,
      tags: f.tag,
      buildArgs: keyValues(f.buildArg, true),
      labels: keyValues(f.label, false),
      target: f.target,
      noCache: !f.cache,
      pull: f.pull,
      platform: f.platform,
      networkMode: f.network,
      // Asked of the server, which grants only what its operator allowed (`kiln serve --allow`).
      allow: parseEntitlements(f.allow ?? []),
      extraHosts: f.addHost,
      explain: f.explain,
      progress: f.progress as ProgressMode,
      quiet: f.quiet,
      signal: ctl.signal,
    }).catch((err: unknown) => {
      if (err instanceof KilnError && err.code === 'BUILD_STEP_FAILED') printFailure(err);
      throw err;
    });
    if (f.push) for (const t of f.tag) await remotePush(c, t, { quiet: true });
    if (f.iidfile) await (await import('node:fs/promises')).writeFile(f.iidfile, r.imageId);
    process.stdout.write(`${r.imageId}\n`);
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
}

/** The failed step and its output tail, as a local `kiln build` prints them (the server sends them in `details`). */
function printFailure(err: KilnError): void {
  const d = err.details ?? {};
  const out = Array.isArray(d.output) ? (d.output as string[]) : [];
  if (!d.instruction && out.length === 0) return;
  const label = d.stage ? `[${d.stage} ${d.step}]` : `[step ${d.step}]`;
  process.stderr.write(`------\n > ${label} ${d.instruction}:\n`);
  for (const l of out) process.stderr.write(`${l}\n`);
  process.stderr.write('------\n');
}

export const remoteImagesCommand = (g: GlobalOptions, reference: string | undefined, o: { quiet?: boolean; trunc?: boolean; format?: string }) => remoteImages(client(g), reference, o);
export const remotePushCommand = (g: GlobalOptions, ref: string, o: { quiet?: boolean }) => remotePush(client(g), ref, o);
export const remotePullCommand = (g: GlobalOptions, ref: string, o: { quiet?: boolean; platform?: string }) => remotePull(client(g), ref, o);
export const remoteTagCommand = (g: GlobalOptions, source: string, target: string) => remoteTag(client(g), source, target);
export const remoteRmiCommand = (g: GlobalOptions, names: string[], o: { force?: boolean }) => remoteRmi(client(g), names, o);
