/**
 * `kiln outline [-f Dockerfile] [--build-arg K=V] [--target T] [--platform P] [--format json|text] [CONTEXT]`:
 * what a build would do, without doing it: the target, the build args with their defaults and values, and
 * each stage's instructions after variable expansion. Base images are not fetched, so their ENV is unknown.
 * `--graph` prints the build's op graph as JSON instead (src/graph/): the ops, their digests, no building; base
 * images already in the local store contribute their config (ENV, USER, WORKDIR, SHELL, ONBUILD), and `--network`
 * and `--add-host` shape RUN ops as they would in `kiln build`.
 */
import { readFile, stat } from 'node:fs/promises';
import { join, relative, resolve } from 'node:path';
import type { Command } from 'commander';
import { readFileInRoot } from '../../builder/fileops/read-in-root.js';
import { KilnError } from '../../errors.js';
import { buildGraph } from '../../graph/build-graph.js';
import type { ImageConfig } from '../../image/types.js';
import { formatPlatform, hostPlatform, parsePlatform as parseImagePlatform } from '../../image/platform.js';
import { outlineDockerfile, parseDockerfile, parsePlatform, type Outline, type ParsedDockerfile } from '../../parser/index.js';
import { globalOptions } from '../context.js';

interface OutlineFlags {
  file?: string;
  buildArg: string[];
  target?: string;
  platform?: string;
  format: string;
  graph?: boolean;
  network?: string;
  addHost: string[];
}

function collect(v: string, acc: string[]): string[] {
  return [...acc, v];
}

/** `K=V` pairs; a bare `K` takes its value from the environment, and is left out when that is unset. */
function parseBuildArgs(list: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of list) {
    const eq = item.indexOf('=');
    const key = eq < 0 ? item : item.slice(0, eq);
    if (key === '') throw new KilnError('INVALID_ARGUMENT', `invalid --build-arg ${JSON.stringify(item)}: empty name`, { hint: 'use --build-arg NAME=VALUE' });
    if (eq >= 0) out[key] = item.slice(eq + 1);
    else if (process.env[key] !== undefined) out[key] = process.env[key]!;
  }
  return out;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function pad(s: string, n: number): string {
  return s.length >= n ? s + ' ' : s + ' '.repeat(n - s.length);
}

/** Human-readable outline: a build-arg table, then each stage and its expanded instructions. */
function renderOutline(o: Outline): string {
  const lines: string[] = [`TARGET: ${o.target}`];
  if (o.buildArgs.length > 0) {
    const w = Math.max(9, ...o.buildArgs.map((a) => a.name.length)) + 2;
    const v = Math.max(5, ...o.buildArgs.map((a) => (a.value ?? '').length)) + 2;
    lines.push('', pad('BUILD ARG', w) + pad('VALUE', v) + 'DEFAULT');
    for (const a of o.buildArgs) lines.push(pad(a.name, w) + pad(a.value ?? '', v) + (a.default ?? ''));
  }
  for (const s of o.stages) {
    const name = s.name ? ` ${s.name}` : '';
    const platform = s.platform ? ` (--platform=${s.platform})` : '';
    const note = s.required ? '' : '   # not needed for the target, skipped';
    lines.push('', `STAGE ${s.index}${name}: FROM ${s.base}${platform}${note}`);
    for (const i of s.instructions) {
      const [first, ...rest] = i.text.split('\n');
      lines.push(`  ${pad(String(i.line), 5)}${first}`);
      for (const r of rest) lines.push(`  ${' '.repeat(5)}${r}`);
    }
  }
  return lines.join('\n') + '\n';
}

/**
 * The configs of the FROM images the target needs that are already in the store at `rootDir` (by
 * `platform ref`). Nothing is pulled, and a missing root is not created: those images stay unknown.
 */
async function storedBaseConfigs(rootDir: string, df: ParsedDockerfile, platform: string): Promise<Map<string, ImageConfig>> {
  const out = new Map<string, ImageConfig>();
  const refs = df.requiredStages
    .map((i) => df.stages[i]!)
    .flatMap((s) => (s.base.kind === 'image' ? [{ ref: s.base.ref, platform: s.platform ? formatPlatform(parseImagePlatform(s.platform)) : platform }] : []));
  if (
    refs.length === 0 ||
    !(await stat(rootDir).then(
      (st) => st.isDirectory(),
      () => false,
    ))
  )
    return out;
  const { openRoot } = await import('../../cache/root.js');
  const root = await openRoot(rootDir, { sweep: false });
  try {
    for (const r of refs) {
      const img = await root.images.find(r.ref, { platform: parseImagePlatform(r.platform) });
      if (img) out.set(`${r.platform} ${r.ref}`, img.config);
    }
  } finally {
    await root.close();
  }
  return out;
}

export function register(program: Command): void {
  program
    .command('outline')
    .description('show the stages, build args and expanded instructions of a Dockerfile without building')
    .argument('[context]', 'build context directory', '.')
    .option('-f, --file <path>', 'the Dockerfile (default CONTEXT/Dockerfile; - reads stdin)')
    .option('--build-arg <k=v>', 'set a build-time variable (repeatable)', collect, [] as string[])
    .option('--target <stage>', 'the stage to build')
    .option('--platform <os/arch>', 'the target platform (default: this machine)')
    .option('--format <format>', 'text or json', 'text')
    .option('--graph', 'print the op graph (sources, exec, file and metadata ops with their digests) as JSON')
    .option('--network <mode>', "with --graph: the build's network for RUN steps (default, none or host)")
    .option(
      '--add-host <host:ip>',
      'with --graph: an /etc/hosts entry of RUN steps (its name is in the ops, never its address) (repeatable)',
      collect,
      [] as string[],
    )
    .action(async (context: string, flags: OutlineFlags, cmd: Command) => {
      if (flags.format !== 'text' && flags.format !== 'json') {
        throw new KilnError('INVALID_ARGUMENT', `unknown --format ${JSON.stringify(flags.format)}`, { hint: 'use text or json' });
      }
      if (!flags.graph && (flags.network !== undefined || flags.addHost.length)) {
        throw new KilnError('INVALID_ARGUMENT', `${flags.network !== undefined ? '--network' : '--add-host'} only shapes the op graph`, {
          hint: 'add --graph',
        });
      }
      if (flags.network !== undefined && !['default', 'none', 'host'].includes(flags.network)) {
        throw new KilnError('INVALID_ARGUMENT', `--network must be default, none or host, not "${flags.network}"`);
      }
      if (flags.graph && flags.format === 'text' && cmd.getOptionValueSource('format') === 'cli') {
        throw new KilnError('INVALID_ARGUMENT', '--graph prints JSON; --format text cannot apply', { hint: 'drop --format, or use --format json' });
      }
      let text: string;
      let name: string;
      if (flags.file === '-') {
        text = await readStdin();
        name = 'Dockerfile';
      } else {
        const path = flags.file ? resolve(flags.file) : join(resolve(context), 'Dockerfile');
        name = flags.file ? relative(process.cwd(), path) || path : 'Dockerfile';
        try {
          // As for a build: the default Dockerfile is read inside the context (a link out of it is confined);
          // a path given with -f is the user's own choice and read as given.
          if (flags.file) text = await readFile(path, 'utf8');
          else {
            const data = await readFileInRoot(resolve(context), 'Dockerfile');
            if (data === undefined) throw Object.assign(new Error('no such file'), { code: 'ENOENT' });
            text = data.toString('utf8');
          }
        } catch (err) {
          const code = (err as NodeJS.ErrnoException).code;
          if (code === 'ENOENT' || code === 'ENOTDIR') {
            throw new KilnError('DOCKERFILE_NOT_FOUND', `cannot read Dockerfile ${path}: no such file`, {
              hint: 'pass -f PATH or a context that holds a Dockerfile',
              cause: err,
            });
          }
          if (code === 'EISDIR') throw new KilnError('DOCKERFILE_NOT_FOUND', `${path} is a directory, not a Dockerfile`, { cause: err });
          throw err;
        }
      }
      const df = parseDockerfile(text, {
        file: name,
        buildArgs: parseBuildArgs(flags.buildArg),
        target: flags.target,
        ...(flags.platform ? { platform: parsePlatform(flags.platform) } : {}),
      });
      if (flags.graph) {
        // Normalised as the builder does, so the graph's platform is the one its keys use.
        const platform = formatPlatform(flags.platform ? parseImagePlatform(flags.platform) : hostPlatform());
        const configs = await storedBaseConfigs(globalOptions(cmd).root, df, platform);
        const graph = buildGraph(df, {
          platform,
          imageConfig: (ref, p) => configs.get(`${p} ${ref}`),
          networkMode: flags.network as 'default' | 'none' | 'host' | undefined,
          // As `kiln build` passes them: hosts-file lines (`IP NAME`); the graph keeps the names only.
          extraHosts: flags.addHost.map((h) => h.replace(/^([^:]+):(.*)$/, '$2 $1')),
        });
        for (const w of df.warnings) process.stderr.write(`warning: ${w.message}\n`);
        process.stdout.write(JSON.stringify(graph, null, 2) + '\n');
        return;
      }
      const outline = outlineDockerfile(df);
      for (const w of outline.warnings) process.stderr.write(`warning: ${w}\n`);
      process.stdout.write(flags.format === 'json' ? JSON.stringify(outline, null, 2) + '\n' : renderOutline(outline));
    });
}
