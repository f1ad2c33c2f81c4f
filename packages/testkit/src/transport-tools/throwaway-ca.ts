import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** PEM material for one node: its certificate (for 127.0.0.1 and localhost) and key. */
export interface NodeCredentials {
  readonly cert: string;
  readonly key: string;
}

export interface ThrowawayCa {
  readonly ca: string;
  /**
   * Issues a certificate valid as both TLS server and client, for 127.0.0.1 and localhost,
   * with subject CN `name` and any further subject alternative names (`DNS:n1`,
   * `URI:kontiki:n1`): the names a peer may claim under mutual TLS.
   */
  issue(name: string, options?: { readonly altNames?: readonly string[] }): NodeCredentials;
  /** Deletes the files (the PEM strings stay usable). */
  dispose(): void;
}

/**
 * A certificate authority made for one test run with the machine's `openssl` (node:crypto
 * cannot sign X.509 certificates), living in a temporary directory.
 */
export function throwawayCa(name = 'kontiki-test-ca'): ThrowawayCa {
  const dir = mkdtempSync(join(tmpdir(), 'kontiki-ca-'));
  const path = (file: string) => join(dir, file);
  const openssl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'pipe' });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  openssl(
    'req',
    '-x509',
    ...ec,
    '-keyout',
    path('ca.key'),
    '-out',
    path('ca.crt'),
    '-days',
    '2',
    '-subj',
    `/CN=${name}`,
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  );
  const extensions = (altNames: readonly string[]) =>
    [
      `subjectAltName=${['IP:127.0.0.1', 'DNS:localhost', ...altNames].join(',')}`,
      'basicConstraints=CA:FALSE',
      'keyUsage=critical,digitalSignature,keyAgreement',
      'extendedKeyUsage=serverAuth,clientAuth',
    ].join('\n');
  return {
    ca: readFileSync(path('ca.crt'), 'utf8'),
    issue(node, options = {}) {
      writeFileSync(path(`${node}.ext`), extensions(options.altNames ?? []));
      openssl(
        'req',
        ...ec,
        '-keyout',
        path(`${node}.key`),
        '-out',
        path(`${node}.csr`),
        '-subj',
        `/CN=${node}`,
      );
      openssl(
        'x509',
        '-req',
        '-in',
        path(`${node}.csr`),
        '-CA',
        path('ca.crt'),
        '-CAkey',
        path('ca.key'),
        '-CAcreateserial',
        '-out',
        path(`${node}.crt`),
        '-days',
        '2',
        '-extfile',
        path(`${node}.ext`),
      );
      return {
        cert: readFileSync(path(`${node}.crt`), 'utf8'),
        key: readFileSync(path(`${node}.key`), 'utf8'),
      };
    },
    dispose() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
