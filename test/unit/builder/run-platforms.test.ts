import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { runPlatforms } from '../../../src/builder/builder.js';
import { parseDockerfile } from '../../../src/parser/parse-dockerfile.js';

const parse = (text: string, arch: string) =>
  parseDockerfile(text, { file: 'Dockerfile', platform: { os: 'linux', architecture: arch }, buildPlatform: { os: 'linux', architecture: 'amd64' } });

const DF = `FROM --platform=$BUILDPLATFORM busybox AS builder
RUN make
FROM builder AS tools
RUN more
FROM busybox
COPY --from=tools /x /x
`;

test("the platforms RUN steps need: a BUILDPLATFORM stage and the stages on it run on the build host's, the rest on the target's", () => {
  assert.equal(runPlatforms(parse(DF, 'arm64'), 'linux/arm64'), ['linux/amd64']);
  assert.equal(runPlatforms(parse(`${DF}RUN uname -m\n`, 'arm64'), 'linux/arm64').sort(), ['linux/amd64', 'linux/arm64']);
  // No RUN in a stage: no emulator needed for its platform.
  assert.equal(runPlatforms(parse('FROM busybox\nCOPY a /a\n', 's390x'), 'linux/s390x'), []);
});

test.run();
