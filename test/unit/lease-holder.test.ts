import { spawnSync } from 'node:child_process';
import { hostname } from 'node:os';
import { describe, expect, it } from 'vitest';
import { type ConditionalStore, claimLease, isHeld, type LeaseHolder } from '../../core/batch/lock';
import { holderIsGone, processStartTime, thisProcess } from '../../local/process-liveness';

/** A lease records the process that holds it; a holder known to have ended loses it at once, not when it expires. */

/** Object storage with conditional writes, in memory: what the lease needs of S3. */
function memoryStore(): ConditionalStore {
  const objects = new Map<string, string>();
  return {
    readText: async (key) => objects.get(key) ?? null,
    createIfAbsent: async (key, text) => {
      if (objects.has(key)) return false;
      objects.set(key, text);
      return true;
    },
  };
}

const HOUR = 3_600_000;
/** The pid of a process that has just exited. */
const endedPid = () => spawnSync(process.execPath, ['-e', '']).pid!;

describe('a lease whose holder can be checked', () => {
  it('records the holder it was claimed with', async () => {
    const store = memoryStore();
    await claimLease(store, 'job/lease-', { owner: 'me', leaseMs: HOUR, holder: thisProcess() });

    expect(JSON.parse((await store.readText('job/lease-0'))!).holder).toEqual({ pid: process.pid, host: hostname(), startTime: processStartTime(process.pid) });
  });

  it('is taken over at once when its holder is gone', async () => {
    const store = memoryStore();
    const dead: LeaseHolder = { pid: endedPid(), host: hostname() };
    await claimLease(store, 'job/lease-', { owner: 'crashed', leaseMs: HOUR, holder: dead });

    const claim = await claimLease(store, 'job/lease-', { owner: 'restarted', leaseMs: HOUR, holder: thisProcess(), holderIsGone });

    expect(isHeld(claim) && claim.generation).toBe(1);
  });

  it('stays busy while its holder runs', async () => {
    const store = memoryStore();
    await claimLease(store, 'job/lease-', { owner: 'alive', leaseMs: HOUR, holder: thisProcess() });

    const claim = await claimLease(store, 'job/lease-', { owner: 'second', leaseMs: HOUR, holderIsGone });

    expect(claim).toMatchObject({ busy: true, owner: 'alive' });
  });

  it('stays busy without a liveness check (a Lambda holder): it lapses only when it expires', async () => {
    const store = memoryStore();
    await claimLease(store, 'job/lease-', { owner: 'crashed', leaseMs: HOUR, holder: { pid: endedPid(), host: hostname() } });

    expect(await claimLease(store, 'job/lease-', { owner: 'second', leaseMs: HOUR })).toMatchObject({ busy: true });
  });
});

describe('whether a holder is gone', () => {
  it('is false for this process', () => {
    expect(holderIsGone(thisProcess())).toBe(false);
  });

  it('is true for a process of this host that has exited', () => {
    expect(holderIsGone({ pid: endedPid(), host: hostname() })).toBe(true);
  });

  it('is true when the pid now belongs to a process that started at another time (a reused pid)', () => {
    const me = thisProcess();
    if (me.startTime === undefined) return; // no /proc here: the start time cannot be read
    expect(holderIsGone({ ...me, startTime: String(Number(me.startTime) - 1) })).toBe(true);
  });

  it('is false for a holder on another host, which cannot be checked from here', () => {
    expect(holderIsGone({ pid: endedPid(), host: `not-${hostname()}` })).toBe(false);
  });
});
