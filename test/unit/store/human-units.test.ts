import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { humanDuration, humanSize, parseDuration, parseSize, table } from '../../../src/cli/human-units.js';
import { throwsCode } from '../../helpers/assert.js';

test('humanSize() prints decimal units with three significant digits, as Docker', () => {
  assert.is(humanSize(0), '0B');
  assert.is(humanSize(999), '999B');
  assert.is(humanSize(1_057_133), '1.06MB');
  assert.is(humanSize(4_260), '4.26kB');
  assert.is(humanSize(7_800_000_000), '7.8GB');
});

test('humanDuration() follows go-units wording', () => {
  assert.is(humanDuration(500), 'Less than a second');
  assert.is(humanDuration(30_000), '30 seconds');
  assert.is(humanDuration(90_000), 'About a minute');
  assert.is(humanDuration(3_600_000), 'About an hour');
  assert.is(humanDuration(5 * 3_600_000), '5 hours');
  assert.is(humanDuration(3 * 86_400_000), '3 days');
  assert.is(humanDuration(800 * 86_400_000), '2 years');
});

test('parseSize() and parseDuration() accept Docker forms and reject junk', () => {
  assert.is(parseSize('10GB'), 10e9);
  assert.is(parseSize('2GiB'), 2 * 1024 ** 3);
  assert.is(parseSize('512'), 512);
  assert.is(parseDuration('24h'), 86_400_000);
  assert.is(parseDuration('1h30m'), 5_400_000);
  assert.is(parseDuration('0'), 0);
  throwsCode(() => parseSize('lots'), 'INVALID_ARGUMENT');
  throwsCode(() => parseDuration('24hours'), 'INVALID_ARGUMENT');
});

test('table() pads columns three spaces past the widest cell', () => {
  assert.is(
    table([
      ['A', 'BB'],
      ['ccc', 'd'],
    ]),
    'A     BB\nccc   d\n',
  );
});

test.run();
