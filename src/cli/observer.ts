/**
 * The observer's commands (S10.1):
 *
 *   hotcode observer NAME [--port 4848] [--host H --allow-remote] [--allow-destructive]
 *       a control client of a named node (S9) that serves the page here
 *   hotcode shell --observer …, hotcode run --observer …
 *       the same page for the node in hand (this OS process)
 *
 * The page's URL is printed with a one-time token; in `hotcode observer`,
 * pressing Enter prints a fresh one (for another browser).
 */
import { createInterface } from 'node:readline';
import { type ObserverServer, serveObserver } from '../observer/server.js';
import type { ObserverSource } from '../observer/source.js';

/** The observer's flags, checked. */
export interface ObserverFlags {
  port: number;
  host: string | undefined;
  allowRemote: boolean;
  allowDestructive: boolean;
}

export class ObserverUsageError extends Error {}

/** Reads `--port`, `--host`, `--allow-remote`, `--allow-destructive` (parseArgs values). */
export function observerFlags(values: Record<string, unknown>): ObserverFlags {
  const port = values.port === undefined ? 4848 : Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new ObserverUsageError(`--port takes a port number (got '${String(values.port)}')`);
  const host = values.host as string | undefined;
  return {
    port,
    host,
    allowRemote: values['allow-remote'] === true,
    allowDestructive: values['allow-destructive'] === true,
  };
}

/** Serves the page for `source` and prints how to open it. */
export async function serve(
  source: ObserverSource,
  flags: ObserverFlags,
  print: (line: string) => void,
): Promise<ObserverServer> {
  const server = await serveObserver(source, {
    port: flags.port,
    allowRemote: flags.allowRemote,
    allowDestructive: flags.allowDestructive,
    ...(flags.host !== undefined ? { host: flags.host } : {}),
  });
  print(`observer of ${source.name}: ${server.url}`);
  if (!flags.allowDestructive) print('(purge and kill are off; --allow-destructive turns them on)');
  if (flags.allowRemote)
    print(
      'warning: the page is served over plain HTTP to the network: use it only where the network is trusted, or through an SSH tunnel',
    );
  return server;
}

/** `hotcode shell --observer`, `hotcode run --observer`: the node of this OS process. */
export async function observeHere(
  name: string,
  flags: ObserverFlags,
  print: (line: string) => void,
): Promise<ObserverServer> {
  const { localSource } = await import('../observer/source.js');
  return serve(await localSource(name), flags, print);
}

/**
 * Keeps printing fresh one-time links when Enter is pressed on a terminal
 * (the first link opens one session only). Returns the stop function.
 */
export function linksOnEnter(server: ObserverServer, print: (line: string) => void): () => void {
  if (!process.stdin.isTTY) return () => {};
  print('press Enter for another link (each opens one browser session); Ctrl+C quits');
  const rl = createInterface({ input: process.stdin });
  rl.on('line', () => print(server.newLink()));
  return () => rl.close();
}

/**
 * `hotcode observer NAME` (or `--socket PATH`): connects to the node as a
 * control client and serves its page until Ctrl+C. (`--host`/`--port` are
 * the page's here, not the node's.)
 */
export async function observerCommand(
  positionals: string[],
  values: Record<string, unknown>,
): Promise<never> {
  const socket = values.socket as string | undefined;
  if (positionals.length > (socket === undefined ? 1 : 0))
    throw new ObserverUsageError(
      `observer takes one node: hotcode observer NAME (or --socket PATH), got ${positionals.join(' ')}`,
    );
  const name = positionals[0];
  if (socket === undefined && name === undefined)
    throw new ObserverUsageError(
      'observer needs a node: hotcode observer NAME [--port 4848] [--allow-destructive] (or --socket PATH in place of NAME)',
    );
  const flags = observerFlags(values);
  const secretFile = values['secret-file'] as string | undefined;
  const print = (line: string) => process.stdout.write(`${line}\n`);
  const { remoteSource } = await import('../observer/remote.js');
  let source: ObserverSource;
  try {
    source = await remoteSource(
      socket !== undefined ? { socket } : name!,
      secretFile !== undefined ? { secretFile } : {},
    );
  } catch (e) {
    // As the other remote commands say it: the code and the message, no stack.
    const { code, message } = e as { code?: unknown; message?: unknown };
    process.stderr.write(
      `hotcode: ${typeof code === 'string' ? `${code}: ` : ''}${String(message ?? e)}\n`,
    );
    process.exit(1);
  }
  const server = await serve(source, flags, print);
  const stopLinks = linksOnEnter(server, print);
  await new Promise<void>((resolveStop) => {
    process.once('SIGINT', resolveStop);
    process.once('SIGTERM', resolveStop);
  });
  stopLinks();
  await server.close();
  await source.close();
  process.exit(0);
}
