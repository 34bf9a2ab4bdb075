// The one place both servers (query frontend, management API) create their uWS app: plain HTTP,
// or HTTPS/WSS through SSLApp when a certificate and key are configured (config tlsCertFile,
// tlsKeyFile). The files are checked at start-up, so a wrong path is an error naming the option
// rather than uWS's bare "App construction failed".

import { accessSync, constants } from 'node:fs';
import { App, SSLApp, type TemplatedApp } from 'uWebSockets.js';
import { ClipperError } from '../errors.js';

/** PEM files of a server's certificate (chain) and private key. */
export interface TlsFiles {
  readonly certFile: string;
  readonly keyFile: string;
}

/** The TLS files a configuration names, or null for plain HTTP (both or neither are set: config.ts checks). */
export function tlsOf(config: { readonly tlsCertFile: string; readonly tlsKeyFile: string }): TlsFiles | null {
  if (config.tlsCertFile === '' || config.tlsKeyFile === '') return null;
  return { certFile: config.tlsCertFile, keyFile: config.tlsKeyFile };
}

function checkReadable(option: string, file: string): void {
  try {
    accessSync(file, constants.R_OK);
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    throw new ClipperError('CLP_ERR_INVALID_ARG', `config.${option} cannot be read: ${file} (${reason})`, { option });
  }
}

/** A uWS app: SSLApp when `tls` is given (its files readable and valid PEM), else App. */
export function createApp(tls: TlsFiles | null): TemplatedApp {
  if (tls === null) return App();
  checkReadable('tlsCertFile', tls.certFile);
  checkReadable('tlsKeyFile', tls.keyFile);
  try {
    return SSLApp({ cert_file_name: tls.certFile, key_file_name: tls.keyFile });
  } catch (err) {
    throw new ClipperError(
      'CLP_ERR_INVALID_ARG',
      `config.tlsCertFile / config.tlsKeyFile: TLS cannot start with ${tls.certFile} and ${tls.keyFile} ` +
        `(not PEM, or the key does not match the certificate): ${(err as Error).message}`,
      { option: 'tlsCertFile' },
    );
  }
}
