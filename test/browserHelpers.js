// The real browser of the observer's tests and benchmark: Debian's chromium,
// driven by playwright-core (which cannot download a browser here).
import { existsSync } from 'node:fs';

export const CHROMIUM = '/usr/bin/chromium';

/** Why a browser test is skipped (false when chromium is installed). */
export const chromiumMissing = existsSync(CHROMIUM)
  ? false
  : `chromium is not installed at ${CHROMIUM} (apt-get install chromium): the observer's browser tests need it`;

/** A headless chromium; Playwright gives every launch a fresh, empty user-data-dir of its own. */
export async function launchBrowser() {
  const { chromium } = await import('playwright-core');
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
    timeout: 30_000,
  });
}
