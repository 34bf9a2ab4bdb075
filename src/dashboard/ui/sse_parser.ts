// Server-Sent Events framing (the text/event-stream format of the HTML standard), for a stream read
// with fetch() in pieces that may split a line anywhere: `event:` names the event, `data:` lines
// join with newlines, a blank line dispatches, `:` lines are comments (the server's pings). The
// page cannot use EventSource because it must send an Authorization header. Pure; tested under Node.

export interface SseEvent {
  /** The `event:` field; "message" when none was given. */
  event: string;
  data: string;
}

export class SseParser {
  #partial = '';
  #skipLeadingLf = false;
  #event = '';
  #data: string[] = [];
  #comments = 0;

  /** Comment lines seen so far (the server's keep-alive pings). */
  get comments(): number {
    return this.#comments;
  }

  /** Feeds decoded text; returns the events it completed, in order. */
  feed(chunk: string): SseEvent[] {
    let text = chunk;
    if (this.#skipLeadingLf && text.startsWith('\n')) text = text.slice(1);
    this.#skipLeadingLf = false;
    text = this.#partial + text;
    const events: SseEvent[] = [];
    let start = 0;
    for (let i = 0; i < text.length; i++) {
      const ch = text[i];
      if (ch !== '\n' && ch !== '\r') continue;
      this.#line(text.slice(start, i), events);
      if (ch === '\r') {
        if (i + 1 === text.length) this.#skipLeadingLf = true;
        else if (text[i + 1] === '\n') i++;
      }
      start = i + 1;
    }
    this.#partial = text.slice(start);
    return events;
  }

  #line(line: string, events: SseEvent[]): void {
    if (line === '') {
      if (this.#data.length > 0) events.push({ event: this.#event === '' ? 'message' : this.#event, data: this.#data.join('\n') });
      this.#event = '';
      this.#data = [];
      return;
    }
    if (line.startsWith(':')) {
      this.#comments++;
      return;
    }
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'event') this.#event = value;
    else if (field === 'data') this.#data.push(value);
    // id and retry are not used: the page reconnects on its own schedule and the server resends history.
  }
}
