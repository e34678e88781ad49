// The supervisor of the HTTP demo: the handler server first, then the
// listener that depends on it (rest_for_one: if the handler dies, the
// listener is restarted after it).
import type { SupervisorFlags } from 'hotcode';

export function init(port: number): SupervisorFlags {
  return {
    strategy: 'rest_for_one',
    intensity: 5,
    period: 10,
    children: [
      {
        id: 'handler',
        start: ['genServer', 'startLink', ['httpHandler', undefined, { name: 'httpHandler' }]],
      },
      { id: 'listener', start: ['httpListener', 'startLink', [port]], shutdown: 2000 },
    ],
  };
}
