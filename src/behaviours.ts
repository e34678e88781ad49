/**
 * Types of the behaviours (SPEC S8). Placeholder until the behaviours land.
 */
import type { Handle } from './types.js';

export type GenServerApi = Handle;
export type SysApi = Handle;
export type SupervisorApi = Handle;
export type UpgradeFn = (opts: { load: string[]; change?: { server: unknown; module: string; extra?: unknown }[] }) => Promise<unknown>;
