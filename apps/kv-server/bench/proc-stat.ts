import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';

/** Clock ticks per second of /proc's CPU times (USER_HZ; 100 on Linux almost everywhere). */
const TICKS_PER_SECOND = (() => {
  try {
    const n = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
    return Number.isInteger(n) && n > 0 ? n : 100;
  } catch {
    return 100;
  }
})();

/**
 * CPU seconds a process has used so far, all its threads (utime + stime of /proc/<pid>/stat,
 * fields 14 and 15). The command name (field 2) may hold spaces and parentheses: fields are
 * counted after its closing parenthesis.
 */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // After the name: state is field 3, so utime (14) and stime (15) are at 11 and 12.
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) {
    throw new Error(`cannot read the CPU times of process ${pid}`);
  }
  return (utime + stime) / TICKS_PER_SECOND;
}

/** CPU seconds of several processes together. */
export function totalCpuSeconds(pids: readonly number[]): number {
  return pids.reduce((sum, pid) => sum + cpuSeconds(pid), 0);
}

/**
 * Waits `seconds` and returns each process's CPU over that window as a share of one core
 * (3 decimals): how busy an idle cluster's processes are.
 */
export async function cpuSharesOver(pids: readonly number[], seconds: number): Promise<number[]> {
  const before = pids.map(cpuSeconds);
  const started = performance.now();
  await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
  const wall = (performance.now() - started) / 1000;
  return pids.map((pid, i) =>
    Number(((cpuSeconds(pid) - (before[i] as number)) / wall).toFixed(3)),
  );
}

/** A process's resident set size, MiB (VmRSS of /proc/<pid>/status). */
export function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (m === null) throw new Error(`cannot read the RSS of process ${pid}`);
  return Math.round(Number(m[1]) / 1024);
}

/** The load averages (1, 5, 15 min), to two decimals. */
export function loadAverage(): number[] {
  return loadavg().map((l) => Number(l.toFixed(2)));
}

/** The machine as a benchmark's JSON reports it: Node, cores, load before and now. */
export function machineOf(loadAverageBefore: readonly number[]) {
  return {
    node: process.version,
    cpus: cpus().length,
    loadAverageBefore,
    loadAverageAfter: loadAverage(),
  };
}
