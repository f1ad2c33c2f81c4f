/**
 * The part of the WebSocket API the client uses: what a browser's `WebSocket` offers and
 * what the `ws` package's WebSocket offers too. The client is written against this only,
 * so that it runs in a browser (inject `globalThis.WebSocket`) as well as in Node.
 */
export interface WebSocketLike {
  binaryType: string;
  readonly readyState: number;
  readonly bufferedAmount: number;
  send(data: Uint8Array): void;
  close(code?: number, reason?: string): void;
  addEventListener(type: 'open', listener: () => void): void;
  addEventListener(type: 'message', listener: (event: { data: unknown }) => void): void;
  addEventListener(
    type: 'close',
    listener: (event: { code: number; reason: string }) => void,
  ): void;
  addEventListener(type: 'error', listener: (event: unknown) => void): void;
}

/** A WebSocket constructor: the browser's, `ws`'s, or a wrapper adding options (TLS CA, ...). */
export type WebSocketConstructor = new (
  url: string,
  protocols?: string | string[],
) => WebSocketLike;

/** readyState values (the standard's numbers; not every implementation exposes the constants). */
export const OPEN = 1;

/**
 * Close codes: 1000 normal, 1001 going away (the endpoint closes), 1003 unsupported data
 * (a text frame), 1008 policy violation (hello missing, bad token, wrong version), 1009 too
 * big (a frame above maxPayload), 1011 internal error.
 */
export const CloseCode = {
  NORMAL: 1000,
  GOING_AWAY: 1001,
  UNSUPPORTED_DATA: 1003,
  POLICY_VIOLATION: 1008,
  TOO_BIG: 1009,
  INTERNAL: 1011,
} as const;

/** Optional extras of `ws`'s WebSocket that browsers lack: ping frames to detect a dead server. */
export interface PingCapable {
  ping(): void;
  terminate(): void;
  on(event: 'pong', listener: () => void): void;
}

export function canPing(socket: WebSocketLike): socket is WebSocketLike & PingCapable {
  const s = socket as Partial<PingCapable>;
  return (
    typeof s.ping === 'function' && typeof s.terminate === 'function' && typeof s.on === 'function'
  );
}
