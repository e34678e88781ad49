/**
 * Where the observer's page gets its node from (S10.1): the node in hand
 * (`hotcode shell --observer`, `hotcode run --observer`: same OS process)
 * or a named node over a control connection (`hotcode observer NAME`,
 * remote.ts). Either way the node collects its own snapshot (src/observe/);
 * a source only carries snapshots and actions.
 */
import type {
  Action,
  ActionResult,
  Inspection,
  Snapshot,
  SnapshotOptions,
} from '../observe/types.js';

/** A stream of snapshots from a source. */
export interface SourceSubscription {
  /** The processes whose details the snapshots carry (the rows open on the pages). */
  inspect(list: readonly Inspection[]): void;
  close(): void;
}

export interface ObserverSource {
  /** The node's name, as the page's title shows it. */
  readonly name: string;
  /** The node described now, complete. */
  snapshot(options?: SnapshotOptions): Promise<Snapshot>;
  /**
   * A snapshot now and then every second or so, the first complete, later
   * ones with only what is new of the samples and the history; `onError`
   * when the node cannot be reached any more. Returns the unsubscribe.
   */
  subscribe(
    onSnapshot: (s: Snapshot) => void,
    onError: (e: Error) => void,
    options?: SnapshotOptions,
  ): SourceSubscription;
  /** Carries out an action on the node (the caller has checked that it is allowed, S10.3). */
  act(action: Action): Promise<ActionResult>;
  /** Resolves when the node is gone (a remote node's connection ended). */
  readonly closed: Promise<void>;
  close(): Promise<void>;
}

/**
 * The node of this OS process. The snapshot code is imported when the
 * source is made, so a program that never observes never loads it.
 */
export async function localSource(name: string): Promise<ObserverSource> {
  const observe = await import('../observe/index.js');
  let closeSource!: () => void;
  const closed = new Promise<void>((r) => {
    closeSource = r;
  });
  const subs = new Set<{ close(): void }>();
  return {
    name,
    snapshot: (options) => observe.collectSnapshot(name, options),
    subscribe(onSnapshot, onError, options = {}) {
      const sub = observe.subscribe(
        name,
        options,
        (s) => {
          onSnapshot(s);
          return true;
        },
        (e) => onError(e instanceof Error ? e : new Error(String(e))),
      );
      subs.add(sub);
      return {
        inspect: (list) => sub.inspect(list),
        close() {
          sub.close();
          subs.delete(sub);
        },
      };
    },
    act: async (action) => observe.act(action),
    closed,
    async close() {
      for (const s of subs) s.close();
      subs.clear();
      closeSource();
    },
  };
}
