import type { ContainerInfo, HostState } from './engine';
import { plainText } from './streamText';

/**
 * Where agents run, counted per Docker host (`borg.docker.hosts`, {@link HostState}) or Swarm
 * node ({@link ContainerInfo.host} only): what the Agents view groups by and the status bar lists
 * when there is more than one. Host names and errors come from settings and Docker (a node's
 * hostname from the swarm): {@link hostText} makes them inert, one-line text.
 */

/** One host or node as the views show it. */
export interface HostCount {
  /** The host's name ({@link HostState.name}) or the node's hostname, as Docker or the settings gave it (not yet made inert). */
  name: string;
  /** Containers of this workspace on it, and how many of them run. */
  agents: number;
  running: number;
  /** What the engine knows of it (slots, up, error); undefined for a Swarm node or a host the engine no longer lists. */
  state?: HostState;
}

/** How a host is named in words: a Docker host of the hosts engine, or a Swarm node. */
export type HostWord = 'Host' | 'Node';

/** `Host` when the engine lists its hosts ({@link Engine.hosts}), else `Node` (Swarm places tasks on nodes itself). */
export function hostWordOf(hosts: readonly HostState[] | undefined): HostWord {
  return hosts ? 'Host' : 'Node';
}

/**
 * Every host the views show, in order: the engine's hosts as configured (also those with no
 * container, so a host that is down shows), then any other host a container names, by name.
 * Containers with no host (one daemon; a Swarm task not placed yet) count nowhere.
 */
export function hostCounts(containers: readonly ContainerInfo[], hosts?: readonly HostState[]): HostCount[] {
  const by = new Map<string, HostCount>();
  for (const state of hosts ?? []) if (!by.has(state.name)) by.set(state.name, { name: state.name, agents: 0, running: 0, state });
  const others: HostCount[] = [];
  for (const c of containers) {
    if (c.host === undefined || c.host === '') continue;
    let h = by.get(c.host);
    if (!h) {
      h = { name: c.host, agents: 0, running: 0 };
      by.set(c.host, h);
      others.push(h);
    }
    h.agents++;
    if (c.status === 'running') h.running++;
  }
  const listed = [...by.values()].filter((h) => !others.includes(h));
  return [...listed, ...others.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))];
}

/** True when the views group and label by host: more than one host ({@link hostCounts}). */
export function manyHosts(counts: readonly HostCount[]): boolean {
  return counts.length > 1;
}

/** Longest host name or error the views show in one line (characters); the rest is cut with `…`. */
export const HOST_TEXT_MAX = 120;

/**
 * `s` as one inert line for a label, description or tooltip: escapes and control characters
 * (C0, C1, DEL, bidirectional controls) dropped, every run of whitespace one space, at most
 * `max` characters. Markdown is not escaped here (the tooltip does that).
 */
export function hostText(s: string, max = HOST_TEXT_MAX): string {
  const line = plainText(s).replace(/\s+/g, ' ').trim();
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
}

/** `2/4` (running/slots) when the slots are known, else `2 running`; `down — <error>` when the engine says it is down. */
export function hostLoad(h: HostCount): string {
  if (h.state && !h.state.up) return `down${h.state.error ? ` — ${hostText(h.state.error)}` : ''}`;
  return h.state ? `${h.running}/${h.state.slots}` : `${h.running} running`;
}
