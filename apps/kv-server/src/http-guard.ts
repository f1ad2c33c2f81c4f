import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type RequestListener, type Server } from 'node:http';
import { isIP } from 'node:net';
import { networkInterfaces } from 'node:os';
import { HttpError } from './http-io.js';

/** Bounds on slow clients: a connection that sends half a request is closed (slowloris). */
export interface HttpTimeouts {
  /** Time to send the whole request head. */
  readonly headersMs: number;
  /** Time to send the whole request (head and body). */
  readonly requestMs: number;
  /** Time a keep-alive connection may stay idle between requests. */
  readonly idleMs: number;
}

export const DEFAULT_HTTP_TIMEOUTS: HttpTimeouts = {
  headersMs: 10_000,
  requestMs: 30_000,
  idleMs: 5_000,
};

/**
 * The HTTP server of a node, with its timeouts. Node checks `headersTimeout` and
 * `requestTimeout` every `connectionsCheckingInterval` (30 s by default), which would let a
 * half-open connection live that much longer: the interval follows the timeouts here.
 */
export function createHttpServer(
  timeouts: Partial<HttpTimeouts> | undefined,
  listener: RequestListener,
): { server: Server; timeouts: HttpTimeouts } {
  const t = { ...DEFAULT_HTTP_TIMEOUTS, ...timeouts };
  // Node refuses a head timeout longer than the whole request's.
  const headersMs = Math.min(t.headersMs, t.requestMs);
  const server = createServer(
    {
      headersTimeout: headersMs,
      requestTimeout: t.requestMs,
      keepAliveTimeout: t.idleMs,
      connectionsCheckingInterval: Math.max(50, Math.min(1000, Math.floor(headersMs / 4))),
      requireHostHeader: true,
    },
    listener,
  );
  return { server, timeouts: { ...t, headersMs } };
}

export interface HttpGuardOptions {
  /** The cluster's secret; admin endpoints are refused without it. */
  readonly token: string | undefined;
  /** Further names (`name` for any port, or `name:port`) clients may use for this server. */
  readonly allowedHosts?: readonly string[];
  /** The origin whose pages may read GET answers (CORS), if any. */
  readonly corsOrigin?: string | undefined;
}

const digest = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();

/** Media types a browser sends cross-origin without asking first (no CORS preflight). */
const SIMPLE_TYPES = ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data'];

/** The media type of a Content-Type header, lower case, without parameters. */
function mediaType(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  return (header.split(';', 1)[0] ?? '').trim().toLowerCase();
}

/** `host` and `port` of a Host header; undefined when it is not one. */
function parseHost(header: string): { host: string; port: number | undefined } | undefined {
  const m = /^(\[[0-9a-f:.]+\]|[^:[\]]+)(?::(\d{1,5}))?$/i.exec(header.trim());
  if (m === null) return undefined;
  const host = (m[1] ?? '')
    .toLowerCase()
    .replace(/^\[(.*)\]$/, '$1')
    .replace(/\.$/, '');
  return { host, port: m[2] === undefined ? undefined : Number(m[2]) };
}

function isLoopback(host: string): boolean {
  const v4 = host.startsWith('::ffff:') ? host.slice(7) : host;
  return host === 'localhost' || host === '::1' || /^127(\.\d{1,3}){3}$/.test(v4);
}

/** Whether a "host:port" stays on this machine (127.0.0.0/8, ::1, localhost). */
export function isLoopbackAddress(address: string): boolean {
  const parsed = parseHost(address);
  return parsed !== undefined && isLoopback(parsed.host);
}

/**
 * What every request to the HTTP API must satisfy before it is served, so that a web page
 * the operator happens to visit cannot use the API through the browser:
 *
 * - the Host header names this server (an address it listens on, localhost, or a name given
 *   with --allowed-hosts), else 421: a DNS-rebinding page names its own domain;
 * - PUT and POST carry `Content-Type: application/json`, else 415: the types a page may send
 *   cross-origin without a CORS preflight (text/plain, forms) are refused, and without CORS
 *   headers the preflight of a JSON request fails; DELETE, which always needs a preflight,
 *   may come without a body type (curl -X DELETE);
 * - /admin/* carries `Authorization: Bearer <the cluster's secret>`, else 401 (compared in
 *   constant time); a server without a secret serves no admin endpoint.
 */
export class HttpGuard {
  private readonly names: ReadonlySet<string>;
  private readonly expected: Buffer | undefined;
  private port: number | undefined;
  private boundHost = '';

  constructor(private readonly options: HttpGuardOptions) {
    this.names = new Set((options.allowedHosts ?? []).map((h) => h.toLowerCase()));
    this.expected = options.token === undefined ? undefined : digest(`Bearer ${options.token}`);
  }

  /** Records where the server listens ("host:port"), once it does. */
  listening(address: string): void {
    const parsed = parseHost(address);
    this.boundHost = parsed?.host ?? '';
    this.port = parsed?.port;
  }

  /** First, before anything else: a request that names another server is refused (421). */
  checkHost(req: IncomingMessage): HttpError | undefined {
    const host = req.headers.host;
    // HTTP/1.1 without Host is refused by Node itself (requireHostHeader); 1.0 has none.
    if (host !== undefined && !this.hostAllowed(host)) {
      return new HttpError(
        421,
        'MISDIRECTED_REQUEST',
        `this server does not answer to the name ${JSON.stringify(host.slice(0, 100))}; use its address, localhost, or start it with --allowed-hosts`,
      );
    }
    return undefined;
  }

  /**
   * Then, once the route and method are known to exist: admin credentials (401) and the
   * body's media type (415). Undefined when the request may be served.
   */
  checkRequest(req: IncomingMessage, path: string): HttpError | undefined {
    const method = req.method ?? 'GET';
    if (path.startsWith('/admin/') && !this.authorized(req.headers.authorization)) {
      return new HttpError(
        401,
        'UNAUTHORIZED',
        this.expected === undefined
          ? 'this server has no cluster secret (--token-file): its admin endpoints are off'
          : 'admin endpoints need "Authorization: Bearer <the cluster secret>"',
        {},
        { 'www-authenticate': 'Bearer realm="kontiki"' },
      );
    }
    const type = mediaType(req.headers['content-type']);
    const needsJson = method === 'PUT' || method === 'POST' || method === 'PATCH';
    if (
      (needsJson && type !== 'application/json') ||
      (type !== undefined && type !== 'application/json')
    ) {
      const simple = type !== undefined && SIMPLE_TYPES.includes(type);
      return new HttpError(
        415,
        'UNSUPPORTED_MEDIA_TYPE',
        `${method} needs "Content-Type: application/json"${type === undefined ? '' : `, not ${JSON.stringify(type.slice(0, 100))}`}${simple ? ' (a type any web page could send)' : ''}`,
      );
    }
    return undefined;
  }

  /** CORS headers for a GET answer: only for the configured origin. */
  corsHeaders(req: IncomingMessage): Record<string, string> {
    const allowed = this.options.corsOrigin;
    if (allowed === undefined) return {};
    const origin = req.headers.origin;
    if (allowed === '*') return { 'access-control-allow-origin': '*' };
    return origin === allowed
      ? { 'access-control-allow-origin': allowed, vary: 'origin' }
      : { vary: 'origin' };
  }

  private authorized(header: string | undefined): boolean {
    if (this.expected === undefined || header === undefined) return false;
    return timingSafeEqual(this.expected, digest(header));
  }

  private hostAllowed(header: string): boolean {
    const parsed = parseHost(header);
    if (parsed === undefined) return false;
    const { host, port } = parsed;
    if (this.names.has(host) || this.names.has(`${host}:${port ?? 80}`)) return true;
    if ((port ?? 80) !== this.port) return false;
    if (isLoopback(host) || host === this.boundHost) return true;
    // Listening on every interface: any of this machine's addresses names it. (An address
    // cannot be rebound to another machine; only a name can.)
    if (isIP(host) !== 0 && (this.boundHost === '0.0.0.0' || this.boundHost === '::')) {
      return localAddresses().has(host);
    }
    return false;
  }
}

function localAddresses(): Set<string> {
  const out = new Set<string>();
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) out.add(a.address.toLowerCase());
  }
  return out;
}
