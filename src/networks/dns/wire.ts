/**
 * The DNS message codec (RFC 1035 §4) the embedded DNS server needs: the header, questions and resource records
 * of a message, names with compression pointers, and building answers. Every packet comes from a container or an
 * upstream server, so parsing trusts nothing: each read is bounds-checked, a compression pointer must point
 * strictly backwards (which rules out loops), names stay within 255 octets, and counts that the packet cannot
 * possibly hold are refused before any loop runs. Failures throw `DnsFormatError`, which the server answers with
 * FORMERR or drops; it is not a KilnError because it never reaches a user.
 */

/** Record types the server answers or inspects. */
export const RRType = { A: 1, NS: 2, CNAME: 5, SOA: 6, PTR: 12, MX: 15, TXT: 16, AAAA: 28, SRV: 33, OPT: 41, ANY: 255 } as const;
/** Class IN, the only one the embedded names live in. */
export const CLASS_IN = 1;
/** Response codes (RFC 1035 §4.1.1). */
export const RCode = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 } as const;

/** Size of the fixed header. */
export const HEADER_SIZE = 12;
/** Longest name on the wire, length octets included (RFC 1035 §2.3.4). */
export const MAX_NAME_OCTETS = 255;
/** Longest label. */
export const MAX_LABEL = 63;
/** UDP payload limit without EDNS (RFC 1035 §4.2.1). */
export const UDP_CLASSIC_LIMIT = 512;

/** A malformed or hostile message. */
export class DnsFormatError extends Error {
  override name = 'DnsFormatError';
}

export interface DnsHeader {
  id: number;
  qr: boolean;
  opcode: number;
  aa: boolean;
  tc: boolean;
  rd: boolean;
  ra: boolean;
  rcode: number;
  qdcount: number;
  ancount: number;
  nscount: number;
  arcount: number;
}

/**
 * A question. `name` is in presentation form without the trailing dot ("" is the root); a label's `.`, `\` and
 * non-printable octets are escaped as `\.`, `\\` and `\DDD`, so `encodeName(name)` gives back the same octets.
 */
export interface DnsQuestion {
  name: string;
  type: number;
  class: number;
}

/** A resource record; `data` is its RDATA as received (compression pointers inside it are not expanded). */
export interface DnsRecord {
  name: string;
  type: number;
  class: number;
  ttl: number;
  data: Buffer;
}

export interface DnsMessage {
  header: DnsHeader;
  questions: DnsQuestion[];
  answers: DnsRecord[];
  authorities: DnsRecord[];
  additionals: DnsRecord[];
}

/** Reads the fixed header; throws when the packet is shorter than one. */
export function readHeader(buf: Buffer): DnsHeader {
  if (buf.length < HEADER_SIZE) throw new DnsFormatError(`message of ${buf.length} bytes is shorter than a header`);
  const flags = buf.readUInt16BE(2);
  return {
    id: buf.readUInt16BE(0),
    qr: (flags & 0x8000) !== 0,
    opcode: (flags >> 11) & 0xf,
    aa: (flags & 0x0400) !== 0,
    tc: (flags & 0x0200) !== 0,
    rd: (flags & 0x0100) !== 0,
    ra: (flags & 0x0080) !== 0,
    rcode: flags & 0xf,
    qdcount: buf.readUInt16BE(4),
    ancount: buf.readUInt16BE(6),
    nscount: buf.readUInt16BE(8),
    arcount: buf.readUInt16BE(10),
  };
}

function escapeLabel(label: Buffer): string {
  let out = '';
  for (const c of label) {
    if (c === 0x2e || c === 0x5c) out += '\\' + String.fromCharCode(c);
    else if (c > 0x20 && c < 0x7f) out += String.fromCharCode(c);
    else out += '\\' + String(c).padStart(3, '0');
  }
  return out;
}

/**
 * Reads the name at `offset`. Returns it and the offset just past it in the original stream (past the first
 * pointer when it was compressed). Pointers must point before the label that holds them, so following them
 * always makes progress towards the start and cannot loop.
 */
export function readName(buf: Buffer, offset: number): { name: string; next: number } {
  const labels: string[] = [];
  let pos = offset;
  let next = -1;
  let octets = 1;
  // Every pointer jumps strictly backwards, so this bound is never reached by a valid or hostile packet; it is a
  // second guard, cheap to keep.
  for (let jumps = 0; jumps <= buf.length;) {
    if (pos >= buf.length) throw new DnsFormatError('name runs past the end of the message');
    const len = buf[pos]!;
    if ((len & 0xc0) === 0xc0) {
      if (pos + 1 >= buf.length) throw new DnsFormatError('compression pointer runs past the end of the message');
      const target = ((len & 0x3f) << 8) | buf[pos + 1]!;
      if (target >= pos) throw new DnsFormatError('compression pointer does not point backwards');
      if (next < 0) next = pos + 2;
      pos = target;
      jumps++;
      continue;
    }
    if ((len & 0xc0) !== 0) throw new DnsFormatError(`unsupported label type 0x${(len & 0xc0).toString(16)}`);
    if (len === 0) return { name: labels.join('.'), next: next < 0 ? pos + 1 : next };
    octets += len + 1;
    if (octets > MAX_NAME_OCTETS) throw new DnsFormatError('name is longer than 255 octets');
    if (pos + 1 + len > buf.length) throw new DnsFormatError('label runs past the end of the message');
    labels.push(escapeLabel(buf.subarray(pos + 1, pos + 1 + len)));
    pos += 1 + len;
  }
  throw new DnsFormatError('too many compression pointers');
}

/** Splits a presentation-form name into label octets; throws on empty labels or names over 255 octets. */
export function nameToLabels(name: string): Buffer[] {
  const labels: Buffer[] = [];
  let cur: number[] = [];
  let i = 0;
  const s = name.endsWith('.') && !name.endsWith('\\.') ? name.slice(0, -1) : name;
  if (s === '') return [];
  const flush = () => {
    if (cur.length === 0) throw new DnsFormatError(`empty label in name "${name}"`);
    if (cur.length > MAX_LABEL) throw new DnsFormatError(`label longer than 63 octets in name "${name}"`);
    labels.push(Buffer.from(cur));
    cur = [];
  };
  while (i < s.length) {
    const ch = s.charCodeAt(i);
    if (ch === 0x5c) {
      const d = /^\d{3}/.exec(s.slice(i + 1, i + 4));
      if (d) {
        const v = Number(d[0]);
        if (v > 255) throw new DnsFormatError(`bad escape \\${d[0]} in name "${name}"`);
        cur.push(v);
        i += 4;
      } else if (i + 1 < s.length) {
        cur.push(s.charCodeAt(i + 1) & 0xff);
        i += 2;
      } else throw new DnsFormatError(`dangling escape in name "${name}"`);
    } else if (ch === 0x2e) {
      flush();
      i++;
    } else {
      if (ch > 0xff) throw new DnsFormatError(`non-ASCII character in name "${name}"`);
      cur.push(ch);
      i++;
    }
  }
  flush();
  const octets = labels.reduce((n, l) => n + l.length + 1, 1);
  if (octets > MAX_NAME_OCTETS) throw new DnsFormatError(`name "${name}" is longer than 255 octets`);
  return labels;
}

/** Encodes a name uncompressed. */
export function encodeName(name: string): Buffer {
  const labels = nameToLabels(name);
  return Buffer.concat([...labels.flatMap((l) => [Buffer.from([l.length]), l]), Buffer.from([0])]);
}

function readQuestion(buf: Buffer, offset: number): { q: DnsQuestion; next: number } {
  const { name, next } = readName(buf, offset);
  if (next + 4 > buf.length) throw new DnsFormatError('question runs past the end of the message');
  return { q: { name, type: buf.readUInt16BE(next), class: buf.readUInt16BE(next + 2) }, next: next + 4 };
}

function readRecord(buf: Buffer, offset: number): { rr: DnsRecord; next: number } {
  const { name, next } = readName(buf, offset);
  if (next + 10 > buf.length) throw new DnsFormatError('record runs past the end of the message');
  const rdlength = buf.readUInt16BE(next + 8);
  const end = next + 10 + rdlength;
  if (end > buf.length) throw new DnsFormatError('record data runs past the end of the message');
  return {
    rr: {
      name,
      type: buf.readUInt16BE(next),
      class: buf.readUInt16BE(next + 2),
      ttl: buf.readUInt32BE(next + 4),
      data: Buffer.from(buf.subarray(next + 10, end)),
    },
    next: end,
  };
}

/**
 * Parses a whole message. Counts are checked against what the remaining bytes could hold (a question is at
 * least 5 octets, a record 11) before reading, so a header claiming 65535 records costs nothing. Octets after
 * the last record are ignored, as most servers do.
 */
export function parseMessage(buf: Buffer): DnsMessage {
  const header = readHeader(buf);
  const room = buf.length - HEADER_SIZE;
  if (header.qdcount * 5 + (header.ancount + header.nscount + header.arcount) * 11 > room)
    throw new DnsFormatError('section counts exceed what the message can hold');
  let pos = HEADER_SIZE;
  const questions: DnsQuestion[] = [];
  for (let i = 0; i < header.qdcount; i++) {
    const { q, next } = readQuestion(buf, pos);
    questions.push(q);
    pos = next;
  }
  const section = (count: number) => {
    const out: DnsRecord[] = [];
    for (let i = 0; i < count; i++) {
      const { rr, next } = readRecord(buf, pos);
      out.push(rr);
      pos = next;
    }
    return out;
  };
  const answers = section(header.ancount);
  const authorities = section(header.nscount);
  const additionals = section(header.arcount);
  return { header, questions, answers, authorities, additionals };
}

/** Reads the first question only (what a forwarded answer is checked against); throws when there is none. */
export function readFirstQuestion(buf: Buffer): DnsQuestion {
  const header = readHeader(buf);
  if (header.qdcount < 1) throw new DnsFormatError('message has no question');
  return readQuestion(buf, HEADER_SIZE).q;
}

/** The largest UDP answer the sender of `msg` accepts: its EDNS0 payload size (RFC 6891), at least 512. */
export function udpPayloadLimit(msg: DnsMessage): number {
  const opt = msg.additionals.find((r) => r.type === RRType.OPT);
  return opt ? Math.max(UDP_CLASSIC_LIMIT, Math.min(opt.class, 65_535)) : UDP_CLASSIC_LIMIT;
}

/** What `buildMessage` encodes; header fields left out are false or zero, counts come from the sections. */
export interface BuildInput {
  header: Partial<Omit<DnsHeader, 'qdcount' | 'ancount' | 'nscount' | 'arcount'>> & { id: number };
  questions?: DnsQuestion[];
  answers?: DnsRecord[];
  authorities?: DnsRecord[];
  additionals?: DnsRecord[];
}

/** Writes names with compression: each suffix already written is replaced by a pointer to it. */
class NameWriter {
  private readonly seen = new Map<string, number>();
  constructor(private readonly chunks: Buffer[]) {}
  length = 0;

  push(b: Buffer): void {
    this.chunks.push(b);
    this.length += b.length;
  }

  name(name: string): void {
    const labels = nameToLabels(name);
    for (let i = 0; i < labels.length; i++) {
      const key = labels
        .slice(i)
        .map((l) => l.toString('latin1').toLowerCase())
        .join('\0');
      const at = this.seen.get(key);
      if (at !== undefined) {
        this.push(Buffer.from([0xc0 | (at >> 8), at & 0xff]));
        return;
      }
      // Pointers hold 14 bits; later suffixes are simply written out in full.
      if (this.length < 0x4000) this.seen.set(key, this.length);
      this.push(Buffer.concat([Buffer.from([labels[i]!.length]), labels[i]!]));
    }
    this.push(Buffer.from([0]));
  }
}

/** Encodes a message (names compressed). Throws `DnsFormatError` on a name that cannot be encoded. */
export function buildMessage(input: BuildInput): Buffer {
  const h = input.header;
  const questions = input.questions ?? [];
  const sections = [input.answers ?? [], input.authorities ?? [], input.additionals ?? []];
  const head = Buffer.alloc(HEADER_SIZE);
  head.writeUInt16BE(h.id & 0xffff, 0);
  const flags =
    (h.qr ? 0x8000 : 0) |
    (((h.opcode ?? 0) & 0xf) << 11) |
    (h.aa ? 0x0400 : 0) |
    (h.tc ? 0x0200 : 0) |
    (h.rd ? 0x0100 : 0) |
    (h.ra ? 0x0080 : 0) |
    ((h.rcode ?? 0) & 0xf);
  head.writeUInt16BE(flags, 2);
  head.writeUInt16BE(questions.length, 4);
  sections.forEach((s, i) => head.writeUInt16BE(s.length, 6 + 2 * i));
  const chunks: Buffer[] = [];
  const w = new NameWriter(chunks);
  w.push(head);
  for (const q of questions) {
    w.name(q.name);
    const tail = Buffer.alloc(4);
    tail.writeUInt16BE(q.type, 0);
    tail.writeUInt16BE(q.class, 2);
    w.push(tail);
  }
  for (const rr of sections.flat()) {
    w.name(rr.name);
    const fixed = Buffer.alloc(10);
    fixed.writeUInt16BE(rr.type, 0);
    fixed.writeUInt16BE(rr.class, 2);
    fixed.writeUInt32BE(rr.ttl >>> 0, 4);
    fixed.writeUInt16BE(rr.data.length, 8);
    w.push(fixed);
    w.push(rr.data);
  }
  return Buffer.concat(chunks);
}

/** RDATA of an A record; throws on anything but a dotted quad. */
export function encodeA(ip: string): Buffer {
  const parts = ip.split('.');
  if (parts.length !== 4 || parts.some((p) => !/^\d{1,3}$/.test(p) || Number(p) > 255)) throw new DnsFormatError(`not an IPv4 address: ${ip}`);
  return Buffer.from(parts.map(Number));
}

/** The IPv4 address a `d.c.b.a.in-addr.arpa` name asks about, or undefined for any other name. */
export function ptrNameToIPv4(name: string): string | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.in-addr\.arpa\.?$/i.exec(name);
  if (!m) return undefined;
  const octets = [m[4], m[3], m[2], m[1]].map(Number);
  if (octets.some((o) => o > 255)) return undefined;
  return octets.join('.');
}
