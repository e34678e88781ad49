/**
 * The observer's control commands (S10 over S9), answered by a named node:
 *
 * - `observer.snapshot { since?, processLimit? }` → a {@link Snapshot}.
 * - `observer.subscribe { sub, since?, processLimit? }` → `{ sub }`; then a
 *   snapshot every second as the event `{ event: 'observer.snapshot', sub,
 *   snapshot }` on this connection (the first complete, later ones with the
 *   new samples and, when it changed, the history), until
 *   `observer.unsubscribe { sub }` or the connection ends. One command, so one
 *   line in the node's control log, however long the page stays open. `sub`
 *   is the client's number for it (events can then never arrive before the
 *   client knows their number).
 * - `observer.inspect { sub, inspect: [{ pid, mailbox? }] }` → whether the
 *   subscription exists: its snapshots describe those processes in
 *   `details` (the rows open on the pages), starting with one sent now.
 * - `observer.act { action }` → an {@link ActionResult}. Whether destructive
 *   actions are allowed is the observer's decision (S10.3): a client that
 *   holds the node's secret may already do anything (`eval`).
 *
 * The observer's code is loaded on the first of these commands: a node that
 * is never observed never loads it.
 */

import type { Subscription } from './index.js';
import type { Action, ActionResult, Inspection, Snapshot, SnapshotOptions } from './types.js';

/** What the observer's commands need of a control connection (control/commands.ts CommandContext). */
export interface ObserverContext {
  info: { name: string };
  channel: { send(value: object): boolean; socket: { writableLength: number } };
  cleanups: (() => void)[];
}

type Args = Record<string, unknown>;

/** A connection that has this much unsent skips a snapshot (it is sent the next one, complete in what it missed). */
const BACKLOG_BYTES = 4 * 1024 * 1024;
/** Subscriptions per connection at most. */
const MAX_SUBSCRIPTIONS = 16;

const subscriptionsOf = new WeakMap<ObserverContext, Map<number, Subscription>>();

function badarg(message: string): Error {
  return Object.assign(new Error(message), { code: 'badarg' });
}

function snapshotOptions(args: Args, what: string): SnapshotOptions {
  const o: SnapshotOptions = {};
  if (args.since !== undefined) {
    if (typeof args.since !== 'number' || !(args.since >= 0))
      throw badarg(`${what}: since must be a non-negative number`);
    o.since = args.since;
  }
  if (args.inspect !== undefined) o.inspect = inspections(args.inspect, what);
  if (args.processLimit !== undefined) {
    if (!Number.isInteger(args.processLimit) || (args.processLimit as number) < 1)
      throw badarg(`${what}: processLimit must be a positive integer`);
    o.processLimit = args.processLimit as number;
  }
  return o;
}

function inspections(x: unknown, what: string): Inspection[] {
  if (!Array.isArray(x)) throw badarg(`${what}: inspect must be a list of { pid, mailbox? }`);
  return x.map((i) => {
    const pid = (i as { pid?: unknown } | null)?.pid;
    if (typeof pid !== 'string') throw badarg(`${what}: each inspection names a pid (printed)`);
    return { pid, mailbox: (i as { mailbox?: unknown }).mailbox === true };
  });
}

function subId(args: Args, what: string): number {
  const sub = args.sub;
  if (!Number.isInteger(sub))
    throw badarg(`${what}: sub must be an integer (the client's number for it)`);
  return sub as number;
}

export const OBSERVER_COMMANDS: Record<string, (args: Args, ctx: ObserverContext) => unknown> = {
  async 'observer.snapshot'(args, ctx): Promise<Snapshot> {
    const { collectSnapshot } = await import('./index.js');
    return collectSnapshot(ctx.info.name, snapshotOptions(args, 'observer.snapshot'));
  },

  async 'observer.subscribe'(args, ctx): Promise<{ sub: number }> {
    const id = subId(args, 'observer.subscribe');
    const options = snapshotOptions(args, 'observer.subscribe');
    let subs = subscriptionsOf.get(ctx);
    if (subs === undefined) {
      const all = new Map<number, Subscription>();
      subs = all;
      subscriptionsOf.set(ctx, all);
      ctx.cleanups.push(() => {
        for (const s of all.values()) s.close();
        all.clear();
      });
    }
    if (subs.has(id))
      throw badarg(`observer.subscribe: subscription ${id} exists on this connection`);
    if (subs.size >= MAX_SUBSCRIPTIONS)
      throw badarg(`observer.subscribe: at most ${MAX_SUBSCRIPTIONS} subscriptions per connection`);
    const { subscribe } = await import('./index.js');
    const sub = subscribe(ctx.info.name, options, (snapshot) => {
      if (ctx.channel.socket.writableLength > BACKLOG_BYTES) return false;
      return ctx.channel.send({ event: 'observer.snapshot', sub: id, snapshot });
    });
    subs.set(id, sub);
    return { sub: id };
  },

  'observer.inspect'(args, ctx): boolean {
    const id = subId(args, 'observer.inspect');
    const sub = subscriptionsOf.get(ctx)?.get(id);
    if (sub === undefined) return false;
    sub.inspect(inspections(args.inspect, 'observer.inspect'));
    return true;
  },

  'observer.unsubscribe'(args, ctx): boolean {
    const id = subId(args, 'observer.unsubscribe');
    const subs = subscriptionsOf.get(ctx);
    const sub = subs?.get(id);
    if (sub === undefined) return false;
    sub.close();
    subs!.delete(id);
    return true;
  },

  async 'observer.act'(args): Promise<ActionResult> {
    const action = args.action;
    if (action === null || typeof action !== 'object' || Array.isArray(action))
      throw badarg('observer.act: action must be an object with a type');
    const { act } = await import('./index.js');
    return act(action as Action);
  },
};
