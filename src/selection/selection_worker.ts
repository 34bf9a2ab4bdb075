// Entry of the selection worker when it runs on a thread of its own (worker_threads Worker):
// serves the MessagePort it was given in workerData until stopped (selection_service.ts).

import { workerData, type MessagePort } from 'node:worker_threads';
import { hostSelectionService } from './selection_service.js';

void hostSelectionService((workerData as { port: MessagePort }).port);
