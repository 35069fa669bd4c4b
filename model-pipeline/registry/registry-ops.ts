import { ModelLayout } from '../../core/layout';
import { nextMinorVersion } from '../../core/model/manifest';
import { compareVersions, type ModelRepository, type Registry, type VersionStatus } from '../../core/model/registry';

/**
 * Registry transitions. Each is a pure change of the index applied with
 * {@link ModelRepository.updateRegistry}: a conditional write that starts again on the fresh
 * index when another change (a pipeline step, a CLI command) landed in between, so none is lost.
 * New version numbers are claimed apart, with a create-if-absent write (see claimVersion).
 */

/** Key of the claim on a version number: written once, by the run that owns the number. */
export function versionClaimKey(name: string, version: string): string {
  return `${ModelLayout.model(name)}claims/${version}.json`;
}

/**
 * Claims the next free version number for a run: the minor version after the newest package or
 * claim, written with create-if-absent, so two concurrent runs never get the same number (the
 * loser moves on to the next one). A run that claimed a number before gets the same one back.
 */
export async function claimVersion(models: ModelRepository, name: string, runId: string, after: string): Promise<string> {
  const prefix = `${ModelLayout.model(name)}claims/`;
  for (let attempt = 0; attempt < 100; attempt++) {
    const claims = (await models.store.list(prefix)).filter((k) => k.endsWith('.json')).map((k) => k.slice(prefix.length, -'.json'.length));
    for (const version of claims) {
      const claim = JSON.parse(new TextDecoder().decode(await models.store.read(`${prefix}${version}.json`))) as { runId?: string };
      if (claim.runId === runId) return version;
    }
    const newest = [after, ...(await models.listVersions(name)), ...claims].sort(compareVersions).at(-1)!;
    const candidate = nextMinorVersion(newest);
    if (await models.store.create(versionClaimKey(name, candidate), `${JSON.stringify({ runId, claimedAt: new Date().toISOString() })}\n`)) return candidate;
  }
  throw new Error(`could not claim a version of "${name}" for run ${runId} after 100 attempts`);
}

/** Records a version (new, or with a new status) with a note saying why; a digest recorded before is kept. */
export async function setStatus(models: ModelRepository, name: string, version: string, status: VersionStatus, note: string, runId?: string): Promise<Registry> {
  return recordVersion(models, name, version, { status, note, runId });
}

/**
 * Registers a version as its package is now: records the status and the package digest, which
 * every later load of the version checks (a changed manifest or file is then refused). The
 * package is read and its files verified first, so a broken package is never registered.
 */
export async function registerVersion(models: ModelRepository, name: string, version: string, status: VersionStatus, note: string, runId?: string): Promise<Registry> {
  const digest = await models.digestOf(name, version);
  return recordVersion(models, name, version, { status, note, runId, digest });
}

function recordVersion(models: ModelRepository, name: string, version: string, change: { status: VersionStatus; note: string; runId?: string; digest?: string }): Promise<Registry> {
  return models.updateRegistry(name, (registry) => {
    const existing = registry.versions.find((v) => v.version === version);
    const runId = change.runId ?? existing?.runId;
    const digest = change.digest ?? existing?.digest;
    const entry = {
      version,
      status: change.status,
      createdAt: existing?.createdAt ?? new Date().toISOString(),
      note: change.note,
      ...(runId ? { runId } : {}),
      ...(digest ? { digest } : {}),
    };
    const versions = [...registry.versions.filter((v) => v.version !== version), entry].sort((a, b) => compareVersions(a.version, b.version));
    return { ...registry, versions };
  });
}

/**
 * Makes `version` the serving version; the previous one is kept (retired) as the rollback target.
 * Promoting the running canary ends the canary; promoting another version while a canary runs
 * is refused (abort the canary first), so a canary is never left pointing at a stale comparison.
 */
export async function promote(models: ModelRepository, name: string, version: string, note: string): Promise<Registry> {
  const available = await models.listVersions(name);
  if (!available.includes(version)) throw new Error(`model "${name}" has no version "${version}"; versions: ${available.join(', ') || 'none'}`);
  const digest = await digestIfLoadable(models, name, version);
  return models.updateRegistry(name, (registry) => withDigest(promoted(registry, version, note), version, digest));
}

/**
 * The package digest of a version that promote or a canary lists for the first time (one never
 * through the pipeline's register step), so that it too is refused once edited. A package that
 * does not load gets none: it cannot serve either, and the engine says why when asked to.
 */
async function digestIfLoadable(models: ModelRepository, name: string, version: string): Promise<string | undefined> {
  return models.digestOf(name, version).catch(() => undefined);
}

/** The registry with `digest` recorded for `version` where it has none yet (a digest recorded at registration is never replaced here). */
function withDigest(registry: Registry, version: string, digest: string | undefined): Registry {
  if (!digest) return registry;
  return { ...registry, versions: registry.versions.map((v) => (v.version === version && !v.digest ? { ...v, digest } : v)) };
}

function promoted(registry: Registry, version: string, note: string): Registry {
  const { name } = registry;
  if (registry.canary && registry.canary.version !== version) {
    throw new Error(`a canary of "${name}" (${registry.canary.version}) is running; promote it or roll it back before promoting ${version}`);
  }
  if (registry.serving === version) return registry;
  const rejected = registry.versions.find((v) => v.version === version && v.status === 'rejected');
  if (rejected) throw new Error(`version ${version} of "${name}" was rejected (${rejected.note ?? 'no reason recorded'}); it cannot serve`);
  const now = new Date().toISOString();
  const versions = registry.versions.map((v) =>
    v.version === registry.serving ? { ...v, status: 'retired' as const, note: `replaced by ${version}` } : v,
  );
  const target = versions.find((v) => v.version === version);
  const entry = { ...(target ?? { version, createdAt: now }), status: 'serving' as const, note };
  return {
    ...registry,
    serving: version,
    canary: null,
    history: registry.serving ? [...registry.history, registry.serving] : registry.history,
    versions: [...versions.filter((v) => v.version !== version), entry].sort((a, b) => compareVersions(a.version, b.version)),
  };
}

/**
 * Returns to the version that served before the current one; the current one is retired with the
 * reason. While a canary runs, rolling back means aborting the canary: the serving version stays.
 */
export async function rollback(models: ModelRepository, name: string, reason: string): Promise<Registry> {
  return models.updateRegistry(name, (registry) => {
    if (registry.canary) return canaryAborted(registry, reason, 'rejected');
    const previous = registry.history[registry.history.length - 1];
    if (!previous || !registry.serving) throw new Error(`model "${name}" has no earlier serving version to roll back to`);
    const versions = registry.versions.map((v) => {
      if (v.version === registry.serving) return { ...v, status: 'retired' as const, note: `rolled back: ${reason}` };
      if (v.version === previous) return { ...v, status: 'serving' as const, note: `restored by rollback from ${registry.serving}` };
      return v;
    });
    return { ...registry, serving: previous, history: registry.history.slice(0, -1), versions };
  });
}

/** How a canary starts. */
export interface CanaryStart {
  /** Share of the requests that name no version sent to the canary, 0–1. */
  readonly weight: number;
  /** End of its observation window. @default - none: it runs until promoted or aborted */
  readonly until?: Date;
  readonly runId?: string;
  readonly note?: string;
  readonly now?: Date;
}

/**
 * Starts a canary: `version` takes a share of the requests that name no version while the
 * serving version keeps the rest. Refused for a rejected version, the serving one, a model with
 * no serving version, or while another canary runs; starting the same canary again changes nothing.
 */
export async function startCanary(models: ModelRepository, name: string, version: string, start: CanaryStart): Promise<Registry> {
  if (!(start.weight >= 0 && start.weight <= 1)) throw new Error(`canary weight must be between 0 and 1 (received ${start.weight})`);
  const available = await models.listVersions(name);
  if (!available.includes(version)) throw new Error(`model "${name}" has no version "${version}"; versions: ${available.join(', ') || 'none'}`);
  const digest = await digestIfLoadable(models, name, version);
  return models.updateRegistry(name, (registry) => withDigest(canaryStarted(registry, name, version, available, start), version, digest));
}

function canaryStarted(registry: Registry, name: string, version: string, available: readonly string[], start: CanaryStart): Registry {
  if (registry.canary?.version === version) return registry;
  if (registry.canary) throw new Error(`a canary of "${name}" (${registry.canary.version}) is already running; promote it or roll it back first`);
  const serving = registry.serving ?? available.filter((v) => v !== version).at(-1);
  if (!serving) throw new Error(`model "${name}" has no serving version to compare a canary with; promote ${version} instead`);
  if (serving === version) throw new Error(`version ${version} of "${name}" already serves`);
  const entry = registry.versions.find((v) => v.version === version);
  if (entry?.status === 'rejected') throw new Error(`version ${version} of "${name}" was rejected (${entry.note ?? 'no reason recorded'}); it cannot serve`);
  const now = (start.now ?? new Date()).toISOString();
  const percent = `${+(start.weight * 100).toFixed(2)}%`;
  const note = start.note ?? `canary: ${percent} of requests${start.until ? ` until ${start.until.toISOString()}` : ''}`;
  return {
    ...registry,
    serving,
    canary: { version, weight: start.weight, startedAt: now, ...(start.until ? { until: start.until.toISOString() } : {}), ...(start.runId ? { runId: start.runId } : {}) },
    versions: [...registry.versions.filter((v) => v.version !== version), { ...(entry ?? { version, createdAt: now }), status: 'canary' as const, note }].sort((a, b) =>
      compareVersions(a.version, b.version),
    ),
  };
}

/** The running canary becomes the serving version (the previous serving version is retired and kept for rollback). */
export async function promoteCanary(models: ModelRepository, name: string, note: string): Promise<Registry> {
  return models.updateRegistry(name, (registry) => {
    if (!registry.canary) throw new Error(`model "${name}" has no running canary to promote`);
    return promoted(registry, registry.canary.version, note);
  });
}

/**
 * Ends the running canary: all requests go to the serving version again, which is unchanged,
 * and the canary version is marked `rejected` (it failed its canary; it cannot be promoted
 * later) or `retired` (aborted for another reason), with the reason.
 */
export async function abortCanary(models: ModelRepository, name: string, reason: string, status: 'rejected' | 'retired' = 'rejected'): Promise<Registry> {
  return models.updateRegistry(name, (registry) => canaryAborted(registry, reason, status));
}

function canaryAborted(registry: Registry, reason: string, status: 'rejected' | 'retired'): Registry {
  const canary = registry.canary;
  if (!canary) throw new Error(`model "${registry.name}" has no running canary to roll back`);
  const versions = registry.versions.map((v) => (v.version === canary.version ? { ...v, status, note: `canary rolled back: ${reason}` } : v));
  return { ...registry, canary: null, versions };
}
