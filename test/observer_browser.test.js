// S10 the observer, in a real browser: Debian chromium driven by playwright-core,
// headless. The node is this test process (as with `hotcode shell --observer`);
// the page is served by the observer's own HTTP server and updated by server push.
// Each state is saved as a screenshot under the run's output folder
// ($HOTCODE_TEST_OUTPUT, else <tmp>/hotcode-test-output/observer-<time>).
import assert from 'node:assert/strict';
import { copyFileSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { withOrigin } from '../dist/changes.js';
import {
  c,
  code,
  compile,
  exit,
  genServer,
  isProcessAlive,
  link,
  monitor,
  receive,
  register,
  send,
  setLogger,
  spawn,
  start,
  stop,
  supervisor,
} from '../dist/index.js';
import { serveObserver } from '../dist/observer/server.js';
import { localSource } from '../dist/observer/source.js';
import { chromiumMissing, launchBrowser } from './browserHelpers.js';
import { FIXTURES, project } from './helpers.js';
import { OUTPUT } from './observerHelpers.js';

const SKIP = chromiumMissing;
const T = { timeout: 90_000 };
const WAIT = 15_000;

const p = project();
const fx = (name) => join(FIXTURES, 'observer', name);
/** Writes fixture `file` as module `as` in the project's src. */
const put = (file, as) => copyFileSync(fx(file), join(p.src, `${as}.ts`));

let browser;
let source;
/** With --allow-destructive, and without. */
let full;
let readOnly;

/** A fresh browser context (no cookies) at a page logged in with a new one-time link. */
async function openPage(server = full) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  page.setDefaultTimeout(WAIT);
  const problems = [];
  page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(`console: ${m.text()}`);
  });
  await page.goto(server.newLink());
  // Marks this document: a reload would lose it.
  await page.evaluate(() => {
    window.__sameDocument = true;
  });
  await page.locator('#live.on').waitFor();
  return { page, context, problems };
}

async function shot(page, name) {
  await page.screenshot({ path: join(OUTPUT, `${name}.png`) });
}

/** v1 of `m` loaded, a process in it, then v2 loaded: that process is in old code. */
async function moduleWithOldUser(m) {
  put('room.v1.ts', m);
  assert.deepEqual(await c(m), { module: m });
  const pid = spawn(m, 'loop', [0]);
  put('room.v2.ts', m);
  assert.deepEqual(await c(m), { module: m });
  assert.ok(code.checkOldCode(m));
  return pid;
}

const moduleRow = (page, m) => page.locator(`#modules tbody tr[data-module="${m}"]`);
const procRow = (page, pid) => page.locator(`#processes tbody tr[data-pid="${String(pid)}"]`);

async function post(page, body, headers) {
  return page.evaluate(
    async ({ body, headers }) => {
      const r = await fetch('/api/action', { method: 'POST', headers, body: JSON.stringify(body) });
      return { status: r.status, body: await r.json().catch(() => null) };
    },
    { body, headers },
  );
}

const csrfOf = (page) => page.locator('meta[name="csrf-token"]').getAttribute('content');

/** A raw HTTP request to the observer (not through a browser). */
function request(server, { method = 'GET', path = '/', headers = {}, body } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port: server.port, method, path, headers },
      (res) => {
        let text = '';
        res.on('data', (d) => {
          text += d;
        });
        res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, text }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

describe('the observer in a browser (S10)', { skip: SKIP }, () => {
  before(async () => {
    await start({ root: p.dir, src: p.src, out: p.out, typecheck: false });
    setLogger({ error() {} });
    for (const m of ['worker', 'top_sup', 'inner_sup']) put(`${m}.ts`, m);
    assert.ok('modules' in (await c(['worker', 'top_sup', 'inner_sup'])));
    source = await localSource('testnode');
    full = await serveObserver(source, { port: 0, allowDestructive: true });
    readOnly = await serveObserver(source, { port: 0 });
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    await full?.close();
    await readOnly?.close();
    await source?.close();
    await stop();
  });

  it(
    'S10.2: after a reload, the module row shows both versions and "1 process in old code", pushed without a reload',
    T,
    async () => {
      const { page, problems } = await openPage();
      put('room.v1.ts', 'room_a');
      assert.deepEqual(await c('room_a'), { module: 'room_a' });
      const pid = spawn('room_a', 'loop', [0]);
      const row = moduleRow(page, 'room_a');
      await row.locator('td.c-current', { hasText: 'v1' }).waitFor();
      assert.equal(await row.locator('td.c-old').innerText(), '—');
      await shot(page, '01-room_a-v1');
      // The reload happens on the node while the page is open: the page hears of it by push.
      put('room.v2.ts', 'room_a');
      assert.deepEqual(await c('room_a'), { module: 'room_a' });
      await row.locator('td.c-users', { hasText: '1 process in old code' }).waitFor();
      assert.match(await row.locator('td.c-current').innerText(), /^v2\b/);
      assert.match(await row.locator('td.c-old').innerText(), /^v1\b/);
      assert.equal(
        await page.evaluate(() => window.__sameDocument),
        true,
        'the page was not reloaded',
      );
      await shot(page, '02-room_a-v2-one-in-old-code');
      assert.deepEqual(problems, []);
      exit(pid, 'kill');
    },
  );

  it(
    'S10.2: the "in old code" link filters the processes table to exactly that process',
    T,
    async () => {
      const oldUser = await moduleWithOldUser('room_b');
      // Bystanders: a process on the current version, and one in old code of another module.
      const current = spawn('room_b', 'loop', [0]);
      const other = await moduleWithOldUser('room_b2');
      const { page } = await openPage();
      await moduleRow(page, 'room_b')
        .locator('td.c-users button', { hasText: '1 process in old code' })
        .click();
      await page.locator('#panel-processes').waitFor({ state: 'visible' });
      await page.locator('#proc-module-filter', { hasText: 'in old code of room_b' }).waitFor();
      const rows = page.locator('#processes tbody tr.row');
      await page.waitForFunction(
        () => document.querySelectorAll('#processes tbody tr.row').length === 1,
      );
      assert.equal(await rows.count(), 1);
      assert.equal(await rows.first().getAttribute('data-pid'), String(oldUser));
      assert.match(await rows.first().innerText(), /room_b v1 · old/);
      await shot(page, '03-filter-old-code-of-room_b');
      // Clearing the filter shows the others again.
      await page.locator('#proc-module-clear').click();
      await procRow(page, current).waitFor();
      await procRow(page, other).waitFor();
      for (const x of [oldUser, current, other]) exit(x, 'kill');
    },
  );

  it(
    'S10.2: purge asks, naming the 1 process it kills; accepted, the old version and the process leave the page without a reload',
    T,
    async () => {
      const pid = await moduleWithOldUser('room_c');
      const { page } = await openPage();
      const row = moduleRow(page, 'room_c');
      await row.locator('td.c-users', { hasText: '1 process in old code' }).waitFor();
      await page.locator('#tab-processes').click();
      await procRow(page, pid).waitFor();
      await page.locator('#tab-modules').click();
      await row.locator('button.purge').click();
      const dialog = page.locator('dialog#confirm');
      await dialog.waitFor({ state: 'visible' });
      const text = await dialog.innerText();
      assert.match(text, /Purge room_c’s old version\?/);
      assert.match(text, /kills 1 process running v1/);
      assert.ok(text.includes(String(pid)), `the confirmation names ${pid}: ${text}`);
      assert.match(await page.locator('#confirm-ok').innerText(), /Purge and kill 1 process/);
      await shot(page, '04-purge-confirmation');
      assert.ok(isProcessAlive(pid), 'nothing happens before the confirmation');
      await page.locator('#confirm-ok').click();
      await row.locator('td.c-old', { hasText: '—' }).waitFor();
      assert.equal(await row.locator('td.c-users').innerText(), '—');
      assert.equal(isProcessAlive(pid), false);
      assert.equal(code.checkOldCode('room_c'), false);
      await page.locator('#tab-processes').click();
      await procRow(page, pid).waitFor({ state: 'detached' });
      assert.equal(
        await page.evaluate(() => window.__sameDocument),
        true,
        'the page was not reloaded',
      );
      await shot(page, '05-after-purge');
    },
  );

  it('S10.2: cancelling the purge confirmation changes nothing', T, async () => {
    const pid = await moduleWithOldUser('room_c2');
    const { page } = await openPage();
    const row = moduleRow(page, 'room_c2');
    await row.locator('button.purge').click();
    await page.locator('dialog#confirm').waitFor({ state: 'visible' });
    await page.locator('#confirm-cancel').click();
    await page.locator('dialog#confirm').waitFor({ state: 'hidden' });
    // One more snapshot arrives and still shows the old version.
    const seen = await page.evaluate(() => document.querySelector('#node-facts').textContent);
    await page.waitForFunction(
      (s) => document.querySelector('#node-facts').textContent !== s,
      seen,
    );
    assert.ok(isProcessAlive(pid));
    assert.ok(code.checkOldCode('room_c2'));
    assert.match(await row.locator('td.c-users').innerText(), /1 process in old code/);
    exit(pid, 'kill');
  });

  it('S10.2: killing a supervised child shows its replacement with a new pid', T, async () => {
    const sup = await supervisor.start('top_sup', null, { name: 'top' });
    const children = await supervisor.whichChildren(sup);
    const beta = children.find((x) => x.id === 'beta').pid;
    const { page } = await openPage();
    await page.locator('#tab-trees').click();
    const line = page.locator(`#trees li[data-child="beta"] .node-line.child`);
    await line.locator('.pid', { hasText: String(beta) }).waitFor();
    // The nested supervisor's tree is shown inside its parent's.
    await page.locator('#trees li[data-child="inner"] li[data-child="gamma"]').waitFor();
    await shot(page, '06-supervision-tree');
    await line.locator('button.kill').click();
    const dialog = page.locator('dialog#confirm');
    await dialog.waitFor({ state: 'visible' });
    assert.match(
      await dialog.innerText(),
      new RegExp(`Kill ${String(beta).replace(/[<>.]/g, '\\$&')}\\?`),
    );
    await page.locator('#confirm-ok').click();
    await page.waitForFunction((old) => {
      const el = document.querySelector('#trees li[data-child="beta"] .node-line.child .pid');
      return el && el.textContent !== old && el.textContent !== 'not running';
    }, String(beta));
    const shown = await line.locator('.pid').innerText();
    const now = (await supervisor.whichChildren(sup)).find((x) => x.id === 'beta').pid;
    assert.notEqual(String(now), String(beta));
    assert.equal(shown, String(now), 'the page shows the replacement');
    assert.equal(isProcessAlive(beta), false);
    await shot(page, '07-supervised-child-replaced');
    await genServer.stop(sup);
  });

  it(
    'S10.3: a POST without the CSRF token, or with a wrong one, gets 403 and changes nothing',
    T,
    async () => {
      const pid = await moduleWithOldUser('room_d');
      const { page } = await openPage();
      const none = await post(
        page,
        { type: 'kill', pid: String(pid) },
        { 'Content-Type': 'application/json' },
      );
      assert.equal(none.status, 403);
      const wrong = await post(
        page,
        { type: 'purge', module: 'room_d' },
        { 'Content-Type': 'application/json', 'X-CSRF-Token': 'not-the-token' },
      );
      assert.equal(wrong.status, 403);
      const inspect = await page.evaluate(async (pid) => {
        const r = await fetch('/api/inspect', {
          method: 'POST',
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify({ view: 'x', inspect: [{ pid, mailbox: true }] }),
        });
        return r.status;
      }, String(pid));
      assert.equal(inspect, 403, 'asking for a mailbox needs the token too');
      assert.ok(isProcessAlive(pid), 'the process lives');
      assert.ok(code.checkOldCode('room_d'), 'the old version is still there');
      // The same request with the page's token is carried out (so the refusals above were the token's).
      const csrf = await csrfOf(page);
      const ok = await post(
        page,
        { type: 'kill', pid: String(pid) },
        { 'Content-Type': 'application/json', 'X-CSRF-Token': csrf },
      );
      assert.equal(ok.status, 200);
      assert.equal(ok.body.ok, true);
      assert.equal(isProcessAlive(pid), false);
    },
  );

  it(
    'S10.3: a request with a foreign Origin or Host is refused, from a page of another origin too',
    T,
    async () => {
      const pid = await moduleWithOldUser('room_e');
      const { page, context } = await openPage();
      const csrf = await csrfOf(page);
      const cookie = (await context.cookies()).map((k) => `${k.name}=${k.value}`).join('; ');
      const good = {
        Host: `127.0.0.1:${full.port}`,
        Cookie: cookie,
        'Content-Type': 'application/json',
        'X-CSRF-Token': csrf,
      };
      const body = JSON.stringify({ type: 'kill', pid: String(pid) });
      const foreignOrigin = await request(full, {
        method: 'POST',
        path: '/api/action',
        headers: { ...good, Origin: 'http://evil.example' },
        body,
      });
      assert.equal(foreignOrigin.status, 403);
      const foreignHost = await request(full, {
        method: 'POST',
        path: '/api/action',
        headers: {
          ...good,
          Host: `evil.example:${full.port}`,
          Origin: `http://evil.example:${full.port}`,
        },
        body,
      });
      assert.equal(foreignHost.status, 403);
      const noOrigin = await request(full, {
        method: 'POST',
        path: '/api/action',
        headers: good,
        body,
      });
      assert.equal(noOrigin.status, 403);
      for (const path of ['/', '/events', '/app.js']) {
        const r = await request(full, {
          path,
          headers: { Host: `evil.example:${full.port}`, Cookie: cookie },
        });
        assert.equal(r.status, 403, `GET ${path} with a foreign Host`);
      }
      // A page of another origin posts with the browser's cookies: refused (SameSite, Origin).
      const evil = http.createServer((_req, res) => {
        res.writeHead(200, { 'Content-Type': 'text/html' });
        res.end(`<!doctype html><script>
        fetch('http://127.0.0.1:${full.port}/api/action', { method: 'POST', credentials: 'include', mode: 'no-cors',
          headers: { 'Content-Type': 'text/plain' }, body: ${JSON.stringify(body)} })
          .finally(() => { document.title = 'sent'; });
      </script>`);
      });
      await new Promise((r) => evil.listen(0, '127.0.0.1', r));
      const evilPage = await context.newPage();
      await evilPage.goto(`http://localhost:${evil.address().port}/`);
      await evilPage.waitForFunction(() => document.title === 'sent');
      evil.close();
      assert.ok(isProcessAlive(pid), 'nothing reached the node');
      // The control: the well-formed request is carried out.
      const ok = await request(full, {
        method: 'POST',
        path: '/api/action',
        headers: { ...good, Origin: `http://127.0.0.1:${full.port}` },
        body,
      });
      assert.equal(ok.status, 200, ok.text);
      assert.equal(isProcessAlive(pid), false);
    },
  );

  it(
    'S10.3: without --allow-destructive there is no purge or kill control, and a purge request is refused',
    T,
    async () => {
      const pid = await moduleWithOldUser('room_f');
      const sup = await supervisor.start('top_sup', null);
      const { page } = await openPage(readOnly);
      const row = moduleRow(page, 'room_f');
      await row.locator('td.c-users', { hasText: '1 process in old code' }).waitFor();
      assert.equal(await row.locator('button.soft-purge').count(), 1, 'soft purge is offered');
      assert.equal(
        await row.locator('button.soft-purge').isDisabled(),
        true,
        'disabled while used',
      );
      assert.equal(await page.locator('button.purge').count(), 0);
      await shot(page, '08-read-only-modules');
      await page.locator('#tab-processes').click();
      await procRow(page, pid).waitFor();
      assert.equal(await page.locator('#processes button.kill').count(), 0);
      await page.locator('#tab-trees').click();
      await page.locator(`#trees .sup-line[data-pid="${String(sup)}"]`).waitFor();
      assert.equal(await page.locator('#trees button.kill').count(), 0);
      await shot(page, '09-read-only-trees');
      const csrf = await csrfOf(page);
      const h = { 'Content-Type': 'application/json', 'X-CSRF-Token': csrf };
      for (const a of [
        { type: 'purge', module: 'room_f' },
        { type: 'kill', pid: String(pid) },
        { type: 'load', module: 'room_f' },
      ]) {
        const r = await post(page, a, h);
        assert.equal(r.status, 403, `${a.type} is refused`);
      }
      assert.ok(isProcessAlive(pid));
      assert.ok(code.checkOldCode('room_f'));
      exit(pid, 'kill');
      await genServer.stop(sup);
    },
  );

  it(
    'S10.1/S10.3: the link is one-time; the session cookie is HttpOnly and SameSite=Strict; no session, no page',
    T,
    async () => {
      const link = full.newLink();
      const context = await browser.newContext();
      const page = await context.newPage();
      await page.goto(link);
      assert.equal(new URL(page.url()).search, '', 'the token leaves the address bar');
      const [cookie] = await context.cookies();
      assert.equal(cookie.name, `hotcode_observer_${full.port}`);
      assert.equal(cookie.httpOnly, true);
      assert.equal(cookie.sameSite, 'Strict');
      assert.equal(await page.evaluate(() => document.cookie), '', 'scripts cannot read it');
      const again = await browser.newContext();
      const second = await (await again.newPage()).goto(link);
      assert.equal(second.status(), 403, 'a used link opens nothing');
      const bare = await request(full, { headers: { Host: `127.0.0.1:${full.port}` } });
      assert.equal(bare.status, 401);
      const events = await request(full, {
        path: '/events',
        headers: { Host: `127.0.0.1:${full.port}` },
      });
      assert.equal(events.status, 401);
      assert.match(link, /^http:\/\/127\.0\.0\.1:\d+\/\?token=[\w-]{20,}$/);
      await context.close();
      await again.close();
    },
  );

  it(
    'S10.1: it binds 127.0.0.1; another address needs allowRemote, and a wildcard address is refused',
    T,
    async () => {
      await assert.rejects(serveObserver(source, { port: 0, host: '192.0.2.1' }), {
        code: 'observer_insecure',
      });
      await assert.rejects(serveObserver(source, { port: 0, host: '0.0.0.0', allowRemote: true }), {
        code: 'observer_insecure',
      });
      await assert.rejects(serveObserver(source, { port: full.port }), { code: 'observer_port' });
      const r = await request(full, { headers: { Host: `127.0.0.1:${full.port}` } });
      assert.equal(r.status, 401, 'it answers on 127.0.0.1');
    },
  );

  it(
    'S10.2: a row opens links and monitors; the mailbox preview only when asked for',
    T,
    async () => {
      // A process with queued messages it never takes (a selective receive), linked and monitored.
      put('room.v1.ts', 'sink');
      await c('sink');
      const watcher = spawn('sink', 'loop', [0]);
      const pid = spawn(async () => {
        link(watcher);
        monitor(watcher);
        await receive((m) => m === 'never');
      });
      register('sink_proc', pid);
      for (let i = 0; i < 30; i++) send(pid, { order: i, item: 'secret-looking data' });
      const { page } = await openPage();
      await page.locator('#tab-processes').click();
      const row = procRow(page, pid);
      await row.locator('td', { hasText: 'sink_proc' }).waitFor();
      assert.equal(await row.locator('td.num').innerText(), '30');
      // Sorted by mailbox length first: it heads the table.
      assert.equal(
        await page.locator('#processes tbody tr.row').first().getAttribute('data-pid'),
        String(pid),
      );
      await row.click();
      const detail = page.locator(`#processes tbody tr[data-key="detail:${String(pid)}"]`);
      await detail
        .locator('dd', { hasText: String(watcher) })
        .first()
        .waitFor();
      const text = await detail.innerText();
      assert.match(text, /Links\s+<0\.\d+\.0>/);
      assert.match(text, /Monitors\s+<0\.\d+\.0>/);
      assert.ok(!text.includes('secret-looking'), 'no message is shown before asked');
      await shot(page, '10-process-detail');
      await detail.locator('button.mailbox-toggle', { hasText: 'Show messages' }).click();
      await detail.locator('ol.mailbox li').first().waitFor();
      assert.equal(await detail.locator('ol.mailbox li').count(), 20);
      assert.match(await detail.locator('ol.mailbox li').first().innerText(), /order: 0/);
      assert.match(await detail.innerText(), /the oldest 20 of 30 shown/);
      await shot(page, '11-mailbox-preview');
      exit(pid, 'kill');
      exit(watcher, 'kill');
    },
  );

  it(
    'S10.2: soft purge is disabled while the old version is used, and works once it is not',
    T,
    async () => {
      const pid = await moduleWithOldUser('room_g');
      const { page } = await openPage();
      const row = moduleRow(page, 'room_g');
      const button = row.locator('button.soft-purge');
      await button.waitFor();
      assert.equal(await button.isDisabled(), true);
      send(pid, 'stop'); // it returns from v1's loop: nobody uses v1 now
      await row.locator('td.c-users', { hasText: 'no process' }).waitFor();
      assert.equal(await button.isDisabled(), false);
      await button.click();
      await row.locator('td.c-old', { hasText: '—' }).waitFor();
      assert.equal(code.checkOldCode('room_g'), false);
    },
  );

  it(
    'S10.2: a modified module offers its newer object file, and loading it makes a new current version',
    T,
    async () => {
      put('room.v1.ts', 'room_h');
      await c('room_h');
      const { page } = await openPage();
      const row = moduleRow(page, 'room_h');
      await row.locator('td.c-current', { hasText: 'v1' }).waitFor();
      assert.equal(await row.locator('button.load').count(), 0);
      put('room.v2.ts', 'room_h');
      assert.ok('module' in (await compile.file('room_h'))); // writes the object file, loads nothing
      await row.locator('button.load').waitFor();
      assert.match(await row.locator('td.c-module').innerText(), /newer object file/);
      await shot(page, '12-newer-object-file');
      // No old version: loading kills nothing, so it asks nothing.
      await row.locator('button.load').click();
      await row.locator('td.c-current', { hasText: 'v2' }).waitFor();
      assert.equal(await page.locator('dialog#confirm').isVisible(), false);
      assert.match(await row.locator('td.c-old').innerText(), /^v1\b/);
      assert.equal(code.versions('room_h').current.vsn, 'room-2');
      await row.locator('button.load').waitFor({ state: 'detached' });
    },
  );

  it(
    'S10.2: the history shows each code change: time, modules and versions, origin, result, processes killed',
    T,
    async () => {
      const pid = await moduleWithOldUser('room_i'); // v1 used, v2 current
      const { page } = await openPage();
      put('room.v3.ts', 'room_i');
      // Loading v3 purges v1, killing its user (S6.3); watch mode's changes say so.
      const r = await withOrigin('watch', () => c('room_i'));
      assert.deepEqual(r, { module: 'room_i' });
      assert.equal(isProcessAlive(pid), false);
      await page.locator('#tab-history').click();
      const first = page.locator('#history tbody tr').first();
      await first.locator('td', { hasText: 'room_i v2→v3' }).waitFor();
      const cells = await first.locator('td').allInnerTexts();
      assert.equal(cells[1], 'watch');
      assert.equal(cells[2], 'c');
      assert.equal(cells[4], 'ok');
      assert.equal(cells[5], `1: ${String(pid)}`);
      await shot(page, '13-history');
    },
  );

  it(
    'S10.2: 1280×800 shows the header, charts and tables without horizontal scrolling, and updates do not move them',
    T,
    async () => {
      const pid = await moduleWithOldUser('room_j');
      const { page, problems } = await openPage();
      // uPlot's four charts, drawn.
      assert.equal(await page.locator('.tiles .uplot canvas').count(), 4);
      await page.waitForFunction(() => /\d/.test(document.querySelector('#v-p99').textContent));
      assert.match(await page.locator('#v-p50').innerText(), /^\d+(\.\d+)? ms$/);
      assert.match(await page.locator('#v-heap').innerText(), /MB$/);
      const boxes = () =>
        page.evaluate(() =>
          [
            '.tiles',
            '#chart-memory',
            '#tab-modules',
            '#tab-history',
            '#modules thead',
            '#modules tbody tr:first-child',
            '#v-msgs',
          ]
            .map((s) => document.querySelector(s)?.getBoundingClientRect())
            .map((r) => r && [r.x, r.y, r.width, r.height].map(Math.round).join(',')),
        );
      const before = await boxes();
      // Three more pushes, with messages flowing and processes coming and going.
      for (let i = 0; i < 3; i++) {
        const seen = await page.evaluate(() => document.querySelector('#node-facts').textContent);
        for (let k = 0; k < 500; k++) send(pid, k);
        spawn('room_j', 'loop', [0]);
        await page.waitForFunction(
          (s) => document.querySelector('#node-facts').textContent !== s,
          seen,
        );
        assert.deepEqual(await boxes(), before);
      }
      const width = await page.evaluate(() => document.documentElement.scrollWidth);
      assert.ok(width <= 1280, `no horizontal scrolling (${width}px)`);
      await shot(page, '14-at-1280x800');
      assert.deepEqual(problems, [], 'no script error, no refused resource');
    },
  );
});
