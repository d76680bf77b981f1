import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createFlightMap } from '../../../src/builder/flight.js';
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

test.run();
