// The observer's page (S10.2). It receives the node's snapshots by server-sent
// events and updates in place: rows are keyed (by module, by pid), cells are
// rewritten only when their text changes, columns have fixed widths — so an
// update never moves what the reader is looking at. Everything that comes from
// the node is set as text, never parsed as HTML.
/* global uPlot */
(() => {
  const config = JSON.parse(document.querySelector('meta[name="observer-config"]').content);
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const destructive = config.allowDestructive === true;

  const byId = (id) => document.getElementById(id);

  // ---- state ---------------------------------------------------------------------------

  /** The last snapshot's tables; samples are kept apart (ten minutes of them). */
  let snap;
  let samples = [];
  let history = [];
  let lastUpdate = 0;
  const ui = {
    tab: 'modules',
    sort: { key: 'messageQueueLen', dir: -1 },
    text: '',
    oldOnly: false,
    /** Only the processes in old code of this module (the modules table's link). */
    oldOf: undefined,
    showRuntime: false,
    /** Open process rows: pid → { mailbox: boolean, detail }. */
    open: new Map(),
  };

  // ---- formatting ----------------------------------------------------------------------

  const nf = new Intl.NumberFormat('en-US');
  const num = (n) => (n === null || n === undefined ? '–' : nf.format(n));
  function bytes(n) {
    if (n === null || n === undefined) return '–';
    if (n < 1024 * 1024) return `${(n / 1024).toFixed(0)} KB`;
    if (n < 1024 * 1024 * 1024) return `${(n / 1024 / 1024).toFixed(1)} MB`;
    return `${(n / 1024 / 1024 / 1024).toFixed(2)} GB`;
  }
  function ms(n) {
    if (n === null || n === undefined) return '–';
    return n < 10 ? `${n.toFixed(2)} ms` : `${n.toFixed(0)} ms`;
  }
  function duration(msec) {
    const s = Math.floor(msec / 1000);
    if (s < 60) return `${s} s`;
    const m = Math.floor(s / 60);
    if (m < 60) return `${m} min ${s % 60} s`;
    const h = Math.floor(m / 60);
    if (h < 48) return `${h} h ${m % 60} min`;
    return `${Math.floor(h / 24)} d ${h % 24} h`;
  }
  const clock = (t) => new Date(t).toLocaleTimeString('en-GB', { hour12: false });
  function stamp(t) {
    const d = new Date(t);
    const today = new Date();
    const day =
      d.toDateString() === today.toDateString()
        ? ''
        : `${d.toLocaleDateString('en-GB', { day: '2-digit', month: 'short' })} `;
    return day + clock(t);
  }
  function ago(t, now) {
    const s = Math.max(0, Math.round((now - t) / 1000));
    if (s < 60) return `${s} s ago`;
    if (s < 3600) return `${Math.floor(s / 60)} min ago`;
    return `${duration(s * 1000).replace(/ \d+ (min|h)$/, '')} ago`;
  }
  const plural = (n, one, many = `${one}es`) => `${num(n)} ${n === 1 ? one : many}`;
  const pidNumber = (p) => Number(/^<\d+\.(\d+)\.\d+>$/.exec(p)?.[1] ?? 0);

  // ---- DOM helpers ---------------------------------------------------------------------

  /** Makes an element: `h('td', { class: 'x' }, 'text', child)`. Strings become text nodes. */
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs ?? {})) {
      if (v === undefined || v === false) continue;
      if (k === 'class') el.className = v;
      else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
      else if (k === 'dataset') Object.assign(el.dataset, v);
      else el.setAttribute(k, v === true ? '' : v);
    }
    for (const c of children.flat(Infinity)) {
      if (c === undefined || c === null || c === false) continue;
      el.append(typeof c === 'string' || typeof c === 'number' ? String(c) : c);
    }
    return el;
  }

  function setText(el, text) {
    if (el.textContent !== text) el.textContent = text;
  }

  /** Replaces an element's children only if what they say changed (no flicker, no lost focus). */
  function setContent(el, key, ...children) {
    if (el.dataset.k === key) return;
    el.dataset.k = key;
    el.replaceChildren(...children.flat(Infinity).filter((c) => c !== undefined && c !== null));
  }

  /**
   * Keeps a tbody's rows in the order of `items`, reusing the row of each key:
   * `make(item)` creates a row's cells, `update(tr, item)` refreshes them.
   */
  function syncRows(tbody, items, keyOf, make, update) {
    const rows = new Map();
    for (const tr of tbody.children) rows.set(tr.dataset.key, tr);
    let prev = null;
    const keep = new Set();
    for (const item of items) {
      const key = keyOf(item);
      keep.add(key);
      let tr = rows.get(key);
      if (tr === undefined) {
        tr = make(item);
        tr.dataset.key = key;
      }
      update(tr, item);
      const want = prev === null ? tbody.firstChild : prev.nextSibling;
      if (tr !== want) tbody.insertBefore(tr, want);
      prev = tr;
    }
    for (const [key, tr] of rows) if (!keep.has(key)) tr.remove();
  }

  // ---- the server ----------------------------------------------------------------------

  async function post(action) {
    let r;
    try {
      r = await fetch('/api/action', {
        method: 'POST',
        credentials: 'same-origin',
        headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': csrf },
        body: JSON.stringify(action),
      });
    } catch (e) {
      return { ok: false, error: 'network', message: String(e) };
    }
    try {
      return await r.json();
    } catch {
      return { ok: false, error: `http_${r.status}`, message: r.statusText };
    }
  }

  function toast(text, error = false) {
    const t = h('div', { class: error ? 'toast error' : 'toast', role: 'status' }, text);
    byId('toasts').append(t);
    setTimeout(() => t.remove(), error ? 8000 : 4500);
  }

  function banner(text) {
    const b = byId('banner');
    b.hidden = text === undefined;
    if (text !== undefined) setText(b, text);
  }

  /** A confirmation: resolves true when accepted. */
  function confirmAction({ title, text, list = [], ok }) {
    const d = byId('confirm');
    setText(byId('confirm-title'), title);
    setText(byId('confirm-text'), text);
    byId('confirm-list').replaceChildren(...list.map((x) => h('li', null, x)));
    byId('confirm-list').hidden = list.length === 0;
    setText(byId('confirm-ok'), ok);
    return new Promise((resolve) => {
      const done = (v) => {
        byId('confirm-ok').onclick = null;
        byId('confirm-cancel').onclick = null;
        d.onclose = null;
        if (d.open) d.close();
        resolve(v);
      };
      byId('confirm-ok').onclick = () => done(true);
      byId('confirm-cancel').onclick = () => done(false);
      d.onclose = () => done(false);
      d.showModal();
      byId('confirm-cancel').focus();
    });
  }

  // ---- the stream ----------------------------------------------------------------------

  /** This page's id: the server keeps the rows it has open under it. */
  // (getRandomValues, not randomUUID: a page served with --allow-remote over plain HTTP is not a secure context.)
  const view = Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) =>
    b.toString(16).padStart(2, '0'),
  ).join('');
  const events = new EventSource(`/events?view=${view}`);
  events.addEventListener('snapshot', (e) => {
    apply(JSON.parse(e.data));
    banner(undefined);
    document.body.classList.remove('stale');
    byId('live').className = 'live on';
    setText(byId('live-text'), 'live · 0 s ago');
  });
  events.addEventListener('nodedown', (e) => {
    const { message } = JSON.parse(e.data);
    banner(`The node does not answer: ${message}`);
    document.body.classList.add('stale');
    byId('live').className = 'live down';
    setText(byId('live-text'), 'node down');
  });
  events.onerror = () => {
    byId('live').className = 'live down';
    if (events.readyState === EventSource.CLOSED) {
      setText(byId('live-text'), 'session ended');
      banner('The observer ended this session: open a new link from its terminal.');
    } else setText(byId('live-text'), 'reconnecting…');
  };
  setInterval(() => {
    if (lastUpdate && byId('live').classList.contains('on'))
      setText(byId('live-text'), `live · ${((Date.now() - lastUpdate) / 1000).toFixed(0)} s ago`);
  }, 1000);

  function apply(s) {
    // How many snapshots this page has received (tests and benchmarks read it).
    window.__snapshots = (window.__snapshots ?? 0) + 1;
    if (s.full) samples = [];
    const last = samples.at(-1)?.seq ?? 0;
    for (const x of s.samples) if (x.seq > last) samples.push(x);
    const cutoff = (s.samples.at(-1)?.t ?? samples.at(-1)?.t ?? 0) - 600_000;
    while (samples.length && samples[0].t < cutoff) samples.shift();
    if (s.history) history = s.history;
    // Open rows follow the node: their details come with the snapshots.
    const details = new Map((s.details ?? []).map((d) => [d.pid, d]));
    for (const [pid, o] of ui.open) {
      const d = details.get(pid);
      if (d !== undefined && (!o.mailbox || d.mailbox !== undefined)) o.detail = d;
    }
    snap = s;
    lastUpdate = Date.now();
    render();
  }

  // ---- header and charts -----------------------------------------------------------------

  const charts = {};
  const COLORS = { a: '#2f6fdb', b: '#e08a1e', c: '#1d8a4e', d: '#8a4fd0' };

  const INTEGER_STEPS = [
    1, 2, 5, 10, 20, 50, 100, 200, 500, 1e3, 2e3, 5e3, 1e4, 2e4, 5e4, 1e5, 2e5, 5e5, 1e6, 2e6, 5e6,
    1e7, 2e7, 5e7,
  ];

  function makeChart(id, series, fmt, integer = false) {
    const el = byId(id);
    const opts = {
      width: el.clientWidth,
      height: el.clientHeight,
      legend: { show: false },
      cursor: { show: true, drag: { x: false, y: false }, points: { show: false } },
      padding: [6, 4, 0, 0],
      scales: {
        x: {
          time: true,
          range: () => {
            const end = (samples.at(-1)?.t ?? Date.now()) / 1000;
            return [end - 600, end];
          },
        },
        y: { range: (_u, _min, max) => [0, max > 0 ? max * 1.15 : 1] },
      },
      axes: [
        {
          stroke: '#8b93a1',
          grid: { stroke: '#eef0f3', width: 1 },
          ticks: { show: false },
          size: 18,
          font: '10px system-ui',
          space: 60,
          values: (_u, ticks) => ticks.map((t) => clock(t * 1000).slice(0, 5)),
        },
        {
          stroke: '#8b93a1',
          grid: { stroke: '#eef0f3', width: 1 },
          ticks: { show: false },
          size: 46,
          font: '10px system-ui',
          space: 24,
          values: (_u, ticks) => ticks.map(fmt),
          ...(integer ? { incrs: INTEGER_STEPS } : {}),
        },
      ],
      series: [
        {},
        ...series.map((s) => ({
          label: s.label,
          stroke: s.color,
          width: 1.5,
          points: { show: false },
        })),
      ],
    };
    charts[id] = new uPlot(opts, [[], ...series.map(() => [])], el);
  }

  function initCharts() {
    const short = (f) => (v) => (v === null ? '' : f(v));
    makeChart(
      'chart-memory',
      [
        { label: 'heap', color: COLORS.a },
        { label: 'rss', color: COLORS.b },
      ],
      short((v) => `${(v / 1048576).toFixed(0)} MB`),
    );
    makeChart(
      'chart-eld',
      [
        { label: 'p50', color: COLORS.c },
        { label: 'p99', color: COLORS.b },
      ],
      short((v) => `${v < 10 ? v.toFixed(1) : v.toFixed(0)} ms`),
    );
    makeChart(
      'chart-procs',
      [{ label: 'processes', color: COLORS.a }],
      short((v) => nf.format(Math.round(v))),
      true,
    );
    makeChart(
      'chart-msgs',
      [{ label: 'messages/s', color: COLORS.d }],
      short((v) => (v >= 10000 ? `${(v / 1000).toFixed(0)}k` : nf.format(Math.round(v)))),
      true,
    );
    window.addEventListener('resize', () => {
      for (const [id, c] of Object.entries(charts)) {
        const el = byId(id);
        c.setSize({ width: el.clientWidth, height: el.clientHeight });
      }
    });
  }

  function renderHeader() {
    const n = snap.node;
    setText(byId('node-name'), n.name);
    setText(
      byId('node-facts'),
      `OS pid ${n.osPid} · up ${duration(n.uptimeMs)} · hotcode ${n.hotcode} · Node ${n.nodeVersion}`,
    );
    document.title = `${n.name} · hotcode observer`;
    const last = samples.at(-1);
    setText(byId('v-heap'), bytes(last?.heapUsed));
    setText(byId('v-rss'), bytes(last?.rss));
    setText(byId('v-p50'), ms(last?.eldP50));
    setText(byId('v-p99'), ms(last?.eldP99));
    setText(byId('v-procs'), num(snap.processes.total));
    setText(byId('v-msgs'), num(last?.messagesPerSec));
    const t = samples.map((s) => s.t / 1000);
    const col = (k) => samples.map((s) => s[k]);
    charts['chart-memory'].setData([t, col('heapUsed'), col('rss')]);
    charts['chart-eld'].setData([t, col('eldP50'), col('eldP99')]);
    charts['chart-procs'].setData([t, col('processes')]);
    charts['chart-msgs'].setData([t, col('messagesPerSec')]);
  }

  // ---- tabs ----------------------------------------------------------------------------

  function showTab(tab) {
    ui.tab = tab;
    for (const b of document.querySelectorAll('.tabs button'))
      b.setAttribute('aria-selected', String(b.dataset.tab === tab));
    for (const p of document.querySelectorAll('.panel')) p.hidden = p.id !== `panel-${tab}`;
  }

  function renderTabs() {
    const mods = snap.modules.filter((m) => ui.showRuntime || !m.runtime);
    setText(byId('count-modules'), num(mods.length));
    const withOld = snap.modules.filter((m) => m.old).length;
    const badge = byId('badge-old');
    badge.hidden = withOld === 0;
    setText(badge, `${withOld} old`);
    setText(byId('count-processes'), num(snap.processes.total));
    setText(byId('count-trees'), num(snap.trees.length));
    setText(byId('count-history'), num(history.length));
  }

  // ---- modules ---------------------------------------------------------------------------

  function versionCell(v, now) {
    if (v === undefined) return [h('span', { class: 'muted' }, '—')];
    return [
      h(
        'span',
        {
          class: 'ver',
          title: `vsn ${v.vsn}${v.file ? ` · ${v.file}` : ''} · loaded ${stamp(v.loadedAt)}`,
        },
        h('b', null, v.number === undefined ? `vsn ${v.vsn}` : `v${v.number}`),
        ' ',
        h('span', { class: 'when' }, `loaded ${clock(v.loadedAt)} · ${ago(v.loadedAt, now)}`),
      ),
    ];
  }

  function renderModules() {
    const now = snap.node.now;
    const rows = snap.modules.filter((m) => ui.showRuntime || !m.runtime);
    const runtime = snap.modules.filter((m) => m.runtime).length;
    setText(
      byId('modules-hint'),
      `${plural(runtime, 'runtime module', 'runtime modules')} ${ui.showRuntime ? 'shown' : 'hidden'}`,
    );
    byId('modules-empty').hidden = rows.length > 0;
    syncRows(
      byId('modules').tBodies[0],
      rows,
      (m) => m.module,
      (m) =>
        h(
          'tr',
          { class: 'row', dataset: { module: m.module } },
          h('td', { class: 'c-module' }),
          h('td', { class: 'c-current' }),
          h('td', { class: 'c-old' }),
          h('td', { class: 'c-users' }),
          h('td', { class: 'c-actions' }),
        ),
      (tr, m) => {
        tr.classList.toggle('has-old', m.old !== undefined);
        const [name, cur, old, users, actions] = tr.cells;
        setContent(
          name,
          `${m.module}|${m.modified}|${m.runtime}`,
          h('span', { class: 'mono' }, m.module),
          m.runtime ? h('span', { class: 'modified muted' }, 'runtime') : null,
          m.modified
            ? h(
                'span',
                {
                  class: 'modified',
                  title: 'its object file on the code path differs from the loaded version',
                },
                'newer object file',
              )
            : null,
        );
        setContent(
          cur,
          JSON.stringify([m.current, ago(m.current?.loadedAt ?? 0, now)]),
          versionCell(m.current, now),
        );
        setContent(
          old,
          JSON.stringify([
            m.old?.number,
            m.old?.vsn,
            m.old?.loadedAt,
            ago(m.old?.loadedAt ?? 0, now),
          ]),
          versionCell(m.old, now),
        );
        const n = m.old?.userCount ?? 0;
        setContent(
          users,
          `${m.old !== undefined}|${n}`,
          m.old === undefined
            ? h('span', { class: 'muted' }, '—')
            : n === 0
              ? h('span', { class: 'muted' }, 'no process')
              : h(
                  'button',
                  {
                    class: 'link users',
                    title: 'show these processes',
                    onclick: () => filterOldOf(m.module),
                  },
                  `${plural(n, 'process')} in old code`,
                ),
        );
        setContent(
          actions,
          `${m.module}|${m.old !== undefined}|${n}|${m.modified}|${m.runtime}`,
          moduleActions(m),
        );
      },
    );
  }

  function moduleActions(m) {
    if (m.runtime) return [h('span', { class: 'muted' }, 'sticky')];
    const n = m.old?.userCount ?? 0;
    const out = [];
    if (m.old !== undefined) {
      out.push(
        h(
          'button',
          {
            class: 'soft-purge',
            disabled: n > 0,
            title:
              n > 0
                ? `${plural(n, 'process')} still use${n === 1 ? 's' : ''} the old version`
                : 'remove the old version (nobody uses it)',
            onclick: () => softPurge(m.module),
          },
          'Soft purge',
        ),
      );
      if (destructive)
        out.push(h('button', { class: 'purge danger', onclick: () => purge(m.module) }, 'Purge'));
    }
    if (m.modified && (n === 0 || destructive))
      out.push(
        h(
          'button',
          {
            class: 'load',
            title: 'load the newer object file from the code path',
            onclick: () => load(m.module),
          },
          'Load',
        ),
      );
    return h('div', { class: 'actions' }, out);
  }

  function moduleNow(name) {
    return snap.modules.find((m) => m.module === name);
  }

  async function softPurge(module) {
    const r = await post({ type: 'softPurge', module });
    if (!r.ok) return toast(`Soft purge of ${module} failed: ${r.message}`, true);
    if (r.purged) toast(`Removed ${module}’s old version.`);
    else
      toast(
        `Soft purge refused: ${plural(r.users, 'process')} still use ${module}’s old version.`,
        true,
      );
  }

  async function purge(module, again = false) {
    const m = moduleNow(module);
    if (!m?.old) return toast(`${module} has no old version any more.`);
    const users = m.old.users;
    const n = m.old.userCount;
    const ok = await confirmAction({
      title: `Purge ${module}’s old version?`,
      text:
        (again ? 'The number of processes changed since you confirmed. ' : '') +
        (n === 0
          ? `No process uses v${m.old.number ?? m.old.vsn}: nothing is killed.`
          : `This kills ${plural(n, 'process')} running v${m.old.number ?? m.old.vsn} (S4.1):`),
      list: users.slice(0, 50).concat(n > 50 ? [`… and ${num(n - 50)} more`] : []),
      ok: n === 0 ? 'Purge' : `Purge and kill ${plural(n, 'process')}`,
    });
    if (!ok) return;
    const r = await post({ type: 'purge', module, expect: n });
    if (!r.ok && r.error === 'changed') {
      await nextSnapshot();
      return purge(module, true);
    }
    if (!r.ok) return toast(`Purge of ${module} failed: ${r.message}`, true);
    toast(
      `Purged ${module}’s old version${r.killed.length ? `: killed ${r.killed.join(', ')}` : ''}.`,
    );
  }

  async function load(module, again = false) {
    const m = moduleNow(module);
    if (!m) return;
    const n = m.old?.userCount ?? 0;
    if (m.old !== undefined) {
      const ok = await confirmAction({
        title: `Load ${module}’s newer object file?`,
        text:
          (again ? 'The number of processes changed since you confirmed. ' : '') +
          (n === 0
            ? `The unused old version v${m.old.number ?? m.old.vsn} is purged first; the current one becomes old.`
            : `Loading purges the old version v${m.old.number ?? m.old.vsn} first: this kills ${plural(n, 'process')}:`),
        list: m.old.users.slice(0, 50),
        ok: n === 0 ? 'Load' : `Load and kill ${plural(n, 'process')}`,
      });
      if (!ok) return;
    }
    const r = await post({ type: 'load', module, expect: n });
    if (!r.ok && r.error === 'changed') {
      await nextSnapshot();
      return load(module, true);
    }
    if (!r.ok) return toast(`Loading ${module} failed: ${r.message}`, true);
    toast(
      `Loaded ${module}${r.number !== undefined ? ` v${r.number}` : ''}${r.killed.length ? `; killed ${r.killed.join(', ')}` : ''}.`,
    );
  }

  function nextSnapshot() {
    const seen = lastUpdate;
    return new Promise((resolve) => {
      const t = setInterval(() => {
        if (lastUpdate !== seen) {
          clearInterval(t);
          resolve();
        }
      }, 50);
    });
  }

  function filterOldOf(module) {
    ui.oldOf = module;
    ui.oldOnly = false;
    byId('proc-old').checked = false;
    showTab('processes');
    render();
  }

  // ---- processes -------------------------------------------------------------------------

  function matches(p) {
    if (ui.oldOnly && !p.modules.some((m) => m.version === 'old')) return false;
    if (
      ui.oldOf !== undefined &&
      !p.modules.some((m) => m.version === 'old' && m.module === ui.oldOf)
    )
      return false;
    if (ui.text) {
      const t = ui.text.toLowerCase();
      const hay = [p.pid, p.name ?? '', p.initialCall ?? '', ...p.modules.map((m) => m.module)]
        .join(' ')
        .toLowerCase();
      if (!hay.includes(t)) return false;
    }
    return true;
  }

  function compare(a, b) {
    const { key, dir } = ui.sort;
    let x;
    if (key === 'pid') x = pidNumber(a.pid) - pidNumber(b.pid);
    else if (key === 'messageQueueLen') x = a.messageQueueLen - b.messageQueueLen;
    else x = String(a[key] ?? '').localeCompare(String(b[key] ?? ''));
    return x * dir || pidNumber(a.pid) - pidNumber(b.pid);
  }

  function renderProcesses() {
    const all = snap.processes.rows;
    const shown = all.filter(matches).sort(compare);
    const total = snap.processes.total;
    const chip = byId('proc-module-filter');
    chip.hidden = ui.oldOf === undefined;
    if (ui.oldOf !== undefined) setText(byId('proc-module-text'), `in old code of ${ui.oldOf}`);
    const partial = all.length < total;
    setText(
      byId('proc-hint'),
      `showing ${num(shown.length)} of ${num(total)}${partial ? ` (the node sends the ${num(snap.processes.limit)} longest mailboxes and every process in old code)` : ''}`,
    );
    byId('processes-empty').hidden = shown.length > 0;
    for (const th of document.querySelectorAll('#processes th.sortable')) {
      th.classList.toggle('sorted', th.dataset.sort === ui.sort.key);
      th.classList.toggle('asc', ui.sort.dir > 0);
    }
    const items = [];
    for (const p of shown) {
      items.push({ kind: 'row', p });
      if (ui.open.has(p.pid)) items.push({ kind: 'detail', p });
    }
    // Open rows whose process has gone are closed.
    for (const pid of ui.open.keys()) if (!all.some((p) => p.pid === pid)) ui.open.delete(pid);
    syncRows(
      byId('processes').tBodies[0],
      items,
      (it) => `${it.kind}:${it.p.pid}`,
      (it) =>
        it.kind === 'row'
          ? makeProcRow(it.p)
          : h('tr', { class: 'detail' }, h('td', { colspan: '7' })),
      (tr, it) => (it.kind === 'row' ? updateProcRow(tr, it.p) : updateDetail(tr, it.p)),
    );
  }

  function makeProcRow(p) {
    const tr = h(
      'tr',
      { class: 'row proc', dataset: { pid: p.pid } },
      h('td', { class: 'mono' }),
      h('td'),
      h('td', { class: 'mono' }),
      h('td'),
      h('td', { class: 'num' }),
      h('td'),
      h('td', { class: 'c-kill' }),
    );
    tr.addEventListener('click', (e) => {
      if (e.target.closest('button')) return;
      toggleOpen(p.pid);
    });
    return tr;
  }

  function versionChips(mods) {
    return mods.map((m) => {
      const row = moduleNow(m.module);
      const v = m.version === 'old' ? row?.old : row?.current;
      // The runtime's own modules have no version numbers: their name says enough.
      const label = v?.number !== undefined ? `${m.module} v${v.number}` : m.module;
      return h(
        'span',
        {
          class: m.version === 'old' ? 'chip old' : 'chip',
          title: `${m.module}: ${m.version} version`,
        },
        m.version === 'old' ? `${label} · old` : label,
      );
    });
  }

  function updateProcRow(tr, p) {
    tr.classList.toggle('open', ui.open.has(p.pid));
    const [pid, name, call, status, mailbox, versions, kill] = tr.cells;
    setText(pid, p.pid);
    setText(name, p.name ?? '');
    setText(call, p.initialCall ?? '');
    setContent(status, p.status, h('span', { class: `status ${p.status}` }, p.status));
    setText(mailbox, num(p.messageQueueLen));
    mailbox.classList.toggle('mailbox-big', p.messageQueueLen >= 1000);
    setContent(
      versions,
      JSON.stringify(
        p.modules.map((m) => [m.module, m.version, moduleNow(m.module)?.[m.version]?.number]),
      ),
      versionChips(p.modules),
    );
    setContent(
      kill,
      destructive ? 'k' : '',
      destructive ? h('button', { class: 'kill', onclick: () => kill(p) }, 'Kill') : null,
    );
  }

  async function kill(p, what) {
    const ok = await confirmAction({
      title: `Kill ${p.pid}?`,
      text: `${what ?? (p.name ? `${p.name}, ` : '') + (p.initialCall ? `started as ${p.initialCall}` : 'a process')}. Exit reason 'kill' cannot be trapped: it exits with 'killed', and its links and monitors are told so (S5.3).`,
      ok: 'Kill',
    });
    if (!ok) return;
    const r = await post({ type: 'kill', pid: p.pid });
    if (!r.ok) return toast(`Kill failed: ${r.message}`, true);
    toast(`Killed ${r.pid}.`);
  }

  function toggleOpen(pid) {
    if (ui.open.has(pid)) ui.open.delete(pid);
    else ui.open.set(pid, { mailbox: false, detail: undefined });
    void askDetails();
    renderProcesses();
  }

  /** Tells the server which rows are open here: the node sends their details from now on. */
  async function askDetails() {
    const inspect = [...ui.open].map(([pid, o]) => ({ pid, mailbox: o.mailbox }));
    try {
      await fetch('/api/inspect', {
        method: 'POST',
        credentials: 'same-origin',
        headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': csrf },
        body: JSON.stringify({ view, inspect }),
      });
    } catch {
      // the stream's error handler says the observer is unreachable
    }
  }

  function pidLinks(pids) {
    if (pids.length === 0) return [h('span', { class: 'muted' }, 'none')];
    return pids.map((x) =>
      h('button', { class: 'pidlink', title: 'show this process', onclick: () => jumpTo(x) }, x),
    );
  }

  function jumpTo(pid) {
    ui.text = pid;
    byId('proc-search').value = pid;
    ui.oldOnly = false;
    ui.oldOf = undefined;
    byId('proc-old').checked = false;
    showTab('processes');
    render();
  }

  function updateDetail(tr, p) {
    const o = ui.open.get(p.pid);
    const d = o?.detail;
    const td = tr.cells[0];
    if (d === undefined) {
      setContent(td, 'loading', h('span', { class: 'muted' }, 'Reading…'));
      return;
    }
    const key = JSON.stringify([d, o.mailbox]);
    setContent(
      td,
      key,
      h(
        'div',
        { class: 'detail' },
        h(
          'dl',
          null,
          h('dt', null, 'Links'),
          h('dd', null, pidLinks(d.links)),
          h('dt', null, 'Monitors'),
          h(
            'dd',
            null,
            d.monitors.length
              ? d.monitors.map((m) => h('span', { title: m.ref }, pidLinks([m.pid])))
              : h('span', { class: 'muted' }, 'none'),
          ),
          h('dt', null, 'Monitored by'),
          h(
            'dd',
            null,
            d.monitoredBy.length
              ? d.monitoredBy.map((m) => h('span', { title: m.ref }, pidLinks([m.pid])))
              : h('span', { class: 'muted' }, 'none'),
          ),
          h('dt', null, 'Traps exits'),
          h('dd', null, d.trapExit ? 'yes' : 'no'),
          h('dt', null, 'Mailbox'),
          h(
            'dd',
            null,
            o.mailbox
              ? [
                  h(
                    'button',
                    { class: 'mailbox-toggle', onclick: () => setMailbox(p.pid, false) },
                    'Hide messages',
                  ),
                  d.mailbox && d.mailbox.total > 0
                    ? h(
                        'ol',
                        { class: 'mailbox' },
                        d.mailbox.messages.map((m) => h('li', null, m)),
                      )
                    : h('span', { class: 'muted' }, '  empty'),
                  d.mailbox && d.mailbox.total > d.mailbox.messages.length
                    ? h(
                        'div',
                        { class: 'muted' },
                        `the oldest ${d.mailbox.messages.length} of ${num(d.mailbox.total)} shown`,
                      )
                    : null,
                ]
              : [
                  h('span', null, `${plural(d.messageQueueLen, 'message', 'messages')} queued  `),
                  h(
                    'button',
                    {
                      class: 'mailbox-toggle',
                      title: 'read the queued messages (they may hold private data)',
                      onclick: () => setMailbox(p.pid, true),
                    },
                    'Show messages',
                  ),
                ],
          ),
        ),
      ),
    );
  }

  function setMailbox(pid, on) {
    const o = ui.open.get(pid);
    if (!o) return;
    o.mailbox = on;
    void askDetails();
    renderProcesses();
  }

  // ---- supervision trees -------------------------------------------------------------------

  function treeNode(n) {
    const head = h(
      'div',
      { class: 'node-line sup-line', dataset: { pid: n.pid } },
      h('span', { class: 'mono pid' }, n.pid),
      h('span', null, n.name ?? n.module ?? 'supervisor'),
      h(
        'span',
        { class: 'kind' },
        `supervisor${n.module ? ` ${n.module}` : ''}${n.strategy ? ` · ${n.strategy}` : ''}`,
      ),
      n.error ? h('span', { class: 'muted' }, `children unknown: ${n.error}`) : null,
    );
    const kids = n.children.map((c) =>
      h(
        'li',
        { dataset: { child: c.id } },
        c.tree
          ? h(
              'div',
              { class: 'node-line' },
              h('span', { class: 'id' }, c.id),
              h('span', { class: 'kind' }, c.restart),
            )
          : h(
              'div',
              { class: 'node-line child', dataset: c.pid ? { pid: c.pid } : {} },
              h('span', { class: 'id' }, c.id),
              c.pid
                ? h('span', { class: 'mono pid' }, c.pid)
                : h('span', { class: 'pid notrunning' }, 'not running'),
              h('span', { class: 'mono what' }, c.name ?? c.initialCall ?? ''),
              h('span', { class: 'kind' }, c.restart),
              destructive && c.pid
                ? h(
                    'button',
                    {
                      class: 'kill',
                      onclick: () => kill({ pid: c.pid }, `child ${c.id} of ${n.name ?? n.pid}`),
                    },
                    'Kill',
                  )
                : null,
            ),
        c.tree ? h('ul', null, h('li', null, treeNode(c.tree))) : null,
      ),
    );
    return [head, h('ul', null, kids)];
  }

  function renderTrees() {
    byId('trees-empty').hidden = snap.trees.length > 0;
    setContent(
      byId('trees'),
      JSON.stringify(snap.trees),
      snap.trees.map((t) => h('div', { class: 'tree' }, h('ul', null, h('li', null, treeNode(t))))),
    );
  }

  // ---- history ------------------------------------------------------------------------------

  function renderHistory() {
    byId('history-empty').hidden = history.length > 0;
    const rows = history.slice().reverse();
    setContent(
      byId('history').tBodies[0],
      JSON.stringify(rows),
      rows.map((e) =>
        h(
          'tr',
          { class: 'row' },
          h('td', { title: new Date(e.at).toISOString() }, stamp(e.at)),
          h('td', null, e.origin),
          h('td', { class: 'mono' }, e.kind),
          h(
            'td',
            { class: 'mono' },
            e.modules.map((m, i) => [
              i ? ', ' : '',
              m.module,
              ' ',
              m.from === undefined ? 'new' : `v${m.from}`,
              h('span', { class: 'arrow' }, '→'),
              m.to === undefined ? '—' : `v${m.to}`,
            ]),
          ),
          h(
            'td',
            { class: `result-${e.result}` },
            e.result + (e.error && e.result !== 'stopped' ? ` (${e.error})` : ''),
          ),
          h(
            'td',
            { class: 'mono', title: e.killed.join(', ') },
            e.killed.length ? `${e.killed.length}: ${e.killed.join(', ')}` : '0',
          ),
        ),
      ),
    );
  }

  // ---- render --------------------------------------------------------------------------------

  function render() {
    if (snap === undefined) return;
    renderHeader();
    renderTabs();
    renderModules();
    renderProcesses();
    renderTrees();
    renderHistory();
  }

  // ---- controls ------------------------------------------------------------------------------

  for (const b of document.querySelectorAll('.tabs button'))
    b.addEventListener('click', () => showTab(b.dataset.tab));
  byId('show-runtime').addEventListener('change', (e) => {
    ui.showRuntime = e.target.checked;
    render();
  });
  byId('proc-search').addEventListener('input', (e) => {
    ui.text = e.target.value.trim();
    render();
  });
  byId('proc-old').addEventListener('change', (e) => {
    ui.oldOnly = e.target.checked;
    render();
  });
  byId('proc-module-clear').addEventListener('click', () => {
    ui.oldOf = undefined;
    render();
  });
  for (const th of document.querySelectorAll('#processes th.sortable'))
    th.addEventListener('click', () => {
      const key = th.dataset.sort;
      ui.sort = {
        key,
        dir: ui.sort.key === key ? -ui.sort.dir : key === 'messageQueueLen' ? -1 : 1,
      };
      render();
    });
  setText(
    byId('mode'),
    destructive
      ? 'purge and kill enabled (--allow-destructive)'
      : 'read-mostly: purge and kill are off',
  );
  initCharts();
  showTab('modules');
})();
