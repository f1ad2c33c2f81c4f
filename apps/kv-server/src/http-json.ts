import { type Agent, request } from 'node:http';

export interface JsonResponse {
  readonly status: number;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  /** The parsed body; undefined when it is not JSON. */
  readonly body: unknown;
  readonly text: string;
}

/**
 * Why a request got no answer. `refused`: the connection was refused, so the request
 * certainly never reached a server; `failed`: it may have (reset, timeout, hang-up).
 */
export class TransportFailure extends Error {
  constructor(
    readonly kind: 'refused' | 'failed',
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'TransportFailure';
  }
}

export interface JsonRequestOptions {
  readonly body?: unknown;
  readonly timeoutMs?: number;
  readonly agent?: Agent;
  readonly headers?: Readonly<Record<string, string>>;
}

/** One HTTP request with an optional JSON body; no redirects followed, every status returned. */
export function requestJson(
  method: string,
  url: string,
  options: JsonRequestOptions = {},
): Promise<JsonResponse> {
  const payload = options.body === undefined ? undefined : JSON.stringify(options.body);
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method,
        agent: options.agent,
        timeout: options.timeoutMs ?? 10_000,
        headers: {
          ...options.headers,
          ...(payload === undefined
            ? {}
            : {
                'content-type': 'application/json',
                'content-length': Buffer.byteLength(payload),
              }),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', (error) => reject(new TransportFailure('failed', error.message)));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let body: unknown;
          try {
            body = text === '' ? undefined : JSON.parse(text);
          } catch {
            body = undefined;
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body, text });
        });
      },
    );
    req.on('timeout', () => {
      req.destroy(new TransportFailure('failed', `${method} ${url} timed out`));
    });
    req.on('error', (error: Error & { code?: string }) => {
      if (error instanceof TransportFailure) reject(error);
      else if (error.code === 'ECONNREFUSED') {
        reject(new TransportFailure('refused', `${url}: connection refused`, { cause: error }));
      } else {
        reject(
          new TransportFailure('failed', `${method} ${url}: ${error.message}`, { cause: error }),
        );
      }
    });
    req.end(payload);
  });
}
