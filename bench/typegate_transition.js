// The cost of checking transitions (S6.2, issue 11):
//   typegate.transition_ms   extra time of a warm check when 10 old versions of importers are in
//                            use (10 transition sources) over the same check with none
//
// Gate level (createTypeGate().check), as bench/typegate.js: a module `fmt` imported by 10
// modules `room0..room9`; each check changes fmt's exported signature in a way every
// version accepts (a trailing optional parameter comes and goes), so each check passes and
// every transition source is really checked. Checks without and with the 10 old versions are
// timed in alternating blocks; the id is the difference of the medians of their round trips
// (the detail adds the checker thread's CPU time per check, steadier on a busy machine).
//
// `node bench/typegate_transition.js` prints it.
import { fileURLToPath, pathToFileURL } from 'node:url';
import { makeProject, median } from './util.js';

const moduleUrl = process.env.HOTCODE_TYPEGATE_MODULE
  ? pathToFileURL(process.env.HOTCODE_TYPEGATE_MODULE).href
  : new URL('../dist/compiler/typegate/index.js', import.meta.url).href;

const IMPORTERS = 10;
const ROUNDS = 4;
const WARMUP = 3;
const RUNS = 10;

/** fmt's exported signature alternates between two shapes that all versions of the rooms accept. */
function fmt(n) {
  const extra = n % 2 === 0 ? '' : ', at?: number';
  const use = n % 2 === 0 ? '' : " + (at === undefined ? '' : ` @${at}`)";
  return `export interface Line {\n  from: string;\n  text: string;\n}\n\nexport function line(from: string, text: string${extra}): string {\n  return \`[\${from}] \${text}\`${use};\n}\n`;
}

/** Importer `i`; `version` only changes a body (the old versions in use differ from the current). */
function room(i, version) {
  return [
    "import * as fmt from './fmt';",
    `import * as self from './room${i}';`,
    '',
    'export interface State {',
    '  seen: number;',
    '  log: string[];',
    '}',
    '',
    `export async function loop(s: State, next: () => Promise<fmt.Line>): Promise<State> {`,
    '  const m = await next();',
    `  const shown = fmt.line(m.from, m.text)${version > 1 ? ".padEnd(10, ' ')" : ''};`,
    `  const log = [...s.log, shown].slice(-${10 * version});`,
    '  return s.seen > 1000 ? { seen: s.seen + 1, log } : self.loop({ seen: s.seen + 1, log }, next);',
    '}',
    '',
  ].join('\n');
}

/**
 * Alternating blocks without and with the transition sources (A B A B …), so that
 * drift on a busy machine falls on both sides; the first checks of a block are not
 * timed (they re-parse the slots whose text the switch changed). Returns the
 * median wall time of each side and the mean checker CPU time per check.
 */
async function timeBlocks(gate, without, withOld) {
  const wall = { without: [], with: [] };
  const cpu = { without: 0, with: 0 };
  let n = 0;
  for (let round = 0; round < ROUNDS; round++) {
    for (const side of ['without', 'with']) {
      const make = side === 'without' ? without : withOld;
      for (let i = 0; i < WARMUP + RUNS; i++) {
        const req = make(++n);
        const before = i === WARMUP ? (await gate.stats()).cpuMs : 0;
        const t = performance.now();
        const r = await gate.check(req);
        const dt = performance.now() - t;
        if (!r.ok) throw new Error(`bench check refused: ${JSON.stringify(r)}`);
        if (i >= WARMUP) wall[side].push(dt);
        if (i === WARMUP) cpu[side] -= before;
      }
      cpu[side] += (await gate.stats()).cpuMs;
    }
  }
  const perCheck = (side) => cpu[side] / (ROUNDS * RUNS);
  return {
    without: median(wall.without),
    with: median(wall.with),
    cpuWithout: perCheck('without'),
    cpuWith: perCheck('with'),
  };
}

export async function benchTypegateTransition() {
  const { createTypeGate } = await import(moduleUrl);
  const modules = { fmt: fmt(0) };
  for (let i = 0; i < IMPORTERS; i++) modules[`room${i}`] = room(i, 2);
  const p = makeProject(modules, 'typegate-transition-');
  const gate = createTypeGate({ root: p.root, srcDirs: [p.src] });
  const src = (module, text) => ({ module, file: `${p.src}/${module}.ts`, text });
  const loaded = Object.keys(modules)
    .filter((m) => m !== 'fmt')
    .map((m) => src(m, modules[m]));
  const transitions = Array.from({ length: IMPORTERS }, (_, i) => ({
    id: `room${i}@1`,
    label: `version 1, used by <0.${90 + i}.0>`,
    ...src(`room${i}`, room(i, 1)),
  }));
  try {
    await gate.warm();
    const change = (n) => ({ changed: [src('fmt', fmt(n))], loaded });
    const t = await timeBlocks(gate, change, (n) => ({
      ...change(n),
      transitions,
      previous: [src('fmt', fmt(n - 1))],
    }));
    const stats = await gate.stats();
    if (stats.transitionsChecked < IMPORTERS * ROUNDS * RUNS)
      throw new Error(`only ${stats.transitionsChecked} transition sources were checked`);
    const r = (x) => Math.round(x * 100) / 100;
    return [
      {
        id: 'typegate.transition_ms',
        value: t.with - t.without,
        unit: 'ms',
        detail: {
          withoutMs: r(t.without),
          with10Ms: r(t.with),
          checkerCpuMsWithout: r(t.cpuWithout),
          checkerCpuMsWith10: r(t.cpuWith),
        },
      },
    ];
  } finally {
    await gate.close();
    p.remove();
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  for (const r of await benchTypegateTransition()) {
    console.log(`${r.id}\t${r.value.toFixed(2)} ${r.unit} ${JSON.stringify(r.detail)}`);
  }
}
