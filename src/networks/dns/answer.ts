/**
 * What the embedded DNS does with one query, as a pure function of the packet and the name table (so it is
 * tested without sockets): answer it from the network's names, send back an error, drop it, or forward it.
 * Docker's embedded DNS semantics: A for a known name answers every address of it, AAAA for a known name is an
 * empty NOERROR (the networks have no IPv6), PTR for a known address answers its name, anything else goes to the
 * upstream servers.
 */
import {
  buildMessage,
  CLASS_IN,
  encodeA,
  encodeName,
  parseMessage,
  ptrNameToIPv4,
  RCode,
  readHeader,
  readFirstQuestion,
  RRType,
  UDP_CLASSIC_LIMIT,
  udpPayloadLimit,
  type DnsMessage,
  type DnsQuestion,
  type DnsRecord,
} from './wire.js';

/** TTL of local answers, Docker's (libnetwork's respTTL). */
export const LOCAL_TTL = 600;

export interface LocalNames {
  lookup: (name: string) => string[] | undefined;
  reverse?: (ip: string) => string | undefined;
}

export type Decision =
  | { kind: 'reply'; packet: Buffer }
  | { kind: 'drop' }
  /** `udpLimit`: the largest answer the client takes over UDP (512, or its EDNS0 size). */
  | { kind: 'forward'; question: DnsQuestion; udpLimit: number };

/**
 * A reply carrying only `rcode`, echoing the query's first question when it can be read. Undefined for packets
 * that must not be answered: shorter than a header, or themselves responses (answering those invites loops
 * between two servers and reflection).
 */
export function errorReply(query: Buffer, rcode: number): Buffer | undefined {
  if (query.length < 12) return undefined;
  const h = readHeader(query);
  if (h.qr) return undefined;
  let questions: DnsQuestion[] = [];
  try {
    if (h.qdcount === 1) questions = [readFirstQuestion(query)];
  } catch {
    questions = [];
  }
  return buildMessage({ header: { id: h.id, qr: true, opcode: h.opcode, rd: h.rd, ra: true, rcode }, questions });
}

function reply(msg: DnsMessage, answers: DnsRecord[], limit: number): Buffer {
  const q = msg.questions[0]!;
  const header = { id: msg.header.id, qr: true, opcode: 0, rd: msg.header.rd, ra: true, rcode: RCode.NOERROR };
  let packet = buildMessage({ header, questions: [q], answers });
  // Too big for the client's UDP limit: keep the answers that fit and set TC so it retries over TCP.
  for (let n = answers.length - 1; packet.length > limit && n >= 0; n--) {
    packet = buildMessage({ header: { ...header, tc: true }, questions: [q], answers: answers.slice(0, n) });
  }
  return packet;
}

/** Decides what to do with `query`, received over `transport`. Never throws on any input. */
export function decide(query: Buffer, names: LocalNames, transport: 'udp' | 'tcp'): Decision {
  if (query.length < 12) return { kind: 'drop' };
  const h = readHeader(query);
  if (h.qr) return { kind: 'drop' };
  const err = (rcode: number): Decision => {
    const packet = errorReply(query, rcode);
    return packet ? { kind: 'reply', packet } : { kind: 'drop' };
  };
  if (h.opcode !== 0) return err(RCode.NOTIMP);
  let msg: DnsMessage;
  try {
    msg = parseMessage(query);
  } catch {
    return err(RCode.FORMERR);
  }
  if (msg.questions.length !== 1 || msg.answers.length > 0) return err(RCode.FORMERR);
  const q = msg.questions[0]!;
  const limit = transport === 'tcp' ? 65_535 : udpPayloadLimit(msg);
  const forward: Decision = { kind: 'forward', question: q, udpLimit: transport === 'tcp' ? UDP_CLASSIC_LIMIT : limit };
  if (q.class !== CLASS_IN) return forward;
  try {
    if (q.type === RRType.A || q.type === RRType.AAAA) {
      const ips = names.lookup(q.name);
      if (ips === undefined) return forward;
      if (q.type === RRType.AAAA) return { kind: 'reply', packet: reply(msg, [], limit) };
      const answers = ips.map((ip) => ({ name: q.name, type: RRType.A, class: CLASS_IN, ttl: LOCAL_TTL, data: encodeA(ip) }));
      return { kind: 'reply', packet: reply(msg, answers, limit) };
    }
    if (q.type === RRType.PTR) {
      const ip = ptrNameToIPv4(q.name);
      const target = ip === undefined ? undefined : names.reverse?.(ip);
      if (target === undefined) return forward;
      const answer = { name: q.name, type: RRType.PTR, class: CLASS_IN, ttl: LOCAL_TTL, data: encodeName(target) };
      return { kind: 'reply', packet: reply(msg, [answer], limit) };
    }
  } catch {
    // A name from the table that cannot be encoded (too long): the question is answered by nobody sane.
    return err(RCode.SERVFAIL);
  }
  return forward;
}
