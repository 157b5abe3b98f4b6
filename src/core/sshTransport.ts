import * as http from 'node:http';
import type { Duplex } from 'node:stream';

/** What ssh2's `Client.connect` takes (host, port, username, agent / privateKey, hostVerifier, algorithms, …). */
export type SshConnectConfig = Record<string, unknown>;

/**
 * An http.Agent whose connections are SSH sessions running `docker system dial-stdio` on the
 * host — the Docker CLI's ssh:// transport (docker/cli `cli/connhelper`), and docker-modem's
 * (lib/ssh.js), with one difference: when the HTTP client lets go of a connection (the response
 * read, a request aborted — a `wait` or `attach` of an agent that was detached), the SSH
 * connection is ended at once. docker-modem's leaves it open until the remote channel closes,
 * which `dial-stdio` does not do while the daemon keeps the request open: measured, a detached
 * `borg launch` over ssh:// never exited.
 *
 * ssh2 is required on the first connection only (it probes the ciphers at load; build.mjs keeps
 * it out of the start-up path). One SSH connection per HTTP connection, as docker-modem does
 * (sshd's MaxSessions, default 10, limits the sessions per connection; an agent holds two).
 */
export function sshHttpAgent(config: SshConnectConfig): http.Agent {
  const agent = new http.Agent({ keepAlive: false });
  (agent as unknown as { createConnection: unknown }).createConnection = (_options: unknown, done: (err: Error | null, socket?: Duplex) => void) => {
    const { Client } = require('ssh2') as typeof import('ssh2'); // eslint-disable-line @typescript-eslint/no-require-imports
    const conn = new Client();
    let settled = false;
    const fail = (err: Error) => {
      conn.end();
      if (settled) return;
      settled = true;
      done(sshError(err, config));
    };
    conn.once('ready', () => {
      conn.exec('docker system dial-stdio', (err, stream) => {
        if (err) return fail(err);
        settled = true;
        const socket = stream as unknown as Duplex;
        const destroy = socket.destroy.bind(socket);
        socket.destroy = (e?: Error) => {
          destroy(e);
          conn.end(); // the HTTP client is done with it: end the SSH connection, whatever dial-stdio does
          return socket;
        };
        socket.once('close', () => conn.end());
        socket.on('error', () => conn.end());
        done(null, socket);
      });
    });
    conn.on('error', fail);
    conn.on('close', () => {
      if (!settled) fail(new Error('the SSH connection closed before Docker answered'));
    });
    try {
      conn.connect(config as Parameters<typeof conn.connect>[0]);
    } catch (e) {
      fail(e as Error);
    }
    return undefined;
  };
  return agent;
}

/**
 * An ssh2 failure as the error the engine reads as "not reachable": socket errors keep their
 * code (ECONNREFUSED, ENOTFOUND, …); the SSH layer's (host key refused, login refused, handshake)
 * get `code: 'ESSH'` and words that say what to check.
 */
export function sshError(err: Error, config: SshConnectConfig): Error {
  if (typeof (err as NodeJS.ErrnoException).code === 'string') return err;
  const where = `${String(config.username)}@${String(config.host)}:${String(config.port)}`;
  const why = /verification failed/i.test(err.message)
    ? `the SSH host key of ${where} is not the one in known_hosts (a changed key, or someone in between): refused`
    : /authentication methods failed/i.test(err.message)
      ? `SSH login to ${where} failed: none of the keys (ssh-agent, ~/.ssh/id_ed25519, …) was accepted`
      : `SSH to ${where} failed: ${err.message}`;
  return Object.assign(new Error(why, { cause: err }), { code: 'ESSH' });
}
