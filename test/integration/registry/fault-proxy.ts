/**
 * A fault-injecting HTTP proxy in front of a real registry (loopback only). Rules pick requests by method and
 * path and fire a given number of times: reset the connection, answer a status, cut or stall a body after N
 * bytes, flip a byte, rewrite a body, redirect elsewhere. Everything else is forwarded untouched (the Host header
 * too, so the registry's upload `Location`s point back at the proxy). `log` records each request (method, path,
 * query, Range/Content-Range, whether it carried Authorization) so tests can count retries.
 */
import { createServer, request, type IncomingMessage, type ServerResponse } from 'node:http';

export type Fault =
  | { kind: 'reset' }
  | { kind: 'status'; status: number; headers?: Record<string, string>; body?: string }
  | { kind: 'truncate'; after: number }
  | { kind: 'stall'; after: number; ms: number }
  | { kind: 'corrupt' }
  | { kind: 'replace'; status?: number; headers?: Record<string, string>; body: Buffer | string; chunked?: boolean }
  | { kind: 'rewrite'; fn: (body: Buffer) => Buffer }
  | { kind: 'redirect'; location: (path: string) => string; status?: number }
  | { kind: 'headers'; headers: Record<string, string> };

export interface LoggedRequest {
  method: string;
  path: string;
  query: string;
  range?: string;
  contentRange?: string;
  authorization: boolean;
  fault?: Fault['kind'];
}

interface Rule {
  method?: string;
  path: RegExp;
  fault: Fault;
  left: number;
  skip: number;
}

export interface FaultProxy {
  host: string;
  log: LoggedRequest[];
  /** Adds a rule firing `times` times (default once) for requests matching method and path, after letting `skip` through. */
  fault(match: { method?: string; path: RegExp }, fault: Fault, times?: number, skip?: number): void;
  clear(): void;
  stop(): Promise<void>;
}

export async function startFaultProxy(target: string): Promise<FaultProxy> {
  const [thost, tport] = target.split(':');
  const rules: Rule[] = [];
  const log: LoggedRequest[] = [];
  const timers = new Set<NodeJS.Timeout>();

  const pick = (method: string, path: string): Fault | undefined => {
    const r = rules.find((x) => x.left > 0 && (!x.method || x.method === method) && x.path.test(path));
    if (!r) return undefined;
    if (r.skip > 0) {
      r.skip--;
      return undefined;
    }
    r.left--;
    return r.fault;
  };

  const forward = (req: IncomingMessage, res: ServerResponse, fault: Fault | undefined): void => {
    const up = request({ host: thost, port: Number(tport), method: req.method, path: req.url, headers: req.headers }, (ures) => {
      const headers = { ...ures.headers };
      if (fault?.kind === 'rewrite' || fault?.kind === 'corrupt') {
        const chunks: Buffer[] = [];
        ures.on('data', (c) => chunks.push(c));
        ures.on('end', () => {
          let body: Buffer = Buffer.concat(chunks);
          if (fault.kind === 'corrupt') {
            body = Buffer.from(body);
            if (body.length) body[Math.floor(body.length / 2)]! ^= 0xff;
          } else {
            body = fault.fn(body);
            delete headers['docker-content-digest'];
            delete headers.etag;
          }
          headers['content-length'] = String(body.length);
          res.writeHead(ures.statusCode ?? 502, headers).end(body);
        });
        return;
      }
      if (fault?.kind === 'headers') Object.assign(headers, fault.headers);
      res.writeHead(ures.statusCode ?? 502, headers);
      if (fault?.kind === 'truncate' || fault?.kind === 'stall') {
        let sent = 0;
        let cut = false;
        ures.on('data', (c: Buffer) => {
          if (cut) return;
          if (sent + c.length < fault.after) {
            sent += c.length;
            res.write(c);
            return;
          }
          cut = true;
          ures.destroy();
          // Cut only after the partial body is on the wire, so the client sees headers and some bytes.
          res.write(c.subarray(0, fault.after - sent), () => {
            if (fault.kind === 'truncate') setTimeout(() => res.socket?.destroy(), 20);
            else {
              const t = setTimeout(() => {
                timers.delete(t);
                res.socket?.destroy();
              }, fault.ms);
              timers.add(t);
            }
          });
        });
        ures.on('end', () => {
          if (!cut) res.end();
        });
        return;
      }
      ures.pipe(res);
    });
    up.on('error', () => res.socket?.destroy());
    req.pipe(up);
  };

  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://proxy');
    const fault = pick(req.method ?? 'GET', url.pathname);
    log.push({
      method: req.method ?? 'GET',
      path: url.pathname,
      query: url.search,
      range: req.headers.range,
      contentRange: req.headers['content-range'] as string | undefined,
      authorization: Boolean(req.headers.authorization),
      fault: fault?.kind,
    });
    switch (fault?.kind) {
      case 'reset':
        req.socket.destroy();
        return;
      case 'status':
        req.resume();
        res.writeHead(fault.status, { 'content-type': 'application/json', ...fault.headers }).end(fault.body ?? '');
        return;
      case 'replace': {
        req.resume();
        const body = Buffer.from(fault.body);
        const headers: Record<string, string> = { ...fault.headers };
        if (!fault.chunked) headers['content-length'] = String(body.length);
        res.writeHead(fault.status ?? 200, headers);
        if (fault.chunked) {
          for (let i = 0; i < body.length; i += 65536) res.write(body.subarray(i, i + 65536));
          res.end();
        } else res.end(body);
        return;
      }
      case 'redirect':
        req.resume();
        res.writeHead(fault.status ?? 307, { location: fault.location(url.pathname) }).end();
        return;
      default:
        forward(req, res, fault);
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as { port: number }).port;
  return {
    host: `127.0.0.1:${port}`,
    log,
    fault(match, fault, times = 1, skip = 0) {
      rules.push({ ...match, fault, left: times, skip });
    },
    clear() {
      rules.length = 0;
      log.length = 0;
    },
    stop: () =>
      new Promise<void>((r) => {
        for (const t of timers) clearTimeout(t);
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
