// Port sharing 'acceptor' (config frontendAccept): the main thread's one uWS app listens on the query
// port and hands each connection it accepts to the frontend threads' apps in turn (uWS
// addChildAppDescriptor: main touches a connection once, never per request). A thread that fails or
// closes is taken out of the turn first (removeChildAppDescriptor): a connection handed to an app
// that is gone takes the whole process down.

import type { TemplatedApp } from 'uWebSockets.js';
import { createApp, type TlsFiles } from '../http/app_factory.js';
import { listenApp, type Listening } from '../http/listen.js';
import type { Member } from './group_member.js';

/** uWS's acceptor calls, missing from its type declarations. */
interface AcceptorApp {
  addChildAppDescriptor(descriptor: unknown): void;
  removeChildAppDescriptor(descriptor: unknown): void;
}

export class Acceptor {
  readonly #app: TemplatedApp;
  readonly #children: Member[];
  #listening: Listening | null = null;
  #closed = false;

  /** Hands connections to `children` (each has reported its app's descriptor); listen() then opens the port. */
  constructor(tls: TlsFiles | null, children: readonly Member[]) {
    this.#app = createApp(tls);
    this.#children = [...children];
    for (const m of this.#children) (this.#app as unknown as AcceptorApp).addChildAppDescriptor(m.descriptor);
  }

  /** Resolves with the port it listens on. */
  async listen(host: string, port: number): Promise<number> {
    this.#listening = await listenApp(this.#app, host, port, 'query frontend');
    return this.#listening.port;
  }

  /** The acceptor stops handing connections to this thread. Returns whether it was handing it any. */
  detach(member: Member): boolean {
    const i = this.#children.indexOf(member);
    if (i < 0) return false;
    this.#children.splice(i, 1);
    (this.#app as unknown as AcceptorApp).removeChildAppDescriptor(member.descriptor);
    return true;
  }

  /** Stops accepting, and hands no thread anything more (before the threads are told to close). */
  stop(): void {
    this.#listening?.stopListening();
    for (const m of [...this.#children]) this.detach(m);
  }

  /** Closes its app once the threads are done (it holds no connection of its own: each went to a thread). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.stop();
    this.#app.close();
  }
}
