/**
 * The `if (remote)` branches of the command modules, taking each command's own parsed flags, so that edits to
 * those modules stay one line: `if (g.host) return (await import('../remote/entry.js')).remoteX(g, …)`.
 */
import { writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { GlobalOptions } from '../context.js';
import { KilnError } from '../../errors.js';
import { parseEntitlements } from '../../builder/entitlements.js';
import { parseCacheExport, parseCacheImport } from '../../remote-cache/spec.js';
import { remoteFor, type RemoteClient } from './client.js';
import { remoteBuild, remoteImages, remotePull, remotePush, remoteRmi, remoteTag } from './commands.js';
import type { ProgressMode } from '../progress/index.js';
import { buildMetadata, parseKeyValues, type BuildFlags } from '../commands/build.js';

function client(g: GlobalOptions): RemoteClient {
  const c = remoteFor(g);
  if (!c) throw new KilnError('INTERNAL', 'remote command without a host');
  return c;
}

/**
 * `kiln build` against a server. The flags were checked as a local build checks them (checkBuildFlags); here the
 * ones the Docker Engine API's /build cannot carry are refused, before anything is sent.
 */
export async function remoteBuildCommand(g: GlobalOptions, context: string, f: BuildFlags): Promise<void> {
  refuseUncarried(f);
  // The same parsing as a local build: a bare `--label K` is refused, a bare `--build-arg K` takes the environment's value.
  const buildArgs = parseKeyValues(f.buildArg, '--build-arg', true);
  const labels = parseKeyValues(f.label, '--label', false);
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
      buildArgs,
      labels,
      target: f.target,
      noCache: !f.cache,
      pull: f.pull,
      platform: f.platform,
      networkMode: f.network,
      // Asked of the server, which grants only what its operator allowed (`kiln serve --allow`).
      allow: parseEntitlements(f.allow ?? []),
      extraHosts: f.addHost,
      explain: f.explain,
      // Sent as typed: the server parses them (Docker's `cachefrom`, kiln's `kilncacheto`).
      cacheFrom: f.cacheFrom,
      cacheTo: f.cacheTo,
      progress: f.progress as ProgressMode,
      quiet: f.quiet,
      signal: ctl.signal,
    }).catch((err: unknown) => {
      if (err instanceof KilnError && err.code === 'BUILD_STEP_FAILED') printFailure(err);
      throw err;
    });
    if (f.push) for (const t of f.tag) await remotePush(c, t, { quiet: true });
    if (f.iidfile) await writeFile(f.iidfile, r.imageId);
    if (f.metadataFile) await writeFile(f.metadataFile, buildMetadata(r));
    process.stdout.write(`${r.imageId}\n`);
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
}

/** Refuses, with a hint, each `kiln build` flag that the Engine API's legacy /build (no session) cannot carry. */
function refuseUncarried(f: BuildFlags): void {
  const refuse = (what: string, why: string, hint: string) => {
    throw new KilnError('NOT_IMPLEMENTED', `${what} is not supported with --host: ${why}`, { hint });
  };
  if (f.secret.length)
    refuse(
      '--secret',
      "the server's build API has no way to carry a secret (BuildKit sessions are not served)",
      'build locally (without --host) to use --secret, or fetch the secret in a RUN step from a service the server can reach',
    );
  if (f.ssh.length) refuse('--ssh', 'an SSH agent is not forwarded to a remote kiln server', 'build locally (without --host) to use --ssh');
  if (f.output.length)
    refuse(
      '--output',
      "the image is built into the server's store and the build API cannot send files back",
      'push it from the server (--push, or kiln --host … push), or fetch it with docker save through the server (DOCKER_HOST=… docker save IMAGE)',
    );
  // The server writes gzip layers in OCI format (the builder's defaults): only those can be asked for.
  if (f.compression !== 'gzip')
    refuse(
      `--compression ${f.compression}`,
      'the build API has no field for the layer compression; the server writes gzip layers',
      'build locally, or leave --compression out',
    );
  if (f.format !== 'oci')
    refuse(`--format ${f.format}`, 'the build API has no field for the image format; the server writes OCI images', 'build locally, or leave --format out');
  // A cache directory on the client is out of the server's reach (and the server refuses to open one a client names).
  const local = [
    ...f.cacheFrom.filter((c) => parseCacheImport(c).type === 'local').map((c) => `--cache-from ${c}`),
    ...f.cacheTo.filter((c) => parseCacheExport(c).type === 'local').map((c) => `--cache-to ${c}`),
  ];
  if (local.length)
    throw new KilnError('INVALID_ARGUMENT', `${local[0]}: a type=local cache cannot be used with --host; the server cannot reach a directory on this machine`, {
      hint: 'use type=registry,ref=REGISTRY/REPOSITORY:TAG, or build locally (without --host)',
    });
  if (f.push && f.tag.length === 0) throw new KilnError('INVALID_ARGUMENT', '--push needs a tag (-t)');
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

export const remoteImagesCommand = (g: GlobalOptions, reference: string | undefined, o: { quiet?: boolean; trunc?: boolean; format?: string }) =>
  remoteImages(client(g), reference, o);
export const remotePushCommand = (g: GlobalOptions, ref: string, o: { quiet?: boolean }) => remotePush(client(g), ref, o);
export const remotePullCommand = (g: GlobalOptions, ref: string, o: { quiet?: boolean; platform?: string }) => remotePull(client(g), ref, o);
export const remoteTagCommand = (g: GlobalOptions, source: string, target: string) => remoteTag(client(g), source, target);
export const remoteRmiCommand = (g: GlobalOptions, names: string[], o: { force?: boolean }) => remoteRmi(client(g), names, o);
