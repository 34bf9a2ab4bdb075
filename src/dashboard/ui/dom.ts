// A small element builder for the page (no framework): h('div', { class: 'x' }, child, 'text').

export interface Props {
  class?: string;
  text?: string;
  /** Attributes, set as they are (data-*, name, type, …). */
  attrs?: Record<string, string>;
}

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  props: Props = {},
  ...children: Array<Node | string>
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  if (props.class !== undefined) el.className = props.class;
  if (props.text !== undefined) el.textContent = props.text;
  for (const [k, v] of Object.entries(props.attrs ?? {})) el.setAttribute(k, v);
  for (const c of children) el.append(c);
  return el;
}

/** A labelled figure of a card: returns the element whose text the card updates. */
export function stat(parent: HTMLElement, label: string, key: string): HTMLElement {
  const value = h('span', { class: 'stat-value', attrs: { 'data-stat': key } });
  parent.append(h('div', { class: 'stat' }, h('span', { class: 'stat-label', text: label }), value));
  return value;
}

/** Sets text only when it changed (a card updates every second; unchanged nodes stay untouched). */
export function setText(el: HTMLElement, text: string): void {
  if (el.textContent !== text) el.textContent = text;
}
