import { compareVersions, type ModelRepository, type Registry, type VersionStatus } from '../../core/model/registry';

/**
 * Registry transitions. Every change is a read-modify-write of `models/<name>/registry.json`;
 * one pipeline run per model at a time is assumed (the pipeline's runner serializes runs).
 */

/** Records a version (new, or with a new status) with a note saying why. */
export async function setStatus(models: ModelRepository, name: string, version: string, status: VersionStatus, note: string, runId?: string): Promise<Registry> {
  const registry = await models.registryOf(name);
  const existing = registry.versions.find((v) => v.version === version);
  const entry = { version, status, createdAt: existing?.createdAt ?? new Date().toISOString(), note, ...(runId ?? existing?.runId ? { runId: runId ?? existing?.runId } : {}) };
  const versions = [...registry.versions.filter((v) => v.version !== version), entry].sort((a, b) => compareVersions(a.version, b.version));
  const updated = { ...registry, versions };
  await models.writeRegistry(updated);
  return updated;
}

/** Makes `version` the serving version; the previous one is kept (retired) as the rollback target. */
export async function promote(models: ModelRepository, name: string, version: string, note: string): Promise<Registry> {
  const available = await models.listVersions(name);
  if (!available.includes(version)) throw new Error(`model "${name}" has no version "${version}"; versions: ${available.join(', ') || 'none'}`);
  const registry = await models.registryOf(name);
  if (registry.serving === version) return registry;
  const rejected = registry.versions.find((v) => v.version === version && v.status === 'rejected');
  if (rejected) throw new Error(`version ${version} of "${name}" was rejected (${rejected.note ?? 'no reason recorded'}); it cannot serve`);
  const now = new Date().toISOString();
  const versions = registry.versions.map((v) =>
    v.version === registry.serving ? { ...v, status: 'retired' as const, note: `replaced by ${version}` } : v,
  );
  const target = versions.find((v) => v.version === version);
  const entry = { ...(target ?? { version, createdAt: now }), status: 'serving' as const, note };
  const updated: Registry = {
    ...registry,
    serving: version,
    history: registry.serving ? [...registry.history, registry.serving] : registry.history,
    versions: [...versions.filter((v) => v.version !== version), entry].sort((a, b) => compareVersions(a.version, b.version)),
  };
  await models.writeRegistry(updated);
  return updated;
}

/** Returns to the version that served before the current one; the current one is retired with the reason. */
export async function rollback(models: ModelRepository, name: string, reason: string): Promise<Registry> {
  const registry = await models.registryOf(name);
  const previous = registry.history[registry.history.length - 1];
  if (!previous || !registry.serving) throw new Error(`model "${name}" has no earlier serving version to roll back to`);
  const versions = registry.versions.map((v) => {
    if (v.version === registry.serving) return { ...v, status: 'retired' as const, note: `rolled back: ${reason}` };
    if (v.version === previous) return { ...v, status: 'serving' as const, note: `restored by rollback from ${registry.serving}` };
    return v;
  });
  const updated: Registry = { ...registry, serving: previous, history: registry.history.slice(0, -1), versions };
  await models.writeRegistry(updated);
  return updated;
}
