/**
 * Extra Docker daemons started by a test or a benchmark, one per simulated Docker host (issue 14:
 * "two dockerd instances started by the test itself, each in its own network namespace with its
 * own data-root and socket"). Each daemon `i` (1-based) gets:
 * - a network namespace `borg-h<i>-<pid>` with only `lo` (up): `ip netns add`, `ip -n … link set lo up`;
 * - its own folder `<tmp>/borg-h-<pid>-XXXXXX/h<i>/` holding `data/` (`--data-root`), `exec/`
 *   (`--exec-root`: its own managed containerd and its socket), `docker.pid` (`--pidfile`),
 *   `docker.sock` (`--host unix://…`), `daemon.json` (`--config-file`, `{}`: the machine's
 *   /etc/docker/daemon.json is never read) and `dockerd.log` (its stdout and stderr);
 * - its own cgroup parent `/borg-h<i>-<pid>` (`--cgroup-parent`), so the processes of its
 *   containers can be found (and killed) apart from every other daemon's;
 * - `--iptables=false --ip6tables=false --bridge=none`: no firewall rules, no docker0 bridge (the
 *   namespace has no network anyway); containers run with network `none` (Borg's default
 *   `gateway` mode: network none plus a unix socket bind-mounted from the host) — `bridge` is
 *   not available on these daemons.
 *
 * dockerd is entered into the namespace with `nsenter --net=/run/netns/<name>`, not `ip netns
 * exec`: the latter also unshares the mount namespace and mounts a fresh /sys, which hides
 * /sys/fs/cgroup (measured: dockerd 20.10 then fails with "Devices cgroup isn't mounted"). So the
 * daemons share the host's filesystem and mounts: bind mounts of host paths work as on the
 * main daemon. The daemon is detached (its own session, output to its log file, never the
 * caller's stdio; see ../shared/harness.md "Daemons started by scripts") and is ready when
 * dockerode's `ping()` answers on its socket.
 *
 * {@link DockerDaemons.stop} ends one daemon: `kill` (default) SIGKILLs dockerd (its containerd
 * dies with it: dockerd starts it with a parent-death signal), then every process left in its
 * network namespace (the containerd shims) and in its cgroup parent (the containers' processes)
 * — a host that vanished: nothing is told, nothing records an exit, the socket stays and
 * refuses connections. `graceful` sends SIGTERM and waits for dockerd to exit (it stops its
 * containers first). {@link DockerDaemons.dispose} stops all of them (kill), unmounts what they
 * left mounted under their folders, removes their cgroups, the shims' sockets in
 * /run/containerd/s, the folders and the namespaces; it never throws. Daemons of an earlier
 * run whose process is gone are swept at the next {@link DockerDaemons.start}.
 *
 * Needs root (network namespaces, dockerd), `ip` (iproute2), `nsenter` (util-linux) and dockerd.
 */
import { execFileSync, spawn, ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import Docker from 'dockerode';
import { buildDemoImage } from '../../src/core/demoImage';
import { DockerEngine } from '../../src/core/engine';

/** One extra daemon: a simulated Docker host. */
export interface TestDaemon {
  /** 1-based. */
  index: number;
  /** `h<index>`: the host's name for a hosts engine. */
  name: string;
  /** The network namespace, `borg-h<index>-<pid>`. */
  netns: string;
  /** Its folder (data-root, exec-root, socket, pid file, log). */
  dir: string;
  /** `unix://<dir>/docker.sock`: a `borg.dockerHost` / DockerEngine address. */
  address: string;
  socket: string;
  /** The cgroup parent of its containers (`--cgroup-parent`), without the leading slash. */
  cgroup: string;
  /** dockerd's process id. */
  pid: number;
  /** A DockerEngine on its socket (Borg's engine, for the code under test). */
  engine: DockerEngine;
  /** A plain dockerode client on its socket (for the test's own checks and floors). */
  docker: Docker;
  /** ms from the spawn until `ping()` answered. */
  readyMs: number;
  /** False once {@link DockerDaemons.stop} ended it. */
  up: boolean;
  /** dockerd's log file. */
  log: string;
}

export interface StartOptions {
  /** Import the demo image (buildDemoImage) into each daemon once it answers. Default true. */
  demoImage?: boolean;
  /** How long each daemon may take to answer `ping()`, ms. Default 60 000 (2-core machines under load). */
  readyTimeoutMs?: number;
}

/** Daemons started by this process so far: the `<n>` of `borg-h<n>-<pid>` (unique over every set of this process). */
let daemonSeq = 0;

/** The namespace and cgroup names carry the pid: `borg-h<n>-<pid>`. */
const NAME_RE = /^borg-h(\d+)-(\d+)$/;
const DIR_PREFIX = 'borg-h-';
const NETNS_DIR = '/run/netns';
const SHIM_SOCKETS = '/run/containerd/s';

/** How long a graceful stop may take before the daemon is killed (ms). */
const GRACEFUL_STOP_MS = 60_000;

/** N extra dockerd instances, each a simulated Docker host. Start with {@link DockerDaemons.start}; always {@link dispose}. */
export class DockerDaemons {
  private readonly children = new Map<number, { child: ChildProcess; exited: Promise<void> }>();
  /** Every namespace, cgroup and folder made so far, also of a daemon whose start failed: what dispose removes. */
  private readonly made: Array<{ netns: string; cgroup: string; dir: string }> = [];
  private disposed = false;

  private constructor(
    readonly root: string,
    readonly daemons: TestDaemon[],
  ) {}

  /**
   * Starts `count` daemons one after another (each is ready before the next starts: two
   * dockerds starting at once on 2 cores take longer than twice one).
   * @throws Error when not root, when a tool is missing, or when a daemon did not answer within
   *   `readyTimeoutMs` or exited first (the message holds its log's last lines); the daemons
   *   started so far are disposed first.
   */
  static async start(count: number, opts: StartOptions = {}): Promise<DockerDaemons> {
    if (process.getuid?.() !== 0) throw new Error('DockerDaemons needs root (network namespaces and dockerd).');
    await sweepStale();
    const root = fs.mkdtempSync(path.join(os.tmpdir(), `${DIR_PREFIX}${process.pid}-`));
    const set = new DockerDaemons(root, []);
    try {
      for (let i = 1; i <= count; i++) set.daemons.push(await set.startOne(i, opts));
    } catch (e) {
      await set.dispose();
      throw e;
    }
    return set;
  }

  /** The daemon with 1-based `index`. */
  get(index: number): TestDaemon {
    const d = this.daemons[index - 1];
    if (!d) throw new Error(`no daemon h${index}`);
    return d;
  }

  /**
   * Ends daemon `index` (1-based). Resolves once dockerd is gone.
   * - `kill`: SIGKILL dockerd, then every process of its namespace and its containers' cgroup: a
   *   lost machine (Docker records nothing, the containers are gone too).
   * - `crash`: SIGKILL dockerd only (its containerd dies with it): the containers' shims and
   *   processes keep running (measured on dockerd 20.10 / containerd 1.6 here), as after a dockerd
   *   crash on a machine that stays up — they still write to their bind mounts.
   * - `graceful`: SIGTERM, and wait until dockerd exited (it stops its containers first); one still up after GRACEFUL_STOP_MS is killed.
   */
  async stop(index: number, how: 'kill' | 'crash' | 'graceful' = 'kill'): Promise<void> {
    const d = this.get(index);
    if (!d.up) return;
    d.up = false;
    const c = this.children.get(index);
    c?.child.ref(); // the wait for its exit keeps this process alive (the child was unref'd)
    signal(d.pid, how === 'graceful' ? 'SIGTERM' : 'SIGKILL');
    if (how === 'graceful' && c) {
      // A daemon that does not stop within a minute is killed, so a stuck one cannot hang the test.
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), GRACEFUL_STOP_MS)));
      const how2 = await Promise.race([c.exited.then(() => 'exited' as const), late]);
      clearTimeout(timer);
      if (how2 === 'late') {
        signal(d.pid, 'SIGKILL');
        await c.exited;
        await killAll(d.netns, d.cgroup);
      }
      return;
    }
    await c?.exited;
    if (how === 'kill') await killAll(d.netns, d.cgroup);
  }

  /**
   * Resident memory (kB, VmRSS) of each daemon's dockerd and of everything else in its
   * namespace (containerd, shims): what one extra Docker host costs.
   */
  memory(): Array<{ name: string; dockerdKb: number; othersKb: number }> {
    return this.daemons.map((d) => {
      const pids = processesOf(d.netns, d.cgroup);
      const dockerdKb = rssKb(d.pid);
      const othersKb = pids.filter((p) => p !== d.pid).reduce((s, p) => s + rssKb(p), 0);
      return { name: d.name, dockerdKb, othersKb };
    });
  }

  /** Kills every daemon and removes all they left (mounts, cgroups, shim sockets, folders, namespaces). Never throws; safe to call twice. */
  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    for (const d of this.daemons) {
      try {
        await this.stop(d.index, 'kill');
      } catch (e) {
        console.error(`[daemons] stopping ${d.name}:`, e);
      }
    }
    await cleanUp(this.root, this.made);
  }

  private async startOne(index: number, opts: StartOptions): Promise<TestDaemon> {
    const name = `h${index}`;
    const netns = `borg-h${++daemonSeq}-${process.pid}`;
    const dir = path.join(this.root, name);
    const socket = path.join(dir, 'docker.sock');
    const log = path.join(dir, 'dockerd.log');
    this.made.push({ netns, cgroup: netns, dir });
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    fs.writeFileSync(path.join(dir, 'daemon.json'), '{}\n');
    execFileSync('ip', ['netns', 'add', netns], { stdio: 'pipe' });
    execFileSync('ip', ['-n', netns, 'link', 'set', 'lo', 'up'], { stdio: 'pipe' });
    const args = [
      `--net=${path.join(NETNS_DIR, netns)}`,
      '--',
      'dockerd',
      '--config-file',
      path.join(dir, 'daemon.json'),
      '--data-root',
      path.join(dir, 'data'),
      '--exec-root',
      path.join(dir, 'exec'),
      '--pidfile',
      path.join(dir, 'docker.pid'),
      '--host',
      `unix://${socket}`,
      '--cgroup-parent',
      `/${netns}`,
      '--iptables=false',
      '--ip6tables=false',
      '--bridge=none',
    ];
    const out = fs.openSync(log, 'a');
    const t0 = performance.now();
    let child: ChildProcess;
    try {
      // nsenter execs dockerd: the child's pid is dockerd's. detached: its own session (setsid).
      child = spawn('nsenter', args, { detached: true, stdio: ['ignore', out, out] });
    } finally {
      fs.closeSync(out);
    }
    let exitedEarly: string | undefined;
    const exited = new Promise<void>((resolve) => {
      child.once('exit', (code, sig) => {
        exitedEarly = `exited (${sig ?? code})`;
        resolve();
      });
      child.once('error', (e) => {
        exitedEarly = `could not start: ${e.message}`;
        resolve();
      });
    });
    child.unref();
    this.children.set(index, { child, exited });
    const engine = new DockerEngine(`unix://${socket}`);
    const docker = new Docker({ socketPath: socket });
    const limit = opts.readyTimeoutMs ?? 60_000;
    const end = Date.now() + limit;
    for (;;) {
      if (exitedEarly) throw new Error(`dockerd ${name} ${exitedEarly} before it answered; ${tailOf(log)}`);
      try {
        await docker.ping();
        break;
      } catch {
        if (Date.now() > end) throw new Error(`dockerd ${name} did not answer on ${socket} within ${limit} ms; ${tailOf(log)}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    const readyMs = performance.now() - t0;
    const daemon: TestDaemon = { index, name, netns, dir, address: `unix://${socket}`, socket, cgroup: netns, pid: child.pid!, engine, docker, readyMs, up: true, log };
    if (opts.demoImage ?? true) await buildDemoImage(engine);
    return daemon;
  }
}

/**
 * Where containerd 1.6 puts the socket of container `id`'s shim: /run/containerd/s/<hex sha256
 * of "<containerd address>/moby/<id>"> (runtime/v2/shim/util_unix.go SocketAddress; verified on
 * dockerd 20.10.24 / containerd 1.6.20 here). A killed shim leaves it behind.
 */
export function shimSocketOf(daemon: TestDaemon, id: string): string {
  return shimSocket(containerdSocket(daemon.dir), id);
}

function shimSocket(containerdAddress: string, id: string): string {
  return path.join(
    SHIM_SOCKETS,
    createHash('sha256')
      .update(path.join(containerdAddress, 'moby', id))
      .digest('hex'),
  );
}

/** The managed containerd's socket of the daemon whose folder is `dir` (under its exec-root). */
function containerdSocket(dir: string): string {
  return path.join(dir, 'exec', 'containerd', 'containerd.sock');
}

/** The last lines of a log file, for an error message. */
function tailOf(log: string, lines = 15): string {
  try {
    const text = fs.readFileSync(log, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
    return `the end of ${log}:\n${text}`;
  } catch {
    return `no log at ${log}`;
  }
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ESRCH') throw e;
  }
}

/** `net:[<inode>]` of a named namespace, as /proc/<pid>/ns/net links read; undefined when it is gone. */
function netnsId(netns: string): string | undefined {
  try {
    return `net:[${fs.statSync(path.join(NETNS_DIR, netns)).ino}]`;
  } catch {
    return undefined;
  }
}

/** Processes in namespace `netns` (dockerd, containerd, shims) or in cgroup `/<cgroup>/…` (containers). */
function processesOf(netns: string, cgroup: string): number[] {
  if (!NAME_RE.test(cgroup)) return []; // never "/" or another daemon's
  const ns = netnsId(netns);
  const out: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    try {
      if (ns && fs.readlinkSync(`/proc/${pid}/ns/net`) === ns) {
        out.push(pid);
        continue;
      }
      // "<id>:<controllers>:<path>" per hierarchy (v1) or "0::<path>" (v2).
      const lines = fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n');
      if (lines.some((l) => l.split(':')[2]?.startsWith(`/${cgroup}/`) || l.split(':')[2] === `/${cgroup}`)) out.push(pid);
    } catch {
      // gone meanwhile, or a kernel thread
    }
  }
  return out;
}

/** SIGKILLs every process {@link processesOf} finds until none is left (a container's init may fork while it dies). */
async function killAll(netns: string, cgroup: string): Promise<void> {
  if (!NAME_RE.test(netns) || !NAME_RE.test(cgroup)) throw new Error(`not a daemon's namespace or cgroup: "${netns}", "${cgroup}"`);
  for (let round = 0; round < 50; round++) {
    const pids = processesOf(netns, cgroup).filter((p) => p !== process.pid);
    if (pids.length === 0) return;
    for (const p of pids) signal(p, 'SIGKILL');
    // A killed process stays in /proc until it is reaped; wait for that (bounded), never a fixed sleep.
    const until = Date.now() + 2_000;
    while (Date.now() < until && pids.some((p) => alive(p))) await new Promise((r) => setTimeout(r, 10));
  }
  console.error(`[daemons] processes of ${netns} survived SIGKILL: ${processesOf(netns, cgroup).join(' ')}`);
}

/** True while /proc/<pid> exists and is not a zombie. */
function alive(pid: number): boolean {
  try {
    return !/^State:\s+Z/m.test(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return false;
  }
}

function rssKb(pid: number): number {
  try {
    return Number(/^VmRSS:\s+(\d+)/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
  } catch {
    return 0;
  }
}

/**
 * Removes what killed daemons leave: the shims' sockets (containerd 1.6 names them
 * /run/containerd/s/<sha256(address/namespace/id)>, runtime/v2/shim/util_unix.go SocketAddress),
 * mounts under `root` (overlay rootfs, the netns bind mounts, data-root's own bind), the
 * cgroups, `root` itself and the namespaces. Never throws.
 */
async function cleanUp(root: string, hosts: Array<{ netns: string; cgroup: string; dir: string }>): Promise<void> {
  const step = async (what: string, fn: () => unknown) => {
    try {
      await fn();
    } catch (e) {
      console.error(`[daemons] ${what}:`, (e as Error).message);
    }
  };
  for (const h of hosts) {
    if (h.netns) await step(`killing what is left of ${h.netns}`, () => killAll(h.netns, h.cgroup));
    if (h.dir)
      await step(`shim sockets of ${h.dir}`, () => {
        const containers = path.join(h.dir, 'data', 'containers');
        const address = containerdSocket(h.dir);
        for (const id of fs.existsSync(containers) ? fs.readdirSync(containers) : []) {
          fs.rmSync(shimSocket(address, id), { force: true });
        }
      });
  }
  await step('unmounting', () => {
    for (const m of mountsUnder(root)) {
      try {
        execFileSync('umount', ['-l', m], { stdio: 'pipe' });
      } catch (e) {
        console.error(`[daemons] umount ${m}:`, (e as Error).message);
      }
    }
  });
  for (const h of hosts) if (h.cgroup) await step(`cgroups of ${h.cgroup}`, () => removeCgroups(h.cgroup));
  await step(`removing ${root}`, () => fs.rmSync(root, { recursive: true, force: true }));
  for (const h of hosts)
    await step(`deleting namespace ${h.netns}`, () => {
      if (NAME_RE.test(h.netns) && fs.existsSync(path.join(NETNS_DIR, h.netns))) execFileSync('ip', ['netns', 'delete', h.netns], { stdio: 'pipe' });
    });
}

/** Mount points at or under `root`, deepest first (/proc/self/mountinfo field 5, octal escapes decoded). */
function mountsUnder(root: string): string[] {
  const points = fs
    .readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4])
    .filter((p): p is string => !!p)
    .map((p) => p.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))))
    .filter((p) => p === root || p.startsWith(`${root}/`));
  return [...new Set(points)].sort((a, b) => b.length - a.length);
}

/** rmdir of `/sys/fs/cgroup/<controller>/<name>` (v1) and `/sys/fs/cgroup/<name>` (v2), children first. */
function removeCgroups(name: string): void {
  if (!NAME_RE.test(name)) throw new Error(`not a daemon's cgroup: "${name}"`);
  const base = '/sys/fs/cgroup';
  const candidates = [path.join(base, name), ...fs.readdirSync(base).map((c) => path.join(base, c, name))];
  const rmTree = (dir: string): void => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) rmTree(path.join(dir, e.name));
    fs.rmdirSync(dir);
  };
  for (const c of candidates) {
    if (!fs.existsSync(c) || !fs.statSync(c).isDirectory()) continue;
    try {
      rmTree(c);
    } catch (e) {
      console.error(`[daemons] rmdir ${c}:`, (e as Error).message);
    }
  }
}

/**
 * Daemons of an earlier run whose process is gone (a crashed or killed test): kills what is
 * left in their namespaces and cgroups and removes their folders and namespaces. Only names
 * `borg-h<i>-<pid>` whose pid no longer exists are touched. Never throws.
 */
async function sweepStale(): Promise<void> {
  try {
    const dead = (pid: number) => {
      try {
        process.kill(pid, 0);
        return false;
      } catch (e) {
        return (e as NodeJS.ErrnoException).code === 'ESRCH';
      }
    };
    const byPid = new Map<number, Array<{ netns: string; cgroup: string; dir: string }>>();
    for (const ns of fs.existsSync(NETNS_DIR) ? fs.readdirSync(NETNS_DIR) : []) {
      const m = NAME_RE.exec(ns);
      if (!m || !dead(Number(m[2]))) continue;
      const list = byPid.get(Number(m[2])) ?? [];
      list.push({ netns: ns, cgroup: ns, dir: '' });
      byPid.set(Number(m[2]), list);
    }
    const tmp = os.tmpdir();
    for (const entry of fs.readdirSync(tmp)) {
      const m = new RegExp(`^${DIR_PREFIX}(\\d+)-`).exec(entry);
      if (!m || !dead(Number(m[1]))) continue;
      const root = path.join(tmp, entry);
      const st = fs.lstatSync(root);
      if (!st.isDirectory() || st.uid !== process.getuid?.()) continue; // only real folders this user made (never a link)
      // Folders are named by index in their set (h1, h2…), namespaces by a process-wide count: kill by namespace, remove every folder.
      const dirs = fs.readdirSync(root).map((d) => path.join(root, d));
      const hosts = [...(byPid.get(Number(m[1])) ?? []).map((h) => ({ ...h, dir: '' })), ...dirs.map((dir) => ({ netns: '', cgroup: '', dir }))];
      byPid.delete(Number(m[1]));
      await cleanUp(root, hosts);
    }
    for (const hosts of byPid.values()) await cleanUp(path.join(tmp, `${DIR_PREFIX}none`), hosts);
  } catch (e) {
    console.error('[daemons] sweep:', e);
  }
}
