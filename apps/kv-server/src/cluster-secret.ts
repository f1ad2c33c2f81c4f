import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** The file, in a cluster's data directory, that holds its shared secret. */
export const SECRET_FILE_NAME = 'cluster.secret';

/** What went wrong with a secret file, said so that the user can fix it. */
export class SecretFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SecretFileError';
  }
}

export function secretFilePath(dataDir: string): string {
  return join(dataDir, SECRET_FILE_NAME);
}

/**
 * Reads a secret file: its content, trimmed. Refuses one that group or others may read
 * (as ssh does with keys), one that is empty, and one whose secret is too short to resist
 * guessing (fewer than 16 characters).
 */
export function readSecretFile(path: string): string {
  let text: string;
  try {
    if (process.platform !== 'win32') {
      const mode = statSync(path).mode & 0o777;
      if ((mode & 0o077) !== 0) {
        throw new SecretFileError(
          `${path} is readable by others (mode ${mode.toString(8).padStart(3, '0')}): chmod 600 ${path}`,
        );
      }
    }
    text = readFileSync(path, 'utf8').trim();
  } catch (error) {
    if (error instanceof SecretFileError) throw error;
    throw new SecretFileError(
      `cannot read the secret file ${path}: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
  if (text.length < 16) {
    throw new SecretFileError(`${path} holds no secret of at least 16 characters`);
  }
  if (/\s/.test(text)) throw new SecretFileError(`${path}: the secret holds white space`);
  return text;
}

/**
 * The secret of the cluster whose data lives in `dataDir`: read from `cluster.secret`, or
 * made (32 random bytes, hex) and written there with mode 0600 when there is none yet. A
 * cluster started again on the same directory keeps its secret.
 */
export function ensureClusterSecret(dataDir: string): { path: string; secret: string } {
  if (existsSync(dataDir) && !statSync(dataDir).isDirectory()) {
    throw new SecretFileError(`${dataDir} is not a directory: no place for the cluster's secret`);
  }
  mkdirSync(dataDir, { recursive: true });
  const path = secretFilePath(dataDir);
  if (!existsSync(path)) {
    // 'wx': never overwrite a secret another launcher wrote meanwhile.
    try {
      writeFileSync(path, `${randomBytes(32).toString('hex')}\n`, { mode: 0o600, flag: 'wx' });
    } catch (error) {
      if ((error as { code?: string }).code !== 'EEXIST') throw error;
    }
  }
  return { path, secret: readSecretFile(path) };
}
