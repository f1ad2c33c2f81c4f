import type { Logger } from '@kontiki/core';
import { describe, expect, it } from 'vitest';
import {
  certificateIdentities,
  isLoopbackHost,
  refuseExposure,
  sameSecret,
  warnIfUnauthenticated,
} from '../src/auth.js';

describe('secrets are compared whole, in constant time', () => {
  it('only the exact secret matches: not a prefix, a suffix, an empty string', () => {
    const secret = 'cluster-secret-0123456789';
    expect(sameSecret(secret, secret)).toBe(true);
    for (const wrong of ['', 'cluster', `${secret}x`, secret.toUpperCase(), ` ${secret}`]) {
      expect(sameSecret(secret, wrong)).toBe(false);
    }
  });
});

describe('the names a peer certificate gives', () => {
  it('URI and DNS alternative names and the CN; IP addresses are not names', () => {
    expect(
      certificateIdentities({
        subject: { CN: 'n1' },
        subjectaltname:
          'IP Address:127.0.0.1, DNS:localhost, DNS:n1.cluster, URI:spiffe://kontiki/n1',
      }),
    ).toEqual(['localhost', 'n1.cluster', 'spiffe://kontiki/n1', 'n1']);
  });

  it('a quoted value (node quotes names with special characters) is one name, commas included', () => {
    expect(
      certificateIdentities({ subjectaltname: 'DNS:a, URI:"kontiki:n1, DNS:n2", DNS:b' }),
    ).toEqual(['a', 'kontiki:n1, DNS:n2', 'b']);
  });

  it('a certificate without names names nobody', () => {
    expect(certificateIdentities({})).toEqual([]);
    expect(certificateIdentities({ subject: { CN: '' }, subjectaltname: '' })).toEqual([]);
  });
});

describe('loopback or not', () => {
  it('127.0.0.0/8, ::1 and localhost stay on the machine; anything else does not', () => {
    for (const h of ['127.0.0.1', '127.1.2.3', '::1', '[::1]', 'localhost', '::ffff:127.0.0.1']) {
      expect(isLoopbackHost(h)).toBe(true);
    }
    for (const h of ['0.0.0.0', '::', '10.0.0.1', '128.0.0.1', 'example.com', '127.0.0.1.nip.io']) {
      expect(isLoopbackHost(h)).toBe(false);
    }
  });
});

describe('an endpoint without authentication', () => {
  const base = { transport: 'gRPC', authenticated: false, allowInsecure: false };
  function capture(): { logger: Logger; lines: string[] } {
    const lines: string[] = [];
    const noop = () => {};
    const logger: Logger = {
      debug: noop,
      info: noop,
      error: noop,
      warn: (m) => lines.push(m),
      child: () => logger,
    };
    return { logger, lines };
  }

  it('is refused beyond loopback, unless allowInsecure', () => {
    expect(() => refuseExposure({ ...base, address: '0.0.0.0:7001' })).toThrow(/allowInsecure/);
    expect(() => refuseExposure({ ...base, address: '[::]:7001' })).toThrow(
      /INVALID_OPTION|allowInsecure/,
    );
    expect(() =>
      refuseExposure({ ...base, address: '0.0.0.0:7001', allowInsecure: true }),
    ).not.toThrow();
    expect(() => refuseExposure({ ...base, address: '127.0.0.1:7001' })).not.toThrow();
    expect(() =>
      refuseExposure({ ...base, address: '0.0.0.0:7001', authenticated: true }),
    ).not.toThrow();
  });

  it('warns on loopback, louder beyond it, and not at all once authenticated', () => {
    const { logger, lines } = capture();
    warnIfUnauthenticated({ ...base, address: '127.0.0.1:7001', logger });
    warnIfUnauthenticated({ ...base, address: '0.0.0.0:7001', allowInsecure: true, logger });
    warnIfUnauthenticated({ ...base, address: '127.0.0.1:7002', authenticated: true, logger });
    expect(lines).toHaveLength(2);
    expect(lines[0]).toContain("anyone who can reach 127.0.0.1:7001 can rewrite this node's log");
    expect(lines[1]).toMatch(/^INSECURE: .*anyone on the network/);
  });
});
