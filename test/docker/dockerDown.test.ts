/**
 * Docker going away mid-run, against a real second dockerd the test starts itself (its own
 * network namespace, socket, data-root and exec-root; containers on network "none"), so the
 * suite's daemon is never touched: two running task phases go back to the queue with no attempt spent when the daemon
 * stops, and run to the end once it is back.
 */
import * as assert from 'node:assert/strict';
import { ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DockerWatch } from '../../src/core/dockerEvents';
import { DockerEngine } from '../../src/core/engine';
import { Git } from '../../src/core/git';
import { DEFAULT_HARDENING } from '../../src/core/hardening';
import { Prompts } from '../../src/core/prompts';
import { DEFAULT_TASK_SETTINGS, Scheduler } from '../../src/core/scheduler';
import { TaskStore } from '../../src/core/taskStore';
import { cleanupAll, DEMO_IMAGE, deriveImage, docker, harness, makeRepo, removeDerivedImages, waitFor, withTimeout } from './helpers';

const PROMPTS = path.join(__dirname, '..', '..', '..', 'media', 'prompts');

/** A dockerd of the test's own; `start()` again after `stop()` reuses its data-root. */
class SecondDaemon {
  readonly dir = fs.mkdtempSync(path.join(os.tmpdir(), 'borg-dd-'));
  readonly socket = path.join(this.dir, 'docker.sock');
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();

  async start(): Promise<DockerEngine> {
    const log = fs.openSync(path.join(this.dir, 'dockerd.log'), 'a');
    // Its own network namespace (unshare execs dockerd in it): its docker0 and iptables rules
    // never touch the suite's daemon (measured: a second daemon in the same namespace started
    // with --bridge none deletes the first one's docker0).
    const args = ['--host', `unix://${this.socket}`, '--data-root', path.join(this.dir, 'root'), '--exec-root', path.join(this.dir, 'exec'), '--pidfile', path.join(this.dir, 'dockerd.pid')];
    this.child = spawn('unshare', ['--net', 'dockerd', ...args, '--iptables=false', '--ip-masq=false'], { stdio: ['ignore', log, log], detached: true });
    const child = this.child;
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
    const engine = new DockerEngine(`unix://${this.socket}`);
    await waitFor(
      () =>
        engine.ping().then(
          () => true,
          () => false,
        ),
      30_000,
      'the second dockerd to answer',
    );
    return engine;
  }

  /** SIGTERM, as a service manager stops Docker; resolves once the daemon exited. */
  async stop(): Promise<void> {
    this.child?.kill('SIGTERM');
    await withTimeout(this.exited, 60_000, 'the second dockerd to exit');
    this.child = undefined;
  }

  async dispose(): Promise<void> {
    if (this.child) await this.stop().catch(() => undefined);
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

let daemon: SecondDaemon | undefined;
let image: string;

before(async () => {
  // Runs until stopped (traps SIGTERM like a real agent would not need to).
  image = await deriveImage('until-stopped', `trap 'exit 143' TERM; cat >/dev/null; echo '{"type":"system","subtype":"init","session_id":"s"}'; sleep 120 & wait $!`);
});

after(async () => {
  await daemon?.dispose();
  await removeDerivedImages();
  await cleanupAll();
});

/** Copies a local image of the suite's daemon into `engine`'s daemon (docker save | docker load). */
async function copyImage(ref: string, engine: DockerEngine): Promise<void> {
  const tar = await docker.getImage(ref).get();
  const out = await engine.docker.loadImage(tar);
  await new Promise<void>((resolve, reject) => engine.docker.modem.followProgress(out, (err: Error | null) => (err ? reject(err) : resolve())));
}

describe('Docker becomes unreachable mid-run', () => {
  it('two running phases go back to the queue without spending an attempt, and finish once Docker is back', { timeout: 240_000 }, async () => {
    daemon = new SecondDaemon();
    let engine = await daemon.start();
    await copyImage(image, engine);
    await copyImage(DEMO_IMAGE, engine);
    const h = await harness({ engine, settings: { image, hardening: { ...DEFAULT_HARDENING, network: 'none' } } });
    const repo = makeRepo(path.join(h.dir, 'repo'));
    const tasks = new TaskStore(h.store);
    const scheduler = new Scheduler({
      pipeline: h.pipeline,
      tasks,
      git: new Git(),
      prompts: new Prompts(PROMPTS),
      worktreeRoot: path.join(h.dir, 'worktrees'),
      settings: () => ({ ...DEFAULT_TASK_SETTINGS, testCommand: '' }),
      safetyIntervalMs: 500,
    });
    h.defer(async () => {
      scheduler.stop();
      await withTimeout(scheduler.join(), 15_000, 'scheduler.join');
      scheduler.dispose();
    });
    scheduler.start();
    const a = await scheduler.add({ title: 'First', description: '', repo });
    const b = await scheduler.add({ title: 'Second', description: '', repo });
    await waitFor(() => [a, b].every((t) => tasks.runs(t.id).some((r) => r.outcome === 'running' && r.agent)), 30_000, 'both managers to run');

    scheduler.pause(); // look at the interrupted state before anything runs again
    await daemon.stop();
    await waitFor(() => scheduler.activeIds.length === 0, 60_000, 'both runs to end');
    for (const t of [a, b]) {
      const now = tasks.get(t.id)!;
      assert.equal(now.status, 'spec', `task ${t.id} is back in the queue (${now.status}: ${now.lastError ?? ''})`);
      assert.equal(now.attempt, 0, `task ${t.id} spent no attempt`);
      assert.deepEqual(
        tasks.runs(t.id).map((r) => r.outcome),
        ['interrupted'],
      );
    }

    engine = await daemon.start();
    h.engine.connect(`unix://${daemon.socket}`); // the same address: a fresh connection
    h.settings.image = DEMO_IMAGE;
    scheduler.resume();
    await waitFor(() => [a, b].every((t) => ['done', 'failed', 'blocked'].includes(tasks.get(t.id)!.status)), 120_000, 'both tasks to finish');
    for (const t of [a, b]) assert.equal(tasks.get(t.id)!.status, 'done', tasks.get(t.id)!.lastError ?? '');
    const created = (await engine.list({ workspace: h.workspaceId })).filter((c) => c.status === 'created');
    assert.deepEqual(
      created.map((c) => c.name),
      [],
      'no never-started container is left behind',
    );
    await daemon.stop();
  });
});

describe('Live refresh across a Docker restart', () => {
  it('the event stream is lost when dockerd stops, the views show Docker down, and they recover when it is back — no reload, no new engine', { timeout: 180_000 }, async () => {
    const second = new SecondDaemon();
    try {
      const engine = await second.start();
      const h = await harness({ engine });
      const ups: boolean[] = [];
      const watch = new DockerWatch({ engine, refresh: () => h.pipeline.refresh(), firstDelayMs: 200, maxDelayMs: 1_000 });
      h.defer(() => watch.dispose());
      watch.onDidChangeConnection((up) => ups.push(up));
      watch.setActive(true);
      await waitFor(() => watch.connected && h.pipeline.dockerError === undefined, 30_000, 'the stream to open');
      await second.stop();
      await waitFor(() => !watch.connected && h.pipeline.dockerError !== undefined, 30_000, 'the loss to show');
      await second.start();
      await waitFor(() => watch.connected && h.pipeline.dockerError === undefined, 60_000, 'the watch to reconnect and refresh');
      assert.deepEqual(ups.slice(0, 3), [true, false, true]);
      await second.stop();
    } finally {
      await second.dispose();
    }
  });
});
