import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { api, docker, until } from '../extension/helpers';
import { markerFile, RecoveryMarker } from './marker';

describe('Recovery after the extension host was killed (SIGKILL)', function () {
  this.timeout(120_000);
  const marker = JSON.parse(fs.readFileSync(markerFile(), 'utf8')) as RecoveryMarker;

  after(async () => {
    const left = await docker.listContainers({ all: true, filters: { name: [`^/${marker.prefix}-`] } });
    await Promise.all(
      left.map((c) =>
        docker
          .getContainer(c.Id)
          .remove({ force: true })
          .catch(() => undefined),
      ),
    );
  });

  it('finds the database the killed host wrote intact', async () => {
    const { ctx } = await api();
    assert.equal(ctx.store.file, marker.dbFile);
    assert.equal(ctx.store.recoveredFrom, undefined);
    for (const name of marker.names) assert.equal(ctx.store.getContainer(name)?.state, 'running', `${name} was recorded running`);
  });

  it('adopts the agents that kept running, counts them and follows them again', async () => {
    const { ctx } = await api();
    await ctx.refresh();
    for (const name of marker.names) {
      await until(`${name} adopted`, () => ctx.pipeline.agents.get(name)?.state === 'running');
      assert.ok(
        ctx.store.listEvents(name).some((e) => e.kind === 'adopted'),
        `${name} has an adopted event`,
      );
    }
    assert.equal(ctx.pipeline.runningCount, 2);
    await until('status bar 2/4', () => ctx.statusBar.text === '$(server-process) 2/4 agents');
    const first = ctx.pipeline.agents.get(marker.names[0])!;
    await until('new output from an adopted agent', () => /working \d+\/90/.test(first.lastLine ?? ''));
  });

  it('joins adopted agents like any other: Stop All stops them and records it', async () => {
    const { ctx } = await api();
    await ctx.pipeline.stopAll();
    for (const name of marker.names) {
      assert.equal(ctx.pipeline.agents.get(name)?.state, 'stopped');
      assert.equal((await docker.getContainer(name).inspect()).State.Running, false);
      assert.equal(ctx.store.getContainer(name)?.state, 'stopped');
    }
    assert.equal(ctx.pipeline.runningCount, 0);
  });
});
