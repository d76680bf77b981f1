/**
 * kiln's one error type. Every user-facing failure is a KilnError with a stable `code`; the table below maps
 * each code to a category, a CLI exit status and an HTTP status, so the CLI and the server answer alike.
 * Anything thrown that is not a KilnError is a bug, and the CLI prints it with its stack.
 */

export type ErrorCategory =
  'invalid' | 'not-found' | 'exists' | 'precondition' | 'forbidden' | 'unavailable' | 'unauthorized' | 'failed' | 'internal' | 'cancelled';

/** Where in a file a problem is. `line` is 1-based. */
export interface SourceLocation {
  file: string;
  line: number;
  column?: number;
}

interface CodeInfo {
  category: ErrorCategory;
}

/**
 * Every error code kiln uses. Add a code here before throwing it; the category decides the exit and HTTP status.
 */
export const ERROR_CODES = {
  // parser / user input
  DOCKERFILE_SYNTAX: { category: 'invalid' },
  DOCKERFILE_UNKNOWN_INSTRUCTION: { category: 'invalid' },
  DOCKERFILE_BAD_FLAG: { category: 'invalid' },
  DOCKERFILE_BAD_ARGS: { category: 'invalid' },
  DOCKERFILE_NO_STAGES: { category: 'invalid' },
  DOCKERFILE_NOT_FOUND: { category: 'not-found' },
  EXPANSION_FAILED: { category: 'invalid' },
  STAGE_NOT_FOUND: { category: 'not-found' },
  STAGE_CYCLE: { category: 'invalid' },
  INVALID_ARGUMENT: { category: 'invalid' },
  INVALID_REFERENCE: { category: 'invalid' },
  DOCKERIGNORE_INVALID: { category: 'invalid' },
  // store
  IMAGE_NOT_FOUND: { category: 'not-found' },
  BLOB_NOT_FOUND: { category: 'not-found' },
  DIGEST_MISMATCH: { category: 'invalid' },
  SIZE_MISMATCH: { category: 'invalid' },
  ARCHIVE_INVALID: { category: 'invalid' },
  UNSAFE_PATH: { category: 'invalid' },
  PATH_TOO_LONG: { category: 'invalid' },
  NO_SPACE: { category: 'unavailable' },
  STORE_CORRUPT: { category: 'failed' },
  IMAGE_IN_USE: { category: 'precondition' },
  LOCKED: { category: 'unavailable' },
  // executor
  RUNTIME_MISSING: { category: 'precondition' },
  RUNTIME_FAILED: { category: 'failed' },
  COMMAND_NOT_FOUND: { category: 'failed' },
  USER_NOT_FOUND: { category: 'invalid' },
  MOUNT_FAILED: { category: 'failed' },
  PORT_IN_USE: { category: 'precondition' },
  CONTAINER_NOT_FOUND: { category: 'not-found' },
  CONTAINER_EXISTS: { category: 'exists' },
  CONTAINER_RUNNING: { category: 'precondition' },
  VOLUME_NOT_FOUND: { category: 'not-found' },
  VOLUME_IN_USE: { category: 'precondition' },
  NETWORK_FAILED: { category: 'failed' },
  NETWORK_NOT_FOUND: { category: 'not-found' },
  NETWORK_EXISTS: { category: 'exists' },
  /** dockerd answers 403 for these: a predefined network, a network with active endpoints. */
  NETWORK_FORBIDDEN: { category: 'forbidden' },
  /** A subnet or address already taken (dockerd: "Pool overlaps with other one on this address space"). */
  NETWORK_OVERLAP: { category: 'forbidden' },
  /** A step needs an entitlement (network.host, security.insecure) that whoever started the build did not grant. */
  ENTITLEMENT_DENIED: { category: 'precondition' },
  // builder
  BUILD_STEP_FAILED: { category: 'failed' },
  COPY_SOURCE_NOT_FOUND: { category: 'not-found' },
  CHECKSUM_MISMATCH: { category: 'invalid' },
  DOWNLOAD_FAILED: { category: 'failed' },
  SECRET_NOT_FOUND: { category: 'not-found' },
  SSH_AGENT_NOT_FOUND: { category: 'not-found' },
  CANCELLED: { category: 'cancelled' },
  // registry
  REGISTRY_UNAUTHORIZED: { category: 'unauthorized' },
  REGISTRY_DENIED: { category: 'unauthorized' },
  REGISTRY_NOT_FOUND: { category: 'not-found' },
  REGISTRY_UNAVAILABLE: { category: 'unavailable' },
  REGISTRY_PROTOCOL: { category: 'failed' },
  // cache import/export (src/remote-cache/)
  CACHE_INVALID: { category: 'invalid' },
  CACHE_TOO_LARGE: { category: 'invalid' },
  MANIFEST_TOO_LARGE: { category: 'invalid' },
  INSECURE_REGISTRY: { category: 'precondition' },
  // server
  UNAUTHORIZED: { category: 'unauthorized' },
  PAYLOAD_TOO_LARGE: { category: 'invalid' },
  NOT_IMPLEMENTED: { category: 'invalid' },
  SERVER_BUSY: { category: 'unavailable' },
  REMOTE_FAILED: { category: 'failed' },
  // generic
  NOT_FOUND: { category: 'not-found' },
  ALREADY_EXISTS: { category: 'exists' },
  PRECONDITION: { category: 'precondition' },
  /** A build needs to run a foreign platform's RUN steps and the host has no binfmt_misc emulator for it. */
  EMULATOR_MISSING: { category: 'precondition' },
  /** A base image (or index) has no manifest for a platform the build asks for. */
  PLATFORM_NOT_FOUND: { category: 'not-found' },
  INTERNAL: { category: 'internal' },
} as const satisfies Record<string, CodeInfo>;

export type ErrorCode = keyof typeof ERROR_CODES;

const CATEGORY_STATUS: Record<ErrorCategory, { exit: number; http: number }> = {
  invalid: { exit: 2, http: 400 },
  'not-found': { exit: 3, http: 404 },
  exists: { exit: 4, http: 409 },
  precondition: { exit: 5, http: 409 },
  forbidden: { exit: 5, http: 403 },
  unavailable: { exit: 6, http: 503 },
  unauthorized: { exit: 7, http: 401 },
  failed: { exit: 1, http: 500 },
  internal: { exit: 70, http: 500 },
  cancelled: { exit: 130, http: 499 },
};

export interface KilnErrorOptions {
  hint?: string;
  loc?: SourceLocation;
  cause?: unknown;
  /** Extra machine-readable facts (exit code of a step, digest, …); never credentials. */
  details?: Record<string, unknown>;
  /** Overrides the category's exit status (a failed RUN passes on its own exit code, say). */
  exitCode?: number;
}

/** A failure kiln can explain to a user. `message` is one line without the location; `toString()` adds it. */
export class KilnError extends Error {
  readonly code: ErrorCode;
  readonly hint?: string;
  loc?: SourceLocation;
  readonly details?: Record<string, unknown>;
  private readonly exitOverride?: number;

  constructor(code: ErrorCode, message: string, opts: KilnErrorOptions = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'KilnError';
    this.code = code;
    this.hint = opts.hint;
    this.loc = opts.loc;
    this.details = opts.details;
    this.exitOverride = opts.exitCode;
  }

  get category(): ErrorCategory {
    return ERROR_CODES[this.code].category;
  }

  get exitCode(): number {
    return this.exitOverride ?? CATEGORY_STATUS[this.category].exit;
  }

  get httpStatus(): number {
    return CATEGORY_STATUS[this.category].http;
  }

  /** `Dockerfile:12: unknown instruction "RUNN"` when a location is known, else the message alone. */
  describe(): string {
    return this.loc ? `${this.loc.file}:${this.loc.line}: ${this.message}` : this.message;
  }

  /** Attaches a location if none is set yet; returns `this` so callers can `throw err.at(loc)`. */
  at(loc: SourceLocation): this {
    if (!this.loc) this.loc = loc;
    return this;
  }
}

export function isKilnError(err: unknown): err is KilnError {
  return err instanceof KilnError;
}

/** The HTTP status a server answers with for any thrown value. */
export function httpStatusOf(err: unknown): number {
  return isKilnError(err) ? err.httpStatus : 500;
}

/** The CLI exit status for any thrown value. */
export function exitCodeOf(err: unknown): number {
  return isKilnError(err) ? err.exitCode : 70;
}

/** Maps a Node system error (ENOENT, EACCES, …) to a KilnError naming the path, or returns undefined. */
export function fromSystemError(err: unknown, what: string): KilnError | undefined {
  const e = err as NodeJS.ErrnoException;
  if (!e || typeof e.code !== 'string') return undefined;
  switch (e.code) {
    case 'ENOENT':
      return new KilnError('NOT_FOUND', `${what}: no such file or directory`, { cause: err });
    case 'EACCES':
    case 'EPERM':
      return new KilnError('PRECONDITION', `${what}: permission denied`, { cause: err });
    case 'EEXIST':
      return new KilnError('ALREADY_EXISTS', `${what}: already exists`, { cause: err });
    case 'ENOTDIR':
      return new KilnError('INVALID_ARGUMENT', `${what}: not a directory`, { cause: err });
    case 'EISDIR':
      return new KilnError('INVALID_ARGUMENT', `${what}: is a directory`, { cause: err });
    case 'ENOSPC':
    case 'EDQUOT':
      return new KilnError('NO_SPACE', `${what}: no space left on device`, {
        cause: err,
        hint: "free space under kiln's root (kiln prune) or the output's file system",
      });
    case 'ENAMETOOLONG':
      return new KilnError('PATH_TOO_LONG', `${what}: file name too long`, { cause: err });
    case 'ELOOP':
      return new KilnError('UNSAFE_PATH', `${what}: too many levels of symbolic links`, { cause: err });
    default:
      return undefined;
  }
}
