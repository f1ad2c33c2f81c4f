import {
  BadRequestError,
  type Configuration,
  CorruptLogError,
  type GroupId,
  RaftError,
  type SnapshotMeta,
  validateConfiguration,
} from '@kontiki/core';

/** Snapshot data is stored in rows of at most this many bytes (a larger write is split). */
export const CHUNK_BYTES = 256 * 1024;

/** Checks a SnapshotMeta from the caller; returns its configuration as stored (JSON). */
export function encodeSnapshotMeta(meta: unknown): string {
  if (typeof meta !== 'object' || meta === null) {
    throw new BadRequestError('snapshot meta must be an object');
  }
  const m = meta as Partial<SnapshotMeta>;
  for (const key of ['lastIncludedIndex', 'lastIncludedTerm'] as const) {
    const v = m[key];
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) {
      throw new BadRequestError(`snapshot ${key} must be a non-negative integer`);
    }
  }
  const conf = m.configuration;
  if (typeof conf !== 'object' || conf === null || !Array.isArray(conf.voters)) {
    throw new BadRequestError('snapshot configuration must be an object with a voters array');
  }
  try {
    validateConfiguration(conf, 'snapshot configuration');
  } catch (error) {
    throw RaftError.is(error) ? error : new BadRequestError(String(error));
  }
  const stored: Configuration = {
    voters: [...conf.voters],
    ...(conf.oldVoters !== undefined ? { oldVoters: [...conf.oldVoters] } : {}),
    ...(conf.learners !== undefined ? { learners: [...conf.learners] } : {}),
  };
  return JSON.stringify(stored);
}

/** Reads a stored configuration back; a malformed one is a corrupt record. */
export function decodeSnapshotConfiguration(
  json: string,
  groupId: GroupId,
  index: number,
): Configuration {
  try {
    const conf = JSON.parse(json) as Configuration;
    validateConfiguration(conf, 'configuration');
    return conf;
  } catch {
    throw new CorruptLogError(
      `snapshot ${index} of group ${JSON.stringify(groupId)} has an unreadable configuration`,
      { groupId, index },
    );
  }
}
