import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { humanDuration } from '../../../src/containers/human-duration.js';

// go-units' own table (duration_test.go), in milliseconds.
const CASES: Array<[number, string]> = [
  [0, 'Less than a second'],
  [999, 'Less than a second'],
  [1000, '1 second'],
  [59_000, '59 seconds'],
  [60_000, 'About a minute'],
  [3 * 60_000, '3 minutes'],
  [59 * 60_000, '59 minutes'],
  [60 * 60_000, 'About an hour'],
  [89 * 60_000, 'About an hour'],
  [91 * 60_000, '2 hours'],
  [47 * 3_600_000, '47 hours'],
  [48 * 3_600_000, '2 days'],
  [13 * 24 * 3_600_000, '13 days'],
  [14 * 24 * 3_600_000, '2 weeks'],
  [60 * 24 * 3_600_000, '2 months'],
  [2 * 365 * 24 * 3_600_000, '2 years'],
];

for (const [ms, want] of CASES) test(`humanDuration(${ms}) is "${want}"`, () => assert.is(humanDuration(ms), want));

test.run();
