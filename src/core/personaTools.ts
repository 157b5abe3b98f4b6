/**
 * Which Claude Code tools each persona may use (`--allowedTools`). In `--print` mode the CLI
 * refuses every tool that is not allowed ("Claude requested permissions to write to … but you
 * haven't granted it yet", measured with the real CLI 2.1.x), so a persona without Write can
 * produce nothing. Borg's choice: the manager (spec.md) and qa (a failing test) read the
 * repository and write files; the worker also edits and runs commands. Each list replaces
 * Borg's default for that persona when set in `borg.personaTools`; `borg.allowedTools` adds to
 * every persona.
 */
export const DEFAULT_PERSONA_TOOLS: Readonly<Record<string, readonly string[]>> = {
  manager: ['Read', 'Glob', 'Grep', 'Write'],
  qa: ['Read', 'Glob', 'Grep', 'Write'],
  worker: ['Read', 'Glob', 'Grep', 'Write', 'Edit', 'Bash'],
};

/** `borg.personaTools`: a persona's own list of tools (replacing its default). */
export type PersonaTools = Partial<Record<string, string[]>>;

/** The tools `persona` runs with: its override or default, then `extra`, without repeats. */
export function toolsFor(persona: string, overrides: PersonaTools, extra: readonly string[]): string[] {
  const own = overrides[persona] ?? DEFAULT_PERSONA_TOOLS[persona] ?? [];
  return [...new Set([...own, ...extra].map((t) => t.trim()).filter((t) => t !== ''))];
}

/**
 * Reads `borg.personaTools` (an object of persona → list of tool names). Anything else is
 * reported and skipped.
 */
export function readPersonaTools(raw: unknown): { tools: PersonaTools; problems: string[] } {
  const tools: PersonaTools = {};
  const problems: string[] = [];
  if (raw === undefined || raw === null) return { tools, problems };
  if (typeof raw !== 'object' || Array.isArray(raw)) return { tools, problems: ['borg.personaTools must be an object such as {"worker": ["Read", "Edit", "Bash"]}; using the defaults.'] };
  for (const [persona, list] of Object.entries(raw as Record<string, unknown>)) {
    if (Array.isArray(list) && list.every((x) => typeof x === 'string')) tools[persona] = list as string[];
    else problems.push(`borg.personaTools.${persona} must be a list of tool names; using the default for ${persona}.`);
  }
  return { tools, problems };
}
