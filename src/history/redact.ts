/**
 * What a record may say about a build's inputs. Secret values (`--secret`) never reach a record: only their ids
 * are kept. Build args named like secrets (BuildKit's SecretsUsedInArgOrEnv check) keep their name with the value
 * `[REDACTED]`. Step output is kept as printed: a RUN that prints a secret's content puts it in its log, as in
 * BuildKit; `scrubSecrets` removes known secret values from text where the recorder can see them (logs, errors).
 */

/** Argument names that look like secrets (BuildKit's SecretsUsedInArgOrEnv). */
export const SECRET_NAME = /(secret|password|passwd|token|key|credential|auth)/i;

export const REDACTED = '[REDACTED]';

/** Build args with the values of those named like secrets replaced by `[REDACTED]`. */
export function redactBuildArgs(args: Record<string, string> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(args ?? {})) out[k] = SECRET_NAME.test(k) ? REDACTED : v;
  return out;
}

/**
 * Replaces every occurrence of the given secret values in `text` by `[REDACTED]`. Values shorter than 4 bytes are
 * left alone (they would blank out ordinary words). A value split across two output chunks is not caught: the
 * recorder scrubs per chunk (see docs/history.md).
 */
export function scrubSecrets(text: string, values: readonly string[]): string {
  let out = text;
  for (const v of values) if (v.length >= 4 && out.includes(v)) out = out.split(v).join(REDACTED);
  return out;
}
