// Entry of the selection worker when it runs on a thread of its own (started by
// batching/threads.ts like the batching workers): serves the MessagePort it is given until stopped
// (selection_service.ts).

import type { MessagePort } from 'node:worker_threads';
import { hostSelectionService } from './selection_service.js';

export default function hostSelectionThread(init: { port: MessagePort }): Promise<void> {
  return hostSelectionService(init.port);
}
