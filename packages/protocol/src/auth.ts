/**
 * Who may talk to a Raft endpoint: the parts of peer authentication that both network
 * transports share. Node only (node:crypto); the browser-loadable main entry does not import it.
 *
 * @packageDocumentation
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { InvalidOptionError, type Logger } from '@kontiki/core';

const digest = (secret: string): Buffer => createHash('sha256').update(secret, 'utf8').digest();

/**
 * Compares a presented secret with the expected one in constant time: both are hashed
 * first, so the comparison takes as long whatever the lengths, and a prefix of the secret
 * is as wrong as any other string.
 */
export function sameSecret(expected: string, given: string): boolean {
  return timingSafeEqual(digest(expected), digest(given));
}

/** The parts of a peer certificate (node:tls `PeerCertificate`) that name its owner. */
export interface CertificateNames {
  readonly subject?: { readonly CN?: string | readonly string[] } | undefined;
  /** As node:tls gives it: `DNS:a, URI:b, IP Address:c`, values with special characters JSON-quoted. */
  readonly subjectaltname?: string | undefined;
}

/** Splits node's subjectaltname string into `[type, value]` pairs, unquoting quoted values. */
function altNames(text: string): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  let i = 0;
  // Bounded by the text's length: each turn consumes at least one character.
  while (i < text.length) {
    const colon = text.indexOf(':', i);
    if (colon < 0) break;
    const type = text.slice(i, colon).trim();
    let j = colon + 1;
    let value: string;
    if (text[j] === '"') {
      // A JSON string: find its unescaped closing quote.
      let k = j + 1;
      while (k < text.length && text[k] !== '"') k += text[k] === '\\' ? 2 : 1;
      try {
        value = JSON.parse(text.slice(j, k + 1)) as string;
      } catch {
        value = '';
      }
      j = k + 1;
    } else {
      const end = text.indexOf(', ', j);
      value = text.slice(j, end < 0 ? text.length : end);
      j = end < 0 ? text.length : end;
    }
    out.push([type, value]);
    i = j;
    if (text.startsWith(', ', i)) i += 2;
  }
  return out;
}

/**
 * The peer ids a certificate may speak for: its URI and DNS subject alternative names and
 * its subject's common name. (IP addresses are not identities: every node on one machine
 * shares 127.0.0.1.)
 */
export function certificateIdentities(cert: CertificateNames): string[] {
  const names = new Set<string>();
  for (const [type, value] of altNames(cert.subjectaltname ?? '')) {
    if ((type === 'URI' || type === 'DNS') && value !== '') names.add(value);
  }
  const cn = cert.subject?.CN;
  for (const name of typeof cn === 'string' ? [cn] : (cn ?? [])) if (name !== '') names.add(name);
  return [...names];
}

/** The host part of "host:port" (brackets of an IPv6 literal removed). */
export function hostOf(address: string): string {
  const colon = address.lastIndexOf(':');
  const host = colon < 0 ? address : address.slice(0, colon);
  return host.replace(/^\[(.*)\]$/, '$1');
}

/** Whether a host name or address stays on this machine: 127.0.0.0/8, ::1, localhost. */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[(.*)\]$/, '$1').toLowerCase();
  if (h === 'localhost' || h.endsWith('.localhost') || h === '::1') return true;
  const v4 = h.startsWith('::ffff:') ? h.slice(7) : h;
  return /^127(\.\d{1,3}){3}$/.test(v4);
}

/** Warning code of an endpoint that does not authenticate its peers (for `process.on('warning')`). */
export const UNAUTHENTICATED_WARNING = 'KONTIKI_UNAUTHENTICATED_ENDPOINT';

export interface ExposureCheck {
  /** Names the transport in messages ("gRPC", "WebSocket"). */
  readonly transport: string;
  /** "host:port" the endpoint listens on. */
  readonly address: string;
  /** The endpoint checks who connects (a token, or client certificates). */
  readonly authenticated: boolean;
  /** The user accepts an unauthenticated endpoint on a non-loopback address. */
  readonly allowInsecure: boolean;
  /** Where the warning goes; default `process.emitWarning`, which Node prints to stderr. */
  readonly logger?: Logger | undefined;
}

/**
 * Before listening: refuses an endpoint that would let anyone on the network act as a peer,
 * i.e. unauthenticated on an address beyond loopback, unless `allowInsecure`. Refusing is
 * the default because such a port lets anyone who reaches it rewrite the log, and a warning
 * in a log is easy to miss; `allowInsecure` makes it a decision (a private network, a
 * sidecar that authenticates). Throws INVALID_OPTION.
 */
export function refuseExposure(check: ExposureCheck): void {
  if (check.authenticated || check.allowInsecure || isLoopbackHost(hostOf(check.address))) return;
  throw new InvalidOptionError(
    'allowInsecure',
    `the ${check.transport} endpoint would listen on ${check.address}, beyond this machine, without authentication: anyone who can reach it could rewrite this node's log. Give a token (or use mutual TLS), or set allowInsecure: true to accept the risk`,
  );
}

/**
 * Once listening: warns when the endpoint does not authenticate its peers. On loopback,
 * other users and processes of the machine (and a web page, through anything that relays
 * for it) can still reach it; beyond loopback (allowed by `allowInsecure`) the warning is
 * louder.
 */
export function warnIfUnauthenticated(check: ExposureCheck): void {
  if (check.authenticated) return;
  const message = isLoopbackHost(hostOf(check.address))
    ? `the ${check.transport} endpoint at ${check.address} does not authenticate its peers (no token, no mutual TLS): anyone who can reach ${check.address} can rewrite this node's log`
    : `INSECURE: the ${check.transport} endpoint at ${check.address} is open beyond this machine without authentication (allowInsecure): anyone on the network who can reach ${check.address} can rewrite this node's log`;
  if (check.logger !== undefined) check.logger.warn(message, { address: check.address });
  else process.emitWarning(message, { code: UNAUTHENTICATED_WARNING });
}
