/**
 * Turning values into text for people: diagnostics, errors, reload lines and
 * tables. The shell, watch mode and the `hotcode` command share these, so a
 * compile error or a crash reads the same wherever it shows up (outcomes
 * are rendered to text in one place).
 */
import { relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { inspect, stripVTControlCharacters } from 'node:util';
import type { Diagnostic } from '../index.js';
import { describe } from '../vocabulary.js';

/** Colours, or plain text when the output is not a terminal (or NO_COLOR is set). */
export interface Style {
  readonly color: boolean;
  red(s: string): string;
  yellow(s: string): string;
  green(s: string): string;
  cyan(s: string): string;
  dim(s: string): string;
  bold(s: string): string;
}

export function createStyle(color: boolean): Style {
  const wrap = (open: number, close: number) => (s: string) =>
    color ? `\x1b[${open}m${s}\x1b[${close}m` : s;
  return {
    color,
    red: wrap(31, 39),
    yellow: wrap(33, 39),
    green: wrap(32, 39),
    cyan: wrap(36, 39),
    dim: wrap(2, 22),
    bold: wrap(1, 22),
  };
}

/** Does this stream want colours? A terminal that has them, unless NO_COLOR / FORCE_COLOR say otherwise. */
export function wantsColor(stream: NodeJS.WritableStream): boolean {
  const s = stream as NodeJS.WriteStream;
  if (!s.isTTY) return false;
  return typeof s.hasColors === 'function' ? s.hasColors() : true;
}

export const plain = createStyle(false);

/** A path as a person at `cwd` would type it: relative when inside, absolute otherwise. */
export function displayPath(file: string, cwd = process.cwd()): string {
  let f = file;
  if (f.startsWith('file://')) {
    try {
      f = fileURLToPath(f);
    } catch {
      return file;
    }
  }
  const r = relative(cwd, f);
  return r !== '' && !r.startsWith(`..${sep}`) && r !== '..' && !r.startsWith(sep) ? r : f;
}

/**
 * One diagnostic the way `tsc` prints it: `src/counter.ts:3:5 - error TS2322: message`;
 * a diagnostic of a transition (S6.2) names the old version it concerns and
 * its users: `src/room.ts:30:17 (version 1, used by <0.85.0>) - error TS2554: …`.
 */
export function formatDiagnostic(d: Diagnostic, style: Style = plain): string {
  const transition = (d as Diagnostic & { transition?: unknown }).transition;
  const where =
    `${displayPath(d.file)}:${d.line}:${d.column}` +
    (typeof transition === 'string' && transition !== '' ? ` (${transition})` : '');
  const cat =
    d.category === 'error'
      ? style.red('error')
      : d.category === 'warning'
        ? style.yellow('warning')
        : d.category;
  const code = d.code !== undefined ? ` ${style.dim(`TS${d.code}`)}` : '';
  return `${style.cyan(where)} - ${cat}${code}: ${d.message}`;
}

export function formatDiagnostics(
  ds: readonly Diagnostic[],
  style: Style = plain,
  indent = '',
): string {
  return ds
    .map((d) => indent + formatDiagnostic(d, style).split('\n').join(`\n${indent}`))
    .join('\n');
}

/** Frames a person does not need to see: the runtime, Node's internals, the REPL's own wrapper. */
const DIST_DIR = fileURLToPath(new URL('..', import.meta.url));

function isNoiseFrame(line: string): boolean {
  const t = line.trim();
  if (!t.startsWith('at ')) return false;
  if (t.includes('node:internal') || t.includes('(node:') || / node:[a-z_]+/.test(t)) return true;
  if (t.includes(DIST_DIR) || t.includes(`file://${DIST_DIR}`)) return true;
  if (/\bREPL\d+:\d+:\d+/.test(t)) return true;
  if (t === 'at <anonymous>') return true;
  return false;
}

/**
 * An error as the shell prints it: its name, its `code`, its message, and
 * the stack frames that point into the user's code (already mapped to the
 * `.ts` source by the runtime), with paths relative to the working directory.
 * `undef` and `badarg` are one line: the message says it all.
 */
export function formatError(
  e: unknown,
  style: Style = plain,
  opts: { stack?: boolean } = {},
): string {
  if (!(e instanceof Error) && !isErrorLike(e)) return formatValue(e, style);
  const err = e as Error & { code?: unknown };
  let name: string;
  try {
    name = err.name || 'Error';
  } catch {
    name = 'Error';
  }
  const code =
    typeof err.code === 'string' && err.code !== '' && !name.includes(err.code)
      ? ` [${err.code}]`
      : '';
  const head = `${name}${code}: ${err.message}`;
  const oneLine =
    err.code === 'undef' ||
    err.code === 'badarg' ||
    name === 'SyntaxError' ||
    name === 'ReferenceError';
  if (opts.stack === false || (oneLine && opts.stack !== true)) return style.red(head);
  const stack = typeof err.stack === 'string' ? err.stack : '';
  const lines = stack.split('\n');
  const firstFrame = lines.findIndex((l) => l.trim().startsWith('at '));
  const frames = firstFrame < 0 ? [] : lines.slice(firstFrame);
  const kept = opts.stack === true ? frames : frames.filter((l) => !isNoiseFrame(l));
  const shown = kept.map((l) => `    ${relativizeFrame(l.trim())}`);
  let out = style.red(head);
  if (shown.length) out += `\n${style.dim(shown.join('\n'))}`;
  if (err.cause !== undefined)
    out += `\n  cause: ${formatError(err.cause, style, opts).split('\n').join('\n  ')}`;
  return out;
}

function isErrorLike(e: unknown): boolean {
  return (
    typeof e === 'object' &&
    e !== null &&
    typeof (e as Error).message === 'string' &&
    typeof (e as Error).stack === 'string'
  );
}

function relativizeFrame(line: string): string {
  return line.replace(
    /(\(|at )((?:file:\/\/)?\/[^():]+)(:\d+:\d+)/,
    (_m, pre: string, file: string, pos: string) => {
      return pre + displayPath(file) + pos;
    },
  );
}

/** A value the way the REPL shows it. */
export function formatValue(v: unknown, style: Style = plain): string {
  return inspect(v, { colors: style.color, depth: 4, breakLength: 80 });
}

/**
 * An exit reason (`'normal'`, `'killed'`, an Error, any value) in one line.
 * Never throws: anything but an error is the runtime's safe description
 * (vocabulary.ts), and so is an error that cannot be printed.
 */
export function formatReason(reason: unknown): string {
  if (typeof reason === 'string') return reason;
  try {
    if (reason instanceof Error || isErrorLike(reason))
      return formatError(reason, plain, { stack: false });
  } catch {
    // an error whose stack, name or message throws when read
  }
  return describe(reason);
}

// ---- tables -----------------------------------------------------------------------------

export interface Column {
  title: string;
  /** Minimum width; the last column takes what is left of the terminal width. */
  width?: number;
  align?: 'left' | 'right';
}

function visibleLength(s: string): number {
  return stripVTControlCharacters(s).length;
}

function fit(s: string, width: number, align: 'left' | 'right' = 'left'): string {
  const len = visibleLength(s);
  if (len > width) {
    const raw = stripVTControlCharacters(s);
    return width <= 1 ? raw.slice(0, width) : `${raw.slice(0, width - 1)}…`;
  }
  const pad = ' '.repeat(width - len);
  return align === 'right' ? pad + s : s + pad;
}

/**
 * A table that fits `totalWidth` columns (80 by default): columns get the
 * width of their widest cell, capped so that the row fits; longer cells are
 * cut with `…`.
 */
export function table(
  columns: Column[],
  rows: string[][],
  style: Style = plain,
  totalWidth = 80,
): string {
  const gap = 2;
  const widths = columns.map((c, i) =>
    Math.max(c.title.length, c.width ?? 0, ...rows.map((r) => visibleLength(r[i] ?? ''))),
  );
  const total = () => widths.reduce((a, b) => a + b, 0) + gap * (widths.length - 1);
  // Shrink the widest columns first until the row fits.
  while (total() > totalWidth) {
    let widest = 0;
    for (let i = 1; i < widths.length; i++) if (widths[i]! > widths[widest]!) widest = i;
    const floor = Math.max(columns[widest]!.title.length, 4);
    if (widths[widest]! <= floor) break;
    widths[widest]!--;
  }
  const line = (cells: string[]) =>
    cells
      .map((c, i) =>
        i === cells.length - 1 && columns[i]!.align !== 'right'
          ? fitLast(c, widths[i]!)
          : fit(c, widths[i]!, columns[i]!.align),
      )
      .join(' '.repeat(gap))
      .trimEnd();
  const header = style.bold(line(columns.map((c) => c.title)));
  return [header, ...rows.map((r) => line(columns.map((_, i) => r[i] ?? '')))].join('\n');
}

function fitLast(s: string, width: number): string {
  return visibleLength(s) > width ? fit(s, width) : s;
}

// ---- watch mode -------------------------------------------------------------------------

/** One watch-mode report: `counter: v3 loaded (killed 0, 12 ms)`, or why nothing changed. */
export function formatWatchReport(
  r: import('../watch/index.js').WatchReport,
  style: Style = plain,
): string {
  if (r.type === 'loaded') {
    const killed = r.killed > 0 ? style.yellow(`killed ${r.killed}`) : `killed ${r.killed}`;
    return `${style.green(`${r.module}: ${r.version} loaded`)} (${killed}, ${r.ms} ms)`;
  }
  if (r.type === 'restored')
    return style.green(`${r.module}: back to the running version (${r.version}); nothing to load`);
  const who = r.modules.join(', ');
  if (r.type === 'compile_failed') {
    const errors = r.diagnostics.filter((d) => d.category === 'error').length;
    const head = style.red(
      `${who}: not loaded, ${errors} error${errors === 1 ? '' : 's'}; the running code is unchanged`,
    );
    let text = `${head}\n${formatDiagnostics(r.diagnostics, style, '  ')}`;
    if (r.oldUsers?.length) {
      const users = r.oldUsers.map((u) => `${u.pids.join(', ')} in ${u.module}`).join('; ');
      text += `\n  ${style.yellow(`hint: processes still run old code this change would break (${users}); --old-code kill (c(…, { oldCode: 'kill' }) in the shell) loads it anyway and kills them`)}`;
    }
    return text;
  }
  const why = r.reason !== undefined ? ` (${formatReason(r.reason)})` : '';
  return style.red(`${who}: not loaded: ${r.error}${why}; the running code is unchanged`);
}
