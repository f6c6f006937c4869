// Shell string analysis: every simple command a `bash -c` string would run, with the
// wrappers peeled, asserted exactly (argv, wrappers, depth).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { analyzeShell, type ShellAnalysis } from '../src/shell/analyze.js';

interface Cmd { argv: string[]; wrappers: string[]; depth: number }
const c = (argv: string[], wrappers: string[] = [], depth = 0): Cmd => ({ argv, wrappers, depth });
const cmds = (s: string): Cmd[] => analyzeShell(s).commands.map(({ argv, wrappers, depth }) => ({ argv, wrappers, depth }));
const opaque = (a: ShellAnalysis) => a.opaque.map((o) => [o.reason, o.text, o.depth]);
const names = (s: string) => analyzeShell(s).commands.map((x) => x.argv[0]);

function expect(script: string, expected: Cmd[], opaqueReasons: string[] = []) {
  const a = analyzeShell(script);
  assert.deepEqual(a.commands.map(({ argv, wrappers, depth }) => ({ argv, wrappers, depth })), expected, script);
  assert.deepEqual(a.opaque.map((o) => o.reason), opaqueReasons, `opaque of ${script}`);
  assert.equal(a.ok, true, `ok of ${script}`);
}

describe('shell analysis: structure', () => {
  it('lists, pipelines and redirects', () => {
    const a = analyzeShell('cd /tmp && ls -la | grep foo > out.txt');
    assert.deepEqual(a.commands.map((x) => x.argv), [['cd', '/tmp'], ['ls', '-la'], ['grep', 'foo']]);
    assert.deepEqual(a.commands[2]!.redirects, [{ op: '>', target: 'out.txt' }]);
    assert.deepEqual(a.commands[0]!.redirects, []);
    assert.equal(a.commands[2]!.text, 'grep foo');
    assert.equal(a.ok, true);
  });

  it('&&, ||, ;, & and newlines', () => {
    assert.deepEqual(names('a && b || c; d & e\nf'), ['a', 'b', 'c', 'd', 'e', 'f']);
  });

  it('subshells, groups and negation', () => {
    assert.deepEqual(names('(cd /tmp; rm -rf x) & { sudo id; ls; }; ! kill 1'), ['cd', 'rm', 'sudo', 'id', 'ls', 'kill']);
  });

  it('command substitution anywhere', () => {
    expect('echo $(sudo id)', [c(['sudo', 'id']), c(['id'], ['sudo']), c(['echo', '$(sudo id)'])]);
    expect('echo `sudo id`', [c(['sudo', 'id']), c(['id'], ['sudo']), c(['echo', '`sudo id`'])]);
    expect('x=$(whoami) y=`id`', [c(['whoami']), c(['id'])]);
    expect('X=$(a) b', [c(['a']), c(['b'])]);
    expect('echo "in $(a) string" ${v:-$(b)} $(( $(c) + 1 ))', [c(['a']), c(['b']), c(['c']), c(['echo', '"in $(a) string"', '${v:-$(b)}', '$(( $(c) + 1 ))'])]);
    expect('ls > "$(mktemp)"', [c(['mktemp']), c(['ls'])]);
    expect('cat <<< "$(sudo id)"', [c(['sudo', 'id']), c(['id'], ['sudo']), c(['cat'])]);
    expect('echo $(echo $(echo `id`))', [c(['id']), c(['echo', '`id`']), c(['echo', '$(echo `id`)']), c(['echo', '$(echo $(echo `id`))'])]);
    expect('export A=$(sudo id) B', [c(['sudo', 'id']), c(['id'], ['sudo']), c(['export', 'A=$(sudo id)', 'B'])]);
  });

  it('process substitution', () => {
    expect('diff <(ls a) >(tee b)', [c(['ls', 'a']), c(['tee', 'b']), c(['diff', '<(ls a)', '>(tee b)'])]);
  });

  it('if / while / until / for / case / select', () => {
    assert.deepEqual(names('if [[ -n $(whoami) ]]; then a; elif b; then c; else d; fi'), ['whoami', 'a', 'b', 'c', 'd']);
    assert.deepEqual(names('while read l; do echo $l; done < <(ls)'), ['ls', 'read', 'echo']);
    assert.deepEqual(names('until false; do x; done'), ['false', 'x']);
    assert.deepEqual(names('for f in $(seq 3); do rm $f; done'), ['seq', 'rm']);
    assert.deepEqual(names('for ((i=0; i<$(nproc); i++)); do make; done'), ['nproc', 'make']);
    assert.deepEqual(names('case $(uname) in Linux) lsb_release -a;; *) other;; esac'), ['uname', 'lsb_release', 'other']);
    assert.deepEqual(names('select x in a b; do echo $x; done'), ['echo']);
  });

  it('test and arithmetic expressions with substitutions', () => {
    assert.deepEqual(names('[[ $(id -u) -eq 0 ]] && (( $(nproc) > 1 )) && [ -f x ]'), ['id', 'nproc']);
    assert.deepEqual(names('test -f x'), ['test']);
  });

  it('function bodies count where defined; calls are reported by name', () => {
    expect('f(){ sudo id; }; f', [c(['sudo', 'id']), c(['id'], ['sudo']), c(['f'])]);
    assert.deepEqual(names('function g { ls; }; h() ( rm x )'), ['ls', 'rm']);
  });

  it('redirect forms', () => {
    const a = analyzeShell('ls 2>&1 >>log < in 2>/dev/null &>all >"$f" >&-');
    assert.deepEqual(a.commands[0]!.redirects, [
      { op: '2>&', target: '1' }, { op: '>>', target: 'log' }, { op: '<', target: 'in' },
      { op: '2>', target: '/dev/null' }, { op: '&>', target: 'all' }, { op: '>', target: null }, { op: '>&-', target: null },
    ]);
  });

  it('redirects around a compound apply to the commands inside', () => {
    const a = analyzeShell('{ a; b; } > out');
    assert.deepEqual(a.commands.map((x) => x.redirects), [[{ op: '>', target: 'out' }], [{ op: '>', target: 'out' }]]);
  });

  it('leading assignments', () => {
    const a = analyzeShell('LD_PRELOAD=/tmp/x.so A="b c" ls');
    assert.deepEqual(a.commands[0]!.assignments, ['LD_PRELOAD=/tmp/x.so', 'A="b c"']);
    assert.deepEqual(a.commands[0]!.argv, ['ls']);
  });

  it('comments are not commands', () => {
    assert.deepEqual(names('echo a # sudo id\n# rm -rf /\necho "#"'), ['echo', 'echo']);
  });

  it('an empty or comment-only script runs nothing', () => {
    for (const s of ['', '   ', '# x', '\n\n']) {
      const a = analyzeShell(s);
      assert.deepEqual([a.commands, a.opaque, a.ok], [[], [], true], JSON.stringify(s));
    }
  });
});

describe('shell analysis: here-documents', () => {
  it('a shell fed by a here-document runs its body as a nested script', () => {
    expect("bash <<'EOF'\nsudo id\nEOF", [c(['bash']), c(['sudo', 'id'], ['bash'], 1), c(['id'], ['bash', 'sudo'], 1)]);
    expect('sh <<EOF\nrm -rf x\nEOF', [c(['sh']), c(['rm', '-rf', 'x'], ['sh'], 1)]);
    expect("bash <<< 'sudo id'", [c(['bash']), c(['sudo', 'id'], ['bash'], 1), c(['id'], ['bash', 'sudo'], 1)]);
  });

  it('substitutions in unquoted bodies run, also backticks and <<- bodies', () => {
    expect('cat <<EOF\n`sudo id` $(whoami) ${x:-$(a)}\nEOF', [c(['sudo', 'id']), c(['id'], ['sudo']), c(['whoami']), c(['a']), c(['cat'])]);
    expect('cat <<-EOF\n\t$(whoami)\n\tEOF', [c(['whoami']), c(['cat'])]);
    expect("cat <<'EOF'\n$(not run) `nor this`\nEOF", [c(['cat'])]);
    expect('cat <<\\EOF\n$(not run)\nEOF', [c(['cat'])]);
  });

  it('a body with expansions fed to a shell is opaque', () => {
    expect('bash <<EOF\n$CMD\nEOF', [c(['bash'])], ['eval']);
  });

  it('the rest of the command line after << belongs to the same command or follows it', () => {
    expect('cat <<EOF file2\nbody\nEOF', [c(['cat', 'file2'])]);
    expect('cat <<EOF && sudo id\nbody\nEOF', [c(['cat']), c(['sudo', 'id']), c(['id'], ['sudo'])]);
    expect('cat <<EOF | sh\nbody\nEOF', [c(['cat']), c(['sh'])], ['eval']);
    // tree-sitter-bash cannot parse both at once: not ok, so the caller fails closed
    assert.equal(analyzeShell('cat <<EOF file2 && sudo id\nbody\nEOF').ok, false);
    assert.deepEqual(analyzeShell('cat <<EOF > out\nx\nEOF').commands[0]!.redirects, [{ op: '>', target: 'out' }]);
  });

  it('where tree-sitter ends a here-document differently from bash, the result is not ok', () => {
    for (const s of ['cat <<EOF\nEOF; sudo id\nEOF', 'cat <<"E"OF\nbody\nEOF\nx', 'cat <<-EOF\n    EOF\nx\nEOF']) {
      const a = analyzeShell(s);
      assert.equal(a.ok, false, s);
      assert.ok(a.opaque.some((o) => o.reason === 'parse-error'), s);
    }
  });
});

describe('shell analysis: words and quoting', () => {
  it('every spelling of sudo resolves to sudo', () => {
    for (const s of ['sudo', '\\sudo', "s''udo", '"sudo"', "'sudo'", "$'\\x73udo'", "$'\\163udo'", "$'\\u0073udo'", '"s"u"d"o', '$"sudo"', 'su\\\ndo', "s\\u'd'o"]) {
      assert.deepEqual(cmds(`${s} id`)[0], c(['sudo', 'id']), s);
    }
  });

  it('leading assignments do not hide the command', () => {
    const a = analyzeShell('X=1 Y="a b" sudo id');
    assert.deepEqual(a.commands.map((x) => [x.argv, x.wrappers, x.assignments]), [[['sudo', 'id'], [], ['X=1', 'Y="a b"']], [['id'], ['sudo'], ['X=1', 'Y="a b"']]]);
  });

  it('paths stay as written', () => {
    expect('/usr/bin/sudo id', [c(['/usr/bin/sudo', 'id']), c(['id'], ['sudo'])]);
    expect('./sudo', [c(['./sudo'])]);
  });

  it('static arguments are unquoted, dynamic ones kept as written', () => {
    expect(`echo 'a b' "c \\"d\\" \\$e" f\\ g $'h\\ti' "$x" \${y} ~/z *.txt a"b"'c'`, [
      c(['echo', 'a b', 'c "d" $e', 'f g', 'h\ti', '"$x"', '${y}', '~/z', '*.txt', 'abc']),
    ]);
  });

  it("ANSI-C strings: escapes, bytes decoded as UTF-8, cut at NUL", () => {
    assert.deepEqual(cmds("echo $'\\xc3\\xa9' $'\\U0001F600' $'a\\0b' $'\\cA' $'\\e[0m' $'it\\'s'")[0]!.argv,
      ['echo', 'é', '😀', 'a', '\u0001', '\u001b[0m', "it's"]);
  });

  it("tree-sitter's $'\\\\' mis-lexing does not hide a command", () => {
    expect("echo $'\\\\' ; sudo id #'", [c(['echo', '\\']), c(['sudo', 'id']), c(['id'], ['sudo'])]);
    expect("x=$'\\\\'; sudo id #'", [c(['sudo', 'id']), c(['id'], ['sudo'])]);
  });

  it("tree-sitter's reading of a line that starts with a backslash does not hide a command", () => {
    expect('echo hi\n\\sudo id', [c(['echo', 'hi']), c(['sudo', 'id']), c(['id'], ['sudo'])]);
    expect('a <<< "x"\n\\qb', [c(['a']), c(['qb'])]);
    expect('a\n\\\nqb', [c(['a']), c(['qb'])]);
    expect('x"y"\n\\qb', [c(['xy']), c(['qb'])]);
    expect('echo "a\nb" $(e\nf) x\\\ny', [c(['e']), c(['f']), c(['echo', 'a\nb', '$(e\nf)', 'xy'])]);
  });

  it('escaped blanks and line continuations join words as in bash', () => {
    expect('echo \\ a b\\  x\\\ny \\  z', [c(['echo', ' a', 'b ', 'xy', ' ', 'z'])]);
  });

  it('a dynamic command name is opaque; its substitution is still analysed', () => {
    const a = analyzeShell('$(echo sudo) id; `echo sudo`; $CMD; "$x" a; ${X:-sudo}');
    assert.deepEqual(a.commands.map((x) => x.argv), [['echo', 'sudo'], ['echo', 'sudo']]);
    assert.deepEqual(opaque(a), [
      ['dynamic-command-name', '$(echo sudo) id', 0], ['dynamic-command-name', '`echo sudo`', 0],
      ['dynamic-command-name', '$CMD', 0], ['dynamic-command-name', '"$x" a', 0], ['dynamic-command-name', '${X:-sudo}', 0],
    ]);
  });

  it('globs, brace expansion and tilde make a command name dynamic', () => {
    for (const s of ['/usr/bin/su?o id', '/usr/bin/sud* id', '/usr/bin/sud[o] id', 'ech{o,} x', '~/bin/x']) {
      assert.deepEqual(analyzeShell(s).opaque.map((o) => o.reason), ['dynamic-command-name'], s);
      assert.deepEqual(analyzeShell(s).commands, [], s);
    }
  });
});

describe('shell analysis: wrappers (every exec reported, payload carries the chain)', () => {
  it('env with options, assignments and -S', () => {
    expect('env sudo id', [c(['env', 'sudo', 'id']), c(['sudo', 'id'], ['env']), c(['id'], ['env', 'sudo'])]);
    expect('env -i -u HOME -C /tmp -- FOO=1 sudo id', [
      c(['env', '-i', '-u', 'HOME', '-C', '/tmp', '--', 'FOO=1', 'sudo', 'id']), c(['sudo', 'id'], ['env']), c(['id'], ['env', 'sudo']),
    ]);
    expect('env --unset=HOME --chdir /tmp - X=1 ls', [c(['env', '--unset=HOME', '--chdir', '/tmp', '-', 'X=1', 'ls']), c(['ls'], ['env'])]);
    expect("env -S'sudo -u root id' x", [c(['env', '-Ssudo -u root id', 'x']), c(['sudo', '-u', 'root', 'id', 'x'], ['env']), c(['id', 'x'], ['env', 'sudo'])]);
    expect('env -iS"-u X ls -l"', [c(['env', '-iS-u X ls -l']), c(['ls', '-l'], ['env'])]);
    expect('env', [c(['env'])]);
    expect('env A=1', [c(['env', 'A=1'])]);
    assert.deepEqual(analyzeShell('env LD_PRELOAD=/x.so ls').commands[1]!.assignments, ['LD_PRELOAD=/x.so']);
  });

  it('nice, nohup, timeout, stdbuf, setsid, time, ionice, taskset, chroot, unbuffer, coproc', () => {
    const payload = (s: string) => cmds(s).at(-1);
    expect('nice -n 5 nohup timeout -s KILL 10 sudo id', [
      c(['nice', '-n', '5', 'nohup', 'timeout', '-s', 'KILL', '10', 'sudo', 'id']),
      c(['nohup', 'timeout', '-s', 'KILL', '10', 'sudo', 'id'], ['nice']),
      c(['timeout', '-s', 'KILL', '10', 'sudo', 'id'], ['nice', 'nohup']),
      c(['sudo', 'id'], ['nice', 'nohup', 'timeout']),
      c(['id'], ['nice', 'nohup', 'timeout', 'sudo']),
    ]);
    assert.deepEqual(payload('nice -10 x'), c(['x'], ['nice']));
    assert.deepEqual(payload('nice --adjustment=3 x'), c(['x'], ['nice']));
    assert.deepEqual(payload('timeout --kill-after=1 -v 5s x -y'), c(['x', '-y'], ['timeout']));
    assert.deepEqual(payload('stdbuf -oL -e 0 x'), c(['x'], ['stdbuf']));
    assert.deepEqual(payload('setsid -f x'), c(['x'], ['setsid']));
    assert.deepEqual(payload('time -p x'), c(['x'], ['time']));
    assert.deepEqual(payload('ionice -c 3 -n7 x'), c(['x'], ['ionice']));
    assert.deepEqual(payload('taskset -c 0-3 x'), c(['x'], ['taskset']));
    assert.deepEqual(payload('chroot --userspec=1:1 /jail x'), c(['x'], ['chroot']));
    assert.deepEqual(payload('unbuffer -p x'), c(['x'], ['unbuffer']));
    assert.deepEqual(payload('coproc x'), c(['x'], ['coproc']));
    assert.deepEqual(payload('strace -f -e trace=execve -o log x'), c(['x'], ['strace']));
    assert.deepEqual(payload('ltrace -S x'), c(['x'], ['ltrace']));
    assert.deepEqual(payload('flock -n /tmp/l x'), c(['x'], ['flock']));
    assert.deepEqual(payload('busybox wget x'), c(['wget', 'x'], ['busybox']));
  });

  it('forms that execute nothing have no payload', () => {
    for (const s of ['command -v sudo', 'command -V sudo', 'sudo -l', 'sudo -e /etc/passwd', 'ionice -p 1', 'taskset -p 1', 'doas -C conf x', 'timeout 5', 'exec', 'exec >log', 'chroot /x', 'flock 9', 'busybox --list']) {
      assert.equal(analyzeShell(s).commands.length, 1, s);
    }
  });

  it('command, builtin, exec', () => {
    expect('command sudo id', [c(['command', 'sudo', 'id']), c(['sudo', 'id'], ['command']), c(['id'], ['command', 'sudo'])]);
    expect('command -p ls', [c(['command', '-p', 'ls']), c(['ls'], ['command'])]);
    expect('builtin cd /', [c(['builtin', 'cd', '/']), c(['cd', '/'], ['builtin'])]);
    expect('exec -a foo sudo id', [c(['exec', '-a', 'foo', 'sudo', 'id']), c(['sudo', 'id'], ['exec']), c(['id'], ['exec', 'sudo'])]);
    expect('exec -cl -afoo x', [c(['exec', '-cl', '-afoo', 'x']), c(['x'], ['exec'])]);
  });

  it('sudo and doas options', () => {
    expect('sudo -u root -g wheel -E -- rm -rf /', [c(['sudo', '-u', 'root', '-g', 'wheel', '-E', '--', 'rm', '-rf', '/']), c(['rm', '-rf', '/'], ['sudo'])]);
    expect('sudo -iu root X=1 id', [c(['sudo', '-iu', 'root', 'X=1', 'id']), c(['id'], ['sudo'])]);
    expect('sudo --user=root --preserve-env=PATH id', [c(['sudo', '--user=root', '--preserve-env=PATH', 'id']), c(['id'], ['sudo'])]);
    expect('sudo --us root id', [c(['sudo', '--us', 'root', 'id']), c(['id'], ['sudo'])]);
    expect('doas -u root id', [c(['doas', '-u', 'root', 'id']), c(['id'], ['doas'])]);
  });

  it('xargs: payload one level deeper, implicit echo, replacement strings', () => {
    expect('echo x | xargs sudo rm', [c(['echo', 'x']), c(['xargs', 'sudo', 'rm']), c(['sudo', 'rm'], ['xargs'], 1), c(['rm'], ['xargs', 'sudo'], 1)]);
    expect('xargs -0 -n 1 -P4 -r -d , rm -f', [c(['xargs', '-0', '-n', '1', '-P4', '-r', '-d', ',', 'rm', '-f']), c(['rm', '-f'], ['xargs'], 1)]);
    expect('xargs -I{} cp {} /x', [c(['xargs', '-I{}', 'cp', '{}', '/x']), c(['cp', '{}', '/x'], ['xargs'], 1)]);
    expect('xargs -L 1 -i echo {}', [c(['xargs', '-L', '1', '-i', 'echo', '{}']), c(['echo', '{}'], ['xargs'], 1)]);
    expect('xargs', [c(['xargs']), c(['echo'], ['xargs'], 1)]);
    expect('xargs -I% %', [c(['xargs', '-I%', '%'])], ['dynamic-command-name']);
    expect('xargs -I % sh -c "rm %"', [c(['xargs', '-I', '%', 'sh', '-c', 'rm %']), c(['sh', '-c', '"rm %"'], ['xargs'], 1)], ['eval']);
  });

  it('find -exec / -execdir / -ok', () => {
    expect('find . -exec sudo whoami \\;', [c(['find', '.', '-exec', 'sudo', 'whoami', ';']), c(['sudo', 'whoami'], ['find'], 1), c(['whoami'], ['find', 'sudo'], 1)]);
    expect("find / -name '*.c' -execdir rm {} + -ok ls ';'", [
      c(['find', '/', '-name', '*.c', '-execdir', 'rm', '{}', '+', '-ok', 'ls', ';']), c(['rm', '{}'], ['find'], 1), c(['ls'], ['find'], 1),
    ]);
    expect('find . -exec {} \\;', [c(['find', '.', '-exec', '{}', ';'])], ['dynamic-command-name']);
    expect('find . -exec rm', [c(['find', '.', '-exec', 'rm'])], ['unknown-wrapper-form']);
  });

  it('sh -c / bash -c / zsh -c / dash -c: the shell and its script, one level deeper', () => {
    expect('bash -c "sudo id"', [c(['bash', '-c', 'sudo id']), c(['sudo', 'id'], ['bash -c'], 1), c(['id'], ['bash -c', 'sudo'], 1)]);
    expect("sh -c 'ls | env sudo -E id'", [
      c(['sh', '-c', 'ls | env sudo -E id']), c(['ls'], ['sh -c'], 1), c(['env', 'sudo', '-E', 'id'], ['sh -c'], 1),
      c(['sudo', '-E', 'id'], ['sh -c', 'env'], 1), c(['id'], ['sh -c', 'env', 'sudo'], 1),
    ]);
    expect('/bin/zsh -lc x', [c(['/bin/zsh', '-lc', 'x']), c(['x'], ['zsh -c'], 1)]);
    expect('dash -e -o errexit +x -c x name arg', [c(['dash', '-e', '-o', 'errexit', '+x', '-c', 'x', 'name', 'arg']), c(['x'], ['dash -c'], 1)]);
    expect('bash --norc --rcfile f -c x', [c(['bash', '--norc', '--rcfile', 'f', '-c', 'x']), c(['x'], ['bash -c'], 1)]);
    expect("bash -c \"bash -c 'sudo id'\"", [
      c(['bash', '-c', "bash -c 'sudo id'"]), c(['bash', '-c', 'sudo id'], ['bash -c'], 1),
      c(['sudo', 'id'], ['bash -c', 'bash -c'], 2), c(['id'], ['bash -c', 'bash -c', 'sudo'], 2),
    ]);
    expect('bash script.sh arg', [c(['bash', 'script.sh', 'arg'])]);
    expect('bash -c "$CMD"', [c(['bash', '-c', '"$CMD"'])], ['eval']);
    expect('echo sudo id | bash', [c(['echo', 'sudo', 'id']), c(['bash'])], ['eval']);
  });

  it('su -c, flock -c, watch, busybox sh', () => {
    expect("su - root -c 'id'", [c(['su', '-', 'root', '-c', 'id']), c(['id'], ['su'], 1)]);
    expect('flock /tmp/l -c "sudo id"', [c(['flock', '/tmp/l', '-c', 'sudo id']), c(['sudo', 'id'], ['flock'], 1), c(['id'], ['flock', 'sudo'], 1)]);
    expect('watch -n 1 "ls; df"', [c(['watch', '-n', '1', 'ls; df']), c(['ls'], ['watch'], 1), c(['df'], ['watch'], 1)]);
    expect('watch -x ls -l', [c(['watch', '-x', 'ls', '-l']), c(['ls', '-l'], ['watch'])]);
    expect('busybox sh -c "sudo id"', [
      c(['busybox', 'sh', '-c', 'sudo id']), c(['sh', '-c', 'sudo id'], ['busybox']), c(['sudo', 'id'], ['busybox', 'sh -c'], 1), c(['id'], ['busybox', 'sh -c', 'sudo'], 1),
    ]);
  });

  it('eval: opaque, and analysed as a nested script when its arguments are static', () => {
    expect('eval "sudo id"', [c(['eval', 'sudo id']), c(['sudo', 'id'], ['eval'], 1), c(['id'], ['eval', 'sudo'], 1)], ['eval']);
    expect('eval $x', [c(['eval', '$x'])], ['eval']);
    expect('builtin eval ls', [c(['builtin', 'eval', 'ls']), c(['eval', 'ls'], ['builtin']), c(['ls'], ['builtin', 'eval'], 1)], ['eval']);
  });

  it('source and . are opaque', () => {
    expect('source ~/.bashrc; . ./env.sh', [c(['source', '~/.bashrc']), c(['.', './env.sh'])], ['source', 'source']);
  });

  it('python -c is just a command (its payload is visible only at exec time)', () => {
    expect(`python3 -c 'import os; os.system("sudo id")'`, [c(['python3', '-c', 'import os; os.system("sudo id")'])]);
  });

  it('an unknown wrapper option is reported, with the best guess still analysed', () => {
    expect('timeout --frobnicate 5 sudo id', [
      c(['timeout', '--frobnicate', '5', 'sudo', 'id']), c(['sudo', 'id'], ['timeout']), c(['id'], ['timeout', 'sudo']),
    ], ['unknown-wrapper-form']);
  });

  it('sudo hidden in every context', () => {
    const cases = [
      'env sudo id', 'echo x | xargs sudo id', 'find . -exec sudo id \\;', 'bash -c "sudo id"', '$(sudo id)', 'echo `sudo id`',
      '/usr/bin/sudo id', 'exec -a foo sudo id', 'command sudo id', 'nohup sudo id &', 'X=1 sudo id', 'f(){ sudo id; }',
      "bash <<'EOF'\nsudo id\nEOF", 'eval "sudo id"', 'time sudo id', '(sudo id)', 'true && { sudo id; }', 'cat <(sudo id)',
      'if sudo id; then :; fi', 'for i in 1; do sudo id; done', 'env -S "sudo id"', 'watch sudo id', 'busybox sudo id',
    ];
    for (const s of cases) {
      const found = analyzeShell(s).commands.filter((x) => x.argv[0]?.endsWith('sudo'));
      assert.ok(found.length >= 1, s);
      assert.deepEqual(found.at(-1)!.argv.slice(-1), ['id'], s);
    }
  });
});

describe('shell analysis: code carried by builtins and variables', () => {
  it('alias values and trap actions are nested scripts', () => {
    expect("alias x='sudo id'; x", [c(['alias', 'x=sudo id']), c(['sudo', 'id'], ['alias'], 1), c(['id'], ['alias', 'sudo'], 1), c(['x'])]);
    expect("trap 'sudo id' EXIT; trap - INT; trap '' HUP; trap -p", [
      c(['trap', 'sudo id', 'EXIT']), c(['sudo', 'id'], ['trap'], 1), c(['id'], ['trap', 'sudo'], 1),
      c(['trap', '-', 'INT']), c(['trap', '', 'HUP']), c(['trap', '-p']),
    ]);
  });

  it('variables the shell turns into code', () => {
    expect("PS4='$(sudo id)' bash -xc :", [c(['sudo', 'id'], ['PS4'], 1), c(['id'], ['PS4', 'sudo'], 1), c(['bash', '-xc', ':']), c([':'], ['bash -c'], 1)]);
    expect("export PROMPT_COMMAND='rm -rf x'", [c(['export', 'PROMPT_COMMAND=rm -rf x']), c(['rm', '-rf', 'x'], ['PROMPT_COMMAND'], 1)]);
    expect("env 'BASH_FUNC_ls%%=() { sudo id; }' bash -c ls", [
      c(['env', 'BASH_FUNC_ls%%=() { sudo id; }', 'bash', '-c', 'ls']), c(['sudo', 'id'], ['BASH_FUNC_ls%%'], 1), c(['id'], ['BASH_FUNC_ls%%', 'sudo'], 1),
      c(['bash', '-c', 'ls'], ['env']), c(['ls'], ['env', 'bash -c'], 1),
    ]);
    expect('BASH_ENV=/tmp/x bash -c id', [c(['bash', '-c', 'id']), c(['id'], ['bash -c'], 1)], ['source']);
    expect('ENV=/tmp/x sh -c id', [c(['sh', '-c', 'id']), c(['id'], ['sh -c'], 1)], ['source']);
    expect('PS1=$X ls', [c(['ls'])], ['eval']);
  });

  it('mapfile -C callbacks are nested scripts', () => {
    expect("mapfile -C 'sudo id' -c 1 arr < f", [c(['mapfile', '-C', 'sudo id', '-c', '1', 'arr']), c(['sudo', 'id'], ['mapfile'], 1), c(['id'], ['mapfile', 'sudo'], 1)]);
  });

  it('substitutions quoted in a variable are code for later (arithmetic evaluation runs them)', () => {
    expect("x='a[$(sudo id)]'; echo $((x))", [c(['sudo', 'id'], ['x'], 1), c(['id'], ['x', 'sudo'], 1), c(['echo', '$((x))'])]);
    expect("msg='plain text'; y=$(date)", [c(['date'])]);
  });

  it('substitutions tree-sitter reads as plain words are still found', () => {
    expect('echo "${x:-`sudo id`}"', [c(['sudo', 'id']), c(['id'], ['sudo']), c(['echo', '"${x:-`sudo id`}"'])]);
  });

  it('enable -f loads code; hash -p changes what a name runs', () => {
    expect('enable -f /tmp/x.so foo', [c(['enable', '-f', '/tmp/x.so', 'foo'])], ['source']);
    expect('hash -p /usr/bin/sudo ls; ls', [c(['hash', '-p', '/usr/bin/sudo', 'ls']), c(['ls'])], ['dynamic-command-name']);
    expect('enable -n kill; hash -r', [c(['enable', '-n', 'kill']), c(['hash', '-r'])]);
  });
});

describe('shell analysis: forms tree-sitter-bash misreads (found by test/fuzz-shell.test.ts)', () => {
  it('coproc [NAME] before a compound command: the keyword as written (no payload), the body analysed', () => {
    expect('coproc { sudo id; }', [c(['coproc']), c(['sudo', 'id']), c(['id'], ['sudo'])]);
    expect('coproc cp { sudo id; }', [c(['coproc', 'cp']), c(['sudo', 'id']), c(['id'], ['sudo'])]);
    expect('coproc "c"p ( sudo id )', [c(['coproc', 'cp']), c(['sudo', 'id']), c(['id'], ['sudo'])]);
    expect('coproc cp if true; then sudo id; fi', [c(['coproc', 'cp']), c(['true']), c(['sudo', 'id']), c(['id'], ['sudo'])]);
    expect('coproc while x; do sudo id; done', [c(['coproc']), c(['x']), c(['sudo', 'id']), c(['id'], ['sudo'])]);
    expect('coproc cp [[ $(sudo id) ]]', [c(['coproc', 'cp']), c(['sudo', 'id']), c(['id'], ['sudo'])]);
    expect('coproc \\\n{ sudo id; }', [c(['coproc']), c(['sudo', 'id']), c(['id'], ['sudo'])]);
    // bash expands NAME; the rest of the line is still read
    expect('a | coproc $(b) { d; } && e', [c(['a']), c(['b']), c(['coproc', '$(b)']), c(['d']), c(['e'])]);
    assert.deepEqual(analyzeShell('coproc cp { a; } > out').commands.map((x) => x.redirects), [[], [{ op: '>', target: 'out' }]]);
    // before a simple command coproc is a wrapper (no NAME then: bash runs `cp sudo id`)
    expect('coproc sudo id', [c(['coproc', 'sudo', 'id']), c(['sudo', 'id'], ['coproc']), c(['id'], ['coproc', 'sudo'])]);
    expect('coproc cp sudo id', [c(['coproc', 'cp', 'sudo', 'id']), c(['cp', 'sudo', 'id'], ['coproc'])]);
  });

  it('time and ! before a compound command, and before one another', () => {
    expect('time { sudo id; }', [c(['time']), c(['sudo', 'id']), c(['id'], ['sudo'])]);
    expect('time -p -- if a; then sudo id; fi', [c(['time', '-p', '--']), c(['a']), c(['sudo', 'id']), c(['id'], ['sudo'])]);
    expect('! { sudo id; }', [c(['sudo', 'id']), c(['id'], ['sudo'])]);
    expect('! { { a; }; b; }', [c(['a']), c(['b'])]);
    expect('x && ! while a; do sudo id; done', [c(['x']), c(['a']), c(['sudo', 'id']), c(['id'], ['sudo'])]);
    expect('time ! { sudo id; }', [c(['time']), c(['sudo', 'id']), c(['id'], ['sudo'])]);
    expect('! time { sudo id; }', [c(['time']), c(['sudo', 'id']), c(['id'], ['sudo'])]);
    expect('! ! sudo id', [c(['sudo', 'id']), c(['id'], ['sudo'])]);
    expect('time -p ! sudo id', [c(['time', '-p', 'sudo', 'id']), c(['sudo', 'id'], ['time']), c(['id'], ['time', 'sudo'])]);
    // the keywords take assignments before the command (a program named `A=1` when quoted)
    expect('time A=1 sudo id', [c(['time', 'A=1', 'sudo', 'id']), c(['sudo', 'id'], ['time']), c(['id'], ['time', 'sudo'])]);
    expect('coproc A=1 x', [c(['coproc', 'A=1', 'x']), c(['x'], ['coproc'])]);
    expect("time 'A=1' x", [c(['time', 'A=1', 'x']), c(['A=1', 'x'], ['time'])]);
    // quoted, they are words: bash runs a program named `!`
    expect("'!' sudo id", [c(['!', 'sudo', 'id'])]);
  });

  it('a backquoted substitution ends at the first unescaped backquote', () => {
    expect('echo `true x` `sudo id`', [c(['true', 'x']), c(['sudo', 'id']), c(['id'], ['sudo']), c(['echo', '`true x`', '`sudo id`'])]);
    expect('echo "`a x` `b y`"', [c(['a', 'x']), c(['b', 'y']), c(['echo', '"`a x` `b y`"'])]);
    expect('echo `a x` `b; c`z', [c(['a', 'x']), c(['b']), c(['c']), c(['echo', '`a x`', '`b; c`z'])]);
    expect('echo `a \\`b\\` c` `d`', [c(['b']), c(['a', '`b`', 'c']), c(['d']), c(['echo', '`a \\`b\\` c`', '`d`'])]);
    expect('echo $(e `a x` `b`)', [c(['a', 'x']), c(['b']), c(['e', '`a x`', '`b`']), c(['echo', '$(e `a x` `b`)'])]);
    // where bash starts a command there, its name is a substitution
    expect('echo `a x`\n`echo sudo` id', [c(['a', 'x']), c(['echo', 'sudo']), c(['echo', '`a x`'])], ['dynamic-command-name']);
    expect('x=`a x` `echo sudo` id', [c(['a', 'x']), c(['echo', 'sudo'])], ['dynamic-command-name']);
    // bash ignores quotes when it looks for the closing backquote: so does the analysis
    assert.equal(analyzeShell('echo `echo "`"`').ok, false);
  });

  it("$'…' in a variable's substitution is read as bash does; a value that can't be read is opaque", () => {
    expect(`PS4='$(sudo id; echo $'"'"'\\'"'"'x'"'"')'; set -x; :`, [
      c(['sudo', 'id'], ['PS4'], 1), c(['id'], ['PS4', 'sudo'], 1), c(['echo', "'x"], ['PS4'], 1), c(['set', '-x']), c([':']),
    ]);
    const a = analyzeShell(`PS4='$(sudo id; echo ")'; set -x`);
    assert.deepEqual([opaque(a), a.ok], [[['parse-error', `PS4='$(sudo id; echo ")'`, 0]], false]);
    const b = analyzeShell(`x='a[$(sudo id; echo ")]'`);
    assert.deepEqual([opaque(b), b.ok], [[['parse-error', `x='a[$(sudo id; echo ")]'`, 0]], false]);
  });
});

describe('shell analysis: bounds and failures', () => {
  it('parse errors: ok false, a parse-error entry, recovered commands kept', () => {
    const a = analyzeShell('echo "unterminated $(sudo id');
    assert.equal(a.ok, false);
    assert.ok(a.opaque.some((o) => o.reason === 'parse-error'));
    assert.ok(a.commands.some((x) => x.argv[0] === 'sudo'));
    const b = analyzeShell('sudo id )');
    assert.equal(b.ok, false);
    assert.deepEqual(b.commands[0]!.argv, ['sudo', 'id']);
  });

  it('too-large', () => {
    const a = analyzeShell('x'.repeat(101), { maxLength: 100 });
    assert.deepEqual([a.commands, a.opaque.map((o) => o.reason), a.ok], [[], ['too-large'], false]);
    assert.ok(a.opaque[0]!.text.length < 202);
  });

  it('too-deep: nested shells beyond maxDepth are not analysed', () => {
    const a = analyzeShell(`bash -c "bash -c 'bash -c id'"`, { maxDepth: 1 });
    assert.deepEqual(a.commands.map((x) => [x.argv[0], x.depth]), [['bash', 0], ['bash', 1]]);
    assert.deepEqual(opaque(a), [['too-deep', 'bash -c id', 2]]);
    const x = analyzeShell('echo x | xargs xargs xargs id', { maxDepth: 1 });
    assert.deepEqual(x.opaque.map((o) => [o.reason, o.depth]), [['too-deep', 2]]);
  });

  it('deep syntax nesting is cut, not a stack overflow', () => {
    const s = `echo ${'$('.repeat(5000)}x${')'.repeat(5000)}`;
    const a = analyzeShell(s);
    assert.equal(a.ok, false);
    assert.ok(a.opaque.some((o) => o.reason === 'too-deep'));
  });

  it('long wrapper chains are bounded', () => {
    const a = analyzeShell(`${'env '.repeat(100)}id`);
    assert.ok(a.commands.length <= 40);
    assert.ok(a.opaque.some((o) => o.reason === 'too-deep'));
  });

  it('a parse that takes too long is abandoned', () => {
    const a = analyzeShell(`${'a | '.repeat(20000)}b`, { maxMillis: 20 });
    assert.equal(a.ok, false);
    assert.deepEqual(a.opaque.map((o) => o.reason), ['too-large']);
  });

  it('the time budget also bounds the work of many nested scripts', () => {
    const a = analyzeShell("eval 'x'; ".repeat(20000), { maxMillis: 5 });
    assert.equal(a.ok, false);
    assert.equal(a.opaque.filter((o) => o.reason === 'too-large').length, 1);
    assert.ok(a.commands.length < 40000);
  });

  it('never throws on odd input', () => {
    for (const s of ['\0', '\uD800', '$(', '`', "'", '"', '<<', 'cat <<', '((', '{', '}', ';;', '|', '&&', 'eval', 'env -S', 'find -exec', 'xargs -I', 'sudo -u', 'bash -c', '\\']) {
      const a = analyzeShell(s);
      assert.ok(Array.isArray(a.commands) && Array.isArray(a.opaque), JSON.stringify(s));
    }
    assert.doesNotThrow(() => analyzeShell(undefined as unknown as string));
  });
});
