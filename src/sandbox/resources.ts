// Resource limits for governed commands: the policy's `resource_limits` (and the config's
// sandbox.limits) turned into launcher plan parts, with an honest account of what is
// enforced on this machine and how.
//
//   limitsFromPolicy()  policy + config sections → CgroupLimits (bytes, percent, counts)
//   resourcePlan()      limits + cgroup probe → the session plan's part (fallback rlimits),
//                       which limits are active and by which mechanism (for `agentsh detect`)
//   ResourceManager     per command: creates its cgroup before the launch (the launcher's
//                       `cgroup PATH` directives join it), removes it when the command ended
//                       (killing leftovers), also when the launcher failed
//
// Without a usable cgroup controller the fallbacks are rlimits, which are per PROCESS, not
// per command tree:
//   memory  RLIMIT_AS = max(4 x limit, limit + 1 GiB): it counts virtual address space
//           (reservations, mapped libraries, thread stacks), not memory in use, so the
//           limit must be generous or ordinary programs fail; each process gets its own.
//   pids    RLIMIT_NPROC counts every process of the real uid host-wide and is ignored for
//           root: applied only when the command runs as a dedicated non-root uid.
//   cpu     not enforced: RLIMIT_CPU is CPU seconds, not a share of a CPU.
//   swap, disk I/O: not enforced.
import type { Plan, RlimitName, RlimitValue } from './launcher.js';
import {
  createCommandCgroup, LIMIT_NAMES, probeCgroups,
  type CgroupHandle, type CgroupLimits, type CgroupProbe, type CgroupUsage, type Controller, type LimitName, type LimitStatus, type RemoveResult,
} from './cgroups.js';

export type { CgroupLimits, LimitName, LimitStatus } from './cgroups.js';

const MIB = 1024 * 1024;
const GIB = 1024 * MIB;
export const RLIMIT_AS_MULTIPLE = 4;
export const RLIMIT_AS_MIN_HEADROOM = GIB;
/** The launcher's limit on `cgroup` directives. */
export const MAX_CGROUP_DIRECTIVES = 8;

/** The policy's resource_limits section (src/policy/schema.ts). */
export interface PolicyResourceLimits {
  max_memory_mb?: number;
  memory_swap_max_mb?: number;
  cpu_quota_percent?: number;
  pids_max?: number;
  disk_read_bps_max?: number;
  disk_write_bps_max?: number;
}

/** The config's sandbox.limits section (src/config/schema.ts). */
export interface ConfigSandboxLimits {
  max_memory_mb?: number;
  max_cpu_percent?: number;
  max_processes?: number;
}

const stricter = (a: number | undefined, b: number | undefined) => (a === undefined ? b : b === undefined ? a : Math.min(a, b));
/** 0 means "no limit" for these (the schema allows 0). */
const positive = (n: number | undefined) => (n !== undefined && n > 0 ? n : undefined);

/**
 * The limits for a command: the policy's resource_limits, narrowed by the config's
 * sandbox.limits where both are set (the operator's config is a ceiling a policy can't
 * raise). 0 means unlimited except for memory_swap_max_mb, where 0 means no swap.
 */
export function limitsFromPolicy(policy?: PolicyResourceLimits, config?: ConfigSandboxLimits): CgroupLimits {
  const mb = (n: number | undefined) => (n === undefined ? undefined : n * MIB);
  const out: CgroupLimits = {
    memoryBytes: mb(stricter(positive(policy?.max_memory_mb), positive(config?.max_memory_mb))),
    swapBytes: mb(policy?.memory_swap_max_mb),
    cpuPercent: stricter(positive(policy?.cpu_quota_percent), positive(config?.max_cpu_percent)),
    pidsMax: stricter(positive(policy?.pids_max), positive(config?.max_processes)),
    diskReadBps: positive(policy?.disk_read_bps_max),
    diskWriteBps: positive(policy?.disk_write_bps_max),
  };
  for (const k of Object.keys(out) as Array<keyof CgroupLimits>) if (out[k] === undefined) delete out[k];
  return out;
}

export interface ResourceContext {
  /** The uid the command runs as (plan.uid); undefined = the server's. */
  uid?: number;
  /** That uid is used by this session's commands only (RLIMIT_NPROC counts the whole uid). */
  dedicatedUid?: boolean;
}

export interface ResourceActive {
  /** 'cgroup-v1', 'cgroup-v2', 'cgroup-v1+v2', 'rlimit' (fallbacks only), 'none'. */
  mechanism: string;
  limits: Record<LimitName, LimitStatus>;
}

export interface ResourcePlan {
  /** Merge into the session plan (fallback rlimits; the cgroups come per command). */
  planPart: Partial<Plan>;
  active: ResourceActive;
  /** The controllers the per-command cgroups need (empty: no cgroup is created). */
  cgroupControllers: Controller[];
  notes: string[];
}

const CONTROLLER_OF: Record<LimitName, Controller> = { memory: 'memory', swap: 'memory', cpu: 'cpu', pids: 'pids', diskRead: 'io', diskWrite: 'io' };

function requestedOf(l: CgroupLimits): Record<LimitName, number | undefined> {
  return { memory: l.memoryBytes, swap: l.swapBytes, cpu: l.cpuPercent, pids: l.pidsMax, diskRead: l.diskReadBps, diskWrite: l.diskWriteBps };
}

/**
 * Decides, for each requested limit, the mechanism that will enforce it on this machine:
 * the per-command cgroup when the probe found the controller, else the rlimit fallback
 * (see the header), else nothing, said so in `active` and `notes`.
 */
export function resourcePlan(limits: CgroupLimits, probe: CgroupProbe, ctx: ResourceContext = {}): ResourcePlan {
  const req = requestedOf(limits);
  const notes: string[] = [...probe.notes];
  const rlimits: Partial<Record<RlimitName, RlimitValue | [RlimitValue, RlimitValue]>> = {};
  const out = {} as Record<LimitName, LimitStatus>;
  const controllers = new Set<Controller>();
  const v = (c: Controller) => probe.controllers[c];
  for (const name of LIMIT_NAMES) {
    const requested = req[name] ?? null;
    if (requested === null) { out[name] = { requested: null, enforced: 'no', via: 'not requested' }; continue; }
    const c = CONTROLLER_OF[name];
    if (v(c)) {
      controllers.add(c);
      out[name] = { requested, enforced: 'yes', via: `cgroup v${v(c)} ${c}` };
      if (name === 'swap' && !probe.swapAccounting) out[name] = { requested, enforced: 'no', via: `cgroup v${v(c)} memory without swap accounting` };
      if (name === 'swap' && v(c) === 1 && req.memory === undefined) out[name] = { requested, enforced: 'no', via: 'cgroup v1 limits swap only together with memory' };
      if (name === 'diskWrite' && (v(c) === 1 || v('memory') !== 2)) out[name] = { requested, enforced: 'partial', via: `cgroup v${v(c)} ${c}: direct I/O only, buffered writeback is not attributed` };
      continue;
    }
    if (name === 'memory') {
      const as = Math.max(RLIMIT_AS_MULTIPLE * requested, requested + RLIMIT_AS_MIN_HEADROOM);
      rlimits.AS = as;
      out[name] = { requested, enforced: 'partial', via: `rlimit AS=${Math.round(as / MIB)} MiB per process (virtual memory, ${RLIMIT_AS_MULTIPLE}x the limit or +1 GiB: not memory in use, not the whole command tree)` };
      notes.push(`memory: no usable memory cgroup; RLIMIT_AS ${Math.round(as / MIB)} MiB per process instead (counts virtual memory)`);
    } else if (name === 'pids') {
      if (ctx.uid !== undefined && ctx.uid !== 0 && ctx.dedicatedUid) {
        rlimits.NPROC = requested;
        out[name] = { requested, enforced: 'partial', via: `rlimit NPROC=${requested} (every process of uid ${ctx.uid}, host-wide)` };
      } else {
        out[name] = { requested, enforced: 'no', via: 'no pids cgroup; RLIMIT_NPROC needs a dedicated non-root uid (it counts the whole uid and root ignores it)' };
      }
    } else if (name === 'cpu') {
      out[name] = { requested, enforced: 'no', via: 'no cpu cgroup; RLIMIT_CPU limits CPU seconds, not a share of a CPU' };
    } else {
      out[name] = { requested, enforced: 'no', via: `no ${c} cgroup controller` };
    }
    if (name !== 'memory') notes.push(`${name}: ${out[name].via}`);
  }
  const usedCgroup = [...controllers].some((c) => v(c));
  const usedRlimit = Object.keys(rlimits).length > 0;
  const mechanism = usedCgroup ? `${probe.mechanism}${usedRlimit ? '+rlimit' : ''}` : usedRlimit ? 'rlimit' : 'none';
  return {
    planPart: Object.keys(rlimits).length ? { rlimits } : {},
    active: { mechanism, limits: out },
    cgroupControllers: [...controllers],
    notes,
  };
}

/** One line per limit, for `agentsh detect`. */
export function formatResourceActive(a: ResourceActive): string[] {
  return LIMIT_NAMES.filter((n) => a.limits[n].requested !== null).map((n) => `${n}: ${a.limits[n].enforced} — ${a.limits[n].via}`);
}

// ------------------------------------------------------------------------ per command

export interface CommandResources {
  /** Merge into the command's plan: `cgroups` (the join directives) and fallback rlimits. */
  planPart: Partial<Plan>;
  cgroup: CgroupHandle | null;
  /** What this command's limits really are (the cgroup's files as written). */
  active: ResourceActive;
  usage(): CgroupUsage;
  /** Kills leftovers and removes the cgroup; returns the last usage. Never throws; idempotent. */
  release(): Promise<{ usage: CgroupUsage; removal: RemoveResult }>;
}

export interface ResourceManagerOptions extends ResourceContext {
  /** Default: probeCgroups() once, at construction. */
  probe?: CgroupProbe;
  serverPid?: number;
  /** agentsh's directory in each parent cgroup (default 'agentsh'). */
  base?: string;
  /** Run with a limit the kernel refused instead of failing the command (config sandbox.cgroups.best_effort). */
  bestEffort?: boolean;
}

/** Per-command cgroups for one set of limits (one per session/policy). */
export class ResourceManager {
  readonly probe: CgroupProbe;
  readonly plan: ResourcePlan;
  private readonly live = new Set<CommandResources>();
  private seq = 0;

  constructor(readonly limits: CgroupLimits, private readonly opts: ResourceManagerOptions = {}) {
    this.probe = opts.probe ?? probeCgroups(opts.base !== undefined ? { base: opts.base } : {});
    this.plan = resourcePlan(limits, this.probe, opts);
  }

  /**
   * Creates the command's cgroup (when a limit needs one) and returns the plan part that
   * makes the command join it. Call release() when the command ended, whatever happened.
   * Throws when a required limit can't be set and bestEffort is off (nothing is left behind).
   */
  prepare(commandId: string = `cmd-${++this.seq}-${Date.now().toString(36)}`): CommandResources {
    const base = this.plan.planPart;
    let handle: CgroupHandle | null = null;
    const active: ResourceActive = { mechanism: this.plan.active.mechanism, limits: { ...this.plan.active.limits } };
    if (this.plan.cgroupControllers.length) {
      const wanted = cgroupLimitsFor(this.limits, this.plan);
      handle = createCommandCgroup(this.probe, wanted, {
        commandId,
        ...(this.opts.serverPid !== undefined ? { serverPid: this.opts.serverPid } : {}),
        ...(this.opts.base !== undefined ? { base: this.opts.base } : {}),
      });
      for (const [name, st] of Object.entries(handle.applied) as Array<[LimitName, LimitStatus]>) {
        // the plan's reasoned status (e.g. "partial" for v1 writes) wins unless the write failed
        active.limits[name] = st.enforced === 'no' || active.limits[name].enforced !== 'partial' ? st : { ...st, enforced: 'partial' };
      }
      if (handle.failures.length && !this.opts.bestEffort) {
        const h = handle;
        void h.remove();
        throw new Error(`resource limits refused by the kernel: ${h.failures.join('; ')}`);
      }
      if (handle.procsFiles.length > MAX_CGROUP_DIRECTIVES) {
        void handle.remove();
        throw new Error(`resource limits: ${handle.procsFiles.length} cgroup hierarchies, the launcher joins at most ${MAX_CGROUP_DIRECTIVES}`);
      }
    }
    const h = handle;
    let released: Promise<{ usage: CgroupUsage; removal: RemoveResult }> | null = null;
    const res: CommandResources = {
      planPart: { ...base, ...(h && h.procsFiles.length ? { cgroups: h.procsFiles } : {}) },
      cgroup: h,
      active,
      usage: () => (h ? h.usage() : {}),
      release: () => {
        released ??= (async () => {
          const usage = h ? h.usage() : {};
          const removal = h ? await h.remove() : { removed: true, killed: 0, leftovers: [] };
          this.live.delete(res);
          return { usage, removal };
        })();
        return released;
      },
    };
    this.live.add(res);
    return res;
  }

  /** prepare(), start(planPart) (resolving when the command and its launcher ended), release(). */
  async run<T>(start: (planPart: Partial<Plan>, res: CommandResources) => Promise<T>, commandId?: string): Promise<{ result: T; usage: CgroupUsage; removal: RemoveResult }> {
    const res = this.prepare(commandId);
    try {
      const result = await start(res.planPart, res);
      const { usage, removal } = await res.release();
      return { result, usage, removal };
    } finally {
      await res.release();
    }
  }

  /** Commands prepared and not released yet. */
  get liveCount(): number {
    return this.live.size;
  }

  /** Releases every command still live (server shutdown). */
  async close(): Promise<void> {
    await Promise.all([...this.live].map((r) => r.release()));
  }
}

/** Only the limits the plan gave to cgroups (a fallback-enforced one is not written twice). */
function cgroupLimitsFor(l: CgroupLimits, plan: ResourcePlan): CgroupLimits {
  const has = (c: Controller) => plan.cgroupControllers.includes(c);
  const out: CgroupLimits = {};
  if (has('memory') && l.memoryBytes !== undefined) out.memoryBytes = l.memoryBytes;
  if (has('memory') && l.swapBytes !== undefined) out.swapBytes = l.swapBytes;
  if (has('cpu') && l.cpuPercent !== undefined) out.cpuPercent = l.cpuPercent;
  if (has('pids') && l.pidsMax !== undefined) out.pidsMax = l.pidsMax;
  if (has('io') && l.diskReadBps !== undefined) out.diskReadBps = l.diskReadBps;
  if (has('io') && l.diskWriteBps !== undefined) out.diskWriteBps = l.diskWriteBps;
  return out;
}
