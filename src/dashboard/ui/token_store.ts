// The admin token the page sends, kept in sessionStorage: it survives a reload of the tab but not
// the tab itself, and never goes into the page's HTML or URL.

const kKey = 'clipper.adminToken';

export class TokenStore {
  /** The token when sessionStorage is disabled (kept for this page only). */
  #memory: string | null = null;

  get(): string | null {
    try {
      const t = sessionStorage.getItem(kKey);
      return t === null || t === '' ? this.#memory : t;
    } catch {
      return this.#memory;
    }
  }

  set(token: string): void {
    this.#memory = token === '' ? null : token;
    try {
      if (token === '') sessionStorage.removeItem(kKey);
      else sessionStorage.setItem(kKey, token);
    } catch {
      // storage disabled: nothing to keep
    }
  }
}
