/**
 * A named node over a control connection (S10.1 with S9): `hotcode observer
 * NAME`. The node collects its own snapshots (src/observe/commands.ts); this
 * side asks, and relays what the node pushes.
 *
 * A node that goes away (restarted by systemd, say) is reconnected every
 * {@link RETRY_MS}: the page says the node is down meanwhile, and carries on
 * with the new node's snapshots once it answers again.
 */
import {
  type ConnectOptions,
  type ConnectTarget,
  connect,
  type RemoteNode,
} from '../control/client.js';
import type {
  Action,
  ActionResult,
  Inspection,
  Snapshot,
  SnapshotOptions,
} from '../observe/types.js';
import type { ObserverSource } from './source.js';

const RETRY_MS = 2000;

interface Sub {
  id: number;
  onSnapshot: (s: Snapshot) => void;
  onError: (e: Error) => void;
  /** As the subscription was made, with the inspections asked for since. */
  options: SnapshotOptions;
}

/** Connects to the node (errors as `connect`'s: `nodedown`, `auth`, `control_insecure`). */
export async function remoteSource(
  target: ConnectTarget,
  options: ConnectOptions = {},
): Promise<ObserverSource> {
  let node: RemoteNode = await connect(target, options);
  const name = node.info.name;
  const subs = new Map<number, Sub>();
  let nextSub = 1;
  let closing = false;
  let resolveClosed!: () => void;
  const closed = new Promise<void>((r) => {
    resolveClosed = r;
  });

  const asError = (e: unknown) => (e instanceof Error ? e : new Error(String(e)));

  function start(sub: Sub, on: RemoteNode): void {
    on.request('observer.subscribe', { ...sub.options, sub: sub.id }).catch((e: unknown) => {
      if (subs.has(sub.id) && on === node) sub.onError(asError(e));
    });
  }

  function attach(on: RemoteNode): void {
    on.onEvent((e) => {
      if (e.event !== 'observer.snapshot' || typeof e.sub !== 'number') return;
      subs.get(e.sub)?.onSnapshot(e.snapshot as Snapshot);
    });
    void on.closed.then(() => {
      if (closing || on !== node) return;
      for (const s of subs.values())
        s.onError(
          new Error(
            `the connection to node ${name} ended; reconnecting every ${RETRY_MS / 1000} s`,
          ),
        );
      void reconnect();
    });
  }

  async function reconnect(): Promise<void> {
    while (!closing) {
      await new Promise((r) => setTimeout(r, RETRY_MS));
      if (closing) return;
      try {
        const fresh = await connect(target, options);
        if (closing) {
          await fresh.close();
          return;
        }
        node = fresh;
        attach(fresh);
        for (const s of subs.values()) start(s, fresh);
        return;
      } catch {
        // still down: try again
      }
    }
  }

  attach(node);
  return {
    name,
    snapshot: (o: SnapshotOptions = {}) =>
      node.request('observer.snapshot', { ...o }) as Promise<Snapshot>,
    subscribe(onSnapshot, onError, o: SnapshotOptions = {}) {
      const sub: Sub = { id: nextSub++, onSnapshot, onError, options: { ...o } };
      subs.set(sub.id, sub);
      start(sub, node);
      return {
        inspect(list: readonly Inspection[]) {
          sub.options = { ...sub.options, inspect: [...list] };
          node.request('observer.inspect', { sub: sub.id, inspect: [...list] }).catch(() => {});
        },
        close() {
          subs.delete(sub.id);
          node.request('observer.unsubscribe', { sub: sub.id }).catch(() => {});
        },
      };
    },
    act: (action: Action) => node.request('observer.act', { action }) as Promise<ActionResult>,
    closed,
    async close() {
      closing = true;
      subs.clear();
      await node.close();
      resolveClosed();
    },
  };
}
