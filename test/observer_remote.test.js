// S10.1 `hotcode observer NAME`: a control client (S9) of a node started by
// `hotcode run --name`, serving the page from its own process; driven in Debian
// chromium with playwright-core. A deploy from another terminal shows on the
// page by push; purge works through the control connection; the node's
// control log has one line per subscription, not one per second; a node that
// restarts is picked up again.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { chromiumMissing, launchBrowser } from './browserHelpers.js';
import { CLI, sandbox, stopChild } from './fixtures/control/harness.js';
import { FIXTURES } from './helpers.js';
import { OUTPUT } from './observerHelpers.js';

const SKIP = chromiumMissing;
const T = { timeout: 120_000 };

const box = sandbox('hotcode-observer-');
const room = (v) => readFileSync(join(FIXTURES, 'observer', `room.v${v}.ts`), 'utf8');
const APP = [
  "import { register, spawn } from 'hotcode';",
  "import * as room from './room';",
  'export async function main(): Promise<void> {',
  "  register('guest', spawn(room.loop, 0));",
  "  console.log('app main started');",
  '  await new Promise(() => {});',
  '}',
  '',
].join('\n');
const config = JSON.stringify({ typecheck: false });
const nodeRoot = box.project(
  { 'src/app.ts': APP, 'src/room.ts': room(1), 'hotcode.config.json': config },
  'service',
);
const deployer = box.project(
  { 'src/app.ts': APP, 'src/room.ts': room(2), 'hotcode.config.json': config },
  'deployer',
);

let node;
let observer;
let url;
let browser;
let context;

const startNode = () =>
  box.startCli(['run', '--name', 'shopobs', 'app', 'main'], {
    cwd: nodeRoot,
    ready: /app main started/,
  });

/** `hotcode shell --observer` with its input open (the shell ends at the end of its input). */
function shellWithObserver() {
  const child = spawn(process.execPath, [CLI, 'shell', '--observer', '--port', '0'], {
    cwd: nodeRoot,
    env: box.env,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  box.children.add(child);
  const it = { child, out: '', err: '' };
  return new Promise((resolve, reject) => {
    const check = () => {
      if (/observer of service: http:\/\/\S+/.test(it.out)) resolve(it);
    };
    child.stdout.on('data', (d) => {
      it.out += d;
      check();
    });
    child.stderr.on('data', (d) => {
      it.err += d;
    });
    child.on('exit', (status) =>
      reject(new Error(`the shell exited (${status}): ${it.out}${it.err}`)),
    );
  });
}

describe('hotcode observer NAME (S10.1)', { skip: SKIP }, () => {
  before(async () => {
    node = await startNode();
    observer = await box.startCli(['observer', 'shopobs', '--port', '0', '--allow-destructive'], {
      cwd: box.dir,
      ready: /observer of shopobs: (http:\/\/\S+)/,
    });
    url = /observer of shopobs: (http:\/\/\S+)/.exec(observer.out)[1];
    browser = await launchBrowser();
    // One browser session for the file: the link is good once; later pages use the cookie.
    context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  });
  after(async () => {
    await browser?.close();
    if (observer) await stopChild(observer.child);
    if (node) await stopChild(node.child);
    await box.cleanup();
  });

  it(
    'a deploy from another terminal shows on the page; purge through the control connection; one log line per page',
    T,
    async () => {
      const page = await context.newPage();
      page.setDefaultTimeout(20_000);
      await page.goto(url);
      assert.match(await page.locator('#node-name').innerText(), /shopobs/);
      const row = page.locator('#modules tbody tr[data-module="room"]');
      await row.locator('td.c-current', { hasText: 'v1' }).waitFor();
      const d = await box.cli(['deploy', 'shopobs', 'room'], { cwd: deployer });
      assert.equal(d.status, 0, d.stderr);
      await row.locator('td.c-users', { hasText: '1 process in old code' }).waitFor();
      await page.locator('#tab-history').click();
      const change = page.locator('#history tbody tr', { hasText: 'room v1→v2' });
      await change.waitFor();
      const cells = await change.locator('td').allInnerTexts();
      assert.deepEqual(cells.slice(1, 3), ['deploy', 'deploy']);
      await page.screenshot({ path: join(OUTPUT, 'remote-01-after-deploy.png') });
      await page.locator('#tab-modules').click();
      await row.locator('button.purge').click();
      assert.match(await page.locator('dialog#confirm').innerText(), /kills 1 process/);
      await page.locator('#confirm-ok').click();
      await row.locator('td.c-old', { hasText: '—' }).waitFor();
      const st = await box.cli(['status', 'shopobs']);
      assert.doesNotMatch(st.stdout, /room.*old/);
      await page.screenshot({ path: join(OUTPUT, 'remote-02-after-purge.png') });
      // Several seconds of pushes: the node's log has the subscription once, no line per snapshot.
      const seen = await page.evaluate(() => window.__snapshots);
      await page.waitForFunction((n) => window.__snapshots >= n + 3, seen);
      const log = readFileSync(join(box.runtime, 'shopobs.log'), 'utf8');
      assert.equal(log.match(/observer\.subscribe/g)?.length, 1, log);
      assert.ok((log.match(/observer\./g)?.length ?? 0) <= 6, log);
      await page.close();
    },
  );

  it(
    'the node restarts: the page says it is down, then shows the new node without a reload',
    T,
    async () => {
      const page = await context.newPage();
      page.setDefaultTimeout(20_000);
      await page.goto(new URL('/', url).href);
      await page.locator('#live.on').waitFor();
      await page.evaluate(() => {
        window.__sameDocument = true;
      });
      const before = node.child.pid;
      await stopChild(node.child);
      await page.locator('#banner', { hasText: 'does not answer' }).waitFor();
      await page.screenshot({ path: join(OUTPUT, 'remote-03-node-down.png') });
      node = await startNode();
      await page.waitForFunction(
        (pid) => document.querySelector('#node-facts').textContent.includes(`OS pid ${pid}`),
        node.child.pid,
      );
      assert.notEqual(node.child.pid, before);
      assert.equal(await page.locator('#banner').isVisible(), false);
      assert.equal(await page.evaluate(() => window.__sameDocument), true);
      await page.close();
    },
  );

  it(
    'hotcode run --observer and hotcode shell --observer serve the page of their own node',
    T,
    async () => {
      const run = await box.startCli(
        ['run', '--no-control', '--observer', '--port', '0', 'app', 'main'],
        {
          cwd: nodeRoot,
          ready: /observer of service: (http:\/\/\S+)/,
        },
      );
      const shell = await shellWithObserver();
      try {
        for (const [what, child] of [
          ['run', run],
          ['shell', shell],
        ]) {
          const link = /observer of service: (http:\/\/\S+)/.exec(child.out + child.err)[1];
          assert.match(link, /^http:\/\/127\.0\.0\.1:\d+\/\?token=/, what);
          const page = await context.newPage();
          await page.goto(link);
          await page.locator('#live.on').waitFor({ timeout: 20_000 });
          assert.equal(await page.locator('#node-name').innerText(), 'service');
          if (what === 'run') {
            // Its node is that OS process: app is loaded, and app.main's guest process is listed.
            await page.locator('#modules tbody tr[data-module="app"]').waitFor();
            await page.locator('#tab-processes').click();
            await page.locator('#processes tbody td', { hasText: 'guest' }).waitFor();
          }
          await page.close();
        }
        assert.match(run.err, /purge and kill are off/);
      } finally {
        await stopChild(run.child);
        await stopChild(shell.child);
      }
    },
  );

  it('usage: a node is needed; observer flags belong to the observer', T, async () => {
    const none = await box.cli(['observer']);
    assert.equal(none.status, 1);
    assert.match(none.stderr, /observer needs a node: hotcode observer NAME/);
    const flag = await box.cli(['compile', '--allow-destructive'], { cwd: nodeRoot });
    assert.equal(flag.status, 1);
    assert.match(flag.stderr, /--allow-destructive is an option of the observer/);
    const down = await box.cli(['observer', 'nosuchnode', '--port', '0']);
    assert.equal(down.status, 1);
    assert.match(down.stderr, /nodedown/);
  });
});
