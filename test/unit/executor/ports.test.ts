/** The port proxy on loopback only (no container needed): UDP flows per client, replies, idle clean-up, errors. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createSocket, type Socket } from 'node:dgram';
import { startPortProxy } from '../../../src/sandbox/ports.js';
import { rejects } from '../../helpers/assert.js';

function udpSocket(): Promise<{ sock: Socket; port: number }> {
  const sock = createSocket('udp4');
  return new Promise((resolve) => sock.bind({ address: '127.0.0.1', port: 0 }, () => resolve({ sock, port: sock.address().port })));
}

/** A datagram from `client` to 127.0.0.1:`port`, and the first reply (or undefined after `ms`). */
function ask(client: Socket, port: number, text: string, ms = 2000): Promise<string | undefined> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      client.off('message', onMsg);
      resolve(undefined);
    }, ms);
    const onMsg = (m: Buffer) => {
      clearTimeout(timer);
      client.off('message', onMsg);
      resolve(m.toString());
    };
    client.on('message', onMsg);
    client.send(text, port, '127.0.0.1');
  });
}

async function freeUdpPort(): Promise<number> {
  const { sock, port } = await udpSocket();
  await new Promise<void>((r) => sock.close(() => r()));
  return port;
}

test('-p HOST:CONTAINER/udp relays datagrams both ways, one flow per client, once the target is known', async () => {
  // The "container": an echo server that says which source address it saw.
  const echo = await udpSocket();
  echo.sock.on('message', (m, from) => echo.sock.send(`${m} via ${from.port}`, from.port, from.address));
  const hostPort = await freeUdpPort();
  const proxy = await startPortProxy([{ hostIp: '127.0.0.1', hostPort, containerPort: echo.port, protocol: 'udp' }]);
  const a = await udpSocket();
  const b = await udpSocket();
  try {
    // Sent before the container's address is known: held, then delivered.
    const early = ask(a.sock, hostPort, 'early');
    await new Promise((r) => setTimeout(r, 100));
    proxy.setTarget('127.0.0.1');
    const first = await early;
    assert.match(first ?? '', /^early via \d+$/);
    const again = await ask(a.sock, hostPort, 'again');
    const other = await ask(b.sock, hostPort, 'other');
    // One upstream socket per client: the same client keeps its source port, another gets its own.
    assert.is(again?.split(' via ')[1], first?.split(' via ')[1]);
    assert.is.not(other?.split(' via ')[1], first?.split(' via ')[1]);
  } finally {
    await proxy.close();
    for (const s of [a.sock, b.sock, echo.sock]) s.close();
  }
  // Closed: the port is free again.
  const reuse = await startPortProxy([{ hostIp: '127.0.0.1', hostPort, containerPort: 9, protocol: 'udp' }]);
  await reuse.close();
});

test('a UDP port already bound is PORT_IN_USE, and nothing stays listening', async () => {
  const taken = await udpSocket();
  const tcpPort = await freeUdpPort();
  try {
    await rejects(
      () =>
        startPortProxy([
          { hostIp: '127.0.0.1', hostPort: tcpPort, containerPort: 80 },
          { hostIp: '127.0.0.1', hostPort: taken.port, containerPort: 53, protocol: 'udp' },
        ]),
      'PORT_IN_USE',
      /\/udp is already in use/,
    );
    // The TCP listener opened before the failure was closed again.
    const again = await startPortProxy([{ hostIp: '127.0.0.1', hostPort: tcpPort, containerPort: 80 }]);
    await again.close();
  } finally {
    taken.sock.close();
  }
});

test.run();
