import * as vscode from 'vscode';

/** The SecretStorage key of the Anthropic API key. */
const ANTHROPIC_KEY = 'borg.anthropicApiKey';

/**
 * The Anthropic API key in VS Code's SecretStorage (the OS keychain where there is one). Only the
 * model gateway reads it, per request (core/gateway/gateway.ts); it never reaches a container,
 * env, labels, the command line, logs, input.json or the DB.
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

  /** The key the gateway sends the model, or undefined when none is set. */
  async anthropicKey(): Promise<string | undefined> {
    return (await this.storage.get(ANTHROPIC_KEY)) || undefined;
  }
}
