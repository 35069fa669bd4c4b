import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import type { LeaseHolder } from '../core/batch/lock';

/**
 * When a process started, as Linux tells it: field 22 of /proc/<pid>/stat (clock ticks since
 * boot). The command name (field 2) may hold spaces and parentheses, so fields are counted after
 * its last ')'. Undefined where there is no /proc (macOS, Windows) or no such process.
 */
export function processStartTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

/** This process as a lease holder. */
export function thisProcess(): LeaseHolder {
  return { pid: process.pid, host: hostname(), startTime: processStartTime(process.pid) };
}

/**
 * Whether a lease's holder has certainly ended: it ran on this host and no process has its pid,
 * or the process with its pid started at another time (the pid was reused). A holder on another
 * host cannot be checked from here, so it is never taken for gone.
 */
export function holderIsGone(holder: LeaseHolder): boolean {
  if (holder.host !== hostname()) return false;
  try {
    process.kill(holder.pid, 0);
  } catch (error) {
    // EPERM: a process of another user has the pid, which is alive.
    if ((error as NodeJS.ErrnoException).code === 'ESRCH') return true;
  }
  const startTime = processStartTime(holder.pid);
  return holder.startTime !== undefined && startTime !== undefined && startTime !== holder.startTime;
}
