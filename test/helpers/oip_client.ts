// An Open Inference Protocol (KServe V2) HTTP client written from the specification alone, to test
// the server's codec from the outside: KServe's required REST API (health, server and model
// metadata, readiness, infer), Triton's binary tensor data extension and its statistics extension.
// It shares no code with the server (nothing from src/): a misreading of the spec on one side shows
// up as a failing test instead of cancelling out.
//
// Binary tensor data, as the extension specifies it: the body is the JSON object, then each binary
// tensor's raw bytes in the order the tensors appear in the JSON; `Inference-Header-Content-Length`
// gives the JSON's length. Elements are little-endian, row-major, unpadded; BOOL is one byte (0/1);
// BYTES is each element as a 4-byte little-endian length then its bytes.

import http from 'node:http';

export type Datatype =
  | 'BOOL'
  | 'UINT8'
  | 'UINT16'
  | 'UINT32'
  | 'UINT64'
  | 'INT8'
  | 'INT16'
  | 'INT32'
  | 'INT64'
  | 'FP16'
  | 'FP32'
  | 'FP64'
  | 'BYTES';

/** Bytes per element of each fixed-size datatype. */
export const kElementBytes: Readonly<Record<Exclude<Datatype, 'BYTES'>, number>> = {
  BOOL: 1,
  UINT8: 1,
  UINT16: 2,
  UINT32: 4,
  UINT64: 8,
  INT8: 1,
  INT16: 2,
  INT32: 4,
  INT64: 8,
  FP16: 2,
  FP32: 4,
  FP64: 8,
};

/** A tensor element as this client writes and reads it. */
export type Element = number | bigint | boolean | string | Uint8Array;

export interface RequestInput {
  name: string;
  shape: number[];
  datatype: Datatype;
  parameters?: Record<string, unknown>;
  /** Row-major, flat or nested (JSON); flat for binary. */
  data: unknown[];
}

export interface RequestOutput {
  name: string;
  parameters?: Record<string, unknown>;
}

export interface InferRequest {
  id?: string;
  parameters?: Record<string, unknown>;
  inputs: RequestInput[];
  outputs?: RequestOutput[];
}

export interface ResponseOutput {
  name: string;
  shape: number[];
  datatype: Datatype;
  parameters?: Record<string, unknown>;
  /** From JSON as sent (flat or nested), or decoded from binary (flat). */
  data: unknown[];
}

export interface InferResponse {
  model_name: string;
  model_version?: string;
  id?: string;
  parameters?: Record<string, unknown>;
  outputs: ResponseOutput[];
}

export interface HttpResult {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/** A parsed answer: the JSON body (or the header part of a binary body) with binary outputs decoded. */
export interface OipResult<T> {
  status: number;
  headers: http.IncomingHttpHeaders;
  // biome-ignore lint/suspicious/noExplicitAny: the server's JSON, indexed freely by tests
  json: T & Record<string, any>;
  /** The error text of a 4xx/5xx answer ({"error": "..."}), else undefined. */
  error: string | undefined;
}

// ---------------------------------------------------------------------------------------------------
// Element encoding

/** IEEE 754 binary16 bits of a number (round to nearest even). */
export function toHalfBits(value: number): number {
  const f32 = new Float32Array([value]);
  const bits = new Uint32Array(f32.buffer)[0]!;
  const sign = (bits >>> 16) & 0x8000;
  const exp = (bits >>> 23) & 0xff;
  let mant = bits & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant !== 0 ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let half = mant >>> shift;
    const rest = mant & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    if (rest > halfway || (rest === halfway && (half & 1) === 1)) half++;
    return sign | half;
  }
  let half = (e << 10) | (mant >>> 13);
  const rest = mant & 0x1fff;
  // A carry out of the mantissa moves into the exponent, as rounding should (up to infinity).
  if (rest > 0x1000 || (rest === 0x1000 && (half & 1) === 1)) half++;
  return sign | half;
}

export function fromHalfBits(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant === 0 ? sign * Infinity : NaN;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

function utf8(element: unknown): Buffer {
  if (typeof element === 'string') return Buffer.from(element, 'utf8');
  if (element instanceof Uint8Array) return Buffer.from(element.buffer, element.byteOffset, element.byteLength);
  throw new TypeError(`a BYTES element must be a string or bytes (got ${typeof element})`);
}

function writeElement(out: Buffer, offset: number, datatype: Exclude<Datatype, 'BYTES'>, v: unknown): void {
  const n = typeof v === 'boolean' ? Number(v) : v;
  switch (datatype) {
    case 'BOOL':
      return void out.writeUInt8(n ? 1 : 0, offset);
    case 'UINT8':
      return void out.writeUInt8(Number(n), offset);
    case 'UINT16':
      return void out.writeUInt16LE(Number(n), offset);
    case 'UINT32':
      return void out.writeUInt32LE(Number(n), offset);
    case 'UINT64':
      return void out.writeBigUInt64LE(BigInt(n as number | bigint), offset);
    case 'INT8':
      return void out.writeInt8(Number(n), offset);
    case 'INT16':
      return void out.writeInt16LE(Number(n), offset);
    case 'INT32':
      return void out.writeInt32LE(Number(n), offset);
    case 'INT64':
      return void out.writeBigInt64LE(BigInt(n as number | bigint), offset);
    case 'FP16':
      return void out.writeUInt16LE(toHalfBits(Number(n)), offset);
    case 'FP32':
      return void out.writeFloatLE(Number(n), offset);
    case 'FP64':
      return void out.writeDoubleLE(Number(n), offset);
  }
}

/** A flat list of elements as the extension's raw bytes. */
export function encodeTensor(datatype: Datatype, elements: readonly unknown[]): Buffer {
  if (datatype === 'BYTES') {
    const parts: Buffer[] = [];
    for (const e of elements) {
      const bytes = utf8(e);
      const length = Buffer.alloc(4);
      length.writeUInt32LE(bytes.length, 0);
      parts.push(length, bytes);
    }
    return Buffer.concat(parts);
  }
  const size = kElementBytes[datatype];
  const out = Buffer.alloc(elements.length * size);
  elements.forEach((e, i) => {
    writeElement(out, i * size, datatype, e);
  });
  return out;
}

function readElement(b: Buffer, offset: number, datatype: Exclude<Datatype, 'BYTES'>): number | bigint | boolean {
  switch (datatype) {
    case 'BOOL':
      return b.readUInt8(offset) !== 0;
    case 'UINT8':
      return b.readUInt8(offset);
    case 'UINT16':
      return b.readUInt16LE(offset);
    case 'UINT32':
      return b.readUInt32LE(offset);
    case 'UINT64':
      return b.readBigUInt64LE(offset);
    case 'INT8':
      return b.readInt8(offset);
    case 'INT16':
      return b.readInt16LE(offset);
    case 'INT32':
      return b.readInt32LE(offset);
    case 'INT64':
      return b.readBigInt64LE(offset);
    case 'FP16':
      return fromHalfBits(b.readUInt16LE(offset));
    case 'FP32':
      return b.readFloatLE(offset);
    case 'FP64':
      return b.readDoubleLE(offset);
  }
}

/** Raw bytes back to a flat list: numbers (bigint for 64-bit integers), booleans, or Buffers for BYTES. */
export function decodeTensor(datatype: Datatype, raw: Buffer): Element[] {
  const out: Element[] = [];
  if (datatype === 'BYTES') {
    let offset = 0;
    while (offset < raw.length) {
      if (offset + 4 > raw.length) throw new Error(`BYTES tensor: a truncated length at byte ${offset}`);
      const length = raw.readUInt32LE(offset);
      offset += 4;
      if (offset + length > raw.length) throw new Error(`BYTES tensor: element of ${length} bytes overruns the tensor`);
      out.push(raw.subarray(offset, offset + length));
      offset += length;
    }
    return out;
  }
  const size = kElementBytes[datatype];
  if (raw.length % size !== 0) throw new Error(`${datatype} tensor of ${raw.length} bytes is not a whole number of elements`);
  for (let offset = 0; offset < raw.length; offset += size) out.push(readElement(raw, offset, datatype));
  return out;
}

/** Row-major flattening of nested JSON data. */
export function flatten(data: unknown): unknown[] {
  if (!Array.isArray(data)) return [data];
  return data.flatMap((d) => flatten(d));
}

/** The product of a shape's dimensions. */
export function elementCount(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

// ---------------------------------------------------------------------------------------------------
// Bodies

/**
 * An infer body with every input whose `data` is given sent as binary (its `binary_data_size` set,
 * `data` left out of the JSON). `binaryOutputs`: ask for every output as binary (`binary_data_output`).
 */
export function binaryInferBody(request: InferRequest, binaryOutputs: boolean): { body: Buffer; headerLength: number } {
  const tensors: Buffer[] = [];
  const inputs = request.inputs.map((input) => {
    const raw = encodeTensor(input.datatype, flatten(input.data));
    tensors.push(raw);
    const { data: _data, ...rest } = input;
    return { ...rest, parameters: { ...input.parameters, binary_data_size: raw.length } };
  });
  const parameters = binaryOutputs ? { ...request.parameters, binary_data_output: true } : request.parameters;
  const json = Buffer.from(JSON.stringify({ ...request, ...(parameters === undefined ? {} : { parameters }), inputs }), 'utf8');
  return { body: Buffer.concat([json, ...tensors]), headerLength: json.length };
}

/** Splits a response body by Inference-Header-Content-Length and decodes its binary outputs in order. */
export function parseInferBody(headers: http.IncomingHttpHeaders, body: Buffer): unknown {
  const headerLengthText = headers['inference-header-content-length'];
  if (headerLengthText === undefined) return JSON.parse(body.toString('utf8'));
  const headerLength = Number(headerLengthText);
  if (!Number.isInteger(headerLength) || headerLength < 0 || headerLength > body.length) {
    throw new Error(`Inference-Header-Content-Length ${String(headerLengthText)} does not fit a body of ${body.length} bytes`);
  }
  const json = JSON.parse(body.subarray(0, headerLength).toString('utf8')) as InferResponse;
  let offset = headerLength;
  for (const output of json.outputs ?? []) {
    const size = output.parameters?.binary_data_size;
    if (size === undefined) continue;
    if (typeof size !== 'number' || offset + size > body.length)
      throw new Error(`output ${output.name}: binary_data_size ${String(size)} overruns the body`);
    output.data = decodeTensor(output.datatype, body.subarray(offset, offset + size));
    offset += size;
  }
  if (offset !== body.length) throw new Error(`${body.length - offset} bytes after the last binary output`);
  return json;
}

// ---------------------------------------------------------------------------------------------------
// The client

function modelPath(name: string, version: string | undefined): string {
  const base = `/v2/models/${encodeURIComponent(name)}`;
  return version === undefined ? base : `${base}/versions/${encodeURIComponent(version)}`;
}

export class OipClient {
  readonly host: string;
  readonly port: number;
  readonly #agent = new http.Agent({ keepAlive: true, maxSockets: 16 });

  constructor(port: number, host = '127.0.0.1') {
    this.port = port;
    this.host = host;
  }

  close(): void {
    this.#agent.destroy();
  }

  /** One HTTP exchange, the body read whole. */
  request(method: string, path: string, body?: Buffer | string, headers: http.OutgoingHttpHeaders = {}): Promise<HttpResult> {
    return new Promise((resolve, reject) => {
      const payload = body === undefined ? undefined : typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
      const req = http.request(
        {
          host: this.host,
          port: this.port,
          method,
          path,
          agent: this.#agent,
          headers: { ...(payload === undefined ? {} : { 'content-length': payload.length }), ...headers },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end(payload);
    });
  }

  async #json<T>(method: string, path: string, body?: Buffer | string, headers?: http.OutgoingHttpHeaders): Promise<OipResult<T>> {
    const res = await this.request(method, path, body, headers);
    let json: unknown = {};
    if (res.body.length > 0) {
      try {
        json = parseInferBody(res.headers, res.body);
      } catch (err) {
        throw new Error(`${method} ${path} → ${res.status}: unreadable body ${JSON.stringify(res.body.toString('utf8').slice(0, 200))}`, {
          cause: err,
        });
      }
    }
    const error =
      res.status >= 400 && typeof (json as { error?: unknown }).error === 'string' ? (json as { error: string }).error : undefined;
    return { status: res.status, headers: res.headers, json: json as OipResult<T>['json'], error };
  }

  /** GET /v2/health/live: true on 200. */
  async live(): Promise<boolean> {
    return (await this.request('GET', '/v2/health/live')).status === 200;
  }

  /** GET /v2/health/ready: true on 200. */
  async ready(): Promise<boolean> {
    return (await this.request('GET', '/v2/health/ready')).status === 200;
  }

  /** GET /v2/models/{m}[/versions/{v}]/ready: the status code (200 ready, 4xx not). */
  async modelReady(name: string, version?: string): Promise<number> {
    return (await this.request('GET', `${modelPath(name, version)}/ready`)).status;
  }

  serverMetadata(): Promise<OipResult<{ name: string; version: string; extensions: string[] }>> {
    return this.#json('GET', '/v2');
  }

  modelMetadata(
    name: string,
    version?: string,
  ): Promise<OipResult<{ name: string; versions?: string[]; platform: string; inputs: RequestInput[]; outputs: RequestInput[] }>> {
    return this.#json('GET', modelPath(name, version));
  }

  /** GET /v2/models[/{m}[/versions/{v}]]/stats (Triton's statistics extension). */
  // biome-ignore lint/suspicious/noExplicitAny: the statistics JSON, indexed freely by tests
  stats(name?: string, version?: string): Promise<OipResult<{ model_stats: any[] }>> {
    return this.#json('GET', name === undefined ? '/v2/models/stats' : `${modelPath(name, version)}/stats`);
  }

  /** POST .../infer with a JSON body (data as given: flat or nested). */
  infer(name: string, request: InferRequest, version?: string): Promise<OipResult<InferResponse>> {
    return this.#json('POST', `${modelPath(name, version)}/infer`, JSON.stringify(request), { 'content-type': 'application/json' });
  }

  /**
   * POST .../infer with every input as binary tensor data; `binaryOutputs` asks for every output as
   * binary too (per-output `binary_data` in request.outputs works as well). Binary outputs come back
   * decoded into `data` (flat).
   */
  inferBinary(name: string, request: InferRequest, binaryOutputs: boolean, version?: string): Promise<OipResult<InferResponse>> {
    const { body, headerLength } = binaryInferBody(request, binaryOutputs);
    return this.#json('POST', `${modelPath(name, version)}/infer`, body, {
      'content-type': 'application/octet-stream',
      'inference-header-content-length': headerLength,
    });
  }

  /** POST raw bytes to .../infer (malformed bodies, odd headers). */
  inferRaw(name: string, body: Buffer | string, headers: http.OutgoingHttpHeaders, version?: string): Promise<OipResult<InferResponse>> {
    return this.#json('POST', `${modelPath(name, version)}/infer`, body, headers);
  }
}
