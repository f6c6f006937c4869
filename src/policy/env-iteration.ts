// env_policy.block_iteration at the command pre-check: commands that list the whole
// environment are refused, named lookups ($HOME, `printenv HOME`) still work. Reading
// /proc/self/environ is closed by the session sandbox, not here.

const LISTERS: Record<string, (args: string[]) => boolean> = {
  env: (a) => a.every((x) => /^-(0|-null|i|-ignore-environment)$/.test(x)),
  printenv: (a) => a.every((x) => x.startsWith('-')),
  export: (a) => a.length === 0 || a.every((x) => x === '-p'),
  declare: (a) => a.some((x) => /^-[a-zA-Z]*[xp]/.test(x)) && a.every((x) => x.startsWith('-')),
  typeset: (a) => a.some((x) => /^-[a-zA-Z]*[xp]/.test(x)) && a.every((x) => x.startsWith('-')),
  set: (a) => a.length === 0,
  compgen: (a) => a.includes('-e') || a.includes('-v'),
};

/** True when argv enumerates the environment. */
export function listsEnvironment(argv: readonly string[]): boolean {
  const name = argv[0]?.slice(argv[0].lastIndexOf('/') + 1) ?? '';
  const check = LISTERS[name];
  return check !== undefined && check(argv.slice(1));
}
