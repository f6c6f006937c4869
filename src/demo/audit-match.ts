// Which audit events belong to one demo check, and which of them decided it.
//
// The demo runs its checks one after another, so the events a check caused are the lines
// appended to the sandbox's audit log after it started: its `command_policy` (found by the
// command text, `fields.command`), then everything up to that command's `command_finished`
// that carries its command_id (nested execs, file decisions, signals, soft deletes) or no
// command id at all (proxy connections are recorded per session).

import type { AuditEvent } from '../audit/event.js';
import { toolboxCommand } from '../provider/daytona.js';

/** An audit line as read back from the log: any field may be missing from a line. */
export type DemoAuditEvent = Pick<AuditEvent, 'type'> & Partial<Omit<AuditEvent, 'type'>>;

export interface Decider {
  type: string;
  rule: string;
  decision: string;
}

/** Parses JSONL, skipping a partly written last line. */
export function parseEvents(text: string): DemoAuditEvent[] {
  const out: DemoAuditEvent[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    try {
      out.push(JSON.parse(line) as DemoAuditEvent);
    } catch {
      // a line being written
    }
  }
  return out;
}

export interface Window {
  /** The check's top-level command decision, when found. */
  policy: DemoAuditEvent | null;
  events: DemoAuditEvent[];
  /** The command_finished event was seen, or the command was refused before it ran. */
  complete: boolean;
}

/**
 * The events of the command `cmd` among `events` (those appended since the check started).
 * The top-level command is `cmd` itself (a toolbox that runs `bash -c CMD`), or
 * `/bin/bash -c 'CMD'` (Daytona's provider with a toolbox that has no shell); a shell fed
 * the command on stdin (Daytona's current toolbox) records the shell's own argv: then the
 * first command decision since the check started is the check's (checks run one at a time).
 */
/** The recorded command of a shell reading its script on stdin: just the shell. */
const STDIN_SHELL = /^(\S*\/)?(zsh|bash|sh|dash)(\.real)?$/;

export function commandWindow(events: DemoAuditEvent[], cmd: string): Window {
  const texts = new Set([cmd, toolboxCommand(cmd, 'exec')]);
  let start = events.findIndex((e) => e.type === 'command_policy' && texts.has(e.fields?.command as string));
  if (start < 0) start = events.findIndex((e) => e.type === 'command_policy' && STDIN_SHELL.test(String(e.fields?.command ?? '')));
  if (start < 0) return { policy: null, events: [], complete: false };
  const policy = events[start]!;
  const id = policy.command_id;
  const out: DemoAuditEvent[] = [policy];
  for (const e of events.slice(start + 1)) {
    if (e.type === 'command_finished' && e.command_id === id) return { policy, events: [...out, e], complete: true };
    if (e.command_id === undefined || e.command_id === id) out.push(e);
  }
  // A refused command never starts: its policy event is all there is.
  return { policy, events: out, complete: policy.decision !== 'allow' && !events.some((e) => e.type === 'command_started' && e.command_id === id) };
}

const DECIDING_TYPES = new Set(['command_policy', 'exec', 'net_connect', 'file_policy', 'signal', 'file_soft_deleted', 'env_policy', 'approval']);

/**
 * The event that decided the check: the first one that refused or diverted something (deny,
 * soft_delete, approve, redirect), else the top-level command's allow.
 */
export function decider(w: Window): Decider | null {
  const pick = (e: DemoAuditEvent): Decider => ({ type: e.type, rule: e.rule ?? (e.fields?.rule as string | undefined) ?? '?', decision: e.decision ?? '?' });
  const refusing = w.events.find((e) => DECIDING_TYPES.has(e.type) && e.decision !== undefined && e.decision !== 'allow' && e.decision !== 'audit');
  if (refusing) return pick(refusing);
  return w.policy ? pick(w.policy) : null;
}

/** Every (rule, decision) the window shows, for "the audit names rule R" checks. */
export function rulesSeen(w: Window): Decider[] {
  return w.events.filter((e) => DECIDING_TYPES.has(e.type) && (e.rule || e.fields?.rule)).map((e) => ({ type: e.type, rule: (e.rule ?? e.fields?.rule) as string, decision: e.decision ?? '?' }));
}
