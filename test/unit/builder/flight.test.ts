import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createFlightMap, runOnce } from '../../../src/builder/flight.js';
import { KilnError } from '../../../src/errors.js';
import { rejects } from '../../helpers/assert.js';

test('identical work runs once; a failure is not kept', async () => {
  const flight = createFlightMap<number>();
  let runs = 0;
  let finish!: (n: number) => void;
  const work = () => {
    runs++;
    return new Promise<number>((r) => (finish = r));
  };
  const a = flight.run('k', work);
  const b = flight.run('k', work);
  assert.is(flight.size, 1);
  finish(7);
  assert.equal(await Promise.all([a, b]), [7, 7]);
  assert.is(runs, 1);
  assert.is(flight.size, 0);
  await flight
    .run('k', () => Promise.reject(new Error('boom')))
    .then(
      () => assert.unreachable('rejected'),
      (e: Error) => assert.match(e.message, /boom/),
    );
  assert.is(await flight.run('k', async () => 8), 8);
});

test('a joined caller whose signal aborts stops waiting at once; the run goes on for the others', async () => {
  const flight = createFlightMap<string>();
  let finish!: (s: string) => void;
  const owner = flight.run('k', () => new Promise<string>((r) => (finish = r)));
  const ctl = new AbortController();
  const joiner = flight.run('k', () => Promise.resolve('never runs'), ctl.signal);
  const other = flight.run('k', () => Promise.resolve('never runs'));
  ctl.abort();
  await rejects(() => joiner, 'CANCELLED');
  assert.is(flight.size, 1, 'still running for the owner and the other joiner');
  finish('done');
  assert.is(await owner, 'done');
  assert.is(await other, 'done');
  const aborted = new AbortController();
  aborted.abort();
  const late = flight.run('j', () => new Promise<string>((r) => setTimeout(() => r('late'), 5)));
  await rejects(() => flight.run('j', () => Promise.resolve('x'), aborted.signal), 'CANCELLED');
  assert.is(await late, 'late');
});

/** A store and a piece of work that counts its runs and stores its value when `durable` settles. */
function storedWork(store: Map<string, string>, key: string, value: string) {
  let runs = 0;
  let release!: () => void;
  const work = {
    lookup: async () => store.get(key),
    execute: async () => {
      runs++;
      const durable = new Promise<void>((r) => (release = r)).then(() => void store.set(key, value));
      return { value, durable };
    },
  };
  return { work, runs: () => runs, store: () => release() };
}

test('runOnce: a value stored after a caller looked (the run that stored it gone) is taken, not made again', async () => {
  const flight = createFlightMap<string>();
  const store = new Map<string, string>();
  const a = storedWork(store, 'k', 'first');
  // B looked before A stored: a miss. A then runs and stores, and its flight ends.
  const missedByB = await a.work.lookup();
  assert.is(missedByB, undefined);
  const ranA = runOnce(flight, 'k', a.work);
  assert.equal(await ranA, { value: 'first', outcome: 'ran' }, 'the owner has its value before it is stored');
  assert.is(flight.size, 1, 'the flight lasts until the value is stored');
  a.store();
  while (flight.size) await new Promise((r) => setTimeout(r, 1));
  const b = storedWork(store, 'k', 'second');
  assert.equal(await runOnce(flight, 'k', b.work), { value: 'first', outcome: 'stored' });
  assert.is(a.runs() + b.runs(), 1);
});

test('runOnce: callers during the run join it; a joiner whose owner was cancelled runs the work itself', async () => {
  const flight = createFlightMap<string>();
  const store = new Map<string, string>();
  const a = storedWork(store, 'k', 'v');
  const owner = runOnce(flight, 'k', a.work);
  const joiner = runOnce(flight, 'k', storedWork(store, 'k', 'never').work);
  assert.is((await owner).outcome, 'ran');
  a.store();
  assert.equal(await joiner, { value: 'v', outcome: 'joined' });

  let runs = 0;
  const cancelledOwner = runOnce(flight, 'c', {
    lookup: async () => undefined,
    execute: () => Promise.reject(new KilnError('CANCELLED', 'build cancelled')),
  });
  const survivor = runOnce(flight, 'c', {
    lookup: async () => undefined,
    execute: async () => (runs++, { value: 'mine', durable: Promise.resolve() }),
  });
  await rejects(() => cancelledOwner, 'CANCELLED');
  assert.equal(await survivor, { value: 'mine', outcome: 'ran' });
  assert.is(runs, 1);
});

test.run();
