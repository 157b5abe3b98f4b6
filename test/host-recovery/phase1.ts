import * as fs from 'node:fs';
import * as vscode from 'vscode';
import { api, until } from '../extension/helpers';
import { markerFile, RecoveryMarker } from './marker';

/**
 * Phase 1 of the crash test: launch two agents, make sure the database is on disk, leave a
 * marker, then kill this extension host with SIGKILL (no deactivate, no flush).
 */
export async function run(): Promise<void> {
  const { ctx } = await api();
  const prefix = `borgr${process.pid}x${Math.floor(Math.random() * 1e5)}`;
  await vscode.workspace.getConfiguration('borg').update('containerPrefix', prefix, vscode.ConfigurationTarget.Workspace);
  await until('the prefix setting', () => ctx.config.prefix === prefix);
  const a = await ctx.pipeline.launch('worker', { input: { sleepSeconds: 90 } });
  const b = await ctx.pipeline.launch('qa', { input: { sleepSeconds: 90 } });
  await ctx.store.flush();
  const marker: RecoveryMarker = { pid: process.pid, names: [a.name, b.name], prefix, dbFile: ctx.store.file };
  fs.writeFileSync(`${markerFile()}.tmp`, JSON.stringify(marker));
  fs.renameSync(`${markerFile()}.tmp`, markerFile());
  process.kill(process.pid, 'SIGKILL');
  await new Promise(() => undefined);
}
