/**
 * BuildKit's shell-word lexer (frontend/dockerfile/shell): variable expansion and quote removal for the
 * Dockerfile words Docker expands (ENV, LABEL, COPY paths, WORKDIR, …). It is not a shell: no command
 * substitution, no globbing, no arithmetic; `$1`, `$@` and other positional/special parameters expand to
 * the empty string because the environment never holds them.
 *
 * Supported: `$a`, `${a}`, `${a:-w}`, `${a-w}`, `${a:+w}`, `${a+w}`, `${a:?m}`, `${a?m}`, `${a#p}`, `${a##p}`,
 * `${a%p}`, `${a%%p}`, `${a/p/r}`, `${a//p/r}`; single quotes (literal), double quotes (only `$`, the quote and
 * the escape character are special inside), and the active escape character (`\` or `` ` ``).
 */
import { KilnError } from '../errors.js';

/** Variables visible to an expansion. Lookups are case-sensitive (Linux). */
export type EnvLookup = ReadonlyMap<string, string> | Readonly<Record<string, string>>;

export interface LexOptions {
  /** The escape character, from the `# escape=` directive. Default `\`. */
  escape?: string;
  /** Keep quote characters in the result (BuildKit uses this when showing RUN lines). */
  rawQuotes?: boolean;
  /** Keep escape characters in the result. */
  rawEscapes?: boolean;
  /** Treat quotes as ordinary characters (heredoc bodies). */
  skipProcessQuotes?: boolean;
  /** Leave references to unset variables as written instead of expanding them to "". */
  skipUnsetEnv?: boolean;
}

export interface WordResult {
  /** The word after expansion and quote removal, spaces kept. */
  result: string;
  /** The same text split into fields on unquoted white space (what ProcessWords returns). */
  words: string[];
  /** Variable names that were found. */
  matched: Set<string>;
  /** Variable names that were referenced but unset. */
  unmatched: Set<string>;
}

const EOF = '';

// Hot path (called per character): ASCII answers without a regexp, the rest through Unicode classes.
/** Go's unicode.IsSpace (the White_Space property), with an ASCII fast path. */
export function isSpace(ch: string): boolean {
  const c = ch.charCodeAt(0);
  if (c < 128) return c === 32 || (c >= 9 && c <= 13);
  return (
    c === 0x85 || c === 0xa0 || c === 0x1680 || (c >= 0x2000 && c <= 0x200a) || c === 0x2028 || c === 0x2029 || c === 0x202f || c === 0x205f || c === 0x3000
  );
}

function isLetter(ch: string): boolean {
  const c = ch.charCodeAt(0);
  if (c < 128) return (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
  return LETTER.test(ch);
}

function isDigit(ch: string): boolean {
  const c = ch.charCodeAt(0);
  if (c < 128) return c >= 48 && c <= 57;
  return DIGIT.test(ch);
}

function isSpecialParam(ch: string): boolean {
  return ch === '@' || ch === '*' || ch === '#' || ch === '?' || ch === '-' || ch === '$' || ch === '!' || ch === '0';
}

const LETTER = /^\p{L}$/u;
const DIGIT = /^\p{Nd}$/u;

/** Accumulates the word list the way BuildKit does: unquoted spaces split, quoted text is kept whole. */
class Words {
  word = '';
  words: string[] = [];
  inWord = false;

  addChar(ch: string): void {
    if (isSpace(ch) && this.inWord) {
      if (this.word.length !== 0) {
        this.words.push(this.word);
        this.word = '';
        this.inWord = false;
      }
    } else if (!isSpace(ch)) {
      this.addRawChar(ch);
    }
  }

  addRawChar(ch: string): void {
    this.word += ch;
    this.inWord = true;
  }

  addString(s: string): void {
    for (const ch of s) this.addChar(ch);
  }

  addRawString(s: string): void {
    this.word += s;
    this.inWord = true;
  }

  get(): string[] {
    if (this.word.length > 0) {
      this.words.push(this.word);
      this.word = '';
      this.inWord = false;
    }
    return this.words;
  }
}

class SyntaxError_ extends Error {}

/**
 * Most `${a:-${b:-…}}` levels one word may nest. Each level costs a few stack frames; 5,000 levels overflowed the
 * stack. Real Dockerfiles nest two or three; bash has no limit but is not running on a build server.
 */
export const MAX_NESTING = 100;

class ShellWord {
  private readonly chars: string[];
  private pos = 0;
  private rawEscapes: boolean;
  readonly matched = new Set<string>();
  readonly unmatched = new Set<string>();

  constructor(
    word: string,
    private readonly env: EnvLookup,
    private readonly opts: Required<LexOptions>,
  ) {
    this.chars = Array.from(word);
    this.rawEscapes = opts.rawEscapes;
  }

  private peek(): string {
    return this.pos < this.chars.length ? this.chars[this.pos]! : EOF;
  }

  private next(): string {
    return this.pos < this.chars.length ? this.chars[this.pos++]! : EOF;
  }

  process(): { result: string; words: string[] } {
    return this.processStopOn(EOF, this.rawEscapes);
  }

  private processStopOn(stop: string, rawEscapes: boolean): { result: string; words: string[] } {
    let result = '';
    const words = new Words();
    const saved = this.rawEscapes;
    this.rawEscapes = rawEscapes;
    try {
      while (this.peek() !== EOF) {
        const ch = this.peek();
        if (stop !== EOF && ch === stop) {
          this.next();
          return { result, words: words.get() };
        }
        if (ch === '$') {
          const tmp = this.processDollar();
          result += tmp;
          words.addString(tmp);
        } else if (!this.opts.skipProcessQuotes && (ch === "'" || ch === '"')) {
          const tmp = ch === "'" ? this.processSingleQuote() : this.processDoubleQuote();
          result += tmp;
          words.addRawString(tmp);
        } else {
          let c = this.next();
          if (c === this.opts.escape) {
            if (this.rawEscapes) {
              words.addRawChar(c);
              result += c;
            }
            // The escape character escapes the next one; at the very end it is dropped.
            c = this.next();
            if (c === EOF) break;
            words.addRawChar(c);
          } else {
            words.addChar(c);
          }
          result += c;
        }
      }
      if (stop !== EOF) throw new SyntaxError_(`unexpected end of statement while looking for matching ${stop}`);
      return { result, words: words.get() };
    } finally {
      this.rawEscapes = saved;
    }
  }

  private processSingleQuote(): string {
    let result = '';
    let ch = this.next();
    if (this.opts.rawQuotes) result += ch;
    for (;;) {
      ch = this.next();
      if (ch === EOF) throw new SyntaxError_('unexpected end of statement while looking for matching single-quote');
      if (ch === "'") {
        if (this.opts.rawQuotes) result += ch;
        return result;
      }
      result += ch;
    }
  }

  private processDoubleQuote(): string {
    let result = '';
    const open = this.next();
    if (this.opts.rawQuotes) result += open;
    for (;;) {
      const p = this.peek();
      if (p === EOF) throw new SyntaxError_('unexpected end of statement while looking for matching double-quote');
      if (p === '"') {
        const ch = this.next();
        if (this.opts.rawQuotes) result += ch;
        return result;
      }
      if (p === '$') {
        result += this.processDollar();
        continue;
      }
      let ch = this.next();
      if (ch === this.opts.escape) {
        if (this.rawEscapes) result += ch;
        const n = this.peek();
        if (n === EOF) continue; // an escape at the end of the word is ignored
        if (n === '"' || n === '$' || n === this.opts.escape) ch = this.next();
      }
      result += ch;
    }
  }

  private getEnv(name: string): string | undefined {
    const env = this.env;
    const v = env instanceof Map ? env.get(name) : Object.prototype.hasOwnProperty.call(env, name) ? (env as Record<string, string>)[name] : undefined;
    if (v === undefined) this.unmatched.add(name);
    else this.matched.add(name);
    return v;
  }

  private processName(): string {
    let name = '';
    while (this.peek() !== EOF) {
      const ch = this.peek();
      if (name.length === 0 && isDigit(ch)) {
        while (this.peek() !== EOF && isDigit(this.peek())) name += this.next();
        return name;
      }
      if (name.length === 0 && isSpecialParam(ch)) return this.next();
      if (!isLetter(ch) && !isDigit(ch) && ch !== '_') break;
      name += this.next();
    }
    return name;
  }

  /** How deep `${…}` substitutions are nested right now; bounded so a hostile word cannot overflow the stack. */
  private depth = 0;

  private processDollar(): string {
    if (this.depth >= MAX_NESTING) throw new SyntaxError_(`variable substitutions nested more than ${MAX_NESTING} deep`);
    this.depth++;
    try {
      return this.processDollarAt();
    } finally {
      this.depth--;
    }
  }

  private processDollarAt(): string {
    this.next(); // '$'
    if (this.peek() !== '{') {
      const name = this.processName();
      if (name === '') return '$';
      const value = this.getEnv(name);
      if (value === undefined && this.opts.skipUnsetEnv) return '$' + name;
      return value ?? '';
    }
    this.next(); // '{'
    const p = this.peek();
    if (p === EOF) throw new SyntaxError_("syntax error: missing '}'");
    if (p === '{' || p === '}' || p === ':') throw new SyntaxError_('syntax error: bad substitution');
    const name = this.processName();
    let ch = this.next();
    let chs = ch;
    let nullIsUnset = false;
    if (ch === '}') {
      const value = this.getEnv(name);
      if (value === undefined && this.opts.skipUnsetEnv) return `\${${name}}`;
      return value ?? '';
    }
    if (ch === ':' || ch === '+' || ch === '-' || ch === '?' || ch === '#' || ch === '%') {
      if (ch === ':') {
        nullIsUnset = true;
        ch = this.next();
        chs += ch;
      }
      {
        const raw = ch === '#' || ch === '%';
        let word: string;
        try {
          word = this.processStopOn('}', raw).result;
        } catch (err) {
          if (this.peek() === EOF) throw new SyntaxError_("syntax error: missing '}'");
          throw err;
        }
        const value = this.getEnv(name);
        if (this.opts.skipUnsetEnv && value === undefined) return `\${${name}${chs}${word}}`;
        const unsetOrNull = value === undefined || (nullIsUnset && value === '');
        switch (ch) {
          case '-':
            return unsetOrNull ? word : value!;
          case '+':
            return unsetOrNull ? '' : word;
          case '?':
            if (value === undefined) throw new SyntaxError_(`${name}: ${word !== '' ? word : 'is not allowed to be unset'}`);
            if (nullIsUnset && value === '') throw new SyntaxError_(`${name}: ${word !== '' ? word : 'is not allowed to be empty'}`);
            return value;
          case '%':
          case '#': {
            if (nullIsUnset) throw new SyntaxError_(`unsupported modifier (${chs}) in substitution`);
            let greedy = false;
            if (word.length > 0 && word[0] === ch) {
              greedy = true;
              word = word.slice(1);
            }
            return ch === '%' ? trimSuffix(word, value ?? '', greedy) : trimPrefix(word, value ?? '', greedy);
          }
          default:
            throw new SyntaxError_(`unsupported modifier (${chs}) in substitution`);
        }
      }
    }
    if (ch === '/') {
      {
        const replaceAll = this.peek() === '/';
        if (replaceAll) this.next();
        let pattern: string;
        try {
          pattern = this.processStopOn('/', true).result;
        } catch (err) {
          if (this.peek() === EOF) throw new SyntaxError_("syntax error: missing '/' in ${}");
          throw err;
        }
        let replacement: string;
        try {
          replacement = this.processStopOn('}', true).result;
        } catch (err) {
          if (this.peek() === EOF) throw new SyntaxError_("syntax error: missing '}'");
          throw err;
        }
        const value = this.getEnv(name);
        if (this.opts.skipUnsetEnv && value === undefined) return `\${${name}/${pattern}/${replacement}}`;
        const re = shellPatternToRegex(pattern, true, false, replaceAll);
        const v = value ?? '';
        if (replaceAll) return v.replace(re, () => replacement);
        const m = re.exec(v);
        if (!m) return v;
        return v.slice(0, m.index) + replacement + v.slice(m.index + m[0].length);
      }
    }
    throw new SyntaxError_(`unsupported modifier (${chs}) in substitution`);
  }
}

/**
 * A shell wildcard pattern (`*`, `?`, `\` escapes; no brackets) as a RegExp. Greedy `*` is `.*`, otherwise
 * `.*?`; `anchored` matches only at the start.
 */
function shellPatternToRegex(pattern: string, greedy: boolean, anchored: boolean, global = false): RegExp {
  const chars = Array.from(pattern);
  let out = anchored ? '^' : '';
  const star = greedy ? '.*' : '.*?';
  for (let i = 0; i < chars.length; i++) {
    const tok = chars[i]!;
    switch (tok) {
      case '*':
        out += star;
        continue;
      case '?':
        out += '.';
        continue;
      case '\\': {
        const nxt = chars[i + 1];
        // `}` and `/` are escaped only to get past the ${} parser; the escape is not part of the pattern.
        if (nxt === '}' || nxt === '/') continue;
        i++;
        if (nxt !== '*' && nxt !== '?' && nxt !== '\\') {
          throw new SyntaxError_(`invalid pattern (${pattern}) in substitution: invalid escape '\\${nxt ?? ''}'`);
        }
        out += '\\' + nxt;
        continue;
      }
      case '[':
      case ']':
      case '{':
      case '}':
      case '.':
      case '+':
      case '(':
      case ')':
      case '|':
      case '^':
      case '$':
        out += '\\' + tok;
        continue;
      default:
        out += tok;
    }
  }
  return new RegExp(out, global ? 'gu' : 'u');
}

function trimPrefix(pattern: string, value: string, greedy: boolean): string {
  const re = shellPatternToRegex(pattern, greedy, true);
  const m = re.exec(value);
  return m ? value.slice(m[0].length) : value;
}

/** Reverses a pattern keeping `\x` escapes in front of the character they escape. */
function reversePattern(pattern: string): string {
  const runes = Array.from(pattern);
  const out = new Array<string>(runes.length);
  const last = runes.length - 1;
  for (let i = 0; i <= last;) {
    const tok = runes[i]!;
    const o = last - i;
    if (tok === '\\' && i !== last) {
      out[o - 1] = tok;
      out[o] = runes[i + 1]!;
      i += 2;
    } else {
      out[o] = tok;
      i++;
    }
  }
  return out.join('');
}

function reverseString(s: string): string {
  return Array.from(s).reverse().join('');
}

function trimSuffix(pattern: string, value: string, greedy: boolean): string {
  // A regexp cannot find the shortest rightmost match, so both sides are reversed into a leftmost search.
  return reverseString(trimPrefix(reversePattern(pattern), reverseString(value), greedy));
}

function fullOptions(opts: LexOptions): Required<LexOptions> {
  return {
    escape: opts.escape ?? '\\',
    rawQuotes: opts.rawQuotes ?? false,
    rawEscapes: opts.rawEscapes ?? false,
    skipProcessQuotes: opts.skipProcessQuotes ?? false,
    skipUnsetEnv: opts.skipUnsetEnv ?? false,
  };
}

/**
 * Expands `word` with `env`. Throws KilnError EXPANSION_FAILED (`failed to process "…": …`) on a syntax error
 * or a `${a?msg}` failure; the caller attaches the Dockerfile location.
 */
export function processWordWithMatches(word: string, env: EnvLookup, opts: LexOptions = {}): WordResult {
  const sw = new ShellWord(word, env, fullOptions(opts));
  try {
    const { result, words } = sw.process();
    return { result, words, matched: sw.matched, unmatched: sw.unmatched };
  } catch (err) {
    if (err instanceof SyntaxError_) {
      const shown = word.length > 200 ? `${word.slice(0, 200)}…` : word;
      throw new KilnError('EXPANSION_FAILED', `failed to process ${JSON.stringify(shown)}: ${err.message}`);
    }
    throw err;
  }
}

/** `processWordWithMatches(...).result`: one word, spaces kept. */
export function processWord(word: string, env: EnvLookup, opts: LexOptions = {}): string {
  return processWordWithMatches(word, env, opts).result;
}

/** Expands then splits on unquoted white space (EXPOSE, VOLUME words, legacy `ENV k v`). */
export function processWords(word: string, env: EnvLookup, opts: LexOptions = {}): string[] {
  return processWordWithMatches(word, env, opts).words;
}
