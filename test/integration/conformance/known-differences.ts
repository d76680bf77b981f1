/**
 * Where BuildKit (what kiln follows) and buildah 1.28 (the peer that computes expected results) are known to
 * differ on a case that has no `.ref/Dockerfile.reference` (or one that cannot avoid the difference), the expected
 * result is corrected here, field by field.
 * Every entry cites the BuildKit behaviour it encodes; an entry without one would be a kiln bug in disguise.
 */
import { createHash } from 'node:crypto';
import type { TreeEntry } from '../../helpers/tree.js';

/** Tree fields of a regular file with this content (for expected results computed by hand). */
function fileWith(content: string): Partial<TreeEntry> & { type: 'file' } {
  return { type: 'file', size: Buffer.byteLength(content), sha256: createHash('sha256').update(content).digest('hex') };
}

const dir = (uid = 0, gid = 0): Partial<TreeEntry> & { type: 'dir' } => ({ type: 'dir', uid, gid });

export interface KnownDifference {
  why: string;
  /** Config fields where BuildKit's value differs from the peer's: the value BuildKit writes (undefined = unset). */
  config?: Record<string, unknown>;
  /** Tree entries where BuildKit differs from the peer: the fields BuildKit gives them. */
  entries?: Record<string, Partial<TreeEntry>>;
  /** Paths BuildKit's image has and the peer's lacks, with their type and any other fields checked. */
  extraPaths?: Record<string, Partial<TreeEntry> & { type: TreeEntry['type'] }>;
  /** Paths (and subtrees) the peer's image has and BuildKit's lacks (kiln must not have them). */
  absentPaths?: string[];
  /** `expect_fail` in case.json came from the classic builder; BuildKit builds the case. Only extra/absent paths are checked. */
  buildkitSucceeds?: boolean;
}

/**
 * Files buildah 1.28 leaves behind from the mounts it makes for RUN (/etc/hosts, /etc/resolv.conf,
 * /etc/hostname, /run for secrets and .containerenv; buildah's own conformance suite skips them as "things that
 * we volume mount or synthesize for RUN statements that currently bleed through"). BuildKit removes the mount
 * stubs it created (executor's MountStubsCleaner), so an image built by BuildKit lacks them unless a step wrote them.
 */
export function isPeerRunStub(e: TreeEntry): boolean {
  if (['etc/hosts', 'etc/resolv.conf', 'etc/hostname'].includes(e.path)) return e.type === 'file' && e.size === 0;
  return e.path === 'run' || e.path.startsWith('run/');
}

const VOLUME_KEEPS_CHANGES =
  'BuildKit keeps changes a RUN makes under a declared VOLUME (Dockerfile reference, VOLUME notes: "When using ' +
  'BuildKit, the changes will instead be kept"); buildah emulates the legacy builder, which discards them.';
const VOLUME_MAKES_NO_DIR =
  "BuildKit's VOLUME only records the path in the config (dispatchVolume changes no files); buildah and kaniko " + 'create the directory in the image.';
const WORKDIR_MAKES_DIR =
  'BuildKit creates the WORKDIR directory (llb.Mkdir with parents, owned by the current USER) even when no later ' +
  'step uses it; buildah 1.28 creates it only when a RUN needs it.';

export const KNOWN_DIFFERENCES: Record<string, KnownDifference> = {
  'bc-chown-volume': {
    why: VOLUME_KEEPS_CHANGES,
    entries: { volumea: { uid: 1000, gid: 1000 }, volumeb: { uid: 1000, gid: 1000 }, volumec: { uid: 1000, gid: 1000 } },
  },
  'bc-shell': {
    why: 'BuildKit runs shell-form ENTRYPOINT/CMD through the SHELL in effect (withShell(img.Config.Shell)), here ["/bin/sh","-xc"]; buildah 1.28 uses /bin/sh -c. The CMD stays: ENTRYPOINT clears only a CMD inherited from the base, not one set earlier in the same stage.',
    config: { Entrypoint: ['/bin/sh', '-xc', 'echo entry'], Cmd: ['/bin/sh', '-xc', 'echo cmd'] },
  },
  'kn-cmd-reset': {
    why: 'BuildKit parses `ENTRYPOINT ["myentrypoint"] # comment` as shell form: a `#` after an instruction is no comment, so the text is not valid JSON (parseMaybeJSON falls back); buildah\'s parser reads the JSON prefix.',
    config: { Entrypoint: ['/bin/sh', '-c', '["myentrypoint"] # This should clear out CMD in the config metadata'] },
  },
  'bc-setuid-in-context': {
    why: "BuildKit's context transfer (fsutil) and COPY keep setuid/setgid/sticky bits of context files; buildah 1.28 drops setuid and setgid.",
    entries: {
      'subdir1/should-be-setuid-file': { mode: '4755' },
      'subdir1/should-be-setgid-file': { mode: '2755' },
      'subdir2/should-be-setuid-file': { mode: '4755' },
      'subdir2/should-be-setgid-file': { mode: '2755' },
    },
  },
  'bc-dockerignore-exceptions-skip': {
    why: "BuildKit's context walker (fsutil) enters an excluded directory when an exception pattern has wildcards, so `!**/oneline.txt` brings back volume/data/oneline.txt; buildah skips the directory.",
    extraPaths: { volume: { type: 'dir' }, 'volume/data': { type: 'dir' }, 'volume/data/oneline.txt': { type: 'file' } },
  },
  'bc-dockerignore-integration1': {
    why: "With BuildKit's walker, `!*/sub1*` (a wildcard exception) re-includes subdir/sub1.txt, so `COPY subdir ./` finds subdir and succeeds; the legacy builder skipped subdir and failed at that line.",
    buildkitSucceeds: true,
    extraPaths: { 'test2.txt': { type: 'file' }, 'subdir/sub1.txt': { type: 'file' }, 'sub1.txt': { type: 'file' } },
    absentPaths: ['test1.txt', 'subdir/sub2.txt', 'sub2.txt', 'Dockerfile'],
  },
  'bc-volumerun': { why: VOLUME_KEEPS_CHANGES, extraPaths: { 'var/www/file3': { type: 'file', size: 0 } } },
  'kn-volume': {
    why: `${VOLUME_MAKES_NO_DIR} ${VOLUME_KEEPS_CHANGES}`,
    absentPaths: ['baz', 'qux', 'foo/bar'],
    extraPaths: { 'tmp/hey': fileWith('hello again\n') },
  },
  'kn-volume-2': {
    why: `${VOLUME_MAKES_NO_DIR} ${VOLUME_KEEPS_CHANGES}`,
    absentPaths: ['foo2', 'foo3', 'foo4', 'foo5'],
    extraPaths: { 'foo1/hello': fileWith('hello\n') },
  },
  'bc-commit-metadata': { why: `${WORKDIR_MAKES_DIR} Here USER 1001:1001 is in effect.`, extraPaths: { yeah: dir(1001, 1001) } },
  'bc-copy-escape-glob': {
    why:
      "The reference's .ref/app/file.txt lacks the trailing newline of the source it stands for (app/[xyz]/file.txt, " +
      '"a file\\n"); BuildKit copies the source byte for byte.',
    entries: { 'app/file.txt': fileWith('a file\n') },
  },
  'kn-workdir': {
    why: WORKDIR_MAKES_DIR,
    extraPaths: {
      new: dir(),
      'new/dir': dir(),
      another: dir(),
      'another/new': dir(),
      'another/new/dir': dir(),
      'another/new/dir/newdir': dir(),
      arg: dir(),
      'arg/workdir': dir(),
    },
  },
  'kn-add-local': {
    why:
      "file.tar's first entry is `./` owned by 491327:89939. BuildKit creates the ADD destination first (mkdirp) " +
      'and its unpack (moby/go-archive Unpack) skips a `.` entry when the destination directory exists, so /tars and ' +
      "/tars_again stay 0:0; buildah applies the entry's owner to them (the reference cannot avoid that).",
    entries: { tars: { uid: 0, gid: 0 }, tars_again: { uid: 0, gid: 0 } },
  },
  'kn-workdir-with-user': {
    why:
      `${WORKDIR_MAKES_DIR} Created directories (parents included) belong to the USER in effect, resolved as ` +
      "BuildKit's file op does (llb.WithUser, readUser): a numeric uid without a group gets gid = uid, a name is " +
      "resolved in the stage's /etc/passwd and /etc/group.",
    entries: { 'workdir/w': { uid: 9999, gid: 9999 } },
    extraPaths: {
      'workdir/wo': dir(),
      'workdir/wo/user': dir(),
      'workdir/w/uid': dir(9999, 9999),
      'workdir/w/uid_gid': dir(9999, 9999),
      'workdir/w/root_username': dir(),
      'workdir/w/foo_username': dir(10000, 10000),
      'workdir/w/foo_username_gid': dir(10000, 10000),
      'workdir/w/foo_uid': dir(10000, 10000),
      'workdir/w/foo_uid_gid': dir(10000, 10000),
      'workdir/w/foo_uid_groupname': dir(10000, 10000),
    },
  },
  'kn-expose': {
    why: 'BuildKit expands variables in EXPOSE, so `EXPOSE $port/$protocol` with port=83, protocol=tcp adds 83/tcp; buildah 1.28 drops that entry.',
    config: { ExposedPorts: { '80/tcp': {}, '81/udp': {}, '82/tcp': {}, '83/tcp': {}, '83/udp': {} } },
  },
  'kn-env': {
    why: 'BuildKit replaces an existing variable in place (addEnv), so `ENV PATH something` keeps PATH first, where the base image has it; buildah moves it to the end of the list.',
    config: {
      Env: [
        'PATH=something',
        'hey=hello',
        'testmultipleeq=this=is a=test string=with a=lot of=equals',
        'first=foo',
        'second=foo2',
        'third=foo2:/third',
        'myName=John Doe',
        'myDog=Rex The Dog',
        'myCat=fluffy',
        'test=value value2',
        "test1=a'b'c",
        'test2=a"b"c',
        'test3=a b',
        'name2=b c',
        'test4=a"b',
        'test5=a\\"b',
        "test6=a\\'b",
        'atomic=two',
        'newatomic=one',
        'newenv=/newenv',
      ],
    },
  },
  'kn-multistage-args-1911': {
    why:
      'BuildKit stages built FROM another stage inherit its ARG values (Dockerfile docs, build variables: "Arguments and ' +
      'variables are inherited from parent stages"); an `ARG NAME` without a default keeps the inherited value, and ' +
      '`ARG OTHER` without one takes the global default. buildah 1.28 starts every stage without them.',
    entries: {
      'B.txt': fileWith('dev:: base-dev\n'),
      'C.txt': fileWith('custom:: base-dev\ncustom:: \n'),
      'D.txt': fileWith('custom:: base-dev\ncustom:: fix\n'),
    },
  },
};

/**
 * Cases kiln does not pass yet, each with the reason. They run as strict expected failures: when one starts
 * passing, the test fails until its entry is removed here.
 */
export const KNOWN_FAILURES: Record<string, string> = {};
