/**
 * The parser's entry points: Dockerfile text to a `ParsedDockerfile` (stages of typed, unexpanded
 * instructions plus the stage graph), either throwing the first error or returning every error found.
 */
import { KilnError } from '../errors.js';
import { parseInstruction } from './instructions.js';
import { applyCheckDirective, lint } from './lint.js';
import { automaticPlatformArgs, hostPlatform, normalizePlatform } from './platform.js';
import { buildStages } from './stages.js';
import { tokenize } from './syntax.js';
import type { Instruction, ParsedDockerfile, ParseOptions, ParseWarning } from './types.js';

const PREDEFINED_ARGS = new Set([
  'HTTP_PROXY',
  'http_proxy',
  'HTTPS_PROXY',
  'https_proxy',
  'FTP_PROXY',
  'ftp_proxy',
  'NO_PROXY',
  'no_proxy',
  'ALL_PROXY',
  'all_proxy',
  'BUILDKIT_INLINE_CACHE',
  'BUILDKIT_CONTEXT_KEEP_GIT_DIR',
  'BUILDKIT_SYNTAX',
  'BUILDKIT_MULTI_PLATFORM',
  'SOURCE_DATE_EPOCH',
]);

function sortByLine(errors: KilnError[]): KilnError[] {
  return errors.sort((a, b) => (a.loc?.line ?? 0) - (b.loc?.line ?? 0));
}

export interface ParseAllResult {
  /** Present when the file got as far as a stage graph (even with errors in single instructions). */
  result?: ParsedDockerfile;
  /** Every error found, in line order; empty on success. */
  errors: KilnError[];
  warnings: ParseWarning[];
}

/**
 * Parses and collects all errors instead of stopping at the first one (for editors and `kiln outline`'s
 * report). Instructions that fail to parse are left out of the result.
 */
export function parseDockerfileAll(text: string, opts: ParseOptions = {}): ParseAllResult {
  const file = opts.file ?? 'Dockerfile';
  const errors: KilnError[] = [];
  const warnings: ParseWarning[] = [];
  const onError = (e: KilnError) => {
    if (!e.loc) e.at({ file, line: 1 });
    errors.push(e);
  };
  let syntax;
  try {
    syntax = tokenize(text, file);
  } catch (err) {
    if (err instanceof KilnError) return { errors: [err], warnings };
    throw err;
  }
  warnings.push(...syntax.warnings);
  const instructions: Instruction[] = [];
  for (const node of syntax.nodes) {
    try {
      instructions.push(parseInstruction(node, { file, escape: syntax.directives.escape }));
    } catch (err) {
      if (err instanceof KilnError) onError(err);
      else throw err;
    }
  }

  const target = normalizePlatform(opts.platform ?? hostPlatform());
  const build = normalizePlatform(opts.buildPlatform ?? hostPlatform());
  const buildArgs = { ...(opts.buildArgs ?? {}) };
  const lastName = [...instructions].reverse().find((i) => i.kind === 'FROM');
  const targetStage = opts.target || (lastName?.kind === 'FROM' ? (lastName.stageName ?? '') : '');
  const typingErrors = errors.length;
  const automaticArgs = automaticPlatformArgs(target, build, targetStage);
  const graph = buildStages({
    file,
    escape: syntax.directives.escape,
    instructions,
    buildArgs,
    automaticArgs,
    target: opts.target,
    warnings,
    // A FROM line that failed to parse would also report "no stages": keep only the cause.
    onError: (e) => (e.code === 'DOCKERFILE_NO_STAGES' && typingErrors > 0 ? undefined : onError(e)),
  });
  if (!graph) return { errors: sortByLine(errors), warnings };
  warnings.push(...lint({ file, instructions, stages: graph.stages, metaArgs: graph.metaArgs, automaticArgs: Object.keys(automaticArgs) }));
  const checked = applyCheckDirective(warnings, syntax.directives.check, file);
  warnings.splice(0, warnings.length, ...checked.warnings);
  if (checked.error) errors.push(checked.error);
  sortByLine(errors);

  const declared = new Set(graph.metaArgs.map((m) => m.key));
  for (const i of graph.requiredStages) {
    for (const ins of graph.stages[i]!.instructions) if (ins.kind === 'ARG') for (const a of ins.args) declared.add(a.key);
  }
  const unused = Object.keys(buildArgs)
    .filter((k) => !declared.has(k) && !PREDEFINED_ARGS.has(k) && !(k in graph.globalArgs))
    .sort();
  if (unused.length) warnings.push({ message: `One or more build-args [${unused.join(' ')}] were not consumed`, rule: 'UnusedBuildArgs' });

  const result: ParsedDockerfile = {
    file,
    directives: syntax.directives,
    metaArgs: graph.metaArgs,
    globalArgs: graph.globalArgs,
    buildArgs,
    stages: graph.stages,
    targetIndex: graph.targetIndex,
    requiredStages: graph.requiredStages,
    warnings,
  };
  return { result, errors, warnings };
}

/**
 * Parses a Dockerfile. Throws the first KilnError (by line) with its `file:line`: DOCKERFILE_SYNTAX,
 * DOCKERFILE_UNKNOWN_INSTRUCTION, DOCKERFILE_BAD_FLAG, DOCKERFILE_BAD_ARGS, DOCKERFILE_NO_STAGES,
 * EXPANSION_FAILED (FROM lines), STAGE_NOT_FOUND (`--target`, `--from=<index>`), STAGE_CYCLE.
 */
export function parseDockerfile(text: string, opts: ParseOptions = {}): ParsedDockerfile {
  const { result, errors } = parseDockerfileAll(text, opts);
  if (errors.length > 0) throw errors[0];
  if (!result) throw new KilnError('INTERNAL', 'parser returned neither a result nor an error');
  return result;
}
