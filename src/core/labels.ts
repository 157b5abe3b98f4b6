/**
 * Labels on every container Borg creates. A container without `borg.managed=true` is someone
 * else's: Borg never stops, removes or reuses it.
 */
export const LABEL_MANAGED = 'borg.managed';
export const LABEL_PERSONA = 'borg.persona';
/** Stable hash of the workspace the container belongs to, so each window knows its own (see workspace.ts). */
export const LABEL_WORKSPACE = 'borg.workspace';

/** The labels for a new container of `persona` in `workspaceId`. */
export function agentLabels(persona: string, workspaceId: string): Record<string, string> {
  return { [LABEL_MANAGED]: 'true', [LABEL_PERSONA]: persona, [LABEL_WORKSPACE]: workspaceId };
}

/** True when the labels mark a container as created by Borg. */
export function isManaged(labels: Record<string, string> | undefined): boolean {
  return labels?.[LABEL_MANAGED] === 'true';
}
