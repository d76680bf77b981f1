/**
 * Step 1 of 3 (syntax): Dockerfile text to raw instruction nodes, as BuildKit's `parser` package does it:
 * parser directives at the top, comments, line continuations with the active escape character (comment
 * lines and empty lines inside a continuation are skipped), instruction flags (`--x=y`, quotes removed),
 * and heredoc bodies cut from the lines after the instruction.
 *
 * Written as a small line-based tokenizer rather than on dockerfile-ast: that library keeps quotes, mangles
 * exec-form strings and does not cut heredoc bodies, so the parts it would give us (line ranges) are the
 * cheap part; owning the tokenizer also keeps parsing a 2,000-line file in the low milliseconds.
 */
import { KilnError } from '../errors.js';
import { heredocMarkersInLine, stripLeadingTabs } from './heredoc.js';
import { parseJsonArray } from './line-args.js';
import { isSpace } from './shell-lexer.js';
import type { Directives, Heredoc, ParseWarning } from './types.js';

/** One instruction before typing: keyword, flags, argument text, lines, heredocs. */
export interface RawNode {
  /** The keyword as written (`run`, `RUN`). */
  keyword: string;
  /** Lower-cased keyword. */
  cmd: string;
  /** The logical line (continuations joined, comments dropped), trimmed. */
  original: string;
  /** Leading `--flag[=value]` words, quotes removed, without the `--` prefix removed. */
  flags: string[];
  /** The argument text after the flags, trimmed. */
  rest: string;
  startLine: number;
  endLine: number;
  heredocs: Heredoc[];
  /** ONBUILD's trigger instruction. */
  sub?: RawNode;
}

export interface SyntaxResult {
  directives: Directives;
  nodes: RawNode[];
  warnings: ParseWarning[];
}

const DIRECTIVE = /^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$/;
const WHITESPACE = /[\t\v\f\r ]+/;
const HEREDOC_CMDS = new Set(['run', 'copy', 'add']);

function syntaxError(file: string, line: number, message: string): KilnError {
  return new KilnError('DOCKERFILE_SYNTAX', message, { loc: { file, line } });
}

/** Parses `# check=skip=A,B;error=true`. */
function parseCheck(raw: string): Directives['check'] {
  const out = { skip: [] as string[], error: false, raw };
  for (const part of raw.split(';')) {
    const [k, v = ''] = part.split('=', 2).map((s) => s.trim()) as [string, string?];
    if (k === 'skip')
      out.skip =
        v === ''
          ? []
          : v
              .split(',')
              .map((s) => s.trim())
              .filter(Boolean);
    else if (k === 'error') out.error = v.toLowerCase() === 'true';
  }
  return out;
}

/**
 * Leading `--flags` of an argument string (BuildKit's extractBuilderFlags): returns the flags (quotes and
 * backslash escapes removed) and the remaining text. A bare `--` ends the flags.
 */
function extractFlags(line: string): { flags: string[]; rest: string } {
  const flags: string[] = [];
  let phase: 'spaces' | 'word' | 'quote' = 'spaces';
  let word = '';
  let quote = '';
  let blankOK = false;
  const n = line.length;
  for (let pos = 0; pos <= n; pos++) {
    const ch = pos < n ? line[pos]! : '';
    if (phase === 'spaces') {
      if (pos === n) break;
      if (isSpace(ch)) continue;
      if (ch !== '-' || pos + 1 === n || line[pos + 1] !== '-') return { flags, rest: line.slice(pos) };
      phase = 'word';
    }
    if (pos === n) {
      if (word !== '--' && (blankOK || word.length > 0)) flags.push(word);
      break;
    }
    if (phase === 'word') {
      if (isSpace(ch)) {
        phase = 'spaces';
        if (word === '--') return { flags, rest: line.slice(pos) };
        if (blankOK || word.length > 0) flags.push(word);
        word = '';
        blankOK = false;
        continue;
      }
      if (ch === "'" || ch === '"') {
        quote = ch;
        blankOK = true;
        phase = 'quote';
        continue;
      }
      let c = ch;
      if (c === '\\') {
        if (pos + 1 === n) continue;
        pos++;
        c = line[pos]!;
      }
      word += c;
      continue;
    }
    // in quote
    if (ch === quote) {
      phase = 'word';
      continue;
    }
    let c = ch;
    if (c === '\\') {
      if (pos + 1 === n) {
        phase = 'word';
        continue;
      }
      pos++;
      c = line[pos]!;
    }
    word += c;
  }
  return { flags, rest: '' };
}

/** Splits a logical line into keyword, flags and argument text. */
function splitCommand(line: string): { keyword: string; flags: string[]; rest: string } {
  const trimmed = line.trim();
  const m = WHITESPACE.exec(trimmed);
  if (!m) return { keyword: trimmed, flags: [], rest: '' };
  const keyword = trimmed.slice(0, m.index);
  const { flags, rest } = extractFlags(trimmed.slice(m.index + m[0].length));
  return { keyword, flags, rest: rest.trim() };
}

function newNode(line: string, startLine: number, endLine: number): RawNode {
  const { keyword, flags, rest } = splitCommand(line);
  const node: RawNode = { keyword, cmd: keyword.toLowerCase(), original: line.trim(), flags, rest, startLine, endLine, heredocs: [] };
  if (node.cmd === 'onbuild' && rest !== '') node.sub = newNode(rest, startLine, endLine);
  return node;
}

function isCommentLine(line: string): boolean {
  return /^\s*#/.test(line);
}

/**
 * Tokenizes a Dockerfile. Throws KilnError DOCKERFILE_SYNTAX (with the line) for a bad directive, an
 * unterminated heredoc, or a file with no instructions.
 */
export function tokenize(text: string, file = 'Dockerfile'): SyntaxResult {
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  const lines = text.split('\n');
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  for (let i = 0; i < lines.length; i++) if (lines[i]!.endsWith('\r')) lines[i] = lines[i]!.slice(0, -1);

  const directives: Directives = { escape: '\\' };
  const seen = new Set<string>();
  let directivesDone = false;
  let continuation = /\\[ \t]*$/;
  const warnings: ParseWarning[] = [];
  const nodes: RawNode[] = [];

  let i = 0;
  while (i < lines.length) {
    const lineNo = i + 1;
    const rawLine = lines[i]!;
    i++;
    if (!directivesDone) {
      const m = DIRECTIVE.exec(rawLine.trimStart());
      const key = m?.[1]!.toLowerCase();
      if (!m || (key !== 'escape' && key !== 'syntax' && key !== 'check')) {
        directivesDone = true;
      } else {
        if (seen.has(key!)) throw syntaxError(file, lineNo, `only one ${key} parser directive can be used`);
        seen.add(key!);
        const value = m[2]!;
        if (key === 'escape') {
          if (value !== '`' && value !== '\\') throw syntaxError(file, lineNo, `invalid escape token '${value}' does not match \` or \\`);
          directives.escape = value;
          continuation = value === '`' ? /`[ \t]*$/ : /\\[ \t]*$/;
        } else if (key === 'syntax') {
          directives.syntax = value;
        } else {
          directives.check = parseCheck(value);
        }
        continue;
      }
    }
    if (isCommentLine(rawLine)) continue;
    let line = rawLine.trimStart();
    let ended = !continuation.test(line);
    if (!ended) line = line.replace(continuation, '');
    if (ended && line.trim() === '') continue;

    let endLine = lineNo;
    let emptyContinuation = false;
    while (!ended && i < lines.length) {
      const next = lines[i]!;
      i++;
      endLine = i;
      if (isCommentLine(next)) continue;
      if (next.trim() === '') {
        emptyContinuation = true;
        continue;
      }
      ended = !continuation.test(next);
      line += ended ? next : next.replace(continuation, '');
    }
    if (emptyContinuation) {
      warnings.push({ message: 'Empty continuation line found in: ' + line.trim(), loc: { file, line: lineNo }, rule: 'NoEmptyContinuation' });
    }

    const node = newNode(line, lineNo, endLine);
    const bodyCmd = node.cmd === 'onbuild' ? node.sub?.cmd : node.cmd;
    const argsNode = node.cmd === 'onbuild' ? node.sub : node;
    // Exec form (`RUN ["<<EOF"]`) has no heredocs: the text is a JSON string.
    if (bodyCmd && HEREDOC_CMDS.has(bodyCmd) && line.includes('<<') && !parseJsonArray(argsNode?.rest ?? '').ok) {
      for (const marker of heredocMarkersInLine(line)) {
        let content = '';
        let terminated = false;
        while (i < lines.length) {
          const body = lines[i]!;
          i++;
          node.endLine = i;
          const candidate = marker.stripTabs ? body.replace(/^\t+/, '') : body;
          if (candidate === marker.name) {
            terminated = true;
            break;
          }
          content += body + '\n';
        }
        if (!terminated) throw syntaxError(file, lineNo, `unterminated heredoc ${marker.name} (started here, file ends at line ${lines.length})`);
        node.heredocs.push({
          name: marker.name,
          content: marker.stripTabs ? stripLeadingTabs(content) : content,
          expand: marker.expand,
          stripTabs: marker.stripTabs,
        });
      }
    }
    nodes.push(node);
  }
  if (nodes.length === 0) throw syntaxError(file, Math.max(1, lines.length), 'file with no instructions');
  if (directives.escape === undefined) directives.escape = '\\';
  return { directives, nodes, warnings };
}
