// Type-only check (tsconfig.stdlib.json): the runtime modules implement the
// API types that src/index.ts gives their handles. Not a module (its file
// name is not an identifier), so scripts/build.js does not compile it.
import type { GenServerApi, SupervisorApi, SysApi, UpgradeFn } from '../behaviours.js';
import type * as genServer from './genServer';
import type * as release from './release';
import type * as supervisor from './supervisor';
import type * as sys from './sys';

type Implements<Impl extends Api, Api> = Impl;
export type Checks = [
  Implements<typeof genServer, GenServerApi>,
  Implements<typeof sys, SysApi>,
  Implements<typeof supervisor, SupervisorApi>,
  Implements<typeof release.upgrade, UpgradeFn>,
];
