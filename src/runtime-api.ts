/**
 * What the runtime's own hot modules (`stdlib/`) see as `hotcode`: the
 * public API and the runtime's services. Only their type check uses this
 * file (tsconfig.stdlib.json maps `hotcode` here); at run time the node
 * hands its own modules an API object that carries `services` (node.ts).
 * Users' modules are checked against the public `index.ts` alone.
 */
export * from './index.js';
export type { RuntimeServices, VersionsTransaction } from './services.js';

import type { RuntimeServices } from './services.js';

export declare const services: RuntimeServices;
