/**
 * Headless Debian chromium driven by playwright-core for the web page's tests: the system browser, never a
 * downloaded one, with a fresh profile per launch (playwright's temp user-data-dir) and every background service
 * that would reach the network switched off. `watchRequests` records each request's host so a test can assert the
 * page talks to nobody but the kiln server under test.
 */
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';

/** Where screenshots go: test-artifacts/ui/ under the repository (gitignored). */
export const ARTIFACTS = resolve(new URL('../../test-artifacts/ui/', import.meta.url).pathname);

export async function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--disable-dev-shm-usage',
    ],
    timeout: 60_000,
  });
}

/** Records the host of every request the page makes, and every console error and page error. */
export function watchPage(page: Page): { hosts: Set<string>; errors: string[] } {
  const hosts = new Set<string>();
  const errors: string[] = [];
  page.on('request', (r) => {
    const u = new URL(r.url());
    if (u.protocol === 'http:' || u.protocol === 'https:') hosts.add(u.hostname);
  });
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
  });
  page.on('pageerror', (e) => errors.push(String(e)));
  return { hosts, errors };
}

/** Saves a full-page screenshot (or one element's) under test-artifacts/ui/ and prints its path. */
export async function screenshot(page: Page, name: string, selector?: string): Promise<string> {
  mkdirSync(ARTIFACTS, { recursive: true });
  const path = join(ARTIFACTS, `${name}.png`);
  if (selector) await page.locator(selector).screenshot({ path });
  else await page.screenshot({ path, fullPage: true });
  process.stdout.write(`[artefact] ${path}\n`);
  return path;
}
