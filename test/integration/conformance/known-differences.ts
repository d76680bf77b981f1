/**
 * Where BuildKit (what kiln follows) and buildah 1.28 (the peer that computes expected results) are known to
 * differ on a case that has no `.ref/Dockerfile.reference`, the comparison leaves out the named paths or config
 * fields. Every entry says why; an entry without a BuildKit-documented reason is a kiln bug in disguise.
 */
export interface KnownDifference {
  /** Paths (and their subtrees) left out of the file-tree comparison. */
  skipPaths?: string[];
  /** Config fields left out (names as in diffConfigs). */
  ignoreConfig?: string[];
  why: string;
}

export const KNOWN_DIFFERENCES: Record<string, KnownDifference> = {};

/**
 * Cases kiln does not pass yet, each with the reason. They run as strict expected failures: when one starts
 * passing, the test fails until its entry is removed here.
 */
export const KNOWN_FAILURES: Record<string, string> = {};
