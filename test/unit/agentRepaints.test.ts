import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { DEFAULT_SETTINGS, Pipeline } from '../../src/core/pipeline';
import { StateDirs } from '../../src/core/stateDirs';
import { Store } from '../../src/core/store';
import { AgentRepaints, ROW_REPAINT_MS } from '../../src/vscode/agentRepaints';
import { AgentsNode, ContainerNode, containerRows, timeOf } from '../../src/vscode/agentTree';
import { FakeDocker } from './fakeDocker';
import { ManualTimers } from './manualTimers';

const WS = 'ws-unit-repaints';
const dirs: string[] = [];
after(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

/** A Pipeline over FakeDocker, the repaints on a manual clock, and a target that counts what it is told (and paints like the tree). */
async function rig() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'borg-repaints-'));
  dirs.push(dir);
  const engine = new FakeDocker();
  const store = await Store.open(path.join(dir, 'borg.sqlite'));
  const pipeline = new Pipeline({ engine, store, stateDirs: new StateDirs(path.join(dir, 'agents')), workspaceId: WS, settings: () => ({ ...DEFAULT_SETTINGS, prefix: 'u', image: 'img' }) });
  const timers = new ManualTimers();
  const seen = { full: 0, rows: [] as ContainerNode[][], visible: true };
  const paint = (rows: readonly ContainerNode[]) => {
    for (const r of rows) repaints.markPainted(r.name, timeOf(r.info, pipeline.agents.get(r.name), timers.now()));
  };
  const repaints = new AgentRepaints(
    pipeline,
    {
      visible: () => seen.visible,
      full: (roots: AgentsNode[]) => {
        seen.full++;
        paint(containerRows(roots));
      },
      rows: (rows) => {
        seen.rows.push(rows);
        paint(rows);
      },
    },
    { timers, groupBy: () => 'none' },
  );
  repaints.update(true);
  /** Reads Docker again and lets the debounced repaint run. */
  const refresh = async () => {
    await pipeline.refresh();
    timers.advance(150);
  };
  return { engine, pipeline, timers, seen, repaints, refresh };
}

async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 10_000 && !cond(); i++) await new Promise((r) => setImmediate(r));
  assert.ok(cond(), 'condition never held');
}

describe('what the Agents tree repaints', () => {
  it('a chatty agent repaints its own row once per interval, with the node the tree got, and never the whole tree', async () => {
    const r = await rig();
    const { name, agent } = await r.pipeline.launch('worker');
    await r.refresh();
    const row = r.repaints.row(name);
    assert.ok(row, 'the row is shown');
    const fullBefore = r.seen.full;
    let fed = 0;
    for (let burst = 0; burst < 5; burst++) {
      r.engine.output(name, ...Array.from({ length: 100 }, () => `line ${fed++}`));
      await until(() => agent.lastLine === `line ${fed - 1}`);
      assert.equal(r.seen.rows.length, burst, 'nothing before the interval ends');
      r.timers.advance(ROW_REPAINT_MS);
    }
    assert.equal(fed, 500);
    assert.equal(r.seen.rows.length, 5, '500 lines in 5 intervals: 5 row repaints');
    for (const rows of r.seen.rows) assert.deepEqual(rows, [row]);
    for (const rows of r.seen.rows) assert.equal(rows[0], row, 'the same object');
    assert.equal(r.seen.full, fullBefore, 'no full repaint for output');
    r.engine.exit(name, 0);
    await r.pipeline.joinAgents();
  });

  it("repaints in full when a row's state changes, and not for a refresh that changed nothing", async () => {
    const r = await rig();
    const { name, agent } = await r.pipeline.launch('worker');
    await r.refresh();
    const full = r.seen.full;
    await r.refresh();
    await r.refresh();
    assert.equal(r.seen.full, full, 'same rows, same states');
    r.engine.exit(name, 3);
    await agent.done;
    await r.pipeline.joinAgents();
    await r.refresh();
    assert.equal(r.seen.full, full + 1, 'running → exited 3');
    assert.equal(r.repaints.row(name)?.info.status, 'exited');
  });

  it('hidden: no row repaints and no clock; shown again: one full repaint', async () => {
    const r = await rig();
    const { name, agent } = await r.pipeline.launch('worker');
    await r.refresh();
    r.seen.visible = false;
    r.repaints.visibilityChanged(false);
    assert.equal(r.repaints.clockSet, false, 'no timer while hidden');
    const full = r.seen.full;
    r.engine.output(name, 'a', 'b', 'c');
    await until(() => agent.lastLine === 'c');
    r.timers.advance(10 * 60_000);
    assert.equal(r.seen.rows.length, 0);
    assert.equal(r.timers.count, 0, 'nothing scheduled at all');
    r.seen.visible = true;
    r.repaints.visibilityChanged(true);
    assert.equal(r.seen.full, full + 1);
    assert.equal(r.repaints.clockSet, true, 'the clock runs again');
    r.engine.exit(name, 0);
    await r.pipeline.joinAgents();
  });

  it('relative times: an exited row repaints exactly when its words change (at the minute), counted from the exit', async () => {
    const r = await rig();
    const { name, agent } = await r.pipeline.launch('worker');
    r.engine.exit(name, 0);
    await agent.done;
    await r.pipeline.joinAgents();
    await r.refresh();
    const row = r.repaints.row(name)!;
    const finished = Date.parse(row.info.finishedAt!);
    assert.equal(timeOf(row.info, agent, r.timers.now()), '<1 min ago');
    const toMinute = finished + 60_000 - r.timers.now();
    r.timers.advance(toMinute - 1);
    assert.equal(r.seen.rows.length, 0, 'words unchanged before the minute');
    r.timers.advance(100);
    assert.equal(r.seen.rows.length, 1);
    assert.equal(r.seen.rows[0][0], row);
    assert.equal(timeOf(row.info, agent, r.timers.now()), '1 min ago');
    r.timers.advance(60_000);
    assert.equal(r.seen.rows.length, 2, 'the next minute');
  });
});
