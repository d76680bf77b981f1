/**
 * Turns the builder's BuildEvents into the JSON message stream the docker CLI prints for a legacy build:
 * `{"stream":"Step 1/5 : FROM …\n"}`, step output, `{"aux":{"ID":"sha256:…"}}`, `Successfully built/tagged`, and
 * on failure `{"errorDetail":{"message":…},"error":…}` (the CLI then exits 1). With `q` only the image ID is sent.
 * The same messages feed kiln's own remote CLI, which maps them back onto its renderers.
 */
import type { BuildEvent, BuildResult } from '../builder/types.js';
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

/** A BuildEvent sink that writes Docker messages through `emit`; `quiet` keeps everything but errors and the ID. */
export function createBuildStream(emit: Emit, opts: { quiet: boolean; explain?: boolean; events?: boolean }) {
  let steps = 0;
  let outputOf = -1;
  const say = (s: string) => {
    if (!opts.quiet) emit({ stream: s });
  };
  return {
    /** Feeds one event. */
    event(e: BuildEvent): void {
      if (opts.events) {
        emit({ kiln: e });
        return;
      }
      switch (e.type) {
        case 'build-start':
          steps = e.steps;
          break;
        case 'step-start':
          say(`Step ${e.step.id}/${steps || e.step.total} : ${e.step.text}\n`);
          break;
        case 'step-cached':
          say(e.source ? ` ---> Using cache (imported from ${e.source})\n` : ' ---> Using cache\n');
          break;
        case 'step-miss-reason':
          // Docker prints no cache explanations; kiln's own remote CLI asks with explain.
          if (opts.explain) say(` ---> cache miss: ${e.reason}\n`);
          break;
        case 'step-output':
          if (outputOf !== e.step.id) {
            outputOf = e.step.id;
            say(` ---> Running step ${e.step.id}\n`);
          }
          say(e.data);
          break;
        case 'step-done':
          say(` ---> Done in ${(e.durationMs / 1000).toFixed(1)}s\n`);
          break;
        case 'step-error':
          // The failure itself arrives as the build's error; the step's output has already been streamed.
          break;
        case 'pull':
          say(`${e.ref}: ${e.status}\n`);
          break;
        case 'export':
          say(`${e.status}\n`);
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
