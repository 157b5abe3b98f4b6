/** The machine a benchmark ran on, recorded with every result (figures from another machine are not comparable). */
import * as os from 'node:os';
import { DockerEngine } from '../src/core/engine';

export interface MachineFacts {
  cpus: number;
  cpuModel: string;
  /** Total memory, GiB (rounded). */
  memoryGiB: number;
  /** "Linux 6.1.0-…". */
  os: string;
  node: string;
  /** dockerd's version, or undefined when Docker does not answer. */
  docker?: string;
}

export async function machineFacts(): Promise<MachineFacts> {
  let docker: string | undefined;
  try {
    const v = (await new DockerEngine().docker.version()) as { Version?: string; ApiVersion?: string };
    docker = `${v.Version} (API ${v.ApiVersion})`;
  } catch {
    docker = undefined;
  }
  return {
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model.trim() ?? 'unknown',
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    os: `${os.type()} ${os.release()}`,
    node: process.versions.node,
    docker,
  };
}
