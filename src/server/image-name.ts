/**
 * A first gate for image names and IDs arriving in paths and queries, before they reach the store: the
 * reference grammar of distribution (`[host[:port]/]path[:tag][@digest]`), an image ID (`sha256:…` or hex
 * prefix), nothing else. It keeps `..`, absolute paths and control bytes out of every later step.
 */
import { KilnError } from '../errors.js';

const COMPONENT = '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*';
const HOST = '(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\\[[0-9a-fA-F:]+\\])(?::[0-9]+)?';
const REFERENCE = new RegExp(`^(?:${HOST}/)?${COMPONENT}(?:/${COMPONENT})*(?::[\\w][\\w.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$`);
const ID = /^(?:sha256:)?[a-f0-9]{4,64}$/;

/** True for a syntactically valid reference or image ID. */
export function isImageName(name: string): boolean {
  if (name.length === 0 || name.length > 512) return false;
  return ID.test(name) || REFERENCE.test(name);
}

/** Throws INVALID_REFERENCE for anything that is neither a reference nor an image ID (`..`, `/etc/passwd`, …). */
export function checkImageName(name: string): string {
  if (!isImageName(name)) {
    throw new KilnError('INVALID_REFERENCE', `invalid reference format: ${JSON.stringify(name.slice(0, 200))}`, {
      hint: 'names look like [registry/]repo[:tag], lowercase',
    });
  }
  return name;
}
