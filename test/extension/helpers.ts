import * as assert from 'node:assert/strict';
import Docker from 'dockerode';
import * as vscode from 'vscode';
import type { BorgContext } from '../../src/vscode/ctx';
import type { BorgApi } from '../../src/vscode/extension';

export const EXTENSION_ID = 'borg-pipeline.borg-pipeline';
export const docker = new Docker();
/** One container prefix for the whole host run, so cleanup finds everything the suite created. */
export const prefix = `borgt${process.pid}x${Math.floor(Math.random() * 1e6)}`;

/** Borg's context once it has started (activate() returns before: `BorgApi.ready`). */
export async function api(): Promise<{ ctx: BorgContext }> {
  const ext = vscode.extensions.getExtension<BorgApi>(EXTENSION_ID);
  assert.ok(ext, `extension ${EXTENSION_ID} is installed in the host`);
  return { ctx: await (await ext.activate()).ready };
}

export async function setConfig(key: string, value: unknown): Promise<void> {
  await vscode.workspace.getConfiguration('borg').update(key, value, vscode.ConfigurationTarget.Workspace);
}

/** Polls `fn` every 100 ms until it returns something truthy; fails after `ms`. */
export async function until<T>(what: string, fn: () => T | undefined | false | Promise<T | undefined | false>, ms = 20_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Sets the suite's container prefix and waits until the extension read it. */
export async function usePrefix(): Promise<void> {
  const { ctx } = await api();
  await setConfig('containerPrefix', prefix);
  await until('the prefix setting', () => ctx.config.prefix === prefix);
}

/** Force-removes every container the suite created. */
export async function removeSuiteContainers(): Promise<void> {
  const left = await docker.listContainers({ all: true, filters: { name: [`^/${prefix}-`] } });
  await Promise.all(
    left.map((c) =>
      docker
        .getContainer(c.Id)
        .remove({ force: true })
        .catch(() => undefined),
    ),
  );
}
