/**
 * Here-documents as BuildKit reads them: a word `[n]<<[-]NAME` in a RUN, COPY or ADD line (or an ONBUILD of
 * one) opens a body that runs until a line equal to NAME (after stripping leading tabs for `<<-`). A quoted
 * NAME (`<<'EOF'`, `<<"EOF"`, even partly quoted) turns expansion of the body off.
 */
import { processWords } from './shell-lexer.js';
import type { Heredoc } from './types.js';

// `\s*`: newer BuildKit accepts white space between `<<` and the delimiter (`RUN << EOF`).
const HEREDOC_WORD = /^(\d*)<<(-?)\s*([^<]*)$/;

/** What a `<<NAME` word says, before its body is read. */
export interface HeredocMarker {
  name: string;
  expand: boolean;
  stripTabs: boolean;
  fd: number;
}

/** Parses one (raw, quotes kept) word; undefined when it is not a heredoc marker. */
export function parseHeredocWord(word: string): HeredocMarker | undefined {
  const m = HEREDOC_WORD.exec(word);
  if (!m) return undefined;
  const rest = m[3]!;
  if (rest.length === 0) return undefined;
  let words: string[];
  let rawWords: string[];
  try {
    words = processWords(rest, {}, { skipUnsetEnv: true });
    if (words.length !== 1) return undefined;
    rawWords = processWords(rest, {}, { skipUnsetEnv: true, rawQuotes: true });
  } catch {
    return undefined;
  }
  if (rawWords.length !== 1) return undefined;
  const quotes = (s: string) => (s.match(/['"]/g) ?? []).length;
  return {
    name: words[0]!,
    // Fewer quotes after quote removal means part of the name was quoted: no expansion of the body.
    expand: quotes(words[0]!) === quotes(rawWords[0]!),
    stripTabs: m[2] === '-',
    fd: m[1] ? Number(m[1]) : 0,
  };
}

/** The heredoc markers of an instruction line, in order. Lines that do not lex (open quotes) have none. */
export function heredocMarkersInLine(line: string): HeredocMarker[] {
  let words: string[];
  try {
    // Keep `<< EOF` one word, as BuildKit's lexer does for a `<<` followed by white space.
    const joined = line.replace(/<<(-?)[ \t]+(?=\S)/g, '<<$1');
    words = processWords(joined, {}, { rawQuotes: true, rawEscapes: true, skipUnsetEnv: true });
  } catch {
    return [];
  }
  const out: HeredocMarker[] = [];
  for (const w of words) {
    const h = parseHeredocWord(w);
    if (h) out.push(h);
  }
  return out;
}

/** `<<-`: removes leading tabs from every line. */
export function stripLeadingTabs(content: string): string {
  return content.replace(/^\t+/gm, '');
}

/**
 * The argv a RUN with heredocs runs, given the stage's shell (`['/bin/sh', '-c']` by default), the way
 * BuildKit does it:
 * - the command is exactly one heredoc (`RUN <<EOF`) whose body starts with `#!`: the body must be written to
 *   `/dev/pipes/<name>` (mode 0755) and run as a program — returned as `{ argv: ['/dev/pipes/NAME'], file }`;
 * - the command is exactly one heredoc otherwise: the body is the shell script;
 * - anything else: the command line followed by each body and its terminator goes to the shell, which
 *   handles the heredocs itself.
 */
export function heredocRunScript(
  script: string,
  heredocs: readonly Heredoc[],
  shell: readonly string[],
): { argv: string[]; file?: { path: string; content: string; mode: number } } {
  if (heredocs.length === 0) return { argv: [...shell, script] };
  const lone = parseHeredocWord(script.trim());
  if (lone) {
    const first = heredocs[0]!;
    if (first.content.startsWith('#!')) {
      const path = `/dev/pipes/${first.name}`;
      return { argv: [path], file: { path, content: first.content, mode: 0o755 } };
    }
    return { argv: [...shell, first.content] };
  }
  let full = script;
  for (const h of heredocs) full += '\n' + h.content + h.name;
  return { argv: [...shell, full] };
}
