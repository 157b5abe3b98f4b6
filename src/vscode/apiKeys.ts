import * as vscode from 'vscode';

/** The SecretStorage key of the Anthropic API key. */
const ANTHROPIC_KEY = 'borg.anthropicApiKey';

/**
 * Agent secrets in VS Code's SecretStorage (the OS keychain where there is one). They reach an
 * agent only inside its stdin JSON (see Pipeline's `secrets` option) — never env, labels, the
 * command line, logs, input.json or the DB.
 */
export class ApiKeys {
  constructor(private readonly storage: vscode.SecretStorage) {}

  /** Stores the Anthropic API key; an empty value deletes it. */
  async setAnthropicKey(key: string): Promise<void> {
    if (key.trim()) await this.storage.store(ANTHROPIC_KEY, key.trim());
    else await this.storage.delete(ANTHROPIC_KEY);
  }

  async hasAnthropicKey(): Promise<boolean> {
    return !!(await this.storage.get(ANTHROPIC_KEY));
  }

  /** The secrets every agent receives on stdin: `{ ANTHROPIC_API_KEY }` when set. */
  async forAgents(): Promise<Record<string, string>> {
    const key = await this.storage.get(ANTHROPIC_KEY);
    return key ? { ANTHROPIC_API_KEY: key } : {};
  }
}
