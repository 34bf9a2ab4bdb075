// The dashboard page's entry (loaded by dashboard.html): connects the snapshot stream to the cards,
// shows the connection state and asks for the admin token when the server wants one. Exposes
// window.__clipperDashboard for the browser tests (test/browser/browser.ts).

import { AdminActions } from './actions.js';
import { SnapshotWindow } from './series.js';
import { StreamClient, type StreamState } from './stream_client.js';
import { TokenStore } from './token_store.js';
import { DashboardView } from './view.js';

interface DashboardProbe {
  /** Snapshots taken in: each `snapshot` event and each snapshot of a `history` event. */
  snapshotsReceived: number;
  /** The stream is open. */
  connected: boolean;
  /** Why the stream is not live, or null while it is. */
  lastError: string | null;
}

declare global {
  interface Window {
    __clipperDashboard: DashboardProbe;
  }
}

const probe: DashboardProbe = { snapshotsReceived: 0, connected: false, lastError: null };
window.__clipperDashboard = probe;

function byId<T extends HTMLElement>(id: string): T {
  const el = document.getElementById(id);
  if (el === null) throw new Error(`dashboard.html lacks the element #${id}`);
  return el as T;
}

const kStateText: Record<StreamState, string> = {
  connecting: 'connecting…',
  live: 'live',
  reconnecting: 'reconnecting…',
  unauthorized: 'admin token needed',
};

function main(): void {
  const conn = byId('conn');
  const updated = byId('updated');
  const notice = byId('notice');
  const tokenForm = byId<HTMLFormElement>('token-form');
  const tokenInput = byId<HTMLInputElement>('token-input');
  const tokenMessage = byId('token-message');
  byId('server').textContent = location.host;

  const tokens = new TokenStore();
  const askForToken = (message: string): void => {
    tokenForm.hidden = false;
    tokenMessage.textContent = message;
  };
  const view = new DashboardView(byId('apps'), byId('models'), new AdminActions(() => tokens.get(), askForToken));
  const win = new SnapshotWindow();
  const client = new StreamClient('/dashboard/stream', () => tokens.get(), {
    onHistory(history) {
      win.replace(history.snapshots);
      probe.snapshotsReceived += history.snapshots.length;
      view.render(win);
    },
    onSnapshot(snapshot) {
      if (!win.add(snapshot)) return;
      probe.snapshotsReceived++;
      updated.textContent = `updated ${new Date(snapshot.t).toLocaleTimeString()}`;
      view.render(win);
    },
    onState(state, detail) {
      probe.connected = state === 'live';
      if (state === 'live') probe.lastError = null;
      else if (detail !== null) probe.lastError = detail;
      conn.dataset.state = state;
      conn.textContent = kStateText[state];
      notice.hidden = probe.lastError === null;
      notice.textContent = probe.lastError ?? '';
      if (state === 'unauthorized') askForToken(detail ?? 'the server wants the admin token');
      if (state === 'live') tokenForm.hidden = true;
    },
  });
  tokenForm.addEventListener('submit', (ev) => {
    ev.preventDefault();
    tokens.set(tokenInput.value.trim());
    tokenInput.value = '';
    tokenMessage.textContent = 'connecting…';
    client.reconnectNow();
  });
  let resizeQueued = false;
  window.addEventListener('resize', () => {
    if (resizeQueued) return;
    resizeQueued = true;
    requestAnimationFrame(() => {
      resizeQueued = false;
      view.resize();
    });
  });
  client.start();
}

main();
