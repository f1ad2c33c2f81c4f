/** A structured logger. Silent by default; set KONTIKI_LOG=debug|info|warn|error to see core's lines. */
export interface Logger {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
  /** A logger for one component, e.g. `logger.child('replicator:n2')`. */
  child(component: string): Logger;
}

export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';

const LEVELS: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 99 };

const noop = () => {};

export const silentLogger: Logger = {
  debug: noop,
  info: noop,
  warn: noop,
  error: noop,
  child: () => silentLogger,
};

/** A logger that writes one line per message to stderr (console.error), prefixed by its component. */
export function consoleLogger(level: LogLevel = 'info', component = 'kontiki'): Logger {
  const min = LEVELS[level];
  const emit = (lvl: LogLevel, message: string, fields?: Record<string, unknown>) => {
    if (LEVELS[lvl] < min) return;
    const extra = fields && Object.keys(fields).length > 0 ? ` ${JSON.stringify(fields)}` : '';
    console.error(`${lvl.toUpperCase().padEnd(5)} [${component}] ${message}${extra}`);
  };
  return {
    debug: (m, f) => emit('debug', m, f),
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
    child: (c) => consoleLogger(level, `${component}:${c}`),
  };
}

/** The default: silent, unless the KONTIKI_LOG environment variable names a level. */
export function defaultLogger(component = 'kontiki'): Logger {
  const env = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process
    ?.env?.KONTIKI_LOG;
  if (env && env in LEVELS && env !== 'silent') return consoleLogger(env as LogLevel, component);
  return silentLogger;
}
