/**
 * How each instruction's argument text is split (BuildKit's line_parsers.go): JSON arrays for exec form,
 * quote-aware words for ENV/LABEL/ARG (quotes kept; expansion removes them later), plain white-space split
 * for COPY/ADD/EXPOSE/FROM, or the whole text as one string (USER, WORKDIR, MAINTAINER, STOPSIGNAL).
 */
import { KilnError } from '../errors.js';
import { isSpace } from './shell-lexer.js';

const WS_SPLIT = /[\t\v\f\r ]+/;

/** Splits on white space (no quote handling). */
export function splitWhitespace(rest: string): string[] {
  if (rest === '') return [];
  return rest.split(WS_SPLIT).filter((s, i, a) => !(s === '' && (i === 0 || i === a.length - 1)));
}

export type JsonResult = { ok: true; args: string[] } | { ok: false };

/**
 * Decodes a JSON string array (`["a", "b"]`). Text that is not a JSON array gives `{ok:false}` (the caller
 * falls back to shell form); a JSON array with a non-string element is an error, as in Docker.
 */
export function parseJsonArray(rest: string): JsonResult {
  const t = rest.trimStart();
  if (!t.startsWith('[')) return { ok: false };
  let value: unknown;
  try {
    value = JSON.parse(t);
  } catch {
    return { ok: false };
  }
  if (!Array.isArray(value)) return { ok: false };
  if (!value.every((v) => typeof v === 'string')) {
    throw new KilnError('DOCKERFILE_SYNTAX', 'when using JSON array syntax, arrays must be comprised of strings only');
  }
  return { ok: true, args: value as string[] };
}

/**
 * Quote-aware word split (BuildKit's parseWords): white space separates words except inside quotes; quotes
 * and escapes stay in the words for the expander to remove.
 */
export function parseWords(rest: string, escape: string): string[] {
  const words: string[] = [];
  let phase: 'spaces' | 'word' | 'quote' = 'spaces';
  let quote = '';
  let blankOK = false;
  let word = '';
  const chars = Array.from(rest);
  const n = chars.length;
  for (let pos = 0; pos <= n; pos++) {
    let ch = pos < n ? chars[pos]! : '';
    if (phase === 'spaces') {
      if (pos === n) break;
      if (isSpace(ch)) continue;
      phase = 'word';
    }
    if (pos === n) {
      if (blankOK || word.length > 0) words.push(word);
      break;
    }
    if (phase === 'word') {
      if (isSpace(ch)) {
        phase = 'spaces';
        if (blankOK || word.length > 0) words.push(word);
        word = '';
        blankOK = false;
        continue;
      }
      if (ch === "'" || ch === '"') {
        quote = ch;
        blankOK = true;
        phase = 'quote';
      }
      if (ch === escape) {
        if (pos + 1 === n) continue; // an escape at the very end is dropped
        word += ch;
        pos++;
        ch = chars[pos]!;
      }
      word += ch;
      continue;
    }
    // inside quotes
    if (ch === quote) phase = 'word';
    if (ch === escape && quote !== "'") {
      if (pos + 1 === n) {
        phase = 'word';
        continue;
      }
      pos++;
      word += ch;
      ch = chars[pos]!;
    }
    word += ch;
  }
  return words;
}

/** ENV/LABEL pairs: `k=v k2=v2` (quotes kept) or the legacy `k v…` form. Throws DOCKERFILE_BAD_ARGS. */
export function parseNameValues(rest: string, instruction: string, escape: string): Array<{ key: string; value: string; legacy: boolean }> {
  const words = parseWords(rest, escape);
  if (words.length === 0) throw new KilnError('DOCKERFILE_BAD_ARGS', `${instruction} requires at least one argument`);
  if (!words[0]!.includes('=')) {
    const m = /[\t\v\f\r ]+/.exec(rest);
    if (!m) throw new KilnError('DOCKERFILE_BAD_ARGS', `${instruction} must have two arguments`);
    return [{ key: rest.slice(0, m.index), value: rest.slice(m.index + m[0].length), legacy: true }];
  }
  return words.map((w) => {
    const eq = w.indexOf('=');
    if (eq < 0) throw new KilnError('DOCKERFILE_BAD_ARGS', `Syntax error - can't find = in ${JSON.stringify(w)}. Must be of the form: name=value`);
    if (eq === 0) throw new KilnError('DOCKERFILE_BAD_ARGS', `${instruction} names can not be blank`);
    return { key: w.slice(0, eq), value: w.slice(eq + 1), legacy: false };
  });
}
