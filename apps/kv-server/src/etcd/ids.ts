import { createHash } from 'node:crypto';

/** A non-zero 64-bit number from the first 8 bytes of SHA-256(`text`). */
function id64(text: string): bigint {
  const n = createHash('sha256').update(text).digest().readBigUInt64BE(0);
  // etcd reads 0 as "no member" (e.g. a Status answer's leader while there is none).
  return n === 0n ? 1n : n;
}

/**
 * The etcd member ID of a Kontiki peer: stable (the same peer id gives the same number on
 * every node and across restarts) and 64-bit, as etcd's are.
 */
export function memberId(peerId: string): bigint {
  return id64(`kontiki-member:${peerId}`);
}

/** The etcd cluster ID of a Raft group, from its group id. */
export function clusterId(groupId: string): bigint {
  return id64(`kontiki-cluster:${groupId}`);
}

/** As etcdctl prints member IDs: lower-case hexadecimal. */
export function hexId(id: bigint): string {
  return id.toString(16);
}
