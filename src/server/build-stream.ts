/**
 * Turns the builder's BuildEvents into the JSON message stream the docker CLI prints for a legacy build:
 * `{"stream":"Step 1/5 : FROM …\n"}`, step output, `{"aux":{"ID":"sha256:…"}}`, `Successfully built/tagged`, and
 * on failure `{"errorDetail":{"message":…},"error":…}` (the CLI then exits 1). With `q` only the image ID is sent.
 * The same messages feed kiln's own remote CLI, which maps them back onto its renderers.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { BuildEvent, BuildResult, StepRef } from '../builder/types.js';
import { errorMessage } from './http-util.js';
import { isKilnError } from '../errors.js';

/** One line of Docker's JSON message stream. */
export interface JsonMessage {
  stream?: string;
  status?: string;
  id?: string;
  progress?: string;
  progressDetail?: { current?: number; total?: number };
  aux?: unknown;
  error?: string;
  errorDetail?: { code?: number; message: string };
  /** kiln extension (`kilnevents=1`): the builder's event itself. */
  kiln?: BuildEvent;
  /** kiln extension: the failure with its code, so a remote kiln CLI exits as a local one would. */
  kilnError?: { code: string; message: string; hint?: string; loc?: { file: string; line: number }; details?: Record<string, unknown>; exitCode?: number };
}

export type Emit = (m: JsonMessage) => void;

/** Short form of an image ID, as `docker images` shows it. */
export function shortId(id: string): string {
  return id.replace(/^sha256:/, '').slice(0, 12);
}

/** Instructions that run as a step of kiln's builder; the others (ENV, LABEL, CMD, …) change only the config. */
const FS_KINDS = new Set(['FROM', 'RUN', 'COPY', 'ADD', 'WORKDIR']);
/** Instructions for which dockerd's legacy builder starts (and then removes) a container it names. */
const CONTAINER_KINDS = new Set(['RUN', 'WORKDIR']);

/** A container-like ID for ` ---> Running in …` (dockerd's is the intermediate container's; kiln's sandbox has none). */
function sandboxId(): string {
  return randomBytes(6).toString('hex');
}

/** The ID shown after a config-only step: derived from the step before it and the instruction, so it is stable. */
function derivedId(prev: string, text: string): string {
  return createHash('sha256').update(`${prev}\n${text}`).digest('hex');
}

/**
 * A BuildEvent sink that writes Docker messages through `emit`; `quiet` keeps everything but errors and the ID.
 *
 * The text is dockerd 20.10's legacy builder's (test/fixtures/dockerd-20.10/build-stream*.json): `Step N/M :
 * INSTRUCTION` for every instruction of the built stages (M counts them all, config-only ones included), the
 * step's output, ` ---> Running in <id>` and `Removing intermediate container <id>` around RUN and WORKDIR (and
 * config-only instructions, which dockerd commits from a container too), ` ---> Using cache` for a hit, and
 * ` ---> <id>` once the step is done, the last one the image's ID. kiln's builder reports only filesystem steps;
 * the config-only instructions between them are printed when the next step's fate (ran or cached) is known, and
 * take it on. Step results are cache-record keys, not images: each ` ---> <id>` names what the step produced.
 */
export function createBuildStream(emit: Emit, opts: { quiet: boolean; explain?: boolean; events?: boolean }) {
  let list: Array<{ kind: string; text: string; line: number; file: string }> = [];
  let stepCount = 0;
  const printed = new Set<number>();
  /** The step whose events are arriving: its index in `list`, whether its header and container line are out. */
  let current: { index: number; text: string; kind: string; header: boolean; container?: string } | undefined;
  /** The last step's result, shown as ` ---> <id>` when the next step begins (or replaced by the image ID). */
  let pending: string | undefined;
  let lastResult = '';
  const say = (s: string) => {
    if (!opts.quiet) emit({ stream: s });
  };
  const closePending = () => {
    if (pending !== undefined) say(` ---> ${shortId(pending)}\n`);
    pending = undefined;
  };
  const setResult = (id: string) => {
    lastResult = id;
    pending = id;
  };
  const header = (n: number, text: string) => {
    closePending();
    say(`Step ${n}/${stepCount} : ${text}\n`);
  };
  /** Prints the config-only instructions before `upTo` that are not out yet, as cached or as run. */
  const flushConfig = (upTo: number, cached: boolean) => {
    for (let i = 0; i < Math.min(upTo, list.length); i++) {
      const ins = list[i]!;
      if (printed.has(i) || FS_KINDS.has(ins.kind)) continue;
      printed.add(i);
      header(i + 1, ins.text);
      if (cached) say(' ---> Using cache\n');
      else {
        const c = sandboxId();
        say(` ---> Running in ${c}\n`);
        say(`Removing intermediate container ${c}\n`);
      }
      setResult(derivedId(lastResult, ins.text));
    }
  };
  /** The current step's header, after the config-only instructions before it. */
  const openCurrent = (cached: boolean) => {
    if (!current || current.header) return;
    flushConfig(current.index, cached);
    header(current.index + 1, current.text);
    current.header = true;
  };
  const indexOf = (step: StepRef): number => {
    const i = list.findIndex((x, n) => !printed.has(n) && step.loc && x.line === step.loc.line && x.file === step.loc.file);
    return i;
  };
  let lastCached = false;
  return {
    /** Feeds one event. */
    event(e: BuildEvent): void {
      if (opts.events) {
        emit({ kiln: e });
        return;
      }
      switch (e.type) {
        case 'build-start':
          list = (e.instructions ?? []).map((x) => ({ kind: x.kind, text: x.text, line: x.loc.line, file: x.loc.file }));
          stepCount = list.length || e.steps;
          break;
        case 'step-start': {
          const i = indexOf(e.step);
          // Without the instruction list (an older builder), the step's own number and text.
          if (i < 0) current = { index: e.step.id - 1, text: e.step.text, kind: e.step.text.split(/\s/, 1)[0]!.toUpperCase(), header: false };
          else {
            printed.add(i);
            current = { index: i, text: list[i]!.text, kind: list[i]!.kind, header: false };
          }
          if (!stepCount) stepCount = e.step.total;
          break;
        }
        case 'step-cached':
          openCurrent(true);
          say(e.source ? ' ---> Using cache (imported from ' + e.source + ')\n' : ' ---> Using cache\n');
          setResult(e.result ?? derivedId(lastResult, current?.text ?? e.step.text));
          lastCached = true;
          current = undefined;
          break;
        case 'step-miss-reason':
          // Docker prints no cache explanations; kiln's own remote CLI asks with explain.
          if (opts.explain) {
            openCurrent(false);
            say(` ---> cache miss: ${e.reason}\n`);
          }
          break;
        case 'step-output':
          openCurrent(false);
          if (current && !current.container) {
            current.container = sandboxId();
            say(` ---> Running in ${current.container}\n`);
          }
          say(e.data);
          break;
        case 'step-done': {
          openCurrent(false);
          if (current && CONTAINER_KINDS.has(current.kind) && !current.container) {
            current.container = sandboxId();
            say(` ---> Running in ${current.container}\n`);
          }
          if (current?.container) say(`Removing intermediate container ${current.container}\n`);
          setResult(e.result ?? derivedId(lastResult, current?.text ?? e.step.text));
          lastCached = current?.kind === 'FROM' ? lastCached : false;
          current = undefined;
          break;
        }
        case 'step-error':
          // The failure itself arrives as the build's error; the step's output has already been streamed.
          openCurrent(false);
          break;
        case 'pull':
          say(`${e.ref}: ${e.status}\n`);
          break;
        case 'export':
          break;
        case 'warning':
          say(`[WARNING]: ${e.loc ? `${e.loc.file}:${e.loc.line}: ` : ''}${e.message}\n`);
          break;
        case 'build-done':
          break;
        default: {
          const never: never = e;
          void never;
        }
      }
    },
    /** Announces a note (waiting for a slot, ignored parameters). */
    note(text: string): void {
      if (opts.events) emit({ kiln: { type: 'warning', message: text } });
      else say(`${text}\n`);
    },
    /** The closing messages of a successful build. */
    done(result: BuildResult): void {
      // The config-only instructions after the last filesystem step, then the image's ID as the last step's.
      flushConfig(list.length, lastCached);
      if (pending !== undefined || list.length) pending = result.imageId;
      closePending();
      emit({ aux: { ID: result.imageId } });
      if (opts.quiet) {
        emit({ stream: `${result.imageId}\n` });
        return;
      }
      say(`Successfully built ${shortId(result.imageId)}\n`);
      for (const t of result.tags) say(`Successfully tagged ${t}\n`);
    },
    /** The closing message of a failed build. */
    fail(err: unknown): void {
      const message = errorMessage(err);
      if (opts.events && isKilnError(err)) {
        emit({
          errorDetail: { message },
          error: message,
          kilnError: { code: err.code, message: err.message, hint: err.hint, loc: err.loc, details: err.details, exitCode: err.exitCode },
        });
        return;
      }
      emit({ errorDetail: { message }, error: message });
    },
  };
}
