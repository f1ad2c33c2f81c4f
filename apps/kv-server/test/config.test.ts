import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig, parsePeersLine, type ServerConfig } from '../src/config.js';

const PEERS = 'n1=127.0.0.1:7001,n2=127.0.0.1:7002,n3=127.0.0.1:7003';

function config(argv: string[], env: Record<string, string> = {}): ServerConfig {
  const c = parseConfig(argv, env);
  if (c === 'help') throw new Error('unexpected help');
  return c;
}

describe('kv-server configuration', () => {
  it('reads flags, falls back on environment variables, and flags win', () => {
    const c = config(['--id', 'n1', '--peers', PEERS, '--storage', 'memory'], {
      KONTIKI_TRANSPORT: 'ws',
      KONTIKI_ELECTION_TIMEOUT_MS: '300',
      KONTIKI_STORAGE: 'sqlite',
      KONTIKI_TOKEN: 'a-secret-of-24-characters',
    });
    expect(c).toMatchObject({
      id: 'n1',
      transport: 'ws',
      storage: 'memory',
      electionTimeoutMs: 300,
      token: 'a-secret-of-24-characters',
      raftListen: '127.0.0.1:7001',
      httpListen: '127.0.0.1:8001',
      groupId: 'kv',
    });
    expect(c.peers).toEqual(
      new Map([
        ['n1', { raft: '127.0.0.1:7001' }],
        ['n2', { raft: '127.0.0.1:7002' }],
        ['n3', { raft: '127.0.0.1:7003' }],
      ]),
    );
  });

  it('joins the HTTP addresses of the peers to their Raft addresses', () => {
    const c = config([
      '--id=n2',
      `--peers=${PEERS}`,
      '--peer-http=n1=127.0.0.1:8001,n2=127.0.0.1:8002',
      '--data-dir=/tmp/x',
    ]);
    const peers = c.peers as ReadonlyMap<string, unknown>;
    expect(peers.get('n1')).toEqual({ raft: '127.0.0.1:7001', http: '127.0.0.1:8001' });
    expect(peers.get('n3')).toEqual({ raft: '127.0.0.1:7003' });
  });

  it('refuses what cannot work, saying which flag is wrong', () => {
    const cases: Array<[string[], RegExp]> = [
      [['--peers', PEERS, '--storage', 'memory'], /--id is required/],
      [['--id', 'n1', '--storage', 'memory'], /--peers is required/],
      [['--id', 'n9', '--peers', PEERS, '--storage', 'memory'], /n9\) is not among the peers/],
      [['--id', 'n1', '--peers', PEERS], /--data-dir is required/],
      [['--id', 'n1', '--peers', 'n1=nowhere', '--storage', 'memory'], /expected HOST:PORT/],
      [['--id', 'n1', '--peers', 'n1=h:1,n1=h:2', '--storage', 'memory'], /listed twice/],
      [['--id', 'n1', '--peers', PEERS, '--storage', 'disk'], /--storage: expected one of/],
      [
        ['--id', 'n1', '--peers', PEERS, '--storage', 'memory', '--raft', 'h:99999'],
        /out of range/,
      ],
      [
        ['--id', 'n1', '--peers', PEERS, '--storage', 'memory', '--election-timeout-ms', '1.5'],
        /expected an integer/,
      ],
      [
        ['--id', 'n1', '--peers', PEERS, '--peer-http', 'n7=h:1', '--storage', 'memory'],
        /n7 is not in --peers/,
      ],
      [['--id', 'n1', '--nonsense'], /Unknown option/],
    ];
    for (const [argv, message] of cases) {
      expect(() => parseConfig(argv, {}), argv.join(' ')).toThrow(ConfigError);
      expect(() => parseConfig(argv, {}), argv.join(' ')).toThrow(message);
    }
    expect(parseConfig(['--help'], {})).toBe('help');
  });

  it('takes the members from a JSON line (the launcher writes it on stdin)', () => {
    const line = JSON.stringify({
      peers: { n1: { raft: '127.0.0.1:1', http: '127.0.0.1:2' }, n2: { raft: '127.0.0.1:3' } },
    });
    expect(parsePeersLine('n1', line)).toEqual({
      peers: new Map([
        ['n1', { raft: '127.0.0.1:1', http: '127.0.0.1:2' }],
        ['n2', { raft: '127.0.0.1:3' }],
      ]),
      voters: undefined,
    });
    const withVoters = JSON.stringify({ ...JSON.parse(line), voters: ['n2'] });
    expect(parsePeersLine('n1', withVoters).voters).toEqual(['n2']);
    expect(() => parsePeersLine('n1', JSON.stringify({ ...JSON.parse(line), voters: [] }))).toThrow(
      /"voters" must be/,
    );
    expect(() => parsePeersLine('n1', 'nope')).toThrow(/not JSON/);
    expect(() => parsePeersLine('n1', '{}')).toThrow(/expected \{"peers"/);
    expect(() => parsePeersLine('n3', line)).toThrow(/not among the peers/);
    expect(() => parsePeersLine('n1', '{"peers":{"n1":{}}}')).toThrow(/has no raft/);
  });

  it('reads the snapshot flags and --join (no --peers needed then)', () => {
    const c = config(['--id', 'n4', '--join', '--storage', 'memory', '--raft', '127.0.0.1:7004'], {
      KONTIKI_SNAPSHOT_INTERVAL_S: '0',
      KONTIKI_SNAPSHOT_LOG_MARGIN: '10',
    });
    expect(c).toMatchObject({ join: true, snapshotIntervalS: 0, snapshotLogMargin: 10 });
    expect(c.peers).toEqual(new Map([['n4', { raft: '127.0.0.1:7004', http: '127.0.0.1:8001' }]]));
    const d = config(['--id', 'n1', '--peers', PEERS, '--storage', 'memory']);
    expect(d).toMatchObject({ join: false, snapshotIntervalS: 3600, snapshotLogMargin: 1000 });
    expect(() => config(['--id', 'n1', '--storage', 'memory'])).toThrow(/--peers is required/);
    expect(() =>
      config([
        '--id',
        'n1',
        '--peers',
        PEERS,
        '--storage',
        'memory',
        '--snapshot-log-margin',
        'lots',
      ]),
    ).toThrow(/--snapshot-log-margin: expected an integer/);
  });
});

describe("the etcd API's configuration", () => {
  it("serves it only when asked, where asked; the members line may carry each peer's address", () => {
    const base = ['--id', 'n1', '--peers', PEERS, '--storage', 'memory'];
    expect(config(base).etcdListen).toBeUndefined();
    expect(config([...base, '--etcd-listen', '127.0.0.1:0']).etcdListen).toBe('127.0.0.1:0');
    expect(config(base, { KONTIKI_ETCD_LISTEN: '127.0.0.1:2379' }).etcdListen).toBe(
      '127.0.0.1:2379',
    );
    expect(() => config([...base, '--etcd-listen', '2379'])).toThrow(
      /--etcd-listen: expected HOST:PORT/,
    );
    const line = parsePeersLine(
      'n1',
      JSON.stringify({
        peers: { n1: { raft: 'h:1', http: 'h:2', etcd: 'h:3' }, n2: { raft: 'h:4' } },
      }),
    );
    expect(line.peers.get('n1')).toEqual({ raft: 'h:1', http: 'h:2', etcd: 'h:3' });
    expect(() =>
      parsePeersLine('n1', JSON.stringify({ peers: { n1: { raft: 'h:1', etcd: 'nowhere' } } })),
    ).toThrow(ConfigError);
  });
});
