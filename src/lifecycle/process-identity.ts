import * as fs from 'node:fs';

/**
 * A process's start time in clock ticks since boot (field 22 of /proc/PID/stat), or undefined
 * when there is no such process. A pid plus its start time names one process for good.
 */
export function processStartTicks(pid: number): number | undefined {
  let stat: string;
  try {
    stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name, field 2, may hold spaces and parentheses: count fields after its last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const state = fields[0];
  if (state === 'Z' || state === 'X') return undefined;
  return Number(fields[19]);
}

export function isSameProcessAlive(pid: number, startTicks: number): boolean {
  return pid > 0 && processStartTicks(pid) === startTicks;
}
